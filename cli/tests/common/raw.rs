//! A NATS client speaking the text protocol over a blocking socket, for
//! the process tests (routes, monitoring, configuration files): it answers
//! `PING`s, parses `MSG`/`HMSG`, and skips messages on `probe.*` subjects
//! (what tests publish to wait for interest to cross a route).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::T;

/// A message received by a raw client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The subject.
    pub subject: String,
    /// The subscription id.
    pub sid: String,
    /// The reply subject.
    pub reply: Option<String>,
    /// The header block (`HMSG`).
    pub headers: Option<String>,
    /// The payload.
    pub payload: String,
}

/// A NATS client speaking the text protocol over a blocking socket.
pub struct Raw {
    /// The socket (read timeout 100 ms).
    pub sock: TcpStream,
    buf: Vec<u8>,
    /// Named in failures.
    pub name: String,
    /// The server's first line (`INFO {...}`).
    pub info: String,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`, reads the `INFO`, sends `CONNECT`
    /// (headers, no_responders, `name`) and waits for a `PONG`.
    pub fn connect(port: u16, name: &str) -> Raw {
        let mut raw = Raw::open(port, name);
        raw.send(&format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"name\":\"{name}\"}}\r\n"
        ));
        raw.flush();
        raw
    }

    /// Connects and reads the `INFO` only (nothing sent).
    pub fn open(port: u16, name: &str) -> Raw {
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut raw = Raw {
            sock,
            buf: Vec::new(),
            name: name.into(),
            info: String::new(),
        };
        raw.info = raw.line(Instant::now() + T).expect("INFO");
        assert!(raw.info.starts_with("INFO "), "{name}: {}", raw.info);
        raw
    }

    pub fn send(&mut self, text: &str) {
        self.sock.write_all(text.as_bytes()).unwrap();
    }

    /// Reads more input until `deadline`; false when nothing came.
    pub fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 8192];
        while Instant::now() < deadline {
            match self.sock.read(&mut chunk) {
                Ok(0) => panic!("{}: connection closed", self.name),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{}: {e}", self.name),
            }
        }
        false
    }

    /// The next line (without CRLF), answering the server's `PING`s.
    pub fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                if line == "PING" {
                    self.send("PONG\r\n");
                    continue;
                }
                return Some(line);
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// `n` bytes and the CRLF after them.
    pub fn bytes(&mut self, n: usize, deadline: Instant) -> String {
        while self.buf.len() < n + 2 {
            assert!(self.fill(deadline), "{}: payload cut", self.name);
        }
        let data = String::from_utf8_lossy(&self.buf[..n]).into_owned();
        self.buf.drain(..n + 2);
        data
    }

    /// The next message before `deadline`, skipping probes.
    pub fn next(&mut self, deadline: Instant) -> Option<Msg> {
        loop {
            let line = self.line(deadline)?;
            let parts: Vec<&str> = line.split_whitespace().collect();
            let msg = match parts.first().copied() {
                Some("MSG") => {
                    let (reply, size) = match parts.len() {
                        4 => (None, parts[3]),
                        5 => (Some(parts[3].to_owned()), parts[4]),
                        _ => panic!("{}: bad MSG line {line}", self.name),
                    };
                    let payload = self.bytes(size.parse().unwrap(), deadline);
                    Msg {
                        subject: parts[1].into(),
                        sid: parts[2].into(),
                        reply,
                        headers: None,
                        payload,
                    }
                }
                Some("HMSG") => {
                    let (reply, hsize, total) = match parts.len() {
                        5 => (None, parts[3], parts[4]),
                        6 => (Some(parts[3].to_owned()), parts[4], parts[5]),
                        _ => panic!("{}: bad HMSG line {line}", self.name),
                    };
                    let hsize: usize = hsize.parse().unwrap();
                    let total: usize = total.parse().unwrap();
                    let all = self.bytes(total, deadline);
                    Msg {
                        subject: parts[1].into(),
                        sid: parts[2].into(),
                        reply,
                        headers: Some(all[..hsize].to_owned()),
                        payload: all[hsize..].to_owned(),
                    }
                }
                Some("PONG") | Some("+OK") => continue,
                Some("INFO") => continue,
                _ => panic!("{}: unexpected {line}", self.name),
            };
            if msg.subject.starts_with("probe.") {
                continue;
            }
            return Some(msg);
        }
    }

    /// Sends `PING` and waits for its `PONG`; messages meanwhile are
    /// kept for [`next`](Self::next).
    pub fn flush(&mut self) {
        self.send("PING\r\n");
        let deadline = Instant::now() + T;
        let mut kept = Vec::new();
        loop {
            let line = self
                .line(deadline)
                .unwrap_or_else(|| panic!("{}: no PONG", self.name));
            if line == "PONG" {
                break;
            }
            kept.extend_from_slice(line.as_bytes());
            kept.extend_from_slice(b"\r\n");
            if line.starts_with("MSG ") || line.starts_with("HMSG ") {
                let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
                while self.buf.len() < size + 2 {
                    assert!(self.fill(deadline), "{}: payload cut", self.name);
                }
                kept.extend(self.buf.drain(..size + 2));
            }
        }
        kept.append(&mut self.buf);
        self.buf = kept;
    }

    /// Nothing but probes arrives for `quiet`.
    pub fn expect_nothing(&mut self, quiet: Duration) {
        if let Some(m) = self.next(Instant::now() + quiet) {
            panic!("{}: unexpected {m:?}", self.name);
        }
    }
}
