//! Reading payloads back: a payload not in the cache is read from its
//! slice (with what follows it, up to the read-ahead), checked (CRC, the
//! sequence it must hold) and decrypted, then cached for the waiting
//! deliveries.
//!
//! A record found damaged (or missing) is skipped, never served wrong, and
//! reported. A read that failed (an error of the system: EIO, too many
//! open files) is the read's alone: the store keeps writing, reads of that
//! slice are held (the deliveries that need them wait; other slices are
//! read as usual) and tried again after a backoff (1 s, doubling with each
//! failure in a row up to 30 s), each failure reported. Once the journal
//! has failed for good, nothing is read any more.

use bytes::Bytes;

use super::{FileStore, FIRST_RETRY, LAST_RETRY};
use crate::stan::filestore::io::{FileOp, IoFailure};
use crate::stan::filestore::layout::FileId;
use crate::stan::filestore::record::{read_record, Framing, RECORD_HEADER_SIZE};
use crate::stan::store::ReadTrouble;

/// A read in flight: the messages of `channel` from `first` to `last`, in
/// slice `slice`.
#[derive(Debug)]
pub(super) struct PendingRead {
    channel: String,
    slice: u64,
    first: u64,
    last: u64,
}

/// A slice whose last read failed: read again once `at` (Unix ns) has
/// passed (`None`: its reads may go out), the wait doubling with each
/// failure in a row.
#[derive(Debug)]
pub(super) struct ReadRetry {
    at: Option<i64>,
    backoff: i64,
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

impl FileStore {
    /// Reads back the payloads of `channel` from `seq` on (as far as the
    /// read-ahead goes within its slice), unless a read covering `seq` is in
    /// flight.
    pub(super) fn read_back(&mut self, channel: &str, seq: u64) {
        let in_flight = self
            .reads
            .values()
            .any(|r| r.channel == channel && (r.first..=r.last).contains(&seq));
        if in_flight || self.journal.failure().is_some() {
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
        let held = self
            .read_retry
            .get(&(channel.to_owned(), slice))
            .is_some_and(|r| r.at.is_some());
        if held {
            return;
        }
        let token = self.next_read;
        self.next_read += 1;
        self.reads.insert(
            token,
            PendingRead {
                channel: channel.to_owned(),
                slice,
                first: seq,
                last,
            },
        );
        self.journal.read(FileOp::Read {
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
    pub(super) fn read_done(&mut self, token: u64, bytes: Bytes) {
        let Some(PendingRead {
            channel,
            slice,
            first,
            last,
        }) = self.reads.remove(&token)
        else {
            return;
        };
        self.read_retry.remove(&(channel.clone(), slice));
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
        let mut damaged: Option<(u64, u64, u64)> = None; // first, last, count
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
                    let (_, to, count) = damaged.get_or_insert((seq, seq, 0));
                    *to = seq;
                    *count += 1;
                }
            }
        }
        if let Some((first, last, count)) = damaged {
            self.read_trouble.push_back(ReadTrouble::Damaged {
                channel: channel.clone(),
                file: FileId::SliceData {
                    channel: channel.clone(),
                    slice,
                }
                .to_string(),
                first,
                last,
                count,
            });
        }
        self.note_read_in(channel);
    }

    /// A read failed: reported, and the reads of its slice held until the
    /// backoff has passed ([`FileStore::release_reads`]).
    pub(super) fn read_failed(&mut self, token: u64, failure: IoFailure) {
        let Some(read) = self.reads.remove(&token) else {
            return;
        };
        let key = (read.channel.clone(), read.slice);
        let backoff = match self.read_retry.get(&key) {
            // A failure of the retry: the wait doubles.
            Some(ReadRetry { at: None, backoff }) => backoff.saturating_mul(2).min(LAST_RETRY),
            // Another read of the same round: the same wait.
            Some(ReadRetry {
                at: Some(_),
                backoff,
            }) => *backoff,
            None => FIRST_RETRY,
        };
        self.read_retry.insert(
            key,
            ReadRetry {
                at: Some(self.now.saturating_add(backoff)),
                backoff,
            },
        );
        self.read_trouble.push_back(ReadTrouble::Failed {
            channel: read.channel,
            first: read.first,
            last: read.last,
            error: failure.to_string(),
            retry_in: std::time::Duration::from_nanos(u64::try_from(backoff).unwrap_or(0)),
        });
    }

    /// Lets the reads of the slices whose backoff has passed go out again:
    /// the engine's waiting deliveries on their channels fetch once more.
    pub(super) fn release_reads(&mut self) {
        let now = self.now;
        let due: Vec<String> = self
            .read_retry
            .iter_mut()
            .filter(|(_, r)| r.at.is_some_and(|at| at <= now))
            .map(|((channel, _), r)| {
                r.at = None;
                channel.clone()
            })
            .collect();
        for channel in due {
            self.note_read_in(channel);
        }
    }

    /// When the next held slice's reads may go out again; now if the
    /// engine has channels to resume.
    pub(super) fn read_deadline(&self) -> Option<i64> {
        if !self.read_in.is_empty() {
            return Some(self.now);
        }
        self.read_retry.values().filter_map(|r| r.at).min()
    }

    fn note_read_in(&mut self, channel: String) {
        if !self.read_in.contains(&channel) {
            self.read_in.push(channel);
        }
    }
}
