//! The embedded NATS server on tokio: a [`Router`] behind a mutex, one reader
//! and one writer task per TCP connection, one timer task.
//!
//! The drivers only move bytes and time: every decision (what to answer,
//! whom to deliver to, when to close) is the router's. After each call into
//! the router, [`Shared::dispatch`] turns its events into wake-ups.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use stan_core::nats::router::{
    ConnId, Delivery, LocalError, LocalOptions, LogRecord, Router, RouterConfig, RouterEvent,
    RouterStats,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Read buffer growth step.
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
        self.killed.notify_one();
        self.ready.notify_one();
        self.resumed.notify_one();
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
                        sig.ready.notify_one();
                    }
                }
                RouterEvent::SessionClosed { conn, reason } => {
                    if let Some(sig) = st.signals.get(&conn) {
                        if !reason.flushes_output() {
                            sig.kill();
                        } else {
                            sig.closing.store(true, Ordering::Release);
                            sig.ready.notify_one();
                            sig.resumed.notify_one();
                        }
                    }
                }
                RouterEvent::InputResumed(conn) => {
                    if let Some(sig) = st.signals.get(&conn) {
                        sig.resumed.notify_one();
                    }
                }
                RouterEvent::Log(record) => (self.on_log)(record),
                _ => {}
            }
        }
        let next = st.router.poll_timeout();
        if next.is_some() && (st.timer_armed.is_none() || next < st.timer_armed) {
            self.timer_wake.notify_one();
        }
    }

    pub(crate) fn forget(&self, st: &mut State, conn: ConnId) {
        st.router.handle_transport_closed(Instant::now(), conn);
        st.signals.remove(&conn);
    }
}

/// The embedded NATS server, serving a [`Router`] on a TCP listener.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use stan_core::nats::router::RouterConfig;
/// use stan_tokio::RouterServer;
///
/// let server = RouterServer::bind("127.0.0.1:4222", RouterConfig::default()).await?;
/// println!("listening on {}", server.local_addr());
/// tokio::signal::ctrl_c().await?;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RouterServer {
    pub(crate) shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
    timer_task: JoinHandle<()>,
}

impl RouterServer {
    /// Binds `addr` and starts serving. The router's `INFO` announces the
    /// bound port.
    pub async fn bind(
        addr: impl tokio::net::ToSocketAddrs,
        config: RouterConfig,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, config))
    }

    /// Binds `addr` and starts serving; the router's log lines go to
    /// `on_log`.
    pub async fn bind_with_log(
        addr: impl tokio::net::ToSocketAddrs,
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
            timer_wake: Notify::new(),
            shutting_down: AtomicBool::new(false),
            live_tasks: AtomicUsize::new(0),
            all_done: Notify::new(),
            write_deadline,
            on_log,
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        let timer_task = tokio::spawn(timer_loop(Arc::clone(&shared)));
        RouterServer {
            shared,
            local_addr,
            accept_task,
            timer_task,
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
    pub async fn shutdown(self) {
        self.accept_task.abort();
        self.shared.shutting_down.store(true, Ordering::Release);
        {
            let mut st = self.shared.lock();
            st.router.shutdown(Instant::now());
            self.shared.dispatch(&mut st);
        }
        let wait = async {
            loop {
                let done = self.shared.all_done.notified();
                if self.shared.live_tasks.load(Ordering::Acquire) == 0 {
                    break;
                }
                done.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        self.timer_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors and the like: back off briefly.
                tokio::time::sleep(Duration::from_millis(50)).await;
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
        tokio::spawn(run_connection(stream, conn, signal, Arc::clone(&shared)));
    }
}

async fn run_connection(stream: TcpStream, conn: ConnId, signal: Arc<Signal>, shared: Arc<Shared>) {
    let (rd, wr) = stream.into_split();
    let reader = tokio::spawn(read_loop(
        rd,
        conn,
        Arc::clone(&signal),
        Arc::clone(&shared),
    ));
    write_loop(wr, conn, &signal, &shared).await;
    reader.abort();
    {
        let mut st = shared.lock();
        shared.forget(&mut st, conn);
        shared.dispatch(&mut st);
    }
    if shared.live_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.all_done.notify_waiters();
    }
}

async fn read_loop(mut rd: OwnedReadHalf, conn: ConnId, signal: Arc<Signal>, shared: Arc<Shared>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Feed the input; while the router stalls this producer, read no
        // more (TCP pushes back) and feed the rest when it resumes it.
        loop {
            let resumed = signal.resumed.notified();
            {
                let mut st = shared.lock();
                st.router.handle_input(Instant::now(), conn, &mut buf);
                shared.dispatch(&mut st);
                if signal.closing.load(Ordering::Acquire) {
                    return;
                }
                if !st.router.is_input_paused(conn) {
                    break;
                }
            }
            resumed.await;
        }
    }
    // The peer is gone: nothing more can be written either.
    signal.kill();
}

async fn write_loop(mut wr: OwnedWriteHalf, conn: ConnId, signal: &Signal, shared: &Shared) {
    let mut chunks: Vec<Bytes> = Vec::with_capacity(MAX_IOVECS);
    let mut written = 0;
    loop {
        if signal.kill.load(Ordering::Acquire) {
            return;
        }
        let closing = signal.closing.load(Ordering::Acquire);
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
                let _ = wr.shutdown().await;
                return;
            }
            signal.ready.notified().await;
            continue;
        }
        let batch: usize = chunks.iter().map(Bytes::len).sum();
        let write = tokio::time::timeout(shared.write_deadline, write_all(&mut wr, &mut chunks));
        let result = tokio::select! {
            r = write => r,
            () = killed(signal) => return,
        };
        match result {
            Ok(Ok(())) => written = batch,
            Ok(Err(_)) => return,
            Err(_stalled) => {
                let mut st = shared.lock();
                st.router.handle_write_stalled(Instant::now(), conn);
                shared.dispatch(&mut st);
                return;
            }
        }
    }
}

/// Resolves when the session must stop writing at once.
async fn killed(signal: &Signal) {
    loop {
        let woken = signal.killed.notified();
        if signal.kill.load(Ordering::Acquire) {
            return;
        }
        woken.await;
    }
}

/// Writes every chunk, vectored, consuming `chunks`.
async fn write_all(wr: &mut OwnedWriteHalf, chunks: &mut Vec<Bytes>) -> io::Result<()> {
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
        let wake = shared.timer_wake.notified();
        let deadline = {
            let mut st = shared.lock();
            let next = st.router.poll_timeout();
            st.timer_armed = next;
            next
        };
        match deadline {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = wake => continue,
                }
            }
            None => {
                wake.await;
                continue;
            }
        }
        let mut st = shared.lock();
        // The clock decides expiry, not the sleep.
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
            if self.signal.closing.load(Ordering::Acquire) {
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
