//! Invariant checks shared by the fuzz targets in `fuzz/` and the test that
//! replays their committed corpus, so CI covers the corpus without a fuzzer.
//!
//! Input format of [`decode_chunked`] (chosen so that any byte string is a
//! valid input and no `arbitrary` dependency is needed):
//! * byte 0: bit 0 selects the direction (0 = client ops, 1 = server ops);
//!   bits 1..=2 select small limits, so the limit paths get exercised;
//! * byte 1: `k`, the number of chunk sizes that follow (at most 32);
//! * the next `k` bytes: chunk sizes, used cyclically (0 means 1);
//! * the rest: the wire bytes.

use bytes::BytesMut;

use crate::nats::{ClientOpDecoder, DecodeError, Limits, ServerOpDecoder};

/// Decodes `wire` in one piece and in the chunks described by `input`, and
/// panics if the two runs disagree on any op or on the error.
pub fn decode_chunked(input: &[u8]) {
    let (flags, rest) = input.split_first().unwrap_or((&0, &[]));
    let (k, rest) = rest.split_first().unwrap_or((&0, &[]));
    let k = usize::from(*k).min(32).min(rest.len());
    let (sizes, wire) = rest.split_at(k);
    let limits = match (flags >> 1) & 3 {
        0 => Limits::default(),
        1 => Limits {
            max_control_line: 16,
            max_payload: 64,
        },
        2 => Limits {
            max_control_line: 64,
            max_payload: 0,
        },
        _ => Limits {
            max_control_line: 1,
            max_payload: 1 << 20,
        },
    };
    if flags & 1 == 0 {
        let whole = run(
            wire,
            &[],
            limits,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
        let chunked = run(
            wire,
            sizes,
            limits,
            ClientOpDecoder::new,
            ClientOpDecoder::decode,
        );
        assert_eq!(whole, chunked, "client-op decoding depends on chunking");
    } else {
        let whole = run(
            wire,
            &[],
            limits,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
        let chunked = run(
            wire,
            sizes,
            limits,
            ServerOpDecoder::new,
            ServerOpDecoder::decode,
        );
        assert_eq!(whole, chunked, "server-op decoding depends on chunking");
    }
}

/// Feeds `wire` to a fresh decoder in chunks of the given sizes (all at once
/// when `sizes` is empty); returns the ops and the first error.
fn run<D, Op>(
    wire: &[u8],
    sizes: &[u8],
    limits: Limits,
    new: fn(Limits) -> D,
    decode: fn(&mut D, &mut BytesMut) -> Result<Option<Op>, DecodeError>,
) -> (Vec<Op>, Option<DecodeError>) {
    let mut dec = new(limits);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let n = if sizes.is_empty() {
            wire.len()
        } else {
            usize::from(sizes[i % sizes.len()]).max(1)
        };
        i += 1;
        let end = (pos + n).min(wire.len());
        buf.extend_from_slice(&wire[pos..end]);
        pos = end;
        loop {
            match decode(&mut dec, &mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

/// Drives a [`Router`](crate::nats::router::Router) with arbitrary sessions,
/// bytes and time steps. Invariants: no panic; everything the router sends
/// decodes as valid server ops; after `handle_timeout(now)` no deadline at or
/// before `now` remains; the connection count matches the open sessions.
///
/// Input: a sequence of commands, one byte each plus arguments:
/// * `0..=127`: feed the next `b & 31` bytes to session `b >> 5`;
/// * `128..=159`: advance the clock by `(b & 31) * 250 ms` and fire timers;
/// * `160..=191`: accept a session (at most four);
/// * `192..=223`: the transport of session `b & 3` closes;
/// * `224..=255`: drain every session's output.
///
/// The first byte selects the configuration (authentication, small limits).
/// `start` is the virtual clock's origin (the caller reads a clock once).
pub fn router_session(start: std::time::Instant, input: &[u8]) {
    use crate::nats::router::{Auth, ConnId, Router, RouterConfig, RouterEvent, SessionPhase};
    use crate::nats::ServerOp;
    use std::time::Duration;

    let Some((&cfg, mut rest)) = input.split_first() else {
        return;
    };
    let config = RouterConfig {
        auth: match cfg & 3 {
            1 => Auth::Token("t".into()),
            2 => Auth::UserPass {
                user: "u".into(),
                pass: "p".into(),
            },
            _ => Auth::None,
        },
        max_pending: if cfg & 4 != 0 { 512 } else { 64 * 1024 },
        max_payload: if cfg & 8 != 0 { 32 } else { 1024 },
        max_control_line: if cfg & 16 != 0 { 24 } else { 4096 },
        max_connections: 3,
        max_subscriptions: if cfg & 32 != 0 { 2 } else { 0 },
        ping_interval: Duration::from_secs(5),
        seed: u64::from(cfg),
        ..RouterConfig::default()
    };
    let mut now = start;
    let mut router = Router::new(config, now);
    let mut sessions: Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)> = Vec::new();
    let limits = Limits {
        max_control_line: 1 << 16,
        max_payload: 1 << 20,
    };
    let drain =
        |router: &mut Router, sessions: &mut Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)>| {
            while router.poll_event().is_some() {}
            for (conn, _, dec, out) in sessions.iter_mut() {
                while let Some(chunk) = router.poll_transmit(*conn) {
                    out.extend_from_slice(&chunk);
                }
                while let Some(op) = dec.decode(out).expect("router output must decode") {
                    if let ServerOp::Info(json) = op {
                        serde_json::from_slice::<serde_json::Value>(&json).expect("INFO is JSON");
                    }
                }
            }
        };
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            0..=127 => {
                let n = usize::from(b & 31).min(rest.len());
                let (bytes, tail) = rest.split_at(n);
                rest = tail;
                if let Some((conn, input, _, _)) = sessions.get_mut(usize::from(b >> 5)) {
                    input.extend_from_slice(bytes);
                    router.handle_input(now, *conn, input);
                }
            }
            128..=159 => {
                now += Duration::from_millis(250) * u32::from(b & 31);
                router.handle_timeout(now);
                assert!(
                    router.poll_timeout().is_none_or(|d| d > now),
                    "a deadline at or before now survived handle_timeout"
                );
            }
            160..=191 => {
                if sessions.len() < 4 {
                    let conn = router.handle_accept(now, "127.0.0.1:1");
                    sessions.push((
                        conn,
                        BytesMut::new(),
                        ServerOpDecoder::new(limits),
                        BytesMut::new(),
                    ));
                }
            }
            192..=223 => {
                let i = usize::from(b & 3);
                if i < sessions.len() {
                    let (conn, ..) = sessions.remove(i);
                    router.handle_transport_closed(now, conn);
                }
            }
            _ => drain(&mut router, &mut sessions),
        }
        let open = sessions
            .iter()
            .filter(|s| {
                matches!(
                    router.session_phase(s.0),
                    Some(SessionPhase::Open | SessionPhase::AwaitingConnect)
                )
            })
            .count();
        assert_eq!(router.connection_count(), open, "connection count drifted");
    }
    drain(&mut router, &mut sessions);
    // Closing sessions are finished by their driver.
    while let Some(ev) = router.poll_event() {
        if let RouterEvent::SessionClosed { conn, .. } = ev {
            router.handle_transport_closed(now, conn);
        }
    }
}
