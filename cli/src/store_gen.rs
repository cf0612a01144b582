//! `stan-store-gen`: writes a large store directory in the file store's
//! format (nats-streaming-server 0.25.x's, which is ours) for recovery and
//! import measurements, through the real pieces: [`stan_store::open`], the
//! pure [`FileStore`] and the [`IoThread`], as the server writes.
//!
//! Messages go round-robin to `--channels` channels named `gen.0`,
//! `gen.1`, ... (sequences 1.., increasing timestamps) until the message
//! records of the data files (8-byte header + `MsgProto`) reach `--size`.
//! Each payload is `--msg-size` pseudo-random bytes derived from the seed,
//! the channel and the sequence alone ([`payload`]), so a reader can
//! regenerate any of them. With `--subs`, each channel also gets two offline
//! durable subscriptions with pending messages (their clients registered,
//! then gone, as Go leaves them when a client closes).
//!
//! Memory: the writes are handed to the IO thread every
//! [`GenOptions::batch_msgs`] messages and waited for, so the staged bytes
//! stay bounded; the file store keeps the payloads in a bounded cache
//! ([`FileStoreOptions::cache_bytes`], never dropping one not yet written),
//! so the generator's memory does not grow with `--size`. [`verify`]
//! reopens the directory as the server does and reads the payloads it
//! checks back from the slices ([`fetch_msg`]).
//!
//! ```
//! use stan_cli::store_gen::{generate, verify, GenOptions};
//!
//! let dir = std::env::temp_dir().join(format!("stan-store-gen-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let opts = GenOptions {
//!     size: 200_000,
//!     channels: 2,
//!     msg_size: 100,
//!     subs: true,
//!     ..GenOptions::new(&dir)
//! };
//! let report = generate(&opts).unwrap();
//! assert_eq!(report.channels.len(), 2);
//! assert!(report.record_bytes >= 200_000);
//! let checked = verify(&opts, &report).unwrap();
//! assert!(checked.spot_checked > 0);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::stan::filestore::{FileStore, FileStoreOptions, IoFailure};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::{
    ChannelLimits, ClientRecord, Fetch, Store, StoreError, StoredMsg, SubRecord,
};
use stan_proto::{ClientInfo, MsgProto, SubState};
use stan_store::{IoThread, OpenError, OpenOptions, SpawnError};

use crate::flags::{self, FlagError, Kind, Spec};
use crate::server_opts::parse_size;

/// Every flag `stan-store-gen` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["dir"],
        kind: Kind::Str,
        value: "dir",
        help: "Store directory to create (must not exist, or be empty)",
    },
    Spec {
        names: &["size"],
        kind: Kind::Str,
        value: "size",
        help: "Bytes of message records to write (1G = 10^9, 1GB = 2^30; default 1GB)",
    },
    Spec {
        names: &["channels"],
        kind: Kind::Int,
        value: "n",
        help: "Number of channels, filled round-robin (default 4)",
    },
    Spec {
        names: &["msg-size", "msg_size"],
        kind: Kind::Str,
        value: "size",
        help: "Payload bytes per message (default 1KB = 1024)",
    },
    Spec {
        names: &["slice-max-bytes", "file_slice_max_bytes"],
        kind: Kind::Str,
        value: "size",
        help: "Most bytes in a slice's data file (default 64MB)",
    },
    Spec {
        names: &["subs"],
        kind: Kind::Bool,
        value: "",
        help: "Add two offline durable subscriptions with pending messages per channel",
    },
    Spec {
        names: &["cluster-id", "cluster_id", "cid"],
        kind: Kind::Str,
        value: "string",
        help: "Cluster ID written in server.dat (default: test-cluster)",
    },
    Spec {
        names: &["seed"],
        kind: Kind::Int,
        value: "n",
        help: "Seed of the payloads (default 1)",
    },
    Spec {
        names: &["verify"],
        kind: Kind::Bool,
        value: "",
        help: "Reopen the store afterwards and check it (default: true)",
    },
    Spec {
        names: &["spot-checks"],
        kind: Kind::Int,
        value: "n",
        help: "Payloads checked per channel by the verification (default 64)",
    },
];

/// Nanoseconds between two consecutive messages' timestamps (all channels
/// taken together).
pub const TIMESTAMP_STEP_NS: i64 = 1_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The store directory (created; must not exist or be empty).
    pub dir: PathBuf,
    /// Bytes of message records (header + `MsgProto`) to write, in all.
    pub size: u64,
    /// Number of channels.
    pub channels: usize,
    /// Payload bytes per message.
    pub msg_size: usize,
    /// Most bytes in a slice's data file (`--file_slice_max_bytes`).
    pub slice_max_bytes: u64,
    /// Add offline durable subscriptions with pending messages.
    pub subs: bool,
    /// The cluster ID.
    pub cluster_id: String,
    /// Seed of the payloads.
    pub seed: u64,
    /// Timestamp of the first message, Unix ns.
    pub start_ns: i64,
    /// Messages staged between two hand-overs to the IO thread.
    pub batch_msgs: usize,
    /// Reopen and check the store after writing it (the binary's
    /// `--verify`).
    pub verify: bool,
    /// Payloads checked per channel by [`verify`] (besides the first and
    /// the last).
    pub spot_checks: usize,
    /// Payload bytes the file store keeps in memory
    /// ([`FileStoreOptions::cache_bytes`]).
    pub cache_bytes: u64,
}

impl GenOptions {
    /// The defaults (1 GiB, 4 channels, 1 KiB messages, 64 MiB slices, no
    /// subscriptions, `test-cluster`, seed 1, first timestamp now) over
    /// `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> GenOptions {
        GenOptions {
            dir: dir.into(),
            size: 1 << 30,
            channels: 4,
            msg_size: 1024,
            slice_max_bytes: FileStoreOptions::default().slice_max_bytes,
            subs: false,
            cluster_id: "test-cluster".into(),
            seed: 1,
            start_ns: crate::unix_now_ns(),
            batch_msgs: 4096,
            verify: true,
            spot_checks: 64,
            cache_bytes: FileStoreOptions::default().cache_bytes,
        }
    }

    /// The timestamp of message `seq` of channel `channel` (0-based index):
    /// the messages, taken round-robin, are [`TIMESTAMP_STEP_NS`] apart.
    pub fn timestamp(&self, channel: usize, seq: u64) -> i64 {
        let n = self.channels as u64;
        let index = (seq - 1) * n + channel as u64;
        self.start_ns.saturating_add(
            i64::try_from(index)
                .unwrap_or(i64::MAX)
                .saturating_mul(TIMESTAMP_STEP_NS),
        )
    }

    fn file_store_options(&self) -> FileStoreOptions {
        FileStoreOptions {
            sync: false,
            slice_max_bytes: self.slice_max_bytes,
            max_channels: 0,
            cache_bytes: self.cache_bytes,
            ..FileStoreOptions::default()
        }
    }

    fn open_options(&self) -> OpenOptions {
        let config = ServerConfig {
            cluster_id: self.cluster_id.clone(),
            ..ServerConfig::default()
        };
        let mut o = OpenOptions::new(
            &self.dir,
            self.cluster_id.clone(),
            config.server_info(),
            crate::unix_now_ns(),
        );
        o.store = self.file_store_options();
        o.limits = Box::new(|_| unlimited());
        o
    }
}

/// Channel limits that keep everything (the generator's and the
/// verification's: what is written is what is read back).
fn unlimited() -> ChannelLimits {
    ChannelLimits {
        max_msgs: 0,
        max_bytes: 0,
        max_age: Duration::ZERO,
        ..ChannelLimits::default()
    }
}

/// The name of channel `i` (0-based).
pub fn channel_name(i: usize) -> String {
    format!("gen.{i}")
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The payload of message `seq` of channel `channel` (0-based index):
/// `len` bytes of xorshift64* seeded from `seed`, `channel` and `seq`.
pub fn payload(seed: u64, channel: usize, seq: u64, len: usize) -> Vec<u8> {
    let mut x = splitmix64(seed ^ splitmix64(((channel as u64) << 40) ^ seq));
    if x == 0 {
        x = 0x2545_F491_4F6C_DD1D;
    }
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let word = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&word[..take]);
    }
    out
}

/// The message `seq` of channel `channel` as the generator writes it.
pub fn message(opts: &GenOptions, channel: usize, seq: u64) -> MsgProto {
    MsgProto {
        sequence: seq,
        subject: channel_name(channel),
        data: Bytes::from(payload(opts.seed, channel, seq, opts.msg_size)),
        timestamp: opts.timestamp(channel, seq),
        ..MsgProto::default()
    }
}

/// Why the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenOptsError {
    /// A flag-level error (`-h` included).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A value missing or out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The usage text.
pub fn usage() -> String {
    flags::usage("stan-store-gen", SPECS)
}

/// Parses `stan-store-gen`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<GenOptions, GenOptsError> {
    let v = flags::parse(SPECS, args)?;
    let invalid = |s: String| GenOptsError::Invalid(s);
    let dir = v
        .get("dir")
        .ok_or_else(|| invalid("--dir is required".into()))?;
    let mut o = GenOptions::new(dir);
    let size = |name: &str, default: u64| -> Result<u64, GenOptsError> {
        match v.get(name) {
            None => Ok(default),
            Some(s) => parse_size(s).map_err(|e| invalid(format!("--{name}: {e}"))),
        }
    };
    o.size = size("size", o.size)?;
    if o.size == 0 {
        return Err(invalid("--size: expected more than 0".into()));
    }
    o.msg_size = usize::try_from(size("msg-size", o.msg_size as u64)?)
        .ok()
        .filter(|&n| n <= 64 << 20)
        .ok_or_else(|| invalid("--msg-size: expected at most 64MB".into()))?;
    o.slice_max_bytes = size("slice-max-bytes", o.slice_max_bytes)?;
    if let Some(n) = v.int("channels") {
        o.channels = usize::try_from(n)
            .ok()
            .filter(|&n| (1..=100_000).contains(&n))
            .ok_or_else(|| invalid(format!("--channels {n}: expected 1..=100000")))?;
    }
    if let Some(n) = v.int("spot-checks") {
        o.spot_checks = usize::try_from(n)
            .map_err(|_| invalid(format!("--spot-checks {n}: expected 0 or more")))?;
    }
    if let Some(n) = v.int("seed") {
        o.seed = n as u64;
    }
    if let Some(cid) = v.get("cluster-id") {
        if cid.is_empty() {
            return Err(invalid("--cluster-id: expected a non-empty ID".into()));
        }
        o.cluster_id = cid.to_owned();
    }
    o.subs = v.flag("subs");
    o.verify = v.get("verify").is_none_or(|s| s == "true");
    Ok(o)
}

/// Why generating or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The directory already holds something.
    #[error("{0:?} exists and is not empty: the generator writes a new store")]
    NotEmpty(PathBuf),
    /// The store does not open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The IO thread does not start.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The store refused a message.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A write failed.
    #[error("write failed: {0}")]
    Io(IoFailure),
    /// The IO thread did not complete a batch in time.
    #[error("the IO thread did not complete a batch within {0:?}")]
    Stalled(Duration),
    /// Listing the directory failed.
    #[error("reading {path:?}: {source}")]
    Walk {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The reopened store does not hold what was written.
    #[error("check failed: {0}")]
    Check(String),
}

/// One subscription written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSub {
    /// ID in the channel.
    pub id: u64,
    /// Owner (registered, then unregistered).
    pub client_id: String,
    /// Durable name.
    pub durable: String,
    /// Last sequence sent.
    pub last_sent: u64,
    /// Sequences sent and not acknowledged.
    pub pending: Vec<u64>,
}

/// One channel written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenChannel {
    /// Name.
    pub name: String,
    /// Messages.
    pub msgs: u64,
    /// Bytes, as the store accounts them (records and index entries).
    pub bytes: u64,
    /// First sequence.
    pub first_seq: u64,
    /// Last sequence.
    pub last_seq: u64,
    /// Slices (`msgs.N.dat` files).
    pub slices: u64,
    /// Bytes on disk of the channel's directory.
    pub disk_bytes: u64,
    /// Subscriptions.
    pub subs: Vec<GenSub>,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct GenReport {
    /// The directory.
    pub dir: PathBuf,
    /// The cluster ID.
    pub cluster_id: String,
    /// Each channel.
    pub channels: Vec<GenChannel>,
    /// Bytes of message records written (headers + `MsgProto`s).
    pub record_bytes: u64,
    /// Files in the directory (the lock file included).
    pub files: u64,
    /// Bytes of all of them.
    pub disk_bytes: u64,
    /// IO batches written.
    pub batches: u64,
    /// Payload bytes the file store held in memory at the end.
    pub cached_bytes: u64,
    /// Time to generate, write and close.
    pub elapsed: Duration,
    /// Peak resident set size of this process so far (Linux), bytes.
    pub peak_rss: Option<u64>,
}

impl GenReport {
    /// Messages in all channels.
    pub fn msgs(&self) -> u64 {
        self.channels.iter().map(|c| c.msgs).sum()
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for GenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "wrote {:?} (cluster ID {:?}) in {:.2} s: {} channels, {} messages, {} bytes ({:.1} MiB) of message records, {:.1} MiB/s; {} files, {} bytes ({:.1} MiB) on disk; {} IO batches",
            self.dir,
            self.cluster_id,
            secs,
            self.channels.len(),
            self.msgs(),
            self.record_bytes,
            mib(self.record_bytes),
            mib(self.record_bytes) / secs.max(1e-9),
            self.files,
            self.disk_bytes,
            mib(self.disk_bytes),
            self.batches,
        )?;
        if let Some(rss) = self.peak_rss {
            writeln!(
                f,
                "peak RSS of the generator: {:.1} MiB; payloads cached by the file store at the end: {:.1} MiB",
                mib(rss),
                mib(self.cached_bytes)
            )?;
        }
        let d = ChannelLimits::default();
        for c in &self.channels {
            writeln!(
                f,
                "channel {:?}: {} messages, sequences {}..{}, {} bytes, {} slices, {} bytes on disk, {} subscriptions",
                c.name, c.msgs, c.first_seq, c.last_seq, c.bytes, c.slices, c.disk_bytes, c.subs.len()
            )?;
            for s in &c.subs {
                writeln!(
                    f,
                    "  sub {} durable {:?} client {:?} offline, last_sent={}, {} pending",
                    s.id,
                    s.durable,
                    s.client_id,
                    s.last_sent,
                    s.pending.len()
                )?;
            }
            if (d.max_msgs > 0 && c.msgs > d.max_msgs) || (d.max_bytes > 0 && c.bytes > d.max_bytes)
            {
                writeln!(
                    f,
                    "  warning: over the default channel limits ({} messages, {} bytes): a server with the defaults drops the oldest at recovery (use -mm 0 -mb 0)",
                    d.max_msgs, d.max_bytes
                )?;
            }
        }
        Ok(())
    }
}

/// What [`verify`] checked.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Time `stan_store::open` took to recover the store.
    pub recovered_in: Duration,
    /// Payloads regenerated and compared.
    pub spot_checked: u64,
    /// Subscriptions compared.
    pub subs_checked: u64,
    /// Peak resident set size of this process so far (Linux), bytes.
    pub peak_rss: Option<u64>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verified: reopened (recovered in {:.2} s); counts and sequences match, {} payloads and timestamps regenerated and equal, {} subscriptions match",
            self.recovered_in.as_secs_f64(),
            self.spot_checked,
            self.subs_checked
        )?;
        if let Some(rss) = self.peak_rss {
            write!(f, "; peak RSS so far {:.1} MiB", mib(rss))?;
        }
        Ok(())
    }
}

/// The peak resident set size of this process (`VmHWM`), on Linux.
pub fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Longest wait for one batch's completion.
const BATCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Hands the IO thread what is staged; with a batch in flight, waits for
/// it first (the journal keeps one in flight: the next chunk of messages
/// is generated while this one is written).
struct Pump {
    in_flight: bool,
}

impl Pump {
    fn wait(&mut self, store: &mut FileStore, io: &IoThread) -> Result<(), GenError> {
        if !self.in_flight {
            return Ok(());
        }
        let done = io
            .wait_done(BATCH_TIMEOUT)
            .ok_or(GenError::Stalled(BATCH_TIMEOUT))?;
        self.in_flight = false;
        match store.handle_io_done(done) {
            Some(failure) => Err(GenError::Io(failure)),
            None => Ok(()),
        }
    }

    fn step(&mut self, store: &mut FileStore, io: &IoThread) -> Result<(), GenError> {
        self.wait(store, io)?;
        if let Some(batch) = store.poll_io() {
            io.submit(batch);
            self.in_flight = true;
        }
        Ok(())
    }

    fn drain(&mut self, store: &mut FileStore, io: &IoThread) -> Result<(), GenError> {
        loop {
            self.step(store, io)?;
            if !self.in_flight {
                break;
            }
        }
        if let Some(f) = store.failure() {
            return Err(GenError::Io(f.clone()));
        }
        if !store.is_idle() {
            return Err(GenError::Check(
                "writes left staged after the last batch".into(),
            ));
        }
        Ok(())
    }
}

/// The subscriptions of channel `c` holding `last` messages: two offline
/// durables, the first having been sent up to a third of the channel, the
/// second up to two thirds, each with up to 100 messages sent of which
/// every third acknowledged.
fn plan_subs(opts: &GenOptions, c: usize, last: u64) -> Vec<(SubState, Vec<u64>, Vec<u64>)> {
    let acks = ServerConfig {
        cluster_id: opts.cluster_id.clone(),
        ..ServerConfig::default()
    }
    .server_info()
    .acks_subs;
    (0..2u64)
        .map(|k| {
            let start = last * (k + 1) / 3;
            let end = (start + 100).min(last);
            let sent: Vec<u64> = (start + 1..=end).collect();
            let acked: Vec<u64> = sent.iter().copied().filter(|s| s % 3 == 0).collect();
            let state = SubState {
                id: k + 1,
                client_id: format!("gen-client-{c}-{k}"),
                q_group: String::new(),
                inbox: format!("_INBOX.gen.{c}.{k}"),
                ack_inbox: format!("{acks}.gen.{c}.{k}"),
                max_in_flight: 1024,
                ack_wait_in_secs: 30,
                durable_name: format!("durable-{k}"),
                last_sent: start,
                is_durable: true,
                is_closed: false,
            };
            (state, sent, acked)
        })
        .collect()
}

/// Writes the subscriptions of every channel (clients registered, subs
/// created, messages sent and some acknowledged, the durables closed, the
/// clients unregistered).
fn write_subs(opts: &GenOptions, store: &mut FileStore, counts: &[u64]) -> Vec<Vec<GenSub>> {
    let mut all = Vec::new();
    for (c, &last) in counts.iter().enumerate() {
        let name = channel_name(c);
        let mut subs = Vec::new();
        for (mut state, sent, acked) in plan_subs(opts, c, last) {
            store.record_client(ClientRecord::Added(ClientInfo {
                id: state.client_id.clone(),
                hb_inbox: format!("_INBOX.gen.hb.{c}.{}", state.id),
                conn_id: Bytes::from(format!("gen-conn-{c}-{}", state.id)),
                protocol: 1,
                ping_interval: 5,
                ping_max_out: 3,
            }));
            store.record_sub(&name, SubRecord::New(state.clone()));
            for &seq in &sent {
                store.record_sub(&name, SubRecord::Sent { id: state.id, seq });
            }
            for &seq in &acked {
                store.record_sub(&name, SubRecord::Acked { id: state.id, seq });
            }
            state.last_sent = sent.last().copied().unwrap_or(state.last_sent);
            state.is_closed = true;
            store.record_sub(&name, SubRecord::Update(state.clone()));
            store.record_client(ClientRecord::Removed(state.client_id.clone()));
            subs.push(GenSub {
                id: state.id,
                client_id: state.client_id,
                durable: state.durable_name,
                last_sent: state.last_sent,
                pending: sent.into_iter().filter(|s| s % 3 != 0).collect(),
            });
        }
        all.push(subs);
    }
    all
}

fn walk(path: &Path, files: &mut u64, bytes: &mut u64) -> Result<(), GenError> {
    let err = |source| GenError::Walk {
        path: path.to_owned(),
        source,
    };
    for entry in fs::read_dir(path).map_err(err)? {
        let entry = entry.map_err(err)?;
        let meta = entry.metadata().map_err(err)?;
        if meta.is_dir() {
            walk(&entry.path(), files, bytes)?;
        } else {
            *files += 1;
            *bytes += meta.len();
        }
    }
    Ok(())
}

/// Generates the store. See the module docs.
pub fn generate(opts: &GenOptions) -> Result<GenReport, GenError> {
    let started = Instant::now();
    if let Ok(mut entries) = fs::read_dir(&opts.dir) {
        if entries.next().is_some() {
            return Err(GenError::NotEmpty(opts.dir.clone()));
        }
    }
    let mut opened = stan_store::open(opts.open_options())?;
    if !opened.created {
        return Err(GenError::NotEmpty(opts.dir.clone()));
    }
    let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {}))?;
    let store = &mut opened.store;
    let mut pump = Pump { in_flight: false };
    for c in 0..opts.channels {
        store.create_channel(&channel_name(c), unlimited())?;
    }
    pump.step(store, &io)?;

    let mut counts = vec![0u64; opts.channels];
    let mut record_bytes = 0u64;
    let mut staged = 0usize;
    'fill: loop {
        for (c, count) in counts.iter_mut().enumerate() {
            *count += 1;
            let msg = StoredMsg::encode(&message(opts, c, *count));
            record_bytes += 8 + msg.encoded.len() as u64;
            store.append(&channel_name(c), msg)?;
            staged += 1;
            if staged >= opts.batch_msgs.max(1) {
                pump.step(store, &io)?;
                staged = 0;
            }
            if record_bytes >= opts.size {
                break 'fill;
            }
        }
    }
    let subs = if opts.subs {
        write_subs(opts, store, &counts)
    } else {
        vec![Vec::new(); opts.channels]
    };
    pump.drain(store, &io)?;
    let batches = store.batches();
    let cached_bytes = store.cached_bytes();
    let mut channels = Vec::new();
    for (c, subs) in subs.into_iter().enumerate() {
        let name = channel_name(c);
        let st = store.stats(&name).unwrap_or_default();
        channels.push(GenChannel {
            name,
            msgs: st.msgs,
            bytes: st.bytes,
            first_seq: st.first_seq,
            last_seq: st.last_seq,
            slices: 0,
            disk_bytes: 0,
            subs,
        });
    }
    io.shutdown();
    drop(opened);
    let elapsed = started.elapsed();

    let (mut files, mut disk_bytes) = (0, 0);
    walk(&opts.dir, &mut files, &mut disk_bytes)?;
    for ch in &mut channels {
        let dir = opts.dir.join(&ch.name);
        let (mut f, mut b) = (0, 0);
        walk(&dir, &mut f, &mut b)?;
        ch.disk_bytes = b;
        ch.slices = fs::read_dir(&dir)
            .map_err(|source| GenError::Walk {
                path: dir.clone(),
                source,
            })?
            .filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("msgs.") && n.ends_with(".dat")
            })
            .count() as u64;
    }
    Ok(GenReport {
        dir: opts.dir.clone(),
        cluster_id: opts.cluster_id.clone(),
        channels,
        record_bytes,
        files,
        disk_bytes,
        batches,
        cached_bytes,
        elapsed,
        peak_rss: peak_rss(),
    })
}

/// Message `seq` of `channel`: from memory, or read back from its slice
/// through `io` (the file store keeps a bounded cache of payloads; a
/// recovered one keeps none). `None`: not stored.
pub fn fetch_msg(
    store: &mut FileStore,
    io: &IoThread,
    channel: &str,
    seq: u64,
) -> Result<Option<StoredMsg>, GenError> {
    match store.fetch(channel, seq) {
        Fetch::Found(m) => Ok(Some(m)),
        Fetch::Gone => Ok(None),
        Fetch::Reading => {
            Pump { in_flight: false }.drain(store, io)?;
            while store.poll_read().is_some() {}
            if let Some(trouble) = store.poll_read_trouble() {
                return Err(GenError::Check(format!("{channel:?} {seq}: {trouble}")));
            }
            store.lookup(channel, seq).map(Some).ok_or_else(|| {
                GenError::Check(format!("{channel:?} {seq}: read back, yet not in memory"))
            })
        }
    }
}

/// The sequences [`verify`] regenerates in a channel of `last` messages:
/// the first, the last, and `n` drawn from the seed.
pub fn spot_sequences(seed: u64, channel: usize, last: u64, n: usize) -> Vec<u64> {
    if last == 0 {
        return Vec::new();
    }
    let mut rng = fastrand::Rng::with_seed(splitmix64(seed ^ 0x5eed ^ channel as u64));
    let mut seqs = vec![1, last];
    seqs.extend((0..n).map(|_| rng.u64(1..=last)));
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Reopens the directory with [`stan_store::open`] and checks it against
/// `report` and `opts`: channels, counts, first and last sequences, some
/// payloads and timestamps regenerated from the seed, the subscriptions
/// and their pending messages, no client left registered.
pub fn verify(opts: &GenOptions, report: &GenReport) -> Result<VerifyReport, GenError> {
    let started = Instant::now();
    let mut opened = stan_store::open(opts.open_options())?;
    let recovered_in = started.elapsed();
    let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {}))?;
    let check = |ok: bool, what: String| {
        if ok {
            Ok(())
        } else {
            Err(GenError::Check(what))
        }
    };
    check(
        !opened.created,
        "the store was not recovered (created anew)".into(),
    )?;
    check(
        opened.repairs.is_empty(),
        format!("the store needed repairs: {:?}", opened.repairs),
    )?;
    let store = &mut opened.store;
    let names: Vec<String> = store.channel_names().map(str::to_owned).collect();
    let want: Vec<&str> = report.channels.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = want.clone();
    sorted.sort_unstable();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    check(
        names == sorted,
        format!("channels {names:?}, expected {want:?}"),
    )?;
    check(
        opened.restored.clients.is_empty(),
        format!(
            "{} clients registered, expected none",
            opened.restored.clients.len()
        ),
    )?;
    let (mut spot_checked, mut subs_checked) = (0, 0);
    for (c, ch) in report.channels.iter().enumerate() {
        let st = store.stats(&ch.name).unwrap_or_default();
        check(
            (st.msgs, st.bytes, st.first_seq, st.last_seq)
                == (ch.msgs, ch.bytes, ch.first_seq, ch.last_seq),
            format!("channel {:?}: {st:?} recovered, {ch:?} written", ch.name),
        )?;
        for seq in spot_sequences(opts.seed, c, ch.last_seq, opts.spot_checks) {
            let got = fetch_msg(store, &io, &ch.name, seq)?
                .ok_or_else(|| GenError::Check(format!("{:?} {seq}: missing", ch.name)))?
                .decode()
                .map_err(|e| GenError::Check(format!("{:?} {seq}: {e}", ch.name)))?;
            check(
                got == message(opts, c, seq),
                format!(
                    "{:?} {seq}: recovered message differs (sequence {}, subject {:?}, timestamp {}, {} bytes)",
                    ch.name,
                    got.sequence,
                    got.subject,
                    got.timestamp,
                    got.data.len()
                ),
            )?;
            spot_checked += 1;
        }
        let restored = opened.restored.channels.get(&ch.name);
        let got = restored.map_or(0, |r| r.subs.len());
        check(
            got == ch.subs.len(),
            format!(
                "{:?}: {got} subscriptions, expected {}",
                ch.name,
                ch.subs.len()
            ),
        )?;
        for s in &ch.subs {
            let r = restored
                .and_then(|r| r.subs.get(&s.id))
                .ok_or_else(|| GenError::Check(format!("{:?}: sub {} missing", ch.name, s.id)))?;
            let pending: Vec<u64> = r.pending.iter().copied().collect();
            check(
                r.state.durable_name == s.durable
                    && r.state.client_id == s.client_id
                    && r.state.is_closed
                    && r.state.last_sent == s.last_sent
                    && pending == s.pending,
                format!(
                    "{:?}: sub {} recovered as {r:?}, expected {s:?}",
                    ch.name, s.id
                ),
            )?;
            subs_checked += 1;
        }
    }
    Ok(VerifyReport {
        recovered_in,
        spot_checked,
        subs_checked,
        peak_rss: peak_rss(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_flags() {
        let o = parse(args(&[
            "--dir",
            "/x",
            "--size",
            "1G",
            "--channels",
            "3",
            "--msg-size",
            "512",
            "--slice-max-bytes",
            "1MB",
            "--subs",
            "--cluster-id",
            "c1",
            "--seed",
            "7",
            "--verify=false",
        ]))
        .unwrap();
        assert_eq!(o.dir, PathBuf::from("/x"));
        assert_eq!(o.size, 1_000_000_000);
        assert_eq!(
            (o.channels, o.msg_size, o.slice_max_bytes),
            (3, 512, 1 << 20)
        );
        assert!(o.subs && !o.verify);
        assert_eq!((o.cluster_id.as_str(), o.seed), ("c1", 7));

        let d = parse(args(&["--dir", "/x"])).unwrap();
        assert_eq!((d.size, d.channels, d.msg_size), (1 << 30, 4, 1024));
        assert_eq!(d.slice_max_bytes, 64 << 20);
        assert!(!d.subs && d.verify);
        assert_eq!(d.cluster_id, "test-cluster");
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            vec![],
            vec!["--dir", "/x", "--size", "0"],
            vec!["--dir", "/x", "--size", "lots"],
            vec!["--dir", "/x", "--channels", "0"],
            vec!["--dir", "/x", "--cluster-id", ""],
        ] {
            assert!(
                matches!(parse(args(&bad)), Err(GenOptsError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse(args(&["-h"])).unwrap_err(),
            GenOptsError::Flag(FlagError::Help)
        );
    }

    #[test]
    fn payloads_are_deterministic_and_distinct() {
        assert_eq!(payload(1, 0, 5, 100), payload(1, 0, 5, 100));
        assert_ne!(payload(1, 0, 5, 100), payload(1, 0, 6, 100));
        assert_ne!(payload(1, 0, 5, 100), payload(1, 1, 5, 100));
        assert_ne!(payload(1, 0, 5, 100), payload(2, 0, 5, 100));
        assert_eq!(payload(1, 0, 5, 13).len(), 13);
        assert_eq!(payload(1, 0, 5, 0).len(), 0);
        // A prefix of a longer payload: the length only truncates.
        assert_eq!(payload(3, 2, 9, 40)[..20], payload(3, 2, 9, 20)[..]);
    }

    #[test]
    fn timestamps_increase_round_robin() {
        let o = GenOptions {
            channels: 3,
            start_ns: 1_000,
            ..GenOptions::new("/x")
        };
        assert_eq!(o.timestamp(0, 1), 1_000);
        assert_eq!(o.timestamp(2, 1), 1_000 + 2 * TIMESTAMP_STEP_NS);
        assert_eq!(o.timestamp(0, 2), 1_000 + 3 * TIMESTAMP_STEP_NS);
        let seqs = spot_sequences(1, 0, 50, 10);
        assert_eq!((seqs[0], *seqs.last().unwrap()), (1, 50));
        assert!(spot_sequences(1, 0, 0, 10).is_empty());
    }
}
