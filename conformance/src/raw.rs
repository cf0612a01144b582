//! A raw NATS client on a blocking `std::net` socket, speaking the text
//! protocol and decoding what the server sends with the core's decoder:
//! what the server scenarios see the server through, so that what they test
//! is the server's driver and the router, not a client library.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stan_core::nats::{Limits, ServerOp, ServerOpDecoder};

use crate::T;

/// The `CONNECT` line of [`Raw::plain`].
pub const CONNECT: &str =
    "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n";

/// A raw NATS connection. Every read is bounded by [`T`] (a read that
/// times out fails the test); every write too.
#[derive(Debug)]
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    dec: ServerOpDecoder,
}

/// A read found nothing within its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl Raw {
    /// Connects to `url` (`nats://host:port`), reads `INFO`, sends
    /// [`CONNECT`] and nothing else.
    pub fn plain(url: &str) -> Raw {
        let mut c = Raw::greeted(url);
        c.send(CONNECT.as_bytes());
        c
    }

    /// Connects to `url` and reads `INFO`; sends nothing (the caller's
    /// `CONNECT` is next).
    pub fn greeted(url: &str) -> Raw {
        let stream = TcpStream::connect(url.trim_start_matches("nats://")).expect("connect");
        stream.set_read_timeout(Some(T)).expect("read timeout");
        stream.set_write_timeout(Some(T)).expect("write timeout");
        let mut c = Raw {
            stream,
            buf: BytesMut::new(),
            dec: ServerOpDecoder::new(Limits::default()),
        };
        assert!(
            matches!(c.next_op(), Some(ServerOp::Info(_))),
            "the server greets with INFO"
        );
        c
    }

    /// [`Raw::plain`], then `lines` (e.g. `SUB`s), then a `PING`; returns
    /// once the `PONG` says the server took them.
    pub fn open(url: &str, lines: &str) -> Raw {
        let mut c = Raw::plain(url);
        c.send(lines.as_bytes());
        c.ping();
        c
    }

    /// Writes `b` whole.
    pub fn send(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write in time");
    }

    /// Publishes `payload` to `subject`, with a reply subject if given.
    pub fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &[u8]) {
        let mut out = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        }
        .into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.send(&out);
    }

    /// The next op; `None` once the server closed the connection (end of
    /// stream or reset). Panics if nothing comes within [`T`].
    pub fn next_op(&mut self) -> Option<ServerOp> {
        self.next_within(T).expect("read timed out")
    }

    /// The next op within `limit`; `Ok(None)` once the server closed the
    /// connection.
    pub fn next_within(&mut self, limit: Duration) -> Result<Option<ServerOp>, TimedOut> {
        self.stream
            .set_read_timeout(Some(limit))
            .expect("read timeout");
        let mut scratch = [0u8; 16 * 1024];
        let op = loop {
            if let Some(op) = self
                .dec
                .decode(&mut self.buf)
                .expect("the server's bytes decode")
            {
                break Ok(Some(op));
            }
            match self.stream.read(&mut scratch) {
                Ok(0) => break Ok(None),
                Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break Err(TimedOut)
                }
                Err(_) => break Ok(None),
            }
        };
        self.stream.set_read_timeout(Some(T)).expect("read timeout");
        op
    }

    /// Sends `PING` and waits for the `PONG` (skipping what comes before).
    pub fn ping(&mut self) {
        self.send(b"PING\r\n");
        loop {
            match self.next_op() {
                Some(ServerOp::Pong) => return,
                Some(_) => {}
                None => panic!("closed while waiting for PONG"),
            }
        }
    }

    /// The next message on `sid` (subject and payload), answering the
    /// server's `PING`s meanwhile.
    pub fn msg_on(&mut self, sid: &[u8]) -> (Bytes, Bytes) {
        loop {
            match self.next_op().expect("connection open") {
                ServerOp::Msg(m) if m.sid() == sid => {
                    return (m.subject_bytes(), m.payload_bytes())
                }
                ServerOp::Ping => self.send(b"PONG\r\n"),
                _ => {}
            }
        }
    }
}
