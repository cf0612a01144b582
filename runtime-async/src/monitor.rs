//! Monitoring handles: [`RouterMonitor`] and [`EngineMonitor`] hand a
//! thread outside the loops (a monitoring HTTP server) snapshots of a
//! running router or engine. Nothing is copied unless asked: the router's
//! snapshot is taken under its lock, an embedded engine's by its own task
//! between two inputs (a request in its mailbox, answered when the task
//! wakes), an external engine's under the lock of its cell.
//!
//! Every call blocks the calling thread until the snapshot is taken: call
//! them from a thread of their own (`spawn_blocking`), never from a task
//! of the runtime the server runs on, nor from an engine's event callback.

use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use stan_core::nats::router::{ReloadError, RouterConfig, RouterSnapshot, SnapshotOptions};
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{EngineSnapshot, EngineSnapshotOptions, Server};
use stan_core::stan::store::Store;
use stan_store::EngineIo;

use crate::router::Shared;

/// What monitoring reads from an engine, its store type erased.
pub(crate) trait Inspect {
    /// The engine's snapshot, now.
    fn snapshot(&self, options: EngineSnapshotOptions) -> EngineSnapshot;
    /// The file store's sync latencies (`None`: not a file store).
    fn sync_latency(&self) -> Option<LatencyHistogram>;
}

/// An engine and its file store's IO, borrowed for one look.
pub(crate) struct Parts<'a, S: Store>(pub(crate) &'a Server<S>, pub(crate) Option<&'a EngineIo>);

impl<S: Store> Inspect for Parts<'_, S> {
    fn snapshot(&self, options: EngineSnapshotOptions) -> EngineSnapshot {
        self.0.snapshot(Instant::now(), options)
    }

    fn sync_latency(&self) -> Option<LatencyHistogram> {
        self.1.map(EngineIo::sync_latency)
    }
}

/// A question for an engine's task, answered in its loop.
type Request = Box<dyn FnOnce(&dyn Inspect) + Send>;

/// An engine's cell, as long as the engine runs (the engine's task takes
/// it out before it lets the engine go).
type Slot = Mutex<Option<Weak<dyn Inspect + Send + Sync>>>;

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a bug; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakes the task that owns a mailbox.
type Wake = Arc<dyn Fn() + Send + Sync>;

/// The receiving end of an embedded engine's requests, owned by its task.
/// Dropping it (the task ended) drops the requests still queued: their
/// callers get `None`.
pub(crate) struct Mailbox {
    rx: mpsc::Receiver<Request>,
}

impl Mailbox {
    /// A mailbox and the monitor that writes to it, calling `wake` after
    /// each request (the task's own wake-up: no more to wait on).
    pub(crate) fn new(wake: impl Fn() + Send + Sync + 'static) -> (Mailbox, EngineMonitor) {
        let (tx, rx) = mpsc::channel();
        let monitor = EngineMonitor(Source::Mailbox {
            tx,
            wake: Arc::new(wake),
        });
        (Mailbox { rx }, monitor)
    }

    /// Answers the requests waiting.
    pub(crate) fn answer(&self, engine: &dyn Inspect) {
        while let Ok(request) = self.rx.try_recv() {
            request(engine);
        }
    }
}

/// Gives an external engine's cell to its monitors until dropped (when
/// the engine's task ends, even by a panic).
pub(crate) struct Published(Arc<Slot>);

impl Published {
    /// Publishes `cell`; returns the guard and the monitor that reads it.
    pub(crate) fn new(cell: Arc<dyn Inspect + Send + Sync>) -> (Published, EngineMonitor) {
        let slot = Arc::new(Mutex::new(Some(Arc::downgrade(&cell))));
        let monitor = EngineMonitor(Source::Cell(Arc::clone(&slot)));
        (Published(slot), monitor)
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // Under the slot's lock: once this returns, no monitor holds the
        // cell, so whoever drops its last owner lets the engine go.
        lock(&self.0).take();
    }
}

/// Snapshots of a running engine (embedded, [`EngineHandle::monitor`], or
/// external, [`ExternalEngine::monitor`]), for a thread outside the
/// runtime. Cheap to clone; keeping it does not keep the engine.
///
/// Its calls block until answered (the embedded engine's task answers
/// between two inputs; an external engine's state is locked briefly):
/// call them from a blocking thread (`spawn_blocking`), never from a task
/// of the engine's runtime nor from its event callback. Once the engine has
/// stopped they answer `None`, waiting requests included.
///
/// [`EngineHandle::monitor`]: crate::EngineHandle::monitor
/// [`ExternalEngine::monitor`]: crate::ExternalEngine::monitor
#[derive(Clone)]
pub struct EngineMonitor(Source);

#[derive(Clone)]
enum Source {
    /// The embedded engine's task: requests to its mailbox.
    Mailbox {
        tx: mpsc::Sender<Request>,
        wake: Wake,
    },
    /// The external engine's cell, locked.
    Cell(Arc<Slot>),
}

impl std::fmt::Debug for EngineMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Source::Mailbox { .. } => "embedded",
            Source::Cell(_) => "external",
        };
        f.debug_tuple("EngineMonitor").field(&kind).finish()
    }
}

impl EngineMonitor {
    /// The engine's clients, channels and subscriptions now (see
    /// [`Server::snapshot`]); `None` once the engine has stopped.
    pub fn snapshot(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        self.ask(move |e| e.snapshot(options))
    }

    /// How long the file store's syncs took so far; `None` with another
    /// store, or once the engine has stopped.
    pub fn sync_latency(&self) -> Option<LatencyHistogram> {
        self.ask(|e| e.sync_latency()).flatten()
    }

    fn ask<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Inspect) -> T + Send + 'static,
    {
        match &self.0 {
            Source::Mailbox { tx, wake } => {
                let (reply, answer) = mpsc::sync_channel(1);
                let request: Request = Box::new(move |e| {
                    let _ = reply.send(f(e));
                });
                tx.send(request).ok()?;
                wake();
                // A request the task drops unanswered (it stopped) drops
                // `reply`: the wait ends.
                answer.recv().ok()
            }
            Source::Cell(slot) => {
                let slot = lock(slot);
                let cell = slot.as_ref()?.upgrade()?;
                Some(f(&*cell))
            }
        }
    }
}

/// Snapshots of a running [`RouterServer`](crate::RouterServer)
/// ([`RouterServer::monitor`](crate::RouterServer::monitor)), for a thread
/// outside the runtime. Cheap to clone; keeping it does not keep the
/// server.
#[derive(Clone)]
pub struct RouterMonitor(pub(crate) Weak<Shared>);

impl std::fmt::Debug for RouterMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterMonitor").finish_non_exhaustive()
    }
}

impl RouterMonitor {
    /// The router's settings, counters, connections and (with
    /// `options.subscriptions`) subscriptions now (see
    /// [`Router::snapshot`](stan_core::nats::router::Router::snapshot));
    /// `None` once the server has shut down. Blocks for as long as the
    /// router's lock is held (every connection's input takes it): call it
    /// from a blocking thread.
    pub fn snapshot(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        let shared = self.0.upgrade()?;
        if shared.is_halted() {
            return None;
        }
        let snapshot = shared.lock().router.snapshot(options);
        Some(snapshot)
    }

    /// Gives the running router a new configuration (`SIGHUP`; see
    /// [`Router::reload`](stan_core::nats::router::Router::reload)): the
    /// changes made, or why none were; `None` once the server has shut
    /// down. Blocks on the router's lock like [`RouterMonitor::snapshot`].
    pub fn reload(&self, config: RouterConfig) -> Option<Result<Vec<String>, ReloadError>> {
        let shared = self.0.upgrade()?;
        if shared.is_halted() {
            return None;
        }
        let mut st = shared.lock();
        let done = st.router.reload(Instant::now(), config);
        // New limits and timers take effect at the router's next deadline.
        shared.dispatch(&mut st);
        Some(done)
    }
}
