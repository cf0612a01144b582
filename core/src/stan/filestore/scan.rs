//! The recovery scan: a file's records in order, and how the file ends.
//!
//! # The rule
//!
//! After the version header (a bad one is a [`VersionError`]), records are
//! read one after the other from offset 4 until one of:
//!
//! * the end of the file, exactly at a record boundary: [`FileEnd::Clean`];
//! * a record that cannot be read ([`RecordError`]), classified by whether
//!   the file holds anything after it:
//!   - [`FileEnd::TornTail`] when the bad record is the file's last bytes:
//!     an incomplete header (1 to 7 bytes), a size running past the end of
//!     the file, a CRC mismatch on a record that ends exactly at the end of
//!     the file, or an all-zero header followed by nothing but zeros. This is
//!     what a crash in the middle of an append leaves (a write cut short, or
//!     extended with blocks that never got their data). The caller truncates
//!     the file at `offset`, logs the file, the offset and the reason, and
//!     goes on: nothing after `offset` was ever acknowledged.
//!   - [`FileEnd::Corrupt`] otherwise: a CRC mismatch on a record with more
//!     bytes after it, or an all-zero header with non-zero bytes after it.
//!     Appends never leave that; data was damaged in place. Start-up must
//!     stop, naming the file and the offset, unless `--file_truncate_bad_eof`
//!     is set, in which case the file is truncated at `offset` (everything
//!     after it is lost, and the log says so).
//!
//! A damaged size field makes a record in the middle of a file look like a
//! torn last one (its size runs past the end, or exactly to the end with a
//! CRC mismatch), and truncating there would silently drop every good record
//! after it. So before calling a size-past-the-end or CRC-at-the-end record
//! a torn tail, the scan looks for a good record after its header: a
//! position from which record headers chain exactly to the end of the file
//! and whose first record's CRC matches (with CRC checking off, the chain
//! alone). If there is one, the end is [`FileEnd::Corrupt`]
//! ([`RecordError::DamagedSize`] or the CRC mismatch). The search is linear
//! in the bytes after the bad header (a bounded number of header hops and
//! checksummed bytes; past the bound the tail is taken as torn), and a torn
//! append chaining by chance to the end of the file is improbable (and only
//! errs on the side of stopping).
//!
//! # How Go 0.25.6 decides, and where this differs
//!
//! Go's `readRecord` reports `io.EOF` at a record boundary (done),
//! `errNeedRewind` on an all-zero header (the file is truncated there and
//! recovery goes on, whatever follows), `io.ErrUnexpectedEOF` on a short
//! header or payload (fatal unless `--file_truncate_bad_eof`, which
//! truncates at the record's offset), and `corrupted data, expected crc ...`
//! on a CRC mismatch (always fatal, wherever the record is). This scan is
//! more forgiving of torn tails (truncated without the option, since a crash
//! mid-append is an expected event rather than damage: the option's witness
//! file and one-shot use stay for the corrupt case) and of a CRC mismatch on
//! the very last record (also a torn append), and stricter of an all-zero
//! header followed by data (corrupt, where Go silently drops the rest).
//! `server.dat` is the exception: there any bad ending is fatal, as in Go
//! (see [`recover`](mod@super::recover)).
//!
//! With CRC checking off (`--file_crc=false`) a damaged payload is only
//! caught when its protobuf fails to decode, which the folding reports.

use bytes::Bytes;

use super::crc::Crc32;
use super::record::{
    check_version, read_record, Framing, Record, RecordError, RecordHeader, VersionError,
    RECORD_HEADER_SIZE, VERSION_SIZE,
};

/// How a file is read: its framing and the CRC to check (`None` when
/// `--file_crc=false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions<'a> {
    /// Typed (`clients.dat`, `subs.dat`) or untyped (`server.dat`,
    /// `msgs.N.dat`).
    pub framing: Framing,
    /// The table of `--file_crc_poly` if `--file_crc`, else `None`.
    pub crc: Option<&'a Crc32>,
}

/// How a scanned file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEnd {
    /// Every byte belongs to a good record.
    Clean,
    /// The last record is incomplete or damaged, with nothing after it: a
    /// crash mid-append. Truncate the file at `offset` and log it.
    TornTail {
        /// Offset of the bad record: the file's new length.
        offset: u64,
        /// What is wrong with it.
        reason: RecordError,
    },
    /// A damaged record with data after it. Start-up stops, unless
    /// `--file_truncate_bad_eof` asks to truncate the file at `offset`.
    Corrupt {
        /// Offset of the bad record.
        offset: u64,
        /// What is wrong with it.
        reason: RecordError,
    },
}

impl FileEnd {
    /// Where the file is to be cut, if it is not clean.
    pub fn offset(&self) -> Option<u64> {
        match *self {
            FileEnd::Clean => None,
            FileEnd::TornTail { offset, .. } | FileEnd::Corrupt { offset, .. } => Some(offset),
        }
    }
}

/// A scanned file: its good records, and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The records before the end (or before the bad record), in order.
    pub records: Vec<Record>,
    /// How the file ends.
    pub end: FileEnd,
}

/// Reads a file's records one at a time (so a large file need not be held
/// as a list); [`Scanner::end`] tells how it ended once `next` returned
/// `None`. [`scan`] collects it.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    file: Bytes,
    offset: usize,
    opts: ScanOptions<'a>,
    end: Option<FileEnd>,
}

impl<'a> Scanner<'a> {
    /// Checks the version header and starts after it.
    pub fn new(file: Bytes, opts: ScanOptions<'a>) -> Result<Scanner<'a>, VersionError> {
        check_version(&file)?;
        Ok(Scanner {
            file,
            offset: VERSION_SIZE,
            opts,
            end: None,
        })
    }

    /// How the file ended: `None` until the records are exhausted.
    pub fn end(&self) -> Option<FileEnd> {
        self.end
    }

    /// Offset of the next record to read (the end of the last good one).
    pub fn offset(&self) -> u64 {
        self.offset as u64
    }

    fn classify(&self, reason: RecordError) -> FileEnd {
        let offset = self.offset as u64;
        let rest = self.file.get(self.offset..).unwrap_or_default();
        let after_header = self.offset + RECORD_HEADER_SIZE;
        let (torn, reason) = match reason {
            RecordError::IncompleteHeader { .. } | RecordError::DamagedSize { .. } => {
                (true, reason)
            }
            RecordError::IncompletePayload { size, .. } => {
                match later_record(&self.file, after_header, self.opts) {
                    Some(next_record) => (false, RecordError::DamagedSize { size, next_record }),
                    None => (true, reason),
                }
            }
            RecordError::ZeroHeader => (rest.iter().all(|&b| b == 0), reason),
            RecordError::CrcMismatch { .. } => {
                // The record is complete (its size fits): torn only if it is
                // the file's last, and no good record hides in it.
                let last = rest
                    .get(..RECORD_HEADER_SIZE)
                    .and_then(|h| h.try_into().ok())
                    .map(|h| RecordHeader::parse(h, self.opts.framing))
                    .is_none_or(|h| {
                        h.size as usize == rest.len().saturating_sub(RECORD_HEADER_SIZE)
                    });
                let torn = last && later_record(&self.file, after_header, self.opts).is_none();
                (torn, reason)
            }
        };
        if torn {
            FileEnd::TornTail { offset, reason }
        } else {
            FileEnd::Corrupt { offset, reason }
        }
    }
}

impl Iterator for Scanner<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.end.is_some() {
            return None;
        }
        match read_record(&self.file, self.offset, self.opts.framing, self.opts.crc) {
            Ok(Some(rec)) => {
                self.offset += RECORD_HEADER_SIZE + rec.payload.len();
                Some(rec)
            }
            Ok(None) => {
                self.end = Some(FileEnd::Clean);
                None
            }
            Err(reason) => {
                self.end = Some(self.classify(reason));
                None
            }
        }
    }
}

/// The first offset at or after `from` where a good record starts: record
/// headers chain from it exactly to the end of the file, and its own CRC
/// matches (when checked). The work is bounded by a number of header hops
/// and of checksummed bytes proportional to the bytes searched; `None` when
/// there is no such record or the bound is reached.
fn later_record(file: &[u8], from: usize, opts: ScanOptions<'_>) -> Option<u64> {
    let len = file.len();
    let searched = len.checked_sub(from)?;
    let mut hops_left = searched.saturating_mul(4).saturating_add(1024);
    let mut crc_left = searched.saturating_mul(2).saturating_add(1 << 20);
    let header_at = |q: usize| -> Option<RecordHeader> {
        let h: [u8; RECORD_HEADER_SIZE] = file.get(q..q + RECORD_HEADER_SIZE)?.try_into().ok()?;
        (h != [0; RECORD_HEADER_SIZE]).then(|| RecordHeader::parse(h, opts.framing))
    };
    for p in from..len.saturating_sub(RECORD_HEADER_SIZE - 1) {
        let Some(first) = header_at(p) else { continue };
        let first_end = p + RECORD_HEADER_SIZE + first.size as usize;
        if first_end > len {
            continue;
        }
        // Follow the chain of headers to the end of the file.
        let mut q = first_end;
        while q < len {
            if hops_left == 0 {
                return None;
            }
            hops_left -= 1;
            match header_at(q) {
                Some(h) if q + RECORD_HEADER_SIZE + h.size as usize <= len => {
                    q += RECORD_HEADER_SIZE + h.size as usize;
                }
                _ => break,
            }
        }
        if q != len {
            continue;
        }
        let Some(table) = opts.crc else {
            return Some(p as u64);
        };
        let payload = file.get(p + RECORD_HEADER_SIZE..first_end)?;
        if payload.len() > crc_left {
            return None;
        }
        crc_left -= payload.len();
        if table.checksum(payload) == first.crc {
            return Some(p as u64);
        }
    }
    None
}

/// Scans a whole file (version header included): its good records and how
/// it ends (see the [module documentation](self) for the rule).
pub fn scan(file: &Bytes, opts: ScanOptions<'_>) -> Result<Scan, VersionError> {
    let mut scanner = Scanner::new(file.clone(), opts)?;
    let records: Vec<Record> = scanner.by_ref().collect();
    let end = scanner.end().unwrap_or(FileEnd::Clean);
    Ok(Scan { records, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stan::filestore::record::{encode_payload, put_version, RecordTag};
    use bytes::BytesMut;

    const TYPED: ScanOptions<'static> = ScanOptions {
        framing: Framing::Typed,
        crc: Some(&Crc32::IEEE),
    };

    /// A typed file of records with payloads `p0`, `p1`... of the given sizes.
    fn file(sizes: &[usize]) -> (BytesMut, Vec<u64>) {
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        let mut offsets = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            offsets.push(buf.len() as u64);
            let payload = vec![i as u8 + 1; n];
            encode_payload(&mut buf, RecordTag::Typed(5), &payload, &Crc32::IEEE).unwrap();
        }
        (buf, offsets)
    }

    #[test]
    fn clean() {
        let (buf, offsets) = file(&[3, 0, 10]);
        let s = scan(&buf.freeze(), TYPED).unwrap();
        assert_eq!(s.end, FileEnd::Clean);
        assert_eq!(
            s.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            offsets
        );
        assert_eq!(s.records[1].payload.len(), 0);
        assert_eq!(&s.records[2].payload[..], &[3; 10]);
        // Only a version header: clean and empty.
        let s = scan(&Bytes::from_static(&[1, 0, 0, 0]), TYPED).unwrap();
        assert_eq!((s.records.len(), s.end), (0, FileEnd::Clean));
    }

    #[test]
    fn version() {
        assert_eq!(
            scan(&Bytes::new(), TYPED).unwrap_err(),
            VersionError::Missing { len: 0 }
        );
        assert_eq!(
            scan(&Bytes::from_static(&[2, 0, 0, 0]), TYPED).unwrap_err(),
            VersionError::Unsupported { version: 2 }
        );
    }

    #[test]
    fn torn_tails() {
        let (full, offsets) = file(&[3, 5, 10]);
        let last = offsets[2];
        // Every cut inside the last record is a torn tail at its offset.
        for cut in last as usize + 1..full.len() {
            let s = scan(&full.clone().freeze().slice(..cut), TYPED).unwrap();
            assert_eq!(s.records.len(), 2, "cut {cut}");
            match s.end {
                FileEnd::TornTail { offset, reason } => {
                    assert_eq!(offset, last);
                    let expected = if cut - (last as usize) < 8 {
                        RecordError::IncompleteHeader {
                            available: cut - last as usize,
                        }
                    } else {
                        RecordError::IncompletePayload {
                            size: 10,
                            available: (cut - last as usize - 8) as u64,
                        }
                    };
                    assert_eq!(reason, expected);
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        // A CRC mismatch on the last record.
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        let s = scan(&bad.freeze(), TYPED).unwrap();
        assert!(matches!(
            s.end,
            FileEnd::TornTail { offset, reason: RecordError::CrcMismatch { .. } } if offset == last
        ));
        // Zeros after the last good record (preallocated, never written).
        let mut padded = full.clone();
        padded.extend_from_slice(&[0; 20]);
        let s = scan(&padded.freeze(), TYPED).unwrap();
        assert_eq!(s.records.len(), 3);
        assert_eq!(
            s.end,
            FileEnd::TornTail {
                offset: full.len() as u64,
                reason: RecordError::ZeroHeader
            }
        );
        // A short zero tail is an incomplete header.
        let mut padded = full.clone();
        padded.extend_from_slice(&[0; 5]);
        let s = scan(&padded.freeze(), TYPED).unwrap();
        assert_eq!(
            s.end,
            FileEnd::TornTail {
                offset: full.len() as u64,
                reason: RecordError::IncompleteHeader { available: 5 }
            }
        );
    }

    #[test]
    fn corrupt() {
        let (full, offsets) = file(&[3, 5, 10]);
        // A payload byte of the middle record flipped.
        let mut bad = full.clone();
        bad[offsets[1] as usize + 9] ^= 1;
        let s = scan(&bad.freeze(), TYPED).unwrap();
        assert_eq!(s.records.len(), 1);
        assert!(matches!(
            s.end,
            FileEnd::Corrupt { offset, reason: RecordError::CrcMismatch { .. } } if offset == offsets[1]
        ));
        assert_eq!(s.end.offset(), Some(offsets[1]));
        // A zeroed header with data after it.
        let mut bad = full.clone();
        bad[offsets[1] as usize..offsets[1] as usize + 8].fill(0);
        let s = scan(&bad.freeze(), TYPED).unwrap();
        assert_eq!(
            s.end,
            FileEnd::Corrupt {
                offset: offsets[1],
                reason: RecordError::ZeroHeader
            }
        );
        // A damaged size in the middle runs past the end, but the records
        // after it are found: corrupt, not torn.
        let mut bad = full.clone();
        bad[offsets[1] as usize + 2] = 0x7f;
        let s = scan(&bad.freeze(), TYPED).unwrap();
        assert_eq!(
            s.end,
            FileEnd::Corrupt {
                offset: offsets[1],
                reason: RecordError::DamagedSize {
                    size: 0x7f_0005,
                    next_record: offsets[2]
                }
            }
        );
        // Damaged to run exactly to the end: a CRC mismatch "on the last
        // record", with a good record inside it.
        let mut bad = full.clone();
        let to_end = (full.len() - offsets[1] as usize - 8) as u32;
        bad[offsets[1] as usize..offsets[1] as usize + 3]
            .copy_from_slice(&to_end.to_le_bytes()[..3]);
        let s = scan(&bad.freeze(), TYPED).unwrap();
        assert!(matches!(
            s.end,
            FileEnd::Corrupt { offset, reason: RecordError::CrcMismatch { .. } } if offset == offsets[1]
        ));
        // Without CRC checking, the chain of headers alone tells.
        let mut bad = full.clone();
        bad[offsets[1] as usize + 2] = 0x7f;
        let opts = ScanOptions {
            framing: Framing::Typed,
            crc: None,
        };
        let s = scan(&bad.freeze(), opts).unwrap();
        assert!(matches!(
            s.end,
            FileEnd::Corrupt {
                reason: RecordError::DamagedSize { .. },
                ..
            }
        ));
    }

    #[test]
    fn crc_off_reads_damaged_payloads() {
        let (full, offsets) = file(&[3, 5, 10]);
        let mut bad = full.clone();
        bad[offsets[1] as usize + 9] ^= 1;
        let opts = ScanOptions {
            framing: Framing::Typed,
            crc: None,
        };
        let s = scan(&bad.freeze(), opts).unwrap();
        assert_eq!((s.records.len(), s.end), (3, FileEnd::Clean));
    }

    #[test]
    fn scanner_streams() {
        let (buf, _) = file(&[1, 2]);
        let mut sc = Scanner::new(buf.freeze(), TYPED).unwrap();
        assert_eq!(sc.offset(), 4);
        assert!(sc.next().is_some());
        assert_eq!(sc.end(), None);
        assert!(sc.next().is_some());
        assert!(sc.next().is_none());
        assert_eq!(sc.end(), Some(FileEnd::Clean));
        assert!(sc.next().is_none());
    }
}
