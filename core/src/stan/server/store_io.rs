//! The engine's side of a store that writes files: the batches it hands
//! to the IO side and their completions ([`Server::poll_store_io`],
//! [`Server::handle_store_done`]), what the store reads back and the
//! trouble it meets doing so, the archive script's runs, and settling
//! the store when the driver stops ([`Server::begin_settle`],
//! [`Server::store_settled`]).

use std::time::Instant;

use super::{Server, ServerEvent};
use crate::stan::filestore::io::{IoBatch, IoDone};
use crate::stan::store::{ReadTrouble, Store};

impl<S: Store> Server<S> {
    /// The next batch of file operations for the store's IO side (a file
    /// store only; one batch is out at a time).
    #[must_use]
    pub fn poll_store_io(&mut self) -> Option<IoBatch> {
        self.store.poll_io()
    }

    /// The IO side carried out a batch from [`Server::poll_store_io`]: the
    /// outputs waiting for it are released. A failure the IO side undid
    /// (a full disk) suspends the store's writes: every later publish is
    /// refused with the error, what was staged waits, and the batch is
    /// retried after a backoff (1 s, doubling up to 30 s) until it
    /// succeeds ([`ServerEvent::StoreSuspended`], then
    /// [`ServerEvent::StoreResumed`]). Any other failure stops the store's
    /// writes: the PubAcks waiting for it, and every later publish, carry
    /// the error.
    pub fn handle_store_done(&mut self, now: Instant, done: IoDone) {
        let now = self.advance(now);
        let was_suspended = self.store.suspended().is_some();
        if let Some(failure) = self.store.handle_io_done(done) {
            let error = crate::stan::store::StoreError::Io(failure.to_string());
            self.events.push_back(if self.store.suspended().is_some() {
                ServerEvent::StoreSuspended { error }
            } else {
                ServerEvent::StoreFailed { error }
            });
        } else if was_suspended && self.store.suspended().is_none() {
            self.events.push_back(ServerEvent::StoreResumed);
        }
        self.take_store_reads(now);
    }

    /// Reports the store's trouble reading back, and resumes the deliveries
    /// of the channels it read in (or whose failed read may be tried
    /// again).
    pub(super) fn take_store_reads(&mut self, now: Instant) {
        while let Some(trouble) = self.store.poll_read_trouble() {
            match &trouble {
                ReadTrouble::Failed { .. } => self.stats.store_read_failures += 1,
                ReadTrouble::Damaged { count, .. } => self.stats.damaged_msgs += count,
            }
            self.events
                .push_back(ServerEvent::StoreReadTrouble(trouble));
        }
        while let Some(channel) = self.store.poll_read() {
            self.read_done(now, &channel);
        }
    }

    /// A run of the archive script the store started
    /// ([`FileOp::ArchiveSlice`](crate::stan::filestore::FileOp::ArchiveSlice))
    /// ended: reported as [`ServerEvent::SliceArchived`]. The engine's
    /// state does not depend on it (the slice was gone from the log when
    /// the script started).
    pub fn handle_archive_done(&mut self, done: crate::stan::filestore::ArchiveDone) {
        self.events.push_back(ServerEvent::SliceArchived(done));
    }

    /// The driver stops the engine and is about to wait for
    /// [`Server::store_settled`] (call it once): what is staged now is what
    /// the stop waits for (an engine still connected may take more
    /// publishes meanwhile: they do not hold the stop up), and a store
    /// suspended by a failed write (a full disk) retries it at once instead
    /// of after its backoff, so that what was staged is written if the disk
    /// has room by now.
    pub fn begin_settle(&mut self) {
        self.settle_mark = Some(self.store.write_mark());
        self.store.retry_now();
    }

    /// Whether every change staged so far (or, once
    /// [`Server::begin_settle`] was called, when it was) is durable, or
    /// cannot be for now (the store failed, or is suspended with no retry
    /// released or in flight): a driver stopping the engine waits for this
    /// (bounded).
    pub fn store_settled(&self) -> bool {
        let mark = self.settle_mark.unwrap_or_else(|| self.store.write_mark());
        self.store.durable_mark() >= mark
            || self.store.failure().is_some()
            || (self.store.suspended().is_some() && !self.store.retrying())
    }
}
