//! Routed messages (nats-server's `processMsgResults` route targets and
//! `processInboundRoutedMsg`): a message published here goes once to each
//! route with matching interest, as `RMSG` (or `HMSG` with headers), naming
//! the queue groups whose member this server picked on that route; a
//! message from a route goes to local subscribers only (one hop: never to
//! another route), and to the local members of the queue groups it names.

use std::time::Instant;

use bytes::Bytes;

use super::{Router, GLOBAL_ACCOUNT};
use crate::nats::codec::{self as encode, write_rmsg_line, RouteMsg};
use crate::nats::router::fanout::Outbound;
use crate::nats::router::out;
use crate::nats::router::session::SessionPhase;
use crate::nats::router::{ConnId, LogLevel, LogMessage};

/// A route a message goes to, and the queue groups picked there.
#[derive(Debug)]
pub(crate) struct RouteTarget {
    slot: u32,
    queues: Vec<Bytes>,
}

/// Adds route `slot` to the targets (once), with `queue` when a member of
/// that group was picked on it.
/// True when `slot` was not a target of this message yet (the
/// subscription that made it one is the one whose `msgs` count, as
/// nats-server's `addSubToRouteTargets` keeps the first).
pub(crate) fn add_route_target(
    targets: &mut Vec<RouteTarget>,
    slot: u32,
    queue: Option<&Bytes>,
) -> bool {
    let (target, new) = match targets.iter_mut().position(|t| t.slot == slot) {
        Some(i) => (&mut targets[i], false),
        None => {
            targets.push(RouteTarget {
                slot,
                queues: Vec::new(),
            });
            (targets.last_mut().expect("just pushed"), true)
        }
    };
    if let Some(q) = queue {
        if !target.queues.contains(q) {
            target.queues.push(q.clone());
        }
    }
    new
}

impl Router {
    /// Writes `msg` to every route target. Returns the most backed-up
    /// route past half of `max_pending` when the publisher can be stalled
    /// (a route is a consumer like any other).
    pub(in crate::nats::router) fn forward_to_routes(
        &mut self,
        msg: &Outbound<'_>,
        stallable: bool,
    ) -> Option<(ConnId, usize)> {
        let targets = std::mem::take(&mut self.route_targets);
        let mut stall_on: Option<(ConnId, usize)> = None;
        let max_pending = self.config.max_pending;
        for t in &targets {
            let Some(session) = self.slots[t.slot as usize].session.as_mut() else {
                continue;
            };
            if session.phase == SessionPhase::Closing {
                continue;
            }
            let headers_ok = session.route.as_deref().is_some_and(|r| r.headers);
            let headers = msg.headers().filter(|_| headers_ok);
            let payload = msg.payload();
            let size = headers.map_or(0, <[u8]>::len) + payload.len();
            session.stats.out_msgs += 1;
            session.stats.out_bytes += size as u64;
            let Some(out) = session.wire_out() else {
                continue;
            };
            out.write_with(|b| {
                write_rmsg_line(
                    b,
                    GLOBAL_ACCOUNT,
                    msg.subject(),
                    msg.reply(),
                    &t.queues,
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
            let pending = session.pending();
            let conn = ConnId {
                slot: t.slot,
                gen: self.slots[t.slot as usize].gen,
            };
            if pending > max_pending {
                self.overflowing.push(t.slot);
            } else if stallable
                && pending > max_pending / 2
                && stall_on.is_none_or(|(_, most)| pending > most)
            {
                stall_on = Some((conn, pending));
            }
            if self.config.trace {
                let text = format!(
                    "RMSG $G {} {}",
                    String::from_utf8_lossy(msg.subject()),
                    size
                );
                self.log(t.slot, LogLevel::Trace, LogMessage::TraceOut(text));
            }
            self.signal(t.slot);
        }
        self.route_targets = targets;
        self.route_targets.clear();
        stall_on
    }

    /// Emits `OutputReady` for `slot` unless already signalled.
    fn signal(&mut self, slot: u32) {
        let gen = self.slots[slot as usize].gen;
        if let Some(s) = self.slots[slot as usize].session.as_mut() {
            if !s.signalled {
                s.signalled = true;
                self.events
                    .push_back(crate::nats::router::RouterEvent::OutputReady(ConnId {
                        slot,
                        gen,
                    }));
            }
        }
    }

    /// An `RMSG`/`HMSG` from route `slot`.
    pub(super) fn process_routed_msg(&mut self, now: Instant, slot: u32, m: &RouteMsg) {
        if m.account() != GLOBAL_ACCOUNT {
            if self.config.debug {
                let text = format!(
                    "Unknown account {:?} for routed message on subject: {:?}",
                    String::from_utf8_lossy(m.account()),
                    String::from_utf8_lossy(m.frame().subject())
                );
                self.log(slot, LogLevel::Debug, LogMessage::Route(text));
            }
            return;
        }
        self.publish_from(now, slot, &Outbound::Frame(m.frame()), Some(m));
    }
}
