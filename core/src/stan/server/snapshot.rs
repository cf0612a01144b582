//! Monitoring snapshots of the engine: clients, channels, subscriptions,
//! counters and limits as plain data, taken on demand between inputs.
//! Rendering them (the Go server's `/streaming/*z` JSON, Prometheus text)
//! is the monitoring crate's job.

use std::time::{Duration, Instant};

use super::slab::Key;
use super::state::Sub;
use super::{Server, ServerStats, StoreLimits};
use crate::shared_str::SharedStr;
use crate::stan::store::Store;

/// What an engine snapshot includes beyond the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSnapshotOptions {
    /// Every subscription, in its channel's entry (`subs=1`). Without it
    /// only their counts are taken.
    pub subscriptions: bool,
    /// Most channels plus subscriptions listed in one snapshot (0: no
    /// limit). A snapshot that stops short is a page: its
    /// [`EngineSnapshot::next`] is where the next page starts, so that a
    /// large listing is taken in several short turns of the event loop
    /// instead of one long one.
    pub max_items: usize,
    /// Where this page starts: the previous page's `next` (`None`: at the
    /// beginning; only the first page lists the clients).
    pub from: Option<EngineCursor>,
}

/// Where a page of an engine snapshot starts (opaque; from
/// [`EngineSnapshot::next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineCursor {
    /// The first channel listed (the first name at or after it).
    channel: String,
    /// `None`: the channel's entry first; `Some(k)`: its entry is listed,
    /// its subscriptions from key `k` on are not yet.
    sub_from: Option<Key>,
}

/// The engine at one moment, for monitoring.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSnapshot {
    /// The cluster ID.
    pub cluster_id: String,
    /// This engine's id (a NUID; not the NATS server's).
    pub server_id: String,
    /// `STANDALONE`, or `FAILED` once the store failed.
    pub state: &'static str,
    /// Wall clock (Unix ns) when the engine started.
    pub start_unix_ns: i64,
    /// Wall clock (Unix ns) when the snapshot was taken.
    pub now_unix_ns: i64,
    /// The store type (`MEMORY`, `FILE`).
    pub store_kind: &'static str,
    /// The store limits in force.
    pub limits: StoreLimits,
    /// Published, delivered and flush counters since start.
    pub stats: ServerStats,
    /// Subscriptions, offline durables and durable queue shadows included.
    pub subscription_count: usize,
    /// Registered clients, sorted by ID (on the first page only).
    pub clients: Vec<ClientSnapshot>,
    /// Channels, sorted by name. A page may start with the rest of the
    /// subscriptions of the channel the page before ended with (the same
    /// name again).
    pub channels: Vec<ChannelSnapshot>,
    /// Where the next page starts; `None` when this one reached the end.
    pub next: Option<EngineCursor>,
}

impl EngineSnapshot {
    /// Messages stored in all channels.
    pub fn total_msgs(&self) -> u64 {
        self.channels.iter().map(|c| c.msgs).sum()
    }

    /// Bytes stored in all channels.
    pub fn total_bytes(&self) -> u64 {
        self.channels.iter().map(|c| c.bytes).sum()
    }
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// Client ID.
    pub id: String,
    /// Its heartbeat inbox.
    pub hb_inbox: String,
    /// Its online subscriptions (listed in their channels' entries, with
    /// its ID and not offline).
    pub subs_count: usize,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// Channel name.
    pub name: String,
    /// Messages stored.
    pub msgs: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// First stored sequence.
    pub first_seq: u64,
    /// Last stored sequence.
    pub last_seq: u64,
    /// Subscriptions, offline durables and durable queue shadows included.
    pub subs_count: usize,
    /// Those subscriptions, by creation (only with
    /// [`EngineSnapshotOptions::subscriptions`]).
    pub subscriptions: Vec<SubscriptionSnapshot>,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    /// Owning client ID (empty for a durable queue group's shadow).
    pub client_id: String,
    /// Delivery inbox.
    pub inbox: SharedStr,
    /// Ack inbox.
    pub ack_inbox: SharedStr,
    /// Durable name (empty for queue members, as the Go server shows them).
    pub durable_name: String,
    /// Queue group as the server names it (`durable:group` when durable).
    pub queue_name: String,
    /// A durable subscription or a member of a durable queue group.
    pub is_durable: bool,
    /// A closed durable or a durable queue group's shadow.
    pub is_offline: bool,
    /// Most unacknowledged deliveries.
    pub max_inflight: usize,
    /// Redelivery interval.
    pub ack_wait: Duration,
    /// Last sequence sent (the group's, for queue members).
    pub last_sent: u64,
    /// Deliveries not yet acknowledged.
    pub pending_count: usize,
    /// `pending_count` reached `max_inflight`.
    pub is_stalled: bool,
}

impl<S: Store> Server<S> {
    /// A monitoring snapshot (or one page of it, see
    /// [`EngineSnapshotOptions::max_items`]) at `now`. Costs a sort of the
    /// channel names, one step per client on the first page, and one per
    /// item listed: take it between inputs, not per message.
    pub fn snapshot(&self, now: Instant, options: EngineSnapshotOptions) -> EngineSnapshot {
        let now = now.max(self.clock.now());
        let from = options.from.as_ref();
        let mut order: Vec<(&str, Key)> = self
            .channels
            .iter()
            .map(|(key, ch)| (ch.name.as_str(), key))
            .filter(|(name, _)| from.is_none_or(|c| *name >= c.channel.as_str()))
            .collect();
        order.sort_unstable();
        let budget = match options.max_items {
            0 => usize::MAX,
            n => n,
        };
        let mut items = 0usize;
        let mut next = None;
        let mut channels = Vec::new();
        'channels: for (name, key) in order {
            let Some(ch) = self.channels.get(key) else {
                continue;
            };
            let resumed = from.filter(|c| c.channel == name).and_then(|c| c.sub_from);
            if resumed.is_none() && items >= budget {
                next = Some(EngineCursor {
                    channel: name.to_owned(),
                    sub_from: None,
                });
                break;
            }
            // A resumed channel's entry again (its counts, for the merge)
            // is not an item: every page lists something new.
            if resumed.is_none() {
                items += 1;
            }
            let stats = self.store.stats(&ch.name).unwrap_or_default();
            channels.push(ChannelSnapshot {
                name: ch.name.clone(),
                msgs: stats.msgs,
                bytes: stats.bytes,
                first_seq: stats.first_seq,
                last_seq: stats.last_seq,
                subs_count: ch.sub_count(&self.groups),
                subscriptions: Vec::new(),
            });
            if !options.subscriptions {
                continue;
            }
            // In key order, so that a page resumes where the last one
            // stopped whatever changed in between.
            let grouped = ch
                .groups
                .values()
                .filter_map(|g| self.groups.get(*g))
                .flat_map(|g| {
                    let shadow = g.shadow.filter(|_| g.members.is_empty());
                    g.members.iter().copied().chain(shadow)
                });
            let mut keys: Vec<Key> = ch
                .subs
                .iter()
                .copied()
                .chain(grouped)
                .filter(|k| resumed.is_none_or(|from| *k >= from))
                .collect();
            keys.sort_unstable();
            let Some(entry) = channels.last_mut() else {
                continue;
            };
            for sub_key in keys {
                if items >= budget {
                    next = Some(EngineCursor {
                        channel: name.to_owned(),
                        sub_from: Some(sub_key),
                    });
                    break 'channels;
                }
                if let Some(snap) = self.sub_snapshot(sub_key) {
                    entry.subscriptions.push(snap);
                    items += 1;
                }
            }
        }
        let mut clients: Vec<ClientSnapshot> = if from.is_none() {
            self.clients
                .iter()
                .map(|(_, c)| ClientSnapshot {
                    id: c.id.clone(),
                    hb_inbox: String::from_utf8_lossy(&c.hb_inbox).into_owned(),
                    subs_count: c.subs.len(),
                })
                .collect()
        } else {
            Vec::new()
        };
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        EngineSnapshot {
            cluster_id: self.config.cluster_id.clone(),
            server_id: self.server_id.clone(),
            // Suspended (retrying a write) shows as failed until it resumes.
            state: if self.store.failure().is_some() || self.store.suspended().is_some() {
                "FAILED"
            } else {
                "STANDALONE"
            },
            start_unix_ns: self.start_unix,
            now_unix_ns: self.unix_at(now),
            store_kind: self.store.kind(),
            limits: self.config.limits.clone(),
            stats: self.stats,
            subscription_count: self
                .channels
                .iter()
                .map(|(_, ch)| ch.sub_count(&self.groups))
                .sum(),
            clients,
            channels,
            next,
        }
    }

    /// One subscription as monitoring shows it.
    fn sub_snapshot(&self, key: Key) -> Option<SubscriptionSnapshot> {
        let sub: &Sub = self.subs.get(key)?;
        let group = sub.group.and_then(|g| self.groups.get(g));
        Some(SubscriptionSnapshot {
            client_id: sub.client_id.clone(),
            inbox: SharedStr::new(sub.inbox.clone()),
            ack_inbox: SharedStr::new(sub.ack_inbox.clone()),
            durable_name: if group.is_some() {
                String::new()
            } else {
                sub.durable_name.clone()
            },
            queue_name: group.map(|g| g.name.clone()).unwrap_or_default(),
            is_durable: group.map_or(sub.is_durable(), |g| g.durable),
            is_offline: sub.offline,
            max_inflight: sub.max_in_flight,
            ack_wait: sub.ack_wait,
            last_sent: group.map_or(sub.last_sent, |g| g.last_sent),
            pending_count: sub.pending.len(),
            is_stalled: sub.is_stalled(),
        })
    }
}
