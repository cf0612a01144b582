//! Pings: the session's liveness check of the server (stan.go's
//! `PingInterval`/`PingMaxOut`), ending in `ConnectionLost` when too many
//! go unanswered or the server no longer knows the connection.

use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{Message, Ping, PingResponse};

use super::{ClientError, ClientEvent, Phase, Session, Timer};
use crate::nats::{InboundMessage, NatsCommand};
use crate::time::deadline_after;

impl Session {
    pub(super) fn send_ping(&mut self, now: Instant) {
        if self.phase != Phase::Connected {
            return;
        }
        self.pings_out += 1;
        if self.pings_out > self.options.ping_max_out {
            return self.finish(ClientEvent::ConnectionLost(ClientError::MaxPings));
        }
        let Some(subject) = self.connect.as_ref().map(|c| c.ping_requests.clone()) else {
            return;
        };
        let ping = Ping {
            conn_id: self.conn_id.clone(),
        };
        self.commands.push_back(NatsCommand::Publish {
            subject: Bytes::from(subject),
            reply: Some(self.ping_inbox.clone()),
            payload: Bytes::from(ping.encode_to_vec()),
        });
        self.arm_ping(now);
    }

    pub(super) fn arm_ping(&mut self, now: Instant) {
        let interval = self
            .connect
            .as_ref()
            .map_or(0, |c| u64::try_from(c.ping_interval).unwrap_or(0));
        if interval > 0 {
            self.timers.set(
                Timer::Ping,
                deadline_after(now, Duration::from_secs(interval)),
            );
        }
    }

    pub(super) fn handle_ping_response(&mut self, msg: InboundMessage) {
        // Pings belong to a connected session: an answer before the
        // handshake or during `close` must not end it with `ConnectionLost`
        // (stan.go only listens on its ping inbox while connected).
        if self.phase != Phase::Connected {
            return;
        }
        if msg.is_no_responders() {
            return; // counts as missed
        }
        if !msg.payload.is_empty() {
            if let Ok(resp) = PingResponse::decode(msg.payload) {
                if !resp.error.is_empty() {
                    return self
                        .finish(ClientEvent::ConnectionLost(ClientError::Server(resp.error)));
                }
            }
        }
        self.pings_out = 0;
    }
}
