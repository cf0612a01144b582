//! The smol STAN client against our server over loopback TCP: with the
//! embedded NATS server, and through an external NATS server (another
//! router on its own port, the engine attached with `-ns`-style
//! `ExternalEngine`).

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{timeout, T};
use smol::{future, stream::StreamExt, Timer};
use stan_core::nats::router::{LocalOptions, RouterConfig};
use stan_core::stan::client::ConnectOptions;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_smol::{
    ClientError, ConnectError, Connection, EngineHandle, ExternalEngine, Options, RouterServer,
    StartAt, SubscriptionOptions,
};

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
        // The subscription as a `Stream`.
        let m = timeout(T, StreamExt::next(&mut s)).await.unwrap().unwrap();
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
    assert!(s.is_manual_ack());
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
        let m = timeout(T, future::or(q1.next(), q2.next()))
            .await
            .unwrap_or_else(|_| panic!("queue messages missing: {seqs:?}"))
            .expect("subscription open");
        seqs.push(m.sequence());
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

smol_test! {
    async fn client_against_the_embedded_server() {
        let (server, engine) = embedded().await;
        timeout(T * 6, full_scenario(server.local_addr()))
            .await
            .expect("scenario in time");
        engine.stop().await;
        server.shutdown().await;
    }
}

smol_test! {
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
                Err(_) => {
                    Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
        assert!(ok, "engine reachable through the external server");
        timeout(T * 6, full_scenario(nats.local_addr()))
            .await
            .expect("scenario in time");
        engine.stop().await;
        nats.shutdown().await;
    }
}

smol_test! {
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
            timeout(T, c.publish("foo", "x")).await.expect("in time"),
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
}

smol_test! {
    async fn publishes_beyond_the_in_flight_limit_wait_for_slots() {
        let (server, engine) = embedded().await;
        let mut stan = ConnectOptions::new("", "");
        stan.max_pub_acks_in_flight = 2;
        let c = Connection::connect(
            &url(server.local_addr()),
            "test-cluster",
            "narrow",
            Options {
                stan,
                nats_name: Some("narrow-nats".into()),
            },
        )
        .await
        .unwrap();
        let run = async {
            let mut acks = Vec::new();
            for i in 0..50 {
                acks.push(c.publish_async("narrow", format!("n{i}")).await.unwrap());
            }
            for a in acks {
                a.await.unwrap();
            }
        };
        timeout(T, run).await.expect("all acked in time");
        let mut s = c
            .subscribe(
                "narrow",
                SubscriptionOptions {
                    start: StartAt::LastReceived,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let last = timeout(T, s.next()).await.unwrap().unwrap();
        assert_eq!((last.sequence(), last.data().as_ref()), (50, &b"n49"[..]));
        c.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    }
}

smol_test! {
    async fn a_publish_waiting_for_a_slot_fails_when_the_connection_is_lost() {
        let (server, engine) = embedded().await;
        let mut stan = ConnectOptions::new("", "");
        stan.max_pub_acks_in_flight = 1;
        stan.ping_interval = 1;
        stan.ping_max_out = 2;
        let c = Connection::connect(
            &url(server.local_addr()),
            "test-cluster",
            "stuck",
            Options {
                stan,
                nats_name: None,
            },
        )
        .await
        .unwrap();
        // The engine is replaced by a session that swallows everything: no
        // PubAck, no ping answer, no "no responders" either.
        engine.stop().await;
        let hole = server.attach_local(LocalOptions::default());
        hole.subscribe(">", None, "1").unwrap();
        let first = c.publish_async("foo", "1").await.unwrap();
        // Waits for the slot `first` holds, then fails with the connection
        // (from `publish_async` or from its ack, whichever comes first).
        let second = timeout(T, c.publish("foo", "2"))
            .await
            .expect("released when the connection is lost");
        assert_eq!(second, Err(ClientError::ConnectionClosed));
        assert!(timeout(T, first).await.expect("in time").is_err());
        assert_eq!(c.connection_lost().await, ClientError::MaxPings);
        server.shutdown().await;
    }
}

smol_test! {
    async fn a_dropped_subscription_is_closed_and_a_durable_resumes() {
        let (server, engine) = embedded().await;
        let c = connect(server.local_addr(), "dropper").await;
        let durable = SubscriptionOptions {
            durable: Some("kept".into()),
            start: StartAt::First,
            ..Default::default()
        };
        let mut s = c.subscribe("drops", durable.clone()).await.unwrap();
        c.publish("drops", "1").await.unwrap();
        assert_eq!(timeout(T, s.next()).await.unwrap().unwrap().sequence(), 1);
        drop(s);
        c.publish("drops", "2").await.unwrap();
        // Closed, not removed: the durable resumes after what was delivered.
        let mut s = c.subscribe("drops", durable).await.unwrap();
        assert_eq!(timeout(T, s.next()).await.unwrap().unwrap().sequence(), 2);
        // A known outcome is there without waiting.
        let mut ack = c.publish_async("drops", "3").await.unwrap();
        let got = timeout(T, async {
            loop {
                if let Some(r) = ack.try_result() {
                    return r;
                }
                Timer::after(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("acked in time");
        assert_eq!(got, Ok(()));
        c.close().await.unwrap();
        engine.stop().await;
        server.shutdown().await;
    }
}

smol_test! {
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
}
