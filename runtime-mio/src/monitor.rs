//! Monitoring requests: a thread outside a loop (a monitoring HTTP server)
//! asks for an engine's snapshot or its store's sync latency; the loop
//! that owns the engine answers between two turns. Both loops use it: the
//! server's ([`Control::engine_snapshot`](crate::Control::engine_snapshot))
//! and the external engine's ([`EngineMonitor`]).

use std::sync::mpsc;
use std::time::Instant;

use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{EngineSnapshot, EngineSnapshotOptions, Server as Engine};
use stan_core::stan::store::Store;
use stan_store::EngineIo;

use crate::external::LoopHandle;

/// What monitoring reads from an engine, its store type erased.
pub(crate) trait Inspect {
    /// The engine's snapshot, now.
    fn snapshot(&self, options: EngineSnapshotOptions) -> EngineSnapshot;
    /// The file store's sync latencies (`None`: not a file store).
    fn sync_latency(&self) -> Option<LatencyHistogram>;
}

/// An engine and its file store's IO, borrowed for one look.
pub(crate) struct Parts<'a, S: Store>(pub(crate) &'a Engine<S>, pub(crate) Option<&'a EngineIo>);

impl<S: Store> Inspect for Parts<'_, S> {
    fn snapshot(&self, options: EngineSnapshotOptions) -> EngineSnapshot {
        self.0.snapshot(Instant::now(), options)
    }

    fn sync_latency(&self) -> Option<LatencyHistogram> {
        self.1.map(EngineIo::sync_latency)
    }
}

/// A question for the loop that owns an engine. Dropped unanswered (no
/// engine, the loop ended), its caller gets `None`.
pub(crate) type EngineRequest = Box<dyn FnOnce(&dyn Inspect) + Send>;

/// Asks `f` of an engine through `send` (false: the loop is gone) and
/// waits for the answer; `None` if the request was not sent or was
/// dropped unanswered.
pub(crate) fn ask<T, F>(send: impl FnOnce(EngineRequest) -> bool, f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn Inspect) -> T + Send + 'static,
{
    let (reply, answer) = mpsc::sync_channel(1);
    let request: EngineRequest = Box::new(move |engine| {
        let _ = reply.send(f(engine));
    });
    if !send(request) {
        return None;
    }
    answer.recv().ok()
}

/// The external engine loop's commands.
pub(crate) enum Command {
    /// The store IO thread finished a batch.
    Wake,
    /// A monitoring request.
    Inspect(EngineRequest),
    /// A stop's first step: finish the store's writes while connected.
    Settle,
}

/// Snapshots of a running [`ExternalEngine`](crate::ExternalEngine)
/// ([`ExternalEngine::monitor`](crate::ExternalEngine::monitor)), for
/// another thread. Cheap to clone; keeping it does not keep the engine.
///
/// Its calls block until the engine's loop answers (between two of its
/// turns): do not call them from the engine's event callback. Once the
/// engine has stopped they answer `None`, waiting requests included.
#[derive(Debug, Clone)]
pub struct EngineMonitor {
    pub(crate) handle: LoopHandle<Command>,
}

impl EngineMonitor {
    /// The engine's clients, channels and subscriptions now (see
    /// [`Server::snapshot`](stan_core::stan::server::Server::snapshot));
    /// `None` once the engine has stopped.
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
        ask(|r| self.handle.send(Command::Inspect(r)).is_ok(), f)
    }
}
