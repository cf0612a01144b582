//! The subscription table and routing: subscribing and unsubscribing
//! (with auto-unsubscribe counts), routing one message to every matching
//! subscription (plain ones, one member per queue group), and the
//! no-responders reply.

use std::time::Instant;

use bytes::Bytes;

use super::fanout::{Fanout, Outbound};
use super::index::SubKey;
use super::session::{Delivery, Session, Transport};
use super::{CloseReason, ConnId, Router, RouterEvent, SessionPhase, SlowConsumer};
use crate::nats::codec::{self as encode, RouteMsg};
use crate::nats::subject;

pub(super) const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// A subscription of some session.
#[derive(Debug)]
pub(super) struct Subscription {
    pub(super) slot: u32,
    pub(super) sid: Bytes,
    pub(super) subject: Bytes,
    pub(super) queue: Option<Bytes>,
    pub(super) max: Option<u64>,
    pub(super) delivered: u64,
    /// Interest of a route (`RS+`): no sid of a client, never expires.
    pub(super) remote: bool,
    /// Members a route's queue subscription stands for (1 otherwise).
    pub(super) weight: u32,
}

/// What a `SUB` did.
pub(super) enum SubscribeOutcome {
    /// A new subscription.
    Created,
    /// The sid was taken: the existing subscription is kept.
    Exists,
    /// `max_subscriptions` reached.
    TooMany,
}

impl Router {
    pub(super) fn subscribe(
        &mut self,
        slot: u32,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> SubscribeOutcome {
        let max_subs = self.config.max_subscriptions;
        let Some(session) = self.slot_session(slot) else {
            return SubscribeOutcome::Exists;
        };
        if session.sids.contains_key(sid) {
            return SubscribeOutcome::Exists;
        }
        if max_subs > 0 && session.sids.len() >= max_subs {
            return SubscribeOutcome::TooMany;
        }
        // Own copies: slices of the input would pin whole read buffers.
        let sid = Bytes::copy_from_slice(sid);
        let sub = Subscription {
            slot,
            sid: sid.clone(),
            subject: Bytes::copy_from_slice(subject),
            queue: queue.map(Bytes::copy_from_slice),
            max: None,
            delivered: 0,
            remote: false,
            weight: 1,
        };
        let key = match self.free_subs.pop() {
            Some(k) => k,
            None => {
                self.subs.push(None);
                (self.subs.len() - 1) as SubKey
            }
        };
        self.index.insert(&sub.subject, sub.queue.as_ref(), key);
        self.subs[key as usize] = Some(sub);
        if let Some(s) = self.slot_session(slot) {
            s.sids.insert(sid, key);
        }
        if self.cluster.is_some() {
            self.local_interest_changed(subject, queue, 1);
        }
        SubscribeOutcome::Created
    }

    pub(super) fn unsubscribe(&mut self, slot: u32, sid: &[u8], max: Option<u64>) {
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        let Some(&key) = session.sids.get(sid) else {
            return;
        };
        if let Some(max) = max {
            if let Some(sub) = self.subs[key as usize].as_mut() {
                if max > sub.delivered {
                    sub.max = Some(max);
                    return;
                }
            }
        }
        if let Some(s) = self.slot_session(slot) {
            s.sids.remove(sid);
        }
        self.remove_sub(key);
    }

    /// Removes a subscription from the table and the index (not from its
    /// session's sid map).
    pub(super) fn remove_sub(&mut self, key: SubKey) {
        if let Some(sub) = self.subs[key as usize].take() {
            self.index.remove(&sub.subject, sub.queue.as_ref(), key);
            self.free_subs.push(key);
            if !sub.remote && self.cluster.is_some() {
                self.local_interest_changed(&sub.subject, sub.queue.as_deref(), -1);
            }
        }
    }

    /// Routes one message from session `from`.
    pub(super) fn publish(&mut self, now: Instant, from: u32, msg: &Outbound<'_>) {
        self.publish_from(now, from, msg, None);
    }

    /// Routes one message from session `from`; `routed` is the `RMSG` when
    /// `from` is a route (its queue list says which local groups get it).
    pub(super) fn publish_from(
        &mut self,
        now: Instant,
        from: u32,
        msg: &Outbound<'_>,
        routed: Option<&RouteMsg>,
    ) {
        let size = msg.size() as u64;
        let (echo, no_responders, stallable) = match self.slot_session(from) {
            Some(s) => {
                s.stats.in_msgs += 1;
                s.stats.in_bytes += size;
                (
                    s.flags.echo,
                    s.flags.no_responders,
                    s.is_wire() && s.route.is_none(),
                )
            }
            None => return,
        };
        self.stats.in_msgs += 1;
        self.stats.in_bytes += size;
        let Router {
            index,
            subs,
            slots,
            events,
            stats,
            rng,
            expired,
            overflowing,
            config,
            route_targets,
            cluster,
            ..
        } = self;
        let weighted = cluster.as_ref().is_some_and(|c| !c.remotes.is_empty());
        let matches = index.matches(msg.subject());
        let mut fan = Fanout {
            subs,
            slots,
            events,
            stats,
            expired,
            overflowing,
            max_pending: config.max_pending,
            stall_on: None,
            stallable,
            trace: config.trace,
            from_route: routed.is_some(),
            route_targets,
        };
        let mut delivered = false;
        for &key in &matches.plain {
            if echo || fan.owner(key) != Some(from) {
                delivered |= fan.deliver(key, msg);
            }
        }
        for group in &matches.groups {
            if let Some(m) = routed {
                // Only the groups the sender chose this server for.
                if !m.queues().any(|q| q == &group.name[..]) {
                    continue;
                }
            }
            let n = group.members.len();
            let start = if weighted && routed.is_none() {
                fan.weighted_pick(&group.members, rng)
            } else {
                rng.below(n)
            };
            for i in 0..n {
                let key = group.members[(start + i) % n];
                if (echo || fan.owner(key) != Some(from)) && fan.deliver(key, msg) {
                    delivered = true;
                    break;
                }
            }
        }
        let mut stall_on = fan.stall_on;
        if !self.route_targets.is_empty() {
            let to_routes = self.forward_to_routes(msg, stallable);
            if to_routes.is_some_and(|(_, p)| stall_on.is_none_or(|(_, most)| p > most)) {
                stall_on = to_routes;
            }
        }
        self.finish_routing();
        if let Some((consumer, pending)) = stall_on {
            if self
                .session(consumer)
                .is_some_and(|c| c.phase != SessionPhase::Closing)
            {
                self.stall(now, from, consumer, pending);
            }
        }
        if !delivered && no_responders {
            if let Some(reply) = msg.reply_bytes() {
                self.reply_no_responders(from, &reply);
            }
        }
    }

    /// Applies what routing decided: auto-unsubscribes and slow consumers.
    pub(super) fn finish_routing(&mut self) {
        while let Some(key) = self.expired.pop() {
            if let Some(sub) = self.subs[key as usize].as_ref() {
                let (slot, sid) = (sub.slot, sub.sid.clone());
                if let Some(s) = self.slot_session(slot) {
                    s.sids.remove(&sid);
                }
                self.remove_sub(key);
            }
        }
        while let Some(slot) = self.overflowing.pop() {
            self.close(slot, CloseReason::SlowConsumer(SlowConsumer::MaxPending));
        }
    }

    /// Sends the 503 no-responders status to the requester's own
    /// subscription on `reply`.
    pub(super) fn reply_no_responders(&mut self, from: u32, reply: &Bytes) {
        let Some(session) = self.slots[from as usize].session.as_ref() else {
            return;
        };
        let sid = session.sids.values().find_map(|&key| {
            let sub = self.subs[key as usize].as_ref()?;
            subject::matches(&sub.subject, reply).then(|| sub.sid.clone())
        });
        let Some(sid) = sid else {
            return;
        };
        match &session.transport {
            Transport::Wire { .. } => self.write_wire(from, |out| {
                out.write_with(|b| {
                    encode::write_msg(b, reply, &sid, None, Some(NO_RESPONDERS_HDR), b"");
                });
            }),
            Transport::Local { .. } => {
                let d = Delivery {
                    subject: reply.clone(),
                    sid,
                    reply: None,
                    headers: Some(Bytes::from_static(NO_RESPONDERS_HDR)),
                    payload: Bytes::new(),
                };
                let gen = self.slots[from as usize].gen;
                if let Some(Session {
                    transport: Transport::Local { queue, pending },
                    signalled,
                    ..
                }) = self.slots[from as usize].session.as_mut()
                {
                    *pending += d.weight();
                    queue.push_back(d);
                    if !*signalled {
                        *signalled = true;
                        self.events
                            .push_back(RouterEvent::OutputReady(ConnId { slot: from, gen }));
                    }
                }
            }
        }
    }
}
