//! Group commit, as data: the file operations staged since the last batch,
//! the one batch in flight, and the marks that tell the engine what is
//! durable.
//!
//! Every staged operation advances the *write mark*. The engine tags each
//! output with the write mark at the time it was produced and releases it
//! once the *durable mark* (the write mark covered by the last completed
//! batch) reaches the tag: a PubAck, a delivery or a response never leaves
//! before what it reports is on disk. One batch is in flight at a time;
//! while it is, operations keep being staged and become the next batch
//! (pipelined group commit: one sync covers everything that arrived during
//! the previous one).
//!
//! A failed batch the IO side undid ([`IoDone::undone`]: a full disk, its
//! appends cut back) *suspends* the journal: the batch is kept, everything
//! staged stays staged (nothing is dropped: the records must reach the
//! disk in order), and the batch goes out again once the store releases
//! it ([`Journal::release_retry`], after a backoff). Its success resumes
//! the journal where it was. Any other failed batch puts the journal in a
//! failed state: nothing more is written (the files' state is unknown) and
//! the engine answers with the failure until a restart recovers the
//! directory.

use std::collections::BTreeMap;

#[cfg(test)]
use bytes::Bytes;
use bytes::BytesMut;

use super::io::{FileOp, IoBatch, IoDone, IoFailure};
use super::layout::FileId;

/// A staged operation: appends stay open for more bytes until another kind
/// of operation touches the directory.
#[derive(Debug)]
enum Staged {
    Op(FileOp),
    Append { file: FileId, data: BytesMut },
}

/// The staging area and the batch in flight. See the module docs.
#[derive(Debug)]
pub struct Journal {
    staged: Vec<Staged>,
    /// Index in `staged` of the open append of each file.
    open: BTreeMap<FileId, usize>,
    write_mark: u64,
    durable_mark: u64,
    /// `(id, write mark it covers)` of the batch in flight.
    in_flight: Option<(u64, u64)>,
    next_id: u64,
    sync: bool,
    failure: Option<IoFailure>,
    /// The failure of the undone batch waiting to be retried.
    suspended: Option<IoFailure>,
    /// The undone batch and the write mark it covers.
    retry: Option<(IoBatch, u64)>,
    /// The retry may go out.
    retry_released: bool,
    batches: u64,
    /// The next batch is synced even without `sync` (and goes out even
    /// with nothing staged).
    sync_next: bool,
}

impl Journal {
    /// An empty journal; `sync` asks every batch to be synced.
    pub fn new(sync: bool) -> Self {
        Journal {
            staged: Vec::new(),
            open: BTreeMap::new(),
            write_mark: 0,
            durable_mark: 0,
            in_flight: None,
            next_id: 1,
            sync,
            failure: None,
            suspended: None,
            retry: None,
            retry_released: false,
            batches: 0,
            sync_next: false,
        }
    }

    /// Stages bytes to append to `file` (dropped once the journal failed:
    /// nothing more is written).
    pub fn append(&mut self, file: &FileId, bytes: &[u8]) {
        self.write_mark += 1;
        if self.failure.is_some() {
            return;
        }
        if let Some(&i) = self.open.get(file) {
            if let Some(Staged::Append { data, .. }) = self.staged.get_mut(i) {
                data.extend_from_slice(bytes);
                return;
            }
        }
        self.open.insert(file.clone(), self.staged.len());
        self.staged.push(Staged::Append {
            file: file.clone(),
            data: BytesMut::from(bytes),
        });
    }

    /// Stages a read. It changes nothing on disk, so it does not advance
    /// the write mark: no output waits for it.
    pub fn read(&mut self, op: FileOp) {
        if self.failure.is_some() {
            return;
        }
        self.staged.push(Staged::Op(op));
    }

    /// Stages any other operation (it closes the open appends: later bytes
    /// go after it).
    pub fn op(&mut self, op: FileOp) {
        self.write_mark += 1;
        if self.failure.is_some() {
            return;
        }
        self.open.clear();
        self.staged.push(Staged::Op(op));
    }

    /// The next batch to hand to the IO side: everything staged, if no
    /// batch is in flight and the journal has not failed.
    pub fn poll_batch(&mut self) -> Option<IoBatch> {
        if self.in_flight.is_some() || self.failure.is_some() {
            return None;
        }
        if self.suspended.is_some() {
            if !std::mem::take(&mut self.retry_released) {
                return None;
            }
            let (batch, mark) = self.retry.take()?;
            self.in_flight = Some((batch.id, mark));
            self.batches += 1;
            return Some(batch);
        }
        if self.staged.is_empty() && !self.sync_next {
            return None;
        }
        self.open.clear();
        let ops = self
            .staged
            .drain(..)
            .map(|s| match s {
                Staged::Op(op) => op,
                Staged::Append { file, data } => FileOp::Append {
                    file,
                    data: data.freeze(),
                },
            })
            .collect();
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight = Some((id, self.write_mark));
        self.batches += 1;
        let sync = self.sync || std::mem::take(&mut self.sync_next);
        Some(IoBatch { id, ops, sync })
    }

    /// Makes the next batch a synced one (what was written without sync
    /// since becomes durable): `--file_auto_sync`.
    pub fn sync_next(&mut self) {
        self.sync_next = true;
    }

    /// A batch completed. Returns its failure, if it failed (a completion
    /// of an unknown batch is ignored).
    pub fn done(&mut self, done: IoDone) -> Option<IoFailure> {
        let (id, mark) = self.in_flight?;
        if id != done.id {
            return None;
        }
        self.in_flight = None;
        match done.result {
            Ok(()) => {
                self.durable_mark = mark;
                self.suspended = None;
                None
            }
            Err(failure) => {
                match done.undone {
                    Some(batch) if batch.id == id => {
                        self.suspended = Some(failure.clone());
                        self.retry = Some((batch, mark));
                    }
                    _ => {
                        self.failure = Some(failure.clone());
                        self.suspended = None;
                        self.retry = None;
                        self.staged.clear();
                        self.open.clear();
                    }
                }
                Some(failure)
            }
        }
    }

    /// Lets the undone batch go out again (at the next
    /// [`Journal::poll_batch`]).
    pub fn release_retry(&mut self) {
        self.retry_released = self.retry.is_some();
    }

    /// The failure of the undone batch waiting to be retried, if any.
    pub fn suspended(&self) -> Option<&IoFailure> {
        self.suspended.as_ref()
    }

    /// Whether the next batch out is the undone one, retried.
    pub fn retry_ready(&self) -> bool {
        self.retry_released && self.in_flight.is_none()
    }

    /// Operations staged so far, over the journal's life.
    pub fn write_mark(&self) -> u64 {
        self.write_mark
    }

    /// The write mark the last successful batch covered.
    pub fn durable_mark(&self) -> u64 {
        self.durable_mark
    }

    /// The failure that stopped the journal, if one did.
    pub fn failure(&self) -> Option<&IoFailure> {
        self.failure.as_ref()
    }

    /// Whether a batch is in flight.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Batches handed out so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Whether nothing is staged, in flight or waiting to be retried.
    pub fn is_idle(&self) -> bool {
        self.staged.is_empty() && self.in_flight.is_none() && self.retry.is_none()
    }

    /// Appends a whole staged file's bytes (tests).
    #[cfg(test)]
    pub(crate) fn staged_bytes(&self, file: &FileId) -> Option<Bytes> {
        self.staged.iter().find_map(|s| match s {
            Staged::Append { file: f, data } if f == file => Some(Bytes::copy_from_slice(data)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: u64) -> FileId {
        FileId::SliceData {
            channel: "c".into(),
            slice: n,
        }
    }

    #[test]
    fn appends_coalesce_and_batches_pipeline() {
        let mut j = Journal::new(true);
        j.append(&f(1), b"ab");
        j.append(&f(1), b"cd");
        j.append(&f(2), b"x");
        assert_eq!(j.staged_bytes(&f(1)).as_deref(), Some(&b"abcd"[..]));
        let b1 = j.poll_batch().unwrap();
        assert_eq!(b1.ops.len(), 2);
        assert!(b1.sync);
        assert_eq!(j.write_mark(), 3);
        assert_eq!(j.durable_mark(), 0);
        // Staged while the first is in flight: the next batch.
        j.append(&f(1), b"ef");
        assert!(j.poll_batch().is_none(), "one batch in flight");
        assert!(j.done(IoDone::ok(b1.id)).is_none());
        assert_eq!(j.durable_mark(), 3);
        let b2 = j.poll_batch().unwrap();
        assert_eq!(
            b2.ops,
            vec![FileOp::Append {
                file: f(1),
                data: Bytes::from_static(b"ef")
            }]
        );
        j.done(IoDone::ok(b2.id));
        assert_eq!(j.durable_mark(), 4);
        assert!(j.is_idle());
    }

    #[test]
    fn a_read_holds_back_no_output() {
        let mut j = Journal::new(true);
        j.read(FileOp::Read {
            file: f(1),
            offset: 4,
            len: 10,
            token: 1,
        });
        assert_eq!(j.write_mark(), 0, "nothing waits for a read");
        let b = j.poll_batch().expect("the read goes out");
        assert_eq!(b.ops.len(), 1);
        j.done(IoDone::ok(b.id));
        assert!(j.is_idle());
    }

    #[test]
    fn other_operations_keep_their_place() {
        let mut j = Journal::new(false);
        j.append(&f(1), b"a");
        j.op(FileOp::Remove { file: f(1) });
        j.append(&f(1), b"b");
        let b = j.poll_batch().unwrap();
        assert_eq!(
            b.ops.len(),
            3,
            "the append after the removal is not merged before it"
        );
    }

    #[test]
    fn a_failure_stops_the_journal() {
        let mut j = Journal::new(true);
        j.append(&f(1), b"a");
        let b = j.poll_batch().unwrap();
        j.append(&f(1), b"b");
        let failure = IoFailure {
            op: "sync",
            path: "c/msgs.1.dat".into(),
            error: "No space left on device".into(),
        };
        // A stale completion is ignored.
        assert!(j.done(IoDone::ok(99)).is_none());
        assert_eq!(
            j.done(IoDone::failed(b.id, failure.clone())),
            Some(failure.clone())
        );
        assert_eq!(j.failure(), Some(&failure));
        assert_eq!(j.durable_mark(), 0);
        j.append(&f(1), b"c");
        j.op(FileOp::Remove { file: f(1) });
        assert!(
            j.poll_batch().is_none(),
            "nothing is written after a failure"
        );
        assert!(j.is_idle(), "nor kept");
        assert_eq!(j.write_mark(), 4);
    }
}
