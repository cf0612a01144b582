//! [`MsgLog`]: the file store's messages in memory as an index (timestamp,
//! slice, offset and size of each) with a bounded cache of payloads. A
//! payload not in the cache is read back from its slice on demand (the
//! store issues the read; see [`super::store`]): a store larger than memory
//! is served with at most the cache's budget of payloads held.
//!
//! The limits (`max_msgs`, `max_bytes` keeping the last message, `max_age`)
//! apply as in the memory store, counting each message as the file store
//! does (its stored size plus the 40 bytes of record and index headers).
//! The cache drops the payloads inserted first once over its budget, never
//! one whose write has not completed (its only copy).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::msgs::MSG_RECORD_OVERHEAD;
use crate::stan::store::{ChannelLimits, ChannelStats, StoreError, StoredMsg};

/// One message in the index.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Timestamp, Unix ns.
    pub timestamp: i64,
    /// Slice number.
    pub slice: u64,
    /// Offset of its record in the slice's data file.
    pub offset: u64,
    /// Size of the stored record's payload (the `MsgProto` as on disk).
    pub size: u32,
    /// The `MsgProto` as delivered, when cached.
    pub payload: Option<Bytes>,
    /// A sequence missing from the files (a gap in a damaged store): never
    /// served, counted nowhere.
    pub missing: bool,
}

impl Entry {
    /// What the entry counts for in the channel's bytes.
    fn accounted(&self) -> u64 {
        if self.missing {
            0
        } else {
            u64::from(self.size) + MSG_RECORD_OVERHEAD
        }
    }
}

#[derive(Debug)]
struct Log {
    id: u32,
    limits: ChannelLimits,
    entries: VecDeque<Entry>,
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
    /// Entries standing for missing sequences.
    missing: u64,
    /// Messages up to this sequence are on disk (evictable).
    written: u64,
}

impl Log {
    fn stats(&self) -> ChannelStats {
        ChannelStats {
            msgs: self.entries.len() as u64 - self.missing,
            bytes: self.bytes,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
        }
    }

    fn index(&self, seq: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        usize::try_from(seq.checked_sub(self.first_seq)?)
            .ok()
            .filter(|&i| i < self.entries.len())
    }
}

/// The messages of every channel. See the module docs.
#[derive(Debug)]
pub struct MsgLog {
    max_channels: usize,
    logs: BTreeMap<String, Log>,
    names: BTreeMap<u32, String>,
    next_id: u32,
    /// Payload bytes cached, and the budget.
    cached: u64,
    budget: u64,
    /// Cached payloads in insertion order: `(channel id, sequence)`.
    fifo: VecDeque<(u32, u64)>,
}

impl MsgLog {
    /// An empty log admitting `max_channels` channels (0: unlimited),
    /// caching up to `budget` bytes of payloads.
    pub fn new(max_channels: usize, budget: u64) -> MsgLog {
        MsgLog {
            max_channels,
            logs: BTreeMap::new(),
            names: BTreeMap::new(),
            next_id: 0,
            cached: 0,
            budget,
            fifo: VecDeque::new(),
        }
    }

    /// Payload bytes held in the cache.
    pub fn cached_bytes(&self) -> u64 {
        self.cached
    }

    /// Names of the channels, sorted.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// Creates a channel (nothing if it exists).
    pub fn create_channel(&mut self, name: &str, limits: ChannelLimits) -> Result<(), StoreError> {
        if self.logs.contains_key(name) {
            return Ok(());
        }
        if self.max_channels > 0 && self.logs.len() >= self.max_channels {
            return Err(StoreError::TooManyChannels);
        }
        self.insert(name, limits, 0, VecDeque::new());
        Ok(())
    }

    fn insert(
        &mut self,
        name: &str,
        limits: ChannelLimits,
        last_seq: u64,
        entries: VecDeque<Entry>,
    ) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let bytes = entries.iter().map(Entry::accounted).sum();
        let missing = entries.iter().filter(|e| e.missing).count() as u64;
        let first_seq = (last_seq + 1).saturating_sub(entries.len() as u64);
        self.names.insert(id, name.to_owned());
        self.logs.insert(
            name.to_owned(),
            Log {
                id,
                limits,
                entries,
                first_seq: if last_seq == 0 { 0 } else { first_seq },
                last_seq,
                bytes,
                missing,
                written: last_seq,
            },
        );
    }

    /// Puts back a recovered channel: its available messages (in sequence
    /// order, ending at `last_seq`, limits applied), none cached.
    pub fn restore_channel(
        &mut self,
        name: &str,
        limits: ChannelLimits,
        last_seq: u64,
        entries: impl IntoIterator<Item = Entry>,
    ) {
        let entries: VecDeque<Entry> = entries.into_iter().collect();
        self.insert(name, limits, last_seq, entries);
        if let Some(log) = self.logs.get_mut(name) {
            if log.entries.is_empty() {
                log.first_seq = last_seq + 1;
            }
        }
    }

    /// Deletes a channel.
    pub fn delete_channel(&mut self, name: &str) -> Result<(), StoreError> {
        let log = self.logs.remove(name).ok_or(StoreError::UnknownChannel)?;
        self.names.remove(&log.id);
        let freed: u64 = log
            .entries
            .iter()
            .filter_map(|e| e.payload.as_ref())
            .map(|p| p.len() as u64)
            .sum();
        self.cached -= freed;
        // Their FIFO places are skipped when reached.
        Ok(())
    }

    /// Appends message `msg` (its payload cached) stored at `offset` of
    /// `slice` with `size` bytes on disk; applies the count and size limits.
    pub fn append(
        &mut self,
        name: &str,
        msg: StoredMsg,
        slice: u64,
        offset: u64,
        size: u32,
    ) -> Result<(), StoreError> {
        let log = self.logs.get_mut(name).ok_or(StoreError::UnknownChannel)?;
        if msg.sequence != log.last_seq + 1 {
            return Err(StoreError::OutOfOrder {
                channel: name.to_owned(),
                expected: log.last_seq + 1,
                got: msg.sequence,
            });
        }
        if log.entries.is_empty() {
            log.first_seq = msg.sequence;
        }
        log.last_seq = msg.sequence;
        log.bytes += u64::from(size) + MSG_RECORD_OVERHEAD;
        self.cached += msg.encoded.len() as u64;
        self.fifo.push_back((log.id, msg.sequence));
        log.entries.push_back(Entry {
            timestamp: msg.timestamp,
            slice,
            offset,
            size,
            payload: Some(msg.encoded),
            missing: false,
        });
        let (max_msgs, max_bytes) = (log.limits.max_msgs, log.limits.max_bytes);
        while log.entries.len() > 1
            && ((max_msgs > 0 && log.entries.len() as u64 > max_msgs)
                || (max_bytes > 0 && log.bytes > max_bytes))
        {
            drop_first(log, &mut self.cached);
        }
        Ok(())
    }

    /// The message `seq` of `name`: `Some(Some(msg))` cached, `Some(None)`
    /// stored but not cached, `None` not stored.
    pub fn get(&self, name: &str, seq: u64) -> Option<Option<StoredMsg>> {
        let log = self.logs.get(name)?;
        let e = log.entries.get(log.index(seq)?)?;
        if e.missing {
            return None;
        }
        Some(e.payload.clone().map(|encoded| StoredMsg {
            sequence: seq,
            timestamp: e.timestamp,
            encoded,
        }))
    }

    /// The index entries of `name` from `seq` on, with their sequences.
    pub fn entries_from(&self, name: &str, seq: u64) -> impl Iterator<Item = (u64, &Entry)> {
        let log = self.logs.get(name);
        let start = log.and_then(|l| l.index(seq));
        log.into_iter()
            .zip(start)
            .flat_map(move |(l, i)| l.entries.range(i..).zip(seq..))
            .map(|(e, s)| (s, e))
    }

    /// Caches the payload read back for `seq` (if still stored and not
    /// cached).
    pub fn fill(&mut self, name: &str, seq: u64, payload: Bytes) {
        let Some(log) = self.logs.get_mut(name) else {
            return;
        };
        let Some(e) = log.index(seq).and_then(|i| log.entries.get_mut(i)) else {
            return;
        };
        if e.payload.is_none() {
            self.cached += payload.len() as u64;
            self.fifo.push_back((log.id, seq));
            e.payload = Some(payload);
        }
    }

    /// Messages of `name` up to `seq` are on disk.
    pub fn written(&mut self, name: &str, seq: u64) {
        if let Some(log) = self.logs.get_mut(name) {
            log.written = log.written.max(seq);
        }
    }

    /// Drops cached payloads, oldest first, down to the budget (never one
    /// not yet on disk: the cache may stay over budget until it is).
    pub fn evict(&mut self) {
        while self.cached > self.budget {
            let Some(&(id, seq)) = self.fifo.front() else {
                return;
            };
            let log = self.names.get(&id).and_then(|n| self.logs.get_mut(n));
            if let Some(log) = log {
                if seq > log.written {
                    return;
                }
                if let Some(e) = log.index(seq).and_then(|i| log.entries.get_mut(i)) {
                    if let Some(p) = e.payload.take() {
                        self.cached -= p.len() as u64;
                    }
                }
            }
            self.fifo.pop_front();
        }
        // Places of payloads already gone (limits, deleted channels) do not
        // pile up.
        if self.fifo.len() > 2 * (self.cached as usize / 64 + 1024) {
            let logs = &self.logs;
            let names = &self.names;
            self.fifo.retain(|&(id, seq)| {
                names
                    .get(&id)
                    .and_then(|n| logs.get(n))
                    .and_then(|l| l.index(seq).and_then(|i| l.entries.get(i)))
                    .is_some_and(|e| e.payload.is_some())
            });
        }
    }

    /// Counters of a channel.
    pub fn stats(&self, name: &str) -> Option<ChannelStats> {
        self.logs.get(name).map(Log::stats)
    }

    /// The timestamp of `seq`.
    pub fn timestamp_of(&self, name: &str, seq: u64) -> Option<i64> {
        let log = self.logs.get(name)?;
        log.entries.get(log.index(seq)?).map(|e| e.timestamp)
    }

    /// The first sequence stored at or after `timestamp`, or `last + 1`.
    pub fn first_seq_at_or_after(&self, name: &str, timestamp: i64) -> Option<u64> {
        let log = self.logs.get(name)?;
        let i = log.entries.partition_point(|e| e.timestamp < timestamp);
        Some(if i < log.entries.len() {
            log.first_seq + i as u64
        } else {
            log.last_seq + 1
        })
    }

    /// Removes messages older than `max_age` at `now`; the next expiry.
    pub fn expire(&mut self, name: &str, now: i64) -> Option<i64> {
        let log = self.logs.get_mut(name)?;
        let max_age = i64::try_from(log.limits.max_age.as_nanos()).unwrap_or(i64::MAX);
        if max_age == 0 {
            return None;
        }
        while log
            .entries
            .front()
            .is_some_and(|e| now.saturating_sub(e.timestamp) >= max_age)
        {
            drop_first(log, &mut self.cached);
        }
        log.entries
            .front()
            .map(|e| e.timestamp.saturating_add(max_age))
    }
}

fn drop_first(log: &mut Log, cached: &mut u64) {
    if let Some(e) = log.entries.pop_front() {
        log.bytes -= e.accounted();
        log.missing -= u64::from(e.missing);
        if let Some(p) = e.payload {
            *cached -= p.len() as u64;
        }
        log.first_seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stan_proto::MsgProto;

    fn msg(seq: u64, ts: i64, data: &[u8]) -> StoredMsg {
        StoredMsg::encode(&MsgProto {
            sequence: seq,
            subject: "foo".into(),
            data: Bytes::copy_from_slice(data),
            timestamp: ts,
            ..MsgProto::default()
        })
    }

    #[test]
    fn the_cache_keeps_its_budget_but_never_drops_an_unwritten_payload() {
        let mut log = MsgLog::new(0, 100);
        log.create_channel("foo", ChannelLimits::default()).unwrap();
        for seq in 1..=10 {
            let m = msg(seq, seq as i64, &[7; 40]);
            let size = m.encoded.len() as u32;
            log.append("foo", m, 1, seq * 100, size).unwrap();
        }
        log.evict();
        assert!(log.cached_bytes() > 100, "nothing written yet: all kept");
        log.written("foo", 6);
        log.evict();
        assert!(matches!(log.get("foo", 1), Some(None)), "written, evicted");
        assert!(matches!(log.get("foo", 10), Some(Some(_))), "not written");
        assert!(log.cached_bytes() <= 100 || log.get("foo", 6).unwrap().is_none());
        // Read back: cached again.
        log.fill("foo", 1, msg(1, 1, &[7; 40]).encoded);
        assert_eq!(log.get("foo", 1).unwrap().unwrap().sequence, 1);
        assert_eq!(
            log.entries_from("foo", 9)
                .map(|(s, _)| s)
                .collect::<Vec<_>>(),
            [9, 10]
        );
        let st = log.stats("foo").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.last_seq), (10, 1, 10));
        assert!(log.get("foo", 11).is_none());
    }

    #[test]
    fn limits_and_restored_channels() {
        let mut log = MsgLog::new(1, 1 << 20);
        log.create_channel(
            "foo",
            ChannelLimits {
                max_msgs: 3,
                ..ChannelLimits::default()
            },
        )
        .unwrap();
        assert_eq!(
            log.create_channel("bar", ChannelLimits::default()),
            Err(StoreError::TooManyChannels)
        );
        for seq in 1..=5 {
            log.append("foo", msg(seq, seq as i64, b"x"), 1, 0, 10)
                .unwrap();
        }
        let st = log.stats("foo").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.bytes), (3, 3, 3 * 50));
        assert_eq!(log.first_seq_at_or_after("foo", 4), Some(4));
        assert_eq!(log.first_seq_at_or_after("foo", 99), Some(6));
        log.delete_channel("foo").unwrap();
        assert_eq!(log.cached_bytes(), 0);
        let entry = |ts| Entry {
            timestamp: ts,
            slice: 2,
            offset: 4,
            size: 10,
            payload: None,
            missing: false,
        };
        log.restore_channel("bar", ChannelLimits::default(), 9, [entry(1), entry(2)]);
        let st = log.stats("bar").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.last_seq), (2, 8, 9));
        assert!(matches!(log.get("bar", 8), Some(None)));
        log.restore_channel("empty", ChannelLimits::default(), 4, []);
        let st = log.stats("empty").unwrap();
        assert_eq!((st.msgs, st.first_seq, st.last_seq), (0, 5, 4));
    }
}
