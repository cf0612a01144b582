//! Virtual-time tests of the client session against the engine, in the
//! simulation world.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::sim::{World, S};
use crate::stan::server::{ServerConfig, CLIENT_REPLACED, INVALID_PUB_REQ};

fn opts(id: &str) -> ConnectOptions {
    ConnectOptions::new("test-cluster", id)
}

fn connected(w: &mut World, id: &str) -> S {
    let s = w.session(opts(id));
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    s
}

fn acks(events: &[ClientEvent]) -> Vec<Result<(), ClientError>> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::PubAck { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect()
}

fn messages(events: &[ClientEvent]) -> Vec<(u64, bool, Bytes)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message { msg, .. } => {
                Some((msg.sequence, msg.redelivered, msg.data.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn connect_publish_subscribe_auto_ack() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    let id = w
        .sess(s)
        .publish(now, "foo", Bytes::from_static(b"one"))
        .unwrap();
    assert_eq!(id, PubId(1));
    w.pump();
    assert_eq!(
        w.session_events(s),
        [ClientEvent::PubAck { id, result: Ok(()) }]
    );
    let sub = w
        .sess(s)
        .subscribe(
            now,
            "foo",
            &SubscriptionOptions {
                start: StartAt::First,
                ack_wait: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    w.pump();
    let ev = w.session_events(s);
    assert_eq!(
        ev[0],
        ClientEvent::Subscribed {
            sub,
            result: Ok(())
        }
    );
    assert_eq!(messages(&ev), [(1, false, Bytes::from_static(b"one"))]);
    // Auto-acked: no redelivery.
    w.advance(Duration::from_secs(5));
    assert!(messages(&w.session_events(s)).is_empty());
    let now = w.now;
    assert_eq!(w.sess(s).ack(now, sub, 1), Err(ClientError::ManualAck));
}

#[test]
fn start_positions_and_durable_resume() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    for i in 1..=3 {
        w.sess(s)
            .publish(now, "foo", Bytes::from(format!("m{i}")))
            .unwrap();
    }
    w.pump();
    w.session_events(s);
    for (start, want) in [
        (StartAt::First, vec![1, 2, 3]),
        (StartAt::LastReceived, vec![3]),
        (StartAt::Sequence(2), vec![2, 3]),
        (StartAt::TimeDelta(Duration::from_secs(60)), vec![1, 2, 3]),
        (StartAt::Time(crate::sim::UNIX_START), vec![1, 2, 3]),
        (StartAt::NewOnly, vec![]),
    ] {
        w.sess(s)
            .subscribe(
                now,
                "foo",
                &SubscriptionOptions {
                    start,
                    ..Default::default()
                },
            )
            .unwrap();
        w.pump();
        let got: Vec<u64> = messages(&w.session_events(s)).iter().map(|m| m.0).collect();
        assert_eq!(got, want, "{start:?}");
    }
    let durable = SubscriptionOptions {
        durable: Some("d".into()),
        start: StartAt::First,
        manual_ack: true,
        ..Default::default()
    };
    let d = w.sess(s).subscribe(now, "bar", &durable).unwrap();
    w.sess(s)
        .publish(now, "bar", Bytes::from_static(b"x"))
        .unwrap();
    w.sess(s)
        .publish(now, "bar", Bytes::from_static(b"y"))
        .unwrap();
    w.pump();
    assert_eq!(messages(&w.session_events(s)).len(), 2);
    w.sess(s).ack(now, d, 1).unwrap();
    w.sess(s).unsubscribe(now, d, true).unwrap();
    w.pump();
    assert_eq!(
        w.session_events(s),
        [ClientEvent::Unsubscribed {
            sub: d,
            result: Ok(())
        }]
    );
    assert_eq!(w.sess(s).ack(now, d, 2), Err(ClientError::BadSubscription));
    let d2 = w.sess(s).subscribe(now, "bar", &durable).unwrap();
    w.pump();
    let ev = w.session_events(s);
    assert_eq!(messages(&ev), [(2, true, Bytes::from_static(b"y"))]);
    assert!(ev.contains(&ClientEvent::Subscribed {
        sub: d2,
        result: Ok(())
    }));
}

#[test]
fn server_errors_are_reported_verbatim() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    w.sess(s).publish(now, "bad/channel", Bytes::new()).unwrap();
    let sub = w
        .sess(s)
        .subscribe(now, "foo.>", &SubscriptionOptions::default())
        .unwrap();
    w.pump();
    let ev = w.session_events(s);
    assert_eq!(
        acks(&ev),
        [Err(ClientError::Server(INVALID_PUB_REQ.into()))]
    );
    assert!(ev.contains(&ClientEvent::Subscribed {
        sub,
        result: Err(ClientError::Server("stan: invalid subject".into()))
    }));
    let dup = w.session(opts("me"));
    assert_eq!(
        w.session_events(dup),
        [ClientEvent::ConnectFailed(ClientError::Server(
            "stan: clientID already registered".into()
        ))]
    );
}

#[test]
fn wrong_cluster_fails_fast_with_no_responders() {
    let mut w = World::default_world();
    let s = w.session(ConnectOptions::new("nope", "me"));
    assert_eq!(
        w.session_events(s),
        [ClientEvent::ConnectFailed(
            ClientError::ConnectRequestTimeout
        )]
    );
    assert!(w.sess(s).is_done());
}

#[test]
fn connect_times_out_when_the_server_hangs() {
    let mut w = World::default_world();
    w.engine_paused = true;
    let s = w.session(opts("me"));
    w.advance(Duration::from_millis(1999));
    assert!(w.session_events(s).is_empty());
    w.advance(Duration::from_millis(1));
    assert_eq!(
        w.session_events(s),
        [ClientEvent::ConnectFailed(
            ClientError::ConnectRequestTimeout
        )]
    );
}

#[test]
fn pub_ack_timeout_and_in_flight_limit() {
    let mut w = World::default_world();
    let mut o = opts("me");
    o.max_pub_acks_in_flight = 2;
    o.max_queued_publishes = 0;
    o.pub_ack_wait = Duration::from_secs(3);
    let s = w.session(o);
    w.session_events(s);
    w.engine_paused = true;
    let now = w.now;
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    assert_eq!(
        w.sess(s).publish(now, "foo", Bytes::new()),
        Err(ClientError::TooManyPubAcksInFlight)
    );
    w.pump();
    w.advance(Duration::from_millis(2999));
    assert!(acks(&w.session_events(s)).is_empty());
    w.advance(Duration::from_millis(1));
    assert_eq!(
        acks(&w.session_events(s)),
        [
            Err(ClientError::PubAckTimeout),
            Err(ClientError::PubAckTimeout)
        ]
    );
    // Slots are free again; once the server answers, acks flow.
    w.engine_paused = false;
    let now = w.now;
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    w.pump();
    // The two timed-out publishes were stored meanwhile; their late acks are ignored.
    assert_eq!(acks(&w.session_events(s)), [Ok(())]);
    assert_eq!(w.sess(s).pub_acks_in_flight(), 0);
}

#[test]
fn ping_failure_loses_the_connection_after_interval_times_max_out_plus_one() {
    let mut w = World::default_world();
    let mut o = opts("me");
    o.ping_interval = 1;
    o.ping_max_out = 3;
    let s = w.session(o);
    w.session_events(s);
    w.advance(Duration::from_secs(30));
    assert!(
        w.session_events(s).is_empty(),
        "answered pings keep it alive"
    );
    let now = w.now;
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    w.engine_paused = true;
    w.advance(Duration::from_millis(3999));
    assert!(w.session_events(s).is_empty());
    w.advance(Duration::from_millis(1));
    let ev = w.session_events(s);
    assert_eq!(acks(&ev), [Err(ClientError::ConnectionClosed)]);
    assert_eq!(
        ev.last(),
        Some(&ClientEvent::ConnectionLost(ClientError::MaxPings))
    );
    assert_eq!(ev.len(), 2, "reported once");
    w.advance(Duration::from_secs(60));
    assert!(w.session_events(s).is_empty());
    let now = w.now;
    assert_eq!(
        w.sess(s).publish(now, "foo", Bytes::new()),
        Err(ClientError::ConnectionClosed)
    );
}

#[test]
fn a_replaced_client_learns_it_on_its_next_ping() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    // The session hangs; a new connection with its ID probes it and, with
    // no heartbeat answer within 500 ms, replaces it.
    w.set_session_paused(s, true);
    let newer = w.session(opts("me"));
    w.advance(Duration::from_millis(500));
    assert_eq!(w.session_events(newer), [ClientEvent::Connected]);
    w.set_session_paused(s, false);
    w.advance(Duration::from_secs(5));
    assert_eq!(
        w.session_events(s),
        [ClientEvent::ConnectionLost(ClientError::Server(
            CLIENT_REPLACED.into()
        ))]
    );
}

#[test]
fn close_fails_pending_publishes_and_ends_the_session() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    let sub = w
        .sess(s)
        .subscribe(
            now,
            "foo",
            &SubscriptionOptions {
                manual_ack: true,
                ..Default::default()
            },
        )
        .unwrap();
    w.pump();
    w.session_events(s);
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    w.sess(s).close(now).unwrap();
    w.pump();
    let ev = w.session_events(s);
    assert_eq!(acks(&ev), [Err(ClientError::ConnectionClosed)]);
    assert_eq!(ev.last(), Some(&ClientEvent::Closed(Ok(()))));
    assert!(!w.engine.has_client("me"));
    assert_eq!(w.sess(s).ack(now, sub, 1), Err(ClientError::BadConnection));
    assert_eq!(w.sess(s).close(now), Err(ClientError::ConnectionClosed));
}

#[test]
fn subscribe_and_close_time_out_when_the_server_hangs() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    w.engine_paused = true;
    let now = w.now;
    let sub = w
        .sess(s)
        .subscribe(now, "foo", &SubscriptionOptions::default())
        .unwrap();
    w.advance(Duration::from_secs(2));
    assert_eq!(
        w.session_events(s),
        [ClientEvent::Subscribed {
            sub,
            result: Err(ClientError::SubscribeRequestTimeout)
        }]
    );
    let now = w.now;
    w.sess(s).close(now).unwrap();
    w.advance(Duration::from_secs(2));
    assert_eq!(
        w.session_events(s),
        [ClientEvent::Closed(Err(ClientError::CloseRequestTimeout))]
    );
}

#[test]
fn queue_subscriptions_share_and_heartbeats_are_answered() {
    let mut w = World::new(ServerConfig {
        hb_interval: Duration::from_secs(1),
        hb_timeout: Duration::from_secs(1),
        hb_fail_count: 1,
        ..ServerConfig::default()
    });
    let a = connected(&mut w, "a");
    let b = connected(&mut w, "b");
    let q = SubscriptionOptions {
        queue: Some("g".into()),
        ..Default::default()
    };
    let now = w.now;
    w.sess(a).subscribe(now, "foo", &q).unwrap();
    w.sess(b).subscribe(now, "foo", &q).unwrap();
    w.pump();
    for _ in 0..10 {
        w.sess(a).publish(now, "foo", Bytes::new()).unwrap();
    }
    w.pump();
    let na = messages(&w.session_events(a)).len();
    let nb = messages(&w.session_events(b)).len();
    assert_eq!(na + nb, 10);
    assert!(na > 0 && nb > 0);
    // Heartbeats every second for a minute: both stay registered.
    w.advance(Duration::from_secs(60));
    assert!(w.engine.has_client("a") && w.engine.has_client("b"));
}

#[test]
fn invalid_ping_values_are_refused() {
    let mut o = opts("me");
    o.ping_max_out = 1;
    assert_eq!(
        Session::new(o, std::time::Instant::now(), 0)
            .err()
            .map(|e| e.to_string()),
        Some("invalid ping values: interval=5 (min>0) maxOut=1 (min=2)".to_string())
    );
}

#[test]
fn an_undecodable_response_is_a_decode_error() {
    let w = World::default_world();
    let now = w.now;
    let mut s = Session::new(opts("me"), now, 0).unwrap();
    while s.poll_command().is_some() {}
    // Field 1 (error) announces 5 bytes but 2 follow.
    let payload = Bytes::from_static(b"\x0a\x05ab");
    let decoder_text = ConnectResponse::decode(payload.clone())
        .unwrap_err()
        .to_string();
    s.handle_message(
        now,
        InboundMessage {
            subject: Bytes::from(format!("{}1", s.reply_prefix)),
            sid: SID_REPLIES,
            reply: None,
            headers: None,
            payload,
        },
    );
    let Some(ClientEvent::ConnectFailed(e)) = s.poll_event() else {
        panic!("expected ConnectFailed");
    };
    assert!(matches!(e, ClientError::Decode(_)), "{e:?}");
    assert_eq!(e.to_string(), decoder_text);
    assert!(!e.is_timeout() && !e.is_closed());
}

#[test]
fn a_closed_nats_connection_is_typed_with_the_same_text() {
    use crate::nats::client::{CloseReason, DisconnectReason};

    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    let reason = CloseReason::ReconnectsExhausted {
        attempts: 3,
        last: DisconnectReason::StaleConnection,
    };
    w.sess(s).handle_nats_closed(now, reason.clone());
    let ev: Vec<ClientEvent> = std::iter::from_fn(|| w.sess(s).poll_event()).collect();
    assert_eq!(acks(&ev), [Err(ClientError::ConnectionClosed)]);
    let lost = ClientError::Nats(reason);
    assert_eq!(ev.last(), Some(&ClientEvent::ConnectionLost(lost.clone())));
    assert_eq!(
        lost.to_string(),
        "nats: connection closed (gave up after 3 reconnect attempts (last: stale connection))"
    );
    assert!(lost.is_closed() && !lost.is_timeout());
    assert_eq!(
        ClientError::Nats(CloseReason::Local).to_string(),
        "nats: connection closed (closed by the application)"
    );
    // Reported once.
    w.sess(s).handle_nats_closed(now, CloseReason::Local);
    assert!(w.sess(s).poll_event().is_none());
}

#[test]
fn timeouts_and_refusals_are_told_apart() {
    for e in [
        ClientError::ConnectRequestTimeout,
        ClientError::CloseRequestTimeout,
        ClientError::SubscribeRequestTimeout,
        ClientError::UnsubscribeRequestTimeout,
        ClientError::PubAckTimeout,
    ] {
        assert!(e.is_timeout() && !e.is_closed(), "{e:?}");
    }
    let refused = ClientError::Server(INVALID_PUB_REQ.into());
    assert_eq!(refused.to_string(), INVALID_PUB_REQ);
    assert!(!refused.is_timeout() && !refused.is_closed());
    assert!(ClientError::ConnectionClosed.is_closed());
    assert!(ClientError::MaxPings.is_closed());
}

#[test]
fn huge_configured_waits_saturate_instead_of_overflowing() {
    let year = Duration::from_secs(365 * 24 * 3600);
    let mut w = World::default_world();
    let mut o = opts("me");
    o.connect_wait = Duration::MAX;
    o.pub_ack_wait = Duration::MAX;
    o.ping_interval = u32::MAX;
    o.ping_max_out = u32::MAX;
    let s = w.session(o);
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    // Requests and publishes that the server does not answer wait (far)
    // out instead of overflowing their deadlines.
    w.engine_paused = true;
    let now = w.now;
    w.sess(s).publish(now, "foo", Bytes::new()).unwrap();
    let sub = w
        .sess(s)
        .subscribe(now, "foo", &SubscriptionOptions::default())
        .unwrap();
    w.pump();
    w.advance(Duration::from_secs(3600));
    assert!(w.session_events(s).is_empty());
    let next = w.sess(s).poll_timeout().expect("deadlines armed");
    assert!(next > w.now, "{next:?}");
    let sess = w.sess(s);
    let far = [
        sess.requests
            .keys()
            .filter_map(|t| sess.timers.get(super::Timer::Request(*t)))
            .max(),
        sess.pub_deadlines.front().map(|entry| entry.deadline),
    ];
    for at in far {
        assert!(at.is_some_and(|at| at > now + year), "{at:?}");
    }
    // Once the server answers, all goes on.
    w.engine_paused = false;
    w.pump();
    let ev = w.session_events(s);
    assert_eq!(acks(&ev), [Ok(())]);
    assert!(ev.contains(&ClientEvent::Subscribed {
        sub,
        result: Ok(())
    }));
}

/// A message on the session's reply inbox (request `token`).
fn reply(s: &Session, token: u64, payload: Vec<u8>) -> InboundMessage {
    InboundMessage {
        subject: Bytes::from(format!("{}{token}", s.reply_prefix)),
        sid: SID_REPLIES,
        reply: None,
        headers: None,
        payload: Bytes::from(payload),
    }
}

/// A PingResponse carrying `error` on the session's ping inbox.
fn ping_error(s: &Session) -> InboundMessage {
    let resp = stan_proto::PingResponse {
        error: "stan: client has been replaced or is no longer registered".into(),
    };
    InboundMessage {
        subject: s.ping_inbox.clone(),
        sid: SID_PING,
        reply: None,
        headers: None,
        payload: Bytes::from(resp.encode_to_vec()),
    }
}

// Found by the `client_session` fuzz target: a PingResponse with an error
// before the connect handshake completed ended the session with
// `ConnectionLost` (a connection never made cannot be lost), and one during
// `close` replaced the `Closed` the application waits for. Pings belong to a
// connected session only (stan.go subscribes its ping inbox after connecting
// and unsubscribes it on close).
#[test]
fn ping_responses_outside_the_connected_phase_are_ignored() {
    let w = World::default_world();
    let now = w.now;
    let mut s = Session::new(opts("me"), now, 0).unwrap();
    while s.poll_command().is_some() {}
    let m = ping_error(&s);
    s.handle_message(now, m);
    assert_eq!(s.poll_event(), None);
    let connect = ConnectResponse {
        pub_prefix: "_STAN.pub.x".into(),
        close_requests: "_STAN.close.x".into(),
        ping_requests: "_STAN.ping.x".into(),
        ping_interval: 1,
        protocol: 1,
        ..ConnectResponse::default()
    };
    let m = reply(&s, 1, connect.encode_to_vec());
    s.handle_message(now, m);
    assert_eq!(s.poll_event(), Some(ClientEvent::Connected));
    s.close(now).unwrap();
    let m = ping_error(&s);
    s.handle_message(now, m);
    assert_eq!(s.poll_event(), None);
    assert!(!s.is_done());
    let m = reply(&s, 2, stan_proto::CloseResponse::default().encode_to_vec());
    s.handle_message(now, m);
    assert_eq!(s.poll_event(), Some(ClientEvent::Closed(Ok(()))));
}

// --- the PubAck window and the publish queue, against a scripted server ---

const PUB_PREFIX: &str = "_STAN.pub.x";

/// A session that the scripted server accepted at `now` (no pings), with
/// its commands drained.
fn scripted_session(o: ConnectOptions, now: Instant) -> Session {
    let mut s = Session::new(o, now, 0).unwrap();
    while s.poll_command().is_some() {}
    let connect = ConnectResponse {
        pub_prefix: PUB_PREFIX.into(),
        close_requests: "_STAN.close.x".into(),
        ping_requests: "_STAN.ping.x".into(),
        ..ConnectResponse::default()
    };
    let m = reply(&s, 1, connect.encode_to_vec());
    s.handle_message(now, m);
    assert_eq!(s.poll_event(), Some(ClientEvent::Connected));
    while s.poll_command().is_some() {}
    assert_eq!(
        s.poll_timeout(),
        None,
        "no request, ping or publish pending"
    );
    s
}

/// Options with a window of `window` and a queue of `queue` publishes.
fn windowed(window: usize, queue: usize, wait: Duration) -> ConnectOptions {
    let mut o = opts("me");
    o.max_pub_acks_in_flight = window;
    o.max_queued_publishes = queue;
    o.pub_ack_wait = wait;
    o
}

/// The publishes the session sent since the last call: (GUID, data).
fn sent(s: &mut Session) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    while let Some(cmd) = s.poll_command() {
        if let NatsCommand::Publish {
            subject,
            reply,
            payload,
        } = cmd
        {
            if subject.starts_with(PUB_PREFIX.as_bytes()) {
                assert_eq!(reply.as_ref(), Some(&s.ack_subject));
                let m = PubMsg::decode(payload).unwrap();
                assert_eq!(subject, format!("{PUB_PREFIX}.{}", m.subject));
                assert_eq!((m.client_id.as_str(), &m.conn_id), ("me", s.conn_id()));
                out.push((m.guid, m.data));
            }
        }
    }
    out
}

/// The data of `sent`.
fn data(sent: &[(String, Bytes)]) -> Vec<Bytes> {
    sent.iter().map(|(_, d)| d.clone()).collect()
}

/// The server's PubAck for `guid` (with `error` unless empty).
fn pub_ack(s: &Session, guid: &str, error: &str) -> InboundMessage {
    let ack = stan_proto::PubAck {
        guid: guid.into(),
        error: error.into(),
    };
    InboundMessage {
        subject: s.ack_subject.clone(),
        sid: SID_PUB_ACKS,
        reply: None,
        headers: None,
        payload: Bytes::from(ack.encode_to_vec()),
    }
}

fn events(s: &mut Session) -> Vec<ClientEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn pub_acks(s: &mut Session) -> Vec<(PubId, Result<(), ClientError>)> {
    events(s)
        .into_iter()
        .map(|e| match e {
            ClientEvent::PubAck { id, result } => (id, result),
            other => panic!("not a PubAck: {other:?}"),
        })
        .collect()
}

fn n(i: u32) -> Bytes {
    Bytes::from(i.to_string())
}

#[test]
fn the_window_fills_then_the_queue_then_publishes_are_refused() {
    let now = Instant::now();
    let mut s = scripted_session(windowed(2, 3, Duration::from_secs(30)), now);
    assert!(s.can_publish());
    let ids: Vec<PubId> = (0..5)
        .map(|i| s.publish(now, "foo", n(i)).unwrap())
        .collect();
    assert_eq!(ids, (1..=5).map(PubId).collect::<Vec<_>>(), "sequential");
    let first = sent(&mut s);
    assert_eq!(data(&first), [n(0), n(1)], "the window only");
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (2, 3));
    assert!(!s.can_publish());
    assert_eq!(
        s.publish(now, "foo", n(99)),
        Err(ClientError::TooManyPubAcksInFlight)
    );
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (2, 3));
    assert!(sent(&mut s).is_empty() && events(&mut s).is_empty());
    // A PubAck frees a slot: the oldest queued publish goes out.
    let m = pub_ack(&s, &first[0].0, "");
    s.handle_message(now, m);
    assert_eq!(pub_acks(&mut s), [(PubId(1), Ok(()))]);
    let second = sent(&mut s);
    assert_eq!(data(&second), [n(2)]);
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (2, 2));
    assert!(s.can_publish());
    // The refused publish took no id.
    assert_eq!(s.publish(now, "foo", n(5)), Ok(PubId(6)));
    // An error PubAck frees a slot too; late, unknown and malformed ones
    // change nothing.
    let m = pub_ack(&s, &first[1].0, "stan: invalid publish request");
    s.handle_message(now, m);
    for guid in [first[0].0.as_str(), "unknown-guid-of-22-chr", "short", ""] {
        let m = pub_ack(&s, guid, "");
        s.handle_message(now, m);
    }
    assert_eq!(
        pub_acks(&mut s),
        [(
            PubId(2),
            Err(ClientError::Server("stan: invalid publish request".into()))
        )]
    );
    let third = sent(&mut s);
    assert_eq!(data(&third), [n(3)]);
    // The rest, acked newest first: the queue drains in order regardless.
    let mut in_flight = vec![second[0].0.clone(), third[0].0.clone()];
    let mut order = Vec::new();
    while let Some(guid) = in_flight.pop() {
        let m = pub_ack(&s, &guid, "");
        s.handle_message(now, m);
        order.extend(pub_acks(&mut s).into_iter().map(|(id, r)| {
            assert_eq!(r, Ok(()));
            id
        }));
        for (guid, d) in sent(&mut s) {
            order.push(PubId(0)); // marks a send
            assert!(d == n(4) || d == n(5), "{d:?}");
            in_flight.insert(0, guid);
        }
    }
    assert_eq!(
        order,
        [PubId(4), PubId(0), PubId(3), PubId(0), PubId(5), PubId(6)]
    );
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (0, 0));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn queued_publishes_wait_for_their_pub_ack_from_when_they_are_sent() {
    let t0 = Instant::now();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    let mut s = scripted_session(windowed(1, 2, Duration::from_secs(10)), t0);
    s.publish(t0, "foo", n(0)).unwrap();
    s.publish(t0, "foo", n(1)).unwrap();
    let a = sent(&mut s);
    assert_eq!(data(&a), [n(0)]);
    assert_eq!(s.poll_timeout(), Some(secs(10)));
    // Acked at 4 s: the queued one is sent then, and waits until 14 s.
    let m = pub_ack(&s, &a[0].0, "");
    s.handle_message(secs(4), m);
    assert_eq!(pub_acks(&mut s), [(PubId(1), Ok(()))]);
    assert_eq!(data(&sent(&mut s)), [n(1)]);
    assert_eq!(s.poll_timeout(), Some(secs(14)));
    s.publish(secs(5), "foo", n(2)).unwrap();
    assert!(sent(&mut s).is_empty(), "queued");
    s.handle_timeout(secs(10));
    assert!(
        events(&mut s).is_empty(),
        "not the first publish's deadline"
    );
    s.handle_timeout(secs(14) - Duration::from_millis(1));
    assert!(events(&mut s).is_empty());
    // Its timeout frees the slot in turn: the next queued one goes out
    // and waits from then.
    s.handle_timeout(secs(14));
    assert_eq!(
        pub_acks(&mut s),
        [(PubId(2), Err(ClientError::PubAckTimeout))]
    );
    let c = sent(&mut s);
    assert_eq!(data(&c), [n(2)]);
    assert_eq!(s.poll_timeout(), Some(secs(24)));
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (1, 0));
    // A driver late for the deadline: the wait still counts from the send.
    s.handle_timeout(secs(30));
    assert_eq!(
        pub_acks(&mut s),
        [(PubId(3), Err(ClientError::PubAckTimeout))]
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn with_a_zero_pub_ack_wait_queued_publishes_time_out_as_they_are_sent() {
    let t0 = Instant::now();
    let mut s = scripted_session(windowed(1, 3, Duration::ZERO), t0);
    for i in 0..4 {
        s.publish(t0, "foo", n(i)).unwrap();
    }
    assert_eq!(data(&sent(&mut s)), [n(0)]);
    s.handle_timeout(t0);
    let acks = pub_acks(&mut s);
    assert_eq!(
        acks,
        (1..=4)
            .map(|i| (PubId(i), Err(ClientError::PubAckTimeout)))
            .collect::<Vec<_>>()
    );
    assert_eq!(data(&sent(&mut s)), [n(1), n(2), n(3)]);
    assert_eq!(s.poll_timeout(), None, "no deadline at or before now left");
}

#[test]
fn no_queue_refuses_beyond_the_window_and_no_publish_before_connected() {
    let now = Instant::now();
    let mut s = Session::new(opts("me"), now, 0).unwrap();
    assert!(!s.can_publish());
    assert_eq!(s.publish(now, "foo", n(0)), Err(ClientError::NotConnected));
    let mut s = scripted_session(windowed(1, 0, Duration::from_secs(30)), now);
    assert_eq!(s.publish(now, "foo", n(0)), Ok(PubId(1)));
    assert!(!s.can_publish());
    assert_eq!(
        s.publish(now, "foo", n(1)),
        Err(ClientError::TooManyPubAcksInFlight)
    );
    assert_eq!(s.queued_publishes(), 0);
}

#[test]
fn queued_publishes_fail_on_close_in_id_order() {
    let now = Instant::now();
    let mut s = scripted_session(windowed(2, 2, Duration::from_secs(30)), now);
    for i in 0..4 {
        s.publish(now, "foo", n(i)).unwrap();
    }
    assert_eq!(sent(&mut s).len(), 2);
    s.close(now).unwrap();
    let closed = (1..=4)
        .map(|i| (PubId(i), Err(ClientError::ConnectionClosed)))
        .collect::<Vec<_>>();
    assert_eq!(pub_acks(&mut s), closed);
    assert!(sent(&mut s).is_empty(), "queued publishes are never sent");
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (0, 0));
    assert!(!s.can_publish());
    assert_eq!(
        s.publish(now, "foo", n(9)),
        Err(ClientError::ConnectionClosed)
    );
    let m = reply(&s, 2, stan_proto::CloseResponse::default().encode_to_vec());
    s.handle_message(now, m);
    assert_eq!(events(&mut s), [ClientEvent::Closed(Ok(()))]);
}

#[test]
fn queued_publishes_fail_when_the_connection_is_lost() {
    use crate::nats::client::CloseReason;

    let now = Instant::now();
    let closed = (1..=3)
        .map(|i| ClientEvent::PubAck {
            id: PubId(i),
            result: Err(ClientError::ConnectionClosed),
        })
        .collect::<Vec<_>>();
    // The server forgot the client (a ping answered with an error).
    let mut s = scripted_session(windowed(1, 2, Duration::from_secs(30)), now);
    for i in 0..3 {
        s.publish(now, "foo", n(i)).unwrap();
    }
    let m = ping_error(&s);
    s.handle_message(now, m);
    let ev = events(&mut s);
    assert_eq!(ev[..3], closed[..]);
    assert!(
        matches!(ev[3..], [ClientEvent::ConnectionLost(_)]),
        "{ev:?}"
    );
    // The NATS connection closed for good.
    let mut s = scripted_session(windowed(1, 2, Duration::from_secs(30)), now);
    for i in 0..3 {
        s.publish(now, "foo", n(i)).unwrap();
    }
    s.handle_nats_closed(now, CloseReason::Local);
    let ev = events(&mut s);
    assert_eq!(ev[..3], closed[..]);
    assert_eq!(
        ev[3..],
        [ClientEvent::ConnectionLost(ClientError::Nats(
            CloseReason::Local
        ))]
    );
    assert_eq!((s.pub_acks_in_flight(), s.queued_publishes()), (0, 0));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn queued_publishes_reach_the_server_in_order() {
    let mut w = World::default_world();
    let s = w.session(windowed(2, 100, Duration::from_secs(30)));
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    let now = w.now;
    for i in 0..20 {
        assert_eq!(
            w.sess(s).publish(now, "foo", n(i)),
            Ok(PubId(u64::from(i) + 1))
        );
    }
    assert_eq!(w.sess(s).queued_publishes(), 18);
    w.pump();
    let ev = w.session_events(s);
    let want: Vec<ClientEvent> = (1..=20)
        .map(|i| ClientEvent::PubAck {
            id: PubId(i),
            result: Ok(()),
        })
        .collect();
    assert_eq!(ev, want);
    w.sess(s)
        .subscribe(
            now,
            "foo",
            &SubscriptionOptions {
                start: StartAt::First,
                ..Default::default()
            },
        )
        .unwrap();
    w.pump();
    let got = messages(&w.session_events(s));
    let want: Vec<_> = (0..20u32)
        .map(|i| (u64::from(i) + 1, false, n(i)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_started_stack_dials_and_a_bad_start_is_typed() {
    let now = Instant::now();
    let mut stack = Options::default()
        .start("nats://127.0.0.1:4222", "test-cluster", "me", 7, now, 0)
        .expect("valid");
    assert!(matches!(
        stack.poll_event(),
        Some(crate::nats::client::Event::WantConnect { .. })
    ));
    assert_eq!(stack.app.options().client_id, "me");
    assert_eq!(stack.app.options().seed, 7);
    let err = Options::default().start("nats://:x", "c", "me", 7, now, 0);
    assert!(matches!(err, Err(ConnectError::Url(_))));
    let mut bad = Options::default();
    bad.stan.ping_max_out = 1;
    let err = bad.start("nats://127.0.0.1:4222", "c", "me", 7, now, 0);
    assert!(matches!(
        err,
        Err(ConnectError::Stan(ClientError::InvalidPingValues { .. }))
    ));
}

#[test]
fn ack_when_taken_bounds_what_waits_untaken_by_max_in_flight() {
    let mut w = World::default_world();
    let s = w.session(ConnectOptions {
        ack_when_taken: true,
        ..opts("slow-reader")
    });
    assert_eq!(w.session_events(s), [ClientEvent::Connected]);
    let now = w.now;
    for i in 0..10 {
        w.sess(s)
            .publish(now, "foo", Bytes::from(format!("m{i}")))
            .unwrap();
    }
    w.pump();
    assert_eq!(acks(&w.session_events(s)).len(), 10);
    let sub = w
        .sess(s)
        .subscribe(
            now,
            "foo",
            &SubscriptionOptions {
                start: StartAt::First,
                max_in_flight: 3,
                ack_wait: Duration::from_secs(60),
                ..Default::default()
            },
        )
        .unwrap();
    w.pump();
    // Nothing taken yet: only max_in_flight messages come, and no more
    // while time passes (short of the ack wait).
    assert_eq!(
        messages(&w.session_events(s))
            .iter()
            .map(|m| m.0)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    w.advance(Duration::from_secs(10));
    assert!(messages(&w.session_events(s)).is_empty());
    // Taking two lets two more in.
    let now = w.now;
    w.sess(s).taken(now, sub, 1);
    w.sess(s).taken(now, sub, 2);
    w.pump();
    let got: Vec<u64> = messages(&w.session_events(s)).iter().map(|m| m.0).collect();
    assert_eq!(got, [4, 5]);
    // Taking the rest as they come drains the channel, with no redelivery.
    let mut next = 3;
    let mut seen = vec![3, 4, 5];
    while next <= 10 {
        let now = w.now;
        w.sess(s).taken(now, sub, next);
        next += 1;
        w.pump();
        seen.extend(messages(&w.session_events(s)).iter().map(|m| m.0));
    }
    assert_eq!(seen, (3..=10).collect::<Vec<_>>());
    w.advance(Duration::from_secs(120));
    assert!(messages(&w.session_events(s)).is_empty());
}

#[test]
fn taken_sends_nothing_without_the_option_or_on_manual_ack() {
    let mut w = World::default_world();
    let s = connected(&mut w, "me");
    let now = w.now;
    w.sess(s)
        .publish(now, "foo", Bytes::from_static(b"one"))
        .unwrap();
    let manual = w
        .sess(s)
        .subscribe(
            now,
            "foo",
            &SubscriptionOptions {
                start: StartAt::First,
                manual_ack: true,
                ack_wait: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
    w.pump();
    assert_eq!(messages(&w.session_events(s)).len(), 1);
    // Taking a manual-ack message is not acking it: it comes again.
    let now = w.now;
    w.sess(s).taken(now, manual, 1);
    w.advance(Duration::from_secs(2));
    let again = messages(&w.session_events(s));
    assert!(
        !again.is_empty() && again.iter().all(|m| m.0 == 1 && m.1),
        "{again:?}"
    );
    // An unknown subscription takes nothing, and nothing breaks.
    let now = w.now;
    w.sess(s).taken(now, SubId(999), 1);
    w.pump();
}
