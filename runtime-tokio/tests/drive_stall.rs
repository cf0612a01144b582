//! A NATS server that stops reading must not stall the driver: its
//! keepalive still runs and declares the connection stale.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::nats::client::{ClientOptions, Connection};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::nats::{InboundMessage, NatsCommand};
use tokio::sync::Notify;

/// Publishes `left` messages of 16 KiB, as fast as the connection takes them.
struct Flood {
    left: usize,
}

impl NatsApp for Flood {
    fn handle_message(&mut self, _: Instant, _: InboundMessage) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_command(&mut self) -> Option<NatsCommand> {
        (self.left > 0).then(|| {
            self.left -= 1;
            NatsCommand::Publish {
                subject: Bytes::from_static(b"flood"),
                reply: None,
                payload: Bytes::from(vec![b'x'; 16 * 1024]),
            }
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_declared_stale() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Handshake, then never read again (and never answer PINGs).
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"INFO {\"server_id\":\"x\",\"version\":\"2.9.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n")
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(6).any(|w| w == b"PING\r\n") {
            let n = s.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"PONG\r\n").unwrap();
        std::thread::sleep(Duration::from_secs(15));
    });
    let mut options = ClientOptions::with_servers(&format!("nats://{addr}")).unwrap();
    options.ping_interval = Duration::from_millis(200);
    options.max_pings_out = 2;
    options.max_reconnects = Some(0);
    options.reconnect_buffer_size = 64 << 20;
    let now = Instant::now();
    // 2000 x 16 KiB = 32 MiB: far more than the socket buffers hold.
    let mut stack = Stack::new(Connection::new(options, now), Flood { left: 2000 }, now);
    let stop = Notify::new();
    let started = Instant::now();
    let reason = tokio::time::timeout(
        Duration::from_secs(10),
        stan_tokio::drive(&mut stack, &stop, |_| {}),
    )
    .await
    .expect("the driver is not stuck in a write");
    assert!(
        reason.to_string().to_lowercase().contains("stale"),
        "{reason}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(server);
}
