//! Recovering a whole store directory from its files' bytes, as data: what
//! the store held, and the repairs its files need before new records are
//! appended (truncations, index rewrites, slice deletions) for the IO side
//! to carry out and log.
//!
//! The IO side reads the files (see [`super::layout`] for the directory's
//! layout: every sub-directory is a channel, its slices the `msgs.<N>.dat`
//! files) into a [`StoreFiles`], calls [`recover`], then applies
//! [`Recovery::repairs`] in order before opening the files for appending.
//! Missing `clients.dat` and `subs.dat` files are taken as empty (Go creates
//! them with their version header on open).
//!
//! Each file ends as its [scan](mod@super::scan) says: a torn tail becomes a
//! [`Repair::Truncate`]; a corrupt record stops recovery with
//! [`RecoveryErrorKind::Corrupt`] unless `truncate_bad_eof`
//! (`--file_truncate_bad_eof`), which makes it a truncation too.
//! `server.dat` has its own stricter rule ([`super::server`]); an index file
//! never stops recovery (it is rewritten from its data file).

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use stan_proto::ServerInfo;

use super::clients::{fold_clients, RecoveredClients};
use super::crc::Crc32;
use super::fold::FoldError;
use super::layout::FileId;
use super::msgs::{fold_slice, IndexRebuild, IndexStatus, RecoveredMsgs};
use super::record::{Framing, RecordError, VersionError};
use super::scan::{scan, FileEnd, Scan, ScanOptions};
use super::server::{recover_server, ServerFileError};
use super::subs::{fold_subs, RecoveredSubs};
use crate::stan::store::ChannelLimits;

/// The bytes of a store directory's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreFiles {
    /// `server.dat`.
    pub server: Bytes,
    /// `clients.dat` (`None` if absent).
    pub clients: Option<Bytes>,
    /// Each channel directory's files, by channel name.
    pub channels: BTreeMap<String, ChannelFiles>,
}

/// The bytes of a channel directory's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelFiles {
    /// `subs.dat` (`None` if absent).
    pub subs: Option<Bytes>,
    /// The slices, by number: every `msgs.<N>.dat` and its index.
    pub slices: BTreeMap<u64, SliceFiles>,
}

/// The bytes of one slice's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SliceFiles {
    /// `msgs.<N>.dat`.
    pub data: Bytes,
    /// `msgs.<N>.idx` (`None` if absent).
    pub index: Option<Bytes>,
}

/// How to read the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryOptions<'a> {
    /// The CRC table of `--file_crc_poly` when `--file_crc` (the default),
    /// `None` to skip CRC checks.
    pub crc: Option<&'a Crc32>,
    /// `--file_truncate_bad_eof`: truncate a file at a corrupt record
    /// instead of refusing to start.
    pub truncate_bad_eof: bool,
    /// The current time (Unix ns), to expire messages older than a
    /// channel's `max_age` as Go's recovery does; `None` leaves that to the
    /// store's first expiry.
    pub now: Option<i64>,
}

/// A change a file needs before the store appends to it. Its `Display` is
/// the line to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Cut the file to `offset` bytes.
    Truncate {
        /// The file.
        file: FileId,
        /// Its new length.
        offset: u64,
        /// What was wrong with the record there.
        reason: RecordError,
        /// A corrupt record (truncated only because of
        /// `--file_truncate_bad_eof`; data after it is lost) rather than a
        /// torn tail.
        corrupt: bool,
    },
    /// Rewrite the slice's index file: version header, then the index
    /// entries of every message of the slice
    /// ([`RecoveredSlice::entries`](super::msgs::RecoveredSlice::entries)).
    RewriteIndex {
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
        /// Why.
        reason: IndexRebuild,
    },
    /// Delete the slice's data and index files (or rename them with
    /// `.bak` for `--file_slice_archive_script`): the limits removed all of
    /// its messages.
    RemoveSlice {
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
    },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::Truncate {
                file,
                offset,
                reason,
                corrupt: false,
            } => write!(
                f,
                "file {:?} truncated to offset {offset} (torn last record: {reason})",
                file.to_string()
            ),
            Repair::Truncate {
                file,
                offset,
                reason,
                corrupt: true,
            } => write!(
                f,
                "file {:?} truncated to offset {offset} as --file_truncate_bad_eof asks \
                 (corrupted record: {reason}); the data after it is lost",
                file.to_string()
            ),
            Repair::RewriteIndex {
                channel,
                slice,
                reason,
            } => write!(
                f,
                "index {:?} rebuilt from its data file ({reason})",
                FileId::SliceIndex {
                    channel: channel.clone(),
                    slice: *slice
                }
                .to_string()
            ),
            Repair::RemoveSlice { channel, slice } => write!(
                f,
                "slice {:?} removed: channel limits dropped all of its messages",
                FileId::SliceData {
                    channel: channel.clone(),
                    slice: *slice
                }
                .to_string()
            ),
        }
    }
}

/// A recovered channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveredChannel {
    /// Its messages, limits applied.
    pub msgs: RecoveredMsgs,
    /// Its subscriptions.
    pub subs: RecoveredSubs,
}

/// What a store directory held, and the repairs its files need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The server's identity (`server.dat`).
    pub info: ServerInfo,
    /// The live clients.
    pub clients: RecoveredClients,
    /// The channels, by name.
    pub channels: BTreeMap<String, RecoveredChannel>,
    /// Repairs to apply, in order, before appending to the files.
    pub repairs: Vec<Repair>,
}

/// Why a store cannot be recovered: the file, and what is wrong with it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("unable to recover {:?}: {kind}", file.to_string())]
pub struct RecoveryError {
    /// The file at fault.
    pub file: FileId,
    /// What is wrong with it.
    pub kind: RecoveryErrorKind,
}

/// What is wrong with a file that stops recovery.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RecoveryErrorKind {
    /// `server.dat` is refused.
    #[error(transparent)]
    Server(ServerFileError),
    /// The version header is refused.
    #[error(transparent)]
    Version(VersionError),
    /// A damaged record with data after it.
    #[error(
        "corrupted record at offset {offset}: {reason}; \
         restarting with --file_truncate_bad_eof would truncate the file at this offset \
         (the data after it would be lost)"
    )]
    Corrupt {
        /// Offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: RecordError,
    },
    /// The records do not fold into state.
    #[error(transparent)]
    Fold(FoldError),
}

fn fail(file: &FileId, kind: RecoveryErrorKind) -> RecoveryError {
    RecoveryError {
        file: file.clone(),
        kind,
    }
}

/// Scans a file and settles how it ends: a repair, or the error.
fn scan_file(
    file: FileId,
    bytes: &Bytes,
    opts: &RecoveryOptions<'_>,
    repairs: &mut Vec<Repair>,
) -> Result<Scan, RecoveryError> {
    let framing = file.framing().unwrap_or(Framing::Untyped);
    let s = scan(
        bytes,
        ScanOptions {
            framing,
            crc: opts.crc,
        },
    )
    .map_err(|e| fail(&file, RecoveryErrorKind::Version(e)))?;
    match s.end {
        FileEnd::Clean => {}
        FileEnd::TornTail { offset, reason } => repairs.push(Repair::Truncate {
            file,
            offset,
            reason,
            corrupt: false,
        }),
        FileEnd::Corrupt { offset, reason } if opts.truncate_bad_eof => {
            repairs.push(Repair::Truncate {
                file,
                offset,
                reason,
                corrupt: true,
            })
        }
        FileEnd::Corrupt { offset, reason } => {
            return Err(fail(&file, RecoveryErrorKind::Corrupt { offset, reason }))
        }
    }
    Ok(s)
}

/// An empty file's bytes (its version header alone).
fn empty_file() -> Bytes {
    Bytes::from_static(&[1, 0, 0, 0])
}

/// Recovers a store: `Ok(None)` when `server.dat` holds no record (a store
/// never initialized: nothing else is read, as in Go). `limits` gives each
/// channel's limits (applied as Go's recovery applies them, see
/// [`super::msgs`]).
pub fn recover(
    files: &StoreFiles,
    opts: &RecoveryOptions<'_>,
    limits: impl Fn(&str) -> ChannelLimits,
) -> Result<Option<Recovery>, RecoveryError> {
    let none = |_: &str, _: u64| Ok::<Option<SliceFiles>, std::convert::Infallible>(None);
    recover_with(files, opts, limits, none).map_err(|e| match e {
        StreamError::Recovery(e) => e,
        StreamError::Read(never) => match never {},
    })
}

/// Why [`recover_streaming`] failed.
#[derive(thiserror::Error, Debug)]
pub enum StreamError<E> {
    /// A file is refused.
    #[error(transparent)]
    Recovery(RecoveryError),
    /// Reading a slice failed.
    #[error("{0}")]
    Read(E),
}

/// [`recover`] for a store larger than memory: `files` lists the slices
/// (their bytes may be left empty) and `read_slice(channel, number)` reads
/// each one when its turn comes; its payloads are let go once folded, so
/// recovery holds one slice's bytes at a time. The recovered messages keep
/// their index entries; of their payloads only the first and last of each
/// slice are kept (copied), the rest is read back on demand.
pub fn recover_streaming<E>(
    files: &StoreFiles,
    opts: &RecoveryOptions<'_>,
    limits: impl Fn(&str) -> ChannelLimits,
    mut read_slice: impl FnMut(&str, u64) -> Result<SliceFiles, E>,
) -> Result<Option<Recovery>, StreamError<E>> {
    recover_with(files, opts, limits, |channel, number| {
        read_slice(channel, number).map(Some)
    })
}

/// Keeps only the first and last payloads of a folded slice (copied: the
/// file's buffer is let go).
fn shed_payloads(slice: &mut super::msgs::RecoveredSlice) {
    let last = slice.msgs.len().saturating_sub(1);
    for (i, m) in slice.msgs.iter_mut().enumerate() {
        m.encoded = if i == 0 || i == last {
            Bytes::copy_from_slice(&m.encoded)
        } else {
            Bytes::new()
        };
    }
}

fn recover_with<E>(
    files: &StoreFiles,
    opts: &RecoveryOptions<'_>,
    limits: impl Fn(&str) -> ChannelLimits,
    mut read_slice: impl FnMut(&str, u64) -> Result<Option<SliceFiles>, E>,
) -> Result<Option<Recovery>, StreamError<E>> {
    let info = recover_server(&files.server, opts.crc)
        .map_err(|e| fail(&FileId::Server, RecoveryErrorKind::Server(e)))
        .map_err(StreamError::Recovery)?;
    let Some(info) = info else {
        return Ok(None);
    };
    let mut repairs = Vec::new();
    let clients_bytes = files.clients.clone().unwrap_or_else(empty_file);
    let s = scan_file(FileId::Clients, &clients_bytes, opts, &mut repairs)
        .map_err(StreamError::Recovery)?;
    let clients = fold_clients(&s.records)
        .map_err(|e| fail(&FileId::Clients, RecoveryErrorKind::Fold(e)))
        .map_err(StreamError::Recovery)?;

    let mut channels = BTreeMap::new();
    for (name, ch) in &files.channels {
        let mut slices = Vec::with_capacity(ch.slices.len());
        for (&number, listed) in &ch.slices {
            let id = FileId::SliceData {
                channel: name.clone(),
                slice: number,
            };
            let loaded = read_slice(name, number).map_err(StreamError::Read)?;
            let slice = loaded.as_ref().unwrap_or(listed);
            let s = scan_file(id.clone(), &slice.data, opts, &mut repairs)
                .map_err(StreamError::Recovery)?;
            let mut folded = fold_slice(number, &s.records, slice.index.as_deref(), opts.crc)
                .map_err(|e| StreamError::Recovery(fail(&id, RecoveryErrorKind::Fold(e))))?;
            if loaded.is_some() {
                shed_payloads(&mut folded);
            }
            slices.push(folded);
        }
        let mut msgs = RecoveredMsgs::new(slices).map_err(|e| {
            StreamError::Recovery(fail(
                &FileId::SliceData {
                    channel: name.clone(),
                    slice: e.slice,
                },
                RecoveryErrorKind::Fold(e.error),
            ))
        })?;
        msgs.apply_limits(&limits(name), opts.now);
        for slice in &msgs.slices {
            if let IndexStatus::Rebuild(reason) = slice.index {
                repairs.push(Repair::RewriteIndex {
                    channel: name.clone(),
                    slice: slice.number,
                    reason,
                });
            }
        }
        for &slice in &msgs.removed_slices {
            repairs.push(Repair::RemoveSlice {
                channel: name.clone(),
                slice,
            });
        }

        let subs_id = FileId::Subs {
            channel: name.clone(),
        };
        let subs_bytes = ch.subs.clone().unwrap_or_else(empty_file);
        let s = scan_file(subs_id.clone(), &subs_bytes, opts, &mut repairs)
            .map_err(StreamError::Recovery)?;
        let subs = fold_subs(&s.records)
            .map_err(|e| StreamError::Recovery(fail(&subs_id, RecoveryErrorKind::Fold(e))))?;
        channels.insert(name.clone(), RecoveredChannel { msgs, subs });
    }
    Ok(Some(Recovery {
        info,
        clients,
        channels,
        repairs,
    }))
}
