//! Reading payloads back: a payload not in the cache is read from its
//! slice (with what follows it, up to the read-ahead), checked (CRC, the
//! sequence it must hold) and decrypted, then cached for the waiting
//! deliveries.

use bytes::Bytes;

use super::FileStore;
use crate::stan::filestore::io::FileOp;
use crate::stan::filestore::layout::FileId;
use crate::stan::filestore::record::{read_record, Framing, RECORD_HEADER_SIZE};

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
}
