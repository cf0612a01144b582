//! What `stan-load` reads about a process from `/proc` (resident memory,
//! CPU time, open descriptors, threads), the descriptor limit, and the
//! server's monitoring counts over a plain loopback HTTP GET.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat`'s times: the kernel exports
/// them in `USER_HZ`, which is 100 on every architecture this runs on.
pub const USER_HZ: f64 = 100.0;

/// A process: `Some(pid)`, or this process itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// Another process.
    Pid(u32),
    /// `/proc/self`.
    Myself,
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Pid(p) => format!("/proc/{p}/{file}"),
            Proc::Myself => format!("/proc/self/{file}"),
        }
    }

    fn status_field(self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.path("status")).ok()?;
        status_value(&text, field)
    }

    /// Resident set size, KiB (`VmRSS`).
    pub fn rss_kib(self) -> Option<u64> {
        self.status_field("VmRSS")
    }

    /// Threads.
    pub fn threads(self) -> Option<u64> {
        self.status_field("Threads")
    }

    /// User plus system CPU time so far, in clock ticks ([`USER_HZ`]).
    pub fn cpu_ticks(self) -> Option<u64> {
        let text = std::fs::read_to_string(self.path("stat")).ok()?;
        stat_cpu_ticks(&text)
    }

    /// CPU time of its threads so far, nanoseconds: the sum of the first
    /// field of `/proc/PID/task/*/schedstat` (nanosecond precision, where
    /// the ticks of `stat` are 10 ms), or `stat`'s ticks where schedstat
    /// is missing. Threads that exit drop out of the sum: compare two
    /// readings over a window in which the threads stay the same.
    pub fn cpu_ns(self) -> Option<u64> {
        let from_tasks = std::fs::read_dir(self.path("task")).ok().and_then(|tasks| {
            let mut sum = 0u64;
            for t in tasks {
                let text = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
                sum += text.split_whitespace().next()?.parse::<u64>().ok()?;
            }
            Some(sum)
        });
        from_tasks.or_else(|| self.cpu_ticks().map(|t| (t as f64 * 1e9 / USER_HZ) as u64))
    }

    /// Open file descriptors.
    pub fn fds(self) -> Option<u64> {
        Some(std::fs::read_dir(self.path("fd")).ok()?.count() as u64)
    }
}

/// The number of a `/proc/PID/status` line `field:   N [kB]`.
pub fn status_value(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime of a `/proc/PID/stat` line (fields 14 and 15; the
/// command name in parentheses may hold spaces, so count after its `)`).
pub fn stat_cpu_ticks(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": field 3 (state) is index 0, so field 14 is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The soft limit of open files of this process (its children inherit it).
pub fn nofile_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `GET path` on the loopback monitoring port; the body, or `None` when
/// the server does not answer within 10 s.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(5))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}

/// The first integer value of `"key":` in a JSON text (the monitoring
/// endpoints' counts are flat numbers).
pub fn json_u64(text: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\"");
    let at = text.find(&pat)? + pat.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_stat_are_read() {
        let status = "Name:\tstan-server\nVmRSS:\t   12345 kB\nThreads:\t7\n";
        assert_eq!(status_value(status, "VmRSS"), Some(12345));
        assert_eq!(status_value(status, "Threads"), Some(7));
        assert_eq!(status_value(status, "VmHWM"), None);
        let stat = "42 (stan server) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0";
        assert_eq!(stat_cpu_ticks(stat), Some(281));
    }

    #[test]
    fn this_process_is_readable() {
        assert!(Proc::Myself.rss_kib().unwrap() > 0);
        assert!(Proc::Myself.fds().unwrap() > 0);
        assert!(Proc::Myself.cpu_ticks().is_some());
        assert!(Proc::Myself.cpu_ns().is_some());
        assert!(nofile_limit().unwrap() > 0);
    }

    #[test]
    fn json_counts() {
        let j = r#"{"clients": 300, "subscriptions":301,"x":"y"}"#;
        assert_eq!(json_u64(j, "clients"), Some(300));
        assert_eq!(json_u64(j, "subscriptions"), Some(301));
        assert_eq!(json_u64(j, "x"), None);
    }
}
