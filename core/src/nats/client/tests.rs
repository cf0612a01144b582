//! Client tests on a virtual clock: the client runs against the in-core
//! router in the simulation world (or against a scripted server); no
//! sockets, no sleeps.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::nats::router::{Auth, RouterConfig};
use crate::nats::subject::SubjectError;
use crate::sim::{Dir, World, N};

/// A router-only world with one client connection (`options`), dialing
/// it. The router sends no keepalive PINGs of its own: these tests are
/// about the client's.
fn sim(router: RouterConfig, options: ClientOptions) -> (World, N) {
    let mut w = World::with_router(RouterConfig {
        ping_interval: Duration::from_secs(3600),
        ..router
    });
    let n = w.nats_client(options);
    (w, n)
}

/// [`sim`] with a default router, once the client reports `Connected`.
fn connected(options: ClientOptions) -> (World, N) {
    let (mut w, n) = sim(RouterConfig::default(), options);
    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    (w, n)
}

/// The messages among the client's events since the last look.
fn messages(w: &mut World, n: N) -> Vec<InboundMessage> {
    w.nats_events(n)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn opts(urls: &str) -> ClientOptions {
    ClientOptions::with_servers(urls).unwrap()
}

#[test]
fn url_parsing() {
    let a: ServerAddr = "nats://alice:s:e@cret@example.com:4333".parse().unwrap();
    assert_eq!((a.host.as_str(), a.port), ("example.com", 4333));
    assert_eq!(
        a.credentials,
        Some(Credentials::UserPass {
            user: "alice".into(),
            pass: "s:e@cret".into()
        })
    );
    assert!(!format!("{a:?}{a}").contains("cret"));
    let t: ServerAddr = "tok@localhost".parse().unwrap();
    assert_eq!(t.credentials, Some(Credentials::Token("tok".into())));
    assert_eq!(t.port, DEFAULT_PORT);
    let v6: ServerAddr = "nats://[::1]:5000/".parse().unwrap();
    assert_eq!(
        (v6.host.as_str(), v6.port, v6.to_string().as_str()),
        ("::1", 5000, "nats://[::1]:5000")
    );
    let list = ServerAddr::parse_list(" nats://a:1, b:2 ,").unwrap();
    assert_eq!(list.iter().map(|s| s.port).collect::<Vec<_>>(), [1, 2]);
    let kind = |url: &str| std::mem::discriminant(&url.parse::<ServerAddr>().unwrap_err());
    let d = std::mem::discriminant::<UrlError>;
    for (url, want) in [
        ("ws://a:1", d(&UrlError::UnsupportedScheme(String::new()))),
        ("nats://a:0", d(&UrlError::InvalidPort(String::new()))),
        ("a:99999", d(&UrlError::InvalidPort(String::new()))),
        ("nats://:4222", d(&UrlError::MissingHost(String::new()))),
        ("@host", d(&UrlError::Malformed(String::new()))),
        ("[::1", d(&UrlError::Malformed(String::new()))),
    ] {
        assert_eq!(kind(url), want, "{url}");
    }
    assert_eq!(ServerAddr::parse_list(" , "), Err(UrlError::Empty));
}

#[test]
fn handshake_against_router() {
    let (mut w, n) = sim(
        RouterConfig::default(),
        ClientOptions {
            name: Some("me".into()),
            ..opts("nats://127.0.0.1:4222")
        },
    );
    let events = w.nats_events(n);
    let [Event::Connected { server_info }] = &events[..] else {
        panic!("not connected");
    };
    assert_eq!(server_info.server_id, w.router.server_id());
    assert!(server_info.headers && server_info.max_payload == 1024 * 1024);
    let sent = String::from_utf8(w.sent(n).to_vec()).unwrap();
    assert!(
        sent.starts_with("CONNECT {\"verbose\":false,\"pedantic\":false"),
        "{sent}"
    );
    assert!(sent.contains("\"name\":\"me\",\"lang\":\"rust\""));
    assert!(sent.contains(
        "\"protocol\":1,\"echo\":true,\"headers\":true,\"no_responders\":true}\r\nPING\r\n"
    ));
    let c = w.conn_of(n).unwrap();
    assert_eq!(w.router.client_name(c), Some("me"));
    assert_eq!(w.nats(n).status(), Status::Connected);
    let now = w.now;
    assert_eq!(
        w.nats(n).poll_timeout(),
        Some(now + Duration::from_secs(120))
    );
}

#[test]
fn pub_sub_round_trip_flush_and_auto_unsubscribe() {
    let (mut w, n) = connected(ClientOptions::default());
    let now = w.now;
    let all = w.nats(n).subscribe(now, "a.>", None).unwrap();
    let few = w.nats(n).subscribe(now, "a.b", Some(b"q")).unwrap();
    w.nats(n).subscribe_with_sid(now, 100, "x", None).unwrap();
    assert_eq!(
        w.nats(n).subscribe_with_sid(now, 100, "y", None),
        Err(SubscribeError::SidInUse(100))
    );
    w.nats(n).unsubscribe(now, few, Some(2)).unwrap();
    for i in 0..3 {
        w.nats(n)
            .publish(now, "a.b", Some(b"r.1"), None, Bytes::from(format!("m{i}")))
            .unwrap();
    }
    let now = w.now;
    let token = w.nats(n).flush(now).unwrap();
    w.pump();
    let events = w.nats_events(n);
    let msgs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((m.sid, m.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.iter().filter(|m| m.0 == all).count(), 3);
    assert_eq!(msgs.iter().filter(|m| m.0 == few).count(), 2);
    assert_eq!(events.last(), Some(&Event::Flushed { token }));
    assert_eq!(w.nats(n).subscription_count(), 2);
    assert_eq!(
        w.nats(n).unsubscribe(now, few, None),
        Err(UnsubscribeError::UnknownSid(few))
    );
    w.nats(n)
        .execute(now, NatsCommand::Unsubscribe { sid: 100 })
        .unwrap();
    w.nats(n)
        .execute(
            now,
            NatsCommand::Publish {
                subject: "a.c".into(),
                reply: None,
                payload: "p".into(),
            },
        )
        .unwrap();
    w.pump();
    let m = messages(&mut w, n);
    assert_eq!(
        (m.len(), m[0].sid, &m[0].subject[..]),
        (1, all, &b"a.c"[..])
    );
    assert!(w.nats(n).new_inbox().starts_with("_INBOX."));
}

#[test]
fn command_validation() {
    let (mut w, n) = connected(ClientOptions::default());
    let now = w.now;
    let c = w.nats(n);
    let mut publish = |subject: &str, reply: Option<&[u8]>, headers: Option<&[u8]>, len| {
        c.publish(now, subject, reply, headers, Bytes::from(vec![0; len]))
    };
    let invalid = Err(PublishError::InvalidSubject(SubjectError::Wildcard));
    assert_eq!(publish("a.*", None, None, 0), invalid);
    let whitespace = SubjectError::Whitespace;
    assert_eq!(
        publish("a b", None, None, 0),
        Err(PublishError::InvalidSubject(whitespace))
    );
    assert_eq!(
        publish("a", Some(b"r x"), None, 0),
        Err(PublishError::InvalidReply(whitespace))
    );
    assert_eq!(
        publish("a", None, Some(b"junk"), 0),
        Err(PublishError::InvalidHeaders)
    );
    let (size, max) = (1024 * 1024 + 1, 1024 * 1024);
    let too_big = Err(PublishError::MaxPayloadExceeded { size, max });
    assert_eq!(publish("a", None, None, size), too_big);
    assert!(matches!(
        c.subscribe(now, "a..b", None),
        Err(SubscribeError::InvalidSubject(_))
    ));
    assert_eq!(
        c.subscribe(now, "a", Some(b"q 1")),
        Err(SubscribeError::InvalidQueue)
    );
    c.close(now);
    assert_eq!(
        c.publish(now, "a", None, None, Bytes::new()),
        Err(PublishError::Closed)
    );
    assert_eq!(c.subscribe(now, "a", None), Err(SubscribeError::Closed));
    assert_eq!(c.flush(now), Err(FlushError::Closed));
    c.close(now);
    w.pump();
    assert_eq!(
        w.nats_events(n),
        [Event::Closed {
            reason: CloseReason::Local
        }]
    );
    let (mut no_headers, nh) = connected(ClientOptions {
        headers: false,
        ..ClientOptions::default()
    });
    let hdr = HeaderMap::new().to_bytes();
    assert_eq!(
        no_headers
            .nats(nh)
            .publish(now, "a", None, Some(&hdr), Bytes::new()),
        Err(PublishError::HeadersNotSupported)
    );
    assert!(String::from_utf8_lossy(no_headers.sent(nh))
        .contains("\"headers\":false,\"no_responders\":false"));
}

#[test]
fn headers_and_no_responders() {
    let (mut w, n) = connected(ClientOptions::default());
    let now = w.now;
    let inbox = w.nats(n).new_inbox();
    let sid = w.nats(n).subscribe(now, &inbox, None).unwrap();
    w.nats(n).subscribe(now, "svc", None).unwrap();
    let mut h = HeaderMap::new();
    h.append("K", "v");
    w.nats(n)
        .publish(now, "svc", None, Some(&h.to_bytes()), "body".into())
        .unwrap();
    w.nats(n)
        .publish(
            now,
            "nobody.home",
            Some(inbox.as_bytes()),
            None,
            "req".into(),
        )
        .unwrap();
    w.pump();
    let m = messages(&mut w, n);
    assert_eq!(m.len(), 2);
    assert_eq!(
        HeaderMap::parse(m[0].headers.as_deref().unwrap())
            .unwrap()
            .get("K"),
        Some("v")
    );
    assert_eq!(&m[0].payload[..], b"body");
    assert!(!m[0].is_no_responders());
    assert_eq!((m[1].sid, m[1].subject.as_ref()), (sid, inbox.as_bytes()));
    assert!(m[1].is_no_responders());
}

fn auth_sim(auth: Auth, options: ClientOptions) -> (World, N) {
    sim(
        RouterConfig {
            auth,
            ..RouterConfig::default()
        },
        options,
    )
}

#[test]
fn auth_user_pass_and_token() {
    let user_pass = Auth::UserPass {
        user: "u".into(),
        pass: "p".into(),
    };
    let (mut s, n) = auth_sim(user_pass.clone(), opts("nats://u:p@127.0.0.1:4222"));
    assert!(matches!(s.nats_events(n)[..], [Event::Connected { .. }]));
    let creds = ClientOptions {
        credentials: Some(Credentials::UserPass {
            user: "u".into(),
            pass: "p".into(),
        }),
        ..ClientOptions::default()
    };
    let (mut s, n) = auth_sim(user_pass, creds);
    assert!(matches!(s.nats_events(n)[..], [Event::Connected { .. }]));
    let (mut s, n) = auth_sim(Auth::Token("t0k".into()), opts("t0k@127.0.0.1"));
    assert!(matches!(s.nats_events(n)[..], [Event::Connected { .. }]));
}

#[test]
fn auth_failure_retries_then_closes() {
    let options = ClientOptions {
        max_reconnects: Some(2),
        ..opts("nats://u:wrong@a:1,nats://u:wrong@b:2")
    };
    let (mut w, n) = auth_sim(
        Auth::UserPass {
            user: "u".into(),
            pass: "p".into(),
        },
        options,
    );
    let denied = DisconnectReason::Authorization("Authorization Violation".into());
    assert_eq!(
        w.nats_events(n),
        [Event::Disconnected {
            reason: denied.clone()
        }]
    );
    assert_eq!(
        w.nats(n).current_server().map(|s| s.port),
        Some(2),
        "round robin"
    );
    w.advance(Duration::from_secs(60));
    let events = w.nats_events(n);
    assert_eq!(w.dials(n), 3);
    assert_eq!(
        events,
        [
            Event::Disconnected {
                reason: denied.clone()
            },
            Event::Disconnected {
                reason: denied.clone()
            },
            Event::Closed {
                reason: CloseReason::ReconnectsExhausted {
                    attempts: 2,
                    last: denied
                }
            },
        ]
    );
    assert_eq!(w.nats(n).status(), Status::Closed);
    assert_eq!(w.nats(n).poll_timeout(), None);
}

#[test]
fn dial_failures_follow_reconnect_wait() {
    let now = Instant::now();
    let mut c = Connection::new(
        ClientOptions {
            max_reconnects: Some(1),
            ..ClientOptions::default()
        },
        now,
    );
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    c.handle_transport_failed(now);
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(2)));
    c.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(now + Duration::from_secs(2));
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    c.handle_transport_failed(now + Duration::from_secs(2));
    assert!(matches!(
        c.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::ReconnectsExhausted {
                attempts: 1,
                last: DisconnectReason::DialFailed
            }
        })
    ));
    let empty = Connection::new(
        ClientOptions {
            servers: vec![],
            ..ClientOptions::default()
        },
        now,
    )
    .poll_event();
    assert_eq!(
        empty,
        Some(Event::Closed {
            reason: CloseReason::NoServers
        })
    );
}

#[test]
fn a_dial_without_an_outcome_is_abandoned_at_connect_timeout() {
    let t0 = Instant::now();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    // A reconnect wait longer than the dial's timeout: the next dial is
    // due 3 s after the first one.
    let mut c = Connection::new(
        ClientOptions {
            max_reconnects: Some(1),
            reconnect_wait: Duration::from_secs(3),
            ..ClientOptions::default()
        },
        t0,
    );
    assert_eq!(c.options().close_flush_timeout, Duration::from_secs(1));
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    // The dial's deadline is connect_timeout (2 s) after WantConnect.
    assert_eq!(c.poll_timeout(), Some(secs(2)));
    c.handle_timeout(secs(2) - Duration::from_millis(1));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(secs(2));
    assert_eq!(
        c.poll_event(),
        Some(Event::Disconnected {
            reason: DisconnectReason::DialTimeout
        })
    );
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.status(), Status::Connecting);
    // The next dial the reconnect wait after the last, as after a failed
    // dial.
    assert_eq!(c.poll_timeout(), Some(secs(3)));
    // A late outcome of the abandoned dial is not taken for the next one.
    c.handle_transport_connected(secs(2) + Duration::from_millis(500));
    assert_eq!((c.poll_event(), c.poll_timeout()), (None, Some(secs(3))));
    // The driver is late for the dial: its deadline counts from WantConnect.
    c.handle_timeout(secs(5));
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    assert_eq!(c.poll_timeout(), Some(secs(7)));
    c.handle_timeout(secs(7));
    let exhausted = CloseReason::ReconnectsExhausted {
        attempts: 1,
        last: DisconnectReason::DialTimeout,
    };
    assert_eq!(
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>(),
        [
            Event::Disconnected {
                reason: DisconnectReason::DialTimeout
            },
            Event::Closed { reason: exhausted }
        ]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(DisconnectReason::DialTimeout.to_string(), "dial timeout");
}

#[test]
fn a_dial_outcome_in_time_disarms_the_dial_deadline() {
    let t0 = Instant::now();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    // Connected after 1 s: the handshake deadline replaces the dial's.
    let mut c = Connection::new(ClientOptions::default(), t0);
    let _ = c.poll_event();
    c.handle_transport_connected(secs(1));
    assert_eq!(c.poll_timeout(), Some(secs(3)));
    c.handle_timeout(secs(2));
    assert_eq!(c.poll_event(), None);
    // Failed after 1 s: only the reconnect wait (from the dial) remains,
    // with no event.
    let mut c = Connection::new(ClientOptions::default(), t0);
    let _ = c.poll_event();
    c.handle_transport_failed(secs(1));
    assert_eq!((c.poll_event(), c.poll_timeout()), (None, Some(secs(2))));
    c.handle_timeout(secs(2));
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    assert_eq!(c.poll_timeout(), Some(secs(4)));
}

#[test]
fn close_during_a_dial_ends_it() {
    let t0 = Instant::now();
    let mut c = Connection::new(ClientOptions::default(), t0);
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    c.close(t0 + Duration::from_secs(1));
    assert_eq!(
        c.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::Local
        })
    );
    assert_eq!(c.poll_timeout(), None, "no dial deadline left");
    assert_eq!(c.status(), Status::Closed);
    // Whatever the dropped dial would have said changes nothing.
    c.handle_transport_connected(t0 + Duration::from_secs(1));
    c.handle_transport_failed(t0 + Duration::from_secs(1));
    c.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!((c.poll_event(), c.poll_timeout()), (None, None));
    assert_eq!(c.poll_transmit(), None);
    // A reconnect dial is ended the same way.
    let mut c = Connection::new(ClientOptions::default(), t0);
    let _ = c.poll_event();
    c.handle_transport_failed(t0);
    c.handle_timeout(t0 + Duration::from_secs(2));
    assert!(matches!(c.poll_event(), Some(Event::WantConnect { .. })));
    c.close(t0 + Duration::from_secs(3));
    assert!(matches!(c.poll_event(), Some(Event::Closed { .. })));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn keepalive_answered_then_stale_detection() {
    let interval = Duration::from_secs(10);
    let (mut w, n) = connected(ClientOptions {
        ping_interval: interval,
        ..ClientOptions::default()
    });
    let now = w.now;
    let flush = w.nats(n).flush(now).unwrap();
    w.advance(interval * 30);
    assert_eq!(w.nats_events(n), [Event::Flushed { token: flush }]);
    // The server stops answering: its side stops reading this link.
    w.stall(n, Dir::Both);
    w.advance(interval * 3 - Duration::from_millis(1));
    assert!(
        w.nats_events(n).is_empty(),
        "two PINGs outstanding is tolerated"
    );
    let now = w.now;
    let token = w.nats(n).flush(now).unwrap();
    w.advance(Duration::from_millis(1));
    // The server was dialled long ago: it is dialled again at once (as
    // nats.go), and the stall was that link's, so the next one is served.
    let ev = w.nats_events(n);
    assert_eq!(
        ev[0],
        Event::Disconnected {
            reason: DisconnectReason::StaleConnection
        }
    );
    assert!(matches!(ev[1], Event::Reconnected { .. }), "{ev:?}");
    assert_eq!(
        ev[2..],
        [Event::Flushed { token }],
        "flush survives the reconnect"
    );
}

#[test]
fn handshake_timeout_and_server_stale() {
    let now = Instant::now();
    let mut c = Connection::new(ClientOptions::default(), now);
    let _ = c.poll_event();
    c.handle_transport_connected(now);
    c.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(
        c.poll_event(),
        Some(Event::Disconnected {
            reason: DisconnectReason::ConnectTimeout
        })
    );
    // A server declaring us stale: fatal, reconnect.
    let (mut w, n) = connected(ClientOptions::default());
    w.inject(n, b"-ERR 'Stale Connection'\r\n");
    assert_eq!(
        w.nats_events(n),
        [Event::Disconnected {
            reason: DisconnectReason::ServerError("Stale Connection".into())
        }]
    );
    w.advance(Duration::from_secs(2));
    assert!(matches!(w.nats_events(n)[..], [Event::Reconnected { .. }]));
}

#[test]
fn reconnect_replays_subscriptions_then_buffered_publishes() {
    let (mut w, n) = connected(ClientOptions {
        reconnect_buffer_size: 100,
        ..ClientOptions::default()
    });
    let now = w.now;
    let a = w.nats(n).subscribe(now, "a", None).unwrap();
    let b = w.nats(n).subscribe(now, "b", Some(b"g")).unwrap();
    w.nats(n).unsubscribe(now, b, Some(3)).unwrap();
    w.nats(n).publish(now, "b", None, None, "0".into()).unwrap();
    w.pump();
    assert_eq!(messages(&mut w, n).len(), 1);
    w.cut(n);
    assert_eq!(
        w.nats_events(n),
        [Event::Disconnected {
            reason: DisconnectReason::TransportClosed
        }]
    );
    assert_eq!(w.nats(n).status(), Status::Reconnecting);
    w.nats(n).publish(now, "a", None, None, "1".into()).unwrap();
    w.nats(n).publish(now, "b", None, None, "2".into()).unwrap();
    let full = w
        .nats(n)
        .publish(now, "a", None, None, Bytes::from(vec![b'x'; 80]));
    assert_eq!(full, Err(PublishError::ReconnectBufferFull { limit: 100 }));
    assert_eq!(w.nats(n).buffered_bytes(), 2 * "PUB a 1\r\n1\r\n".len());
    w.take_sent(n);
    w.advance(Duration::from_secs(2));
    let sent = String::from_utf8(w.take_sent(n)).unwrap();
    let after_connect = &sent[sent.find("PING\r\n").unwrap() + 6..];
    assert_eq!(
        after_connect,
        "SUB a 1\r\nSUB b g 2\r\nUNSUB 2 2\r\nPUB a 1\r\n1\r\nPUB b 1\r\n2\r\n"
    );
    let ev = w.nats_events(n);
    assert!(matches!(ev[0], Event::Reconnected { .. }));
    let got: Vec<_> = ev[1..]
        .iter()
        .map(|e| match e {
            Event::Message(m) => (m.sid, m.payload.clone()),
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(got, [(a, Bytes::from("1")), (b, Bytes::from("2"))]);
    let (mut off, o) = connected(ClientOptions {
        reconnect_buffer_size: 0,
        ..ClientOptions::default()
    });
    off.cut(o);
    assert_eq!(
        off.nats(o).publish(now, "a", None, None, "1".into()),
        Err(PublishError::NotConnected)
    );
}

/// Plays a scripted server: returns the events after feeding `input` in the
/// given chunk sizes (cycled).
fn scripted(input: &[u8], chunks: &[usize]) -> (Vec<Event>, Connection) {
    let now = Instant::now();
    let mut c = Connection::new(ClientOptions::default(), now);
    let _ = c.poll_event();
    c.handle_transport_connected(now);
    c.subscribe(now, "foo", None).unwrap();
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut rest = input;
    for &n in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(n.clamp(1, rest.len()));
        rest = tail;
        buf.extend_from_slice(head);
        c.handle_input(now, &mut buf);
        events.extend(std::iter::from_fn(|| c.poll_event()));
        while c.poll_transmit().is_some() {}
    }
    (events, c)
}

const SCRIPT: &[u8] = b"INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":1024,\"connect_urls\":[\"10.0.0.2:4222\"]}\r\n\
PING\r\n+OK\r\nPONG\r\nMSG foo 1 5\r\nhello\r\nMSG foo 99 1\r\nx\r\nHMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
-ERR 'Permissions Violation for Publish to \"x\"'\r\nINFO {\"server_id\":\"S\",\"max_payload\":2048}\r\n";

#[test]
fn split_anywhere_input_gives_the_same_events() {
    let (whole, c) = scripted(SCRIPT, &[SCRIPT.len()]);
    assert!(matches!(whole[0], Event::Connected { .. }));
    assert_eq!(whole.len(), 4, "{whole:?}");
    assert!(matches!(&whole[1], Event::Message(m) if &m.payload[..] == b"hello"));
    assert!(
        matches!(&whole[2], Event::Message(m) if m.headers.is_some() && m.reply.as_deref() == Some(&b"r"[..]))
    );
    assert!(matches!(&whole[3], Event::ServerError(t) if t.starts_with("Permissions Violation")));
    assert_eq!(
        c.server_info().map(|i| i.max_payload),
        Some(2048),
        "async INFO applied"
    );
    assert_eq!(c.servers().len(), 2, "connect_urls learnt");
    for chunks in [&[1][..], &[2, 3], &[7, 1, 13]] {
        assert_eq!(scripted(SCRIPT, chunks).0, whole, "{chunks:?}");
    }
}

#[test]
fn malformed_server_input_disconnects_with_typed_reasons() {
    let reason = |input: &[u8]| match scripted(input, &[input.len()]).0.last() {
        Some(Event::Disconnected { reason }) => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        reason(b"INFO {nope\r\n"),
        DisconnectReason::BadInfo(_)
    ));
    assert_eq!(
        reason(b"MSG foo 1 1\r\nx\r\n"),
        DisconnectReason::UnexpectedOp("MSG")
    );
    assert!(matches!(
        reason(b"INFO {}\r\nPONG\r\nBOGUS\r\n"),
        DisconnectReason::Protocol(_)
    ));
    assert!(matches!(
        reason(b"INFO {}\r\nPONG\r\nMSG foo 1 2\r\nabcd"),
        DisconnectReason::Protocol(_)
    ));
    assert_eq!(
        reason(b"INFO {}\r\n-ERR 'Authorization Violation'\r\n"),
        DisconnectReason::Authorization("Authorization Violation".into())
    );
    assert_eq!(
        reason(b"INFO {}\r\n-ERR 'Invalid Subject'\r\n"),
        DisconnectReason::ServerError("Invalid Subject".into())
    );
}

proptest! {
    #[test]
    fn random_server_bytes_never_panic(
        prefix in 0usize..3,
        noise in proptest::collection::vec(any::<u8>(), 0..300),
        chunks in proptest::collection::vec(1usize..40, 1..5),
    ) {
        let mut input = [&b""[..], b"INFO {}\r\n", b"INFO {}\r\nPONG\r\n"][prefix].to_vec();
        input.extend_from_slice(&noise);
        let (events, mut c) = scripted(&input, &chunks);
        let closed = events.iter().filter(|e| matches!(e, Event::Closed { .. })).count();
        prop_assert_eq!(closed, 0);
        c.handle_timeout(Instant::now() + Duration::from_secs(3600));
        let _ = c.poll_timeout();
    }
}

#[test]
fn tls_urls_parse_and_ask_for_tls() {
    let a: ServerAddr = "tls://u:p@localhost:4443".parse().unwrap();
    assert!(a.tls && a.port == 4443 && a.credentials.is_some());
    assert_eq!(a.to_string(), "tls://localhost:4443");
    let b: ServerAddr = "TLS://[::1]".parse().unwrap();
    assert_eq!((b.tls, b.to_string().as_str()), (true, "tls://[::1]:4222"));
    let plain: ServerAddr = "nats://h:1".parse().unwrap();
    assert!(!plain.tls);
    assert!(!ServerAddr::new("h", 1).tls);
    // One tls:// URL asks for TLS on every server of the pool (nats.go).
    let (mut w, n) = sim(
        RouterConfig::default(),
        opts("nats://127.0.0.1:1,tls://b:2"),
    );
    assert!(w.nats(n).wants_tls());
    let (mut w, n) = sim(RouterConfig::default(), opts("nats://127.0.0.1:1"));
    assert!(!w.nats(n).wants_tls() && !w.nats(n).is_tls());
}

/// A server whose `INFO` requires TLS: the client asks its driver to
/// upgrade, writes nothing (no plain-text `CONNECT`) and reads nothing
/// until the driver reports the handshake; then `CONNECT` says
/// `tls_required`.
#[test]
fn info_requiring_tls_asks_the_driver_to_upgrade_before_connect() {
    let tls_router = RouterConfig {
        tls_required: true,
        ..RouterConfig::default()
    };
    let (mut w, n) = sim(tls_router.clone(), opts("nats://127.0.0.1:4222"));
    let events = w.nats_events(n);
    let [Event::UpgradeTls { server }] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!((server.host.as_str(), server.port), ("127.0.0.1", 4222));
    assert!(w.nats(n).is_tls());
    assert!(w.sent(n).is_empty(), "nothing in plain text after INFO");
    assert_eq!(w.nats(n).status(), Status::Connecting);
    // Input that arrives meanwhile is left to the driver.
    let now = w.now;
    let mut stray = BytesMut::from(&b"PING\r\n"[..]);
    w.nats(n).handle_input(now, &mut stray);
    assert_eq!(&stray[..], b"PING\r\n");
    assert_eq!(w.nats(n).poll_transmit(), None);

    w.nats(n).handle_tls_established(now);
    w.pump();
    assert!(matches!(w.nats_events(n)[..], [Event::Connected { .. }]));
    let sent = String::from_utf8(w.sent(n).to_vec()).unwrap();
    assert!(
        sent.starts_with("CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true"),
        "{sent}"
    );
    // A plain connection says tls_required false.
    let (w, n) = connected(opts("nats://127.0.0.1:4222"));
    let sent = String::from_utf8(w.sent(n).to_vec()).unwrap();
    assert!(sent.contains("\"tls_required\":false"), "{sent}");
}

#[test]
fn tls_asked_for_by_url_or_option_upgrades_even_when_not_required() {
    // tls:// against a server that offers no TLS: nats.go's
    // "secure connection not available", then the next attempt.
    let (mut w, n) = sim(
        RouterConfig::default(),
        ClientOptions {
            max_reconnects: Some(0),
            ..opts("tls://127.0.0.1:4222")
        },
    );
    let events = w.nats_events(n);
    assert!(
        matches!(
            &events[..],
            [
                Event::Disconnected {
                    reason: DisconnectReason::SecureConnectionNotAvailable
                },
                Event::Closed { .. }
            ]
        ),
        "{events:?}"
    );
    assert!(w.sent(n).is_empty());
    // The option asks the same of a nats:// URL; the server requires it.
    let (mut w, n) = sim(
        RouterConfig {
            tls_required: true,
            ..RouterConfig::default()
        },
        ClientOptions {
            tls_required: true,
            ..opts("nats://127.0.0.1:4222")
        },
    );
    assert!(matches!(w.nats_events(n)[..], [Event::UpgradeTls { .. }]));
}

#[test]
fn a_failed_or_missing_tls_handshake_loses_the_transport() {
    let tls_router = RouterConfig {
        tls_required: true,
        ..RouterConfig::default()
    };
    let (mut w, n) = sim(tls_router.clone(), opts("tls://127.0.0.1:4222"));
    assert!(matches!(w.nats_events(n)[..], [Event::UpgradeTls { .. }]));
    let now = w.now;
    w.nats(n)
        .handle_tls_failed(now, "invalid peer certificate: UnknownIssuer");
    w.pump();
    assert_eq!(
        w.nats_events(n),
        [Event::Disconnected {
            reason: DisconnectReason::Tls("invalid peer certificate: UnknownIssuer".into())
        }]
    );
    assert_eq!(
        DisconnectReason::Tls("x".into()).to_string(),
        "TLS handshake failed: x"
    );
    // Reported late, after the transport is gone: ignored.
    w.nats(n).handle_tls_established(now);
    w.nats(n).handle_tls_failed(now, "late");
    assert_eq!(w.nats(n).poll_transmit(), None);

    // A driver that never upgrades: the handshake deadline ends it.
    let (mut w, n) = sim(
        tls_router,
        ClientOptions {
            connect_timeout: Duration::from_secs(2),
            ..opts("nats://127.0.0.1:4222")
        },
    );
    assert!(matches!(w.nats_events(n)[..], [Event::UpgradeTls { .. }]));
    w.advance(Duration::from_secs(2));
    let events = w.nats_events(n);
    assert!(
        events.contains(&Event::Disconnected {
            reason: DisconnectReason::ConnectTimeout
        }),
        "{events:?}"
    );
}

/// As nats.go: the next server is dialled at once unless it was dialled
/// within `reconnect_wait`, in which case the dial waits for the rest of
/// it (a cluster's live node is reached without waiting behind a dead
/// one).
#[test]
fn a_server_not_dialled_lately_is_dialled_at_once() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut c = Connection::new(
        ClientOptions::with_servers("nats://10.0.0.1:4222,nats://10.0.0.2:4222")
            .unwrap_or_else(|e| panic!("{e}")),
        t0,
    );
    let dialled = |c: &mut Connection| match c.poll_event() {
        Some(Event::WantConnect { server }) => server.to_string(),
        other => panic!("no dial: {other:?}"),
    };
    assert!(dialled(&mut c).contains("10.0.0.1"));
    c.handle_transport_failed(at(10));
    // The second server was never dialled.
    assert_eq!(c.poll_timeout(), Some(at(10)));
    c.handle_timeout(at(10));
    assert!(dialled(&mut c).contains("10.0.0.2"));
    c.handle_transport_failed(at(20));
    // The first was dialled at 0: due reconnect_wait (2 s) after that.
    assert_eq!((c.poll_event(), c.poll_timeout()), (None, Some(at(2000))));
    c.handle_timeout(at(2000));
    assert!(dialled(&mut c).contains("10.0.0.1"));
    c.handle_transport_failed(at(2005));
    // The second was dialled at 10 ms.
    assert_eq!(c.poll_timeout(), Some(at(2010)));
}

/// As nats.go: an INFO that advertises servers replaces the ones learnt
/// earlier; the configured servers and the current one stay, and an INFO
/// advertising none changes nothing.
#[test]
fn servers_no_longer_advertised_leave_the_pool() {
    let info = |urls: &str| {
        format!("INFO {{\"server_id\":\"S\",\"max_payload\":1024,\"connect_urls\":[{urls}]}}\r\n")
    };
    let first = info("\"10.0.0.2:4222\",\"10.0.0.3:4222\",\"10.0.0.4:4222\"");
    let script = format!(
        "{first}PONG\r\n{}{}",
        info("\"10.0.0.3:4222\""),
        "INFO {\"server_id\":\"S\",\"max_payload\":1024}\r\n"
    );
    let hosts = |c: &Connection| {
        c.servers()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let script = script.as_bytes();
    let (_, c) = scripted(first.as_bytes(), &[first.len()]);
    assert_eq!(c.servers().len(), 4, "{:?}", hosts(&c));
    let (events, c) = scripted(script, &[script.len()]);
    assert!(matches!(events[0], Event::Connected { .. }), "{events:?}");
    // The configured server stays; of the learnt ones, only the one still
    // advertised; the INFO without connect_urls changed nothing.
    let now = hosts(&c);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now[0].contains("127.0.0.1:4222") && now[1].contains("10.0.0.3:4222"),
        "{now:?}"
    );
    assert_eq!(
        c.current_server().map(|s| s.to_string()),
        Some(now[0].clone())
    );
}

/// The server the connection is on stays in the pool even when the INFO
/// no longer lists it, and stays the current one as others are dropped.
#[test]
fn the_current_server_stays_when_no_longer_advertised() {
    let t0 = Instant::now();
    let mut c = Connection::new(ClientOptions::default(), t0);
    let feed = |c: &mut Connection, text: &str| {
        let mut buf = BytesMut::from(text.as_bytes());
        c.handle_input(t0, &mut buf);
        let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        while c.poll_transmit().is_some() {}
        events
    };
    let info = |urls: &str| {
        format!("INFO {{\"server_id\":\"S\",\"max_payload\":1024,\"connect_urls\":[{urls}]}}\r\n")
    };
    let _ = c.poll_event();
    c.handle_transport_connected(t0);
    let learnt = info("\"10.0.0.2:4222\",\"10.0.0.3:4222\",\"10.0.0.4:4222\"");
    feed(&mut c, &format!("{learnt}PONG\r\n"));
    assert_eq!(c.servers().len(), 4);
    // Lost: 10.0.0.2 is dialled at once and refuses, then 10.0.0.3 takes
    // the connection.
    c.handle_transport_closed(t0);
    for host in ["10.0.0.2", "10.0.0.3"] {
        c.handle_timeout(t0);
        match c.poll_event() {
            Some(Event::WantConnect { server }) => assert!(server.to_string().contains(host)),
            Some(Event::Disconnected { .. }) => match c.poll_event() {
                Some(Event::WantConnect { server }) => {
                    assert!(server.to_string().contains(host))
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        if host == "10.0.0.2" {
            c.handle_transport_failed(t0);
        }
    }
    c.handle_transport_connected(t0);
    let events = feed(&mut c, &format!("{}PONG\r\n", info("\"10.0.0.4:4222\"")));
    assert!(
        matches!(events.last(), Some(Event::Reconnected { .. })),
        "{events:?}"
    );
    let hosts: Vec<String> = c.servers().iter().map(|s| s.to_string()).collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    assert!(
        hosts[1].contains("10.0.0.3") && hosts[2].contains("10.0.0.4"),
        "{hosts:?}"
    );
    assert!(c
        .current_server()
        .is_some_and(|s| s.to_string().contains("10.0.0.3")));
}
