//! The Go server's store directory, imported and served by our server: a
//! client sees over the wire what the Go server served after restarting on
//! it (`../shared/fixtures/go-filestore-0.25.6/expected`, see the fixtures'
//! README): every channel's sequences, every message's timestamp, size and
//! SHA-256, and the `billing` durable resuming with 13-17 redelivered, then
//! 18-30.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::client::{StartAt, SubscriptionOptions};
use stan_core::stan::filestore::FileStoreOptions;
use stan_core::stan::server::{LimitsOverride, ServerConfig};
use stan_tokio::{Connection, RouterServer};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-filestore-0.25.6")
}

/// The Go server's configuration of the fixture (`limits.conf`).
fn config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits.per_channel.push((
        "limited".into(),
        LimitsOverride {
            max_msgs: Some(10),
            ..LimitsOverride::default()
        },
    ));
    config
}

async fn next(sub: &mut stan_tokio::Subscription) -> stan_tokio::Msg {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message within 10 s")
        .expect("subscription open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_store_imported_is_served_as_the_go_server_served_it() {
    let tmp = std::env::temp_dir().join(format!("stan-go-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let dir = tmp.join("store");
    let config = config();
    let limits = config.limits.clone();
    let report = stan_store::import(stan_store::ImportOptions {
        from: fixture().join("store"),
        to: dir.clone(),
        cluster_id: Some("test-cluster".into()),
        crc_check: true,
        store: FileStoreOptions::default(),
        limits: Box::new(move |name| limits.for_channel(name)),
        now: stan_cli::unix_now_ns(),
    })
    .expect("imports");
    assert_eq!(report.channels.len(), 3);

    let limits = config.limits.clone();
    let mut options = stan_store::OpenOptions::new(
        &dir,
        "test-cluster",
        config.server_info(),
        stan_cli::unix_now_ns(),
    );
    options.limits = Box::new(move |name| limits.for_channel(name));
    let opened = stan_store::open(options).expect("opens");
    let server = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .unwrap();
    let url = format!("nats://{}", server.local_addr());
    let engine = server
        .run_file_engine(config, opened, 0, |_| {})
        .expect("IO thread");

    // channelsz: the channels and their sequences.
    let channelsz: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture().join("expected/channelsz_subs_1.json")).unwrap(),
    )
    .unwrap();
    // messages.jsonl: what a "deliver all" subscriber of each channel got.
    let lines = std::fs::read_to_string(fixture().join("expected/messages.jsonl")).unwrap();
    let expected: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c = Connection::connect(&url, "test-cluster", "checker", Default::default())
        .await
        .expect("connects");
    for ch in channelsz["channels"].as_array().unwrap() {
        let name = ch["name"].as_str().unwrap();
        let (first, last) = (
            ch["first_seq"].as_u64().unwrap(),
            ch["last_seq"].as_u64().unwrap(),
        );
        let want: Vec<&serde_json::Value> =
            expected.iter().filter(|m| m["channel"] == name).collect();
        assert_eq!(want.len() as u64, last - first + 1, "{name}");
        let mut sub = c
            .subscribe(
                name,
                SubscriptionOptions {
                    start: StartAt::First,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for w in want {
            let m = next(&mut sub).await;
            assert_eq!(m.sequence(), w["seq"].as_u64().unwrap(), "{name}");
            assert_eq!(m.timestamp(), w["timestamp"].as_i64().unwrap(), "{name}");
            assert_eq!(m.data().len() as u64, w["size"].as_u64().unwrap(), "{name}");
            let sha = Sha256::digest(m.data());
            let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                hex,
                w["sha256"].as_str().unwrap(),
                "{name} {}",
                m.sequence()
            );
        }
        sub.unsubscribe().await.unwrap();
    }

    // resume_billing.json: the offline durable resumes where it was.
    let resume: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture().join("expected/resume_billing.json")).unwrap(),
    )
    .unwrap();
    let billing = Connection::connect(&url, "test-cluster", "billing-client", Default::default())
        .await
        .expect("connects");
    let mut sub = billing
        .subscribe(
            "orders",
            SubscriptionOptions {
                durable: Some("billing".into()),
                start: StartAt::First,
                manual_ack: true,
                max_in_flight: 5,
                ack_wait: Duration::from_secs(60),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for w in resume.as_array().unwrap() {
        let m = next(&mut sub).await;
        assert_eq!(
            (m.sequence(), m.redelivered()),
            (
                w["seq"].as_u64().unwrap(),
                w["redelivered"].as_bool().unwrap()
            )
        );
        m.ack().await.unwrap();
    }
    sub.close().await.unwrap();
    billing.close().await.unwrap();
    c.close().await.unwrap();
    engine.stop().await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&tmp);
}
