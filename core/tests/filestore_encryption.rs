//! The pure file store with encryption at rest, over the simulation's
//! in-memory directory: payloads encrypted in the slices, clear in memory
//! and after recovery with the right key; a wrong key fails recovery naming
//! the message.

// The simulated disk takes an `Instant` (it has no latency here): any will do.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use stan_core::sim::disk::Disk;
use stan_core::stan::filestore::crypto::{Cipher, EncryptionOptions, OVERHEAD};
use stan_core::stan::filestore::{
    recover, scan_index, Crc32, FileStore, FileStoreOptions, RecoveryOptions,
};
use stan_core::stan::store::{ChannelLimits, Fetch, Store, StoredMsg};
use stan_proto::{Message, MsgProto, ServerInfo};

const NOW: i64 = 1_700_000_000_000_000_000;

fn msg(seq: u64, data: &str) -> StoredMsg {
    StoredMsg::encode(&MsgProto {
        sequence: seq,
        subject: "orders".into(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        timestamp: NOW + seq as i64,
        ..MsgProto::default()
    })
}

fn options(key: Option<&str>, cipher: Cipher, seed: u64) -> FileStoreOptions {
    FileStoreOptions {
        encryption: key.map(|k| EncryptionOptions::new(cipher, k.as_bytes(), seed).unwrap()),
        ..FileStoreOptions::default()
    }
}

fn flush(store: &mut FileStore, disk: &mut Disk) {
    disk.drain(store, Instant::now());
    assert!(store.is_idle());
}

fn reopen(disk: &Disk, opts: FileStoreOptions) -> Result<FileStore, String> {
    let files = disk.store_files();
    let crc = Crc32::IEEE;
    let ropts = RecoveryOptions {
        crc: Some(&crc),
        truncate_bad_eof: false,
        now: None,
    };
    let limits = |_: &str| ChannelLimits::default();
    let recovery = recover(&files, &ropts, limits).unwrap().unwrap();
    FileStore::recovered(opts, recovery, &files, limits, NOW)
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

/// Message `seq`, read back from the disk if it is not in memory.
fn get(store: &mut FileStore, disk: &mut Disk, seq: u64) -> StoredMsg {
    loop {
        match store.fetch("orders", seq) {
            Fetch::Found(m) => return m,
            Fetch::Reading => flush(store, disk),
            Fetch::Gone => panic!("message {seq} gone"),
        }
    }
}

fn data(store: &mut FileStore, disk: &mut Disk, seq: u64) -> Bytes {
    get(store, disk, seq).decode().unwrap().data
}

fn new_disk() -> Disk {
    let mut disk = Disk::default();
    disk.init(&ServerInfo {
        cluster_id: "c".into(),
        ..ServerInfo::default()
    });
    disk
}

#[test]
fn payloads_are_encrypted_on_disk_only() {
    for cipher in [Cipher::Aes, Cipher::ChaCha] {
        let mut disk = new_disk();
        let mut store = FileStore::new(options(Some("right"), cipher, 1), NOW);
        store
            .create_channel("orders", ChannelLimits::default())
            .unwrap();
        store.append("orders", msg(1, "secret-one")).unwrap();
        store.append("orders", msg(2, "")).unwrap();
        store.append("orders", msg(3, "secret-three")).unwrap();
        // What the engine delivers stays clear.
        assert_eq!(get(&mut store, &mut disk, 1), msg(1, "secret-one"));
        flush(&mut store, &mut disk);

        let dat = &disk.files["orders/msgs.1.dat"];
        assert!(!dat.windows(6).any(|w| w == b"secret"));
        // The index records the encrypted size (empty data is stored as it is).
        let idx = scan_index(&disk.files["orders/msgs.1.idx"], Some(&Crc32::IEEE));
        let sizes: Vec<u32> = idx.entries.iter().map(|e| e.size).collect();
        let clear = |seq, d| msg(seq, d).encoded.len() as u32;
        assert_eq!(
            sizes,
            vec![
                clear(1, "secret-one") + OVERHEAD as u32,
                clear(2, ""),
                clear(3, "secret-three") + OVERHEAD as u32
            ]
        );

        // The right key: clear again, whatever cipher is configured now.
        let other = match cipher {
            Cipher::Aes => Cipher::ChaCha,
            Cipher::ChaCha => Cipher::Aes,
        };
        let mut again = reopen(&disk, options(Some("right"), other, 2)).unwrap();
        assert_eq!(get(&mut again, &mut disk, 1), msg(1, "secret-one"));
        assert_eq!(data(&mut again, &mut disk, 2), "");
        assert_eq!(data(&mut again, &mut disk, 3), "secret-three");
        // New appends go on with the configured cipher; all read back.
        again.append("orders", msg(4, "secret-four")).unwrap();
        flush(&mut again, &mut disk);
        let mut last = reopen(&disk, options(Some("right"), cipher, 3)).unwrap();
        assert_eq!(data(&mut last, &mut disk, 4), "secret-four");
        assert_eq!(last.stats("orders").unwrap().msgs, 4);

        // A wrong key: the first encrypted message names it.
        let err = reopen(&disk, options(Some("wrong"), cipher, 4)).unwrap_err();
        assert_eq!(
            err,
            format!(
                "unable to decrypt message 1 of channel \"orders\": {cipher} message \
                 authentication failed (wrong encryption key?)"
            )
        );
        // No key: the data stays as stored (Go does the same).
        let mut raw = reopen(&disk, options(None, cipher, 0)).unwrap();
        assert_eq!(
            data(&mut raw, &mut disk, 1).len(),
            "secret-one".len() + OVERHEAD
        );
        assert_eq!(data(&mut raw, &mut disk, 1)[0], cipher.code());
    }
}

#[test]
fn messages_stored_before_encryption_stay_readable() {
    let mut disk = new_disk();
    let mut store = FileStore::new(options(None, Cipher::Aes, 0), NOW);
    store
        .create_channel("orders", ChannelLimits::default())
        .unwrap();
    store.append("orders", msg(1, "clear")).unwrap();
    flush(&mut store, &mut disk);
    let mut store = reopen(&disk, options(Some("k"), Cipher::Aes, 9)).unwrap();
    store.append("orders", msg(2, "hidden")).unwrap();
    flush(&mut store, &mut disk);
    assert!(disk.files["orders/msgs.1.dat"]
        .windows(5)
        .any(|w| w == b"clear"));
    assert!(!disk.files["orders/msgs.1.dat"]
        .windows(6)
        .any(|w| w == b"hidden"));
    let mut store = reopen(&disk, options(Some("k"), Cipher::Aes, 10)).unwrap();
    assert_eq!(data(&mut store, &mut disk, 1), "clear");
    assert_eq!(data(&mut store, &mut disk, 2), "hidden");
}

#[test]
fn a_damaged_payload_fails_recovery() {
    let mut disk = new_disk();
    let mut store = FileStore::new(options(Some("k"), Cipher::Aes, 1), NOW);
    store
        .create_channel("orders", ChannelLimits::default())
        .unwrap();
    store.append("orders", msg(1, "payload")).unwrap();
    flush(&mut store, &mut disk);
    // Flip a ciphertext byte, and fix the record's CRC so that only the
    // tag notices.
    let dat = disk.files.get_mut("orders/msgs.1.dat").unwrap();
    let record = 4 + 8;
    let stored = MsgProto::decode(Bytes::copy_from_slice(&dat[record..])).unwrap();
    let at = dat
        .windows(stored.data.len())
        .position(|w| w == &stored.data[..])
        .unwrap();
    dat[at + 13] ^= 0x55;
    let crc = Crc32::IEEE.checksum(&dat[record..]);
    dat[8..12].copy_from_slice(&crc.to_le_bytes());
    let err = reopen(&disk, options(Some("k"), Cipher::Aes, 2)).unwrap_err();
    assert_eq!(
        err,
        "unable to decrypt message 1 of channel \"orders\": AES message authentication \
         failed (wrong encryption key?)"
    );
}
