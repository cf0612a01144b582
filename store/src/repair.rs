//! Carrying out a [`Recovery`]'s repairs before the store appends to its
//! files, in order: truncations (`set_len`, synced), index rewrites
//! (version header and the slice's entries, written atomically) and slice
//! removals (both files, then the channel directory synced). The
//! [`StoreFiles`] read at open are cut the same way, so that what the store
//! derives from them (file sizes) matches the disk.

use std::fs::OpenOptions;
use std::path::Path;

use bytes::BytesMut;
use stan_core::stan::filestore::layout::{slice_data_name, slice_index_name};
use stan_core::stan::filestore::{put_version, Crc32, FileId, Recovery, Repair, StoreFiles};

use crate::fsutil::{remove_file, sync_dir, write_atomic, StepError};

/// Why a repair could not be carried out.
#[derive(thiserror::Error, Debug)]
pub enum RepairError {
    /// A file-system step failed.
    #[error("unable to repair the store ({repair}): {source}")]
    Io {
        /// The repair's log line.
        repair: String,
        /// The step that failed.
        #[source]
        source: StepError,
    },
    /// An index rewrite names a slice the recovery does not hold.
    #[error("unable to repair the store ({repair}): slice {slice} of channel {channel:?} was not recovered")]
    UnknownSlice {
        /// The repair's log line.
        repair: String,
        /// Channel name.
        channel: String,
        /// Slice number.
        slice: u64,
    },
}

/// Applies `recovery.repairs` in order to the store directory `dir` (index
/// records written with `crc`) and to `files`; returns each repair's log
/// line.
pub fn apply_repairs(
    dir: &Path,
    recovery: &Recovery,
    files: &mut StoreFiles,
    crc: &Crc32,
) -> Result<Vec<String>, RepairError> {
    let mut lines = Vec::with_capacity(recovery.repairs.len());
    for repair in &recovery.repairs {
        let line = repair.to_string();
        apply(dir, recovery, files, crc, repair).map_err(|e| match e {
            Failure::Step(source) => RepairError::Io {
                repair: line.clone(),
                source,
            },
            Failure::UnknownSlice { channel, slice } => RepairError::UnknownSlice {
                repair: line.clone(),
                channel,
                slice,
            },
        })?;
        lines.push(line);
    }
    Ok(lines)
}

enum Failure {
    Step(StepError),
    UnknownSlice { channel: String, slice: u64 },
}

impl From<StepError> for Failure {
    fn from(e: StepError) -> Failure {
        Failure::Step(e)
    }
}

fn apply(
    dir: &Path,
    recovery: &Recovery,
    files: &mut StoreFiles,
    crc: &Crc32,
    repair: &Repair,
) -> Result<(), Failure> {
    match repair {
        Repair::Truncate { file, offset, .. } => {
            let path = dir.join(file.to_string());
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| StepError::new("open", &path, e))?;
            f.set_len(*offset)
                .map_err(|e| StepError::new("truncate", &path, e))?;
            f.sync_data()
                .map_err(|e| StepError::new("sync", &path, e))?;
            cut(files, file, *offset);
        }
        Repair::RewriteIndex { channel, slice, .. } => {
            let recovered = recovery
                .channels
                .get(channel)
                .and_then(|c| c.msgs.slices.iter().find(|s| s.number == *slice))
                .ok_or_else(|| Failure::UnknownSlice {
                    channel: channel.clone(),
                    slice: *slice,
                })?;
            let mut b = BytesMut::with_capacity(4 + 32 * recovered.msgs.len());
            put_version(&mut b);
            for entry in recovered.entries() {
                b.extend_from_slice(&entry.to_bytes(crc));
            }
            let path = dir.join(channel).join(slice_index_name(*slice));
            write_atomic(&path, &b)?;
            if let Some(s) = files
                .channels
                .get_mut(channel)
                .and_then(|c| c.slices.get_mut(slice))
            {
                s.index = Some(b.freeze());
            }
        }
        Repair::RemoveSlice { channel, slice } => {
            let channel_dir = dir.join(channel);
            remove_file(&channel_dir.join(slice_data_name(*slice)))?;
            remove_file(&channel_dir.join(slice_index_name(*slice)))?;
            sync_dir(&channel_dir)?;
            if let Some(c) = files.channels.get_mut(channel) {
                c.slices.remove(slice);
            }
        }
    }
    Ok(())
}

/// Cuts the bytes read of `file` to `offset`.
fn cut(files: &mut StoreFiles, file: &FileId, offset: u64) {
    let bytes = match file {
        FileId::Server => Some(&mut files.server),
        FileId::Clients => files.clients.as_mut(),
        FileId::Subs { channel } => files
            .channels
            .get_mut(channel)
            .and_then(|c| c.subs.as_mut()),
        FileId::SliceData { channel, slice } => files
            .channels
            .get_mut(channel)
            .and_then(|c| c.slices.get_mut(slice))
            .map(|s| &mut s.data),
        FileId::SliceIndex { channel, slice } => files
            .channels
            .get_mut(channel)
            .and_then(|c| c.slices.get_mut(slice))
            .and_then(|s| s.index.as_mut()),
    };
    if let Some(b) = bytes {
        let end = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
        b.truncate(end);
    }
}
