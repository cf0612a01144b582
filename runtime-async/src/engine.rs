//! The STAN engine attached in process to a [`RouterServer`]: one task
//! that feeds the engine the router's deliveries and the clock, and hands
//! its commands back to the router. Every decision is the engine's
//! (`stan_core::nats::router::pump_local` moves the messages). Monitoring
//! requests ([`EngineMonitor`]) wait in the task's mailbox and are answered
//! between two inputs.

use std::sync::Arc;
use std::time::Instant;

use futures_lite::future;
use stan_core::nats::router::{pump_local, ConnId};
use stan_core::stan::server::{Server, ServerConfig, ServerEvent};
use stan_core::stan::store::Store;
use stan_store::{EngineIo, Opened, SpawnError};

use crate::doorbell::{ring_or, rung, Doorbell};
use crate::io::sleep_opt;
use crate::monitor::{EngineMonitor, Mailbox, Parts};
use crate::router::{RouterServer, Shared, Signal};
use crate::runtime::Runtime;
use crate::wake::{Latch, SetOnDrop};

/// A running engine. Dropping it does not stop it; call
/// [`EngineHandle::stop`].
#[derive(Debug)]
pub struct EngineHandle {
    stop: Arc<Latch<()>>,
    done: Arc<Latch<()>>,
    monitor: EngineMonitor,
}

impl EngineHandle {
    /// A handle that takes snapshots of the engine from another thread
    /// (monitoring), until it stops.
    pub fn monitor(&self) -> EngineMonitor {
        self.monitor.clone()
    }

    /// Stops the engine task and waits for it.
    pub async fn stop(self) {
        self.stop.set(());
        self.done.wait().await;
    }
}

impl<R: Runtime> RouterServer<R> {
    /// Runs a STAN engine over `store` against this router, in process.
    /// `on_event` receives the engine's events (for logging).
    pub fn run_engine<S, F>(&self, mut config: ServerConfig, store: S, on_event: F) -> EngineHandle
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        // No seed chosen: one from OS entropy, never the public test seed.
        config.seed = crate::seed::or_entropy(config.seed);
        let shared = Arc::clone(&self.shared);
        let (conn, signal, engine) = {
            let mut st = shared.lock();
            let now = Instant::now();
            let conn = st.router.attach_local(now, config.local_options());
            let signal = shared.register(&mut st, conn);
            let engine = Server::new(config, store, now, crate::seed::unix_now_ns());
            (conn, signal, engine)
        };
        self.spawn_engine(shared, conn, signal, engine, None, on_event)
    }

    /// Runs a STAN engine over the store directory `opened` (see
    /// `stan_store::open`): it resumes what the store held, and its writes
    /// go to a store IO thread (`max_open_files`: `--file_fds_limit`).
    pub fn run_file_engine<F>(
        &self,
        mut config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        on_event: F,
    ) -> Result<EngineHandle, SpawnError>
    where
        F: FnMut(ServerEvent) + Send + 'static,
    {
        config.seed = crate::seed::or_entropy(config.seed);
        let shared = Arc::clone(&self.shared);
        let mut st = shared.lock();
        let now = Instant::now();
        let conn = st.router.attach_local(now, config.local_options());
        let signal = shared.register(&mut st, conn);
        let wake = Arc::clone(&signal);
        // Completions ring the doorbell when the runtime has one (one
        // thread wake-up each), else wake the task from the IO thread.
        let (ringer, bell) = self.runtime().doorbell().unzip();
        let started = EngineIo::start(
            config,
            opened,
            max_open_files,
            now,
            crate::seed::unix_now_ns(),
            Box::new(ring_or(ringer, move || wake.ready.notify())),
        );
        let (engine, io) = match started {
            Ok(started) => started,
            Err(e) => {
                shared.forget(&mut st, conn);
                return Err(e);
            }
        };
        drop(st);
        let io = FileIo { io, bell };
        Ok(self.spawn_engine(shared, conn, signal, engine, Some(io), on_event))
    }

    fn spawn_engine<S, F>(
        &self,
        shared: Arc<Shared>,
        conn: ConnId,
        signal: Arc<Signal>,
        engine: Server<S>,
        io: Option<FileIo>,
        on_event: F,
    ) -> EngineHandle
    where
        S: Store + Send + 'static,
        F: FnMut(ServerEvent) + Send + 'static,
    {
        let stop = Arc::new(Latch::default());
        let done = Arc::new(Latch::default());
        let rt = self.runtime().clone();
        // Requests wake the task as its session's output does.
        let wake = Arc::clone(&signal);
        let (mailbox, monitor) = Mailbox::new(move || wake.ready.notify());
        let task = run(
            rt.clone(),
            Attached {
                shared,
                conn,
                signal,
            },
            engine,
            io,
            on_event,
            mailbox,
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        rt.spawn(Box::pin(task));
        EngineHandle {
            stop,
            done,
            monitor,
        }
    }
}

/// A file store's IO: its thread, and the doorbell its completions ring
/// (when the runtime has one).
struct FileIo {
    io: EngineIo,
    bell: Option<Box<dyn Doorbell>>,
}

/// The engine's session in the router.
struct Attached {
    shared: Arc<Shared>,
    conn: ConnId,
    signal: Arc<Signal>,
}

/// How long a stopping engine waits for its last writes.
const SETTLE_TIME: std::time::Duration = std::time::Duration::from_secs(5);

#[allow(clippy::too_many_arguments)]
async fn run<R: Runtime, S: Store, F: FnMut(ServerEvent)>(
    rt: R,
    at: Attached,
    mut engine: Server<S>,
    mut file: Option<FileIo>,
    mut on_event: F,
    mailbox: Mailbox,
    stop: Arc<Latch<()>>,
    done: Arc<Latch<()>>,
) {
    let _done = SetOnDrop(done, ());
    let mut settle_until = None;
    loop {
        let deadline = {
            let now = Instant::now();
            let mut st = at.shared.lock();
            let io = file.as_ref().map(|f| &f.io);
            if let Some(io) = io {
                io.pump(&mut engine, now);
            }
            pump_local(&mut st.router, at.conn, &mut engine, now);
            if let Some(io) = io {
                io.pump(&mut engine, now);
            }
            at.shared.dispatch(&mut st);
            engine.poll_timeout()
        };
        while let Some(event) = engine.poll_event() {
            on_event(event);
        }
        mailbox.answer(&Parts(&engine, file.as_ref().map(|f| &f.io)));
        if at.signal.is_closing() || stop.is_set() {
            // The writes staged so far are finished before the store is
            // let go (what they wait for is delivered meanwhile).
            let until = match settle_until {
                Some(until) => until,
                None => {
                    // A suspended store's retry goes out at the next turn.
                    engine.begin_settle();
                    settle_until = Some(Instant::now() + SETTLE_TIME);
                    continue;
                }
            };
            if file.is_none() || engine.store_settled() || Instant::now() >= until {
                break;
            }
            future::or(
                future::or(
                    at.signal.ready.notified(),
                    rung(file.as_mut().and_then(|f| f.bell.as_mut())),
                ),
                sleep_opt(&rt, Some(until)),
            )
            .await;
            continue;
        }
        future::or(
            future::or(
                at.signal.ready.notified(),
                rung(file.as_mut().and_then(|f| f.bell.as_mut())),
            ),
            future::or(sleep_opt(&rt, deadline), stop.wait()),
        )
        .await;
    }
    // Requests still queued are dropped unanswered: their callers get
    // `None` (and later ones too, the mailbox closed).
    drop(mailbox);
    let mut st = at.shared.lock();
    at.shared.forget(&mut st, at.conn);
    at.shared.dispatch(&mut st);
    drop(st);
    // The store (its IO thread and directory lock) is let go before `stop`
    // returns.
    drop(file);
    drop(engine);
}
