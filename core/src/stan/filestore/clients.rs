//! Folding `clients.dat`: the clients registered at shutdown are the "add"
//! records minus the "delete" records, a later add of the same ID replacing
//! the earlier one (as Go's recovery does).

use std::borrow::Borrow;
use std::collections::BTreeMap;

use stan_proto::{ClientDelete, ClientInfo};

use super::fold::{decode, type_byte, FoldError};
use super::record::Record;
use super::types::ClientRecordType;

/// The clients recovered from `clients.dat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveredClients {
    /// The live clients, by ID.
    pub clients: BTreeMap<String, ClientInfo>,
    /// Delete records read (Go's `cliDeleteRecs`: with the file size, what
    /// decides when the file is compacted).
    pub deleted_records: u64,
}

/// Folds the records of `clients.dat` (typed), in file order.
pub fn fold_clients<I>(records: I) -> Result<RecoveredClients, FoldError>
where
    I: IntoIterator,
    I::Item: Borrow<Record>,
{
    let mut out = RecoveredClients::default();
    for rec in records {
        let rec = rec.borrow();
        let t = type_byte(rec);
        match ClientRecordType::try_from(t) {
            Ok(ClientRecordType::Add) => {
                let info: ClientInfo = decode(rec, "ClientInfo")?;
                out.clients.insert(info.id.clone(), info);
            }
            Ok(ClientRecordType::Delete) => {
                let del: ClientDelete = decode(rec, "ClientDelete")?;
                out.clients.remove(&del.id);
                out.deleted_records += 1;
            }
            Err(_) => {
                return Err(FoldError::UnknownRecordType {
                    offset: rec.offset,
                    rec_type: t,
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stan::filestore::crc::Crc32;
    use crate::stan::filestore::record::Framing;
    use crate::stan::filestore::record::{encode_message, encode_payload, put_version, RecordTag};
    use crate::stan::filestore::scan::{scan, FileEnd, ScanOptions};
    use bytes::BytesMut;

    fn add(buf: &mut BytesMut, id: &str, hb: &str) {
        let info = ClientInfo {
            id: id.into(),
            hb_inbox: hb.into(),
            protocol: 1,
            ..ClientInfo::default()
        };
        encode_message(buf, ClientRecordType::Add, &info, &Crc32::IEEE).unwrap();
    }

    fn del(buf: &mut BytesMut, id: &str) {
        let d = ClientDelete { id: id.into() };
        encode_message(buf, ClientRecordType::Delete, &d, &Crc32::IEEE).unwrap();
    }

    fn fold(buf: BytesMut) -> Result<RecoveredClients, FoldError> {
        let s = scan(
            &buf.freeze(),
            ScanOptions {
                framing: Framing::Typed,
                crc: Some(&Crc32::IEEE),
            },
        )
        .unwrap();
        assert_eq!(s.end, FileEnd::Clean);
        fold_clients(&s.records)
    }

    #[test]
    fn adds_minus_deletes() {
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        add(&mut buf, "a", "hb1");
        add(&mut buf, "b", "hb2");
        del(&mut buf, "a");
        add(&mut buf, "c", "hb3");
        add(&mut buf, "b", "hb2-again");
        del(&mut buf, "nobody");
        let got = fold(buf).unwrap();
        assert_eq!(got.clients.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(got.clients["b"].hb_inbox, "hb2-again");
        assert_eq!(got.deleted_records, 2);
    }

    #[test]
    fn bad_records() {
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        add(&mut buf, "a", "hb");
        let at = buf.len() as u64;
        encode_payload(&mut buf, RecordTag::Typed(3), b"", &Crc32::IEEE).unwrap();
        assert_eq!(
            fold(buf).unwrap_err(),
            FoldError::UnknownRecordType {
                offset: at,
                rec_type: 3
            }
        );
        let mut buf = BytesMut::new();
        put_version(&mut buf);
        encode_payload(&mut buf, ClientRecordType::Add, b"\x0a\x05ab", &Crc32::IEEE).unwrap();
        let e = fold(buf).unwrap_err();
        assert!(matches!(
            e,
            FoldError::Decode {
                offset: 4,
                message: "ClientInfo",
                ..
            }
        ));
        assert!(e
            .to_string()
            .starts_with("unable to decode ClientInfo at offset 4: "));
    }
}
