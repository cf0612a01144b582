//! The pid file (`-P FILE`, `--pid`, `pid_file`): the process id in
//! decimal, without a newline, mode 0660, as nats-server's `logPid` writes
//! it (`os.WriteFile(PidFile, []byte(strconv.Itoa(os.Getpid())), 0660)`).
//! nats-server fails to start with `Could not write pidfile: <err>` when it
//! cannot write it.
//!
//! Unlike nats-server, the file is removed on a clean exit ([`PidFile`] is a
//! guard), and only while it still holds this process's id, so a newer
//! server's pid file is never removed.

use std::path::{Path, PathBuf};

/// A pid file could not be written or removed.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Writing failed (nats-server: `Could not write pidfile: ...`).
    #[error("Could not write pidfile: open {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Removing failed.
    #[error("Could not remove pidfile {}: {source}", path.display())]
    Remove {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// A written pid file, removed when dropped (or by [`PidFile::remove`]).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
    removed: bool,
}

impl PidFile {
    /// Writes this process's id to `path` (created or truncated, 0660).
    pub fn write(path: impl Into<PathBuf>) -> Result<PidFile, PidFileError> {
        Self::write_pid(path.into(), std::process::id())
    }

    fn write_pid(path: PathBuf, pid: u32) -> Result<PidFile, PidFileError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o660)
            .open(&path)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()));
        match written {
            Ok(()) => Ok(PidFile {
                path,
                pid,
                removed: false,
            }),
            Err(source) => Err(PidFileError::Write { path, source }),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now if it still holds this pid (a file already
    /// gone, or rewritten by another process, is left as it is).
    pub fn remove(mut self) -> Result<(), PidFileError> {
        self.removed = true;
        self.remove_if_ours()
    }

    fn remove_if_ours(&self) -> Result<(), PidFileError> {
        let ours = std::fs::read_to_string(&self.path)
            .is_ok_and(|s| s.trim().parse::<u32>().ok() == Some(self.pid));
        if !ours {
            return Ok(());
        }
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PidFileError::Remove {
                path: self.path.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_if_ours();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_pid_as_go_does_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stan.pid");
        std::fs::write(&path, "a much longer stale content\n").unwrap();
        let pf = PidFile::write(&path).unwrap();
        assert_eq!(pf.path(), path);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::process::id().to_string()
        );
        pf.remove().unwrap();
        assert!(!path.exists());
        // A new file gets 0660 (less the umask), as Go's WriteFile gives it.
        let pf = PidFile::write(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o660, 0, "mode {mode:o}");
        drop(pf);
    }

    #[test]
    fn drop_removes_only_our_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stan.pid");
        drop(PidFile::write(&path).unwrap());
        assert!(!path.exists());
        // Another server took the file over: left alone.
        let pf = PidFile::write(&path).unwrap();
        std::fs::write(&path, "1").unwrap();
        drop(pf);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1");
        // Already gone: fine.
        let pf = PidFile::write_pid(dir.path().join("other.pid"), 7).unwrap();
        std::fs::remove_file(dir.path().join("other.pid")).unwrap();
        pf.remove().unwrap();
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = PidFile::write(dir.path().join("no/such/dir/x.pid")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("Could not write pidfile: open "), "{msg}");
        assert!(msg.contains("no/such/dir/x.pid"), "{msg}");
    }
}
