//! Router tests on a virtual clock: sessions are driven with bytes, the
//! router's output is decoded with the client-side decoder.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::nats::codec::{ServerOp, ServerOpDecoder};

mod flow;
mod log;

struct World {
    router: Router,
    now: Instant,
    /// Per-connection input buffers (partial ops stay between sends).
    inputs: std::collections::HashMap<ConnId, BytesMut>,
}

impl World {
    fn new(config: RouterConfig) -> Self {
        let now = Instant::now();
        World {
            router: Router::new(config, now),
            now,
            inputs: Default::default(),
        }
    }

    fn accept(&mut self) -> ConnId {
        self.router.handle_accept(self.now, "127.0.0.1:40000")
    }

    /// Accepts and connects with `connect` JSON; discards INFO (and +OK).
    fn client(&mut self, connect: &str) -> ConnId {
        let c = self.accept();
        self.send(c, &format!("CONNECT {connect}\r\n"));
        self.read(c);
        c
    }

    fn send(&mut self, c: ConnId, text: &str) {
        self.send_bytes(c, text.as_bytes());
    }

    fn send_bytes(&mut self, c: ConnId, bytes: &[u8]) {
        let buf = self.inputs.entry(c).or_default();
        buf.extend_from_slice(bytes);
        self.router.handle_input(self.now, c, buf);
    }

    /// Feeds `c` the input it left unprocessed (after a stall).
    fn resume(&mut self, c: ConnId) {
        let buf = self.inputs.entry(c).or_default();
        self.router.handle_input(self.now, c, buf);
    }

    /// Bytes `c`'s input buffer still holds (a stalled producer's backlog).
    fn unread(&self, c: ConnId) -> usize {
        self.inputs.get(&c).map_or(0, BytesMut::len)
    }

    /// Takes `c`'s output and reports it written.
    fn raw(&mut self, c: ConnId) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(chunk) = self.router.poll_transmit(c) {
            v.extend_from_slice(&chunk);
            self.router.handle_written(self.now, c, chunk.len());
        }
        v
    }

    /// Takes `c`'s output without reporting it written (a write in
    /// progress).
    fn take_unwritten(&mut self, c: ConnId) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(chunk) = self.router.poll_transmit(c) {
            v.extend_from_slice(&chunk);
        }
        v
    }

    fn read(&mut self, c: ConnId) -> Vec<ServerOp> {
        let mut buf = BytesMut::from(&self.raw(c)[..]);
        let mut dec = ServerOpDecoder::new(Limits {
            max_control_line: 1 << 20,
            max_payload: 1 << 30,
        });
        let mut ops = Vec::new();
        while let Some(op) = dec.decode(&mut buf).expect("router output decodes") {
            ops.push(op);
        }
        assert!(buf.is_empty(), "router output ends on an op boundary");
        ops
    }

    fn events(&mut self) -> Vec<RouterEvent> {
        std::iter::from_fn(|| self.router.poll_event()).collect()
    }

    fn closed(&mut self) -> Vec<(ConnId, CloseReason)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                RouterEvent::SessionClosed { conn, reason } => Some((conn, reason)),
                _ => None,
            })
            .collect()
    }

    /// Moves the clock to `at`, firing every deadline on the way in order.
    fn advance_to(&mut self, at: Instant) {
        while let Some(deadline) = self.router.poll_timeout() {
            if deadline > at {
                break;
            }
            self.now = self.now.max(deadline);
            self.router.handle_timeout(self.now);
            assert!(
                self.router.poll_timeout().is_none_or(|d| d > self.now),
                "no deadline may remain at or before now"
            );
        }
        self.now = at;
        self.router.handle_timeout(at);
    }

    fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + d);
    }
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
    let mut w = World::new(RouterConfig {
        port: 4333,
        ..RouterConfig::default()
    });
    let c = w.accept();
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

    let mut w = World::new(RouterConfig {
        auth: Auth::Token("t".into()),
        ..RouterConfig::default()
    });
    let c = w.accept();
    assert_eq!(info_json(&w.read(c))["auth_required"], true);
}

#[test]
fn verbose_is_the_default_before_and_without_connect_fields() {
    let mut w = World::new(RouterConfig::default());
    let c = w.accept();
    w.read(c);
    w.send(c, "PING\r\n");
    assert_eq!(w.read(c), vec![ServerOp::Pong], "PING before CONNECT");
    w.send(c, "CONNECT {}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1\r\n");
    let ops = w.read(c);
    assert_eq!(ops.iter().filter(|o| **o == ServerOp::Ok).count(), 4);
    assert_eq!(msgs(&ops).len(), 1);
    let q = w.client(QUIET);
    w.send(q, "SUB a 1\r\nPUB a 1\r\nx\r\n");
    assert_eq!(msgs(&w.read(q)).len(), 1);
}

#[test]
fn literal_and_wildcard_delivery_carry_published_subject_and_sid() {
    let mut w = World::new(RouterConfig::default());
    let s = w.client(QUIET);
    let p = w.client(QUIET);
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
    let mut w = World::new(RouterConfig::default());
    let a = w.client(r#"{"verbose":false,"echo":false}"#);
    let b = w.client(QUIET);
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
    let mut w = World::new(RouterConfig::default());
    let members: Vec<ConnId> = (0..3).map(|_| w.client(QUIET)).collect();
    for m in &members {
        w.send(*m, "SUB work workers 1\r\n");
    }
    let other = w.client(QUIET);
    w.send(other, "SUB work others 7\r\nSUB work 8\r\n");
    let p = w.client(QUIET);
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
    let mut w = World::new(RouterConfig::default());
    let s = w.client(QUIET);
    let p = w.client(QUIET);
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
    assert!(w.closed().is_empty());
}

#[test]
fn duplicate_sid_keeps_the_first_subscription() {
    let mut w = World::new(RouterConfig::default());
    let s = w.client(QUIET);
    w.send(s, "SUB a 1\r\nSUB b 1\r\n");
    assert_eq!(w.router.subscription_count(), 1);
    w.send(s, "PUB b 0\r\n\r\nPUB a 0\r\n\r\n");
    let got = msgs(&w.read(s));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "a");
}

#[test]
fn no_responders_status_goes_to_the_requesters_reply_subscription() {
    let mut w = World::new(RouterConfig::default());
    let c = w.client(QUIET);
    w.send(c, "SUB _INBOX.abc.* 9\r\nPUB svc _INBOX.abc.1 2\r\nhi\r\n");
    assert_eq!(
        w.raw(c),
        b"HMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n".to_vec()
    );
    // Without no_responders: nothing; with a responder: the request.
    let plain = w.client(r#"{"verbose":false,"headers":true}"#);
    w.send(plain, "SUB _INBOX.x 1\r\nPUB svc _INBOX.x 0\r\n\r\n");
    assert!(w.raw(plain).is_empty());
    let responder = w.client(QUIET);
    w.send(responder, "SUB svc 1\r\n");
    w.send(c, "PUB svc _INBOX.abc.2 2\r\nhi\r\n");
    assert!(w.raw(c).is_empty());
    let req = msgs(&w.read(responder));
    assert_eq!(req[0].2.as_deref(), Some("_INBOX.abc.2"));
}

#[test]
fn headers_delivered_to_header_clients_and_stripped_for_others() {
    let mut w = World::new(RouterConfig::default());
    let h = w.client(QUIET);
    let plain = w.client(r#"{"verbose":false}"#);
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
    assert_eq!(w.closed(), vec![(plain, CloseReason::HeadersNotSupported)]);
}

#[test]
fn keepalive_pings_and_stale_connection_on_virtual_time() {
    let mut w = World::new(RouterConfig::default());
    let lively = w.client(QUIET);
    let silent = w.client(QUIET);
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
    let closed = w.closed();
    assert_eq!(closed, vec![(silent, CloseReason::StaleConnection)]);
    let ops = w.read(silent);
    assert_eq!(ops, vec![ServerOp::Ping, err("Stale Connection")]);
    assert_eq!(w.router.session_phase(silent), Some(SessionPhase::Closing));
    assert_eq!(w.router.session_phase(lively), Some(SessionPhase::Open));
}

#[test]
fn stale_connection_timing_is_probe_plus_two_intervals() {
    let mut w = World::new(RouterConfig {
        ping_interval: Duration::from_secs(100),
        ..RouterConfig::default()
    });
    let c = w.client(QUIET);
    let start = w.now;
    w.advance(Duration::from_millis(2400)); // probe sent
    w.advance(Duration::from_secs(100)); // second PING
    assert!(w.closed().is_empty());
    w.advance(Duration::from_secs(99));
    assert!(w.closed().is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(w.closed(), vec![(c, CloseReason::StaleConnection)]);
    assert!(w.now - start <= Duration::from_millis(2400 + 201_000));
}

#[test]
fn activity_delays_keepalive_pings() {
    let mut w = World::new(RouterConfig {
        ping_interval: Duration::from_secs(60),
        ..RouterConfig::default()
    });
    let c = w.client(QUIET);
    w.advance(Duration::from_secs(3));
    assert_eq!(w.read(c), vec![ServerOp::Ping]);
    w.send(c, "PONG\r\n");
    for _ in 0..20 {
        w.advance(Duration::from_secs(30));
        w.send(c, "PUB x 0\r\n\r\n");
    }
    assert!(w.read(c).is_empty(), "no PING while the client is active");
    assert!(w.closed().is_empty());
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
    let mut w = World::new(cfg);
    let good = w.client(r#"{"verbose":false,"user":"alice","pass":"s3cret"}"#);
    assert!(w.closed().is_empty());
    w.send(good, "PING\r\n");
    assert_eq!(w.read(good), vec![ServerOp::Pong]);

    let bad = w.accept();
    w.read(bad);
    w.send(bad, r#"CONNECT {"user":"alice","pass":"nope"}"#);
    w.send(bad, "\r\nPING\r\n");
    assert_eq!(w.read(bad), vec![err("Authorization Violation")]);
    assert_eq!(w.closed(), vec![(bad, CloseReason::AuthorizationViolation)]);

    let early = w.accept();
    w.read(early);
    w.send(early, "PING\r\n");
    assert_eq!(w.read(early), vec![err("Authorization Violation")]);
    assert_eq!(
        w.closed(),
        vec![(early, CloseReason::AuthorizationViolation)]
    );

    let none = w.accept();
    w.read(none);
    w.send(none, "CONNECT {}\r\n");
    assert_eq!(w.read(none), vec![err("Authorization Violation")]);

    let mut w = World::new(RouterConfig {
        auth: Auth::Token("t0ken".into()),
        ..RouterConfig::default()
    });
    let t = w.client(r#"{"verbose":false,"auth_token":"t0ken"}"#);
    assert_eq!(w.router.session_phase(t), Some(SessionPhase::Open));
    let u = w.client(r#"{"auth_token":"t0ke"}"#);
    assert_eq!(w.router.session_phase(u), Some(SessionPhase::Closing));
}

#[test]
fn bcrypt_password_is_accepted() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let mut w = World::new(RouterConfig {
        auth: Auth::UserPass {
            user: "alice".into(),
            pass: hash,
        },
        ..RouterConfig::default()
    });
    let ok = w.client(r#"{"user":"alice","pass":"s3cret"}"#);
    assert_eq!(w.router.session_phase(ok), Some(SessionPhase::Open));
    let bad = w.client(r#"{"user":"alice","pass":"s3cre"}"#);
    assert_eq!(w.router.session_phase(bad), Some(SessionPhase::Closing));
}

#[test]
fn authentication_timeout() {
    let mut w = World::new(RouterConfig {
        auth: Auth::Token("t".into()),
        ..RouterConfig::default()
    });
    let slow = w.accept();
    let quick = w.accept();
    w.send(quick, r#"CONNECT {"auth_token":"t","verbose":false}"#);
    w.send(quick, "\r\n");
    w.advance(Duration::from_millis(1999));
    assert!(w.closed().is_empty());
    w.advance(Duration::from_millis(1));
    assert_eq!(w.closed(), vec![(slow, CloseReason::AuthenticationTimeout)]);
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
        let mut w = World::new(RouterConfig::default());
        let c = w.accept();
        w.read(c);
        w.send_bytes(c, input);
        let ops = w.read(c);
        match text {
            Some(t) => assert_eq!(ops, vec![err(t)], "{:?}", String::from_utf8_lossy(input)),
            None => assert!(ops.is_empty(), "{:?}", String::from_utf8_lossy(input)),
        }
        assert_eq!(w.closed().len(), 1);
        // Input after the close is ignored.
        w.send(c, "PING\r\n");
        assert!(w.read(c).is_empty());
    }
    let mut w = World::new(RouterConfig::default());
    let c = w.accept();
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
        let mut w = World::new(RouterConfig::default());
        let c = w.accept();
        w.read(c);
        w.send(c, &format!("CONNECT {json}\r\n"));
        assert_eq!(w.read(c), vec![err(text)], "{json}");
        assert_eq!(w.closed(), vec![(c, reason)]);
    }
}

#[test]
fn invalid_subjects_keep_the_connection_open() {
    let mut w = World::new(RouterConfig::default());
    let c = w.client(r#"{"verbose":false}"#);
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
    assert!(w.closed().is_empty());
    assert_eq!(w.router.subscription_count(), 0);
}

#[test]
fn max_connections_and_max_subscriptions() {
    let mut w = World::new(RouterConfig {
        max_connections: 2,
        max_subscriptions: 2,
        ..RouterConfig::default()
    });
    let a = w.client(QUIET);
    let _b = w.client(QUIET);
    let c = w.accept();
    let ops = w.read(c);
    assert!(matches!(ops[0], ServerOp::Info(_)));
    assert_eq!(ops[1], err("maximum connections exceeded"));
    assert_eq!(w.closed(), vec![(c, CloseReason::MaxConnectionsExceeded)]);
    w.router.handle_transport_closed(w.now, c);
    w.router.handle_transport_closed(w.now, _b);
    let d = w.client(QUIET);
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
    let mut w = World::new(RouterConfig::default());
    let a = w.client(QUIET);
    w.send(a, "SUB x 1\r\nSUB y q 2\r\n");
    assert_eq!(w.router.subscription_count(), 2);
    w.router.handle_transport_closed(w.now, a);
    assert_eq!(w.router.subscription_count(), 0);
    assert_eq!(w.router.connection_count(), 0);
    assert_eq!(w.router.session_phase(a), None);
    let b = w.accept();
    assert_ne!(a, b, "ids are not reused");
    w.send(a, "PING\r\n"); // stale id: ignored
    assert!(w.router.poll_transmit(a).is_none());
}

#[test]
fn local_sessions_exchange_messages_with_wire_clients() {
    let mut w = World::new(RouterConfig::default());
    let local = w.router.attach_local(w.now, LocalOptions::default());
    w.router
        .local_subscribe(w.now, local, b"_STAN.pub.>", None, b"1")
        .unwrap();
    let c = w.client(QUIET);
    w.send(
        c,
        "SUB _INBOX.r 5\r\nPUB _STAN.pub.x.foo _INBOX.r 3\r\nabc\r\n",
    );
    assert!(w.events().contains(&RouterEvent::OutputReady(local)));
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
    let mut w = World::new(RouterConfig::default());
    let a = w.client(QUIET);
    let b = w.client(QUIET);
    w.send(a, "SUB x 1\r\n");
    w.send(b, "PUB x 1\r\n1\r\n");
    w.router.shutdown(w.now);
    let closed = w.closed();
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
    let mut w = World::new(RouterConfig::default());
    let s = w.client(QUIET);
    let p = w.client(QUIET);
    w.send(s, "SUB x 1\r\n");
    w.events();
    w.send(p, "PUB x 0\r\n\r\nPUB x 0\r\n\r\n");
    assert_eq!(w.events(), vec![RouterEvent::OutputReady(s)]);
    w.send(p, "PUB x 0\r\n\r\n");
    assert!(w.events().is_empty(), "not drained yet: no new event");
    w.raw(s);
    w.send(p, "PUB x 0\r\n\r\n");
    assert_eq!(w.events(), vec![RouterEvent::OutputReady(s)]);
}

/// A large number of subscriptions with wildcards still routes correctly.
#[test]
fn many_subscriptions() {
    let mut w = World::new(RouterConfig::default());
    let s = w.client(QUIET);
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
