//! [`IoThread`]: a dedicated thread that carries out the file store's
//! [`IoBatch`]es in the order they are submitted, and reports each one's
//! [`IoDone`] on a completion queue, calling a waker so that the runtime's
//! loop polls it ([`IoThread::try_done`]). The archive script's runs it
//! starts report the same way ([`IoThread::try_archived`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use stan_core::stan::filestore::{ArchiveDone, IoBatch, IoDone, IoFailure};

use crate::apply::{Applier, Failed};
use crate::archive::{RenamedSlice, ScriptRuns};
use crate::sync_latency::SyncLatency;

/// The thread's name.
pub const THREAD_NAME: &str = "stan-store-io";

/// Called after each completion is queued (from the IO thread).
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// The IO thread could not be started.
#[derive(thiserror::Error, Debug)]
#[error("unable to start the store IO thread: {0}")]
pub struct SpawnError(#[source] pub std::io::Error);

/// The store's IO thread. See the module docs.
///
/// Dropping it (or [`IoThread::shutdown`]) lets it finish the batches
/// already submitted, then joins it.
pub struct IoThread {
    batches: Option<Sender<IoBatch>>,
    done_tx: Sender<IoDone>,
    done_rx: Mutex<Receiver<IoDone>>,
    waker: Arc<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
    latency: SyncLatency,
    scripts: Arc<ScriptRuns>,
}

impl std::fmt::Debug for IoThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoThread")
            .field("running", &self.batches.is_some())
            .finish_non_exhaustive()
    }
}

impl IoThread {
    /// Starts the thread over the store directory `dir`, keeping at most
    /// `max_open_files` files open (`--file_fds_limit`; 0: 256). `waker` is
    /// called on the IO thread after each completion is queued.
    pub fn spawn(
        dir: impl Into<PathBuf>,
        max_open_files: usize,
        waker: Waker,
    ) -> Result<IoThread, SpawnError> {
        let (batches, rx) = mpsc::channel::<IoBatch>();
        let (done_tx, done_rx) = mpsc::channel();
        let waker: Arc<dyn Fn() + Send + Sync> = Arc::from(waker);
        let scripts = Arc::new(ScriptRuns::new(Arc::clone(&waker)));
        let mut applier = Applier::new(dir.into(), max_open_files, Arc::clone(&scripts));
        let latency = applier.sync_latency();
        let (tx, wake) = (done_tx.clone(), Arc::clone(&waker));
        let thread = thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    let result = catch_unwind(AssertUnwindSafe(|| applier.apply(&batch)))
                        .unwrap_or_else(|_| {
                            Err(Failed {
                                failure: IoFailure {
                                    op: "apply",
                                    path: String::new(),
                                    error: "the store IO thread panicked".to_owned(),
                                },
                                undone: false,
                            })
                        });
                    // The receiver lives in the `IoThread`, which joins this
                    // thread before dropping it.
                    let done = match result {
                        Ok(reads) => IoDone::with_reads(batch.id, reads),
                        Err(Failed {
                            failure,
                            undone: true,
                        }) => IoDone::failed_undone(batch, failure),
                        Err(Failed { failure, .. }) => IoDone::failed(batch.id, failure),
                    };
                    let _ = tx.send(done);
                    wake();
                }
            })
            .map_err(SpawnError)?;
        Ok(IoThread {
            batches: Some(batches),
            done_tx,
            done_rx: Mutex::new(done_rx),
            waker,
            thread: Some(thread),
            latency,
            scripts,
        })
    }

    /// How long the batches' syncs took (see [`SyncLatency`]): a handle
    /// that stays readable from any thread, after the thread stopped too.
    pub fn sync_latency(&self) -> SyncLatency {
        self.latency.clone()
    }

    /// Queues a batch; its [`IoDone`] comes back through
    /// [`IoThread::try_done`]. Batches are carried out one at a time, in
    /// submission order. Should the thread be gone, the batch completes at
    /// once with a failure.
    pub fn submit(&self, batch: IoBatch) {
        let id = batch.id;
        let sent = self.batches.as_ref().is_some_and(|b| b.send(batch).is_ok());
        if !sent {
            let _ = self.done_tx.send(IoDone::failed(
                id,
                IoFailure {
                    op: "submit",
                    path: String::new(),
                    error: "the store IO thread has stopped".to_owned(),
                },
            ));
            (self.waker)();
        }
    }

    /// The next completion, if one is queued.
    pub fn try_done(&self) -> Option<IoDone> {
        self.completions().try_recv().ok()
    }

    /// The outcome of the next run of the archive script that ended, if
    /// one did.
    pub fn try_archived(&self) -> Option<ArchiveDone> {
        self.scripts.try_done()
    }

    /// Starts the archive script over a slice renamed at open (the
    /// recovery's removals); its outcome comes back like the others.
    pub fn start_archive(&self, slice: RenamedSlice) {
        self.scripts.start(slice);
    }

    /// Queues an archive outcome known at open (a failed rename).
    pub fn report_archived(&self, done: ArchiveDone) {
        self.scripts.report(done);
    }

    /// The next completion, waiting at most `timeout` for one (for a
    /// blocking caller, and tests).
    pub fn wait_done(&self, timeout: Duration) -> Option<IoDone> {
        self.completions().recv_timeout(timeout).ok()
    }

    /// Finishes the batches submitted, then stops and joins the thread,
    /// then waits for the archive script's runs still going (what dropping
    /// it does).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn completions(&self) -> MutexGuard<'_, Receiver<IoDone>> {
        // Nothing panics while holding the lock; a poisoned one is fine.
        self.done_rx.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&mut self) {
        // Closing the queue ends the thread's loop once it is drained.
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.scripts.join();
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        self.stop();
    }
}
