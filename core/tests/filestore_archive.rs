//! `--file_slice_archive_script`: a slice the limits emptied is handed to
//! the script (renamed `.bak`) instead of being deleted, and recovery reads
//! neither the renamed files nor the messages they held.

// The simulated disk takes an `Instant` (it has no latency here): any will do.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use stan_core::sim::disk::Disk;
use stan_core::stan::filestore::{
    recover, Crc32, FileOp, FileStore, FileStoreOptions, RecoveryOptions,
};
use stan_core::stan::store::{ChannelLimits, Store, StoredMsg};
use stan_proto::{MsgProto, ServerInfo};

const NOW: i64 = 1_700_000_000_000_000_000;

fn msg(seq: u64) -> StoredMsg {
    StoredMsg::encode(&MsgProto {
        sequence: seq,
        subject: "orders".into(),
        data: Bytes::from(format!("order-{seq}")),
        timestamp: NOW + seq as i64,
        ..MsgProto::default()
    })
}

/// A store of 2-message slices and at most 4 messages, after 9 appends,
/// each batch kept; and the disk it wrote.
fn run(script: Option<&str>) -> (Vec<FileOp>, Disk) {
    let mut disk = Disk::default();
    disk.init(&ServerInfo {
        cluster_id: "c".into(),
        ..ServerInfo::default()
    });
    let opts = FileStoreOptions {
        slice_max_msgs: 2,
        slice_archive_script: script.map(str::to_owned),
        ..FileStoreOptions::default()
    };
    let mut store = FileStore::new(opts, NOW);
    let limits = ChannelLimits {
        max_msgs: 4,
        ..ChannelLimits::default()
    };
    store.create_channel("orders", limits).unwrap();
    let mut ops = Vec::new();
    for seq in 1..=9 {
        store.append("orders", msg(seq)).unwrap();
        while let Some(batch) = store.poll_io() {
            ops.extend(batch.ops.iter().cloned());
            disk.submit(Instant::now(), batch);
            let done = disk.complete(Instant::now()).unwrap();
            assert_eq!(store.handle_io_done(done), None);
        }
    }
    (ops, disk)
}

fn names(disk: &Disk) -> Vec<&str> {
    disk.files
        .keys()
        .map(String::as_str)
        .filter(|n| n.starts_with("orders/msgs."))
        .collect()
}

#[test]
fn emptied_slices_go_to_the_script_renamed_instead_of_deleted() {
    let (ops, disk) = run(Some("/opt/archive.sh"));
    let archived: Vec<u64> = ops
        .iter()
        .filter_map(|op| match op {
            FileOp::ArchiveSlice {
                channel,
                slice,
                script,
            } => {
                assert_eq!(
                    (channel.as_str(), script.as_str()),
                    ("orders", "/opt/archive.sh")
                );
                Some(*slice)
            }
            _ => None,
        })
        .collect();
    // Messages 6..=9 stay, in slices 3 (beside 5, gone), 4 and 5: slices
    // 1 and 2 were emptied.
    assert_eq!(archived, [1, 2]);
    assert!(!ops.iter().any(|op| matches!(op, FileOp::Remove { .. })));
    assert_eq!(
        names(&disk),
        [
            "orders/msgs.1.dat.bak",
            "orders/msgs.1.idx.bak",
            "orders/msgs.2.dat.bak",
            "orders/msgs.2.idx.bak",
            "orders/msgs.3.dat",
            "orders/msgs.3.idx",
            "orders/msgs.4.dat",
            "orders/msgs.4.idx",
            "orders/msgs.5.dat",
            "orders/msgs.5.idx",
        ]
    );
    // Recovery sees neither the renamed files nor what they held.
    let crc = Crc32::IEEE;
    let ropts = RecoveryOptions {
        crc: Some(&crc),
        truncate_bad_eof: false,
        now: None,
    };
    let limits = |_: &str| ChannelLimits {
        max_msgs: 4,
        ..ChannelLimits::default()
    };
    let recovered = recover(&disk.store_files(), &ropts, limits)
        .unwrap()
        .unwrap();
    let msgs = &recovered.channels["orders"].msgs;
    assert_eq!(
        msgs.live().map(|m| m.index.seq).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
}

#[test]
fn without_a_script_emptied_slices_are_deleted() {
    let (ops, disk) = run(None);
    assert!(!ops
        .iter()
        .any(|op| matches!(op, FileOp::ArchiveSlice { .. })));
    assert_eq!(
        names(&disk),
        [
            "orders/msgs.3.dat",
            "orders/msgs.3.idx",
            "orders/msgs.4.dat",
            "orders/msgs.4.idx",
            "orders/msgs.5.dat",
            "orders/msgs.5.idx",
        ]
    );
}
