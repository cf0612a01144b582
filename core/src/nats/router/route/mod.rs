//! Routes: the connections between the servers of a cluster, as
//! nats-server 2.9 speaks them (docs/routes.md).
//!
//! A route is a session of the router like a client's, with a
//! [`RouteState`] beside it and its own decoder. Inbound routes arrive on
//! the cluster port ([`Router::handle_route_accept`]); outbound ones are
//! dialled by the driver when the router asks ([`RouterEvent::DialRoute`]),
//! for the configured routes ([`ClusterConfig::routes`],
//! [`Router::solicit_route`]) and the members the cluster gossips about.
//! Retries are deadlines of the router, like every other timer.
//!
//! The modules: [`url`] (route URLs), [`handshake`] (`INFO`/`CONNECT`,
//! duplicate routes, cluster names), [`interest`] (`RS+`/`RS-`),
//! [`forward`] (`RMSG` out and in), [`dial`] (soliciting and retrying),
//! [`gossip`] (implicit routes and the clients' `connect_urls`).

mod dial;
mod forward;
mod gossip;
mod handshake;
mod interest;
mod url;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use self::dial::DialId;
pub(crate) use self::forward::{add_route_target, RouteTarget};
pub use self::url::RouteUrl;

use super::auth::{Auth, Authenticator};
use super::info::{Info, ANNOUNCED_VERSION};
use super::keepalive::FIRST_PING;
use super::out::OutBuf;
use super::session::{SessionFlags, SessionPhase, Transport};
use super::{CloseReason, ConnId, LogLevel, LogMessage, Router};
use crate::nats::codec::{ClientOpDecoder, Limits, RouteOp, RouteOpDecoder};
use crate::time::{deadline_after, Timers};

/// The only account of this server: nats-server's global account.
pub(crate) const GLOBAL_ACCOUNT: &[u8] = b"$G";

/// Clustering settings (nats-server's `cluster { ... }` block and the
/// `--cluster`, `--routes`, `--cluster_name`, `--no_advertise`,
/// `--cluster_advertise`, `--connect_retries` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's name; `None` lets the servers agree on one (nats-server's
    /// dynamic name: a generated one, replaced by a configured or larger
    /// one learnt from a route).
    pub name: Option<String>,
    /// Host of the route listener, announced in route `INFO`.
    pub host: String,
    /// Port of the route listener, announced in route `INFO`.
    pub port: u16,
    /// `host:port` other servers should use to reach this one
    /// (`cluster_advertise`); sent as the route `INFO`'s `ip`.
    pub advertise: Option<String>,
    /// Routes to solicit and keep (explicit routes: retried for ever).
    pub routes: Vec<String>,
    /// Do not advertise the cluster's client URLs to clients.
    pub no_advertise: bool,
    /// Retries of an implicit (gossiped) route that fails to connect.
    pub connect_retries: u32,
    /// This server's client URLs (`host:port`) told to the other servers,
    /// which pass them to their clients in `connect_urls`. The driver knows
    /// the addresses it listens on; empty means the client `host:port` of
    /// the router's configuration unless that host is unspecified.
    pub client_urls: Vec<String>,
    /// Delay between two attempts to dial a route (nats-server's
    /// `DEFAULT_ROUTE_CONNECT`).
    pub connect_delay: Duration,
    /// Extra delay before an explicit route that broke is dialled again
    /// (nats-server's `DEFAULT_ROUTE_RECONNECT`).
    pub reconnect_delay: Duration,
    /// How long the driver may take to dial a route before reporting
    /// [`Router::handle_route_dial_failed`] (nats-server's
    /// `DEFAULT_ROUTE_DIAL`).
    pub dial_timeout: Duration,
    /// Longest control line accepted on a route. nats-server sets no limit
    /// on routes; this bounds memory.
    pub max_control_line: usize,
    /// Largest routed message accepted (nats-server's largest possible
    /// `max_payload`, 64 MiB); nats-server sets no limit on routes.
    pub max_payload: usize,
    /// Most interest (`RS+`) one route may register here; a route past it
    /// is told `-ERR 'maximum subscriptions exceeded'` and closed, so that
    /// a peer flooding interest cannot take the memory of the server.
    /// nats-server sets no limit on routes; 1,048,576 by default.
    pub max_route_subscriptions: usize,
    /// Cluster authorization (`cluster { authorization { user, password }
    /// }`, or the credentials of `--cluster nats://user:pass@host:port`):
    /// what an accepted route must present in its `CONNECT`. The password
    /// may be a bcrypt hash. Only [`Auth::None`] and [`Auth::UserPass`]
    /// apply to routes; a token is treated as no authorization.
    pub auth: Auth,
    /// How long an accepted route may take to authenticate
    /// (`authorization { timeout }`; nats-server's default 2 s).
    pub auth_timeout: Duration,
    /// Routes run over TLS (`cluster { tls { } }`): announced in the route
    /// `INFO` and `CONNECT` (`tls_required`). The driver does the
    /// handshake, right after the TCP connect and before any protocol
    /// byte, as nats-server's `createRoute` does; the router never sees
    /// TLS.
    pub tls_required: bool,
    /// Routes must present a certificate (`cluster { tls { verify: true }
    /// }`): announced in the route `INFO` (`tls_verify`).
    pub tls_verify: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: None,
            host: "0.0.0.0".into(),
            port: 6222,
            advertise: None,
            routes: Vec::new(),
            no_advertise: false,
            connect_retries: 0,
            client_urls: Vec::new(),
            connect_delay: Duration::from_secs(1),
            reconnect_delay: Duration::from_secs(1),
            dial_timeout: Duration::from_secs(1),
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
            max_route_subscriptions: 1 << 20,
            auth: Auth::None,
            auth_timeout: Duration::from_secs(2),
            tls_required: false,
            tls_verify: false,
        }
    }
}

/// A registered route, for monitoring (`/routez`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The session.
    pub conn: ConnId,
    /// The remote server's id.
    pub remote_id: String,
    /// The remote server's name.
    pub remote_name: String,
    /// Whether this server dialled it.
    pub solicited: bool,
    /// Whether it is a configured route.
    pub explicit: bool,
    /// The URL it was dialled at, or learnt from its `INFO`.
    pub url: Option<RouteUrl>,
    /// Interest the remote registered here (`RS+`).
    pub subscriptions: usize,
}

/// The route side of a session.
#[derive(Debug)]
pub(crate) struct RouteState {
    pub(crate) decoder: RouteOpDecoder,
    /// Where it was dialled (solicited) or learnt from `INFO` (accepted).
    pub(crate) url: Option<RouteUrl>,
    pub(crate) solicited: bool,
    pub(crate) explicit: bool,
    /// Dial again when it breaks, even when implicit (set on the surviving
    /// route of a duplicate pair, as nats-server does).
    pub(crate) retry: bool,
    pub(crate) remote_id: String,
    pub(crate) remote_name: String,
    pub(crate) info_received: bool,
    pub(crate) registered: bool,
    /// Both sides support headers: `HMSG` may be sent.
    pub(crate) headers: bool,
    /// The remote's client URLs (from its `INFO`).
    pub(crate) connect_urls: Vec<String>,
    /// Unregistration and reconnect already handled.
    pub(crate) ended: bool,
    /// An accepted route that must still authenticate: nothing but its
    /// `CONNECT` is accepted until then.
    pub(crate) needs_auth: bool,
}

/// The cluster-wide state of a router.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) name: String,
    pub(crate) dynamic: bool,
    /// Registered routes by remote server id.
    pub(crate) remotes: BTreeMap<String, ConnId>,
    /// Local interest: subscriptions of clients and in-process sessions
    /// per (subject, queue).
    pub(crate) interest: BTreeMap<(Bytes, Option<Bytes>), u32>,
    pub(crate) dials: BTreeMap<u64, dial::Dial>,
    pub(crate) dial_timers: Timers<u64>,
    pub(crate) next_dial: u64,
    /// Checks the credentials of accepted routes.
    pub(crate) auth: Authenticator,
    /// Bumped whenever the client URLs told to clients change; each client
    /// remembers the one its last `INFO` carried.
    pub(crate) curls_gen: u64,
}

impl Cluster {
    /// The next dial deadline.
    pub(crate) fn next_dial(&self) -> Option<Instant> {
        self.dial_timers.next()
    }
}

impl Router {
    // ----- getters -----

    /// The cluster's name, when clustering.
    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster.as_deref().map(|c| c.name.as_str())
    }

    /// Registered routes, by remote server id.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let Some(cluster) = self.cluster.as_deref() else {
            return Vec::new();
        };
        cluster
            .remotes
            .values()
            .filter_map(|&conn| {
                let s = self.session(conn)?;
                let r = s.route.as_deref()?;
                Some(RouteInfo {
                    conn,
                    remote_id: r.remote_id.clone(),
                    remote_name: r.remote_name.clone(),
                    solicited: r.solicited,
                    explicit: r.explicit,
                    url: r.url.clone(),
                    subscriptions: s.sids.len(),
                })
            })
            .collect()
    }

    /// Whether `conn` is a route session.
    pub fn is_route(&self, conn: ConnId) -> bool {
        self.session(conn).is_some_and(|s| s.route.is_some())
    }

    // ----- inputs -----

    /// A connection arrived on the cluster port: creates a route session
    /// and queues this server's route `INFO`; the remote's `CONNECT` and
    /// `INFO` follow. `peer` is the remote address.
    pub fn handle_route_accept(&mut self, now: Instant, peer: &str) -> ConnId {
        let now = self.advance(now);
        self.ensure_cluster(now);
        let conn = self.new_route_session(now, peer, None);
        let auth_timeout = self
            .cluster
            .as_deref()
            .filter(|c| c.auth.is_required())
            .map(|c| c.config.auth_timeout);
        if let Some(timeout) = auth_timeout {
            // nats-server's `setAuthTimer` on an accepted route.
            let deadline = deadline_after(now, timeout);
            if let Some(s) = self.slot_session(conn.slot) {
                s.auth_deadline = Some(deadline);
                if let Some(r) = s.route.as_deref_mut() {
                    r.needs_auth = true;
                }
            }
            self.rearm(conn.slot);
        }
        self.send_route_info(conn.slot);
        conn
    }

    // ----- internals -----

    /// Creates the cluster state (rebuilding the local interest from the
    /// subscriptions) and solicits the configured routes.
    pub(super) fn start_cluster(&mut self, now: Instant) {
        self.ensure_cluster(now);
        let routes = self
            .cluster
            .as_deref()
            .map(|c| c.config.routes.clone())
            .unwrap_or_default();
        for url in routes {
            if let Some(url) = RouteUrl::parse(&url) {
                self.schedule_dial(url, true, now);
            }
        }
    }

    fn ensure_cluster(&mut self, _now: Instant) {
        if self.cluster.is_some() {
            return;
        }
        let config = self.config.cluster.clone().unwrap_or_default();
        let route_auth = match &config.auth {
            Auth::UserPass { .. } => config.auth.clone(),
            Auth::None | Auth::Token(_) => Auth::None,
        };
        let (name, dynamic) = match &config.name {
            Some(n) if !n.is_empty() => (n.clone(), false),
            _ => (
                self.rng
                    .string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 22),
                true,
            ),
        };
        let mut interest = BTreeMap::new();
        for sub in self.subs.iter().flatten() {
            if !sub.remote {
                *interest
                    .entry((sub.subject.clone(), sub.queue.clone()))
                    .or_insert(0) += 1;
            }
        }
        self.cluster = Some(Box::new(Cluster {
            config,
            name,
            dynamic,
            remotes: BTreeMap::new(),
            interest,
            dials: BTreeMap::new(),
            dial_timers: Timers::new(),
            next_dial: 1,
            auth: Authenticator::new(route_auth),
            curls_gen: 0,
        }));
    }

    /// A new route session (solicited when `url` is given).
    pub(super) fn new_route_session(
        &mut self,
        now: Instant,
        peer: &str,
        solicited: Option<(RouteUrl, bool)>,
    ) -> ConnId {
        let (max_control_line, max_payload) = self
            .cluster
            .as_deref()
            .map_or((64 * 1024, 64 * 1024 * 1024), |c| {
                (c.config.max_control_line, c.config.max_payload)
            });
        let transport = Transport::Wire {
            decoder: ClientOpDecoder::new(self.limits),
            out: OutBuf::default(),
        };
        let conn = self.insert_session(transport, peer.to_owned(), now);
        self.open_routes += 1;
        let first_ping = self.config.ping_interval.min(FIRST_PING);
        let (url, explicit) = match solicited {
            Some((u, e)) => (Some(u), Some(e)),
            None => (None, None),
        };
        if let Some(s) = self.slot_session(conn.slot) {
            s.flags = SessionFlags {
                verbose: false,
                pedantic: false,
                echo: true,
                headers: false,
                no_responders: false,
                async_info: false,
            };
            s.ping_at = Some(deadline_after(now, first_ping));
            s.route = Some(Box::new(RouteState {
                decoder: RouteOpDecoder::new(Limits {
                    max_control_line,
                    max_payload,
                }),
                solicited: url.is_some(),
                explicit: explicit.unwrap_or(false),
                url,
                retry: false,
                remote_id: String::new(),
                remote_name: String::new(),
                info_received: false,
                registered: false,
                headers: false,
                connect_urls: Vec::new(),
                ended: false,
                needs_auth: false,
            }));
        }
        self.rearm(conn.slot);
        self.log(
            conn.slot,
            LogLevel::Info,
            LogMessage::Route("Route connection created".into()),
        );
        conn
    }

    /// Decodes and processes a route's input.
    pub(super) fn route_input(&mut self, now: Instant, conn: ConnId, input: &mut BytesMut) {
        loop {
            let Some(session) = self.session_mut(conn) else {
                input.clear();
                return;
            };
            if session.phase == SessionPhase::Closing {
                input.clear();
                return;
            }
            if session.pending_connect.is_some() {
                // Its credentials are being checked: the rest waits in the
                // driver's buffer.
                return;
            }
            let Some(route) = session.route.as_deref_mut() else {
                return;
            };
            match route.decoder.decode(input) {
                Ok(Some(op)) => {
                    if let Some(s) = self.slot_session(conn.slot) {
                        if !matches!(op, RouteOp::Pong) {
                            s.last_activity = now;
                        }
                    }
                    self.route_process(now, conn.slot, op);
                }
                Ok(None) => return,
                Err(e) => {
                    input.clear();
                    self.close(conn.slot, CloseReason::Protocol(e));
                    return;
                }
            }
        }
    }

    fn route_process(&mut self, now: Instant, slot: u32, op: RouteOp) {
        if self.config.trace {
            let text = trace_text(&op);
            self.log(slot, LogLevel::Trace, LogMessage::TraceIn(text));
        }
        let needs_auth = self
            .slots
            .get(slot as usize)
            .and_then(|s| s.session.as_ref())
            .and_then(|s| s.route.as_deref())
            .is_some_and(|r| r.needs_auth);
        if needs_auth && !matches!(op, RouteOp::Connect(_)) {
            // nats-server's `expectConnect`: anything before an accepted
            // `CONNECT` is an authorization violation.
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        match op {
            RouteOp::Info(json) => self.process_route_info(now, slot, &json),
            RouteOp::Connect(json) => self.process_route_connect(slot, &json),
            RouteOp::Sub {
                account,
                subject,
                queue,
            } => self.remote_sub(slot, &account, &subject, queue),
            RouteOp::Unsub {
                account,
                subject,
                queue,
            } => self.remote_unsub(slot, &account, &subject, queue.as_ref()),
            RouteOp::Msg(m) => self.process_routed_msg(now, slot, &m),
            RouteOp::Ping => {
                self.trace_out(slot, || "PONG".to_owned());
                self.write_wire(slot, |out| out.put(crate::nats::codec::PONG));
            }
            RouteOp::Pong => {
                if let Some(s) = self.slot_session(slot) {
                    s.pings_out = 0;
                    if let Some(sent) = s.ping_sent_at.take() {
                        s.rtt = Some(now.saturating_duration_since(sent));
                    }
                }
            }
            RouteOp::Ok => {}
            RouteOp::Err(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                self.log(
                    slot,
                    LogLevel::Error,
                    LogMessage::Route(format!("Route Error '{text}'")),
                );
                self.close(slot, CloseReason::RouteError(text));
            }
        }
    }

    /// The client `INFO` of session `slot`, with the cluster's client URLs.
    pub(super) fn client_info_json(&self, slot: u32, ip: &str) -> Vec<u8> {
        let cid = self.slots[slot as usize]
            .session
            .as_ref()
            .map_or(0, |s| s.cid);
        let urls = self.client_connect_urls();
        Info {
            server_id: &self.server_id,
            server_name: self.server_name(),
            version: ANNOUNCED_VERSION,
            proto: 1,
            go: concat!("rust-stan-", env!("CARGO_PKG_VERSION")),
            host: &self.config.host,
            port: self.config.port,
            headers: self.config.headers,
            auth_required: self.auth.is_required(),
            tls_required: self.config.tls_required,
            tls_verify: self.config.tls_verify,
            max_payload: self.config.max_payload,
            client_id: cid,
            client_ip: ip,
            connect_urls: &urls,
        }
        .to_json()
    }

    /// The name announced in `INFO`.
    pub(super) fn server_name(&self) -> &str {
        self.config
            .server_name
            .as_deref()
            .unwrap_or(&self.server_id)
    }

    /// A route session is ending (closed by the router, or its transport
    /// gone): it leaves the registered routes, its client URLs leave the
    /// clients' `connect_urls`, and it is dialled again when nats-server
    /// would.
    pub(super) fn route_ended(&mut self, slot: u32) {
        let now = self.clock.now();
        let conn = self.conn_id(slot);
        let Some(route) = self.slot_session(slot).and_then(|s| s.route.as_deref_mut()) else {
            return;
        };
        if route.ended {
            return;
        }
        route.ended = true;
        let (remote_id, registered) = (route.remote_id.clone(), route.registered);
        let redial = (route.solicited || route.retry)
            .then(|| route.url.clone().map(|u| (u, route.explicit)))
            .flatten();
        let had_urls = registered && !route.connect_urls.is_empty();
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        if registered && cluster.remotes.get(&remote_id) == Some(&conn) {
            cluster.remotes.remove(&remote_id);
        }
        let connected = !remote_id.is_empty() && cluster.remotes.contains_key(&remote_id);
        let to_self = remote_id == self.server_id;
        if had_urls && !cluster.config.no_advertise {
            self.send_async_info_to_clients();
        }
        if let Some((url, explicit)) = redial {
            if !connected && !to_self {
                self.schedule_redial(url, explicit, now);
            }
        }
    }
}

/// The text of a route operation as nats-server traces it.
fn trace_text(op: &RouteOp) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match op {
        RouteOp::Info(j) => format!("INFO {}", s(j)),
        RouteOp::Connect(j) => format!("CONNECT {}", s(j)),
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => match queue {
            Some((q, w)) => format!("RS+ {} {} {} {w}", s(account), s(subject), s(q)),
            None => format!("RS+ {} {}", s(account), s(subject)),
        },
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => match queue {
            Some(q) => format!("RS- {} {} {}", s(account), s(subject), s(q)),
            None => format!("RS- {} {}", s(account), s(subject)),
        },
        RouteOp::Msg(m) => format!(
            "RMSG {} {} {}",
            s(m.account()),
            s(m.frame().subject()),
            m.frame().size()
        ),
        RouteOp::Ping => "PING".into(),
        RouteOp::Pong => "PONG".into(),
        RouteOp::Ok => "+OK".into(),
        RouteOp::Err(t) => format!("-ERR '{}'", s(t)),
    }
}
