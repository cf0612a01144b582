//! The message index, `msgs.N.idx`: after the 4-byte version header, one
//! fixed 32-byte record per message of `msgs.N.dat`, in the same order:
//!
//! ```text
//! offset  0: u64 LE  sequence
//! offset  8: u64 LE  offset of the message's record in msgs.N.dat (its header)
//! offset 16: i64 LE  timestamp (Unix ns)
//! offset 24: u32 LE  size of the MsgProto (the record's payload)
//! offset 28: u32 LE  CRC-32 of bytes 0..28 (the polynomial of --file_crc_poly)
//! ```
//!
//! Index records have no header of their own. Go's recovery reads the index
//! rather than the data file when it exists and trusts it after checking
//! its last entry against the data file; any problem (a partial record, a
//! CRC mismatch, a last entry that does not match) makes it truncate the
//! index to its version header and rebuild it from the data file. An
//! all-zero record ends it (Go truncates there: "padded with zeros").

use bytes::{BufMut, BytesMut};

use super::crc::Crc32;
use super::record::VERSION_SIZE;

/// Size of an index record.
pub const INDEX_RECORD_SIZE: usize = 32;

/// One message's index record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IndexEntry {
    /// Channel sequence.
    pub seq: u64,
    /// Offset of the message's record (header) in the data file.
    pub offset: u64,
    /// Timestamp, Unix ns.
    pub timestamp: i64,
    /// Size of the encoded `MsgProto` (without the 8-byte record header).
    pub size: u32,
}

/// Why an index record is refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexError {
    /// Fewer than 32 bytes left.
    #[error("unexpected EOF: index record expected to be 32 bytes, only read {available}")]
    Incomplete {
        /// Bytes left (1 to 31).
        available: usize,
    },
    /// An all-zero record.
    #[error("end of file padded with zeros")]
    Zero,
    /// The record's CRC differs from the one stored.
    #[error("corrupted data, expected crc to be 0x{stored:08x}, got 0x{computed:08x}")]
    CrcMismatch {
        /// CRC stored in the record.
        stored: u32,
        /// CRC of its first 28 bytes.
        computed: u32,
    },
}

impl IndexEntry {
    /// The record's 32 bytes.
    pub fn to_bytes(&self, crc: &Crc32) -> [u8; INDEX_RECORD_SIZE] {
        let mut out = [0; INDEX_RECORD_SIZE];
        out[..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.offset.to_le_bytes());
        out[16..24].copy_from_slice(&self.timestamp.to_le_bytes());
        out[24..28].copy_from_slice(&self.size.to_le_bytes());
        let sum = crc.checksum(&out[..28]);
        out[28..].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Appends the record to `buf`.
    pub fn encode(&self, buf: &mut BytesMut, crc: &Crc32) {
        buf.put_slice(&self.to_bytes(crc));
    }

    /// Reads a record from the first 32 bytes of `bytes`, checking its CRC
    /// when `crc` is given. An all-zero record is [`IndexError::Zero`].
    pub fn decode(bytes: &[u8], crc: Option<&Crc32>) -> Result<IndexEntry, IndexError> {
        let rec: &[u8; INDEX_RECORD_SIZE] = bytes
            .get(..INDEX_RECORD_SIZE)
            .and_then(|r| r.try_into().ok())
            .ok_or(IndexError::Incomplete {
                available: bytes.len(),
            })?;
        if rec == &[0; INDEX_RECORD_SIZE] {
            return Err(IndexError::Zero);
        }
        let u64_at = |i: usize| {
            u64::from_le_bytes([
                rec[i],
                rec[i + 1],
                rec[i + 2],
                rec[i + 3],
                rec[i + 4],
                rec[i + 5],
                rec[i + 6],
                rec[i + 7],
            ])
        };
        let u32_at = |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
        if let Some(table) = crc {
            let computed = table.checksum(&rec[..28]);
            let stored = u32_at(28);
            if computed != stored {
                return Err(IndexError::CrcMismatch { stored, computed });
            }
        }
        Ok(IndexEntry {
            seq: u64_at(0),
            offset: u64_at(8),
            timestamp: u64_at(16) as i64,
            size: u32_at(24),
        })
    }
}

/// An index file read up to its first bad record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexScan {
    /// The entries before the first bad record, in file order.
    pub entries: Vec<IndexEntry>,
    /// The first bad record, if any: its offset in the file and the reason.
    pub problem: Option<(u64, IndexError)>,
}

/// Reads the entries of an index file (version header included). A bad
/// version is the caller's to report; the entries stop at the first bad
/// record.
pub fn scan_index(file: &[u8], crc: Option<&Crc32>) -> IndexScan {
    let mut scan = IndexScan::default();
    let mut offset = VERSION_SIZE;
    while let Some(rest) = file.get(offset..).filter(|r| !r.is_empty()) {
        match IndexEntry::decode(rest, crc) {
            Ok(entry) => scan.entries.push(entry),
            Err(e) => {
                scan.problem = Some((offset as u64, e));
                break;
            }
        }
        offset += INDEX_RECORD_SIZE;
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first record of events.a/msgs.1.idx in the fixture.
    const GO_RECORD: [u8; 32] = [
        1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0xa8, 0x6e, 0xc1, 0x97, 0x61, 0x8a, 0xec,
        0x18, 0x29, 0, 0, 0, 0x8a, 0xa6, 0xf2, 0x56,
    ];

    #[test]
    fn go_layout() {
        let e = IndexEntry::decode(&GO_RECORD, Some(&Crc32::IEEE)).unwrap();
        assert_eq!(
            e,
            IndexEntry {
                seq: 1,
                offset: 4,
                timestamp: 1_795_962_503_176_482_472,
                size: 41,
            }
        );
        assert_eq!(e.to_bytes(&Crc32::IEEE), GO_RECORD);
        let mut buf = BytesMut::new();
        e.encode(&mut buf, &Crc32::IEEE);
        assert_eq!(&buf[..], &GO_RECORD);
    }

    #[test]
    fn bad_records() {
        let mut bad = GO_RECORD;
        bad[3] ^= 1;
        assert_eq!(
            IndexEntry::decode(&bad, Some(&Crc32::IEEE)),
            Err(IndexError::CrcMismatch {
                stored: 0x56f2_a68a,
                computed: Crc32::IEEE.checksum(&bad[..28])
            })
        );
        assert!(IndexEntry::decode(&bad, None).is_ok());
        assert_eq!(
            IndexEntry::decode(&GO_RECORD[..31], None),
            Err(IndexError::Incomplete { available: 31 })
        );
        assert_eq!(IndexEntry::decode(&[0; 40], None), Err(IndexError::Zero));
    }

    #[test]
    fn scan() {
        let mut file = vec![1, 0, 0, 0];
        for seq in 1..=3 {
            let e = IndexEntry {
                seq,
                offset: seq * 10,
                timestamp: -(seq as i64),
                size: 7,
            };
            file.extend_from_slice(&e.to_bytes(&Crc32::IEEE));
        }
        let s = scan_index(&file, Some(&Crc32::IEEE));
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.entries[2].timestamp, -3);
        assert_eq!(s.problem, None);
        file.extend_from_slice(&[0; 32]);
        file.extend_from_slice(&[9; 5]);
        let s = scan_index(&file, Some(&Crc32::IEEE));
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.problem, Some((100, IndexError::Zero)));
        let s = scan_index(&file[..110], Some(&Crc32::IEEE));
        assert_eq!(
            s.problem,
            Some((100, IndexError::Incomplete { available: 10 }))
        );
        let s = scan_index(&file[..50], Some(&Crc32::IEEE));
        assert_eq!(s.entries.len(), 1);
        assert_eq!(
            s.problem,
            Some((36, IndexError::Incomplete { available: 14 }))
        );
        assert_eq!(scan_index(&[], None), IndexScan::default());
    }
}
