//! The server of every runtime seen by [`Raw`] clients: the router alone
//! (ordering, slow consumers, shutdown, protocol errors) and the streaming
//! engine, in process or behind an external NATS server, spoken to in raw
//! STAN protobuf.
//!
//! Run per server runtime with [`server_suite!`](crate::server_suite).

use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::nats::ServerOp;
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, PubAck,
    PubMsg, StartPosition, SubscriptionRequest, SubscriptionResponse,
};

use crate::raw::Raw;
use crate::{RouterConfig, ServerHandle, T};

/// The router settings of the router scenarios: announcing the loopback
/// host.
pub fn localhost() -> RouterConfig {
    RouterConfig {
        host: "127.0.0.1".into(),
        ..RouterConfig::default()
    }
}

/// The router settings of [`slow_consumer_is_cut_and_the_publisher_continues`].
pub fn small_pending() -> RouterConfig {
    RouterConfig {
        max_pending: 256 * 1024,
        ..localhost()
    }
}

/// bcrypt (cost 6) of `s3cret`.
const BCRYPT_S3CRET: &str = "$2b$06$1VGveS7drXjaSUeLYufFXOPfwRXTCcjwXa/4jMuIjGOvxyAGerj1m";

/// The router settings of [`bcrypt_checks_leave_the_routing_path`]: user
/// `alice`, password checked against a bcrypt hash.
pub fn bcrypt_user() -> RouterConfig {
    RouterConfig {
        auth: stan_core::nats::router::Auth::UserPass {
            user: "alice".into(),
            pass: BCRYPT_S3CRET.into(),
        },
        ..localhost()
    }
}

fn connect_as(pass: &str) -> String {
    format!(
        "CONNECT {{\"verbose\":false,\"protocol\":1,\"user\":\"alice\",\"pass\":\"{pass}\"}}\r\n"
    )
}

/// With bcrypt credentials: a storm of connections with wrong passwords
/// (each a bcrypt comparison, run off the routing path) is refused with
/// `-ERR 'Authorization Violation'` while an authenticated client keeps
/// publishing and receiving; a client that pipelines its first operations
/// behind its `CONNECT` has them served once its password is verified.
pub fn bcrypt_checks_leave_the_routing_path(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut a = Raw::greeted(&url);
    a.send(connect_as("s3cret").as_bytes());
    a.send(b"SUB x 1\r\n");
    a.ping();
    let storm: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                for j in 0..4 {
                    let mut c = Raw::greeted(&url);
                    c.send(connect_as(&format!("guess-{i}-{j}")).as_bytes());
                    c.send(b"PING\r\n");
                    assert_eq!(
                        c.next_op(),
                        Some(ServerOp::Err(Bytes::from_static(
                            b"Authorization Violation"
                        )))
                    );
                    assert_eq!(c.next_op(), None, "closed after the -ERR");
                }
            })
        })
        .collect();
    for i in 0..50u32 {
        a.publish("x", None, i.to_string().as_bytes());
        let (_, payload) = a.msg_on(b"1");
        assert_eq!(payload, i.to_string().as_bytes());
    }
    // Pipelined behind the CONNECT: kept until the verdict, then served.
    let mut b = Raw::greeted(&url);
    let mut first = connect_as("s3cret").into_bytes();
    first.extend_from_slice(b"SUB y 1\r\nPUB y 2\r\nhi\r\nPING\r\n");
    b.send(&first);
    let (subject, payload) = b.msg_on(b"1");
    assert_eq!((&subject[..], &payload[..]), (&b"y"[..], &b"hi"[..]));
    assert_eq!(b.next_op(), Some(ServerOp::Pong));
    for t in storm {
        t.join().expect("every wrong password refused");
    }
    a.ping();
    assert_eq!(server.connection_count(), 2, "only the two good clients");
    server.stop();
}

/// 10,000 messages published in one batch reach a wildcard subscriber in
/// order, and the router counted them.
pub fn ten_thousand_messages_in_order(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut sub = Raw::open(&url, "SUB load.* 1\r\n");
    let mut publ = Raw::plain(&url);
    let mut batch = Vec::new();
    for i in 0..10_000u32 {
        let p = i.to_string();
        batch.extend_from_slice(format!("PUB load.x {}\r\n{p}\r\n", p.len()).as_bytes());
    }
    publ.send(&batch);
    for i in 0..10_000u32 {
        match sub.next_op() {
            Some(ServerOp::Msg(m)) => assert_eq!(m.payload(), i.to_string().as_bytes()),
            other => panic!("message {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(server.stats().in_msgs, 10_000);
    server.stop();
}

/// A subscriber that never reads is cut off as a slow consumer (counted
/// once), its connection ends after what the kernel buffered, and the
/// publisher is served on.
pub fn slow_consumer_is_cut_and_the_publisher_continues(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut slow = Raw::open(&url, "SUB big 1\r\n");
    let mut publ = Raw::plain(&url);
    let payload = vec![b'x'; 64 * 1024];
    let mut frame = format!("PUB big {}\r\n", payload.len()).into_bytes();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    // Up to 64 MiB for a reader that never reads: far beyond socket buffers.
    for _ in 0..1024 {
        publ.send(&frame);
        if server.stats().slow_consumers > 0 {
            break;
        }
    }
    publ.ping();
    assert_eq!(server.stats().slow_consumers, 1);
    // The slow consumer's connection ends (after what the kernel buffered).
    while slow.next_op().is_some() {}
    assert_eq!(server.connection_count(), 1, "only the publisher is left");
    server.stop();
}

/// Shutdown delivers what is pending, then closes every client.
pub fn shutdown_flushes_and_closes_clients(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut a = Raw::open(&url, "SUB x 1\r\n");
    let mut b = Raw::open(&url, "PUB x 2\r\nhi\r\n");
    server.stop();
    match a.next_op() {
        Some(ServerOp::Msg(m)) => assert_eq!((m.subject(), m.payload()), (&b"x"[..], &b"hi"[..])),
        other => panic!("the pending message was not delivered: {other:?}"),
    }
    assert_eq!(a.next_op(), None);
    assert_eq!(b.next_op(), None);
}

/// An unknown operation gets `-ERR 'Unknown Protocol Operation'`, then the
/// connection is closed.
pub fn protocol_error_sends_err_then_closes(server: Box<dyn ServerHandle>) {
    let mut c = Raw::plain(&server.url());
    c.send(b"BOGUS\r\n");
    assert_eq!(
        c.next_op(),
        Some(ServerOp::Err(Bytes::from_static(
            b"Unknown Protocol Operation"
        )))
    );
    assert_eq!(c.next_op(), None);
    server.stop();
}

/// Sends a request to `subject` with a reply on `_INBOX.t.<token>` and
/// returns the reply's payload.
fn request(c: &mut Raw, subject: &str, token: &str, payload: &[u8]) -> Bytes {
    let reply = format!("_INBOX.t.{token}");
    c.publish(subject, Some(&reply), payload);
    loop {
        let (subject, payload) = c.msg_on(b"1");
        if subject == reply.as_bytes() {
            return payload;
        }
    }
}

/// The streaming engine in raw STAN protobuf: connect (retried while an
/// external engine attaches), publish three with their PubAcks,
/// subscribe from the first, receive and ack them in order, close.
pub fn engine_speaks_raw_stan(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut c = Raw::open(
        &url,
        "SUB _INBOX.t.* 1\r\nSUB _STAN.acks.t 2\r\nSUB _DLV.t 3\r\n",
    );
    let req = ConnectRequest {
        client_id: "t".into(),
        heartbeat_inbox: "_INBOX.t.hb".into(),
        protocol: 1,
        conn_id: Bytes::from_static(b"conn-t"),
        ping_interval: 5,
        ping_max_out: 88,
    };
    // Attempts until a ConnectResponse, for up to 30 s (an engine attaching
    // over a NATS connection on a loaded machine), counting the "no
    // responders" answers and the silent attempts for the failure message.
    let (mut resp, mut no_responders, mut silent) = (None, 0, 0);
    let deadline = Instant::now() + T * 3;
    for i in 0.. {
        if Instant::now() >= deadline {
            break;
        }
        c.publish(
            "_STAN.discover.test-cluster",
            Some(&format!("_INBOX.t.c{i}")),
            &req.encode_to_vec(),
        );
        // A reply to an attempt: the response, or an empty "no responders"
        // status while the engine is not subscribed yet.
        let payload = loop {
            match c.next_within(Duration::from_millis(200)) {
                Ok(Some(ServerOp::Msg(m))) if m.subject().starts_with(b"_INBOX.t.c") => {
                    break Some(m.payload_bytes())
                }
                Ok(Some(ServerOp::Ping)) => c.send(b"PONG\r\n"),
                Ok(Some(_)) => {}
                Ok(None) => panic!("closed while connecting"),
                Err(_) => break None,
            }
        };
        match payload {
            Some(p) if !p.is_empty() => {
                resp = Some(ConnectResponse::decode(p).expect("a ConnectResponse"));
                break;
            }
            Some(_) => no_responders += 1,
            None => silent += 1,
        }
    }
    let resp = resp.unwrap_or_else(|| {
        panic!("no ConnectResponse: {no_responders} \"no responders\", {silent} unanswered")
    });
    assert_eq!(resp.error, "");
    for i in 1..=3 {
        let pm = PubMsg {
            client_id: "t".into(),
            guid: format!("g{i}"),
            subject: "foo".into(),
            data: Bytes::from(format!("m{i}")),
            conn_id: Bytes::from_static(b"conn-t"),
            ..PubMsg::default()
        };
        c.publish(
            "_STAN.pub.test-cluster.foo",
            Some("_STAN.acks.t"),
            &pm.encode_to_vec(),
        );
        let (_, ack) = c.msg_on(b"2");
        let ack = PubAck::decode(ack).expect("a PubAck");
        assert_eq!(
            (ack.guid.as_str(), ack.error.as_str()),
            (format!("g{i}").as_str(), "")
        );
    }
    let sr = SubscriptionRequest {
        client_id: "t".into(),
        subject: "foo".into(),
        inbox: "_DLV.t".into(),
        max_in_flight: 10,
        ack_wait_in_secs: 30,
        start_position: StartPosition::First as i32,
        ..SubscriptionRequest::default()
    };
    let raw = request(&mut c, &resp.sub_requests, "s", &sr.encode_to_vec());
    let sub = SubscriptionResponse::decode(raw).expect("a SubscriptionResponse");
    assert_eq!(sub.error, "");
    for seq in 1..=3u64 {
        let (_, m) = c.msg_on(b"3");
        let m = MsgProto::decode(m).expect("a MsgProto");
        assert_eq!((m.sequence, m.data), (seq, Bytes::from(format!("m{seq}"))));
        let ack = Ack {
            subject: "foo".into(),
            sequence: seq,
        };
        c.publish(&sub.ack_inbox, None, &ack.encode_to_vec());
    }
    let close = CloseRequest {
        client_id: "t".into(),
    };
    let raw = request(&mut c, &resp.close_requests, "x", &close.encode_to_vec());
    assert_eq!(
        CloseResponse::decode(raw).expect("a CloseResponse").error,
        ""
    );
    server.stop();
}

/// Expands the server scenarios into tests for one server runtime, each
/// bounded in time.
#[macro_export]
macro_rules! server_suite {
    ($name:ident, $s:ty) => {
        mod $name {
            use super::*;
            use $crate::server;
            use $crate::ServerRuntime as _;

            #[test]
            fn ten_thousand_messages_in_order() {
                $crate::bounded($crate::LIMIT, || {
                    server::ten_thousand_messages_in_order(<$s>::nats_only(server::localhost()))
                });
            }

            #[test]
            fn slow_consumer_is_cut_and_the_publisher_continues() {
                $crate::bounded($crate::LIMIT, || {
                    server::slow_consumer_is_cut_and_the_publisher_continues(<$s>::nats_only(
                        server::small_pending(),
                    ))
                });
            }

            #[test]
            fn shutdown_flushes_and_closes_clients() {
                $crate::bounded($crate::LIMIT, || {
                    server::shutdown_flushes_and_closes_clients(
                        <$s>::nats_only(server::localhost()),
                    )
                });
            }

            #[test]
            fn protocol_error_sends_err_then_closes() {
                $crate::bounded($crate::LIMIT, || {
                    server::protocol_error_sends_err_then_closes(<$s>::nats_only(
                        server::localhost(),
                    ))
                });
            }

            #[test]
            fn bcrypt_checks_leave_the_routing_path() {
                $crate::bounded($crate::LIMIT, || {
                    server::bcrypt_checks_leave_the_routing_path(<$s>::nats_only(
                        server::bcrypt_user(),
                    ))
                });
            }

            #[test]
            fn engine_in_process_speaks_raw_stan() {
                $crate::bounded($crate::LIMIT, || {
                    server::engine_speaks_raw_stan(<$s>::embedded())
                });
            }

            #[test]
            fn engine_through_an_external_nats_server_speaks_raw_stan() {
                $crate::bounded($crate::LIMIT, || {
                    server::engine_speaks_raw_stan(<$s>::external())
                });
            }
        }
    };
}
