//! Router tests in the simulation world: raw peers drive sessions with
//! bytes over links, the router's output is decoded with the client-side
//! decoder, on the world's virtual clock.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::flow::stall_duration;
use super::routing::NO_RESPONDERS_HDR;
use super::*;
use crate::nats::codec::ServerOp;
use crate::nats::subject;
use crate::sim::{Dir, World, DEFAULT_CAPACITY};

mod flow;
mod log;
mod reload;
mod snapshot;
mod verify;

fn world(config: RouterConfig) -> World {
    World::with_router(config)
}

/// The sessions the router closed since the last look at its events.
fn closed(w: &mut World) -> Vec<(ConnId, CloseReason)> {
    w.router_events()
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::SessionClosed { conn, reason } => Some((conn, reason)),
            _ => None,
        })
        .collect()
}

const QUIET: &str =
    r#"{"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":true}"#;

fn msgs(ops: &[ServerOp]) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    ops.iter()
        .filter_map(|op| match op {
            ServerOp::Msg(m) => Some((
                String::from_utf8_lossy(m.subject()).into_owned(),
                String::from_utf8_lossy(m.sid()).into_owned(),
                m.reply().map(|r| String::from_utf8_lossy(r).into_owned()),
                m.payload().to_vec(),
            )),
            _ => None,
        })
        .collect()
}

fn err(text: &str) -> ServerOp {
    ServerOp::Err(Bytes::copy_from_slice(text.as_bytes()))
}

fn info_json(ops: &[ServerOp]) -> serde_json::Value {
    match &ops[0] {
        ServerOp::Info(j) => serde_json::from_slice(j).unwrap(),
        other => panic!("expected INFO first, got {other:?}"),
    }
}

#[test]
fn info_on_accept_has_the_a3_fields() {
    let mut w = world(RouterConfig {
        port: 4333,
        ..RouterConfig::default()
    });
    let c = w.peer();
    let info = info_json(&w.read(c));
    for key in ["server_id", "server_name", "version", "go", "host"] {
        assert!(info[key].is_string(), "{key}");
    }
    assert_eq!(info["proto"], 1);
    assert_eq!(info["port"], 4333);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert_eq!(info["client_id"], 1);
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert!(info.get("auth_required").is_none());
    let id = info["server_id"].as_str().unwrap();
    assert!(id.len() == 56 && id.starts_with('N'));

    let mut w = world(RouterConfig {
        auth: Auth::Token("t".into()),
        ..RouterConfig::default()
    });
    let c = w.peer();
    assert_eq!(info_json(&w.read(c))["auth_required"], true);
}

#[test]
fn verbose_is_the_default_before_and_without_connect_fields() {
    let mut w = world(RouterConfig::default());
    let c = w.peer();
    w.read(c);
    w.send(c, "PING\r\n");
    assert_eq!(w.read(c), vec![ServerOp::Pong], "PING before CONNECT");
    w.send(c, "CONNECT {}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1\r\n");
    let ops = w.read(c);
    assert_eq!(ops.iter().filter(|o| **o == ServerOp::Ok).count(), 4);
    assert_eq!(msgs(&ops).len(), 1);
    let q = w.peer_connected(QUIET);
    w.send(q, "SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(msgs(&w.read(q)).len(), 1);
}

#[test]
fn literal_and_wildcard_delivery_carry_published_subject_and_sid() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(
        s,
        "SUB foo.bar 1\r\nSUB foo.* 2\r\nSUB foo.> 3\r\nSUB >  4\r\n",
    );
    w.send(
        p,
        "PUB foo.bar r.1 2\r\nhi\r\nPUB foo.bar.baz 0\r\n\r\nPUB foo 1\r\nz\r\n",
    );
    let got = msgs(&w.read(s));
    let sids = |subj: &str| {
        let mut v: Vec<String> = got
            .iter()
            .filter(|m| m.0 == subj)
            .map(|m| m.1.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(sids("foo.bar"), ["1", "2", "3", "4"]);
    assert_eq!(sids("foo.bar.baz"), ["3", "4"]);
    assert_eq!(sids("foo"), ["4"]);
    assert!(got
        .iter()
        .filter(|m| m.0 == "foo.bar")
        .all(|m| m.2.as_deref() == Some("r.1") && m.3 == b"hi"));
    assert!(w.read(p).is_empty(), "publisher has no subscriptions");
}

#[test]
fn echo_off_suppresses_own_messages() {
    let mut w = world(RouterConfig::default());
    let a = w.peer_connected(r#"{"verbose":false,"echo":false}"#);
    let b = w.peer_connected(QUIET);
    w.send(a, "SUB x 1\r\n");
    w.send(b, "SUB x 1\r\n");
    w.send(a, "PUB x 1\r\n1\r\n");
    assert!(msgs(&w.read(a)).is_empty());
    assert_eq!(msgs(&w.read(b)).len(), 1);
    w.send(b, "PUB x 1\r\n2\r\n");
    assert_eq!(msgs(&w.read(a)).len(), 1);
}

#[test]
fn queue_groups_deliver_to_one_member_each_and_spread_load() {
    let mut w = world(RouterConfig::default());
    let members: Vec<ConnId> = (0..3).map(|_| w.peer_connected(QUIET)).collect();
    for m in &members {
        w.send(*m, "SUB work workers 1\r\n");
    }
    let other = w.peer_connected(QUIET);
    w.send(other, "SUB work others 7\r\nSUB work 8\r\n");
    let p = w.peer_connected(QUIET);
    for i in 0..300 {
        w.send(p, &format!("PUB work {}\r\n{i}\r\n", i.to_string().len()));
    }
    let counts: Vec<usize> = members.iter().map(|m| msgs(&w.read(*m)).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300, "{counts:?}");
    assert!(counts.iter().all(|&c| c >= 60), "spread: {counts:?}");
    let other_msgs = msgs(&w.read(other));
    assert_eq!(other_msgs.iter().filter(|m| m.1 == "7").count(), 300);
    assert_eq!(other_msgs.iter().filter(|m| m.1 == "8").count(), 300);
    // A member leaving: the rest take everything.
    w.send(members[0], "UNSUB 1\r\n");
    for _ in 0..50 {
        w.send(p, "PUB work 1\r\nx\r\n");
    }
    assert!(msgs(&w.read(members[0])).is_empty());
    let rest: usize = members[1..].iter().map(|m| msgs(&w.read(*m)).len()).sum();
    assert_eq!(rest, 50);
}

#[test]
fn unsub_with_max_removes_after_that_many_deliveries() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB a 1\r\nSUB a 2\r\n");
    w.send(p, "PUB a 0\r\n\r\n");
    w.send(s, "UNSUB 1 3\r\nUNSUB 2 1\r\n"); // sid 2 already had 1: removed now
    for _ in 0..5 {
        w.send(p, "PUB a 0\r\n\r\n");
    }
    let got = msgs(&w.read(s));
    assert_eq!(got.iter().filter(|m| m.1 == "1").count(), 3);
    assert_eq!(got.iter().filter(|m| m.1 == "2").count(), 1);
    assert_eq!(w.router.subscription_count(), 0);
    w.send(s, "UNSUB 99\r\n"); // unknown sid: ignored
    assert!(closed(&mut w).is_empty());
}

#[test]
fn duplicate_sid_keeps_the_first_subscription() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    w.send(s, "SUB a 1\r\nSUB b 1\r\n");
    assert_eq!(w.router.subscription_count(), 1);
    w.send(s, "PUB b 0\r\n\r\nPUB a 0\r\n\r\n");
    let got = msgs(&w.read(s));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "a");
}

#[test]
fn no_responders_status_goes_to_the_requesters_reply_subscription() {
    let mut w = world(RouterConfig::default());
    let c = w.peer_connected(QUIET);
    w.send(c, "SUB _INBOX.abc.* 9\r\nPUB svc _INBOX.abc.1 2\r\nhi\r\n");
    assert_eq!(
        w.raw(c),
        b"HMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".to_vec()
    );
    // Without no_responders: nothing; with a responder: the request.
    let plain = w.peer_connected(r#"{"verbose":false,"headers":true}"#);
    w.send(plain, "SUB _INBOX.x 1\r\nPUB svc _INBOX.x 0\r\n\r\n");
    assert!(w.raw(plain).is_empty());
    let responder = w.peer_connected(QUIET);
    w.send(responder, "SUB svc 1\r\n");
    w.send(c, "PUB svc _INBOX.abc.2 2\r\nhi\r\n");
    assert!(w.raw(c).is_empty());
    let req = msgs(&w.read(responder));
    assert_eq!(req[0].2.as_deref(), Some("_INBOX.abc.2"));
}

#[test]
fn headers_delivered_to_header_clients_and_stripped_for_others() {
    let mut w = world(RouterConfig::default());
    let h = w.peer_connected(QUIET);
    let plain = w.peer_connected(r#"{"verbose":false}"#);
    w.send(h, "SUB s 1\r\n");
    w.send(plain, "SUB s 2\r\n");
    let block = "NATS/1.0\r\nA: 1\r\n\r\n";
    let hpub = format!(
        "HPUB s {} {}\r\n{block}body\r\n",
        block.len(),
        block.len() + 4
    );
    w.send(h, &hpub);
    assert_eq!(
        w.raw(h),
        format!(
            "HMSG s 1 {} {}\r\n{block}body\r\n",
            block.len(),
            block.len() + 4
        )
        .into_bytes()
    );
    assert_eq!(w.raw(plain), b"MSG s 2 4\r\nbody\r\n".to_vec());
    // HPUB from a client that did not declare headers closes it.
    w.send(plain, &hpub);
    assert_eq!(w.read(plain), vec![err("Unknown Protocol Operation")]);
    assert_eq!(
        closed(&mut w),
        vec![(plain, CloseReason::HeadersNotSupported)]
    );
}

#[test]
fn keepalive_pings_and_stale_connection_on_virtual_time() {
    let mut w = world(RouterConfig::default());
    let lively = w.peer_connected(QUIET);
    let silent = w.peer_connected(QUIET);
    // First PING after 2 s (+ up to 20 %), as an RTT probe.
    w.advance(Duration::from_millis(1999));
    assert!(w.read(silent).is_empty());
    w.advance(Duration::from_millis(402));
    assert_eq!(w.read(silent), vec![ServerOp::Ping]);
    assert_eq!(w.read(lively), vec![ServerOp::Ping]);
    w.send(lively, "PONG\r\n");
    // The lively client answers every PING for an hour.
    let hour = w.now + Duration::from_secs(3600);
    while w.now < hour {
        w.advance(Duration::from_secs(10));
        if w.read(lively).contains(&ServerOp::Ping) {
            w.send(lively, "PONG\r\n");
        }
    }
    // The silent one was declared stale after the probe plus two intervals.
    let closed = closed(&mut w);
    assert_eq!(closed, vec![(silent, CloseReason::StaleConnection)]);
    let ops = w.read(silent);
    assert_eq!(ops, vec![ServerOp::Ping, err("Stale Connection")]);
    // Closed by the router, then by the world as its driver.
    assert!(w.peer_closed(silent));
    assert_eq!(w.router.session_phase(silent), None);
    assert_eq!(w.router.session_phase(lively), Some(SessionPhase::Open));
}

#[test]
fn stale_connection_timing_is_probe_plus_two_intervals() {
    let mut w = world(RouterConfig {
        ping_interval: Duration::from_secs(100),
        ..RouterConfig::default()
    });
    let c = w.peer_connected(QUIET);
    let start = w.now;
    w.advance(Duration::from_millis(2400)); // probe sent
    w.advance(Duration::from_secs(100)); // second PING
    assert!(closed(&mut w).is_empty());
    w.advance(Duration::from_secs(99));
    assert!(closed(&mut w).is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(closed(&mut w), vec![(c, CloseReason::StaleConnection)]);
    assert!(w.now - start <= Duration::from_millis(2400 + 201_000));
}

#[test]
fn activity_delays_keepalive_pings() {
    let mut w = world(RouterConfig {
        ping_interval: Duration::from_secs(60),
        ..RouterConfig::default()
    });
    let c = w.peer_connected(QUIET);
    w.advance(Duration::from_secs(3));
    assert_eq!(w.read(c), vec![ServerOp::Ping]);
    w.send(c, "PONG\r\n");
    for _ in 0..20 {
        w.advance(Duration::from_secs(30));
        w.send(c, "PUB x 0\r\n\r\n");
    }
    assert!(w.read(c).is_empty(), "no PING while the client is active");
    assert!(closed(&mut w).is_empty());
}

#[test]
fn auth_user_pass_token_and_violations() {
    let cfg = RouterConfig {
        auth: Auth::UserPass {
            user: "alice".into(),
            pass: "s3cret".into(),
        },
        ..RouterConfig::default()
    };
    let mut w = world(cfg);
    let good = w.peer_connected(r#"{"verbose":false,"user":"alice","pass":"s3cret"}"#);
    assert!(closed(&mut w).is_empty());
    w.send(good, "PING\r\n");
    assert_eq!(w.read(good), vec![ServerOp::Pong]);

    let bad = w.peer();
    w.read(bad);
    w.send(bad, r#"CONNECT {"user":"alice","pass":"nope"}"#);
    w.send(bad, "\r\nPING\r\n");
    assert_eq!(w.read(bad), vec![err("Authorization Violation")]);
    assert_eq!(
        closed(&mut w),
        vec![(bad, CloseReason::AuthorizationViolation)]
    );

    let early = w.peer();
    w.read(early);
    w.send(early, "PING\r\n");
    assert_eq!(w.read(early), vec![err("Authorization Violation")]);
    assert_eq!(
        closed(&mut w),
        vec![(early, CloseReason::AuthorizationViolation)]
    );

    let none = w.peer();
    w.read(none);
    w.send(none, "CONNECT {}\r\n");
    assert_eq!(w.read(none), vec![err("Authorization Violation")]);

    let mut w = world(RouterConfig {
        auth: Auth::Token("t0ken".into()),
        ..RouterConfig::default()
    });
    let t = w.peer_connected(r#"{"verbose":false,"auth_token":"t0ken"}"#);
    assert_eq!(w.router.session_phase(t), Some(SessionPhase::Open));
    let u = w.peer_connected(r#"{"auth_token":"t0ke"}"#);
    assert!(w.peer_closed(u), "closed by the router");
    assert_eq!(w.router.session_phase(u), None);
}

#[test]
fn bcrypt_password_is_accepted() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let mut w = world(RouterConfig {
        auth: Auth::UserPass {
            user: "alice".into(),
            pass: hash,
        },
        ..RouterConfig::default()
    });
    let ok = w.peer_connected(r#"{"user":"alice","pass":"s3cret"}"#);
    assert_eq!(w.router.session_phase(ok), Some(SessionPhase::Open));
    let bad = w.peer_connected(r#"{"user":"alice","pass":"s3cre"}"#);
    assert!(w.peer_closed(bad), "closed by the router");
    assert_eq!(w.router.session_phase(bad), None);
}

#[test]
fn authentication_timeout() {
    let mut w = world(RouterConfig {
        auth: Auth::Token("t".into()),
        ..RouterConfig::default()
    });
    let slow = w.peer();
    let quick = w.peer();
    w.send(quick, r#"CONNECT {"auth_token":"t","verbose":false}"#);
    w.send(quick, "\r\n");
    w.advance(Duration::from_millis(1999));
    assert!(closed(&mut w).is_empty());
    w.advance(Duration::from_millis(1));
    assert_eq!(
        closed(&mut w),
        vec![(slow, CloseReason::AuthenticationTimeout)]
    );
    assert_eq!(w.read(slow)[1], err("Authentication Timeout"));
    assert_eq!(w.router.session_phase(quick), Some(SessionPhase::Open));
}

#[test]
fn protocol_errors_send_the_exact_err_and_close() {
    let cases: [(&[u8], Option<&str>); 6] = [
        (b"FOO\r\n", Some("Unknown Protocol Operation")),
        (b"PUB a 2\r\nabcd\r\n", Some("Unknown Protocol Operation")),
        (b"PUB a 2000000\r\n", Some("Maximum Payload Violation")),
        (b"SUB a\r\n", None),
        (b"PUB a b c d\r\n", None),
        (b"CONNECT {nope}\r\n", None),
    ];
    for (input, text) in cases {
        let mut w = world(RouterConfig::default());
        let c = w.peer();
        w.read(c);
        w.send_bytes(c, input);
        let ops = w.read(c);
        match text {
            Some(t) => assert_eq!(ops, vec![err(t)], "{:?}", String::from_utf8_lossy(input)),
            None => assert!(ops.is_empty(), "{:?}", String::from_utf8_lossy(input)),
        }
        assert_eq!(closed(&mut w).len(), 1);
        // Input after the close is ignored.
        w.send(c, "PING\r\n");
        assert!(w.read(c).is_empty());
    }
    let mut w = world(RouterConfig::default());
    let c = w.peer();
    w.read(c);
    let long = format!("SUB {} 1\r\n", "a".repeat(5000));
    w.send(c, &long);
    assert_eq!(w.read(c), vec![err("maximum control line exceeded")]);
}

#[test]
fn connect_checks() {
    for (json, text, reason) in [
        (
            r#"{"protocol":2}"#,
            "invalid client protocol",
            CloseReason::BadClientProtocol,
        ),
        (
            r#"{"protocol":-1}"#,
            "invalid client protocol",
            CloseReason::BadClientProtocol,
        ),
        (
            r#"{"no_responders":true}"#,
            "no responders requires headers support",
            CloseReason::NoRespondersRequiresHeaders,
        ),
        (
            r#"{"account":"A"}"#,
            "Authorization Violation",
            CloseReason::AuthorizationViolation,
        ),
    ] {
        let mut w = world(RouterConfig::default());
        let c = w.peer();
        w.read(c);
        w.send(c, &format!("CONNECT {json}\r\n"));
        assert_eq!(w.read(c), vec![err(text)], "{json}");
        assert_eq!(closed(&mut w), vec![(c, reason)]);
    }
}

#[test]
fn invalid_subjects_keep_the_connection_open() {
    let mut w = world(RouterConfig::default());
    let c = w.peer_connected(r#"{"verbose":false}"#);
    w.send(
        c,
        "SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB .a 3\r\nPUB a.* 0\r\n\r\nPING\r\n",
    );
    assert_eq!(
        w.read(c),
        vec![
            err("Invalid Subject"),
            err("Invalid Subject"),
            err("Invalid Subject"),
            err("Invalid Publish Subject"),
            ServerOp::Pong
        ]
    );
    assert!(closed(&mut w).is_empty());
    assert_eq!(w.router.subscription_count(), 0);
}

#[test]
fn max_connections_and_max_subscriptions() {
    let mut w = world(RouterConfig {
        max_connections: 2,
        max_subscriptions: 2,
        ..RouterConfig::default()
    });
    let a = w.peer_connected(QUIET);
    let _b = w.peer_connected(QUIET);
    let c = w.peer();
    let ops = w.read(c);
    assert!(matches!(ops[0], ServerOp::Info(_)));
    assert_eq!(ops[1], err("maximum connections exceeded"));
    assert_eq!(
        closed(&mut w),
        vec![(c, CloseReason::MaxConnectionsExceeded)]
    );
    assert!(w.peer_closed(c), "the world closed its transport");
    w.hang_up(_b);
    let d = w.peer_connected(QUIET);
    assert_eq!(w.router.session_phase(d), Some(SessionPhase::Open));

    w.send(a, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
    assert_eq!(
        w.read(a),
        vec![err("maximum subscriptions exceeded"), ServerOp::Pong]
    );
    assert_eq!(w.router.subscription_count(), 2);
}

#[test]
fn transport_closed_removes_subscriptions_and_frees_the_id() {
    let mut w = world(RouterConfig::default());
    let a = w.peer_connected(QUIET);
    w.send(a, "SUB x 1\r\nSUB y q 2\r\n");
    assert_eq!(w.router.subscription_count(), 2);
    w.cut(a);
    assert_eq!(w.router.subscription_count(), 0);
    assert_eq!(w.router.connection_count(), 0);
    assert_eq!(w.router.session_phase(a), None);
    let b = w.peer();
    assert_ne!(a, b, "ids are not reused");
    // Input for a stale id is ignored.
    let mut ping = BytesMut::from("PING\r\n");
    w.router.handle_input(w.now, a, &mut ping);
    assert!(w.router.poll_transmit(a).is_none());
}

#[test]
fn local_sessions_exchange_messages_with_wire_clients() {
    let mut w = world(RouterConfig::default());
    let local = w.router.attach_local(w.now, LocalOptions::default());
    w.router
        .local_subscribe(w.now, local, b"_STAN.pub.>", None, b"1")
        .unwrap();
    let c = w.peer_connected(QUIET);
    w.send(
        c,
        "SUB _INBOX.r 5\r\nPUB _STAN.pub.x.foo _INBOX.r 3\r\nabc\r\n",
    );
    assert!(w.router_events().contains(&RouterEvent::OutputReady(local)));
    let d = w.router.poll_delivery(local).unwrap();
    assert_eq!(&d.subject[..], b"_STAN.pub.x.foo");
    assert_eq!(&d.sid[..], b"1");
    assert_eq!(d.reply.as_deref(), Some(&b"_INBOX.r"[..]));
    assert_eq!(&d.payload[..], b"abc");
    assert!(w.router.poll_delivery(local).is_none());
    w.router
        .local_publish(
            w.now,
            local,
            d.reply.unwrap(),
            None,
            None,
            Bytes::from_static(b"ack"),
        )
        .unwrap();
    assert_eq!(w.raw(c), b"MSG _INBOX.r 5 3\r\nack\r\n".to_vec());

    // A local request to nobody gets the 503 status.
    w.router
        .local_subscribe(w.now, local, b"_INBOX.me.*", None, b"2")
        .unwrap();
    w.router
        .local_publish(
            w.now,
            local,
            Bytes::from_static(b"nobody"),
            Some(Bytes::from_static(b"_INBOX.me.1")),
            None,
            Bytes::new(),
        )
        .unwrap();
    let d = w.router.poll_delivery(local).unwrap();
    assert_eq!(d.headers.as_deref(), Some(NO_RESPONDERS_HDR));
    assert_eq!(&d.sid[..], b"2");

    // Bad commands are refused with typed errors.
    assert_eq!(
        w.router.local_publish(
            w.now,
            local,
            Bytes::from_static(b"a.*"),
            None,
            None,
            Bytes::new()
        ),
        Err(LocalError::InvalidSubject(subject::SubjectError::Wildcard))
    );
    assert!(matches!(
        w.router.local_publish(
            w.now,
            local,
            Bytes::from_static(b"a"),
            None,
            None,
            Bytes::from(vec![0; 2 << 20])
        ),
        Err(LocalError::MaxPayload { .. })
    ));
    assert_eq!(
        w.router.local_subscribe(w.now, c, b"a", None, b"1"),
        Err(LocalError::NoSession)
    );
}

#[test]
fn shutdown_closes_everyone_and_flushes() {
    let mut w = world(RouterConfig::default());
    let a = w.peer_connected(QUIET);
    let b = w.peer_connected(QUIET);
    w.send(a, "SUB x 1\r\n");
    w.send(b, "PUB x 1\r\n1\r\n");
    w.router.shutdown(w.now);
    let closed = closed(&mut w);
    assert_eq!(closed.len(), 2);
    assert!(closed
        .iter()
        .all(|(_, r)| *r == CloseReason::ServerShutdown));
    assert_eq!(
        msgs(&w.read(a)).len(),
        1,
        "pending output survives shutdown"
    );
    assert_eq!(w.router.connection_count(), 0);
    assert_eq!(w.router.poll_timeout(), None);
}

#[test]
fn output_ready_is_edge_triggered() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    let p = w.peer_connected(QUIET);
    w.send(s, "SUB x 1\r\n");
    w.router_events();
    // s's link takes nothing for now: the world holds the chunk it took.
    w.configure(s, Dir::Down, |p| p.capacity = 0);
    w.send(p, "PUB x 0\r\n\r\nPUB x 0\r\n\r\n");
    assert_eq!(w.router_events(), vec![RouterEvent::OutputReady(s)]);
    w.send(p, "PUB x 0\r\n\r\n");
    assert!(
        w.router_events().is_empty(),
        "not drained yet: no new event"
    );
    w.configure(s, Dir::Down, |p| p.capacity = DEFAULT_CAPACITY);
    w.raw(s);
    w.send(p, "PUB x 0\r\n\r\n");
    assert_eq!(w.router_events(), vec![RouterEvent::OutputReady(s)]);
}

/// A large number of subscriptions with wildcards still routes correctly.
#[test]
fn many_subscriptions() {
    let mut w = world(RouterConfig::default());
    let s = w.peer_connected(QUIET);
    let mut batch = String::new();
    for i in 0..20_000 {
        batch.push_str(&format!("SUB dev.{i}.temp {i}\r\n"));
    }
    batch.push_str("SUB dev.*.temp all\r\nSUB dev.> any\r\n");
    w.send(s, &batch);
    assert_eq!(w.router.subscription_count(), 20_002);
    w.send(s, "PUB dev.12345.temp 0\r\n\r\n");
    let mut sids: Vec<String> = msgs(&w.read(s)).into_iter().map(|m| m.1).collect();
    sids.sort();
    assert_eq!(sids, ["12345", "all", "any"]);
}

#[test]
fn only_slow_consumers_skip_the_final_flush() {
    assert!(!CloseReason::SlowConsumer(SlowConsumer::MaxPending).flushes_output());
    assert!(!CloseReason::SlowConsumer(SlowConsumer::WriteDeadline).flushes_output());
    for r in [
        CloseReason::StaleConnection,
        CloseReason::AuthorizationViolation,
        CloseReason::ServerShutdown,
        CloseReason::MaxConnectionsExceeded,
    ] {
        assert!(r.flushes_output(), "{r:?}");
    }
}

#[test]
fn tls_required_and_verify_are_announced_only_when_set() {
    let mut w = world(RouterConfig::default());
    let c = w.peer();
    let info = info_json(&w.read(c));
    assert!(info.get("tls_required").is_none() && info.get("tls_verify").is_none());

    let mut w = world(RouterConfig {
        tls_required: true,
        tls_verify: true,
        ..RouterConfig::default()
    });
    let c = w.peer();
    let info = info_json(&w.read(c));
    assert_eq!(
        (&info["tls_required"], &info["tls_verify"]),
        (&true.into(), &true.into())
    );
}

/// A plain-text client, or one that never completes the handshake, gets
/// nats-server's `-ERR 'Secure Connection - TLS Required'` (written by
/// the adapter in plain text) and is closed; a failed handshake closes
/// without `-ERR` (the client got the TLS alert). Both are logged as
/// nats-server logs them.
#[test]
fn tls_failures_close_as_nats_server_does() {
    let mut w = world(RouterConfig {
        tls_required: true,
        debug: true,
        ..RouterConfig::default()
    });
    let cases = [
        (TlsFailure::NotTls, CloseReason::TlsRequired),
        (TlsFailure::Timeout, CloseReason::TlsRequired),
        (
            TlsFailure::Handshake("peer sent no certificates".into()),
            CloseReason::TlsHandshake("peer sent no certificates".into()),
        ),
    ];
    for (failure, reason) in cases {
        let c = w.peer();
        w.read(c);
        w.router_events();
        let now = w.now;
        w.router.handle_tls_failed(now, c, failure.clone());
        let events = w.router_events();
        assert!(
            events.contains(&RouterEvent::SessionClosed {
                conn: c,
                reason: reason.clone()
            }),
            "{failure:?}: {events:?}"
        );
        let logs: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                RouterEvent::Log(r) => Some(r.message.to_string()),
                _ => None,
            })
            .collect();
        let first = match &failure {
            TlsFailure::NotTls => {
                "TLS handshake error: tls: first record does not look like a TLS handshake"
            }
            TlsFailure::Timeout => "TLS handshake timeout",
            _ => "TLS handshake error: peer sent no certificates",
        };
        assert_eq!(
            logs,
            [first, "Client connection closed: TLS Handshake Error"],
            "{failure:?}"
        );
        let ops = w.read(c);
        match reason {
            CloseReason::TlsRequired => {
                assert_eq!(ops, [err("Secure Connection - TLS Required")]);
            }
            _ => assert!(ops.is_empty(), "{ops:?}"),
        }
        assert!(w.peer_closed(c));
        assert_eq!(reason.state_text(), "TLS Handshake Error");
    }
    assert_eq!(w.router.connection_count(), 0);
}
