//! The conformance suite: the same scenarios, over real loopback TCP,
//! against every runtime adapter. Each adapter is wrapped in the small
//! blocking interfaces below ([`ServerRuntime`], [`ClientRuntime`]; async
//! adapters block on their own executor), and the macros expand the
//! scenarios into tests:
//!
//! * [`conformance_suite!`]: the client scenarios, for any pairing of a
//!   server runtime and a client runtime;
//! * [`server_suite!`]: the server seen by raw NATS clients (the router's
//!   ordering, slow consumers, shutdown, protocol errors; the engine spoken
//!   to in raw STAN protobuf), per server runtime ([`server`]);
//! * [`flow_suite!`]: NATS-level flow control, per server runtime
//!   ([`flow`]);
//! * [`driver_suite!`]: the NATS client driver under a peer that stops
//!   reading, per client runtime ([`driver`]);
//! * [`seed_suite!`]: seeds from OS entropy, per server runtime
//!   ([`seeds`]).
//!
//! Every generated test runs its scenario [`bounded`] in time.
//!
//! ```
//! // In a test file: stan_conformance::conformance_suite!(tokio_tokio, TokioServer, TokioClient);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod driver;
pub mod flow;
pub mod raw;
pub mod restart;
pub mod seeds;
pub mod server;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
pub use stan_core::nats::client::CloseReason;
pub use stan_core::nats::router::{RouterConfig, RouterStats};
pub use stan_core::nats::stack::{NatsApp, Stack};
pub use stan_core::stan::client::{ClientError, ConnectOptions, StartAt, SubscriptionOptions};

/// A running server (embedded NATS + engine, or the engine behind an
/// external NATS server), stopped by [`ServerHandle::stop`].
pub trait ServerHandle {
    /// URL clients connect to.
    fn url(&self) -> String;
    /// The router's counters.
    fn stats(&self) -> RouterStats;
    /// Open sessions in the router (an engine attached in process counts).
    fn connection_count(&self) -> usize;
    /// Stops the streaming engine only, leaving the NATS server up. Only
    /// for servers from [`ServerRuntime::external`] (where every runtime
    /// can).
    fn stop_engine(&mut self);
    /// Stops the server (streaming engine and, if embedded, NATS): every
    /// session is closed, its pending output flushed first.
    fn stop(self: Box<Self>);
}

/// Starts servers on one runtime.
pub trait ServerRuntime {
    /// The embedded NATS server alone, with `config`, on a free loopback
    /// port.
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle>;
    /// Embedded NATS server with the engine in process, on `addr`
    /// (`host:port`).
    fn embedded_at(addr: &str) -> Box<dyn ServerHandle>;
    /// Embedded NATS server with the engine in process, on a free loopback
    /// port.
    fn embedded() -> Box<dyn ServerHandle> {
        Self::embedded_at("127.0.0.1:0")
    }
    /// A NATS server without streaming, plus the engine attached to it over
    /// a NATS connection (`-ns`).
    fn external() -> Box<dyn ServerHandle>;
    /// Embedded NATS server with the engine over the file store in `dir`
    /// (see [`restart::open_store`]), on a free loopback port.
    fn embedded_file(dir: &std::path::Path) -> Box<dyn ServerHandle>;
    /// A NATS server without streaming, plus the engine over the file store
    /// in `dir` attached to it over a NATS connection (`-ns`).
    fn external_file(dir: &std::path::Path) -> Box<dyn ServerHandle>;
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Sequence.
    pub sequence: u64,
    /// Payload.
    pub data: Bytes,
    /// Redelivered flag.
    pub redelivered: bool,
    /// Redeliveries so far.
    pub redelivery_count: u32,
}

/// A subscription, blocking.
pub trait Sub {
    /// The next message within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Received>;
    /// Acks `sequence` (manual-ack subscriptions).
    fn ack(&mut self, sequence: u64) -> Result<(), ClientError>;
    /// Unsubscribes (`close`: keeps a durable).
    fn end(self: Box<Self>, close: bool) -> Result<(), ClientError>;
}

/// The outcome of one asynchronous publish, blocking.
pub trait PubAck {
    /// The publish's id in its connection (1 for the first publish, then
    /// one more per publish).
    fn id(&self) -> u64;
    /// Waits up to `timeout` for the outcome; `None` if it is not known yet.
    fn wait(&mut self, timeout: Duration) -> Option<Result<(), ClientError>>;
}

/// A client connection, blocking.
pub trait Client {
    /// Publishes and waits for the ack.
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError>;
    /// Publishes without waiting for the ack (waiting while the PubAck
    /// window and the publish queue are full).
    fn publish_async(&self, channel: &str, data: &str) -> Result<Box<dyn PubAck>, ClientError>;
    /// Publishes `n` messages (`many-0`, `many-1`, ...) asynchronously,
    /// then waits for every ack.
    fn publish_many(&self, channel: &str, n: usize) -> Result<(), ClientError>;
    /// Subscribes.
    fn subscribe(
        &self,
        channel: &str,
        options: SubscriptionOptions,
    ) -> Result<Box<dyn Sub>, ClientError>;
    /// Waits up to `timeout` for the connection-lost notification.
    fn lost(&self, timeout: Duration) -> Option<ClientError>;
    /// Closes the connection.
    fn close(self: Box<Self>) -> Result<(), ClientError>;
}

/// Connects clients on one runtime, and drives NATS client connections.
pub trait ClientRuntime {
    /// Connects to `url` with `options` (cluster ID and client ID
    /// included); the error as text.
    fn connect(url: &str, options: ConnectOptions) -> Result<Box<dyn Client>, String>;

    /// Runs `stack` on the runtime's NATS client driver (the loop under
    /// each of its client connections) until its connection closes for
    /// good, and returns why; stops it after `limit`
    /// ([`CloseReason::Local`]).
    fn drive<A: NatsApp + Send + 'static>(stack: Stack<A>, limit: Duration) -> CloseReason;
}

/// The cluster ID of every server of the suite.
pub const CLUSTER: &str = "test-cluster";

/// The bound on any single wait of a scenario.
pub const T: Duration = Duration::from_secs(10);

/// The bound on a whole generated test.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Runs `f` on its own thread and fails the calling test if it takes
/// longer than `limit` (a stuck thread is left behind); a panic in `f` is
/// the caller's panic.
pub fn bounded<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => {
            let _ = thread.join();
            r
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("scenario not done within {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the scenario thread ended without a result"),
        },
    }
}

/// Options for `client_id` on [`CLUSTER`]; pings every second, two missed
/// allowed, when `fast_pings`.
pub fn options(client_id: &str, fast_pings: bool) -> ConnectOptions {
    let mut o = ConnectOptions::new(CLUSTER, client_id);
    if fast_pings {
        o.ping_interval = 1;
        o.ping_max_out = 2;
    }
    o
}

/// Connects `id` (see [`options`]), retrying while the engine attaches
/// (external mode).
pub fn connect<C: ClientRuntime>(url: &str, id: &str, fast_pings: bool) -> Box<dyn Client> {
    connect_with::<C>(url, options(id, fast_pings))
}

/// Connects with `options`, retrying while the engine attaches (external
/// mode).
pub fn connect_with<C: ClientRuntime>(url: &str, options: ConnectOptions) -> Box<dyn Client> {
    let mut last = String::new();
    for _ in 0..50 {
        match C::connect(url, options.clone()) {
            Ok(c) => return c,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot connect {}: {last}", options.client_id);
}

fn seqs(sub: &mut dyn Sub, n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| {
            sub.next(T)
                .unwrap_or_else(|| panic!("message {i} of {n} missing"))
                .sequence
        })
        .collect()
}

fn from(start: StartAt) -> SubscriptionOptions {
    SubscriptionOptions {
        start,
        ..Default::default()
    }
}

/// Publish with acks, sync and async.
pub fn publish_with_acks<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "pub", false);
    c.publish("acks", "one").unwrap();
    c.publish_many("acks", 200).unwrap();
    let mut s = c.subscribe("acks", from(StartAt::First)).unwrap();
    assert_eq!(seqs(s.as_mut(), 201), (1..=201).collect::<Vec<_>>());
    let first = {
        let mut s2 = c.subscribe("acks", from(StartAt::Sequence(1))).unwrap();
        let m = s2.next(T).unwrap();
        s2.end(false).unwrap();
        m
    };
    assert_eq!((first.sequence, first.data.as_ref()), (1, &b"one"[..]));
    s.end(false).unwrap();
    c.close().unwrap();
}

/// Every start position, with the payloads where each one starts.
pub fn start_positions<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "starts", false);
    for i in 1..=5 {
        c.publish("starts", &format!("m{i}")).unwrap();
    }
    for (start, want) in [
        (StartAt::First, vec![1, 2, 3, 4, 5]),
        (StartAt::Sequence(3), vec![3, 4, 5]),
        (StartAt::LastReceived, vec![5]),
        (
            StartAt::TimeDelta(Duration::from_secs(3600)),
            vec![1, 2, 3, 4, 5],
        ),
    ] {
        let mut s = c.subscribe("starts", from(start)).unwrap();
        let got: Vec<Received> = (0..want.len())
            .map(|_| {
                s.next(T)
                    .unwrap_or_else(|| panic!("{start:?}: a message missing"))
            })
            .collect();
        let got_seqs: Vec<u64> = got.iter().map(|m| m.sequence).collect();
        assert_eq!(got_seqs, want, "{start:?}");
        for m in &got {
            assert_eq!(m.data, format!("m{}", m.sequence).as_bytes(), "{start:?}");
        }
        assert!(
            s.next(Duration::from_millis(100)).is_none(),
            "{start:?}: nothing more"
        );
        s.end(false).unwrap();
    }
    let mut s = c
        .subscribe("starts", SubscriptionOptions::default())
        .unwrap();
    assert!(s.next(Duration::from_millis(200)).is_none(), "new only");
    c.publish("starts", "m6").unwrap();
    assert_eq!(s.next(T).unwrap().sequence, 6);
    s.end(false).unwrap();
    c.close().unwrap();
}

/// A durable closed and resumed gets what it missed, unacked first.
pub fn durable_resume<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "durable", false);
    let opts = SubscriptionOptions {
        durable: Some("d".into()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let mut s = c.subscribe("dur", opts.clone()).unwrap();
    for i in 1..=3 {
        c.publish("dur", &format!("m{i}")).unwrap();
    }
    assert_eq!(seqs(s.as_mut(), 3), [1, 2, 3]);
    s.ack(1).unwrap();
    s.ack(2).unwrap();
    s.end(true).unwrap();
    c.publish("dur", "m4").unwrap();
    let mut s = c.subscribe("dur", opts).unwrap();
    let m = s.next(T).unwrap();
    assert_eq!((m.sequence, m.redelivered), (3, true));
    assert_eq!(s.next(T).unwrap().sequence, 4);
    s.end(false).unwrap();
    c.close().unwrap();
}

/// Two queue members on two connections share the messages.
pub fn queue_group<C: ClientRuntime>(url: &str) {
    let a = connect::<C>(url, "qa", false);
    let b = connect::<C>(url, "qb", false);
    let q = SubscriptionOptions {
        queue: Some("g".into()),
        ..Default::default()
    };
    let mut sa = a.subscribe("queue", q.clone()).unwrap();
    let mut sb = b.subscribe("queue", q).unwrap();
    for _ in 0..20 {
        a.publish("queue", "x").unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + T;
    while got.len() < 20 && Instant::now() < deadline {
        for s in [&mut sa, &mut sb] {
            if let Some(m) = s.next(Duration::from_millis(20)) {
                got.push(m.sequence);
            }
        }
    }
    got.sort_unstable();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    sa.end(false).unwrap();
    sb.end(false).unwrap();
    a.close().unwrap();
    b.close().unwrap();
}

/// Unacked messages come back after ack wait, flagged and counted; an
/// acked one does not.
pub fn redelivery<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "redeliver", false);
    let mut s = c
        .subscribe(
            "redeliver",
            SubscriptionOptions {
                manual_ack: true,
                ack_wait: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    c.publish("redeliver", "r").unwrap();
    let m = s.next(T).unwrap();
    assert_eq!((m.redelivered, m.redelivery_count), (false, 0));
    let again = s.next(T).unwrap();
    assert_eq!(
        (again.sequence, again.redelivered, again.redelivery_count),
        (1, true, 1)
    );
    assert_eq!(again.data, "r");
    s.ack(1).unwrap();
    assert!(
        s.next(Duration::from_millis(1500)).is_none(),
        "acked: no more"
    );
    s.end(false).unwrap();
    c.close().unwrap();
}

/// An auto-ack subscription acks a message as the application takes it:
/// what waits untaken is at most `max_in_flight` messages, redelivered
/// once the ack wait passed (as stan.go does for a slow handler), and the
/// rest is sent as the reader catches up.
pub fn a_slow_auto_ack_reader_holds_the_server_back<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "slow-reader", false);
    let mut s = c
        .subscribe(
            "slow",
            SubscriptionOptions {
                max_in_flight: 3,
                ack_wait: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    c.publish_many("slow", 6).unwrap();
    // Not reading for longer than the ack wait: the three in flight are
    // not acked, so they come again; the other three wait for room.
    std::thread::sleep(Duration::from_millis(1600));
    let mut got = Vec::new();
    while let Some(m) = s.next(Duration::from_millis(1500)) {
        got.push((m.sequence, m.redelivered));
        assert!(got.len() <= 60, "redelivered without end: {got:?}");
    }
    let sequences: std::collections::BTreeSet<u64> = got.iter().map(|m| m.0).collect();
    assert_eq!(sequences, (1..=6).collect(), "{got:?}");
    assert!(
        got.iter().any(|&(q, r)| r && q <= 3),
        "untaken, unacked: {got:?}"
    );
    assert!(
        got.iter().all(|&(q, r)| !r || q <= 3),
        "sent only once taken: {got:?}"
    );
    s.end(false).unwrap();
    c.close().unwrap();
}

/// A client ID in use by a live connection is refused.
pub fn duplicate_client_id_is_refused<C: ClientRuntime>(url: &str) {
    let first = connect::<C>(url, "twin", false);
    let second = C::connect(url, options("twin", false)).err();
    assert_eq!(second.as_deref(), Some("stan: clientID already registered"));
    first.publish("twins", "still served").unwrap();
    first.close().unwrap();
}

/// Publishes beyond the PubAck window (2) and the publish queue (3) wait
/// for room; every one is acked, in order, with its payload stored.
pub fn publishes_beyond_the_window_wait_for_room<C: ClientRuntime>(url: &str) {
    let mut o = options("narrow", false);
    o.max_pub_acks_in_flight = 2;
    o.max_queued_publishes = 3;
    let c = connect_with::<C>(url, o);
    let mut acks: Vec<Box<dyn PubAck>> = (0..50)
        .map(|i| c.publish_async("narrow", &format!("n{i}")).unwrap())
        .collect();
    let ids: Vec<u64> = acks.iter().map(|a| a.id()).collect();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>(), "ids in publish order");
    for (i, a) in acks.iter_mut().enumerate() {
        assert_eq!(a.wait(T), Some(Ok(())), "publish {i}");
    }
    let mut last = c.subscribe("narrow", from(StartAt::LastReceived)).unwrap();
    let m = last.next(T).expect("the last message");
    assert_eq!((m.sequence, m.data.as_ref()), (50, &b"n49"[..]));
    last.end(false).unwrap();
    let mut all = c.subscribe("narrow", from(StartAt::First)).unwrap();
    for i in 0..50u64 {
        let m = all.next(T).unwrap_or_else(|| panic!("message {i} missing"));
        assert_eq!((m.sequence, m.data), (i + 1, Bytes::from(format!("n{i}"))));
    }
    all.end(false).unwrap();
    c.close().unwrap();
}

/// The engine goes away behind a live NATS server whose only subscriber
/// swallows everything (no PubAck, no ping answer, no "no responders"): a
/// publish waiting for room in the PubAck window fails when the client
/// declares the connection lost, and so does the publish holding the room.
pub fn a_publish_waiting_for_room_fails_when_the_connection_is_lost<
    S: ServerRuntime,
    C: ClientRuntime,
>() {
    let mut server = S::external();
    let url = server.url();
    let mut o = options("stuck", true);
    o.max_pub_acks_in_flight = 1;
    o.max_queued_publishes = 0;
    let c = connect_with::<C>(&url, o);
    server.stop_engine();
    let _hole = raw::Raw::open(&url, "SUB > 1\r\n");
    let mut first = c.publish_async("foo", "1").unwrap();
    // Waits for the room `first` holds, then fails with the connection.
    assert_eq!(c.publish("foo", "2"), Err(ClientError::ConnectionClosed));
    assert!(
        matches!(first.wait(T), Some(Err(_))),
        "the first publish failed"
    );
    assert_eq!(c.lost(T), Some(ClientError::MaxPings));
    let _ = c.close();
    server.stop();
}

/// Connect errors, each reported as such: a wrong cluster ID (the connect
/// request times out), an invalid client ID (refused by the server), a bad
/// URL, invalid ping settings, and nobody listening (the NATS connection
/// keeps dialling; the connect wait bounds the attempt).
pub fn connect_errors<S: ServerRuntime, C: ClientRuntime>() {
    let server = S::embedded();
    let url = server.url();
    let mut wrong = options("me", false);
    wrong.cluster_id = "nope".into();
    assert_eq!(
        C::connect(&url, wrong).err().as_deref(),
        Some("stan: connect request timeout (possibly wrong cluster ID?)")
    );
    assert_eq!(
        C::connect(&url, options("bad id", false)).err().as_deref(),
        Some("stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed")
    );
    let bad_url = C::connect("nats://h:nope", options("me", false)).err();
    assert!(
        bad_url
            .as_deref()
            .is_some_and(|e| e.starts_with("invalid NATS URL")),
        "{bad_url:?}"
    );
    let mut pings = options("me", false);
    pings.ping_max_out = 1;
    assert_eq!(
        C::connect(&url, pings).err().as_deref(),
        Some("invalid ping values: interval=5 (min>0) maxOut=1 (min=2)")
    );
    // Nobody listening: the connect wait bounds the attempt.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("nats://{}", free.local_addr().unwrap());
    drop(free);
    let mut quick = options("me", false);
    quick.connect_wait = Duration::from_millis(500);
    let started = Instant::now();
    assert_eq!(
        C::connect(&nobody, quick).err().as_deref(),
        Some("stan: connect request timeout (possibly wrong cluster ID?)")
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server is unharmed: a good connect works.
    connect::<C>(&url, "me", false).close().unwrap();
    server.stop();
}

/// The server goes away: the client is told (ping failure), its calls
/// fail, a new connection is refused; a new server on the same port serves
/// a new connection with the same client ID.
pub fn server_shutdown<S: ServerRuntime, C: ClientRuntime>() {
    let server = S::embedded();
    let url = server.url();
    let c = connect::<C>(&url, "lossy", true);
    c.publish("x", "y").unwrap();
    assert_eq!(c.lost(Duration::from_millis(50)), None, "not lost yet");
    server.stop();
    assert_eq!(c.lost(T), Some(ClientError::MaxPings));
    assert_eq!(c.publish("x", "y"), Err(ClientError::ConnectionClosed));
    assert_eq!(
        c.subscribe("x", SubscriptionOptions::default()).err(),
        Some(ClientError::ConnectionClosed)
    );
    assert!(C::connect(&url, options("again", false)).is_err());
    let server = S::embedded_at(url.trim_start_matches("nats://"));
    let c2 = connect::<C>(&url, "lossy", false);
    c2.publish("x", "again").unwrap();
    c2.close().unwrap();
    drop(c);
    server.stop();
}

/// Expands the client scenarios into `#[test]`s for server runtime `$s`
/// and client runtime `$c`, in a module named `$name`.
#[macro_export]
macro_rules! conformance_suite {
    ($name:ident, $s:ty, $c:ty) => {
        mod $name {
            use super::*;
            use $crate::ServerRuntime as _;

            /// Runs `scenario` against an embedded and an external server.
            fn each(scenario: fn(&str)) {
                $crate::bounded($crate::LIMIT, move || {
                    for server in [<$s>::embedded(), <$s>::external()] {
                        scenario(&server.url());
                        server.stop();
                    }
                });
            }

            #[test]
            fn publish_with_acks() {
                each($crate::publish_with_acks::<$c>);
            }

            #[test]
            fn start_positions() {
                each($crate::start_positions::<$c>);
            }

            #[test]
            fn durable_resume() {
                each($crate::durable_resume::<$c>);
            }

            #[test]
            fn queue_group() {
                each($crate::queue_group::<$c>);
            }

            #[test]
            fn redelivery() {
                each($crate::redelivery::<$c>);
            }

            #[test]
            fn a_slow_auto_ack_reader_holds_the_server_back() {
                each($crate::a_slow_auto_ack_reader_holds_the_server_back::<$c>);
            }

            #[test]
            fn duplicate_client_id_is_refused() {
                each($crate::duplicate_client_id_is_refused::<$c>);
            }

            #[test]
            fn publishes_beyond_the_window_wait_for_room() {
                each($crate::publishes_beyond_the_window_wait_for_room::<$c>);
            }

            #[test]
            fn a_publish_waiting_for_room_fails_when_the_connection_is_lost() {
                $crate::bounded(
                    $crate::LIMIT,
                    $crate::a_publish_waiting_for_room_fails_when_the_connection_is_lost::<$s, $c>,
                );
            }

            #[test]
            fn connect_errors() {
                $crate::bounded($crate::LIMIT, $crate::connect_errors::<$s, $c>);
            }

            #[test]
            fn server_shutdown() {
                $crate::bounded($crate::LIMIT, $crate::server_shutdown::<$s, $c>);
            }
        }
    };
}
