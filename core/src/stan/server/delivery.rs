//! Delivery: sending stored messages to subscriptions within max-in-flight,
//! queue member choice, ack-wait redelivery (docs/protocol.md B.10, B.12).

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::persist::SeqChange;
use super::slab::Key;
use super::timers::TimerKey;
use super::{Out, Server};
use crate::nats::NatsCommand;
use crate::stan::store::{Fetch, Store, StoredMsg, SubRecord};
use crate::time::deadline_after;

/// Expired messages this close to their deadline go in the same pass.
const REDELIVERY_SLACK: Duration = Duration::from_millis(15);

/// `MsgProto` field 6 (`redelivered`, varint) = true.
const REDELIVERED_TRUE: [u8; 2] = [0x30, 0x01];
/// `MsgProto` field 7 (`redeliveryCount`, varint) tag.
const REDELIVERY_COUNT_TAG: u8 = 0x38;

/// The stored `MsgProto` with `redelivered` and `redeliveryCount` appended
/// (a later field occurrence is how protobuf merges, so the stored bytes
/// need no re-encoding).
fn redelivery_payload(msg: &StoredMsg, count: u32) -> Bytes {
    let mut out = BytesMut::with_capacity(msg.encoded.len() + 8);
    out.extend_from_slice(&msg.encoded);
    out.extend_from_slice(&REDELIVERED_TRUE);
    out.put_u8(REDELIVERY_COUNT_TAG);
    let mut v = count;
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
    out.freeze()
}

impl<S: Store> Server<S> {
    /// Delivers new messages of a channel to every subscription of it.
    pub(super) fn deliver_channel(&mut self, now: Instant, ck: Key) {
        let mut i = 0;
        while let Some(sk) = self.channels.get(ck).and_then(|c| c.subs.get(i).copied()) {
            self.deliver_sub(now, sk);
            i += 1;
        }
        let groups: Vec<Key> = self
            .channels
            .get(ck)
            .map(|c| c.groups.values().copied().collect())
            .unwrap_or_default();
        for gk in groups {
            self.deliver_group(now, gk);
        }
    }

    /// After an ack or a (re)subscription: deliver what `sk` may now take.
    pub(super) fn deliver_after_change(&mut self, now: Instant, sk: Key) {
        match self.subs.get(sk).map(|s| s.group) {
            Some(Some(gk)) => self.deliver_group(now, gk),
            Some(None) => self.deliver_sub(now, sk),
            None => {}
        }
    }

    /// Sends a plain subscription the messages after its `last_sent`, up to
    /// its max in flight.
    fn deliver_sub(&mut self, now: Instant, sk: Key) {
        let Server {
            subs,
            channels,
            store,
            commands,
            timers,
            stats,
            ..
        } = self;
        let Some(sub) = subs.get_mut(sk) else { return };
        if sub.offline || sub.group.is_some() || sub.reading {
            return;
        }
        let Some(ch) = channels.get(sub.channel) else {
            return;
        };
        let Some(st) = store.stats(&ch.name) else {
            return;
        };
        let first = if st.msgs == 0 {
            st.last_seq + 1
        } else {
            st.first_seq
        };
        let expiry = deadline_after(now, sub.ack_wait);
        let was_empty = sub.pending.is_empty();
        while sub.pending.len() < sub.max_in_flight && sub.last_sent < st.last_seq {
            let seq = (sub.last_sent + 1).max(first);
            if seq > st.last_seq {
                sub.last_sent = st.last_seq;
                break;
            }
            let msg = match store.fetch(&ch.name, seq) {
                Fetch::Found(msg) => msg,
                Fetch::Gone => {
                    sub.last_sent = seq;
                    continue;
                }
                Fetch::Reading => {
                    // Resumed from here once the store has read it in.
                    sub.reading = true;
                    break;
                }
            };
            sub.last_sent = seq;
            stats.out_msgs += 1;
            stats.out_bytes += msg.encoded.len() as u64;
            if store.persists_state() {
                store.record_sub(&ch.name, SubRecord::Sent { id: sub.id, seq });
            }
            commands.push_back((
                store.write_mark(),
                Out::Cmd(NatsCommand::Publish {
                    subject: sub.inbox.clone(),
                    reply: None,
                    payload: msg.encoded,
                }),
            ));
            sub.pending.insert(seq, expiry);
        }
        if was_empty && !sub.pending.is_empty() {
            timers.set_earliest(TimerKey::Redelivery(sk), expiry);
        }
    }

    /// The member a group message goes to: the fewest unacked among those
    /// neither stalled nor with failing heartbeats, else the first. Rotates
    /// the first member to the end when chosen.
    fn pick_member(&mut self, gk: Key) -> Option<Key> {
        let g = self.groups.get(gk)?;
        let mut best: Option<(Key, usize)> = None;
        for &m in &g.members {
            let Some(s) = self.subs.get(m) else { continue };
            if s.is_stalled() || self.client_failing(&s.client_id) {
                continue;
            }
            if best.is_none_or(|(_, n)| s.pending.len() < n) {
                best = Some((m, s.pending.len()));
            }
        }
        let chosen = best
            .map(|(k, _)| k)
            .or_else(|| g.members.first().copied())?;
        let g = self.groups.get_mut(gk)?;
        if g.members.len() > 1 && g.members.first() == Some(&chosen) {
            g.members.rotate_left(1);
        }
        Some(chosen)
    }

    /// Sends a queue group the messages after its `last_sent`, each to the
    /// best member, while that member has room.
    fn deliver_group(&mut self, now: Instant, gk: Key) {
        let Some(g) = self.groups.get(gk) else { return };
        let Some(&first_member) = g.members.first() else {
            return;
        };
        let Some(ck) = self.subs.get(first_member).map(|s| s.channel) else {
            return;
        };
        let Some(name) = self.channels.get(ck).map(|c| c.name.clone()) else {
            return;
        };
        let Some(st) = self.store.stats(&name) else {
            return;
        };
        let first = if st.msgs == 0 {
            st.last_seq + 1
        } else {
            st.first_seq
        };
        loop {
            let Some(g) = self.groups.get_mut(gk) else {
                return;
            };
            if g.last_sent >= st.last_seq {
                return;
            }
            let seq = (g.last_sent + 1).max(first);
            if seq > st.last_seq {
                g.last_sent = st.last_seq;
                return;
            }
            let msg = match self.store.fetch(&name, seq) {
                Fetch::Found(msg) => msg,
                Fetch::Gone => {
                    g.last_sent = seq;
                    continue;
                }
                // Resumed from here once the store has read it in.
                Fetch::Reading => return,
            };
            let Some(member) = self.pick_member(gk) else {
                return;
            };
            let Some(sub) = self.subs.get_mut(member) else {
                return;
            };
            if sub.is_stalled() {
                return;
            }
            let expiry = deadline_after(now, sub.ack_wait);
            if sub.pending.is_empty() {
                self.timers
                    .set_earliest(TimerKey::Redelivery(member), expiry);
            }
            sub.pending.insert(seq, expiry);
            let inbox = sub.inbox.clone();
            let id = sub.id;
            if let Some(g) = self.groups.get_mut(gk) {
                g.last_sent = seq;
            }
            if self.store.persists_state() {
                self.store.record_sub(&name, SubRecord::Sent { id, seq });
            }
            self.send(inbox, msg.encoded);
        }
    }

    fn send(&mut self, inbox: Bytes, payload: Bytes) {
        self.stats.out_msgs += 1;
        self.stats.out_bytes += payload.len() as u64;
        self.push(NatsCommand::Publish {
            subject: inbox,
            reply: None,
            payload,
        });
    }

    /// Redelivers every unacked message of a resumed subscription, in
    /// sequence order, before anything new.
    pub(super) fn redeliver_all(&mut self, now: Instant, sk: Key) {
        let Some(sub) = self.subs.get(sk) else { return };
        let due: Vec<(Instant, u64)> = sub.pending.keys().map(|&seq| (now, seq)).collect();
        self.redeliver(now, sk, due);
        self.rearm_redelivery(sk);
    }

    /// The ack-wait timer of a subscription fired.
    pub(super) fn redeliver_expired(&mut self, now: Instant, sk: Key) {
        let Some(sub) = self.subs.get(sk) else { return };
        if sub.offline || sub.pending.is_empty() || sub.reading {
            return; // a sub waiting for a read goes on from `read_done`
        }
        // Its client may be gone, or a suspended store holds every output
        // (the deliveries themselves wait for it): do not pile up
        // redeliveries, which would all go out at once.
        let held = self.store.suspended().is_some();
        if held || (sub.group.is_none() && self.client_failing(&sub.client_id)) {
            let at = deadline_after(now, sub.ack_wait);
            self.timers.set(TimerKey::Redelivery(sk), at);
            return;
        }
        let limit = deadline_after(now, REDELIVERY_SLACK);
        let mut due: Vec<(Instant, u64)> = sub
            .pending
            .iter()
            .filter(|(_, &exp)| exp <= limit)
            .map(|(&seq, &exp)| (exp, seq))
            .collect();
        due.sort_unstable();
        self.redeliver(now, sk, due);
        self.rearm_redelivery(sk);
    }

    /// Redelivers `due` (expiry, sequence) of `sk` in order.
    fn redeliver(&mut self, now: Instant, sk: Key, due: Vec<(Instant, u64)>) {
        let Some(sub) = self.subs.get(sk) else { return };
        let group = sub.group;
        let Some(name) = self.channels.get(sub.channel).map(|c| c.name.clone()) else {
            return;
        };
        for (i, &(expiry, seq)) in due.iter().enumerate() {
            let msg = match self.store.fetch(&name, seq) {
                Fetch::Found(msg) => msg,
                Fetch::Gone => {
                    // Dropped by limits: implicitly acked.
                    if let Some(sub) = self.subs.get_mut(sk) {
                        sub.pending.remove(&seq);
                        sub.redeliveries.remove(&seq);
                    }
                    self.persist_seq(sk, SeqChange::Acked, seq);
                    continue;
                }
                Fetch::Reading => {
                    // The rest waits for the read, then goes in order: due
                    // now, redelivered when the store has read them in.
                    if let Some(sub) = self.subs.get_mut(sk) {
                        sub.reading = true;
                        for &(_, later) in &due[i..] {
                            if let Some(at) = sub.pending.get_mut(&later) {
                                *at = (*at).min(now);
                            }
                        }
                    }
                    return;
                }
            };
            let (target, count) = match group {
                None => {
                    let Some(sub) = self.subs.get_mut(sk) else {
                        return;
                    };
                    let count = sub.redeliveries.entry(seq).or_insert(0);
                    *count += 1;
                    (sk, *count)
                }
                Some(gk) => {
                    let member = self.pick_member(gk).unwrap_or(sk);
                    let Some(g) = self.groups.get_mut(gk) else {
                        return;
                    };
                    let count = g.redeliveries.entry(seq).or_insert(0);
                    *count += 1;
                    (member, *count)
                }
            };
            let Some(t) = self.subs.get_mut(target) else {
                continue;
            };
            // The next deadline is the old one plus ack wait, and always in
            // the future (a late timer must not redeliver in a loop).
            let next = match expiry.checked_add(t.ack_wait) {
                Some(n) if target == sk && n > deadline_after(now, REDELIVERY_SLACK) => n,
                _ => deadline_after(now, t.ack_wait),
            };
            t.pending.insert(seq, next);
            let inbox = t.inbox.clone();
            if target != sk {
                if let Some(s) = self.subs.get_mut(sk) {
                    s.pending.remove(&seq);
                }
                self.persist_seq(sk, SeqChange::Acked, seq);
                self.persist_seq(target, SeqChange::Sent, seq);
                self.timers.set_earliest(TimerKey::Redelivery(target), next);
            }
            self.send(inbox, redelivery_payload(&msg, count));
        }
    }

    /// The store read in messages of `channel`: the deliveries and
    /// redeliveries that waited for them go on, in order.
    pub(super) fn read_done(&mut self, now: Instant, channel: &str) {
        let Some(&ck) = self.channel_names.get(channel) else {
            return;
        };
        let waiting: Vec<Key> = self
            .subs
            .iter()
            .filter(|(_, s)| s.channel == ck && s.reading)
            .map(|(k, _)| k)
            .collect();
        for sk in waiting {
            if let Some(sub) = self.subs.get_mut(sk) {
                sub.reading = false;
            }
            self.redeliver_expired(now, sk);
        }
        self.deliver_channel(now, ck);
    }

    /// Arms the redelivery timer of `sk` at its earliest pending deadline.
    fn rearm_redelivery(&mut self, sk: Key) {
        let Some(sub) = self.subs.get(sk) else { return };
        match sub.pending.values().min() {
            Some(&at) if !sub.offline && !sub.reading => {
                self.timers.set(TimerKey::Redelivery(sk), at)
            }
            _ => self.timers.cancel(TimerKey::Redelivery(sk)),
        }
    }
}
