//! The file store's IO side: it only moves bytes between the store
//! directory and [`stan_core`]'s pure file store
//! ([`stan_core::stan::filestore`], nats-streaming-server 0.25.6's on-disk
//! format).
//!
//! * [`open()`]: creates and locks the directory, writes `server.dat` for a
//!   new store, or reads every file, recovers, checks the cluster ID,
//!   applies the repairs (torn tails truncated, indexes rewritten, slices
//!   removed) and resumes a [`FileStore`](stan_core::stan::filestore::FileStore);
//! * [`IoThread`]: a thread that carries out the store's
//!   [`IoBatch`](stan_core::stan::filestore::IoBatch)es (appends, atomic
//!   replaces, removals, channel directories, syncs) and reports their
//!   completions, and counts how long its syncs take ([`SyncLatency`]).
//!
//! The directory is locked as the Go server locks it (a Go server and ours
//! exclude each other, see [`DirLock`]). The whole store is read into
//! memory at open: the file store keeps the messages in memory.
//!
//! The engine's loop hands each batch from
//! [`Store::poll_io`](stan_core::stan::store::Store::poll_io) to
//! [`IoThread::submit`], and each completion from [`IoThread::try_done`]
//! (polled when the waker given at spawn fires) to
//! [`Store::handle_io_done`](stan_core::stan::store::Store::handle_io_done).
//!
//! ```
//! use std::time::Duration;
//! use stan_core::stan::store::{ChannelLimits, Fetch, Store, StoredMsg};
//! use stan_proto::{MsgProto, ServerInfo};
//! use stan_store::{open, IoThread, OpenOptions};
//!
//! let dir = std::env::temp_dir().join(format!("stan-store-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let info = ServerInfo { cluster_id: "test-cluster".into(), ..Default::default() };
//! let options = || OpenOptions::new(&dir, "test-cluster", info.clone(), 1_700_000_000_000_000_000);
//!
//! // A new store: server.dat written, the directory locked.
//! let mut opened = open(options()).unwrap();
//! assert!(opened.created);
//! let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap();
//! let store = &mut opened.store;
//! store.create_channel("orders", ChannelLimits::default()).unwrap();
//! let msg = MsgProto { sequence: 1, subject: "orders".into(), data: "order-1".into(), ..Default::default() };
//! store.append("orders", StoredMsg::encode(&msg)).unwrap();
//!
//! // The engine's loop: batches out, completions back, until all is durable.
//! while !store.is_idle() {
//!     if let Some(batch) = store.poll_io() {
//!         io.submit(batch);
//!     }
//!     if let Some(done) = io.wait_done(Duration::from_secs(5)) {
//!         assert_eq!(store.handle_io_done(done), None);
//!     }
//! }
//! assert_eq!(store.durable_mark(), store.write_mark());
//! drop(io);
//! drop(opened);
//!
//! // Reopened: the message is recovered (its index in memory; its payload
//! // is read back from the slice when delivered).
//! let mut opened = open(options()).unwrap();
//! assert!(!opened.created);
//! assert_eq!(opened.store.stats("orders").unwrap().last_seq, 1);
//! assert_eq!(opened.store.fetch("orders", 1), Fetch::Reading);
//! let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap();
//! let batch = opened.store.poll_io().unwrap();
//! io.submit(batch);
//! let done = io.wait_done(Duration::from_secs(5)).unwrap();
//! assert_eq!(opened.store.handle_io_done(done), None);
//! let Fetch::Found(msg) = opened.store.fetch("orders", 1) else { panic!("read back") };
//! assert_eq!(msg.decode().unwrap().data, "order-1");
//! drop(io);
//! drop(opened);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod apply;
mod archive;
mod cache;
mod engine_io;
mod fsutil;
mod import;
mod io_thread;
mod load;
mod lock;
mod open;
mod repair;
mod sync_latency;

pub use apply::Failed;
pub use archive::{rename_slice, Archived, RenamedSlice, ScriptRuns};
pub use cache::DEFAULT_MAX_OPEN_FILES;
pub use engine_io::EngineIo;
pub use fsutil::StepError;
pub use import::{import, ChannelReport, ImportError, ImportOptions, ImportReport, SubReport};
pub use io_thread::{IoThread, SpawnError, Waker, THREAD_NAME};
pub use load::{load, LoadError};
pub use lock::{DirLock, LockError};
pub use open::{open, LimitsFn, OpenError, OpenOptions, Opened};
pub use repair::{apply_repairs, RepairError, Repaired};
pub use sync_latency::SyncLatency;
