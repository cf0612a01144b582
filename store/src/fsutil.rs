//! File-system steps shared by the open path and the IO thread: syncing a
//! directory, and replacing a file's content atomically. A failed step says
//! what it was doing and on which path ([`StepError`]).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A failed file-system step: what it was, the path, the OS error.
#[derive(thiserror::Error, Debug)]
#[error("{op} {}: {source}", path.display())]
pub struct StepError {
    /// The step (`create`, `write`, `sync`, `rename`...).
    pub op: &'static str,
    /// The path it was applied to.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl StepError {
    /// A step on `path` failed with `source`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StepError {
        StepError {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Syncs a directory (its entries: files created, renamed or removed in it).
pub fn sync_dir(dir: &Path) -> Result<(), StepError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StepError::new("sync", dir, e))
}

/// `<path>.tmp`: where [`write_atomic`] writes before renaming.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".tmp");
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path`'s content with `data` atomically: writes `<path>.tmp`,
/// syncs it, renames it over `path`, syncs the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StepError> {
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp).map_err(|e| StepError::new("create", &tmp, e))?;
    let written = f
        .write_all(data)
        .map_err(|e| StepError::new("write", &tmp, e))
        .and_then(|()| f.sync_data().map_err(|e| StepError::new("sync", &tmp, e)));
    drop(f);
    if let Err(e) = written {
        // A partial copy would only hold space (a full disk stays full).
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).map_err(|e| StepError::new("rename", path, e))?;
    sync_dir(parent(path))
}

/// Removes a file; a missing one is not an error.
pub fn remove_file(path: &Path) -> Result<(), StepError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StepError::new("remove", path, e)),
        _ => Ok(()),
    }
}
