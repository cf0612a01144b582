//! Opening a store directory: create it if missing, lock it, honour the
//! `--file_truncate_bad_eof` witness, then either initialize a new store
//! (`server.dat` written) or read every file, recover, check the cluster ID,
//! apply the repairs, and resume a [`FileStore`] from the recovery.
//!
//! The whole store is read into memory (the file store keeps the messages
//! in memory).

use std::fmt;
use std::fs::{self, OpenOptions as FsOpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use stan_core::stan::filestore::layout::{SERVER_FILE, TRUNCATE_WITNESS_FILE};
use stan_core::stan::filestore::{
    recover_server, recover_streaming, server_file, ArchiveDone, FileStore, FileStoreOptions,
    MessageDecryptError, RecoveryError, RecoveryOptions, Restored, StreamError,
};
use stan_core::stan::store::{ChannelLimits, StoreError};
use stan_proto::ServerInfo;

use crate::archive::RenamedSlice;
use crate::fsutil::{remove_file, write_atomic, StepError};
use crate::load::{load_meta, read_optional, read_slice, LoadError};
use crate::lock::{DirLock, LockError};
use crate::repair::{apply_repairs, RepairError};

/// Each channel's limits, by channel name.
pub type LimitsFn = Box<dyn Fn(&str) -> ChannelLimits + Send + Sync>;

/// How to open a store directory.
pub struct OpenOptions {
    /// The store directory (`--dir`).
    pub dir: PathBuf,
    /// The cluster ID (`--cluster_id`): a recovered store must have it.
    pub cluster_id: String,
    /// What to write in `server.dat` when the store is new.
    pub server_info: ServerInfo,
    /// How the store writes (sync, CRC polynomial, slices, compaction).
    pub store: FileStoreOptions,
    /// Check the records' CRCs at recovery (`--file_crc`).
    pub crc_check: bool,
    /// Truncate a file at a corrupt record instead of refusing to start
    /// (`--file_truncate_bad_eof`).
    pub truncate_bad_eof: bool,
    /// Each channel's limits (applied to the recovered messages).
    pub limits: LimitsFn,
    /// The current time, Unix ns (the age limit at recovery, compaction
    /// intervals).
    pub now: i64,
}

impl OpenOptions {
    /// Options with the defaults: Go's file store options, CRC checked, no
    /// truncation of corrupt records, default channel limits.
    pub fn new(
        dir: impl Into<PathBuf>,
        cluster_id: impl Into<String>,
        server_info: ServerInfo,
        now: i64,
    ) -> OpenOptions {
        OpenOptions {
            dir: dir.into(),
            cluster_id: cluster_id.into(),
            server_info,
            store: FileStoreOptions::default(),
            crc_check: true,
            truncate_bad_eof: false,
            limits: Box::new(|_| ChannelLimits::default()),
            now,
        }
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("dir", &self.dir)
            .field("cluster_id", &self.cluster_id)
            .field("server_info", &self.server_info)
            .field("store", &self.store)
            .field("crc_check", &self.crc_check)
            .field("truncate_bad_eof", &self.truncate_bad_eof)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// An open store directory.
#[derive(Debug)]
pub struct Opened {
    /// The store, with its first writes staged (files it needs created).
    pub store: FileStore,
    /// The clients and subscriptions recovered (empty for a new store).
    pub restored: Restored,
    /// The server's identity: the one recovered, or the one written.
    pub info: ServerInfo,
    /// Whether the store was new (`server.dat` just written).
    pub created: bool,
    /// The repairs applied, as lines to log.
    pub repairs: Vec<String>,
    /// The slices the recovery removed with an archive script, for the IO
    /// thread to start the script over ([`crate::EngineIo::start`] does).
    pub archived: Vec<Result<RenamedSlice, ArchiveDone>>,
    /// The directory's lock, held as long as this lives.
    pub lock: DirLock,
    /// The store directory.
    pub dir: PathBuf,
}

/// Why a store directory could not be opened.
#[derive(thiserror::Error, Debug)]
pub enum OpenError {
    /// The directory could not be created.
    #[error("unable to create the store directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The directory is locked by another server, or cannot be locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A second start with `--file_truncate_bad_eof` in a row (Go's text).
    #[error(
        "file store should not be opened consecutively with the TruncateUnexpectedEOF option \
         set to true (witness file {} exists; start once without the option to clear it)",
        path.display()
    )]
    TruncateWitness {
        /// The witness file.
        path: PathBuf,
    },
    /// A file-system step failed.
    #[error("unable to open the store: {0}")]
    Io(#[from] StepError),
    /// A file could not be read, or is misnamed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The files cannot be recovered (names the file, and the offset for a
    /// damaged record).
    #[error("{source} (store directory {})", dir.display())]
    Recovery {
        /// The store directory.
        dir: PathBuf,
        /// What is wrong.
        #[source]
        source: RecoveryError,
    },
    /// `server.dat` is missing or empty but channel data is there (a
    /// damaged or partly deleted store): not initialized over.
    #[error(
        "{} holds channel data but no server file (server.dat): refusing to \
         initialize a new store over it",
        path.display()
    )]
    Orphaned {
        /// A file of channel data found.
        path: PathBuf,
    },
    /// A message's payload does not decrypt (`--encryption_key` wrong, most
    /// likely): names the channel and sequence.
    #[error("{source} (store directory {})", dir.display())]
    Decrypt {
        /// The store directory.
        dir: PathBuf,
        /// The message, and why.
        #[source]
        source: MessageDecryptError,
    },
    /// The store belongs to another cluster (Go's text).
    #[error("cluster ID {configured:?} does not match recovered value of {recovered:?}")]
    ClusterIdMismatch {
        /// The configured cluster ID.
        configured: String,
        /// The one in `server.dat`.
        recovered: String,
    },
    /// `server.dat` could not be encoded.
    #[error("unable to encode the server file: {0}")]
    ServerFile(StoreError),
    /// A repair could not be carried out.
    #[error(transparent)]
    Repair(#[from] RepairError),
}

/// Opens (or creates) a store directory. See the module docs.
pub fn open(opts: OpenOptions) -> Result<Opened, OpenError> {
    let dir = opts.dir.clone();
    fs::create_dir_all(&dir).map_err(|source| OpenError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let lock = DirLock::acquire(&dir)?;
    truncate_witness(&dir, opts.truncate_bad_eof)?;

    let crc = opts.crc_check.then_some(&opts.store.crc);
    let server_path = dir.join(SERVER_FILE);
    let initialized = match read_optional(&server_path)? {
        None => false,
        // A version header alone: never initialized. A damaged file is
        // reported by `recover` below, with the rest.
        Some(b) => !matches!(recover_server(&b, crc), Ok(None)),
    };
    if !initialized {
        return create(opts, lock);
    }

    // One slice in memory at a time: the store may be larger than memory.
    let mut files = load_meta(&dir)?;
    let recovery_opts = RecoveryOptions {
        crc,
        truncate_bad_eof: opts.truncate_bad_eof,
        now: Some(opts.now),
    };
    let recovery = recover_streaming(&files, &recovery_opts, &opts.limits, |channel, n| {
        read_slice(&dir, channel, n)
    })
    .map_err(|e| match e {
        StreamError::Recovery(source) => OpenError::Recovery {
            dir: dir.clone(),
            source,
        },
        StreamError::Read(e) => OpenError::Load(e),
    })?;
    let Some(recovery) = recovery else {
        // `server.dat` changed under us to a version header alone.
        return create(opts, lock);
    };
    if recovery.info.cluster_id != opts.cluster_id {
        return Err(OpenError::ClusterIdMismatch {
            configured: opts.cluster_id,
            recovered: recovery.info.cluster_id,
        });
    }
    let repaired = apply_repairs(
        &dir,
        &recovery,
        &mut files,
        &opts.store.crc,
        opts.store.slice_archive_script.as_deref(),
    )?;
    let info = recovery.info.clone();
    let (store, restored) =
        FileStore::recovered(opts.store, recovery, &files, &opts.limits, opts.now).map_err(
            |source| OpenError::Decrypt {
                dir: dir.clone(),
                source,
            },
        )?;
    Ok(Opened {
        store,
        restored,
        info,
        created: false,
        repairs: repaired.lines,
        archived: repaired.archived,
        lock,
        dir,
    })
}

/// A channel directory file (`msgs.*`, `subs.dat`) under `dir`, if any.
fn leftover_channel_data(dir: &Path) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        for file in fs::read_dir(&path).ok()?.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("msgs.") || name == "subs.dat" {
                return Some(file.path());
            }
        }
    }
    None
}

/// Go's rule for `--file_truncate_bad_eof`: with the option, the witness
/// file is created and must not exist already (two starts in a row with
/// the option are refused); without it, the witness is removed.
fn truncate_witness(dir: &Path, truncate_bad_eof: bool) -> Result<(), OpenError> {
    let path = dir.join(TRUNCATE_WITNESS_FILE);
    if !truncate_bad_eof {
        return Ok(remove_file(&path)?);
    }
    match FsOpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(OpenError::TruncateWitness { path })
        }
        Err(e) => Err(StepError::new("create", path, e).into()),
    }
}

/// Initializes a new store: writes `server.dat` (atomically, synced).
/// A directory that already holds channel data without a server file is
/// refused: initializing over it would mix a new store with old slices.
fn create(opts: OpenOptions, lock: DirLock) -> Result<Opened, OpenError> {
    if let Some(path) = leftover_channel_data(&opts.dir) {
        return Err(OpenError::Orphaned { path });
    }
    let bytes = server_file(&opts.server_info, &opts.store.crc).map_err(OpenError::ServerFile)?;
    write_atomic(&opts.dir.join(SERVER_FILE), &bytes)?;
    Ok(Opened {
        store: FileStore::new(opts.store, opts.now),
        restored: Restored::default(),
        info: opts.server_info,
        created: true,
        repairs: Vec::new(),
        archived: Vec::new(),
        lock,
        dir: opts.dir,
    })
}
