//! `stan-load --stop-reading K`: do K subscribers that stop reading hurt
//! the others?
//!
//! N clients (default 1000) each subscribe to one of `--channels`
//! channels with manual acks, `--max-in-flight` and `--ack-wait` (with
//! stan-tokio's automatic acks a message is acked as soon as the
//! connection receives it, whether or not anybody takes it from the
//! subscription, so a reader that stops would not be seen by the server;
//! with manual acks a client that stops taking messages stops acking).
//! One publisher publishes at a fixed `--rate` (messages per second in
//! all, round-robin over the client channels), each payload carrying its
//! phase and its send time (nanoseconds on this process's monotonic clock,
//! the clock the receivers read).
//!
//! Phase 1 (`--phase`): every client takes and acks what it gets. Phase 2
//! (as long, same rate): the K clients with the highest numbers (spread
//! over every channel) stop taking messages: the server keeps up to
//! max-in-flight unacked messages for each of them and redelivers them
//! every ack wait. Their connections still read the socket, answer
//! heartbeats and ping, so the redelivered messages pile up in their
//! subscriptions' (unbounded) queues in this process: this tool's memory,
//! reported, not the server's.
//!
//! For the N - K steady clients, per phase: the deliveries (each message
//! once per client: a redelivery is counted once), throughput (in total and
//! the median client), latency (receive time - send time: p50, p99, max);
//! the server's RSS sampled every 200 ms. Checks: every steady client got
//! every message acknowledged on its channel in both phases, and the
//! server's RSS growth over phase 2 stays within [`rss_bound_kib`]. The
//! phase 2 / phase 1 ratios are printed, not checked.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures_lite::Stream;
use stan_tokio::{Connection, SubscriptionOptions};
use tokio::sync::watch;

use super::clients::{self, Client};
use super::opts::LoadOptions;
use super::procfs::Proc;
use super::report::{quote, Json};
use super::server::{Server, CLUSTER_ID};
use super::{verbose, LoadError};

/// Server memory per unacked message held for a stopped subscriber,
/// besides the payload: its pending-ack entry, the redelivery timer's
/// bookkeeping and the re-encoded `MsgProto` frame written at each
/// redelivery (a generous figure).
pub const PENDING_OVERHEAD: u64 = 512;
/// Server memory per stored message, besides the payload (the memory
/// store keeps every message of the run: default limits).
pub const STORED_OVERHEAD: u64 = 512;
/// Allowance for allocator noise, arenas and IO buffers, KiB.
pub const RSS_MARGIN_KIB: u64 = 16 * 1024;
/// Bound of the wait for the steady clients to get a phase's messages
/// after its last publish.
const CATCH_UP: Duration = Duration::from_secs(30);
/// Interval of the server RSS samples.
const SAMPLE: Duration = Duration::from_millis(200);

/// The consumers' state: everyone reads; the stoppers stop; all end.
const RUN: u8 = 0;
const STOP: u8 = 1;
const FINISH: u8 = 2;

/// Phase 2's allowed server RSS growth, KiB: `stopped × max_in_flight ×
/// (size + PENDING_OVERHEAD)` (what the server may hold for the stopped
/// subscribers) plus `published × (size + STORED_OVERHEAD)` (the phase's
/// messages, which the memory store keeps whoever reads them) plus
/// [`RSS_MARGIN_KIB`].
pub fn rss_bound_kib(stopped: u64, max_in_flight: u64, size: u64, published: u64) -> u64 {
    let held = stopped * max_in_flight * (size + PENDING_OVERHEAD);
    let stored = published * (size + STORED_OVERHEAD);
    (held + stored).div_ceil(1024) + RSS_MARGIN_KIB
}

/// One phase's figures for the steady clients.
#[derive(Debug, Clone, Default)]
pub struct PhaseReport {
    /// Messages published (and acknowledged) in the phase.
    pub published: u64,
    /// Of them acknowledged.
    pub acked: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Publishing time, seconds.
    pub publish_secs: f64,
    /// Deliveries the steady clients were owed (the acknowledged messages
    /// of each one's channel).
    pub expected: u64,
    /// Distinct messages they got.
    pub received: u64,
    /// Deliveries of a message a client already had.
    pub duplicates: u64,
    /// Steady clients short of their messages.
    pub short_clients: u32,
    /// From the phase's first publish to the last steady delivery, seconds.
    pub window_secs: f64,
    /// Steady deliveries per second over that window.
    pub throughput: f64,
    /// The median steady client's deliveries per second.
    pub per_client_median: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Server RSS at the phase's start, KiB.
    pub rss_start_kib: u64,
    /// Server RSS at its end (every steady message delivered), KiB.
    pub rss_end_kib: u64,
    /// Highest sample during the phase, KiB.
    pub rss_peak_kib: u64,
    /// This tool's RSS at the end, KiB.
    pub tool_rss_end_kib: u64,
    /// The server's CPU over the phase, percent of one core.
    pub server_cpu_pct: f64,
    /// This tool's CPU over the phase (clients and publisher), percent of
    /// one core.
    pub tool_cpu_pct: f64,
}

/// What the stop-reading mode measured.
#[derive(Debug, Clone, Default)]
pub struct StopReport {
    /// Clients asked for.
    pub clients: u32,
    /// Connected and subscribed.
    pub connected: u32,
    /// Of them stopped in phase 2.
    pub stopped: u32,
    /// Channels.
    pub channels: u32,
    /// Connect time, seconds.
    pub connect_secs: f64,
    /// The server's command line.
    pub server_args: String,
    /// `--rate`.
    pub rate: u32,
    /// `--phase`, seconds.
    pub phase_secs: f64,
    /// Payload size.
    pub msg_size: usize,
    /// `--ack-wait`, seconds.
    pub ack_wait_secs: u64,
    /// `--max-in-flight`.
    pub max_in_flight: u32,
    /// Server RSS before the clients, KiB.
    pub rss_base_kib: u64,
    /// The phases.
    pub phases: [PhaseReport; 2],
    /// Phase 2 growth: its peak sample over phase 1's end, KiB.
    pub rss_growth_kib: i64,
    /// Its bound ([`rss_bound_kib`]).
    pub rss_bound_kib: u64,
    /// Messages waiting unread in the stopped clients' subscriptions at
    /// the end (in this process).
    pub stopped_buffered: u64,
    /// Of them redeliveries.
    pub stopped_redelivered: u64,
    /// The server's client and subscription counts after phase 2.
    pub server_counts_after: Option<(u64, u64)>,
    /// Connections lost during the run.
    pub lost: u32,
    /// Why (the first).
    pub lost_reason: Option<String>,
    /// The first publish error.
    pub publish_error: Option<String>,
    /// Closes that failed.
    pub close_failures: u32,
    /// What went wrong.
    pub problems: Vec<String>,
}

impl StopReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Phase 2 over phase 1: throughput, median client, p50, p99, max.
    pub fn ratios(&self) -> [(&'static str, f64); 5] {
        let [a, b] = &self.phases;
        let r = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
        [
            ("throughput", r(b.throughput, a.throughput)),
            (
                "per_client_median",
                r(b.per_client_median, a.per_client_median),
            ),
            ("p50", r(b.p50_ms, a.p50_ms)),
            ("p99", r(b.p99_ms, a.p99_ms)),
            ("max", r(b.max_ms, a.max_ms)),
        ]
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        let mut j = Json::default();
        j.str("mode", "stop-reading");
        j.num("clients", self.clients);
        j.num("connected", self.connected);
        j.num("stopped", self.stopped);
        j.num("steady", self.connected.saturating_sub(self.stopped));
        j.num("channels", self.channels);
        j.float("connect_secs", self.connect_secs);
        j.str("server_args", &self.server_args);
        j.num("rate", self.rate);
        j.float("phase_secs", self.phase_secs);
        j.num("msg_size", self.msg_size as u64);
        j.num("ack_wait_secs", self.ack_wait_secs);
        j.num("max_in_flight", self.max_in_flight);
        j.num("rss_base_kib", self.rss_base_kib);
        for (name, p) in ["phase1", "phase2"].iter().zip(&self.phases) {
            let mut q = Json::default();
            q.num("published", p.published);
            q.num("acked", p.acked);
            q.num("publish_errors", p.publish_errors);
            q.float("publish_secs", p.publish_secs);
            q.num("expected", p.expected);
            q.num("received", p.received);
            q.num("duplicates", p.duplicates);
            q.num("short_clients", p.short_clients);
            q.float("window_secs", p.window_secs);
            q.float("throughput_msgs_per_sec", p.throughput);
            q.float("per_client_median_msgs_per_sec", p.per_client_median);
            q.float("latency_p50_ms", p.p50_ms);
            q.float("latency_p99_ms", p.p99_ms);
            q.float("latency_max_ms", p.max_ms);
            q.num("rss_start_kib", p.rss_start_kib);
            q.num("rss_end_kib", p.rss_end_kib);
            q.num("rss_peak_kib", p.rss_peak_kib);
            q.num("tool_rss_end_kib", p.tool_rss_end_kib);
            q.float("server_cpu_pct", p.server_cpu_pct);
            q.float("tool_cpu_pct", p.tool_cpu_pct);
            j.raw(name, &q.finish());
        }
        let mut r = Json::default();
        for (k, v) in self.ratios() {
            r.float(k, v);
        }
        j.raw("ratios_phase2_over_phase1", &r.finish());
        j.raw("rss_growth_kib", &self.rss_growth_kib.to_string());
        j.num("rss_bound_kib", self.rss_bound_kib);
        j.num("stopped_buffered", self.stopped_buffered);
        j.num("stopped_redelivered", self.stopped_redelivered);
        let (c, s) = self
            .server_counts_after
            .map_or(("null".into(), "null".into()), |(a, b)| {
                (a.to_string(), b.to_string())
            });
        j.raw("server_clients_after", &c);
        j.raw("server_subscriptions_after", &s);
        j.num("lost", self.lost);
        j.opt_str("lost_reason", self.lost_reason.as_deref());
        j.opt_str("publish_error", self.publish_error.as_deref());
        j.num("close_failures", self.close_failures);
        let problems: Vec<String> = self.problems.iter().map(|p| quote(p)).collect();
        j.raw("problems", &format!("[{}]", problems.join(",")));
        j.raw("passed", if self.passed() { "true" } else { "false" });
        j.finish()
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |k: u64| k as f64 / 1024.0;
        let steady = self.connected.saturating_sub(self.stopped);
        writeln!(
            f,
            "clients:        {} of {} connected in {:.1} s on {} channels: {steady} steady, {} stop reading in phase 2",
            self.connected, self.clients, self.connect_secs, self.channels, self.stopped
        )?;
        writeln!(f, "server:         {}", self.server_args)?;
        writeln!(
            f,
            "load:           {} msgs/s round-robin over the channels, {} B, {:.0} s per phase; subscriptions: manual acks, max in flight {}, ack wait {} s",
            self.rate, self.msg_size, self.phase_secs, self.max_in_flight, self.ack_wait_secs
        )?;
        writeln!(
            f,
            "{:<34}{:>14}{:>14}{:>8}",
            "steady clients", "phase 1", "phase 2", "ratio"
        )?;
        let [a, b] = &self.phases;
        let [tp, med, p50, p99, max] = self.ratios().map(|(_, v)| v);
        let row = |f: &mut fmt::Formatter<'_>, name: &str, x: String, y: String, r: String| {
            writeln!(f, "{name:<34}{x:>14}{y:>14}{r:>8}")
        };
        row(
            f,
            "published / acked",
            format!("{}/{}", a.published, a.acked),
            format!("{}/{}", b.published, b.acked),
            String::new(),
        )?;
        row(
            f,
            "deliveries got / owed",
            format!("{}/{}", a.received, a.expected),
            format!("{}/{}", b.received, b.expected),
            String::new(),
        )?;
        row(
            f,
            "throughput, all (msgs/s)",
            format!("{:.0}", a.throughput),
            format!("{:.0}", b.throughput),
            format!("{tp:.3}"),
        )?;
        row(
            f,
            "throughput, median client",
            format!("{:.2}", a.per_client_median),
            format!("{:.2}", b.per_client_median),
            format!("{med:.3}"),
        )?;
        for (name, x, y, r) in [
            ("latency p50 (ms)", a.p50_ms, b.p50_ms, p50),
            ("latency p99 (ms)", a.p99_ms, b.p99_ms, p99),
            ("latency max (ms)", a.max_ms, b.max_ms, max),
        ] {
            row(
                f,
                name,
                format!("{x:.2}"),
                format!("{y:.2}"),
                format!("{r:.2}"),
            )?;
        }
        row(
            f,
            "server RSS start / end (MiB)",
            format!("{:.1}/{:.1}", mib(a.rss_start_kib), mib(a.rss_end_kib)),
            format!("{:.1}/{:.1}", mib(b.rss_start_kib), mib(b.rss_end_kib)),
            String::new(),
        )?;
        row(
            f,
            "server RSS peak (MiB)",
            format!("{:.1}", mib(a.rss_peak_kib)),
            format!("{:.1}", mib(b.rss_peak_kib)),
            String::new(),
        )?;
        row(
            f,
            "server / tool CPU (% of a core)",
            format!("{:.0}/{:.0}", a.server_cpu_pct, a.tool_cpu_pct),
            format!("{:.0}/{:.0}", b.server_cpu_pct, b.tool_cpu_pct),
            String::new(),
        )?;
        row(
            f,
            "tool RSS at end (MiB)",
            format!("{:.1}", mib(a.tool_rss_end_kib)),
            format!("{:.1}", mib(b.tool_rss_end_kib)),
            String::new(),
        )?;
        writeln!(
            f,
            "server RSS:     {:.1} MiB before the clients; phase 2 growth (peak over phase 1's end) {:+.1} MiB, bound {:.1} MiB",
            mib(self.rss_base_kib),
            self.rss_growth_kib as f64 / 1024.0,
            mib(self.rss_bound_kib)
        )?;
        writeln!(
            f,
            "stopped:        {} messages unread in their subscriptions at the end, {} of them redeliveries",
            self.stopped_buffered, self.stopped_redelivered
        )?;
        let counts = self
            .server_counts_after
            .map_or("n/a".to_string(), |(c, s)| {
                format!("{c} clients, {s} subscriptions")
            });
        writeln!(
            f,
            "after phase 2:  server counts {counts}; {} connections lost{}; {} closes failed",
            self.lost,
            self.lost_reason
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            self.close_failures
        )?;
        if self.passed() {
            write!(f, "result:         PASS")
        } else {
            write!(f, "result:         FAIL: {}", self.problems.join("; "))
        }
    }
}

/// One client's deliveries in one phase.
#[derive(Debug, Default)]
struct PhaseTally {
    seqs: HashSet<u64>,
    lat_us: Vec<u64>,
    last: Option<Duration>,
    duplicates: u64,
}

/// One client's deliveries.
#[derive(Debug, Default)]
struct Tally {
    stopper: bool,
    channel: usize,
    phases: [PhaseTally; 2],
    buffered: u64,
    redelivered: u64,
}

/// A payload: phase, send time (ns since `base`), filler up to `size`.
fn payload(phase: u8, sent: Duration, size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(9));
    b.put_u8(phase);
    b.put_u64_le(u64::try_from(sent.as_nanos()).unwrap_or(u64::MAX));
    b.resize(size.max(9), b'x');
    b.freeze()
}

/// The phase and send time of a payload.
fn parse(data: &[u8]) -> Option<(usize, Duration)> {
    let phase = *data.first()?;
    let ns = u64::from_le_bytes(data.get(1..9)?.try_into().ok()?);
    matches!(phase, 1 | 2).then(|| (usize::from(phase - 1), Duration::from_nanos(ns)))
}

/// One client's task: takes, acks and tallies its messages until told to
/// stop (a stopper, from phase 2 on) or to finish.
async fn consume(
    mut c: Client,
    mut tally: Tally,
    base: Instant,
    mut state: watch::Receiver<u8>,
    progress: Arc<[AtomicU64; 2]>,
) -> (Client, Tally) {
    loop {
        let s = *state.borrow_and_update();
        if s == FINISH {
            break;
        }
        if s == STOP && tally.stopper {
            if state.changed().await.is_err() {
                break;
            }
            continue;
        }
        tokio::select! {
            biased;
            r = state.changed() => {
                if r.is_err() {
                    break;
                }
            }
            m = c.sub.next() => {
                let Some(m) = m else { break };
                let now = base.elapsed();
                let _ = m.ack().await;
                c.got += 1;
                let Some((phase, sent)) = parse(m.data()) else {
                    continue;
                };
                let p = &mut tally.phases[phase];
                if p.seqs.insert(m.sequence()) {
                    p.lat_us
                        .push(u64::try_from(now.saturating_sub(sent).as_micros()).unwrap_or(u64::MAX));
                    p.last = Some(now);
                    if !tally.stopper {
                        progress[phase].fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    p.duplicates += 1;
                }
            }
        }
    }
    if tally.stopper {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(Some(m)) = Pin::new(&mut c.sub).poll_next(&mut cx) {
            tally.buffered += 1;
            if m.redelivered() {
                tally.redelivered += 1;
            }
        }
    }
    (c, tally)
}

/// What one phase's publisher did.
#[derive(Debug, Default)]
struct Pubs {
    sent: u64,
    acked: u64,
    errors: u64,
    first_error: Option<String>,
    /// Acknowledged messages per channel.
    per_channel: Vec<u64>,
    secs: f64,
}

/// Publishes `rate × phase` messages at `rate` per second, round-robin
/// over `channels`, then waits for every PubAck (each bounded by the
/// client's PubAck wait).
async fn publish_phase(
    conn: &Connection,
    channels: &[String],
    phase: u8,
    opts: &LoadOptions,
    base: Instant,
) -> Pubs {
    let mut p = Pubs {
        per_channel: vec![0; channels.len()],
        ..Default::default()
    };
    let total = (f64::from(opts.rate) * opts.phase.as_secs_f64()).round() as u64;
    let start = tokio::time::Instant::now();
    let mut in_flight: VecDeque<(usize, stan_tokio::PubAckFuture)> = VecDeque::new();
    let settle = |p: &mut Pubs, ch: usize, r: Result<(), stan_tokio::ClientError>| match r {
        Ok(()) => {
            p.acked += 1;
            p.per_channel[ch] += 1;
        }
        Err(e) => {
            p.errors += 1;
            p.first_error.get_or_insert_with(|| e.to_string());
        }
    };
    for k in 0..total {
        tokio::time::sleep_until(start + Duration::from_secs_f64(k as f64 / f64::from(opts.rate)))
            .await;
        let ch = (k % channels.len() as u64) as usize;
        p.sent += 1;
        let data = payload(phase, base.elapsed(), opts.size);
        match conn.publish_async(&channels[ch], data).await {
            Ok(f) => in_flight.push_back((ch, f)),
            Err(e) => settle(&mut p, ch, Err(e)),
        }
        while let Some((ch, f)) = in_flight.front_mut() {
            let ch = *ch;
            match f.try_result() {
                Some(r) => {
                    in_flight.pop_front();
                    settle(&mut p, ch, r);
                }
                None => break,
            }
        }
    }
    for (ch, f) in in_flight {
        let r = f.await;
        settle(&mut p, ch, r);
    }
    p.secs = start.elapsed().as_secs_f64();
    p
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Server RSS samples, (time since base, KiB).
type Samples = Arc<Mutex<Vec<(Duration, u64)>>>;

fn peak(samples: &Samples, from: Duration, to: Duration) -> u64 {
    samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|&(_, k)| k)
        .max()
        .unwrap_or(0)
}

/// The stop-reading run.
pub async fn run(opts: &LoadOptions) -> Result<StopReport, LoadError> {
    let n = opts.clients;
    let k = opts.stop_reading.unwrap_or(0).min(n);
    let mut server = Server::start(opts, "stop").await?;
    let sp = server.proc();
    let mut r = StopReport {
        clients: n,
        channels: opts.channels,
        server_args: server.args.join(" "),
        rate: opts.rate,
        phase_secs: opts.phase.as_secs_f64(),
        msg_size: opts.size.max(9),
        ack_wait_secs: opts.ack_wait.as_secs(),
        max_in_flight: opts.max_in_flight,
        ..Default::default()
    };
    verbose(
        opts,
        format_args!("[stop] server pid {} at {}", server.pid, server.url),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.rss_base_kib = sp.rss_kib().unwrap_or(0);

    // The clients.
    let started = Instant::now();
    let step = (n / 10).max(1);
    let progress_opts = opts.verbose;
    let plan = clients::Plan {
        url: server.url.clone(),
        cluster_id: CLUSTER_ID.into(),
        prefix: "load-stop".into(),
        n,
        channels: opts.channels,
        concurrency: opts.concurrency,
        deadline: started + opts.max_time.mul_f64(0.5),
        sub_options: SubscriptionOptions {
            manual_ack: true,
            max_in_flight: opts.max_in_flight,
            ack_wait: opts.ack_wait,
            ..Default::default()
        },
    };
    let outcome = clients::connect_all(&plan, move |done| {
        if progress_opts && (done % step == 0 || done == n) {
            eprintln!("stan-load: {done}/{n} connected");
        }
    })
    .await;
    r.connect_secs = started.elapsed().as_secs_f64();
    r.connected = outcome.clients.len() as u32;
    if r.connected < n {
        r.problems.push(format!(
            "{} of {n} clients could not connect and subscribe{}",
            n - r.connected,
            outcome
                .first_error
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
    }
    let used_channels = opts.channels.min(n);
    let channels: Vec<String> = (0..used_channels)
        .map(|c| clients::channel(c, opts.channels))
        .collect();
    let publisher = match Connection::connect(
        &server.url,
        CLUSTER_ID,
        "load-stop-pub",
        clients::options(Duration::from_secs(10)),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            r.problems.push(format!("publisher: connect: {e}"));
            return Ok(r);
        }
    };

    // One task per client.
    let base = Instant::now();
    let (state_tx, state_rx) = watch::channel(RUN);
    let progress: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let mut tasks = Vec::with_capacity(outcome.clients.len());
    let mut steady_per_channel = vec![0u64; channels.len()];
    for c in outcome.clients {
        let tally = Tally {
            stopper: c.index >= n - k,
            channel: (c.index % opts.channels) as usize,
            ..Default::default()
        };
        if tally.stopper {
            r.stopped += 1;
        } else if let Some(s) = steady_per_channel.get_mut(tally.channel) {
            *s += 1;
        }
        tasks.push(tokio::spawn(consume(
            c,
            tally,
            base,
            state_rx.clone(),
            Arc::clone(&progress),
        )));
    }

    // The RSS sampler.
    let samples: Samples = Arc::default();
    let sampler = {
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            loop {
                if let Some(kib) = sp.rss_kib() {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((base.elapsed(), kib));
                }
                tokio::time::sleep(SAMPLE).await;
            }
        })
    };

    let mut per_channel: [Vec<u64>; 2] = Default::default();
    let mut windows = [(Duration::ZERO, Duration::ZERO); 2];
    for phase in 0..2 {
        if phase == 1 {
            let _ = state_tx.send(STOP);
        }
        let p = &mut r.phases[phase];
        p.rss_start_kib = sp.rss_kib().unwrap_or(0);
        let from = base.elapsed();
        let (cpu0, tool0) = (sp.cpu_ns().unwrap_or(0), Proc::Myself.cpu_ns().unwrap_or(0));
        verbose(opts, format_args!("[stop] phase {}", phase + 1));
        let pubs = publish_phase(&publisher, &channels, phase as u8 + 1, opts, base).await;
        p.published = pubs.sent;
        p.acked = pubs.acked;
        p.publish_errors = pubs.errors;
        p.publish_secs = pubs.secs;
        if pubs.errors > 0 {
            r.problems.push(format!(
                "phase {}: {} publishes failed",
                phase + 1,
                pubs.errors
            ));
            r.publish_error = r.publish_error.take().or(pubs.first_error);
        }
        p.expected = pubs
            .per_channel
            .iter()
            .zip(&steady_per_channel)
            .map(|(a, s)| a * s)
            .sum();
        let until = Instant::now() + CATCH_UP;
        while progress[phase].load(Ordering::Relaxed) < p.expected && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        p.rss_end_kib = sp.rss_kib().unwrap_or(0);
        p.tool_rss_end_kib = Proc::Myself.rss_kib().unwrap_or(0);
        windows[phase] = (from, base.elapsed());
        let secs = (base.elapsed() - from).as_secs_f64();
        p.server_cpu_pct = super::cpu_pct(cpu0, sp.cpu_ns().unwrap_or(0), secs);
        p.tool_cpu_pct = super::cpu_pct(tool0, Proc::Myself.cpu_ns().unwrap_or(0), secs);
        p.rss_peak_kib = peak(&samples, from, base.elapsed()).max(p.rss_end_kib);
        per_channel[phase] = pubs.per_channel;
        if !server.alive() {
            r.problems.push(format!(
                "the server died in phase {}:\n{}",
                phase + 1,
                server.log_tail()
            ));
            break;
        }
    }
    sampler.abort();
    r.server_counts_after = server.counts().await;
    if r.server_counts_after.is_none() {
        r.problems
            .push("the server's monitoring did not answer after phase 2".into());
    }

    // Collect the tallies.
    let _ = state_tx.send(FINISH);
    let mut all = Vec::with_capacity(tasks.len());
    let mut tallies = Vec::with_capacity(tasks.len());
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok((c, tally))) => {
                all.push(c);
                tallies.push(tally);
            }
            _ => r.problems.push("a client task did not finish".into()),
        }
    }
    for phase in 0..2 {
        let p = &mut r.phases[phase];
        let from = windows[phase].0;
        let mut lat = Vec::new();
        let mut rates = Vec::new();
        let mut last = from;
        for t in tallies.iter().filter(|t| !t.stopper) {
            let tp = &t.phases[phase];
            let got = tp.seqs.len() as u64;
            p.received += got;
            p.duplicates += tp.duplicates;
            let owed = per_channel[phase].get(t.channel).copied().unwrap_or(0);
            if got < owed {
                p.short_clients += 1;
            }
            lat.extend_from_slice(&tp.lat_us);
            if let Some(l) = tp.last {
                last = last.max(l);
                let secs = l.saturating_sub(from).as_secs_f64();
                if secs > 0.0 {
                    rates.push(got as f64 / secs);
                }
            }
        }
        lat.sort_unstable();
        p.p50_ms = quantile(&lat, 0.50) as f64 / 1000.0;
        p.p99_ms = quantile(&lat, 0.99) as f64 / 1000.0;
        p.max_ms = lat.last().copied().unwrap_or(0) as f64 / 1000.0;
        p.window_secs = last.saturating_sub(from).as_secs_f64();
        if p.window_secs > 0.0 {
            p.throughput = p.received as f64 / p.window_secs;
        }
        rates.sort_by(f64::total_cmp);
        p.per_client_median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
        if p.short_clients > 0 {
            r.problems.push(format!(
                "phase {}: {} steady clients did not get every message of their channel ({} of {} deliveries)",
                phase + 1,
                p.short_clients,
                p.received,
                p.expected
            ));
        }
    }
    for t in tallies.iter().filter(|t| t.stopper) {
        r.stopped_buffered += t.buffered;
        r.stopped_redelivered += t.redelivered;
    }
    r.rss_growth_kib = r.phases[1].rss_peak_kib as i64 - r.phases[0].rss_end_kib as i64;
    r.rss_bound_kib = rss_bound_kib(
        u64::from(r.stopped),
        u64::from(opts.max_in_flight),
        r.msg_size as u64,
        r.phases[1].published,
    );
    if r.rss_growth_kib > r.rss_bound_kib as i64 {
        r.problems.push(format!(
            "the server's RSS grew by {} KiB in phase 2, above the bound of {} KiB",
            r.rss_growth_kib, r.rss_bound_kib
        ));
    }

    // Lost connections, close.
    let (lost, reason) = clients::lost(&all);
    r.lost = lost;
    r.lost_reason = reason;
    if lost > 0 {
        r.problems
            .push(format!("{lost} clients lost their connection"));
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), publisher.close()).await;
    verbose(opts, format_args!("[stop] closing {} clients", all.len()));
    let (failed, _) = clients::close_all(all, opts.concurrency).await;
    r.close_failures = failed;
    if failed > 0 {
        r.problems.push(format!("{failed} clients could not close"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let p = payload(2, Duration::from_nanos(123_456_789), 128);
        assert_eq!(p.len(), 128);
        assert_eq!(parse(&p), Some((1, Duration::from_nanos(123_456_789))));
        assert_eq!(payload(1, Duration::ZERO, 0).len(), 9);
        assert_eq!(parse(b"\x03xxxxxxxxx"), None);
        assert_eq!(parse(b"\x01"), None);
    }

    #[test]
    fn bound_and_quantiles() {
        // 100 stopped × 64 in flight × (128 + 512) B = 4000 KiB, 2000
        // stored × 640 B = 1250 KiB, plus the margin.
        assert_eq!(rss_bound_kib(100, 64, 128, 2000), 4000 + 1250 + 16 * 1024);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 51);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
