//! The streaming engine on smol over real loopback TCP: in process against
//! the embedded router, and through a NATS client connection to an
//! "external" NATS server (here another router on its own port).

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{timeout, T};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use stan_core::nats::router::RouterConfig;
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_proto::{
    Ack, CloseRequest, CloseResponse, ConnectRequest, ConnectResponse, Message, MsgProto, PubAck,
    PubMsg, StartPosition, SubscriptionRequest, SubscriptionResponse,
};
use stan_smol::{ExternalEngine, RouterServer};

/// A STAN client speaking raw NATS text over TCP.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut c = Raw {
            stream,
            buf: BytesMut::new(),
            dec: ServerOpDecoder::new(Limits::default()),
        };
        assert!(matches!(c.next().await, Some(ServerOp::Info(_))));
        c.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nSUB _INBOX.t.* 1\r\nSUB _STAN.acks.t 2\r\nSUB _DLV.t 3\r\nPING\r\n")
            .await;
        while !matches!(c.next().await, Some(ServerOp::Pong)) {}
        c
    }

    async fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
    }

    async fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let line = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        };
        let mut out = line.into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.send(&out).await;
    }

    async fn next(&mut self) -> Option<ServerOp> {
        let mut scratch = [0u8; 4096];
        loop {
            if let Some(op) = self.dec.decode(&mut self.buf).unwrap() {
                return Some(op);
            }
            let n = timeout(T, self.stream.read(&mut scratch))
                .await
                .expect("read timed out")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&scratch[..n]);
        }
    }

    /// The next message on `sid`, answering heartbeats meanwhile.
    async fn msg_on(&mut self, sid: &[u8]) -> (Bytes, Bytes) {
        loop {
            match self.next().await.expect("connection open") {
                ServerOp::Msg(m) if m.sid() == sid => {
                    return (m.subject_bytes(), m.payload_bytes())
                }
                ServerOp::Ping => self.send(b"PONG\r\n").await,
                _ => {}
            }
        }
    }

    async fn request(&mut self, subject: &str, token: &str, payload: &[u8]) -> Bytes {
        let reply = format!("_INBOX.t.{token}");
        self.publish(subject, Some(&reply), payload).await;
        loop {
            let (subject, payload) = self.msg_on(b"1").await;
            if subject == reply.as_bytes() {
                return payload;
            }
        }
    }
}

/// Connect, publish 3, subscribe from the first, ack, close.
async fn scenario(nats: SocketAddr) {
    let mut c = Raw::open(nats).await;
    let req = ConnectRequest {
        client_id: "t".into(),
        heartbeat_inbox: "_INBOX.t.hb".into(),
        protocol: 1,
        conn_id: Bytes::from_static(b"conn-t"),
        ping_interval: 5,
        ping_max_out: 88,
    };
    // The engine may still be subscribing (external mode): retry briefly.
    let mut resp = None;
    for i in 0..50 {
        c.publish(
            "_STAN.discover.test-cluster",
            Some(&format!("_INBOX.t.c{i}")),
            &req.encode_to_vec(),
        )
        .await;
        let got = timeout(Duration::from_millis(200), async {
            loop {
                let (subject, payload) = c.msg_on(b"1").await;
                if subject.starts_with(b"_INBOX.t.c") {
                    return payload;
                }
            }
        })
        .await;
        if let Ok(payload) = got {
            if !payload.is_empty() {
                resp = Some(ConnectResponse::decode(payload).unwrap());
                break;
            }
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
        )
        .await;
        let (_, ack) = c.msg_on(b"2").await;
        let ack = PubAck::decode(ack).unwrap();
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
    let raw = c
        .request(&resp.sub_requests, "s", &sr.encode_to_vec())
        .await;
    let sub = SubscriptionResponse::decode(raw).unwrap();
    assert_eq!(sub.error, "");
    for seq in 1..=3u64 {
        let (_, m) = c.msg_on(b"3").await;
        let m = MsgProto::decode(m).unwrap();
        assert_eq!((m.sequence, m.data), (seq, Bytes::from(format!("m{seq}"))));
        let ack = Ack {
            subject: "foo".into(),
            sequence: seq,
        };
        c.publish(&sub.ack_inbox, None, &ack.encode_to_vec()).await;
    }
    let close = CloseRequest {
        client_id: "t".into(),
    };
    let raw = c
        .request(&resp.close_requests, "x", &close.encode_to_vec())
        .await;
    assert_eq!(CloseResponse::decode(raw).unwrap().error, "");
}

smol_test! {
    async fn engine_in_process_against_the_embedded_router() {
        let server = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
            .await
            .unwrap();
        let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
        timeout(T * 3, scenario(server.local_addr()))
            .await
            .expect("scenario in time");
        engine.stop().await;
        server.shutdown().await;
    }
}

smol_test! {
    async fn engine_through_an_external_nats_server() {
        let nats = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
            .await
            .unwrap();
        let url = format!("nats://{}", nats.local_addr());
        let engine = ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {})
            .expect("valid URL");
        timeout(T * 3, scenario(nats.local_addr()))
            .await
            .expect("scenario in time");
        engine.stop().await;
        nats.shutdown().await;
    }
}

smol_test! {
    async fn external_engine_is_not_closed_while_running() {
        let nats = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
            .await
            .unwrap();
        let url = format!("nats://{}", nats.local_addr());
        let engine = ExternalEngine::start(&url, ServerConfig::default(), MemStore::new(100), |_| {})
            .expect("valid URL");
        assert!(timeout(Duration::from_millis(300), engine.closed()).await.is_err());
        engine.stop().await;
        nats.shutdown().await;
    }
}

#[test]
fn external_engine_reports_a_bad_url() {
    assert!(ExternalEngine::start(
        "nats://host:notaport",
        ServerConfig::default(),
        MemStore::new(1),
        |_| {}
    )
    .is_err());
}
