//! Every error text the engine sends to clients (docs/protocol.md B.17), byte for
//! byte as nats-streaming-server 0.25.6 sends them.
//!
//! The engine decides with [`Refusal`]; the text put in a response's `error`
//! field is its `Display`. The constants are the same texts, for code that
//! compares a response it received.

use crate::stan::store::StoreError;

/// ConnectResponse: undecodable request or no heartbeat inbox.
pub const INVALID_CONN_REQ: &str = "stan: invalid connection request";
/// ConnectResponse: client ID not matching `^[a-zA-Z0-9_-]+$`.
pub const INVALID_CLIENT_ID: &str =
    "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed";
/// ConnectResponse: the client ID is in use by a live client, or being checked.
pub const CLIENT_ID_REGISTERED: &str = "stan: clientID already registered";
/// PubAck: undecodable, no guid, bad channel, unknown client or connID.
pub const INVALID_PUB_REQ: &str = "stan: invalid publish request";
/// SubscriptionResponse: undecodable subscription request.
pub const INVALID_SUB_REQ: &str = "stan: invalid subscription request";
/// SubscriptionResponse: empty client ID.
pub const MISSING_CLIENT: &str = "stan: clientID missing";
/// SubscriptionResponse: `ackWaitInSecs <= 0`.
pub const INVALID_ACK_WAIT: &str = "stan: invalid ack wait time, should be >= 1s";
/// SubscriptionResponse: `maxInFlight <= 0`.
pub const INVALID_MAX_IN_FLIGHT: &str = "stan: invalid MaxInflight, should be >= 1";
/// SubscriptionResponse: start position out of range.
pub const INVALID_START: &str = "stan: invalid start position";
/// SubscriptionResponse: bad or wildcard channel.
pub const INVALID_SUBJECT: &str = "stan: invalid subject";
/// Subscription/Close responses: client not registered, or not the owner.
pub const UNKNOWN_CLIENT: &str = "stan: unknown clientID";
/// SubscriptionResponse: `:` in the durable name of a durable queue member.
pub const INVALID_DURABLE_NAME: &str =
    "stan: durable name of a durable queue subscriber can't contain the character ':'";
/// SubscriptionResponse: the durable is already active.
pub const DUP_DURABLE: &str = "stan: duplicate durable registration";
/// SubscriptionResponse: undecodable unsubscribe/sub-close request.
pub const INVALID_UNSUB_REQ: &str = "stan: invalid unsubscribe request";
/// SubscriptionResponse: unsubscribe/close on a channel that does not exist.
pub const UNKNOWN_CHANNEL: &str = "stan: unknown channel";
/// SubscriptionResponse: unsubscribe/close of a subscription not found.
pub const INVALID_SUB: &str = "stan: invalid subscription";
/// CloseResponse: undecodable close request.
pub const INVALID_CLOSE_REQ: &str = "stan: invalid close request";
/// SubscriptionResponse: `max_subs` reached.
pub const TOO_MANY_SUBS: &str = "too many subscriptions per channel";
/// PingResponse: the connID is not (or no longer) registered.
pub const CLIENT_REPLACED: &str = "client has been replaced or is no longer registered";

/// Why the engine refused a request. `Display` is the exact text sent in
/// the response's `error` field.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// ConnectResponse: undecodable request or no heartbeat inbox
    /// ([`INVALID_CONN_REQ`]).
    #[error("{}", INVALID_CONN_REQ)]
    InvalidConnRequest,
    /// ConnectResponse: bad client ID ([`INVALID_CLIENT_ID`]).
    #[error("{}", INVALID_CLIENT_ID)]
    InvalidClientId,
    /// ConnectResponse: the client ID is in use, or being checked
    /// ([`CLIENT_ID_REGISTERED`]).
    #[error("{}", CLIENT_ID_REGISTERED)]
    ClientIdRegistered,
    /// PubAck: undecodable, no guid, bad channel, unknown client or connID
    /// ([`INVALID_PUB_REQ`]).
    #[error("{}", INVALID_PUB_REQ)]
    InvalidPubRequest,
    /// SubscriptionResponse: undecodable subscription request, or an inbox
    /// that cannot be published to ([`INVALID_SUB_REQ`]).
    #[error("{}", INVALID_SUB_REQ)]
    InvalidSubRequest,
    /// SubscriptionResponse: empty client ID ([`MISSING_CLIENT`]).
    #[error("{}", MISSING_CLIENT)]
    MissingClient,
    /// SubscriptionResponse: `ackWaitInSecs <= 0` ([`INVALID_ACK_WAIT`]).
    #[error("{}", INVALID_ACK_WAIT)]
    InvalidAckWait,
    /// SubscriptionResponse: `maxInFlight <= 0` ([`INVALID_MAX_IN_FLIGHT`]).
    #[error("{}", INVALID_MAX_IN_FLIGHT)]
    InvalidMaxInFlight,
    /// SubscriptionResponse: start position out of range ([`INVALID_START`]).
    #[error("{}", INVALID_START)]
    InvalidStart,
    /// SubscriptionResponse: bad or wildcard channel ([`INVALID_SUBJECT`]).
    #[error("{}", INVALID_SUBJECT)]
    InvalidSubject,
    /// Subscription/Close responses: client not registered, or not the
    /// owner ([`UNKNOWN_CLIENT`]).
    #[error("{}", UNKNOWN_CLIENT)]
    UnknownClient,
    /// SubscriptionResponse: `:` in the durable name of a durable queue
    /// member ([`INVALID_DURABLE_NAME`]).
    #[error("{}", INVALID_DURABLE_NAME)]
    InvalidDurableName,
    /// SubscriptionResponse: the durable is already active ([`DUP_DURABLE`]).
    #[error("{}", DUP_DURABLE)]
    DuplicateDurable,
    /// SubscriptionResponse: undecodable unsubscribe/sub-close request
    /// ([`INVALID_UNSUB_REQ`]).
    #[error("{}", INVALID_UNSUB_REQ)]
    InvalidUnsubRequest,
    /// SubscriptionResponse: unsubscribe/close on a channel that does not
    /// exist ([`UNKNOWN_CHANNEL`]).
    #[error("{}", UNKNOWN_CHANNEL)]
    UnknownChannel,
    /// SubscriptionResponse: unsubscribe/close of a subscription not found
    /// ([`INVALID_SUB`]).
    #[error("{}", INVALID_SUB)]
    InvalidSubscription,
    /// CloseResponse: undecodable close request ([`INVALID_CLOSE_REQ`]).
    #[error("{}", INVALID_CLOSE_REQ)]
    InvalidCloseRequest,
    /// SubscriptionResponse: `max_subs` reached ([`TOO_MANY_SUBS`]).
    #[error("{}", TOO_MANY_SUBS)]
    TooManySubs,
    /// PingResponse: the connID is not (or no longer) registered
    /// ([`CLIENT_REPLACED`]).
    #[error("{}", CLIENT_REPLACED)]
    ClientReplaced,
    /// PubAck/SubscriptionResponse: a channel differing only in case
    /// exists; the server's typo (`alreay`) included.
    #[error(
        "rejecting channel \"{channel}\" because channel \"{existing}\" alreay exists (different cases not allowed)"
    )]
    ChannelCaseCollision {
        /// The channel asked for.
        channel: String,
        /// The existing channel.
        existing: String,
    },
    /// The store refused (`too many channels`, ...): its text, verbatim.
    #[error(transparent)]
    Store(#[from] StoreError),
}
