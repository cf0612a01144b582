//! Whole-store recovery over synthetic store directories.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use stan_proto::{
    ClientDelete, ClientInfo, Message, MsgProto, ServerInfo, SubState, SubStateUpdate,
};

use super::*;
use crate::stan::store::ChannelLimits;

fn file_with(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut b = BytesMut::new();
    put_version(&mut b);
    f(&mut b);
    b.freeze()
}

fn server() -> Bytes {
    file_with(|b| {
        let info = ServerInfo {
            cluster_id: "test-cluster".into(),
            ..ServerInfo::default()
        };
        encode_message(b, RecordTag::Untyped, &info, &Crc32::IEEE).unwrap();
    })
}

fn clients() -> Bytes {
    file_with(|b| {
        for id in ["a", "b"] {
            let info = ClientInfo {
                id: id.into(),
                hb_inbox: format!("hb.{id}"),
                ..ClientInfo::default()
            };
            encode_message(b, ClientRecordType::Add, &info, &Crc32::IEEE).unwrap();
        }
        let del = ClientDelete { id: "a".into() };
        encode_message(b, ClientRecordType::Delete, &del, &Crc32::IEEE).unwrap();
    })
}

fn subs() -> Bytes {
    file_with(|b| {
        let s = SubState {
            id: 1,
            client_id: "b".into(),
            durable_name: "d".into(),
            is_durable: true,
            ..SubState::default()
        };
        encode_message(b, SubRecordType::New, &s, &Crc32::IEEE).unwrap();
        for seqno in 1..=3 {
            let u = SubStateUpdate { id: 1, seqno };
            encode_message(b, SubRecordType::Msg, &u, &Crc32::IEEE).unwrap();
        }
        let u = SubStateUpdate { id: 1, seqno: 1 };
        encode_message(b, SubRecordType::Ack, &u, &Crc32::IEEE).unwrap();
    })
}

/// A slice holding sequences `seqs` (timestamp = sequence), and its index.
fn slice(seqs: std::ops::RangeInclusive<u64>) -> SliceFiles {
    let mut dat = BytesMut::new();
    let mut idx = BytesMut::new();
    put_version(&mut dat);
    put_version(&mut idx);
    for seq in seqs {
        let m = MsgProto {
            sequence: seq,
            subject: "ch".into(),
            data: Bytes::from(format!("m{seq}")),
            timestamp: seq as i64,
            ..MsgProto::default()
        };
        let offset = dat.len() as u64;
        encode_message(&mut dat, RecordTag::Untyped, &m, &Crc32::IEEE).unwrap();
        IndexEntry {
            seq,
            offset,
            timestamp: seq as i64,
            size: m.encoded_len() as u32,
        }
        .encode(&mut idx, &Crc32::IEEE);
    }
    SliceFiles {
        data: dat.freeze(),
        index: Some(idx.freeze()),
    }
}

fn store() -> StoreFiles {
    let mut channels = BTreeMap::new();
    channels.insert(
        "ch".to_owned(),
        ChannelFiles {
            subs: Some(subs()),
            slices: [(1, slice(1..=4)), (2, slice(5..=6))].into_iter().collect(),
        },
    );
    channels.insert("empty".to_owned(), ChannelFiles::default());
    StoreFiles {
        server: server(),
        clients: Some(clients()),
        channels,
    }
}

const OPTS: RecoveryOptions<'static> = RecoveryOptions {
    crc: Some(&Crc32::IEEE),
    truncate_bad_eof: false,
    now: None,
};

fn no_limits(_: &str) -> ChannelLimits {
    ChannelLimits::default()
}

#[test]
fn clean_store() {
    let r = recover(&store(), &OPTS, no_limits).unwrap().unwrap();
    assert_eq!(r.info.cluster_id, "test-cluster");
    assert_eq!(r.clients.clients.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(r.repairs, []);
    let ch = &r.channels["ch"];
    assert_eq!(
        (ch.msgs.first_seq, ch.msgs.last_seq, ch.msgs.count),
        (1, 6, 6)
    );
    let sub = &ch.subs.subs[&1];
    assert_eq!(sub.pending.iter().copied().collect::<Vec<_>>(), [2, 3]);
    assert_eq!(sub.state.last_sent, 3);
    assert_eq!(
        ch.msgs.get(5).unwrap().stored().decode().unwrap().data,
        Bytes::from_static(b"m5")
    );
    let empty = &r.channels["empty"];
    assert_eq!(
        empty.msgs.stats(),
        crate::stan::store::ChannelStats::default()
    );
    assert!(empty.subs.subs.is_empty());
}

#[test]
fn never_initialized() {
    let mut files = store();
    files.server = Bytes::from_static(&[1, 0, 0, 0]);
    assert_eq!(recover(&files, &OPTS, no_limits), Ok(None));
    files.server = Bytes::new();
    let e = recover(&files, &OPTS, no_limits).unwrap_err();
    assert_eq!(e.file, FileId::Server);
    assert_eq!(
        e.to_string(),
        "unable to recover \"server.dat\": unable to verify file version: EOF"
    );
}

#[test]
fn torn_tails_are_truncated() {
    let mut files = store();
    let mut c = BytesMut::from(&clients()[..]);
    let good = c.len() as u64;
    c.extend_from_slice(&[9, 0, 0]);
    files.clients = Some(c.freeze());
    let ch = files.channels.get_mut("ch").unwrap();
    let s2 = ch.slices.get_mut(&2).unwrap();
    let cut = s2.data.len() - 3;
    s2.data = s2.data.slice(..cut);
    let r = recover(&files, &OPTS, no_limits).unwrap().unwrap();
    assert_eq!(r.channels["ch"].msgs.last_seq, 5);
    let data_file = FileId::SliceData {
        channel: "ch".into(),
        slice: 2,
    };
    let last = r.channels["ch"].msgs.get(5).unwrap().index;
    assert_eq!(
        r.repairs,
        [
            Repair::Truncate {
                file: FileId::Clients,
                offset: good,
                reason: RecordError::IncompleteHeader { available: 3 },
                corrupt: false,
            },
            Repair::Truncate {
                file: data_file,
                offset: last.offset + 8 + u64::from(last.size),
                reason: RecordError::IncompletePayload {
                    size: r.channels["ch"].msgs.get(5).unwrap().index.size,
                    available: u64::from(last.size) - 3,
                },
                corrupt: false,
            },
            Repair::RewriteIndex {
                channel: "ch".into(),
                slice: 2,
                reason: IndexRebuild::Differs {
                    position: 1,
                    index_entries: 2,
                    data_entries: 1
                },
            },
        ]
    );
    assert_eq!(
        r.repairs[0].to_string(),
        format!(
            "file \"clients.dat\" truncated to offset {good} (torn last record: \
             unexpected EOF: record header expected to be 8 bytes, only read 3)"
        )
    );
    assert!(r.repairs[2]
        .to_string()
        .starts_with("index \"ch/msgs.2.idx\" rebuilt from its data file"));
}

#[test]
fn corrupt_stops_unless_truncate_bad_eof() {
    let mut files = store();
    let ch = files.channels.get_mut("ch").unwrap();
    let mut subs = BytesMut::from(&ch.subs.clone().unwrap()[..]);
    // Damage the payload of the second record (the first msg record).
    let second = subs.len() - 4 * 12 + 9;
    subs[second] ^= 0x40;
    ch.subs = Some(subs.freeze());
    let e = recover(&files, &OPTS, no_limits).unwrap_err();
    assert_eq!(
        e.file,
        FileId::Subs {
            channel: "ch".into()
        }
    );
    let RecoveryErrorKind::Corrupt { offset, reason } = e.kind else {
        panic!("{e}");
    };
    assert!(matches!(reason, RecordError::CrcMismatch { .. }));
    let text = e.to_string();
    assert!(text.starts_with(&format!(
        "unable to recover \"ch/subs.dat\": corrupted record at offset {offset}: corrupted data, expected crc"
    )));
    assert!(text.contains("--file_truncate_bad_eof would truncate the file at this offset"));

    let opts = RecoveryOptions {
        truncate_bad_eof: true,
        ..OPTS
    };
    let r = recover(&files, &opts, no_limits).unwrap().unwrap();
    assert_eq!(
        r.repairs,
        [Repair::Truncate {
            file: FileId::Subs {
                channel: "ch".into()
            },
            offset,
            reason,
            corrupt: true
        }]
    );
    assert!(r.repairs[0]
        .to_string()
        .contains("the data after it is lost"));
    let sub = &r.channels["ch"].subs.subs[&1];
    assert!(sub.pending.is_empty(), "records after the cut are gone");
}

#[test]
fn indexes_are_rebuilt_never_fatal() {
    let mut files = store();
    let ch = files.channels.get_mut("ch").unwrap();
    ch.slices.get_mut(&1).unwrap().index = None;
    ch.slices.get_mut(&2).unwrap().index = Some(Bytes::from_static(&[1, 0, 0, 0, 1, 2, 3]));
    let r = recover(&files, &OPTS, no_limits).unwrap().unwrap();
    assert_eq!(r.channels["ch"].msgs.count, 6);
    assert_eq!(
        r.repairs,
        [
            Repair::RewriteIndex {
                channel: "ch".into(),
                slice: 1,
                reason: IndexRebuild::Missing
            },
            Repair::RewriteIndex {
                channel: "ch".into(),
                slice: 2,
                reason: IndexRebuild::Record {
                    offset: 4,
                    error: IndexError::Incomplete { available: 3 }
                }
            },
        ]
    );
}

#[test]
fn limits_at_recovery() {
    let limits = |name: &str| ChannelLimits {
        max_msgs: if name == "ch" { 2 } else { 0 },
        ..ChannelLimits::default()
    };
    let r = recover(&store(), &OPTS, limits).unwrap().unwrap();
    let msgs = &r.channels["ch"].msgs;
    assert_eq!((msgs.first_seq, msgs.last_seq, msgs.count), (5, 6, 2));
    assert_eq!(
        r.repairs,
        [Repair::RemoveSlice {
            channel: "ch".into(),
            slice: 1
        }]
    );
    assert_eq!(
        r.repairs[0].to_string(),
        "slice \"ch/msgs.1.dat\" removed: channel limits dropped all of its messages"
    );
    // Age: everything older than 2 ns at time 6 (sequences 1 to 4).
    let aged = |_: &str| ChannelLimits {
        max_age: std::time::Duration::from_nanos(2),
        ..ChannelLimits::default()
    };
    let opts = RecoveryOptions {
        now: Some(6),
        ..OPTS
    };
    let r = recover(&store(), &opts, aged).unwrap().unwrap();
    assert_eq!(r.channels["ch"].msgs.first_seq, 5);
}

#[test]
fn fold_errors_name_the_file() {
    let mut files = store();
    files.clients = Some(file_with(|b| {
        encode_payload(b, RecordTag::Typed(7), b"", &Crc32::IEEE).unwrap();
    }));
    let e = recover(&files, &OPTS, no_limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to recover \"clients.dat\": unexpected record type 7 at offset 4"
    );
    let mut files = store();
    let ch = files.channels.get_mut("ch").unwrap();
    ch.slices.insert(3, slice(6..=7));
    let e = recover(&files, &OPTS, no_limits).unwrap_err();
    assert_eq!(
        e.file,
        FileId::SliceData {
            channel: "ch".into(),
            slice: 3
        }
    );
    let mut files = store();
    files.channels.get_mut("ch").unwrap().subs = Some(Bytes::from_static(&[3, 0, 0, 0]));
    let e = recover(&files, &OPTS, no_limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to recover \"ch/subs.dat\": unsupported file version: 3 (supports [1..1])"
    );
}

#[test]
fn missing_files_are_empty() {
    let mut files = store();
    files.clients = None;
    files.channels.get_mut("ch").unwrap().subs = None;
    let r = recover(&files, &OPTS, no_limits).unwrap().unwrap();
    assert!(r.clients.clients.is_empty());
    assert!(r.channels["ch"].subs.subs.is_empty());
}

#[test]
fn crc_off() {
    let mut files = store();
    let mut c = BytesMut::from(&clients()[..]);
    c[9] ^= 0xff; // the first record's CRC, not its payload
    files.clients = Some(c.freeze());
    assert!(recover(&files, &OPTS, no_limits).is_err());
    let opts = RecoveryOptions { crc: None, ..OPTS };
    let r = recover(&files, &opts, no_limits).unwrap().unwrap();
    assert_eq!(r.clients.clients.len(), 1);
}
