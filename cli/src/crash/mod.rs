//! `stan-crash`: a crash-test harness for the server's store.
//!
//! It runs `stan-server` as a child process on a loopback port with
//! `-st FILE --dir <work>/store`, and in each round connects a durable
//! subscriber (manual acks, every message from the first, some left
//! unacked) and several publishers (async publishes with a window of
//! PubAcks in flight, payloads naming their publisher and counter with
//! seeded filler), kills the server with SIGKILL after a random delay,
//! closes every client and restarts the server on the same store and port.
//! After the last crash it checks (see [`finale`]): every message whose
//! PubAck came back is stored exactly once with its exact payload, the
//! sequences run `1..=last` without a gap, nothing was delivered and then
//! lost, and the durable subscriber resumes with every message it never
//! acked (and, after a clean restart, its held-back messages flagged
//! `redelivered`). It prints a [`Summary`] ending in
//! `RESULT: PASS` or `RESULT: FAIL`.
//!
//! A message published whose PubAck never came may be stored or not; if
//! stored, exactly once and intact. A crash may also lose the durable's
//! delivery and ack records that were not yet synced: a message acked just
//! before a crash may come again, and one delivered just before may come
//! again unflagged; neither is a violation. After a clean stop (SIGTERM)
//! nothing may be lost.
//!
//! With `--store MEMORY` the harness must report losses (a memory store
//! forgets everything at a crash); `--no-kill` runs the same rounds without
//! killing the server and must pass on any store: together they show the
//! harness finds losses and invents none.

pub mod clients;
mod error;
pub mod finale;
pub mod ledger;
pub mod opts;
pub mod payload;
pub mod rounds;
pub mod server;
pub mod summary;
pub mod verify;
pub mod violation;
pub mod workdir;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::CrashError;

use clients::Ctx;
use ledger::{lock, Ledger};
use opts::CrashOptions;
use payload::Codec;
use rounds::Rig;
use server::{free_port, ServerSpec};
use summary::Summary;
use workdir::WorkDir;

/// The cluster ID the server is started with.
pub const CLUSTER_ID: &str = "test-cluster";

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Prints a progress line on stderr under `-v`.
pub(crate) fn debug(args: std::fmt::Arguments<'_>) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("stan-crash: {args}");
    }
}

/// The `stan-server` program: `--server`, or the one next to this
/// program's executable.
pub fn server_program(opts: &CrashOptions) -> Result<PathBuf, CrashError> {
    if let Some(p) = &opts.server {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|source| CrashError::WorkDir {
        path: PathBuf::from("."),
        source,
    })?;
    let path = exe.with_file_name(format!("stan-server{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(CrashError::NoServer { path })
    }
}

/// The time kept for the final checks out of the budget.
fn final_reserve(budget: Duration) -> Duration {
    (budget / 4).min(Duration::from_secs(60))
}

/// Slack past the time budget for the final checks' own bounds (server
/// starts, read-backs, the durable's resumes, clean stops).
pub const HARD_SLACK: Duration = Duration::from_secs(180);

/// [`run`], abandoned (its server killed) if it has not finished within
/// the time budget plus [`HARD_SLACK`]: a run never outlives its bound.
pub async fn run_bounded(opts: &CrashOptions) -> Result<Summary, CrashError> {
    let bound = opts.max_time + HARD_SLACK;
    tokio::time::timeout(bound, run(opts))
        .await
        .unwrap_or(Err(CrashError::TimedOut(bound)))
}

/// Runs the harness: the rounds, then the final checks. `Err` only when
/// the harness could not do its work (the server does not start, a client
/// cannot connect, ...); what the server did wrong is in the summary.
pub async fn run(opts: &CrashOptions) -> Result<Summary, CrashError> {
    VERBOSE.store(opts.verbose, Ordering::Relaxed);
    let started = Instant::now();
    let program = server_program(opts)?;
    let work = WorkDir::prepare(opts.work_dir.as_deref(), opts.seed)?;
    let port = free_port(opts.seed).map_err(CrashError::Port)?;
    let spec = ServerSpec {
        program,
        store: opts.store.flag().into(),
        store_dir: work.store(),
        log_dir: work.logs(),
        port,
        cluster_id: CLUSTER_ID.into(),
    };
    let channels: Vec<String> = (0..opts.channels).map(|i| format!("crash.{i}")).collect();
    let ctx = Arc::new(Ctx {
        url: spec.url(),
        cluster_id: CLUSTER_ID.into(),
        ledger: Arc::new(Mutex::new(Ledger::new(&channels))),
        channels,
        codec: Codec::new(opts.seed),
        window: opts.window,
        publishers: opts.publishers,
        budget: AtomicU64::new(opts.max_msgs),
    });
    let mut summary = Summary {
        store: opts.store.flag().into(),
        seed: opts.seed,
        port,
        work_dir: work.root().to_path_buf(),
        no_kill: opts.no_kill,
        kills_asked: opts.kills,
        ..Summary::default()
    };
    debug(format_args!(
        "server {} {}",
        spec.program.display(),
        spec.args().join(" ")
    ));
    let until = started + opts.max_time.saturating_sub(final_reserve(opts.max_time));
    let mut final_started = started;
    let outcome = async {
        let mut rig = Rig::start(Arc::clone(&ctx), spec, &mut summary).await?;
        rounds::run(&mut rig, opts, until, &mut summary).await?;
        summary.rounds_time = started.elapsed();
        final_started = Instant::now();
        finale::run(&mut rig, opts, &mut summary).await
    }
    .await;
    if let Err(e) = outcome {
        eprintln!(
            "stan-crash: stopped after {} kills; work dir kept: {}",
            summary.kills,
            work.root().display()
        );
        return Err(e);
    }
    summary.final_time = final_started.elapsed();
    {
        let l = lock(&ctx.ledger);
        summary.attempts = l.attempts_total();
        summary.acked = l.acked_total();
        summary.pub_failures = l.pub_failures.clone();
    }
    summary.kept = opts.keep || !summary.passed();
    if !summary.kept {
        if let Err(e) = work.remove() {
            summary
                .notes
                .push(format!("cannot remove {}: {e}", work.root().display()));
            summary.kept = true;
        }
    }
    summary.total_time = started.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_checks_keep_a_share_of_the_budget() {
        assert_eq!(
            final_reserve(Duration::from_secs(240)),
            Duration::from_secs(60)
        );
        assert_eq!(
            final_reserve(Duration::from_secs(40)),
            Duration::from_secs(10)
        );
    }
}
