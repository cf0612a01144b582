//! The embedded NATS server on mio: one thread, one [`Poll`], the router
//! and (optionally) the streaming engine in process.
//!
//! Each turn of the loop: wait for readiness or the next deadline, read
//! every readable socket to `WouldBlock` into the router, fire due timers,
//! pump the engine (`pump_local`), then write the output of every session
//! the router reported. `WRITABLE` interest is registered only while a
//! session has output the socket did not take. Every decision (what to
//! answer, whom to deliver to, when to close) is the router's or the
//! engine's.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use stan_core::nats::router::{
    pump_local, ConnId, LogRecord, ReloadError, Router, RouterConfig, RouterEvent, RouterSnapshot,
    RouterStats, SnapshotOptions, TlsFailure,
};
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{
    EngineSnapshot, EngineSnapshotOptions, Server as Engine, ServerConfig, ServerEvent,
};
use stan_core::stan::store::Store;
use stan_store::{EngineIo, Opened, SpawnError};
use stan_tls::{rustls, ClientTls, ServerTls};

/// How long shutdown waits for a file store's last writes.
const SETTLE_TIME: Duration = Duration::from_secs(5);

use crate::checks::CheckWorkers;
use crate::io::{earliest, read_burst, timeout_until, unix_now_ns, OutQueue, ReadEnd};
use crate::io::{MAX_IOVECS, READ_CHUNK};
use crate::monitor::{self, EngineRequest, Parts};
use crate::routes::{Accepted, Dialled, RouteDialer, RouteTlsSides};
use crate::tls::Stream;
use stan_core::time::deadline_after;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const ROUTE_LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;

/// A request from another thread, answered between two turns.
enum Request {
    /// A look at the router ([`Control::inspect`]), or a change to it
    /// ([`Control::reload`]).
    Router(Box<dyn FnOnce(&mut Router) + Send>),
    /// A look at the attached engine (dropped unanswered without one).
    Engine(EngineRequest),
    /// A route dial ended ([`RouteDialer`]).
    RouteDialled(Dialled),
    /// An accepted route's TLS handshake ended.
    RouteAccepted(Accepted),
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    waker: Waker,
}

/// A remote control of a [`Server`]: shut it down, or look at its router
/// and its engine (monitoring snapshots), from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Asks the loop to stop accepting, close every session (flushing what
    /// is pending, for up to five seconds) and return from [`Server::run`].
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
    }

    /// Runs `f` on the router inside the loop and returns its result;
    /// `None` once the loop has ended. Blocks until the loop answers, so do
    /// not call it from the loop's own thread (an engine event callback).
    pub fn inspect<R, F>(&self, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&Router) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let request = Request::Router(Box::new(move |router: &mut Router| {
            let _ = tx.send(f(router));
        }));
        self.send(request).then_some(())?;
        rx.recv().ok()
    }

    /// Gives the router a new configuration (`SIGHUP`; see
    /// [`Router::reload`]) between two turns of the loop: the changes made,
    /// or why none were; `None` once the loop has ended. Blocks like
    /// [`Control::inspect`].
    pub fn reload(&self, config: RouterConfig) -> Option<Result<Vec<String>, ReloadError>> {
        let (tx, rx) = mpsc::channel();
        let request = Request::Router(Box::new(move |router: &mut Router| {
            let _ = tx.send(router.reload(Instant::now(), config));
        }));
        self.send(request).then_some(())?;
        rx.recv().ok()
    }

    /// The router's monitoring snapshot (see [`Router::snapshot`]), taken
    /// between two turns of the loop; `None` once the loop has ended.
    /// Blocks like [`Control::inspect`].
    pub fn router_snapshot(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        self.inspect(move |r| r.snapshot(options))
    }

    /// The attached engine's monitoring snapshot (see
    /// [`Server::snapshot`](stan_core::stan::server::Server::snapshot)),
    /// taken between two turns of the loop; `None` without an engine or
    /// once the loop shuts down. Blocks like [`Control::inspect`].
    pub fn engine_snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        monitor::ask(
            |r| self.send(Request::Engine(r)),
            move |e| e.snapshot(options),
        )
    }

    /// How long the attached engine's file store's syncs took so far;
    /// `None` with another store, without an engine or once the loop shuts
    /// down. Blocks like [`Control::inspect`].
    pub fn sync_latency(&self) -> Option<LatencyHistogram> {
        monitor::ask(|r| self.send(Request::Engine(r)), |e| e.sync_latency()).flatten()
    }

    /// Queues `request` and wakes the loop; false once the loop has ended.
    fn send(&self, request: Request) -> bool {
        self.requests.send(request).is_ok() && self.shared.waker.wake().is_ok()
    }

    /// Router counters (`None` once the loop has ended).
    pub fn stats(&self) -> Option<RouterStats> {
        self.inspect(|r| r.stats())
    }

    /// Open sessions, the engine's included (`None` once the loop ended).
    pub fn connection_count(&self) -> Option<usize> {
        self.inspect(|r| r.connection_count())
    }
}

/// The streaming engine attached in process, its store type erased.
trait LocalEngine: Send {
    fn conn(&self) -> ConnId;
    /// Fires due timers, then moves messages both ways until quiet.
    fn step(&mut self, router: &mut Router, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    /// The engine stops: its store finishes what it can
    /// ([`stan_core::stan::server::Server::begin_settle`]).
    fn begin_settle(&mut self);
    /// Whether the store has nothing left to write.
    fn settled(&self) -> bool;
    /// Answers a monitoring request (a snapshot, the sync latency).
    fn inspect(&self, request: EngineRequest);
}

struct Attached<S: Store, F> {
    engine: Engine<S>,
    conn: ConnId,
    on_event: F,
    /// The store IO thread of a file store.
    io: Option<EngineIo>,
}

impl<S, F> LocalEngine for Attached<S, F>
where
    S: Store + Send,
    F: FnMut(ServerEvent) + Send,
{
    fn conn(&self) -> ConnId {
        self.conn
    }

    fn step(&mut self, router: &mut Router, now: Instant) {
        if let Some(io) = &self.io {
            io.pump(&mut self.engine, now);
        }
        pump_local(router, self.conn, &mut self.engine, now);
        if let Some(io) = &self.io {
            io.pump(&mut self.engine, now);
        }
        while let Some(event) = self.engine.poll_event() {
            (self.on_event)(event);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    fn begin_settle(&mut self) {
        self.engine.begin_settle();
    }

    fn settled(&self) -> bool {
        self.io.is_none() || self.engine.store_settled()
    }

    fn inspect(&self, request: EngineRequest) {
        request(&Parts(&self.engine, self.io.as_ref()));
    }
}

/// Where a session of a TLS server is in its upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsPhase {
    /// No TLS (a plain server), or the handshake is done.
    Off,
    /// `INFO` sent in plain text; the client's first bytes are awaited
    /// until the deadline.
    AwaitHello(Instant),
    /// The handshake is under way until the deadline.
    Handshaking(Instant),
    /// The upgrade failed: the router's last output goes out in plain
    /// text, then the close.
    Failed,
}

impl TlsPhase {
    fn deadline(self) -> Option<Instant> {
        match self {
            TlsPhase::AwaitHello(at) | TlsPhase::Handshaking(at) => Some(at),
            TlsPhase::Off | TlsPhase::Failed => None,
        }
    }
}

/// One TCP session.
struct Conn {
    id: ConnId,
    stream: Stream,
    tls: TlsPhase,
    input: BytesMut,
    /// Chunks taken from the router, not yet written.
    out: OutQueue,
    /// `WRITABLE` interest registered.
    writable: bool,
    /// The router ended the session: close once the output is written.
    closing: bool,
    /// When the current batch of output first hit `WouldBlock`.
    stalled_at: Option<Instant>,
}

/// The embedded NATS server: a [`Router`] on a TCP listener, served by a
/// single-threaded mio loop, with the streaming engine optionally attached
/// in process ([`Server::with_engine`]).
///
/// ```no_run
/// use stan_core::nats::router::RouterConfig;
/// use stan_core::stan::server::ServerConfig;
/// use stan_core::stan::store::MemStore;
/// use stan_mio::Server;
///
/// let server = Server::bind("0.0.0.0:4222", RouterConfig::default())?
///     .with_engine(ServerConfig::default(), MemStore::new(100), |e| eprintln!("{e:?}"));
/// let control = server.control(); // call control.shutdown() from elsewhere
/// server.run()?; // blocks until shut down
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    router: Router,
    engine: Option<Box<dyn LocalEngine>>,
    conns: HashMap<Token, Conn>,
    tokens: HashMap<ConnId, Token>,
    next_token: usize,
    control: Control,
    requests: mpsc::Receiver<Request>,
    /// Sessions whose read budget ran out with data possibly left.
    again: Vec<Token>,
    /// Sessions with output waiting for `WRITABLE`.
    blocked: HashSet<Token>,
    /// Sessions to write to at the end of this turn.
    dirty: Vec<Token>,
    accept_retry: Option<Instant>,
    scratch: Vec<u8>,
    write_deadline: Duration,
    /// How long shutdown waits for sessions to flush (the router's
    /// configuration).
    shutdown_grace: Duration,
    /// Pause before accepting again after an accept error (out of
    /// descriptors; the router's configuration).
    accept_backoff: Duration,
    on_log: Box<dyn FnMut(LogRecord) + Send>,
    /// Serve TLS: sessions upgrade after their `INFO`.
    tls: Option<ServerTls>,
    /// Sessions whose TLS upgrade is under way (with a deadline).
    upgrading: HashSet<Token>,
    /// Runs the router's credential checks off the loop.
    checks: CheckWorkers,
    /// The route listener, when clustering.
    route_listener: Option<TcpListener>,
    route_addr: Option<SocketAddr>,
    /// Dials the routes the router asks for, off the loop.
    dialer: RouteDialer,
    /// TLS on routes: accepted routes handshake off the loop first.
    route_tls: Option<RouteTlsSides>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.conns.len())
            .field("engine", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr`. The router's `INFO` announces the bound port. Nothing
    /// is served until [`Server::run`] or [`Server::spawn`].
    pub fn bind(addr: impl ToSocketAddrs, config: RouterConfig) -> io::Result<Server> {
        Self::bind_tls(addr, config, None)
    }

    /// [`bind`](Self::bind), serving TLS with `tls` when given, as
    /// nats-server does: `INFO` (announcing `tls_required`, and
    /// `tls_verify` when `tls` verifies clients: `config`'s `tls_required`
    /// and `tls_verify` are set from `tls`) in plain text, then the TLS
    /// handshake within `tls`'s handshake timeout, then the protocol over
    /// TLS. A plain-text client, or one that does not complete the
    /// handshake in time, gets `-ERR 'Secure Connection - TLS Required'` in
    /// plain text and is closed; a failed handshake (no or a bad client
    /// certificate under verify) closes with the TLS alert and is logged
    /// as `TLS handshake error: ...`.
    pub fn bind_tls(
        addr: impl ToSocketAddrs,
        config: RouterConfig,
        tls: Option<ServerTls>,
    ) -> io::Result<Server> {
        Self::bind_cluster(addr, config, tls, None, None)
    }

    /// [`bind_tls`](Self::bind_tls), and with `routes` (a bound route
    /// listener) a cluster member: connections accepted there are route
    /// sessions (plain text), and the routes the router solicits are dialled
    /// off the loop within the cluster's dial timeout. The cluster's port is
    /// set to the one bound (`config.cluster` is the default cluster when
    /// unset).
    ///
    /// With `route_tls` (the acceptor's side, the solicitor's), routes run
    /// over TLS as in nats-server 2.9: both sides handshake right after
    /// the TCP connect, off the loop and before the route session exists,
    /// within the server side's handshake timeout (`INFO` and `CONNECT`
    /// announce `tls_required`). A failed handshake is logged `TLS route
    /// handshake error: ...` and closes the connection; a solicited route
    /// is retried as after a failed dial.
    pub fn bind_cluster(
        addr: impl ToSocketAddrs,
        mut config: RouterConfig,
        tls: Option<ServerTls>,
        routes: Option<std::net::TcpListener>,
        route_tls: Option<(ServerTls, ClientTls)>,
    ) -> io::Result<Server> {
        let route_tls = route_tls.map(|(server, client)| RouteTlsSides::new(server, client));
        if let (Some(_), Some(cluster)) = (&route_tls, config.cluster.as_mut()) {
            // nats-server 2.9 announces `tls_verify` with any route TLS.
            cluster.tls_required = true;
            cluster.tls_verify = true;
        }
        if let Some(tls) = &tls {
            config.tls_required = true;
            config.tls_verify = tls.verify();
        }
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(std_listener);
        let local_addr = listener.local_addr()?;
        config.port = local_addr.port();
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::io::or_entropy(config.seed);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let (route_listener, route_addr) = match routes {
            None => (None, None),
            Some(routes) => {
                routes.set_nonblocking(true)?;
                let mut routes = TcpListener::from_std(routes);
                let addr = routes.local_addr()?;
                config.cluster.get_or_insert_with(Default::default).port = addr.port();
                poll.registry()
                    .register(&mut routes, ROUTE_LISTENER, Interest::READABLE)?;
                (Some(routes), Some(addr))
            }
        };
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (requests_tx, requests) = mpsc::channel();
        let control = Control {
            shared: Arc::new(Shared {
                stop: AtomicBool::new(false),
                waker,
            }),
            requests: requests_tx,
        };
        let to_loop = control.clone();
        let checks = CheckWorkers::new(Arc::new(move |verdict| {
            to_loop.send(Request::Router(Box::new(move |router: &mut Router| {
                router.handle_credential_verdict(Instant::now(), verdict);
            })))
        }));
        let to_loop = control.clone();
        let dial_timeout = config
            .cluster
            .as_ref()
            .map_or(Duration::from_secs(1), |c| c.dial_timeout);
        let dialer = RouteDialer::new(
            Arc::new(move |dialled| to_loop.send(Request::RouteDialled(dialled))),
            dial_timeout,
            route_tls.clone(),
        );
        Ok(Server {
            checks,
            route_listener,
            route_addr,
            dialer,
            route_tls,
            poll,
            listener: Some(listener),
            local_addr,
            write_deadline: config.write_deadline,
            shutdown_grace: config.shutdown_grace,
            accept_backoff: config.accept_backoff,
            router: Router::new(config, Instant::now()),
            engine: None,
            conns: HashMap::new(),
            tokens: HashMap::new(),
            next_token: FIRST_CONN,
            control,
            requests,
            again: Vec::new(),
            blocked: HashSet::new(),
            dirty: Vec::new(),
            accept_retry: None,
            scratch: vec![0; READ_CHUNK],
            on_log: Box::new(|_| {}),
            tls,
            upgrading: HashSet::new(),
        })
    }

    /// Sends the router's log lines to `on_log` (on the loop's thread).
    pub fn with_log(mut self, on_log: impl FnMut(LogRecord) + Send + 'static) -> Server {
        self.on_log = Box::new(on_log);
        self
    }

    /// Attaches a STAN engine over `store` to the router, in process (no
    /// TCP hop). `on_event` receives its events (for logging) on the loop's
    /// thread. Replaces an engine attached before.
    pub fn with_engine<S, F>(mut self, mut config: ServerConfig, store: S, on_event: F) -> Server
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::io::or_entropy(config.seed);
        let now = Instant::now();
        if let Some(old) = self.engine.take() {
            self.router.handle_transport_closed(now, old.conn());
        }
        let conn = self.router.attach_local(now, config.local_options());
        let engine = Engine::new(config, store, now, unix_now_ns());
        self.engine = Some(Box::new(Attached {
            engine,
            conn,
            on_event,
            io: None,
        }));
        self
    }

    /// Attaches a STAN engine over the store directory `opened` (see
    /// `stan_store::open`): it resumes what the store held, and its writes
    /// go to a store IO thread that wakes this loop when a batch is done
    /// (`max_open_files`: `--file_fds_limit`).
    pub fn with_file_engine<F>(
        mut self,
        mut config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        on_event: F,
    ) -> Result<Server, SpawnError>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        config.seed = crate::io::or_entropy(config.seed);
        let now = Instant::now();
        if let Some(old) = self.engine.take() {
            self.router.handle_transport_closed(now, old.conn());
        }
        let shared = Arc::clone(&self.control.shared);
        let waker = Box::new(move || {
            let _ = shared.waker.wake();
        });
        let (engine, io) =
            EngineIo::start(config, opened, max_open_files, now, unix_now_ns(), waker)?;
        let conn = self
            .router
            .attach_local(now, engine.config().local_options());
        self.engine = Some(Box::new(Attached {
            engine,
            conn,
            on_event,
            io: Some(io),
        }));
        Ok(self)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to shut the loop down or inspect the router from another
    /// thread.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// The route listener's address, when clustering
    /// ([`bind_cluster`](Self::bind_cluster)).
    pub fn route_addr(&self) -> Option<SocketAddr> {
        self.route_addr
    }

    /// Runs the loop on a new thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let local_addr = self.local_addr;
        let control = self.control();
        let thread = std::thread::Builder::new()
            .name("stan-mio-server".into())
            .spawn(move || self.run())?;
        Ok(ServerHandle {
            local_addr,
            control,
            thread: Some(thread),
        })
    }

    /// Runs the loop on this thread until [`Control::shutdown`] and the
    /// sessions have flushed (at most five seconds more). Errors only if
    /// polling itself fails.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut shutdown_deadline: Option<Instant> = None;
        // The engine's first outputs (its subscriptions; with a file store,
        // the store's first writes) before anything arrives.
        self.turn(Instant::now());
        loop {
            let now = Instant::now();
            let timeout = if self.again.is_empty() {
                timeout_until(earliest(self.next_deadline(), shutdown_deadline), now)
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    ROUTE_LISTENER => self.accept_routes(now),
                    WAKER => {}
                    token => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(token, now);
                        }
                        if event.is_writable() {
                            self.dirty.push(token);
                        }
                    }
                }
            }
            for token in std::mem::take(&mut self.again) {
                self.read(token, now);
            }
            while let Ok(request) = self.requests.try_recv() {
                match (request, self.engine.as_ref()) {
                    (Request::Router(f), _) => f(&mut self.router),
                    (Request::Engine(f), Some(engine)) => engine.inspect(f),
                    // No engine: dropped, its caller gets `None`.
                    (Request::Engine(_), None) => {}
                    (Request::RouteDialled(dialled), _) => self.route_dialled(dialled, now),
                    (Request::RouteAccepted(accepted), _) => self.route_accepted(accepted, now),
                }
            }
            if shutdown_deadline.is_none() && self.control.shared.stop.load(Ordering::Acquire) {
                shutdown_deadline = Some(deadline_after(now, self.shutdown_grace));
                self.begin_shutdown(now);
            }
            self.turn(now);
            if shutdown_deadline.is_some_and(|d| self.conns.is_empty() || now >= d) {
                return Ok(());
            }
        }
    }

    /// The earliest of the router's, the engine's and the loop's deadlines.
    fn next_deadline(&self) -> Option<Instant> {
        let engine = self.engine.as_ref().and_then(|e| e.poll_timeout());
        let mut at = earliest(self.router.poll_timeout(), engine);
        at = earliest(at, self.accept_retry);
        for token in &self.upgrading {
            at = earliest(at, self.conns.get(token).and_then(|c| c.tls.deadline()));
        }
        for token in &self.blocked {
            let stalled = self.conns.get(token).and_then(|c| c.stalled_at);
            at = earliest(at, stalled.map(|s| s + self.write_deadline));
        }
        at
    }

    /// Everything after the inputs: timers, the engine, router events,
    /// writes.
    fn turn(&mut self, now: Instant) {
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now);
        }
        let stalled: Vec<Token> = self
            .blocked
            .iter()
            .copied()
            .filter(|t| {
                let c = self.conns.get(t);
                c.and_then(|c| c.stalled_at)
                    .is_some_and(|s| s + self.write_deadline <= now)
            })
            .collect();
        for token in stalled {
            match self.conns.get(&token) {
                Some(c) if c.closing => self.drop_conn(token, now),
                Some(c) => self.router.handle_write_stalled(now, c.id),
                None => {}
            }
        }
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.accept_retry = None;
            self.accept(now);
        }
        let late: Vec<Token> = self
            .upgrading
            .iter()
            .copied()
            .filter(|t| {
                let c = self.conns.get(t);
                c.and_then(|c| c.tls.deadline()).is_some_and(|d| d <= now)
            })
            .collect();
        for token in late {
            self.tls_failed(token, TlsFailure::Timeout, now);
        }
        if let Some(engine) = self.engine.as_mut() {
            engine.step(&mut self.router, now);
        }
        self.dispatch(now);
    }

    /// Turns router events into writes and closes until none are left.
    fn dispatch(&mut self, now: Instant) {
        loop {
            while let Some(event) = self.router.poll_event() {
                match event {
                    RouterEvent::OutputReady(conn) => {
                        if let Some(&token) = self.tokens.get(&conn) {
                            self.dirty.push(token);
                        }
                    }
                    RouterEvent::SessionClosed { conn, reason } => {
                        let Some(&token) = self.tokens.get(&conn) else {
                            continue;
                        };
                        if !reason.flushes_output() {
                            // The router dropped its output: stop at once.
                            self.drop_conn(token, now);
                        } else if let Some(c) = self.conns.get_mut(&token) {
                            c.closing = true;
                            self.dirty.push(token);
                        }
                    }
                    RouterEvent::InputResumed(conn) => {
                        // Feed what the stall left, then read on.
                        if let Some(&token) = self.tokens.get(&conn) {
                            self.again.push(token);
                        }
                    }
                    RouterEvent::Log(record) => (self.on_log)(record),
                    RouterEvent::VerifyCredentials(check) => self.checks.submit(check),
                    RouterEvent::DialRoute { dial, url } => self.dialer.dial(dial, url),
                    _ => {}
                }
            }
            if self.dirty.is_empty() {
                return;
            }
            for token in std::mem::take(&mut self.dirty) {
                self.flush(token, now);
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let Some((token, stream)) = self.register(stream) else {
                        continue;
                    };
                    let id = self.router.handle_accept(now, &peer.to_string());
                    let tls = match &self.tls {
                        Some(tls) => {
                            self.upgrading.insert(token);
                            TlsPhase::AwaitHello(deadline_after(now, tls.handshake_timeout()))
                        }
                        None => TlsPhase::Off,
                    };
                    self.add_conn(token, id, stream, tls);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.accept_retry = Some(deadline_after(now, self.accept_backoff));
                    return;
                }
            }
        }
    }

    /// Registers an accepted or dialled socket for reading; `None` when
    /// the poll refuses it (the socket closes).
    fn register(&mut self, stream: mio::net::TcpStream) -> Option<(Token, Stream)> {
        let _ = stream.set_nodelay(true);
        let mut stream = Stream::plain(stream);
        let token = Token(self.next_token);
        self.next_token += 1;
        self.poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
            .ok()?;
        Some((token, stream))
    }

    fn add_conn(&mut self, token: Token, id: ConnId, stream: Stream, tls: TlsPhase) {
        self.tokens.insert(id, token);
        self.conns.insert(
            token,
            Conn {
                id,
                stream,
                tls,
                input: BytesMut::new(),
                out: OutQueue::default(),
                writable: false,
                closing: false,
                stalled_at: None,
            },
        );
    }

    /// Accepts routes: plain-text sessions the router treats as routes.
    fn accept_routes(&mut self, now: Instant) {
        loop {
            let Some(listener) = self.route_listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(tls) = &self.route_tls {
                        // The handshake first, off the loop.
                        let stream = std::net::TcpStream::from(stream);
                        if stream.set_nonblocking(false).is_ok() {
                            let to_loop = self.control.clone();
                            tls.accept(
                                stream,
                                peer.to_string(),
                                Arc::new(move |a| to_loop.send(Request::RouteAccepted(a))),
                            );
                        }
                        continue;
                    }
                    let Some((token, stream)) = self.register(stream) else {
                        continue;
                    };
                    let id = self.router.handle_route_accept(now, &peer.to_string());
                    self.add_conn(token, id, stream, TlsPhase::Off);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of descriptors: the pending routes wait for the next
                // readiness (the router retries its own dials anyway).
                Err(_) => return,
            }
        }
    }

    /// A route dial ended: the stream becomes a route session, or the
    /// router hears of the failure.
    fn route_dialled(&mut self, dialled: Dialled, now: Instant) {
        let Dialled {
            dial,
            peer,
            stream,
            tls,
        } = dialled;
        let session = match tls {
            Some(Err(error)) => {
                return self
                    .router
                    .handle_route_tls_failed(now, Some(dial), &peer, &error)
            }
            Some(Ok(session)) => Some(session),
            None => None,
        };
        let registered = stream
            .filter(|_| self.route_listener.is_some())
            .and_then(|s| s.set_nonblocking(true).ok().map(|()| s))
            .and_then(|s| self.register(mio::net::TcpStream::from_std(s)));
        match registered {
            None => self.router.handle_route_dial_failed(now, dial),
            Some((token, mut stream)) => match self.router.handle_route_connected(now, dial, &peer)
            {
                Some(id) => {
                    if let Some(session) = session {
                        stream.set_session(session);
                        // The handshake may have read past its end.
                        self.again.push(token);
                    }
                    self.add_conn(token, id, stream, TlsPhase::Off);
                }
                // The dial was dropped meanwhile: the stream closes.
                None => {
                    let _ = self.poll.registry().deregister(&mut stream);
                }
            },
        }
    }

    /// An accepted route's TLS handshake ended: the stream becomes a route
    /// session, or the failure is logged (no session ever existed).
    fn route_accepted(&mut self, accepted: Accepted, now: Instant) {
        let Accepted { peer, outcome } = accepted;
        let (stream, session) = match outcome {
            Ok(done) => done,
            Err(error) => {
                return self
                    .router
                    .handle_route_tls_failed(now, None, &peer, &error)
            }
        };
        let registered = Some(stream)
            .filter(|_| self.route_listener.is_some())
            .and_then(|s| s.set_nonblocking(true).ok().map(|()| s))
            .and_then(|s| self.register(mio::net::TcpStream::from_std(s)));
        // Shutting down, or the poll refused it: the stream closes.
        let Some((token, mut stream)) = registered else {
            return;
        };
        stream.set_session(session);
        let id = self.router.handle_route_accept(now, &peer);
        // The handshake may have read past its end.
        self.again.push(token);
        self.add_conn(token, id, stream, TlsPhase::Off);
    }

    fn read(&mut self, token: Token, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        match c.tls {
            TlsPhase::AwaitHello(_) => return self.tls_hello(token, now),
            TlsPhase::Handshaking(_) => return self.tls_step(token, now),
            TlsPhase::Off | TlsPhase::Failed => {}
        }
        let (router, id) = (&mut self.router, c.id);
        // What a stall left first; a producer still stalled reads nothing
        // (TCP pushes back) until `InputResumed`.
        router.handle_input(now, id, &mut c.input);
        if router.is_input_paused(id) {
            return;
        }
        let end = read_burst(&mut c.stream, &mut c.input, &mut self.scratch, |input| {
            router.handle_input(now, id, input);
            !router.is_input_paused(id)
        });
        match end {
            ReadEnd::WouldBlock | ReadEnd::Paused => {}
            ReadEnd::Budget => self.again.push(token),
            // The peer is gone: nothing more can be written either.
            ReadEnd::Closed => self.drop_conn(token, now),
        }
    }

    /// Writes the session's output until done or `WouldBlock`, taking at
    /// most [`MAX_IOVECS`] chunks from the router at a time (the rest stays
    /// in the router, which counts it for its slow-consumer limit).
    fn flush(&mut self, token: Token, now: Instant) {
        if self
            .conns
            .get(&token)
            .is_some_and(|c| matches!(c.tls, TlsPhase::Handshaking(_)))
        {
            // Writable: the handshake's flight may go on.
            self.tls_step(token, now);
        }
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let mut written = 0;
        let done = loop {
            if c.out.is_empty() {
                c.stalled_at = None;
                while c.out.len() < MAX_IOVECS {
                    match self.router.poll_transmit(c.id) {
                        Some(chunk) => c.out.push(chunk),
                        None => break,
                    }
                }
                if c.out.is_empty() {
                    break Ok(true);
                }
            }
            match c.out.write_to(&mut c.stream, &mut written) {
                Ok(true) => {}
                other => break other,
            }
        };
        // The ciphertext the session still holds counts as unwritten.
        let done = done.and_then(|d| Ok(d && c.stream.flush_tls()?));
        if written > 0 {
            self.router.handle_written(now, c.id, written);
        }
        let want_writable = match done {
            Err(_) => return self.drop_conn(token, now),
            Ok(true) if c.closing => {
                c.stream.shutdown_write();
                return self.drop_conn(token, now);
            }
            // A handshake flight the socket did not take.
            Ok(true) => c.stream.wants_write(),
            Ok(false) => {
                c.stalled_at.get_or_insert(now);
                true
            }
        };
        if want_writable != c.writable {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(&mut c.stream, token, interest);
            c.writable = want_writable;
            if want_writable {
                self.blocked.insert(token);
            } else {
                self.blocked.remove(&token);
            }
        }
    }

    /// Closes the socket and tells the router.
    fn drop_conn(&mut self, token: Token, now: Instant) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.tokens.remove(&c.id);
        self.blocked.remove(&token);
        self.upgrading.remove(&token);
        self.router.handle_transport_closed(now, c.id);
    }

    /// A TLS server's session before its first bytes: reads them; TLS
    /// starts the handshake, anything else is a plain-text client.
    fn tls_hello(&mut self, token: Token, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let deadline = c.tls.deadline().unwrap_or(now);
        loop {
            match c.stream.read(&mut self.scratch) {
                Ok(0) => return self.drop_conn(token, now),
                Ok(n) => {
                    c.input.extend_from_slice(&self.scratch[..n]);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.drop_conn(token, now),
            }
        }
        match stan_tls::looks_like_tls(&c.input) {
            None => {}
            Some(false) => self.tls_failed(token, TlsFailure::NotTls, now),
            Some(true) => {
                let Some(tls) = self.tls.as_ref() else {
                    return;
                };
                let session = match tls.accept() {
                    Ok(s) => s,
                    Err(e) => {
                        return self.tls_failed(token, TlsFailure::Handshake(e.to_string()), now)
                    }
                };
                // What was read is the start of the handshake.
                let first = c.input.split();
                c.tls = TlsPhase::Handshaking(deadline);
                match c
                    .stream
                    .start_tls(rustls::Connection::Server(session), &first)
                {
                    Ok(()) => self.tls_step(token, now),
                    Err(e) => self.tls_failed(token, TlsFailure::Handshake(e.to_string()), now),
                }
            }
        }
    }

    /// Moves a session's handshake on; once done, its input is read.
    fn tls_step(&mut self, token: Token, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        match c.stream.handshake_step() {
            Ok(true) => {
                c.tls = TlsPhase::Off;
                self.upgrading.remove(&token);
                // The client's first operations may have come with its
                // last flight.
                self.again.push(token);
                self.dirty.push(token);
            }
            Ok(false) => {
                if c.stream.wants_write() && !c.writable {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .reregister(&mut c.stream, token, interest)
                        .is_ok()
                    {
                        c.writable = true;
                    }
                }
            }
            Err(e) => self.tls_failed(token, TlsFailure::Handshake(e.to_string()), now),
        }
    }

    /// Reports a failed upgrade to the router; its last output (the
    /// `-ERR`, if any) goes out in plain text.
    fn tls_failed(&mut self, token: Token, failure: TlsFailure, now: Instant) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        c.stream.drop_tls();
        c.tls = TlsPhase::Failed;
        c.input.clear();
        self.upgrading.remove(&token);
        self.router.handle_tls_failed(now, c.id, failure);
        self.dirty.push(token);
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut listener) = self.route_listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut engine) = self.engine.take() {
            engine.step(&mut self.router, now);
            // A file store's last writes finish first (bounded).
            let until = now + SETTLE_TIME;
            engine.begin_settle();
            while !engine.settled() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
                engine.step(&mut self.router, Instant::now());
            }
            self.router.handle_transport_closed(now, engine.conn());
        }
        self.router.shutdown(now);
    }
}

/// A [`Server`] running on its own thread ([`Server::spawn`]). Dropping it
/// asks the server to shut down without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    control: Control,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A remote control of the loop.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Router counters (`None` once the loop has ended).
    pub fn stats(&self) -> Option<RouterStats> {
        self.control.stats()
    }

    /// Shuts the server down (see [`Control::shutdown`]) and waits for its
    /// thread.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.control.shutdown();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.control.shutdown();
        }
    }
}
