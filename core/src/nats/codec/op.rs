//! The protocol operations of each direction, as values.
//!
//! Every byte-string field is a [`Bytes`] slice of the decoder's input buffer:
//! decoding never copies a subject, a sid or a payload.

use bytes::Bytes;

/// An operation sent by a client to a server (`CONNECT`, `PUB`, `HPUB`, `SUB`,
/// `UNSUB`, `PING`, `PONG`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT {json}`: the raw JSON object, surrounding whitespace trimmed.
    Connect(Bytes),
    /// `PUB` (when `headers` is `None`) or `HPUB` (when it is `Some`).
    Pub {
        /// Subject the message is published to.
        subject: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// Raw header block (`NATS/1.0...\r\n\r\n`), for `HPUB`.
        headers: Option<Bytes>,
        /// Message payload (without headers).
        payload: Bytes,
    },
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
    /// `MSG` (when `headers` is `None`) or `HMSG` (when it is `Some`).
    Msg {
        /// Subject the message was published on.
        subject: Bytes,
        /// Subscription id of the receiving subscription.
        sid: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// Raw header block, for `HMSG`.
        headers: Option<Bytes>,
        /// Message payload (without headers).
        payload: Bytes,
    },
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
        }
    }
}

impl std::fmt::Display for OpName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
