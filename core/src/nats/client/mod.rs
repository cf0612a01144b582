//! A NATS client connection as a state machine: handshake, subscriptions,
//! publishing, keepalive and reconnection, with no IO.
//!
//! See [`Connection`] for the driving contract and a runnable example.

mod error;
mod handshake;
mod options;
mod out;
mod protocol;
mod state;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use error::{
    CloseReason, CommandError, DisconnectReason, FlushError, PublishError, SubscribeError,
    UnsubscribeError,
};
pub use handshake::ServerInfo;
pub use options::{ClientOptions, Credentials, ServerAddr, UrlError, DEFAULT_PORT};

use self::out::{pub_size, OutQueue};
use self::protocol::{write_sub, write_unsub};
use self::state::{Deadline, State};
use crate::nats::codec::{self, Limits, ServerOpDecoder};
use crate::nats::headers::HeaderMap;
use crate::nats::message::{InboundMessage, NatsCommand};
use crate::nats::subject;
use crate::nuid::Nuid;
use crate::rand::{derive_key, domain};
use crate::time::{deadline_after, Clock, Timers};

/// Longest control line accepted from a server (`INFO` may list many URLs).
const MAX_CONTROL_LINE: usize = 64 * 1024;
/// `max_payload` assumed before the first `INFO`.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// Something the driver or the application must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Dial `server`, then call [`Connection::handle_transport_connected`]
    /// or [`Connection::handle_transport_failed`].
    ///
    /// The dial has [`ClientOptions::connect_timeout`]: if neither input
    /// came by then, [`Connection::handle_timeout`] abandons it with
    /// [`Event::Disconnected`] ([`DisconnectReason::DialTimeout`]) and the
    /// next dial follows after the reconnect wait, so a driver may dial as
    /// one branch of its loop with no timer of its own. On
    /// [`Event::Disconnected`] or [`Event::Closed`] a driver drops its dial
    /// in progress and reports nothing of it.
    WantConnect {
        /// The server to dial.
        server: ServerAddr,
    },
    /// Upgrade the transport to TLS now, before anything else is written
    /// or read: the server's `INFO` requires TLS, or the URL (`tls://`) or
    /// [`ClientOptions::tls_required`] asked for it. The driver does the
    /// TLS handshake over the socket (verifying `server`'s name), then
    /// calls [`Connection::handle_tls_established`] (the `CONNECT` follows,
    /// encrypted) or [`Connection::handle_tls_failed`]. Until then the
    /// connection reads no input (the driver drops what it read after the
    /// `INFO`: nothing else is sent in plain text). The handshake is
    /// bounded by the same `connect_timeout` as the rest of the handshake;
    /// a driver with no TLS ignores this event and the attempt times out.
    UpgradeTls {
        /// The server being connected to (its host is the name to verify).
        server: ServerAddr,
    },
    /// The first handshake completed.
    Connected {
        /// The server's `INFO`.
        server_info: ServerInfo,
    },
    /// A later handshake completed; subscriptions were replayed and
    /// buffered publishes sent.
    Reconnected {
        /// The new server's `INFO`.
        server_info: ServerInfo,
    },
    /// The transport is finished with: the driver must close its socket (or
    /// drop its dial in progress) and drop any unwritten output. Also
    /// emitted when a handshake fails or a dial takes longer than
    /// [`ClientOptions::connect_timeout`].
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A message for one of our subscriptions.
    Message(InboundMessage),
    /// Every op written before [`Connection::flush`] returned `token` has
    /// been processed by the server.
    Flushed {
        /// The token `flush` returned.
        token: u64,
    },
    /// A non-fatal `-ERR` (e.g. a permissions violation); the connection stays up.
    ServerError(String),
    /// Terminal: nothing more will happen. Transmit what
    /// [`Connection::poll_transmit`] still returns (for at most
    /// [`ClientOptions::close_flush_timeout`]), then close the transport; a
    /// dial in progress is dropped.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Coarse connection status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not connected yet (first dial or handshake in progress).
    Connecting,
    /// Handshake done; traffic flows.
    Connected,
    /// Connected before, now dialling or handshaking again.
    Reconnecting,
    /// Closed for good.
    Closed,
}

#[derive(Debug)]
struct Sub {
    subject: Bytes,
    queue: Option<Bytes>,
    /// Auto-unsubscribe after this many deliveries in total.
    max: Option<u64>,
    delivered: u64,
}

/// A NATS client connection. It never does IO: a driver dials when asked,
/// feeds it bytes and time, and writes out what it produces.
///
/// Methods come in four kinds (quinn-style):
/// * getters: [`status`](Self::status), [`server_info`](Self::server_info), ...;
/// * inputs: [`handle_transport_connected`](Self::handle_transport_connected),
///   [`handle_transport_failed`](Self::handle_transport_failed),
///   [`handle_input`](Self::handle_input),
///   [`handle_transport_closed`](Self::handle_transport_closed),
///   [`handle_timeout`](Self::handle_timeout);
/// * commands: [`subscribe`](Self::subscribe), [`publish`](Self::publish),
///   [`unsubscribe`](Self::unsubscribe), [`flush`](Self::flush),
///   [`execute`](Self::execute), [`close`](Self::close);
/// * outputs, drained after every input or command in this order:
///   [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// Time only enters as `now` arguments, which must not go backwards;
/// `handle_timeout` is harmless when called early. Reconnection is state:
/// after [`Event::Disconnected`] the driver closes its socket, and the
/// connection asks for the next server with [`Event::WantConnect`]: at
/// once if that server was not dialled within `reconnect_wait`, else when
/// that much time has passed since (as nats.go); on success it replays
/// its subscriptions, then the publishes buffered meanwhile. [`Event::Closed`] comes exactly once.
///
/// Against the in-core server ([`Router`](crate::nats::router::Router)),
/// shuttling bytes in memory:
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use stan_core::nats::client::{ClientOptions, Connection, Event};
/// use stan_core::nats::router::{Router, RouterConfig};
///
/// let now = Instant::now();
/// let mut router = Router::new(RouterConfig::default(), now);
/// let mut client = Connection::new(ClientOptions::default(), now);
///
/// // The client asks for a transport; "dial" the router.
/// assert!(matches!(client.poll_event(), Some(Event::WantConnect { .. })));
/// let conn = router.handle_accept(now, "127.0.0.1:50000");
/// client.handle_transport_connected(now);
///
/// // Commands may be issued before the handshake completes.
/// let sid = client.subscribe(now, "greet.*", None)?;
/// client.publish(now, "greet.joe", None, None, "hello".into())?;
///
/// let (mut to_client, mut to_router) = (BytesMut::new(), BytesMut::new());
/// let mut events = Vec::new();
/// for _ in 0..4 {
///     while let Some(chunk) = router.poll_transmit(conn) {
///         to_client.extend_from_slice(&chunk);
///     }
///     client.handle_input(now, &mut to_client);
///     while let Some(chunk) = client.poll_transmit() {
///         to_router.extend_from_slice(&chunk);
///     }
///     router.handle_input(now, conn, &mut to_router);
///     events.extend(std::iter::from_fn(|| client.poll_event()));
/// }
/// assert!(matches!(events[0], Event::Connected { .. }));
/// match &events[1] {
///     Event::Message(m) => {
///         assert_eq!((m.sid, &m.subject[..], &m.payload[..]), (sid, &b"greet.joe"[..], &b"hello"[..]));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    options: ClientOptions,
    clock: Clock,
    state: State,
    /// The current state's deadline (one at a time).
    timers: Timers<Deadline>,
    servers: Vec<ServerAddr>,
    /// What the pool knows of each of `servers`, in the same order.
    pool: Vec<PoolEntry>,
    server_idx: usize,
    info: Option<ServerInfo>,
    ever_connected: bool,
    /// Reconnect attempts since the last successful handshake.
    attempts: u32,
    last_reason: Option<DisconnectReason>,
    decoder: ServerOpDecoder,
    /// Output for the current transport.
    out: OutQueue,
    /// Publishes held while not connected.
    buffer: OutQueue,
    events: VecDeque<Event>,
    subs: BTreeMap<u64, Sub>,
    next_sid: u64,
    /// Outstanding `PING`s in order: `Some(token)` for flushes.
    pongs: VecDeque<Option<u64>>,
    /// Flushes to send once connected.
    pending_flushes: Vec<u64>,
    next_token: u64,
    /// Keepalive `PING`s since the last `PONG`.
    pings_out: u32,
    nuid: Nuid,
    /// The current transport was upgraded (or is being upgraded) to TLS.
    tls: bool,
}

/// What the connection knows of a server of its pool.
#[derive(Debug, Clone, Copy, Default)]
struct PoolEntry {
    /// When it was last dialled (as nats.go: a server not dialled within
    /// `reconnect_wait` is dialled at once).
    last_dial: Option<Instant>,
    /// Learnt from `connect_urls` (not configured): dropped once no
    /// longer advertised.
    implicit: bool,
}

impl Connection {
    /// A connection that will first ask to dial `options.servers[0]`.
    pub fn new(options: ClientOptions, now: Instant) -> Self {
        let mut c = Connection {
            servers: options.servers.clone(),
            pool: vec![PoolEntry::default(); options.servers.len()],
            nuid: Nuid::new(derive_key(options.seed, domain::NATS_CLIENT_NUID)),
            options,
            clock: Clock::new(now),
            state: State::Waiting,
            timers: Timers::new(),
            server_idx: 0,
            info: None,
            ever_connected: false,
            attempts: 0,
            last_reason: None,
            decoder: ServerOpDecoder::new(Limits::default()),
            out: OutQueue::default(),
            buffer: OutQueue::default(),
            events: VecDeque::new(),
            subs: BTreeMap::new(),
            next_sid: 1,
            pongs: VecDeque::new(),
            pending_flushes: Vec::new(),
            next_token: 1,
            pings_out: 0,
            tls: false,
        };
        c.want_connect(now);
        c
    }

    // ----- getters -----

    /// The settings.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Where the connection stands.
    pub fn status(&self) -> Status {
        match self.state {
            State::Connected => Status::Connected,
            State::Closed => Status::Closed,
            _ if self.ever_connected => Status::Reconnecting,
            _ => Status::Connecting,
        }
    }

    /// True once the handshake is done and until the transport is lost.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected)
    }

    /// The last `INFO` received, if any.
    pub fn server_info(&self) -> Option<&ServerInfo> {
        self.info.as_ref()
    }

    /// The server being (or last) dialled; the pool includes servers learnt
    /// from `connect_urls`.
    pub fn current_server(&self) -> Option<&ServerAddr> {
        self.servers.get(self.server_idx)
    }

    /// Every server in the pool, in dialling order.
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// Live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Bytes waiting in [`poll_transmit`](Self::poll_transmit).
    pub fn pending_output_bytes(&self) -> usize {
        self.out.len()
    }

    /// Bytes of publishes held for the next connection.
    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the current transport was upgraded to TLS (or is being
    /// upgraded: [`Event::UpgradeTls`] was emitted for it).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Asks for TLS on every connection from the next `INFO` on (sets
    /// [`ClientOptions::tls_required`]): for a driver given TLS settings
    /// after the connection was built (nats.go's `RootCAs` and
    /// `ClientCert` options imply `Secure` the same way).
    pub fn set_tls_required(&mut self, required: bool) {
        self.options.tls_required = required;
    }

    /// Whether TLS is asked for on every connection:
    /// [`ClientOptions::tls_required`], or a `tls://` URL in the pool.
    pub fn wants_tls(&self) -> bool {
        self.options.tls_required || self.servers.iter().any(|s| s.tls)
    }

    // ----- inputs -----

    /// The dial asked for by [`Event::WantConnect`] succeeded; the server's
    /// `INFO` is now awaited.
    pub fn handle_transport_connected(&mut self, now: Instant) {
        let now = self.advance(now);
        if matches!(self.state, State::Dialing) {
            self.decoder = ServerOpDecoder::new(Limits {
                max_control_line: MAX_CONTROL_LINE,
                max_payload: DEFAULT_MAX_PAYLOAD,
            });
            self.out.clear();
            self.tls = false;
            self.enter(State::AwaitInfo);
            self.timers.set(
                Deadline::Handshake,
                deadline_after(now, self.options.connect_timeout),
            );
        }
    }

    /// The dial asked for by [`Event::WantConnect`] failed. The next dial
    /// follows after the reconnect wait (no event).
    pub fn handle_transport_failed(&mut self, now: Instant) {
        self.advance(now);
        if matches!(self.state, State::Dialing) {
            self.last_reason = Some(DisconnectReason::DialFailed);
            self.schedule_reconnect();
        }
    }

    /// The transport reached EOF or failed.
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.advance(now);
        match self.state {
            State::Dialing => self.handle_transport_failed(now),
            State::AwaitInfo | State::AwaitTls | State::AwaitPong | State::Connected => {
                self.lose(DisconnectReason::TransportClosed);
            }
            State::Waiting | State::Closed => {}
        }
    }

    /// The driver's TLS handshake asked for by [`Event::UpgradeTls`]
    /// completed: `CONNECT` (saying `tls_required`) and `PING` follow, over
    /// TLS.
    pub fn handle_tls_established(&mut self, now: Instant) {
        self.advance(now);
        if self.state == State::AwaitTls {
            self.send_connect();
        }
    }

    /// The driver's TLS handshake asked for by [`Event::UpgradeTls`] failed
    /// (`error`: the TLS library's text): the transport is lost with
    /// [`DisconnectReason::Tls`].
    pub fn handle_tls_failed(&mut self, now: Instant, error: impl Into<String>) {
        self.advance(now);
        if self.state == State::AwaitTls {
            self.lose(DisconnectReason::Tls(error.into()));
        }
    }

    /// Bytes read from the transport were appended to `input`: every whole
    /// op is consumed, a partial one stays. Malformed input ends the
    /// transport with [`DisconnectReason::Protocol`]. While a TLS upgrade
    /// is awaited nothing is consumed.
    pub fn handle_input(&mut self, now: Instant, input: &mut BytesMut) {
        self.advance(now);
        loop {
            if !self.transport_up() {
                input.clear();
                return;
            }
            if self.state == State::AwaitTls {
                return;
            }
            match self.decoder.decode(input) {
                Ok(Some(op)) => self.process(op),
                Ok(None) => return,
                Err(e) => {
                    input.clear();
                    self.lose(DisconnectReason::Protocol(e));
                    return;
                }
            }
        }
    }

    /// Fires every deadline at or before `now`: dials, dial and handshake
    /// timeouts, keepalive `PING`s and stale detection.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while let Some(deadline) = self.timers.pop_due(now) {
            match (deadline, self.state) {
                (Deadline::Dial, State::Waiting) => self.want_connect(now),
                (Deadline::DialTimeout, State::Dialing) => {
                    // The driver drops its dial on `Disconnected`.
                    self.lose(DisconnectReason::DialTimeout);
                }
                (Deadline::Handshake, State::AwaitInfo | State::AwaitTls | State::AwaitPong) => {
                    self.lose(DisconnectReason::ConnectTimeout);
                }
                (Deadline::Ping, State::Connected) => {
                    if self.pings_out >= self.options.max_pings_out {
                        self.lose(DisconnectReason::StaleConnection);
                    } else {
                        self.pings_out += 1;
                        self.out.put(codec::PING);
                        self.pongs.push_back(None);
                        self.timers.set(
                            Deadline::Ping,
                            deadline_after(now, self.options.ping_interval),
                        );
                    }
                }
                // A deadline of a state already left (never armed past it).
                _ => {}
            }
        }
    }

    // ----- commands -----

    /// Subscribes to `subject` (wildcards allowed), in `queue` if given;
    /// returns the sid allocated for it.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subject: impl AsRef<[u8]>,
        queue: Option<&[u8]>,
    ) -> Result<u64, SubscribeError> {
        while self.subs.contains_key(&self.next_sid) {
            self.next_sid += 1;
        }
        let sid = self.next_sid;
        self.subscribe_with_sid(now, sid, subject, queue)?;
        self.next_sid += 1;
        Ok(sid)
    }

    /// Subscribes with a sid chosen by the caller (unique among live ones).
    pub fn subscribe_with_sid(
        &mut self,
        now: Instant,
        sid: u64,
        subject: impl AsRef<[u8]>,
        queue: Option<&[u8]>,
    ) -> Result<(), SubscribeError> {
        self.advance(now);
        let subject = subject.as_ref();
        if matches!(self.state, State::Closed) {
            return Err(SubscribeError::Closed);
        }
        subject::validate_subscribe(subject).map_err(SubscribeError::InvalidSubject)?;
        if queue.is_some_and(|q| q.is_empty() || q.iter().any(u8::is_ascii_whitespace)) {
            return Err(SubscribeError::InvalidQueue);
        }
        if self.subs.contains_key(&sid) {
            return Err(SubscribeError::SidInUse(sid));
        }
        let sub = Sub {
            subject: Bytes::copy_from_slice(subject),
            queue: queue.map(Bytes::copy_from_slice),
            max: None,
            delivered: 0,
        };
        if self.is_connected() {
            write_sub(&mut self.out, sid, &sub);
        }
        self.subs.insert(sid, sub);
        Ok(())
    }

    /// Removes subscription `sid` now, or after `max` deliveries in total.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        sid: u64,
        max: Option<u64>,
    ) -> Result<(), UnsubscribeError> {
        self.advance(now);
        if matches!(self.state, State::Closed) {
            return Err(UnsubscribeError::Closed);
        }
        let sub = self
            .subs
            .get_mut(&sid)
            .ok_or(UnsubscribeError::UnknownSid(sid))?;
        match max {
            Some(m) if sub.delivered < m => sub.max = Some(m),
            _ => {
                self.subs.remove(&sid);
            }
        }
        if self.is_connected() {
            write_unsub(&mut self.out, sid, max);
        }
        Ok(())
    }

    /// Publishes `payload` (after the `headers` block, if given) to the
    /// literal `subject`. While not connected the message is buffered for
    /// the next connection, up to `reconnect_buffer_size`.
    pub fn publish(
        &mut self,
        now: Instant,
        subject: impl AsRef<[u8]>,
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        self.advance(now);
        let subject = subject.as_ref();
        if matches!(self.state, State::Closed) {
            return Err(PublishError::Closed);
        }
        subject::validate_publish(subject).map_err(PublishError::InvalidSubject)?;
        if let Some(r) = reply {
            subject::validate_publish(r).map_err(PublishError::InvalidReply)?;
        }
        if let Some(h) = headers {
            if !self.headers_enabled() {
                return Err(PublishError::HeadersNotSupported);
            }
            if HeaderMap::parse(h).is_err() {
                return Err(PublishError::InvalidHeaders);
            }
        }
        let size = headers.map_or(0, <[u8]>::len) + payload.len();
        let max = self
            .info
            .as_ref()
            .map_or(DEFAULT_MAX_PAYLOAD, |i| i.max_payload);
        if size > max {
            return Err(PublishError::MaxPayloadExceeded { size, max });
        }
        if self.is_connected() {
            self.out.push_pub(subject, reply, headers, payload);
            return Ok(());
        }
        let limit = self.options.reconnect_buffer_size;
        if limit == 0 {
            return Err(PublishError::NotConnected);
        }
        let need = pub_size(
            subject.len(),
            reply.map(<[u8]>::len),
            headers.map(<[u8]>::len),
            payload.len(),
        );
        if self.buffer.len() + need > limit {
            return Err(PublishError::ReconnectBufferFull { limit });
        }
        self.buffer.push_pub(subject, reply, headers, payload);
        Ok(())
    }

    /// Carries out a command of a layer above (the STAN engine or client).
    pub fn execute(&mut self, now: Instant, command: NatsCommand) -> Result<(), CommandError> {
        match command {
            NatsCommand::Publish {
                subject,
                reply,
                payload,
            } => self.publish(now, &subject, reply.as_deref(), None, payload)?,
            NatsCommand::Subscribe {
                sid,
                subject,
                queue,
            } => self.subscribe_with_sid(now, sid, &subject, queue.as_deref())?,
            NatsCommand::Unsubscribe { sid } => self.unsubscribe(now, sid, None)?,
        }
        Ok(())
    }

    /// Sends a `PING`; [`Event::Flushed`] with the returned token follows
    /// its `PONG`. While disconnected the `PING` is sent after the buffered
    /// publishes of the next connection.
    pub fn flush(&mut self, now: Instant) -> Result<u64, FlushError> {
        self.advance(now);
        if matches!(self.state, State::Closed) {
            return Err(FlushError::Closed);
        }
        let token = self.next_token;
        self.next_token += 1;
        if self.is_connected() {
            self.out.put(codec::PING);
            self.pongs.push_back(Some(token));
        } else {
            self.pending_flushes.push(token);
        }
        Ok(token)
    }

    /// A new unique inbox subject (`_INBOX.<nuid>`).
    pub fn new_inbox(&mut self) -> String {
        self.nuid.inbox()
    }

    /// Closes the connection for good ([`Event::Closed`]), also during a
    /// dial (which the driver then drops). Output already queued is still
    /// returned by [`poll_transmit`](Self::poll_transmit); buffered
    /// publishes are dropped.
    pub fn close(&mut self, now: Instant) {
        self.advance(now);
        if !matches!(self.state, State::Closed) {
            self.finish(CloseReason::Local);
        }
    }

    // ----- outputs -----

    /// The next chunk of bytes to write to the transport.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline; call [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- internals -----

    /// The `now` of an input (never earlier than one already seen).
    fn advance(&mut self, now: Instant) -> Instant {
        self.clock.advance(now)
    }

    fn transport_up(&self) -> bool {
        matches!(
            self.state,
            State::AwaitInfo | State::AwaitTls | State::AwaitPong | State::Connected
        )
    }
}
