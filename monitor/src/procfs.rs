//! The process's own resource usage from Linux's `/proc/self`, for `/varz`
//! (`mem`, `cpu`, `cores`), `/streaming/serverz` (`open_fds`, `max_fds`)
//! and the `process_*` metrics. Elsewhere, or when a file cannot be read or
//! parsed, the values are zero: nothing here panics.
//!
//! The CPU percentage is nats-server's: the share of one core used over the
//! last second or more (between two samples), with one decimal. The first
//! sample averages over the process's life. Clock ticks are taken as the
//! Linux default of 100 per second (`sysconf` needs `unsafe`, forbidden in
//! this crate).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc` (`USER_HZ`).
const TICKS_PER_SEC: f64 = 100.0;

/// How long a CPU percentage stands before a new sample replaces it.
const CPU_WINDOW: Duration = Duration::from_secs(1);

/// What `/proc/self` tells.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ProcStats {
    /// Resident set size, in bytes.
    pub(crate) rss_bytes: u64,
    /// User and system CPU time used, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Time since the process started, in seconds.
    pub(crate) age_seconds: f64,
    /// Open file descriptors.
    pub(crate) open_fds: u64,
    /// Soft limit of open file descriptors.
    pub(crate) max_fds: u64,
}

impl ProcStats {
    /// Reads `/proc/self` now; zeros for whatever is unavailable.
    pub(crate) fn read() -> ProcStats {
        let stat = read("/proc/self/stat");
        let (cpu_ticks, start_ticks) = stat.as_deref().map_or((0, 0), parse_stat);
        let uptime = read("/proc/uptime")
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let age = (uptime - start_ticks as f64 / TICKS_PER_SEC).max(0.0);
        ProcStats {
            rss_bytes: read("/proc/self/status").map_or(0, |s| parse_vm_rss(&s)),
            cpu_seconds: cpu_ticks as f64 / TICKS_PER_SEC,
            age_seconds: if start_ticks == 0 { 0.0 } else { age },
            open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
            max_fds: read("/proc/self/limits").map_or(0, |s| parse_max_open_files(&s)),
        }
    }
}

/// Logical CPUs this process may run on (Go's `runtime.NumCPU`).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// nats-server's CPU percentage, kept between samples.
#[derive(Debug, Default)]
pub(crate) struct CpuMeter {
    last: Mutex<Option<CpuSample>>,
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    cpu_seconds: f64,
    percent: f64,
}

impl CpuMeter {
    /// The percentage of one core used, from `stats` read at `at`.
    pub(crate) fn percent(&self, stats: &ProcStats, at: Instant) -> f64 {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let percent = match *last {
            Some(prev) if at.saturating_duration_since(prev.at) < CPU_WINDOW => {
                return prev.percent;
            }
            Some(prev) => {
                let wall = at.saturating_duration_since(prev.at).as_secs_f64();
                ratio(stats.cpu_seconds - prev.cpu_seconds, wall)
            }
            None => ratio(stats.cpu_seconds, stats.age_seconds),
        };
        // One decimal, truncated, as nats-server keeps it.
        let percent = (percent * 10.0).trunc() / 10.0;
        *last = Some(CpuSample {
            at,
            cpu_seconds: stats.cpu_seconds,
            percent,
        });
        percent
    }
}

fn ratio(cpu: f64, wall: f64) -> f64 {
    if wall > 0.0 && cpu.is_finite() {
        (cpu / wall * 100.0).max(0.0)
    } else {
        0.0
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `utime + stime` and `starttime` (fields 14, 15 and 22) of
/// `/proc/self/stat`, whose second field (the command, in parentheses)
/// may contain spaces.
fn parse_stat(stat: &str) -> (u64, u64) {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return (0, 0);
    };
    // `rest` starts at field 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields.get(n - 3).and_then(|f| f.parse().ok()).unwrap_or(0) };
    (field(14).saturating_add(field(15)), field(22))
}

/// `VmRSS:  1234 kB` of `/proc/self/status`, in bytes.
fn parse_vm_rss(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// The soft limit of `Max open files` of `/proc/self/limits`
/// (`unlimited`: `u64::MAX`).
fn parse_max_open_files(limits: &str) -> u64 {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .map_or(0, |soft| {
            if soft == "unlimited" {
                u64::MAX
            } else {
                soft.parse().unwrap_or(0)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat(stat), (200, 12345));
        assert_eq!(parse_stat("garbage"), (0, 0));
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t   18416 kB\nVmData: 1 kB\n"),
            18416 * 1024
        );
        assert_eq!(parse_vm_rss(""), 0);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            20000                524288               files\n";
        assert_eq!(parse_max_open_files(limits), 20000);
    }

    #[test]
    fn reading_never_fails() {
        let stats = ProcStats::read();
        if cfg!(target_os = "linux") {
            assert!(stats.rss_bytes > 0);
            assert!(stats.open_fds > 0);
        }
        assert!(cores() >= 1);
    }

    #[test]
    fn cpu_percent_between_samples() {
        let meter = CpuMeter::default();
        let t0 = Instant::now();
        let first = ProcStats {
            cpu_seconds: 1.0,
            age_seconds: 4.0,
            ..ProcStats::default()
        };
        assert_eq!(meter.percent(&first, t0), 25.0);
        // Within the window: the same answer.
        let busy = ProcStats {
            cpu_seconds: 3.0,
            ..first
        };
        assert_eq!(meter.percent(&busy, t0 + Duration::from_millis(10)), 25.0);
        // 0.5 s of CPU over 2 s since the first sample.
        let later = ProcStats {
            cpu_seconds: 1.5,
            ..first
        };
        assert_eq!(meter.percent(&later, t0 + Duration::from_secs(2)), 25.0);
        let idle = later;
        assert_eq!(meter.percent(&idle, t0 + Duration::from_secs(4)), 0.0);
    }
}
