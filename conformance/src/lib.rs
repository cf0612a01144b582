//! The conformance suite: the same scenarios, over real loopback TCP,
//! against every runtime adapter. Each adapter is wrapped in the small
//! blocking [`Runtime`] interface below (async adapters block on their own
//! executor), and [`conformance_suite!`] expands the scenarios into tests
//! for any pairing of a server runtime and a client runtime.
//!
//! ```
//! // In a test file: stan_conformance::conformance_suite!(tokio_tokio, TokioServer, TokioClient);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod flow;
pub mod seeds;

use std::time::Duration;

use bytes::Bytes;
pub use stan_core::nats::router::RouterConfig;
pub use stan_core::stan::client::{ClientError, StartAt, SubscriptionOptions};

/// A running server (embedded NATS + engine, or the engine behind an
/// external NATS server), stopped on drop or by [`ServerHandle::stop`].
pub trait ServerHandle {
    /// URL clients connect to.
    fn url(&self) -> String;
    /// Stops the server (streaming engine and, if embedded, NATS).
    fn stop(self: Box<Self>);
}

/// Starts servers on one runtime.
pub trait ServerRuntime {
    /// The embedded NATS server alone, with `config`, on a free port.
    fn nats_only(config: RouterConfig) -> Box<dyn ServerHandle>;
    /// Embedded NATS server with the engine in process, on a free port.
    fn embedded() -> Box<dyn ServerHandle>;
    /// A NATS server without streaming, plus the engine attached to it over
    /// a NATS connection (`-ns`).
    fn external() -> Box<dyn ServerHandle>;
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

/// A client connection, blocking.
pub trait Client {
    /// Publishes and waits for the ack.
    fn publish(&self, channel: &str, data: &str) -> Result<(), ClientError>;
    /// Publishes `n` messages asynchronously, then waits for every ack.
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

/// Connects clients on one runtime.
pub trait ClientRuntime {
    /// Connects `client_id` (pings every `ping_interval` s, 2 missed allowed
    /// when `fast_pings`).
    fn connect(url: &str, client_id: &str, fast_pings: bool) -> Result<Box<dyn Client>, String>;
}

/// Connects, retrying while the engine attaches (external mode).
pub fn connect<C: ClientRuntime>(url: &str, id: &str, fast_pings: bool) -> Box<dyn Client> {
    let mut last = String::new();
    for _ in 0..50 {
        match C::connect(url, id, fast_pings) {
            Ok(c) => return c,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot connect {id}: {last}");
}

const T: Duration = Duration::from_secs(10);

fn seqs(sub: &mut dyn Sub, n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| {
            sub.next(T)
                .unwrap_or_else(|| panic!("message {i} of {n} missing"))
                .sequence
        })
        .collect()
}

/// Publish with acks, sync and async.
pub fn publish_with_acks<C: ClientRuntime>(url: &str) {
    let c = connect::<C>(url, "pub", false);
    c.publish("acks", "one").unwrap();
    c.publish_many("acks", 200).unwrap();
    let mut s = c
        .subscribe(
            "acks",
            SubscriptionOptions {
                start: StartAt::First,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(seqs(s.as_mut(), 201), (1..=201).collect::<Vec<_>>());
    let first = {
        let mut s2 = c
            .subscribe(
                "acks",
                SubscriptionOptions {
                    start: StartAt::Sequence(1),
                    ..Default::default()
                },
            )
            .unwrap();
        let m = s2.next(T).unwrap();
        s2.end(false).unwrap();
        m
    };
    assert_eq!((first.sequence, first.data.as_ref()), (1, &b"one"[..]));
    s.end(false).unwrap();
    c.close().unwrap();
}

/// Every start position.
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
        let mut s = c
            .subscribe(
                "starts",
                SubscriptionOptions {
                    start,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(seqs(s.as_mut(), want.len()), want, "{start:?}");
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
    let deadline = std::time::Instant::now() + T;
    while got.len() < 20 && std::time::Instant::now() < deadline {
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

/// Unacked messages come back after ack wait, flagged.
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
    assert!(!m.redelivered);
    let again = s.next(T).unwrap();
    assert_eq!((again.sequence, again.redelivered), (1, true));
    s.ack(1).unwrap();
    assert!(s.next(Duration::from_millis(1500)).is_none());
    s.end(false).unwrap();
    c.close().unwrap();
}

/// The server goes away: the client is told (ping failure), and a new
/// connection is refused.
pub fn server_shutdown<S: ServerRuntime, C: ClientRuntime>() {
    let server = S::embedded();
    let url = server.url();
    let c = connect::<C>(&url, "lossy", true);
    c.publish("x", "y").unwrap();
    server.stop();
    assert_eq!(c.lost(T), Some(ClientError::MaxPings));
    assert_eq!(c.publish("x", "y"), Err(ClientError::ConnectionClosed));
    assert!(C::connect(&url, "again", false).is_err());
}

/// Expands the scenarios into `#[test]`s for server runtime `$s` and client
/// runtime `$c`, in a module named `$name`.
#[macro_export]
macro_rules! conformance_suite {
    ($name:ident, $s:ty, $c:ty) => {
        mod $name {
            use super::*;
            use $crate::ServerRuntime as _;

            fn each(scenario: fn(&str)) {
                for server in [<$s>::embedded(), <$s>::external()] {
                    scenario(&server.url());
                    server.stop();
                }
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
            fn server_shutdown() {
                $crate::server_shutdown::<$s, $c>();
            }
        }
    };
}
