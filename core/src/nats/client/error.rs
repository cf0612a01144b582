//! Errors of the commands, and why a transport or the connection ended.

use crate::nats::codec::DecodeError;
use crate::nats::subject::SubjectError;

/// Why a publish was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The subject is not a valid literal subject.
    #[error("invalid publish subject: {0}")]
    InvalidSubject(SubjectError),
    /// The reply subject is not a valid literal subject.
    #[error("invalid reply subject: {0}")]
    InvalidReply(SubjectError),
    /// Headers were given but this connection (or its server) does not use them.
    #[error("headers are not supported by this connection")]
    HeadersNotSupported,
    /// The header block is not a well-formed `NATS/1.0` block.
    #[error("malformed header block")]
    InvalidHeaders,
    /// Headers plus payload exceed the server's `max_payload`.
    #[error("payload of {size} bytes exceeds max_payload {max}")]
    MaxPayloadExceeded {
        /// Headers plus payload.
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// Disconnected and the reconnect buffer is disabled.
    #[error("not connected and the reconnect buffer is disabled")]
    NotConnected,
    /// Disconnected and the reconnect buffer has no room for this message.
    #[error("reconnect buffer full ({limit} bytes)")]
    ReconnectBufferFull {
        /// The configured `reconnect_buffer_size`.
        limit: usize,
    },
}

/// Why a subscription was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The subject is not a valid subscription subject.
    #[error("invalid subject: {0}")]
    InvalidSubject(SubjectError),
    /// The queue group name is empty or contains whitespace.
    #[error("invalid queue group name")]
    InvalidQueue,
    /// The sid is already used by a live subscription.
    #[error("sid {0} is already in use")]
    SidInUse(u64),
}

/// Why an unsubscribe was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// No live subscription has this sid.
    #[error("unknown sid {0}")]
    UnknownSid(u64),
}

/// Why a flush was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Why a [`NatsCommand`](crate::nats::NatsCommand) failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The publish was refused.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The subscription was refused.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    /// The unsubscribe was refused.
    #[error(transparent)]
    Unsubscribe(#[from] UnsubscribeError),
}

/// Why a transport ended (or a dial or handshake failed).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The adapter could not dial the server.
    #[error("dial failed")]
    DialFailed,
    /// The adapter reported no outcome of its dial within `connect_timeout`
    /// (the connection abandoned it).
    #[error("dial timeout")]
    DialTimeout,
    /// The adapter reported the transport closed (EOF or IO error).
    #[error("transport closed")]
    TransportClosed,
    /// No `INFO` or no handshake `PONG` within `connect_timeout`.
    #[error("connect timeout")]
    ConnectTimeout,
    /// More than `max_pings_out` keepalive `PING`s went unanswered.
    #[error("stale connection")]
    StaleConnection,
    /// The server's bytes could not be decoded.
    #[error("protocol error: {0}")]
    Protocol(DecodeError),
    /// A well-formed op that is not allowed at this point (e.g. `MSG` before `INFO`).
    #[error("unexpected {0} from server")]
    UnexpectedOp(&'static str),
    /// The `INFO` JSON could not be read.
    #[error("bad INFO: {0}")]
    BadInfo(String),
    /// The server refused our credentials (`-ERR 'Authorization Violation'`...).
    #[error("authorization error: {0}")]
    Authorization(String),
    /// Any other `-ERR` after which the server closes the connection.
    #[error("server error: {0}")]
    ServerError(String),
    /// TLS was asked for (a `tls://` URL, [`ClientOptions::tls_required`](super::ClientOptions::tls_required))
    /// but the server's `INFO` offers none (nats.go's
    /// `nats: secure connection not available`).
    #[error("secure connection not available")]
    SecureConnectionNotAvailable,
    /// The driver's TLS handshake failed
    /// ([`Connection::handle_tls_failed`](super::Connection::handle_tls_failed));
    /// the TLS library's error text.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// Why the connection closed for good.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`Connection::close`](super::Connection::close) was called.
    #[error("closed by the application")]
    Local,
    /// `max_reconnects` reconnect attempts failed.
    #[error("gave up after {attempts} reconnect attempts (last: {last})")]
    ReconnectsExhausted {
        /// Reconnect attempts made since the last successful handshake.
        attempts: u32,
        /// Why the last attempt (or connection) ended.
        last: DisconnectReason,
    },
    /// The options list no server.
    #[error("no servers configured")]
    NoServers,
}
