//! The message store: a synchronous [`Store`] trait the streaming engine
//! owns, and [`MemStore`], the in-memory implementation.
//!
//! The engine assigns sequences and timestamps; the store keeps messages per
//! channel and applies the per-channel limits of docs/protocol.md C.3 (oldest
//! messages dropped past `max_msgs`/`max_bytes`, the last one always kept;
//! messages older than `max_age` removed on [`Store::expire`]). Appends are
//! made durable by [`Store::flush`]: the engine stores a whole batch of
//! publishes, flushes once, and only then sends their PubAcks (group commit).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use stan_proto::{ClientInfo, Message as _, MsgProto, SubState};

use crate::stan::filestore::io::{IoBatch, IoDone, IoFailure};

/// A stored message: its sequence and timestamp, and the `MsgProto` encoded
/// once when it was published. Deliveries send `encoded` as it is (a
/// redelivery appends its `redelivered`/`redeliveryCount` fields), so the
/// per-message path neither re-encodes nor copies the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    /// Channel sequence.
    pub sequence: u64,
    /// Unix nanoseconds at storage.
    pub timestamp: i64,
    /// The encoded `MsgProto` (`sequence`, `subject`, `reply`, `data`,
    /// `timestamp`).
    pub encoded: Bytes,
}

impl StoredMsg {
    /// Encodes `msg` (in a buffer of its own: it does not pin the network
    /// buffer its payload arrived in).
    pub fn encode(msg: &MsgProto) -> Self {
        StoredMsg {
            sequence: msg.sequence,
            timestamp: msg.timestamp,
            encoded: Bytes::from(msg.encode_to_vec()),
        }
    }

    /// Decodes the stored `MsgProto`.
    pub fn decode(&self) -> Result<MsgProto, stan_proto::DecodeError> {
        MsgProto::decode(self.encoded.clone())
    }
}

/// Limits of one channel. Zero means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Most messages kept.
    pub max_msgs: u64,
    /// Most bytes kept (protobuf size of the stored `MsgProto`s).
    pub max_bytes: u64,
    /// Oldest message age kept.
    pub max_age: Duration,
    /// Most subscriptions (offline durables included).
    pub max_subs: usize,
    /// Delete the channel after this long without messages or active
    /// subscriptions.
    pub max_inactivity: Duration,
}

impl Default for ChannelLimits {
    /// nats-streaming-server's defaults.
    fn default() -> Self {
        ChannelLimits {
            max_msgs: 1_000_000,
            max_bytes: 1_000_000 * 1024,
            max_age: Duration::ZERO,
            max_subs: 1000,
            max_inactivity: Duration::ZERO,
        }
    }
}

/// Why the store refused an operation. The `Display` texts are the ones the
/// STAN server sends to clients.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// `max_channels` reached.
    #[error("too many channels")]
    TooManyChannels,
    /// The channel does not exist.
    #[error("stan: unknown channel")]
    UnknownChannel,
    /// A sequence out of order was appended.
    #[error("sequence {got} out of order in channel {channel:?} (expected {expected})")]
    OutOfOrder {
        /// Channel name.
        channel: String,
        /// Expected sequence.
        expected: u64,
        /// Appended sequence.
        got: u64,
    },
    /// An IO-backed store failed.
    #[error("{0}")]
    Io(String),
}

/// Counters of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Messages stored.
    pub msgs: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// First stored sequence (0 when empty and nothing was ever stored).
    pub first_seq: u64,
    /// Last stored sequence (0 when nothing was ever stored).
    pub last_seq: u64,
}

/// A change of the registered clients, for a store that keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRecord {
    /// A client registered.
    Added(ClientInfo),
    /// A client was unregistered (by ID).
    Removed(String),
}

/// A change of a channel's subscriptions, for a store that keeps them (the
/// record types of Go's `subs.dat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubRecord {
    /// A new subscription.
    New(SubState),
    /// A subscription's new state (pending messages kept).
    Update(SubState),
    /// A subscription removed, by ID.
    Delete(u64),
    /// Message `seq` sent to subscription `id`: pending.
    Sent {
        /// Subscription ID.
        id: u64,
        /// Sequence.
        seq: u64,
    },
    /// Message `seq` acknowledged by subscription `id`.
    Acked {
        /// Subscription ID.
        id: u64,
        /// Sequence.
        seq: u64,
    },
}

/// The outcome of [`Store::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The message.
    Found(StoredMsg),
    /// Not in memory: being read (the store reports the channel from
    /// [`Store::poll_read`] once it can be fetched).
    Reading,
    /// Not stored (removed by the limits, or never stored).
    Gone,
}

/// Trouble reading stored messages back ([`Store::poll_read_trouble`]),
/// for the operator: the engine reports it as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTrouble {
    /// Reading failed (an error of the system, not of the data): the
    /// deliveries of these messages wait, and the store reads them again
    /// after `retry_in`.
    Failed {
        /// The channel.
        channel: String,
        /// The first sequence the read covered.
        first: u64,
        /// The last sequence the read covered.
        last: u64,
        /// What failed (the operation, the file, the error).
        error: String,
        /// When the store reads again.
        retry_in: std::time::Duration,
    },
    /// Records found damaged or missing on disk (a CRC or length mismatch,
    /// a missing file, a payload that does not decrypt): these messages
    /// are skipped (never served wrong), as if the limits had removed them.
    Damaged {
        /// The channel.
        channel: String,
        /// The file they were read from (relative to the store directory).
        file: String,
        /// The first damaged sequence.
        first: u64,
        /// The last damaged sequence.
        last: u64,
        /// How many of the sequences from `first` to `last` are damaged.
        count: u64,
    },
}

impl std::fmt::Display for ReadTrouble {
    /// The log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadTrouble::Failed {
                channel,
                first,
                last,
                error,
                retry_in,
            } => write!(
                f,
                "Unable to read messages {first} to {last} of channel {channel:?} back from the store: {error} (their deliveries wait; reading again in {retry_in:?})"
            ),
            ReadTrouble::Damaged {
                channel,
                file,
                first,
                last,
                count,
            } => write!(
                f,
                "{count} message(s) of channel {channel:?} between sequences {first} and {last} are damaged or missing in {file}: skipped, never delivered"
            ),
        }
    }
}

/// A message store, as the engine needs it. Its operations are synchronous
/// and do no IO: a store backed by files stages the writes and hands them
/// out as [`IoBatch`]es ([`Store::poll_io`]); the engine holds every output
/// that depends on a staged write until the store reports it durable
/// ([`Store::durable_mark`] reaching the [`Store::write_mark`] of the time).
/// The memory store stages nothing: its marks stay 0.
pub trait Store {
    /// Creates `channel` with `limits` if it does not exist.
    fn create_channel(&mut self, channel: &str, limits: ChannelLimits) -> Result<(), StoreError>;

    /// Deletes a channel and its messages.
    fn delete_channel(&mut self, channel: &str) -> Result<(), StoreError>;

    /// Appends a message (its `sequence` must follow the channel's last one)
    /// and applies the count and size limits.
    fn append(&mut self, channel: &str, msg: StoredMsg) -> Result<(), StoreError>;

    /// Makes every append so far durable.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// The message with `seq`, if still stored.
    fn lookup(&self, channel: &str, seq: u64) -> Option<StoredMsg>;

    /// Counters of a channel.
    fn stats(&self, channel: &str) -> Option<ChannelStats>;

    /// The first stored sequence whose timestamp is `>= timestamp` (Unix ns),
    /// or `last + 1` when there is none.
    fn first_seq_at_or_after(&self, channel: &str, timestamp: i64) -> Option<u64>;

    /// Removes messages older than the channel's `max_age` at `now` (Unix
    /// ns); returns the Unix ns time of the next expiry, if any.
    fn expire(&mut self, channel: &str, now: i64) -> Option<i64>;

    /// The message with `seq` for a delivery: from memory, or read from
    /// disk by a store that does not keep every payload in memory.
    fn fetch(&mut self, channel: &str, seq: u64) -> Fetch {
        self.lookup(channel, seq).map_or(Fetch::Gone, Fetch::Found)
    }

    /// A channel with messages read in since the last call (or whose held
    /// reads may be tried again): the engine resumes the deliveries that
    /// waited for them, which fetch again.
    fn poll_read(&mut self) -> Option<String> {
        None
    }

    /// Trouble reading messages back since the last call (a store that
    /// reads from disk), for the engine to report.
    fn poll_read_trouble(&mut self) -> Option<ReadTrouble> {
        None
    }

    /// The timestamp of message `seq` (Unix ns), if stored.
    fn timestamp_of(&self, channel: &str, seq: u64) -> Option<i64> {
        self.lookup(channel, seq).map(|m| m.timestamp)
    }

    /// The store type as `/streaming/storez` names it.
    fn kind(&self) -> &'static str {
        "MEMORY"
    }

    /// Whether the store keeps clients and subscriptions: when not, the
    /// engine does not build their records.
    fn persists_state(&self) -> bool {
        false
    }

    /// Records a change of the registered clients.
    fn record_client(&mut self, _record: ClientRecord) {}

    /// Records a change of `channel`'s subscriptions.
    fn record_sub(&mut self, _channel: &str, _record: SubRecord) {}

    /// The current time (Unix ns), for time-based housekeeping.
    fn set_time(&mut self, _unix_ns: i64) {}

    /// The next batch of file operations to carry out.
    fn poll_io(&mut self) -> Option<IoBatch> {
        None
    }

    /// A batch handed out by [`Store::poll_io`] completed; returns its
    /// failure, if it failed.
    fn handle_io_done(&mut self, _done: IoDone) -> Option<IoFailure> {
        None
    }

    /// Writes staged so far (a monotonic count).
    fn write_mark(&self) -> u64 {
        0
    }

    /// The write mark known durable.
    fn durable_mark(&self) -> u64 {
        0
    }

    /// When (Unix ns) the store next has something to do on its own (a
    /// periodic sync or a retry to hand out from [`Store::poll_io`], held
    /// reads to release; now when [`Store::poll_read`] has channels): the
    /// engine wakes then.
    fn next_deadline(&self) -> Option<i64> {
        None
    }

    /// The failure that stopped the store's writes, if one did: every
    /// later publish is refused with it.
    fn failure(&self) -> Option<&IoFailure> {
        None
    }

    /// The failure that suspended the store's writes, if one did and they
    /// are retried (the failed batch was undone): new publishes are
    /// refused with it, what was staged waits (its outputs are released
    /// once a retry succeeds).
    fn suspended(&self) -> Option<&IoFailure> {
        None
    }

    /// The engine stops: a suspended store retries its undone write at
    /// once (the disk may have room by now) rather than after its backoff.
    fn retry_now(&mut self) {}

    /// Whether a suspended store's retry was released (by its backoff or
    /// [`Store::retry_now`]) or is in flight.
    fn retrying(&self) -> bool {
        false
    }
}

#[derive(Debug)]
struct MemChannel {
    limits: ChannelLimits,
    msgs: VecDeque<StoredMsg>,
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
}

impl MemChannel {
    fn stats(&self) -> ChannelStats {
        ChannelStats {
            msgs: self.msgs.len() as u64,
            bytes: self.bytes,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
        }
    }

    fn drop_first(&mut self, overhead: u64) {
        if let Some(m) = self.msgs.pop_front() {
            self.bytes -= m.encoded.len() as u64 + overhead;
            self.first_seq += 1;
        }
    }
}

/// Messages in memory, kept as their encoded `MsgProto`s.
#[derive(Debug)]
pub struct MemStore {
    max_channels: usize,
    /// Bytes each message counts for on top of its `MsgProto`.
    overhead: u64,
    channels: BTreeMap<String, MemChannel>,
}

impl MemStore {
    /// A store admitting at most `max_channels` channels (0: unlimited).
    pub fn new(max_channels: usize) -> Self {
        MemStore {
            max_channels,
            overhead: 0,
            channels: BTreeMap::new(),
        }
    }

    /// A store counting `overhead` bytes per message on top of its
    /// `MsgProto` (the file store counts its record and index headers).
    pub fn with_overhead(max_channels: usize, overhead: u64) -> Self {
        MemStore {
            overhead,
            ..MemStore::new(max_channels)
        }
    }

    /// Puts back a channel as a store held it: its messages (in sequence
    /// order, limits already applied) and its last sequence, which
    /// continues even if no message is left.
    pub fn restore_channel(
        &mut self,
        channel: &str,
        limits: ChannelLimits,
        last_seq: u64,
        msgs: impl IntoIterator<Item = StoredMsg>,
    ) {
        let msgs: VecDeque<StoredMsg> = msgs.into_iter().collect();
        let bytes = msgs
            .iter()
            .map(|m| m.encoded.len() as u64 + self.overhead)
            .sum();
        let first_seq = msgs.front().map_or(last_seq + 1, |m| m.sequence);
        let last_seq = msgs.back().map_or(last_seq, |m| m.sequence.max(last_seq));
        self.channels.insert(
            channel.to_owned(),
            MemChannel {
                limits,
                msgs,
                first_seq,
                last_seq,
                bytes,
            },
        );
    }

    /// The messages of `channel` from `first` on, in order.
    pub fn messages_from(&self, channel: &str, first: u64) -> impl Iterator<Item = &StoredMsg> {
        let ch = self.channels.get(channel);
        let skip = ch.map_or(0, |c| first.saturating_sub(c.first_seq));
        ch.into_iter()
            .flat_map(|c| c.msgs.iter())
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    }

    /// Names of the channels, sorted.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.channels.keys().map(String::as_str)
    }
}

impl Store for MemStore {
    fn create_channel(&mut self, channel: &str, limits: ChannelLimits) -> Result<(), StoreError> {
        if self.channels.contains_key(channel) {
            return Ok(());
        }
        if self.max_channels > 0 && self.channels.len() >= self.max_channels {
            return Err(StoreError::TooManyChannels);
        }
        self.channels.insert(
            channel.to_owned(),
            MemChannel {
                limits,
                msgs: VecDeque::new(),
                first_seq: 0,
                last_seq: 0,
                bytes: 0,
            },
        );
        Ok(())
    }

    fn delete_channel(&mut self, channel: &str) -> Result<(), StoreError> {
        self.channels
            .remove(channel)
            .map(|_| ())
            .ok_or(StoreError::UnknownChannel)
    }

    fn append(&mut self, channel: &str, msg: StoredMsg) -> Result<(), StoreError> {
        let ch = self
            .channels
            .get_mut(channel)
            .ok_or(StoreError::UnknownChannel)?;
        if msg.sequence != ch.last_seq + 1 {
            return Err(StoreError::OutOfOrder {
                channel: channel.to_owned(),
                expected: ch.last_seq + 1,
                got: msg.sequence,
            });
        }
        let size = msg.encoded.len() as u64 + self.overhead;
        if ch.msgs.is_empty() {
            ch.first_seq = msg.sequence;
        }
        ch.last_seq = msg.sequence;
        ch.bytes += size;
        ch.msgs.push_back(msg);
        let (max_msgs, max_bytes) = (ch.limits.max_msgs, ch.limits.max_bytes);
        while ch.msgs.len() > 1
            && ((max_msgs > 0 && ch.msgs.len() as u64 > max_msgs)
                || (max_bytes > 0 && ch.bytes > max_bytes))
        {
            ch.drop_first(self.overhead);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn lookup(&self, channel: &str, seq: u64) -> Option<StoredMsg> {
        let ch = self.channels.get(channel)?;
        let index = seq.checked_sub(ch.first_seq)?;
        ch.msgs.get(usize::try_from(index).ok()?).cloned()
    }

    fn stats(&self, channel: &str) -> Option<ChannelStats> {
        self.channels.get(channel).map(MemChannel::stats)
    }

    fn first_seq_at_or_after(&self, channel: &str, timestamp: i64) -> Option<u64> {
        let ch = self.channels.get(channel)?;
        // Timestamps are non-decreasing within a channel.
        let i = ch.msgs.partition_point(|m| m.timestamp < timestamp);
        Some(match ch.msgs.get(i) {
            Some(m) => m.sequence,
            None => ch.last_seq + 1,
        })
    }

    fn expire(&mut self, channel: &str, now: i64) -> Option<i64> {
        let ch = self.channels.get_mut(channel)?;
        let max_age = i64::try_from(ch.limits.max_age.as_nanos()).unwrap_or(i64::MAX);
        if max_age == 0 {
            return None;
        }
        while ch
            .msgs
            .front()
            .is_some_and(|m| now.saturating_sub(m.timestamp) >= max_age)
        {
            ch.drop_first(self.overhead);
        }
        ch.msgs.front().map(|m| m.timestamp.saturating_add(max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64, ts: i64, data: &[u8]) -> StoredMsg {
        StoredMsg::encode(&MsgProto {
            sequence: seq,
            subject: "foo".into(),
            data: Bytes::copy_from_slice(data),
            timestamp: ts,
            ..MsgProto::default()
        })
    }

    fn limits(max_msgs: u64, max_bytes: u64, max_age: Duration) -> ChannelLimits {
        ChannelLimits {
            max_msgs,
            max_bytes,
            max_age,
            ..ChannelLimits::default()
        }
    }

    #[test]
    fn append_lookup_and_sequence_order() {
        let mut s = MemStore::new(0);
        s.create_channel("foo", ChannelLimits::default()).unwrap();
        for seq in 1..=3 {
            s.append("foo", msg(seq, seq as i64, b"x")).unwrap();
        }
        assert_eq!(s.lookup("foo", 2).unwrap().sequence, 2);
        assert!(s.lookup("foo", 4).is_none());
        assert!(s.lookup("foo", 0).is_none());
        assert!(matches!(
            s.append("foo", msg(5, 5, b"x")),
            Err(StoreError::OutOfOrder {
                expected: 4,
                got: 5,
                ..
            })
        ));
        assert_eq!(
            s.append("bar", msg(1, 1, b"x")),
            Err(StoreError::UnknownChannel)
        );
        let st = s.stats("foo").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.last_seq), (3, 1, 3));
    }

    #[test]
    fn max_channels() {
        let mut s = MemStore::new(2);
        s.create_channel("a", ChannelLimits::default()).unwrap();
        s.create_channel("b", ChannelLimits::default()).unwrap();
        s.create_channel("a", ChannelLimits::default()).unwrap();
        assert_eq!(
            s.create_channel("c", ChannelLimits::default()),
            Err(StoreError::TooManyChannels)
        );
        assert_eq!(StoreError::TooManyChannels.to_string(), "too many channels");
        s.delete_channel("a").unwrap();
        s.create_channel("c", ChannelLimits::default()).unwrap();
    }

    #[test]
    fn max_msgs_drops_oldest_and_sequences_continue() {
        let mut s = MemStore::new(0);
        s.create_channel("foo", limits(3, 0, Duration::ZERO))
            .unwrap();
        for seq in 1..=5 {
            s.append("foo", msg(seq, 0, b"x")).unwrap();
        }
        let st = s.stats("foo").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.last_seq), (3, 3, 5));
        assert!(s.lookup("foo", 2).is_none());
        assert_eq!(s.lookup("foo", 3).unwrap().sequence, 3);
    }

    #[test]
    fn max_bytes_keeps_at_least_the_last_message() {
        let mut s = MemStore::new(0);
        let one = msg(1, 0, &[0; 100]).encoded.len() as u64;
        s.create_channel("foo", limits(0, one * 2, Duration::ZERO))
            .unwrap();
        for seq in 1..=4 {
            s.append("foo", msg(seq, 0, &[0; 100])).unwrap();
        }
        let st = s.stats("foo").unwrap();
        assert_eq!((st.msgs, st.first_seq), (2, 3));
        assert!(st.bytes <= one * 2 + 2);
        s.append("foo", msg(5, 0, &[0; 10_000])).unwrap();
        let st = s.stats("foo").unwrap();
        assert_eq!(
            (st.msgs, st.first_seq, st.last_seq),
            (1, 5, 5),
            "larger than max_bytes: kept"
        );
    }

    #[test]
    fn max_age_expires_and_reports_next_deadline() {
        let mut s = MemStore::new(0);
        s.create_channel("foo", limits(0, 0, Duration::from_nanos(100)))
            .unwrap();
        for (seq, ts) in [(1, 10), (2, 50), (3, 90)] {
            s.append("foo", msg(seq, ts, b"x")).unwrap();
        }
        assert_eq!(s.expire("foo", 109), Some(110));
        assert_eq!(s.stats("foo").unwrap().msgs, 3);
        assert_eq!(s.expire("foo", 150), Some(190));
        assert_eq!(s.stats("foo").unwrap().first_seq, 3);
        assert_eq!(s.expire("foo", 1000), None);
        let st = s.stats("foo").unwrap();
        assert_eq!((st.msgs, st.last_seq), (0, 3), "sequences are never reused");
    }

    #[test]
    fn time_lookup() {
        let mut s = MemStore::new(0);
        s.create_channel("foo", ChannelLimits::default()).unwrap();
        for (seq, ts) in [(1, 10), (2, 20), (3, 20), (4, 30)] {
            s.append("foo", msg(seq, ts, b"x")).unwrap();
        }
        assert_eq!(s.first_seq_at_or_after("foo", 0), Some(1));
        assert_eq!(s.first_seq_at_or_after("foo", 20), Some(2));
        assert_eq!(s.first_seq_at_or_after("foo", 21), Some(4));
        assert_eq!(s.first_seq_at_or_after("foo", 31), Some(5));
        assert_eq!(s.first_seq_at_or_after("nope", 0), None);
    }

    #[test]
    fn stored_message_round_trips() {
        let m = MsgProto {
            sequence: 7,
            subject: "foo".into(),
            reply: "r".into(),
            data: Bytes::from_static(b"hello"),
            timestamp: 42,
            ..MsgProto::default()
        };
        let stored = StoredMsg::encode(&m);
        assert_eq!((stored.sequence, stored.timestamp), (7, 42));
        assert_eq!(stored.decode().unwrap(), m);
    }
}
