//! What is the mio server's own over real loopback TCP: output larger than
//! the socket takes waits for writability, a stalled write ends the session,
//! and its external engine's URL errors and reconnecting. Ordering, slow
//! consumers, shutdown, protocol errors and raw STAN are in the conformance
//! suite (`server_suite!`), run on mio like on the other runtimes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stan_core::nats::router::RouterConfig;
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{ExternalEngine, Server, ServerHandle};

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

/// Connect, publish 3, subscribe from the first, ack, close, in raw STAN.

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
