//! The store directory's lock on `<dir>/.rootdir.lck`, so that two servers
//! never open the same directory:
//!
//! * a POSIX record lock (`fcntl(F_SETLK)`, write lock on the whole file),
//!   the lock the Go server takes (`util.CreateLockFile`): a Go server and
//!   ours exclude each other;
//! * an exclusive `flock` (std's [`File::try_lock`]), which, unlike the
//!   record lock, also excludes a second open of the directory within this
//!   process.
//!
//! A record lock belongs to the process and is released when the process
//! closes *any* descriptor of the file; so a directory this process already
//! locked is refused before its lock file is opened again (a process-wide
//! list of the lock files held, by device and inode).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use stan_core::stan::filestore::layout::LOCK_FILE;

/// Why the directory could not be locked.
#[derive(thiserror::Error, Debug)]
pub enum LockError {
    /// Another server (in this process or another, ours or Go's) holds the
    /// lock.
    #[error(
        "store directory {} is in use by another server (lock file {} is held)",
        dir.display(),
        path.display()
    )]
    Held {
        /// The store directory.
        dir: PathBuf,
        /// Its lock file.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("unable to lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// `(device, inode)` of the lock files this process holds.
static HELD: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn held() -> MutexGuard<'static, Vec<(u64, u64)>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// The held lock of a store directory; released when dropped (the lock
/// file itself stays, as Go leaves it).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
    key: (u64, u64),
}

impl DirLock {
    /// Locks `dir` (which must exist): creates `<dir>/.rootdir.lck` if
    /// missing and takes both locks on it without waiting.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let held_err = || LockError::Held {
            dir: dir.to_path_buf(),
            path: path.clone(),
        };
        let mut list = held();
        // Refused before opening the file again: closing that second
        // descriptor would release this process's record lock.
        if let Ok(meta) = std::fs::metadata(&path) {
            if list.contains(&file_key(&meta)) {
                return Err(held_err());
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let key = file_key(&file.metadata().map_err(io_err)?);
        if list.contains(&key) {
            return Err(held_err());
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(held_err()),
            Err(TryLockError::Error(source)) => return Err(io_err(source)),
        }
        match record_lock(&file) {
            Ok(true) => {}
            Ok(false) => return Err(held_err()),
            Err(source) => return Err(io_err(source)),
        }
        list.push(key);
        Ok(DirLock { file, path, key })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases both locks; unlocking first makes it
        // explicit. Nothing useful can be done with an error here.
        let _ = self.file.unlock();
        held().retain(|k| *k != self.key);
    }
}

#[cfg(unix)]
fn file_key(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_key(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Takes the POSIX record lock Go takes: `Ok(false)` if another process
/// holds it.
#[cfg(unix)]
fn record_lock(file: &File) -> io::Result<bool> {
    use rustix::fs::{fcntl_lock, FlockOperation};
    use rustix::io::Errno;
    match fcntl_lock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == Errno::AGAIN || e == Errno::ACCESS => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// No record lock outside Unix (the `flock` is taken).
#[cfg(not(unix))]
fn record_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}
