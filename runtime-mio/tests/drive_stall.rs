//! A NATS server that stops reading must not stall the driver: its
//! keepalive still runs and declares the connection stale.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stan_core::nats::client::{ClientOptions, CloseReason, Connection, DisconnectReason};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::nats::{InboundMessage, NatsCommand};

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

#[test]
fn a_peer_that_stops_reading_is_declared_stale() {
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
    let started = Instant::now();
    let (mut event_loop, handle) = stan_mio::EventLoop::<()>::new().unwrap();
    // A watchdog: a stuck loop is stopped (and the test fails on timing).
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        handle.stop();
    });
    let reason = event_loop.drive(&mut stack, |_, ()| {}, |_| {});
    assert!(
        reason.to_string().to_lowercase().contains("stale"),
        "{reason}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop((server, watchdog));
}

/// An app that does nothing (the dial is the test).
struct Idle;

impl NatsApp for Idle {
    fn handle_message(&mut self, _: Instant, _: InboundMessage) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_command(&mut self) -> Option<NatsCommand> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn a_dial_that_hangs_is_abandoned_at_connect_timeout() {
    // A listener that never accepts: once its accept queue is full, the
    // kernel drops further SYNs and a dial hangs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let full = (0..4096).any(|_| {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => {
                fillers.push(s);
                false
            }
            Err(_) => true,
        }
    });
    if !full {
        eprintln!("skipped: this system never lets a dial hang");
        return;
    }
    let mut options = ClientOptions::with_servers(&format!("nats://{addr}")).unwrap();
    options.connect_timeout = Duration::from_millis(300);
    options.reconnect_wait = Duration::from_millis(50);
    options.max_reconnects = Some(1);
    let now = Instant::now();
    let mut stack = Stack::new(Connection::new(options, now), Idle, now);
    let started = Instant::now();
    let (mut event_loop, handle) = stan_mio::EventLoop::<()>::new().unwrap();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        handle.stop();
    });
    let reason = event_loop.drive(&mut stack, |_, ()| {}, |_| {});
    // Both dials were abandoned by the connection's own deadline.
    assert_eq!(
        reason,
        CloseReason::ReconnectsExhausted {
            attempts: 1,
            last: DisconnectReason::DialTimeout
        }
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop((listener, fillers, watchdog));
}
