//! The tokio STAN client against our server over loopback TCP: with the
//! embedded NATS server, and through an external NATS server (another
//! router on its own port, the engine attached with `-ns`-style
//! `ExternalEngine`).

use std::net::SocketAddr;
use std::time::Duration;

use stan_core::nats::router::RouterConfig;
use stan_core::stan::client::ConnectOptions;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_tokio::{
    ClientError, ConnectError, Connection, EngineHandle, ExternalEngine, Options, RouterServer,
    StartAt, SubscriptionOptions,
};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

async fn embedded() -> (RouterServer, EngineHandle) {
    let server = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .unwrap();
    let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
    (server, engine)
}

fn url(addr: SocketAddr) -> String {
    format!("nats://{addr}")
}

async fn connect(addr: SocketAddr, id: &str) -> Connection {
    timeout(
        T,
        Connection::connect(&url(addr), "test-cluster", id, Options::default()),
    )
    .await
    .expect("in time")
    .expect("connected")
}

/// Publish (sync and async), every start position, manual acks and a
/// redelivery, a queue group, durable close and resume, close.
async fn full_scenario(addr: SocketAddr) {
    let c = connect(addr, "client-a").await;
    for i in 1..=3 {
        c.publish("foo", format!("m{i}")).await.unwrap();
    }
    let mut acks = Vec::new();
    for i in 4..=20 {
        acks.push(c.publish_async("foo", format!("m{i}")).await.unwrap());
    }
    for a in acks {
        a.await.unwrap();
    }
    for (start, first) in [
        (StartAt::First, 1),
        (StartAt::Sequence(7), 7),
        (StartAt::LastReceived, 20),
        (StartAt::TimeDelta(Duration::from_secs(60)), 1),
    ] {
        let mut s = c
            .subscribe(
                "foo",
                SubscriptionOptions {
                    start,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let m = timeout(T, s.next()).await.unwrap().unwrap();
        assert_eq!(m.sequence(), first, "{start:?}");
        assert_eq!(m.data().as_ref(), format!("m{first}").as_bytes());
        s.unsubscribe().await.unwrap();
    }
    // Manual ack with a 1 s ack wait: not acked, redelivered.
    let mut s = c
        .subscribe(
            "redeliver",
            SubscriptionOptions {
                manual_ack: true,
                ack_wait: Duration::from_secs(1),
                start: StartAt::First,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    c.publish("redeliver", "r").await.unwrap();
    let first = timeout(T, s.next()).await.unwrap().unwrap();
    assert!(!first.redelivered());
    let again = timeout(T, s.next()).await.unwrap().unwrap();
    assert!(again.redelivered());
    assert_eq!((again.sequence(), again.redelivery_count()), (1, 1));
    again.ack().await.unwrap();
    assert!(
        timeout(Duration::from_millis(1500), s.next())
            .await
            .is_err(),
        "acked: no more"
    );
    s.close().await.unwrap();
    // Queue group across two connections.
    let d = connect(addr, "client-b").await;
    let q = SubscriptionOptions {
        queue: Some("g".into()),
        ..Default::default()
    };
    let mut q1 = c.subscribe("queue", q.clone()).await.unwrap();
    let mut q2 = d.subscribe("queue", q).await.unwrap();
    for _ in 0..10 {
        c.publish("queue", "q").await.unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        tokio::select! {
            Some(m) = q1.next() => seqs.push(m.sequence()),
            Some(m) = q2.next() => seqs.push(m.sequence()),
            _ = tokio::time::sleep(T) => panic!("queue messages missing: {seqs:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    // Durable: close, publish more, resume.
    let durable = SubscriptionOptions {
        durable: Some("dur".into()),
        start: StartAt::First,
        ..Default::default()
    };
    let mut s = d.subscribe("durable", durable.clone()).await.unwrap();
    c.publish("durable", "1").await.unwrap();
    assert_eq!(timeout(T, s.next()).await.unwrap().unwrap().sequence(), 1);
    s.close().await.unwrap();
    c.publish("durable", "2").await.unwrap();
    let mut s = d.subscribe("durable", durable).await.unwrap();
    assert_eq!(timeout(T, s.next()).await.unwrap().unwrap().sequence(), 2);
    // Duplicate client ID while d is alive.
    let dup = Connection::connect(&url(addr), "test-cluster", "client-b", Options::default()).await;
    assert!(
        matches!(dup, Err(ConnectError::Stan(ClientError::Server(ref e))) if e == "stan: clientID already registered")
    );
    d.close().await.unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_the_embedded_server() {
    let (server, engine) = embedded().await;
    timeout(T * 6, full_scenario(server.local_addr()))
        .await
        .expect("scenario in time");
    engine.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_through_an_external_nats_server() {
    let nats = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .unwrap();
    let engine = ExternalEngine::start(
        &url(nats.local_addr()),
        ServerConfig::default(),
        MemStore::new(100),
        |_| {},
    )
    .unwrap();
    // The engine subscribes asynchronously: retry the first connect.
    let mut ok = false;
    for _ in 0..50 {
        match Connection::connect(
            &url(nats.local_addr()),
            "test-cluster",
            "probe",
            Options::default(),
        )
        .await
        {
            Ok(c) => {
                c.close().await.unwrap();
                ok = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(ok, "engine reachable through the external server");
    timeout(T * 6, full_scenario(nats.local_addr()))
        .await
        .expect("scenario in time");
    engine.stop().await;
    nats.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_server_is_reported_and_a_new_connection_works() {
    let (server, engine) = embedded().await;
    let addr = server.local_addr();
    let mut stan = ConnectOptions::new("", "");
    stan.ping_interval = 1;
    stan.ping_max_out = 2;
    let c = Connection::connect(
        &url(addr),
        "test-cluster",
        "lossy",
        Options {
            stan,
            nats_name: None,
        },
    )
    .await
    .unwrap();
    engine.stop().await;
    server.shutdown().await;
    let reason = timeout(T, c.connection_lost()).await.expect("told in time");
    assert_eq!(reason, ClientError::MaxPings);
    assert_eq!(
        c.publish("foo", "x").await,
        Err(ClientError::ConnectionClosed)
    );
    // A new server on the same port; a new connection works.
    let server = RouterServer::bind(addr, RouterConfig::default())
        .await
        .unwrap();
    let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
    let c2 = connect(addr, "lossy").await;
    c2.publish("foo", "again").await.unwrap();
    c2.close().await.unwrap();
    engine.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn connect_errors() {
    let (server, engine) = embedded().await;
    let wrong =
        Connection::connect(&url(server.local_addr()), "nope", "me", Options::default()).await;
    assert_eq!(
        wrong.err().map(|e| e.to_string()),
        Some("stan: connect request timeout (possibly wrong cluster ID?)".into())
    );
    let bad = Connection::connect(
        &url(server.local_addr()),
        "test-cluster",
        "bad id",
        Options::default(),
    )
    .await;
    assert_eq!(
        bad.err().map(|e| e.to_string()),
        Some("stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed".into())
    );
    assert!(matches!(
        Connection::connect("nats://h:nope", "test-cluster", "me", Options::default()).await,
        Err(ConnectError::Url(_))
    ));
    engine.stop().await;
    server.shutdown().await;
}
