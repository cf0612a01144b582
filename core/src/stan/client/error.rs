//! Client errors, with stan.go's exact texts (fact sheet D.2).

/// Why a client operation failed.
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
    /// `max_pub_acks_in_flight` publishes are awaiting their PubAck: wait
    /// for one, then publish again.
    #[error("stan: too many publishes awaiting their ack")]
    TooManyPubAcksInFlight,
    /// The connect handshake has not completed.
    #[error("stan: not connected yet")]
    NotConnected,
    /// An error text from the server, verbatim.
    #[error("{0}")]
    Server(String),
    /// The NATS connection failed (`nats: connection closed`, ...).
    #[error("{0}")]
    Nats(String),
}
