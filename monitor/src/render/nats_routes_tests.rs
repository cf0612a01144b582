//! `/routez` and `/varz`'s cluster block: field names, order, `omitempty`
//! and values, against the shape Debian's nats-server 2.9.10 printed for
//! two servers in a cluster (`nats-server -m PORT --cluster ... --routes
//! ...`, `no_system_account: true`), with `server_name` and `remote_name`,
//! which 2.9.24 (the version announced, and the fixtures') adds:
//!
//! ```text
//! /routez: server_id server_name now num_routes routes
//!   route: rid remote_id remote_name did_solicit is_configured ip port
//!          start last_activity rtt uptime idle pending_size in_msgs
//!          out_msgs in_bytes out_bytes subscriptions
//!          [subscriptions_list | subscriptions_list_detail]
//!   detail: subject [qgroup] sid ("$G subject [queue]") msgs cid (the rid)
//! /varz: ... port connect_urls max_connections ...
//!   cluster: name addr cluster_port auth_timeout [urls] tls_timeout
//! ```
//!
//! `cli/tests/routez.rs` compares our processes with Debian's live.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use stan_core::nats::router::{
    ClusterSnapshot, ConnSnapshot, RouteSnapshot, RouterSnapshot, RouterStats, SessionStats,
    SubSnapshot, SublistStats,
};
use stan_core::shared_str::SharedStr;

use super::{routez, varz, Clocks, SubsOption, VarzExtras};
use crate::handler::MonitorSettings;
use crate::procfs::ProcStats;
use crate::query::Query;

/// JSON keeping the order of object keys.
#[derive(Debug, PartialEq)]
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Leaf,
}

impl Tree {
    fn keys(&self) -> Vec<&str> {
        match self {
            Tree::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn get(&self, key: &str) -> &Tree {
        match self {
            Tree::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key}")),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn at(&self, i: usize) -> &Tree {
        match self {
            Tree::Array(items) => &items[i],
            other => panic!("not an array: {other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Leaf)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Tree, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry::<String, Tree>()? {
                    entries.push(entry);
                }
                Ok(Tree::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

const ROUTE_KEYS: [&str; 20] = [
    "rid",
    "remote_id",
    "remote_name",
    "did_solicit",
    "is_configured",
    "ip",
    "port",
    "start",
    "last_activity",
    "rtt",
    "uptime",
    "idle",
    "pending_size",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    // Only with `subs`:
    "subscriptions_list",
    "subscriptions_list_detail",
];

fn parse(body: &[u8]) -> (Value, Tree) {
    let text = std::str::from_utf8(body).expect("UTF-8");
    (
        serde_json::from_str(text).expect("JSON"),
        serde_json::from_str(text).expect("JSON"),
    )
}

/// The wall clock at the snapshot's `now`: 1000 s after the epoch.
fn clocks(now: Instant) -> Clocks {
    Clocks {
        now,
        wall: UNIX_EPOCH + Duration::from_secs(1000),
    }
}

fn conn(cid: u64, peer: &str, now: Instant, subs: usize) -> ConnSnapshot {
    ConnSnapshot {
        cid,
        in_process: false,
        peer: peer.into(),
        started_at: now - Duration::from_secs(5),
        last_activity: now - Duration::from_secs(1),
        rtt: Some(Duration::from_nanos(265_400)),
        pending_bytes: 7,
        stats: SessionStats {
            in_msgs: 3,
            out_msgs: 4,
            in_bytes: 30,
            out_bytes: 40,
        },
        subscriptions: subs,
        name: String::new(),
        lang: String::new(),
        version: String::new(),
    }
}

fn sub(cid: u64, subject: &str, queue: Option<&str>, msgs: u64) -> SubSnapshot {
    let sid = match queue {
        Some(q) => format!("$G {subject} {q}"),
        None => format!("$G {subject}"),
    };
    SubSnapshot {
        cid,
        subject: SharedStr::from(subject),
        queue: queue.map(SharedStr::from),
        sid: SharedStr::from(sid.as_str()),
        msgs,
        max: None,
    }
}

/// Two routes: one accepted (an ephemeral peer port), one dialled to a
/// configured URL, with three subscriptions (one a queue group).
fn snapshot(now: Instant, with_cluster: bool) -> RouterSnapshot {
    let cluster = with_cluster.then(|| ClusterSnapshot {
        name: "gt".into(),
        host: "127.0.0.1".into(),
        port: 16223,
        auth_timeout: Duration::from_secs(2),
        urls: vec!["127.0.0.1:16222".into()],
        connect_urls: vec!["127.0.0.1:14223".into(), "127.0.0.1:14222".into()],
        routes: vec![
            RouteSnapshot {
                conn: conn(2, "127.0.0.1:58808", now, 0),
                remote_id: "NREMOTE2".into(),
                remote_name: "beta".into(),
                solicited: false,
                configured: false,
                subscriptions_list: Vec::new(),
            },
            RouteSnapshot {
                conn: conn(5, "127.0.0.1:16222", now, 3),
                remote_id: "NREMOTE5".into(),
                remote_name: "NREMOTE5".into(),
                solicited: true,
                configured: true,
                subscriptions_list: vec![
                    sub(5, "foo", None, 2),
                    sub(5, "bar.*", Some("q1"), 1),
                    sub(5, "baz", None, 0),
                ],
            },
        ],
    });
    RouterSnapshot {
        server_id: "NLOCAL".into(),
        server_name: "NLOCAL".into(),
        host: "127.0.0.1".into(),
        port: 14223,
        auth_required: false,
        auth_timeout: Duration::from_secs(2),
        max_connections: 65536,
        max_subscriptions: 0,
        ping_interval: Duration::from_secs(120),
        ping_max: 2,
        max_control_line: 4096,
        max_payload: 1 << 20,
        max_pending: 64 << 20,
        write_deadline: Duration::from_secs(10),
        started_at: now - Duration::from_secs(10),
        taken_at: now,
        stats: RouterStats::default(),
        sublist: SublistStats::default(),
        connections: vec![conn(1, "127.0.0.1:40000", now, 0)],
        subscriptions_list: Vec::new(),
        next: None,
        cluster,
    }
}

fn render_routez(snap: &RouterSnapshot, subs: SubsOption, now: Instant) -> (Value, Tree) {
    let r = routez(snap, subs, clocks(now), &Query::parse(None));
    assert_eq!(r.status, 200);
    parse(&r.body)
}

fn render_varz(snap: &RouterSnapshot, now: Instant) -> (Value, Tree) {
    let settings = MonitorSettings {
        http_host: "127.0.0.1".into(),
        http_port: 18223,
        https_port: 0,
        version: "0.1.0".into(),
        toolchain: "rustc".into(),
        config_load_time: SystemTime::UNIX_EPOCH,
    };
    let extras = VarzExtras {
        settings: &settings,
        version: "2.9.24",
        proc: ProcStats::default(),
        cpu: 0.0,
        cores: 2,
        http_req_stats: Default::default(),
    };
    let r = varz(snap, extras, clocks(now), &Query::parse(None));
    assert_eq!(r.status, 200);
    parse(&r.body)
}

#[test]
fn routez_lists_the_routes_with_go_field_order_and_values() {
    let now = Instant::now() + Duration::from_secs(100);
    let (v, tree) = render_routez(&snapshot(now, true), SubsOption::None, now);
    assert_eq!(
        tree.keys(),
        ["server_id", "server_name", "now", "num_routes", "routes"]
    );
    // No configured name: nats-server shows its options' empty name.
    assert_eq!(v["server_name"], "");
    assert_eq!(v["num_routes"], 2);
    let routes = tree.get("routes");
    assert_eq!(routes.at(0).keys(), ROUTE_KEYS[..18]);
    assert_eq!(routes.at(1).keys(), ROUTE_KEYS[..18]);
    let r = &v["routes"][1];
    assert_eq!(r["rid"], 5);
    assert_eq!(r["remote_id"], "NREMOTE5");
    assert_eq!(r["did_solicit"], true);
    assert_eq!(r["is_configured"], true);
    assert_eq!(
        (r["ip"].as_str(), r["port"].as_u64()),
        (Some("127.0.0.1"), Some(16222))
    );
    assert_eq!(r["start"], "1970-01-01T00:16:35Z");
    assert_eq!(r["last_activity"], "1970-01-01T00:16:39Z");
    assert_eq!(r["rtt"], "265µs");
    assert_eq!(
        (r["uptime"].as_str(), r["idle"].as_str()),
        (Some("5s"), Some("1s"))
    );
    assert_eq!(r["pending_size"], 7);
    assert_eq!(
        [
            &r["in_msgs"],
            &r["out_msgs"],
            &r["in_bytes"],
            &r["out_bytes"]
        ],
        [3, 4, 30, 40]
    );
    assert_eq!(r["subscriptions"], 3);
    let accepted = &v["routes"][0];
    assert_eq!(accepted["remote_name"], "beta");
    assert_eq!(accepted["did_solicit"], false);
    assert_eq!(accepted["is_configured"], false);
    assert_eq!(accepted["port"], 58808);
}

#[test]
fn routez_lists_subscriptions_as_subjects_or_in_detail() {
    let now = Instant::now() + Duration::from_secs(100);
    let snap = snapshot(now, true);
    let (v, tree) = render_routez(&snap, SubsOption::Subjects, now);
    // A route without subscriptions has no list (omitempty).
    assert_eq!(tree.get("routes").at(0).keys(), ROUTE_KEYS[..18]);
    let mut with_list = ROUTE_KEYS[..18].to_vec();
    with_list.push("subscriptions_list");
    assert_eq!(tree.get("routes").at(1).keys(), with_list);
    assert_eq!(
        v["routes"][1]["subscriptions_list"],
        serde_json::json!(["foo", "bar.*", "baz"])
    );

    let (v, tree) = render_routez(&snap, SubsOption::Detail, now);
    let mut with_detail = ROUTE_KEYS[..18].to_vec();
    with_detail.push("subscriptions_list_detail");
    let route = tree.get("routes").at(1);
    assert_eq!(route.keys(), with_detail);
    let detail = route.get("subscriptions_list_detail");
    assert_eq!(detail.at(0).keys(), ["subject", "sid", "msgs", "cid"]);
    assert_eq!(
        detail.at(1).keys(),
        ["subject", "qgroup", "sid", "msgs", "cid"]
    );
    assert_eq!(
        v["routes"][1]["subscriptions_list_detail"][1],
        serde_json::json!({"subject": "bar.*", "qgroup": "q1", "sid": "$G bar.* q1", "msgs": 1, "cid": 5})
    );
}

#[test]
fn routez_without_a_cluster_is_empty() {
    let now = Instant::now() + Duration::from_secs(100);
    let (v, _) = render_routez(&snapshot(now, false), SubsOption::Detail, now);
    assert_eq!(v["num_routes"], 0);
    assert_eq!(v["routes"], serde_json::json!([]));
}

#[test]
fn varz_shows_the_cluster_and_the_route_count() {
    let now = Instant::now() + Duration::from_secs(100);
    let (v, tree) = render_varz(&snapshot(now, true), now);
    let keys = tree.keys();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    assert_eq!(at("connect_urls"), at("port") + 1, "{keys:?}");
    assert_eq!(at("max_connections"), at("connect_urls") + 1, "{keys:?}");
    assert_eq!(
        v["connect_urls"],
        serde_json::json!(["127.0.0.1:14223", "127.0.0.1:14222"])
    );
    assert_eq!(
        tree.get("cluster").keys(),
        [
            "name",
            "addr",
            "cluster_port",
            "auth_timeout",
            "urls",
            "tls_timeout"
        ]
    );
    assert_eq!(
        v["cluster"],
        serde_json::json!({"name": "gt", "addr": "127.0.0.1", "cluster_port": 16223,
            "auth_timeout": 2, "urls": ["127.0.0.1:16222"], "tls_timeout": 2})
    );
    assert_eq!(
        (v["routes"].as_u64(), v["remotes"].as_u64()),
        (Some(2), Some(2))
    );
    // Routes are not connections.
    assert_eq!(v["connections"], 1);
}

#[test]
fn varz_cluster_without_configured_routes_omits_urls() {
    let now = Instant::now() + Duration::from_secs(100);
    let mut snap = snapshot(now, true);
    if let Some(c) = snap.cluster.as_mut() {
        c.urls.clear();
        c.connect_urls.clear();
        c.routes.clear();
    }
    let (v, tree) = render_varz(&snap, now);
    assert_eq!(
        tree.get("cluster").keys(),
        [
            "name",
            "addr",
            "cluster_port",
            "auth_timeout",
            "tls_timeout"
        ]
    );
    assert!(v.get("connect_urls").is_none());
    assert_eq!(v["routes"], 0);
}

#[test]
fn varz_without_a_cluster_is_unchanged() {
    let now = Instant::now() + Duration::from_secs(100);
    let (v, tree) = render_varz(&snapshot(now, false), now);
    assert_eq!(v["cluster"], serde_json::json!({}));
    assert!(!tree.keys().contains(&"connect_urls"));
    assert_eq!(
        (v["routes"].as_u64(), v["remotes"].as_u64()),
        (Some(0), Some(0))
    );
}
