//! `stan-load`: one `stan-server` (a separate process, on 127.0.0.1)
//! holding N STAN clients, each with one subscription, pinging and
//! answering heartbeats at the default intervals, while a publisher runs.
//!
//! A run:
//! 1. starts the server (memory store, monitoring on loopback; `-hbi`,
//!    `-hbt`, `-hbf` only when asked) and reads its RSS and FDs;
//! 2. connects the clients, `--concurrency` at a time (the listen backlog
//!    is never flooded), each subscribing to one of `--channels` channels;
//!    reads the server's RSS, FDs and its own client count;
//! 3. leaves everything idle for `--idle` and reads the server's CPU time
//!    (its threads' schedstat run time) over that window;
//! 4. connects a publisher and one more subscriber on a channel of its own
//!    and publishes for at most `--duration` / `--msgs` (asynchronously
//!    with `--window` PubAcks in flight, or `--sync`): the publish
//!    throughput; the subscriber must get every acknowledged message;
//! 5. publishes `--fanout` messages on every client channel: every client
//!    must get its share;
//! 6. checks that no client lost its connection, closes them all and
//!    waits for the server's FDs and client count to come back down.
//!
//! `--stop-reading K` runs another scenario instead: K of N subscribers
//! stop reading while a publisher runs at a fixed rate (see [`stop`]).
//!
//! Everything is bounded: connects stop at a deadline, each wait has its
//! bound, and the whole run is abandoned (its server killed) past
//! `--max-seconds`.

pub mod clients;
pub mod opts;
pub mod procfs;
pub mod report;
pub mod server;
pub mod stop;

use std::time::{Duration, Instant};

use bytes::Bytes;

use clients::Client;
use opts::LoadOptions;
use procfs::Proc;
pub use report::{Comparison, RunReport};
use server::{Server, CLUSTER_ID};

/// Clients of the reference run of `--compare`.
pub const REFERENCE_CLIENTS: u32 = 10;
/// The server's default `-msu`: most subscriptions on one channel.
pub const MAX_SUBS_PER_CHANNEL: u32 = 1000;
/// The channel of the throughput phase (no client of the load on it).
pub const BENCH_CHANNEL: &str = "load.bench";
/// Descriptors kept for everything but the clients.
const FD_HEADROOM: u64 = 200;
/// How far above its baseline the server's FD count may stay after the
/// close.
pub const FD_SLACK: u64 = 8;
/// Quiet time after the connects before the connected figures are read.
const SETTLE: Duration = Duration::from_secs(2);
/// Bound of the wait for the throughput subscriber.
const DELIVERY_BOUND: Duration = Duration::from_secs(30);
/// Bound of the wait for the server to let go of the closed clients.
const RELEASE_BOUND: Duration = Duration::from_secs(30);

/// Why a run could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Bad environment: no server program, no port, too few descriptors.
    #[error("{0}")]
    Setup(String),
    /// The run outlived `--max-seconds`.
    #[error("the run did not finish within {0:?}; its server was killed")]
    TimedOut(Duration),
}

/// Runs what the options ask: one run, or with `--compare` the reference
/// run with 10 clients and then the run with `--clients`, each on a fresh
/// server; the whole bounded by `--max-seconds`.
pub async fn run(opts: &LoadOptions) -> Result<Outcome, LoadError> {
    check_fd_limit(opts.clients)?;
    let per_channel = opts.clients.div_ceil(opts.channels);
    if per_channel > MAX_SUBS_PER_CHANNEL {
        return Err(LoadError::Setup(format!(
            "{} clients on {} channels is {per_channel} subscriptions per channel, above the server's default limit (-msu {MAX_SUBS_PER_CHANNEL}): give --channels {} or more",
            opts.clients,
            opts.channels,
            opts.clients.div_ceil(MAX_SUBS_PER_CHANNEL)
        )));
    }
    let bound = opts.max_time;
    let work = async {
        if opts.stop_reading.is_some() {
            Ok(Outcome::Stopped(Box::new(stop::run(opts).await?)))
        } else if opts.compare {
            let small = run_one(opts, REFERENCE_CLIENTS.min(opts.clients), "ref").await?;
            let large = run_one(opts, opts.clients, "load").await?;
            Ok(Outcome::Compared(Box::new(Comparison { small, large })))
        } else {
            Ok(Outcome::Single(Box::new(
                run_one(opts, opts.clients, "load").await?,
            )))
        }
    };
    tokio::time::timeout(bound, work)
        .await
        .unwrap_or(Err(LoadError::TimedOut(bound)))
}

/// What [`run`] reports.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// One run.
    Single(Box<RunReport>),
    /// `--compare`.
    Compared(Box<Comparison>),
    /// `--stop-reading`.
    Stopped(Box<stop::StopReport>),
}

impl Outcome {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        match self {
            Outcome::Single(r) => r.passed(),
            Outcome::Compared(c) => c.passed(),
            Outcome::Stopped(s) => s.passed(),
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        match self {
            Outcome::Single(r) => r.to_json(),
            Outcome::Compared(c) => c.to_json(),
            Outcome::Stopped(s) => s.to_json(),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Single(r) => r.fmt(f),
            Outcome::Compared(c) => c.fmt(f),
            Outcome::Stopped(s) => s.fmt(f),
        }
    }
}

/// Refuses a run this process (or the server, which inherits the limit)
/// could not hold.
fn check_fd_limit(clients: u32) -> Result<(), LoadError> {
    let limit = procfs::nofile_limit().unwrap_or(u64::MAX);
    if u64::from(clients) + FD_HEADROOM > limit {
        return Err(LoadError::Setup(format!(
            "{clients} clients need about {} file descriptors in this process and in the server; the limit is {limit} (ulimit -n)",
            u64::from(clients) + FD_HEADROOM
        )));
    }
    Ok(())
}

fn verbose(opts: &LoadOptions, what: std::fmt::Arguments<'_>) {
    if opts.verbose {
        eprintln!("stan-load: {what}");
    }
}

/// One run with `n` clients.
pub async fn run_one(opts: &LoadOptions, n: u32, label: &str) -> Result<RunReport, LoadError> {
    let mut server = Server::start(opts, label).await?;
    let sp = server.proc();
    let mut r = RunReport {
        clients: n,
        channels: opts.channels,
        server_pid: server.pid,
        server_args: server.args.join(" "),
        msg_size: opts.size,
        publish_mode: if opts.sync {
            "sync: each publish waits for its PubAck".into()
        } else {
            format!("async: a window of {} PubAcks in flight", opts.window)
        },
        ..Default::default()
    };
    verbose(
        opts,
        format_args!("[{label}] server pid {} at {}", server.pid, server.url),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.rss_base_kib = sp.rss_kib().unwrap_or(0);
    r.fds_base = sp.fds().unwrap_or(0);
    let tool_rss_base = Proc::Myself.rss_kib().unwrap_or(0);

    // 2. The clients.
    let started = Instant::now();
    let connect_deadline = started + opts.max_time.mul_f64(0.5);
    let progress_opts = opts.verbose;
    let step = (n / 10).max(1);
    let plan = clients::Plan {
        url: server.url.clone(),
        cluster_id: CLUSTER_ID.into(),
        prefix: format!("load-{label}"),
        n,
        channels: opts.channels,
        concurrency: opts.concurrency,
        deadline: connect_deadline,
        sub_options: Default::default(),
    };
    let outcome = clients::connect_all(&plan, move |done| {
        if progress_opts && (done % step == 0 || done == n) {
            eprintln!("stan-load: {done}/{n} connected");
        }
    })
    .await;
    r.connect_secs = started.elapsed().as_secs_f64();
    r.connected = outcome.clients.len() as u32;
    r.failed_attempts = outcome.failed_attempts;
    r.connect_error = outcome.first_error;
    let mut clients = outcome.clients;
    if r.connected < n {
        r.problems.push(format!(
            "{} of {n} clients could not connect and subscribe",
            n - r.connected
        ));
    }
    tokio::time::sleep(SETTLE).await;
    r.rss_connected_kib = sp.rss_kib().unwrap_or(0);
    r.fds_connected = sp.fds().unwrap_or(0);
    r.server_threads = sp.threads().unwrap_or(0);
    r.rss_per_client = per_client(r.rss_base_kib, r.rss_connected_kib, r.connected);
    r.tool_rss_per_client = per_client(
        tool_rss_base,
        Proc::Myself.rss_kib().unwrap_or(0),
        r.connected,
    );
    r.tool_threads = Proc::Myself.threads().unwrap_or(0);
    r.server_counts = server.counts().await;
    if let Some((c, s)) = r.server_counts {
        if c != u64::from(r.connected) || s != u64::from(r.connected) {
            r.problems.push(format!(
                "the server counts {c} clients and {s} subscriptions, not {}",
                r.connected
            ));
        }
    }
    verbose(
        opts,
        format_args!(
            "[{label}] {} connected in {:.1} s; server RSS {} -> {} KiB; idle for {:?}",
            r.connected, r.connect_secs, r.rss_base_kib, r.rss_connected_kib, opts.idle
        ),
    );

    // 3. Idle.
    let (cpu0, tool0, t0) = (
        sp.cpu_ns().unwrap_or(0),
        Proc::Myself.cpu_ns().unwrap_or(0),
        Instant::now(),
    );
    tokio::time::sleep(opts.idle).await;
    let window = t0.elapsed().as_secs_f64();
    r.idle_secs = window;
    r.idle_cpu_pct = cpu_pct(cpu0, sp.cpu_ns().unwrap_or(0), window);
    r.tool_idle_cpu_pct = cpu_pct(tool0, Proc::Myself.cpu_ns().unwrap_or(0), window);
    r.idle_cpu_us_per_client = if r.connected > 0 {
        r.idle_cpu_pct / 100.0 * 1e6 / f64::from(r.connected)
    } else {
        0.0
    };
    r.rss_idle_kib = sp.rss_kib().unwrap_or(0);
    if !server.alive() {
        r.problems
            .push(format!("the server died:\n{}", server.log_tail()));
        return Ok(r);
    }

    // 4. Throughput.
    verbose(
        opts,
        format_args!("[{label}] publishing on {BENCH_CHANNEL}"),
    );
    throughput(opts, &server, &mut r, label).await;

    // 5. Fan-out.
    verbose(opts, format_args!("[{label}] fan-out"));
    fanout(opts, &server, &mut clients, &mut r, label).await;

    // 6. Lost connections, close, release.
    clients::drain(&mut clients);
    let (lost, reason) = clients::lost(&clients);
    r.lost = lost;
    r.lost_reason = reason;
    if lost > 0 {
        r.problems
            .push(format!("{lost} clients lost their connection"));
    }
    verbose(
        opts,
        format_args!("[{label}] closing {} clients", clients.len()),
    );
    let (failed, why) = clients::close_all(clients, opts.concurrency).await;
    r.close_failures = failed;
    r.close_error = why;
    if failed > 0 {
        r.problems.push(format!("{failed} clients could not close"));
    }
    let until = Instant::now() + RELEASE_BOUND;
    loop {
        r.fds_closed = sp.fds().unwrap_or(0);
        r.server_counts_closed = server.counts().await;
        let released = r.fds_closed <= r.fds_base + FD_SLACK
            && r.server_counts_closed.is_none_or(|(c, s)| c == 0 && s == 0);
        if released || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.rss_closed_kib = sp.rss_kib().unwrap_or(0);
    if r.fds_closed > r.fds_base + FD_SLACK {
        r.problems.push(format!(
            "the server holds {} FDs after the close, {} before the clients",
            r.fds_closed, r.fds_base
        ));
    }
    if let Some((c, s)) = r.server_counts_closed.filter(|&(c, s)| c + s > 0) {
        r.problems.push(format!(
            "the server still counts {c} clients and {s} subscriptions after the close"
        ));
    }
    if !server.alive() {
        r.problems
            .push(format!("the server died:\n{}", server.log_tail()));
    }
    let keep = !r.passed();
    if !server.stop(Duration::from_secs(20), keep).await {
        r.problems
            .push("the server did not stop within 20 s of SIGTERM".into());
    }
    if keep {
        if let Some(l) = &server.log {
            r.problems.push(format!("server log kept: {}", l.display()));
        }
    }
    Ok(r)
}

/// The throughput phase: a publisher and one subscriber on
/// [`BENCH_CHANNEL`], both connected now.
async fn throughput(opts: &LoadOptions, server: &Server, r: &mut RunReport, label: &str) {
    if opts.msgs == 0 {
        return;
    }
    let pub_id = format!("load-{label}-pub");
    let sub_id = format!("load-{label}-bench-sub");
    let (sub, publisher) = match (
        clients::connect_one(&server.url, CLUSTER_ID, &sub_id, BENCH_CHANNEL).await,
        connect_publisher(server, &pub_id, opts.window).await,
    ) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => {
            r.problems.push(format!("throughput phase: {e}"));
            return;
        }
    };
    let mut bench = vec![sub];
    let payload = Bytes::from(vec![b'x'; opts.size]);
    let p = clients::publish(
        &publisher,
        BENCH_CHANNEL,
        payload,
        opts.msgs,
        opts.duration,
        opts.sync,
        opts.window,
    )
    .await;
    r.published = p.sent;
    r.acked = p.acked;
    r.publish_errors = p.errors;
    r.publish_error = p.first_error;
    r.publish_secs = p.elapsed.as_secs_f64();
    r.publish_rate = if r.publish_secs > 0.0 {
        p.acked as f64 / r.publish_secs
    } else {
        0.0
    };
    if p.errors > 0 {
        r.problems.push(format!("{} publishes failed", p.errors));
    }
    let until = Instant::now() + DELIVERY_BOUND;
    while bench[0].got < p.acked && Instant::now() < until {
        clients::drain(&mut bench);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.bench_received = bench[0].got;
    if r.bench_received < p.acked {
        r.problems.push(format!(
            "the throughput subscriber got {} of {} acknowledged messages",
            r.bench_received, p.acked
        ));
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), publisher.close()).await;
    clients::close_all(bench, 1).await;
}

async fn connect_publisher(
    server: &Server,
    id: &str,
    window: usize,
) -> Result<stan_tokio::Connection, String> {
    let mut o = clients::options(Duration::from_secs(10));
    o.stan.max_pub_acks_in_flight = window;
    o.stan.max_queued_publishes = 0;
    stan_tokio::Connection::connect(&server.url, CLUSTER_ID, id, o)
        .await
        .map_err(|e| format!("publisher {id}: {e}"))
}

/// The fan-out phase: `--fanout` messages on every client channel, which
/// every client must get.
async fn fanout(
    opts: &LoadOptions,
    server: &Server,
    clients: &mut [Client],
    r: &mut RunReport,
    label: &str,
) {
    if opts.fanout == 0 || clients.is_empty() {
        return;
    }
    let publisher = match connect_publisher(server, &format!("load-{label}-fanout"), 16).await {
        Ok(p) => p,
        Err(e) => {
            r.problems.push(format!("fan-out phase: {e}"));
            return;
        }
    };
    clients::drain(clients);
    let base: Vec<u64> = clients.iter().map(|c| c.got).collect();
    let started = Instant::now();
    for c in 0..opts.channels {
        for k in 0..opts.fanout {
            let ch = clients::channel(c, opts.channels);
            if let Err(e) = publisher.publish(&ch, format!("fanout {k}")).await {
                r.problems.push(format!("fan-out publish on {ch}: {e}"));
            }
        }
    }
    let want = u64::from(opts.fanout);
    r.fanout_expected = want * clients.len() as u64;
    // A generous bound: about a millisecond per delivery, at least 30 s.
    let bound = Duration::from_secs(30).max(Duration::from_millis(r.fanout_expected));
    let until = started + bound;
    loop {
        clients::drain(clients);
        let short = clients
            .iter()
            .zip(&base)
            .filter(|(c, b)| c.got - **b < want)
            .count();
        if short == 0 || Instant::now() > until {
            r.fanout_short_clients = short as u32;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r.fanout_secs = started.elapsed().as_secs_f64();
    r.fanout_received = clients
        .iter()
        .zip(&base)
        .map(|(c, b)| (c.got - b).min(want))
        .sum();
    if r.fanout_short_clients > 0 {
        r.problems.push(format!(
            "{} clients did not get their {want} fan-out messages within {bound:?}",
            r.fanout_short_clients
        ));
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), publisher.close()).await;
}

/// Bytes per client of an RSS growth in KiB.
fn per_client(before_kib: u64, after_kib: u64, clients: u32) -> f64 {
    if clients == 0 {
        return 0.0;
    }
    (after_kib as f64 - before_kib as f64) * 1024.0 / f64::from(clients)
}

/// Percent of one core used by `ns1 - ns0` nanoseconds of CPU over `secs`.
fn cpu_pct(ns0: u64, ns1: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    ns1.saturating_sub(ns0) as f64 / 1e9 / secs * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(per_client(1000, 2000, 1024), 1000.0);
        assert_eq!(per_client(1000, 2000, 0), 0.0);
        assert!((cpu_pct(100, 500_000_100, 10.0) - 5.0).abs() < 1e-9);
    }
}
