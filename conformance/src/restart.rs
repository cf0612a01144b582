//! Restarts over the file store, on every server runtime: what was
//! published and acknowledged, the durables and their unacknowledged
//! messages, and every channel's sequence survive a stop and a start on the
//! same directory, with the engine in process and behind an external NATS
//! server.
//!
//! Run per pair of runtimes with [`restart_suite!`](crate::restart_suite).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use stan_core::stan::server::ServerConfig;

use crate::{seqs, ClientRuntime, ServerHandle, StartAt, SubscriptionOptions, T};

/// Opens (creating or recovering) a file store directory with the suite's
/// cluster ID and Go's default file options.
pub fn open_store(dir: &Path) -> stan_store::Opened {
    let config = ServerConfig::default();
    let options = stan_store::OpenOptions::new(
        dir,
        config.cluster_id.clone(),
        config.server_info(),
        unix_now_ns(),
    );
    stan_store::open(options).expect("the store directory opens")
}

fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A fresh directory under the system's temporary directory, removed on
/// drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("stan-conformance-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a server over the file store in a directory.
pub type StartFile = fn(&Path) -> Box<dyn ServerHandle>;

/// A client whose requests wait up to 10 s: every subscription request
/// of these scenarios waits for an fsync of the file store, which a loaded
/// test machine can hold past the default 2 s.
fn connect_synced<C: ClientRuntime>(url: &str) -> Box<dyn crate::Client> {
    let mut options = crate::options("restart", false);
    options.connect_wait = std::time::Duration::from_secs(10);
    crate::connect_with::<C>(url, options)
}

fn durable(name: &str) -> SubscriptionOptions {
    SubscriptionOptions {
        durable: Some(name.into()),
        start: StartAt::First,
        manual_ack: true,
        max_in_flight: 1000,
        ..Default::default()
    }
}

/// Publish, stop, start, resume the durable: the messages, their sequence
/// and the durable's unacknowledged messages (redelivered first) are there
/// after the restart, and the sequence goes on.
pub fn publish_stop_start_resume_durable<C: ClientRuntime>(start: StartFile) {
    let dir = TempDir::new("resume");
    let server = start(dir.path());
    let c = connect_synced::<C>(&server.url());
    c.publish_many("orders", 50).unwrap();
    let mut s = c.subscribe("orders", durable("d")).unwrap();
    assert_eq!(seqs(s.as_mut(), 50), (1..=50).collect::<Vec<_>>());
    for seq in 1..=30 {
        s.ack(seq).unwrap();
    }
    // The close request travels after the acks on the same connection: the
    // engine has stored them when it answers.
    s.end(true).unwrap();
    c.close().unwrap();
    server.stop();

    let server = start(dir.path());
    let c = connect_synced::<C>(&server.url());
    let mut s = c.subscribe("orders", durable("d")).unwrap();
    for want in 31..=50 {
        let m = s
            .next(T)
            .unwrap_or_else(|| panic!("pending {want} missing"));
        assert_eq!((m.sequence, m.redelivered), (want, true));
        assert_eq!(m.data, format!("many-{}", want - 1).as_bytes());
        s.ack(want).unwrap();
    }
    c.publish("orders", "after").unwrap();
    let m = s.next(T).expect("the new message");
    assert_eq!((m.sequence, m.data.as_ref()), (51, &b"after"[..]));
    s.ack(51).unwrap();
    let mut all = c
        .subscribe(
            "orders",
            SubscriptionOptions {
                start: StartAt::First,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(seqs(all.as_mut(), 51), (1..=51).collect::<Vec<_>>());
    all.end(false).unwrap();
    s.end(false).unwrap();
    c.close().unwrap();
    server.stop();
}

/// A stop while the store is suspended by a failed write (a file in the
/// way of a new channel's directory, then removed, as an operator frees a
/// full disk) retries the write at once: it is stored and acknowledged
/// before the engine lets the store go, and the restart has it. `external`:
/// the server is from [`ServerRuntime::external_file`](crate::ServerRuntime),
/// whose engine is stopped first, the NATS server staying up (as an
/// external one does) until the PubAck has gone through it.
pub fn a_stop_retries_the_suspended_write<C: ClientRuntime>(start: StartFile, external: bool) {
    let dir = TempDir::new("suspended");
    let mut server = start(dir.path());
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"in the way").expect("the blocking file");
    let c = connect_synced::<C>(&server.url());
    c.publish("ok", "m1").unwrap();
    let mut held = c.publish_async("blocked", "m2").unwrap();
    assert!(
        held.wait(std::time::Duration::from_millis(300)).is_none(),
        "no PubAck while the write is suspended"
    );
    // Suspended: a publish is refused at once, with the error.
    let mut refused = c.publish_async("ok", "m3").unwrap();
    match refused.wait(T) {
        Some(Err(e)) => assert!(e.to_string().contains("blocked"), "{e}"),
        other => panic!("m3 should be refused: {other:?}"),
    }
    std::fs::remove_file(&blocker).expect("the blocking file removed");
    // The store's own retry is a second away: the stop is what writes m2.
    assert!(held.wait(std::time::Duration::ZERO).is_none());
    let external_nats = if external {
        server.stop_engine();
        Some(server)
    } else {
        server.stop();
        None
    };
    match held.wait(T) {
        Some(Ok(())) => {}
        other => panic!("m2 stored and acknowledged during the stop: {other:?}"),
    }
    drop(c);
    if let Some(nats) = external_nats {
        nats.stop();
    }

    let server = start(dir.path());
    let c = connect_synced::<C>(&server.url());
    let mut all = c
        .subscribe(
            "blocked",
            SubscriptionOptions {
                start: StartAt::First,
                ..Default::default()
            },
        )
        .unwrap();
    let m = all.next(T).expect("m2 after the restart");
    assert_eq!((m.sequence, m.data.as_ref()), (1, &b"m2"[..]));
    all.end(false).unwrap();
    c.close().unwrap();
    server.stop();
}

/// Expands the restart scenarios into tests for one server runtime (its
/// file-store starters) and one client runtime.
#[macro_export]
macro_rules! restart_suite {
    ($name:ident, $s:ty, $c:ty) => {
        mod $name {
            use super::*;
            use $crate::ServerRuntime as _;

            #[test]
            fn publish_stop_start_resume_durable_embedded() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::restart::publish_stop_start_resume_durable::<$c>(<$s>::embedded_file)
                });
            }

            #[test]
            fn publish_stop_start_resume_durable_external() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::restart::publish_stop_start_resume_durable::<$c>(<$s>::external_file)
                });
            }

            #[test]
            fn a_stop_retries_the_suspended_write_embedded() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::restart::a_stop_retries_the_suspended_write::<$c>(
                        <$s>::embedded_file,
                        false,
                    )
                });
            }

            #[test]
            fn a_stop_retries_the_suspended_write_external() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::restart::a_stop_retries_the_suspended_write::<$c>(
                        <$s>::external_file,
                        true,
                    )
                });
            }
        }
    };
}
