//! Every error text the engine sends to clients (fact sheet B.17), byte for
//! byte as nats-streaming-server 0.25.6 sends them.

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

/// The case-collision refusal, typo (`alreay`) included.
pub fn channel_case_collision(new: &str, existing: &str) -> String {
    format!(
        "rejecting channel \"{new}\" because channel \"{existing}\" alreay exists (different cases not allowed)"
    )
}
