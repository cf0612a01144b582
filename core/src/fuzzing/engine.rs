//! The streaming engine in the simulation world: [`engine_session`] with
//! byte-coded client actions, and the invariants it and the
//! structure-aware target ([`engine_structured`](super::engine_structured))
//! check after every step ([`check_engine`]).

use std::time::Duration;

use bytes::Bytes;
use stan_proto::SubscriptionRequest;

use crate::sim::{SubHandle, World, C};
use crate::stan::server::{EngineSnapshotOptions, ServerConfig, StoreLimits};
use crate::stan::store::{ChannelLimits, Store};

/// The invariants both engine targets check after every step:
/// * the engine's records agree with each other (`assert_consistent`);
/// * after `handle_timeout(now)` no deadline at or before `now` is left
///   (a driver would spin);
/// * every channel's messages are contiguous: `first..=last` are all
///   stored, each under its own sequence, nothing outside, and the byte
///   count is their size;
/// * memory stays within the limits: at most `max_channels` channels, and
///   per channel at most `max_msgs` messages, `max_bytes` bytes (one
///   message larger than that is kept alone), `max_subs` subscriptions,
///   no message older than `max_age` once the timers at `now` fired;
/// * no subscription has more first deliveries in flight than its max in
///   flight (only redelivery may take it past).
///
/// The world is pumped afterwards (the timeout may have produced output).
pub fn check_engine(w: &mut World) {
    let now = w.now;
    w.engine.handle_timeout(now);
    if let Some(next) = w.engine.poll_timeout() {
        assert!(
            next > now,
            "the engine left a deadline {:?} at or before now",
            now.saturating_duration_since(next)
        );
    }
    w.pump();
    w.engine.assert_consistent();

    let limits = w.engine.config().limits.clone();
    let snap = w.engine.snapshot(now, EngineSnapshotOptions::default());
    assert!(
        limits.max_channels == 0 || snap.channels.len() <= limits.max_channels,
        "{} channels, max {}",
        snap.channels.len(),
        limits.max_channels
    );
    let unix_now = w.engine.wall_clock(now);
    let store = w.engine.store();
    for ch in &snap.channels {
        let name = ch.name.as_str();
        let l = limits.for_channel(name);
        let stats = store.stats(name).expect("a listed channel has stats");
        assert_eq!((stats.msgs, stats.bytes), (ch.msgs, ch.bytes));
        if ch.msgs == 0 {
            assert_eq!(ch.bytes, 0, "{name}: bytes without messages");
            assert!(store.lookup(name, ch.last_seq).is_none() || ch.last_seq == 0);
        } else {
            assert!(
                ch.first_seq >= 1 && ch.first_seq <= ch.last_seq,
                "{name}: {ch:?}"
            );
            assert_eq!(
                ch.last_seq - ch.first_seq + 1,
                ch.msgs,
                "{name}: sequences not contiguous"
            );
            let mut bytes = 0;
            for seq in ch.first_seq..=ch.last_seq {
                let m = store
                    .lookup(name, seq)
                    .unwrap_or_else(|| panic!("{name}: sequence {seq} missing"));
                assert_eq!(m.sequence, seq, "{name}: stored under another sequence");
                bytes += m.encoded.len() as u64;
            }
            assert_eq!(bytes, ch.bytes, "{name}: byte count");
            assert!(store.lookup(name, ch.first_seq - 1).is_none());
            assert!(store.lookup(name, ch.last_seq + 1).is_none());
            if !l.max_age.is_zero() {
                let first = store
                    .timestamp_of(name, ch.first_seq)
                    .expect("first message stored");
                let age = unix_now.saturating_sub(first);
                assert!(
                    u128::try_from(age).unwrap_or(0) < l.max_age.as_nanos(),
                    "{name}: message {} is {age} ns old, max age {:?}",
                    ch.first_seq,
                    l.max_age
                );
            }
        }
        assert!(
            l.max_msgs == 0 || ch.msgs <= l.max_msgs,
            "{name}: {} messages, max {}",
            ch.msgs,
            l.max_msgs
        );
        assert!(
            l.max_bytes == 0 || ch.bytes <= l.max_bytes || ch.msgs == 1,
            "{name}: {} bytes in {} messages, max {}",
            ch.bytes,
            ch.msgs,
            l.max_bytes
        );
        assert!(
            l.max_subs == 0 || ch.subs_count <= l.max_subs,
            "{name}: {} subscriptions, max {}",
            ch.subs_count,
            l.max_subs
        );
    }
    for (who, max, first) in w.engine.first_deliveries_in_flight(now) {
        assert!(
            first <= max,
            "{who}: {first} first deliveries in flight, max in flight {max}"
        );
    }
}

/// Drives the STAN engine in the simulation world with arbitrary client
/// actions, raw payloads on its subjects and time steps, checking the
/// invariants of [`check_engine`] after each step.
///
/// Input format: byte 0 is the configuration (bits 0-1: heartbeat interval
/// 1-4 s; bits 2-3: heartbeat fail count; bits 4-6: io batch size − 1; bit
/// 7: channels inactive for 30 s are deleted); then a sequence of ops; each
/// op is one byte `op` (taken modulo 11) and the bytes its arguments
/// consume (missing bytes read as 0):
/// * `0 i`: a new client (at most five) connects with ID `i % 4`;
/// * `1 c n`: client `c` publishes `n` bytes on channel `c >> 4`;
/// * `2 c f g`: client `c` subscribes with options from `f` and `g`;
/// * `3 i s`: ack sequence `s % 12` on subscription `i`;
/// * `4 i`: unsubscribe (even `i`) or close subscription `i`;
/// * `5 c`: client `c` closes;
/// * `6 c n ..`: client `c` requests on subject `c >> 3` with `n % 32` raw
///   bytes;
/// * `7 t` / `8 t`: advance the clock by `t * 50 ms` / `t` seconds;
/// * `9 c`: client `c` vanishes (bit 7) or stops/starts answering
///   heartbeats (bit 6);
/// * `10 c`: client `c` pings.
pub fn engine_session(input: &[u8]) {
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
        check_engine(&mut w);
    }
}
