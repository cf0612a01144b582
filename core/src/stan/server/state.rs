//! The engine's records: clients, channels, subscriptions, queue groups,
//! outstanding requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::ConnectRequest;

use super::slab::Key;
use crate::hash::SeededHashMap;
use crate::stan::store::ChannelLimits;

/// A registered client.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) hb_inbox: Bytes,
    pub(crate) conn_id: Bytes,
    /// Consecutive heartbeats without a reply.
    pub(crate) hb_failures: u32,
    /// Token of the heartbeat request in flight.
    pub(crate) hb_request: Option<u64>,
    /// Subscriptions (durables that went offline are no longer listed).
    pub(crate) subs: Vec<Key>,
}

/// A channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) name: String,
    pub(crate) limits: ChannelLimits,
    /// Plain subscriptions, durable ones (online or offline) included.
    pub(crate) subs: Vec<Key>,
    /// Queue groups by internal name (`durable:group` for durable ones).
    pub(crate) groups: BTreeMap<String, Key>,
    /// Durables by `clientID-subject-durable`.
    pub(crate) durables: BTreeMap<String, Key>,
    /// Timestamp of the last stored message.
    pub(crate) last_timestamp: i64,
    /// When the channel last saw a message or lost its last active sub.
    pub(crate) last_activity: Instant,
    /// The ID the next subscription gets (unique within the channel, as
    /// the store keeps it).
    pub(crate) next_sub_id: u64,
}

impl Channel {
    /// Subscriptions counted against `max_subs` (offline durables and
    /// durable-queue shadows included).
    pub(crate) fn sub_count(&self, groups: &super::slab::Slab<Group>) -> usize {
        self.subs.len()
            + self
                .groups
                .values()
                .filter_map(|g| groups.get(*g))
                .map(|g| g.members.len().max(usize::from(g.shadow.is_some())))
                .sum::<usize>()
    }
}

/// A subscription.
#[derive(Debug)]
pub(crate) struct Sub {
    /// ID within the channel (the store's).
    pub(crate) id: u64,
    pub(crate) client_id: String,
    pub(crate) channel: Key,
    pub(crate) inbox: Bytes,
    pub(crate) ack_inbox: Bytes,
    /// Our NATS sid for `ack_inbox` (0 while offline).
    pub(crate) ack_sid: u64,
    pub(crate) durable_name: String,
    pub(crate) group: Option<Key>,
    pub(crate) max_in_flight: usize,
    pub(crate) ack_wait: Duration,
    /// Last sequence sent (plain subscriptions; groups keep theirs).
    pub(crate) last_sent: u64,
    /// Sent, not yet acked: sequence -> redelivery deadline.
    pub(crate) pending: BTreeMap<u64, Instant>,
    /// Redeliveries per sequence (plain subscriptions).
    pub(crate) redeliveries: BTreeMap<u64, u32>,
    /// A closed durable (or the shadow of a durable queue group).
    pub(crate) offline: bool,
    /// Waiting for the store to read a message in: deliveries resume, in
    /// order, when it has.
    pub(crate) reading: bool,
}

impl Sub {
    pub(crate) fn is_durable(&self) -> bool {
        !self.durable_name.is_empty()
    }

    pub(crate) fn is_stalled(&self) -> bool {
        self.pending.len() >= self.max_in_flight
    }
}

/// A queue group.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) durable: bool,
    pub(crate) members: Vec<Key>,
    /// Last sequence sent to any member.
    pub(crate) last_sent: u64,
    /// Redeliveries per sequence (shared by the members).
    pub(crate) redeliveries: BTreeMap<u64, u32>,
    /// The offline subscription holding a durable group's state while it has
    /// no member.
    pub(crate) shadow: Option<Key>,
}

/// Outstanding requests to clients' heartbeat inboxes.
#[derive(Debug)]
pub(crate) enum Request {
    /// A heartbeat.
    Heartbeat { client: Key },
    /// Is the holder of a client ID alive? (A second connect with its ID.)
    DuplicateProbe {
        old: Key,
        request: ConnectRequest,
        reply: Bytes,
    },
}

/// Where a message for one of our sids goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Discover,
    Pings,
    Publish,
    Subscribe,
    Unsubscribe,
    SubClose,
    Close,
    Replies,
    Ack(Key),
}

/// A map keyed by string with the engine's seeded hasher.
pub(crate) type Names<V> = SeededHashMap<String, V>;
