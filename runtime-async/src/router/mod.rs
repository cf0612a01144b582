//! The embedded NATS server: a [`Router`] behind a mutex, one reader and
//! one writer task per TCP connection, one timer task, and in-process
//! sessions ([`LocalSession`]).
//!
//! The loops only move bytes and time: every decision (what to answer,
//! whom to deliver to, when to close, how long a write may block) is the
//! router's. After each call into the router, [`Shared::dispatch`] turns
//! its events into wake-ups.

mod checks;
mod conn;
mod local;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stan_core::nats::router::{
    ConnId, DialId, LocalOptions, LogRecord, RouteUrl, Router, RouterConfig, RouterEvent,
    RouterStats,
};

pub use local::LocalSession;

use stan_tls::{ClientTls, ClientTlsOptions, ServerTls, ServerTlsOptions, TlsError};

use crate::io::until;
use crate::monitor::RouterMonitor;
use crate::runtime::Runtime;
use crate::wake::{Latch, Notify};

/// Wake-ups for one session's tasks.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Output is ready, or the session is closing.
    pub(crate) ready: Notify,
    /// The router ended the session.
    closing: AtomicBool,
    /// Stop at once (slow consumer, peer gone): the output was dropped.
    /// Wakes a reader or writer blocked in IO.
    killed: Latch<()>,
    /// The router resumed the session's input (or it is closing).
    resumed: Notify,
}

impl Signal {
    /// Whether the router ended the session.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.ready.notify();
        self.resumed.notify();
    }

    fn kill(&self) {
        self.killed.set(());
        self.close();
    }
}

/// The router and the wake-ups of its sessions.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) router: Router,
    pub(crate) signals: HashMap<ConnId, Arc<Signal>>,
    /// The deadline the timer task sleeps until.
    timer_armed: Option<Instant>,
}

/// Receives the router's log lines (called with the router locked: keep it
/// short).
pub type LogSink = Box<dyn Fn(LogRecord) + Send + Sync>;

/// TLS on routes (nats-server's `cluster { tls { } }`): both sides of a
/// route handshake right after the TCP connect, before any protocol byte
/// (the acceptor as TLS server, the solicitor as TLS client), within the
/// server side's handshake timeout (`tls { timeout }`).
#[derive(Debug, Clone)]
pub struct RouteTls {
    /// Accepted routes: this server's certificate and key; with
    /// `verify`, the CA that a solicitor's certificate must chain to.
    pub server: ServerTls,
    /// Solicited routes: the CA the acceptor's certificate must chain to
    /// (verified against the route URL's host), and the same certificate
    /// and key as this server's client certificate, as nats-server uses
    /// them.
    pub client: ClientTls,
}

impl RouteTls {
    /// Both sides from one `tls { }` block: `options` as a listener's,
    /// and as the client side its CA (the system's roots when `None`),
    /// certificate and key; `insecure` accepts any acceptor certificate
    /// (`tls { insecure: true }`).
    pub fn new(options: &ServerTlsOptions, insecure: bool) -> Result<RouteTls, TlsError> {
        let server = ServerTls::new(options)?;
        let client = ClientTls::new(&ClientTlsOptions {
            ca: options.ca.clone(),
            cert: Some(options.cert.clone()),
            key: Some(options.key.clone()),
            server_name: None,
            insecure_skip_verify: insecure,
        })?;
        Ok(RouteTls { server, client })
    }

    /// How long either side of a route has to complete the handshake.
    pub fn handshake_timeout(&self) -> Duration {
        self.server.handshake_timeout()
    }
}

/// What every task of one server shares.
pub(crate) struct Shared {
    state: Mutex<State>,
    timer_wake: Notify,
    /// Set by shutdown: the accept loop ends.
    stopping: Latch<()>,
    /// Set once shutdown is over: the timer loop ends.
    halted: Latch<()>,
    /// Connections whose tasks have not finished.
    live_tasks: AtomicUsize,
    all_done: Notify,
    config: RouterConfig,
    on_log: LogSink,
    /// Serve TLS: every connection upgrades after its `INFO`.
    pub(crate) tls: Option<ServerTls>,
    /// TLS on routes, when the cluster has it.
    pub(crate) route_tls: Option<RouteTls>,
    /// Runs the router's credential checks off the routing path.
    checks: checks::CheckWorkers,
    /// Starts a dial the router asked for (`RouterEvent::DialRoute`).
    dialer: Dialer,
}

/// Spawns a route dial on the server's runtime.
type Dialer = Box<dyn Fn(DialId, RouteUrl) + Send + Sync>;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug; keep serving the rest.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether shutdown is over.
    pub(crate) fn is_halted(&self) -> bool {
        self.halted.is_set()
    }

    /// Turns router events into wake-ups. Called with the lock held after
    /// every router input.
    pub(crate) fn dispatch(&self, st: &mut State) {
        while let Some(event) = st.router.poll_event() {
            match event {
                RouterEvent::OutputReady(conn) => {
                    if let Some(sig) = st.signals.get(&conn) {
                        sig.ready.notify();
                    }
                }
                RouterEvent::SessionClosed { conn, reason } => {
                    if let Some(sig) = st.signals.get(&conn) {
                        if reason.flushes_output() {
                            sig.close();
                        } else {
                            sig.kill();
                        }
                    }
                }
                RouterEvent::InputResumed(conn) => {
                    if let Some(sig) = st.signals.get(&conn) {
                        sig.resumed.notify();
                    }
                }
                RouterEvent::Log(record) => (self.on_log)(record),
                RouterEvent::VerifyCredentials(check) => self.checks.submit(check),
                RouterEvent::DialRoute { dial, url } => (self.dialer)(dial, url),
                _ => {}
            }
        }
        let next = st.router.poll_timeout();
        if next.is_some() && (st.timer_armed.is_none() || next < st.timer_armed) {
            self.timer_wake.notify();
        }
    }

    /// Registers a new session's wake-ups.
    pub(crate) fn register(&self, st: &mut State, conn: ConnId) -> Arc<Signal> {
        let signal = Arc::new(Signal::default());
        st.signals.insert(conn, Arc::clone(&signal));
        signal
    }

    /// The session's transport is gone.
    pub(crate) fn forget(&self, st: &mut State, conn: ConnId) {
        st.router.handle_transport_closed(Instant::now(), conn);
        st.signals.remove(&conn);
    }
}

/// The embedded NATS server, serving a [`Router`] on a TCP listener of
/// runtime `R`.
#[derive(Debug)]
pub struct RouterServer<R: Runtime> {
    rt: R,
    pub(crate) shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// The route listener's address, when clustering.
    route_addr: Option<SocketAddr>,
    /// Set when the accept loop ended.
    accept_done: Arc<Latch<()>>,
    /// Set when the route accept loop ended, when clustering.
    route_accept_done: Option<Arc<Latch<()>>>,
}

impl<R: Runtime + Default> RouterServer<R> {
    /// Binds `addr` (`host:port`) and starts serving. The router's `INFO`
    /// announces the bound port.
    pub async fn bind(addr: &str, config: RouterConfig) -> io::Result<Self> {
        Self::bind_on(R::default(), addr, config, Box::new(|_| {})).await
    }

    /// [`bind`](Self::bind); the router's log lines go to `on_log`.
    pub async fn bind_with_log(
        addr: &str,
        config: RouterConfig,
        on_log: impl Fn(LogRecord) + Send + Sync + 'static,
    ) -> io::Result<Self> {
        Self::bind_on(R::default(), addr, config, Box::new(on_log)).await
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: std::net::TcpListener, config: RouterConfig) -> io::Result<Self> {
        Self::serve_on(R::default(), listener, config, Box::new(|_| {}))
    }

    /// [`bind`](Self::bind), serving TLS with `tls` when given (see
    /// [`serve_tls_on`](Self::serve_tls_on)).
    pub async fn bind_tls(
        addr: &str,
        config: RouterConfig,
        tls: Option<ServerTls>,
    ) -> io::Result<Self> {
        Self::bind_tls_with_log(addr, config, tls, |_| {}).await
    }

    /// [`bind_with_log`](Self::bind_with_log), serving TLS with `tls` when
    /// given (see [`serve_tls_on`](Self::serve_tls_on)).
    pub async fn bind_tls_with_log(
        addr: &str,
        config: RouterConfig,
        tls: Option<ServerTls>,
        on_log: impl Fn(LogRecord) + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        Self::serve_tls_on(R::default(), listener, config, tls, Box::new(on_log))
    }
}

impl<R: Runtime> RouterServer<R> {
    /// Binds `addr` on runtime `rt` and serves; log lines go to `on_log`.
    pub async fn bind_on(
        rt: R,
        addr: &str,
        config: RouterConfig,
        on_log: LogSink,
    ) -> io::Result<Self> {
        // A bind does not block: `std`'s serves every runtime.
        let listener = std::net::TcpListener::bind(addr)?;
        Self::serve_on(rt, listener, config, on_log)
    }

    /// Serves on an already bound listener on runtime `rt`; log lines go to
    /// `on_log`.
    pub fn serve_on(
        rt: R,
        listener: std::net::TcpListener,
        config: RouterConfig,
        on_log: LogSink,
    ) -> io::Result<Self> {
        Self::serve_tls_on(rt, listener, config, None, on_log)
    }

    /// [`serve_on`](Self::serve_on), serving TLS with `tls` when given, as
    /// nats-server does: `INFO` (announcing `tls_required`, and
    /// `tls_verify` when `tls` verifies clients: `config`'s
    /// `tls_required` and `tls_verify` are set from `tls`) in plain text,
    /// then the TLS handshake within `tls`'s handshake timeout, then the
    /// protocol over TLS. A plain-text client, or one that does not
    /// complete the handshake in time, gets `-ERR 'Secure Connection - TLS
    /// Required'` in plain text and is closed; a failed handshake (no or a
    /// bad client certificate under verify) closes with the TLS alert and
    /// is logged as `TLS handshake error: ...`.
    pub fn serve_tls_on(
        rt: R,
        listener: std::net::TcpListener,
        config: RouterConfig,
        tls: Option<ServerTls>,
        on_log: LogSink,
    ) -> io::Result<Self> {
        Self::serve_cluster_on(rt, listener, None, config, tls, None, on_log)
    }

    /// [`serve_tls_on`](Self::serve_tls_on), and with `routes` (a bound
    /// route listener) a cluster member: connections accepted there are
    /// route sessions, the router's route dials are made with the
    /// runtime's connect within the cluster's dial timeout. The cluster's
    /// port is set to the one bound (`config.cluster` is the default
    /// cluster when unset).
    ///
    /// With `route_tls`, routes run over TLS as in nats-server 2.9: both
    /// sides handshake right after the TCP connect, before the route
    /// session exists (its `INFO` and `CONNECT` announce `tls_required`;
    /// `config.cluster`'s `tls_required` and `tls_verify` are set). A
    /// handshake that fails or does not finish within the route TLS
    /// timeout closes the connection, is logged as `TLS route handshake
    /// error: ...`, and is retried as a failed dial on the soliciting side.
    pub fn serve_cluster_on(
        rt: R,
        listener: std::net::TcpListener,
        routes: Option<std::net::TcpListener>,
        mut config: RouterConfig,
        tls: Option<ServerTls>,
        route_tls: Option<RouteTls>,
        on_log: LogSink,
    ) -> io::Result<Self> {
        let mut route_addr = None;
        let routes = match routes {
            None => None,
            Some(l) => {
                l.set_nonblocking(true)?;
                let addr = l.local_addr()?;
                config.cluster.get_or_insert_with(Default::default).port = addr.port();
                route_addr = Some(addr);
                Some(rt.listen(l)?)
            }
        };
        if let (Some(_), Some(cluster)) = (&route_tls, config.cluster.as_mut()) {
            // nats-server 2.9 announces `tls_verify` with any route TLS.
            cluster.tls_required = true;
            cluster.tls_verify = true;
        }
        if let Some(tls) = &tls {
            config.tls_required = true;
            config.tls_verify = tls.verify();
        }
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let listener = rt.listen(listener)?;
        config.port = local_addr.port();
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let shared = Arc::new_cyclic(|weak| Shared {
            state: Mutex::new(State {
                router: Router::new(config.clone(), Instant::now()),
                signals: HashMap::new(),
                timer_armed: None,
            }),
            timer_wake: Notify::default(),
            stopping: Latch::default(),
            halted: Latch::default(),
            live_tasks: AtomicUsize::new(0),
            all_done: Notify::default(),
            config,
            on_log,
            tls,
            route_tls,
            checks: checks::CheckWorkers::new(weak.clone()),
            dialer: {
                let rt = rt.clone();
                let weak = weak.clone();
                Box::new(move |dial, url| {
                    let Some(shared) = weak.upgrade() else {
                        return;
                    };
                    let timeout = shared
                        .config
                        .cluster
                        .as_ref()
                        .map_or(Duration::from_secs(1), |c| c.dial_timeout);
                    rt.spawn(Box::pin(conn::dial_route(
                        rt.clone(),
                        shared,
                        dial,
                        url,
                        timeout,
                    )));
                })
            },
        });
        let accept_done = Arc::new(Latch::default());
        rt.spawn(Box::pin(conn::accept_loop(
            rt.clone(),
            listener,
            Arc::clone(&shared),
            Arc::clone(&accept_done),
            false,
        )));
        let route_accept_done = routes.map(|routes| {
            let done = Arc::new(Latch::default());
            rt.spawn(Box::pin(conn::accept_loop(
                rt.clone(),
                routes,
                Arc::clone(&shared),
                Arc::clone(&done),
                true,
            )));
            done
        });
        rt.spawn(Box::pin(timer_loop(rt.clone(), Arc::clone(&shared))));
        Ok(RouterServer {
            rt,
            shared,
            local_addr,
            route_addr,
            accept_done,
            route_accept_done,
        })
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &R {
        &self.rt
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The route listener's address, when clustering.
    pub fn route_addr(&self) -> Option<SocketAddr> {
        self.route_addr
    }

    /// Router counters.
    pub fn stats(&self) -> RouterStats {
        self.shared.lock().router.stats()
    }

    /// Open sessions: clients, and routes to other cluster nodes (which
    /// `/connz` and `max_connections` leave out; `/routez` lists them).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().router.connection_count()
    }

    /// A handle that takes snapshots of the router from another thread
    /// (monitoring), until the server has shut down.
    pub fn monitor(&self) -> RouterMonitor {
        RouterMonitor(Arc::downgrade(&self.shared))
    }

    /// Attaches an in-process session (no TCP, no text protocol).
    pub fn attach_local(&self, options: LocalOptions) -> LocalSession {
        LocalSession::attach(Arc::clone(&self.shared), options)
    }

    /// Stops accepting, closes every session (flushing what is pending) and
    /// waits up to the configuration's `shutdown_grace` for the
    /// connections to finish.
    pub async fn shutdown(self) {
        self.shared.stopping.set(());
        self.accept_done.wait().await;
        if let Some(done) = &self.route_accept_done {
            done.wait().await;
        }
        {
            let mut st = self.shared.lock();
            st.router.shutdown(Instant::now());
            self.shared.dispatch(&mut st);
        }
        let grace =
            stan_core::time::deadline_after(Instant::now(), self.shared.config.shutdown_grace);
        let wait = async {
            loop {
                if self.shared.live_tasks.load(Ordering::Acquire) == 0 {
                    break;
                }
                self.shared.all_done.notified().await;
            }
        };
        let _ = until(&self.rt, grace, wait).await;
        self.shared.halted.set(());
    }
}

/// Fires the router's deadlines.
async fn timer_loop<R: Runtime>(rt: R, shared: Arc<Shared>) {
    loop {
        let deadline = {
            let mut st = shared.lock();
            let next = st.router.poll_timeout();
            st.timer_armed = next;
            next
        };
        let woken = futures_lite::future::or(
            async {
                crate::io::sleep_opt(&rt, deadline).await;
                true
            },
            async {
                futures_lite::future::or(shared.timer_wake.notified(), shared.halted.wait()).await;
                false
            },
        )
        .await;
        if shared.halted.is_set() {
            return;
        }
        if woken {
            let mut st = shared.lock();
            // The clock decides expiry, not the sleep.
            st.router.handle_timeout(Instant::now());
            shared.dispatch(&mut st);
        }
    }
}
