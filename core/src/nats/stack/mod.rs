//! A NATS-level state machine stacked on a NATS client connection: the
//! composite a driver runs when the STAN engine (or client) talks to a NATS
//! server over a socket. Messages for the upper layer are routed inside
//! [`Stack`]; the driver only sees transport events, bytes and one deadline
//! (sans-IO style rule 10: compose by draining).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::client::{Connection, Event};
use super::{InboundMessage, NatsCommand};

/// What a state machine above a NATS connection consumes and produces.
pub trait NatsApp {
    /// A message for one of the app's subscriptions.
    fn handle_message(&mut self, now: Instant, msg: InboundMessage);
    /// Time passed (safe to call early).
    fn handle_timeout(&mut self, now: Instant);
    /// The next command for the connection.
    fn poll_command(&mut self) -> Option<NatsCommand>;
    /// The app's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Every message available now was handed over: an app that batches
    /// (the engine's group commit) finishes its batch here.
    fn handle_burst_end(&mut self, now: Instant) {
        let _ = now;
    }
    /// Whether the app has finished for good (then the stack closes its
    /// NATS connection once the app's last commands are written).
    fn is_done(&self) -> bool {
        false
    }
    /// One of the connection's other events (connected, disconnected,
    /// reconnected, ...), as it happens; the driver gets it next.
    fn handle_connection_event(&mut self, now: Instant, event: &Event) {
        let _ = (now, event);
    }
}

/// An app over a connection. Drain after each input (the crate's
/// [contract](crate::contract)): [`Stack::poll_event`], then
/// [`Stack::poll_transmit`], then [`Stack::poll_timeout`].
#[derive(Debug)]
pub struct Stack<A> {
    /// The NATS connection.
    pub conn: Connection,
    /// The app on top.
    pub app: A,
    /// Commands the connection refused (e.g. publishes while disconnected
    /// with no reconnect buffer): counted, not retried.
    refused: u64,
    /// Connection events other than messages, for the driver.
    events: VecDeque<Event>,
}

impl<A: NatsApp> Stack<A> {
    /// Stacks `app` on `conn` and hands the app's first commands over.
    pub fn new(conn: Connection, app: A, now: Instant) -> Self {
        let mut s = Stack {
            conn,
            app,
            refused: 0,
            events: VecDeque::new(),
        };
        s.route(now);
        s
    }

    /// Commands the connection refused so far.
    pub fn refused_commands(&self) -> u64 {
        self.refused
    }

    /// The dial asked for by [`Event::WantConnect`] succeeded.
    pub fn handle_transport_connected(&mut self, now: Instant) {
        self.conn.handle_transport_connected(now);
        self.route(now);
    }

    /// The dial failed.
    pub fn handle_transport_failed(&mut self, now: Instant) {
        self.conn.handle_transport_failed(now);
        self.route(now);
    }

    /// The transport closed (EOF or error).
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.conn.handle_transport_closed(now);
        self.route(now);
    }

    /// Bytes read from the transport.
    pub fn handle_input(&mut self, now: Instant, input: &mut BytesMut) {
        self.conn.handle_input(now, input);
        self.route(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        if self.app.poll_timeout().is_some_and(|t| t <= now) {
            self.app.handle_timeout(now);
        }
        self.route(now);
    }

    /// Hands over what the app queued after a command called on
    /// [`Stack::app`] directly (publish, subscribe, ...).
    pub fn handle_app_commands(&mut self, now: Instant) {
        self.route(now);
    }

    /// Closes the connection (terminal).
    pub fn close(&mut self, now: Instant) {
        self.route(now);
        self.conn.close(now);
        self.route(now);
    }

    /// Bytes to write.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    /// Events for the driver (transport and lifecycle; messages were routed
    /// to the app).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline of both layers.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.conn.poll_timeout(), self.app.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves app commands into the connection and messages into the app
    /// until both are quiet. Non-message events stay queued for the driver.
    fn route(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(cmd) = self.app.poll_command() {
                moved = true;
                if self.conn.execute(now, cmd).is_err() {
                    self.refused += 1;
                }
            }
            let mut delivered = false;
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(msg) => {
                        delivered = true;
                        self.app.handle_message(now, msg);
                    }
                    other => {
                        self.app.handle_connection_event(now, &other);
                        self.events.push_back(other);
                    }
                }
            }
            if delivered {
                moved = true;
                self.app.handle_burst_end(now);
            }
            if !moved {
                break;
            }
        }
        if self.app.is_done() && self.conn.status() != super::client::Status::Closed {
            self.conn.close(now);
            while let Some(event) = self.conn.poll_event() {
                if !matches!(event, Event::Message(_)) {
                    self.events.push_back(event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
