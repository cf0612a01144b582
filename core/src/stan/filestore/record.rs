//! The record codec: the file version header and the framed records every
//! store file but the message indexes is made of.
//!
//! A file starts with its version, a 4-byte little-endian integer that must be
//! [`FILE_VERSION`] (1). Records follow back to back, each an 8-byte header
//! and a payload:
//!
//! ```text
//! offset 0: u32 LE  typed files:   record type << 24 | payload size (< 2^24)
//!                   untyped files: payload size
//! offset 4: u32 LE  CRC-32 of the payload (polynomial of --file_crc_poly)
//! offset 8: payload (a protobuf: see super::types for which, per file)
//! ```
//!
//! `clients.dat` and `subs.dat` are typed ([`Framing::Typed`]);
//! `server.dat` and `msgs.N.dat` are not ([`Framing::Untyped`]). Encoding
//! appends to a [`BytesMut`] in place (the protobuf is encoded straight after
//! its header, then the header is patched with size and CRC); decoding slices
//! the file's [`Bytes`] (no copy of any payload).

use bytes::{BufMut, Bytes, BytesMut};
use stan_proto::Message;

use super::crc::Crc32;

/// The only file version this format has (Go's `fileVersion`).
pub const FILE_VERSION: u32 = 1;

/// Size of the version header at the start of every file.
pub const VERSION_SIZE: usize = 4;

/// Size of a record header: the type/size word and the CRC.
pub const RECORD_HEADER_SIZE: usize = 8;

/// Largest payload of a typed record (the size has 24 bits).
pub const MAX_TYPED_SIZE: usize = 0x00ff_ffff;

/// How the first header word of a file's records is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Record type in the high byte, payload size in the low 24 bits
    /// (`clients.dat`, `subs.dat`).
    Typed,
    /// The whole word is the payload size (`server.dat`, `msgs.N.dat`).
    Untyped,
}

/// The type part of a record: none in untyped files, a byte in typed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordTag {
    /// A record of an untyped file.
    Untyped,
    /// A record of a typed file, with its type byte (see
    /// [`ClientRecordType`](super::types::ClientRecordType) and
    /// [`SubRecordType`](super::types::SubRecordType)).
    Typed(u8),
}

impl RecordTag {
    /// The framing of files holding records with this tag.
    pub fn framing(self) -> Framing {
        match self {
            RecordTag::Untyped => Framing::Untyped,
            RecordTag::Typed(_) => Framing::Typed,
        }
    }

    /// The type byte (0 for an untyped record, Go's `recNoType`).
    pub fn type_byte(self) -> u8 {
        match self {
            RecordTag::Untyped => 0,
            RecordTag::Typed(t) => t,
        }
    }
}

/// Why a file's version header is refused. The texts are Go's.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionError {
    /// The file is shorter than the 4-byte version header (Go refuses an
    /// existing empty file too).
    #[error("unable to verify file version: {}", if *.len == 0 { "EOF" } else { "unexpected EOF" })]
    Missing {
        /// Bytes the file has (0 to 3).
        len: usize,
    },
    /// A version other than 1 (0, or one from a newer server).
    #[error("unsupported file version: {version} (supports [1..1])")]
    Unsupported {
        /// The version the file declares.
        version: u32,
    },
}

/// Checks the version header at the start of `file`.
pub fn check_version(file: &[u8]) -> Result<(), VersionError> {
    let head: [u8; VERSION_SIZE] = file
        .get(..VERSION_SIZE)
        .and_then(|h| h.try_into().ok())
        .ok_or(VersionError::Missing { len: file.len() })?;
    match u32::from_le_bytes(head) {
        FILE_VERSION => Ok(()),
        version => Err(VersionError::Unsupported { version }),
    }
}

/// Appends the version header a new file starts with.
pub fn put_version(buf: &mut BytesMut) {
    buf.put_u32_le(FILE_VERSION);
}

/// A record header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// The record's type (or [`RecordTag::Untyped`]).
    pub tag: RecordTag,
    /// Payload size in bytes.
    pub size: u32,
    /// The CRC-32 stored for the payload.
    pub crc: u32,
}

impl RecordHeader {
    /// Reads the 8 header bytes of a file with `framing`.
    pub fn parse(bytes: [u8; RECORD_HEADER_SIZE], framing: Framing) -> RecordHeader {
        let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        match framing {
            Framing::Typed => RecordHeader {
                tag: RecordTag::Typed((word >> 24) as u8),
                size: word & MAX_TYPED_SIZE as u32,
                crc,
            },
            Framing::Untyped => RecordHeader {
                tag: RecordTag::Untyped,
                size: word,
                crc,
            },
        }
    }

    /// The 8 header bytes (the inverse of [`RecordHeader::parse`]).
    pub fn to_bytes(self) -> Result<[u8; RECORD_HEADER_SIZE], EncodeError> {
        let word = first_word(self.tag, self.size as usize)?;
        let mut out = [0; RECORD_HEADER_SIZE];
        out[..4].copy_from_slice(&word.to_le_bytes());
        out[4..].copy_from_slice(&self.crc.to_le_bytes());
        Ok(out)
    }
}

/// Why a record cannot be encoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The payload does not fit the header's size field (24 bits in a typed
    /// file, 32 in an untyped one). Go panics here (`record size too big`).
    #[error("record size too big: {size} bytes (at most {max})")]
    TooLarge {
        /// Payload size.
        size: usize,
        /// Largest payload the framing allows.
        max: usize,
    },
}

fn first_word(tag: RecordTag, size: usize) -> Result<u32, EncodeError> {
    match tag {
        RecordTag::Typed(t) if size <= MAX_TYPED_SIZE => Ok(u32::from(t) << 24 | size as u32),
        RecordTag::Typed(_) => Err(EncodeError::TooLarge {
            size,
            max: MAX_TYPED_SIZE,
        }),
        RecordTag::Untyped => u32::try_from(size).map_err(|_| EncodeError::TooLarge {
            size,
            max: u32::MAX as usize,
        }),
    }
}

/// Appends a record holding `msg` encoded, framed with `tag`, and returns the
/// bytes appended (header included). The protobuf is encoded in place after
/// its header: no intermediate buffer. On error `buf` is left as it was.
pub fn encode_message<M: Message>(
    buf: &mut BytesMut,
    tag: impl Into<RecordTag>,
    msg: &M,
    crc: &Crc32,
) -> Result<usize, EncodeError> {
    let tag = tag.into();
    let size = msg.encoded_len();
    let word = first_word(tag, size)?;
    buf.reserve(RECORD_HEADER_SIZE + size);
    let start = buf.len();
    buf.put_u32_le(word);
    buf.put_u32_le(0);
    // Cannot fail: the capacity was reserved and BytesMut grows anyway.
    let _ = msg.encode(buf);
    let sum = crc.checksum(&buf[start + RECORD_HEADER_SIZE..]);
    buf[start + 4..start + RECORD_HEADER_SIZE].copy_from_slice(&sum.to_le_bytes());
    Ok(RECORD_HEADER_SIZE + size)
}

/// Appends a record holding `payload` (already encoded, such as a stored
/// message's `MsgProto`) framed with `tag`; returns the bytes appended.
pub fn encode_payload(
    buf: &mut BytesMut,
    tag: impl Into<RecordTag>,
    payload: &[u8],
    crc: &Crc32,
) -> Result<usize, EncodeError> {
    let word = first_word(tag.into(), payload.len())?;
    buf.reserve(RECORD_HEADER_SIZE + payload.len());
    buf.put_u32_le(word);
    buf.put_u32_le(crc.checksum(payload));
    buf.put_slice(payload);
    Ok(RECORD_HEADER_SIZE + payload.len())
}

/// A record read from a file: where it starts, its type, and its payload (a
/// slice of the file's buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset of the record's header in the file.
    pub offset: u64,
    /// The record's type ([`RecordTag::Untyped`] in untyped files).
    pub tag: RecordTag,
    /// The CRC stored in the header (checked, unless CRC checking is off).
    pub crc: u32,
    /// The payload.
    pub payload: Bytes,
}

impl Record {
    /// Offset just past the record.
    pub fn end(&self) -> u64 {
        self.offset + (RECORD_HEADER_SIZE + self.payload.len()) as u64
    }
}

/// Why the record at some offset cannot be read. The texts follow Go's
/// (`io.ErrUnexpectedEOF`, `errNeedRewind`, the CRC message).
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer than 8 bytes left for the header.
    #[error("unexpected EOF: record header expected to be 8 bytes, only read {available}")]
    IncompleteHeader {
        /// Bytes left in the file (1 to 7).
        available: usize,
    },
    /// The header's size runs past the end of the file.
    #[error("unexpected EOF: record payload expected to be {size} bytes, only read {available}")]
    IncompletePayload {
        /// Payload size the header declares.
        size: u32,
        /// Bytes left after the header.
        available: u64,
    },
    /// An all-zero header (type 0, size 0, CRC 0): where Go's recovery sees
    /// "end of file padded with zeros".
    #[error("end of file padded with zeros")]
    ZeroHeader,
    /// The payload's CRC differs from the one stored.
    #[error("corrupted data, expected crc to be 0x{stored:08x}, got 0x{computed:08x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the payload.
        computed: u32,
    },
    /// The header's size runs past the end of the file, yet a good record
    /// starts after the header: the size was damaged, this is no torn
    /// append. Only the [scan](mod@super::scan) reports it ([`read_record`]
    /// reports [`RecordError::IncompletePayload`]).
    #[error(
        "record size {size} runs past the end of the file, \
         yet a good record starts at offset {next_record}"
    )]
    DamagedSize {
        /// Payload size the header declares.
        size: u32,
        /// Offset of a good record after the damaged header.
        next_record: u64,
    },
}

/// Reads the record at `offset` of `file` (the whole file, version header
/// included). `Ok(None)` at the end of the file. The CRC is checked when
/// `crc` is given (`--file_crc`); the payload is a slice of `file`.
pub fn read_record(
    file: &Bytes,
    offset: usize,
    framing: Framing,
    crc: Option<&Crc32>,
) -> Result<Option<Record>, RecordError> {
    let rest = file.get(offset..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    let head: [u8; RECORD_HEADER_SIZE] = rest
        .get(..RECORD_HEADER_SIZE)
        .and_then(|h| h.try_into().ok())
        .ok_or(RecordError::IncompleteHeader {
            available: rest.len(),
        })?;
    if head == [0; RECORD_HEADER_SIZE] {
        return Err(RecordError::ZeroHeader);
    }
    let header = RecordHeader::parse(head, framing);
    let available = rest.len() - RECORD_HEADER_SIZE;
    let size = header.size as usize;
    if size > available {
        return Err(RecordError::IncompletePayload {
            size: header.size,
            available: available as u64,
        });
    }
    let start = offset + RECORD_HEADER_SIZE;
    let payload = file.slice(start..start + size);
    if let Some(table) = crc {
        let computed = table.checksum(&payload);
        if computed != header.crc {
            return Err(RecordError::CrcMismatch {
                stored: header.crc,
                computed,
            });
        }
    }
    Ok(Some(Record {
        offset: offset as u64,
        tag: header.tag,
        crc: header.crc,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stan_proto::{ClientDelete, ServerInfo};

    #[test]
    fn version_header() {
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        assert_eq!(&buf[..], &[1, 0, 0, 0]);
        assert_eq!(check_version(&buf), Ok(()));
        assert_eq!(check_version(&[1, 0, 0, 0, 9, 9]), Ok(()));
        let e = check_version(&[0, 0, 0, 0]).unwrap_err();
        assert_eq!(e, VersionError::Unsupported { version: 0 });
        assert_eq!(
            e.to_string(),
            "unsupported file version: 0 (supports [1..1])"
        );
        let e = check_version(&[2, 0, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported file version: 2 (supports [1..1])"
        );
        assert_eq!(
            check_version(&[]).unwrap_err().to_string(),
            "unable to verify file version: EOF"
        );
        assert_eq!(
            check_version(&[1, 0]).unwrap_err(),
            VersionError::Missing { len: 2 }
        );
        assert_eq!(
            check_version(&[1, 0]).unwrap_err().to_string(),
            "unable to verify file version: unexpected EOF"
        );
    }

    #[test]
    fn typed_record_matches_the_go_bytes() {
        // clients.dat of the fixture: delete record of `billing-client`.
        let go = b"\x10\x00\x00\x02\xcc\x76\xa9\xdd\x0a\x0ebilling-client";
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let n = encode_message(
            &mut buf,
            RecordTag::Typed(2),
            &ClientDelete {
                id: "billing-client".into(),
            },
            &Crc32::IEEE,
        )
        .unwrap();
        assert_eq!(n, go.len());
        assert_eq!(&buf[6..], &go[..]);
        let mut raw = BytesMut::new();
        encode_payload(&mut raw, RecordTag::Typed(2), &go[8..], &Crc32::IEEE).unwrap();
        assert_eq!(&raw[..], &go[..]);

        let file = Bytes::from_static(go);
        let rec = read_record(&file, 0, Framing::Typed, Some(&Crc32::IEEE))
            .unwrap()
            .unwrap();
        assert_eq!(rec.tag, RecordTag::Typed(2));
        assert_eq!(rec.crc, 0xdda9_76cc);
        assert_eq!(rec.end(), go.len() as u64);
        assert_eq!(&rec.payload[..], &go[8..]);
        assert_eq!(read_record(&file, go.len(), Framing::Typed, None), Ok(None));
        let header = RecordHeader::parse(go[..8].try_into().unwrap(), Framing::Typed);
        assert_eq!(header.to_bytes().unwrap(), go[..8]);
        // The same bytes read as untyped: the type is part of the size.
        let untyped = RecordHeader::parse(go[..8].try_into().unwrap(), Framing::Untyped);
        assert_eq!(untyped.size, 0x0200_0010);
    }

    #[test]
    fn untyped_record_round_trip() {
        let info = ServerInfo {
            cluster_id: "c".into(),
            ..ServerInfo::default()
        };
        let table = Crc32::new(super::super::crc::CASTAGNOLI_POLYNOMIAL);
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        encode_message(&mut buf, RecordTag::Untyped, &info, &table).unwrap();
        let file = buf.freeze();
        let rec = read_record(&file, 4, Framing::Untyped, Some(&table))
            .unwrap()
            .unwrap();
        assert_eq!(rec.tag, RecordTag::Untyped);
        assert_eq!(ServerInfo::decode(rec.payload).unwrap(), info);
        // Checked with another polynomial, the CRC does not match.
        assert!(matches!(
            read_record(&file, 4, Framing::Untyped, Some(&Crc32::IEEE)),
            Err(RecordError::CrcMismatch { .. })
        ));
        // Without checking, it is read.
        assert!(read_record(&file, 4, Framing::Untyped, None).is_ok());
    }

    #[test]
    fn size_limits() {
        let big = vec![0u8; MAX_TYPED_SIZE + 1];
        let mut buf = BytesMut::new();
        assert_eq!(
            encode_payload(&mut buf, RecordTag::Typed(1), &big, &Crc32::IEEE),
            Err(EncodeError::TooLarge {
                size: MAX_TYPED_SIZE + 1,
                max: MAX_TYPED_SIZE
            })
        );
        assert!(buf.is_empty(), "nothing appended on error");
        encode_payload(&mut buf, RecordTag::Untyped, &big, &Crc32::IEEE).unwrap();
        assert_eq!(buf.len(), RECORD_HEADER_SIZE + big.len());
        encode_payload(&mut buf, RecordTag::Typed(1), &big[1..], &Crc32::IEEE).unwrap();
    }

    #[test]
    fn bad_records() {
        let crc = Some(&Crc32::IEEE);
        let f = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(
            read_record(&f, 0, Framing::Typed, crc),
            Err(RecordError::IncompleteHeader { available: 3 })
        );
        let f = Bytes::from_static(&[0; 12]);
        assert_eq!(
            read_record(&f, 0, Framing::Untyped, crc),
            Err(RecordError::ZeroHeader)
        );
        // Size 5 with 2 bytes left.
        let f = Bytes::from_static(&[5, 0, 0, 1, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            read_record(&f, 0, Framing::Typed, crc),
            Err(RecordError::IncompletePayload {
                size: 5,
                available: 2
            })
        );
        // Size 0, type 0, CRC 1: not a zero header; the CRC of nothing is 0.
        let f = Bytes::from_static(&[0, 0, 0, 0, 1, 0, 0, 0]);
        let e = read_record(&f, 0, Framing::Typed, crc).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupted data, expected crc to be 0x00000001, got 0x00000000"
        );
        // Offsets past the end read as the end.
        assert_eq!(read_record(&f, 100, Framing::Typed, crc), Ok(None));
    }
}
