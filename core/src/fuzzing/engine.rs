//! The streaming engine in the simulation world.

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
