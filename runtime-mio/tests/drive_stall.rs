//! The mio event loop's own dialing: a dial that hangs is abandoned at the
//! core's dial deadline. (A peer that stops reading is declared stale: the
//! conformance suite's `driver_suite!`, run on mio too.)

use std::net::TcpListener;
use std::time::{Duration, Instant};

use stan_core::nats::client::{ClientOptions, CloseReason, Connection, DisconnectReason};
use stan_core::nats::stack::{NatsApp, Stack};
use stan_core::nats::{InboundMessage, NatsCommand};

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
