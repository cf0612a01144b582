//! Publishes and channels: validation, sequencing, group commit, PubAcks,
//! channel creation, max-age expiry and max-inactivity deletion (docs/protocol.md
//! B.7, C.1 to C.4).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{MsgProto, PubMsg};

use super::errors::Refusal;
use super::slab::Key;
use super::state::Channel;
use super::timers::TimerKey;
use super::{decode, Out, Server, ServerEvent};
use crate::nats::InboundMessage;
use crate::stan::names::is_valid_channel;
use crate::stan::store::{Store, StoredMsg};
use crate::time::deadline_after;

impl<S: Store> Server<S> {
    pub(super) fn handle_publish(&mut self, now: Instant, msg: InboundMessage) {
        let Some(reply) = msg.reply.clone() else {
            // Without a reply subject nobody can learn the outcome, but a
            // valid message is still stored, as the Go server does.
            if let Some(pm) = decode::<PubMsg>(&msg.payload) {
                let _ = self.store_publish(now, &pm, msg.payload.len());
            }
            return;
        };
        let Some(pm) = decode::<PubMsg>(&msg.payload) else {
            return self.pub_refused(reply, String::new(), Refusal::InvalidPubRequest);
        };
        match self.store_publish(now, &pm, msg.payload.len()) {
            Ok(()) => self.batch_acks.push((reply, pm.guid)),
            Err(error) => self.pub_refused(reply, pm.guid, error),
        }
    }

    fn pub_refused(&mut self, reply: Bytes, guid: String, error: Refusal) {
        self.refused("publish", error.clone());
        // Sent after the batch so PubAcks keep the order of the publishes.
        self.batch_acks.push((reply, guid));
        self.batch_errors.insert(self.batch_acks.len() - 1, error);
    }

    /// Validates and stores one publish; the error is the PubAck text.
    fn store_publish(&mut self, now: Instant, pm: &PubMsg, size: usize) -> Result<(), Refusal> {
        if pm.guid.is_empty() || !is_valid_channel(&pm.subject) {
            return Err(Refusal::InvalidPubRequest);
        }
        let known = if pm.conn_id.is_empty() {
            self.client_ids.contains_key(&pm.client_id)
        } else {
            self.conn_ids
                .get(&pm.conn_id)
                .and_then(|k| self.clients.get(*k))
                .is_some_and(|c| c.id == pm.client_id)
        };
        if !known {
            return Err(Refusal::InvalidPubRequest);
        }
        let ck = self.channel(now, &pm.subject)?;
        let unix = self.unix_at(now);
        let Some(ch) = self.channels.get_mut(ck) else {
            return Err(Refusal::InvalidPubRequest);
        };
        let last = self.store.stats(&ch.name).map_or(0, |s| s.last_seq);
        let timestamp = unix.max(ch.last_timestamp);
        let stored = StoredMsg::encode(&MsgProto {
            sequence: last + 1,
            subject: pm.subject.clone(),
            reply: pm.reply.clone(),
            data: pm.data.clone(),
            timestamp,
            ..MsgProto::default()
        });
        self.store.append(&ch.name, stored)?;
        ch.last_timestamp = timestamp;
        ch.last_activity = now;
        let max_age = ch.limits.max_age;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += size as u64;
        if !self.batch_channels.contains(&ck) {
            self.batch_channels.push(ck);
        }
        if !max_age.is_zero() && !self.timers.is_armed(TimerKey::MaxAge(ck)) {
            self.timers
                .set(TimerKey::MaxAge(ck), deadline_after(now, max_age));
        }
        Ok(())
    }

    /// Queues the deliveries of the publishes stored so far, then their
    /// PubAcks (released once the store has made them durable).
    pub(super) fn commit(&mut self, now: Instant) {
        if self.batch_acks.is_empty() && self.batch_channels.is_empty() {
            return;
        }
        if !self.batch_channels.is_empty() {
            self.stats.flushes += 1;
            if let Err(error) = self.store.flush() {
                self.events.push_back(ServerEvent::StoreFailed { error });
            }
        }
        let channels = std::mem::take(&mut self.batch_channels);
        for &ck in &channels {
            self.deliver_channel(now, ck);
        }
        self.batch_channels = channels;
        self.batch_channels.clear();
        let acks = std::mem::take(&mut self.batch_acks);
        let mut errors = std::mem::take(&mut self.batch_errors);
        let mark = self.store.write_mark();
        for (i, (reply, guid)) in acks.into_iter().enumerate() {
            let error = errors
                .remove(&i)
                .map(|refusal| refusal.to_string())
                .unwrap_or_default();
            if self.config.trace {
                self.events.push_back(ServerEvent::Trace {
                    direction: "->",
                    subject: String::from_utf8_lossy(&reply).into_owned(),
                    reply: String::new(),
                    size: guid.len() + error.len() + 4,
                });
            }
            if error.is_empty() {
                self.commands
                    .push_back((mark, Out::PubAck { reply, guid, error }));
            } else {
                // Refused: nothing to wait for.
                self.immediate.push_back(super::pub_ack(reply, guid, error));
            }
        }
    }

    /// The channel named `name`, created (with its limits) if new.
    pub(super) fn channel(&mut self, now: Instant, name: &str) -> Result<Key, Refusal> {
        if let Some(&key) = self.channel_names.get(name) {
            return Ok(key);
        }
        let folded = name.to_lowercase();
        if let Some(existing) = self.channel_folded.get(&folded) {
            return Err(Refusal::ChannelCaseCollision {
                channel: name.to_owned(),
                existing: existing.clone(),
            });
        }
        let limits = self.config.limits.for_channel(name);
        self.store.create_channel(name, limits)?;
        let key = self.channels.insert(Channel {
            name: name.to_owned(),
            limits,
            subs: Vec::new(),
            groups: BTreeMap::new(),
            durables: BTreeMap::new(),
            last_timestamp: 0,
            last_activity: now,
            next_sub_id: 1,
        });
        self.channel_names.insert(name.to_owned(), key);
        self.channel_folded.insert(folded, name.to_owned());
        if !limits.max_inactivity.is_zero() {
            self.timers.set(
                TimerKey::Inactivity(key),
                deadline_after(now, limits.max_inactivity),
            );
        }
        self.events.push_back(ServerEvent::ChannelCreated {
            channel: name.to_owned(),
        });
        Ok(key)
    }

    pub(super) fn expire_channel(&mut self, now: Instant, ck: Key) {
        let unix = self.unix_at(now);
        let Some(ch) = self.channels.get(ck) else {
            return;
        };
        if let Some(next) = self.store.expire(&ch.name, unix) {
            let wait = u64::try_from(next.saturating_sub(unix)).unwrap_or(0);
            self.timers.set(
                TimerKey::MaxAge(ck),
                deadline_after(now, Duration::from_nanos(wait)),
            );
        }
    }

    pub(super) fn check_inactivity(&mut self, now: Instant, ck: Key) {
        let Some(ch) = self.channels.get(ck) else {
            return;
        };
        if self.has_active_subs(ck) {
            return; // re-armed when the last active subscription leaves
        }
        let due = deadline_after(ch.last_activity, ch.limits.max_inactivity);
        if due > now {
            self.timers.set(TimerKey::Inactivity(ck), due);
            return;
        }
        self.delete_channel(now, ck);
    }

    fn has_active_subs(&self, ck: Key) -> bool {
        let Some(ch) = self.channels.get(ck) else {
            return false;
        };
        ch.subs
            .iter()
            .any(|k| self.subs.get(*k).is_some_and(|s| !s.offline))
            || ch
                .groups
                .values()
                .any(|g| self.groups.get(*g).is_some_and(|g| !g.members.is_empty()))
    }

    /// After an active subscription left `ck`: start the inactivity clock.
    pub(super) fn sub_left_channel(&mut self, now: Instant, ck: Key) {
        let Some(ch) = self.channels.get_mut(ck) else {
            return;
        };
        if ch.limits.max_inactivity.is_zero() {
            return;
        }
        let mi = ch.limits.max_inactivity;
        if !self.has_active_subs(ck) {
            if let Some(ch) = self.channels.get_mut(ck) {
                ch.last_activity = now;
            }
            self.timers
                .set(TimerKey::Inactivity(ck), deadline_after(now, mi));
        }
    }

    /// Deletes a channel with its messages and every subscription (offline
    /// durables included).
    fn delete_channel(&mut self, now: Instant, ck: Key) {
        let subs: Vec<Key> = self
            .subs
            .iter()
            .filter(|(_, s)| s.channel == ck)
            .map(|(k, _)| k)
            .collect();
        for sub in subs {
            self.remove_sub(now, sub, true);
        }
        let Some(Channel { name, .. }) = self.channels.remove(ck) else {
            return;
        };
        self.channel_names.remove(&name);
        self.channel_folded.remove(&name.to_lowercase());
        let _ = self.store.delete_channel(&name);
        self.timers.cancel(TimerKey::MaxAge(ck));
        self.timers.cancel(TimerKey::Inactivity(ck));
        self.events
            .push_back(ServerEvent::ChannelDeleted { channel: name });
    }
}
