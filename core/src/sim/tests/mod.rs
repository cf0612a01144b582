//! Tests of the world itself, and the scenarios only a world of links can
//! play: a link stalled for an hour (`stall`), bytes arriving one at a
//! time (`chunks`), a cut in the middle of a publish burst (`cut`), faults
//! that last minutes or hours (`faults`).

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::nats::client::Event;
use crate::stan::client::{
    ClientEvent, ConnectOptions, PubId, StartAt, SubId, SubscriptionOptions,
};

mod chunks;
mod cluster;
mod cluster_auth;
mod cluster_tls;
mod cut;
mod faults;
mod stall;

fn opts(id: &str) -> ConnectOptions {
    ConnectOptions::new("test-cluster", id)
}

/// Advances `step` at a time until `done` holds for the events STAN client
/// `n` reported meanwhile (or `limit` passed); those events.
fn until(
    w: &mut World,
    n: N,
    step: Duration,
    limit: Duration,
    done: impl Fn(&[ClientEvent]) -> bool,
) -> Vec<ClientEvent> {
    let end = w.now + limit;
    let mut seen = w.stan_events(n);
    while !done(&seen) && w.now < end {
        w.advance(step);
        seen.extend(w.stan_events(n));
    }
    seen
}

/// The messages among `events`: (subscription, sequence, redelivered, data).
fn messages(events: &[ClientEvent]) -> Vec<(SubId, u64, bool, Bytes)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message { sub, msg } => {
                Some((*sub, msg.sequence, msg.redelivered, msg.data.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A publish, a subscription from the first message, delivery and close,
/// from STAN client `n` over its link.
fn round_trip(w: &mut World, n: N) {
    let ev = until(
        w,
        n,
        Duration::from_millis(10),
        Duration::from_secs(5),
        |e| !e.is_empty(),
    );
    assert_eq!(ev, [ClientEvent::Connected]);
    let now = w.now;
    let id = w.stan(n).publish(now, "foo", Bytes::from("hello")).unwrap();
    let options = SubscriptionOptions {
        start: StartAt::First,
        ..SubscriptionOptions::default()
    };
    let sub = w.stan(n).subscribe(now, "foo", &options).unwrap();
    let ev = until(
        w,
        n,
        Duration::from_millis(10),
        Duration::from_secs(5),
        |e| e.len() >= 3,
    );
    assert!(ev.contains(&ClientEvent::PubAck { id, result: Ok(()) }));
    assert!(ev.contains(&ClientEvent::Subscribed {
        sub,
        result: Ok(())
    }));
    assert_eq!(messages(&ev), [(sub, 1, false, Bytes::from("hello"))]);
    let now = w.now;
    w.stan(n).close(now).unwrap();
    let ev = until(
        w,
        n,
        Duration::from_millis(10),
        Duration::from_secs(5),
        |e| !e.is_empty(),
    );
    assert_eq!(ev, [ClientEvent::Closed(Ok(()))]);
}

#[test]
fn a_stan_client_over_a_link_uses_the_engine_in_process() {
    let mut w = World::default_world();
    let n = w.stan_client(opts("wire"));
    round_trip(&mut w, n);
    let ev = w.nats_events(n);
    assert!(matches!(ev[0], Event::Connected { .. }), "{ev:?}");
    assert!(matches!(ev.last(), Some(Event::Closed { .. })), "{ev:?}");
    assert!(!w.engine.has_client("wire"));
    assert_eq!(w.dials(n), 1);
}

/// The `-ns` setup: the engine is a NATS client of the router over a link;
/// scripted clients, in-process sessions and wire clients all reach it.
#[test]
fn the_engine_over_a_link_serves_every_kind_of_client() {
    let mut w = World::with_setup(
        RouterConfig::default(),
        EngineSetup::Wire(ServerConfig::default(), LinkConfig::default()),
    );
    let e = w.engine.node().expect("the engine is a node");
    assert!(matches!(w.nats_events(e)[..], [Event::Connected { .. }]));
    assert!(w.engine.local_conn().is_none());
    let c = w.connected("scripted");
    assert_eq!(w.publish_sync(c, "bar", b"one"), "");
    let s = w.session(opts("local"));
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    let n = w.stan_client(opts("wire"));
    round_trip(&mut w, n);
    assert!(w.engine.has_client("scripted") && w.engine.has_client("local"));
    assert_eq!(w.engine.stats().in_msgs, 2, "{:?}", w.engine.stats());
}

/// Latency costs virtual time: the connect exchange needs its round trips.
#[test]
fn links_delay_bytes_and_keep_their_order() {
    let mut w = World::default_world();
    let start = w.now;
    let link = LinkConfig::both(PipeConfig::delayed(Duration::from_millis(50)));
    let n = w.stan_client_with(opts("far"), None, link);
    assert!(w.stan_events(n).is_empty(), "nothing arrives at once");
    let ev = until(
        &mut w,
        n,
        Duration::from_millis(1),
        Duration::from_secs(1),
        |e| !e.is_empty(),
    );
    assert_eq!(ev, [ClientEvent::Connected]);
    // INFO down, CONNECT and the request up, the response down.
    let took = w.now - start;
    assert!(
        took >= Duration::from_millis(150) && took <= Duration::from_millis(250),
        "{took:?}"
    );
}

/// A stall holds bytes in the link; lifting it delivers them in order.
#[test]
fn a_stalled_link_holds_bytes_until_read() {
    let mut w = World::with_router(RouterConfig::default());
    let s = w.peer_connected(r#"{"verbose":false}"#);
    let p = w.peer_connected(r#"{"verbose":false}"#);
    w.send(s, "SUB a 1\r\n");
    w.stall(s, Dir::Down);
    for i in 0..10 {
        w.send(p, &format!("PUB a 1\r\n{i}\r\n"));
    }
    assert!(w.raw(s).is_empty());
    w.advance(Duration::from_secs(1));
    assert!(w.raw(s).is_empty(), "still stalled");
    w.unstall(s, Dir::Down);
    let expected: String = (0..10).map(|i| format!("MSG a 1 1\r\n{i}\r\n")).collect();
    let got = String::from_utf8(w.raw(s)).unwrap();
    // (A keepalive PING may have come after the messages.)
    assert!(got.starts_with(&expected), "{got}");
}

/// A session the router closes flushes its last output; when the peer
/// takes none of it, the world drops the session after the write deadline,
/// as the drivers do.
#[test]
fn a_close_whose_flush_is_blocked_ends_at_the_write_deadline() {
    let mut w = World::with_router(RouterConfig::default());
    let c = w.peer();
    assert!(w.raw(c).starts_with(b"INFO "));
    w.configure(c, Dir::Down, |p| {
        p.capacity = 0;
        p.stalled = true;
    });
    w.send(c, "FOO\r\n"); // a protocol error: -ERR, then close
    assert!(w.router.session_phase(c).is_some(), "flushing");
    w.advance(Duration::from_millis(9_999));
    assert!(w.router.session_phase(c).is_some(), "still flushing");
    w.advance(Duration::from_millis(1));
    assert_eq!(w.router.session_phase(c), None, "dropped");
    w.configure(c, Dir::Down, |p| p.stalled = false);
    assert!(w.raw(c).is_empty(), "nothing went out");
    assert!(w.peer_closed(c));
}

/// A connection refused, then accepted: the client dials again after its
/// reconnect wait.
#[test]
fn dials_can_be_refused() {
    let mut w = World::default_world();
    let nats = opts("x").nats_options(SIM_URL, None).unwrap();
    let n = w.nats_client(nats);
    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    w.refuse_dials(n, true);
    w.cut(n);
    w.advance(Duration::from_secs(5));
    assert_eq!(w.dials(n), 3, "the first dial, then one every 2 s");
    assert!(w.conn_of(n).is_none());
    w.refuse_dials(n, false);
    w.advance(Duration::from_secs(2));
    let ev = w.nats_events(n);
    assert!(
        matches!(ev.last(), Some(Event::Reconnected { .. })),
        "{ev:?}"
    );
    assert!(w.conn_of(n).is_some());
}

/// `-ns`: the engine's NATS connection lost and regained is reported
/// once each way (not once per failed dial), and the engine serves again.
#[test]
fn the_engine_reports_losing_and_regaining_its_nats_connection() {
    let mut w = World::with_setup(
        RouterConfig::default(),
        EngineSetup::Wire(ServerConfig::default(), LinkConfig::default()),
    );
    let e = w.engine.node().expect("the engine is a node");
    assert!(matches!(w.nats_events(e)[..], [Event::Connected { .. }]));
    w.events.clear();
    w.cut(e);
    w.advance(Duration::from_secs(5));
    let lost = w
        .events
        .iter()
        .filter(|e| matches!(e, ServerEvent::NatsDisconnected { .. }))
        .count();
    let back = w
        .events
        .iter()
        .filter(|e| matches!(e, ServerEvent::NatsReconnected { .. }))
        .count();
    assert_eq!((lost, back), (1, 1), "{:?}", w.events);
    let c = w.connected("after");
    assert_eq!(w.publish_sync(c, "bar", b"again"), "");
}
