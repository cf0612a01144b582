//! What the router reports for an operator's log: nats-server's messages at
//! nats-server's levels, as values. The router builds a record only when its
//! level is enabled ([`RouterConfig::debug`](super::RouterConfig::debug),
//! [`RouterConfig::trace`](super::RouterConfig::trace); errors and notices
//! always), and the driver hands it to whatever logger it has. `Display`
//! gives the text after nats-server's `[LVL] ` tag, e.g.
//! `127.0.0.1:50000 - cid:5 - "v2.16.0:python3:sub" - Slow Consumer Detected: MaxPending of 67108864 Exceeded`.

use std::fmt;
use std::time::Duration;

use super::fanout::Outbound;
use super::session::Session;
use super::{CloseReason, ConnId, Router, RouterEvent, SlowConsumer};
use crate::nats::codec::{ClientOp, DecodeError};

/// Severity, as nats-server assigns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `[ERR]`: authentication failures, protocol errors, refused connections.
    Error,
    /// `[INF]`: notices (slow consumers).
    Info,
    /// `[DBG]` (`-D`): connections opened and closed, with the reason.
    Debug,
    /// `[TRC]` (`-V`): every protocol operation in and out.
    Trace,
}

/// One line of the router's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The session it is about.
    pub conn: ConnId,
    /// nats-server's client prefix: `peer - cid:N`, then the quoted
    /// `"vVERSION:LANG:NAME"` tag once the client sent `CONNECT`.
    pub client: String,
    /// What happened.
    pub message: LogMessage,
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.client.is_empty() {
            // A server-wide line (route dials): no connection prefix.
            return write!(f, "{}", self.message);
        }
        write!(f, "{} - {}", self.client, self.message)
    }
}

/// What happened, with nats-server's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogMessage {
    /// A transport was accepted.
    ConnectionCreated,
    /// The session ended; the text is nats-server's closed-state name.
    ConnectionClosed(&'static str),
    /// Cut off: pending output passed `max_pending`.
    SlowConsumerMaxPending {
        /// The limit.
        max_pending: usize,
    },
    /// Cut off: a write stayed blocked for the write deadline.
    SlowConsumerWriteDeadline {
        /// The deadline.
        deadline: Duration,
        /// Output chunks not yet written.
        chunks: usize,
        /// Output bytes not yet written.
        bytes: usize,
    },
    /// A producer's stall ended by its timeout rather than by the consumer
    /// catching up.
    StallTimedOut(Duration),
    /// Wrong or missing credentials.
    AuthenticationError,
    /// No `CONNECT` within the authentication timeout.
    AuthenticationTimeout,
    /// Keepalive `PING`s went unanswered.
    StaleConnection,
    /// Refused: too many connections.
    MaxConnectionsExceeded,
    /// Refused with this `-ERR` text (bad `CONNECT` options).
    Refused(&'static str),
    /// The input could not be decoded.
    ProtocolError(DecodeError),
    /// `CONNECT` JSON that could not be parsed.
    BadConnect,
    /// The TLS handshake failed (nats-server: `TLS handshake error: ...`).
    TlsHandshakeError(String),
    /// No TLS handshake within the TLS timeout.
    TlsHandshakeTimeout,
    /// An operation received (`<<- [PUB foo 5]`).
    TraceIn(String),
    /// A payload received (`<<- MSG_PAYLOAD: ["hello"]`).
    TracePayload(String),
    /// An operation sent (`->> [MSG foo 1 5]`).
    TraceOut(String),
    /// A line about a route, in nats-server's words.
    Route(String),
}

impl fmt::Display for LogMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogMessage::ConnectionCreated => f.write_str("Client connection created"),
            LogMessage::ConnectionClosed(state) => write!(f, "Client connection closed: {state}"),
            LogMessage::SlowConsumerMaxPending { max_pending } => {
                write!(f, "Slow Consumer Detected: MaxPending of {max_pending} Exceeded")
            }
            LogMessage::SlowConsumerWriteDeadline {
                deadline,
                chunks,
                bytes,
            } => write!(
                f,
                "Slow Consumer Detected: WriteDeadline of {} exceeded with {chunks} chunks of {bytes} total bytes.",
                GoDuration(*deadline)
            ),
            LogMessage::StallTimedOut(d) => {
                write!(f, "Timed out of fast producer stall ({})", GoDuration(*d))
            }
            LogMessage::AuthenticationError => f.write_str("authentication error"),
            LogMessage::AuthenticationTimeout => f.write_str("Authentication Timeout"),
            LogMessage::StaleConnection => f.write_str("Stale Client Connection - Closing"),
            LogMessage::MaxConnectionsExceeded => f.write_str("maximum connections exceeded"),
            LogMessage::Refused(text) => f.write_str(text),
            LogMessage::ProtocolError(DecodeError::PayloadTooLarge { size, max }) => {
                write!(f, "maximum payload exceeded: {size} vs {max}")
            }
            LogMessage::ProtocolError(DecodeError::ControlLineTooLong { .. }) => {
                f.write_str("maximum control line exceeded")
            }
            LogMessage::ProtocolError(e) => write!(f, "Client parser ERROR: {e}"),
            LogMessage::BadConnect => f.write_str("Client parser ERROR: malformed CONNECT JSON"),
            LogMessage::TlsHandshakeError(e) => write!(f, "TLS handshake error: {e}"),
            LogMessage::TlsHandshakeTimeout => f.write_str("TLS handshake timeout"),
            LogMessage::TraceIn(op) => write!(f, "<<- [{op}]"),
            LogMessage::TracePayload(p) => write!(f, "<<- MSG_PAYLOAD: [{p}]"),
            LogMessage::TraceOut(op) => write!(f, "->> [{op}]"),
            LogMessage::Route(text) => f.write_str(text),
        }
    }
}

/// A duration as Go's `%v` prints it (`10s`, `1.5s`, `100ms`, `2m0s`).
struct GoDuration(Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let nanos = d.as_nanos();
        if nanos < 1_000 {
            return write!(f, "{nanos}ns");
        }
        if nanos < 1_000_000 {
            return write!(f, "{}µs", trim(nanos, 1_000));
        }
        if nanos < 1_000_000_000 {
            return write!(f, "{}ms", trim(nanos, 1_000_000));
        }
        let secs = d.as_secs();
        let frac = d.subsec_nanos();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let s = trim(
            u128::from(s) * 1_000_000_000 + u128::from(frac),
            1_000_000_000,
        );
        match (h, m) {
            (0, 0) => write!(f, "{s}s"),
            (0, m) => write!(f, "{m}m{s}s"),
            (h, m) => write!(f, "{h}h{m}m{s}s"),
        }
    }
}

/// `value / unit` with its fraction, trailing zeros dropped (`1.5`, `10`).
fn trim(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The client prefix of nats-server's log lines.
pub(crate) fn client_prefix(peer: &str, cid: u64, version: &str, lang: &str, name: &str) -> String {
    let mut s = format!("{peer} - cid:{cid}");
    let mut tag = String::new();
    if !version.is_empty() {
        tag.push('v');
        tag.push_str(version);
    }
    for part in [lang, name] {
        if !part.is_empty() {
            if !tag.is_empty() {
                tag.push(':');
            }
            tag.push_str(part);
        }
    }
    if !tag.is_empty() {
        s.push_str(" - \"");
        s.push_str(&tag);
        s.push('"');
    }
    s
}

/// Bytes quoted as Go's `%q` does for printable ASCII and common escapes.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

impl Router {
    /// Queues a log line about session `slot` (wire sessions only: the
    /// in-process peers are the server's own).
    pub(super) fn log(&mut self, slot: u32, level: LogLevel, message: LogMessage) {
        let Some(session) = self.slots[slot as usize].session.as_ref() else {
            return;
        };
        if !session.is_wire() {
            return;
        }
        let record = LogRecord {
            level,
            conn: self.conn_id(slot),
            client: session.log_prefix(),
            message,
        };
        self.events.push_back(RouterEvent::Log(record));
    }

    /// Traces an operation sent to `slot` (`->> [..]`) when tracing.
    pub(super) fn trace_out(&mut self, slot: u32, op: impl FnOnce() -> String) {
        if self.config.trace {
            self.log(slot, LogLevel::Trace, LogMessage::TraceOut(op()));
        }
    }

    /// Traces an operation received from `slot` (`<<- [..]`) when tracing.
    pub(super) fn trace_in(&mut self, slot: u32, op: &ClientOp) {
        if !self.config.trace {
            return;
        }
        self.log(slot, LogLevel::Trace, LogMessage::TraceIn(op_text(op)));
        if let ClientOp::Pub(frame) = op {
            let p = go_quote(frame.payload());
            self.log(slot, LogLevel::Trace, LogMessage::TracePayload(p));
        }
    }

    /// The log lines nats-server writes when it ends a session for `reason`.
    pub(super) fn log_close(&mut self, slot: u32, reason: &CloseReason) {
        let line = match reason {
            // Logged by `handle_tls_failed`, before the close.
            CloseReason::ServerShutdown
            | CloseReason::TlsRequired
            | CloseReason::TlsHandshake(_) => None,
            // Logged with its limit before the close.
            CloseReason::MaxSubscriptionsExceeded => None,
            CloseReason::Protocol(e) => {
                Some((LogLevel::Error, LogMessage::ProtocolError(e.clone())))
            }
            CloseReason::BadConnect => Some((LogLevel::Error, LogMessage::BadConnect)),
            CloseReason::HeadersNotSupported => Some((
                LogLevel::Error,
                LogMessage::ProtocolError(DecodeError::UnknownOp),
            )),
            CloseReason::AuthorizationViolation => {
                Some((LogLevel::Error, LogMessage::AuthenticationError))
            }
            CloseReason::AuthenticationTimeout => {
                Some((LogLevel::Debug, LogMessage::AuthenticationTimeout))
            }
            CloseReason::MaxConnectionsExceeded => {
                Some((LogLevel::Error, LogMessage::MaxConnectionsExceeded))
            }
            CloseReason::StaleConnection => Some((LogLevel::Debug, LogMessage::StaleConnection)),
            CloseReason::SlowConsumer(SlowConsumer::MaxPending) => Some((
                LogLevel::Info,
                LogMessage::SlowConsumerMaxPending {
                    max_pending: self.config.max_pending,
                },
            )),
            CloseReason::SlowConsumer(SlowConsumer::WriteDeadline) => {
                let (chunks, bytes) = match self.slots[slot as usize]
                    .session
                    .as_mut()
                    .and_then(Session::wire_out)
                {
                    Some(out) => match out.in_flight() {
                        (_, 0) => (out.pending_chunks(), out.pending()),
                        attempted => attempted,
                    },
                    None => (0, 0),
                };
                Some((
                    LogLevel::Info,
                    LogMessage::SlowConsumerWriteDeadline {
                        deadline: self.config.write_deadline,
                        chunks,
                        bytes,
                    },
                ))
            }
            CloseReason::DuplicateRoute
            | CloseReason::ClusterNameConflict
            | CloseReason::DuplicateServerName
            | CloseReason::RouteError(_) => None,
            CloseReason::WrongPort => Some((
                LogLevel::Error,
                LogMessage::Refused("attempted to connect to route port"),
            )),
            CloseReason::BadClientProtocol | CloseReason::NoRespondersRequiresHeaders => Some((
                LogLevel::Error,
                LogMessage::Refused(reason.err_text().unwrap_or_default()),
            )),
        };
        if let Some((level, message)) = line {
            if level != LogLevel::Debug || self.config.debug {
                self.log(slot, level, message);
            }
        }
        let is_route = self.slots[slot as usize]
            .session
            .as_ref()
            .is_some_and(|s| s.route.is_some());
        if is_route {
            // nats-server's `closeConnection`: routes at notice level,
            // clients at debug.
            let text = format!("Router connection closed: {}", reason.state_text());
            self.log(slot, LogLevel::Info, LogMessage::Route(text));
        } else if self.config.debug {
            let message = LogMessage::ConnectionClosed(reason.state_text());
            self.log(slot, LogLevel::Debug, message);
        }
    }
}

/// The text of a client operation as nats-server traces it.
pub(super) fn op_text(op: &ClientOp) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match op {
        ClientOp::Connect(json) => format!("CONNECT {}", s(json)),
        ClientOp::Pub(f) => {
            let reply = f.reply().map(|r| format!(" {}", s(r))).unwrap_or_default();
            match f.headers() {
                Some(h) => format!(
                    "HPUB {}{reply} {} {}",
                    s(f.subject()),
                    h.len(),
                    h.len() + f.payload().len()
                ),
                None => format!("PUB {}{reply} {}", s(f.subject()), f.payload().len()),
            }
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => match queue {
            Some(q) => format!("SUB {} {} {}", s(subject), s(q), s(sid)),
            None => format!("SUB {} {}", s(subject), s(sid)),
        },
        ClientOp::Unsub { sid, max } => match max {
            Some(m) => format!("UNSUB {} {m}", s(sid)),
            None => format!("UNSUB {}", s(sid)),
        },
        ClientOp::Ping => "PING".into(),
        ClientOp::Pong => "PONG".into(),
    }
}

/// The `MSG`/`HMSG` line of a delivery, as nats-server traces it.
pub(super) fn msg_line_text(msg: &Outbound<'_>, sid: &[u8], with_headers: bool) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let reply = msg
        .reply()
        .map(|r| format!(" {}", s(r)))
        .unwrap_or_default();
    match msg.headers().filter(|_| with_headers) {
        Some(h) => format!(
            "HMSG {} {}{reply} {} {}",
            s(msg.subject()),
            s(sid),
            h.len(),
            h.len() + msg.payload().len()
        ),
        None => format!(
            "MSG {} {}{reply} {}",
            s(msg.subject()),
            s(sid),
            msg.payload().len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (Duration::from_secs(10), "10s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(100), "100ms"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_micros(250), "250µs"),
        ];
        for (d, want) in cases {
            assert_eq!(GoDuration(d).to_string(), want);
        }
    }

    #[test]
    fn client_prefix_matches_nats_server() {
        assert_eq!(
            client_prefix("127.0.0.1:1", 4, "1.2.3", "python3", "nm"),
            r#"127.0.0.1:1 - cid:4 - "v1.2.3:python3:nm""#
        );
        assert_eq!(
            client_prefix("127.0.0.1:1", 4, "1.2.3", "python3", ""),
            r#"127.0.0.1:1 - cid:4 - "v1.2.3:python3""#
        );
        assert_eq!(
            client_prefix("127.0.0.1:1", 6, "", "", "x"),
            r#"127.0.0.1:1 - cid:6 - "x""#
        );
        assert_eq!(
            client_prefix("127.0.0.1:1", 5, "", "", ""),
            "127.0.0.1:1 - cid:5"
        );
    }

    #[test]
    fn quoting_escapes_like_go() {
        assert_eq!(go_quote(b"hi\r\n\"x\"\x01"), r#""hi\r\n\"x\"\x01""#);
    }
}
