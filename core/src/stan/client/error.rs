//! Client errors, with stan.go's exact texts (docs/protocol.md D.2).

use stan_proto::DecodeError;

use crate::nats::client::CloseReason;

/// Why a client operation failed.
///
/// The variants fall in five groups: a request that got no answer in time
/// (the `...Timeout` variants, see [`is_timeout`](Self::is_timeout)), the
/// connection closed or lost ([`ConnectionClosed`](Self::ConnectionClosed),
/// [`MaxPings`](Self::MaxPings), [`Nats`](Self::Nats)), a refusal by the
/// server with its text verbatim ([`Server`](Self::Server)), a response
/// that did not decode ([`Decode`](Self::Decode)), and misuse of the API.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// No ConnectResponse within connect wait (or nobody serves the cluster).
    #[error("stan: connect request timeout (possibly wrong cluster ID?)")]
    ConnectRequestTimeout,
    /// No CloseResponse within connect wait.
    #[error("stan: close request timeout")]
    CloseRequestTimeout,
    /// No SubscriptionResponse within connect wait.
    #[error("stan: subscribe request timeout")]
    SubscribeRequestTimeout,
    /// No response to an unsubscribe within connect wait.
    #[error("stan: unsubscribe request timeout")]
    UnsubscribeRequestTimeout,
    /// The connection is closed (or was lost).
    #[error("stan: connection closed")]
    ConnectionClosed,
    /// No PubAck within pub ack wait.
    #[error("stan: publish ack timeout")]
    PubAckTimeout,
    /// The subscription is closed or unknown.
    #[error("stan: invalid subscription")]
    BadSubscription,
    /// The connection is not usable.
    #[error("stan: invalid connection")]
    BadConnection,
    /// `ack` on a subscription in auto-ack mode.
    #[error("stan: cannot manually ack in auto-ack mode")]
    ManualAck,
    /// The server does not support the request (sub close on old servers).
    #[error("stan: not supported by server")]
    NoServerSupport,
    /// Too many unanswered pings.
    #[error("stan: connection lost due to PING failure")]
    MaxPings,
    /// Ping settings out of range.
    #[error("invalid ping values: interval={interval} (min>0) maxOut={max_out} (min=2)")]
    InvalidPingValues {
        /// The interval given.
        interval: u32,
        /// The max out given.
        max_out: u32,
    },
    /// `max_pub_acks_in_flight` publishes are awaiting their PubAck and
    /// `max_queued_publishes` more are queued: wait for a PubAck, then
    /// publish again.
    #[error("stan: too many publishes awaiting their ack")]
    TooManyPubAcksInFlight,
    /// The connect handshake has not completed.
    #[error("stan: not connected yet")]
    NotConnected,
    /// The server refused the request: its error text, verbatim (e.g.
    /// `stan: clientID already registered`).
    #[error("{0}")]
    Server(String),
    /// The server's response (ConnectResponse, SubscriptionResponse or
    /// CloseResponse) is not a valid protobuf message: the decoder's text.
    #[error(transparent)]
    Decode(DecodeError),
    /// The NATS connection under the session closed for good:
    /// `nats: connection closed (<reason>)`.
    #[error("nats: connection closed ({0})")]
    Nats(CloseReason),
}

impl ClientError {
    /// Whether a request got no answer in time (connect, close, subscribe,
    /// unsubscribe or PubAck).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectRequestTimeout
                | ClientError::CloseRequestTimeout
                | ClientError::SubscribeRequestTimeout
                | ClientError::UnsubscribeRequestTimeout
                | ClientError::PubAckTimeout
        )
    }

    /// Whether the connection is closed or lost (closed by the
    /// application, by too many unanswered pings, or with the NATS
    /// connection under it).
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionClosed | ClientError::MaxPings | ClientError::Nats(_)
        )
    }
}
