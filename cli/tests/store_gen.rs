//! `stan-store-gen`: a small store generated through the real file store,
//! reopened and checked (counts, sequences, payloads regenerated from the
//! seed, subscriptions), then imported with `stan_store::import` into a new
//! directory whose report matches what was written; and the binary's
//! command line.

use std::path::PathBuf;
use std::process::Command;

use stan_cli::store_gen::{
    channel_name, fetch_msg, generate, message, payload, verify, GenError, GenOptions,
};
use stan_core::stan::filestore::subs::SubKind;
use stan_core::stan::filestore::FileStoreOptions;
use stan_core::stan::store::{ChannelLimits, Store};

const GEN: &str = env!("CARGO_BIN_EXE_stan-store-gen");

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("stan-store-gen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unlimited() -> ChannelLimits {
    ChannelLimits {
        max_msgs: 0,
        max_bytes: 0,
        ..ChannelLimits::default()
    }
}

#[test]
fn a_generated_store_reopens_checks_and_imports() {
    let tmp = Scratch::new("small");
    let opts = GenOptions {
        size: 5_000_000,
        channels: 2,
        msg_size: 1000,
        slice_max_bytes: 1 << 20,
        subs: true,
        batch_msgs: 500,
        // Smaller than the store: the payloads written leave the cache.
        cache_bytes: 1 << 20,
        ..GenOptions::new(tmp.0.join("gen"))
    };
    let report = generate(&opts).expect("generates");
    println!("{report}");

    // What was asked: 5 MB of records over 2 channels, round-robin, in
    // several 1 MiB slices.
    assert!(report.record_bytes >= opts.size);
    assert!(report.record_bytes < opts.size + 2000);
    assert_eq!(report.channels.len(), 2);
    let (a, b) = (&report.channels[0], &report.channels[1]);
    assert_eq!((a.name.as_str(), b.name.as_str()), ("gen.0", "gen.1"));
    assert!(a.msgs == b.msgs || a.msgs == b.msgs + 1, "{a:?} {b:?}");
    assert!(report.msgs() > 4500, "{}", report.msgs());
    for c in &report.channels {
        assert_eq!((c.first_seq, c.last_seq), (1, c.msgs));
        assert!(c.slices >= 2, "{c:?}");
        assert_eq!(c.subs.len(), 2);
        for s in &c.subs {
            assert!(!s.pending.is_empty() && s.pending.len() < 100, "{s:?}");
            assert!(
                s.pending.iter().all(|&p| p <= s.last_sent && p % 3 != 0),
                "{s:?}"
            );
        }
    }
    assert!(report.disk_bytes > report.record_bytes);
    assert!(report.cached_bytes <= 1 << 20, "{}", report.cached_bytes);
    // server.dat, clients.dat, the lock file; per channel: subs.dat and
    // each slice's data and index files.
    let slices: u64 = report.channels.iter().map(|c| c.slices).sum();
    assert!(report.files >= 3 + 2 + 2 * slices, "{}", report.files);

    // Reopened by the reader: everything as written.
    let checked = verify(&opts, &report).expect("verifies");
    println!("{checked}");
    assert_eq!(checked.subs_checked, 4);
    assert!(checked.spot_checked >= 2 * 2);

    // The reader directly, too: the first and last message of each channel
    // are the ones the seed gives.
    {
        let mut o = stan_store::OpenOptions::new(
            &opts.dir,
            "test-cluster",
            Default::default(),
            stan_cli::unix_now_ns(),
        );
        o.limits = Box::new(|_| unlimited());
        let mut opened = stan_store::open(o).expect("opens");
        let io = stan_store::IoThread::spawn(&opts.dir, 0, Box::new(|| {})).unwrap();
        let store = &mut opened.store;
        for (i, c) in report.channels.iter().enumerate() {
            for seq in [1, c.last_seq / 2, c.last_seq] {
                let m = fetch_msg(store, &io, &c.name, seq)
                    .unwrap()
                    .unwrap()
                    .decode()
                    .unwrap();
                assert_eq!(m, message(&opts, i, seq));
                assert_eq!(m.data, payload(opts.seed, i, seq, 1000));
                assert_eq!(m.subject, channel_name(i));
            }
            let first = store.timestamp_of(&c.name, 1).unwrap();
            let last = store.timestamp_of(&c.name, c.last_seq).unwrap();
            assert!(first < last);
            assert!(fetch_msg(store, &io, &c.name, c.last_seq + 1)
                .unwrap()
                .is_none());
        }
    }

    // A second run into the same directory is refused.
    assert!(matches!(generate(&opts), Err(GenError::NotEmpty(_))));

    // Imported: the report matches what was written.
    let to = tmp.0.join("imported");
    let imported = stan_store::import(stan_store::ImportOptions {
        from: opts.dir.clone(),
        to: to.clone(),
        cluster_id: Some("test-cluster".into()),
        crc_check: true,
        store: FileStoreOptions::default(),
        limits: Box::new(|_| unlimited()),
        now: stan_cli::unix_now_ns(),
    })
    .expect("imports");
    println!("{imported}");
    assert_eq!(imported.info.cluster_id, "test-cluster");
    assert!(imported.clients.is_empty());
    assert!(imported.applied.is_empty(), "{:?}", imported.applied);
    assert_eq!(imported.channels.len(), report.channels.len());
    for (got, want) in imported.channels.iter().zip(&report.channels) {
        assert_eq!(got.name, want.name);
        assert_eq!(
            (got.msgs, got.bytes, got.first_seq, got.last_seq),
            (want.msgs, want.bytes, want.first_seq, want.last_seq)
        );
        assert_eq!(got.subs.len(), want.subs.len());
        for (gs, ws) in got.subs.iter().zip(&want.subs) {
            assert_eq!(gs.id, ws.id);
            assert_eq!(gs.kind, SubKind::Durable { offline: true });
            assert_eq!(gs.client_id, ws.client_id);
            assert_eq!(gs.durable, ws.durable);
            assert_eq!(gs.last_sent, ws.last_sent);
            assert_eq!(gs.pending, ws.pending);
        }
    }
    // The imported copy passes the same checks.
    let copy = GenOptions {
        dir: to,
        ..opts.clone()
    };
    verify(&copy, &report).expect("the imported copy verifies");
}

#[test]
fn default_limits_apply_when_the_server_reopens() {
    // Written unlimited; a server with a 100-message limit keeps the last
    // 100 (the generator itself never drops anything).
    let tmp = Scratch::new("limits");
    let opts = GenOptions {
        size: 300_000,
        channels: 1,
        msg_size: 100,
        ..GenOptions::new(tmp.0.join("gen"))
    };
    let report = generate(&opts).unwrap();
    let last = report.channels[0].last_seq;
    assert!(last > 100);
    let mut o = stan_store::OpenOptions::new(
        &opts.dir,
        "test-cluster",
        Default::default(),
        stan_cli::unix_now_ns(),
    );
    o.limits = Box::new(|_| ChannelLimits {
        max_msgs: 100,
        ..ChannelLimits::default()
    });
    let opened = stan_store::open(o).unwrap();
    let st = opened.store.stats("gen.0").unwrap();
    assert_eq!((st.msgs, st.first_seq, st.last_seq), (100, last - 99, last));
}

#[test]
fn the_binary_writes_verifies_and_prints_what_it_wrote() {
    let tmp = Scratch::new("bin");
    let dir = tmp.0.join("gen");
    let out = Command::new(GEN)
        .args(["--dir", dir.to_str().unwrap()])
        .args(["--size", "1MB", "--channels", "3", "--msg-size", "256"])
        .args([
            "--slice-max-bytes",
            "256KB",
            "--subs",
            "--cluster-id",
            "other",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 channels"), "{stdout}");
    assert!(stdout.contains("channel \"gen.2\""), "{stdout}");
    assert!(stdout.contains("durable \"durable-1\""), "{stdout}");
    assert!(stdout.contains("verified: reopened"), "{stdout}");

    // The wrong cluster ID is refused by the reader.
    let mut o = stan_store::OpenOptions::new(
        &dir,
        "test-cluster",
        Default::default(),
        stan_cli::unix_now_ns(),
    );
    o.limits = Box::new(|_| unlimited());
    assert!(matches!(
        stan_store::open(o),
        Err(stan_store::OpenError::ClusterIdMismatch { .. })
    ));

    // Bad command lines: exit 2 with the usage.
    for bad in [
        vec![],
        vec!["--dir", "/nonexistent/x", "--size", "nope"],
        vec!["--dir", "/nonexistent/x", "--bogus"],
    ] {
        let out = Command::new(GEN).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: stan-store-gen"));
    }
    let help = Command::new(GEN).arg("-h").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--msg-size"));
}
