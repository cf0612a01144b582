//! Publishing: a [`PubId`] and a GUID per message, the PubAck window and
//! the bounded FIFO queue behind it, PubAck timeouts (in send order: the
//! wait is the same for every publish), and failing what is outstanding
//! when the connection ends.
//!
//! Invariants: a publish is queued only while the window is full, and the
//! queue is drained as soon as the window has room, so publishes are sent
//! in [`PubId`] order and everything in flight precedes everything queued.

use std::time::Instant;

use bytes::Bytes;
use stan_proto::{Message, PubAck};

use super::{ClientError, ClientEvent, Phase, PubId, Session, Timer};
use crate::nats::{InboundMessage, NatsCommand};
use crate::nuid::NUID_LEN;
use crate::time::deadline_after;

/// A publish's GUID: a NUID's ASCII bytes (kept without allocating).
pub(super) type Guid = [u8; NUID_LEN];

/// A publish waiting in the queue for room in the PubAck window.
#[derive(Debug)]
pub(super) struct Queued {
    id: PubId,
    /// The NATS subject, `<pub_prefix>.<channel>` (built once, sent as is).
    subject: Bytes,
    /// Where the channel starts in `subject`.
    channel_at: usize,
    data: Bytes,
}

/// A sent publish awaiting its PubAck (kept in send order).
#[derive(Debug)]
pub(super) struct InFlight {
    /// When its PubAck wait ends.
    pub(super) deadline: Instant,
    id: PubId,
    guid: Guid,
}

impl Session {
    /// Publishes `data` to `channel`; returns the id its
    /// [`ClientEvent::PubAck`] will carry.
    ///
    /// The publish is sent at once while fewer than
    /// `max_pub_acks_in_flight` publishes await their PubAck; otherwise it
    /// waits in a queue of at most `max_queued_publishes`, and is sent, in
    /// order, as PubAcks (or PubAck timeouts) free the window (its PubAck
    /// wait starts then). With the window and the queue both full it is
    /// refused with [`ClientError::TooManyPubAcksInFlight`]
    /// ([`can_publish`](Self::can_publish) tells beforehand). Before the
    /// session is connected it is refused with
    /// [`ClientError::NotConnected`], after with
    /// [`ClientError::ConnectionClosed`].
    pub fn publish(
        &mut self,
        now: Instant,
        channel: &str,
        data: Bytes,
    ) -> Result<PubId, ClientError> {
        let now = self.advance(now);
        let prefix = &self.response()?.pub_prefix;
        let send_now = self.window_open();
        if !send_now && self.pub_queue.len() >= self.options.max_queued_publishes {
            return Err(ClientError::TooManyPubAcksInFlight);
        }
        let mut subject = String::with_capacity(prefix.len() + 1 + channel.len());
        subject.push_str(prefix);
        subject.push('.');
        let channel_at = subject.len();
        subject.push_str(channel);
        let id = PubId(self.next_pub);
        self.next_pub += 1;
        let publish = Queued {
            id,
            subject: Bytes::from(subject),
            channel_at,
            data,
        };
        if send_now {
            self.send_publish(now, publish);
            self.rearm_pub_ack();
        } else {
            self.pub_queue.push_back(publish);
        }
        Ok(id)
    }

    /// Whether a [`publish`](Self::publish) now would be accepted (sent or
    /// queued): the session is connected and the PubAck window or the
    /// queue has room.
    pub fn can_publish(&self) -> bool {
        self.response().is_ok()
            && (self.window_open() || self.pub_queue.len() < self.options.max_queued_publishes)
    }

    /// Publishes awaiting their PubAck (sent, not yet answered).
    pub fn pub_acks_in_flight(&self) -> usize {
        self.pub_pending.len()
    }

    /// Publishes queued behind a full PubAck window (not sent yet).
    pub fn queued_publishes(&self) -> usize {
        self.pub_queue.len()
    }

    /// Whether a publish may be sent now: nothing queued before it and
    /// room in the window.
    fn window_open(&self) -> bool {
        self.pub_queue.is_empty()
            && self.pub_pending.len() < self.options.max_pub_acks_in_flight.max(1)
    }

    /// Sends `publish` with a fresh GUID and starts its PubAck wait (the
    /// caller rearms [`Timer::PubAck`]).
    fn send_publish(&mut self, now: Instant, publish: Queued) {
        let guid: Guid = self.nuid.next_bytes();
        // The message template keeps the client and connection IDs and the
        // strings' capacity from one publish to the next.
        let msg = &mut self.pub_msg;
        msg.guid.clear();
        msg.guid.extend(guid.iter().map(|&b| char::from(b)));
        let channel = publish
            .subject
            .get(publish.channel_at..)
            .unwrap_or_default();
        msg.subject.clear();
        msg.subject.push_str(&String::from_utf8_lossy(channel));
        msg.data = publish.data;
        let payload = Bytes::from(msg.encode_to_vec());
        msg.data = Bytes::new();
        let deadline = deadline_after(now, self.options.pub_ack_wait);
        self.pub_pending.insert(guid, publish.id);
        self.pub_deadlines.push_back(InFlight {
            deadline,
            id: publish.id,
            guid,
        });
        self.commands.push_back(NatsCommand::Publish {
            subject: publish.subject,
            reply: Some(self.ack_subject.clone()),
            payload,
        });
    }

    /// Sends queued publishes, in order, while the window has room; whether
    /// any was sent.
    fn send_queued(&mut self, now: Instant) -> bool {
        let mut sent = false;
        while self.phase == Phase::Connected
            && self.pub_pending.len() < self.options.max_pub_acks_in_flight.max(1)
        {
            let Some(publish) = self.pub_queue.pop_front() else {
                break;
            };
            self.send_publish(now, publish);
            sent = true;
        }
        sent
    }

    /// Fails every publish whose PubAck wait ended by `now`, sending queued
    /// ones in their place (which may time out at once with a zero wait).
    pub(super) fn expire_publishes(&mut self, now: Instant) {
        loop {
            while self
                .pub_deadlines
                .front()
                .is_some_and(|entry| entry.deadline <= now)
            {
                let Some(entry) = self.pub_deadlines.pop_front() else {
                    break;
                };
                if self.pub_pending.get(&entry.guid) == Some(&entry.id) {
                    self.pub_pending.remove(&entry.guid);
                    self.events.push_back(ClientEvent::PubAck {
                        id: entry.id,
                        result: Err(ClientError::PubAckTimeout),
                    });
                }
            }
            if !self.send_queued(now) {
                break;
            }
        }
        self.rearm_pub_ack();
    }

    /// Keeps [`Timer::PubAck`] at the oldest live publish's deadline (the
    /// wait is the same for every publish, so they expire in order).
    pub(super) fn rearm_pub_ack(&mut self) {
        let front = self.pub_deadlines.front().map(|entry| entry.deadline);
        self.timers.set_opt(Timer::PubAck, front);
    }

    pub(super) fn handle_pub_ack(&mut self, now: Instant, msg: InboundMessage) {
        let Ok(ack) = PubAck::decode(msg.payload) else {
            return;
        };
        let Ok(guid) = Guid::try_from(ack.guid.as_bytes()) else {
            return; // not one of ours
        };
        let Some(id) = self.pub_pending.remove(&guid) else {
            return; // unknown, late (timed out) or duplicate
        };
        // Acked entries at the front are done with: keep the front live so
        // `poll_timeout` does not wake for them.
        while self
            .pub_deadlines
            .front()
            .is_some_and(|entry| self.pub_pending.get(&entry.guid) != Some(&entry.id))
        {
            self.pub_deadlines.pop_front();
        }
        let result = if ack.error.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Server(ack.error))
        };
        self.events.push_back(ClientEvent::PubAck { id, result });
        self.send_queued(now);
        self.rearm_pub_ack();
    }

    /// Fails every publish in flight, then every queued one (so in id
    /// order), with `ConnectionClosed`.
    pub(super) fn fail_publishes(&mut self) {
        for entry in std::mem::take(&mut self.pub_deadlines) {
            if self.pub_pending.get(&entry.guid) == Some(&entry.id) {
                self.events.push_back(ClientEvent::PubAck {
                    id: entry.id,
                    result: Err(ClientError::ConnectionClosed),
                });
            }
        }
        self.pub_pending.clear();
        for publish in std::mem::take(&mut self.pub_queue) {
            self.events.push_back(ClientEvent::PubAck {
                id: publish.id,
                result: Err(ClientError::ConnectionClosed),
            });
        }
        self.timers.cancel(Timer::PubAck);
    }
}
