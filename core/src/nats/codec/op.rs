//! The protocol operations of each direction, as values.
//!
//! Every byte-string field is a [`Bytes`] slice of the decoder's input buffer:
//! decoding never copies a subject, a sid or a payload.

use bytes::Bytes;

/// A message-carrying op (`PUB`/`HPUB` from a client, `MSG`/`HMSG` from a
/// server) as one reference-counted frame of the input plus the positions of
/// its fields. Reading a field is a slice of the frame; taking a field as
/// [`Bytes`] (`*_bytes`) shares the frame without copying.
#[derive(Clone)]
pub struct MsgFrame {
    frame: Bytes,
    subject: (u32, u32),
    sid: (u32, u32),
    /// Empty when there is no reply subject (a reply is never empty).
    reply: (u32, u32),
    /// Start of the header block (or of the payload when there is none).
    body: u32,
    /// Start of the payload (end of the header block).
    payload: u32,
    has_headers: bool,
}

impl MsgFrame {
    /// Builds a frame from its fields (copied into one new buffer). `sid` is
    /// empty for a `PUB`.
    pub fn new(
        subject: &[u8],
        sid: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Self {
        let reply_bytes = reply.unwrap_or_default();
        let header_bytes = headers.unwrap_or_default();
        let mut buf = bytes::BytesMut::with_capacity(
            subject.len() + sid.len() + reply_bytes.len() + header_bytes.len() + payload.len(),
        );
        let mut span = |part: &[u8]| {
            let start = buf.len() as u32;
            buf.extend_from_slice(part);
            (start, buf.len() as u32)
        };
        let subject = span(subject);
        let sid = span(sid);
        let reply = span(reply_bytes);
        let (body, payload_start) = span(header_bytes);
        span(payload);
        MsgFrame {
            frame: buf.freeze(),
            subject,
            sid,
            reply: if reply.0 == reply.1 { (0, 0) } else { reply },
            body,
            payload: payload_start,
            has_headers: headers.is_some(),
        }
    }

    /// Assembles a frame from spans into `frame` (decoder use).
    pub(crate) fn from_spans(
        frame: Bytes,
        subject: (u32, u32),
        sid: (u32, u32),
        reply: Option<(u32, u32)>,
        body: u32,
        header_len: Option<u32>,
    ) -> Self {
        MsgFrame {
            frame,
            subject,
            sid,
            reply: reply.unwrap_or((0, 0)),
            body,
            payload: body + header_len.unwrap_or(0),
            has_headers: header_len.is_some(),
        }
    }

    #[inline]
    fn span(&self, (a, b): (u32, u32)) -> &[u8] {
        &self.frame[a as usize..b as usize]
    }

    #[inline]
    fn span_bytes(&self, (a, b): (u32, u32)) -> Bytes {
        self.frame.slice(a as usize..b as usize)
    }

    /// The subject.
    #[inline]
    pub fn subject(&self) -> &[u8] {
        self.span(self.subject)
    }

    /// The subject, sharing the frame.
    pub fn subject_bytes(&self) -> Bytes {
        self.span_bytes(self.subject)
    }

    /// The sid (empty for `PUB`/`HPUB`).
    #[inline]
    pub fn sid(&self) -> &[u8] {
        self.span(self.sid)
    }

    /// The sid, sharing the frame.
    pub fn sid_bytes(&self) -> Bytes {
        self.span_bytes(self.sid)
    }

    /// The reply subject, if any.
    #[inline]
    pub fn reply(&self) -> Option<&[u8]> {
        (self.reply.0 != self.reply.1).then(|| self.span(self.reply))
    }

    /// The reply subject, sharing the frame.
    pub fn reply_bytes(&self) -> Option<Bytes> {
        (self.reply.0 != self.reply.1).then(|| self.span_bytes(self.reply))
    }

    /// The raw header block (`NATS/1.0...\r\n\r\n`), for `HPUB`/`HMSG`.
    #[inline]
    pub fn headers(&self) -> Option<&[u8]> {
        self.has_headers
            .then(|| self.span((self.body, self.payload)))
    }

    /// The header block, sharing the frame.
    pub fn headers_bytes(&self) -> Option<Bytes> {
        self.has_headers
            .then(|| self.span_bytes((self.body, self.payload)))
    }

    /// The payload (without headers).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.payload as usize..]
    }

    /// The payload, sharing the frame.
    pub fn payload_bytes(&self) -> Bytes {
        self.frame.slice(self.payload as usize..)
    }

    /// Header and payload bytes together (the size `max_payload` limits).
    #[inline]
    pub fn size(&self) -> usize {
        self.frame.len() - self.body as usize
    }
}

impl PartialEq for MsgFrame {
    fn eq(&self, other: &Self) -> bool {
        self.subject() == other.subject()
            && self.sid() == other.sid()
            && self.reply() == other.reply()
            && self.headers() == other.headers()
            && self.payload() == other.payload()
    }
}

impl Eq for MsgFrame {}

impl std::fmt::Debug for MsgFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_struct("MsgFrame")
            .field("subject", &s(self.subject()))
            .field("sid", &s(self.sid()))
            .field("reply", &self.reply().map(s))
            .field("headers", &self.headers().map(s))
            .field("payload", &s(self.payload()))
            .finish()
    }
}

/// An operation sent by a client to a server (`CONNECT`, `PUB`, `HPUB`, `SUB`,
/// `UNSUB`, `PING`, `PONG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT {json}`: the raw JSON object, surrounding whitespace trimmed.
    Connect(Bytes),
    /// `PUB` (no headers) or `HPUB` (with headers). The sid is empty.
    Pub(MsgFrame),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject, possibly with wildcards.
        subject: Bytes,
        /// Optional queue group name.
        queue: Option<Bytes>,
        /// Subscription id chosen by the client.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// Subscription id.
        sid: Bytes,
        /// Auto-unsubscribe after this many messages in total.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

/// An operation sent by a server to a client (`INFO`, `MSG`, `HMSG`, `PING`,
/// `PONG`, `+OK`, `-ERR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {json}`: the raw JSON object, surrounding whitespace trimmed.
    Info(Bytes),
    /// `MSG` (no headers) or `HMSG` (with headers).
    Msg(MsgFrame),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without the quotes.
    Err(Bytes),
}

/// Names of the protocol operations, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpName {
    /// `INFO`
    Info,
    /// `CONNECT`
    Connect,
    /// `PUB`
    Pub,
    /// `HPUB`
    Hpub,
    /// `SUB`
    Sub,
    /// `UNSUB`
    Unsub,
    /// `MSG`
    Msg,
    /// `HMSG`
    Hmsg,
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
    /// `RS+` (route interest added)
    RouteSub,
    /// `RS-` (route interest removed)
    RouteUnsub,
    /// `RMSG` (routed message)
    Rmsg,
}

impl OpName {
    /// The canonical (upper-case) spelling on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OpName::Info => "INFO",
            OpName::Connect => "CONNECT",
            OpName::Pub => "PUB",
            OpName::Hpub => "HPUB",
            OpName::Sub => "SUB",
            OpName::Unsub => "UNSUB",
            OpName::Msg => "MSG",
            OpName::Hmsg => "HMSG",
            OpName::Ping => "PING",
            OpName::Pong => "PONG",
            OpName::Ok => "+OK",
            OpName::Err => "-ERR",
            OpName::RouteSub => "RS+",
            OpName::RouteUnsub => "RS-",
            OpName::Rmsg => "RMSG",
        }
    }
}

impl std::fmt::Display for OpName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
