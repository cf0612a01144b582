//! The embedded NATS server on smol: a [`Router`] behind a mutex, one reader
//! and one writer task per TCP connection, one timer task.
//!
//! The drivers only move bytes and time: every decision (what to answer,
//! whom to deliver to, when to close) is the router's. After each call into
//! the router, [`Shared::dispatch`] turns its events into wake-ups.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use smol::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{AsyncToSocketAddrs, TcpListener, TcpStream};
use smol::{Task, Timer};
use stan_core::nats::router::{
    ConnId, Delivery, LocalError, LocalOptions, LogRecord, Router, RouterConfig, RouterEvent,
    RouterStats,
};

use crate::wake::Notify;

/// Bytes read per read call.
const READ_CHUNK: usize = 64 * 1024;
/// Most chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;

/// Wake-ups for one session's task.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Output is ready, or the session is closing.
    pub(crate) ready: Notify,
    /// The router ended the session.
    closing: AtomicBool,
    /// Stop writing at once (slow consumer, peer gone): the output was dropped.
    kill: AtomicBool,
    /// Wakes a writer blocked in a write when `kill` is set.
    killed: Notify,
    /// The router resumed the session's input (or it is closing).
    resumed: Notify,
}

impl Signal {
    /// Whether the router ended the session.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn kill(&self) {
        self.closing.store(true, Ordering::Release);
        self.kill.store(true, Ordering::Release);
        self.killed.notify();
        self.ready.notify();
        self.resumed.notify();
    }

    /// Resolves when the session must stop writing at once.
    async fn killed(&self) {
        while !self.kill.load(Ordering::Acquire) {
            self.killed.notified().await;
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) router: Router,
    pub(crate) signals: HashMap<ConnId, Arc<Signal>>,
    /// The deadline the timer task sleeps until.
    timer_armed: Option<Instant>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    timer_wake: Notify,
    shutting_down: AtomicBool,
    /// Connections whose tasks have not finished.
    live_tasks: AtomicUsize,
    all_done: Notify,
    write_deadline: Duration,
    /// Where the router's log lines go.
    on_log: LogSink,
}

/// Receives the router's log lines (called with the router locked: keep it
/// short).
pub type LogSink = Box<dyn Fn(LogRecord) + Send + Sync>;

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
                        if !reason.flushes_output() {
                            sig.kill();
                        } else {
                            sig.closing.store(true, Ordering::Release);
                            sig.ready.notify();
                            sig.resumed.notify();
                        }
                    }
                }
                RouterEvent::InputResumed(conn) => {
                    if let Some(sig) = st.signals.get(&conn) {
                        sig.resumed.notify();
                    }
                }
                RouterEvent::Log(record) => (self.on_log)(record),
                _ => {}
            }
        }
        let next = st.router.poll_timeout();
        if next.is_some() && (st.timer_armed.is_none() || next < st.timer_armed) {
            self.timer_wake.notify();
        }
    }

    pub(crate) fn forget(&self, st: &mut State, conn: ConnId) {
        st.router.handle_transport_closed(Instant::now(), conn);
        st.signals.remove(&conn);
    }
}

/// The embedded NATS server, serving a [`Router`] on a TCP listener.
///
/// Dropping it does not stop it (as in `stan-tokio`); call
/// [`RouterServer::shutdown`].
///
/// ```no_run
/// # fn main() -> std::io::Result<()> { smol::block_on(async {
/// use stan_core::nats::router::RouterConfig;
/// use stan_smol::RouterServer;
///
/// let server = RouterServer::bind("127.0.0.1:4222", RouterConfig::default()).await?;
/// println!("listening on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok(()) }) }
/// ```
#[derive(Debug)]
pub struct RouterServer {
    pub(crate) shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_task: Option<Task<()>>,
    timer_task: Option<Task<()>>,
}

impl RouterServer {
    /// Binds `addr` and starts serving. The router's `INFO` announces the
    /// bound port.
    pub async fn bind(addr: impl AsyncToSocketAddrs, config: RouterConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, config))
    }

    /// Binds `addr` and starts serving; the router's log lines go to
    /// `on_log`.
    pub async fn bind_with_log(
        addr: impl AsyncToSocketAddrs,
        config: RouterConfig,
        on_log: impl Fn(LogRecord) + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve_with_log(listener, config, Box::new(on_log)))
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: TcpListener, config: RouterConfig) -> Self {
        Self::serve_with_log(listener, config, Box::new(|_| {}))
    }

    /// Serves on an already bound listener; log lines go to `on_log`.
    pub fn serve_with_log(
        listener: TcpListener,
        mut config: RouterConfig,
        on_log: LogSink,
    ) -> Self {
        let local_addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], config.port)));
        config.port = local_addr.port();
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let write_deadline = config.write_deadline;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                router: Router::new(config, Instant::now()),
                signals: HashMap::new(),
                timer_armed: None,
            }),
            timer_wake: Notify::default(),
            shutting_down: AtomicBool::new(false),
            live_tasks: AtomicUsize::new(0),
            all_done: Notify::default(),
            write_deadline,
            on_log,
        });
        let accept_task = smol::spawn(accept_loop(listener, Arc::clone(&shared)));
        let timer_task = smol::spawn(timer_loop(Arc::clone(&shared)));
        RouterServer {
            shared,
            local_addr,
            accept_task: Some(accept_task),
            timer_task: Some(timer_task),
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Router counters.
    pub fn stats(&self) -> RouterStats {
        self.shared.lock().router.stats()
    }

    /// Open client sessions.
    pub fn connection_count(&self) -> usize {
        self.shared.lock().router.connection_count()
    }

    /// Attaches an in-process session (no TCP, no text protocol).
    pub fn attach_local(&self, options: LocalOptions) -> LocalSession {
        let mut st = self.shared.lock();
        let conn = st.router.attach_local(Instant::now(), options);
        let signal = Arc::new(Signal::default());
        st.signals.insert(conn, Arc::clone(&signal));
        LocalSession {
            shared: Arc::clone(&self.shared),
            conn,
            signal,
        }
    }

    /// Stops accepting, closes every session (flushing what is pending) and
    /// waits up to five seconds for the connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.accept_task.take() {
            task.cancel().await;
        }
        self.shared.shutting_down.store(true, Ordering::Release);
        {
            let mut st = self.shared.lock();
            st.router.shutdown(Instant::now());
            self.shared.dispatch(&mut st);
        }
        let wait = async {
            while self.shared.live_tasks.load(Ordering::Acquire) != 0 {
                self.shared.all_done.notified().await;
            }
        };
        future::or(wait, async {
            Timer::after(Duration::from_secs(5)).await;
        })
        .await;
        if let Some(task) = self.timer_task.take() {
            task.cancel().await;
        }
    }
}

impl Drop for RouterServer {
    fn drop(&mut self) {
        // Like a dropped tokio JoinHandle: the tasks go on.
        for task in [self.accept_task.take(), self.timer_task.take()]
            .into_iter()
            .flatten()
        {
            task.detach();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors and the like: back off briefly.
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let _ = stream.set_nodelay(true);
        let signal = Arc::new(Signal::default());
        let conn = {
            let mut st = shared.lock();
            let conn = st.router.handle_accept(Instant::now(), &peer.to_string());
            st.signals.insert(conn, Arc::clone(&signal));
            shared.dispatch(&mut st);
            conn
        };
        shared.live_tasks.fetch_add(1, Ordering::AcqRel);
        smol::spawn(run_connection(stream, conn, signal, Arc::clone(&shared))).detach();
    }
}

async fn run_connection(stream: TcpStream, conn: ConnId, signal: Arc<Signal>, shared: Arc<Shared>) {
    let reader = smol::spawn(read_loop(
        stream.clone(),
        conn,
        Arc::clone(&signal),
        Arc::clone(&shared),
    ));
    write_loop(stream, conn, &signal, &shared).await;
    reader.cancel().await;
    {
        let mut st = shared.lock();
        shared.forget(&mut st, conn);
        shared.dispatch(&mut st);
    }
    if shared.live_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.all_done.notify();
    }
}

async fn read_loop(mut rd: TcpStream, conn: ConnId, signal: Arc<Signal>, shared: Arc<Shared>) {
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let n = match rd.read(&mut scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&scratch[..n]);
        // Feed the input; while the router stalls this producer, read no
        // more (TCP pushes back) and feed the rest when it resumes it.
        loop {
            {
                let mut st = shared.lock();
                st.router.handle_input(Instant::now(), conn, &mut buf);
                shared.dispatch(&mut st);
                if signal.is_closing() {
                    return;
                }
                if !st.router.is_input_paused(conn) {
                    break;
                }
            }
            signal.resumed.notified().await;
        }
    }
    // The peer is gone: nothing more can be written either.
    signal.kill();
}

async fn write_loop(mut wr: TcpStream, conn: ConnId, signal: &Signal, shared: &Shared) {
    let mut chunks: Vec<Bytes> = Vec::with_capacity(MAX_IOVECS);
    let mut written = 0;
    loop {
        if signal.kill.load(Ordering::Acquire) {
            return;
        }
        let closing = signal.is_closing();
        {
            let mut st = shared.lock();
            if written > 0 {
                st.router.handle_written(Instant::now(), conn, written);
                shared.dispatch(&mut st);
                written = 0;
            }
            while chunks.len() < MAX_IOVECS {
                match st.router.poll_transmit(conn) {
                    Some(c) => chunks.push(c),
                    None => break,
                }
            }
        }
        if chunks.is_empty() {
            if closing {
                let _ = wr.shutdown(Shutdown::Write);
                return;
            }
            signal.ready.notified().await;
            continue;
        }
        let batch: usize = chunks.iter().map(Bytes::len).sum();
        let write = async { Some(write_all(&mut wr, &mut chunks).await) };
        let stalled = async {
            Timer::after(shared.write_deadline).await;
            None
        };
        let killed = async {
            signal.killed().await;
            Err(())
        };
        match future::or(async { Ok(future::or(write, stalled).await) }, killed).await {
            Err(()) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(()))) => written = batch,
            Ok(None) => {
                let mut st = shared.lock();
                st.router.handle_write_stalled(Instant::now(), conn);
                shared.dispatch(&mut st);
                return;
            }
        }
    }
}

/// Writes every chunk, vectored, consuming `chunks`.
async fn write_all(wr: &mut TcpStream, chunks: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<io::IoSlice<'_>> = chunks[first..]
            .iter()
            .map(|c| io::IoSlice::new(c))
            .collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let c = &mut chunks[first];
            if n >= c.len() {
                n -= c.len();
                first += 1;
            } else {
                c.advance(n);
                n = 0;
            }
        }
    }
    chunks.clear();
    Ok(())
}

async fn timer_loop(shared: Arc<Shared>) {
    loop {
        let deadline = {
            let mut st = shared.lock();
            let next = st.router.poll_timeout();
            st.timer_armed = next;
            next
        };
        let Some(at) = deadline else {
            shared.timer_wake.notified().await;
            continue;
        };
        let fired = future::or(
            async {
                Timer::at(at).await;
                true
            },
            async {
                shared.timer_wake.notified().await;
                false
            },
        )
        .await;
        if !fired {
            continue;
        }
        let mut st = shared.lock();
        // The clock decides expiry, not the timer.
        st.router.handle_timeout(Instant::now());
        shared.dispatch(&mut st);
    }
}

/// An in-process session of a [`RouterServer`]: publishes and subscribes
/// without TCP or text parsing. Dropping it detaches it.
#[derive(Debug)]
pub struct LocalSession {
    shared: Arc<Shared>,
    conn: ConnId,
    signal: Arc<Signal>,
}

impl LocalSession {
    /// The session's id in the router.
    pub fn conn_id(&self) -> ConnId {
        self.conn
    }

    /// Publishes a message.
    pub fn publish(
        &self,
        subject: Bytes,
        reply: Option<Bytes>,
        headers: Option<Bytes>,
        payload: Bytes,
    ) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r =
            st.router
                .local_publish(Instant::now(), self.conn, subject, reply, headers, payload);
        self.shared.dispatch(&mut st);
        r
    }

    /// Subscribes `sid` to `subject` (in `queue` if given).
    pub fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
        sid: &str,
    ) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r = st.router.local_subscribe(
            Instant::now(),
            self.conn,
            subject.as_bytes(),
            queue.map(str::as_bytes),
            sid.as_bytes(),
        );
        self.shared.dispatch(&mut st);
        r
    }

    /// Unsubscribes `sid` now, or after `max` deliveries in total.
    pub fn unsubscribe(&self, sid: &str, max: Option<u64>) -> Result<(), LocalError> {
        let mut st = self.shared.lock();
        let r = st
            .router
            .local_unsubscribe(Instant::now(), self.conn, sid.as_bytes(), max);
        self.shared.dispatch(&mut st);
        r
    }

    /// Waits for deliveries and appends them to `out`. Returns false when the
    /// session was closed by the router (slow consumer, shutdown).
    pub async fn recv_many(&self, out: &mut Vec<Delivery>) -> bool {
        loop {
            {
                let mut st = self.shared.lock();
                while let Some(d) = st.router.poll_delivery(self.conn) {
                    out.push(d);
                }
                st.router.handle_drained(Instant::now(), self.conn);
                self.shared.dispatch(&mut st);
            }
            if !out.is_empty() {
                return true;
            }
            if self.signal.is_closing() {
                return false;
            }
            self.signal.ready.notified().await;
        }
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        self.shared.forget(&mut st, self.conn);
        self.shared.dispatch(&mut st);
    }
}
