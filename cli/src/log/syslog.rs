//! A syslog writer as Go's `log/syslog` package writes, the way nats-server
//! uses it (`logger/syslog.go`):
//!
//! * local (`-s`): facility `LOG_DAEMON`, the first of `/dev/log`,
//!   `/var/run/syslog`, `/var/run/log` that accepts a datagram socket, then
//!   a stream socket; lines `<PRI>Jan _2 15:04:05 tag[pid]: msg\n`;
//! * remote (`-r udp://host:port`, `tcp://host:port`, `unix:///path`):
//!   facility `LOG_KERN` (Go dials with `LOG_DEBUG`, whose facility bits are
//!   0); lines `<PRI>2006-01-02T15:04:05Z hostname tag[pid]: msg\n`
//!   (`unix://` keeps the local layout, as Go does for a `unix` network).
//!
//! Levels map to severities as nats-server's `SysLogger` does: fatal →
//! `CRIT`, error → `ERR`, warning → `WARNING`, info → `NOTICE`, debug →
//! `DEBUG`, trace → `NOTICE`. A failed write reconnects and retries once
//! (Go's `writeAndRetry`).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::clock::Civil;
use super::{Level, LogError};

/// Where Go's `log/syslog` looks for the local daemon, in order.
pub(crate) const LOCAL_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

/// `LOG_DAEMON`: the facility of the local syslog (`-s`).
const FACILITY_DAEMON: u8 = 3 << 3;
/// `LOG_KERN` (0): the facility of the remote syslog (`-r`).
const FACILITY_KERN: u8 = 0;

/// Bounds a TCP connect or write, so a stalled collector cannot hold the
/// logger (and every thread that logs) for long.
const NET_TIMEOUT: Duration = Duration::from_secs(2);

/// The syslog severity nats-server uses for a level.
pub(crate) fn severity(level: Level) -> u8 {
    match level {
        Level::Fatal => 2,               // LOG_CRIT
        Level::Error => 3,               // LOG_ERR
        Level::Warn => 4,                // LOG_WARNING
        Level::Info | Level::Trace => 5, // LOG_NOTICE
        Level::Debug => 7,               // LOG_DEBUG
    }
}

/// Where the messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The local daemon: the first of these unix sockets that connects.
    Local(Vec<PathBuf>),
    /// `udp://host:port`
    Udp(String),
    /// `tcp://host:port`
    Tcp(String),
    /// `unix:///path` (a stream socket, local layout).
    Unix(PathBuf),
}

impl Target {
    /// Parses `-r`'s value as nats-server's `getNetworkAndAddr` does:
    /// `udp` and `tcp` take the URL's host (with its port), `unix` its path;
    /// any other scheme is an `invalid network type`.
    pub fn remote(url: &str) -> Result<Target, LogError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            return Err(LogError::InvalidNetwork(scheme.to_ascii_lowercase()));
        };
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "udp" | "tcp" => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                // Credentials, if any, are not part of the address.
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                if host.is_empty() {
                    return Err(LogError::RemoteSyslogUrl {
                        url: url.to_owned(),
                        reason: "missing host".into(),
                    });
                }
                let host = host.to_owned();
                Ok(if scheme == "udp" {
                    Target::Udp(host)
                } else {
                    Target::Tcp(host)
                })
            }
            "unix" => {
                // unix:///path: an empty authority, then the path.
                let path = rest.find('/').map_or("", |i| &rest[i..]);
                if path.is_empty() {
                    return Err(LogError::RemoteSyslogUrl {
                        url: url.to_owned(),
                        reason: "missing path".into(),
                    });
                }
                Ok(Target::Unix(PathBuf::from(path)))
            }
            _ => Err(LogError::InvalidNetwork(scheme)),
        }
    }

    /// Go's local layout (no hostname, `time.Stamp`) for unix sockets.
    fn local_layout(&self) -> bool {
        matches!(self, Target::Local(_) | Target::Unix(_))
    }

    fn facility(&self) -> u8 {
        match self {
            Target::Local(_) => FACILITY_DAEMON,
            _ => FACILITY_KERN,
        }
    }
}

enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn open(target: &Target) -> io::Result<Conn> {
        match target {
            Target::Local(paths) => {
                for path in paths {
                    if let Ok(s) = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s))
                    {
                        return Ok(Conn::Datagram(s));
                    }
                }
                for path in paths {
                    if let Ok(s) = UnixStream::connect(path) {
                        let _ = s.set_write_timeout(Some(NET_TIMEOUT));
                        return Ok(Conn::Stream(s));
                    }
                }
                Err(io::Error::other("Unix syslog delivery error"))
            }
            Target::Unix(path) => {
                let s = UnixStream::connect(path)?;
                let _ = s.set_write_timeout(Some(NET_TIMEOUT));
                Ok(Conn::Stream(s))
            }
            Target::Udp(host) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for addr in host.to_socket_addrs()? {
                    let local: SocketAddr = if addr.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        ([0u16; 8], 0).into()
                    };
                    match UdpSocket::bind(local).and_then(|s| s.connect(addr).map(|()| s)) {
                        Ok(s) => return Ok(Conn::Udp(s)),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            Target::Tcp(host) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for addr in host.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, NET_TIMEOUT) {
                        Ok(s) => {
                            let _ = s.set_write_timeout(Some(NET_TIMEOUT));
                            return Ok(Conn::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    fn local_addr(&self) -> String {
        match self {
            Conn::Udp(s) => s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Conn::Tcp(s) => s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Conn::Datagram(_) | Conn::Stream(_) => String::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Datagram(s) => s.send(bytes).map(drop),
            Conn::Udp(s) => s.send(bytes).map(drop),
            Conn::Stream(s) => s.write_all(bytes),
            Conn::Tcp(s) => s.write_all(bytes),
        }
    }
}

/// A connection to a syslog daemon.
pub(crate) struct Syslog {
    target: Target,
    conn: Option<Conn>,
    tag: String,
    hostname: String,
    pid: u32,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog")
            .field("target", &self.target)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Syslog {
    /// Connects (Go's `syslog.Dial`): fails when no daemon answers.
    pub fn connect(target: Target, tag: String) -> io::Result<Syslog> {
        let conn = Conn::open(&target)?;
        let hostname = match hostname() {
            h if !h.is_empty() => h,
            _ if target.local_layout() => "localhost".to_owned(),
            _ => conn.local_addr(),
        };
        Ok(Syslog {
            target,
            conn: Some(conn),
            tag,
            hostname,
            pid: std::process::id(),
        })
    }

    /// Sends one message (without its trailing newline) at `level`; on a
    /// failure, reconnects and tries once more.
    pub fn send(&mut self, level: Level, msg: &str) -> io::Result<()> {
        let pri = self.target.facility() | severity(level);
        let mut line = String::with_capacity(msg.len() + 64);
        self.format(&mut line, pri, SystemTime::now(), msg);
        if let Some(conn) = self.conn.as_mut() {
            if conn.send(line.as_bytes()).is_ok() {
                return Ok(());
            }
        }
        self.conn = None;
        let mut conn = Conn::open(&self.target)?;
        let sent = conn.send(line.as_bytes());
        self.conn = Some(conn);
        sent
    }

    /// Go's `netConn.writeString`.
    fn format(&self, out: &mut String, pri: u8, now: SystemTime, msg: &str) {
        use std::fmt::Write as _;
        let civil = Civil::at(now);
        let _ = write!(out, "<{pri}>");
        if self.target.local_layout() {
            civil.write_syslog_stamp(out);
        } else {
            civil.write_rfc3339(out);
            out.push(' ');
            out.push_str(&self.hostname);
        }
        let _ = write!(out, " {}[{}]: {msg}", self.tag, self.pid);
        if !msg.ends_with('\n') {
            out.push('\n');
        }
    }
}

/// The machine's host name (Go's `os.Hostname` reads the same kernel
/// value), empty when unknown.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// nats-server's `GetSysLoggerTag`: the last component of `argv[0]`.
pub(crate) fn default_tag() -> String {
    std::env::args_os()
        .next()
        .map(|a| {
            let p = PathBuf::from(a);
            p.file_name().map_or_else(
                || p.to_string_lossy().into_owned(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "stan-server".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn writer(target: Target, hostname: &str) -> Syslog {
        Syslog {
            target,
            conn: None,
            tag: "stan-server".into(),
            hostname: hostname.into(),
            pid: 42,
        }
    }

    #[test]
    fn remote_urls_as_nats_server_parses_them() {
        assert_eq!(
            Target::remote("udp://localhost:514").unwrap(),
            Target::Udp("localhost:514".into())
        );
        assert_eq!(
            Target::remote("TCP://10.0.0.1:601/").unwrap(),
            Target::Tcp("10.0.0.1:601".into())
        );
        assert_eq!(
            Target::remote("udp://[::1]:514").unwrap(),
            Target::Udp("[::1]:514".into())
        );
        assert_eq!(
            Target::remote("unix:///var/run/syslog").unwrap(),
            Target::Unix("/var/run/syslog".into())
        );
        let e = Target::remote("http://localhost:514").unwrap_err();
        assert_eq!(e.to_string(), r#"error invalid network type: "http""#);
        let e = Target::remote("localhost:514").unwrap_err();
        assert_eq!(e.to_string(), r#"error invalid network type: "localhost""#);
        assert!(Target::remote("udp://").is_err());
        assert!(Target::remote("unix://").is_err());
    }

    #[test]
    fn severities_and_facilities() {
        let sev: Vec<u8> = [
            Level::Fatal,
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ]
        .into_iter()
        .map(severity)
        .collect();
        assert_eq!(sev, [2, 3, 4, 5, 7, 5]);
        assert_eq!(Target::Local(vec![]).facility() | severity(Level::Info), 29);
        assert_eq!(
            Target::Udp("h:1".into()).facility() | severity(Level::Info),
            5
        );
    }

    #[test]
    fn line_layouts() {
        let now = UNIX_EPOCH + Duration::from_secs(1_709_622_489); // 2024-03-05 07:08:09
        let mut s = String::new();
        writer(Target::Local(vec![]), "h").format(&mut s, 29, now, "STREAM: ready");
        assert_eq!(s, "<29>Mar  5 07:08:09 stan-server[42]: STREAM: ready\n");
        s.clear();
        writer(Target::Udp("h:1".into()), "box").format(&mut s, 3, now, "bad\n");
        assert_eq!(s, "<3>2024-03-05T07:08:09Z box stan-server[42]: bad\n");
        s.clear();
        writer(Target::Unix("/x".into()), "box").format(&mut s, 5, now, "m");
        assert_eq!(s, "<5>Mar  5 07:08:09 stan-server[42]: m\n");
    }
}
