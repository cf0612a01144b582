//! Monitoring on mio: `Control::router_snapshot`, `Control::engine_snapshot`
//! and `Control::sync_latency` for the server with its engine attached,
//! `ExternalEngine::monitor` for the engine against our own server as the
//! external NATS server, over a memory and a file store. A streaming
//! client publishes and holds a durable subscription's deliveries
//! unacknowledged; the snapshots must show it (the checks are
//! `stan-async`'s, shared: `runtime-async/tests/monitoring/checks.rs`).
//! Once the engine stops, its snapshots are `None`, requests racing the
//! stop included.

#[path = "../../runtime-async/tests/monitoring/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checks::{check_engine, check_router, Mode, CHANNEL, CLIENT, SENT};
use stan_core::nats::router::{RouterConfig, SnapshotOptions};
use stan_core::stan::server::{EngineSnapshotOptions, ServerConfig};
use stan_core::stan::store::MemStore;
use stan_mio::{
    Connection, Control, EngineMonitor, ExternalEngine, Options, Server, ServerHandle, StartAt,
    Subscription, SubscriptionOptions,
};

/// The bound on any single wait.
const T: Duration = Duration::from_secs(10);

const ALL: EngineSnapshotOptions = EngineSnapshotOptions {
    subscriptions: true,
    max_items: 0,
    from: None,
};

/// `f`'s result, run on a thread of its own; a panic naming `what` if it
/// takes longer than [`T`].
fn bounded<U: Send + 'static>(what: &str, f: impl FnOnce() -> U + Send + 'static) -> U {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(T) {
        Ok(out) => out,
        Err(e) => panic!("{what}: {e:?} within {T:?}"),
    }
}

/// A fresh directory under the system's temporary directory, removed on
/// drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("stan-mio-monitor-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_store(dir: &Path) -> stan_store::Opened {
    let config = ServerConfig::default();
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let options = stan_store::OpenOptions::new(
        dir,
        config.cluster_id.clone(),
        config.server_info(),
        unix_now,
    );
    stan_store::open(options).expect("the store directory opens")
}

/// The client's traffic (see `checks`); an external engine may not have
/// subscribed yet: the connect is retried until it answers.
fn traffic(url: &str) -> (Connection, Subscription) {
    let deadline = Instant::now() + T;
    let conn = loop {
        match Connection::connect(url, "test-cluster", CLIENT, Options::default()) {
            Ok(conn) => break conn,
            // "No responders": the engine has not subscribed yet.
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect: {e}"),
        }
    };
    for i in 0..SENT {
        conn.publish(CHANNEL, format!("order-{i}"))
            .expect("publish");
    }
    let options = SubscriptionOptions {
        durable: Some(checks::DURABLE.to_owned()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let sub = conn.subscribe(CHANNEL, options).expect("subscribe");
    for seq in 1..=SENT {
        let msg = sub.recv_timeout(T).expect("a delivery");
        assert_eq!(msg.sequence(), seq);
    }
    (conn, sub)
}

/// The snapshots after the traffic: both checked, the sync latency as the
/// store says.
fn check_running(
    router: &Control,
    engine: impl Fn(EngineSnapshotOptions) -> Option<stan_core::stan::server::EngineSnapshot>,
    latency: Option<stan_core::stan::latency::LatencyHistogram>,
    mode: Mode,
    file: bool,
) {
    let snap = engine(ALL).expect("a running engine's snapshot");
    let inbox = check_engine(&snap);
    let counts = engine(EngineSnapshotOptions::default()).expect("a running engine's snapshot");
    assert!(counts.channels.iter().all(|c| c.subscriptions.is_empty()));
    assert_eq!(counts.subscription_count, 1);
    let all_subs = SnapshotOptions {
        subscriptions: true,
        ..SnapshotOptions::default()
    };
    let routed = router.router_snapshot(all_subs).expect("a running router");
    check_router(&routed, &inbox, mode);
    let counts = router
        .router_snapshot(SnapshotOptions::default())
        .expect("a running router");
    assert!(counts.subscriptions_list.is_empty());
    match file {
        false => assert_eq!(latency, None, "a memory store has no syncs"),
        true => {
            let latency = latency.expect("a file store's sync latency");
            assert!(latency.count > 0, "{latency:?}");
        }
    }
}

/// Snapshots in a loop until one is `None` (the engine stopped); returns
/// how many were answered.
fn hammer(snapshot: impl Fn() -> bool + Send + 'static) -> mpsc::Receiver<u64> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut answered = 0;
        while snapshot() {
            answered += 1;
        }
        let _ = tx.send(answered);
    });
    rx
}

fn embedded(file: Option<stan_store::Opened>) {
    let is_file = file.is_some();
    let server = Server::bind("127.0.0.1:0", RouterConfig::default()).expect("bind");
    let server = match file {
        None => server.with_engine(ServerConfig::default(), MemStore::new(100), |_| {}),
        Some(opened) => server
            .with_file_engine(ServerConfig::default(), opened, 0, |_| {})
            .expect("store IO thread"),
    };
    let server: ServerHandle = server.spawn().expect("spawn");
    let url = format!("nats://{}", server.local_addr());
    let control = server.control();
    let (conn, sub) = traffic(&url);
    let c = control.clone();
    bounded("snapshots", move || {
        let latency = c.sync_latency();
        check_running(
            &c,
            |o| c.engine_snapshot(o),
            latency,
            Mode::Embedded,
            is_file,
        )
    });
    drop(sub);
    conn.close().expect("close");

    // The engine stops with the server: requests racing the shutdown are
    // answered, `None` once it is gone.
    let c = control.clone();
    let answered = hammer(move || c.engine_snapshot(ALL).is_some());
    bounded("shutdown", move || server.shutdown()).expect("shut down");
    let answered = answered
        .recv_timeout(T)
        .expect("snapshots racing the shutdown end");
    let after = bounded("snapshots after the shutdown", move || {
        (
            control.engine_snapshot(ALL),
            control.sync_latency(),
            control.router_snapshot(SnapshotOptions::default()),
        )
    });
    assert_eq!(after, (None, None, None), "after {answered} answered");
}

fn external(file: Option<stan_store::Opened>) {
    let is_file = file.is_some();
    let nats = Server::bind("127.0.0.1:0", RouterConfig::default())
        .expect("bind")
        .spawn()
        .expect("spawn");
    let url = format!("nats://{}", nats.local_addr());
    let engine = match file {
        None => ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {}),
        Some(opened) => {
            ExternalEngine::start_file(&url, ServerConfig::default(), opened, 0, |_| {})
        }
    }
    .expect("valid URL and store IO thread");
    let monitor: EngineMonitor = engine.monitor();
    let control = nats.control();
    // No engine attached to the server: it has nothing to say about one.
    let c = control.clone();
    assert_eq!(
        bounded("no engine", move || (
            c.engine_snapshot(ALL),
            c.sync_latency()
        )),
        (None, None)
    );
    let (conn, sub) = traffic(&url);
    let (m, c) = (monitor.clone(), control.clone());
    bounded("snapshots", move || {
        let latency = m.sync_latency();
        check_running(&c, |o| m.snapshot(o), latency, Mode::External, is_file)
    });
    drop(sub);
    conn.close().expect("close");

    let m = monitor.clone();
    let answered = hammer(move || m.snapshot(ALL).is_some());
    bounded("stop", move || engine.stop());
    let answered = answered
        .recv_timeout(T)
        .expect("snapshots racing the stop end");
    let after = bounded("snapshots after the stop", move || {
        (monitor.snapshot(ALL), monitor.sync_latency())
    });
    assert_eq!(after, (None, None), "after {answered} answered");
    let c = control.clone();
    let left = bounded("router snapshot", move || {
        c.router_snapshot(SnapshotOptions::default())
    });
    assert!(left.is_some(), "the server still runs");
    bounded("shutdown", move || nats.shutdown()).expect("shut down");
    let gone = bounded("router snapshot after shutdown", move || {
        control.router_snapshot(SnapshotOptions::default())
    });
    assert_eq!(gone, None);
}

#[test]
fn embedded_engine_and_router() {
    embedded(None);
}

#[test]
fn external_engine_and_router() {
    external(None);
}

#[test]
fn embedded_file_engine_reports_sync_latency() {
    let dir = TempDir::new("embedded");
    embedded(Some(open_store(&dir.0)));
}

#[test]
fn external_file_engine_reports_sync_latency() {
    let dir = TempDir::new("external");
    external(Some(open_store(&dir.0)));
}

#[test]
fn the_monitors_are_shareable() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<EngineMonitor>();
    shareable::<Control>();
}
