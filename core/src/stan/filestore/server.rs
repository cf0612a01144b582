//! `server.dat`: the server's identity, one untyped
//! [`stan_proto::ServerInfo`] record written once (the file is
//! truncated to its version header and the record written again when the
//! server initializes a new store).
//!
//! As in Go, a version header alone means a store never initialized (no
//! state to recover), and anything but exactly one good record after it is
//! fatal: a torn or damaged record (never truncated away, since the cluster
//! identity would be lost with it), or bytes after the record (Go's
//! `incorrect file size, expected X bytes, got Y bytes`).

use bytes::Bytes;
use stan_proto::ServerInfo;

use super::crc::Crc32;
use super::fold::{decode, FoldError};
use super::record::{Framing, RecordError, VersionError};
use super::scan::{scan, FileEnd, ScanOptions};

/// Why `server.dat` is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ServerFileError {
    /// The version header.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The record cannot be read.
    #[error("server file corrupted at offset {offset}: {reason}")]
    Record {
        /// Offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: RecordError,
    },
    /// Bytes after the record.
    #[error("incorrect file size, expected {expected} bytes, got {got} bytes")]
    Size {
        /// Version header, record header and payload.
        expected: u64,
        /// The file's size.
        got: u64,
    },
    /// The record is not a `ServerInfo`.
    #[error(transparent)]
    Fold(#[from] FoldError),
}

/// Reads `server.dat`: `None` for a store never initialized.
pub fn recover_server(
    file: &Bytes,
    crc: Option<&Crc32>,
) -> Result<Option<ServerInfo>, ServerFileError> {
    let s = scan(
        file,
        ScanOptions {
            framing: Framing::Untyped,
            crc,
        },
    )?;
    let Some(first) = s.records.first() else {
        return match s.end {
            FileEnd::Clean => Ok(None),
            FileEnd::TornTail { offset, reason } | FileEnd::Corrupt { offset, reason } => {
                Err(ServerFileError::Record { offset, reason })
            }
        };
    };
    if s.records.len() > 1 || s.end != FileEnd::Clean {
        return Err(ServerFileError::Size {
            expected: first.end(),
            got: file.len() as u64,
        });
    }
    Ok(Some(decode(first, "ServerInfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stan::filestore::record::{encode_message, put_version, RecordTag};
    use bytes::BytesMut;

    fn file(info: &ServerInfo) -> BytesMut {
        let mut b = BytesMut::new();
        put_version(&mut b);
        encode_message(&mut b, RecordTag::Untyped, info, &Crc32::IEEE).unwrap();
        b
    }

    #[test]
    fn one_record() {
        let info = ServerInfo {
            cluster_id: "test-cluster".into(),
            discovery: "_STAN.discover.test-cluster".into(),
            ..ServerInfo::default()
        };
        let b = file(&info).freeze();
        assert_eq!(
            recover_server(&b, Some(&Crc32::IEEE)),
            Ok(Some(info.clone()))
        );
        assert_eq!(
            recover_server(&Bytes::from_static(&[1, 0, 0, 0]), None),
            Ok(None)
        );
        // Two records: Go's size check.
        let mut two = file(&info);
        encode_message(&mut two, RecordTag::Untyped, &info, &Crc32::IEEE).unwrap();
        let e = recover_server(&two.freeze(), Some(&Crc32::IEEE)).unwrap_err();
        assert_eq!(
            e,
            ServerFileError::Size {
                expected: b.len() as u64,
                got: 2 * b.len() as u64 - 4
            }
        );
        assert!(e.to_string().starts_with("incorrect file size, expected "));
        // Trailing junk.
        let mut junk = file(&info);
        junk.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            recover_server(&junk.freeze(), None),
            Err(ServerFileError::Size { .. })
        ));
    }

    #[test]
    fn torn_or_bad() {
        let info = ServerInfo {
            cluster_id: "c".into(),
            ..ServerInfo::default()
        };
        let b = file(&info).freeze();
        let torn = b.slice(..b.len() - 1);
        assert!(matches!(
            recover_server(&torn, Some(&Crc32::IEEE)),
            Err(ServerFileError::Record {
                offset: 4,
                reason: RecordError::IncompletePayload { .. }
            })
        ));
        let zeros = Bytes::from_static(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            recover_server(&zeros, None),
            Err(ServerFileError::Record {
                offset: 4,
                reason: RecordError::ZeroHeader
            })
        );
        assert_eq!(
            recover_server(&Bytes::new(), None),
            Err(ServerFileError::Version(VersionError::Missing { len: 0 }))
        );
        let mut bad = BytesMut::new();
        put_version(&mut bad);
        crate::stan::filestore::record::encode_payload(
            &mut bad,
            RecordTag::Untyped,
            b"\x0a",
            &Crc32::IEEE,
        )
        .unwrap();
        assert!(matches!(
            recover_server(&bad.freeze(), None),
            Err(ServerFileError::Fold(FoldError::Decode { .. }))
        ));
    }
}
