//! The monitoring scenario, written once for every runtime of `stan-async`
//! (this crate's test runtime, and `stan-tokio`'s and `stan-smol`'s tests
//! include this file): a server and an engine (embedded, or external
//! against our own `RouterServer`), a streaming client that publishes and
//! holds a durable subscription's deliveries unacknowledged, then the
//! snapshots of `RouterMonitor` and `EngineMonitor`, checked against what
//! the client did; after the engine stops its monitor answers `None`,
//! requests racing the stop included, and after the server shuts down so
//! does the router's.
//!
//! The monitors block: every call runs on a thread of its own ([`off`]),
//! never on the runtime.

#![allow(dead_code)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use stan_async::{
    Connection, EngineHandle, EngineMonitor, ExternalEngine, Latch, Options, RouterServer, Runtime,
    StartAt, Subscription, SubscriptionOptions,
};
use stan_core::nats::router::{RouterConfig, SnapshotOptions};
use stan_core::stan::server::{EngineSnapshotOptions, ServerConfig};
use stan_core::stan::store::MemStore;

pub mod checks;

pub use checks::*;

/// The bound on any single wait.
pub const T: Duration = Duration::from_secs(10);

/// The engine, either way.
pub enum Engine<R: Runtime> {
    /// In process.
    Embedded(EngineHandle),
    /// Over TCP.
    External(ExternalEngine<R>),
}

impl<R: Runtime> Engine<R> {
    /// Its monitor.
    pub fn monitor(&self) -> EngineMonitor {
        match self {
            Engine::Embedded(e) => e.monitor(),
            Engine::External(e) => e.monitor(),
        }
    }

    /// Stops it and waits.
    pub async fn stop(self) {
        match self {
            Engine::Embedded(e) => e.stop().await,
            Engine::External(e) => e.stop().await,
        }
    }
}

/// Starts an engine against the router (its URL given too).
pub type MakeEngine<R> = Box<dyn FnOnce(&RouterServer<R>, &str) -> Engine<R>>;

/// `f`'s output, or `None` once `d` passed (on runtime `R`'s timer).
pub async fn within<R: Runtime + Default, F: Future>(d: Duration, f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    let mut timer = pin!(R::default().sleep_until(Instant::now() + d));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// `f`'s output, or a panic naming `what` once [`T`] passed.
pub async fn bounded<R: Runtime + Default, F: Future>(what: &str, f: F) -> F::Output {
    match within::<R, F>(T, f).await {
        Some(out) => out,
        None => panic!("{what}: not done within {T:?}"),
    }
}

/// Runs the blocking `f` on a thread of its own and awaits its result
/// (a panic in `f` is one here).
pub async fn off<U, F>(f: F) -> U
where
    U: Clone + Send + 'static,
    F: FnOnce() -> U + Send + 'static,
{
    let done = Arc::new(Latch::<Option<U>>::default());
    let set = Arc::clone(&done);
    std::thread::spawn(move || set.set(catch_unwind(AssertUnwindSafe(f)).ok()));
    done.wait().await.expect("the blocking call panicked")
}

/// The router on a free loopback port and an engine: `make`'s if given
/// (a file store), else one over a memory store, placed as `mode` says.
pub async fn start<R: Runtime + Default>(
    mode: Mode,
    make: Option<MakeEngine<R>>,
) -> (RouterServer<R>, Engine<R>) {
    let nats = RouterServer::<R>::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .expect("bind");
    let url = format!("nats://{}", nats.local_addr());
    let config = ServerConfig::default();
    let engine = match (mode, make) {
        (_, Some(make)) => make(&nats, &url),
        (Mode::Embedded, None) => {
            Engine::Embedded(nats.run_engine(config, MemStore::new(100), |_| {}))
        }
        (Mode::External, None) => Engine::External(
            ExternalEngine::<R>::start(&url, config, MemStore::new(100), |_| {})
                .expect("valid URL"),
        ),
    };
    (nats, engine)
}

/// The client's traffic: [`SENT`] messages published to [`CHANNEL`], a
/// durable manual-ack subscription from the first that receives them all
/// and acknowledges none. (An external engine may not be connected yet:
/// the connect is retried until it answers.)
pub async fn traffic<R: Runtime + Default>(url: &str) -> (Connection<R>, Subscription) {
    let deadline = Instant::now() + T;
    let conn = loop {
        match Connection::<R>::connect(url, "test-cluster", CLIENT, Options::default()).await {
            Ok(conn) => break conn,
            // "No responders": the engine has not subscribed yet.
            Err(_) if Instant::now() < deadline => {
                R::default()
                    .sleep_until(Instant::now() + Duration::from_millis(20))
                    .await;
            }
            Err(e) => panic!("connect: {e}"),
        }
    };
    for i in 0..SENT {
        conn.publish(CHANNEL, format!("order-{i}"))
            .await
            .expect("publish");
    }
    let options = SubscriptionOptions {
        durable: Some(DURABLE.to_owned()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let mut sub = conn.subscribe(CHANNEL, options).await.expect("subscribe");
    for seq in 1..=SENT {
        let msg = sub.next().await.expect("a delivery");
        assert_eq!(msg.sequence(), seq);
    }
    (conn, sub)
}

/// The whole scenario on runtime `R`: see the module docs. With
/// `file_engine` (placed as `mode` says), the engine runs over that file
/// store and its sync latency is checked.
pub async fn scenario<R: Runtime + Default>(mode: Mode, file_engine: Option<MakeEngine<R>>) {
    let file = file_engine.is_some();
    let (nats, engine) = start::<R>(mode, file_engine).await;
    let url = format!("nats://{}", nats.local_addr());
    let (router, monitor) = (nats.monitor(), engine.monitor());
    let (conn, sub) = bounded::<R, _>("traffic", traffic::<R>(&url)).await;

    let all = || EngineSnapshotOptions {
        subscriptions: true,
        ..EngineSnapshotOptions::default()
    };
    let (m, r) = (monitor.clone(), router.clone());
    let (engine_snap, counts_only, router_snap, router_counts, latency) = bounded::<R, _>(
        "snapshots",
        off(move || {
            (
                m.snapshot(all()),
                m.snapshot(EngineSnapshotOptions::default()),
                r.snapshot(SnapshotOptions {
                    subscriptions: true,
                    ..SnapshotOptions::default()
                }),
                r.snapshot(SnapshotOptions::default()),
                m.sync_latency(),
            )
        }),
    )
    .await;
    let engine_snap = engine_snap.expect("a running engine's snapshot");
    let inbox = check_engine(&engine_snap);
    let counts_only = counts_only.expect("a running engine's snapshot");
    assert!(counts_only
        .channels
        .iter()
        .all(|c| c.subscriptions.is_empty()));
    assert_eq!(counts_only.subscription_count, 1);
    check_router(
        &router_snap.expect("a running router's snapshot"),
        &inbox,
        mode,
    );
    let router_counts = router_counts.expect("a running router's snapshot");
    assert!(router_counts.subscriptions_list.is_empty());
    assert!(router_counts.connections.len() >= 2);
    match file {
        false => assert_eq!(latency, None, "a memory store has no syncs"),
        true => {
            let latency = latency.expect("a file store's sync latency");
            assert!(latency.count > 0, "{latency:?}");
        }
    }

    drop(sub);
    bounded::<R, _>("close", conn.close()).await.expect("close");

    // Requests racing the stop are answered, `None` once it stopped.
    let m = monitor.clone();
    let hammer = off(move || {
        let mut answered = 0u64;
        while m.snapshot(all()).is_some() {
            answered += 1;
        }
        answered
    });
    bounded::<R, _>("stop", engine.stop()).await;
    let answered = bounded::<R, _>("snapshots racing the stop", hammer).await;
    let after = bounded::<R, _>(
        "snapshots after the stop",
        off(move || (monitor.snapshot(all()), monitor.sync_latency())),
    )
    .await;
    assert_eq!(after, (None, None), "after {answered} answered");

    // The router still runs without the engine, until shut down.
    let r = router.clone();
    let left = bounded::<R, _>(
        "router snapshot",
        off(move || r.snapshot(SnapshotOptions::default())),
    )
    .await;
    assert!(left.is_some(), "the router still runs");
    bounded::<R, _>("shutdown", nats.shutdown()).await;
    let gone = bounded::<R, _>(
        "router snapshot after shutdown",
        off(move || router.snapshot(SnapshotOptions::default())),
    )
    .await;
    assert_eq!(gone, None);
}
