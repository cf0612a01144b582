//! Interest across routes (nats-server's `updateRouteSubscriptionMap`,
//! `sendSubsToRoute`, `processRemoteSub`, `processRemoteUnsub`): the local
//! interest is counted per subject and queue group; a plain subject is
//! announced (`RS+`) when its first local subscription appears and
//! withdrawn (`RS-`) with its last; a queue group is announced again with
//! its new weight (its number of local members) at every change, and
//! withdrawn at zero. What a route announces becomes subscriptions of that
//! route's session, keyed like nats-server keys them (`account subject
//! [queue]`), removed with the session.

use bytes::Bytes;

use super::{Router, GLOBAL_ACCOUNT};
use crate::nats::codec::{write_route_sub, write_route_unsub};
use crate::nats::router::index::SubKey;
use crate::nats::router::routing::Subscription;
use crate::nats::router::{CloseReason, LogLevel, LogMessage};

impl Router {
    /// A local subscription on `subject` (in `queue`) was added or
    /// removed (`delta` of plus or minus one): tells every registered
    /// route when nats-server would.
    pub(in crate::nats::router) fn local_interest_changed(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i32,
    ) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        let key = (
            Bytes::copy_from_slice(subject),
            queue.map(Bytes::copy_from_slice),
        );
        let before = cluster.interest.get(&key).copied().unwrap_or(0);
        let after = if delta >= 0 {
            before + delta as u32
        } else {
            before.saturating_sub(delta.unsigned_abs())
        };
        if after == 0 {
            cluster.interest.remove(&key);
        } else {
            cluster.interest.insert(key, after);
        }
        let announce = if queue.is_some() {
            before != after
        } else {
            (before == 0) != (after == 0)
        };
        if !announce || cluster.remotes.is_empty() {
            return;
        }
        let routes: Vec<u32> = cluster.remotes.values().map(|c| c.slot).collect();
        for slot in routes {
            self.trace_out(slot, || route_sub_text(subject, queue, after));
            self.write_wire(slot, |out| {
                out.write_with(|b| {
                    if after > 0 {
                        write_route_sub(b, GLOBAL_ACCOUNT, subject, queue.map(|q| (q, after)));
                    } else {
                        write_route_unsub(b, GLOBAL_ACCOUNT, subject, queue);
                    }
                });
            });
        }
    }

    /// Sends all local interest to a route that just registered.
    pub(super) fn send_subs_to_route(&mut self, slot: u32) {
        let Some(cluster) = self.cluster.as_deref() else {
            return;
        };
        let mut buf = bytes::BytesMut::new();
        let mut traces = Vec::new();
        for ((subject, queue), &n) in &cluster.interest {
            write_route_sub(
                &mut buf,
                GLOBAL_ACCOUNT,
                subject,
                queue.as_deref().map(|q| (q, n)),
            );
            if self.config.trace {
                traces.push(route_sub_text(subject, queue.as_deref(), n));
            }
        }
        for t in traces {
            self.trace_out(slot, || t);
        }
        if !buf.is_empty() {
            self.write_wire(slot, |out| out.put(&buf));
        }
    }

    /// `RS+` from a route: adds (or reweighs) the route's interest.
    pub(super) fn remote_sub(
        &mut self,
        slot: u32,
        account: &[u8],
        subject: &[u8],
        queue: Option<(Bytes, u32)>,
    ) {
        if account != GLOBAL_ACCOUNT {
            if self.config.debug {
                let text = format!(
                    "Unknown account {:?} for remote subject {:?}",
                    String::from_utf8_lossy(account),
                    String::from_utf8_lossy(subject)
                );
                self.log(slot, LogLevel::Debug, LogMessage::Route(text));
            }
            return;
        }
        if crate::nats::subject::validate_subscribe(subject).is_err() {
            // nats-server: "Could not insert subscription" and -ERR.
            self.log(
                slot,
                LogLevel::Error,
                LogMessage::Route("Could not insert subscription: invalid subject".into()),
            );
            self.send_err(slot, "Invalid Subscription");
            return;
        }
        let sid = route_sid(account, subject, queue.as_ref().map(|(q, _)| &q[..]));
        let weight = queue.as_ref().map_or(1, |(_, w)| *w);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if let Some(&key) = session.sids.get(&sid[..]) {
            if let Some(sub) = self.subs[key as usize].as_mut() {
                sub.weight = weight;
            }
            return;
        }
        let held = session.sids.len();
        let limit = self
            .cluster
            .as_deref()
            .map_or(usize::MAX, |c| c.config.max_route_subscriptions);
        if held >= limit {
            self.log(
                slot,
                LogLevel::Error,
                LogMessage::Route(format!(
                    "Route registered more than {limit} subscriptions: closing it"
                )),
            );
            self.close(slot, CloseReason::MaxSubscriptionsExceeded);
            return;
        }
        let sub = Subscription {
            slot,
            sid: sid.clone(),
            subject: Bytes::copy_from_slice(subject),
            queue: queue.map(|(q, _)| Bytes::copy_from_slice(&q)),
            max: None,
            delivered: 0,
            remote: true,
            weight,
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
    }

    /// `RS-` from a route: removes the route's interest.
    pub(super) fn remote_unsub(
        &mut self,
        slot: u32,
        account: &[u8],
        subject: &[u8],
        queue: Option<&Bytes>,
    ) {
        let sid = route_sid(account, subject, queue.map(|q| &q[..]));
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if let Some(key) = session.sids.remove(&sid[..]) {
            self.remove_sub(key);
        }
    }
}

/// How nats-server keys a route's subscription: `account subject [queue]`.
fn route_sid(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Bytes {
    let mut v =
        Vec::with_capacity(account.len() + subject.len() + 2 + queue.map_or(0, <[u8]>::len));
    v.extend_from_slice(account);
    v.push(b' ');
    v.extend_from_slice(subject);
    if let Some(q) = queue {
        v.push(b' ');
        v.extend_from_slice(q);
    }
    Bytes::from(v)
}

fn route_sub_text(subject: &[u8], queue: Option<&[u8]>, n: u32) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match (queue, n) {
        (Some(q), 0) => format!("RS- $G {} {}", s(subject), s(q)),
        (Some(q), n) => format!("RS+ $G {} {} {n}", s(subject), s(q)),
        (None, 0) => format!("RS- $G {}", s(subject)),
        (None, _) => format!("RS+ $G {}", s(subject)),
    }
}
