//! Options of a STAN client connection and of its subscriptions, with
//! stan.go's defaults (docs/protocol.md D.1).

use std::time::Duration;

use super::ClientError;

/// Options of a [`Session`](super::Session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Cluster ID of the server.
    pub cluster_id: String,
    /// This client's ID (`^[a-zA-Z0-9_-]+$`, checked by the server).
    pub client_id: String,
    /// Prefix of the discover subject (`_STAN.discover`).
    pub discover_prefix: String,
    /// Timeout of connect, subscribe, unsubscribe and close requests (2 s).
    pub connect_wait: Duration,
    /// How long a publish waits for its PubAck (30 s).
    pub pub_ack_wait: Duration,
    /// Most publishes awaiting their PubAck (16384); the PubAck window.
    pub max_pub_acks_in_flight: usize,
    /// Most publishes queued, in order, behind a full PubAck window (1024).
    /// They are sent as PubAcks or PubAck timeouts free the window (each
    /// one's PubAck wait starts when it is sent). A publish beyond the
    /// window and the queue is refused with
    /// [`ClientError::TooManyPubAcksInFlight`]; 0 means no queue: a publish
    /// beyond the window is refused at once.
    pub max_queued_publishes: usize,
    /// Seconds between client pings (5); at least 1.
    pub ping_interval: u32,
    /// Unanswered pings before the connection is declared lost (88); at
    /// least 2.
    pub ping_max_out: u32,
    /// When an auto-ack subscription's messages are acked: `false` (the
    /// default) as each one arrives, for an application that handles each
    /// [`ClientEvent::Message`](super::ClientEvent::Message) as it comes;
    /// `true` only once the application took it from its queue
    /// ([`Session::taken`](super::Session::taken)), so that the
    /// subscription's `max_in_flight` bounds what waits in that queue: a
    /// slow reader then holds the server back instead of piling messages
    /// up in memory (as stan.go acks after the handler returned). The
    /// adapters, whose subscriptions are queues, set it.
    pub ack_when_taken: bool,
    /// Seed of the identifiers (inboxes, connID, GUIDs) and map keys. Every key is derived from it
    /// ([`derive_key`](crate::rand::derive_key)), so published identifiers
    /// never reveal the hash keys of the maps.
    ///
    /// 0 means "not chosen": the runtime adapters' constructors replace it
    /// with a seed drawn from OS entropy. A state machine built directly
    /// from a configuration whose seed is 0 uses 0 as is: deterministic and
    /// public, for tests only. A test that needs determinism sets its own
    /// non-zero seed.
    pub seed: u64,
}

impl ConnectOptions {
    /// Defaults for `cluster_id` and `client_id`.
    pub fn new(cluster_id: impl Into<String>, client_id: impl Into<String>) -> Self {
        ConnectOptions {
            cluster_id: cluster_id.into(),
            client_id: client_id.into(),
            discover_prefix: "_STAN.discover".into(),
            connect_wait: Duration::from_secs(2),
            pub_ack_wait: Duration::from_secs(30),
            max_pub_acks_in_flight: 16384,
            max_queued_publishes: 1024,
            ping_interval: 5,
            ping_max_out: 88,
            ack_when_taken: false,
            seed: 0,
        }
    }

    /// The options of the NATS connection under a STAN client for `url`
    /// (`nats://[user:pass@]host:port`, comma-separated for several), as
    /// stan.go sets them: named `name` or else after the client ID,
    /// reconnecting forever; identifiers seeded from a key derived from
    /// `self.seed`.
    pub fn nats_options(
        &self,
        url: &str,
        name: Option<String>,
    ) -> Result<crate::nats::client::ClientOptions, crate::nats::client::UrlError> {
        let mut nats = crate::nats::client::ClientOptions::with_servers(url)?;
        nats.name = Some(name.unwrap_or_else(|| self.client_id.clone()));
        nats.max_reconnects = None;
        nats.seed = crate::rand::derive_key(self.seed, crate::rand::domain::STAN_CLIENT_NATS);
        Ok(nats)
    }

    /// Checks the values stan.go checks.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.ping_interval < 1 || self.ping_max_out < 2 {
            return Err(ClientError::InvalidPingValues {
                interval: self.ping_interval,
                max_out: self.ping_max_out,
            });
        }
        Ok(())
    }
}

/// Where a subscription starts (docs/protocol.md B.8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartAt {
    /// Only messages published after the subscription (default).
    #[default]
    NewOnly,
    /// The last stored message, then new ones.
    LastReceived,
    /// Every stored message.
    First,
    /// From this sequence.
    Sequence(u64),
    /// Messages stored at most this long ago.
    TimeDelta(Duration),
    /// Messages stored at or after this Unix time (nanoseconds).
    Time(i64),
}

/// Options of one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// Queue group.
    pub queue: Option<String>,
    /// Durable name.
    pub durable: Option<String>,
    /// Start position (ignored when resuming a durable or joining a group).
    pub start: StartAt,
    /// Most unacknowledged messages (1024).
    pub max_in_flight: u32,
    /// Redelivery delay; sent in whole seconds (30 s).
    pub ack_wait: Duration,
    /// Acks are sent by the application ([`Session::ack`](super::Session::ack));
    /// otherwise each message is acked when it arrives, or when the
    /// application took it ([`ConnectOptions::ack_when_taken`]).
    pub manual_ack: bool,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        SubscriptionOptions {
            queue: None,
            durable: None,
            start: StartAt::NewOnly,
            max_in_flight: 1024,
            ack_wait: Duration::from_secs(30),
            manual_ack: false,
        }
    }
}
