//! Recovery one slice at a time (`recover_streaming`): the same state as
//! reading every file at once, with the payloads let go but the first and
//! last of each slice; and the file store resumes from it, reading the rest
//! back on demand.

// The simulated disk takes an `Instant` (it has no latency here): any will do.
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use stan_core::sim::disk::Disk;
use stan_core::stan::filestore::{
    recover, recover_streaming, Crc32, FileStore, FileStoreOptions, RecoveryOptions,
};
use stan_core::stan::store::{ChannelLimits, Fetch, Store, StoredMsg};
use stan_proto::{MsgProto, ServerInfo};

const NOW: i64 = 1_700_000_000_000_000_000;

fn msg(seq: u64) -> StoredMsg {
    StoredMsg::encode(&MsgProto {
        sequence: seq,
        subject: "orders".into(),
        data: Bytes::from(format!("order-{seq}-{}", "x".repeat(200))),
        timestamp: NOW + seq as i64,
        ..MsgProto::default()
    })
}

fn flush(store: &mut FileStore, disk: &mut Disk) {
    disk.drain(store, Instant::now());
}

#[test]
fn slices_one_at_a_time_give_the_same_state_without_the_payloads() {
    let mut disk = Disk::default();
    disk.init(&ServerInfo {
        cluster_id: "c".into(),
        ..ServerInfo::default()
    });
    let opts = FileStoreOptions {
        slice_max_msgs: 10,
        cache_bytes: 1_000,
        ..FileStoreOptions::default()
    };
    let mut store = FileStore::new(opts.clone(), NOW);
    store
        .create_channel("orders", ChannelLimits::default())
        .unwrap();
    for seq in 1..=35 {
        store.append("orders", msg(seq)).unwrap();
    }
    flush(&mut store, &mut disk);

    let full = disk.store_files();
    let crc = Crc32::IEEE;
    let ropts = RecoveryOptions {
        crc: Some(&crc),
        truncate_bad_eof: false,
        now: None,
    };
    let limits = |_: &str| ChannelLimits::default();
    let whole = recover(&full, &ropts, limits).unwrap().unwrap();
    // Only the list of slices, then each one's bytes when asked.
    let mut listed = full.clone();
    let mut asked = Vec::new();
    for ch in listed.channels.values_mut() {
        for s in ch.slices.values_mut() {
            *s = Default::default();
        }
    }
    let streamed = recover_streaming(&listed, &ropts, limits, |channel, n| {
        asked.push(n);
        Ok::<_, Infallible>(full.channels[channel].slices[&n].clone())
    })
    .unwrap()
    .unwrap();
    assert_eq!(asked, [1, 2, 3, 4]);
    let (a, b) = (
        &whole.channels["orders"].msgs,
        &streamed.channels["orders"].msgs,
    );
    assert_eq!(a.stats(), b.stats());
    assert_eq!(
        a.live().map(|m| m.index).collect::<Vec<_>>(),
        b.live().map(|m| m.index).collect::<Vec<_>>()
    );
    let kept: Vec<u64> = b
        .live()
        .filter(|m| !m.encoded.is_empty())
        .map(|m| m.index.seq)
        .collect();
    assert_eq!(
        kept,
        [1, 10, 11, 20, 21, 30, 31, 35],
        "first and last of each slice"
    );

    // The store resumes from it and reads the payloads back.
    let (mut again, _) = FileStore::recovered(opts, streamed, &listed, limits, NOW).unwrap();
    for seq in [1, 17, 35] {
        let got = loop {
            match again.fetch("orders", seq) {
                Fetch::Found(m) => break m,
                Fetch::Reading => flush(&mut again, &mut disk),
                Fetch::Gone => panic!("{seq} gone"),
            }
        };
        assert_eq!(got, msg(seq));
    }
}
