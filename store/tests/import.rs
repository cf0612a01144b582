//! Importing a Go store directory: the fixture the Go server wrote
//! (`../shared/fixtures/go-filestore-0.25.6`, see the fixtures' README)
//! comes over whole and the source is never modified; damaged, torn,
//! mismatched or occupied sources are refused with the file and offset, and
//! leave no target behind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use stan_core::stan::filestore::subs::SubKind;
use stan_core::stan::filestore::FileStoreOptions;
use stan_core::stan::store::ChannelLimits;
use stan_store::{import, ImportError, ImportOptions};

mod common;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-filestore-0.25.6")
}

fn options(from: &Path, to: &Path) -> ImportOptions {
    ImportOptions {
        from: from.to_owned(),
        to: to.to_owned(),
        cluster_id: Some("test-cluster".into()),
        crc_check: true,
        store: FileStoreOptions::default(),
        limits: Box::new(|name| ChannelLimits {
            max_msgs: if name == "limited" { 10 } else { 1_000_000 },
            ..ChannelLimits::default()
        }),
        now: 1_795_000_000_000_000_000,
    }
}

/// Every file's bytes under `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_go_fixture_comes_over_whole_and_the_source_is_untouched() {
    let src = fixture().join("store");
    let before = snapshot(&src);
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("ours");
    let report = import(options(&src, &to)).expect("imports");
    assert_eq!(snapshot(&src), before, "the Go directory is not modified");
    assert_eq!(report.info.cluster_id, "test-cluster");
    // channelsz_subs_1.json: the channels with their sequences and bytes.
    let channelsz: serde_json::Value = serde_json::from_slice(
        &fs::read(fixture().join("expected/channelsz_subs_1.json")).unwrap(),
    )
    .unwrap();
    let expected = channelsz["channels"].as_array().unwrap();
    assert_eq!(report.channels.len(), expected.len());
    for want in expected {
        let name = want["name"].as_str().unwrap();
        let got = report
            .channels
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("channel {name} imported"));
        assert_eq!(got.msgs, want["msgs"].as_u64().unwrap(), "{name} msgs");
        assert_eq!(got.bytes, want["bytes"].as_u64().unwrap(), "{name} bytes");
        assert_eq!(got.first_seq, want["first_seq"].as_u64().unwrap(), "{name}");
        assert_eq!(got.last_seq, want["last_seq"].as_u64().unwrap(), "{name}");
        let subs = want["subscriptions"].as_array().map_or(0, Vec::len);
        assert_eq!(got.subs.len(), subs, "{name} subscriptions");
    }
    let orders = report.channels.iter().find(|c| c.name == "orders").unwrap();
    let billing = orders.subs.iter().find(|s| s.durable == "billing").unwrap();
    assert_eq!(billing.kind, SubKind::Durable { offline: true });
    assert_eq!(billing.pending, [13, 14, 15, 16, 17]);
    assert_eq!(billing.last_sent, 17);
    let workers = orders
        .subs
        .iter()
        .find(|s| s.queue == "dq:workers")
        .unwrap();
    assert_eq!(workers.kind, SubKind::DurableQueue { shadow: true });
    assert_eq!(workers.last_sent, 30);
    let mut clients = report.clients.clone();
    clients.sort();
    assert_eq!(clients, ["live-client", "publisher"]);
    let text = report.to_string();
    assert!(text.contains("channel \"orders\": 30 messages"), "{text}");
    // The imported directory opens as a store, with nothing to repair.
    let opened = stan_store::open(common::options(&to, "test-cluster")).expect("opens");
    assert!(opened.repairs.is_empty());
}

#[test]
fn an_existing_target_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let e = import(options(&fixture().join("store"), tmp.path())).unwrap_err();
    assert!(matches!(e, ImportError::TargetExists { .. }), "{e}");
}

#[test]
fn a_damaged_source_is_refused_with_the_file_and_offset_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("go");
    common::copy_dir(&fixture().join("store"), &src);
    let data = src.join("orders/msgs.1.dat");
    let mut perms = fs::metadata(&data).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&data, perms).unwrap();
    let mut bytes = fs::read(&data).unwrap();
    bytes[20] ^= 0xff; // inside the first record's payload
    fs::write(&data, &bytes).unwrap();
    let to = tmp.path().join("ours");
    let e = import(options(&src, &to)).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ImportError::Recovery { .. }), "{text}");
    assert!(
        text.contains("orders/msgs.1.dat") && text.contains("offset 4"),
        "{text}"
    );
    assert!(!to.exists(), "no half store");
    let mut staging = to.into_os_string();
    staging.push(".importing");
    assert!(!Path::new(&staging).exists());

    // A torn last record: refused too (Go would drop it at its next start).
    let src2 = tmp.path().join("go2");
    common::copy_dir(&fixture().join("store"), &src2);
    let data = src2.join("events.a/msgs.1.dat");
    let mut perms = fs::metadata(&data).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&data, perms).unwrap();
    let mut bytes = fs::read(&data).unwrap();
    bytes.extend_from_slice(&[9, 0, 0, 0, 1]);
    fs::write(&data, &bytes).unwrap();
    let e = import(options(&src2, &tmp.path().join("ours2"))).unwrap_err();
    assert!(matches!(e, ImportError::Torn { .. }), "{e}");
    assert!(e.to_string().contains("events.a/msgs.1.dat"), "{e}");
    assert!(!tmp.path().join("ours2").exists());
}

#[test]
fn a_different_cluster_id_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = options(&fixture().join("store"), &tmp.path().join("ours"));
    o.cluster_id = Some("prod".into());
    let e = import(o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cluster ID \"prod\" does not match recovered value of \"test-cluster\""
    );
}

#[test]
fn a_directory_without_a_store_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let e = import(options(tmp.path(), &tmp.path().join("ours"))).unwrap_err();
    assert!(matches!(e, ImportError::NotAStore { .. }), "{e}");
}

#[test]
fn an_encrypted_store_is_checked_with_its_key_and_refused_with_a_wrong_one() {
    use stan_core::stan::filestore::crypto::{Cipher, EncryptionOptions};
    use stan_core::stan::store::Store;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("go");
    let enc = |key: &str| Some(EncryptionOptions::new(Cipher::Aes, key.as_bytes(), 7).unwrap());
    {
        let mut o = common::options(&src, "test-cluster");
        o.store.encryption = enc("right");
        let mut opened = stan_store::open(o).unwrap();
        let io = stan_store::IoThread::spawn(&opened.dir, 0, Box::new(|| {})).unwrap();
        let s = &mut opened.store;
        s.create_channel("orders", ChannelLimits::default())
            .unwrap();
        for seq in 1..=3 {
            s.append("orders", common::msg("orders", seq, "secret"))
                .unwrap();
        }
        assert_eq!(common::drive(s, &io), None);
    }
    let mut o = options(&src, &tmp.path().join("wrong"));
    o.store.encryption = enc("wrong");
    let e = import(o).unwrap_err();
    assert!(e.to_string().contains("wrong encryption key"), "{e}");
    assert!(!tmp.path().join("wrong").exists(), "nothing left behind");

    let mut o = options(&src, &tmp.path().join("right"));
    o.store.encryption = enc("right");
    let report = import(o).expect("imports with its key");
    assert_eq!(report.channels[0].msgs, 3);
}
