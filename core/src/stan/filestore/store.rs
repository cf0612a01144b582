//! [`FileStore`]: the engine's [`Store`] over a store directory, pure. It
//! keeps the channels' messages as the memory store does (from the files'
//! bytes at recovery) and turns every change into records staged in its
//! [`Journal`]: messages appended to the current slice (`msgs.<N>.dat` and
//! its index), a new slice when the current one is full
//! (`--file_slice_max_msgs/_bytes/_age`), whole slices deleted once the
//! limits dropped all their messages, subscription and client records, and
//! compaction of `subs.dat` and `clients.dat` (`--file_compact_*`) rewritten
//! from the live state it folds as it goes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stan_proto::{ClientDelete, ClientInfo, ServerInfo, SubStateDelete, SubStateUpdate};

use super::crc::Crc32;
use super::crypto::{Encryption, EncryptionOptions, MessageDecryptError, StoreEncryption};
use super::index::IndexEntry;
use super::io::{FileOp, IoBatch, IoDone, IoFailure};
use super::journal::Journal;
use super::layout::FileId;
use super::msglog::{Entry, MsgLog};
use super::msgs::MSG_RECORD_OVERHEAD;
use super::record::{
    encode_message, put_version, read_record, Framing, RecordTag, RECORD_HEADER_SIZE, VERSION_SIZE,
};
use super::recover::{Recovery, StoreFiles};
use super::subs::RecoveredSub;
use super::types::{ClientRecordType, SubRecordType};
use crate::stan::store::{
    ChannelLimits, ChannelStats, ClientRecord, Fetch, Store, StoreError, StoredMsg, SubRecord,
};

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
        }
    }
}

/// What a recovered store holds besides messages, for the engine to resume
/// (see [`Server::restore`](crate::stan::server::Server::restore)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restored {
    /// The registered clients.
    pub clients: Vec<ClientInfo>,
    /// The channels, by name.
    pub channels: BTreeMap<String, RestoredChannel>,
}

/// A recovered channel's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoredChannel {
    /// The subscriptions, by ID.
    pub subs: BTreeMap<u64, RecoveredSub>,
    /// The highest subscription ID used.
    pub max_sub_id: u64,
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
        Slice {
            number,
            data: FileId::SliceData {
                channel: channel.to_owned(),
                slice: number,
            },
            index: FileId::SliceIndex {
                channel: channel.to_owned(),
                slice: number,
            },
            msgs: 0,
            last_seq: 0,
            data_len: VERSION_SIZE as u64,
            accounted: 0,
            first_timestamp: 0,
        }
    }
}

/// A typed log file whose live state is folded as records are staged, so
/// that it can be rewritten compact.
#[derive(Debug)]
struct LogFile {
    file: FileId,
    size: u64,
    live: u64,
    obsolete: u64,
    /// Unix ns of the last compaction (or of the store's opening).
    compacted_at: i64,
}

impl LogFile {
    fn new(file: FileId, size: u64, live: u64, obsolete: u64, now: i64) -> LogFile {
        LogFile {
            file,
            size,
            live,
            obsolete,
            compacted_at: now,
        }
    }

    fn should_compact(&self, opts: &FileStoreOptions, now: i64) -> bool {
        let total = self.live + self.obsolete;
        let interval = i64::try_from(opts.compact_interval.as_nanos()).unwrap_or(i64::MAX);
        opts.compact
            && self.size >= opts.compact_min_size
            && total > 0
            && self.obsolete * 100 / total >= u64::from(opts.compact_fragmentation)
            && now.saturating_sub(self.compacted_at) >= interval
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
    /// Reads in flight: token -> (channel, first sequence, last sequence).
    reads: BTreeMap<u64, (String, u64, u64)>,
    next_read: u64,
    /// Channels with messages read in, for [`Store::poll_read`].
    read_in: Vec<String>,
    /// Messages whose record read back is damaged: not served (skipped as
    /// if removed), counted in [`FileStore::unreadable`].
    unreadable: std::collections::BTreeSet<(String, u64)>,
    /// The last sequence of each channel when the batch in flight was
    /// sealed: on disk once it completes.
    sealed: Vec<(String, u64)>,
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

fn version_header() -> [u8; VERSION_SIZE] {
    let mut b = BytesMut::with_capacity(VERSION_SIZE);
    put_version(&mut b);
    let mut out = [0; VERSION_SIZE];
    out.copy_from_slice(&b);
    out
}

/// The `sequence` (field 1) of an encoded `MsgProto`, when it comes first
/// (as every encoder writes it): what a record read back must hold.
fn leading_sequence(msg: &[u8]) -> Option<u64> {
    let (&tag, mut rest) = msg.split_first()?;
    if tag != 0x08 {
        return None;
    }
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, r) = rest.split_first()?;
        rest = r;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
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
        let mut store = FileStore {
            mem: MsgLog::new(opts.max_channels, opts.cache_bytes),
            reads: BTreeMap::new(),
            next_read: 1,
            read_in: Vec::new(),
            unreadable: Default::default(),
            sealed: Vec::new(),
            journal: Journal::new(opts.sync),
            channels: BTreeMap::new(),
            clients_log: LogFile::new(FileId::Clients, VERSION_SIZE as u64, 0, 0, now),
            clients: BTreeMap::new(),
            now,
            scratch: BytesMut::new(),
            crypto: opts.encryption.clone().map(StoreEncryption::new),
            opts,
        };
        store.journal.op(FileOp::Replace {
            file: FileId::Clients,
            data: Bytes::copy_from_slice(&version_header()),
        });
        store
    }

    /// A store resuming a recovered directory (its repairs applied by the
    /// IO side first), and what the engine resumes from it. `files` gives
    /// the files' sizes; `limits` each channel's limits.
    ///
    /// With [`encryption`](FileStoreOptions::encryption), the messages'
    /// payloads are decrypted (those stored clear are kept as they are); one
    /// that does not decrypt (a wrong key, most likely) fails the whole
    /// recovery, naming its channel and sequence.
    pub fn recovered(
        opts: FileStoreOptions,
        recovery: Recovery,
        files: &StoreFiles,
        limits: impl Fn(&str) -> ChannelLimits,
        now: i64,
    ) -> Result<(FileStore, Restored), MessageDecryptError> {
        let clients_size = files.clients.as_ref().map_or(0, |b| b.len() as u64);
        let mut store = FileStore {
            mem: MsgLog::new(opts.max_channels, opts.cache_bytes),
            reads: BTreeMap::new(),
            next_read: 1,
            read_in: Vec::new(),
            unreadable: Default::default(),
            sealed: Vec::new(),
            journal: Journal::new(opts.sync),
            channels: BTreeMap::new(),
            clients_log: LogFile::new(
                FileId::Clients,
                clients_size,
                recovery.clients.clients.len() as u64,
                recovery.clients.deleted_records * 2,
                now,
            ),
            clients: recovery.clients.clients.clone(),
            now,
            scratch: BytesMut::new(),
            crypto: opts.encryption.clone().map(StoreEncryption::new),
            opts,
        };
        if files.clients.is_none() {
            store.journal.op(FileOp::Replace {
                file: FileId::Clients,
                data: Bytes::copy_from_slice(&version_header()),
            });
        }
        let mut restored = Restored {
            clients: recovery.clients.clients.into_values().collect(),
            channels: BTreeMap::new(),
        };
        for (name, ch) in recovery.channels {
            let ch_limits = limits(&name);
            let msgs = &ch.msgs;
            let crypto = store
                .crypto
                .as_mut()
                .map(|c| c.channel(&name, msgs.last_seq.wrapping_add(1)));
            if let Some(enc) = &crypto {
                // A wrong key shows here (on the first and last messages),
                // not at the first delivery.
                for m in msgs.live().next().into_iter().chain(msgs.live().last()) {
                    enc.decrypt_msg(&m.encoded)
                        .map_err(|source| MessageDecryptError {
                            channel: name.clone(),
                            seq: m.index.seq,
                            source,
                        })?;
                }
            }
            // The index only: payloads are read back when delivered. A gap
            // in the sequences (a damaged store) stands as missing entries.
            let mut entries = Vec::with_capacity(msgs.count as usize);
            let mut next = None;
            for s in &msgs.slices {
                for m in s.live() {
                    let seq = m.index.seq;
                    if let Some(mut n) = next {
                        while n < seq {
                            entries.push(Entry {
                                timestamp: m.index.timestamp,
                                slice: s.number,
                                offset: 0,
                                size: 0,
                                payload: None,
                                missing: true,
                            });
                            n += 1;
                        }
                    }
                    next = Some(seq + 1);
                    entries.push(Entry {
                        timestamp: m.index.timestamp,
                        slice: s.number,
                        offset: m.index.offset,
                        size: m.index.size,
                        payload: None,
                        missing: false,
                    });
                }
            }
            store
                .mem
                .restore_channel(&name, ch_limits, msgs.last_seq, entries);
            let mut slices = VecDeque::new();
            for s in &msgs.slices {
                let mut slice = Slice::new(&name, s.number);
                slice.msgs = s.msgs.len() as u64;
                slice.last_seq = s.msgs.last().map_or(0, |m| m.index.seq);
                slice.data_len = s.data_len();
                slice.accounted = s.msgs.iter().map(|m| m.accounted_bytes()).sum();
                slice.first_timestamp = s.msgs.first().map_or(0, |m| m.index.timestamp);
                slices.push_back(slice);
            }
            // Slices without a message are dropped; appends go to a slice
            // after every number seen.
            let highest = msgs
                .empty_slices
                .iter()
                .chain(msgs.removed_slices.iter())
                .chain(msgs.slices.iter().map(|s| &s.number))
                .copied()
                .max()
                .unwrap_or(0);
            for &n in &msgs.empty_slices {
                let gone = Slice::new(&name, n);
                store.journal.op(FileOp::Remove { file: gone.data });
                store.journal.op(FileOp::Remove { file: gone.index });
            }
            let subs_file = FileId::Subs {
                channel: name.clone(),
            };
            let subs_size = files
                .channels
                .get(&name)
                .and_then(|c| c.subs.as_ref())
                .map_or(0, |b| b.len() as u64);
            let files_entry = ChannelFiles {
                limits: ch_limits,
                slices,
                subs_log: LogFile::new(
                    subs_file.clone(),
                    subs_size,
                    ch.subs.live_records,
                    ch.subs.obsolete_records,
                    now,
                ),
                subs: ch.subs.subs.clone(),
                crypto,
            };
            store.channels.insert(name.clone(), files_entry);
            if subs_size == 0 {
                store.journal.op(FileOp::Replace {
                    file: subs_file,
                    data: Bytes::copy_from_slice(&version_header()),
                });
            }
            if store
                .channels
                .get(&name)
                .is_some_and(|c| c.slices.is_empty())
            {
                store.start_slice(&name, highest + 1);
            }
            restored.channels.insert(
                name,
                RestoredChannel {
                    subs: ch.subs.subs,
                    max_sub_id: ch.subs.max_sub_id,
                },
            );
        }
        Ok((store, restored))
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

    /// Reads back the payloads of `channel` from `seq` on (as far as the
    /// read-ahead goes within its slice), unless a read covering `seq` is in
    /// flight.
    fn read_back(&mut self, channel: &str, seq: u64) {
        let in_flight = self
            .reads
            .values()
            .any(|(c, first, last)| c == channel && (*first..=*last).contains(&seq));
        if in_flight {
            return;
        }
        let mut range: Option<(u64, u64, u64, u64)> = None; // slice, offset, end, last seq
        for (s, e) in self.mem.entries_from(channel, seq) {
            if e.missing || (e.payload.is_some() && s != seq) {
                break;
            }
            let end = e.offset + (RECORD_HEADER_SIZE as u64) + u64::from(e.size);
            match &mut range {
                None => range = Some((e.slice, e.offset, end, s)),
                Some((slice, start, stop, last)) => {
                    if e.slice != *slice || e.offset != *stop || end - *start > self.opts.read_ahead
                    {
                        break;
                    }
                    *stop = end;
                    *last = s;
                }
            }
        }
        let Some((slice, offset, end, last)) = range else {
            return;
        };
        let token = self.next_read;
        self.next_read += 1;
        self.reads.insert(token, (channel.to_owned(), seq, last));
        self.journal.op(FileOp::Read {
            file: FileId::SliceData {
                channel: channel.to_owned(),
                slice,
            },
            offset,
            len: end - offset,
            token,
        });
    }

    /// Caches what a read brought back: the records of its range, CRC
    /// checked, decrypted if need be.
    fn read_done(&mut self, token: u64, bytes: Bytes) {
        let Some((channel, first, last)) = self.reads.remove(&token) else {
            return;
        };
        let crc = self.opts.verify_reads.then(|| self.opts.crc.clone());
        let mut offsets = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
        if let Some((_, start)) = self.mem.entries_from(&channel, first).next() {
            let base = start.offset;
            for (s, e) in self.mem.entries_from(&channel, first) {
                if s > last {
                    break;
                }
                offsets.push((s, e.offset.saturating_sub(base), e.size));
            }
        }
        for (seq, at, size) in offsets {
            let at = usize::try_from(at).unwrap_or(usize::MAX);
            let record = read_record(&bytes, at, Framing::Untyped, crc.as_ref());
            let payload = match record {
                Ok(Some(r))
                    if r.payload.len() == size as usize
                        && leading_sequence(&r.payload) == Some(seq) =>
                {
                    match self.channels.get(&channel).and_then(|c| c.crypto.as_ref()) {
                        None => Some(r.payload),
                        Some(enc) => enc.decrypt_msg(&r.payload).ok(),
                    }
                }
                _ => None,
            };
            match payload {
                Some(p) => self.mem.fill(&channel, seq, p),
                // Damaged since recovery checked it: skipped, never served
                // wrong.
                None => {
                    self.unreadable.insert((channel.clone(), seq));
                }
            }
        }
        if !self.read_in.contains(&channel) {
            self.read_in.push(channel);
        }
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
                self.journal.op(FileOp::Remove { file: gone.data });
                self.journal.op(FileOp::Remove { file: gone.index });
            }
        }
    }

    fn stage_sub(
        &mut self,
        channel: &str,
        rec_type: SubRecordType,
        msg: &impl stan_proto::Message,
    ) {
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        self.scratch.clear();
        if let Ok(n) = encode_message(&mut self.scratch, rec_type, msg, &self.opts.crc) {
            ch.subs_log.size += n as u64;
            self.journal.append(&ch.subs_log.file, &self.scratch);
        }
    }

    fn compact_subs(&mut self, channel: &str) {
        let now = self.now;
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        if !ch.subs_log.should_compact(&self.opts, now) {
            return;
        }
        let mut b = BytesMut::new();
        put_version(&mut b);
        let mut live = 0;
        for sub in ch.subs.values() {
            let _ = encode_message(&mut b, SubRecordType::New, &sub.state, &self.opts.crc);
            live += 1;
            for &seq in &sub.pending {
                let u = SubStateUpdate {
                    id: sub.state.id,
                    seqno: seq,
                };
                let _ = encode_message(&mut b, SubRecordType::Msg, &u, &self.opts.crc);
                live += 1;
            }
        }
        ch.subs_log.size = b.len() as u64;
        ch.subs_log.live = live;
        ch.subs_log.obsolete = 0;
        ch.subs_log.compacted_at = now;
        let file = ch.subs_log.file.clone();
        self.journal.op(FileOp::Replace {
            file,
            data: b.freeze(),
        });
    }

    fn compact_clients(&mut self) {
        if !self.clients_log.should_compact(&self.opts, self.now) {
            return;
        }
        let mut b = BytesMut::new();
        put_version(&mut b);
        for info in self.clients.values() {
            let _ = encode_message(&mut b, ClientRecordType::Add, info, &self.opts.crc);
        }
        self.clients_log.size = b.len() as u64;
        self.clients_log.live = self.clients.len() as u64;
        self.clients_log.obsolete = 0;
        self.clients_log.compacted_at = self.now;
        self.journal.op(FileOp::Replace {
            file: FileId::Clients,
            data: b.freeze(),
        });
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
        self.journal.op(FileOp::RemoveChannelDir {
            channel: channel.to_owned(),
        });
        Ok(())
    }

    fn append(&mut self, channel: &str, msg: StoredMsg) -> Result<(), StoreError> {
        if let Some(f) = self.journal.failure() {
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

    fn persists_state(&self) -> bool {
        true
    }

    fn record_client(&mut self, record: ClientRecord) {
        self.scratch.clear();
        let encoded = match &record {
            ClientRecord::Added(info) => {
                self.clients.insert(info.id.clone(), info.clone());
                self.clients_log.live += 1;
                encode_message(
                    &mut self.scratch,
                    ClientRecordType::Add,
                    info,
                    &self.opts.crc,
                )
            }
            ClientRecord::Removed(id) => {
                if self.clients.remove(id).is_some() {
                    self.clients_log.live = self.clients_log.live.saturating_sub(1);
                    self.clients_log.obsolete += 2;
                }
                encode_message(
                    &mut self.scratch,
                    ClientRecordType::Delete,
                    &ClientDelete { id: id.clone() },
                    &self.opts.crc,
                )
            }
        };
        if let Ok(n) = encoded {
            self.clients_log.size += n as u64;
            self.journal.append(&FileId::Clients, &self.scratch);
        }
        self.compact_clients();
    }

    fn record_sub(&mut self, channel: &str, record: SubRecord) {
        let Some(ch) = self.channels.get_mut(channel) else {
            return;
        };
        let log = &mut ch.subs_log;
        match &record {
            SubRecord::New(state) => {
                ch.subs.insert(
                    state.id,
                    RecoveredSub {
                        state: state.clone(),
                        pending: Default::default(),
                    },
                );
                log.live += 1;
            }
            SubRecord::Update(state) => {
                let sub = ch.subs.entry(state.id).or_default();
                sub.state = state.clone();
                log.obsolete += 1;
            }
            SubRecord::Delete(id) => {
                if let Some(sub) = ch.subs.remove(id) {
                    let gone = 1 + sub.pending.len() as u64;
                    log.live = log.live.saturating_sub(gone);
                    log.obsolete += gone + 1;
                }
            }
            SubRecord::Sent { id, seq } => {
                if let Some(sub) = ch.subs.get_mut(id) {
                    sub.pending.insert(*seq);
                    sub.state.last_sent = sub.state.last_sent.max(*seq);
                    log.live += 1;
                }
            }
            SubRecord::Acked { id, seq } => {
                if let Some(sub) = ch.subs.get_mut(id) {
                    if sub.pending.remove(seq) {
                        log.live = log.live.saturating_sub(1);
                        log.obsolete += 2;
                    }
                }
            }
        }
        match record {
            SubRecord::New(s) => self.stage_sub(channel, SubRecordType::New, &s),
            SubRecord::Update(s) => self.stage_sub(channel, SubRecordType::Update, &s),
            SubRecord::Delete(id) => {
                self.stage_sub(channel, SubRecordType::Delete, &SubStateDelete { id })
            }
            SubRecord::Sent { id, seq } => self.stage_sub(
                channel,
                SubRecordType::Msg,
                &SubStateUpdate { id, seqno: seq },
            ),
            SubRecord::Acked { id, seq } => self.stage_sub(
                channel,
                SubRecordType::Ack,
                &SubStateUpdate { id, seqno: seq },
            ),
        }
        self.compact_subs(channel);
    }

    fn set_time(&mut self, unix_ns: i64) {
        self.now = unix_ns;
    }

    fn poll_io(&mut self) -> Option<IoBatch> {
        let batch = self.journal.poll_batch()?;
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
            return Some(failure);
        }
        for (name, seq) in self.sealed.drain(..) {
            self.mem.written(&name, seq);
        }
        // Evicted before the reads are cached: what was just read back
        // stays until the engine has taken it (it does so before the next
        // completion).
        self.mem.evict();
        for (token, bytes) in reads {
            self.read_done(token, bytes);
        }
        None
    }

    fn write_mark(&self) -> u64 {
        self.journal.write_mark()
    }

    fn durable_mark(&self) -> u64 {
        self.journal.durable_mark()
    }

    fn failure(&self) -> Option<&IoFailure> {
        self.journal.failure()
    }
}
