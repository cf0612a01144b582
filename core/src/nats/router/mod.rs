//! The embedded NATS server: a router of client sessions, as a state machine.
//!
//! A [`Router`] holds every client session, the subject index and the
//! keepalive and authentication timers. It does no IO: a driver accepts
//! connections and tells the router ([`Router::handle_accept`]), feeds it the
//! bytes each connection reads ([`Router::handle_input`]) and the time
//! ([`Router::handle_timeout`]), and moves the router's output to the sockets.
//! In-process peers (the streaming engine) attach without a socket
//! ([`Router::attach_local`]) and exchange messages as values.
//!
//! Drain order after every input (the crate's [contract](crate::contract)):
//! 1. [`Router::poll_event`] until `None`: [`RouterEvent::OutputReady`] says a
//!    session has output (edge-triggered: once until it is drained);
//!    [`RouterEvent::SessionClosed`] says the router ended a session;
//! 2. for each ready session, [`Router::poll_transmit`] (wire sessions) or
//!    [`Router::poll_delivery`] (local sessions) until `None`;
//! 3. [`Router::poll_timeout`] for the next deadline.
//!
//! When a session is closed by the router, its last output (an `-ERR`, if
//! any) is still returned by `poll_transmit`; once that returns `None` the
//! driver closes the transport and calls [`Router::handle_transport_closed`].
//!
//! Flow control, as nats-server does it: bytes handed out by
//! `poll_transmit` stay counted against the session's `max_pending` until
//! the driver reports them written ([`Router::handle_written`]). A client
//! that publishes to a session whose pending output passed half of
//! `max_pending` is stalled: the router stops decoding its input
//! ([`Router::is_input_paused`]; the rest stays in the driver's buffer) and
//! the driver stops reading its socket, until the consumer drains below half
//! or the stall's timeout (100 ms to 1 s, growing with the backlog) passes;
//! then [`RouterEvent::InputResumed`] says to feed the buffered input again
//! and read on. A session is cut off as a slow consumer only when its
//! pending output passes `max_pending` or a write stays blocked for
//! `write_deadline` ([`Router::handle_write_stalled`]). In-process sessions
//! (the streaming engine) are never stalled and never cut off; clients that
//! publish to one that is behind are stalled like for any consumer.
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use stan_core::nats::router::{Router, RouterConfig, RouterEvent};
//!
//! let now = Instant::now();
//! let mut router = Router::new(RouterConfig::default(), now);
//! let sub = router.handle_accept(now, "127.0.0.1:5000");
//! let publisher = router.handle_accept(now, "127.0.0.1:5001");
//!
//! let mut input = BytesMut::from(&b"CONNECT {\"verbose\":false}\r\nSUB foo.* 1\r\n"[..]);
//! router.handle_input(now, sub, &mut input);
//! let mut input = BytesMut::from(&b"CONNECT {\"verbose\":false}\r\nPUB foo.bar 2\r\nhi\r\n"[..]);
//! router.handle_input(now, publisher, &mut input);
//!
//! let mut wire = Vec::new();
//! while let Some(chunk) = router.poll_transmit(sub) {
//!     wire.extend_from_slice(&chunk);
//! }
//! assert!(wire.starts_with(b"INFO {"));
//! assert!(wire.ends_with(b"MSG foo.bar 1 2\r\nhi\r\n"));
//! ```

mod auth;
mod config;
mod connect;
mod event;
mod fanout;
mod flow;
mod index;
mod info;
mod keepalive;
mod local;
mod log;
mod out;
mod protocol;
mod reload;
mod route;
mod routing;
mod session;
mod snapshot;
mod verify;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use auth::{is_bcrypt, Auth};
pub use config::RouterConfig;
pub use connect::{ConnectOptions, ConnectParseError};
pub use event::{CloseReason, RouterEvent, SlowConsumer, TlsFailure};
pub use info::ANNOUNCED_VERSION;
pub use local::{pump_local, LocalError, LocalOptions};
pub use log::{LogLevel, LogMessage, LogRecord};
pub use reload::ReloadError;
pub use route::{ClusterConfig, DialId, RouteInfo, RouteUrl};
pub use session::{Delivery, SessionInfo, SessionPhase, SessionStats};
pub use snapshot::{
    ClusterSnapshot, ConnSnapshot, RouteSnapshot, RouterSnapshot, SnapshotOptions, SubSnapshot,
    SublistStats,
};
pub use verify::{CredentialCheck, CredentialVerdict};

use self::auth::Authenticator;
use self::index::{SubKey, SubjectIndex};
use self::out::OutBuf;
use self::routing::Subscription;
use self::session::{Session, Transport};
use crate::hash::SeededState;
use crate::nats::codec::{self as encode, ClientOpDecoder, Limits};
use crate::rand::{derive_key, domain, SeededRng};
use crate::time::{deadline_after, Clock, Timers};

/// Identifies a session of a [`Router`]. Ids are not reused while the router
/// lives (a slot's generation changes when it is reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    slot: u32,
    gen: u32,
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.slot, self.gen)
    }
}

/// Counters over the router's whole life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Messages published by clients.
    pub in_msgs: u64,
    /// Payload bytes published by clients.
    pub in_bytes: u64,
    /// Messages delivered to clients.
    pub out_msgs: u64,
    /// Payload bytes delivered to clients.
    pub out_bytes: u64,
    /// Sessions cut off as slow consumers.
    pub slow_consumers: u64,
    /// Sessions accepted in total.
    pub total_connections: u64,
}

#[derive(Debug, Default)]
struct Slot {
    gen: u32,
    session: Option<Session>,
}

/// The embedded NATS server state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    server_id: String,
    limits: Limits,
    auth: Authenticator,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    open_sessions: usize,
    /// Of `open_sessions`, the routes (not counted against
    /// `max_connections`, as nats-server counts clients only).
    open_routes: usize,
    subs: Vec<Option<Subscription>>,
    free_subs: Vec<SubKey>,
    index: SubjectIndex,
    hasher: SeededState,
    /// Each session's next deadline (keepalive, authentication, stall).
    timers: Timers<ConnId>,
    events: VecDeque<RouterEvent>,
    rng: SeededRng,
    next_cid: u64,
    clock: Clock,
    started_at: Instant,
    stats: RouterStats,
    /// Subscriptions that reached their auto-unsubscribe count while routing.
    expired: Vec<SubKey>,
    /// Sessions that became slow consumers while routing.
    overflowing: Vec<u32>,
    /// Identifies the next credential check.
    next_ticket: u64,
    /// Routes to the other servers of a cluster, when clustering.
    cluster: Option<Box<route::Cluster>>,
    /// The routes a message being routed goes to (reused buffer).
    route_targets: Vec<route::RouteTarget>,
}

impl Router {
    /// A router with `config`, starting at `now`.
    pub fn new(config: RouterConfig, now: Instant) -> Self {
        // Published randomness (the server id, queue picks) and the hash
        // keys of the peer-keyed maps come from independent keys, so that
        // the server id in `INFO` tells a peer nothing about the hash keys.
        let mut rng = SeededRng::new(derive_key(config.seed, domain::ROUTER_RNG));
        // Shaped like nats-server's id (an nkey: 'N' + 55 base32 characters).
        let server_id = format!(
            "N{}",
            rng.string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 55)
        );
        let mut router = Router {
            limits: Limits {
                max_control_line: config.max_control_line,
                max_payload: config.max_payload,
            },
            auth: Authenticator::new(config.auth.clone()),
            index: SubjectIndex::new(
                config.match_cache_size,
                derive_key(config.seed, domain::ROUTER_SUBJECT_HASH),
            ),
            hasher: SeededState::new(derive_key(config.seed, domain::ROUTER_SID_HASH)),
            config,
            server_id,
            slots: Vec::new(),
            free_slots: Vec::new(),
            open_sessions: 0,
            open_routes: 0,
            subs: Vec::new(),
            free_subs: Vec::new(),
            timers: Timers::new(),
            events: VecDeque::new(),
            rng,
            next_cid: 1,
            clock: Clock::new(now),
            started_at: now,
            stats: RouterStats::default(),
            expired: Vec::new(),
            overflowing: Vec::new(),
            next_ticket: 0,
            cluster: None,
            route_targets: Vec::new(),
        };
        if router.config.cluster.is_some() {
            router.start_cluster(now);
        }
        router
    }

    // ----- getters -----

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The server id announced in `INFO`.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// Sessions not yet closed by the router, routes included.
    pub fn connection_count(&self) -> usize {
        self.open_sessions
    }

    /// Subscriptions in the index.
    pub fn subscription_count(&self) -> usize {
        self.index.len()
    }

    /// The phase of a session, `None` once its transport was closed.
    pub fn session_phase(&self, conn: ConnId) -> Option<SessionPhase> {
        self.session(conn).map(|s| s.phase)
    }

    /// The per-connection id announced in `INFO` (`client_id`).
    pub fn client_id(&self, conn: ConnId) -> Option<u64> {
        self.session(conn).map(|s| s.cid)
    }

    /// The name a session gave in `CONNECT`.
    pub fn client_name(&self, conn: ConnId) -> Option<&str> {
        self.session(conn).map(|s| s.name.as_str())
    }

    /// A monitoring snapshot of a session.
    pub fn session_info(&self, conn: ConnId) -> Option<SessionInfo> {
        self.session(conn).map(Session::info)
    }

    /// Every session, in slot order.
    pub fn sessions(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.session.as_ref().map(|_| ConnId {
                slot: i as u32,
                gen: s.gen,
            })
        })
    }

    /// Traffic counters of a session.
    pub fn session_stats(&self, conn: ConnId) -> Option<SessionStats> {
        self.session(conn).map(|s| s.stats)
    }

    /// Bytes (or, for local sessions, delivery weight) waiting for the peer:
    /// queued, and handed out but not yet reported written.
    pub fn pending_output_bytes(&self, conn: ConnId) -> usize {
        self.session(conn).map_or(0, Session::pending)
    }

    /// Whether the router stopped taking `conn`'s input (a stalled
    /// producer, or a `CONNECT` waiting for its credential check): the
    /// driver must not read its transport until [`RouterEvent::InputResumed`].
    pub fn is_input_paused(&self, conn: ConnId) -> bool {
        self.session(conn).is_some_and(Session::is_input_paused)
    }

    // ----- inputs -----

    /// A transport connected: creates a wire session and queues its `INFO`.
    /// `peer` is the client address (for `client_ip` and monitoring).
    pub fn handle_accept(&mut self, now: Instant, peer: &str) -> ConnId {
        let now = self.advance(now);
        let transport = Transport::Wire {
            decoder: ClientOpDecoder::new(self.limits),
            out: OutBuf::default(),
        };
        let conn = self.insert_session(transport, peer.to_owned(), now);
        self.stats.total_connections += 1;
        let ip = peer
            .rsplit_once(':')
            .map_or(peer, |(ip, _)| ip)
            .trim_matches(|c| c == '[' || c == ']');
        let json = self.client_info_json(conn.slot, ip);
        let curls_gen = self.cluster.as_deref().map_or(0, |c| c.curls_gen);
        if let Some(s) = self.slot_session(conn.slot) {
            s.curls_seen = curls_gen;
        }
        self.write_wire(conn.slot, |out| {
            out.write_with(|b| encode::write_info(b, &json));
        });
        if self.config.debug {
            self.log(conn.slot, LogLevel::Debug, LogMessage::ConnectionCreated);
        }
        if self.open_sessions - self.open_routes > self.config.max_connections {
            self.close(conn.slot, CloseReason::MaxConnectionsExceeded);
        } else if self.auth.is_required() {
            let deadline = deadline_after(now, self.config.auth_timeout);
            if let Some(s) = self.slot_session(conn.slot) {
                s.auth_deadline = Some(deadline);
            }
            self.rearm(conn.slot);
        }
        conn
    }

    /// Bytes read from a wire session's transport were appended to `input`:
    /// decodes and processes every complete op, leaving a partial op in
    /// `input`. Input for a closing or unknown session is discarded.
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, input: &mut BytesMut) {
        let now = self.advance(now);
        if self.session(conn).is_some_and(|s| s.route.is_some()) {
            self.route_input(now, conn, input);
            return;
        }
        loop {
            let Some(session) = self.session_mut(conn) else {
                input.clear();
                return;
            };
            if session.phase == SessionPhase::Closing {
                input.clear();
                return;
            }
            if session.is_input_paused() {
                // Stalled, or authenticating: the rest waits in the
                // driver's buffer.
                return;
            }
            let Transport::Wire { decoder, .. } = &mut session.transport else {
                input.clear();
                return;
            };
            match decoder.decode(input) {
                Ok(Some(op)) => self.process(now, conn.slot, op),
                Ok(None) => return,
                Err(e) => {
                    input.clear();
                    self.close(conn.slot, CloseReason::Protocol(e));
                    return;
                }
            }
        }
    }

    /// The transport of `conn` is gone (peer closed, IO error, or the driver
    /// finished closing it). The session and its subscriptions are removed.
    pub fn handle_transport_closed(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        let Some(session) = self.session(conn) else {
            return;
        };
        let peer_closed = session.phase != SessionPhase::Closing;
        if peer_closed && session.route.is_some() {
            // nats-server logs a route's end at notice level.
            let text = "Router connection closed: Client Closed".to_owned();
            self.log(conn.slot, LogLevel::Info, LogMessage::Route(text));
        } else if peer_closed && self.config.debug {
            self.log(
                conn.slot,
                LogLevel::Debug,
                LogMessage::ConnectionClosed("Client Closed"),
            );
        }
        self.drop_session_state(conn.slot);
        let slot = &mut self.slots[conn.slot as usize];
        if let Some(s) = slot.session.take() {
            if s.phase != SessionPhase::Closing {
                self.open_sessions -= 1;
                if s.route.is_some() {
                    self.open_routes -= 1;
                }
            }
        }
        slot.gen = slot.gen.wrapping_add(1);
        self.free_slots.push(conn.slot);
    }

    /// The TLS upgrade of `conn` failed (a server with
    /// [`RouterConfig::tls_required`]; the adapter does the handshake after
    /// the `INFO` it wrote in plain text). The session ends as nats-server
    /// ends it:
    ///
    /// * [`TlsFailure::NotTls`] (the client's first bytes are not a TLS
    ///   record: a plain-text client) and [`TlsFailure::Timeout`] (no
    ///   handshake within the TLS timeout): `-ERR 'Secure Connection - TLS
    ///   Required'`, which the adapter writes in plain text before closing
    ///   ([`CloseReason::TlsRequired`]);
    /// * [`TlsFailure::Handshake`] (a bad or missing certificate, ...): no
    ///   `-ERR` (the adapter sends the TLS alert), logged as nats-server's
    ///   `TLS handshake error: ...` ([`CloseReason::TlsHandshake`]).
    ///
    /// Either way `/connz` says `TLS Handshake Error`.
    pub fn handle_tls_failed(&mut self, now: Instant, conn: ConnId, failure: TlsFailure) {
        self.advance(now);
        if self.session(conn).is_none() {
            return;
        }
        let reason = match failure {
            TlsFailure::NotTls => {
                self.log(
                    conn.slot,
                    LogLevel::Error,
                    LogMessage::TlsHandshakeError(
                        "tls: first record does not look like a TLS handshake".into(),
                    ),
                );
                CloseReason::TlsRequired
            }
            TlsFailure::Timeout => {
                // An error in nats-server 2.9 (a debug line from 2.10 on).
                self.log(conn.slot, LogLevel::Error, LogMessage::TlsHandshakeTimeout);
                CloseReason::TlsRequired
            }
            TlsFailure::Handshake(text) => {
                self.log(
                    conn.slot,
                    LogLevel::Error,
                    LogMessage::TlsHandshakeError(text.clone()),
                );
                CloseReason::TlsHandshake(text)
            }
        };
        self.close(conn.slot, reason);
    }

    /// A write to `conn`'s transport has been blocked for the configured
    /// `write_deadline`: the session is cut off as a slow consumer.
    pub fn handle_write_stalled(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        if self.session(conn).is_some() {
            self.close(
                conn.slot,
                CloseReason::SlowConsumer(SlowConsumer::WriteDeadline),
            );
        }
    }

    /// Fires every deadline at or before `now` (keepalive pings, stale
    /// connections, authentication timeouts). Safe to call early or often.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.fire_dials(now);
        while let Some(conn) = self.timers.pop_due(now) {
            if self.session(conn).is_none() {
                continue;
            }
            self.fire_timers(now, conn.slot);
            self.rearm(conn.slot);
        }
    }

    // ----- commands -----

    /// Closes every session (no `-ERR`; pending output is still flushed).
    pub fn shutdown(&mut self, now: Instant) {
        self.advance(now);
        for slot in 0..self.slots.len() as u32 {
            if self.slots[slot as usize]
                .session
                .as_ref()
                .is_some_and(|s| s.phase != SessionPhase::Closing)
            {
                self.close(slot, CloseReason::ServerShutdown);
            }
        }
    }

    // ----- outputs -----

    /// The next event for the driver.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RouterEvent> {
        self.events.pop_front()
    }

    /// The next chunk of bytes to write to a wire session's transport.
    #[must_use]
    pub fn poll_transmit(&mut self, conn: ConnId) -> Option<Bytes> {
        let session = self.session_mut(conn)?;
        let chunk = match &mut session.transport {
            Transport::Wire { out, .. } => out.pop(),
            Transport::Local { .. } => None,
        };
        if chunk.is_none() {
            session.signalled = false;
        }
        chunk
    }

    /// The earliest deadline; call [`Router::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dials = self.cluster.as_ref().and_then(|c| c.next_dial());
        match (self.timers.next(), dials) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- internals: sessions -----

    /// The `now` of an input (never earlier than one already seen).
    fn advance(&mut self, now: Instant) -> Instant {
        self.clock.advance(now)
    }

    fn insert_session(&mut self, transport: Transport, peer: String, now: Instant) -> ConnId {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.open_sessions += 1;
        let session = Session::new(cid, transport, peer, now, self.hasher);
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.session = Some(session);
        ConnId {
            slot,
            gen: entry.gen,
        }
    }

    fn session(&self, conn: ConnId) -> Option<&Session> {
        let slot = self.slots.get(conn.slot as usize)?;
        (slot.gen == conn.gen).then_some(slot.session.as_ref()?)
    }

    fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        let slot = self.slots.get_mut(conn.slot as usize)?;
        if slot.gen != conn.gen {
            return None;
        }
        slot.session.as_mut()
    }

    fn slot_session(&mut self, slot: u32) -> Option<&mut Session> {
        self.slots.get_mut(slot as usize)?.session.as_mut()
    }

    fn conn_id(&self, slot: u32) -> ConnId {
        ConnId {
            slot,
            gen: self.slots[slot as usize].gen,
        }
    }

    /// Writes to a wire session's output and signals it.
    fn write_wire(&mut self, slot: u32, write: impl FnOnce(&mut OutBuf)) {
        let Some(session) = self.slots[slot as usize].session.as_mut() else {
            return;
        };
        let Some(out) = session.wire_out() else {
            return;
        };
        write(out);
        if !session.signalled {
            session.signalled = true;
            let conn = ConnId {
                slot,
                gen: self.slots[slot as usize].gen,
            };
            self.events.push_back(RouterEvent::OutputReady(conn));
        }
    }

    fn send_err(&mut self, slot: u32, text: &str) {
        self.trace_out(slot, || format!("-ERR {text}"));
        self.write_wire(slot, |out| {
            out.write_with(|b| encode::write_err(b, text.as_bytes()));
        });
    }

    fn send_ok(&mut self, slot: u32) {
        self.trace_out(slot, || "OK".to_owned());
        self.write_wire(slot, |out| out.put(encode::OK));
    }

    /// Ends a session: `-ERR` if the reason has one, subscriptions and timers
    /// removed, `SessionClosed` emitted. Its remaining output stays
    /// available (except for slow consumers).
    fn close(&mut self, slot: u32, reason: CloseReason) {
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.phase == SessionPhase::Closing {
            return;
        }
        // Logged in nats-server's order: the -ERR sent, then why, then
        // closed (a slow consumer's output is reported, then dropped).
        if let CloseReason::SlowConsumer(_) = reason {
            self.log_close(slot, &reason);
            if let Some(session) = self.slot_session(slot) {
                session.discard_output();
            }
            self.stats.slow_consumers += 1;
        } else {
            if let Some(text) = reason.err_text() {
                self.send_err(slot, text);
            }
            self.log_close(slot, &reason);
        }
        let conn = self.conn_id(slot);
        self.drop_session_state(slot);
        if let Some(s) = self.slot_session(slot) {
            s.phase = SessionPhase::Closing;
            if s.route.is_some() {
                self.open_routes -= 1;
            }
        }
        self.open_sessions -= 1;
        self.events
            .push_back(RouterEvent::SessionClosed { conn, reason });
    }

    /// Removes a session's subscriptions and timers.
    fn drop_session_state(&mut self, slot: u32) {
        self.route_ended(slot);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        let keys: Vec<SubKey> = session.sids.drain().map(|(_, k)| k).collect();
        session.auth_deadline = None;
        session.ping_at = None;
        session.input_paused_until = None;
        session.paused_on = None;
        session.pending_connect = None;
        let waiting = !session.stalled_producers.is_empty();
        self.timers.cancel(self.conn_id(slot));
        for key in keys {
            self.remove_sub(key);
        }
        if waiting {
            // Nobody is behind on a session that is gone.
            self.release_stalled(self.conn_id(slot));
        }
    }

    // ----- internals: timers -----

    // ----- internals: protocol -----
}
