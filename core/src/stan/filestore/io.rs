//! What the file store asks of the IO side, and what it answers: batches of
//! file operations out, their completions in.
//!
//! A batch is applied in order. Appends to one file within a batch are
//! already coalesced into one buffer. With `sync` set, every file the batch
//! touched is synced (`fdatasync`) before the batch is reported done; the
//! engine releases what waited on the batch (PubAcks, deliveries, responses)
//! only then.

use bytes::Bytes;

use super::layout::FileId;

/// One operation on the store directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// Create the channel's directory (with its parents) if missing.
    CreateChannelDir {
        /// Channel name (the directory's name).
        channel: String,
    },
    /// Append `data` to the file, created if missing.
    Append {
        /// The file.
        file: FileId,
        /// The bytes (whole records).
        data: Bytes,
    },
    /// Replace the file's content atomically (write a temporary file, sync
    /// it, rename it over the file): compaction.
    Replace {
        /// The file.
        file: FileId,
        /// Its whole new content.
        data: Bytes,
    },
    /// Delete the file (a missing file is not an error).
    Remove {
        /// The file.
        file: FileId,
    },
    /// Hand a slice the limits emptied to `--file_slice_archive_script`,
    /// as Go does: close and rename its data and index files with a `.bak`
    /// suffix, start `script <channel> <data .bak path> <index .bak path>`
    /// without waiting for it (the script moves or deletes the files), and
    /// sync the channel's directory with the batch. Its outcome
    /// comes back as an [`ArchiveDone`]. Should a rename fail, both files
    /// are deleted instead and the outcome says so.
    ArchiveSlice {
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
        /// The script (`--file_slice_archive_script`).
        script: String,
    },
    /// Delete the channel's directory and everything in it.
    RemoveChannelDir {
        /// Channel name.
        channel: String,
    },
    /// Read `len` bytes at `offset` of the file; the bytes come back in
    /// [`IoDone::reads`] with `token`. A read changes nothing on disk, so
    /// its failure is its own (reported with its token), never the
    /// batch's. What is not there (a missing file, a file shorter than
    /// asked) is no failure: the bytes that are there come back (none
    /// for a missing file), and the store finds the records damaged.
    Read {
        /// The file.
        file: FileId,
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// Identifies the read in the completion.
        token: u64,
    },
}

impl FileOp {
    /// The file the operation writes or reads, if one.
    pub fn file(&self) -> Option<&FileId> {
        match self {
            FileOp::Append { file, .. }
            | FileOp::Replace { file, .. }
            | FileOp::Remove { file }
            | FileOp::Read { file, .. } => Some(file),
            FileOp::CreateChannelDir { .. }
            | FileOp::RemoveChannelDir { .. }
            | FileOp::ArchiveSlice { .. } => None,
        }
    }
}

/// A group of operations to apply, then sync if asked, then report with
/// [`IoDone`] carrying the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoBatch {
    /// Identifies the batch in its completion.
    pub id: u64,
    /// The operations, in order.
    pub ops: Vec<FileOp>,
    /// Sync every file written before reporting (`--file_sync`).
    pub sync: bool,
}

impl IoBatch {
    /// Bytes the batch writes.
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                FileOp::Append { data, .. } | FileOp::Replace { data, .. } => data.len(),
                _ => 0,
            })
            .sum()
    }
}

/// The completion of an [`IoBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoDone {
    /// The batch's `id`.
    pub id: u64,
    /// `Err` if any operation or the sync failed.
    pub result: Result<(), IoFailure>,
    /// The outcome of the batch's reads, by token: the bytes read, or why
    /// the read failed (a failed read fails nothing else).
    pub reads: Vec<(u64, ReadOutcome)>,
    /// A failed batch whose effects the IO side undid (its appends cut back
    /// to where they started, the files it created removed), handed back:
    /// the store submits it again later, once the cause (a full disk) may
    /// be gone. `None` for a failed batch: its effect on disk is unknown,
    /// and the store stops writing until a restart recovers the directory.
    pub undone: Option<IoBatch>,
}

impl IoDone {
    /// A batch carried out, with no reads.
    pub fn ok(id: u64) -> IoDone {
        IoDone {
            id,
            result: Ok(()),
            reads: Vec::new(),
            undone: None,
        }
    }

    /// A batch carried out, with the outcome of its reads.
    pub fn with_reads(id: u64, reads: Vec<(u64, ReadOutcome)>) -> IoDone {
        IoDone {
            reads,
            ..IoDone::ok(id)
        }
    }

    /// A batch that failed, leaving the files in an unknown state.
    pub fn failed(id: u64, failure: IoFailure) -> IoDone {
        IoDone {
            id,
            result: Err(failure),
            reads: Vec::new(),
            undone: None,
        }
    }

    /// A batch that failed and whose effects were undone: handed back to
    /// be submitted again.
    pub fn failed_undone(batch: IoBatch, failure: IoFailure) -> IoDone {
        IoDone {
            id: batch.id,
            result: Err(failure),
            reads: Vec::new(),
            undone: Some(batch),
        }
    }
}

/// What a [`FileOp::Read`] brought back: the bytes, or why the read
/// failed (an OS error other than a missing file).
pub type ReadOutcome = Result<Bytes, IoFailure>;

/// Why a batch failed: the operation, the file, and the OS error's text.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("{op} {path:?}: {error}")]
pub struct IoFailure {
    /// What was being done (`append`, `sync`, `remove`...).
    pub op: &'static str,
    /// The path, relative to the store directory.
    pub path: String,
    /// The OS error.
    pub error: String,
}

/// How a run of the archive script ended ([`FileOp::ArchiveSlice`]): the
/// IO side reports it once the script exited (or could not start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveDone {
    /// The script.
    pub script: String,
    /// Channel name.
    pub channel: String,
    /// Path of the slice's renamed data file (`msgs.<N>.dat.bak`).
    pub data: String,
    /// Path of the slice's renamed index file (`msgs.<N>.idx.bak`).
    pub index: String,
    /// What the script wrote (standard output, then standard error).
    pub output: String,
    /// `Err`: why the script failed (it could not start, or exited with an
    /// error status), or why the files could not be renamed (they were
    /// deleted instead, and no script ran).
    pub result: Result<(), String>,
}

impl std::fmt::Display for ArchiveDone {
    /// Go's log line for the run (the output without its trailing line
    /// break).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let output = self.output.trim_end();
        match &self.result {
            Ok(()) => write!(
                f,
                "Output of archive script for {} ({} and {}): {output}",
                self.channel, self.data, self.index
            ),
            Err(e) => write!(
                f,
                "Error invoking archive script {:?}: {e} (output={output})",
                self.script
            ),
        }
    }
}
