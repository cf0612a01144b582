//! The mio server over real loopback TCP, seen by raw blocking clients: the
//! router alone (ordering, slow consumers, write stalls, shutdown, protocol
//! errors), and the streaming engine in process or through an external NATS
//! server, spoken to in raw STAN protobuf.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use stan_core::nats::router::RouterConfig;
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{ExternalEngine, Server, ServerHandle};
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, PubAck,
    PubMsg, StartPosition, SubscriptionRequest, SubscriptionResponse,
};

const T: Duration = Duration::from_secs(10);

/// A NATS client speaking raw text over a blocking socket.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

impl Raw {
    /// Connects and reads `INFO`, sending `connect` (a CONNECT line or more).
    fn open(addr: SocketAddr, connect: &[u8]) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        let mut c = Raw {
            stream,
            buf: BytesMut::new(),
            dec: ServerOpDecoder::new(Limits::default()),
        };
        assert!(matches!(c.next(), Some(ServerOp::Info(_))));
        c.send(connect);
        c
    }

    fn plain(addr: SocketAddr) -> Raw {
        Raw::open(addr, b"CONNECT {\"verbose\":false,\"headers\":true}\r\n")
    }

    fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).unwrap();
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let line = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        };
        let mut out = line.into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.send(&out);
    }

    /// The next op, or None at EOF. Panics when nothing comes within `T`.
    fn next(&mut self) -> Option<ServerOp> {
        self.next_within(T).expect("read timed out")
    }

    /// The next op (None at EOF), or Err if nothing came within `limit`.
    fn next_within(&mut self, limit: Duration) -> Result<Option<ServerOp>, ()> {
        let deadline = Instant::now() + limit;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(op) = self.dec.decode(&mut self.buf).unwrap() {
                return Ok(Some(op));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(());
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    fn ping(&mut self) {
        self.send(b"PING\r\n");
        loop {
            match self.next() {
                Some(ServerOp::Pong) => return,
                Some(_) => {}
                None => panic!("closed while waiting for PONG"),
            }
        }
    }

    /// The next message on `sid`, answering pings meanwhile.
    fn msg_on(&mut self, sid: &[u8]) -> (Bytes, Bytes) {
        loop {
            match self.next().expect("connection open") {
                ServerOp::Msg(m) if m.sid() == sid => {
                    return (m.subject_bytes(), m.payload_bytes())
                }
                ServerOp::Ping => self.send(b"PONG\r\n"),
                _ => {}
            }
        }
    }

    fn request(&mut self, subject: &str, token: &str, payload: &[u8]) -> Bytes {
        let reply = format!("_INBOX.t.{token}");
        self.publish(subject, Some(&reply), payload);
        loop {
            let (subject, payload) = self.msg_on(b"1");
            if subject == reply.as_bytes() {
                return payload;
            }
        }
    }
}

fn localhost() -> RouterConfig {
    RouterConfig {
        host: "127.0.0.1".into(),
        ..RouterConfig::default()
    }
}

fn router(config: RouterConfig) -> ServerHandle {
    Server::bind("127.0.0.1:0", config)
        .unwrap()
        .spawn()
        .unwrap()
}

#[test]
fn ten_thousand_messages_in_order() {
    let server = router(localhost());
    let mut sub = Raw::plain(server.local_addr());
    sub.send(b"SUB load.* 1\r\n");
    sub.ping();
    let mut publ = Raw::plain(server.local_addr());
    let mut batch = Vec::new();
    for i in 0..10_000u32 {
        let p = i.to_string();
        batch.extend_from_slice(format!("PUB load.x {}\r\n{p}\r\n", p.len()).as_bytes());
    }
    publ.send(&batch);
    for i in 0..10_000u32 {
        match sub.next() {
            Some(ServerOp::Msg(m)) => assert_eq!(m.payload(), i.to_string().as_bytes()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server.stats().unwrap().in_msgs, 10_000);
    server.shutdown().unwrap();
}

#[test]
fn large_output_waits_for_writable_and_arrives_whole() {
    let server = router(localhost());
    let mut sub = Raw::plain(server.local_addr());
    sub.send(b"SUB big 1\r\n");
    sub.ping();
    let mut publ = Raw::plain(server.local_addr());
    let payload = vec![b'y'; 512 * 1024];
    for _ in 0..16 {
        publ.publish("big", None, &payload);
    }
    publ.ping();
    // 8 MiB queued before the subscriber reads a byte.
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..16 {
        match sub.next() {
            Some(ServerOp::Msg(m)) => assert_eq!(m.payload(), &payload[..]),
            other => panic!("unexpected {other:?}"),
        }
    }
    sub.ping();
    server.shutdown().unwrap();
}

#[test]
fn slow_consumer_is_disconnected_and_publisher_continues() {
    let server = router(RouterConfig {
        max_pending: 256 * 1024,
        ..localhost()
    });
    let mut slow = Raw::plain(server.local_addr());
    slow.send(b"SUB big 1\r\n");
    slow.ping();
    let mut publ = Raw::plain(server.local_addr());
    let payload = vec![b'x'; 64 * 1024];
    // 64 MiB for a reader that never reads: far beyond socket buffers.
    for _ in 0..1024 {
        publ.publish("big", None, &payload);
        if server.stats().unwrap().slow_consumers > 0 {
            break;
        }
    }
    publ.ping();
    assert_eq!(server.stats().unwrap().slow_consumers, 1);
    // The slow consumer's connection ends (after what the kernel buffered).
    while slow.next().is_some() {}
    assert_eq!(server.control().connection_count(), Some(1));
    server.shutdown().unwrap();
}

#[test]
fn a_stalled_write_ends_the_session() {
    let server = router(RouterConfig {
        write_deadline: Duration::from_millis(300),
        ..localhost()
    });
    let mut stuck = Raw::plain(server.local_addr());
    stuck.send(b"SUB big 1\r\n");
    stuck.ping();
    let mut publ = Raw::plain(server.local_addr());
    let payload = vec![b'z'; 64 * 1024];
    // Enough to fill both socket buffers, below max_pending (64 MiB).
    for _ in 0..200 {
        publ.publish("big", None, &payload);
    }
    publ.ping();
    let deadline = Instant::now() + T;
    while server.stats().unwrap().slow_consumers == 0 {
        assert!(Instant::now() < deadline, "the stall was not detected");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.control().connection_count(), Some(1));
    server.shutdown().unwrap();
}

#[test]
fn shutdown_flushes_and_closes_clients() {
    let server = router(localhost());
    let mut a = Raw::plain(server.local_addr());
    a.send(b"SUB x 1\r\n");
    a.ping();
    let mut b = Raw::plain(server.local_addr());
    b.send(b"PUB x 2\r\nhi\r\n");
    b.ping();
    server.shutdown().unwrap();
    assert!(matches!(a.next(), Some(ServerOp::Msg(_))));
    assert_eq!(a.next(), None);
    assert_eq!(b.next(), None);
}

#[test]
fn protocol_error_sends_err_then_closes() {
    let server = router(localhost());
    let mut c = Raw::plain(server.local_addr());
    c.send(b"BOGUS\r\n");
    assert_eq!(
        c.next(),
        Some(ServerOp::Err(Bytes::from_static(
            b"Unknown Protocol Operation"
        )))
    );
    assert_eq!(c.next(), None);
    server.shutdown().unwrap();
}

/// Connect, publish 3, subscribe from the first, ack, close, in raw STAN.
fn stan_scenario(nats: SocketAddr) {
    let mut c = Raw::open(
        nats,
        b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nSUB _INBOX.t.* 1\r\nSUB _STAN.acks.t 2\r\nSUB _DLV.t 3\r\n",
    );
    c.ping();
    let req = ConnectRequest {
        client_id: "t".into(),
        heartbeat_inbox: "_INBOX.t.hb".into(),
        protocol: 1,
        conn_id: Bytes::from_static(b"conn-t"),
        ping_interval: 5,
        ping_max_out: 88,
    };
    // The engine may still be subscribing (external mode): retry.
    let mut resp = None;
    for i in 0..50 {
        let reply = format!("_INBOX.t.c{i}");
        c.publish(
            "_STAN.discover.test-cluster",
            Some(&reply),
            &req.encode_to_vec(),
        );
        // A no-responders status (empty payload) or nothing: try again.
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut got = None;
        while let Ok(op) = c.next_within(deadline.saturating_duration_since(Instant::now())) {
            match op.expect("connection open") {
                ServerOp::Msg(m) if m.subject_bytes() == reply.as_bytes() => {
                    got = Some(m.payload_bytes());
                    break;
                }
                ServerOp::Ping => c.send(b"PONG\r\n"),
                _ => {}
            }
        }
        if let Some(payload) = got.filter(|p| !p.is_empty()) {
            resp = Some(ConnectResponse::decode(payload).unwrap());
            break;
        }
    }
    let resp = resp.expect("a ConnectResponse");
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
        let ack = PubAck::decode(ack).unwrap();
        assert_eq!((ack.guid, ack.error), (format!("g{i}"), String::new()));
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
    let raw = c.request(&resp.sub_requests, "s", &sr.encode_to_vec());
    let sub = SubscriptionResponse::decode(raw).unwrap();
    assert_eq!(sub.error, "");
    for seq in 1..=3u64 {
        let (_, m) = c.msg_on(b"3");
        let m = MsgProto::decode(m).unwrap();
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
    let raw = c.request(&resp.close_requests, "x", &close.encode_to_vec());
    assert_eq!(CloseResponse::decode(raw).unwrap().error, "");
}

#[test]
fn engine_in_process_against_the_embedded_router() {
    let server = Server::bind("127.0.0.1:0", localhost())
        .unwrap()
        .with_engine(ServerConfig::default(), MemStore::new(100), |_| {})
        .spawn()
        .unwrap();
    stan_scenario(server.local_addr());
    server.shutdown().unwrap();
}

#[test]
fn engine_through_an_external_nats_server() {
    let nats = router(localhost());
    let url = format!("nats://{}", nats.local_addr());
    let (tx, events) = std::sync::mpsc::channel();
    let engine = ExternalEngine::start(
        &url,
        ServerConfig::default(),
        MemStore::new(100),
        move |e| {
            let _ = tx.send(e);
        },
    )
    .expect("valid URL");
    stan_scenario(nats.local_addr());
    assert!(events.try_iter().count() > 0, "engine events were reported");
    engine.stop();
    nats.shutdown().unwrap();
}

#[test]
fn external_engine_reports_a_bad_url_and_a_lost_server() {
    let err = ExternalEngine::start(
        "nats://host:notaport",
        ServerConfig::default(),
        MemStore::new(1),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // Reconnects forever: still running after its server went away.
    let nats = router(localhost());
    let url = format!("nats://{}", nats.local_addr());
    let engine =
        ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(1), |_| {}).unwrap();
    nats.shutdown().unwrap();
    assert_eq!(engine.closed(Some(Duration::from_millis(500))), None);
    engine.stop();
}
