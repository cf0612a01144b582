//! `open()` on real directories: a new store, the lock, the cluster ID, a
//! round trip of messages, clients and subscriptions through `FileStore`
//! and the `IoThread`, repairs of a torn tail, corruption and
//! `--file_truncate_bad_eof`.

mod common;

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions as FsOpenOptions};
use std::io::Write;
use std::path::Path;

use common::{drive, msg, options, payload_at};
use stan_core::stan::filestore::layout::TRUNCATE_WITNESS_FILE;
use stan_core::stan::filestore::{
    recover_server, Crc32, FileId, FileStoreOptions, RecordError, RecoveryErrorKind,
};
use stan_core::stan::store::{ChannelLimits, ChannelStats, ClientRecord, Store, SubRecord};
use stan_proto::{ClientInfo, SubState};
use stan_store::{open, IoThread, LockError, OpenError, Opened};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn spawn_io(opened: &Opened) -> IoThread {
    IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap()
}

#[test]
fn new_store_writes_server_dat_and_locks() {
    let root = tmp();
    let dir = root.path().join("a/b/store");
    let opened = open(options(&dir, "test-cluster")).unwrap();
    assert!(opened.created);
    assert!(opened.repairs.is_empty());
    assert_eq!(opened.info, common::info("test-cluster"));
    let bytes = fs::read(dir.join("server.dat")).unwrap();
    let info = recover_server(&bytes.into(), Some(&Crc32::IEEE)).unwrap();
    assert_eq!(info, Some(common::info("test-cluster")));
    assert!(dir.join(".rootdir.lck").exists());

    // A second server on the same directory is refused while the first lives.
    let e = open(options(&dir, "test-cluster")).unwrap_err();
    assert!(
        matches!(&e, OpenError::Lock(LockError::Held { dir: d, .. }) if d == &dir),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("in use by another server"), "{text}");

    // The first store's first batch creates clients.dat.
    let mut opened = opened;
    let io = spawn_io(&opened);
    assert_eq!(drive(&mut opened.store, &io), None);
    assert_eq!(fs::read(dir.join("clients.dat")).unwrap(), [1, 0, 0, 0]);
    drop(io);
    drop(opened);

    let again = open(options(&dir, "test-cluster")).unwrap();
    assert!(!again.created);
    assert!(again.restored.clients.is_empty());
    assert!(again.restored.channels.is_empty());
}

#[test]
fn a_version_header_alone_is_a_new_store() {
    let root = tmp();
    fs::write(root.path().join("server.dat"), [1, 0, 0, 0]).unwrap();
    let opened = open(options(root.path(), "c")).unwrap();
    assert!(opened.created);
    assert_eq!(opened.info.cluster_id, "c");
}

#[test]
fn the_directory_cannot_be_created() {
    let root = tmp();
    let file = root.path().join("file");
    fs::write(&file, b"x").unwrap();
    let dir = file.join("store");
    let e = open(options(&dir, "c")).unwrap_err();
    assert!(matches!(e, OpenError::CreateDir { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "unable to create the store directory {}: ",
            dir.display()
        )),
        "{text}"
    );
    assert!(text.contains("os error"), "{text}");
}

#[test]
fn cluster_id_mismatch() {
    let root = tmp();
    drop(open(options(root.path(), "test-cluster")).unwrap());
    let e = open(options(root.path(), "other")).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"cluster ID "other" does not match recovered value of "test-cluster""#
    );
}

fn sub(id: u64, durable: &str) -> SubState {
    SubState {
        id,
        client_id: "c1".into(),
        inbox: format!("_INBOX.{id}"),
        ack_inbox: format!("_STAN.ack.{id}"),
        max_in_flight: 10,
        ack_wait_in_secs: 30,
        durable_name: durable.into(),
        is_durable: !durable.is_empty(),
        ..SubState::default()
    }
}

fn small_slices() -> FileStoreOptions {
    FileStoreOptions {
        slice_max_msgs: 3,
        ..FileStoreOptions::default()
    }
}

/// Fills a new store: orders 1-7 (three slices), events 1-2, clients c1
/// (c2 added and removed), subscriptions on orders (1 durable with 2 and 3
/// pending, 2 deleted).
fn fill(dir: &Path) {
    let mut o = options(dir, "test-cluster");
    o.store = small_slices();
    let mut opened = open(o).unwrap();
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    s.create_channel("orders", ChannelLimits::default())
        .unwrap();
    s.create_channel("events", ChannelLimits::default())
        .unwrap();
    for seq in 1..=7 {
        s.append("orders", msg("orders", seq, &format!("order-{seq}")))
            .unwrap();
    }
    // Some of it written while the rest is being staged.
    assert_eq!(drive(s, &io), None);
    for seq in 1..=2 {
        s.append("events", msg("events", seq, &format!("event-{seq}")))
            .unwrap();
    }
    for id in ["c1", "c2"] {
        s.record_client(ClientRecord::Added(ClientInfo {
            id: id.into(),
            hb_inbox: format!("_INBOX.hb.{id}"),
            ..ClientInfo::default()
        }));
    }
    s.record_client(ClientRecord::Removed("c2".into()));
    s.record_sub("orders", SubRecord::New(sub(1, "dur")));
    s.record_sub("orders", SubRecord::New(sub(2, "")));
    for seq in 1..=3 {
        s.record_sub("orders", SubRecord::Sent { id: 1, seq });
    }
    s.record_sub("orders", SubRecord::Acked { id: 1, seq: 1 });
    s.record_sub("orders", SubRecord::Sent { id: 2, seq: 1 });
    s.record_sub("orders", SubRecord::Delete(2));
    assert_eq!(drive(s, &io), None);
}

fn try_open(dir: &Path) -> Result<Opened, OpenError> {
    let mut o = options(dir, "test-cluster");
    o.store = small_slices();
    open(o)
}

fn open_recovered(dir: &Path) -> Opened {
    try_open(dir).unwrap()
}

#[test]
fn round_trip() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    for n in 1..=3 {
        assert!(dir.join(format!("orders/msgs.{n}.dat")).exists());
        assert!(dir.join(format!("orders/msgs.{n}.idx")).exists());
    }
    assert!(!dir.join("orders/msgs.4.dat").exists());

    let mut opened = open_recovered(dir);
    assert!(!opened.created);
    assert_eq!(opened.repairs, Vec::<String>::new());
    let r = &opened.restored;
    assert_eq!(
        r.clients.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1"]
    );
    assert_eq!(r.clients[0].hb_inbox, "_INBOX.hb.c1");
    let orders = &r.channels["orders"];
    assert_eq!(orders.max_sub_id, 2);
    assert_eq!(orders.subs.keys().copied().collect::<Vec<_>>(), [1]);
    let dur = &orders.subs[&1];
    assert_eq!(dur.state.durable_name, "dur");
    assert_eq!(dur.state.last_sent, 3);
    assert_eq!(dur.pending, BTreeSet::from([2, 3]));
    assert!(r.channels["events"].subs.is_empty());

    let dir_path = opened.dir.clone();
    let s = &mut opened.store;
    for seq in 1..=7 {
        assert_eq!(
            payload_at(s, &dir_path, "orders", seq),
            Some(format!("order-{seq}"))
        );
    }
    assert_eq!(
        payload_at(s, &dir_path, "events", 2).as_deref(),
        Some("event-2")
    );
    let overhead = 40;
    let bytes = |channel: &str, range: std::ops::RangeInclusive<u64>| -> u64 {
        range
            .map(|seq| {
                msg(
                    channel,
                    seq,
                    &format!("{}-{seq}", &channel[..channel.len() - 1]),
                )
            })
            .map(|m| m.encoded.len() as u64 + overhead)
            .sum()
    };
    assert_eq!(
        s.stats("orders"),
        Some(ChannelStats {
            msgs: 7,
            bytes: bytes("orders", 1..=7),
            first_seq: 1,
            last_seq: 7,
        })
    );
    assert_eq!(
        s.stats("events").map(|st| (st.msgs, st.last_seq)),
        Some((2, 2))
    );
    assert_eq!(s.channel_names().collect::<Vec<_>>(), ["events", "orders"]);

    // Appending after recovery continues the last slice (3 holds only 7)
    // with the right offsets: the next recovery needs no index rewrite.
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    s.append("orders", msg("orders", 8, "order-8")).unwrap();
    s.append("orders", msg("orders", 9, "order-9")).unwrap();
    s.record_sub("orders", SubRecord::Acked { id: 1, seq: 2 });
    assert_eq!(drive(s, &io), None);
    drop(io);
    drop(opened);
    assert!(!dir.join("orders/msgs.4.dat").exists());

    let mut opened = open_recovered(dir);
    assert_eq!(opened.repairs, Vec::<String>::new());
    assert_eq!(
        payload_at(&mut opened.store, &opened.dir, "orders", 9).as_deref(),
        Some("order-9")
    );
    assert_eq!(
        opened
            .store
            .stats("orders")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((9, 1, 9))
    );
    assert_eq!(
        opened.restored.channels["orders"].subs[&1].pending,
        BTreeSet::from([3])
    );
}

#[test]
fn limits_remove_whole_slices() {
    let root = tmp();
    let dir = root.path();
    let limits = ChannelLimits {
        max_msgs: 2,
        ..ChannelLimits::default()
    };
    let mut o = options(dir, "c");
    o.store = FileStoreOptions {
        slice_max_msgs: 1,
        ..FileStoreOptions::default()
    };
    o.limits = Box::new(move |_| limits);
    let mut opened = open(o).unwrap();
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    s.create_channel("foo", limits).unwrap();
    for seq in 1..=5 {
        s.append("foo", msg("foo", seq, "x")).unwrap();
    }
    assert_eq!(drive(s, &io), None);
    let mut left: Vec<String> = fs::read_dir(dir.join("foo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "msgs.4.dat",
            "msgs.4.idx",
            "msgs.5.dat",
            "msgs.5.idx",
            "subs.dat"
        ]
    );
    drop(io);
    drop(opened);

    let mut o = options(dir, "c");
    o.limits = Box::new(move |_| limits);
    let opened = open(o).unwrap();
    assert_eq!(opened.repairs, Vec::<String>::new());
    assert_eq!(
        opened
            .store
            .stats("foo")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((2, 4, 5))
    );
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    FsOpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn torn_tails_are_truncated() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    let data = dir.join("orders/msgs.1.dat");
    let subs = dir.join("orders/subs.dat");
    let (data_len, subs_len) = (
        fs::metadata(&data).unwrap().len(),
        fs::metadata(&subs).unwrap().len(),
    );
    // Half a record: a header announcing 10 bytes, then 1.
    append_bytes(&data, &[10, 0, 0, 0, 1, 2, 3, 4, 0xaa]);
    append_bytes(&subs, &[10, 0, 0, 5]);

    let opened = open_recovered(dir);
    assert_eq!(opened.repairs.len(), 2, "{:?}", opened.repairs);
    assert!(
        opened.repairs[0].starts_with(&format!(
            "file \"orders/msgs.1.dat\" truncated to offset {data_len} (torn last record"
        )),
        "{:?}",
        opened.repairs
    );
    assert!(
        opened.repairs[1].starts_with(&format!(
            "file \"orders/subs.dat\" truncated to offset {subs_len} (torn last record"
        )),
        "{:?}",
        opened.repairs
    );
    assert_eq!(fs::metadata(&data).unwrap().len(), data_len);
    assert_eq!(fs::metadata(&subs).unwrap().len(), subs_len);
    assert_eq!(
        opened.store.stats("orders").map(|st| st.msgs),
        Some(7),
        "nothing lost"
    );
    assert_eq!(
        opened.restored.channels["orders"].subs[&1].pending,
        BTreeSet::from([2, 3])
    );
    drop(opened);
    assert_eq!(open_recovered(dir).repairs, Vec::<String>::new());
}

#[test]
fn a_lost_index_is_rewritten() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    let idx = dir.join("orders/msgs.2.idx");
    let good = fs::read(&idx).unwrap();
    fs::remove_file(&idx).unwrap();
    let opened = open_recovered(dir);
    assert_eq!(
        opened.repairs,
        ["index \"orders/msgs.2.idx\" rebuilt from its data file (no index file)"]
    );
    assert_eq!(fs::read(&idx).unwrap(), good);
}

#[test]
fn corruption_fails_unless_truncate_bad_eof() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    let data = dir.join("orders/msgs.1.dat");
    let mut bytes = fs::read(&data).unwrap();
    // A payload byte of the first record (after the version header and the
    // record header).
    bytes[4 + 8 + 3] ^= 0xff;
    fs::write(&data, &bytes).unwrap();

    let e = try_open(dir).unwrap_err();
    let OpenError::Recovery { source, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        source.file,
        FileId::SliceData {
            channel: "orders".into(),
            slice: 1
        }
    );
    assert!(matches!(
        source.kind,
        RecoveryErrorKind::Corrupt {
            offset: 4,
            reason: RecordError::CrcMismatch { .. }
        }
    ));
    let text = e.to_string();
    assert!(
        text.starts_with("unable to recover \"orders/msgs.1.dat\": corrupted record at offset 4"),
        "{text}"
    );
    assert!(text.contains("--file_truncate_bad_eof"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    // Nothing was changed.
    assert_eq!(fs::read(&data).unwrap(), bytes);

    let truncating = || {
        let mut o = options(dir, "test-cluster");
        o.store = small_slices();
        o.truncate_bad_eof = true;
        open(o)
    };
    let opened = truncating().unwrap();
    assert_eq!(opened.repairs.len(), 1, "{:?}", opened.repairs);
    assert!(
        opened.repairs[0].starts_with(
            "file \"orders/msgs.1.dat\" truncated to offset 4 as --file_truncate_bad_eof asks"
        ),
        "{:?}",
        opened.repairs
    );
    assert_eq!(fs::metadata(&data).unwrap().len(), 4);
    // Slice 1's messages are lost; 4-7 remain.
    assert_eq!(
        opened
            .store
            .stats("orders")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((4, 4, 7))
    );
    assert!(dir.join(TRUNCATE_WITNESS_FILE).exists());
    drop(opened);

    // Go refuses two starts in a row with the option...
    let e = truncating().unwrap_err();
    assert!(matches!(e, OpenError::TruncateWitness { .. }), "{e:?}");
    assert!(e.to_string().starts_with(
        "file store should not be opened consecutively with the TruncateUnexpectedEOF option set to true"
    ));
    // ...until a start without it removes the witness.
    drop(open_recovered(dir));
    assert!(!dir.join(TRUNCATE_WITNESS_FILE).exists());
    drop(truncating().unwrap());
}

#[test]
fn crc_not_checked_without_file_crc() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    let data = dir.join("orders/msgs.2.dat");
    let mut bytes = fs::read(&data).unwrap();
    // The stored CRC of the first record.
    bytes[4 + 4] ^= 0xff;
    fs::write(&data, &bytes).unwrap();
    assert!(matches!(try_open(dir), Err(OpenError::Recovery { .. })));
    let mut o = options(dir, "test-cluster");
    o.store = small_slices();
    o.crc_check = false;
    let opened = open(o).unwrap();
    assert_eq!(opened.store.stats("orders").map(|st| st.msgs), Some(7));
}

#[test]
fn misnamed_slice() {
    let root = tmp();
    let dir = root.path();
    fill(dir);
    fs::write(dir.join("orders/msgs.x1.dat"), [1, 0, 0, 0]).unwrap();
    let e = try_open(dir).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("message log has an invalid name: msgs.x1.dat"),
        "{e}"
    );
}

#[test]
fn compaction_and_channel_deletion() {
    let root = tmp();
    let dir = root.path();
    let compacting = || {
        let mut o = options(dir, "c");
        o.store = FileStoreOptions {
            compact_min_size: 0,
            compact_interval: std::time::Duration::ZERO,
            ..FileStoreOptions::default()
        };
        open(o).unwrap()
    };
    let mut opened = compacting();
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    s.create_channel("foo", ChannelLimits::default()).unwrap();
    s.create_channel("gone", ChannelLimits::default()).unwrap();
    s.append("gone", msg("gone", 1, "x")).unwrap();
    s.record_sub("foo", SubRecord::New(sub(1, "d")));
    assert_eq!(drive(s, &io), None);
    for seq in 1..=20 {
        s.append("foo", msg("foo", seq, "x")).unwrap();
        s.record_sub("foo", SubRecord::Sent { id: 1, seq });
        if seq < 18 {
            s.record_sub("foo", SubRecord::Acked { id: 1, seq });
        }
        // One batch every few records: compactions and appends to the
        // rewritten file interleave across batches.
        if seq % 3 == 0 {
            assert_eq!(drive(s, &io), None);
        }
    }
    for n in 1..=4 {
        let id = format!("c{n}");
        s.record_client(ClientRecord::Added(ClientInfo {
            id: id.clone(),
            ..ClientInfo::default()
        }));
        if n % 2 == 1 {
            s.record_client(ClientRecord::Removed(id));
        }
    }
    s.delete_channel("gone").unwrap();
    assert_eq!(drive(s, &io), None);
    assert!(!dir.join("gone").exists());
    // Compacted: the live sub and its 3 pending messages, no history.
    let subs_len = fs::metadata(dir.join("foo/subs.dat")).unwrap().len();
    assert!(subs_len < 200, "subs.dat not compacted: {subs_len} bytes");
    drop(io);
    drop(opened);

    let opened = compacting();
    assert_eq!(opened.repairs, Vec::<String>::new());
    assert_eq!(opened.restored.channels.keys().collect::<Vec<_>>(), ["foo"]);
    let sub = &opened.restored.channels["foo"].subs[&1];
    assert_eq!(sub.pending, BTreeSet::from([18, 19, 20]));
    assert_eq!(sub.state.last_sent, 20);
    let mut clients: Vec<&str> = opened
        .restored
        .clients
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    clients.sort();
    assert_eq!(clients, ["c2", "c4"]);
    assert_eq!(opened.store.stats("foo").map(|st| st.msgs), Some(20));
}

#[test]
fn age_limit_at_recovery() {
    let root = tmp();
    let dir = root.path();
    let limits = ChannelLimits {
        max_age: std::time::Duration::from_secs(60),
        ..ChannelLimits::default()
    };
    let mut opened = open(options(dir, "c")).unwrap();
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    s.create_channel("foo", limits).unwrap();
    for seq in 1..=3 {
        s.append("foo", msg("foo", seq, "x")).unwrap();
    }
    assert_eq!(drive(s, &io), None);
    drop(io);
    drop(opened);

    // Two minutes later every message has expired; the sequence goes on.
    let later = common::NOW + 120_000_000_000;
    let reopen = || {
        let mut o = options(dir, "c");
        o.now = later;
        o.limits = Box::new(move |_| limits);
        open(o).unwrap()
    };
    let mut opened = reopen();
    assert_eq!(
        opened
            .store
            .stats("foo")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((0, 4, 3))
    );
    let io = spawn_io(&opened);
    let s = &mut opened.store;
    let m4 = stan_core::stan::store::StoredMsg::encode(&stan_proto::MsgProto {
        sequence: 4,
        subject: "foo".into(),
        timestamp: later,
        ..Default::default()
    });
    s.append("foo", m4).unwrap();
    assert_eq!(drive(s, &io), None);
    drop(io);
    drop(opened);
    let opened = reopen();
    assert_eq!(
        opened
            .store
            .stats("foo")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((1, 4, 4))
    );
}

#[test]
fn channel_data_without_a_server_file_is_not_initialized_over() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    fs::create_dir_all(dir.join("orders")).unwrap();
    fs::write(dir.join("orders/msgs.1.dat"), [1, 0, 0, 0]).unwrap();
    let e = stan_store::open(options(dir, "test-cluster")).unwrap_err();
    assert!(matches!(e, stan_store::OpenError::Orphaned { .. }), "{e}");
    assert!(e.to_string().contains("msgs.1.dat"), "{e}");
    assert!(!dir.join("server.dat").exists());
}
