//! A [`Stack`] (a NATS-level state machine over a NATS client connection)
//! driven over TCP: the loop under the client [`Connection`](crate::Connection)
//! and the [`ExternalEngine`]. It dials when the core asks (as one more
//! branch of its select, bounded by the core's dial deadline), moves bytes
//! and time, and makes no protocol decision.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::future;
use stan_core::nats::client::{CloseReason, Connection, Event, UrlError};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::outbox::Outbox;
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{
    EngineSnapshot, EngineSnapshotOptions, Server, ServerConfig, ServerEvent,
};
use stan_core::stan::store::Store;
use stan_core::time::deadline_after;

use crate::doorbell::{ring_or, rung, Doorbell};
use crate::io::{sleep_opt, until, write_all, write_some, READ_CHUNK};
use crate::monitor::{EngineMonitor, Inspect, Parts, Published};
use crate::runtime::{ReadHalf, Runtime};
use crate::tls::{handshake, split, MaybeTlsReader, MaybeTlsWriter, TlsReader, TlsWriter};
use crate::wake::{Latch, Notify, SetOnDrop};
use stan_store::{EngineIo, Opened, SpawnError};
use stan_tls::{rustls, ClientTls, ClientTlsOptions};

/// What [`drive`] drives: a stack, and what to drain after every input.
pub trait Driven: Send + 'static {
    /// The NATS-level state machine on the connection.
    type App: NatsApp;

    /// The stack.
    fn stack(&mut self) -> &mut Stack<Self::App>;

    /// Drains the application's own outputs (events) after every input.
    fn after_input(&mut self) {}
}

impl<A: NatsApp + Send + 'static> Driven for Stack<A> {
    type App = A;

    fn stack(&mut self) -> &mut Stack<A> {
        self
    }
}

fn lock<D>(cell: &Mutex<D>) -> MutexGuard<'_, D> {
    // A panic while holding the lock is a bug; keep going.
    cell.lock().unwrap_or_else(|e| e.into_inner())
}

/// A dial in progress.
type Dial<R> = Pin<
    Box<dyn Future<Output = io::Result<(<R as Runtime>::Reader, <R as Runtime>::Writer)>> + Send>,
>;

/// The socket's halves, plain or upgraded to TLS.
type Socket<R> = (
    MaybeTlsReader<<R as Runtime>::Reader>,
    MaybeTlsWriter<<R as Runtime>::Writer>,
);

/// The socket's halves over TLS, or why the handshake failed.
type Upgraded<R> = Result<
    (
        TlsReader<<R as Runtime>::Reader>,
        TlsWriter<<R as Runtime>::Writer>,
    ),
    String,
>;

/// A TLS upgrade in progress.
type Upgrade<R> = Pin<Box<dyn Future<Output = Upgraded<R>> + Send>>;

/// What woke the driver.
enum Wake<R: Runtime> {
    Read(io::Result<usize>),
    Wrote(io::Result<()>),
    Dialed(io::Result<(R::Reader, R::Writer)>),
    Upgraded(Upgraded<R>),
    Timer,
    Notified,
    Stop,
}

/// Runs the stack in `cell` on `rt` until its connection closes for good
/// or `stop` is set; returns the close reason ([`CloseReason::Local`] when
/// stopped). Whoever else changes the stack (a client API call) locks
/// `cell` and then notifies `wake`, so the loop picks up the new output
/// and deadline. A TLS upgrade the connection asks for
/// ([`Event::UpgradeTls`]) uses the system's trust anchors; see
/// [`drive_tls`].
pub async fn drive<R: Runtime, D: Driven>(
    rt: &R,
    cell: &Mutex<D>,
    wake: &Notify,
    stop: &Latch<()>,
) -> CloseReason {
    drive_tls(rt, cell, wake, stop, None).await
}

/// [`drive`], upgrading the socket to TLS with `tls` when the connection
/// asks ([`Event::UpgradeTls`]: the server's `INFO` requires TLS, or a
/// `tls://` URL or the options ask for it). Without `tls` an upgrade uses
/// the system's trust anchors and no client certificate. The handshake
/// verifies the server's name (the host dialled, unless `tls` names
/// another); its failure is reported to the connection
/// ([`Connection::handle_tls_failed`]), which tries the next server.
pub async fn drive_tls<R: Runtime, D: Driven>(
    rt: &R,
    cell: &Mutex<D>,
    wake: &Notify,
    stop: &Latch<()>,
    tls: Option<&ClientTls>,
) -> CloseReason {
    drive_with_bell(rt, cell, wake, stop, tls, None).await
}

/// [`drive_tls`], woken also by `bell` (a file store's completions).
async fn drive_with_bell<R: Runtime, D: Driven>(
    rt: &R,
    cell: &Mutex<D>,
    wake: &Notify,
    stop: &Latch<()>,
    tls: Option<&ClientTls>,
    mut bell: Option<&mut Box<dyn Doorbell>>,
) -> CloseReason {
    let mut socket: Option<Socket<R>> = None;
    let mut dial: Option<Dial<R>> = None;
    let mut upgrade: Option<Upgrade<R>> = None;
    let mut tls = tls.cloned();
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    // Output the socket has not taken yet: written while reads, timers and
    // commands keep being served, so a peer that stops reading cannot stall
    // the connection's own keepalive.
    let mut out = Outbox::default();
    loop {
        let mut closed = None;
        let deadline = {
            let mut d = lock(cell);
            d.after_input();
            let stack = d.stack();
            // Events first: they tell us to dial or drop the socket.
            while let Some(event) = stack.poll_event() {
                match event {
                    Event::WantConnect { server } => {
                        socket = None;
                        upgrade = None;
                        out.clear();
                        let rt = rt.clone();
                        dial = Some(Box::pin(async move {
                            R::split(rt.connect(&server.host, server.port).await?)
                        }));
                    }
                    Event::Disconnected { .. } => {
                        socket = None;
                        dial = None;
                        upgrade = None;
                        out.clear();
                    }
                    Event::UpgradeTls { server } => {
                        // Nothing else comes in plain text after INFO.
                        input.clear();
                        out.clear();
                        if let Some((MaybeTlsReader::Plain(rd), MaybeTlsWriter::Plain(wr))) =
                            socket.take()
                        {
                            upgrade = Some(start_upgrade::<R>(rd, wr, &mut tls, &server.host));
                        }
                    }
                    Event::Closed { reason } => {
                        closed = Some(reason);
                        break;
                    }
                    _ => {}
                }
            }
            while let Some(chunk) = stack.poll_transmit() {
                out.push(chunk);
            }
            if socket.is_none() {
                out.clear();
            }
            stack.poll_timeout()
        };
        if let Some(reason) = closed {
            final_flush(rt, cell, socket, out).await;
            return reason;
        }
        let woke = {
            let (read, write) = match socket.as_mut() {
                Some((r, w)) => (Some(r), Some(w)),
                None => (None, None),
            };
            let read = async {
                match read {
                    Some(r) => {
                        input.reserve(READ_CHUNK);
                        Wake::<R>::Read(r.read_buf(&mut input).await)
                    }
                    None => future::pending().await,
                }
            };
            let write = async {
                match write {
                    Some(w) if !out.is_empty() => {
                        Wake::Wrote(write_some(w, &mut out).await.map(drop))
                    }
                    _ => future::pending().await,
                }
            };
            let dialing = async {
                match (dial.as_mut(), upgrade.as_mut()) {
                    (Some(d), _) => Wake::Dialed(d.await),
                    (None, Some(u)) => Wake::Upgraded(u.await),
                    (None, None) => future::pending().await,
                }
            };
            let timer = async {
                sleep_opt(rt, deadline).await;
                Wake::Timer
            };
            let notified = async {
                future::or(wake.notified(), rung(bell.as_deref_mut())).await;
                Wake::Notified
            };
            let stopped = async {
                stop.wait().await;
                Wake::Stop
            };
            future::or(
                future::or(future::or(read, write), future::or(dialing, timer)),
                future::or(notified, stopped),
            )
            .await
        };
        let now = Instant::now();
        match woke {
            Wake::Read(Ok(n)) if n > 0 => lock(cell).stack().handle_input(now, &mut input),
            Wake::Read(_) | Wake::Wrote(Err(_)) => {
                socket = None;
                lock(cell).stack().handle_transport_closed(now);
            }
            Wake::Wrote(Ok(())) | Wake::Notified => {}
            Wake::Dialed(result) => {
                dial = None;
                match result {
                    Ok((rd, wr)) => {
                        socket = Some((MaybeTlsReader::Plain(rd), MaybeTlsWriter::Plain(wr)));
                        input.clear();
                        lock(cell).stack().handle_transport_connected(now);
                    }
                    Err(_) => lock(cell).stack().handle_transport_failed(now),
                }
            }
            Wake::Upgraded(result) => {
                upgrade = None;
                let mut d = lock(cell);
                let stack = d.stack();
                match result {
                    Ok((rd, wr)) => {
                        socket = Some((MaybeTlsReader::Tls(rd), MaybeTlsWriter::Tls(wr)));
                        stack.conn.handle_tls_established(now);
                    }
                    Err(e) => stack.conn.handle_tls_failed(now, e),
                }
                // Route what the connection queued (its CONNECT, its events).
                stack.handle_app_commands(now);
            }
            Wake::Timer => lock(cell).stack().handle_timeout(now),
            Wake::Stop => {
                {
                    let mut d = lock(cell);
                    d.stack().close(now);
                    d.after_input();
                    while d.stack().poll_event().is_some() {}
                    while let Some(chunk) = d.stack().poll_transmit() {
                        out.push(chunk);
                    }
                }
                final_flush(rt, cell, socket, out).await;
                // `close` ended the connection with this reason.
                return CloseReason::Local;
            }
        }
    }
}

/// Writes what is left, bounded by the connection's `close_flush_timeout`
/// (a peer that does not read does not hold the end up).
async fn final_flush<R: Runtime, D: Driven>(
    rt: &R,
    cell: &Mutex<D>,
    socket: Option<Socket<R>>,
    mut out: Outbox,
) {
    let limit = {
        let mut d = lock(cell);
        let stack = d.stack();
        while let Some(chunk) = stack.poll_transmit() {
            out.push(chunk);
        }
        deadline_after(Instant::now(), stack.conn.options().close_flush_timeout)
    };
    let Some((_, mut w)) = socket else {
        return;
    };
    let _ = until(rt, limit, async {
        write_all(&mut w, &mut out).await?;
        crate::runtime::WriteHalf::shutdown(&mut w).await
    })
    .await;
}

/// `options`, asking for TLS on every connection when TLS settings were
/// given (Go streaming's `-secure` and its certificate flags).
pub(crate) fn tls_options(
    mut options: stan_core::nats::client::ClientOptions,
    tls: bool,
) -> stan_core::nats::client::ClientOptions {
    options.tls_required |= tls;
    options
}

/// Starts the TLS handshake over a plain socket towards `host` (the
/// default settings are built on first use).
fn start_upgrade<R: Runtime>(
    mut rd: R::Reader,
    mut wr: R::Writer,
    tls: &mut Option<ClientTls>,
    host: &str,
) -> Upgrade<R> {
    let settings = match tls {
        Some(t) => Ok(t.clone()),
        None => ClientTls::new(&ClientTlsOptions::default()).inspect(|t| *tls = Some(t.clone())),
    };
    let session = settings.and_then(|t| t.connect(host));
    Box::pin(async move {
        let session = rustls::Connection::Client(session.map_err(|e| e.to_string())?);
        let (session, leftover) = handshake(&mut rd, &mut wr, session, BytesMut::new(), false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(split(rd, wr, session, leftover))
    })
}

/// The engine, where its events go, and a file store's IO thread.
struct EngineCell<S: Store, F> {
    stack: Stack<Server<S>>,
    on_event: F,
    io: Option<EngineIo>,
    settling: Arc<Settling>,
    settle_begun: bool,
}

/// A stop's first step for an engine on an external NATS server: the
/// engine finishes its store's writes while still connected, so that the
/// PubAcks and deliveries they release go out; then the connection closes.
#[derive(Debug, Default)]
struct Settling {
    /// The stop asked for it.
    asked: std::sync::atomic::AtomicBool,
    /// The store is settled (or cannot settle for now).
    done: Latch<()>,
}

impl<S, F> Driven for EngineCell<S, F>
where
    S: Store + Send + 'static,
    F: FnMut(ServerEvent) + Send + 'static,
{
    type App = Server<S>;

    fn stack(&mut self) -> &mut Stack<Server<S>> {
        &mut self.stack
    }

    fn after_input(&mut self) {
        let asked = self
            .settling
            .asked
            .load(std::sync::atomic::Ordering::Acquire);
        if asked && !self.settle_begun {
            self.settle_begun = true;
            self.stack.app.begin_settle();
        }
        if let Some(io) = &self.io {
            let now = Instant::now();
            if io.pump(&mut self.stack.app, now) > 0 {
                // Outputs the completed writes released.
                self.stack.handle_app_commands(now);
                io.pump(&mut self.stack.app, now);
            }
        }
        while let Some(e) = self.stack.app.poll_event() {
            (self.on_event)(e);
        }
        if self.settle_begun && (self.io.is_none() || self.stack.app.store_settled()) {
            self.settling.done.set(());
        }
    }
}

/// Monitoring looks at the engine under the cell's lock (the driver's
/// lock: it waits between two inputs).
impl<S, F> Inspect for Mutex<EngineCell<S, F>>
where
    S: Store + Send + 'static,
    F: FnMut(ServerEvent) + Send + 'static,
{
    fn snapshot(&self, options: EngineSnapshotOptions) -> EngineSnapshot {
        let c = lock(self);
        Parts(&c.stack.app, c.io.as_ref()).snapshot(options)
    }

    fn sync_latency(&self) -> Option<LatencyHistogram> {
        lock(self).io.as_ref().map(EngineIo::sync_latency)
    }
}

/// Why an external engine over a file store did not start.
#[derive(thiserror::Error, Debug)]
pub enum ExternalStartError {
    /// The NATS URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The store IO thread.
    #[error(transparent)]
    Io(#[from] SpawnError),
}

/// How long a stopped engine waits for its store's last writes.
const SETTLE_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Lets a file store finish the writes staged before the engine stopped.
async fn settle<R: Runtime, S, F>(
    rt: &R,
    cell: &Mutex<EngineCell<S, F>>,
    wake: &Notify,
    mut bell: Option<&mut Box<dyn Doorbell>>,
) where
    S: Store + Send + 'static,
    F: FnMut(ServerEvent) + Send + 'static,
{
    let until = Instant::now() + SETTLE_TIME;
    {
        let mut c = lock(cell);
        if c.settle_begun {
            // The stop settled the store while connected (or gave up).
            return;
        }
        c.stack.app.begin_settle();
    }
    loop {
        {
            let mut c = lock(cell);
            c.after_input();
            if c.io.is_none() || c.stack.app.store_settled() || Instant::now() >= until {
                return;
            }
        }
        future::or(
            future::or(wake.notified(), rung(bell.as_deref_mut())),
            sleep_opt(rt, Some(until)),
        )
        .await;
    }
}

/// The STAN engine against an external NATS server, on runtime `R`.
#[derive(Debug)]
pub struct ExternalEngine<R: Runtime> {
    stop: Arc<Latch<()>>,
    closed: Arc<Latch<Option<CloseReason>>>,
    monitor: EngineMonitor,
    settling: Arc<Settling>,
    wake: Arc<Notify>,
    rt: R,
}

impl<R: Runtime + Default> ExternalEngine<R> {
    /// Starts the engine connecting to `url` (`nats://[user:pass@]host:port`,
    /// comma-separated for several servers). Reconnects forever.
    pub fn start<S, F>(
        url: &str,
        config: ServerConfig,
        store: S,
        on_event: F,
    ) -> Result<Self, UrlError>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_on(R::default(), url, config, store, on_event)
    }

    /// [`start`](Self::start), with TLS settings for the connection to
    /// the NATS server (Go streaming's `-secure -tls_client_cert
    /// -tls_client_key -tls_client_cacert`): when `tls` is given the
    /// connection always upgrades to TLS (nats.go's `Secure`), as it does
    /// for a `tls://` URL or a server that requires TLS.
    pub fn start_tls<S, F>(
        url: &str,
        config: ServerConfig,
        store: S,
        tls: Option<ClientTls>,
        on_event: F,
    ) -> Result<Self, UrlError>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_on_tls(R::default(), url, config, store, tls, on_event)
    }
}

impl<R: Runtime> ExternalEngine<R> {
    /// [`start`](Self::start) on runtime `rt`.
    pub fn start_on<S, F>(
        rt: R,
        url: &str,
        config: ServerConfig,
        store: S,
        on_event: F,
    ) -> Result<Self, UrlError>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_on_tls(rt, url, config, store, None, on_event)
    }

    /// [`start_tls`](Self::start_tls) on runtime `rt`.
    pub fn start_on_tls<S, F>(
        rt: R,
        url: &str,
        mut config: ServerConfig,
        store: S,
        tls: Option<ClientTls>,
        on_event: F,
    ) -> Result<Self, UrlError>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let options = tls_options(config.nats_options(url)?, tls.is_some());
        let now = Instant::now();
        let engine = Server::new(config, store, now, crate::seed::unix_now_ns());
        Ok(Self::spawn(
            rt,
            options,
            engine,
            None,
            (Arc::default(), None),
            tls,
            on_event,
        ))
    }

    /// Starts the engine over the store directory `opened` (see
    /// `stan_store::open`), connecting to `url`: it resumes what the store
    /// held, and its writes go to a store IO thread (`max_open_files`:
    /// `--file_fds_limit`).
    pub fn start_file<F>(
        rt: R,
        url: &str,
        config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        on_event: F,
    ) -> Result<Self, ExternalStartError>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_file_tls(rt, url, config, opened, max_open_files, None, on_event)
    }

    /// [`start_file`](Self::start_file), with TLS settings for the
    /// connection to the NATS server (see [`start_tls`](Self::start_tls)).
    pub fn start_file_tls<F>(
        rt: R,
        url: &str,
        mut config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        tls: Option<ClientTls>,
        on_event: F,
    ) -> Result<Self, ExternalStartError>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        config.seed = crate::seed::or_entropy(config.seed);
        let options = tls_options(config.nats_options(url)?, tls.is_some());
        let now = Instant::now();
        let wake = Arc::new(Notify::default());
        let waker = Arc::clone(&wake);
        // Completions ring the doorbell when the runtime has one (one
        // thread wake-up each), else wake the task from the IO thread.
        let (ringer, bell) = rt.doorbell().unzip();
        let (engine, io) = EngineIo::start(
            config,
            opened,
            max_open_files,
            now,
            crate::seed::unix_now_ns(),
            Box::new(ring_or(ringer, move || waker.notify())),
        )?;
        Ok(Self::spawn(
            rt,
            options,
            engine,
            Some(io),
            (wake, bell),
            tls,
            on_event,
        ))
    }

    fn spawn<S, F>(
        rt: R,
        options: stan_core::nats::client::ClientOptions,
        engine: Server<S>,
        io: Option<EngineIo>,
        (wake, mut bell): (Arc<Notify>, Option<Box<dyn Doorbell>>),
        tls: Option<ClientTls>,
        on_event: F,
    ) -> Self
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        let now = Instant::now();
        let conn = Connection::new(options, now);
        let stop = Arc::new(Latch::default());
        let closed = Arc::new(Latch::default());
        let (task_stop, task_closed) = (Arc::clone(&stop), Arc::clone(&closed));
        let task_rt = rt.clone();
        let settling = Arc::new(Settling::default());
        let cell = Arc::new(Mutex::new(EngineCell {
            stack: Stack::new(conn, engine, now),
            on_event,
            io,
            settling: Arc::clone(&settling),
            settle_begun: false,
        }));
        let task_wake = Arc::clone(&wake);
        let (published, monitor) = Published::new(Arc::clone(&cell) as _);
        rt.spawn(Box::pin(async move {
            // A panicking engine still wakes `closed` and `stop`'s waiter,
            // and its monitors answer `None`.
            let ended = SetOnDrop(task_closed, None);
            let reason = drive_with_bell(
                &task_rt,
                &cell,
                &task_wake,
                &task_stop,
                tls.as_ref(),
                bell.as_mut(),
            )
            .await;
            // Closed on its own, without a stop (which settled the
            // store while connected): what is left is written (bounded).
            settle(&task_rt, &cell, &task_wake, bell.as_mut()).await;
            // The store (its IO thread and directory lock) is let go before
            // `stop` returns: no monitor holds the cell once it is
            // withdrawn, so this is its last owner.
            drop(published);
            drop(cell);
            ended.0.set(Some(reason));
        }));
        ExternalEngine {
            stop,
            closed,
            monitor,
            settling,
            wake,
            rt,
        }
    }

    /// Resolves when the NATS connection closed for good, with the reason
    /// (`None`: the engine task ended without one, which is a bug).
    pub async fn closed(&self) -> Option<CloseReason> {
        self.closed.wait().await
    }

    /// A handle that takes snapshots of the engine from another thread
    /// (monitoring), until it stops.
    pub fn monitor(&self) -> EngineMonitor {
        self.monitor.clone()
    }

    /// Lets the engine finish its store's writes while it is still
    /// connected (their PubAcks go out; bounded by 5 s), then closes the
    /// NATS connection and waits for the task.
    pub async fn stop(self) {
        self.settling
            .asked
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify();
        let until = Instant::now() + SETTLE_TIME;
        future::or(
            future::or(self.settling.done.wait(), async {
                self.closed.wait().await;
            }),
            sleep_opt(&self.rt, Some(until)),
        )
        .await;
        self.stop.set(());
        self.closed.wait().await;
    }
}
