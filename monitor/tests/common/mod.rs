//! Shared by the monitor's tests: the Go fixtures, snapshots that reproduce
//! their scenario, a [`Source`] over fixed snapshots, and a comparison of
//! our JSON with the fixture's.
//!
//! Scenario (`shared/fixtures/README.md`): `nats-streaming-server -cid
//! test-cluster -mm 1000`, memory store; 3 messages on `orders`, 1 on
//! `audit.log`; client `sub1` with durable `billing` on `orders`; client
//! `sub2` in queue group `workers` on `orders`; `pub1` published and left.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stan_core::nats::router::{
    ConnSnapshot, RouterSnapshot, RouterStats, SessionStats, SnapshotOptions, SubSnapshot,
    SublistStats,
};
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{
    ChannelSnapshot, ClientSnapshot, EngineSnapshot, EngineSnapshotOptions, ServerStats,
    StoreLimits, SubscriptionSnapshot,
};
use stan_core::stan::store::ChannelLimits;
use stan_monitor::{Monitor, MonitorSettings, Response, Source};

// ------------------------------------------------------------------ fixtures

/// `shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// A fixture file's text (relative to `shared/fixtures`).
pub fn fixture_text(rel: &str) -> String {
    let path = fixtures_dir().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

/// A fixture JSON file (relative to `shared/fixtures`).
pub fn fixture(rel: &str) -> Value {
    serde_json::from_str(&fixture_text(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// `go-monitoring/<name>.json`.
pub fn monitoring(name: &str) -> Value {
    fixture(&format!("go-monitoring/{name}.json"))
}

// ------------------------------------------------------------------ time

/// Nanoseconds since the Unix epoch of an RFC 3339 UTC time
/// (`2026-11-29T14:27:44.64700049Z`).
pub fn unix_ns(rfc: &str) -> i64 {
    let b = rfc.as_bytes();
    let num = |r: std::ops::Range<usize>| -> i64 {
        rfc[r].parse().unwrap_or_else(|_| panic!("bad time {rfc}"))
    };
    assert!(
        b.len() >= 20 && b[10] == b'T' && rfc.ends_with('Z'),
        "{rfc}"
    );
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    let mut nanos = 0;
    if b[19] == b'.' {
        let frac = &rfc[20..rfc.len() - 1];
        nanos = format!("{frac:0<9}").parse().unwrap_or(0);
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + nanos
}

/// A wall time from an RFC 3339 string.
pub fn wall(rfc: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_ns(rfc) as u64)
}

/// Fixture times placed on the monotonic clock: the scenario's earliest
/// moment is `base`.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    base: Instant,
    origin_ns: i64,
}

impl Timeline {
    /// A timeline whose times are all after `origin` (RFC 3339).
    pub fn new(origin: &str) -> Timeline {
        Timeline {
            base: Instant::now(),
            origin_ns: unix_ns(origin),
        }
    }

    /// The instant of `rfc`.
    pub fn at(&self, rfc: &str) -> Instant {
        let ns = unix_ns(rfc) - self.origin_ns;
        assert!(ns >= 0, "{rfc} before the timeline's origin");
        self.base + Duration::from_nanos(ns as u64)
    }

    /// The `(now, wall)` pair of a request made at `rfc`.
    pub fn clocks(&self, rfc: &str) -> (Instant, SystemTime) {
        (self.at(rfc), wall(rfc))
    }
}

/// The scenario's timeline (before the NATS server started).
pub fn timeline() -> Timeline {
    Timeline::new("2026-11-29T14:27:40Z")
}

// ------------------------------------------------------------------ NATS

/// The embedded NATS server's id in the fixtures.
pub const NATS_ID: &str = "NA4GXWW3Z7JPNVVRHXG3574VJIIZOC2MIXWAZ7TQQOYAB5ZWAT4DQQYP";

/// One `/connz` connection of the fixture.
struct Conn {
    cid: u64,
    port: u16,
    start: &'static str,
    last: &'static str,
    rtt_ns: u64,
    stats: [u64; 4],
    subs: usize,
    name: &'static str,
    version: &'static str,
}

const CONNS: [Conn; 6] = [
    Conn {
        cid: 4,
        port: 52574,
        start: "2026-11-29T14:27:44.64700049Z",
        last: "2026-11-29T14:27:45.720268879Z",
        rtt_ns: 218_000,
        stats: [12, 0, 332, 0],
        subs: 0,
        name: "_NSS-test-cluster-send",
        version: "1.31.0",
    },
    Conn {
        cid: 5,
        port: 52590,
        start: "2026-11-29T14:27:44.648186768Z",
        last: "2026-11-29T14:27:45.720106062Z",
        rtt_ns: 279_000,
        stats: [11, 16, 1065, 829],
        subs: 8,
        name: "_NSS-test-cluster-general",
        version: "1.31.0",
    },
    Conn {
        cid: 6,
        port: 52600,
        start: "2026-11-29T14:27:44.648599139Z",
        last: "2026-11-29T14:27:45.720813775Z",
        rtt_ns: 184_000,
        stats: [0, 6, 0, 60],
        subs: 2,
        name: "_NSS-test-cluster-acks",
        version: "1.31.0",
    },
    Conn {
        cid: 7,
        port: 52610,
        start: "2026-11-29T14:27:44.64911733Z",
        last: "2026-11-29T14:27:44.649343781Z",
        rtt_ns: 190_000,
        stats: [0, 0, 0, 0],
        subs: 0,
        name: "_NSS-test-cluster-hb",
        version: "1.31.0",
    },
    Conn {
        cid: 12,
        port: 52666,
        start: "2026-11-29T14:27:45.708211641Z",
        last: "2026-11-29T14:27:45.718903034Z",
        rtt_ns: 9_034_601,
        stats: [5, 5, 158, 288],
        subs: 5,
        name: "NATS Streaming Example Subscriber",
        version: "1.22.1",
    },
    Conn {
        cid: 13,
        port: 52680,
        start: "2026-11-29T14:27:45.71500369Z",
        last: "2026-11-29T14:27:45.720813775Z",
        rtt_ns: 440_000,
        stats: [5, 5, 158, 288],
        subs: 5,
        name: "NATS Streaming Example Subscriber",
        version: "1.22.1",
    },
];

/// The subscriptions of `/subsz?subs=1`, sorted as the router sorts them
/// (by connection, then sid).
pub fn fixture_subscriptions() -> Vec<SubSnapshot> {
    let subsz = monitoring("subsz_subs_1");
    let list = subsz["subscriptions_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut subs: Vec<SubSnapshot> = list
        .iter()
        .map(|s| SubSnapshot {
            cid: s["cid"].as_u64().unwrap_or(0),
            subject: s["subject"].as_str().unwrap_or("").into(),
            queue: s["qgroup"].as_str().map(Into::into),
            sid: s["sid"].as_str().unwrap_or("").into(),
            msgs: s["msgs"].as_u64().unwrap_or(0),
            max: s["max"].as_u64(),
        })
        .collect();
    assert_eq!(subs.len(), 64);
    subs.sort_by(|a, b| (a.cid, &a.sid).cmp(&(b.cid, &b.sid)));
    subs
}

/// The embedded NATS server of the scenario.
pub fn nats_snapshot(t: &Timeline) -> RouterSnapshot {
    let connections = CONNS
        .iter()
        .map(|c| ConnSnapshot {
            cid: c.cid,
            in_process: false,
            peer: format!("127.0.0.1:{}", c.port),
            started_at: t.at(c.start),
            last_activity: t.at(c.last),
            rtt: Some(Duration::from_nanos(c.rtt_ns)),
            pending_bytes: 0,
            stats: SessionStats {
                in_msgs: c.stats[0],
                out_msgs: c.stats[1],
                in_bytes: c.stats[2],
                out_bytes: c.stats[3],
            },
            subscriptions: c.subs,
            name: c.name.to_owned(),
            lang: "go".to_owned(),
            version: c.version.to_owned(),
        })
        .collect();
    RouterSnapshot {
        server_id: NATS_ID.to_owned(),
        server_name: NATS_ID.to_owned(),
        host: "0.0.0.0".to_owned(),
        port: 15222,
        auth_required: false,
        auth_timeout: Duration::from_secs(2),
        max_connections: 65536,
        max_subscriptions: 0,
        ping_interval: Duration::from_secs(120),
        ping_max: 2,
        max_control_line: 4096,
        max_payload: 1_048_576,
        max_pending: 67_108_864,
        write_deadline: Duration::from_secs(10),
        started_at: t.at("2026-11-29T14:27:44.62122285Z"),
        taken_at: t.at("2026-11-29T14:27:47.684582133Z"),
        stats: RouterStats {
            in_msgs: 45,
            in_bytes: 2286,
            out_msgs: 44,
            out_bytes: 2241,
            slow_consumers: 0,
            total_connections: 10,
        },
        sublist: SublistStats {
            num_subscriptions: 64,
            num_cache: 17,
            num_inserts: 80,
            num_removes: 16,
            num_matches: 57,
            cache_hit_rate: 0.2631578947368421,
            max_fanout: 1,
            avg_fanout: 0.8823529411764706,
        },
        connections,
        subscriptions_list: fixture_subscriptions(),
        next: None,
        cluster: None,
    }
}

// ------------------------------------------------------------------ streaming

/// A subscription: `[client, inbox, ack inbox, durable, queue]`,
/// `(durable, offline, stalled)`, `(max inflight, ack wait in seconds, last
/// sent, pending)`.
fn sub(
    ids: [&str; 5],
    flags: (bool, bool, bool),
    numbers: (usize, u64, u64, usize),
) -> SubscriptionSnapshot {
    let [client, inbox, ack_inbox, durable, queue] = ids;
    let (is_durable, is_offline, is_stalled) = flags;
    let (max_inflight, ack_wait_s, last_sent, pending) = numbers;
    SubscriptionSnapshot {
        client_id: client.to_owned(),
        inbox: inbox.into(),
        ack_inbox: ack_inbox.into(),
        durable_name: durable.to_owned(),
        queue_name: queue.to_owned(),
        is_durable,
        is_offline,
        max_inflight,
        ack_wait: Duration::from_secs(ack_wait_s),
        last_sent,
        pending_count: pending,
        is_stalled,
    }
}

fn channel(
    name: &str,
    counts: [u64; 4],
    subs_count: usize,
    subs: Vec<SubscriptionSnapshot>,
) -> ChannelSnapshot {
    ChannelSnapshot {
        name: name.to_owned(),
        msgs: counts[0],
        bytes: counts[1],
        first_seq: counts[2],
        last_seq: counts[3],
        subs_count,
        subscriptions: subs,
    }
}

/// A client; its subscriptions are listed in their channels' entries.
fn client(id: &str, hb: &str, subs: Vec<(&str, SubscriptionSnapshot)>) -> ClientSnapshot {
    ClientSnapshot {
        id: id.to_owned(),
        hb_inbox: hb.to_owned(),
        subs_count: subs.len(),
    }
}

/// The streaming engine of the `go-monitoring` scenario, its clock at
/// `now` (RFC 3339).
pub fn engine_snapshot(now: &str) -> EngineSnapshot {
    let sub1 = sub(
        [
            "sub1",
            "_INBOX.FonaexwDC8lrNLzeADw4N4",
            "_INBOX.VLmKpAXj29rzVBeiWrN8zr",
            "billing",
            "",
        ],
        (true, false, false),
        (1024, 30, 3, 0),
    );
    let sub2 = sub(
        [
            "sub2",
            "_INBOX.jkJhYbhhQE7iOdXIhsausR",
            "_INBOX.VLmKpAXj29rzVBeiWrN91N",
            "",
            "workers",
        ],
        (false, false, false),
        (1024, 30, 3, 0),
    );
    EngineSnapshot {
        cluster_id: "test-cluster".to_owned(),
        server_id: "VLmKpAXj29rzVBeiWrN8vJ".to_owned(),
        state: "STANDALONE",
        start_unix_ns: unix_ns("2026-11-29T14:27:44.609209293Z"),
        now_unix_ns: unix_ns(now),
        store_kind: "MEMORY",
        limits: StoreLimits {
            max_channels: 100,
            channel: ChannelLimits {
                max_msgs: 1000,
                ..ChannelLimits::default()
            },
            per_channel: Vec::new(),
        },
        stats: ServerStats {
            in_msgs: 4,
            in_bytes: 281,
            out_msgs: 6,
            out_bytes: 174,
            flushes: 4,
            store_read_failures: 2,
            damaged_msgs: 3,
        },
        subscription_count: 2,
        clients: vec![
            client(
                "sub1",
                "_INBOX.FonaexwDC8lrNLzeADw47i",
                vec![("orders", sub1.clone())],
            ),
            client(
                "sub2",
                "_INBOX.jkJhYbhhQE7iOdXIhsauiF",
                vec![("orders", sub2.clone())],
            ),
        ],
        channels: vec![
            channel("audit.log", [1, 26, 1, 1], 0, Vec::new()),
            channel("orders", [3, 87, 1, 3], 2, vec![sub1, sub2]),
        ],
        next: None,
    }
}

/// The engine of `go-filestore-0.25.6/expected` (restarted on the Go
/// server's store), its clock at `now`.
pub fn filestore_snapshot(now: &str) -> EngineSnapshot {
    let plain = sub(
        [
            "live-client",
            "_INBOX.Z4NQPZGZYV39ZCUSI75LI7",
            "_INBOX.Uwl91WNtGKKVASpsap0Jyf",
            "",
            "",
        ],
        (false, false, false),
        (16384, 30, 5, 0),
    );
    let audit = sub(
        [
            "live-client",
            "_INBOX.Z4NQPZGZYV39ZCUSI75LTX",
            "_INBOX.Uwl91WNtGKKVASpsap0K1A",
            "audit",
            "",
        ],
        (true, false, false),
        (16384, 30, 5, 0),
    );
    let billing = sub(
        [
            "billing-client",
            "_INBOX.Z4NQPZGZYV39ZCUSI75IKP",
            "_INBOX.Uwl91WNtGKKVASpsap0Jtf",
            "billing",
            "",
        ],
        (true, true, true),
        (5, 60, 17, 5),
    );
    let shadow = sub(
        [
            "",
            "_INBOX.Z4NQPZGZYV39ZCUSI75K1G",
            "_INBOX.Uwl91WNtGKKVASpsap0JwA",
            "",
            "dq:workers",
        ],
        (true, true, false),
        (16384, 30, 30, 0),
    );
    EngineSnapshot {
        cluster_id: "test-cluster".to_owned(),
        server_id: "zC6I7dgMhdgUesNLFfj5qY".to_owned(),
        state: "STANDALONE",
        start_unix_ns: unix_ns("2026-11-29T14:28:28.751294135Z"),
        now_unix_ns: unix_ns(now),
        store_kind: "FILE",
        limits: StoreLimits {
            max_channels: 100,
            channel: ChannelLimits::default(),
            per_channel: Vec::new(),
        },
        stats: ServerStats::default(),
        subscription_count: 4,
        clients: vec![
            client(
                "live-client",
                "_INBOX.Z4NQPZGZYV39ZCUSI75KOW",
                vec![("events.a", plain.clone()), ("events.a", audit.clone())],
            ),
            client("publisher", "_INBOX.Z4NQPZGZYV39ZCUSI7570K", Vec::new()),
        ],
        channels: vec![
            channel("events.a", [5, 405, 1, 5], 2, vec![plain, audit]),
            channel("limited", [10, 660, 16, 25], 0, Vec::new()),
            channel("orders", [30, 68702, 1, 30], 2, vec![billing, shadow]),
        ],
        next: None,
    }
}

// ------------------------------------------------------------------ source

/// Fixed snapshots, handed out as a running server would: subscriptions
/// only when asked for.
#[derive(Debug, Clone, Default)]
pub struct FixedSource {
    /// The embedded NATS server.
    pub nats: Option<RouterSnapshot>,
    /// The engine.
    pub streaming: Option<EngineSnapshot>,
    /// Sync latencies.
    pub sync: Option<LatencyHistogram>,
}

impl Source for FixedSource {
    fn nats(&self, options: SnapshotOptions) -> Option<RouterSnapshot> {
        let mut snap = self.nats.clone()?;
        if !options.subscriptions {
            snap.subscriptions_list.clear();
        }
        Some(snap)
    }

    fn streaming(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot> {
        let mut snap = self.streaming.clone()?;
        if !options.subscriptions {
            snap.channels
                .iter_mut()
                .for_each(|c| c.subscriptions.clear());
        }
        Some(snap)
    }

    fn sync_latency(&self) -> Option<LatencyHistogram> {
        self.sync.clone()
    }
}

/// The settings of the fixtures' server.
pub fn settings() -> MonitorSettings {
    MonitorSettings {
        http_host: "0.0.0.0".to_owned(),
        http_port: 18222,
        https_port: 0,
        version: "0.25.6".to_owned(),
        toolchain: "go1.19.8".to_owned(),
        config_load_time: wall("2026-11-29T14:27:44.62122285Z"),
    }
}

/// A monitor with the fixtures' settings.
pub fn monitor() -> Monitor {
    Monitor::new(settings())
}

/// `GET path?query` at `now` (RFC 3339).
pub fn get(
    monitor: &Monitor,
    source: &FixedSource,
    t: &Timeline,
    path: &str,
    query: Option<&str>,
    now: &str,
) -> Response {
    let (instant, wall) = t.clocks(now);
    monitor.handle_at(path, query, source, instant, wall)
}

/// The body as JSON, after checking it is a `200` JSON answer.
pub fn body_json(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/json");
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)))
}

/// The body as text.
pub fn body_text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

// ------------------------------------------------------------------ comparison

/// How [`assert_matches`] treats some paths (`/a/*/b`: `*` is any index).
#[derive(Debug, Default, Clone)]
pub struct Rules<'a> {
    /// Only the JSON type must agree (values that depend on the machine).
    pub type_only: &'a [&'a str],
    /// May be missing from ours (documented as legitimately absent).
    pub may_lack: &'a [&'a str],
    /// Arrays whose order is Go's map order: compared sorted.
    pub unordered: &'a [&'a str],
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

fn any_matches(patterns: &[&str], path: &str) -> bool {
    patterns.iter().any(|p| path_matches(p, path))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that `ours` (a JSON text) has the fixture's keys (recursively,
/// no more, none fewer except `may_lack`) in the fixture's order, the same
/// JSON types, and the same values except at `type_only` paths.
pub fn assert_matches(fixture: &str, ours: &str, rules: &Rules<'_>) {
    let parse = |text: &str| -> (Value, Ordered) {
        let v = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        let o = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (v, o)
    };
    let ((exp, exp_order), (got, got_order)) = (parse(fixture), parse(ours));
    let mut errors = Vec::new();
    compare(&exp, &got, "", rules, &mut errors);
    compare_order(&exp_order, &got_order, "", &mut errors);
    assert!(
        errors.is_empty(),
        "differences from the fixture:\n{}\nours:\n{ours}",
        errors.join("\n"),
    );
}

/// JSON keeping the order of object keys (serde_json's `Value` sorts them).
#[derive(Debug)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar,
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Ordered>()? {
                    entries.push((k, v));
                }
                Ok(Ordered::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys both objects have must come in the same order (Go's struct
/// field order), recursively.
fn compare_order(exp: &Ordered, got: &Ordered, path: &str, errors: &mut Vec<String>) {
    match (exp, got) {
        (Ordered::Object(e), Ordered::Object(g)) => {
            let common = |a: &[(String, Ordered)], b: &[(String, Ordered)]| -> Vec<String> {
                a.iter()
                    .filter(|(k, _)| b.iter().any(|(k2, _)| k2 == k))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            let (ek, gk) = (common(e, g), common(g, e));
            if ek != gk {
                errors.push(format!("{path}/: key order {gk:?}, expected {ek:?}"));
            }
            for (k, ev) in e {
                if let Some((_, gv)) = g.iter().find(|(k2, _)| k2 == k) {
                    compare_order(ev, gv, &format!("{path}/{k}"), errors);
                }
            }
        }
        (Ordered::Array(e), Ordered::Array(g)) => {
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                compare_order(ev, gv, &format!("{path}/{i}"), errors);
            }
        }
        _ => {}
    }
}

/// `values` (the items of the array at `path`) sorted by their text
/// without their `type_only` parts.
fn sorted(values: &[Value], path: &str, rules: &Rules<'_>) -> Vec<Value> {
    fn strip(v: &Value, path: &str, rules: &Rules<'_>) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !any_matches(rules.type_only, &format!("{path}/{k}")))
                    .map(|(k, x)| (k.clone(), strip(x, &format!("{path}/{k}"), rules)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut v = values.to_vec();
    v.sort_by_key(|x| strip(x, &format!("{path}/0"), rules).to_string());
    v
}

fn compare(exp: &Value, got: &Value, path: &str, rules: &Rules<'_>, errors: &mut Vec<String>) {
    let shown = if path.is_empty() { "/" } else { path };
    if type_name(exp) != type_name(got) {
        errors.push(format!(
            "{shown}: type {} expected, {} found ({got})",
            type_name(exp),
            type_name(got)
        ));
        return;
    }
    let type_only = any_matches(rules.type_only, path);
    match (exp, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match g.get(k) {
                    Some(gv) => compare(ev, gv, &p, rules, errors),
                    None if any_matches(rules.may_lack, &p) => {}
                    None => errors.push(format!("{p}: missing")),
                }
            }
            for k in g.keys().filter(|k| !e.contains_key(*k)) {
                errors.push(format!("{path}/{k}: not in the fixture"));
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            if type_only {
                return;
            }
            if e.len() != g.len() {
                errors.push(format!("{shown}: {} items, expected {}", g.len(), e.len()));
                return;
            }
            let (e, g) = if any_matches(rules.unordered, path) {
                (sorted(e, path, rules), sorted(g, path, rules))
            } else {
                (e.clone(), g.clone())
            };
            for (i, (ev, gv)) in e.iter().zip(&g).enumerate() {
                compare(ev, gv, &format!("{path}/{i}"), rules, errors);
            }
        }
        (Value::Number(e), Value::Number(g)) => {
            if !type_only && e.as_f64() != g.as_f64() {
                errors.push(format!("{shown}: {g}, expected {e}"));
            }
        }
        _ => {
            if !type_only && exp != got {
                errors.push(format!("{shown}: {got}, expected {exp}"));
            }
        }
    }
}
