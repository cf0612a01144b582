//! Encryption at rest (`--encrypt`) on real files: the payloads are not in
//! the slices in clear, come back clear with the right key, and a wrong key
//! fails the opening with an error naming the message.

mod common;

use std::fs;
use std::path::Path;

use common::{drive, fetch, msg, options, payload, payload_at};
use stan_core::stan::filestore::crypto::{Cipher, EncryptionOptions, OVERHEAD};
use stan_core::stan::filestore::FileStoreOptions;
use stan_core::stan::store::{ChannelLimits, Store};
use stan_store::{open, IoThread, OpenError, OpenOptions};

fn encrypted(dir: &Path, key: &str, cipher: Cipher, seed: u64) -> OpenOptions {
    let mut o = options(dir, "test-cluster");
    o.store = FileStoreOptions {
        encryption: Some(EncryptionOptions::new(cipher, key.as_bytes(), seed).unwrap()),
        ..FileStoreOptions::default()
    };
    o
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encrypted_store_round_trip_and_wrong_key() {
    for cipher in [Cipher::Aes, Cipher::ChaCha] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();

        let mut opened = open(encrypted(dir, "the-right-key", cipher, 11)).unwrap();
        assert!(opened.created);
        let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap();
        let s = &mut opened.store;
        s.create_channel("orders", ChannelLimits::default())
            .unwrap();
        for seq in 1..=5 {
            s.append("orders", msg("orders", seq, &format!("confidential-{seq}")))
                .unwrap();
        }
        // Delivered from memory: clear.
        assert_eq!(payload(s, "orders", 3).as_deref(), Some("confidential-3"));
        assert_eq!(drive(s, &io), None);
        drop(io);
        drop(opened);

        let dat = fs::read(dir.join("orders/msgs.1.dat")).unwrap();
        assert!(!contains(&dat, b"confidential"), "payload in clear on disk");
        // The subjects are not encrypted (as in Go): the records are there.
        assert!(contains(&dat, b"orders"));
        let clear_len = msg("orders", 1, "confidential-1").encoded.len();
        let idx = fs::read(dir.join("orders/msgs.1.idx")).unwrap();
        let scan = stan_core::stan::filestore::scan_index(&idx, None);
        assert_eq!(scan.entries.len(), 5);
        assert_eq!(scan.entries[0].size as usize, clear_len + OVERHEAD);

        // The right key (the other cipher configured: it reads either).
        let other = match cipher {
            Cipher::Aes => Cipher::ChaCha,
            Cipher::ChaCha => Cipher::Aes,
        };
        let mut opened = open(encrypted(dir, "the-right-key", other, 12)).unwrap();
        assert!(!opened.created);
        for seq in 1..=5 {
            assert_eq!(
                payload_at(&mut opened.store, &opened.dir, "orders", seq),
                Some(format!("confidential-{seq}"))
            );
        }
        let io = IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap();
        let s = &mut opened.store;
        s.append("orders", msg("orders", 6, "confidential-6"))
            .unwrap();
        assert_eq!(drive(s, &io), None);
        drop(io);
        drop(opened);
        let dat = fs::read(dir.join("orders/msgs.1.dat")).unwrap();
        assert!(!contains(&dat, b"confidential"));

        // A wrong key: the opening fails, naming the first message.
        let err = open(encrypted(dir, "a-wrong-key", cipher, 13)).unwrap_err();
        assert!(matches!(err, OpenError::Decrypt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "unable to decrypt message 1 of channel \"orders\": {cipher} message \
                 authentication failed (wrong encryption key?)"
            )),
            "{text}"
        );
        assert!(!text.contains("a-wrong-key") && !text.contains("the-right-key"));
        // The failed opening released the directory: the right key opens.
        let mut opened = open(encrypted(dir, "the-right-key", cipher, 14)).unwrap();
        assert_eq!(
            payload_at(&mut opened.store, &opened.dir, "orders", 6).as_deref(),
            Some("confidential-6")
        );
        drop(opened);

        // Without encryption the payloads stay as stored (as in Go).
        let mut opened = open(options(dir, "test-cluster")).unwrap();
        let raw = fetch(&mut opened.store, &opened.dir, "orders", 1)
            .unwrap()
            .decode()
            .unwrap()
            .data;
        assert_eq!(raw.len(), "confidential-1".len() + OVERHEAD);
        assert_eq!(raw[0], cipher.code());
    }
}
