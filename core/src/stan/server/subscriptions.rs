//! Subscriptions: subscribe (start positions, durables, queue groups),
//! unsubscribe and close, acks (docs/protocol.md B.8, B.9, B.11, B.13).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{
    Ack, StartPosition, SubscriptionRequest, SubscriptionResponse, UnsubscribeRequest,
};

use super::errors::Refusal;
use super::persist::{SeqChange, SubChange};
use super::slab::Key;
use super::state::{Group, Sub, Target};
use super::timers::TimerKey;
use super::{decode, Server, ServerEvent};
use crate::nats::{subject, InboundMessage};
use crate::stan::names::is_valid_channel;
use crate::stan::store::Store;
use crate::time::deadline_after;

/// How long after a queue member leaves its unacked messages are
/// redelivered to the remaining members.
const REASSIGN_DELAY: Duration = Duration::from_millis(100);

impl<S: Store> Server<S> {
    fn sub_refused(&mut self, reply: Option<&Bytes>, request: &'static str, refusal: Refusal) {
        let error = refusal.to_string();
        self.refused(request, refusal);
        self.respond_now(
            reply,
            &SubscriptionResponse {
                ack_inbox: String::new(),
                error,
            },
        );
    }

    pub(super) fn handle_subscribe(&mut self, now: Instant, msg: InboundMessage) {
        let reply = msg.reply.as_ref();
        let req = match self.validate_subscribe(&msg.payload) {
            Ok(req) => req,
            Err(error) => return self.sub_refused(reply, "subscribe", error),
        };
        let Some(&client) = self.client_ids.get(&req.client_id) else {
            return self.sub_refused(reply, "subscribe", Refusal::UnknownClient);
        };
        if let Some(error) = self.store_unavailable() {
            return self.sub_refused(reply, "subscribe", Refusal::Store(error));
        }
        let ck = match self.channel(now, &req.subject) {
            Ok(ck) => ck,
            Err(error) => return self.sub_refused(reply, "subscribe", error),
        };
        if !req.q_group.is_empty() && req.durable_name.contains(':') {
            return self.sub_refused(reply, "subscribe", Refusal::InvalidDurableName);
        }
        let created = if req.q_group.is_empty() {
            self.plain_subscribe(now, ck, &req)
        } else {
            self.queue_subscribe(now, ck, &req)
        };
        let (sk, resumed) = match created {
            Ok(c) => c,
            Err(error) => return self.sub_refused(reply, "subscribe", error),
        };
        if let Some(c) = self.clients.get_mut(client) {
            c.subs.push(sk);
        }
        let Some(sub) = self.subs.get(sk) else { return };
        let ack_inbox = String::from_utf8_lossy(&sub.ack_inbox).into_owned();
        self.events.push_back(ServerEvent::Subscribed {
            client_id: req.client_id.clone(),
            channel: req.subject.clone(),
            inbox: req.inbox.clone(),
            durable: req.durable_name.clone(),
            queue: sub
                .group
                .and_then(|g| self.groups.get(g))
                .map(|g| g.name.clone())
                .unwrap_or_default(),
        });
        self.respond(
            reply,
            &SubscriptionResponse {
                ack_inbox,
                error: String::new(),
            },
        );
        // Delivery starts once the response is on its way: pending messages
        // of a resumed durable first, then what is available.
        if resumed {
            self.redeliver_all(now, sk);
        }
        self.deliver_after_change(now, sk);
    }

    fn validate_subscribe(&self, payload: &Bytes) -> Result<SubscriptionRequest, Refusal> {
        let req = decode::<SubscriptionRequest>(payload).ok_or(Refusal::InvalidSubRequest)?;
        if req.client_id.is_empty() {
            return Err(Refusal::MissingClient);
        }
        if req.ack_wait_in_secs <= 0 {
            return Err(Refusal::InvalidAckWait);
        }
        if req.max_in_flight <= 0 {
            return Err(Refusal::InvalidMaxInFlight);
        }
        if StartPosition::try_from(req.start_position).is_err() {
            return Err(Refusal::InvalidStart);
        }
        if !is_valid_channel(&req.subject) {
            return Err(Refusal::InvalidSubject);
        }
        // We must be able to publish to the inbox.
        if subject::validate_publish(req.inbox.as_bytes()).is_err() {
            return Err(Refusal::InvalidSubRequest);
        }
        Ok(req)
    }

    /// The `last_sent` a new subscription (or group) starts from.
    fn start_last_sent(&self, now: Instant, channel: &str, req: &SubscriptionRequest) -> u64 {
        let stats = self.store.stats(channel).unwrap_or_default();
        let last = stats.last_seq;
        let first = if stats.msgs == 0 {
            last + 1
        } else {
            stats.first_seq
        };
        match StartPosition::try_from(req.start_position).unwrap_or(StartPosition::NewOnly) {
            StartPosition::NewOnly => last,
            StartPosition::LastReceived => last.saturating_sub(1).max(first.saturating_sub(1)),
            StartPosition::TimeDeltaStart => {
                let start = self.unix_at(now).saturating_sub(req.start_time_delta);
                self.store
                    .first_seq_at_or_after(channel, start)
                    .unwrap_or(last + 1)
                    .saturating_sub(1)
            }
            StartPosition::SequenceStart => {
                let start = req.start_sequence;
                if start < first {
                    first - 1
                } else if start > last {
                    last
                } else {
                    start - 1
                }
            }
            StartPosition::First => first - 1,
        }
    }

    fn check_max_subs(&self, ck: Key) -> Result<(), Refusal> {
        let Some(ch) = self.channels.get(ck) else {
            return Err(Refusal::InvalidSubRequest);
        };
        let max = ch.limits.max_subs;
        if max > 0 && ch.sub_count(&self.groups) >= max {
            return Err(Refusal::TooManySubs);
        }
        Ok(())
    }

    /// Creates a subscription record with a fresh ack inbox.
    fn new_sub(
        &mut self,
        ck: Key,
        req: &SubscriptionRequest,
        group: Option<Key>,
        last_sent: u64,
    ) -> Key {
        let id = self.channels.get_mut(ck).map_or(0, |c| {
            c.next_sub_id += 1;
            c.next_sub_id - 1
        });
        let sk = self.subs.insert(Sub {
            id,
            client_id: req.client_id.clone(),
            channel: ck,
            inbox: Bytes::new(),
            ack_inbox: Bytes::new(),
            ack_sid: 0,
            durable_name: req.durable_name.clone(),
            group,
            max_in_flight: 1,
            ack_wait: Duration::from_secs(1),
            last_sent,
            pending: BTreeMap::new(),
            redeliveries: BTreeMap::new(),
            offline: true,
            reading: false,
        });
        self.bring_online(sk, req);
        self.persist_sub(sk, SubChange::New);
        sk
    }

    /// (Re)attaches a subscription to the request's inbox and settings.
    fn bring_online(&mut self, sk: Key, req: &SubscriptionRequest) {
        let ack_inbox = self.new_inbox();
        let ack_sid = self.subscribe(ack_inbox.clone(), Target::Ack(sk));
        self.sub_inboxes.insert(ack_inbox.clone(), sk);
        if let Some(sub) = self.subs.get_mut(sk) {
            sub.client_id.clone_from(&req.client_id);
            sub.inbox = Bytes::from(req.inbox.clone());
            sub.ack_inbox = ack_inbox;
            sub.ack_sid = ack_sid;
            sub.max_in_flight = usize::try_from(req.max_in_flight).unwrap_or(1).max(1);
            sub.ack_wait = Duration::from_secs(u64::try_from(req.ack_wait_in_secs).unwrap_or(1));
            sub.offline = false;
        }
    }

    /// A plain or durable subscription: `(key, resumed)`.
    fn plain_subscribe(
        &mut self,
        now: Instant,
        ck: Key,
        req: &SubscriptionRequest,
    ) -> Result<(Key, bool), Refusal> {
        let durable_key = (!req.durable_name.is_empty())
            .then(|| format!("{}-{}-{}", req.client_id, req.subject, req.durable_name));
        if let Some(dk) = &durable_key {
            let existing = self
                .channels
                .get(ck)
                .and_then(|c| c.durables.get(dk))
                .copied();
            if let Some(sk) = existing {
                if self.subs.get(sk).is_some_and(|s| !s.offline) {
                    if !self.config.replace_durable {
                        return Err(Refusal::DuplicateDurable);
                    }
                    // `--replace_durable`: close the active one as its
                    // client would (unacked messages stay pending on the
                    // durable), then resume it for this request.
                    self.remove_sub(now, sk, false);
                    self.timers.cancel(TimerKey::Inactivity(ck));
                }
                self.bring_online(sk, req);
                self.persist_sub(sk, SubChange::Update);
                return Ok((sk, true));
            }
        }
        self.check_max_subs(ck)?;
        let name = self
            .channels
            .get(ck)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let last_sent = self.start_last_sent(now, &name, req);
        let sk = self.new_sub(ck, req, None, last_sent);
        if let Some(ch) = self.channels.get_mut(ck) {
            ch.subs.push(sk);
            if let Some(dk) = durable_key {
                ch.durables.insert(dk, sk);
            }
        }
        self.timers.cancel(TimerKey::Inactivity(ck));
        Ok((sk, false))
    }

    /// A queue group member: `(key, resumed)` (resumed: it took over a
    /// durable group's shadow).
    fn queue_subscribe(
        &mut self,
        now: Instant,
        ck: Key,
        req: &SubscriptionRequest,
    ) -> Result<(Key, bool), Refusal> {
        let durable = !req.durable_name.is_empty();
        let name = if durable {
            format!("{}:{}", req.durable_name, req.q_group)
        } else {
            req.q_group.clone()
        };
        let existing = self
            .channels
            .get(ck)
            .and_then(|c| c.groups.get(&name))
            .copied();
        let gk = match existing {
            Some(gk) => {
                let shadowed = self.groups.get(gk).is_some_and(|g| g.shadow.is_some());
                if !shadowed {
                    self.check_max_subs(ck)?;
                }
                gk
            }
            None => {
                self.check_max_subs(ck)?;
                let channel = self
                    .channels
                    .get(ck)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                let last_sent = self.start_last_sent(now, &channel, req);
                let gk = self.groups.insert(Group {
                    name: name.clone(),
                    durable,
                    members: Vec::new(),
                    last_sent,
                    redeliveries: BTreeMap::new(),
                    shadow: None,
                });
                if let Some(ch) = self.channels.get_mut(ck) {
                    ch.groups.insert(name, gk);
                }
                gk
            }
        };
        let last_sent = self.groups.get(gk).map_or(0, |g| g.last_sent);
        let sk = self.new_sub(ck, req, Some(gk), last_sent);
        let shadow = self.groups.get_mut(gk).and_then(|g| {
            g.members.push(sk);
            g.shadow.take()
        });
        self.timers.cancel(TimerKey::Inactivity(ck));
        let mut resumed = false;
        if let Some(shadow) = shadow {
            // The new member inherits the durable group's unacked messages.
            if self.subs.get(shadow).is_some() {
                self.persist_sub(shadow, SubChange::Delete);
            }
            if let Some(old) = self.subs.remove(shadow) {
                self.timers.cancel(TimerKey::Redelivery(shadow));
                let seqs: Vec<u64> = old.pending.keys().copied().collect();
                if let Some(sub) = self.subs.get_mut(sk) {
                    sub.pending = old.pending;
                    resumed = !sub.pending.is_empty();
                }
                for seq in seqs {
                    self.persist_seq(sk, SeqChange::Sent, seq);
                }
            }
        }
        Ok((sk, resumed))
    }

    pub(super) fn handle_unsubscribe(
        &mut self,
        now: Instant,
        msg: InboundMessage,
        unsubscribe: bool,
    ) {
        let reply = msg.reply.as_ref();
        let what = if unsubscribe {
            "unsubscribe"
        } else {
            "subscription close"
        };
        let Some(req) = decode::<UnsubscribeRequest>(&msg.payload) else {
            return self.sub_refused(reply, what, Refusal::InvalidUnsubRequest);
        };
        let Some(&ck) = self.channel_names.get(&req.subject) else {
            return self.sub_refused(reply, what, Refusal::UnknownChannel);
        };
        let by_ack = self
            .sub_inboxes
            .get(req.inbox.as_bytes())
            .copied()
            .filter(|k| self.subs.get(*k).is_some_and(|s| s.channel == ck));
        let found = by_ack.or_else(|| {
            self.subs
                .iter()
                .find(|(_, s)| s.channel == ck && !s.offline && s.inbox == req.inbox.as_bytes())
                .map(|(k, _)| k)
        });
        let Some(sk) = found else {
            return self.sub_refused(reply, what, Refusal::InvalidSubscription);
        };
        if self
            .subs
            .get(sk)
            .is_some_and(|s| s.client_id != req.client_id)
        {
            return self.sub_refused(reply, what, Refusal::UnknownClient);
        }
        self.remove_sub(now, sk, unsubscribe);
        self.respond(reply, &SubscriptionResponse::default());
    }

    /// Removes (`unsubscribe`, or not durable) or closes (durables go
    /// offline) a subscription.
    pub(super) fn remove_sub(&mut self, now: Instant, sk: Key, unsubscribe: bool) {
        let Some(sub) = self.subs.get(sk) else { return };
        let (ck, group, ack_sid, was_offline) = (sub.channel, sub.group, sub.ack_sid, sub.offline);
        let client_id = sub.client_id.clone();
        let durable = sub.is_durable();
        if ack_sid != 0 {
            self.unsubscribe(ack_sid);
        }
        if let Some(sub) = self.subs.get_mut(sk) {
            let ack_inbox = std::mem::take(&mut sub.ack_inbox);
            self.sub_inboxes.remove(&ack_inbox);
        }
        if let Some(c) = self
            .client_ids
            .get(&client_id)
            .and_then(|k| self.clients.get_mut(*k))
        {
            c.subs.retain(|k| *k != sk);
        }
        self.timers.cancel(TimerKey::Redelivery(sk));
        let channel = self
            .channels
            .get(ck)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let mut closed = false;
        match group {
            Some(gk) => closed = self.leave_group(now, gk, sk, ck, unsubscribe),
            None if durable && !unsubscribe => {
                if let Some(sub) = self.subs.get_mut(sk) {
                    sub.offline = true;
                    sub.ack_sid = 0;
                    sub.inbox = Bytes::new();
                }
                if !was_offline {
                    self.persist_sub(sk, SubChange::Update);
                }
                closed = true;
            }
            None => {
                self.persist_sub(sk, SubChange::Delete);
                if let Some(ch) = self.channels.get_mut(ck) {
                    ch.subs.retain(|k| *k != sk);
                    ch.durables.retain(|_, k| *k != sk);
                }
                self.subs.remove(sk);
            }
        }
        if !was_offline {
            self.events.push_back(ServerEvent::Unsubscribed {
                client_id,
                channel,
                closed,
            });
            self.sub_left_channel(now, ck);
        }
    }

    /// A member leaves its group. Returns whether it stays as the durable
    /// group's shadow.
    fn leave_group(&mut self, now: Instant, gk: Key, sk: Key, ck: Key, unsubscribe: bool) -> bool {
        let becomes_shadow = self.groups.get(gk).is_some_and(|g| {
            g.durable
                && !unsubscribe
                && g.shadow.is_none()
                && g.members.iter().all(|m| *m == sk)
                && self.subs.get(sk).is_some_and(|s| !s.offline)
        });
        if !becomes_shadow {
            self.persist_sub(sk, SubChange::Delete);
        }
        let Some(g) = self.groups.get_mut(gk) else {
            self.subs.remove(sk);
            return false;
        };
        if g.shadow == Some(sk) {
            // The shadow itself goes: the durable group is gone.
            g.shadow = None;
        }
        g.members.retain(|k| *k != sk);
        if !g.members.is_empty() {
            // Unacked messages go round-robin to the remaining members,
            // redelivered shortly.
            let members = g.members.clone();
            let Some(sub) = self.subs.remove(sk) else {
                return false;
            };
            for (i, (seq, _)) in sub.pending.into_iter().enumerate() {
                let member = members[i % members.len()];
                if let Some(m) = self.subs.get_mut(member) {
                    m.pending.insert(seq, now);
                    self.timers.set_earliest(
                        TimerKey::Redelivery(member),
                        deadline_after(now, REASSIGN_DELAY),
                    );
                }
                self.persist_seq(member, SeqChange::Sent, seq);
            }
            return false;
        }
        if g.durable
            && !unsubscribe
            && g.shadow.is_none()
            && self.subs.get(sk).is_some_and(|s| !s.offline)
        {
            g.shadow = Some(sk);
            if let Some(sub) = self.subs.get_mut(sk) {
                sub.offline = true;
                sub.ack_sid = 0;
                sub.inbox = Bytes::new();
            }
            self.persist_sub(sk, SubChange::Update);
            return true;
        }
        let name = g.name.clone();
        self.groups.remove(gk);
        if let Some(ch) = self.channels.get_mut(ck) {
            ch.groups.remove(&name);
        }
        self.subs.remove(sk);
        false
    }

    pub(super) fn handle_ack(&mut self, now: Instant, sk: Key, msg: InboundMessage) {
        let Some(ack) = decode::<Ack>(&msg.payload) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(sk) else {
            return;
        };
        let seq = ack.sequence;
        let ck = sub.channel;
        if self.channels.get(ck).is_none_or(|c| c.name != ack.subject) {
            return; // not this subscription's channel: ignored, as Go does
        }
        let Some(sub) = self.subs.get_mut(sk) else {
            return;
        };
        let group = sub.group;
        let acked_here = sub.pending.remove(&seq).is_some();
        let mut unstalled = None;
        if acked_here {
            self.persist_seq(sk, SeqChange::Acked, seq);
        }
        let Some(sub) = self.subs.get_mut(sk) else {
            return;
        };
        if acked_here {
            sub.redeliveries.remove(&seq);
            unstalled = Some(sk);
            if sub.pending.is_empty() {
                self.timers.cancel(TimerKey::Redelivery(sk));
            }
        } else if let Some(gk) = group {
            // A member may ack what the group redelivered to another one.
            let members = self
                .groups
                .get(gk)
                .map(|g| g.members.clone())
                .unwrap_or_default();
            for m in members {
                if let Some(s) = self.subs.get_mut(m) {
                    if s.pending.remove(&seq).is_some() {
                        unstalled = Some(m);
                        self.persist_seq(m, SeqChange::Acked, seq);
                        break;
                    }
                }
            }
        }
        let Some(target) = unstalled else { return };
        if let Some(gk) = group {
            if let Some(g) = self.groups.get_mut(gk) {
                g.redeliveries.remove(&seq);
            }
        }
        self.deliver_after_change(now, target);
    }
}
