//! The blocking mio STAN client against our server over loopback TCP: with
//! the embedded NATS server, and through an external NATS server (another
//! mio server without an engine, the engine attached over a NATS
//! connection with `ExternalEngine`).

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{
    ClientError, ConnectError, ConnectOptions, Connection, ExternalEngine, Options, Server,
    ServerHandle, StartAt, SubscriptionOptions,
};

const T: Duration = Duration::from_secs(10);

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => {
            thread.join().unwrap();
            r
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("not done within {limit:?}"),
        // The closure panicked: surface its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!(),
        },
    }
}

fn embedded_on(addr: &str) -> ServerHandle {
    Server::bind(addr, RouterConfig::default())
        .unwrap()
        .with_engine(ServerConfig::default(), MemStore::new(100), |_| {})
        .spawn()
        .unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("nats://{addr}")
}

fn connect(addr: SocketAddr, id: &str) -> Connection {
    Connection::connect(&url(addr), "test-cluster", id, Options::default()).expect("connected")
}

/// Publish (sync and async), every start position, manual acks and a
/// redelivery, a queue group, durable close and resume, close.
fn full_scenario(addr: SocketAddr) {
    let c = connect(addr, "client-a");
    for i in 1..=3 {
        c.publish("foo", format!("m{i}")).unwrap();
    }
    let acks: Vec<_> = (4..=20)
        .map(|i| c.publish_async("foo", format!("m{i}")).unwrap())
        .collect();
    for a in acks {
        a.wait().unwrap();
    }
    for (start, first) in [
        (StartAt::First, 1),
        (StartAt::Sequence(7), 7),
        (StartAt::LastReceived, 20),
        (StartAt::TimeDelta(Duration::from_secs(60)), 1),
    ] {
        let opts = SubscriptionOptions {
            start,
            ..Default::default()
        };
        let s = c.subscribe("foo", opts).unwrap();
        let m = s.recv_timeout(T).expect("a message");
        assert_eq!(m.sequence(), first, "{start:?}");
        assert_eq!(m.data().as_ref(), format!("m{first}").as_bytes());
        assert_eq!(m.subject(), "foo");
        assert!(m.timestamp() > 0);
        s.unsubscribe().unwrap();
    }
    // Manual ack with a 1 s ack wait: not acked, redelivered.
    let s = c
        .subscribe(
            "redeliver",
            SubscriptionOptions {
                manual_ack: true,
                ack_wait: Duration::from_secs(1),
                start: StartAt::First,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(s.is_manual_ack());
    c.publish("redeliver", "r").unwrap();
    let first = s.recv_timeout(T).expect("delivered");
    assert!(!first.redelivered());
    let again = s.recv_timeout(T).expect("redelivered");
    assert!(again.redelivered());
    assert_eq!((again.sequence(), again.redelivery_count()), (1, 1));
    again.ack().unwrap();
    assert!(
        s.recv_timeout(Duration::from_millis(1500)).is_none(),
        "acked: no more"
    );
    s.close().unwrap();
    // Queue group across two connections.
    let d = connect(addr, "client-b");
    let q = SubscriptionOptions {
        queue: Some("g".into()),
        ..Default::default()
    };
    let q1 = c.subscribe("queue", q.clone()).unwrap();
    let q2 = d.subscribe("queue", q).unwrap();
    for _ in 0..10 {
        c.publish("queue", "q").unwrap();
    }
    let mut seqs = Vec::new();
    let deadline = Instant::now() + T;
    while seqs.len() < 10 {
        assert!(
            Instant::now() < deadline,
            "queue messages missing: {seqs:?}"
        );
        for sub in [&q1, &q2] {
            if let Some(m) = sub.recv_timeout(Duration::from_millis(20)) {
                seqs.push(m.sequence());
            }
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
    let s = d.subscribe("durable", durable.clone()).unwrap();
    c.publish("durable", "1").unwrap();
    assert_eq!(s.recv_timeout(T).expect("first").sequence(), 1);
    s.close().unwrap();
    c.publish("durable", "2").unwrap();
    let mut s = d.subscribe("durable", durable).unwrap();
    assert_eq!(s.next().expect("resumed").sequence(), 2);
    // Duplicate client ID while d is alive.
    let dup = Connection::connect(&url(addr), "test-cluster", "client-b", Options::default());
    match dup {
        Err(ConnectError::Stan(ClientError::Server(e))) => {
            assert_eq!(e, "stan: clientID already registered");
        }
        other => panic!("expected a duplicate ID error, got {other:?}"),
    }
    d.close().unwrap();
    // After close, the subscription of the closed connection ends.
    assert!(s.recv_timeout(T).is_none());
    c.close().unwrap();
}

#[test]
fn client_against_the_embedded_server() {
    let server = embedded_on("127.0.0.1:0");
    let addr = server.local_addr();
    within(T * 6, move || full_scenario(addr));
    let stats = server.stats().expect("running");
    assert!(
        stats.in_msgs > 0 && stats.total_connections >= 3,
        "{stats:?}"
    );
    server.shutdown().unwrap();
}

#[test]
fn client_through_an_external_nats_server() {
    // The "external" NATS server: a mio server without an engine.
    let nats = Server::bind("127.0.0.1:0", RouterConfig::default())
        .unwrap()
        .spawn()
        .unwrap();
    let addr = nats.local_addr();
    let engine = ExternalEngine::start(
        &url(addr),
        ServerConfig::default(),
        MemStore::new(100),
        |_| {},
    )
    .unwrap();
    within(T * 8, move || {
        // The engine subscribes asynchronously: retry the first connect.
        let mut stan = ConnectOptions::new("", "");
        stan.connect_wait = Duration::from_millis(200);
        let probe = Options {
            stan,
            nats_name: None,
        };
        let reachable = (0..50).any(|_| {
            match Connection::connect(&url(addr), "test-cluster", "probe", probe.clone()) {
                Ok(c) => c.close().is_ok(),
                Err(_) => false,
            }
        });
        assert!(reachable, "engine reachable through the external server");
        full_scenario(addr);
    });
    assert_eq!(engine.closed(Some(Duration::from_millis(10))), None);
    engine.stop();
    nats.shutdown().unwrap();
}

#[test]
fn losing_the_server_is_reported_and_a_new_connection_works() {
    let server = embedded_on("127.0.0.1:0");
    let addr = server.local_addr();
    within(T * 4, move || {
        let mut stan = ConnectOptions::new("", "");
        stan.ping_interval = 1;
        stan.ping_max_out = 2;
        let options = Options {
            stan,
            nats_name: None,
        };
        let c = Connection::connect(&url(addr), "test-cluster", "lossy", options).unwrap();
        assert_eq!(c.connection_lost(Duration::from_millis(50)), None);
        server.shutdown().unwrap();
        assert_eq!(c.connection_lost(T), Some(ClientError::MaxPings));
        assert_eq!(c.publish("foo", "x"), Err(ClientError::ConnectionClosed));
        assert_eq!(
            c.subscribe("foo", SubscriptionOptions::default()).err(),
            Some(ClientError::ConnectionClosed)
        );
        // A new server on the same port; a new connection works.
        let server = embedded_on(&addr.to_string());
        let c2 = connect(addr, "lossy");
        c2.publish("foo", "again").unwrap();
        c2.close().unwrap();
        drop(c);
        server.shutdown().unwrap();
    });
}

#[test]
fn connect_errors() {
    let server = embedded_on("127.0.0.1:0");
    let addr = server.local_addr();
    within(T, move || {
        let wrong = Connection::connect(&url(addr), "nope", "me", Options::default());
        assert_eq!(
            wrong.err().map(|e| e.to_string()),
            Some("stan: connect request timeout (possibly wrong cluster ID?)".into())
        );
        let bad = Connection::connect(&url(addr), "test-cluster", "bad id", Options::default());
        assert_eq!(
            bad.err().map(|e| e.to_string()),
            Some(
                "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed"
                    .into()
            )
        );
        assert!(matches!(
            Connection::connect("nats://h:nope", "test-cluster", "me", Options::default()),
            Err(ConnectError::Url(_))
        ));
        let mut stan = ConnectOptions::new("", "");
        stan.ping_max_out = 1;
        let invalid = Connection::connect(
            &url(addr),
            "test-cluster",
            "me",
            Options {
                stan,
                nats_name: None,
            },
        );
        assert!(matches!(
            invalid,
            Err(ConnectError::Stan(ClientError::InvalidPingValues { .. }))
        ));
        // Nobody listening: the connect wait bounds the attempt.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nobody = url(free.local_addr().unwrap());
        drop(free);
        let mut stan = ConnectOptions::new("", "");
        stan.connect_wait = Duration::from_millis(500);
        let options = Options {
            stan,
            nats_name: None,
        };
        let started = Instant::now();
        let refused = Connection::connect(&nobody, "test-cluster", "me", options);
        assert!(matches!(refused, Err(ConnectError::Stan(_))), "{refused:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    server.shutdown().unwrap();
}

#[test]
fn publish_async_blocks_at_the_in_flight_limit_and_recovers() {
    let server = embedded_on("127.0.0.1:0");
    let addr = server.local_addr();
    within(T * 2, move || {
        let mut stan = ConnectOptions::new("", "");
        stan.max_pub_acks_in_flight = 2;
        stan.max_queued_publishes = 3;
        let options = Options {
            stan,
            nats_name: Some("limited".into()),
        };
        let c = Connection::connect(&url(addr), "test-cluster", "limited", options).unwrap();
        let acks: Vec<_> = (0..50)
            .map(|i| c.publish_async("bulk", format!("{i}")).unwrap())
            .collect();
        let ids: Vec<u64> = acks.iter().map(|a| a.id().expect("accepted").0).collect();
        assert_eq!(ids, (1..=50).collect::<Vec<_>>(), "ids in publish order");
        for a in acks {
            assert_eq!(a.wait_timeout(T), Some(Ok(())));
        }
        let s = c
            .subscribe(
                "bulk",
                SubscriptionOptions {
                    start: StartAt::First,
                    ..Default::default()
                },
            )
            .unwrap();
        let seqs: Vec<u64> = s.take(50).map(|m| m.sequence()).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        c.close().unwrap();
    });
    server.shutdown().unwrap();
}
