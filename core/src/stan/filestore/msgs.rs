//! Folding a channel's message slices (`msgs.N.dat` with `msgs.N.idx`) into
//! its messages, and applying the channel limits the way Go's recovery does.
//!
//! # Slices
//!
//! Every record of a data file is a message (its `MsgProto` gives the
//! sequence and timestamp); sequences must increase within a slice and from
//! one slice to the next (gaps are allowed: a file truncated after a crash
//! leaves one). The data file is the truth: every record's CRC has been
//! checked by the scan, where Go, when an index exists, only checks the
//! index's last entry against the data file. The index is compared with the
//! entries the data file gives; if it is missing, damaged or different in
//! any way (fewer entries, as a crash between the data and the index write
//! leaves, or more), it is to be rewritten from them
//! ([`IndexStatus::Rebuild`]), as Go rewrites an index it cannot use. A
//! slice without any message is left out of the channel, as Go leaves it.
//!
//! # Limits at recovery
//!
//! Go's file store never rewrites a data file to drop messages: a message
//! dropped by `max_msgs`/`max_bytes`/`max_age` is only counted as removed
//! from the front of its slice, and a slice whose messages are all removed is
//! deleted (unless it is the last). So after a restart the files hold every
//! message since the oldest remaining slice began, and recovery applies the
//! limits again (`enforceLimits` right after the slices are read, then
//! `expireMsgs` if `max_age` is set): while there is more than one message
//! and the count is above `max_msgs` or the bytes above `max_bytes`, the
//! first message is removed; then, with `max_age`, every first message at
//! least `max_age` old is removed (possibly all of them). A message counts
//! its `MsgProto` size plus 40 bytes (its 8-byte record header and 32-byte
//! index record). That is how the fixture's `limited` channel, 25 records
//! in `msgs.1.dat` and `max_msgs` 10, is served as first 16, last 25.

use std::borrow::Borrow;
use std::fmt;

use bytes::Bytes;
use stan_proto::MsgProto;

use super::crc::Crc32;
use super::fold::{decode, FoldError};
use super::index::{scan_index, IndexEntry, IndexError, INDEX_RECORD_SIZE};
use super::record::{check_version, Record, VersionError, RECORD_HEADER_SIZE};
use crate::stan::store::{ChannelLimits, ChannelStats, StoredMsg};

/// What a stored message counts for in the file store's byte accounting on
/// top of its `MsgProto`: the record header and the index record (Go's
/// `msgRecordOverhead`).
pub const MSG_RECORD_OVERHEAD: u64 = (RECORD_HEADER_SIZE + INDEX_RECORD_SIZE) as u64;

/// A message read from a data file: its index entry and its encoded
/// `MsgProto` (a slice of the file's buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredMsg {
    /// Sequence, offset, timestamp and size, as its index record has them.
    pub index: IndexEntry,
    /// The encoded `MsgProto`, as stored.
    pub encoded: Bytes,
}

impl RecoveredMsg {
    /// The message as the [`Store`](crate::stan::store::Store) keeps it.
    pub fn stored(&self) -> StoredMsg {
        StoredMsg {
            sequence: self.index.seq,
            timestamp: self.index.timestamp,
            encoded: self.encoded.clone(),
        }
    }

    /// What the message counts for in the channel's bytes (size + 40).
    pub fn accounted_bytes(&self) -> u64 {
        u64::from(self.index.size) + MSG_RECORD_OVERHEAD
    }
}

/// Why an index file is to be rewritten from its data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexRebuild {
    /// There is no index file.
    Missing,
    /// Its version header is refused.
    Version(VersionError),
    /// A record is damaged (at this offset of the index file).
    Record {
        /// Offset in the index file.
        offset: u64,
        /// What is wrong with it.
        error: IndexError,
    },
    /// The index's entries differ from the data file's from this position
    /// on (0-based; it may be the end of either list).
    Differs {
        /// First entry that differs.
        position: usize,
        /// Entries in the index.
        index_entries: usize,
        /// Messages in the data file.
        data_entries: usize,
    },
}

impl fmt::Display for IndexRebuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexRebuild::Missing => f.write_str("no index file"),
            IndexRebuild::Version(e) => write!(f, "{e}"),
            IndexRebuild::Record { offset, error } => {
                write!(f, "bad index record at offset {offset}: {error}")
            }
            IndexRebuild::Differs {
                position,
                index_entries,
                data_entries,
            } => write!(
                f,
                "index differs from the data file at entry {position} \
                 ({index_entries} index entries, {data_entries} messages)"
            ),
        }
    }
}

/// Whether a slice's index file can be kept as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexStatus {
    /// It matches the data file exactly.
    Valid,
    /// It must be rewritten from the slice's entries.
    Rebuild(IndexRebuild),
}

/// One slice: its messages, how many of them the limits removed from its
/// front, and the state of its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSlice {
    /// Slice number (the `N` of `msgs.N.dat`).
    pub number: u64,
    /// Every message of the data file, in order (the removed ones first).
    pub msgs: Vec<RecoveredMsg>,
    /// Messages removed from the front by the limits (Go's `rmCount`).
    pub removed: usize,
    /// Whether the index file is kept or rewritten.
    pub index: IndexStatus,
}

impl RecoveredSlice {
    /// The messages not removed by the limits.
    pub fn live(&self) -> &[RecoveredMsg] {
        self.msgs.get(self.removed..).unwrap_or_default()
    }

    /// The index entries of every message (what a rewritten index holds).
    pub fn entries(&self) -> impl Iterator<Item = IndexEntry> + '_ {
        self.msgs.iter().map(|m| m.index)
    }

    /// Data file size the messages account for (version header included):
    /// where the next record is appended.
    pub fn data_len(&self) -> u64 {
        self.msgs.last().map_or(4, |m| {
            m.index.offset + RECORD_HEADER_SIZE as u64 + u64::from(m.index.size)
        })
    }
}

/// Folds a slice: the data file's records (scanned, in order) and the index
/// file's bytes, if there is one. `crc` checks the index records' CRCs.
pub fn fold_slice<I>(
    number: u64,
    data: I,
    index: Option<&[u8]>,
    crc: Option<&Crc32>,
) -> Result<RecoveredSlice, FoldError>
where
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut msgs: Vec<RecoveredMsg> = Vec::new();
    let mut previous = 0;
    for rec in data {
        let rec = rec.borrow();
        let m: MsgProto = decode(rec, "MsgProto")?;
        if m.sequence <= previous {
            return Err(FoldError::SequenceOrder {
                offset: rec.offset,
                seq: m.sequence,
                previous,
            });
        }
        previous = m.sequence;
        msgs.push(RecoveredMsg {
            index: IndexEntry {
                seq: m.sequence,
                offset: rec.offset,
                timestamp: m.timestamp,
                // A record's size fits in the header's u32.
                size: u32::try_from(rec.payload.len()).unwrap_or(u32::MAX),
            },
            encoded: rec.payload.clone(),
        });
    }
    let index = check_index(index, &msgs, crc);
    Ok(RecoveredSlice {
        number,
        msgs,
        removed: 0,
        index,
    })
}

fn check_index(index: Option<&[u8]>, msgs: &[RecoveredMsg], crc: Option<&Crc32>) -> IndexStatus {
    let Some(file) = index else {
        return IndexStatus::Rebuild(IndexRebuild::Missing);
    };
    if let Err(e) = check_version(file) {
        return IndexStatus::Rebuild(IndexRebuild::Version(e));
    }
    let scan = scan_index(file, crc);
    let position = scan
        .entries
        .iter()
        .zip(msgs)
        .position(|(e, m)| *e != m.index)
        .unwrap_or(scan.entries.len().min(msgs.len()));
    if position < msgs.len() || position < scan.entries.len() {
        // A damaged record where the data has more messages is the reason.
        if let Some((offset, error)) = scan.problem.filter(|_| position == scan.entries.len()) {
            return IndexStatus::Rebuild(IndexRebuild::Record { offset, error });
        }
        return IndexStatus::Rebuild(IndexRebuild::Differs {
            position,
            index_entries: scan.entries.len(),
            data_entries: msgs.len(),
        });
    }
    match scan.problem {
        // Zeros or garbage after the last entry: rewritten to drop them.
        Some((offset, error)) => IndexStatus::Rebuild(IndexRebuild::Record { offset, error }),
        None => IndexStatus::Valid,
    }
}

/// A message sequence out of order across slices: the slice it is in, and
/// the error.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("slice {slice}: {error}")]
pub struct SliceOrderError {
    /// Number of the slice holding the message.
    pub slice: u64,
    /// The error (a [`FoldError::SequenceOrder`]).
    pub error: FoldError,
}

/// A channel's messages: its slices in order, and its counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveredMsgs {
    /// The slices holding messages, by ascending number.
    pub slices: Vec<RecoveredSlice>,
    /// Slices without any message (left out, as Go leaves them).
    pub empty_slices: Vec<u64>,
    /// Slices whose messages the limits all removed, deleted from `slices`:
    /// their files are to be deleted (or handed to the archive script).
    pub removed_slices: Vec<u64>,
    /// First available sequence (`last_seq + 1` once every message expired,
    /// 0 if the channel never had one).
    pub first_seq: u64,
    /// Last sequence ever stored (0 if none).
    pub last_seq: u64,
    /// Messages available.
    pub count: u64,
    /// Bytes they account for (sizes + 40 each).
    pub bytes: u64,
}

impl RecoveredMsgs {
    /// Assembles a channel from its slices (in any order): sequences must
    /// increase from one slice to the next.
    pub fn new(mut slices: Vec<RecoveredSlice>) -> Result<RecoveredMsgs, SliceOrderError> {
        slices.sort_by_key(|s| s.number);
        let mut out = RecoveredMsgs::default();
        let mut previous = 0;
        for slice in slices {
            if slice.msgs.is_empty() {
                out.empty_slices.push(slice.number);
                continue;
            }
            for m in slice.live() {
                if m.index.seq <= previous {
                    return Err(SliceOrderError {
                        slice: slice.number,
                        error: FoldError::SequenceOrder {
                            offset: m.index.offset,
                            seq: m.index.seq,
                            previous,
                        },
                    });
                }
                previous = m.index.seq;
                out.count += 1;
                out.bytes += m.accounted_bytes();
            }
            out.slices.push(slice);
        }
        out.last_seq = previous;
        let first = out.live().next().map_or(0, |m| m.index.seq);
        out.first_seq = first;
        Ok(out)
    }

    /// The available messages, in order.
    pub fn live(&self) -> impl Iterator<Item = &RecoveredMsg> + '_ {
        self.slices.iter().flat_map(RecoveredSlice::live)
    }

    /// The available message with sequence `seq`.
    pub fn get(&self, seq: u64) -> Option<&RecoveredMsg> {
        let slice = self
            .slices
            .iter()
            .find(|s| s.live().last().is_some_and(|m| m.index.seq >= seq))?;
        let live = slice.live();
        live.binary_search_by_key(&seq, |m| m.index.seq)
            .ok()
            .and_then(|i| live.get(i))
    }

    /// The counters, as the store reports them (file store accounting).
    pub fn stats(&self) -> ChannelStats {
        ChannelStats {
            msgs: self.count,
            bytes: self.bytes,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
        }
    }

    /// Applies the channel's limits as Go's recovery does (see the [module
    /// documentation](self)): `max_msgs`/`max_bytes` (keeping at least one
    /// message), then, if `now` (Unix ns) is given and `max_age` is set, the
    /// age limit. Returns how many messages were removed.
    pub fn apply_limits(&mut self, limits: &ChannelLimits, now: Option<i64>) -> u64 {
        let mut removed = 0;
        let (max_msgs, max_bytes) = (limits.max_msgs, limits.max_bytes);
        while self.count > 1
            && ((max_msgs > 0 && self.count > max_msgs)
                || (max_bytes > 0 && self.bytes > max_bytes))
        {
            self.remove_first();
            removed += 1;
        }
        let max_age = i64::try_from(limits.max_age.as_nanos()).unwrap_or(i64::MAX);
        if let Some(now) = now.filter(|_| max_age > 0) {
            while self
                .live()
                .next()
                .is_some_and(|m| now.saturating_sub(m.index.timestamp) >= max_age)
            {
                self.remove_first();
                removed += 1;
            }
        }
        removed
    }

    /// Removes the first available message; a slice left without any is
    /// deleted unless it is the last.
    fn remove_first(&mut self) {
        let Some(first) = self.slices.iter().position(|s| !s.live().is_empty()) else {
            return;
        };
        let Some(slice) = self.slices.get_mut(first) else {
            return;
        };
        let Some(m) = slice.live().first() else {
            return;
        };
        let bytes = m.accounted_bytes();
        slice.removed += 1;
        self.count -= 1;
        self.bytes = self.bytes.saturating_sub(bytes);
        let first = self
            .live()
            .next()
            .map_or(self.last_seq.saturating_add(1), |m| m.index.seq);
        self.first_seq = first;
        if self.slices.len() > 1 {
            if let Some(gone) = self.slices.first().filter(|s| s.live().is_empty()) {
                self.removed_slices.push(gone.number);
                self.slices.remove(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stan::filestore::record::{encode_message, put_version, Framing, RecordTag};
    use crate::stan::filestore::scan::{scan, FileEnd, ScanOptions};
    use bytes::BytesMut;
    use stan_proto::Message;
    use std::time::Duration;

    const CRC: Option<&Crc32> = Some(&Crc32::IEEE);

    /// A data file with the given (sequence, timestamp, payload size), and
    /// its correct index.
    fn slice_files(msgs: &[(u64, i64, usize)]) -> (Bytes, Bytes) {
        let mut dat = BytesMut::new();
        let mut idx = BytesMut::new();
        put_version(&mut dat);
        put_version(&mut idx);
        for &(seq, ts, n) in msgs {
            let m = MsgProto {
                sequence: seq,
                subject: "foo".into(),
                data: Bytes::from(vec![7; n]),
                timestamp: ts,
                ..MsgProto::default()
            };
            let offset = dat.len() as u64;
            encode_message(&mut dat, RecordTag::Untyped, &m, &Crc32::IEEE).unwrap();
            IndexEntry {
                seq,
                offset,
                timestamp: ts,
                size: m.encoded_len() as u32,
            }
            .encode(&mut idx, &Crc32::IEEE);
        }
        (dat.freeze(), idx.freeze())
    }

    fn fold(number: u64, dat: &Bytes, idx: Option<&Bytes>) -> Result<RecoveredSlice, FoldError> {
        let s = scan(
            dat,
            ScanOptions {
                framing: Framing::Untyped,
                crc: CRC,
            },
        )
        .unwrap();
        assert_eq!(s.end, FileEnd::Clean);
        fold_slice(number, &s.records, idx.map(|b| &b[..]), CRC)
    }

    fn seqs(m: &RecoveredMsgs) -> Vec<u64> {
        m.live().map(|m| m.index.seq).collect()
    }

    #[test]
    fn slice_with_valid_index() {
        let (dat, idx) = slice_files(&[(1, 10, 3), (2, 20, 0), (3, 30, 5)]);
        let s = fold(1, &dat, Some(&idx)).unwrap();
        assert_eq!(s.index, IndexStatus::Valid);
        assert_eq!(s.msgs.len(), 3);
        assert_eq!(s.msgs[0].index.offset, 4);
        assert_eq!(s.data_len(), dat.len() as u64);
        let stored = s.msgs[2].stored();
        assert_eq!((stored.sequence, stored.timestamp), (3, 30));
        assert_eq!(stored.decode().unwrap().data.len(), 5);
        let mut rebuilt = BytesMut::new();
        put_version(&mut rebuilt);
        for e in s.entries() {
            e.encode(&mut rebuilt, &Crc32::IEEE);
        }
        assert_eq!(rebuilt, idx);
    }

    #[test]
    fn index_problems() {
        let (dat, idx) = slice_files(&[(1, 10, 3), (2, 20, 0), (3, 30, 5)]);
        let rebuild = |idx: Option<&Bytes>| fold(1, &dat, idx).unwrap().index;
        assert_eq!(rebuild(None), IndexStatus::Rebuild(IndexRebuild::Missing));
        // Short by one entry (crash between the data and the index write).
        let short = idx.slice(..idx.len() - 32);
        assert_eq!(
            rebuild(Some(&short)),
            IndexStatus::Rebuild(IndexRebuild::Differs {
                position: 2,
                index_entries: 2,
                data_entries: 3
            })
        );
        // Torn last entry.
        let torn = idx.slice(..idx.len() - 5);
        assert_eq!(
            rebuild(Some(&torn)),
            IndexStatus::Rebuild(IndexRebuild::Record {
                offset: 68,
                error: IndexError::Incomplete { available: 27 }
            })
        );
        // Zeros after the entries.
        let mut padded = BytesMut::from(&idx[..]);
        padded.extend_from_slice(&[0; 64]);
        assert_eq!(
            rebuild(Some(&padded.freeze())),
            IndexStatus::Rebuild(IndexRebuild::Record {
                offset: 100,
                error: IndexError::Zero
            })
        );
        // An entry that lies.
        let mut wrong = BytesMut::from(&idx[..]);
        let e = IndexEntry {
            seq: 2,
            offset: 999,
            timestamp: 20,
            size: 0,
        };
        wrong[36..68].copy_from_slice(&e.to_bytes(&Crc32::IEEE));
        let status = rebuild(Some(&wrong.freeze()));
        assert!(matches!(
            status,
            IndexStatus::Rebuild(IndexRebuild::Differs { position: 1, .. })
        ));
        // Bad version.
        assert_eq!(
            rebuild(Some(&Bytes::from_static(&[7, 0, 0, 0]))),
            IndexStatus::Rebuild(IndexRebuild::Version(VersionError::Unsupported {
                version: 7
            }))
        );
        assert_eq!(IndexRebuild::Missing.to_string(), "no index file");
    }

    #[test]
    fn sequences_must_increase() {
        let (dat, _) = slice_files(&[(1, 10, 3), (3, 20, 0), (3, 30, 5)]);
        let e = fold(1, &dat, None).unwrap_err();
        assert!(matches!(
            e,
            FoldError::SequenceOrder {
                seq: 3,
                previous: 3,
                ..
            }
        ));
        let (a, _) = slice_files(&[(5, 1, 1), (6, 1, 1)]);
        let (b, _) = slice_files(&[(6, 1, 1)]);
        let slices = vec![fold(1, &a, None).unwrap(), fold(2, &b, None).unwrap()];
        assert!(RecoveredMsgs::new(slices).is_err());
        let (zero, _) = slice_files(&[(0, 1, 1)]);
        assert!(fold(1, &zero, None).is_err());
    }

    fn channel(slices: &[&[(u64, i64, usize)]]) -> RecoveredMsgs {
        let folded = slices
            .iter()
            .enumerate()
            .map(|(i, msgs)| {
                let (dat, idx) = slice_files(msgs);
                fold(i as u64 + 1, &dat, Some(&idx)).unwrap()
            })
            .collect();
        RecoveredMsgs::new(folded).unwrap()
    }

    #[test]
    fn assembly_and_gaps() {
        let m = channel(&[&[(1, 1, 1), (2, 2, 1)], &[], &[(5, 3, 1)]]);
        assert_eq!(seqs(&m), [1, 2, 5]);
        assert_eq!(m.empty_slices, [2]);
        assert_eq!((m.first_seq, m.last_seq, m.count), (1, 5, 3));
        assert!(m.get(5).is_some() && m.get(3).is_none() && m.get(6).is_none());
        assert_eq!(m.get(2).unwrap().index.timestamp, 2);
        let one = m.get(1).unwrap().accounted_bytes();
        assert_eq!(m.bytes, 3 * one);
        let empty = RecoveredMsgs::new(Vec::new()).unwrap();
        assert_eq!(empty.stats(), ChannelStats::default());
    }

    #[test]
    fn max_msgs_at_recovery() {
        // The fixture's `limited` case: 25 messages on file, max_msgs 10.
        let msgs: Vec<_> = (1..=25).map(|s| (s, s as i64, 2)).collect();
        let mut m = channel(&[&msgs]);
        let limits = ChannelLimits {
            max_msgs: 10,
            ..ChannelLimits::default()
        };
        assert_eq!(m.apply_limits(&limits, None), 15);
        assert_eq!((m.first_seq, m.last_seq, m.count), (16, 25, 10));
        assert_eq!(m.slices[0].removed, 15);
        assert!(m.removed_slices.is_empty(), "the last slice stays");
        assert_eq!(m.bytes, 10 * m.get(16).unwrap().accounted_bytes());
        assert!(m.get(15).is_none());
    }

    #[test]
    fn whole_slices_removed_but_never_the_last() {
        let mut m = channel(&[
            &[(1, 1, 1), (2, 1, 1)],
            &[(3, 1, 1), (4, 1, 1)],
            &[(5, 1, 1)],
        ]);
        let limits = |n| ChannelLimits {
            max_msgs: n,
            ..ChannelLimits::default()
        };
        m.apply_limits(&limits(2), None);
        assert_eq!(seqs(&m), [4, 5]);
        assert_eq!(m.removed_slices, [1]);
        assert_eq!(m.slices[0].removed, 1);
        m.apply_limits(&limits(1), None);
        assert_eq!(seqs(&m), [5]);
        assert_eq!(m.removed_slices, [1, 2]);
        // max_bytes keeps the last message, whatever its size.
        let b = ChannelLimits {
            max_bytes: 1,
            ..ChannelLimits::default()
        };
        assert_eq!(m.apply_limits(&b, None), 0);
        assert_eq!(m.count, 1);
    }

    #[test]
    fn max_bytes_at_recovery() {
        let mut m = channel(&[&[(1, 1, 10), (2, 1, 10), (3, 1, 10)]]);
        let each = m.get(1).unwrap().accounted_bytes();
        let limits = ChannelLimits {
            max_bytes: 2 * each,
            ..ChannelLimits::default()
        };
        assert_eq!(m.apply_limits(&limits, None), 1);
        assert_eq!((m.first_seq, m.count, m.bytes), (2, 2, 2 * each));
    }

    #[test]
    fn max_age_at_recovery_can_expire_everything() {
        let mut m = channel(&[&[(1, 100, 1), (2, 200, 1)], &[(3, 300, 1)]]);
        let limits = ChannelLimits {
            max_age: Duration::from_nanos(100),
            ..ChannelLimits::default()
        };
        assert_eq!(m.apply_limits(&limits, None), 0, "no clock, no expiry");
        assert_eq!(m.apply_limits(&limits, Some(300)), 2);
        assert_eq!(seqs(&m), [3]);
        assert_eq!(m.removed_slices, [1]);
        assert_eq!(m.apply_limits(&limits, Some(400)), 1);
        assert_eq!((m.count, m.bytes, m.first_seq, m.last_seq), (0, 0, 4, 3));
        assert_eq!(m.slices.len(), 1, "the last slice stays, all removed");
        assert_eq!(m.apply_limits(&limits, Some(i64::MIN)), 0);
    }
}
