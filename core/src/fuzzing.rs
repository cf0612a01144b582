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
/// * `224..=239`: drain every session's output (reporting it written, and
///   feeding stalled producers their input again when resumed);
/// * `240..=255`: a write to session `b & 3` stays blocked past the deadline.
///
/// Also checked: a session whose input is paused (a stalled producer) has a
/// deadline that ends the stall.
///
/// The first byte selects the configuration (authentication, small limits,
/// debug and trace logging).
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
        debug: cfg & 64 != 0,
        trace: cfg & 64 != 0,
        ..RouterConfig::default()
    };
    let mut now = start;
    let mut router = Router::new(config, now);
    let mut sessions: Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)> = Vec::new();
    let limits = Limits {
        max_control_line: 1 << 16,
        max_payload: 1 << 20,
    };
    let drain = |router: &mut Router,
                 sessions: &mut Vec<(ConnId, BytesMut, ServerOpDecoder, BytesMut)>,
                 now: std::time::Instant| {
        while let Some(ev) = router.poll_event() {
            if let RouterEvent::InputResumed(c) = ev {
                if let Some((conn, input, ..)) = sessions.iter_mut().find(|s| s.0 == c) {
                    router.handle_input(now, *conn, input);
                }
            }
        }
        for (conn, _, dec, out) in sessions.iter_mut() {
            while let Some(chunk) = router.poll_transmit(*conn) {
                out.extend_from_slice(&chunk);
                router.handle_written(now, *conn, chunk.len());
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
            224..=239 => drain(&mut router, &mut sessions, now),
            _ => {
                if let Some((conn, ..)) = sessions.get(usize::from(b & 3)) {
                    router.handle_write_stalled(now, *conn);
                }
            }
        }
        for (conn, ..) in &sessions {
            if router.is_input_paused(*conn) {
                assert!(
                    router.poll_timeout().is_some(),
                    "a stalled producer has no deadline to end its stall"
                );
            }
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
    drain(&mut router, &mut sessions, now);
    // Closing sessions are finished by their driver.
    while let Some(ev) = router.poll_event() {
        if let RouterEvent::SessionClosed { conn, .. } = ev {
            router.handle_transport_closed(now, conn);
        }
    }
}

/// Drives the STAN engine in the simulation world with arbitrary client
/// actions, raw payloads on its subjects and time steps, checking after
/// each step that its records stay consistent and that it never leaves a
/// deadline behind (which would make a driver spin).
///
/// Input format: a sequence of ops; each op is one byte `op` and the bytes
/// its arguments consume (missing bytes read as 0).
pub fn engine_session(input: &[u8]) {
    use crate::sim::{SubHandle, World, C};
    use crate::stan::server::{ServerConfig, StoreLimits};
    use crate::stan::store::ChannelLimits;
    use bytes::Bytes;
    use stan_proto::SubscriptionRequest;
    use std::time::Duration;

    const IDS: [&str; 4] = ["a", "b", "c", "bad id"];
    const CHANNELS: [&str; 5] = ["foo", "bar", "Foo", "baz.q", "foo.*"];
    const SUBJECTS: [&str; 7] = [
        "_STAN.discover.test-cluster",
        "_STAN.discover.test-cluster.pings",
        "_STAN.pub.test-cluster.foo",
        "_STAN.sub.test-cluster",
        "_STAN.unsub.test-cluster",
        "_STAN.subclose.test-cluster",
        "_STAN.close.test-cluster",
    ];

    let mut bytes = input.iter().copied();
    let mut next = move || bytes.next();
    let Some(config) = next() else { return };
    let mut w = World::new(ServerConfig {
        hb_interval: Duration::from_secs(1 + u64::from(config & 3)),
        hb_timeout: Duration::from_secs(1),
        hb_fail_count: u32::from((config >> 2) & 3),
        io_batch_size: 1 + usize::from(config >> 4),
        limits: StoreLimits {
            max_channels: 3,
            channel: ChannelLimits {
                max_msgs: 5,
                max_bytes: 400,
                max_age: Duration::from_secs(20),
                max_subs: 4,
                max_inactivity: Duration::from_secs(if config & 0x80 != 0 { 30 } else { 0 }),
            },
            per_channel: Vec::new(),
        },
        ..ServerConfig::default()
    });
    let mut clients: Vec<(C, bool)> = Vec::new();
    let mut subs: Vec<(C, SubHandle)> = Vec::new();
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        let pick_client = |clients: &[(C, bool)], a: u8| -> Option<(usize, C, bool)> {
            (!clients.is_empty()).then(|| {
                let i = usize::from(a) % clients.len();
                (i, clients[i].0, clients[i].1)
            })
        };
        match op % 11 {
            0 if clients.len() < 5 => {
                let c = w.client(&format!("k{}", clients.len()));
                let ok = w
                    .connect_as(c, IDS[usize::from(arg) % IDS.len()])
                    .error
                    .is_empty();
                clients.push((c, ok));
            }
            1 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let len = usize::from(next().unwrap_or(0));
                    let channel = CHANNELS[usize::from(arg >> 4) % CHANNELS.len()];
                    w.publish(c, channel, &vec![b'x'; len]);
                }
            }
            2 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let f = next().unwrap_or(0);
                    let g = next().unwrap_or(0);
                    let req = SubscriptionRequest {
                        subject: CHANNELS[usize::from(f) % CHANNELS.len()].into(),
                        q_group: if f & 0x10 != 0 {
                            "q".into()
                        } else {
                            String::new()
                        },
                        durable_name: if f & 0x20 != 0 {
                            "d".into()
                        } else {
                            String::new()
                        },
                        max_in_flight: i32::from(g & 3),
                        ack_wait_in_secs: i32::from((g >> 2) & 3),
                        start_position: i32::from(f >> 6) + i32::from(g >> 7) * 2,
                        start_sequence: u64::from(g >> 4),
                        start_time_delta: i64::from(g) * 1_000_000_000,
                        ..SubscriptionRequest::default()
                    };
                    if let Ok(s) = w.subscribe(c, req) {
                        subs.push((c, s));
                    }
                }
            }
            3 if !subs.is_empty() => {
                let (c, s) = subs[usize::from(arg) % subs.len()].clone();
                w.ack(c, &s, u64::from(next().unwrap_or(0) % 12));
            }
            4 if !subs.is_empty() => {
                let i = usize::from(arg) % subs.len();
                let (c, s) = subs.swap_remove(i);
                if clients.iter().any(|(k, ok)| *k == c && *ok) {
                    let _ = w.unsubscribe(c, &s, arg & 1 == 1);
                }
            }
            5 => {
                if let Some((i, c, true)) = pick_client(&clients, arg) {
                    let _ = w.close(c);
                    clients[i].1 = false;
                }
            }
            6 => {
                if let Some((_, c, _)) = pick_client(&clients, arg) {
                    let len = usize::from(next().unwrap_or(0) % 32);
                    let payload: Vec<u8> = (0..len).map(|_| next().unwrap_or(0)).collect();
                    let subject = SUBJECTS[usize::from(arg >> 3) % SUBJECTS.len()];
                    let _ = w.request(c, subject, Bytes::from(payload));
                }
            }
            7 => w.advance(Duration::from_millis(u64::from(arg) * 50)),
            8 => w.advance(Duration::from_secs(u64::from(arg))),
            9 => {
                if let Some((_, c, _)) = pick_client(&clients, arg) {
                    if arg & 0x80 != 0 {
                        w.detach(c);
                    } else {
                        w.set_answer_heartbeats(c, arg & 0x40 == 0);
                    }
                }
            }
            10 => {
                if let Some((_, c, true)) = pick_client(&clients, arg) {
                    let _ = w.ping(c);
                }
            }
            _ => {}
        }
        w.pump();
        w.engine.assert_consistent();
    }
}
