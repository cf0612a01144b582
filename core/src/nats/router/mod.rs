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
//! Drain order after every input, quinn-style:
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
mod fanout;
mod flow;
mod index;
mod info;
mod log;
mod out;
mod session;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

pub use auth::{is_bcrypt, Auth};
pub use config::RouterConfig;
pub use connect::{ConnectOptions, ConnectParseError};
pub use info::ANNOUNCED_VERSION;
pub use log::{LogLevel, LogMessage, LogRecord};
pub use session::{Delivery, SessionInfo, SessionPhase, SessionStats};

use self::auth::Authenticator;
use self::fanout::{Fanout, Outbound};
use self::flow::stall_duration;
use self::index::{SubKey, SubjectIndex};
use self::info::Info;
use self::out::OutBuf;
use self::session::{Session, SessionFlags, Transport};
use crate::hash::SeededState;
use crate::nats::codec::{self as encode, ClientOp, ClientOpDecoder, DecodeError, Limits};
use crate::nats::subject;
use crate::rand::SeededRng;

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

/// Why the router ended a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The byte stream could not be decoded (`-ERR` sent when nats-server
    /// sends one).
    Protocol(DecodeError),
    /// The `CONNECT` JSON was malformed.
    BadConnect,
    /// `HPUB` from a client that did not declare header support.
    HeadersNotSupported,
    /// Wrong or missing credentials (`-ERR 'Authorization Violation'`).
    AuthorizationViolation,
    /// No `CONNECT` within the authentication timeout.
    AuthenticationTimeout,
    /// `CONNECT` with a protocol other than 0 or 1.
    BadClientProtocol,
    /// `no_responders` without `headers`.
    NoRespondersRequiresHeaders,
    /// Too many connections.
    MaxConnectionsExceeded,
    /// Too many keepalive `PING`s left unanswered.
    StaleConnection,
    /// Cut off as a slow consumer; the output was dropped.
    SlowConsumer(SlowConsumer),
    /// The router is shutting down.
    ServerShutdown,
}

/// Which of nats-server's slow-consumer conditions a session met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Pending output passed `max_pending`.
    MaxPending,
    /// A write stayed blocked for `write_deadline`.
    WriteDeadline,
}

impl CloseReason {
    /// Whether the driver writes the session's remaining output before
    /// closing the socket. A slow consumer is cut off at once (its output
    /// is what it could not take); every other close flushes first (the
    /// `-ERR`, the last replies).
    pub fn flushes_output(&self) -> bool {
        !matches!(self, CloseReason::SlowConsumer(_))
    }

    /// nats-server's name of the closed state (as in its log and `/connz`).
    pub fn state_text(&self) -> &'static str {
        match self {
            CloseReason::Protocol(DecodeError::PayloadTooLarge { .. }) => {
                "Maximum Message Payload Exceeded"
            }
            CloseReason::Protocol(DecodeError::ControlLineTooLong { .. }) => {
                "Maximum Control Line Exceeded"
            }
            CloseReason::Protocol(_)
            | CloseReason::BadConnect
            | CloseReason::HeadersNotSupported => "Protocol Violation",
            CloseReason::AuthorizationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::BadClientProtocol => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumer(SlowConsumer::MaxPending) => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumer(SlowConsumer::WriteDeadline) => {
                "Slow Consumer (Write Deadline)"
            }
            CloseReason::ServerShutdown => "Server Shutdown",
        }
    }

    /// The `-ERR` text sent before closing, if any.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            CloseReason::Protocol(e) => e.server_err_text(),
            CloseReason::HeadersNotSupported => Some("Unknown Protocol Operation"),
            CloseReason::AuthorizationViolation => Some("Authorization Violation"),
            CloseReason::AuthenticationTimeout => Some("Authentication Timeout"),
            CloseReason::BadClientProtocol => Some("invalid client protocol"),
            CloseReason::NoRespondersRequiresHeaders => {
                Some("no responders requires headers support")
            }
            CloseReason::MaxConnectionsExceeded => Some("maximum connections exceeded"),
            CloseReason::StaleConnection => Some("Stale Connection"),
            CloseReason::BadConnect
            | CloseReason::SlowConsumer(_)
            | CloseReason::ServerShutdown => None,
        }
    }
}

/// Something a driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// The session has output (bytes or deliveries). Emitted once; again only
    /// after its output was drained to empty.
    OutputReady(ConnId),
    /// The router ended the session: transmit what is left, then close the
    /// transport and call [`Router::handle_transport_closed`].
    SessionClosed {
        /// The session.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// The session's stall is over: feed the input left in the driver's
    /// buffer to [`Router::handle_input`] again, then read the transport
    /// again.
    InputResumed(ConnId),
    /// A line for the operator's log.
    Log(LogRecord),
}

/// Options of an in-process session.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Client name (for monitoring).
    pub name: String,
    /// Receive own publishes on own subscriptions.
    pub echo: bool,
    /// Receive header blocks.
    pub headers: bool,
    /// Receive a 503 status reply to requests nobody receives.
    pub no_responders: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            name: String::new(),
            echo: true,
            headers: true,
            no_responders: true,
        }
    }
}

/// Why a command of an in-process session was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalError {
    /// The session does not exist, is not local, or is closed.
    #[error("no such open local session")]
    NoSession,
    /// The subject is not valid for this operation.
    #[error("invalid subject: {0}")]
    InvalidSubject(#[from] subject::SubjectError),
    /// The payload (headers included) is larger than `max_payload`.
    #[error("payload of {size} bytes exceeds max_payload {max}")]
    MaxPayload {
        /// Headers plus payload.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The session reached `max_subscriptions`.
    #[error("maximum subscriptions exceeded")]
    MaxSubscriptions,
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

/// A subscription of some session.
#[derive(Debug)]
struct Subscription {
    slot: u32,
    sid: Bytes,
    subject: Bytes,
    queue: Option<Bytes>,
    max: Option<u64>,
    delivered: u64,
}

#[derive(Debug, Default)]
struct Slot {
    gen: u32,
    session: Option<Session>,
}

const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";
/// First keepalive tick: min(ping_interval, this) plus up to 20 % jitter.
const FIRST_PING: Duration = Duration::from_secs(2);

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
    subs: Vec<Option<Subscription>>,
    free_subs: Vec<SubKey>,
    index: SubjectIndex,
    hasher: SeededState,
    timers: BTreeSet<(Instant, u32, u32)>,
    events: VecDeque<RouterEvent>,
    rng: SeededRng,
    next_cid: u64,
    now: Instant,
    stats: RouterStats,
    /// Subscriptions that reached their auto-unsubscribe count while routing.
    expired: Vec<SubKey>,
    /// Sessions that became slow consumers while routing.
    overflowing: Vec<u32>,
}

impl Router {
    /// A router with `config`, starting at `now`.
    pub fn new(config: RouterConfig, now: Instant) -> Self {
        let mut rng = SeededRng::new(config.seed);
        // Shaped like nats-server's id (an nkey: 'N' + 55 base32 characters).
        let server_id = format!(
            "N{}",
            rng.string_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 55)
        );
        Router {
            limits: Limits {
                max_control_line: config.max_control_line,
                max_payload: config.max_payload,
            },
            auth: Authenticator::new(config.auth.clone()),
            index: SubjectIndex::new(config.match_cache_size, config.seed),
            hasher: SeededState::new(config.seed ^ 0x5eed),
            config,
            server_id,
            slots: Vec::new(),
            free_slots: Vec::new(),
            open_sessions: 0,
            subs: Vec::new(),
            free_subs: Vec::new(),
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            rng,
            next_cid: 1,
            now,
            stats: RouterStats::default(),
            expired: Vec::new(),
            overflowing: Vec::new(),
        }
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

    /// Sessions not yet closed by the router.
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
    /// producer): the driver must not read its transport until
    /// [`RouterEvent::InputResumed`].
    pub fn is_input_paused(&self, conn: ConnId) -> bool {
        self.session(conn)
            .is_some_and(|s| s.input_paused_until.is_some())
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
        let ip = peer
            .rsplit_once(':')
            .map_or(peer, |(ip, _)| ip)
            .trim_matches(|c| c == '[' || c == ']');
        let cid = self.slots[conn.slot as usize]
            .session
            .as_ref()
            .map_or(0, |s| s.cid);
        let json = Info {
            server_id: &self.server_id,
            server_name: self
                .config
                .server_name
                .as_deref()
                .unwrap_or(&self.server_id),
            version: ANNOUNCED_VERSION,
            proto: 1,
            go: concat!("rust-stan-", env!("CARGO_PKG_VERSION")),
            host: &self.config.host,
            port: self.config.port,
            headers: self.config.headers,
            auth_required: self.auth.is_required(),
            max_payload: self.config.max_payload,
            client_id: cid,
            client_ip: ip,
        }
        .to_json();
        self.write_wire(conn.slot, |out| {
            out.write_with(|b| encode::write_info(b, &json));
        });
        if self.config.debug {
            self.log(conn.slot, LogLevel::Debug, LogMessage::ConnectionCreated);
        }
        if self.open_sessions > self.config.max_connections {
            self.close(conn.slot, CloseReason::MaxConnectionsExceeded);
        } else if self.auth.is_required() {
            let deadline = now + self.config.auth_timeout;
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
        loop {
            let Some(session) = self.session_mut(conn) else {
                input.clear();
                return;
            };
            if session.phase == SessionPhase::Closing {
                input.clear();
                return;
            }
            if session.input_paused_until.is_some() {
                // Stalled: the rest waits in the driver's buffer.
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
        if peer_closed && self.config.debug {
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
            }
        }
        slot.gen = slot.gen.wrapping_add(1);
        self.free_slots.push(conn.slot);
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
        while let Some(&(at, slot, gen)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let valid = self.slots.get(slot as usize).is_some_and(|s| s.gen == gen);
            if !valid {
                continue;
            }
            if let Some(s) = self.slot_session(slot) {
                s.armed = None;
            }
            self.fire_timers(now, slot);
            self.rearm(slot);
        }
    }

    // ----- commands -----

    /// Attaches an in-process session: open at once, no `INFO`/`CONNECT`.
    /// Its deliveries are taken with [`Router::poll_delivery`].
    pub fn attach_local(&mut self, now: Instant, options: LocalOptions) -> ConnId {
        let now = self.advance(now);
        let transport = Transport::Local {
            queue: VecDeque::new(),
            pending: 0,
        };
        let conn = self.insert_session(transport, String::new(), now);
        let server_headers = self.config.headers;
        if let Some(s) = self.slot_session(conn.slot) {
            s.phase = SessionPhase::Open;
            s.name = options.name;
            s.lang = "rust".into();
            s.flags = SessionFlags {
                verbose: false,
                pedantic: false,
                echo: options.echo,
                headers: options.headers && server_headers,
                no_responders: options.no_responders && options.headers,
            };
        }
        conn
    }

    /// Publishes from an in-process session.
    pub fn local_publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        subject: Bytes,
        reply: Option<Bytes>,
        headers: Option<Bytes>,
        payload: Bytes,
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        subject::validate_publish(&subject)?;
        if let Some(r) = &reply {
            subject::validate_publish(r)?;
        }
        let size = headers.as_ref().map_or(0, Bytes::len) + payload.len();
        if size > self.config.max_payload {
            return Err(LocalError::MaxPayload {
                size,
                max: self.config.max_payload,
            });
        }
        self.publish(
            now,
            conn.slot,
            &Outbound::Parts {
                subject: &subject,
                reply: reply.as_ref(),
                headers: headers.as_ref(),
                payload: &payload,
            },
        );
        Ok(())
    }

    /// Subscribes an in-process session. Re-using a sid keeps the existing
    /// subscription, as for wire clients.
    pub fn local_subscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        subject::validate_subscribe(subject)?;
        match self.subscribe(conn.slot, subject, queue, sid) {
            SubscribeOutcome::TooMany => Err(LocalError::MaxSubscriptions),
            _ => Ok(()),
        }
    }

    /// Unsubscribes an in-process session's `sid`, now or after `max`
    /// deliveries in total. Unknown sids are ignored.
    pub fn local_unsubscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &[u8],
        max: Option<u64>,
    ) -> Result<(), LocalError> {
        self.advance(now);
        self.local_slot(conn)?;
        self.unsubscribe(conn.slot, sid, max);
        Ok(())
    }

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

    /// The next message for an in-process session.
    #[must_use]
    pub fn poll_delivery(&mut self, conn: ConnId) -> Option<Delivery> {
        let session = self.session_mut(conn)?;
        let delivery = match &mut session.transport {
            Transport::Local { queue, pending } => {
                let d = queue.pop_front();
                if let Some(d) = &d {
                    *pending -= d.weight();
                }
                d
            }
            Transport::Wire { .. } => None,
        };
        if delivery.is_none() {
            session.signalled = false;
        }
        delivery
    }

    /// The earliest deadline; call [`Router::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _, _)| at)
    }

    // ----- internals: sessions -----

    fn advance(&mut self, now: Instant) -> Instant {
        debug_assert!(now >= self.now, "time went backwards");
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn insert_session(&mut self, transport: Transport, peer: String, now: Instant) -> ConnId {
        let cid = self.next_cid;
        self.next_cid += 1;
        self.open_sessions += 1;
        self.stats.total_connections += 1;
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

    fn local_slot(&self, conn: ConnId) -> Result<u32, LocalError> {
        match self.session(conn) {
            Some(s)
                if s.phase == SessionPhase::Open
                    && matches!(s.transport, Transport::Local { .. }) =>
            {
                Ok(conn.slot)
            }
            _ => Err(LocalError::NoSession),
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
        self.log_close(slot, &reason);
        if let CloseReason::SlowConsumer(_) = reason {
            if let Some(session) = self.slot_session(slot) {
                session.discard_output();
            }
            self.stats.slow_consumers += 1;
        } else if let Some(text) = reason.err_text() {
            self.send_err(slot, text);
        }
        let conn = self.conn_id(slot);
        self.drop_session_state(slot);
        if let Some(s) = self.slot_session(slot) {
            s.phase = SessionPhase::Closing;
        }
        self.open_sessions -= 1;
        self.events
            .push_back(RouterEvent::SessionClosed { conn, reason });
    }

    /// Removes a session's subscriptions and timers.
    fn drop_session_state(&mut self, slot: u32) {
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        let keys: Vec<SubKey> = session.sids.drain().map(|(_, k)| k).collect();
        let armed = session.armed.take();
        session.auth_deadline = None;
        session.ping_at = None;
        session.input_paused_until = None;
        session.paused_on = None;
        let waiting = !session.stalled_producers.is_empty();
        if let Some(at) = armed {
            let gen = self.slots[slot as usize].gen;
            self.timers.remove(&(at, slot, gen));
        }
        for key in keys {
            self.remove_sub(key);
        }
        if waiting {
            // Nobody is behind on a session that is gone.
            self.release_stalled(self.conn_id(slot));
        }
    }

    // ----- internals: timers -----

    /// Keeps the timer table entry of `slot` equal to its next deadline.
    fn rearm(&mut self, slot: u32) {
        let gen = self.slots[slot as usize].gen;
        let Some(session) = self.slots[slot as usize].session.as_mut() else {
            return;
        };
        let next = session.next_deadline();
        if next == session.armed {
            return;
        }
        if let Some(old) = session.armed.take() {
            self.timers.remove(&(old, slot, gen));
        }
        if let Some(at) = next {
            session.armed = Some(at);
            self.timers.insert((at, slot, gen));
        }
    }

    fn fire_timers(&mut self, now: Instant, slot: u32) {
        let ping_interval = self.config.ping_interval;
        let max_out = self.config.max_pings_out;
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.input_paused_until.is_some_and(|at| at <= now) {
            let consumer = session.paused_on;
            self.resume_input(slot);
            if self.config.debug {
                let pending = consumer.map_or(0, |c| self.pending_output_bytes(c));
                let ttl = stall_duration(pending, self.config.max_pending);
                self.log(slot, LogLevel::Debug, LogMessage::StallTimedOut(ttl));
            }
        }
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.auth_deadline.is_some_and(|at| at <= now) {
            session.auth_deadline = None;
            if session.phase == SessionPhase::AwaitingConnect {
                self.close(slot, CloseReason::AuthenticationTimeout);
                return;
            }
        }
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.ping_at.is_some_and(|at| at <= now) {
            let idle = now.saturating_duration_since(session.last_activity) >= ping_interval;
            if !session.rtt_probed || idle {
                if session.pings_out + 1 > max_out {
                    session.ping_at = None;
                    self.close(slot, CloseReason::StaleConnection);
                    return;
                }
                session.rtt_probed = true;
                session.pings_out += 1;
                session.ping_at = Some(now + ping_interval);
                self.trace_out(slot, || "PING".to_owned());
                self.write_wire(slot, |out| out.put(encode::PING));
            } else {
                session.ping_at = Some(now + ping_interval);
            }
        }
    }

    // ----- internals: protocol -----

    fn process(&mut self, now: Instant, slot: u32, op: ClientOp) {
        let auth_pending = self.auth.is_required()
            && self.slots[slot as usize]
                .session
                .as_ref()
                .is_some_and(|s| s.phase == SessionPhase::AwaitingConnect);
        if auth_pending && !matches!(op, ClientOp::Connect(_)) {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        self.trace_in(slot, &op);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if !matches!(op, ClientOp::Pong | ClientOp::Connect(_)) {
            session.last_activity = now;
        }
        let verbose = session.flags.verbose;
        match op {
            ClientOp::Connect(json) => self.process_connect(now, slot, &json),
            ClientOp::Pub(frame) => {
                let flags = session.flags;
                if frame.headers().is_some() && !flags.headers {
                    self.close(slot, CloseReason::HeadersNotSupported);
                    return;
                }
                if flags.pedantic && subject::validate_publish(frame.subject()).is_err() {
                    self.send_err(slot, "Invalid Publish Subject");
                }
                self.publish(now, slot, &Outbound::Frame(&frame));
                if verbose {
                    self.send_ok(slot);
                }
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                if subject::validate_subscribe(&subject).is_err() {
                    self.send_err(slot, "Invalid Subject");
                    return;
                }
                match self.subscribe(slot, &subject, queue.as_deref(), &sid) {
                    SubscribeOutcome::TooMany => {
                        self.send_err(slot, "maximum subscriptions exceeded");
                    }
                    _ if verbose => self.send_ok(slot),
                    _ => {}
                }
            }
            ClientOp::Unsub { sid, max } => {
                self.unsubscribe(slot, &sid, max);
                if verbose {
                    self.send_ok(slot);
                }
            }
            ClientOp::Ping => {
                self.trace_out(slot, || "PONG".to_owned());
                self.write_wire(slot, |out| out.put(encode::PONG));
            }
            ClientOp::Pong => session.pings_out = 0,
        }
    }

    fn process_connect(&mut self, now: Instant, slot: u32, json: &[u8]) {
        let Ok(opts) = ConnectOptions::parse(json) else {
            self.close(slot, CloseReason::BadConnect);
            return;
        };
        let was_awaiting = self
            .slot_session(slot)
            .is_some_and(|s| s.phase == SessionPhase::AwaitingConnect);
        if let Some(session) = self.slot_session(slot) {
            // Known before the checks, so that their log lines name it.
            session.name.clone_from(&opts.name);
            session.lang.clone_from(&opts.lang);
            session.version.clone_from(&opts.version);
        }
        if was_awaiting && self.auth.is_required() && !self.auth.check(&opts) {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        if opts.account.as_deref().is_some_and(|a| !a.is_empty()) || opts.new_account == Some(true)
        {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        if !(0..=1).contains(&opts.protocol) {
            self.close(slot, CloseReason::BadClientProtocol);
            return;
        }
        if opts.no_responders && !opts.headers {
            self.close(slot, CloseReason::NoRespondersRequiresHeaders);
            return;
        }
        let server_headers = self.config.headers;
        let first_ping = self.config.ping_interval.min(FIRST_PING);
        let jitter = first_ping.mul_f64(self.rng.below(201) as f64 / 1000.0);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        session.flags = SessionFlags {
            verbose: opts.verbose,
            pedantic: opts.pedantic,
            echo: opts.echo,
            headers: opts.headers && server_headers,
            no_responders: opts.no_responders && server_headers,
        };
        if was_awaiting {
            session.phase = SessionPhase::Open;
            session.auth_deadline = None;
            session.ping_at = Some(now + first_ping + jitter);
            self.rearm(slot);
        }
        if opts.verbose {
            self.send_ok(slot);
        }
    }

    fn subscribe(
        &mut self,
        slot: u32,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> SubscribeOutcome {
        let max_subs = self.config.max_subscriptions;
        let Some(session) = self.slot_session(slot) else {
            return SubscribeOutcome::Exists;
        };
        if session.sids.contains_key(sid) {
            return SubscribeOutcome::Exists;
        }
        if max_subs > 0 && session.sids.len() >= max_subs {
            return SubscribeOutcome::TooMany;
        }
        // Own copies: slices of the input would pin whole read buffers.
        let sid = Bytes::copy_from_slice(sid);
        let sub = Subscription {
            slot,
            sid: sid.clone(),
            subject: Bytes::copy_from_slice(subject),
            queue: queue.map(Bytes::copy_from_slice),
            max: None,
            delivered: 0,
        };
        let key = match self.free_subs.pop() {
            Some(k) => k,
            None => {
                self.subs.push(None);
                (self.subs.len() - 1) as SubKey
            }
        };
        self.index.insert(&sub.subject, sub.queue.as_ref(), key);
        self.subs[key as usize] = Some(sub);
        if let Some(s) = self.slot_session(slot) {
            s.sids.insert(sid, key);
        }
        SubscribeOutcome::Created
    }

    fn unsubscribe(&mut self, slot: u32, sid: &[u8], max: Option<u64>) {
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        let Some(&key) = session.sids.get(sid) else {
            return;
        };
        if let Some(max) = max {
            if let Some(sub) = self.subs[key as usize].as_mut() {
                if max > sub.delivered {
                    sub.max = Some(max);
                    return;
                }
            }
        }
        if let Some(s) = self.slot_session(slot) {
            s.sids.remove(sid);
        }
        self.remove_sub(key);
    }

    /// Removes a subscription from the table and the index (not from its
    /// session's sid map).
    fn remove_sub(&mut self, key: SubKey) {
        if let Some(sub) = self.subs[key as usize].take() {
            self.index.remove(&sub.subject, sub.queue.as_ref(), key);
            self.free_subs.push(key);
        }
    }

    /// Routes one message from session `from`.
    fn publish(&mut self, now: Instant, from: u32, msg: &Outbound<'_>) {
        let size = msg.size() as u64;
        let (echo, no_responders, stallable) = match self.slot_session(from) {
            Some(s) => {
                s.stats.in_msgs += 1;
                s.stats.in_bytes += size;
                (s.flags.echo, s.flags.no_responders, s.is_wire())
            }
            None => return,
        };
        self.stats.in_msgs += 1;
        self.stats.in_bytes += size;
        let Router {
            index,
            subs,
            slots,
            events,
            stats,
            rng,
            expired,
            overflowing,
            config,
            ..
        } = self;
        let matches = index.matches(msg.subject());
        let mut fan = Fanout {
            subs,
            slots,
            events,
            stats,
            expired,
            overflowing,
            max_pending: config.max_pending,
            stall_on: None,
            stallable,
            trace: config.trace,
        };
        let mut delivered = false;
        for &key in &matches.plain {
            if echo || fan.owner(key) != Some(from) {
                delivered |= fan.deliver(key, msg);
            }
        }
        for group in &matches.groups {
            let n = group.members.len();
            let start = rng.below(n);
            for i in 0..n {
                let key = group.members[(start + i) % n];
                if (echo || fan.owner(key) != Some(from)) && fan.deliver(key, msg) {
                    delivered = true;
                    break;
                }
            }
        }
        let stall_on = fan.stall_on;
        self.finish_routing();
        if let Some((consumer, pending)) = stall_on {
            if self
                .session(consumer)
                .is_some_and(|c| c.phase != SessionPhase::Closing)
            {
                self.stall(now, from, consumer, pending);
            }
        }
        if !delivered && no_responders {
            if let Some(reply) = msg.reply_bytes() {
                self.reply_no_responders(from, &reply);
            }
        }
    }

    /// Applies what routing decided: auto-unsubscribes and slow consumers.
    fn finish_routing(&mut self) {
        while let Some(key) = self.expired.pop() {
            if let Some(sub) = self.subs[key as usize].as_ref() {
                let (slot, sid) = (sub.slot, sub.sid.clone());
                if let Some(s) = self.slot_session(slot) {
                    s.sids.remove(&sid);
                }
                self.remove_sub(key);
            }
        }
        while let Some(slot) = self.overflowing.pop() {
            self.close(slot, CloseReason::SlowConsumer(SlowConsumer::MaxPending));
        }
    }

    /// Sends the 503 no-responders status to the requester's own
    /// subscription on `reply`.
    fn reply_no_responders(&mut self, from: u32, reply: &Bytes) {
        let Some(session) = self.slots[from as usize].session.as_ref() else {
            return;
        };
        let sid = session.sids.values().find_map(|&key| {
            let sub = self.subs[key as usize].as_ref()?;
            subject::matches(&sub.subject, reply).then(|| sub.sid.clone())
        });
        let Some(sid) = sid else {
            return;
        };
        match &session.transport {
            Transport::Wire { .. } => self.write_wire(from, |out| {
                out.write_with(|b| {
                    encode::write_msg(b, reply, &sid, None, Some(NO_RESPONDERS_HDR), b"");
                });
            }),
            Transport::Local { .. } => {
                let d = Delivery {
                    subject: reply.clone(),
                    sid,
                    reply: None,
                    headers: Some(Bytes::from_static(NO_RESPONDERS_HDR)),
                    payload: Bytes::new(),
                };
                let gen = self.slots[from as usize].gen;
                if let Some(Session {
                    transport: Transport::Local { queue, pending },
                    signalled,
                    ..
                }) = self.slots[from as usize].session.as_mut()
                {
                    *pending += d.weight();
                    queue.push_back(d);
                    if !*signalled {
                        *signalled = true;
                        self.events
                            .push_back(RouterEvent::OutputReady(ConnId { slot: from, gen }));
                    }
                }
            }
        }
    }
}

enum SubscribeOutcome {
    Created,
    Exists,
    TooMany,
}
