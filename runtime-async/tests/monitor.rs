//! `RouterMonitor` and `EngineMonitor` on this crate's test runtime: the
//! monitoring scenario (`monitoring/mod.rs`) with the engine embedded and
//! external, over a memory and a file store; and the figures of a
//! snapshot of an engine with 10,000 subscriptions (ignored by default:
//! `cargo test --release -p stan-async --test monitor -- --ignored
//! --nocapture`).

mod common;
mod monitoring;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::AsyncIo;
use monitoring::{bounded, off, scenario, start, Engine, MakeEngine, Mode};
use stan_async::{Connection, ExternalEngine, Options, SubscriptionOptions};
use stan_core::nats::router::SnapshotOptions;
use stan_core::stan::server::{EngineSnapshotOptions, ServerConfig};

/// A fresh directory under the system's temporary directory, removed on
/// drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "stan-async-monitor-{tag}-{}-{n}",
            std::process::id()
        ));
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

/// An engine over a file store in `dir`, placed as `mode` says.
fn file_engine(mode: Mode, dir: &Path) -> MakeEngine<AsyncIo> {
    let opened = open_store(dir);
    Box::new(move |nats, url| match mode {
        Mode::Embedded => Engine::Embedded(
            nats.run_file_engine(ServerConfig::default(), opened, 0, |_| {})
                .expect("store IO thread"),
        ),
        Mode::External => Engine::External(
            ExternalEngine::<AsyncIo>::start_file(
                AsyncIo,
                url,
                ServerConfig::default(),
                opened,
                0,
                |_| {},
            )
            .expect("valid URL and store IO thread"),
        ),
    })
}

#[test]
fn embedded_engine_and_router() {
    async_io::block_on(scenario::<AsyncIo>(Mode::Embedded, None));
}

#[test]
fn external_engine_and_router() {
    async_io::block_on(scenario::<AsyncIo>(Mode::External, None));
}

#[test]
fn embedded_file_engine_reports_sync_latency() {
    let dir = TempDir::new("embedded");
    let make = file_engine(Mode::Embedded, &dir.0);
    async_io::block_on(scenario::<AsyncIo>(Mode::Embedded, Some(make)));
}

#[test]
fn external_file_engine_reports_sync_latency() {
    let dir = TempDir::new("external");
    let make = file_engine(Mode::External, &dir.0);
    async_io::block_on(scenario::<AsyncIo>(Mode::External, Some(make)));
}

/// Channels and subscriptions of the timing run.
const CHANNELS: usize = 100;
const SUBS_PER_CHANNEL: usize = 100;
const ROUNDS: u32 = 20;

#[test]
#[ignore = "prints timings; run with --release --ignored --nocapture"]
fn snapshot_of_ten_thousand_subscriptions() {
    async_io::block_on(async {
        let (nats, engine) = start::<AsyncIo>(Mode::Embedded, None).await;
        let url = format!("nats://{}", nats.local_addr());
        // Ten connections subscribing at once, each to every channel.
        let mut conns = Vec::new();
        for c in 0..10 {
            let conn = Connection::<AsyncIo>::connect(
                &url,
                "test-cluster",
                &format!("c{c}"),
                Options::default(),
            )
            .await
            .expect("connect");
            conns.push(conn);
        }
        let started = Instant::now();
        let mut subs = Vec::new();
        for ch in 0..CHANNELS {
            for conn in &conns {
                for _ in 0..SUBS_PER_CHANNEL / conns.len() {
                    let sub = bounded::<AsyncIo, _>(
                        "subscribe",
                        conn.subscribe(&format!("ch.{ch}"), SubscriptionOptions::default()),
                    )
                    .await
                    .expect("subscribe");
                    subs.push(sub);
                }
            }
        }
        println!(
            "{} subscriptions made in {:?}",
            subs.len(),
            started.elapsed()
        );
        let monitor = engine.monitor();
        let router = nats.monitor();
        let figures = bounded::<AsyncIo, _>(
            "timing",
            off(move || {
                // Until the answer is back (its drop, on this thread, is
                // not counted).
                let time = |f: &dyn Fn() -> Box<dyn std::any::Any>| {
                    let mut best = Duration::MAX;
                    let mut total = Duration::ZERO;
                    for _ in 0..ROUNDS {
                        let t = Instant::now();
                        let answer = f();
                        let d = t.elapsed();
                        drop(answer);
                        best = best.min(d);
                        total += d;
                    }
                    (best, total / ROUNDS)
                };
                let count = monitor
                    .snapshot(EngineSnapshotOptions::default())
                    .map(|s| s.subscription_count);
                // A request the loop answers at once: the round trip alone.
                let empty = time(&|| Box::new(monitor.sync_latency()));
                let counts = time(&|| Box::new(monitor.snapshot(EngineSnapshotOptions::default())));
                let all = time(&|| {
                    Box::new(monitor.snapshot(EngineSnapshotOptions {
                        subscriptions: true,
                        ..EngineSnapshotOptions::default()
                    }))
                });
                // One page of 1000 items, as the monitoring server asks.
                let page = time(&|| {
                    Box::new(monitor.snapshot(EngineSnapshotOptions {
                        subscriptions: true,
                        max_items: 1000,
                        from: None,
                    }))
                });
                // The router's, under its lock.
                let routed = time(&|| {
                    Box::new(router.snapshot(SnapshotOptions {
                        subscriptions: true,
                        ..SnapshotOptions::default()
                    }))
                });
                let routed_page = time(&|| {
                    Box::new(router.snapshot(SnapshotOptions {
                        subscriptions: true,
                        max_items: 1000,
                        from: None,
                    }))
                });
                (count, empty, counts, all, page, routed, routed_page)
            }),
        )
        .await;
        let (count, empty, counts, all, page, routed, routed_page) = figures;
        assert_eq!(count, Some(CHANNELS * SUBS_PER_CHANNEL));
        println!("round trip (best, mean) of {ROUNDS}:");
        println!("  empty request (wake-up and reply): {:?}", empty);
        println!("  snapshot, counts only:             {:?}", counts);
        println!("  snapshot, every subscription:      {:?}", all);
        println!("  snapshot, a page of 1000 items:    {:?}", page);
        println!("  router snapshot, every subscription: {:?}", routed);
        println!("  router snapshot, a page of 1000:   {:?}", routed_page);
        drop(subs);
        for conn in conns {
            let _ = bounded::<AsyncIo, _>("close", conn.close()).await;
        }
        bounded::<AsyncIo, _>("stop", engine.stop()).await;
        bounded::<AsyncIo, _>("shutdown", nats.shutdown()).await;
    });
}
