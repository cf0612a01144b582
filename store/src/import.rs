//! Taking over a Go `nats-streaming-server` store directory (format of
//! 0.25.x, which is also ours): [`import`] reads it without touching it,
//! refuses anything it cannot read exactly (a bad CRC, an unknown record
//! type, a truncated file: the file and offset named), copies it into a new
//! directory next to the target, applies what Go's own recovery would (the
//! channel limits, rebuilt indexes), makes it durable, renames it into place
//! (all or nothing: an interrupted import leaves no store a server would
//! start on), then opens the result as a server would and reports what it
//! holds, per channel.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use stan_core::stan::filestore::layout::{LOCK_FILE, TRUNCATE_WITNESS_FILE};
use stan_core::stan::filestore::subs::SubKind;
use stan_core::stan::filestore::{
    recover_streaming, Crc32, FileStoreOptions, RecoveryError, RecoveryOptions, Repair, StreamError,
};
use stan_core::stan::store::Store;
use stan_proto::ServerInfo;

use crate::fsutil::sync_dir;
use crate::load::{load_meta, read_slice, LoadError};
use crate::open::{open, LimitsFn, OpenError, OpenOptions};
use crate::repair::{apply_repairs, RepairError};

/// What to import, and how.
pub struct ImportOptions {
    /// The Go server's `--dir` (read only).
    pub from: PathBuf,
    /// The store directory to create (must not exist).
    pub to: PathBuf,
    /// The cluster ID the Go store must have (`None`: whatever it has).
    pub cluster_id: Option<String>,
    /// Check the records' CRCs (`--file_crc`).
    pub crc_check: bool,
    /// How the store writes (its CRC polynomial is the one the Go store was
    /// written with, `--file_crc_poly`).
    pub store: FileStoreOptions,
    /// Each channel's limits, as the Go server was configured: applied as
    /// its recovery applies them.
    pub limits: LimitsFn,
    /// The current time, Unix ns (the age limit).
    pub now: i64,
}

/// Why an import failed. The target directory does not exist afterwards.
#[derive(thiserror::Error, Debug)]
pub enum ImportError {
    /// The source is not a store directory.
    #[error("{path:?} is not a NATS Streaming store directory (no server.dat)")]
    NotAStore {
        /// The source.
        path: PathBuf,
    },
    /// The source holds no record yet.
    #[error("{path:?} was never initialized by a server (server.dat holds no record)")]
    Empty {
        /// The source.
        path: PathBuf,
    },
    /// The target exists.
    #[error("{path:?} already exists: the import creates a new store directory")]
    TargetExists {
        /// The target.
        path: PathBuf,
    },
    /// A Go server holds the source's lock.
    #[error("{path:?} is in use by a running server: stop it first")]
    InUse {
        /// The source.
        path: PathBuf,
    },
    /// Reading the source failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A file of the source is damaged.
    #[error("{dir:?}: {source}")]
    Recovery {
        /// The source.
        dir: PathBuf,
        /// The file, the offset, what is wrong.
        source: RecoveryError,
    },
    /// A file of the source ends with a torn record (a server crashed while
    /// writing it): Go would cut it off at its next start, losing that
    /// record; the import does not decide that for you.
    #[error(
        "{dir:?}: {repair}; start the Go server once on it (it truncates the torn record) \
         or repair it, then import again"
    )]
    Torn {
        /// The source.
        dir: PathBuf,
        /// The file and offset.
        repair: String,
    },
    /// The store's cluster ID is not the one given.
    #[error("cluster ID {configured:?} does not match recovered value of {recovered:?}")]
    ClusterIdMismatch {
        /// The one given.
        configured: String,
        /// The store's.
        recovered: String,
    },
    /// Writing the new directory failed.
    #[error("writing {path:?}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Applying Go's recovery to the copy failed.
    #[error(transparent)]
    Repair(#[from] RepairError),
    /// The imported store does not open.
    #[error("the imported store does not open: {0}")]
    Verify(#[from] OpenError),
    /// The imported store does not hold what the source held.
    #[error("the imported store differs from the source: {0}")]
    Mismatch(String),
}

/// What the import carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The store's identity.
    pub info: ServerInfo,
    /// Registered clients, by ID.
    pub clients: Vec<String>,
    /// Each channel.
    pub channels: Vec<ChannelReport>,
    /// What Go's recovery rules changed in the copy (limits, indexes).
    pub applied: Vec<String>,
}

/// One imported channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReport {
    /// Name.
    pub name: String,
    /// Messages available.
    pub msgs: u64,
    /// Bytes they account for.
    pub bytes: u64,
    /// First available sequence.
    pub first_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Subscriptions.
    pub subs: Vec<SubReport>,
}

/// One imported subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubReport {
    /// ID in the channel.
    pub id: u64,
    /// Kind.
    pub kind: SubKind,
    /// Owner (empty for a durable queue group's shadow).
    pub client_id: String,
    /// Durable name.
    pub durable: String,
    /// Queue group (`durable:group` for a durable one).
    pub queue: String,
    /// Last sequence sent.
    pub last_sent: u64,
    /// Sequences sent and not acknowledged.
    pub pending: Vec<u64>,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "cluster ID {:?}: {} clients ({})",
            self.info.cluster_id,
            self.clients.len(),
            self.clients.join(", ")
        )?;
        for c in &self.channels {
            writeln!(
                f,
                "channel {:?}: {} messages, {} bytes, sequences {}..{}, {} subscriptions",
                c.name,
                c.msgs,
                c.bytes,
                c.first_seq,
                c.last_seq,
                c.subs.len()
            )?;
            for s in &c.subs {
                writeln!(
                    f,
                    "  sub {} {:?} client={:?} durable={:?} queue={:?} last_sent={} pending={} {:?}",
                    s.id,
                    s.kind,
                    s.client_id,
                    s.durable,
                    s.queue,
                    s.last_sent,
                    s.pending.len(),
                    s.pending
                )?;
            }
        }
        for line in &self.applied {
            writeln!(f, "applied: {line}")?;
        }
        Ok(())
    }
}

fn write_err(path: &Path) -> impl Fn(io::Error) -> ImportError + '_ {
    move |source| ImportError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Whether another process holds the POSIX lock Go takes on its
/// directory's lock file (checked with a shared lock on a read-only handle:
/// the source is not modified).
#[cfg(unix)]
fn in_use(dir: &Path) -> bool {
    use rustix::fs::{fcntl_lock, FlockOperation};
    let Ok(file) = fs::File::open(dir.join(LOCK_FILE)) else {
        return false;
    };
    let held = fcntl_lock(&file, FlockOperation::NonBlockingLockShared).is_err();
    let _ = fcntl_lock(&file, FlockOperation::Unlock);
    held
}

#[cfg(not(unix))]
fn in_use(_dir: &Path) -> bool {
    false
}

/// Copies a file, writable by us, synced.
fn copy_file(from: &Path, to: &Path) -> Result<(), ImportError> {
    fs::copy(from, to).map_err(write_err(to))?;
    let mut perms = fs::metadata(to).map_err(write_err(to))?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(to, perms).map_err(write_err(to))?;
    fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(write_err(to))
}

/// Copies the store's files (not its lock files, nor anything else).
fn copy_store(from: &Path, to: &Path) -> Result<(), ImportError> {
    fs::create_dir_all(to).map_err(write_err(to))?;
    for entry in fs::read_dir(from).map_err(write_err(from))? {
        let entry = entry.map_err(write_err(from))?;
        let name = entry.file_name();
        let path = entry.path();
        let kind = entry.file_type().map_err(write_err(&path))?;
        if kind.is_dir() {
            let dir = to.join(&name);
            fs::create_dir(&dir).map_err(write_err(&dir))?;
            for e in fs::read_dir(&path).map_err(write_err(&path))? {
                let e = e.map_err(write_err(&path))?;
                if e.file_type().map_err(write_err(&e.path()))?.is_file() {
                    copy_file(&e.path(), &dir.join(e.file_name()))?;
                }
            }
            sync_dir(&dir).map_err(|e| ImportError::Write {
                path: dir.clone(),
                source: e.source,
            })?;
        } else if kind.is_file() && name != LOCK_FILE && name != TRUNCATE_WITNESS_FILE {
            copy_file(&path, &to.join(&name))?;
        }
    }
    sync_dir(to).map_err(|e| ImportError::Write {
        path: to.to_owned(),
        source: e.source,
    })
}

/// Imports a Go store directory. See the module docs.
pub fn import(opts: ImportOptions) -> Result<ImportReport, ImportError> {
    let ImportOptions {
        from,
        to,
        cluster_id,
        crc_check,
        store,
        limits,
        now,
    } = opts;
    if !from.join("server.dat").is_file() {
        return Err(ImportError::NotAStore { path: from });
    }
    if to.exists() {
        return Err(ImportError::TargetExists { path: to });
    }
    if in_use(&from) {
        return Err(ImportError::InUse { path: from });
    }
    let crc: Crc32 = store.crc.clone();
    // One slice in memory at a time.
    let files = load_meta(&from)?;
    let ropts = RecoveryOptions {
        crc: crc_check.then_some(&crc),
        truncate_bad_eof: false,
        now: Some(now),
    };
    let recovery = recover_streaming(&files, &ropts, &limits, |channel, n| {
        read_slice(&from, channel, n)
    })
    .map_err(|e| match e {
        StreamError::Recovery(source) => ImportError::Recovery {
            dir: from.clone(),
            source,
        },
        StreamError::Read(e) => ImportError::Load(e),
    })?
    .ok_or_else(|| ImportError::Empty { path: from.clone() })?;
    if let Some(torn) = recovery
        .repairs
        .iter()
        .find(|r| matches!(r, Repair::Truncate { .. }))
    {
        return Err(ImportError::Torn {
            dir: from,
            repair: torn.to_string(),
        });
    }
    if let Some(cid) = &cluster_id {
        if *cid != recovery.info.cluster_id {
            return Err(ImportError::ClusterIdMismatch {
                configured: cid.clone(),
                recovered: recovery.info.cluster_id.clone(),
            });
        }
    }
    // Built beside the target, renamed into place once complete.
    let mut staging = to.clone().into_os_string();
    staging.push(".importing");
    let staging = PathBuf::from(staging);
    let _ = fs::remove_dir_all(&staging);
    let built = (|| {
        copy_store(&from, &staging)?;
        let mut copy = files.clone();
        let applied = apply_repairs(&staging, &recovery, &mut copy, &crc, None)?.lines;
        Ok::<_, ImportError>(applied)
    })();
    let applied = match built {
        Ok(applied) => applied,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    // Verified as a server opens it, before it takes the target's name:
    // a store that does not open (a wrong key, a mismatch) is never left
    // where a server would start on it.
    let verified = (|| {
        // Verified as a server opens it.
        let mut oopts = OpenOptions::new(
            &staging,
            recovery.info.cluster_id.clone(),
            recovery.info.clone(),
            now,
        );
        oopts.store = store;
        oopts.crc_check = crc_check;
        oopts.limits = limits;
        let opened = open(oopts)?;
        if !opened.repairs.is_empty() {
            return Err(ImportError::Mismatch(format!(
                "the copy needed repairs: {:?}",
                opened.repairs
            )));
        }
        let mut channels = Vec::new();
        for (name, rc) in &recovery.channels {
            let st = opened.store.stats(name).unwrap_or_default();
            let want = rc.msgs.stats();
            if (st.msgs, st.first_seq, st.last_seq) != (want.msgs, want.first_seq, want.last_seq) {
                return Err(ImportError::Mismatch(format!(
                    "channel {name:?}: {st:?} imported, {want:?} in the source"
                )));
            }
            let restored = opened.restored.channels.get(name);
            let subs = restored
                .map(|c| {
                    c.subs
                        .values()
                        .map(|s| SubReport {
                            id: s.state.id,
                            kind: s.kind(),
                            client_id: s.state.client_id.clone(),
                            durable: s.state.durable_name.clone(),
                            queue: s.state.q_group.clone(),
                            last_sent: s.state.last_sent,
                            pending: s.pending.iter().copied().collect(),
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if subs.len() != rc.subs.subs.len() {
                return Err(ImportError::Mismatch(format!(
                    "channel {name:?}: {} subscriptions imported, {} in the source",
                    subs.len(),
                    rc.subs.subs.len()
                )));
            }
            channels.push(ChannelReport {
                name: name.clone(),
                msgs: st.msgs,
                bytes: st.bytes,
                first_seq: st.first_seq,
                last_seq: st.last_seq,
                subs,
            });
        }
        let clients = opened
            .restored
            .clients
            .iter()
            .map(|c| c.id.clone())
            .collect();
        drop(opened);
        Ok::<_, ImportError>((channels, clients))
    })();
    let (channels, clients) = match verified {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    fs::rename(&staging, &to).map_err(write_err(&to))?;
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent).map_err(|e| ImportError::Write {
            path: parent.to_owned(),
            source: e.source,
        })?;
    }
    Ok(ImportReport {
        info: recovery.info,
        clients,
        channels,
        applied,
    })
}
