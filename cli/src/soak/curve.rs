//! The curve: a sample of the server process and of the clients' counts
//! every few seconds, written as CSV, summarised per phase, and its RSS
//! trend (least squares) over the main phase.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ledger::{lock, SharedLedger, Totals};
use super::server::{count_files, read_cpu_ticks, read_fds, read_rss_parts, serverz, ProcSample};

/// One point of the curve.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Since the server was ready.
    pub t: Duration,
    /// Phase label.
    pub phase: &'static str,
    /// The server process.
    pub proc: ProcSample,
    /// The clients' counts.
    pub totals: Totals,
    /// This program's own open fds (the clients' side).
    pub tool_fds: Option<u64>,
}

/// What the sampler needs.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The server's pid.
    pub pid: u32,
    /// Its store directory.
    pub store_dir: PathBuf,
    /// Its monitoring port.
    pub monitor_port: u16,
    /// The ledger (counts).
    pub ledger: SharedLedger,
    /// When the run's clock started.
    pub t0: Instant,
    /// The current phase label.
    pub phase: Arc<Mutex<&'static str>>,
}

impl Probe {
    /// Sets the phase label.
    pub fn set_phase(&self, p: &'static str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = p;
        super::debug(format_args!("phase {p} at {:.0?}", self.t0.elapsed()));
    }

    /// Takes one sample (blocking: `/proc` and an HTTP GET).
    pub fn sample(&self) -> Sample {
        let phase = *self.phase.lock().unwrap_or_else(|e| e.into_inner());
        let (rss_kib, rss_anon_kib, rss_file_kib) = read_rss_parts(self.pid);
        let mut proc = ProcSample {
            rss_kib,
            rss_anon_kib,
            rss_file_kib,
            cpu_ticks: read_cpu_ticks(self.pid),
            fds: read_fds(self.pid, &self.store_dir),
            store_files: count_files(&self.store_dir),
            ..ProcSample::default()
        };
        if let Some((c, s)) = serverz(self.monitor_port) {
            proc.clients = Some(c);
            proc.subscriptions = Some(s);
        }
        let tool_fds = read_fds(std::process::id(), Path::new("/nonexistent")).map(|f| f.total);
        Sample {
            t: self.t0.elapsed(),
            phase,
            proc,
            totals: lock(&self.ledger).totals,
            tool_fds,
        }
    }

    /// [`sample`](Self::sample) off the async threads.
    pub async fn sample_async(&self) -> Sample {
        let p = self.clone();
        match tokio::task::spawn_blocking(move || p.sample()).await {
            Ok(s) => s,
            Err(_) => self.sample(),
        }
    }
}

/// Samples every `every` into `out` until aborted.
pub async fn sampler(probe: Probe, every: Duration, out: Arc<Mutex<Vec<Sample>>>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let s = probe.sample_async().await;
        super::debug(format_args!("{}", row(&s)));
        out.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }
}

/// The CSV header.
pub const CSV_HEADER: &str = "t_s,phase,rss_kib,fds,fd_sockets,fd_store,fd_deleted,clients,subscriptions,published,acked,pub_failed,delivered,redelivered,server_cpu_s,tool_fds,rss_anon_kib,rss_file_kib";

fn opt(v: Option<u64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// One CSV line.
pub fn csv_line(s: &Sample) -> String {
    let f = s.proc.fds;
    format!(
        "{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        s.t.as_secs_f64(),
        s.phase,
        opt(s.proc.rss_kib),
        opt(f.map(|f| f.total)),
        opt(f.map(|f| f.sockets)),
        opt(f.map(|f| f.store_files)),
        opt(f.map(|f| f.deleted)),
        opt(s.proc.clients),
        opt(s.proc.subscriptions),
        s.totals.published,
        s.totals.acked,
        s.totals.failed,
        s.totals.delivered,
        s.totals.redelivered,
        s.proc
            .cpu_ticks
            .map_or_else(String::new, |t| format!("{:.2}", t as f64 / 100.0)),
        opt(s.tool_fds),
        opt(s.proc.rss_anon_kib),
        opt(s.proc.rss_file_kib),
    )
}

/// Writes the curve as CSV.
pub fn write_csv(path: &Path, samples: &[Sample]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for s in samples {
        text.push_str(&csv_line(s));
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// A human row of the curve.
pub fn row(s: &Sample) -> String {
    let f = s.proc.fds.unwrap_or_default();
    format!(
        "{:>7.0}s {:<9} {:>7} MiB {:>4} fds ({:>3} sock {:>3} store {} del) {:>3} clients {:>4} subs {:>9} pub {:>10} dlv {:>8} redlv",
        s.t.as_secs_f64(),
        s.phase,
        s.proc.rss_kib.map_or_else(|| "?".into(), mib),
        f.total,
        f.sockets,
        f.store_files,
        f.deleted,
        opt(s.proc.clients),
        opt(s.proc.subscriptions),
        s.totals.published,
        s.totals.delivered,
        s.totals.redelivered,
    )
}

/// About `rows` rows of the curve, evenly spaced, the first and last
/// included.
pub fn table(samples: &[Sample], rows: usize) -> String {
    let mut out = String::new();
    if samples.is_empty() {
        return out;
    }
    let step = samples.len().div_ceil(rows.max(1)).max(1);
    for (i, s) in samples.iter().enumerate() {
        if i % step == 0 || i + 1 == samples.len() {
            let _ = writeln!(out, "  {}", row(s));
        }
    }
    out
}

/// The server's mean CPU use (a share of one core) over the samples of
/// `phase`.
pub fn cpu_share(samples: &[Sample], phase: &str) -> Option<f64> {
    let v: Vec<(f64, u64)> = samples
        .iter()
        .filter(|s| s.phase == phase)
        .filter_map(|s| Some((s.t.as_secs_f64(), s.proc.cpu_ticks?)))
        .collect();
    let (first, last) = (v.first()?, v.last()?);
    let dt = last.0 - first.0;
    (dt > 0.0).then(|| (last.1 - first.1) as f64 / 100.0 / dt)
}

/// RSS of the samples of `phase`: (min, max) in KiB.
pub fn rss_range(samples: &[Sample], phase: &str) -> Option<(u64, u64)> {
    let v: Vec<u64> = samples
        .iter()
        .filter(|s| s.phase == phase)
        .filter_map(|s| s.proc.rss_kib)
        .collect();
    Some((*v.iter().min()?, *v.iter().max()?))
}

/// Total fds of the samples of `phase`: (min, max).
pub fn fd_range(samples: &[Sample], phase: &str) -> Option<(u64, u64)> {
    let v: Vec<u64> = samples
        .iter()
        .filter(|s| s.phase == phase)
        .filter_map(|s| s.proc.fds.map(|f| f.total))
        .collect();
    Some((*v.iter().min()?, *v.iter().max()?))
}

/// The least-squares slope of RSS over time in the samples of `phase`,
/// in MiB per hour, with the number of samples used (at least 3).
pub fn rss_slope_mib_per_hour(samples: &[Sample], phase: &str) -> Option<(f64, usize)> {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.phase == phase)
        .filter_map(|s| Some((s.t.as_secs_f64(), s.proc.rss_kib? as f64 / 1024.0)))
        .collect();
    slope(&pts).map(|k| (k * 3600.0, pts.len()))
}

/// Least-squares slope of `pts` (`None` under 3 points or no spread).
pub fn slope(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::server::FdCount;

    fn sample(t: u64, phase: &'static str, rss: u64) -> Sample {
        Sample {
            t: Duration::from_secs(t),
            phase,
            proc: ProcSample {
                rss_kib: Some(rss),
                rss_anon_kib: Some(rss / 2),
                rss_file_kib: Some(rss / 2),
                fds: Some(FdCount {
                    total: 10,
                    sockets: 4,
                    store_files: 5,
                    deleted: 0,
                }),
                clients: Some(2),
                subscriptions: Some(9),
                cpu_ticks: Some(150),
                store_files: Some(5),
            },
            totals: Totals::default(),
            tool_fds: Some(20),
        }
    }

    #[test]
    fn slope_and_ranges() {
        let s: Vec<Sample> = (0..10)
            .map(|i| sample(i * 360, "main", 1024 * (100 + i)))
            .collect();
        let (k, n) = rss_slope_mib_per_hour(&s, "main").unwrap();
        assert!((k - 10.0).abs() < 1e-9 && n == 10, "{k}");
        assert_eq!(rss_range(&s, "main"), Some((102_400, 1024 * 109)));
        assert_eq!(rss_range(&s, "warmup"), None);
        assert_eq!(slope(&[(0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]), None);
    }

    #[test]
    fn csv_has_every_column() {
        let line = csv_line(&sample(5, "main", 2048));
        assert_eq!(line.split(',').count(), CSV_HEADER.split(',').count());
        assert!(line.starts_with("5.0,main,2048,10,4,5,0,2,9,"), "{line}");
        let t = table(
            &(0..100).map(|i| sample(i, "main", 1)).collect::<Vec<_>>(),
            10,
        );
        assert_eq!(t.lines().count(), 11);
    }
}
