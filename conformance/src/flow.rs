//! NATS-level flow control, the same on every server runtime: a burst to a
//! reader slower than the publisher is paced (the publisher's reads are
//! paused) and delivered whole; a reader that stops reading is cut off and
//! the others go on. The peers are plain blocking `std::net` sockets
//! speaking the text protocol, so what is tested is the server's driver and
//! the router, not a client library.
//!
//! Run per server runtime with [`flow_suite!`](crate::flow_suite).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::{RouterConfig, ServerHandle};

/// Payload size of the burst.
const PAYLOAD: usize = 1024;
/// `MSG flood 1 1024\r\n` + payload + `\r\n`.
const MSG_SIZE: usize = 18 + PAYLOAD + 2;
/// Messages in a burst: 20 times the `max_pending` below.
const BURST: usize = 20_000;
/// The server's `max_pending` in these scenarios (1 MiB keeps them small).
const MAX_PENDING: usize = 1024 * 1024;

/// The router settings of the flow scenarios.
pub fn config() -> RouterConfig {
    RouterConfig {
        max_pending: MAX_PENDING,
        write_deadline: Duration::from_millis(500),
        ..RouterConfig::default()
    }
}

fn host_port(url: &str) -> &str {
    url.trim_start_matches("nats://")
}

/// Connects, reads `INFO`, sends `CONNECT` and `lines`, waits for `PONG`.
fn client(url: &str, lines: &str) -> TcpStream {
    let mut s = TcpStream::connect(host_port(url)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut info = [0u8; 4096];
    let n = s.read(&mut info).expect("INFO");
    assert!(info[..n].starts_with(b"INFO "), "server greets with INFO");
    s.write_all(format!("CONNECT {{\"verbose\":false}}\r\n{lines}PING\r\n").as_bytes())
        .expect("CONNECT");
    let mut got = Vec::new();
    while !got.ends_with(b"PONG\r\n") {
        let n = s.read(&mut info).expect("PONG");
        assert!(n > 0, "closed before PONG");
        got.extend_from_slice(&info[..n]);
    }
    s
}

/// Publishes `BURST` messages to `subject` from a thread, then waits for
/// the `PONG` that says the server took them all; returns how long it took.
fn publish_burst(url: &str, subject: &str) -> std::thread::JoinHandle<Duration> {
    let mut p = client(url, "");
    let subject = subject.to_owned();
    std::thread::spawn(move || {
        let started = Instant::now();
        let payload = vec![b'x'; PAYLOAD];
        let mut batch = Vec::with_capacity(100 * (PAYLOAD + 32));
        for i in 0..BURST {
            batch.extend_from_slice(format!("PUB {subject} {PAYLOAD}\r\n").as_bytes());
            batch.extend_from_slice(&payload);
            batch.extend_from_slice(b"\r\n");
            if i % 100 == 99 {
                p.write_all(&batch).expect("publisher writes");
                batch.clear();
            }
        }
        p.write_all(b"PING\r\n").expect("PING");
        p.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.ends_with(b"PONG\r\n") {
            let n = p.read(&mut buf).expect("the publisher is never cut off");
            assert!(n > 0, "the publisher's connection was closed");
            got.extend_from_slice(&buf[..n]);
        }
        started.elapsed()
    })
}

/// Reads `want` bytes, `chunk` at a time with `pause` between reads.
fn read_exactly(s: &mut TcpStream, want: usize, chunk: usize, pause: Duration) -> usize {
    let mut buf = vec![0u8; chunk];
    let mut total = 0;
    while total < want {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return total,
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    total
}

/// A burst twenty times `max_pending` to a reader that takes 16 KiB per
/// millisecond (slower than the publisher): every byte arrives, nobody is
/// cut off, and the publisher was held back to the reader's pace.
pub fn slow_reader_receives_every_message(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut sub = client(&url, "SUB flood 1\r\n");
    let publisher = publish_burst(&url, "flood");
    let got = read_exactly(
        &mut sub,
        BURST * MSG_SIZE,
        16 * 1024,
        Duration::from_millis(1),
    );
    assert_eq!(
        got,
        BURST * MSG_SIZE,
        "the slow reader got {} of {BURST} messages",
        got / MSG_SIZE
    );
    publisher.join().expect("the publisher finished");
    // Still connected: it answers a PING.
    sub.write_all(b"PING\r\n").expect("still open");
    let mut pong = [0u8; 6];
    sub.read_exact(&mut pong).expect("PONG");
    assert_eq!(&pong, b"PONG\r\n");
    server.stop();
}

/// A reader that stops reading is cut off (write deadline or max pending)
/// while a reader on the same subject and an unrelated pair go on.
pub fn stopped_reader_is_cut_off_others_unaffected(server: Box<dyn ServerHandle>) {
    let url = server.url();
    let mut dead = client(&url, "SUB flood 1\r\n");
    let readers = ["flood", "other"].map(|subject| {
        let mut sub = client(&url, &format!("SUB {subject} 1\r\n"));
        std::thread::spawn(move || {
            read_exactly(&mut sub, BURST * MSG_SIZE, 64 * 1024, Duration::ZERO)
        })
    });
    let publisher = publish_burst(&url, "flood");
    let other = publish_burst(&url, "other");
    let [live_got, other_got] = readers.map(|r| r.join().expect("reader"));
    assert_eq!(live_got, BURST * MSG_SIZE, "the live reader got everything");
    assert_eq!(other_got, BURST * MSG_SIZE, "the unrelated pair went on");
    publisher.join().expect("the publisher finished");
    other.join().expect("the other publisher finished");
    // The dead reader's socket ends: what the kernel held, then EOF (or a
    // reset), long before the burst's size.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        match dead.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the stopped reader was not cut off: {e}"),
        }
    }
    assert!(
        got < BURST * MSG_SIZE,
        "the stopped reader was cut off ({got} bytes reached it)"
    );
    server.stop();
}

/// Expands the flow scenarios into tests for one server runtime, each
/// bounded in time.
#[macro_export]
macro_rules! flow_suite {
    ($name:ident, $s:ty) => {
        mod $name {
            use super::*;
            use $crate::ServerRuntime as _;

            #[test]
            fn slow_reader_receives_every_message() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::flow::slow_reader_receives_every_message(<$s>::nats_only(
                        $crate::flow::config(),
                    ))
                });
            }

            #[test]
            fn stopped_reader_is_cut_off_others_unaffected() {
                $crate::bounded($crate::LIMIT, || {
                    $crate::flow::stopped_reader_is_cut_off_others_unaffected(<$s>::nats_only(
                        $crate::flow::config(),
                    ))
                });
            }
        }
    };
}
