//! Faults that last: the `-ns` engine's NATS server unreachable for
//! minutes or its link gone silent, a client's connection lost in the
//! middle of a publish burst while its server stays away for hours, and
//! peers that go silent for hours (a NATS client that answers no PING, a
//! streaming server that answers no STAN ping, a STAN client that answers
//! no heartbeat). Hours of virtual time pass in milliseconds; each test
//! bounds the world's steps, so nothing spins while it waits.

use super::cut::{check_channel, collect_acks, ms, slow_link, start_burst, stored, BURST};
use super::*;
use crate::nats::client::{ClientOptions, CloseReason, DisconnectReason, Status};
use crate::nats::codec::ServerOp;
use crate::nats::router::{CloseReason as RouterClose, LogMessage};
use crate::stan::client::ClientError;
use crate::stan::server::ClientCloseReason;

const HOUR: Duration = Duration::from_secs(3600);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A `-ns` world: the engine reaches the router over a link.
fn ns_world() -> World {
    World::with_setup(
        RouterConfig::default(),
        EngineSetup::Wire(ServerConfig::default(), LinkConfig::default()),
    )
}

/// How many times the engine reported losing and regaining its NATS
/// connection.
fn nats_reports(w: &World) -> (usize, usize) {
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
    (lost, back)
}

/// A wire STAN client `id`, connected, with a subscription to `channel`.
fn subscriber(w: &mut World, id: &str, channel: &str) -> (N, SubId) {
    let n = w.stan_client(opts(id));
    let ev = until(w, n, ms(10), secs(5), |e| !e.is_empty());
    assert_eq!(ev, [ClientEvent::Connected]);
    let now = w.now;
    let sub = w
        .stan(n)
        .subscribe(now, channel, &SubscriptionOptions::default())
        .unwrap();
    let ev = until(w, n, ms(10), secs(5), |e| !e.is_empty());
    assert_eq!(
        ev,
        [ClientEvent::Subscribed {
            sub,
            result: Ok(())
        }]
    );
    (n, sub)
}

/// `n` publishes `data` on `channel`; the PubAck's outcome, waiting up to
/// `limit`, and the other events meanwhile.
fn publish(
    w: &mut World,
    n: N,
    channel: &str,
    data: &'static str,
    limit: Duration,
) -> (Option<Result<(), ClientError>>, Vec<ClientEvent>) {
    let now = w.now;
    let id = w.stan(n).publish(now, channel, Bytes::from(data)).unwrap();
    let is_ack = |e: &ClientEvent| matches!(e, ClientEvent::PubAck { id: i, .. } if *i == id);
    let ev = until(w, n, ms(10), limit, |e| e.iter().any(is_ack));
    let mut result = None;
    let mut others = Vec::new();
    for e in ev {
        match e {
            ClientEvent::PubAck { id: i, result: r } if i == id => result = Some(r),
            other => others.push(other),
        }
    }
    (result, others)
}

// --- (a) the engine's NATS server unreachable, then back -----------------

/// `-ns`: the external NATS server cannot be reached for a minute (the
/// engine's connection is cut and some 240 reconnect attempts fail). The
/// engine reports the loss once and the reconnection once, replays its
/// subscriptions (the router ends with exactly the subscriptions it had),
/// keeps its clients, and a subscriber from before the outage receives
/// what is published after it. A publish during the outage settles with an
/// error instead of hanging.
#[test]
fn the_engine_rides_out_a_minute_without_its_nats_server() {
    let mut w = ns_world();
    let e = w.engine.node().expect("the engine is a node");
    assert!(matches!(w.nats_events(e)[..], [Event::Connected { .. }]));
    let (n, sub) = subscriber(&mut w, "sub", "news");
    let c = w.connected("scripted");
    assert_eq!(w.publish_sync(c, "news", b"before"), "");
    let ev = until(&mut w, n, ms(10), secs(1), |e| !e.is_empty());
    assert_eq!(messages(&ev), [(sub, 1, false, Bytes::from("before"))]);
    let subscriptions = w.router.subscription_count();
    w.events.clear();

    let start = w.now;
    let steps = w.steps();
    w.refuse_dials(e, true);
    w.cut(e);
    w.advance(secs(60));
    assert_eq!(nats_reports(&w), (1, 0), "{:?}", w.events);
    assert!(w.events.contains(&ServerEvent::NatsDisconnected {
        reason: DisconnectReason::TransportClosed
    }));
    let dials = w.dials(e);
    assert!((200..=250).contains(&dials), "one every 250 ms: {dials}");
    assert_eq!(w.nats(e).status(), Status::Reconnecting);
    // Nobody serves the cluster: the publish fails, within its ack wait.
    let (result, others) = publish(&mut w, n, "news", "during", secs(31));
    assert!(matches!(result, Some(Err(_))), "{result:?}");
    assert!(others.is_empty(), "{others:?}");

    w.refuse_dials(e, false);
    w.advance(secs(1));
    assert_eq!(nats_reports(&w), (1, 1), "{:?}", w.events);
    assert_eq!(w.nats(e).status(), Status::Connected);
    assert_eq!(
        w.router.subscription_count(),
        subscriptions,
        "the engine's subscriptions replayed, none twice"
    );
    assert!(w.engine.has_client("sub") && w.engine.has_client("scripted"));
    assert!(w.now - start < secs(100));
    assert!(w.steps() - steps < 2_000, "{}", w.steps() - steps);

    // Everyone resumes: the old subscriber gets the new message, a
    // scripted client publishes, a new client does a round trip.
    let (result, others) = publish(&mut w, n, "news", "after", secs(1));
    assert_eq!(result, Some(Ok(())));
    assert_eq!(messages(&others), [(sub, 2, false, Bytes::from("after"))]);
    assert_eq!(w.publish_sync(c, "news", b"scripted"), "");
    let ev = until(&mut w, n, ms(10), secs(1), |e| !e.is_empty());
    assert_eq!(messages(&ev), [(sub, 3, false, Bytes::from("scripted"))]);
    let late = w.stan_client(opts("late"));
    round_trip(&mut w, late);
}

/// `-ns`: the engine's link goes silent while the NATS server runs on (a
/// half-open TCP connection: no byte passes, no end of stream), and new
/// connections hang too (a frozen path: each dial is accepted, no `INFO`
/// comes) for a while. The engine's keepalive finds the stale connection,
/// its reconnect attempts time out, and once the path works again it
/// reconnects; the router has ended the silent session on its side.
#[test]
fn the_engine_finds_its_silent_nats_link_and_reconnects() {
    let mut w = ns_world();
    let e = w.engine.node().expect("the engine is a node");
    assert!(matches!(w.nats_events(e)[..], [Event::Connected { .. }]));
    let (n, sub) = subscriber(&mut w, "sub", "news");
    let old = w.conn_of(e).unwrap();
    let subscriptions = w.router.subscription_count();
    w.router_events();
    w.events.clear();

    let start = w.now;
    w.configure(e, Dir::Both, |p| p.stalled = true);
    let mut lost_at = None;
    while lost_at.is_none() && w.now - start < secs(600) {
        w.advance(secs(1));
        if nats_reports(&w).0 > 0 {
            lost_at = Some(w.now - start);
        }
    }
    // Keepalive PINGs every 2 min, the third unanswered one ends it.
    let lost_at = lost_at.expect("the stale connection is found");
    assert!(lost_at > secs(300) && lost_at <= secs(361), "{lost_at:?}");
    assert!(w.events.contains(&ServerEvent::NatsDisconnected {
        reason: DisconnectReason::StaleConnection
    }));
    let events = w.router_events();
    assert!(
        events.contains(&RouterEvent::SessionClosed {
            conn: old,
            reason: RouterClose::StaleConnection
        }),
        "the router ended the silent session first"
    );
    // The path stays frozen a minute: every attempt times out.
    let dials = w.dials(e);
    w.advance(secs(60));
    assert!(w.dials(e) - dials >= 20, "{}", w.dials(e) - dials);
    assert_eq!(nats_reports(&w), (1, 0));

    w.configure(e, Dir::Both, |p| p.stalled = false);
    w.advance(secs(3));
    assert_eq!(nats_reports(&w), (1, 1), "{:?}", w.events);
    assert_eq!(w.nats(e).status(), Status::Connected);
    assert_eq!(w.router.subscription_count(), subscriptions);
    // The client kept its registration through the ~7 minutes (heartbeats
    // failing meanwhile, fewer than the limit) and is served again.
    assert!(w.engine.has_client("sub"));
    w.stan_events(n);
    let (result, others) = publish(&mut w, n, "news", "after", secs(1));
    assert_eq!(result, Some(Ok(())));
    assert_eq!(messages(&others), [(sub, 1, false, Bytes::from("after"))]);
}

// --- (b) a client's connection lost mid-publish, for hours ---------------

/// A STAN client (reconnecting forever, as stan.go's NATS connection does)
/// loses its link in the middle of a burst of async publishes, and the
/// server stays unreachable for hours. Every publish settles once, by
/// its PubAck or by the PubAck timeout, long before the client's pings
/// give up (once); then the connection closes and stops dialing. The
/// engine keeps every acknowledged message and closes the silent client
/// after its heartbeats.
#[test]
fn a_cut_midway_with_the_server_gone_for_hours_settles_every_publish() {
    let mut w = World::default_world();
    let options = ConnectOptions {
        max_pub_acks_in_flight: BURST,
        ..opts("burst")
    };
    let n = w.stan_client_with(options, None, slow_link());
    let (sent, mut results) = start_burst(&mut w, n);
    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));

    let cut_at = w.now;
    let steps = w.steps();
    w.refuse_dials(n, true);
    w.cut(n);
    w.advance(secs(31));
    let others = collect_acks(w.stan_events(n), &mut results);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(results.len(), BURST, "all settled within the ack wait");
    let failed = results.values().filter(|r| r.is_err()).count();
    assert!(failed > BURST / 2, "{failed}");
    assert!(results
        .values()
        .all(|r| r.is_ok() || *r == Err(ClientError::PubAckTimeout)));

    // The client's pings (every 5 s, 88 out) give up; reported once.
    let mut lost = Vec::new();
    while w.now - cut_at < 3 * HOUR {
        w.advance(secs(60));
        for e in w.stan_events(n) {
            lost.push((w.now - cut_at, e));
        }
    }
    assert_eq!(lost.len(), 1, "{lost:?}");
    let (when, event) = &lost[0];
    assert_eq!(*event, ClientEvent::ConnectionLost(ClientError::MaxPings));
    assert!(*when >= secs(440) && *when <= secs(480), "{when:?}");
    assert!(w.stan(n).is_done());
    assert_eq!(w.stan(n).poll_timeout(), None);
    assert_eq!(w.nats(n).status(), Status::Closed);
    assert!(
        matches!(
            w.nats_events(n).last(),
            Some(Event::Closed {
                reason: CloseReason::Local
            })
        ),
        "the session closed its connection"
    );
    let dials = w.dials(n);
    assert!(dials < 300, "dialing stopped: {dials}");
    assert!(w.steps() - steps < 3_000, "{}", w.steps() - steps);

    // The engine closed the silent client; the stored messages stay.
    assert!(!w.engine.has_client("burst"));
    assert!(w.events.iter().any(|e| matches!(
        e,
        ServerEvent::ClientClosed { client_id, reason: ClientCloseReason::HeartbeatsFailed, .. }
            if client_id == "burst"
    )));
    let count = check_channel(&w, &sent, &results);
    assert!(count >= BURST - failed, "{count}");
    assert_eq!(w.engine.client_count(), 0, "nothing leaked");
}

/// A STAN client's link goes half-open in the middle of a burst (no byte
/// passes, no end of stream). The lost PubAcks time out; the client's
/// NATS keepalive (every 20 s here) finds the stale connection and
/// reconnects; the router has ended the silent session; the STAN session
/// goes on over the new connection and the engine still knows it.
#[test]
fn a_half_open_link_midway_is_found_by_keepalive() {
    let mut w = World::default_world();
    let options = ConnectOptions {
        max_pub_acks_in_flight: BURST,
        ..opts("burst")
    };
    let nats = ClientOptions {
        ping_interval: secs(20),
        ..options.nats_options(SIM_URL, None).unwrap()
    };
    let n = w.stan_client_with(options, Some(nats), slow_link());
    let (sent, mut results) = start_burst(&mut w, n);
    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    let old = w.conn_of(n).unwrap();
    w.router_events();

    w.stall(n, Dir::Both);
    w.advance(secs(31));
    let others = collect_acks(w.stan_events(n), &mut results);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(results.len(), BURST, "all settled within the ack wait");
    assert!(results
        .values()
        .all(|r| r.is_ok() || *r == Err(ClientError::PubAckTimeout)));
    let failed = results.values().filter(|r| r.is_err()).count();
    assert!(failed > BURST / 2, "{failed}");

    w.advance(secs(60));
    let ev = w.nats_events(n);
    assert!(
        matches!(
            ev[..],
            [
                Event::Disconnected {
                    reason: DisconnectReason::StaleConnection
                },
                Event::Reconnected { .. }
            ]
        ),
        "{ev:?}"
    );
    assert!(w.engine.has_client("burst"));
    check_channel(&w, &sent, &results);
    let (result, others) = publish(&mut w, n, "burst", "after", secs(1));
    assert_eq!(result, Some(Ok(())));
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(stored(&w, "burst").last(), Some(&Bytes::from("after")));

    // The router learns of the old connection by its own keepalive (every
    // 2 min): it ends the silent session and frees its subscriptions.
    assert!(w.router.session_phase(old).is_some(), "the end never came");
    w.advance(secs(240));
    assert!(w.router_events().contains(&RouterEvent::SessionClosed {
        conn: old,
        reason: RouterClose::StaleConnection
    }));
    assert_eq!(w.router.session_phase(old), None);
    let new = w.conn_of(n).unwrap();
    let engine = w.engine.local_conn().unwrap();
    let left: usize = [new, engine]
        .iter()
        .map(|&c| w.router.session_info(c).unwrap().subscriptions)
        .sum();
    assert_eq!(w.router.subscription_count(), left);
    assert!(w.engine.has_client("burst"));
}

// --- (c) peers silent for hours -------------------------------------------

/// A NATS client connects, subscribes, and from then on sends nothing (no
/// PONG). The router's keepalive ends it as nats-server does (`-ERR 'Stale
/// Connection'`, logged `Stale Client Connection - Closing`), frees its
/// subscriptions (publishes on their subjects reach nobody), and over
/// three hours sends it nothing more.
#[test]
fn a_silent_nats_client_is_ended_by_keepalive_and_frees_its_subscriptions() {
    let mut w = World::with_router(RouterConfig {
        debug: true, // -D: nats-server logs stale connections at debug level
        ..RouterConfig::default()
    });
    let publisher = w.peer_connected(r#"{"verbose":false}"#);
    let silent = w.peer_connected(r#"{"verbose":false}"#);
    w.send(silent, "SUB a 1\r\nSUB b.> 2\r\nSUB q g 3\r\nPING\r\n");
    assert_eq!(w.read(silent), [ServerOp::Pong]);
    assert_eq!(w.router.subscription_count(), 3);
    w.router_events();
    let start = w.now;
    let steps = w.steps();

    // The publisher stays lively: it publishes and answers PINGs.
    let mut before = 0;
    while w.now - start < 3 * HOUR {
        w.send(publisher, "PUB a 1\r\nx\r\nPUB b.c 1\r\ny\r\n");
        if w.read(publisher).contains(&ServerOp::Ping) {
            w.send(publisher, "PONG\r\n");
        }
        if w.router.session_phase(silent).is_some() {
            before += 2;
        }
        w.advance(secs(10));
    }
    let ops = w.read(silent);
    let (pings, rest): (Vec<_>, Vec<_>) = ops
        .iter()
        .filter(|op| !matches!(op, ServerOp::Msg(_)))
        .partition(|op| **op == ServerOp::Ping);
    assert_eq!(pings.len(), 2, "the probe, then one interval: {ops:?}");
    assert_eq!(
        rest,
        [&ServerOp::Err(Bytes::from("Stale Connection"))],
        "{ops:?}"
    );
    assert_eq!(
        ops.last(),
        Some(&ServerOp::Err(Bytes::from("Stale Connection")))
    );
    let delivered = ops
        .iter()
        .filter(|op| matches!(op, ServerOp::Msg(_)))
        .count();
    assert!(delivered > 0 && delivered <= before, "{delivered}");
    assert!(w.peer_closed(silent));
    assert_eq!(w.router.session_phase(silent), None);
    assert_eq!(w.router.subscription_count(), 0, "its subscriptions freed");
    assert_eq!(w.router.connection_count(), 1);
    let events = w.router_events();
    assert!(events.contains(&RouterEvent::SessionClosed {
        conn: silent,
        reason: RouterClose::StaleConnection
    }));
    assert!(
        events.iter().any(|e| matches!(
            e,
            RouterEvent::Log(r) if r.conn == silent && r.message == LogMessage::StaleConnection
        )),
        "logged"
    );
    // The router did not spin for three hours of PINGs and publishes.
    assert!(w.steps() - steps < 10_000, "{}", w.steps() - steps);
}

/// A STAN client whose streaming server hangs (the NATS server answers,
/// the engine does not) for three hours: its pings detect it and report
/// the connection lost once, after `ping_interval x (ping_max_out + 1)`;
/// the publish waiting meanwhile timed out; the session ends, closes its
/// NATS connection and has no deadline left.
#[test]
fn a_stan_client_whose_streaming_server_goes_silent_for_hours() {
    let mut w = World::default_world();
    let (n, _) = subscriber(&mut w, "me", "news");
    let (result, _) = publish(&mut w, n, "news", "before", secs(1));
    assert_eq!(result, Some(Ok(())));
    let start = w.now;
    let steps = w.steps();
    w.engine_paused = true;
    let now = w.now;
    let id = w
        .stan(n)
        .publish(now, "news", Bytes::from("unanswered"))
        .unwrap();
    let mut seen = Vec::new();
    while w.now - start < 3 * HOUR {
        w.advance(secs(1));
        for e in w.stan_events(n) {
            seen.push((w.now - start, e));
        }
    }
    assert_eq!(
        seen,
        [
            (
                secs(30),
                ClientEvent::PubAck {
                    id,
                    result: Err(ClientError::PubAckTimeout)
                }
            ),
            (
                seen[1].0,
                ClientEvent::ConnectionLost(ClientError::MaxPings)
            ),
        ]
    );
    assert!(
        seen[1].0 > secs(440) && seen[1].0 <= secs(446),
        "{:?}",
        seen[1].0
    );
    assert!(w.stan(n).is_done());
    assert_eq!(w.stan(n).poll_timeout(), None);
    assert_eq!(w.nats(n).status(), Status::Closed);
    assert!(w.steps() - steps < 1_000, "{}", w.steps() - steps);
}

/// A STAN client and its server cut off from each other for three hours
/// (every byte either way held, every new connection hanging: a network
/// partition). Each side ends the other: the router ends the client's
/// stale NATS session and frees its subscriptions; the engine closes the
/// client after its heartbeats fail (keeping the durable); the client's
/// NATS keepalive finds its connection stale, and its STAN pings report
/// the connection lost once; then it stops dialing.
#[test]
fn a_stan_client_and_its_server_silent_to_each_other_for_hours() {
    let mut w = World::default_world();
    let (n, _) = subscriber(&mut w, "me", "news");
    let now = w.now;
    let durable = SubscriptionOptions {
        durable: Some("d".into()),
        ..SubscriptionOptions::default()
    };
    let sub = w.stan(n).subscribe(now, "news", &durable).unwrap();
    let ev = until(&mut w, n, ms(10), secs(1), |e| !e.is_empty());
    assert_eq!(
        ev,
        [ClientEvent::Subscribed {
            sub,
            result: Ok(())
        }]
    );
    assert_eq!(w.engine.subscription_count(), 2);
    let conn = w.conn_of(n).unwrap();
    let engine = w.engine.local_conn().unwrap();
    assert!(w.router.session_info(conn).unwrap().subscriptions > 0);
    w.router_events();
    w.nats_events(n);
    w.events.clear();
    let start = w.now;
    let steps = w.steps();

    w.configure(n, Dir::Both, |p| p.stalled = true);
    let mut seen = Vec::new();
    let mut engine_closed = None;
    while w.now - start < 3 * HOUR {
        w.advance(secs(1));
        for e in w.stan_events(n) {
            seen.push((w.now - start, e));
        }
        if engine_closed.is_none() && !w.engine.has_client("me") {
            engine_closed = Some(w.now - start);
        }
    }
    // The client side.
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].1,
        ClientEvent::ConnectionLost(ClientError::MaxPings)
    );
    assert!(
        seen[0].0 > secs(440) && seen[0].0 <= secs(446),
        "{:?}",
        seen[0].0
    );
    let ev = w.nats_events(n);
    assert_eq!(
        ev.first(),
        Some(&Event::Disconnected {
            reason: DisconnectReason::StaleConnection
        }),
        "{ev:?}"
    );
    assert_eq!(
        ev.last(),
        Some(&Event::Closed {
            reason: CloseReason::Local
        })
    );
    assert!(w.stan(n).is_done());
    assert_eq!(w.nats(n).status(), Status::Closed);
    // The router side.
    assert!(w.router_events().contains(&RouterEvent::SessionClosed {
        conn,
        reason: RouterClose::StaleConnection
    }));
    assert_eq!(w.router.session_phase(conn), None);
    assert_eq!(
        w.router.subscription_count(),
        w.router.session_info(engine).unwrap().subscriptions,
        "only the engine's subscriptions are left"
    );
    // The engine side: heartbeats every 30 s, each given 10 s, 10 may fail.
    let engine_closed = engine_closed.expect("the engine closed the client");
    assert!(engine_closed <= secs(11 * 40), "{engine_closed:?}");
    assert!(w.events.iter().any(|e| matches!(
        e,
        ServerEvent::ClientClosed { client_id, reason: ClientCloseReason::HeartbeatsFailed, .. }
            if client_id == "me"
    )));
    assert_eq!(w.engine.client_count(), 0);
    assert_eq!(w.engine.subscription_count(), 1, "the durable stays");
    assert!(w.steps() - steps < 3_000, "{}", w.steps() - steps);
}

/// A STAN client whose process freezes for three hours (it processes
/// nothing, answers no heartbeat): the engine closes it after its
/// heartbeats and frees its subscription; when the client wakes, its next
/// ping learns that the server no longer knows it.
#[test]
fn a_frozen_stan_client_is_closed_by_heartbeats_and_learns_it_on_waking() {
    let mut w = World::default_world();
    let s = w.session(opts("frozen"));
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    let now = w.now;
    let sub = w
        .sess(s)
        .subscribe(now, "news", &SubscriptionOptions::default())
        .unwrap();
    w.pump();
    assert_eq!(
        w.session_events(s),
        [ClientEvent::Subscribed {
            sub,
            result: Ok(())
        }]
    );
    assert_eq!(w.engine.subscription_count(), 1);
    w.events.clear();
    let start = w.now;
    let steps = w.steps();

    w.set_session_paused(s, true);
    w.advance(secs(439));
    assert!(w.engine.has_client("frozen"));
    w.advance(secs(1));
    assert!(!w.engine.has_client("frozen"), "11 x (30 s + 10 s)");
    assert_eq!(w.engine.subscription_count(), 0);
    assert!(w.events.contains(&ServerEvent::ClientClosed {
        client_id: "frozen".into(),
        reason: ClientCloseReason::HeartbeatsFailed,
    }));
    w.advance(3 * HOUR - secs(440));
    assert!(w.steps() - steps < 200, "{}", w.steps() - steps);

    w.set_session_paused(s, false);
    w.advance(secs(6));
    let ev = w.session_events(s);
    assert!(
        matches!(
            ev[..],
            [ClientEvent::ConnectionLost(ClientError::Server(_))]
        ),
        "{ev:?}"
    );
    assert!(w.sess(s).is_done());
    assert!(w.now - start >= 3 * HOUR);
}
