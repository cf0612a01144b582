//! `open()` on a copy of the store directory nats-streaming-server 0.25.6
//! left (`../shared/fixtures/go-filestore-0.25.6`, cluster `test-cluster`,
//! channel `limited` limited to 10 messages, see the fixtures' README): the
//! store serves what the Go server served after restarting on it, and what
//! we append to it is recovered again without any repair.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::{copy_dir, drive, fetch, msg, payload_at};
use serde_json::Value;
use stan_core::stan::store::{ChannelLimits, ChannelStats, Store};
use stan_proto::ServerInfo;
use stan_store::{open, IoThread, OpenError, OpenOptions, Opened};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-filestore-0.25.6")
}

fn expected(name: &str) -> Value {
    let bytes = fs::read(fixture().join("expected").join(name)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// limits.conf: `limited` keeps 10 messages, the rest the defaults.
fn limits(channel: &str) -> ChannelLimits {
    ChannelLimits {
        max_msgs: if channel == "limited" { 10 } else { 1_000_000 },
        ..ChannelLimits::default()
    }
}

fn open_copy(dir: &Path, cluster_id: &str) -> Result<Opened, OpenError> {
    let mut o = OpenOptions::new(dir, cluster_id, ServerInfo::default(), common::NOW);
    o.limits = Box::new(limits);
    open(o)
}

fn copy() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    copy_dir(&fixture().join("store"), root.path());
    root
}

#[test]
fn serves_what_go_served() {
    let root = copy();
    let mut opened = open_copy(root.path(), "test-cluster").unwrap();
    assert!(!opened.created);
    assert_eq!(opened.repairs, Vec::<String>::new());
    assert_eq!(opened.info.cluster_id, "test-cluster");
    assert_eq!(opened.info.discovery, "_STAN.discover.test-cluster");
    assert!(opened.store.is_idle(), "a clean Go store needs no write");

    let channelsz = expected("channelsz_subs_1.json");
    let want = channelsz["channels"].as_array().unwrap();
    assert_eq!(want.len(), 3);
    for w in want {
        let name = w["name"].as_str().unwrap();
        assert_eq!(
            opened.store.stats(name),
            Some(ChannelStats {
                msgs: w["msgs"].as_u64().unwrap(),
                bytes: w["bytes"].as_u64().unwrap(),
                first_seq: w["first_seq"].as_u64().unwrap(),
                last_seq: w["last_seq"].as_u64().unwrap(),
            }),
            "{name}"
        );
        let subs = opened.restored.channels[name].subs.len() as u64;
        assert_eq!(Some(subs), w["subs_count"].as_u64(), "{name}");
    }
    assert_eq!(
        opened
            .store
            .stats("limited")
            .map(|s| (s.first_seq, s.last_seq)),
        Some((16, 25))
    );

    let jsonl = fs::read_to_string(fixture().join("expected/messages.jsonl")).unwrap();
    let mut lines = 0;
    for line in jsonl.lines() {
        let w: Value = serde_json::from_str(line).unwrap();
        let (channel, seq) = (w["channel"].as_str().unwrap(), w["seq"].as_u64().unwrap());
        let m = fetch(&mut opened.store, &opened.dir, channel, seq)
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            Some(m.timestamp),
            w["timestamp"].as_i64(),
            "{channel} {seq}"
        );
        assert_eq!(
            Some(m.data.len() as u64),
            w["size"].as_u64(),
            "{channel} {seq}"
        );
        lines += 1;
    }
    assert_eq!(lines, 45);
    assert_eq!(
        payload_at(&mut opened.store, &opened.dir, "orders", 1).as_deref(),
        Some("order-1")
    );
    assert_eq!(fetch(&mut opened.store, &opened.dir, "limited", 15), None);

    let clients: BTreeSet<&str> = opened
        .restored
        .clients
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(clients, BTreeSet::from(["publisher", "live-client"]));
    let billing = &opened.restored.channels["orders"].subs[&1];
    assert_eq!(billing.state.durable_name, "billing");
    assert_eq!(billing.pending, BTreeSet::from([13, 14, 15, 16, 17]));
}

#[test]
fn other_cluster_id_refused() {
    let root = copy();
    let e = open_copy(root.path(), "other").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"cluster ID "other" does not match recovered value of "test-cluster""#
    );
}

#[test]
fn appends_to_the_go_store() {
    let root = copy();
    let dir = root.path();
    let idx = dir.join("orders/msgs.1.idx");
    let idx_before = fs::read(&idx).unwrap();
    let mut opened = open_copy(dir, "test-cluster").unwrap();
    let io = IoThread::spawn(dir, 0, Box::new(|| {})).unwrap();
    let s = &mut opened.store;
    s.append("orders", msg("orders", 31, "order-31")).unwrap();
    s.append("limited", msg("limited", 26, "L26")).unwrap();
    assert_eq!(
        s.stats("limited").map(|st| (st.msgs, st.first_seq)),
        Some((10, 17))
    );
    assert_eq!(drive(s, &io), None);
    drop(io);
    drop(opened);

    // One more 32-byte index record after Go's.
    let idx_after = fs::read(&idx).unwrap();
    assert_eq!(idx_after.len(), idx_before.len() + 32);
    assert_eq!(idx_after[..idx_before.len()], idx_before[..]);

    let mut opened = open_copy(dir, "test-cluster").unwrap();
    assert_eq!(opened.repairs, Vec::<String>::new());
    assert_eq!(
        payload_at(&mut opened.store, &opened.dir, "orders", 31).as_deref(),
        Some("order-31")
    );
    assert_eq!(
        opened
            .store
            .stats("orders")
            .map(|st| (st.msgs, st.last_seq)),
        Some((31, 31))
    );
    assert_eq!(
        opened
            .store
            .stats("limited")
            .map(|st| (st.msgs, st.first_seq, st.last_seq)),
        Some((10, 17, 26))
    );
}
