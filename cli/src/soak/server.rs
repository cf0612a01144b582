//! The `stan-server` child of a soak run, and what is measured of it: its
//! resident set (`/proc/PID/status` `VmRSS`), its open file descriptors
//! (`/proc/PID/fd`, sorted into sockets, files, files already deleted and
//! the rest) and its streaming state from the monitoring port
//! (`/streaming/serverz`: clients, subscriptions).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::server_child::{ServerChild, ServerError};

/// How every soak server is started.
#[derive(Debug, Clone)]
pub struct SoakServerSpec {
    /// The `stan-server` program.
    pub program: PathBuf,
    /// `-st`: `FILE` or `MEMORY`.
    pub store: String,
    /// `--dir` (used with `FILE`).
    pub store_dir: PathBuf,
    /// The server's log file.
    pub log: PathBuf,
    /// `-p` (loopback).
    pub port: u16,
    /// `-m` (loopback).
    pub monitor_port: u16,
    /// `-cid`.
    pub cluster_id: String,
    /// `-mm`; `-mb` is this many KiB.
    pub max_msgs: u64,
}

/// The server's heartbeat interval: a client whose connection was cut
/// is dropped after about interval times (failures + 1).
pub const HB_INTERVAL: &str = "2s";
/// The server's heartbeat timeout.
pub const HB_TIMEOUT: &str = "2s";
/// Heartbeat failures before a client is dropped.
pub const HB_FAILS: &str = "3";

impl SoakServerSpec {
    /// The command line: the Go server's flags, loopback only, bounded
    /// store limits, heartbeats short enough that a client whose
    /// connection was cut is gone within the settle time.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["-st".into(), self.store.clone()];
        if self.store == "FILE" {
            // Slices of a quarter of the limit (as Go does when no slice
            // limit is set; the default 64 MB slice would never roll over
            // here): old slices are deleted all along.
            a.extend([
                "--dir".into(),
                self.store_dir.display().to_string(),
                "--file_slice_max_msgs".into(),
                (self.max_msgs / 4).max(1).to_string(),
            ]);
        }
        a.extend(
            [
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-m",
                &self.monitor_port.to_string(),
                "-cid",
                &self.cluster_id,
                "-mm",
                &self.max_msgs.to_string(),
                "-mb",
                &(self.max_msgs * 1024).to_string(),
                "-msu",
                "1000",
                "-mc",
                "100",
                "-hbi",
                HB_INTERVAL,
                "-hbt",
                HB_TIMEOUT,
                "-hbf",
                HB_FAILS,
            ]
            .map(String::from),
        );
        a
    }

    /// The clients' URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The address clients dial (proxies forward to it).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// The running server. Killed if still running when dropped.
#[derive(Debug)]
pub struct SoakServer {
    child: ServerChild,
    monitor_port: u16,
}

impl SoakServer {
    /// Starts the server and waits until it logs that it is ready.
    pub async fn start(spec: &SoakServerSpec) -> Result<SoakServer, ServerError> {
        let poll = Duration::from_millis(20);
        let child = ServerChild::spawn_ready(&spec.program, &spec.args(), &spec.log, poll).await?;
        Ok(SoakServer {
            child,
            monitor_port: spec.monitor_port,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        self.child.log()
    }

    /// The exit status if the server has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ServerError> {
        self.child.try_wait()
    }

    /// Stops the server with SIGTERM, waiting up to `grace`; killed past
    /// it (`None`).
    pub async fn terminate(&mut self, grace: Duration) -> Result<Option<ExitStatus>, ServerError> {
        self.child.terminate(grace, Duration::from_millis(20)).await
    }

    /// One measure of the process (`None` fields: could not be read).
    pub fn measure(&self, store_dir: &Path) -> ProcSample {
        let pid = self.child.pid();
        let (rss_kib, rss_anon_kib, rss_file_kib) = read_rss_parts(pid);
        let mut s = ProcSample {
            rss_kib,
            rss_anon_kib,
            rss_file_kib,
            cpu_ticks: read_cpu_ticks(pid),
            store_files: count_files(store_dir),
            ..ProcSample::default()
        };
        if let Some(fds) = read_fds(pid, store_dir) {
            s.fds = Some(fds);
        }
        if let Some((clients, subs)) = serverz(self.monitor_port) {
            s.clients = Some(clients);
            s.subscriptions = Some(subs);
        }
        s
    }
}

/// A process measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// `VmRSS` in KiB.
    pub rss_kib: Option<u64>,
    /// Its anonymous part (`RssAnon`: the heap), KiB.
    pub rss_anon_kib: Option<u64>,
    /// Its file-backed part (`RssFile`: mostly the program's own pages,
    /// paged in as code paths are first used), KiB.
    pub rss_file_kib: Option<u64>,
    /// Open file descriptors by kind.
    pub fds: Option<FdCount>,
    /// Streaming clients (`/streaming/serverz`).
    pub clients: Option<u64>,
    /// Subscriptions, offline durables included (`/streaming/serverz`).
    pub subscriptions: Option<u64>,
    /// CPU time used so far (user and system), in hundredths of a second.
    pub cpu_ticks: Option<u64>,
    /// Files in the store directory (an fd per file is what the file
    /// store keeps, up to `--file_fds_limit`).
    pub store_files: Option<u64>,
}

/// Open file descriptors by what they point to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdCount {
    /// All of them.
    pub total: u64,
    /// Sockets.
    pub sockets: u64,
    /// Files under the store directory.
    pub store_files: u64,
    /// Files deleted while still open (a removed slice kept open).
    pub deleted: u64,
}

/// `VmRSS` of `pid` in KiB.
pub fn read_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` line of a `/proc/PID/status` text, in KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// A `<field> N kB` line of a `/proc/PID/status` text, in KiB.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `VmRSS`, `RssAnon` and `RssFile` of `pid` in KiB.
pub fn read_rss_parts(pid: u32) -> (Option<u64>, Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None, None);
    };
    (
        status_kib(&status, "VmRSS:"),
        status_kib(&status, "RssAnon:"),
        status_kib(&status, "RssFile:"),
    )
}

/// Regular files under `dir` (recursively; `None` if it cannot be read).
pub fn count_files(dir: &Path) -> Option<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let t = e.file_type().ok()?;
        if t.is_dir() {
            n += count_files(&e.path()).unwrap_or(0);
        } else if t.is_file() {
            n += 1;
        }
    }
    Some(n)
}

/// User plus system CPU time of `pid` in clock ticks (hundredths of a
/// second on Linux), from `/proc/PID/stat`.
pub fn read_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// `utime + stime` of a `/proc/PID/stat` line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The open fds of `pid`, sorted by kind.
pub fn read_fds(pid: u32, store_dir: &Path) -> Option<FdCount> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut c = FdCount::default();
    for entry in dir.flatten() {
        c.total += 1;
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if t.starts_with("socket:") {
            c.sockets += 1;
        } else if t.ends_with(" (deleted)") {
            c.deleted += 1;
        } else if target.starts_with(store_dir) {
            c.store_files += 1;
        }
    }
    Some(c)
}

/// `clients` and `subscriptions` of `/streaming/serverz` on the
/// monitoring port.
pub fn serverz(port: u16) -> Option<(u64, u64)> {
    let body = http_get(port, "/streaming/serverz").ok()?;
    Some((
        json_u64(&body, "clients")?,
        json_u64(&body, "subscriptions")?,
    ))
}

/// A GET on the loopback monitoring port (HTTP/1.0, bounded by 5 s).
fn http_get(port: u16, path: &str) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.take(1 << 20).read_to_string(&mut out)?;
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(body.to_string())
}

/// The unsigned number after `"key":` in a JSON text (the top-level
/// fields of serverz are unique, so the first occurrence is the one).
pub fn json_u64(body: &str, key: &str) -> Option<u64> {
    let at = body.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = body[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let s = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nRssAnon: 1 kB\n";
        assert_eq!(parse_vm_rss(s), Some(1234));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert_eq!(status_kib("RssAnon:\t  77 kB\n", "RssAnon:"), Some(77));
        let (rss, anon, file) = read_rss_parts(std::process::id());
        assert!(rss.is_some() && anon.is_some() && file.is_some());
        assert!(read_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert!(read_cpu_ticks(std::process::id()).is_some());
    }

    #[test]
    fn counts_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("ch")).unwrap();
        std::fs::write(d.path().join("a"), b"").unwrap();
        std::fs::write(d.path().join("ch/b"), b"").unwrap();
        assert_eq!(count_files(d.path()), Some(2));
        assert_eq!(count_files(&d.path().join("none")), None);
    }

    #[test]
    fn counts_own_fds() {
        let c = read_fds(std::process::id(), Path::new("/nonexistent")).unwrap();
        assert!(c.total >= 3 && c.store_files == 0, "{c:?}");
    }

    #[test]
    fn reads_json_numbers() {
        let b = r#"{"cluster_id": "x", "clients": 3, "subscriptions":17, "channels": 2}"#;
        assert_eq!(json_u64(b, "clients"), Some(3));
        assert_eq!(json_u64(b, "subscriptions"), Some(17));
        assert_eq!(json_u64(b, "cluster_id"), None);
        assert_eq!(json_u64(b, "missing"), None);
    }

    #[test]
    fn args_are_loopback_with_limits() {
        let spec = SoakServerSpec {
            program: "stan-server".into(),
            store: "FILE".into(),
            store_dir: "/tmp/s".into(),
            log: "/tmp/l".into(),
            port: 4333,
            monitor_port: 8333,
            cluster_id: "test-cluster".into(),
            max_msgs: 100,
        };
        let a = spec.args().join(" ");
        assert!(
            a.starts_with("-st FILE --dir /tmp/s --file_slice_max_msgs 25 -a 127.0.0.1 -p 4333"),
            "{a}"
        );
        assert!(a.contains("-mm 100 -mb 102400"), "{a}");
    }
}
