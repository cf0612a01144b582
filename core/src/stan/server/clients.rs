//! Clients: connect (with the duplicate-ID probe), heartbeats, pings and
//! close (docs/protocol.md B.5, B.6, B.14 to B.16).

use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_proto::{
    CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Ping, PingResponse,
};

use super::errors::Refusal;
use super::slab::Key;
use super::state::{Client, Request};
use super::timers::TimerKey;
use super::{decode, ClientCloseReason, Server, ServerEvent};
use crate::nats::{subject, InboundMessage};
use crate::stan::names::is_valid_client_id;
use crate::stan::store::Store;
use crate::time::deadline_after;

/// How long the holder of a client ID has to answer a duplicate probe.
const DUPLICATE_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl<S: Store> Server<S> {
    pub(super) fn handle_connect(&mut self, now: Instant, msg: InboundMessage) {
        let reply = msg.reply.as_ref();
        let request = match decode::<ConnectRequest>(&msg.payload) {
            Some(r) if subject::validate_publish(r.heartbeat_inbox.as_bytes()).is_ok() => r,
            _ => return self.connect_refused(reply, Refusal::InvalidConnRequest),
        };
        if !is_valid_client_id(&request.client_id) {
            return self.connect_refused(reply, Refusal::InvalidClientId);
        }
        if self.probing.contains_key(&request.client_id) {
            return self.connect_refused(reply, Refusal::ClientIdRegistered);
        }
        if let Some(error) = self.store_unavailable() {
            return self.connect_refused(reply, Refusal::Store(error));
        }
        if let Some(&old) = self.client_ids.get(&request.client_id) {
            let Some(hb_inbox) = self.clients.get(old).map(|c| c.hb_inbox.clone()) else {
                return;
            };
            let Some(reply) = msg.reply.clone() else {
                return; // nobody to answer: do not disturb the old client
            };
            let client_id = request.client_id.clone();
            let probe = Request::DuplicateProbe {
                old,
                request,
                reply,
            };
            let token = self.request(now, hb_inbox, DUPLICATE_PROBE_TIMEOUT, probe);
            self.probing.insert(client_id, token);
            return;
        }
        self.register(now, request, msg.reply.as_ref());
    }

    fn connect_refused(&mut self, reply: Option<&Bytes>, refusal: Refusal) {
        let error = refusal.to_string();
        self.refused("connect", refusal);
        self.respond_now(
            reply,
            &ConnectResponse {
                error,
                ..ConnectResponse::default()
            },
        );
    }

    fn register(&mut self, now: Instant, request: ConnectRequest, reply: Option<&Bytes>) {
        // Checked again: a duplicate probe may have outlasted a store
        // failure's start.
        if let Some(error) = self.store_unavailable() {
            return self.connect_refused(reply, Refusal::Store(error));
        }
        self.persist_client_added(stan_proto::ClientInfo {
            id: request.client_id.clone(),
            hb_inbox: request.heartbeat_inbox.clone(),
            conn_id: request.conn_id.clone(),
            protocol: request.protocol,
            ping_interval: request.ping_interval,
            ping_max_out: request.ping_max_out,
        });
        let client = Client {
            id: request.client_id.clone(),
            hb_inbox: Bytes::from(request.heartbeat_inbox),
            conn_id: request.conn_id.clone(),
            hb_failures: 0,
            hb_request: None,
            subs: Vec::new(),
        };
        let key = self.clients.insert(client);
        self.client_ids.insert(request.client_id.clone(), key);
        if !request.conn_id.is_empty() {
            self.conn_ids.insert(request.conn_id, key);
        }
        self.timers.set(
            TimerKey::Heartbeat(key),
            deadline_after(now, self.config.hb_interval),
        );
        let s = &self.subjects;
        let mut response = ConnectResponse {
            pub_prefix: s.pub_prefix.clone(),
            sub_requests: String::from_utf8_lossy(&s.sub).into_owned(),
            unsub_requests: String::from_utf8_lossy(&s.unsub).into_owned(),
            close_requests: String::from_utf8_lossy(&s.close).into_owned(),
            sub_close_requests: String::from_utf8_lossy(&s.sub_close).into_owned(),
            protocol: 1,
            ..ConnectResponse::default()
        };
        if request.protocol >= 1 {
            response.ping_requests = String::from_utf8_lossy(&s.pings).into_owned();
            response.ping_interval = request.ping_interval;
            response.ping_max_out = request.ping_max_out;
        }
        self.events.push_back(ServerEvent::ClientConnected {
            client_id: request.client_id,
        });
        self.respond(reply, &response);
    }

    pub(super) fn send_heartbeat(&mut self, now: Instant, key: Key) {
        let Some(inbox) = self.clients.get(key).map(|c| c.hb_inbox.clone()) else {
            return;
        };
        let timeout = self.config.hb_timeout;
        let token = self.request(now, inbox, timeout, Request::Heartbeat { client: key });
        if let Some(c) = self.clients.get_mut(key) {
            if let Some(old) = c.hb_request.replace(token) {
                self.requests.remove(&old);
                self.timers.cancel(TimerKey::Request(old));
            }
        }
    }

    pub(super) fn request_answered(&mut self, now: Instant, req: Request) {
        match req {
            Request::Heartbeat { client } => {
                let next = deadline_after(now, self.config.hb_interval);
                if let Some(c) = self.clients.get_mut(client) {
                    c.hb_request = None;
                    c.hb_failures = 0;
                    self.timers.set(TimerKey::Heartbeat(client), next);
                }
            }
            Request::DuplicateProbe { request, reply, .. } => {
                self.probing.remove(&request.client_id);
                self.connect_refused(Some(&reply), Refusal::ClientIdRegistered);
            }
        }
    }

    pub(super) fn request_unanswered(&mut self, now: Instant, req: Request) {
        match req {
            Request::Heartbeat { client } => {
                let limit = self.config.hb_fail_count;
                let next = deadline_after(now, self.config.hb_interval);
                let Some(c) = self.clients.get_mut(client) else {
                    return;
                };
                c.hb_request = None;
                c.hb_failures += 1;
                let failures = c.hb_failures;
                let client_id = c.id.clone();
                self.events.push_back(ServerEvent::HeartbeatFailed {
                    client_id,
                    failures,
                });
                if failures > limit {
                    self.close_client(now, client, ClientCloseReason::HeartbeatsFailed);
                } else {
                    self.timers.set(TimerKey::Heartbeat(client), next);
                }
            }
            Request::DuplicateProbe {
                old,
                request,
                reply,
            } => {
                self.probing.remove(&request.client_id);
                if self.clients.get(old).is_some() {
                    self.close_client(now, old, ClientCloseReason::Replaced);
                }
                if self.client_ids.contains_key(&request.client_id) {
                    // Registered again meanwhile (cannot happen while
                    // probing, but never register an ID twice).
                    self.connect_refused(Some(&reply), Refusal::ClientIdRegistered);
                } else {
                    self.register(now, request, Some(&reply));
                }
            }
        }
    }

    pub(super) fn handle_ping(&mut self, now: Instant, msg: InboundMessage) {
        if msg.payload.is_empty() {
            return;
        }
        let Some(ping) = decode::<Ping>(&msg.payload) else {
            return;
        };
        let known = self.conn_ids.get(&ping.conn_id).copied();
        let response = match known {
            Some(key) => {
                // A client with failed heartbeats that pings is alive: check
                // it again right away.
                if self.clients.get(key).is_some_and(|c| c.hb_failures > 0) {
                    self.timers.set(
                        TimerKey::Heartbeat(key),
                        deadline_after(now, Duration::from_millis(1)),
                    );
                }
                PingResponse::default()
            }
            None => PingResponse {
                error: Refusal::ClientReplaced.to_string(),
            },
        };
        self.respond_now(msg.reply.as_ref(), &response);
    }

    pub(super) fn handle_close(&mut self, now: Instant, msg: InboundMessage) {
        let reply = msg.reply.as_ref();
        let Some(request) = decode::<CloseRequest>(&msg.payload) else {
            return self.close_refused(reply, Refusal::InvalidCloseRequest);
        };
        let Some(&key) = self.client_ids.get(&request.client_id) else {
            return self.close_refused(reply, Refusal::UnknownClient);
        };
        self.close_client(now, key, ClientCloseReason::Requested);
        self.respond(reply, &CloseResponse::default());
    }

    fn close_refused(&mut self, reply: Option<&Bytes>, refusal: Refusal) {
        let error = refusal.to_string();
        self.refused("close", refusal);
        self.respond_now(reply, &CloseResponse { error });
    }

    /// Unregisters a client: non-durable subscriptions removed, durables
    /// offline, queue memberships left.
    pub(super) fn close_client(&mut self, now: Instant, key: Key, reason: ClientCloseReason) {
        let Some(client) = self.clients.remove(key) else {
            return;
        };
        self.client_ids.remove(&client.id);
        if !client.conn_id.is_empty() && self.conn_ids.get(&client.conn_id) == Some(&key) {
            self.conn_ids.remove(&client.conn_id);
        }
        self.timers.cancel(TimerKey::Heartbeat(key));
        if let Some(token) = client.hb_request {
            self.requests.remove(&token);
            self.timers.cancel(TimerKey::Request(token));
        }
        for sub in client.subs {
            self.remove_sub(now, sub, false);
        }
        self.persist_client_removed(&client.id);
        self.events.push_back(ServerEvent::ClientClosed {
            client_id: client.id,
            reason,
        });
    }

    /// Whether the client owning a subscription has failed heartbeats.
    pub(super) fn client_failing(&self, client_id: &str) -> bool {
        self.client_ids
            .get(client_id)
            .and_then(|k| self.clients.get(*k))
            .is_some_and(|c| c.hb_failures > 0)
    }
}
