//! Carrying out a [`Recovery`]'s repairs before the store appends to its
//! files, in order: truncations (`set_len`, synced), index rewrites
//! (version header and the slice's entries, written atomically) and slice
//! removals (both files, then the channel directory synced; with
//! `--file_slice_archive_script`, renamed for the script instead, which
//! the engine's IO thread starts, see [`Repaired::archived`]). The
//! [`StoreFiles`] read at open are cut the same way, so that what the store
//! derives from them (file sizes) matches the disk.

use std::fs::OpenOptions;
use std::path::Path;

use bytes::BytesMut;
use stan_core::stan::filestore::layout::{slice_data_name, slice_index_name};
use stan_core::stan::filestore::{put_version, Crc32, FileId, Recovery, Repair, StoreFiles};

use stan_core::stan::filestore::ArchiveDone;

use crate::archive::{rename_slice, Archived, RenamedSlice};
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

/// What [`apply_repairs`] did.
#[derive(Debug, Default)]
pub struct Repaired {
    /// Each repair's log line.
    pub lines: Vec<String>,
    /// The slices removed with an archive script: renamed for the script
    /// to run over them, or (a rename failed) deleted, with the outcome to
    /// report.
    pub archived: Vec<Result<RenamedSlice, ArchiveDone>>,
}

/// Applies `recovery.repairs` in order to the store directory `dir` (index
/// records written with `crc`) and to `files`. A slice removal renames the
/// slice's files for `archive_script` if one is given.
pub fn apply_repairs(
    dir: &Path,
    recovery: &Recovery,
    files: &mut StoreFiles,
    crc: &Crc32,
    archive_script: Option<&str>,
) -> Result<Repaired, RepairError> {
    let mut done = Repaired {
        lines: Vec::with_capacity(recovery.repairs.len()),
        archived: Vec::new(),
    };
    for repair in &recovery.repairs {
        let line = repair.to_string();
        let step = Step {
            dir,
            recovery,
            crc,
            archive_script,
        };
        step.apply(files, repair, &mut done.archived)
            .map_err(|e| match e {
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
        done.lines.push(line);
    }
    Ok(done)
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

/// What every repair reads.
struct Step<'a> {
    dir: &'a Path,
    recovery: &'a Recovery,
    crc: &'a Crc32,
    archive_script: Option<&'a str>,
}

impl Step<'_> {
    fn apply(
        &self,
        files: &mut StoreFiles,
        repair: &Repair,
        archived: &mut Vec<Result<RenamedSlice, ArchiveDone>>,
    ) -> Result<(), Failure> {
        let Step {
            dir,
            recovery,
            crc,
            archive_script,
        } = *self;
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
                if let Some(script) = archive_script {
                    archived.push(match rename_slice(dir, channel, *slice, script)? {
                        Archived::Renamed(renamed) => Ok(renamed),
                        Archived::Deleted(outcome) => Err(outcome),
                    });
                    sync_dir(&dir.join(channel))?;
                } else {
                    let channel_dir = dir.join(channel);
                    remove_file(&channel_dir.join(slice_data_name(*slice)))?;
                    remove_file(&channel_dir.join(slice_index_name(*slice)))?;
                    sync_dir(&channel_dir)?;
                }
                if let Some(c) = files.channels.get_mut(channel) {
                    c.slices.remove(slice);
                }
            }
        }
        Ok(())
    }
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
