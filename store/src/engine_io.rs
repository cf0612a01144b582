//! [`EngineIo`]: what a runtime's engine loop adds to serve a file store:
//! one call per turn moves the engine's write batches to the IO thread and
//! the completions back ([`EngineIo::pump`]). The engine decides everything;
//! the loop only wakes when the IO thread says a batch is done.

use std::time::Instant;

use stan_core::stan::any_store::AnyStore;
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{Server, ServerConfig};
use stan_core::stan::store::Store;

use crate::io_thread::{IoThread, SpawnError, Waker};
use crate::lock::DirLock;
use crate::open::Opened;
use crate::sync_latency::SyncLatency;

/// How long [`EngineIo::start`] waits for the store's first writes.
const STARTUP_WRITES: std::time::Duration = std::time::Duration::from_secs(30);

/// The IO side of an engine over a store directory: the IO thread, and the
/// directory's lock, held as long as the engine runs.
#[derive(Debug)]
pub struct EngineIo {
    thread: IoThread,
    _lock: DirLock,
}

impl EngineIo {
    /// The engine resuming `opened` (a new store resumes nothing), and its
    /// IO thread, which calls `waker` after every completed batch.
    /// `max_open_files` is `--file_fds_limit` (0: the default).
    pub fn start(
        config: ServerConfig,
        opened: Opened,
        max_open_files: usize,
        now: Instant,
        unix_now_ns: i64,
        waker: Waker,
    ) -> Result<(Server<AnyStore>, EngineIo), SpawnError> {
        let thread = IoThread::spawn(&opened.dir, max_open_files, waker)?;
        for archived in opened.archived {
            match archived {
                Ok(renamed) => thread.start_archive(renamed),
                Err(not_renamed) => thread.report_archived(not_renamed),
            }
        }
        let mut engine = Server::restore(
            config,
            AnyStore::from(opened.store),
            now,
            unix_now_ns,
            opened.restored,
        );
        // The store's first writes (new files, recovery's clean-ups) are
        // done before the engine serves: its subscriptions go out at its
        // first step, so a client connecting once the server says it is
        // ready finds it (bounded; a failure is the engine's to report).
        let deadline = std::time::Instant::now() + STARTUP_WRITES;
        while let Some(batch) = engine.poll_store_io() {
            thread.submit(batch);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match thread.wait_done(left) {
                Some(done) => engine.handle_store_done(now, done),
                None => break,
            }
        }
        Ok((
            engine,
            EngineIo {
                thread,
                _lock: opened.lock,
            },
        ))
    }

    /// How long the store's syncs took so far (see [`SyncLatency`]).
    pub fn sync_latency(&self) -> LatencyHistogram {
        self.thread.sync_latency().histogram()
    }

    /// A handle to the histogram of [`EngineIo::sync_latency`], readable
    /// from any thread without the engine.
    pub fn sync_latency_handle(&self) -> SyncLatency {
        self.thread.sync_latency()
    }

    /// Hands the engine the completed batches (and the archive script's
    /// ended runs), then the IO thread the engine's next batch. Returns how
    /// many moved. Call it in every turn
    /// of the loop, before and after moving the engine's messages.
    pub fn pump<S: Store>(&self, engine: &mut Server<S>, now: Instant) -> usize {
        let mut moved = 0;
        while let Some(done) = self.thread.try_done() {
            engine.handle_store_done(now, done);
            moved += 1;
        }
        while let Some(done) = self.thread.try_archived() {
            engine.handle_archive_done(done);
            moved += 1;
        }
        while let Some(batch) = engine.poll_store_io() {
            self.thread.submit(batch);
            moved += 1;
        }
        moved
    }
}
