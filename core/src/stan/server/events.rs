//! [`ServerEvent`]: what the engine reports for logs and monitoring.

use super::Refusal;

/// Why the engine closed a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCloseReason {
    /// The client sent a CloseRequest.
    Requested,
    /// A new connection with the same client ID found it dead.
    Replaced,
    /// Too many heartbeats without a reply.
    HeartbeatsFailed,
}

impl std::fmt::Display for ClientCloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientCloseReason::Requested => "closed by request",
            ClientCloseReason::Replaced => "replaced by a new connection with the same ID",
            ClientCloseReason::HeartbeatsFailed => "heartbeats failed",
        })
    }
}

/// What happened, for logs and monitoring. The engine's behaviour never
/// depends on whether these are read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client connected.
    ClientConnected {
        /// Client ID.
        client_id: String,
    },
    /// A client was closed.
    ClientClosed {
        /// Client ID.
        client_id: String,
        /// Why.
        reason: ClientCloseReason,
    },
    /// A heartbeat went unanswered.
    HeartbeatFailed {
        /// Client ID.
        client_id: String,
        /// Consecutive failures.
        failures: u32,
    },
    /// A channel was created.
    ChannelCreated {
        /// Channel name.
        channel: String,
    },
    /// A channel was deleted for inactivity.
    ChannelDeleted {
        /// Channel name.
        channel: String,
    },
    /// A subscription was created or a durable resumed.
    Subscribed {
        /// Owner.
        client_id: String,
        /// Channel.
        channel: String,
        /// Delivery inbox.
        inbox: String,
        /// Durable name (empty if none).
        durable: String,
        /// Queue group (internal name; empty if none).
        queue: String,
    },
    /// A subscription was removed (`closed`: a durable kept offline).
    Unsubscribed {
        /// Owner.
        client_id: String,
        /// Channel.
        channel: String,
        /// Whether a durable was only closed (kept).
        closed: bool,
    },
    /// A request was refused with an error sent to the client.
    Refused {
        /// The request kind (`connect`, `publish`, `subscribe`, ...).
        request: &'static str,
        /// Why; its `Display` is the error text sent.
        error: Refusal,
    },
    /// A protocol request received or a response sent (with `trace` on).
    Trace {
        /// `<-` received, `->` sent.
        direction: &'static str,
        /// NATS subject.
        subject: String,
        /// Reply subject, if any.
        reply: String,
        /// Payload size.
        size: usize,
    },
    /// The store failed to flush; the batch's PubAcks carry the error.
    StoreFailed {
        /// The store's error.
        error: crate::stan::store::StoreError,
    },
    /// A store write failed and was undone (a full disk): publishes are
    /// refused, what was staged waits, the write is retried (after 1 s,
    /// doubling up to 30 s). Reported for each failed attempt.
    StoreSuspended {
        /// The store's error.
        error: crate::stan::store::StoreError,
    },
    /// A retried store write succeeded: the store takes publishes again.
    StoreResumed,
    /// Reading messages back from the store failed (they are read again
    /// later), or found them damaged (they are skipped). Its `Display` is
    /// the log line.
    StoreReadTrouble(crate::stan::store::ReadTrouble),
    /// A run of `--file_slice_archive_script` ended (its `Display` is Go's
    /// log line).
    SliceArchived(crate::stan::filestore::ArchiveDone),
    /// The engine's own NATS connection (`-ns`) was lost; it reconnects.
    NatsDisconnected {
        /// Why.
        reason: crate::nats::client::DisconnectReason,
    },
    /// The engine's own NATS connection is back, its subscriptions
    /// replayed.
    NatsReconnected {
        /// The server it reached (`host:port` from its `INFO`).
        server: String,
    },
}
