//! A [`Stack`] (a NATS-level state machine over a NATS client connection)
//! driven over TCP by a blocking mio loop, and the STAN engine run that way
//! against an external NATS server (`-ns`). The loop dials when the core
//! asks (without blocking: the core's dial deadline bounds the dial), moves
//! bytes, commands and time, and makes no protocol decision.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use stan_core::nats::client::{CloseReason, Connection, Event, ServerAddr};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::stan::server::{Server as Engine, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;
use stan_store::{EngineIo, Opened};
use stan_tls::{rustls, ClientTls, ClientTlsOptions};

use crate::io::{read_burst, timeout_until, unix_now_ns, OutQueue, ReadEnd, READ_CHUNK};
use crate::monitor::{Command, EngineMonitor, Parts};
use crate::tls::Stream;

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// A non-blocking dial in progress: the socket connecting (registered for
/// `WRITABLE` under [`SOCKET`]) and the resolved addresses left to try.
struct Dialing {
    socket: TcpStream,
    rest: std::vec::IntoIter<SocketAddr>,
}

#[derive(Debug)]
struct LoopShared {
    waker: Waker,
    stop: AtomicBool,
}

/// Sends commands to an [`EventLoop`] from any thread and wakes it. Cheap
/// to clone.
pub struct LoopHandle<C> {
    tx: mpsc::Sender<C>,
    shared: Arc<LoopShared>,
}

impl<C> std::fmt::Debug for LoopHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle").finish_non_exhaustive()
    }
}

impl<C> Clone for LoopHandle<C> {
    fn clone(&self) -> Self {
        LoopHandle {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> LoopHandle<C> {
    /// Queues `command` for the loop's `on_command`; gives it back if the
    /// loop is gone.
    pub fn send(&self, command: C) -> Result<(), C> {
        self.tx.send(command).map_err(|e| e.0)?;
        let _ = self.shared.waker.wake();
        Ok(())
    }

    /// Asks the loop to close the connection and return.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
    }
}

/// A blocking loop driving one [`Stack`] over TCP, with a mailbox of
/// application commands of type `C` ([`LoopHandle::send`]).
pub struct EventLoop<C> {
    poll: Poll,
    events: Events,
    commands: mpsc::Receiver<C>,
    shared: Arc<LoopShared>,
    socket: Option<Stream>,
    /// The dial in progress, if any (never together with `socket`).
    dialing: Option<Dialing>,
    /// TLS settings for upgrades (the system's trust anchors when `None`).
    tls: Option<ClientTls>,
    /// The socket's TLS handshake is under way.
    upgrading: bool,
    /// `WRITABLE` interest registered.
    writable: bool,
    /// The read budget ran out: read again before waiting.
    again: bool,
    input: BytesMut,
    out: OutQueue,
    scratch: Vec<u8>,
}

impl<C> std::fmt::Debug for EventLoop<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("connected", &self.socket.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> EventLoop<C> {
    /// A loop and the handle that commands it.
    pub fn new() -> io::Result<(EventLoop<C>, LoopHandle<C>)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let shared = Arc::new(LoopShared {
            waker,
            stop: AtomicBool::new(false),
        });
        let (tx, commands) = mpsc::channel();
        let handle = LoopHandle {
            tx,
            shared: Arc::clone(&shared),
        };
        let event_loop = EventLoop {
            poll,
            events: Events::with_capacity(64),
            commands,
            shared,
            socket: None,
            dialing: None,
            tls: None,
            upgrading: false,
            writable: false,
            again: false,
            input: BytesMut::new(),
            out: OutQueue::default(),
            scratch: vec![0; READ_CHUNK],
        };
        Ok((event_loop, handle))
    }

    /// The TLS settings of the upgrades the connection asks for
    /// ([`Event::UpgradeTls`]: the server's `INFO` requires TLS, or a
    /// `tls://` URL or the options ask for it): a CA, a client
    /// certificate, a server name. Without them an upgrade uses the
    /// system's trust anchors and no client certificate.
    pub fn set_tls(&mut self, tls: Option<ClientTls>) {
        self.tls = tls;
    }

    /// Runs `stack` on this thread until its connection closes for good or
    /// [`LoopHandle::stop`] is called; returns the close reason
    /// ([`CloseReason::Local`] when stopped).
    ///
    /// `on_command` receives each command sent with [`LoopHandle::send`]
    /// (call the app's commands on `stack.app`; the loop then calls
    /// [`Stack::handle_app_commands`]). `after_input` runs before every wait
    /// (drain app-level outputs such as engine or client events there).
    /// Dials do not block the loop (name resolution does): a dial is one
    /// more readiness source, which the connection abandons after its
    /// `connect_timeout`; the last output is written for at most its
    /// `close_flush_timeout`.
    pub fn drive<A: NatsApp>(
        &mut self,
        stack: &mut Stack<A>,
        mut on_command: impl FnMut(&mut Stack<A>, C),
        mut after_input: impl FnMut(&mut Stack<A>),
    ) -> CloseReason {
        let mut stopping = false;
        loop {
            after_input(stack);
            // Events first: they tell us to dial or drop the socket.
            while let Some(event) = stack.poll_event() {
                match event {
                    Event::WantConnect { server } => self.dial(stack, &server),
                    Event::Disconnected { .. } => self.drop_socket(),
                    Event::UpgradeTls { server } => self.upgrade(stack, &server.host),
                    Event::Closed { reason } => {
                        self.flush_final(stack);
                        self.drop_socket();
                        return reason;
                    }
                    _ => {}
                }
            }
            if stopping {
                self.flush_final(stack);
                self.drop_socket();
                // `close` ended the connection with this reason.
                return CloseReason::Local;
            }
            if self.shared.stop.load(Ordering::Acquire) {
                stopping = true;
                stack.close(Instant::now());
                continue;
            }
            if self.flush(stack).is_err() {
                self.drop_socket();
                stack.handle_transport_closed(Instant::now());
                continue;
            }
            let timeout = if self.again {
                Some(Duration::ZERO)
            } else {
                timeout_until(stack.poll_timeout(), Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.drop_socket();
                    stack.close(Instant::now());
                    continue;
                }
            }
            let now = Instant::now();
            if self.dialing.is_some() {
                if self.events.iter().any(|e| e.token() == SOCKET) {
                    self.dial_progress(stack, now);
                }
            } else if self.upgrading {
                if self.events.iter().any(|e| e.token() == SOCKET) {
                    self.tls_step(stack, now);
                }
            } else {
                let readable = std::mem::take(&mut self.again)
                    || self.events.iter().any(|e| {
                        e.token() == SOCKET
                            && (e.is_readable() || e.is_read_closed() || e.is_error())
                    });
                if readable {
                    self.read(stack, now);
                }
            }
            let mut commanded = false;
            while let Ok(command) = self.commands.try_recv() {
                on_command(stack, command);
                commanded = true;
            }
            if commanded {
                stack.handle_app_commands(now);
            }
            if stack.poll_timeout().is_some_and(|t| t <= now) {
                stack.handle_timeout(now);
            }
        }
    }

    /// Starts dialing `server` (each resolved address in turn); the outcome
    /// is reported from [`dial_progress`](Self::dial_progress). The
    /// connection's own deadline bounds the whole dial: on its
    /// `Disconnected` the dial is dropped.
    fn dial<A: NatsApp>(&mut self, stack: &mut Stack<A>, server: &ServerAddr) {
        self.drop_socket();
        match (server.host.as_str(), server.port).to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                self.dial_from(stack, addrs.into_iter());
            }
            Err(_) => stack.handle_transport_failed(Instant::now()),
        }
    }

    /// Starts a non-blocking connect to the first of `rest` that takes
    /// one; reports a failed dial when none is left.
    fn dial_from<A: NatsApp>(
        &mut self,
        stack: &mut Stack<A>,
        mut rest: std::vec::IntoIter<SocketAddr>,
    ) {
        while let Some(addr) = rest.next() {
            let Ok(mut socket) = TcpStream::connect(addr) else {
                continue;
            };
            let registry = self.poll.registry();
            if registry
                .register(&mut socket, SOCKET, Interest::WRITABLE)
                .is_ok()
            {
                self.dialing = Some(Dialing { socket, rest });
                return;
            }
        }
        stack.handle_transport_failed(Instant::now());
    }

    /// The socket being dialled had an event: connected (report it), failed
    /// (try the next address), or not yet.
    fn dial_progress<A: NatsApp>(&mut self, stack: &mut Stack<A>, now: Instant) {
        let Some(dialing) = self.dialing.as_mut() else {
            return;
        };
        let connected = match dialing.socket.take_error() {
            Ok(None) => match dialing.socket.peer_addr() {
                Ok(_) => true,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotConnected | io::ErrorKind::WouldBlock
                    ) =>
                {
                    return; // still connecting
                }
                Err(_) => false,
            },
            Ok(Some(_)) | Err(_) => false,
        };
        let Some(Dialing { mut socket, rest }) = self.dialing.take() else {
            return;
        };
        if connected {
            let registered =
                self.poll
                    .registry()
                    .reregister(&mut socket, SOCKET, Interest::READABLE);
            if registered.is_ok() {
                let _ = socket.set_nodelay(true);
                self.socket = Some(Stream::plain(socket));
                self.writable = false;
                // Read at once: the server may have spoken already.
                self.again = true;
                self.input.clear();
                return stack.handle_transport_connected(now);
            }
        }
        let _ = self.poll.registry().deregister(&mut socket);
        drop(socket);
        self.dial_from(stack, rest);
    }

    /// Starts the TLS handshake over the socket towards `host`.
    fn upgrade<A: NatsApp>(&mut self, stack: &mut Stack<A>, host: &str) {
        let now = Instant::now();
        // Nothing else comes in plain text after INFO.
        self.input.clear();
        self.out.clear();
        if self.tls.is_none() {
            self.tls = ClientTls::new(&ClientTlsOptions::default()).ok();
        }
        let session = match self.tls.as_ref().map(|t| t.connect(host)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return self.tls_failed(stack, now, e.to_string()),
            None => return self.tls_failed(stack, now, "no TLS settings".into()),
        };
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        match socket.start_tls(rustls::Connection::Client(session), &[]) {
            Ok(()) => {
                self.upgrading = true;
                self.tls_step(stack, now);
            }
            Err(e) => self.tls_failed(stack, now, e.to_string()),
        }
    }

    /// Moves the handshake on; reports its end to the connection.
    fn tls_step<A: NatsApp>(&mut self, stack: &mut Stack<A>, now: Instant) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        match socket.handshake_step() {
            Ok(true) => {
                self.upgrading = false;
                // Records that came with the last flight may hold data.
                self.again = true;
                stack.conn.handle_tls_established(now);
                stack.handle_app_commands(now);
            }
            Ok(false) => {}
            Err(e) => self.tls_failed(stack, now, e.to_string()),
        }
    }

    fn tls_failed<A: NatsApp>(&mut self, stack: &mut Stack<A>, now: Instant, error: String) {
        self.upgrading = false;
        stack.conn.handle_tls_failed(now, error);
        // Routes the connection's events (its `Disconnected`).
        stack.handle_app_commands(now);
    }

    fn read<A: NatsApp>(&mut self, stack: &mut Stack<A>, now: Instant) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        let end = read_burst(socket, &mut self.input, &mut self.scratch, |input| {
            stack.handle_input(now, input);
            true
        });
        match end {
            ReadEnd::WouldBlock | ReadEnd::Paused => {}
            ReadEnd::Budget => self.again = true,
            ReadEnd::Closed => {
                self.drop_socket();
                stack.handle_transport_closed(now);
            }
        }
    }

    /// Writes what the stack has to send until done or `WouldBlock`
    /// (then waits for `WRITABLE`).
    fn flush<A: NatsApp>(&mut self, stack: &mut Stack<A>) -> io::Result<()> {
        while let Some(chunk) = stack.poll_transmit() {
            self.out.push(chunk);
        }
        let Some(socket) = self.socket.as_mut() else {
            self.out.clear();
            return Ok(());
        };
        let want_writable = if self.upgrading {
            socket.wants_write()
        } else {
            // The ciphertext the session still holds counts as unwritten.
            !(self.out.write_to(socket, &mut 0)? && socket.flush_tls()?)
        };
        if want_writable != self.writable {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.poll.registry().reregister(socket, SOCKET, interest)?;
            self.writable = want_writable;
        }
        Ok(())
    }

    /// Writes the last output, waiting up to the connection's
    /// `close_flush_timeout` for the socket.
    fn flush_final<A: NatsApp>(&mut self, stack: &mut Stack<A>) {
        let limit = stack.conn.options().close_flush_timeout;
        let now = Instant::now();
        let deadline = now.checked_add(limit).unwrap_or(now);
        loop {
            if self.flush(stack).is_err() || self.out.is_empty() || self.socket.is_none() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let _ = self.poll.poll(&mut self.events, Some(deadline - now));
        }
    }

    /// Closes the socket, or drops the dial in progress.
    fn drop_socket(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = self.poll.registry().deregister(&mut socket);
        }
        if let Some(mut dialing) = self.dialing.take() {
            let _ = self.poll.registry().deregister(&mut dialing.socket);
        }
        self.writable = false;
        self.again = false;
        self.upgrading = false;
        self.out.clear();
    }
}

/// The close reason, once known, and its waiters.
#[derive(Debug, Default)]
struct Closed {
    reason: Mutex<Option<String>>,
    cv: Condvar,
}

/// Set once the engine's store is settled after a stop asked for it
/// ([`Command::Settle`]), or once the engine's thread ended.
#[derive(Debug, Default)]
struct Settled {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Settled {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits up to `timeout` for [`Settled::set`].
    fn wait(&self, timeout: Duration) {
        let guard = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .cv
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// How long a stopped engine waits for its store's last writes.
const SETTLE_TIME: Duration = Duration::from_secs(5);

/// The STAN engine against an external NATS server, on its own thread.
/// Dropping it asks the engine to stop without waiting.
///
/// ```no_run
/// use stan_core::stan::server::ServerConfig;
/// use stan_core::stan::store::MemStore;
/// use stan_mio::ExternalEngine;
///
/// let engine = ExternalEngine::start(
///     "nats://127.0.0.1:4222",
///     ServerConfig::default(),
///     MemStore::new(100),
///     |e| eprintln!("{e:?}"),
/// )?;
/// if let Some(reason) = engine.closed(None) {
///     eprintln!("NATS connection closed: {reason}");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ExternalEngine {
    handle: LoopHandle<Command>,
    closed: Arc<Closed>,
    settled: Arc<Settled>,
    thread: Option<JoinHandle<()>>,
}

impl ExternalEngine {
    /// Starts the engine connecting to `url` (`nats://[user:pass@]host:port`,
    /// or `tls://` for TLS; comma-separated for several servers). Reconnects forever. A URL that
    /// does not parse is an `InvalidInput` error.
    pub fn start<S, F>(
        url: &str,
        config: ServerConfig,
        store: S,
        on_event: F,
    ) -> io::Result<ExternalEngine>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_tls(url, config, store, None, on_event)
    }

    /// [`start`](Self::start), with TLS settings for the connection to
    /// the NATS server (Go streaming's `-secure -tls_client_cert
    /// -tls_client_key -tls_client_cacert`): when `tls` is given the
    /// connection always upgrades to TLS (nats.go's `Secure`), as it does
    /// for a `tls://` URL or a server that requires TLS.
    pub fn start_tls<S, F>(
        url: &str,
        mut config: ServerConfig,
        store: S,
        tls: Option<ClientTls>,
        on_event: F,
    ) -> io::Result<ExternalEngine>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::io::or_entropy(config.seed);
        let options = config
            .nats_options(url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (event_loop, handle) = EventLoop::new()?;
        let engine = Engine::new(config, store, Instant::now(), unix_now_ns());
        Self::spawn(options, engine, None, event_loop, handle, tls, on_event)
    }

    /// Starts the engine over the store directory `opened` (see
    /// `stan_store::open`), connecting to `url`: it resumes what the store
    /// held, and its writes go to a store IO thread that wakes this loop
    /// (`max_open_files`: `--file_fds_limit`).
    pub fn start_file<F>(
        url: &str,
        config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        on_event: F,
    ) -> io::Result<ExternalEngine>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        Self::start_file_tls(url, config, opened, max_open_files, None, on_event)
    }

    /// [`start_file`](Self::start_file), with TLS settings for the
    /// connection to the NATS server (see [`start_tls`](Self::start_tls)).
    pub fn start_file_tls<F>(
        url: &str,
        mut config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        tls: Option<ClientTls>,
        on_event: F,
    ) -> io::Result<ExternalEngine>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        config.seed = crate::io::or_entropy(config.seed);
        let options = config
            .nats_options(url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (event_loop, handle) = EventLoop::new()?;
        let wake = handle.clone();
        let (engine, io) = EngineIo::start(
            config,
            opened,
            max_open_files,
            Instant::now(),
            unix_now_ns(),
            Box::new(move || {
                let _ = wake.send(Command::Wake);
            }),
        )
        .map_err(|e| e.0)?;
        Self::spawn(options, engine, Some(io), event_loop, handle, tls, on_event)
    }

    fn spawn<S, F>(
        mut options: stan_core::nats::client::ClientOptions,
        engine: Engine<S>,
        io: Option<EngineIo>,
        mut event_loop: EventLoop<Command>,
        handle: LoopHandle<Command>,
        tls: Option<ClientTls>,
        mut on_event: F,
    ) -> io::Result<ExternalEngine>
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // TLS settings given: every connection upgrades (nats.go's Secure).
        options.tls_required |= tls.is_some();
        event_loop.set_tls(tls);
        let closed = Arc::new(Closed::default());
        let done = Arc::clone(&closed);
        let settled = Arc::new(Settled::default());
        let on_settled = Arc::clone(&settled);
        let thread = std::thread::Builder::new()
            .name("stan-mio-engine".into())
            .spawn(move || {
                let now = Instant::now();
                let conn = Connection::new(options, now);
                let mut stack = Stack::new(conn, engine, now);
                let settling = std::cell::Cell::new(false);
                let mut after_input = |s: &mut Stack<Engine<S>>| {
                    if let Some(io) = &io {
                        let now = Instant::now();
                        if io.pump(&mut s.app, now) > 0 {
                            s.handle_app_commands(now);
                            io.pump(&mut s.app, now);
                        }
                    }
                    while let Some(e) = s.app.poll_event() {
                        on_event(e);
                    }
                    if settling.get() && (io.is_none() || s.app.store_settled()) {
                        on_settled.set();
                    }
                };
                // Monitoring requests are answered between two turns; a
                // stop first lets the store settle while connected.
                let on_command = |s: &mut Stack<Engine<S>>, command| match command {
                    Command::Inspect(request) => request(&Parts(&s.app, io.as_ref())),
                    Command::Settle if !settling.get() => {
                        settling.set(true);
                        s.app.begin_settle();
                    }
                    Command::Settle | Command::Wake => {}
                };
                let reason = event_loop.drive(&mut stack, on_command, &mut after_input);
                // Requests still queued, and later ones, get `None`.
                drop(event_loop);
                // Closed on its own, without a stop (which settled the
                // store while connected): what is left is written
                // (bounded).
                let until = Instant::now() + SETTLE_TIME;
                let stopped = settling.get();
                if !stopped {
                    stack.app.begin_settle();
                }
                while !stopped
                    && io.is_some()
                    && !stack.app.store_settled()
                    && Instant::now() < until
                {
                    std::thread::sleep(Duration::from_millis(1));
                    after_input(&mut stack);
                }
                *done.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
                done.cv.notify_all();
                on_settled.set();
            })?;
        Ok(ExternalEngine {
            handle,
            closed,
            settled,
            thread: Some(thread),
        })
    }

    /// Waits until the NATS connection closed for good and returns the
    /// reason; `None` if `timeout` (`None`: forever) passed first.
    pub fn closed(&self, timeout: Option<Duration>) -> Option<String> {
        let guard = self.closed.reason.lock().unwrap_or_else(|e| e.into_inner());
        let guard = match timeout {
            None => self
                .closed
                .cv
                .wait_while(guard, |r| r.is_none())
                .unwrap_or_else(|e| e.into_inner()),
            Some(t) => {
                self.closed
                    .cv
                    .wait_timeout_while(guard, t, |r| r.is_none())
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        guard.clone()
    }

    /// A handle that takes snapshots of the engine from another thread
    /// (monitoring), until it stops.
    pub fn monitor(&self) -> EngineMonitor {
        EngineMonitor {
            handle: self.handle.clone(),
        }
    }

    /// Lets the engine finish its store's writes while it is still
    /// connected (their PubAcks go out; bounded by 5 s), then closes the
    /// NATS connection and waits for the engine's thread.
    pub fn stop(mut self) {
        if self.handle.send(Command::Settle).is_ok() {
            self.settled.wait(SETTLE_TIME);
        }
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ExternalEngine {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.stop();
        }
    }
}
