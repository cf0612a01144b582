//! Publishing: a GUID per message, the PubAck window, PubAck timeouts (in
//! publish order: the wait is the same for every publish), and failing
//! what is outstanding when the connection ends.

use std::time::Instant;

use bytes::Bytes;
use stan_proto::{Message, PubAck, PubMsg};

use super::{ClientError, ClientEvent, Session, Timer};
use crate::nats::{InboundMessage, NatsCommand};
use crate::time::deadline_after;

impl Session {
    /// Publishes `data` to `channel`; returns the GUID its
    /// [`ClientEvent::PubAck`] will carry.
    pub fn publish(
        &mut self,
        now: Instant,
        channel: &str,
        data: Bytes,
    ) -> Result<String, ClientError> {
        let now = self.advance(now);
        let prefix = self.response()?.pub_prefix.clone();
        if self.pub_pending.len() >= self.options.max_pub_acks_in_flight.max(1) {
            return Err(ClientError::TooManyPubAcksInFlight);
        }
        let guid = self.nuid.next_id();
        let msg = PubMsg {
            client_id: self.options.client_id.clone(),
            guid: guid.clone(),
            subject: channel.to_owned(),
            data,
            conn_id: self.conn_id.clone(),
            ..PubMsg::default()
        };
        let mut subject = String::with_capacity(prefix.len() + 1 + channel.len());
        subject.push_str(&prefix);
        subject.push('.');
        subject.push_str(channel);
        let serial = self.next_serial;
        self.next_serial += 1;
        let deadline = deadline_after(now, self.options.pub_ack_wait);
        self.pub_pending.insert(guid.clone(), serial);
        if self.pub_deadlines.is_empty() {
            self.timers.set(Timer::PubAck, deadline);
        }
        self.pub_deadlines
            .push_back((deadline, serial, guid.clone()));
        self.commands.push_back(NatsCommand::Publish {
            subject: Bytes::from(subject),
            reply: Some(self.ack_subject.clone()),
            payload: Bytes::from(msg.encode_to_vec()),
        });
        Ok(guid)
    }

    /// Fails every publish whose PubAck wait ended by `now`.
    pub(super) fn expire_publishes(&mut self, now: Instant) {
        while self
            .pub_deadlines
            .front()
            .is_some_and(|(at, _, _)| *at <= now)
        {
            let Some((_, serial, guid)) = self.pub_deadlines.pop_front() else {
                break;
            };
            if self.pub_pending.get(&guid) == Some(&serial) {
                self.pub_pending.remove(&guid);
                self.events.push_back(ClientEvent::PubAck {
                    guid,
                    result: Err(ClientError::PubAckTimeout),
                });
            }
        }
        self.rearm_pub_ack();
    }

    /// Keeps [`Timer::PubAck`] at the oldest live publish's deadline (the
    /// wait is the same for every publish, so they expire in order).
    pub(super) fn rearm_pub_ack(&mut self) {
        let front = self.pub_deadlines.front().map(|(at, _, _)| *at);
        self.timers.set_opt(Timer::PubAck, front);
    }

    pub(super) fn handle_pub_ack(&mut self, msg: InboundMessage) {
        let Ok(ack) = PubAck::decode(msg.payload) else {
            return;
        };
        if self.pub_pending.remove(&ack.guid).is_none() {
            return; // unknown, late (timed out) or duplicate
        }
        // Acked entries at the front are done with: keep the front live so
        // `poll_timeout` does not wake for them.
        while self
            .pub_deadlines
            .front()
            .is_some_and(|(_, serial, guid)| self.pub_pending.get(guid) != Some(serial))
        {
            self.pub_deadlines.pop_front();
        }
        self.rearm_pub_ack();
        let result = if ack.error.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Server(ack.error))
        };
        self.events.push_back(ClientEvent::PubAck {
            guid: ack.guid,
            result,
        });
    }

    pub(super) fn fail_publishes(&mut self) {
        for (_, serial, guid) in std::mem::take(&mut self.pub_deadlines) {
            if self.pub_pending.get(&guid) == Some(&serial) {
                self.events.push_back(ClientEvent::PubAck {
                    guid,
                    result: Err(ClientError::ConnectionClosed),
                });
            }
        }
        self.pub_pending.clear();
        self.timers.cancel(Timer::PubAck);
    }
}
