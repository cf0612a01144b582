//! The session as a NATS-level app: what a driver runs over a NATS
//! connection ([`Stack`](crate::nats::stack::Stack)) or attached to the
//! embedded router in process.

use std::time::Instant;

use super::Session;
use crate::nats::{InboundMessage, NatsCommand};

impl crate::nats::stack::NatsApp for Session {
    fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        Session::handle_message(self, now, msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now);
    }

    fn poll_command(&mut self) -> Option<NatsCommand> {
        Session::poll_command(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }

    fn is_done(&self) -> bool {
        Session::is_done(self)
    }
}
