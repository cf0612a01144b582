//! The smol router server over real loopback TCP.

#[macro_use]
mod common;

use bytes::{Bytes, BytesMut};
use common::{timeout, T};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use stan_core::nats::router::{LocalOptions, RouterConfig};
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
use stan_smol::RouterServer;

struct Client {
    stream: TcpStream,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

impl Client {
    async fn connect(server: &RouterServer) -> Client {
        let stream = TcpStream::connect(server.local_addr()).await.unwrap();
        let mut c = Client {
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
        self.stream.write_all(b).await.unwrap();
    }

    /// The next op, or None at EOF.
    async fn next(&mut self) -> Option<ServerOp> {
        let mut scratch = [0u8; 16 * 1024];
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

    async fn ping(&mut self) {
        self.send(b"PING\r\n").await;
        loop {
            match self.next().await {
                Some(ServerOp::Pong) => return,
                Some(_) => {}
                None => panic!("closed while waiting for PONG"),
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

smol_test! {
    async fn ten_thousand_messages_in_order() {
        let server = RouterServer::bind("127.0.0.1:0", localhost()).await.unwrap();
        let mut sub = Client::connect(&server).await;
        sub.send(b"SUB load.* 1\r\n").await;
        sub.ping().await;
        let mut publ = Client::connect(&server).await;
        let mut batch = Vec::new();
        for i in 0..10_000u32 {
            let p = i.to_string();
            batch.extend_from_slice(format!("PUB load.x {}\r\n{p}\r\n", p.len()).as_bytes());
        }
        publ.send(&batch).await;
        for i in 0..10_000u32 {
            match sub.next().await {
                Some(ServerOp::Msg(m)) => assert_eq!(m.payload(), i.to_string().as_bytes()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(server.stats().in_msgs, 10_000);
        server.shutdown().await;
    }
}

smol_test! {
    async fn slow_consumer_is_disconnected_and_publisher_continues() {
        let server = RouterServer::bind(
            "127.0.0.1:0",
            RouterConfig {
                max_pending: 256 * 1024,
                ..localhost()
            },
        )
        .await
        .unwrap();
        let mut slow = Client::connect(&server).await;
        slow.send(b"SUB big 1\r\n").await;
        slow.ping().await;
        let mut publ = Client::connect(&server).await;
        let payload = vec![b'x'; 64 * 1024];
        let mut frame = format!("PUB big {}\r\n", payload.len()).into_bytes();
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(b"\r\n");
        // 64 MiB for a reader that never reads: far beyond socket buffers.
        for _ in 0..1024 {
            publ.send(&frame).await;
            if server.stats().slow_consumers > 0 {
                break;
            }
        }
        publ.ping().await;
        assert_eq!(server.stats().slow_consumers, 1);
        // The slow consumer's connection ends (after what the kernel buffered).
        let drained = timeout(T, async { while slow.next().await.is_some() {} }).await;
        assert!(drained.is_ok(), "slow consumer connection was closed");
        assert_eq!(server.connection_count(), 1);
        server.shutdown().await;
    }
}

smol_test! {
    async fn local_session_talks_to_tcp_clients() {
        let server = RouterServer::bind("127.0.0.1:0", localhost()).await.unwrap();
        let local = server.attach_local(LocalOptions::default());
        local.subscribe("svc", Some("workers"), "1").unwrap();
        let mut client = Client::connect(&server).await;
        client
            .send(b"SUB _INBOX.1 9\r\nPUB svc _INBOX.1 4\r\nping\r\n")
            .await;
        let mut got = Vec::new();
        assert!(timeout(T, local.recv_many(&mut got)).await.unwrap());
        assert_eq!(&got[0].payload[..], b"ping");
        local
            .publish(
                got[0].reply.clone().unwrap(),
                None,
                None,
                Bytes::from_static(b"pong"),
            )
            .unwrap();
        match client.next().await {
            Some(ServerOp::Msg(m)) => {
                assert_eq!((m.sid(), m.payload()), (&b"9"[..], &b"pong"[..]));
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(local);
        assert_eq!(server.connection_count(), 1);
        server.shutdown().await;
    }
}

smol_test! {
    async fn shutdown_flushes_and_closes_clients() {
        let server = RouterServer::bind("127.0.0.1:0", localhost()).await.unwrap();
        let mut a = Client::connect(&server).await;
        a.send(b"SUB x 1\r\n").await;
        a.ping().await;
        let mut b = Client::connect(&server).await;
        b.send(b"PUB x 2\r\nhi\r\n").await;
        b.ping().await;
        server.shutdown().await;
        assert!(matches!(a.next().await, Some(ServerOp::Msg(_))));
        assert_eq!(a.next().await, None);
        assert_eq!(b.next().await, None);
    }
}

smol_test! {
    async fn protocol_error_sends_err_then_closes() {
        let server = RouterServer::bind("127.0.0.1:0", localhost()).await.unwrap();
        let mut c = Client::connect(&server).await;
        c.send(b"BOGUS\r\n").await;
        assert_eq!(
            c.next().await,
            Some(ServerOp::Err(Bytes::from_static(
                b"Unknown Protocol Operation"
            )))
        );
        assert_eq!(c.next().await, None);
        server.shutdown().await;
    }
}
