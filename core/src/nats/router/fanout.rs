//! Routing one message to its subscribers: the message as it arrives
//! (a decoded frame, or parts handed over in process) and the delivery to
//! each matching subscription.

use std::collections::VecDeque;

use bytes::Bytes;

use super::index::SubKey;
use super::log::{msg_line_text, LogLevel, LogMessage, LogRecord};
use super::out;
use super::route::{add_route_target, RouteTarget};
use super::routing::Subscription;
use super::session::{Delivery, SessionPhase, Transport};
use super::{ConnId, RouterEvent, RouterStats, Slot};
use crate::nats::codec::{self as encode, MsgFrame};
use crate::rand::SeededRng;

/// A message being routed: a decoded frame, or parts handed over in process.
pub(super) enum Outbound<'a> {
    Frame(&'a MsgFrame),
    Parts {
        subject: &'a Bytes,
        reply: Option<&'a Bytes>,
        headers: Option<&'a Bytes>,
        payload: &'a Bytes,
    },
}

impl Outbound<'_> {
    #[inline]
    pub(super) fn subject(&self) -> &[u8] {
        match self {
            Outbound::Frame(f) => f.subject(),
            Outbound::Parts { subject, .. } => subject,
        }
    }

    #[inline]
    pub(super) fn reply(&self) -> Option<&[u8]> {
        match self {
            Outbound::Frame(f) => f.reply(),
            Outbound::Parts { reply, .. } => reply.map(|r| &r[..]),
        }
    }

    #[inline]
    pub(super) fn headers(&self) -> Option<&[u8]> {
        match self {
            Outbound::Frame(f) => f.headers(),
            Outbound::Parts { headers, .. } => headers.map(|h| &h[..]),
        }
    }

    #[inline]
    pub(super) fn payload(&self) -> &[u8] {
        match self {
            Outbound::Frame(f) => f.payload(),
            Outbound::Parts { payload, .. } => payload,
        }
    }

    pub(super) fn size(&self) -> usize {
        self.headers().map_or(0, <[u8]>::len) + self.payload().len()
    }

    pub(super) fn subject_bytes(&self) -> Bytes {
        match self {
            Outbound::Frame(f) => f.subject_bytes(),
            Outbound::Parts { subject, .. } => (*subject).clone(),
        }
    }

    pub(super) fn reply_bytes(&self) -> Option<Bytes> {
        match self {
            Outbound::Frame(f) => f.reply_bytes(),
            Outbound::Parts { reply, .. } => reply.cloned(),
        }
    }

    pub(super) fn headers_bytes(&self) -> Option<Bytes> {
        match self {
            Outbound::Frame(f) => f.headers_bytes(),
            Outbound::Parts { headers, .. } => headers.cloned(),
        }
    }

    pub(super) fn payload_bytes(&self) -> Bytes {
        match self {
            Outbound::Frame(f) => f.payload_bytes(),
            Outbound::Parts { payload, .. } => (*payload).clone(),
        }
    }
}

/// The parts of the router a delivery touches (everything but the index,
/// which is borrowed for the match result meanwhile).
pub(super) struct Fanout<'r> {
    pub(super) subs: &'r mut Vec<Option<Subscription>>,
    pub(super) slots: &'r mut Vec<Slot>,
    pub(super) events: &'r mut VecDeque<RouterEvent>,
    pub(super) stats: &'r mut RouterStats,
    pub(super) expired: &'r mut Vec<SubKey>,
    pub(super) overflowing: &'r mut Vec<u32>,
    pub(super) max_pending: usize,
    /// Whether the publisher is a client that can be stalled.
    pub(super) stallable: bool,
    /// The most backed-up consumer past half of `max_pending` this message
    /// went to, and its pending bytes.
    pub(super) stall_on: Option<(ConnId, usize)>,
    /// Whether deliveries are traced.
    pub(super) trace: bool,
    /// Whether the message came from a route (never sent to another one).
    pub(super) from_route: bool,
    /// The routes this message goes to, with the queue groups chosen there.
    pub(super) route_targets: &'r mut Vec<RouteTarget>,
}

impl Fanout<'_> {
    /// A member of a queue group to try first, drawn with each member's
    /// weight (a route's member stands for its server's members, as
    /// nats-server expands a remote queue subscription by its weight).
    pub(super) fn weighted_pick(&self, members: &[SubKey], rng: &mut SeededRng) -> usize {
        let weight = |k: SubKey| {
            self.subs[k as usize]
                .as_ref()
                .map_or(1, |s| s.weight.max(1) as usize)
        };
        let total: usize = members.iter().map(|&k| weight(k)).sum();
        let mut r = rng.below(total.max(1));
        for (i, &k) in members.iter().enumerate() {
            let w = weight(k);
            if r < w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// The session slot owning subscription `key`.
    #[inline]
    pub(super) fn owner(&self, key: SubKey) -> Option<u32> {
        self.subs[key as usize].as_ref().map(|s| s.slot)
    }

    /// Delivers to one subscription; false when it could not take it.
    #[inline]
    pub(super) fn deliver(&mut self, key: SubKey, msg: &Outbound<'_>) -> bool {
        let Some(sub) = self.subs[key as usize].as_mut() else {
            return false;
        };
        if sub.max.is_some_and(|m| sub.delivered >= m) {
            return false;
        }
        let slot = sub.slot;
        let entry = &mut self.slots[slot as usize];
        let gen = entry.gen;
        let Some(session) = entry.session.as_mut() else {
            return false;
        };
        if session.phase == SessionPhase::Closing {
            return false;
        }
        if session.route.is_some() {
            // One RMSG per route, after the local deliveries; never from
            // a route to another one.
            if self.from_route {
                return false;
            }
            if add_route_target(self.route_targets, slot, sub.queue.as_ref()) {
                sub.delivered += 1;
            }
            return true;
        }
        sub.delivered += 1;
        if sub.max.is_some_and(|m| sub.delivered >= m) {
            self.expired.push(key);
        }
        let headers = msg.headers().filter(|_| session.flags.headers);
        let payload = msg.payload();
        let size = (headers.map_or(0, <[u8]>::len) + payload.len()) as u64;
        session.stats.out_msgs += 1;
        session.stats.out_bytes += size;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += size;
        match &mut session.transport {
            Transport::Wire { out, .. } => {
                out.write_with(|b| {
                    encode::write_msg_line(
                        b,
                        msg.subject(),
                        &sub.sid,
                        msg.reply(),
                        headers.map(<[u8]>::len),
                        payload.len(),
                    );
                    if let Some(h) = headers {
                        b.extend_from_slice(h);
                    }
                    if payload.len() < out::PASS_THROUGH {
                        b.extend_from_slice(payload);
                        b.extend_from_slice(encode::CRLF);
                    }
                });
                if payload.len() >= out::PASS_THROUGH {
                    out.put_chunk(msg.payload_bytes());
                    out.put(encode::CRLF);
                }
            }
            Transport::Local { queue, pending } => {
                let d = Delivery {
                    subject: msg.subject_bytes(),
                    sid: sub.sid.clone(),
                    reply: msg.reply_bytes(),
                    headers: if headers.is_some() {
                        msg.headers_bytes()
                    } else {
                        None
                    },
                    payload: msg.payload_bytes(),
                };
                *pending += d.weight();
                queue.push_back(d);
            }
        }
        let conn = ConnId { slot, gen };
        if self.trace && session.is_wire() {
            self.events.push_back(RouterEvent::Log(LogRecord {
                level: LogLevel::Trace,
                conn,
                client: session.log_prefix(),
                message: LogMessage::TraceOut(msg_line_text(msg, &sub.sid, headers.is_some())),
            }));
        }
        let pending = session.pending();
        if pending > self.max_pending && session.is_wire() {
            self.overflowing.push(slot);
            return true;
        }
        if self.stallable
            && pending > self.max_pending / 2
            && self.stall_on.is_none_or(|(_, most)| pending > most)
        {
            self.stall_on = Some((conn, pending));
        }
        if !session.signalled {
            session.signalled = true;
            self.events.push_back(RouterEvent::OutputReady(conn));
        }
        true
    }
}
