//! [`FileStore`]: the engine's [`Store`] over a store directory, pure. It
//! keeps each channel's message index and a bounded cache of payloads
//! ([`MsgLog`]; the rest read back on demand, `reads`) and turns every
//! change into operations staged in its [`Journal`]: messages appended to
//! the current slice (`msgs.<N>.dat` and its index), a new slice when the
//! current one is full (`--file_slice_max_msgs/_bytes/_age`), whole slices
//! deleted once the limits dropped all their messages, and the client and
//! subscription records with their compaction (`logs`). A recovered
//! directory is resumed by [`FileStore::recovered`] (`recovered`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stan_proto::{ClientInfo, ServerInfo};

use super::crc::Crc32;
use super::crypto::{Encryption, EncryptionOptions, StoreEncryption};
use super::index::IndexEntry;
use super::io::{FileOp, IoBatch, IoDone, IoFailure};
use super::journal::Journal;
use super::layout::FileId;
use super::msglog::MsgLog;
use super::msgs::MSG_RECORD_OVERHEAD;

mod logs;
mod reads;
mod recovered;

use super::record::{encode_message, put_version, RecordTag, RECORD_HEADER_SIZE, VERSION_SIZE};
use super::subs::RecoveredSub;
use crate::stan::store::{
    ChannelLimits, ChannelStats, ClientRecord, Fetch, ReadTrouble, Store, StoreError, StoredMsg,
    SubRecord,
};
use logs::LogFile;
pub use recovered::{Restored, RestoredChannel};

/// How the file store writes (Go's `FileStoreOptions`, with its defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStoreOptions {
    /// Sync the files before a batch is reported durable (`--file_sync`).
    pub sync: bool,
    /// The CRC-32 of the records (`--file_crc_poly`). Records are always
    /// written with their CRC; `--file_crc=false` only skips checking them
    /// at recovery.
    pub crc: Crc32,
    /// Most messages in a slice (`--file_slice_max_msgs`, 0: unlimited).
    pub slice_max_msgs: u64,
    /// Most bytes in a slice's data file (`--file_slice_max_bytes`).
    pub slice_max_bytes: u64,
    /// Oldest message of a slice before a new one starts
    /// (`--file_slice_max_age`, zero: unlimited).
    pub slice_max_age: Duration,
    /// Compact `subs.dat` and `clients.dat` (`--file_compact_enabled`).
    pub compact: bool,
    /// Obsolete records, in percent of all, above which a file is compacted
    /// (`--file_compact_frag`).
    pub compact_fragmentation: u32,
    /// Least time between two compactions of a file
    /// (`--file_compact_interval`).
    pub compact_interval: Duration,
    /// Smallest file compacted (`--file_compact_min_size`).
    pub compact_min_size: u64,
    /// Most channels (0: unlimited).
    pub max_channels: usize,
    /// Encrypt the messages' payloads on disk (`--encrypt`), Go's format
    /// (see [`crypto`](super::crypto)), and decrypt them at recovery.
    /// `None`: payloads are written as they are, and recovered as stored
    /// (encrypted ones stay encrypted, as with Go).
    pub encryption: Option<EncryptionOptions>,
    /// Payload bytes kept in memory; older payloads are read back from
    /// their slice when needed.
    pub cache_bytes: u64,
    /// Bytes read ahead from a slice when a payload is read back
    /// (`--file_read_buffer_size`).
    pub read_ahead: u64,
    /// Check the CRC of what is read back (`--file_crc`).
    pub verify_reads: bool,
    /// Without `sync`: how often what was written is synced
    /// (`--file_auto_sync`; zero: never).
    pub auto_sync: Duration,
    /// The script a slice emptied by the limits is handed to instead of
    /// being deleted (`--file_slice_archive_script`; `None`: deleted).
    pub slice_archive_script: Option<String>,
}

impl Default for FileStoreOptions {
    fn default() -> Self {
        FileStoreOptions {
            sync: true,
            crc: Crc32::IEEE,
            slice_max_msgs: 0,
            slice_max_bytes: 64 * 1024 * 1024,
            slice_max_age: Duration::ZERO,
            compact: true,
            compact_fragmentation: 50,
            compact_interval: Duration::from_secs(300),
            compact_min_size: 1024 * 1024,
            max_channels: 100,
            encryption: None,
            cache_bytes: 64 * 1024 * 1024,
            read_ahead: 2 * 1024 * 1024,
            verify_reads: true,
            auto_sync: Duration::from_secs(60),
            slice_archive_script: None,
        }
    }
}

/// One slice of a channel's log.
#[derive(Debug)]
struct Slice {
    number: u64,
    data: FileId,
    index: FileId,
    msgs: u64,
    last_seq: u64,
    data_len: u64,
    /// What its messages account for (size + 40 each): Go's measure of a
    /// slice against `--file_slice_max_bytes`.
    accounted: u64,
    first_timestamp: i64,
}

impl Slice {
    fn new(channel: &str, number: u64) -> Slice {
        let [data, index] = FileId::slice_files(channel, number);
        Slice {
            number,
            data,
            index,
            msgs: 0,
            last_seq: 0,
            data_len: VERSION_SIZE as u64,
            accounted: 0,
            first_timestamp: 0,
        }
    }
}

#[derive(Debug)]
struct ChannelFiles {
    /// The channel's limits (the slices' when no `--file_slice_*` is set).
    limits: ChannelLimits,
    slices: VecDeque<Slice>,
    subs_log: LogFile,
    subs: BTreeMap<u64, RecoveredSub>,
    /// The channel's encryptor, with encryption on.
    crypto: Option<Encryption>,
}

/// The file store, pure. See the module docs.
#[derive(Debug)]
pub struct FileStore {
    mem: MsgLog,
    /// Reads in flight, by token.
    reads: BTreeMap<u64, reads::PendingRead>,
    next_read: u64,
    /// Channels with messages read in (or reads to try again), for
    /// [`Store::poll_read`].
    read_in: Vec<String>,
    /// Slices whose last read failed, by (channel, slice number).
    read_retry: BTreeMap<(String, u64), reads::ReadRetry>,
    /// What went wrong reading back, for [`Store::poll_read_trouble`].
    read_trouble: VecDeque<ReadTrouble>,
    /// Messages whose record read back is damaged: not served (skipped as
    /// if removed), counted in [`FileStore::unreadable`].
    unreadable: std::collections::BTreeSet<(String, u64)>,
    /// The last sequence of each channel when the batch in flight was
    /// sealed: on disk once it completes.
    sealed: Vec<(String, u64)>,
    /// Without `sync`: when written bytes were last synced (Unix ns), and
    /// whether some were written since.
    synced_at: i64,
    unsynced: bool,
    /// While the journal is suspended: when (Unix ns) its undone batch is
    /// retried, and the wait before the retry after that.
    retry_at: Option<i64>,
    retry_backoff: i64,
    opts: FileStoreOptions,
    journal: Journal,
    channels: BTreeMap<String, ChannelFiles>,
    clients_log: LogFile,
    clients: BTreeMap<String, ClientInfo>,
    now: i64,
    scratch: BytesMut,
    /// Makes the channels' encryptors, with encryption on.
    crypto: Option<StoreEncryption>,
}

/// The wait (ns) before a suspended store retries its undone batch the
/// first time; it doubles after each failed retry, up to [`LAST_RETRY`].
const FIRST_RETRY: i64 = 1_000_000_000;
/// The longest wait between two retries (ns).
const LAST_RETRY: i64 = 30_000_000_000;

fn version_header() -> [u8; VERSION_SIZE] {
    let mut b = BytesMut::with_capacity(VERSION_SIZE);
    put_version(&mut b);
    let mut out = [0; VERSION_SIZE];
    out.copy_from_slice(&b);
    out
}

/// The bytes of a new `server.dat` holding `info`.
pub fn server_file(info: &ServerInfo, crc: &Crc32) -> Result<Bytes, StoreError> {
    let mut b = BytesMut::new();
    put_version(&mut b);
    encode_message(&mut b, RecordTag::Untyped, info, crc)
        .map_err(|e| StoreError::Io(e.to_string()))?;
    Ok(b.freeze())
}

impl FileStore {
    /// A store over an empty (just initialized) directory: `server.dat`
    /// written, nothing else yet. `now` is Unix ns.
    pub fn new(opts: FileStoreOptions, now: i64) -> FileStore {
        let clients_log = LogFile::new(FileId::Clients, VERSION_SIZE as u64, 0, 0, now);
        let mut store = FileStore::with_state(opts, now, clients_log, BTreeMap::new());
        store.journal.op(FileOp::Replace {
            file: FileId::Clients,
            data: Bytes::copy_from_slice(&version_header()),
        });
        store
    }

    /// A store with no channel yet, its clients log and clients given.
    fn with_state(
        opts: FileStoreOptions,
        now: i64,
        clients_log: LogFile,
        clients: BTreeMap<String, ClientInfo>,
    ) -> FileStore {
        FileStore {
            mem: MsgLog::new(opts.max_channels, opts.cache_bytes),
            reads: BTreeMap::new(),
            next_read: 1,
            read_in: Vec::new(),
            read_retry: BTreeMap::new(),
            read_trouble: VecDeque::new(),
            unreadable: Default::default(),
            sealed: Vec::new(),
            synced_at: now,
            unsynced: false,
            retry_at: None,
            retry_backoff: FIRST_RETRY,
            journal: Journal::new(opts.sync),
            channels: BTreeMap::new(),
            clients_log,
            clients,
            now,
            scratch: BytesMut::new(),
            crypto: opts.encryption.clone().map(StoreEncryption::new),
            opts,
        }
    }

    /// When written bytes are next synced without `sync`
    /// (`--file_auto_sync`), if any wait.
    fn auto_sync_deadline(&self) -> Option<i64> {
        let every = i64::try_from(self.opts.auto_sync.as_nanos()).unwrap_or(i64::MAX);
        // While a batch is out its completion wakes the engine anyway; a
        // failed or suspended journal takes no sync.
        let idle_journal = !self.journal.in_flight()
            && self.journal.failure().is_none()
            && self.journal.suspended().is_none();
        (!self.opts.sync && every > 0 && self.unsynced && idle_journal)
            .then(|| self.synced_at.saturating_add(every))
    }

    fn auto_sync_due(&self) -> bool {
        self.auto_sync_deadline().is_some_and(|at| at <= self.now)
    }

    /// When the undone batch of a suspended store is retried.
    fn retry_deadline(&self) -> Option<i64> {
        self.retry_at.filter(|_| !self.journal.in_flight())
    }

    /// The options.
    pub fn options(&self) -> &FileStoreOptions {
        &self.opts
    }

    /// Batches handed to the IO side so far.
    pub fn batches(&self) -> u64 {
        self.journal.batches()
    }

    /// Whether nothing is staged or in flight.
    pub fn is_idle(&self) -> bool {
        self.journal.is_idle()
    }

    /// Channel names, sorted.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.mem.channel_names()
    }

    /// Payload bytes held in memory.
    pub fn cached_bytes(&self) -> u64 {
        self.mem.cached_bytes()
    }

    /// Messages found damaged when read back (CRC or decryption), skipped.
    pub fn unreadable(&self) -> impl Iterator<Item = (&str, u64)> {
        self.unreadable.iter().map(|(c, s)| (c.as_str(), *s))
    }

    fn start_slice(&mut self, channel: &str, number: u64) {
        let slice = Slice::new(channel, number);
        let header = version_header();
        self.journal.append(&slice.data, &header);
        self.journal.append(&slice.index, &header);
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.slices.push_back(slice);
        }
    }

    /// Whether the current slice takes no more messages. With no
    /// `--file_slice_*` limit set, a slice holds a quarter of the channel's
    /// limits (age at least a second), as Go does.
    fn slice_full(&self, slice: &Slice, limits: &ChannelLimits, now: i64) -> bool {
        if slice.msgs == 0 {
            return false;
        }
        let o = &self.opts;
        let (max_msgs, max_bytes, max_age) =
            if o.slice_max_msgs == 0 && o.slice_max_bytes == 0 && o.slice_max_age.is_zero() {
                let age = if limits.max_age.is_zero() {
                    Duration::ZERO
                } else {
                    (limits.max_age / 4).max(Duration::from_secs(1))
                };
                (limits.max_msgs / 4, limits.max_bytes / 4, age)
            } else {
                (o.slice_max_msgs, o.slice_max_bytes, o.slice_max_age)
            };
        let max_age = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
        (max_msgs > 0 && slice.msgs >= max_msgs)
            || (max_bytes > 0 && slice.accounted >= max_bytes)
            || (max_age > 0 && now.saturating_sub(slice.first_timestamp) >= max_age)
    }

    /// Deletes the slices (never the current one) whose messages are all
    /// gone.
    fn drop_dead_slices(&mut self, channel: &str) {
        let first = match self.mem.stats(channel) {
            Some(st) if st.msgs > 0 => st.first_seq,
            Some(st) => st.last_seq + 1,
            None => return,
        };
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        while ch.slices.len() > 1 && ch.slices.front().is_some_and(|s| s.last_seq < first) {
            if let Some(gone) = ch.slices.pop_front() {
                match &self.opts.slice_archive_script {
                    Some(script) => self.journal.op(FileOp::ArchiveSlice {
                        channel: channel.to_owned(),
                        slice: gone.number,
                        script: script.clone(),
                    }),
                    None => {
                        self.journal.op(FileOp::Remove { file: gone.data });
                        self.journal.op(FileOp::Remove { file: gone.index });
                    }
                }
            }
        }
    }
}

impl Store for FileStore {
    fn create_channel(&mut self, channel: &str, limits: ChannelLimits) -> Result<(), StoreError> {
        if self.channels.contains_key(channel) {
            return Ok(());
        }
        self.mem.create_channel(channel, limits)?;
        self.journal.op(FileOp::CreateChannelDir {
            channel: channel.to_owned(),
        });
        let subs = FileId::Subs {
            channel: channel.to_owned(),
        };
        self.journal.op(FileOp::Replace {
            file: subs.clone(),
            data: Bytes::copy_from_slice(&version_header()),
        });
        self.channels.insert(
            channel.to_owned(),
            ChannelFiles {
                limits,
                slices: VecDeque::new(),
                subs_log: LogFile::new(subs, VERSION_SIZE as u64, 0, 0, self.now),
                subs: BTreeMap::new(),
                crypto: self.crypto.as_mut().map(|c| c.channel(channel, 1)),
            },
        );
        self.start_slice(channel, 1);
        Ok(())
    }

    fn delete_channel(&mut self, channel: &str) -> Result<(), StoreError> {
        self.mem.delete_channel(channel)?;
        self.channels.remove(channel);
        self.read_retry.retain(|(c, _), _| c != channel);
        self.unreadable.retain(|(c, _)| c != channel);
        self.journal.op(FileOp::RemoveChannelDir {
            channel: channel.to_owned(),
        });
        Ok(())
    }

    fn append(&mut self, channel: &str, msg: StoredMsg) -> Result<(), StoreError> {
        if let Some(f) = self.journal.failure().or(self.journal.suspended()) {
            return Err(StoreError::Io(f.to_string()));
        }
        let (seq, timestamp) = (msg.sequence, msg.timestamp);
        // What goes to disk: the message as it is, or (encryption on) a copy
        // with its data encrypted; the engine keeps delivering `msg`.
        let payload = match self
            .channels
            .get_mut(channel)
            .and_then(|c| c.crypto.as_mut())
        {
            None => msg.encoded.clone(),
            Some(enc) => enc
                .encrypt_msg(&msg.encoded)
                .map_err(|e| StoreError::Io(format!("unable to encrypt message {seq}: {e}")))?,
        };
        let size = u32::try_from(payload.len())
            .map_err(|_| StoreError::Io(format!("message of {} bytes too large", payload.len())))?;
        let expected = self
            .mem
            .stats(channel)
            .ok_or(StoreError::UnknownChannel)?
            .last_seq
            + 1;
        if seq != expected {
            return Err(StoreError::OutOfOrder {
                channel: channel.to_owned(),
                expected,
                got: seq,
            });
        }
        let now = self.now;
        let full = self.channels.get(channel).and_then(|c| {
            c.slices
                .back()
                .map(|s| (self.slice_full(s, &c.limits, now), s.number))
        });
        match full {
            Some((false, _)) => {}
            Some((true, n)) => self.start_slice(channel, n + 1),
            None => self.start_slice(channel, 1),
        }
        let crc = &self.opts.crc;
        let Some(slice) = self
            .channels
            .get_mut(channel)
            .and_then(|c| c.slices.back_mut())
        else {
            return Err(StoreError::UnknownChannel);
        };
        let mut header = [0u8; RECORD_HEADER_SIZE];
        header[..4].copy_from_slice(&size.to_le_bytes());
        header[4..].copy_from_slice(&crc.checksum(&payload).to_le_bytes());
        let entry = IndexEntry {
            seq,
            offset: slice.data_len,
            timestamp,
            size,
        };
        self.journal.append(&slice.data, &header);
        self.journal.append(&slice.data, &payload);
        self.journal.append(&slice.index, &entry.to_bytes(crc));
        if slice.msgs == 0 {
            slice.first_timestamp = timestamp;
        }
        slice.msgs += 1;
        slice.last_seq = seq;
        slice.data_len += (RECORD_HEADER_SIZE + payload.len()) as u64;
        slice.accounted += u64::from(size) + MSG_RECORD_OVERHEAD;
        let (number, offset) = (slice.number, entry.offset);
        self.mem.append(channel, msg, number, offset, size)?;
        self.drop_dead_slices(channel);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        match self.journal.failure() {
            Some(f) => Err(StoreError::Io(f.to_string())),
            None => Ok(()),
        }
    }

    fn lookup(&self, channel: &str, seq: u64) -> Option<StoredMsg> {
        self.mem.get(channel, seq).flatten()
    }

    fn fetch(&mut self, channel: &str, seq: u64) -> Fetch {
        match self.mem.get(channel, seq) {
            None => Fetch::Gone,
            Some(None)
                if !self.unreadable.is_empty()
                    && self.unreadable.contains(&(channel.to_owned(), seq)) =>
            {
                Fetch::Gone
            }
            Some(Some(msg)) => Fetch::Found(msg),
            Some(None) => {
                self.read_back(channel, seq);
                Fetch::Reading
            }
        }
    }

    fn poll_read(&mut self) -> Option<String> {
        self.read_in.pop()
    }

    fn poll_read_trouble(&mut self) -> Option<ReadTrouble> {
        self.read_trouble.pop_front()
    }

    fn timestamp_of(&self, channel: &str, seq: u64) -> Option<i64> {
        self.mem.timestamp_of(channel, seq)
    }

    fn stats(&self, channel: &str) -> Option<ChannelStats> {
        self.mem.stats(channel)
    }

    fn first_seq_at_or_after(&self, channel: &str, timestamp: i64) -> Option<u64> {
        self.mem.first_seq_at_or_after(channel, timestamp)
    }

    fn expire(&mut self, channel: &str, now: i64) -> Option<i64> {
        let next = self.mem.expire(channel, now);
        self.drop_dead_slices(channel);
        next
    }

    fn kind(&self) -> &'static str {
        "FILE"
    }
    fn persists_state(&self) -> bool {
        true
    }

    fn record_client(&mut self, record: ClientRecord) {
        self.log_client(record);
    }

    fn record_sub(&mut self, channel: &str, record: SubRecord) {
        self.log_sub(channel, record);
    }

    fn set_time(&mut self, unix_ns: i64) {
        self.now = unix_ns;
        if self.retry_at.is_some_and(|at| at <= unix_ns) {
            self.retry_at = None;
            self.journal.release_retry();
        }
        self.release_reads();
    }

    fn poll_io(&mut self) -> Option<IoBatch> {
        if self.journal.retry_ready() {
            // The undone batch again: what it seals was set when it first
            // went out (appends were refused since).
            return self.journal.poll_batch();
        }
        if self.auto_sync_due() {
            self.journal.sync_next();
        }
        let batch = self.journal.poll_batch()?;
        if batch.sync {
            self.synced_at = self.now;
            self.unsynced = false;
        } else if !batch.ops.is_empty() {
            self.unsynced = true;
        }
        self.sealed.clear();
        for name in self.mem.channel_names() {
            if let Some(st) = self.mem.stats(name) {
                self.sealed.push((name.to_owned(), st.last_seq));
            }
        }
        Some(batch)
    }

    fn handle_io_done(&mut self, mut done: IoDone) -> Option<IoFailure> {
        let reads = std::mem::take(&mut done.reads);
        if let Some(failure) = self.journal.done(done) {
            if self.journal.suspended().is_some() {
                self.retry_at = Some(self.now.saturating_add(self.retry_backoff));
                self.retry_backoff = self.retry_backoff.saturating_mul(2).min(LAST_RETRY);
            }
            return Some(failure);
        }
        self.retry_backoff = FIRST_RETRY;
        for (name, seq) in self.sealed.drain(..) {
            self.mem.written(&name, seq);
        }
        // Evicted before the reads are cached: what was just read back
        // stays until the engine has taken it (it does so before the next
        // completion).
        self.mem.evict();
        for (token, outcome) in reads {
            match outcome {
                Ok(bytes) => self.read_done(token, bytes),
                Err(failure) => self.read_failed(token, failure),
            }
        }
        None
    }

    fn write_mark(&self) -> u64 {
        self.journal.write_mark()
    }

    fn next_deadline(&self) -> Option<i64> {
        [
            self.auto_sync_deadline(),
            self.retry_deadline(),
            self.read_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn durable_mark(&self) -> u64 {
        self.journal.durable_mark()
    }

    fn failure(&self) -> Option<&IoFailure> {
        self.journal.failure()
    }

    fn suspended(&self) -> Option<&IoFailure> {
        self.journal.suspended()
    }

    fn retry_now(&mut self) {
        if self.journal.suspended().is_some() && !self.journal.in_flight() {
            self.retry_at = None;
            self.journal.release_retry();
        }
    }

    fn retrying(&self) -> bool {
        self.journal.suspended().is_some()
            && (self.journal.retry_ready() || self.journal.in_flight())
    }
}
