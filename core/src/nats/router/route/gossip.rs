//! Gossip (nats-server's `forwardNewRouteInfoToKnownServers`,
//! `processImplicitRoute` and the clients' `connect_urls`): when a route
//! registers and others exist, its `INFO` (with the address it can be
//! reached at in `ip`) goes to the other routes; a server that receives
//! the `INFO` of a server it has no route to dials it (an implicit route).
//! Clients that declared protocol 1 receive an async `INFO` whenever the
//! cluster's client URLs change.

use std::time::Instant;

use super::handshake::RouteInfoIn;
use super::{RouteUrl, Router};
use crate::nats::codec as encode;
use crate::nats::router::auth::Auth;
use crate::nats::router::session::SessionPhase;
use crate::nats::router::{ConnId, LogLevel, LogMessage, LogRecord, RouterEvent};

impl Router {
    /// Sends the `INFO` of the route just registered on `slot` to every
    /// other route, with `ip` set to where it can be dialled.
    pub(super) fn forward_new_route_info(
        &mut self,
        slot: u32,
        json: &[u8],
        info: &RouteInfoIn,
        peer_ip: &str,
    ) {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(json) else {
            return;
        };
        if info.ip.is_empty() {
            let url = RouteUrl {
                host: peer_ip.to_owned(),
                port: info.port,
                user: None,
                pass: None,
            };
            map.insert("ip".into(), url.to_string().into());
        }
        map.remove("nonce");
        let Ok(out) = serde_json::to_vec(&map) else {
            return;
        };
        let me = self.conn_id(slot);
        let targets: Vec<u32> = self
            .cluster
            .as_deref()
            .map(|c| {
                c.remotes
                    .values()
                    .filter(|&&c| c != me)
                    .map(|c| c.slot)
                    .collect()
            })
            .unwrap_or_default();
        for t in targets {
            self.trace_out(t, || format!("INFO {}", String::from_utf8_lossy(&out)));
            self.write_wire(t, |o| o.write_with(|b| encode::write_info(b, &out)));
        }
    }

    /// The `INFO` of another server arrived on an established route: dial
    /// it unless it is this server, already connected or configured.
    pub(super) fn process_implicit_route(&mut self, now: Instant, info: &RouteInfoIn) {
        if info.server_id == self.server_id {
            return;
        }
        let Some(cluster) = self.cluster.as_deref() else {
            return;
        };
        if cluster.remotes.contains_key(&info.server_id) {
            return;
        }
        let configured = format!("{}:{}", info.host, info.port).to_lowercase();
        if cluster
            .config
            .routes
            .iter()
            .filter_map(|r| RouteUrl::parse(r))
            .any(|u| u.host_port() == configured)
        {
            return;
        }
        let Some(mut url) = RouteUrl::parse(&info.ip) else {
            self.server_log(
                LogLevel::Error,
                format!("Error parsing URL from INFO: {:?}", info.ip),
            );
            return;
        };
        if info.auth_required {
            // nats-server dials a gossiped server with its own cluster
            // credentials.
            if let Auth::UserPass { user, pass } = &cluster.config.auth {
                url.user = Some(user.clone());
                url.pass = Some(pass.clone());
            }
        }
        self.schedule_dial(url, false, now);
    }

    /// This server's own client URLs.
    pub(super) fn own_client_urls(&self) -> Vec<String> {
        let Some(c) = self.cluster.as_deref() else {
            return Vec::new();
        };
        if !c.config.client_urls.is_empty() {
            return c.config.client_urls.clone();
        }
        match self.config.host.as_str() {
            "" | "0.0.0.0" | "::" | "[::]" => Vec::new(),
            h => vec![format!("{h}:{}", self.config.port)],
        }
    }

    /// The `connect_urls` of the client `INFO`: this server's and every
    /// registered route's client URLs (unless `no_advertise`).
    pub(in crate::nats::router) fn client_connect_urls(&self) -> Vec<String> {
        let Some(c) = self.cluster.as_deref() else {
            return Vec::new();
        };
        if c.config.no_advertise || c.remotes.is_empty() {
            return Vec::new();
        }
        let mut urls = self.own_client_urls();
        for &conn in c.remotes.values() {
            let Some(r) = self.session(conn).and_then(|s| s.route.as_deref()) else {
                continue;
            };
            for u in &r.connect_urls {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        urls
    }

    /// Sends the current client `INFO` to every open client that declared
    /// protocol 1 (async `INFO` support).
    pub(super) fn send_async_info_to_clients(&mut self) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        cluster.curls_gen += 1;
        let gen = cluster.curls_gen;
        let clients: Vec<ConnId> = self
            .sessions()
            .filter(|&c| {
                self.session(c).is_some_and(|s| {
                    s.route.is_none()
                        && s.is_wire()
                        && s.phase == SessionPhase::Open
                        && s.flags.async_info
                })
            })
            .collect();
        for c in clients {
            self.send_client_info(c.slot, gen);
        }
    }

    fn send_client_info(&mut self, slot: u32, gen: u64) {
        let json = self.client_info_json(slot, "");
        if let Some(s) = self.slot_session(slot) {
            s.curls_seen = gen;
        }
        self.trace_out(slot, || format!("INFO {}", String::from_utf8_lossy(&json)));
        self.write_wire(slot, |out| out.write_with(|b| encode::write_info(b, &json)));
    }

    /// Sends client `slot` the current `INFO` when the cluster's client
    /// URLs changed since its last one (it was not open yet when they did).
    pub(in crate::nats::router) fn send_info_if_urls_changed(&mut self, slot: u32) {
        let Some(gen) = self.cluster.as_deref().map(|c| c.curls_gen) else {
            return;
        };
        let stale = self.slots[slot as usize].session.as_ref().is_some_and(|s| {
            s.route.is_none()
                && s.is_wire()
                && s.phase == SessionPhase::Open
                && s.flags.async_info
                && s.curls_seen != gen
        });
        if stale {
            self.send_client_info(slot, gen);
        }
    }

    /// A log line about the cluster, not about one session.
    pub(super) fn server_log(&mut self, level: LogLevel, text: String) {
        self.events.push_back(RouterEvent::Log(LogRecord {
            level,
            conn: ConnId {
                slot: u32::MAX,
                gen: u32::MAX,
            },
            client: String::new(),
            message: LogMessage::Route(text),
        }));
    }
}
