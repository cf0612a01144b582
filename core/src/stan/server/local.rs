//! The engine as a NATS-level app: what a driver runs, over a NATS
//! connection ([`Stack`](crate::nats::stack::Stack)) or attached to the
//! embedded router in process
//! ([`Router::attach_local`](crate::nats::router::Router::attach_local) with
//! [`ServerConfig::local_options`], then
//! [`pump_local`](crate::nats::router::pump_local)).

use std::time::Instant;

use super::{Server, ServerConfig, ServerEvent};
use crate::nats::client::Event;
use crate::nats::router::LocalOptions;
use crate::nats::stack::NatsApp;
use crate::nats::{InboundMessage, NatsCommand};
use crate::stan::store::Store;

impl ServerConfig {
    /// The options of the engine's in-process session on the embedded
    /// router (named as the Go server names its connection).
    pub fn local_options(&self) -> LocalOptions {
        LocalOptions {
            name: format!("_NSS-{}-general", self.cluster_id),
            echo: false,
            headers: true,
            no_responders: true,
        }
    }
}

impl<S: Store> NatsApp for Server<S> {
    fn handle_connection_event(&mut self, _now: Instant, event: &Event) {
        match event {
            Event::Connected { .. } => self.nats_up = true,
            Event::Disconnected { reason } if self.nats_up => {
                self.nats_up = false;
                self.events.push_back(ServerEvent::NatsDisconnected {
                    reason: reason.clone(),
                });
            }
            Event::Reconnected { server_info } => {
                self.nats_up = true;
                self.events.push_back(ServerEvent::NatsReconnected {
                    server: format!("{}:{}", server_info.host, server_info.port),
                });
            }
            _ => {}
        }
    }

    fn handle_message(&mut self, now: Instant, msg: InboundMessage) {
        Server::handle_message(self, now, msg);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }

    fn poll_command(&mut self) -> Option<NatsCommand> {
        Server::poll_command(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }

    fn handle_burst_end(&mut self, now: Instant) {
        Server::handle_burst_end(self, now);
    }
}
