//! Incremental, zero-copy decoders for both directions.
//!
//! The caller owns a [`BytesMut`] that it appends socket reads to, and calls
//! `decode` until it returns `Ok(None)` (need more bytes). Whole operations
//! are split off the front of the buffer; a partial operation stays there.
//! Subjects, sids, headers and payloads are [`Bytes`] slices of the buffer.
//!
//! Two states make it incremental without re-scanning:
//! * while looking for the end of a control line, the decoder remembers how
//!   far it has already scanned for `\n`;
//! * once a `PUB`/`HPUB`/`MSG`/`HMSG` control line is parsed, the decoder
//!   keeps its argument positions and waits for `size + 2` bytes of payload
//!   after it; the line is never parsed again, and the whole op is then split
//!   off the buffer in one piece, its fields sliced from that one frame.

use bytes::{Buf, Bytes, BytesMut};

use super::error::DecodeError;
use super::op::{ClientOp, MsgFrame, OpName, ServerOp};

/// Size limits a decoder enforces, so that memory use stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of a control line's arguments (nats-server default 4096).
    pub max_control_line: usize,
    /// Maximum payload size, headers included (nats-server default 1 MiB).
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    }
}

/// Room for the op name, its separator and the CRLF on top of the argument
/// limit, when deciding that an unterminated line is too long.
pub(super) const LINE_OVERHEAD: usize = 16;
/// Most arguments any op takes (`HMSG subject sid reply hdr total`).
const MAX_ARGS: usize = 5;

/// Byte range of an argument within the control line.
type Span = (usize, usize);

/// A parsed control line whose payload has not fully arrived yet. The line
/// stays at the front of the buffer (it is never scanned again) so that the
/// whole op can be split off in one piece once the payload is there.
#[derive(Debug, Clone, Copy)]
struct PendingPayload {
    op: OpName,
    /// Length of the control line including its terminator.
    line_len: u32,
    subject: (u32, u32),
    sid: (u32, u32),
    reply: Option<(u32, u32)>,
    header_len: Option<u32>,
    total_len: u32,
}

#[inline]
fn span32(s: Span) -> (u32, u32) {
    // Spans lie within a control line, bounded by max_control_line.
    (s.0 as u32, s.1 as u32)
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    /// Looking for `\n`; this many bytes at the front are known not to hold one.
    #[default]
    Line,
    /// Control line consumed; waiting for the payload and its CRLF.
    Payload(PendingPayload),
}

/// Shared machinery of both decoders.
#[derive(Debug, Default)]
pub(super) struct Framer {
    pub(super) limits: Limits,
    state: State,
    scanned: usize,
}

/// What parsing a control line produced.
enum Parsed<Op> {
    Op(Op),
    Payload(PendingPayload),
}

impl Framer {
    pub(super) fn new(limits: Limits) -> Self {
        Framer {
            limits,
            state: State::Line,
            scanned: 0,
        }
    }

    /// Finds the next complete line; returns its length including `\n`.
    pub(super) fn next_line(&mut self, buf: &BytesMut) -> Result<Option<usize>, DecodeError> {
        let window = self.limits.max_control_line + LINE_OVERHEAD;
        let end = buf.len().min(window);
        match memchr::memchr(b'\n', &buf[self.scanned.min(end)..end]) {
            Some(i) => {
                let len = self.scanned + i + 1;
                self.scanned = 0;
                Ok(Some(len))
            }
            None if buf.len() >= window => Err(DecodeError::ControlLineTooLong {
                limit: self.limits.max_control_line,
            }),
            None => {
                self.scanned = end;
                Ok(None)
            }
        }
    }

    /// Runs one step: a complete op, a pending payload becoming complete, or
    /// `None` when more input is needed. `parse` turns a control line (without
    /// its line terminator) into an op or a pending payload.
    #[inline]
    fn step<Op>(
        &mut self,
        buf: &mut BytesMut,
        parse: impl FnOnce(&Limits, &mut BytesMut, usize, usize) -> Result<Parsed<Op>, DecodeError>,
        finish: impl FnOnce(MsgFrame) -> Op,
    ) -> Result<Option<Op>, DecodeError> {
        let p = match self.state {
            State::Payload(p) => p,
            State::Line => {
                let Some(len) = self.next_line(buf)? else {
                    return Ok(None);
                };
                let content = if len >= 2 && buf[len - 2] == b'\r' {
                    len - 2
                } else {
                    len - 1
                };
                match parse(&self.limits, buf, content, len)? {
                    Parsed::Op(op) => return Ok(Some(op)),
                    Parsed::Payload(p) => p,
                }
            }
        };
        let end = p.line_len as usize + p.total_len as usize;
        if buf.len() < end + 2 {
            self.state = State::Payload(p);
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(DecodeError::BadPayloadTerminator { op: p.op });
        }
        self.state = State::Line;
        let frame = buf.split_to(end).freeze();
        buf.advance(2);
        Ok(Some(finish(MsgFrame::from_spans(
            frame,
            p.subject,
            p.sid,
            p.reply,
            p.line_len,
            p.header_len,
        ))))
    }
}

#[inline]
pub(super) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// True when `line` starts with `name` (upper-case ASCII), compared
/// case-insensitively.
#[inline]
pub(super) fn starts_with_ci(line: &[u8], name: &[u8]) -> bool {
    line.len() >= name.len()
        && line
            .iter()
            .zip(name)
            .all(|(&a, &b)| a.to_ascii_uppercase() == b)
}

/// Splits the argument part of a line into at most [`MAX_ARGS`] fields.
/// Returns `None` when there are more.
#[inline]
fn split_args(line: &[u8], from: usize) -> Option<([Span; MAX_ARGS], usize)> {
    let mut out = [(0usize, 0usize); MAX_ARGS];
    let mut n = 0;
    let mut i = from;
    let len = line.len();
    loop {
        while i < len && is_ws(line[i]) {
            i += 1;
        }
        if i == len {
            return Some((out, n));
        }
        let start = i;
        while i < len && !is_ws(line[i]) {
            i += 1;
        }
        if n == MAX_ARGS {
            return None;
        }
        out[n] = (start, i);
        n += 1;
    }
}

/// Parses a decimal size: digits only, at most 18 of them.
#[inline]
pub(super) fn parse_size(digits: &[u8]) -> Option<u64> {
    if digits.len() > 18 {
        return None;
    }
    parse_u64(digits)
}

/// Parses a decimal number up to `u64::MAX` (an `UNSUB` max: whatever the
/// encoder writes).
#[inline]
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// Checks the argument length of a line against the limit. `op_len` is the
/// length of the op name; `content` the line length without terminator.
#[inline]
pub(super) fn check_control_line(
    limits: &Limits,
    op_len: usize,
    content: usize,
) -> Result<(), DecodeError> {
    if content.saturating_sub(op_len + 1) > limits.max_control_line {
        return Err(DecodeError::ControlLineTooLong {
            limit: limits.max_control_line,
        });
    }
    Ok(())
}

/// Validates announced sizes of a payload-carrying op.
pub(super) fn payload_sizes(
    limits: &Limits,
    op: OpName,
    header: Option<&[u8]>,
    total: &[u8],
) -> Result<(Option<u32>, u32), DecodeError> {
    let bad = DecodeError::BadArgs { op };
    let total = parse_size(total).ok_or(bad.clone())?;
    let header = match header {
        Some(h) => {
            let h = parse_size(h).ok_or(bad)?;
            if h > total {
                return Err(DecodeError::BadHeaderSize {
                    op,
                    header: h,
                    total,
                });
            }
            Some(h)
        }
        None => None,
    };
    // Frames are addressed with u32 offsets: larger limits are capped.
    let max = limits.max_payload.min(u32::MAX as usize - 65_536);
    if total > max as u64 {
        return Err(DecodeError::PayloadTooLarge {
            size: total,
            max: limits.max_payload,
        });
    }
    // Both fit in u32: header <= total <= max.
    Ok((header.map(|h| h as u32), total as u32))
}

/// The rest of a line after the op name, whitespace-trimmed (INFO, CONNECT, -ERR).
pub(super) fn rest_trimmed(buf: &mut BytesMut, op_len: usize, content: usize, len: usize) -> Bytes {
    let line = buf.split_to(len).freeze();
    let mut start = op_len;
    let mut end = content;
    while start < end && is_ws(line[start]) {
        start += 1;
    }
    while end > start && is_ws(line[end - 1]) {
        end -= 1;
    }
    line.slice(start..end)
}

/// Decodes what a client sends: the server side of a connection.
///
/// ```
/// use bytes::BytesMut;
/// use stan_core::nats::{ClientOp, ClientOpDecoder, Limits};
///
/// let mut dec = ClientOpDecoder::new(Limits::default());
/// let mut buf = BytesMut::from(&b"PUB foo 5\r\nhel"[..]);
/// assert_eq!(dec.decode(&mut buf).unwrap(), None); // payload incomplete
/// buf.extend_from_slice(b"lo\r\nping\r\n");
/// match dec.decode(&mut buf).unwrap() {
///     Some(ClientOp::Pub(m)) => {
///         assert_eq!(m.subject(), b"foo");
///         assert_eq!(m.payload(), b"hello");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(dec.decode(&mut buf).unwrap(), Some(ClientOp::Ping));
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ClientOpDecoder {
    framer: Framer,
}

impl ClientOpDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ClientOpDecoder {
            framer: Framer::new(limits),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.framer.limits
    }

    /// Changes the limits (they apply from the next control line).
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.limits = limits;
    }

    /// True when the decoder holds a parsed control line and waits for its payload.
    pub fn is_awaiting_payload(&self) -> bool {
        matches!(self.framer.state, State::Payload(_))
    }

    /// Decodes the next op from the front of `buf`, or returns `Ok(None)` when
    /// `buf` holds no complete op yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, DecodeError> {
        self.framer.step(buf, parse_client_line, ClientOp::Pub)
    }
}

fn parse_client_line(
    limits: &Limits,
    buf: &mut BytesMut,
    content: usize,
    len: usize,
) -> Result<Parsed<ClientOp>, DecodeError> {
    let line = &buf[..content];
    let first = line.first().map_or(0, u8::to_ascii_uppercase);
    let (op, op_len) = match first {
        b'P' if starts_with_ci(line, b"PUB") && line.get(3).is_some_and(|&b| is_ws(b)) => {
            (OpName::Pub, 3)
        }
        b'P' if starts_with_ci(line, b"PING") => {
            buf.advance(len);
            return Ok(Parsed::Op(ClientOp::Ping));
        }
        b'P' if starts_with_ci(line, b"PONG") => {
            buf.advance(len);
            return Ok(Parsed::Op(ClientOp::Pong));
        }
        b'H' if starts_with_ci(line, b"HPUB") && line.get(4).is_some_and(|&b| is_ws(b)) => {
            (OpName::Hpub, 4)
        }
        b'S' if starts_with_ci(line, b"SUB") && line.get(3).is_some_and(|&b| is_ws(b)) => {
            (OpName::Sub, 3)
        }
        b'U' if starts_with_ci(line, b"UNSUB") && line.get(5).is_some_and(|&b| is_ws(b)) => {
            (OpName::Unsub, 5)
        }
        b'C' if starts_with_ci(line, b"CONNECT") => {
            check_control_line(limits, 7, content)?;
            return Ok(Parsed::Op(ClientOp::Connect(rest_trimmed(
                buf, 7, content, len,
            ))));
        }
        _ => return Err(DecodeError::UnknownOp),
    };
    check_control_line(limits, op_len, content)?;
    let bad = DecodeError::BadArgs { op };
    let (args, n) = split_args(line, op_len).ok_or(bad.clone())?;
    let arg = |i: usize| &line[args[i].0..args[i].1];
    match (op, n) {
        (OpName::Pub, 2 | 3) | (OpName::Hpub, 3 | 4) => {
            let headers = op == OpName::Hpub;
            let has_reply = n == if headers { 4 } else { 3 };
            let header = headers.then(|| arg(n - 2));
            let (header_len, total_len) = payload_sizes(limits, op, header, arg(n - 1))?;
            Ok(Parsed::Payload(PendingPayload {
                op,
                line_len: len as u32,
                subject: span32(args[0]),
                sid: (0, 0),
                reply: has_reply.then(|| span32(args[1])),
                header_len,
                total_len,
            }))
        }
        (OpName::Sub, 2 | 3) => {
            let line = buf.split_to(len).freeze();
            Ok(Parsed::Op(ClientOp::Sub {
                subject: line.slice(args[0].0..args[0].1),
                queue: (n == 3).then(|| line.slice(args[1].0..args[1].1)),
                sid: line.slice(args[n - 1].0..args[n - 1].1),
            }))
        }
        (OpName::Unsub, 1 | 2) => {
            let max = match n {
                2 => Some(parse_u64(arg(1)).ok_or(bad)?),
                _ => None,
            };
            let line = buf.split_to(len).freeze();
            Ok(Parsed::Op(ClientOp::Unsub {
                sid: line.slice(args[0].0..args[0].1),
                max,
            }))
        }
        _ => Err(bad),
    }
}

/// Decodes what a server sends: the client side of a connection.
///
/// ```
/// use bytes::BytesMut;
/// use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
///
/// let mut dec = ServerOpDecoder::new(Limits::default());
/// let mut buf = BytesMut::from(&b"MSG foo.bar 9 _INBOX.x 2\r\nhi\r\n-ERR 'Stale Connection'\r\n"[..]);
/// let Some(ServerOp::Msg(m)) = dec.decode(&mut buf).unwrap() else {
///     panic!()
/// };
/// assert_eq!((m.subject(), m.sid(), m.payload()), (&b"foo.bar"[..], &b"9"[..], &b"hi"[..]));
/// assert_eq!(m.reply(), Some(&b"_INBOX.x"[..]));
/// assert_eq!(dec.decode(&mut buf).unwrap(), Some(ServerOp::Err("Stale Connection".into())));
/// ```
#[derive(Debug, Default)]
pub struct ServerOpDecoder {
    framer: Framer,
}

impl ServerOpDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ServerOpDecoder {
            framer: Framer::new(limits),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.framer.limits
    }

    /// Changes the limits (for example to the `max_payload` announced in INFO).
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.limits = limits;
    }

    /// True when the decoder holds a parsed control line and waits for its payload.
    pub fn is_awaiting_payload(&self) -> bool {
        matches!(self.framer.state, State::Payload(_))
    }

    /// Decodes the next op from the front of `buf`, or returns `Ok(None)` when
    /// `buf` holds no complete op yet.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, DecodeError> {
        self.framer.step(buf, parse_server_line, ServerOp::Msg)
    }
}

fn parse_server_line(
    limits: &Limits,
    buf: &mut BytesMut,
    content: usize,
    len: usize,
) -> Result<Parsed<ServerOp>, DecodeError> {
    let line = &buf[..content];
    let first = line.first().map_or(0, u8::to_ascii_uppercase);
    let simple = |buf: &mut BytesMut, op| {
        buf.advance(len);
        Ok(Parsed::Op(op))
    };
    let (op, op_len) = match first {
        b'M' if starts_with_ci(line, b"MSG") && line.get(3).is_some_and(|&b| is_ws(b)) => {
            (OpName::Msg, 3)
        }
        b'H' if starts_with_ci(line, b"HMSG") && line.get(4).is_some_and(|&b| is_ws(b)) => {
            (OpName::Hmsg, 4)
        }
        b'P' if starts_with_ci(line, b"PING") => return simple(buf, ServerOp::Ping),
        b'P' if starts_with_ci(line, b"PONG") => return simple(buf, ServerOp::Pong),
        b'+' if starts_with_ci(line, b"+OK") => return simple(buf, ServerOp::Ok),
        b'I' if starts_with_ci(line, b"INFO") => {
            check_control_line(limits, 4, content)?;
            return Ok(Parsed::Op(ServerOp::Info(rest_trimmed(
                buf, 4, content, len,
            ))));
        }
        b'-' if starts_with_ci(line, b"-ERR") => {
            let mut text = rest_trimmed(buf, 4, content, len);
            if text.len() >= 2 && text[0] == b'\'' && text[text.len() - 1] == b'\'' {
                text = text.slice(1..text.len() - 1);
            }
            return Ok(Parsed::Op(ServerOp::Err(text)));
        }
        _ => return Err(DecodeError::UnknownOp),
    };
    check_control_line(limits, op_len, content)?;
    let (args, n) = split_args(line, op_len).ok_or(DecodeError::BadArgs { op })?;
    let arg = |i: usize| &line[args[i].0..args[i].1];
    let (reply, header_len, total_len) = match (op, n) {
        (OpName::Msg, 3 | 4) => {
            let (h, t) = payload_sizes(limits, op, None, arg(n - 1))?;
            ((n == 4).then_some(args[2]), h, t)
        }
        (OpName::Hmsg, 4 | 5) => {
            let (h, t) = payload_sizes(limits, op, Some(arg(n - 2)), arg(n - 1))?;
            ((n == 5).then_some(args[2]), h, t)
        }
        _ => return Err(DecodeError::BadArgs { op }),
    };
    Ok(Parsed::Payload(PendingPayload {
        op,
        line_len: len as u32,
        subject: span32(args[0]),
        sid: span32(args[1]),
        reply: reply.map(span32),
        header_len,
        total_len,
    }))
}
