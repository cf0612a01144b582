//! What the engine tells a store that keeps state (a file store): client
//! registrations, subscription states and their sent and acknowledged
//! sequences, as Go's `clients.dat` and `subs.dat` records; and resuming
//! from what such a store recovered ([`Server::restore`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{ClientInfo, SubState};

use super::slab::Key;
use super::state::{Client, Group, Sub, Target};
use super::timers::TimerKey;
use super::{Server, ServerConfig};
use crate::stan::filestore::store::Restored;
use crate::stan::filestore::subs::{RecoveredSub, SubKind};
use crate::stan::store::{ClientRecord, Store, SubRecord};
use crate::time::deadline_after;

/// A change of a subscription's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubChange {
    /// Created.
    New,
    /// Its state changed (online, offline, shadow).
    Update,
    /// Removed.
    Delete,
}

/// A change of one sequence of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeqChange {
    /// Sent: pending.
    Sent,
    /// No longer pending.
    Acked,
}

impl<S: Store> Server<S> {
    /// The stored state of a subscription, with its channel's name.
    fn sub_state(&self, sk: Key) -> Option<(String, SubState)> {
        let sub = self.subs.get(sk)?;
        let channel = self.channels.get(sub.channel)?.name.clone();
        let group = sub.group.and_then(|g| self.groups.get(g));
        let shadow = group.is_some_and(|g| g.shadow == Some(sk));
        let state = SubState {
            id: sub.id,
            client_id: if shadow {
                String::new()
            } else {
                sub.client_id.clone()
            },
            q_group: group.map(|g| g.name.clone()).unwrap_or_default(),
            inbox: String::from_utf8_lossy(&sub.inbox).into_owned(),
            ack_inbox: String::from_utf8_lossy(&sub.ack_inbox).into_owned(),
            max_in_flight: i32::try_from(sub.max_in_flight).unwrap_or(i32::MAX),
            ack_wait_in_secs: i32::try_from(sub.ack_wait.as_secs()).unwrap_or(i32::MAX),
            durable_name: sub.durable_name.clone(),
            last_sent: group.map_or(sub.last_sent, |g| g.last_sent),
            is_durable: sub.is_durable() || group.is_some_and(|g| g.durable),
            is_closed: sub.offline && group.is_none(),
        };
        Some((channel, state))
    }

    /// Records a subscription's creation, new state or removal.
    pub(super) fn persist_sub(&mut self, sk: Key, change: SubChange) {
        if !self.store.persists_state() {
            return;
        }
        let Some((channel, state)) = self.sub_state(sk) else {
            return;
        };
        let record = match change {
            SubChange::New => SubRecord::New(state),
            SubChange::Update => SubRecord::Update(state),
            SubChange::Delete => SubRecord::Delete(state.id),
        };
        self.store.record_sub(&channel, record);
    }

    /// Records that `seq` was sent to, or is no longer pending on, `sk`.
    pub(super) fn persist_seq(&mut self, sk: Key, change: SeqChange, seq: u64) {
        if !self.store.persists_state() {
            return;
        }
        let Some(sub) = self.subs.get(sk) else { return };
        let Some(ch) = self.channels.get(sub.channel) else {
            return;
        };
        let id = sub.id;
        let record = match change {
            SeqChange::Sent => SubRecord::Sent { id, seq },
            SeqChange::Acked => SubRecord::Acked { id, seq },
        };
        self.store.record_sub(&ch.name, record);
    }

    /// Records a client's registration.
    pub(super) fn persist_client_added(&mut self, info: ClientInfo) {
        if self.store.persists_state() {
            self.store.record_client(ClientRecord::Added(info));
        }
    }

    /// Records a client's removal.
    pub(super) fn persist_client_removed(&mut self, id: &str) {
        if self.store.persists_state() {
            self.store
                .record_client(ClientRecord::Removed(id.to_owned()));
        }
    }

    /// An engine resuming what a store recovered: the clients it knew
    /// (heartbeats resume; the dead are dropped as usual), every channel,
    /// every subscription where it was (durables offline until resumed,
    /// durable queue groups without a member kept as their shadow,
    /// non-durable subscriptions of vanished clients removed), every
    /// pending message redelivered (flagged `redelivered`) as soon as the
    /// engine runs, and every channel's sequence continued by the store.
    pub fn restore(
        config: ServerConfig,
        store: S,
        now: Instant,
        unix_now_ns: i64,
        restored: Restored,
    ) -> Self {
        let mut server = Server::new(config, store, now, unix_now_ns);
        server.resume(now, restored);
        server
    }

    fn resume(&mut self, now: Instant, restored: Restored) {
        for info in restored.clients {
            if self.client_ids.contains_key(&info.id) {
                continue;
            }
            let key = self.clients.insert(Client {
                id: info.id.clone(),
                hb_inbox: Bytes::from(info.hb_inbox),
                conn_id: info.conn_id.clone(),
                hb_failures: 0,
                hb_request: None,
                subs: Vec::new(),
            });
            self.client_ids.insert(info.id, key);
            if !info.conn_id.is_empty() {
                self.conn_ids.insert(info.conn_id, key);
            }
            // The first heartbeat right away: a client gone while we were
            // down is found out within the usual failure count.
            self.timers.set(
                TimerKey::Heartbeat(key),
                deadline_after(now, Duration::from_millis(1)),
            );
        }
        let mut touched = Vec::new();
        for (name, ch) in restored.channels {
            let Ok(ck) = self.channel(now, &name) else {
                continue;
            };
            let last_ts = self
                .store
                .stats(&name)
                .and_then(|st| self.store.timestamp_of(&name, st.last_seq))
                .unwrap_or(0);
            if let Some(c) = self.channels.get_mut(ck) {
                c.next_sub_id = ch.max_sub_id + 1;
                c.last_timestamp = last_ts;
            }
            for (_, sub) in ch.subs {
                self.resume_sub(now, ck, &name, sub);
            }
            touched.push(ck);
        }
        for ck in touched {
            self.deliver_channel(now, ck);
        }
    }

    /// Puts back one recovered subscription.
    fn resume_sub(&mut self, now: Instant, ck: Key, channel: &str, rec: RecoveredSub) {
        let kind = rec.kind();
        let state = rec.state;
        let client = self.client_ids.get(&state.client_id).copied();
        let online = match kind {
            SubKind::Plain | SubKind::Queue => {
                if client.is_none() {
                    // Its client is gone: so is the subscription.
                    if self.store.persists_state() {
                        self.store.record_sub(channel, SubRecord::Delete(state.id));
                    }
                    return;
                }
                true
            }
            SubKind::Durable { offline } => !offline && client.is_some(),
            SubKind::DurableQueue { shadow } => !shadow && client.is_some(),
        };
        let deadline = now;
        let sk = self.subs.insert(Sub {
            id: state.id,
            client_id: state.client_id.clone(),
            channel: ck,
            inbox: if online {
                Bytes::from(state.inbox.clone())
            } else {
                Bytes::new()
            },
            ack_inbox: Bytes::new(),
            ack_sid: 0,
            durable_name: state.durable_name.clone(),
            group: None,
            max_in_flight: usize::try_from(state.max_in_flight).unwrap_or(1).max(1),
            ack_wait: Duration::from_secs(
                u64::try_from(state.ack_wait_in_secs).unwrap_or(1).max(1),
            ),
            last_sent: state.last_sent,
            pending: rec.pending.iter().map(|&seq| (seq, deadline)).collect(),
            redeliveries: BTreeMap::new(),
            offline: !online,
            reading: false,
        });
        if online {
            let ack_inbox = Bytes::from(state.ack_inbox.clone());
            let ack_sid = self.subscribe(ack_inbox.clone(), Target::Ack(sk));
            self.sub_inboxes.insert(ack_inbox.clone(), sk);
            if let Some(sub) = self.subs.get_mut(sk) {
                sub.ack_inbox = ack_inbox;
                sub.ack_sid = ack_sid;
            }
            if let Some(c) = client.and_then(|k| self.clients.get_mut(k)) {
                c.subs.push(sk);
            }
        }
        match kind {
            SubKind::Plain | SubKind::Durable { .. } => {
                if let Some(c) = self.channels.get_mut(ck) {
                    c.subs.push(sk);
                    if !state.durable_name.is_empty() {
                        let key = format!("{}-{}-{}", state.client_id, channel, state.durable_name);
                        c.durables.insert(key, sk);
                    }
                }
            }
            SubKind::Queue | SubKind::DurableQueue { .. } => {
                self.resume_member(ck, &state, sk, online);
            }
        }
        if online && !rec.pending.is_empty() {
            self.timers.set(TimerKey::Redelivery(sk), now);
        }
    }

    /// Puts a recovered queue subscription back in its group.
    fn resume_member(&mut self, ck: Key, state: &SubState, sk: Key, online: bool) {
        let existing = self
            .channels
            .get(ck)
            .and_then(|c| c.groups.get(&state.q_group))
            .copied();
        let gk = match existing {
            Some(gk) => gk,
            None => {
                let gk = self.groups.insert(Group {
                    name: state.q_group.clone(),
                    durable: state.is_durable,
                    members: Vec::new(),
                    last_sent: state.last_sent,
                    redeliveries: BTreeMap::new(),
                    shadow: None,
                });
                if let Some(c) = self.channels.get_mut(ck) {
                    c.groups.insert(state.q_group.clone(), gk);
                }
                gk
            }
        };
        if let Some(sub) = self.subs.get_mut(sk) {
            sub.group = Some(gk);
        }
        let Some(g) = self.groups.get_mut(gk) else {
            return;
        };
        g.last_sent = g.last_sent.max(state.last_sent);
        if online {
            g.members.push(sk);
            if let Some(shadow) = g.shadow.take() {
                self.absorb_shadow(sk, shadow);
            }
        } else if g.members.is_empty() && g.shadow.is_none() {
            g.shadow = Some(sk);
        } else {
            // A second offline state of the group: its pending messages go
            // to the member or shadow that holds the group.
            let holder = g.members.first().copied().or(g.shadow);
            if let Some(holder) = holder {
                self.absorb_shadow(holder, sk);
            }
        }
    }

    /// `into` takes over `from`'s pending messages; `from` is removed.
    fn absorb_shadow(&mut self, into: Key, from: Key) {
        let Some(old) = self.subs.remove(from) else {
            return;
        };
        self.timers.cancel(TimerKey::Redelivery(from));
        if let Some((channel, _)) = self.sub_state(into) {
            if self.store.persists_state() {
                self.store.record_sub(&channel, SubRecord::Delete(old.id));
            }
        }
        let seqs: Vec<(u64, Instant)> = old.pending.into_iter().collect();
        for (seq, at) in seqs {
            if let Some(s) = self.subs.get_mut(into) {
                s.pending.insert(seq, at);
            }
            self.persist_seq(into, SeqChange::Sent, seq);
        }
    }
}
