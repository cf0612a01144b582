//! The NATS client driver of every client runtime (the loop under each of
//! its client connections, [`ClientRuntime::drive`]) against a peer that
//! stops reading: the driver must not stall in a write; its keepalive still
//! runs and declares the connection stale.
//!
//! Run per client runtime with [`driver_suite!`](crate::driver_suite).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::nats::client::{ClientOptions, Connection};
use stan_core::nats::{InboundMessage, NatsCommand};

use crate::{ClientRuntime, NatsApp, Stack, T};

/// A NATS-level app that publishes `left` messages of 16 KiB, as fast as
/// the connection takes them.
#[derive(Debug)]
pub struct Flood {
    /// Messages still to publish.
    pub left: usize,
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

/// A peer that completes the handshake (answering the first `PING`), then
/// never reads again and never answers another `PING`: the driver of
/// runtime `C`, flooding it with 32 MiB, is not stuck in a write and
/// declares the connection stale within a few ping intervals.
pub fn a_peer_that_stops_reading_is_declared_stale<C: ClientRuntime>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (release, released) = mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(T)).expect("read timeout");
        s.write_all(b"INFO {\"server_id\":\"x\",\"version\":\"2.9.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n")
            .expect("INFO");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(6).any(|w| w == b"PING\r\n") {
            let n = s.read(&mut buf).expect("the handshake's PING");
            assert!(n > 0, "closed before PING");
            seen.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"PONG\r\n").expect("PONG");
        // Hold the socket open, unread, until the test is over.
        let _ = released.recv_timeout(T);
    });
    let mut options = ClientOptions::with_servers(&format!("nats://{addr}")).expect("URL");
    options.ping_interval = Duration::from_millis(200);
    options.max_pings_out = 2;
    options.max_reconnects = Some(0);
    options.reconnect_buffer_size = 64 << 20;
    let now = Instant::now();
    // 2000 x 16 KiB = 32 MiB: far more than the socket buffers hold.
    let stack = Stack::new(Connection::new(options, now), Flood { left: 2000 }, now);
    let started = Instant::now();
    let reason = C::drive(stack, T);
    assert!(
        reason.to_string().to_lowercase().contains("stale"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "declared stale late: {:?}",
        started.elapsed()
    );
    drop(release);
    peer.join().expect("the peer");
}

/// Expands the driver scenario into a test for one client runtime.
#[macro_export]
macro_rules! driver_suite {
    ($name:ident, $c:ty) => {
        mod $name {
            use super::*;

            #[test]
            fn a_peer_that_stops_reading_is_declared_stale() {
                $crate::bounded(
                    $crate::LIMIT,
                    $crate::driver::a_peer_that_stops_reading_is_declared_stale::<$c>,
                );
            }
        }
    };
}
