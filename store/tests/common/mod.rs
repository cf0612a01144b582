//! Helpers of the store's integration tests: options, messages, driving a
//! `FileStore` through an `IoThread` until everything is durable, copying a
//! directory.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::stan::filestore::{FileStore, IoFailure};
use stan_core::stan::store::Fetch;
use stan_core::stan::store::{Store, StoredMsg};
use stan_proto::{MsgProto, ServerInfo};
use stan_store::{IoThread, OpenOptions};

/// A fixed "now": 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000_000_000_000;

pub fn info(cluster_id: &str) -> ServerInfo {
    ServerInfo {
        cluster_id: cluster_id.into(),
        discovery: format!("_STAN.discover.{cluster_id}"),
        publish: format!("_STAN.pub.{cluster_id}"),
        subscribe: format!("_STAN.sub.{cluster_id}"),
        unsubscribe: format!("_STAN.unsub.{cluster_id}"),
        close: format!("_STAN.close.{cluster_id}"),
        acks_subs: format!("_STAN.ack.{cluster_id}"),
        ..ServerInfo::default()
    }
}

pub fn options(dir: &Path, cluster_id: &str) -> OpenOptions {
    OpenOptions::new(dir, cluster_id, info(cluster_id), NOW)
}

pub fn msg(channel: &str, seq: u64, data: &str) -> StoredMsg {
    StoredMsg::encode(&MsgProto {
        sequence: seq,
        subject: channel.into(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        timestamp: NOW + seq as i64,
        ..MsgProto::default()
    })
}

pub fn payload(store: &impl Store, channel: &str, seq: u64) -> Option<String> {
    let m = store.lookup(channel, seq)?.decode().ok()?;
    String::from_utf8(m.data.to_vec()).ok()
}

/// Message `seq`, read back from the store directory `dir` through an IO
/// thread if it is not in memory.
#[allow(dead_code)]
pub fn fetch(store: &mut FileStore, dir: &Path, channel: &str, seq: u64) -> Option<StoredMsg> {
    match store.fetch(channel, seq) {
        Fetch::Found(m) => Some(m),
        Fetch::Gone => None,
        Fetch::Reading => {
            let io = IoThread::spawn(dir, 0, Box::new(|| {})).expect("IO thread");
            assert_eq!(drive(store, &io), None);
            store.lookup(channel, seq)
        }
    }
}

/// The payload of `seq` as text, read back if need be.
#[allow(dead_code)]
pub fn payload_at(store: &mut FileStore, dir: &Path, channel: &str, seq: u64) -> Option<String> {
    let m = fetch(store, dir, channel, seq)?.decode().ok()?;
    String::from_utf8(m.data.to_vec()).ok()
}

/// The engine loop in miniature: every batch to the IO thread, every
/// completion back, until nothing is staged or in flight. Returns the
/// first failure.
pub fn drive(store: &mut FileStore, io: &IoThread) -> Option<IoFailure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.is_idle() {
        assert!(Instant::now() < deadline, "IO did not complete");
        if let Some(batch) = store.poll_io() {
            io.submit(batch);
        }
        if let Some(done) = io.wait_done(Duration::from_millis(100)) {
            if let Some(failure) = store.handle_io_done(done) {
                return Some(failure);
            }
        }
    }
    assert_eq!(store.durable_mark(), store.write_mark());
    None
}

/// Copies a directory tree, the copies writable (the fixture is read-only).
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).unwrap();
}
