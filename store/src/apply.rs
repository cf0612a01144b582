//! Carrying out one [`IoBatch`] on the store directory: its operations in
//! order, then (`sync`) `fdatasync` of every file appended to and a sync of
//! every directory whose entries changed. The first failure stops the batch
//! and is reported as an [`IoFailure`] (the path relative to the store
//! directory, the OS error's text).
//!
//! * `Append`: the cached handle, or the file opened for appending (created
//!   if missing: its directory is then synced with the batch), one
//!   `write_all` of the (already coalesced) bytes;
//! * `Replace`: `<file>.tmp` written and synced, renamed over the file, the
//!   directory synced (always: compaction must never leave a half file);
//! * `Remove`: the handle closed, the file removed (missing is fine);
//! * `CreateChannelDir`: created if missing, the store directory synced;
//! * `RemoveChannelDir`: the channel's handles closed, the directory removed
//!   with its content (missing is fine);
//! * `ArchiveSlice`: the slice's handles closed, its files renamed `.bak`
//!   and the channel directory synced, the script started on its own
//!   thread ([`crate::archive`]);
//! * `Read`: the bytes there are (a missing file reads empty); a read that
//!   failed is reported with its token and fails nothing else.
//!
//! [`IoFailure::op`] names the step that failed: `open`, `create`,
//! `append`, `write`, `sync`, `rename`, `remove`, `mkdir` or `rmdir`.
//!
//! A failed batch is undone when it can be ([`Failed::undone`]): every
//! file it appended to is cut back to its length before the batch, every
//! file it created for an append is removed, and the batch can be carried
//! out again (the store retries it once the disk has room): what else it
//! did before failing is idempotent (an atomic replace, a directory
//! created, a read). It cannot be undone once it removed a file, a
//! channel directory or archived a slice (carried out again, its earlier
//! operations would meet a directory that changed), nor when a failed
//! sync covered bytes written by earlier batches without sync (Linux
//! reports a failed writeback once: a retried sync would succeed without
//! them).
//!
//! The time a batch spends syncing is counted into its [`SyncLatency`]
//! (once per batch that synced anything).

use bytes::Bytes;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stan_core::stan::filestore::{FileId, FileOp, IoBatch, IoFailure, ReadOutcome};

use crate::archive::{rename_slice, Archived, ScriptRuns};
use crate::cache::FileCache;
use crate::fsutil::{parent, remove_file, sync_dir, write_atomic, StepError};

/// A file the current batch appended to, as it was before the batch.
#[derive(Debug)]
struct Appended {
    file: FileId,
    /// Its length (`None`: the batch created it).
    len: Option<u64>,
    /// It held bytes of earlier batches not synced yet.
    dirty: bool,
}

/// A batch that failed: why, and whether it was undone (it can be carried
/// out again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The failure.
    pub failure: IoFailure,
    /// The batch's appends were cut back (see the module docs).
    pub undone: bool,
}
use crate::sync_latency::SyncLatency;

/// Applies batches to a store directory. See the module docs.
#[derive(Debug)]
pub struct Applier {
    dir: PathBuf,
    cache: FileCache,
    /// Directories whose entries changed in the batch (synced with it).
    dirty_dirs: Vec<PathBuf>,
    /// Where the batches' sync times go.
    latency: SyncLatency,
    /// The current batch's time in syncs, if it synced anything.
    synced: Option<Duration>,
    /// The files the current batch appended to, as they were before it,
    /// to undo it.
    appended: Vec<Appended>,
    /// The current batch removed or renamed something: it cannot be
    /// undone.
    destroyed: bool,
    /// Where the archive script runs.
    scripts: Arc<ScriptRuns>,
}

impl Applier {
    /// An applier over `dir` keeping at most `max_open_files` handles open
    /// (0: the default), starting the archive script with `scripts`.
    pub fn new(dir: PathBuf, max_open_files: usize, scripts: Arc<ScriptRuns>) -> Applier {
        Applier {
            dir,
            cache: FileCache::new(max_open_files),
            dirty_dirs: Vec::new(),
            latency: SyncLatency::default(),
            synced: None,
            appended: Vec::new(),
            destroyed: false,
            scripts,
        }
    }

    /// The histogram of the batches' sync times (a handle to it).
    pub fn sync_latency(&self) -> SyncLatency {
        self.latency.clone()
    }

    /// Carries out `batch`; the outcome of its reads, by token (a failed
    /// read fails nothing else). A failure says whether the batch was
    /// undone (see the module docs).
    pub fn apply(&mut self, batch: &IoBatch) -> Result<Vec<(u64, ReadOutcome)>, Failed> {
        let mut reads = Vec::new();
        self.synced = None;
        self.appended.clear();
        self.destroyed = false;
        // Written by earlier batches without sync: a failed sync of them
        // cannot be taken back.
        let earlier_unsynced = self.cache.has_dirty();
        let result = self.apply_ops(batch, &mut reads);
        let result = match result {
            Ok(()) if batch.sync => self.sync(),
            other => other,
        };
        if let Some(d) = self.synced.take() {
            self.latency.observe(d);
        }
        match result {
            Ok(()) => {
                // Without sync, what was written stays to be synced by a
                // later batch that asks (`--file_auto_sync`).
                if batch.sync {
                    self.cache.clear_dirty();
                    self.dirty_dirs.clear();
                }
                Ok(reads)
            }
            Err(e) => {
                let sync_failed = e.op == "sync";
                let mut failure = self.failure(e);
                let undone = if self.destroyed || (sync_failed && earlier_unsynced) {
                    false
                } else {
                    match self.undo() {
                        Ok(()) => true,
                        Err(e) => {
                            failure.error =
                                format!("{} (and it could not be undone: {e})", failure.error);
                            false
                        }
                    }
                };
                Err(Failed { failure, undone })
            }
        }
    }

    /// Cuts the files the failed batch appended to back to their length
    /// before it; removes those it created.
    fn undo(&mut self) -> Result<(), StepError> {
        for a in std::mem::take(&mut self.appended) {
            let path = self.path_of(&a.file);
            let Some(len) = a.len else {
                self.cache.remove(&a.file);
                remove_file(&path)?;
                continue;
            };
            let truncate = |e| StepError::new("truncate", &path, e);
            match self.cache.get(&a.file) {
                // Through the handle (appending: its next write goes to the
                // new end), keeping what it owed a sync from before.
                Some(entry) => {
                    entry.file.set_len(len).map_err(truncate)?;
                    entry.len = len;
                    entry.dirty = a.dirty;
                }
                None => OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(len))
                    .map_err(truncate)?,
            }
        }
        Ok(())
    }

    /// Forgets what the batch appended to `file` so far: a later operation
    /// replaced or removed it.
    fn forget_appends(&mut self, matches: impl Fn(&FileId) -> bool) {
        self.appended.retain(|a| !matches(&a.file));
    }

    /// Open handles (tests).
    #[cfg(test)]
    pub fn open_files(&self) -> usize {
        self.cache.len()
    }

    fn apply_ops(
        &mut self,
        batch: &IoBatch,
        reads: &mut Vec<(u64, ReadOutcome)>,
    ) -> Result<(), StepError> {
        for op in &batch.ops {
            match op {
                FileOp::Read {
                    file,
                    offset,
                    len,
                    token,
                } => {
                    let outcome = self.read(file, *offset, *len).map_err(|e| self.failure(e));
                    reads.push((*token, outcome));
                }
                FileOp::Append { file, data } => self.append(file, data)?,
                FileOp::Replace { file, data } => {
                    self.cache.remove(file);
                    self.forget_appends(|f| f == file);
                    write_atomic(&self.path_of(file), data)?;
                }
                FileOp::Remove { file } => {
                    self.destroyed = true;
                    self.cache.remove(file);
                    self.forget_appends(|f| f == file);
                    let path = self.path_of(file);
                    remove_file(&path)?;
                    self.dir_changed(parent(&path));
                }
                FileOp::CreateChannelDir { channel } => {
                    let path = self.dir.join(channel);
                    if !path.is_dir() {
                        fs::create_dir_all(&path).map_err(|e| StepError::new("mkdir", &path, e))?;
                        let started = Instant::now();
                        let synced = sync_dir(&self.dir);
                        self.count_sync(started);
                        if synced.is_err() {
                            // A retry finds the directory: the store
                            // directory is synced with it then.
                            let root = self.dir.clone();
                            self.dir_changed(&root);
                        }
                        synced?;
                    }
                }
                FileOp::ArchiveSlice {
                    channel,
                    slice,
                    script,
                } => {
                    self.destroyed = true;
                    for file in FileId::slice_files(channel, *slice) {
                        self.cache.remove(&file);
                        self.forget_appends(|f| *f == file);
                    }
                    match rename_slice(&self.dir, channel, *slice, script)? {
                        Archived::Renamed(renamed) => self.scripts.start(renamed),
                        Archived::Deleted(outcome) => self.scripts.report(outcome),
                    }
                    let channel_dir = self.dir.join(channel);
                    self.dir_changed(&channel_dir);
                }
                FileOp::RemoveChannelDir { channel } => {
                    self.destroyed = true;
                    self.cache.remove_channel(channel);
                    self.forget_appends(|f| f.channel() == Some(channel.as_str()));
                    let path = self.dir.join(channel);
                    match fs::remove_dir_all(&path) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => {
                            return Err(StepError::new("rmdir", &path, e))
                        }
                        _ => {}
                    }
                    let root = self.dir.clone();
                    self.dir_changed(&root);
                }
            }
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset` (written by earlier operations: the
    /// appends went through the same handles, so no flush is needed). What
    /// is not there is no error: a missing file reads empty, a short one
    /// as far as it goes (the store finds the records damaged).
    fn read(&mut self, file: &FileId, offset: u64, len: u64) -> Result<Bytes, StepError> {
        let path = self.path_of(file);
        let size = usize::try_from(len)
            .map_err(|_| StepError::new("read", &path, io::Error::other("read too large")))?;
        let f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Bytes::new()),
            Err(e) => return Err(StepError::new("open", &path, e)),
        };
        let mut buf = vec![0u8; size];
        let n = read_at_most(&f, &mut buf, offset).map_err(|e| StepError::new("read", &path, e))?;
        buf.truncate(n);
        Ok(Bytes::from(buf))
    }

    fn append(&mut self, file: &FileId, data: &[u8]) -> Result<(), StepError> {
        let known = self.appended.iter().any(|a| a.file == *file);
        let entry = match self.cache.get(file) {
            Some(entry) => {
                if !known {
                    self.appended.push(Appended {
                        file: file.clone(),
                        len: Some(entry.len),
                        dirty: entry.dirty,
                    });
                }
                entry
            }
            None => {
                if let Some((old, entry)) = self.cache.make_room() {
                    // Its bytes not synced yet must be, before its handle
                    // goes (a later sync would not find it).
                    if entry.dirty {
                        let started = Instant::now();
                        let synced = entry.file.sync_data();
                        self.count_sync(started);
                        synced.map_err(|e| StepError::new("sync", self.path_of(&old), e))?;
                    }
                }
                let path = self.path_of(file);
                let (handle, len) = match OpenOptions::new().append(true).open(&path) {
                    Ok(f) => {
                        let len = f
                            .metadata()
                            .map_err(|e| StepError::new("open", &path, e))?
                            .len();
                        (f, Some(len))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        let f = OpenOptions::new()
                            .append(true)
                            .create_new(true)
                            .open(&path)
                            .map_err(|e| StepError::new("create", &path, e))?;
                        self.dir_changed(parent(&path));
                        (f, None)
                    }
                    Err(e) => return Err(StepError::new("open", &path, e)),
                };
                if !known {
                    // A handle closed earlier was synced first.
                    self.appended.push(Appended {
                        file: file.clone(),
                        len,
                        dirty: false,
                    });
                }
                let entry = self.cache.insert(file.clone(), handle);
                entry.len = len.unwrap_or(0);
                entry
            }
        };
        entry.dirty |= file.needs_sync();
        if let Err(e) = entry.file.write_all(data) {
            // The file's end is unknown until the batch's undo cuts it back
            // (not undone, the store writes no more).
            return Err(StepError::new("append", self.path_of(file), e));
        }
        entry.len += data.len() as u64;
        Ok(())
    }

    /// Syncs the files written and the directories changed.
    fn sync(&mut self) -> Result<(), StepError> {
        let started = Instant::now();
        let mut any = !self.dirty_dirs.is_empty();
        let result = self.sync_dirty(&mut any);
        if any {
            self.count_sync(started);
        }
        result
    }

    fn sync_dirty(&mut self, any: &mut bool) -> Result<(), StepError> {
        let dir = &self.dir;
        for (id, entry) in self.cache.dirty() {
            *any = true;
            entry
                .file
                .sync_data()
                .map_err(|e| StepError::new("sync", dir.join(id.to_string()), e))?;
            entry.dirty = false;
        }
        for d in &self.dirty_dirs {
            sync_dir(d)?;
        }
        Ok(())
    }

    /// Adds the time since `started` to the batch's sync time.
    fn count_sync(&mut self, started: Instant) {
        let d = started.elapsed();
        self.synced = Some(self.synced.map_or(d, |s| s + d));
    }

    fn dir_changed(&mut self, dir: &Path) {
        if !self.dirty_dirs.iter().any(|d| d == dir) {
            self.dirty_dirs.push(dir.to_path_buf());
        }
    }

    fn path_of(&self, file: &FileId) -> PathBuf {
        self.dir.join(file.to_string())
    }

    /// The failure as the core takes it: the path relative to the store
    /// directory.
    fn failure(&self, e: StepError) -> IoFailure {
        let relative = e.path.strip_prefix(&self.dir).unwrap_or(&e.path);
        let path = if relative.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            relative.display().to_string()
        };
        IoFailure {
            op: e.op,
            path,
            error: e.source.to_string(),
        }
    }
}

/// Fills `buf` from `offset` of `f` as far as the file goes: the number of
/// bytes read.
fn read_at_most(f: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let at = offset.saturating_add(done as u64);
        match read_at(f, &mut buf[done..], at) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(unix)]
fn read_at(f: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_at(f: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f;
    f.seek(SeekFrom::Start(offset))?;
    f.read(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn no_scripts() -> Arc<ScriptRuns> {
        Arc::new(ScriptRuns::new(Arc::new(|| {})))
    }

    #[test]
    fn handles_stay_within_the_limit() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut applier = Applier::new(root.path().to_path_buf(), 2, no_scripts());
        let file = |n| FileId::SliceData {
            channel: "c".into(),
            slice: n,
        };
        let mut ops = vec![FileOp::CreateChannelDir {
            channel: "c".into(),
        }];
        for round in 0..2u8 {
            for n in 1..=4 {
                ops.push(FileOp::Append {
                    file: file(n),
                    data: Bytes::from(vec![round; 3]),
                });
            }
        }
        let batch = IoBatch {
            id: 1,
            ops,
            sync: true,
        };
        assert_eq!(applier.apply(&batch), Ok(Vec::new()));
        assert_eq!(applier.open_files(), 2);
        for n in 1..=4 {
            let path = root.path().join(file(n).to_string());
            assert_eq!(
                fs::read(&path).unwrap_or_else(|e| panic!("{e}")),
                [0, 0, 0, 1, 1, 1]
            );
        }
    }

    #[test]
    fn a_read_fails_alone_and_what_is_not_there_reads_short() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut applier = Applier::new(root.path().to_path_buf(), 0, no_scripts());
        let file = |n| FileId::SliceData {
            channel: "c".into(),
            slice: n,
        };
        let read = |n, offset, len, token| FileOp::Read {
            file: file(n),
            offset,
            len,
            token,
        };
        // Slice 2's data file is a directory: reading it fails (EISDIR).
        std::fs::create_dir_all(root.path().join(file(2).to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = IoBatch {
            id: 1,
            ops: vec![
                FileOp::Append {
                    file: file(1),
                    data: Bytes::from_static(b"0123456789"),
                },
                read(1, 2, 4, 1),
                read(2, 0, 4, 2),
                read(1, 8, 10, 3),
                read(3, 0, 4, 4),
                FileOp::Append {
                    file: file(1),
                    data: Bytes::from_static(b"ab"),
                },
            ],
            sync: true,
        };
        let reads = applier.apply(&batch).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(reads.len(), 4);
        assert_eq!(reads[0], (1, Ok(Bytes::from_static(b"2345"))));
        match &reads[1] {
            (2, Err(f)) => {
                assert_eq!(f.op, "read");
                assert_eq!(f.path, "c/msgs.2.dat");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(reads[2], (3, Ok(Bytes::from_static(b"89"))), "a short file");
        assert_eq!(reads[3], (4, Ok(Bytes::new())), "a missing file");
        assert_eq!(
            fs::read(root.path().join(file(1).to_string())).unwrap_or_else(|e| panic!("{e}")),
            b"0123456789ab",
            "the batch went on"
        );
    }

    #[test]
    fn an_undone_batch_keeps_what_earlier_batches_owe_a_sync() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = root.path();
        std::fs::write(dir.join("blocked"), b"").unwrap_or_else(|e| panic!("{e}"));
        let mut applier = Applier::new(dir.to_path_buf(), 0, no_scripts());
        let append = |file: FileId, data: &'static [u8]| FileOp::Append {
            file,
            data: Bytes::from_static(data),
        };
        let batch = |id, ops| IoBatch {
            id,
            ops,
            sync: false,
        };
        // Written without sync: owed a sync.
        assert!(applier
            .apply(&batch(1, vec![append(FileId::Clients, b"a")]))
            .is_ok());
        assert!(applier.cache.has_dirty());
        let blocked = FileId::SliceData {
            channel: "blocked".into(),
            slice: 1,
        };
        let failed = applier
            .apply(&batch(
                2,
                vec![append(FileId::Clients, b"b"), append(blocked, b"x")],
            ))
            .unwrap_err();
        assert!(failed.undone, "{failed:?}");
        assert_eq!(
            std::fs::read(dir.join("clients.dat")).unwrap_or_default(),
            b"a"
        );
        assert!(applier.cache.has_dirty(), "still owed its sync");
        // Appending through the kept handle goes to the cut end.
        assert!(applier
            .apply(&IoBatch {
                id: 3,
                ops: vec![append(FileId::Clients, b"c")],
                sync: true,
            })
            .is_ok());
        assert!(!applier.cache.has_dirty());
        assert_eq!(
            std::fs::read(dir.join("clients.dat")).unwrap_or_default(),
            b"ac"
        );
    }

    #[test]
    fn only_batches_that_sync_something_are_timed() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut applier = Applier::new(root.path().to_path_buf(), 0, no_scripts());
        let latency = applier.sync_latency();
        let batch = |id, ops, sync| IoBatch { id, ops, sync };
        let append = || FileOp::Append {
            file: FileId::Clients,
            data: Bytes::from_static(b"abc"),
        };
        // Written, not synced: nothing timed yet.
        assert!(applier.apply(&batch(1, vec![append()], false)).is_ok());
        assert_eq!(latency.histogram().count, 0);
        // The sync that follows (of the earlier write) is one observation.
        assert!(applier.apply(&batch(2, Vec::new(), true)).is_ok());
        assert_eq!(latency.histogram().count, 1);
        // A synced batch with nothing to sync is not counted.
        assert!(applier.apply(&batch(3, Vec::new(), true)).is_ok());
        assert_eq!(latency.histogram().count, 1);
        assert!(applier.apply(&batch(4, vec![append()], true)).is_ok());
        let h = latency.histogram();
        assert_eq!((h.count, h.buckets.iter().sum::<u64>()), (2, 2));
    }
}
