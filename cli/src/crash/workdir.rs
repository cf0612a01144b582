//! The run's directory: `store/` (the server's `--dir`, kept across every
//! restart) and `logs/` (one log per server start). A passing run removes
//! it unless asked to keep it; a failing one keeps it for inspection.

use std::path::{Path, PathBuf};

use super::CrashError;

/// The work directory of a run.
#[derive(Debug)]
pub struct WorkDir {
    root: PathBuf,
    /// Whether this run made the root (and may remove it).
    made: bool,
}

impl WorkDir {
    /// Prepares `given`, or a new directory under the system's temp dir
    /// named after the process and `seed`. The store directory must be new
    /// or empty: a run starts from an empty store.
    pub fn prepare(given: Option<&Path>, seed: u64) -> Result<WorkDir, CrashError> {
        let (root, made) = match given {
            Some(p) => (p.to_path_buf(), !p.exists()),
            None => (
                std::env::temp_dir().join(format!("stan-crash-{}-{seed:x}", std::process::id())),
                true,
            ),
        };
        let wd = WorkDir { root, made };
        for dir in [wd.store(), wd.logs()] {
            std::fs::create_dir_all(&dir).map_err(|source| CrashError::WorkDir {
                path: dir.clone(),
                source,
            })?;
        }
        let store = wd.store();
        let mut entries = std::fs::read_dir(&store).map_err(|source| CrashError::WorkDir {
            path: store.clone(),
            source,
        })?;
        if entries.next().is_some() {
            return Err(CrashError::StoreNotEmpty(store));
        }
        Ok(wd)
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store directory (`--dir`).
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The server logs' directory.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Removes what this run made: the whole root if the run made it,
    /// else its `store/` and `logs/`.
    pub fn remove(&self) -> std::io::Result<()> {
        if self.made {
            std::fs::remove_dir_all(&self.root)
        } else {
            std::fs::remove_dir_all(self.store())?;
            std::fs::remove_dir_all(self.logs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_and_removes() {
        let root = std::env::temp_dir().join(format!("stan-crash-wd-test-{}", std::process::id()));
        let wd = WorkDir::prepare(Some(&root), 1).unwrap();
        assert!(wd.store().is_dir() && wd.logs().is_dir());
        std::fs::write(wd.store().join("x"), b"x").unwrap();
        assert!(matches!(
            WorkDir::prepare(Some(&root), 1),
            Err(CrashError::StoreNotEmpty(_))
        ));
        wd.remove().unwrap();
        assert!(!root.exists());
    }
}
