//! The route handshake (nats-server's `createRoute`, `sendRouteConnect`,
//! `processRouteConnect`, `processRouteInfo` and `addRoute`): the solicitor
//! sends `CONNECT` then `INFO`, the acceptor `INFO`; each side checks the
//! other's server id (a route to itself, a second route to a server already
//! connected), cluster name and server name, then registers the route and
//! sends it the local interest.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{RouteUrl, Router};
use crate::nats::codec as encode;
use crate::nats::router::auth::Verdict;
use crate::nats::router::info::ANNOUNCED_VERSION;
use crate::nats::router::session::SessionPhase;
use crate::nats::router::{CloseReason, ConnId, ConnectOptions, LogLevel, LogMessage};

/// nats-server's route protocol level (`RouteProtoV2`: accounts).
const ROUTE_PROTO: u8 = 2;

/// The route `INFO` this server sends, in nats-server's field order.
#[derive(Serialize)]
struct RouteInfoOut<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u8,
    go: &'a str,
    host: &'a str,
    port: u16,
    headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_verify: bool,
    max_payload: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    nonce: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    cluster_dynamic: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    connect_urls: &'a [String],
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The fields of a remote's route `INFO` this server uses.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RouteInfoIn {
    pub(super) server_id: String,
    pub(super) server_name: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) headers: bool,
    pub(super) auth_required: bool,
    pub(super) cluster: String,
    pub(super) cluster_dynamic: bool,
    pub(super) ip: String,
    pub(super) connect_urls: Vec<String>,
}

/// The route `CONNECT` (nats-server's `connectInfo`).
#[derive(Serialize)]
struct RouteConnectOut<'a> {
    echo: bool,
    verbose: bool,
    pedantic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<&'a str>,
    tls_required: bool,
    headers: bool,
    name: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    cluster_dynamic: bool,
}

/// The fields of a remote's route `CONNECT` this server uses.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RouteConnectIn {
    user: Option<String>,
    pass: Option<String>,
    lang: String,
    name: String,
    cluster: String,
    cluster_dynamic: bool,
    headers: bool,
    gateway: String,
}

impl Router {
    /// Queues this server's route `INFO` on `slot`.
    pub(super) fn send_route_info(&mut self, slot: u32) {
        let json = self.route_info_json(true);
        self.trace_out(slot, || format!("INFO {}", String::from_utf8_lossy(&json)));
        self.write_wire(slot, |out| {
            out.write_with(|b| encode::write_info(b, &json));
        });
    }

    fn route_info_json(&mut self, with_nonce: bool) -> Vec<u8> {
        let nonce = if with_nonce {
            self.rng.string_from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                22,
            )
        } else {
            String::new()
        };
        let urls = self.own_client_urls();
        let Some(c) = self.cluster.as_deref() else {
            return b"{}".to_vec();
        };
        let ip = c
            .config
            .advertise
            .as_deref()
            .and_then(RouteUrl::parse)
            .or_else(|| RouteUrl::parse(&format!("x://{}", c.config.advertise.as_deref()?)))
            .map(|u| u.to_string());
        let info = RouteInfoOut {
            server_id: &self.server_id,
            server_name: self.server_name(),
            version: ANNOUNCED_VERSION,
            proto: ROUTE_PROTO,
            go: concat!("rust-stan-", env!("CARGO_PKG_VERSION")),
            host: &c.config.host,
            port: c.config.port,
            headers: self.config.headers,
            auth_required: c.auth.is_required(),
            tls_required: c.config.tls_required,
            tls_verify: c.config.tls_verify,
            max_payload: self.config.max_payload,
            ip,
            nonce: &nonce,
            cluster: &c.name,
            cluster_dynamic: c.dynamic,
            connect_urls: if c.config.no_advertise { &[] } else { &urls },
        };
        serde_json::to_vec(&info).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Queues the route `CONNECT` of a solicited route.
    pub(super) fn send_route_connect(&mut self, slot: u32) {
        let Some(c) = self.cluster.as_deref() else {
            return;
        };
        let url = self.slots[slot as usize]
            .session
            .as_ref()
            .and_then(|s| s.route.as_deref())
            .and_then(|r| r.url.clone());
        let connect = RouteConnectOut {
            echo: true,
            verbose: false,
            pedantic: false,
            user: url.as_ref().and_then(|u| u.user.as_deref()),
            pass: url.as_ref().and_then(|u| u.pass.as_deref()),
            tls_required: c.config.tls_required,
            headers: self.config.headers,
            name: &self.server_id,
            cluster: &c.name,
            cluster_dynamic: c.dynamic,
        };
        let json = serde_json::to_vec(&connect).unwrap_or_else(|_| b"{}".to_vec());
        self.trace_out(slot, || {
            format!("CONNECT {}", String::from_utf8_lossy(&json))
        });
        self.write_wire(slot, |out| {
            out.write_with(|b| encode::write_connect(b, &json));
        });
    }

    /// A remote's `CONNECT` (on an accepted route): its credentials are
    /// checked first (nats-server's `processConnect` then
    /// `isRouterAuthorized`), a bcrypt hash off the routing path.
    pub(super) fn process_route_connect(&mut self, slot: u32, json: &[u8]) {
        let Ok(c) = serde_json::from_slice::<RouteConnectIn>(json) else {
            self.close(slot, CloseReason::BadConnect);
            return;
        };
        let opts = ConnectOptions {
            user: c.user.clone(),
            pass: c.pass.clone(),
            ..ConnectOptions::default()
        };
        let verdict = match self.cluster.as_deref() {
            Some(cluster) if cluster.auth.is_required() => cluster.auth.check(&opts),
            _ => Verdict::Accepted,
        };
        match verdict {
            Verdict::Accepted => self.route_authorized(slot, c),
            Verdict::Rejected => self.close(slot, CloseReason::AuthorizationViolation),
            Verdict::NeedsHash { secret, hash } => {
                self.request_route_check(slot, Box::new(opts), json.to_vec(), secret, hash);
            }
        }
    }

    /// The credentials of a route's `CONNECT` checked by the driver
    /// ([`Router::handle_credential_verdict`]).
    pub(in crate::nats::router) fn finish_route_connect(
        &mut self,
        slot: u32,
        json: &[u8],
        accepted: bool,
    ) {
        if !accepted {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        match serde_json::from_slice::<RouteConnectIn>(json) {
            Ok(c) => self.route_authorized(slot, c),
            Err(_) => self.close(slot, CloseReason::BadConnect),
        }
    }

    /// The rest of a route's `CONNECT`, once it is authorized.
    fn route_authorized(&mut self, slot: u32, c: RouteConnectIn) {
        if let Some(s) = self.slot_session(slot) {
            s.auth_deadline = None;
            if let Some(r) = s.route.as_deref_mut() {
                r.needs_auth = false;
            }
        }
        if !c.lang.is_empty() {
            // A client on the route port.
            self.close(slot, CloseReason::WrongPort);
            return;
        }
        if !c.gateway.is_empty() {
            let text = format!(
                "Rejecting connection from gateway {:?} on the Route port",
                c.gateway
            );
            self.reject_route(slot, text, CloseReason::ClusterNameConflict);
            return;
        }
        if !self.accept_cluster_name(slot, &c.cluster, c.cluster_dynamic, true) {
            return;
        }
        let headers = self.config.headers && c.headers;
        if let Some(s) = self.slot_session(slot) {
            s.name = c.name.clone();
            s.flags.headers = headers;
            if let Some(r) = s.route.as_deref_mut() {
                if r.remote_id.is_empty() {
                    r.remote_id = c.name;
                }
                r.headers = headers;
            }
        }
    }

    /// Checks a remote's cluster name (from `CONNECT` or `INFO`), adopting
    /// it when ours is dynamic and theirs configured or larger, as
    /// nats-server does. False when the route was closed.
    fn accept_cluster_name(
        &mut self,
        slot: u32,
        theirs: &str,
        dynamic: bool,
        from_connect: bool,
    ) -> bool {
        let Some(c) = self.cluster.as_deref() else {
            return false;
        };
        // From INFO, an empty name is accepted (an old server).
        if theirs == c.name || (!from_connect && theirs.is_empty()) {
            return true;
        }
        if c.dynamic && (!dynamic || c.name.as_str() < theirs) {
            let keep = self.conn_id(slot);
            if let Some(c) = self.cluster.as_deref_mut() {
                c.name = theirs.to_owned();
                c.dynamic = dynamic;
            }
            self.remove_all_routes_except(keep);
            return true;
        }
        if from_connect {
            let ours = self
                .cluster
                .as_deref()
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let text =
                format!("Rejecting connection, cluster name {theirs:?} does not match {ours:?}");
            self.reject_route(slot, text, CloseReason::ClusterNameConflict);
        } else {
            self.close(slot, CloseReason::ClusterNameConflict);
        }
        false
    }

    /// Logs `text`, sends it as `-ERR` and closes the route.
    fn reject_route(&mut self, slot: u32, text: String, reason: CloseReason) {
        self.log(slot, LogLevel::Error, LogMessage::Route(text.clone()));
        self.trace_out(slot, || format!("-ERR '{text}'"));
        self.write_wire(slot, |out| {
            out.write_with(|b| encode::write_err(b, text.as_bytes()));
        });
        self.close(slot, reason);
    }

    fn remove_all_routes_except(&mut self, keep: ConnId) {
        let routes: Vec<u32> = self
            .sessions()
            .filter(|&c| c != keep && self.is_route(c))
            .map(|c| c.slot)
            .collect();
        for slot in routes {
            self.close(slot, CloseReason::ClusterNameConflict);
        }
    }

    /// A remote's `INFO`: the handshake's end, or gossip about another
    /// server on an established route.
    pub(super) fn process_route_info(&mut self, now: Instant, slot: u32, json: &[u8]) {
        let Ok(info) = serde_json::from_slice::<RouteInfoIn>(json) else {
            self.close(slot, CloseReason::BadConnect);
            return;
        };
        let Some(route) = self.slots[slot as usize]
            .session
            .as_ref()
            .and_then(|s| s.route.as_deref())
        else {
            return;
        };
        let (solicited, info_received, remote_id) = (
            route.solicited,
            route.info_received,
            route.remote_id.clone(),
        );
        if info.server_id == self.server_id {
            if let Some(r) = self.route_mut(slot) {
                r.remote_id = info.server_id;
            }
            self.close(slot, CloseReason::DuplicateRoute);
            return;
        }
        if !self.accept_cluster_name(slot, &info.cluster, info.cluster_dynamic, false) {
            return;
        }
        if info_received {
            if !remote_id.is_empty() && remote_id != info.server_id {
                self.process_implicit_route(now, &info);
            }
            return;
        }
        if !solicited && info.server_name == self.server_name() {
            self.log(
                slot,
                LogLevel::Error,
                LogMessage::Route(format!(
                    "Remote server has a duplicate name: {:?}",
                    info.server_name
                )),
            );
            self.close(slot, CloseReason::DuplicateServerName);
            return;
        }
        let headers = self.config.headers && info.headers;
        let peer_ip = self.slots[slot as usize]
            .session
            .as_ref()
            .map(|s| peer_host(&s.peer).to_owned())
            .unwrap_or_default();
        if let Some(s) = self.slot_session(slot) {
            s.flags.headers = headers;
            if let Some(r) = s.route.as_deref_mut() {
                r.info_received = true;
                r.remote_id = info.server_id.clone();
                r.remote_name = info.server_name.clone();
                r.headers = headers;
                r.connect_urls = info.connect_urls.clone();
                if r.url.is_none() {
                    r.url = RouteUrl::parse(&format!("{}:{}", info.host, info.port));
                }
            }
        }
        self.add_route(slot, json, &info, &peer_ip);
    }

    /// Registers the route, or closes it as a duplicate (nats-server's
    /// `addRoute`: the route registered first stays, and is marked to be
    /// dialled again should it break).
    fn add_route(&mut self, slot: u32, json: &[u8], info: &RouteInfoIn, peer_ip: &str) {
        let conn = self.conn_id(slot);
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        if let Some(&existing) = cluster.remotes.get(&info.server_id) {
            if self.config.debug {
                self.log(
                    slot,
                    LogLevel::Debug,
                    LogMessage::Route(format!(
                        "Detected duplicate remote route {:?}",
                        info.server_id
                    )),
                );
            }
            let upgrade = self
                .route_mut(slot)
                .filter(|r| r.solicited)
                .map(|r| (r.url.clone(), r.explicit));
            if let Some(r) = self.route_mut(existing.slot) {
                if let Some((url, explicit)) = upgrade {
                    r.solicited = true;
                    r.url = url;
                    r.explicit |= explicit;
                }
                r.retry = true;
            }
            self.close(slot, CloseReason::DuplicateRoute);
            return;
        }
        cluster.remotes.insert(info.server_id.clone(), conn);
        let others = cluster.remotes.len() > 1;
        let advertise = !cluster.config.no_advertise;
        if let Some(s) = self.slot_session(slot) {
            s.phase = SessionPhase::Open;
            if let Some(r) = s.route.as_deref_mut() {
                r.registered = true;
            }
        }
        if self.config.debug {
            self.log(
                slot,
                LogLevel::Debug,
                LogMessage::Route(format!("Registering remote route {:?}", info.server_id)),
            );
        }
        self.send_subs_to_route(slot);
        if others {
            self.forward_new_route_info(slot, json, info, peer_ip);
        }
        if advertise && !info.connect_urls.is_empty() {
            self.send_async_info_to_clients();
        }
    }

    pub(super) fn route_mut(&mut self, slot: u32) -> Option<&mut super::RouteState> {
        self.slot_session(slot)?.route.as_deref_mut()
    }
}

/// The host part of a `host:port` peer address.
pub(super) fn peer_host(peer: &str) -> &str {
    peer.rsplit_once(':')
        .map_or(peer, |(ip, _)| ip)
        .trim_matches(|c| c == '[' || c == ']')
}
