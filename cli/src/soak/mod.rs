//! `stan-soak`: a soak test of the server under a mixed workload.
//!
//! It runs `stan-server` as a child process on loopback (`-st FILE` in a
//! temporary directory by default), with store limits that bound its
//! memory (`-mm N`, `-mb N KiB`) and heartbeats short enough that a
//! client whose connection is cut is dropped within seconds. Then:
//!
//! 1. **warm-up**: the whole workload ([`workload`]) runs, and each
//!    channel is first filled past its message limit, so the store is at
//!    its steady size; then the publishers stop, every consumer catches up
//!    (acking everything) and leaves, and after a settle time the
//!    **baseline** is taken: RSS, open fds, clients and subscriptions;
//! 2. **main**: the same workload for the rest of `--duration`; then the
//!    same drain and settle, and the **final** measure.
//!
//! The server is sampled all along (the curve, `--csv`). The run fails
//! (exit 1) on any lost message (a PubAck OK never delivered, a durable
//! or queue group missing a message it should have), a duplicate not
//! flagged `redelivered`, a corrupt, phantom or twice-stored payload, a
//! publish failing or a client lost on a connection nobody cut, a final
//! RSS above the baseline by more than `--rss-tolerance` percent or
//! `--rss-slack` MiB (whichever is larger), more open fds than the
//! baseline plus `--fd-tolerance`, any fd on a deleted file, a client
//! still known to the server, or a subscription count off its baseline.
//!
//! **Limits and the loss check.** A message the server drops because of
//! `-mm`/`-mb` is not lost if no consumer still needed it; the run makes
//! sure none does: publishers wait while the slowest durable or queue
//! group is more than half the limit behind the newest message the
//! channel may hold ([`ledger::Ledger::try_reserve`]), and `-mb` is set
//! so that it never binds before `-mm` (payloads are under 300 bytes, the
//! byte limit allows 1 KiB a message). So every sequence from 1 up must
//! reach every durable and durable queue group, and any gap is a loss.

pub mod curve;
pub mod ledger;
pub mod opts;
pub mod payload;
pub mod proxy;
pub mod server;
pub mod verify;
pub mod workload;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::crash::server::{free_port, ServerError};
use crate::crash::workdir::WorkDir;
use curve::{Probe, Sample};
use ledger::{lock, Ledger, Totals, Violations};
use opts::SoakOptions;
use payload::Codec;
use server::{SoakServer, SoakServerSpec};
use workload::{Ctx, Lasting, Pacer};

/// The cluster ID of the server.
pub const CLUSTER_ID: &str = "test-cluster";
/// The main phase must publish at least this share of `--rate`
/// (publishers held back by the limit gate for long mean a consumer, or
/// the server, stopped making progress).
const MIN_RATE_SHARE: f64 = 0.5;
/// Bound of each drain (publishers' outcomes, then consumers catching up).
const DRAIN_BOUND: Duration = Duration::from_secs(60);

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Prints a progress line on stderr under `-v`.
pub(crate) fn debug(args: fmt::Arguments<'_>) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("stan-soak: {args}");
    }
}

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// No `--server` and no `stan-server` next to this program.
    #[error("no stan-server next to this program ({0}); give --server PATH")]
    NoServer(PathBuf),
    /// The work directory could not be prepared.
    #[error("{0}")]
    WorkDir(String),
    /// No loopback port.
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    /// The server could not be started.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The run outlived its hard bound.
    #[error("the run did not finish within {0:?} (--duration plus slack); its server was killed")]
    TimedOut(Duration),
}

/// A measure at the end of a quiesce.
#[derive(Debug, Clone)]
pub struct Measure {
    /// The sample.
    pub sample: Sample,
}

/// Everything a run found.
#[derive(Debug)]
pub struct Report {
    /// The options.
    pub opts: SoakOptions,
    /// The server's pid.
    pub pid: u32,
    /// Its log.
    pub log: PathBuf,
    /// The work directory (and whether kept).
    pub work_dir: PathBuf,
    /// Kept after the run.
    pub kept: bool,
    /// Phase lengths: warm-up, first drain, main, second drain.
    pub times: [Duration; 4],
    /// The whole run.
    pub total: Duration,
    /// Publishes per second in the main phase.
    pub main_rate: f64,
    /// The curve.
    pub samples: Vec<Sample>,
    /// After warm-up.
    pub baseline: Option<Sample>,
    /// At the end.
    pub final_: Option<Sample>,
    /// Counts.
    pub totals: Totals,
    /// Publish failures by text.
    pub pub_failures: Vec<(String, u64)>,
    /// Times publishers found the limit gate closed.
    pub gate_waits: u64,
    /// What went wrong on the clients' side and in the checks.
    pub violations: Violations,
    /// What went wrong with the server's resources.
    pub resource_failures: Vec<String>,
    /// Resource lines (ok or not).
    pub resource_lines: Vec<String>,
    /// The server's exit status after SIGTERM (`None`: killed).
    pub exit: Option<ExitStatus>,
    /// Where the CSV went.
    pub csv: Option<PathBuf>,
    /// Notes.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.resource_failures.is_empty()
            && self.baseline.is_some()
            && self.final_.is_some()
    }
}

/// The `stan-server` to run.
fn server_program(opts: &SoakOptions) -> Result<PathBuf, SoakError> {
    if let Some(p) = &opts.server {
        return Ok(p.clone());
    }
    let exe =
        std::env::current_exe().map_err(|e| SoakError::NoServer(PathBuf::from(e.to_string())))?;
    let path = exe.with_file_name(format!("stan-server{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(SoakError::NoServer(path))
    }
}

/// [`run`] within `--duration` plus slack (the server is killed past it).
pub async fn run_bounded(opts: &SoakOptions) -> Result<Report, SoakError> {
    let bound = opts.hard_bound();
    tokio::time::timeout(bound, run(opts))
        .await
        .unwrap_or(Err(SoakError::TimedOut(bound)))
}

/// Sleeps `d`, returning early with the server's exit status if it exits.
async fn watch_server(server: &mut SoakServer, d: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if let Ok(Some(status)) = server.try_wait() {
            return Some(status);
        }
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    None
}

/// Runs the soak.
pub async fn run(opts: &SoakOptions) -> Result<Report, SoakError> {
    VERBOSE.store(opts.verbose, Ordering::Relaxed);
    let started = Instant::now();
    let program = server_program(opts)?;
    let root = opts.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("stan-soak-{}-{:x}", std::process::id(), opts.seed))
    });
    let work =
        WorkDir::prepare(Some(&root), opts.seed).map_err(|e| SoakError::WorkDir(e.to_string()))?;
    let port = free_port(opts.seed).map_err(SoakError::Port)?;
    let mut monitor_port = port;
    for i in 1..100 {
        monitor_port = free_port(opts.seed.wrapping_add(7919 * i)).map_err(SoakError::Port)?;
        if monitor_port != port {
            break;
        }
    }
    let spec = SoakServerSpec {
        program,
        store: opts.store.flag().into(),
        store_dir: work.store(),
        log: work.logs().join("server.log"),
        port,
        monitor_port,
        cluster_id: CLUSTER_ID.into(),
        max_msgs: opts.max_msgs,
    };
    debug(format_args!(
        "server {} {}",
        spec.program.display(),
        spec.args().join(" ")
    ));
    let mut server = SoakServer::start(&spec).await?;
    let channels: Vec<String> = (0..opts.channels).map(|i| format!("soak.{i}")).collect();
    let codec = Codec::new(opts.seed);
    let gate = if opts.no_gate {
        u64::MAX
    } else {
        opts.max_msgs / 2
    };
    let ledger = Arc::new(Mutex::new(Ledger::new(&channels, codec, gate)));
    let per_channel = f64::from(opts.rate) / f64::from(opts.channels);
    let ctx = Arc::new(Ctx {
        server: spec.addr(),
        cluster_id: CLUSTER_ID.into(),
        pacers: channels.iter().map(|_| Pacer::new(per_channel)).collect(),
        channels,
        codec,
        ledger: Arc::clone(&ledger),
        seed: opts.seed,
        ids: AtomicU32::new(0),
    });
    let t0 = Instant::now();
    let probe = Probe {
        pid: server.pid(),
        store_dir: spec
            .store_dir
            .canonicalize()
            .unwrap_or_else(|_| spec.store_dir.clone()),
        monitor_port,
        ledger: Arc::clone(&ledger),
        t0,
        phase: Arc::new(Mutex::new("start")),
    };
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = tokio::spawn(curve::sampler(
        probe.clone(),
        opts.sample,
        Arc::clone(&samples),
    ));
    let mut report = Report {
        opts: opts.clone(),
        pid: server.pid(),
        log: spec.log.clone(),
        work_dir: work.root().to_path_buf(),
        kept: true,
        times: [Duration::ZERO; 4],
        total: Duration::ZERO,
        main_rate: 0.0,
        samples: Vec::new(),
        baseline: None,
        final_: None,
        totals: Totals::default(),
        pub_failures: Vec::new(),
        gate_waits: 0,
        violations: Violations::default(),
        resource_failures: Vec::new(),
        resource_lines: Vec::new(),
        exit: None,
        csv: opts.csv.clone(),
        notes: Vec::new(),
    };
    let lasting = Lasting::new(&ctx);
    let mut died = None;
    // Phase 0: warm-up, filled past the limits; phase 1: main.
    for phase in 0..2u32 {
        let t = Instant::now();
        let (name, fill, length) = if phase == 0 {
            ("warmup", Some(opts.max_msgs * 5 / 4), opts.warmup)
        } else {
            let end = started + opts.duration;
            let reserve = opts.settle + opts::DRAIN_ALLOWANCE + Duration::from_secs(5);
            let main = end
                .saturating_duration_since(Instant::now() + reserve)
                .max(Duration::from_secs(10));
            ("main", None, main)
        };
        probe.set_phase(name);
        let ph = workload::start_phase(&ctx, &lasting, phase, fill).await;
        let published = lock(&ledger).totals.published;
        died = watch_server(&mut server, length).await;
        report.times[phase as usize * 2] = t.elapsed();
        if phase == 1 {
            let n = lock(&ledger).totals.published - published;
            let secs = t.elapsed().as_secs_f64();
            report.main_rate = n as f64 / secs;
            if report.main_rate < f64::from(opts.rate) * MIN_RATE_SHARE {
                lock(&ledger).violations.push(
                    "publishers stalled",
                    format!(
                        "{n} publishes in the {secs:.0} s main phase: {:.1}/s, under {:.0}% of --rate {}",
                        report.main_rate,
                        MIN_RATE_SHARE * 100.0,
                        opts.rate
                    ),
                );
            }
        }
        let t = Instant::now();
        probe.set_phase("drain");
        let abandoned = ph.finish(DRAIN_BOUND).await;
        report.times[phase as usize * 2 + 1] = t.elapsed();
        if abandoned > 0 {
            lock(&ledger).violations.push(
                "drain incomplete",
                format!(
                    "{abandoned} consumer(s) had not caught up {DRAIN_BOUND:?} after the publishers stopped ({name})"
                ),
            );
        }
        if died.is_some() {
            break;
        }
        probe.set_phase("settle");
        died = watch_server(&mut server, opts.settle).await;
        if died.is_some() {
            break;
        }
        probe.set_phase(if phase == 0 { "baseline" } else { "final" });
        let m = probe.sample_async().await;
        debug(format_args!("{}", curve::row(&m)));
        samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m.clone());
        if phase == 0 {
            report.baseline = Some(m);
        } else {
            report.final_ = Some(m);
        }
    }
    sampler.abort();
    if let Some(status) = died {
        lock(&ledger).violations.push(
            "server died",
            format!("exited on its own ({status}); see {}", spec.log.display()),
        );
    }
    {
        let mut l = lock(&ledger);
        verify::check(&mut l);
        report.totals = l.totals;
        report.pub_failures = l
            .pub_failures
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        report.gate_waits = l.channels.iter().map(|c| c.gate_waits).sum();
        report.violations = l.violations.clone();
    }
    report.samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    judge_resources(&mut report);
    report.exit = match server.terminate(Duration::from_secs(30)).await {
        Ok(s) => s,
        Err(e) => {
            report.notes.push(format!("stopping the server: {e}"));
            None
        }
    };
    match report.exit {
        Some(s) if died.is_none() && !clean_exit(s) => report
            .resource_failures
            .push(format!("the server did not stop cleanly on SIGTERM: {s}")),
        None if died.is_none() => report
            .resource_failures
            .push("the server did not stop within 30 s of SIGTERM (killed)".into()),
        _ => {}
    }
    if let Some(path) = &opts.csv {
        if let Err(e) = curve::write_csv(path, &report.samples) {
            report
                .notes
                .push(format!("cannot write {}: {e}", path.display()));
        }
    }
    report.kept = opts.keep || !report.passed();
    if !report.kept {
        if let Err(e) = work.remove() {
            report
                .notes
                .push(format!("cannot remove {}: {e}", work.root().display()));
            report.kept = true;
        }
    }
    report.total = started.elapsed();
    Ok(report)
}

/// SIGTERM's clean exit: 143 (as the Go server), or 0.
fn clean_exit(s: ExitStatus) -> bool {
    matches!(s.code(), Some(0) | Some(143))
}

/// Compares the final measure with the baseline.
fn judge_resources(r: &mut Report) {
    let (Some(b), Some(f)) = (&r.baseline, &r.final_) else {
        r.resource_failures
            .push("no baseline or final measure (the run stopped early)".into());
        return;
    };
    let o = &r.opts;
    let mut lines = Vec::new();
    let mut fails = Vec::new();
    match (b.proc.rss_kib, f.proc.rss_kib) {
        (Some(rb), Some(rf)) => {
            let allowed = (rb * o.rss_tolerance_pct / 100).max(o.rss_slack_mib * 1024);
            let growth = rf as i64 - rb as i64;
            let line = format!(
                "RSS: baseline {} MiB, final {} MiB ({:+.1} MiB, {:+.1}%), allowed +{} MiB",
                curve::mib(rb),
                curve::mib(rf),
                growth as f64 / 1024.0,
                growth as f64 * 100.0 / rb.max(1) as f64,
                curve::mib(allowed)
            );
            if rf > rb + allowed {
                fails.push(format!("memory not back to baseline: {line}"));
            }
            lines.push(line);
            let part = |v: Option<u64>| v.map_or_else(|| "?".into(), curve::mib);
            lines.push(format!(
                "  of which heap (RssAnon) {} -> {} MiB, file-backed (RssFile: the program's pages) {} -> {} MiB",
                part(b.proc.rss_anon_kib),
                part(f.proc.rss_anon_kib),
                part(b.proc.rss_file_kib),
                part(f.proc.rss_file_kib)
            ));
        }
        _ => fails.push("RSS could not be read".into()),
    }
    match (b.proc.fds, f.proc.fds) {
        (Some(fb), Some(ff)) => {
            // The file store keeps an fd per file of the store (slices
            // come and go): those are judged against the files on disk,
            // every other fd against the baseline.
            let other = |c: &server::FdCount| c.total - c.store_files - c.deleted;
            let on_disk = f.proc.store_files.unwrap_or(0);
            let line = format!(
                "fds: baseline {} ({} sockets, {} on store files, {} other), final {} ({} sockets, {} on store files of {} on disk, {} other, {} on deleted files), allowed +{} other",
                fb.total,
                fb.sockets,
                fb.store_files,
                other(&fb) - fb.sockets,
                ff.total,
                ff.sockets,
                ff.store_files,
                on_disk,
                other(&ff) - ff.sockets,
                ff.deleted,
                o.fd_tolerance
            );
            if other(&ff) > other(&fb) + o.fd_tolerance {
                fails.push(format!("fds not back to baseline: {line}"));
            }
            if ff.sockets > fb.sockets {
                fails.push(format!("more sockets open than at the baseline: {line}"));
            }
            if ff.store_files > on_disk.max(fb.store_files) {
                fails.push(format!("more fds on store files than files: {line}"));
            }
            if ff.deleted > 0 {
                fails.push(format!("fds on deleted files: {line}"));
            }
            lines.push(line);
        }
        _ => fails.push("fds could not be read".into()),
    }
    match (
        b.proc.clients,
        f.proc.clients,
        b.proc.subscriptions,
        f.proc.subscriptions,
    ) {
        (Some(cb), Some(cf), Some(sb), Some(sf)) => {
            let line = format!(
                "server state: clients {cb} at the baseline, {cf} at the end; subscriptions (offline durables) {sb}, {sf}"
            );
            if cf != 0 || cb != 0 {
                fails.push(format!("clients left on the server: {line}"));
            }
            if sf != sb {
                fails.push(format!("subscriptions not back to baseline: {line}"));
            }
            lines.push(line);
        }
        _ => fails.push("the monitoring endpoint could not be read".into()),
    }
    if let Some((k, n)) = curve::rss_slope_mib_per_hour(&r.samples, "main") {
        lines.push(format!(
            "RSS trend in the main phase: {k:+.1} MiB/h (least squares over {n} samples; informative)"
        ));
    }
    for (phase, label) in [("warmup", "warm-up"), ("main", "main")] {
        if let (Some((lo, hi)), Some((flo, fhi))) = (
            curve::rss_range(&r.samples, phase),
            curve::fd_range(&r.samples, phase),
        ) {
            let cpu = curve::cpu_share(&r.samples, phase).map_or_else(String::new, |c| {
                format!(", server CPU {:.0}% of a core", c * 100.0)
            });
            lines.push(format!(
                "{label}: RSS {}..{} MiB, fds {flo}..{fhi}{cpu}",
                curve::mib(lo),
                curve::mib(hi)
            ));
        }
    }
    r.resource_lines = lines;
    r.resource_failures.extend(fails);
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.opts;
        let t = &self.totals;
        writeln!(
            f,
            "stan-soak: seed {}, store {}, {} channels, {} publishes/s, -mm {} -mb {} KiB, --duration {:?}",
            o.seed,
            o.store.flag(),
            o.channels,
            o.rate,
            o.max_msgs,
            o.max_msgs,
            o.duration
        )?;
        writeln!(
            f,
            "phases: warm-up {:.0?}, drain {:.1?}, main {:.0?}, drain {:.1?}; settle {:?} each; total {:.0?}",
            self.times[0], self.times[1], self.times[2], self.times[3], o.settle, self.total
        )?;
        writeln!(
            f,
            "clients: {} sessions ({} closed, {} cut for good, {} cut and reconnected)",
            t.sessions, t.closes, t.drops, t.blips
        )?;
        writeln!(
            f,
            "messages: {} published, {} PubAck OK, {} failed ({} on connections cut on purpose); {} delivered, {} flagged redelivered; {} acks, {} withheld on purpose",
            t.published, t.acked, t.failed, t.failed_cut, t.delivered, t.redelivered, t.acks, t.withheld
        )?;
        writeln!(
            f,
            "main phase: {:.1} publishes/s (--rate {}); limit gate: publishers waited {} times (20 ms each) for the slowest consumer",
            self.main_rate, o.rate, self.gate_waits
        )?;
        for (e, n) in &self.pub_failures {
            writeln!(f, "  publish failure x{n}: {e}")?;
        }
        writeln!(f, "server: pid {}, log {}", self.pid, self.log.display())?;
        writeln!(
            f,
            "curve ({} samples every {:?}{}):",
            self.samples.len(),
            o.sample,
            self.csv
                .as_ref()
                .map_or_else(String::new, |p| format!(", CSV in {}", p.display()))
        )?;
        write!(f, "{}", curve::table(&self.samples, 24))?;
        for l in &self.resource_lines {
            writeln!(f, "{l}")?;
        }
        match self.exit {
            Some(s) => writeln!(f, "server stop (SIGTERM): {s}")?,
            None => writeln!(f, "server stop (SIGTERM): killed or already gone")?,
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        writeln!(
            f,
            "work dir: {}{}",
            self.work_dir.display(),
            if self.kept { " (kept)" } else { " (removed)" }
        )?;
        if self.violations.is_empty() {
            writeln!(
                f,
                "message checks: no loss, no unflagged duplicate, no corruption"
            )?;
        } else {
            writeln!(f, "violations ({}):", self.violations.len())?;
            write!(f, "{}", self.violations.report())?;
        }
        for r in &self.resource_failures {
            writeln!(f, "FAILED: {r}")?;
        }
        write!(f, "RESULT: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}
