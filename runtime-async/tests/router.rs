//! The embedded NATS server's in-process sessions (`LocalSession`), an API
//! of the shared layer only: a local session serving requests from a TCP
//! client. Run once, on the test runtime (the conformance suite tests the
//! server over TCP on every runtime).

mod common;
mod support;

use std::net::TcpStream;

use async_io::Async;
use bytes::{Bytes, BytesMut};
use common::AsyncIo;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use stan_async::RouterServer;
use stan_core::nats::router::{LocalOptions, RouterConfig};
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
use support::{within, T};

/// A raw NATS text client.
struct Raw {
    stream: Async<TcpStream>,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

impl Raw {
    async fn connect(server: &RouterServer<AsyncIo>) -> Raw {
        let stream = Async::<TcpStream>::connect(server.local_addr())
            .await
            .expect("connect");
        let mut c = Raw {
            stream,
            buf: BytesMut::new(),
            dec: ServerOpDecoder::new(Limits::default()),
        };
        assert!(matches!(c.next().await, Some(ServerOp::Info(_))));
        c.send(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n")
            .await;
        c
    }

    async fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.expect("write");
    }

    /// The next op, or `None` at the end of the stream.
    async fn next(&mut self) -> Option<ServerOp> {
        let mut scratch = [0u8; 4096];
        loop {
            if let Some(op) = self.dec.decode(&mut self.buf).expect("decodes") {
                return Some(op);
            }
            let n = within(T, self.stream.read(&mut scratch))
                .await
                .expect("read in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&scratch[..n]);
        }
    }
}

#[test]
fn a_local_session_serves_requests_from_tcp_clients() {
    async_io::block_on(async {
        let config = RouterConfig {
            host: "127.0.0.1".into(),
            ..RouterConfig::default()
        };
        let server = RouterServer::<AsyncIo>::bind("127.0.0.1:0", config)
            .await
            .expect("bind");
        let local = server.attach_local(LocalOptions::default());
        local.subscribe("svc", Some("workers"), "1").unwrap();
        let mut client = Raw::connect(&server).await;
        client
            .send(b"SUB _INBOX.1 9\r\nPUB svc _INBOX.1 4\r\nping\r\n")
            .await;
        let mut got = Vec::new();
        assert!(within(T, local.recv_many(&mut got))
            .await
            .expect("delivered in time"));
        assert_eq!(got.len(), 1);
        assert_eq!(
            (&got[0].subject[..], &got[0].sid[..], &got[0].payload[..]),
            (&b"svc"[..], &b"1"[..], &b"ping"[..])
        );
        let reply = got[0].reply.clone().expect("a reply subject");
        assert_eq!(&reply[..], b"_INBOX.1");
        local
            .publish(reply, None, None, Bytes::from_static(b"pong"))
            .unwrap();
        match client.next().await {
            Some(ServerOp::Msg(m)) => {
                assert_eq!((m.sid(), m.payload()), (&b"9"[..], &b"pong"[..]));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(server.connection_count(), 2);
        // Dropped: detached.
        drop(local);
        assert_eq!(server.connection_count(), 1);
        server.shutdown().await;
        assert_eq!(client.next().await, None, "closed by the shutdown");
    });
}

#[test]
fn a_local_session_learns_of_the_shutdown() {
    async_io::block_on(async {
        let server = RouterServer::<AsyncIo>::bind("127.0.0.1:0", RouterConfig::default())
            .await
            .expect("bind");
        let local = server.attach_local(LocalOptions::default());
        local.subscribe(">", None, "1").unwrap();
        server.shutdown().await;
        let mut got = Vec::new();
        assert_eq!(within(T, local.recv_many(&mut got)).await, Some(false));
        assert!(got.is_empty());
    });
}
