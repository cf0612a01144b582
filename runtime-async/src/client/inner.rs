//! The client's state behind its lock: the core's stacked session and the
//! waiters of the API calls in progress. The driver drains the session's
//! events into them after every input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_channel::Sender;
use event_listener::Event;
use stan_core::nats::client::CloseReason;
use stan_core::nats::stack::Stack;
use stan_core::stan::client::{ClientError, ClientEvent, Session, SubId};
use stan_proto::MsgProto;

use super::acks::{self, AckSlots};
use crate::drive::Driven;
use crate::wake::{Latch, Notify};

/// Where one API call's outcome goes (a channel of one, as a oneshot).
pub(crate) type Reply = Sender<Result<(), ClientError>>;

/// What the API handles and the driver task share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cell: Mutex<Inner>,
    /// Wakes the driver after an API call changed the session.
    pub(crate) wake: Notify,
    /// The outcomes of publishes in flight.
    pub(crate) acks: Arc<Mutex<AckSlots>>,
    /// Notified when the session may accept a publish again (or ended).
    pub(crate) room: Arc<Event>,
    /// The reason the connection was lost, or `ConnectionClosed` once it
    /// ended any other way.
    pub(crate) lost: Arc<Latch<ClientError>>,
    /// Set when the driver task has finished.
    pub(crate) ended: Latch<()>,
    /// Makes the driver close the NATS connection and finish.
    pub(crate) stop: Latch<()>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug; keep going.
        self.cell.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session and the waiters.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) stack: Stack<Session>,
    pub(crate) connected: Option<Reply>,
    pub(crate) subscribing: HashMap<SubId, Reply>,
    pub(crate) subs: HashMap<SubId, Sender<MsgProto>>,
    pub(crate) unsubscribing: HashMap<SubId, Reply>,
    pub(crate) closing: Option<Reply>,
    /// Shared with `Shared`, for the driver's PubAck outcomes.
    pub(crate) acks: Arc<Mutex<AckSlots>>,
    /// Set when the connection is lost.
    pub(crate) lost: Arc<Latch<ClientError>>,
    /// Publishers waiting for room.
    pub(crate) room: Arc<Event>,
}

impl Inner {
    /// Hands the session's NATS commands to the connection (after an API
    /// call).
    pub(crate) fn flush_commands(&mut self) {
        self.stack.handle_app_commands(Instant::now());
    }

    /// Routes the session's events to their waiters.
    fn dispatch(&mut self) {
        let mut acked = false;
        while let Some(event) = self.stack.app.poll_event() {
            match event {
                ClientEvent::Connected => reply(&mut self.connected, Ok(())),
                ClientEvent::ConnectFailed(e) => reply(&mut self.connected, Err(e)),
                ClientEvent::PubAck { id, result } => {
                    acked = true;
                    acks::lock(&self.acks).resolve(id, result);
                }
                ClientEvent::Subscribed { sub, result } => {
                    if result.is_err() {
                        self.subs.remove(&sub);
                    }
                    if let Some(tx) = self.subscribing.remove(&sub) {
                        let _ = tx.try_send(result);
                    }
                }
                ClientEvent::Message { sub, msg } => {
                    if let Some(tx) = self.subs.get(&sub) {
                        let _ = tx.try_send(msg);
                    }
                }
                ClientEvent::Unsubscribed { sub, result } => {
                    self.subs.remove(&sub);
                    if let Some(tx) = self.unsubscribing.remove(&sub) {
                        let _ = tx.try_send(result);
                    }
                }
                ClientEvent::ConnectionLost(e) => self.lost.set(e),
                ClientEvent::Closed(result) => reply(&mut self.closing, result),
                _ => {}
            }
        }
        if acked && self.stack.app.can_publish() {
            self.room.notify(usize::MAX);
        }
    }

    /// The NATS connection is gone for good: the session learns why, and
    /// every waiter gets its answer.
    pub(crate) fn finish(&mut self, reason: CloseReason) {
        self.stack.app.handle_nats_closed(Instant::now(), reason);
        self.dispatch();
        acks::lock(&self.acks).fail_all();
        reply(&mut self.connected, Err(ClientError::ConnectionClosed));
        reply(&mut self.closing, Ok(()));
        for (_, tx) in self.subscribing.drain() {
            let _ = tx.try_send(Err(ClientError::ConnectionClosed));
        }
        for (_, tx) in self.unsubscribing.drain() {
            let _ = tx.try_send(Err(ClientError::ConnectionClosed));
        }
        // Dropping the senders ends the subscriptions' streams.
        self.subs.clear();
        self.lost.set(ClientError::ConnectionClosed);
        self.room.notify(usize::MAX);
    }
}

fn reply(waiter: &mut Option<Reply>, result: Result<(), ClientError>) {
    if let Some(tx) = waiter.take() {
        let _ = tx.try_send(result);
    }
}

impl Driven for Inner {
    type App = Session;

    fn stack(&mut self) -> &mut Stack<Session> {
        &mut self.stack
    }

    fn after_input(&mut self) {
        self.dispatch();
    }
}
