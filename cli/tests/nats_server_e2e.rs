//! Our client against our `stan-server` through Debian's `nats-server`
//! (`-ns`), as separate processes over loopback. `scripts/install-deps.sh`
//! installs `nats-server`; `NATS_SERVER` may point at another binary.

use std::process::{Command, Stdio};
use std::time::Duration;

use stan_tokio::{ClientError, Connection, Options, StartAt, SubscriptionOptions};
use tokio::time::timeout;

mod common;

use common::{connect_retrying, free_port, nats_server, wait_port, Kill, T};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_through_debian_nats_server() {
    let port = free_port();
    let _nats = Kill(
        Command::new(nats_server())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts"),
    );
    wait_port(port);
    let url = format!("nats://127.0.0.1:{port}");
    let stan = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-ns", &url, "-hbi", "1s", "-hbt", "1s", "-hbf", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    );
    let c = connect_retrying(&url, "e2e", Options::default()).await;
    for i in 1..=50 {
        c.publish("e2e", format!("m{i}")).await.unwrap();
    }
    let durable = SubscriptionOptions {
        durable: Some("d".into()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let mut s = c.subscribe("e2e", durable.clone()).await.unwrap();
    for seq in 1..=50 {
        let m = timeout(T, s.next()).await.unwrap().unwrap();
        assert_eq!(m.sequence(), seq);
        assert_eq!(m.data().as_ref(), format!("m{seq}").as_bytes());
        if seq <= 30 {
            m.ack().await.unwrap();
        }
    }
    s.close().await.unwrap();
    let mut s = c.subscribe("e2e", durable).await.unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!(
        (m.sequence(), m.redelivered()),
        (31, true),
        "unacked ones come back first"
    );
    // Heartbeats every second keep the client registered meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.publish("e2e", "still here").await.unwrap();

    // A client with fast pings learns when the streaming server dies.
    let mut fast = Options::default();
    fast.stan.ping_interval = 1;
    fast.stan.ping_max_out = 2;
    let lossy = connect_retrying(&url, "lossy", fast).await;
    drop(stan);
    let reason = timeout(T, lossy.connection_lost())
        .await
        .expect("told in time");
    assert_eq!(reason, ClientError::MaxPings);
    // And a new connection is refused while no streaming server runs.
    let again = Connection::connect(&url, "test-cluster", "again", Options::default()).await;
    assert_eq!(
        again.err().map(|e| e.to_string()),
        Some("stan: connect request timeout (possibly wrong cluster ID?)".into())
    );
}

/// The external NATS server restarting: the engine logs the loss and the
/// reconnection, resubscribes, and clients are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_survives_a_nats_server_restart() {
    let port = free_port();
    let start_nats = || {
        Kill(
            Command::new(nats_server())
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts"),
        )
    };
    let nats = start_nats();
    wait_port(port);
    let url = format!("nats://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("stan-ns-restart-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let _stan = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-ns", &url, "-l", log.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    );
    let c = connect_retrying(&url, "before", Options::default()).await;
    c.publish("restart", "one").await.unwrap();
    c.close().await.unwrap();
    drop(nats);
    let wait_log = |text: &'static str| {
        let log = log.clone();
        async move {
            let deadline = std::time::Instant::now() + T;
            loop {
                let content = std::fs::read_to_string(&log).unwrap_or_default();
                if content.contains(text) {
                    return content;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no {text:?} in:\n{content}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_log("has been disconnected").await;
    let _nats = start_nats();
    wait_port(port);
    wait_log("reconnected to NATS Server").await;
    let c = connect_retrying(&url, "after", Options::default()).await;
    c.publish("restart", "two").await.unwrap();
    let mut s = c
        .subscribe(
            "restart",
            SubscriptionOptions {
                start: StartAt::First,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let seqs = [
        timeout(T, s.next()).await.unwrap().unwrap().sequence(),
        timeout(T, s.next()).await.unwrap().unwrap().sequence(),
    ];
    assert_eq!(seqs, [1, 2], "the memory store kept the first message");
    c.close().await.unwrap();
    let _ = std::fs::remove_file(&log);
}
