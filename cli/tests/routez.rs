//! Monitoring of routes against Debian's `nats-server` 2.9 (installed by
//! `scripts/install-deps.sh`; `NATS_SERVER` may point at another binary):
//! two of our `stan-server`s in a cluster and two Debian servers in a
//! cluster, each with `-m PORT`, the same client subscriptions and the same
//! routed messages. Our `/routez` (plain, `subs=1`, `subs=detail`) and
//! `/varz`'s `cluster` must have Debian's keys in Debian's order, and the
//! same route counts, solicited/configured flags, subscription counts and
//! message counters.
//!
//! What Debian's 2.9.10 printed (`no_system_account: true`, so that no
//! `$SYS` interest or traffic crosses its routes):
//!
//! ```text
//! /routez {server_id, now, num_routes, routes: [{rid, remote_id,
//!   did_solicit, is_configured, ip, port, start, last_activity, rtt,
//!   uptime, idle, pending_size, in_msgs, out_msgs, in_bytes, out_bytes,
//!   subscriptions, subscriptions_list | subscriptions_list_detail:
//!   [{subject, qgroup (queue only), sid ("$G subject [queue]"), msgs,
//!   cid (the rid)}]}]}
//! /varz ... port, connect_urls, max_connections ... cluster: {name, addr,
//!   cluster_port, auth_timeout, urls (the soliciting side only),
//!   tls_timeout} ... routes: 1, remotes: 1; connections counts clients only
//! ```
//!
//! We announce 2.9.24, which adds `server_name` to `/routez` and
//! `remote_name` to each route (the fixtures in `shared/` are 2.9.24's):
//! those two keys are the only ones ours may have beyond Debian's, and only
//! while Debian's binary lacks them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::raw::Raw;
use common::{cluster_args, free_port, nats_server, spawn_quiet, Kill, T};

/// Keys 2.9.24 has and 2.9.10 lacks.
const NEWER_KEYS: [&str; 2] = ["server_name", "remote_name"];

// ------------------------------------------------------------ JSON in order

/// JSON keeping the order of object keys (serde_json's `Value` sorts them).
#[derive(Debug)]
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Leaf,
}

impl Tree {
    fn keys(&self) -> Vec<String> {
        match self {
            Tree::Object(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
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

impl Tree {
    /// Parses valid JSON (checked by serde_json first) keeping key order.
    fn parse(text: &str) -> Tree {
        let (tree, rest) = Tree::value(text.trim_start());
        assert!(rest.trim().is_empty(), "trailing text: {rest}");
        tree
    }

    /// The value at the start of `s`, and what follows it.
    fn value(s: &str) -> (Tree, &str) {
        let s = s.trim_start();
        match s.as_bytes().first() {
            Some(b'{') => {
                let mut entries = Vec::new();
                let mut rest = s[1..].trim_start();
                if let Some(r) = rest.strip_prefix('}') {
                    return (Tree::Object(entries), r);
                }
                loop {
                    let (key, r) = Tree::string(rest.trim_start());
                    let r = r.trim_start().strip_prefix(':').expect("colon");
                    let (v, r) = Tree::value(r);
                    entries.push((key, v));
                    let r = r.trim_start();
                    match r.as_bytes().first() {
                        Some(b',') => rest = &r[1..],
                        Some(b'}') => return (Tree::Object(entries), &r[1..]),
                        _ => panic!("bad object at {r}"),
                    }
                }
            }
            Some(b'[') => {
                let mut items = Vec::new();
                let mut rest = s[1..].trim_start();
                if let Some(r) = rest.strip_prefix(']') {
                    return (Tree::Array(items), r);
                }
                loop {
                    let (v, r) = Tree::value(rest);
                    items.push(v);
                    let r = r.trim_start();
                    match r.as_bytes().first() {
                        Some(b',') => rest = &r[1..],
                        Some(b']') => return (Tree::Array(items), &r[1..]),
                        _ => panic!("bad array at {r}"),
                    }
                }
            }
            Some(b'"') => (Tree::Leaf, Tree::string(s).1),
            _ => {
                let end = s.find([',', '}', ']']).unwrap_or(s.len());
                (Tree::Leaf, &s[end..])
            }
        }
    }

    /// The string at the start of `s` (escapes kept as written), and what
    /// follows it.
    fn string(s: &str) -> (String, &str) {
        let body = s.strip_prefix('"').expect("a string");
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return (body[..i].to_owned(), &body[i + 1..]),
                _ => {}
            }
        }
        panic!("unterminated string");
    }
}

/// `GET path` on a monitoring port: the body as values and as key order.
fn get(port: u16, path: &str) -> (Value, Tree) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(T))
        .build()
        .into();
    let body = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path} on {port}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (value, Tree::parse(&body))
}

/// Our keys must be Debian's, in Debian's order; ours may add only the
/// [`NEWER_KEYS`] Debian lacks.
fn assert_same_keys(what: &str, ours: &Tree, debian: &Tree) {
    let theirs = debian.keys();
    let ours: Vec<String> = ours
        .keys()
        .into_iter()
        .filter(|k| theirs.contains(k) || !NEWER_KEYS.contains(&k.as_str()))
        .collect();
    assert_eq!(ours, theirs, "{what}: our keys (left) against Debian's");
}

// ------------------------------------------------------------------ clients

/// The subscriptions made on one node: three route subscriptions on the
/// other one (the two queue members are one, weighted).
const SUBS: &str = "SUB foo 1\r\nSUB bar.* q1 2\r\nSUB bar.* q1 3\r\nSUB baz 4\r\n";
const ROUTE_SUBS: u64 = 3;

/// Published on the other node: each crosses the route once.
const PUBS: &str = "PUB foo 5\r\nhello\r\nPUB foo 2\r\nhi\r\nPUB bar.x 1\r\nx\r\n";
const ROUTED: u64 = 3;

// ------------------------------------------------------------------ servers

/// A node: client port, route listener, monitoring port.
#[derive(Clone, Copy)]
struct Node {
    port: u16,
    cluster: u16,
    http: u16,
}

impl Node {
    fn new() -> Node {
        Node {
            port: free_port(),
            cluster: free_port(),
            http: free_port(),
        }
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-routez-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ours(node: Node, routes: &[u16], cid: &str, log: &Path) -> Kill {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stan-server"));
    cmd.args(cluster_args(node.port, node.cluster, routes, ""))
        .args(["-m", &node.http.to_string()])
        .args(["--cluster_name", "rz", "--cluster_id", cid])
        .args(["-l", log.to_str().unwrap()]);
    spawn_quiet(&mut cmd, &[node.port, node.http])
}

fn debian(node: Node, routes: &[u16], config: &Path) -> Kill {
    let mut cmd = Command::new(nats_server());
    cmd.args(["-c", config.to_str().unwrap()])
        .args(cluster_args(node.port, node.cluster, routes, ""))
        .args(["-m", &node.http.to_string()])
        .args(["--cluster_name", "rz"]);
    spawn_quiet(&mut cmd, &[node.port, node.http])
}

/// Polls `/routez` on `http` until `ok` holds for its only route.
fn wait_route(http: u16, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let (v, _) = get(http, "/routez");
        if v["num_routes"] == 1 && ok(&v["routes"][0]) {
            return v["routes"][0].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {v:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {v:#}"))
}

/// What one cluster (accepting node `a`, node `b` soliciting it) shows
/// after the same clients and messages.
struct Observed {
    routez_a: Tree,
    routez_b: Tree,
    subs_b: Tree,
    detail_b: Tree,
    detail_b_values: Value,
    varz_a: (Value, Tree),
    varz_b: (Value, Tree),
    route_a: Value,
    route_b: Value,
    connz_a: Value,
}

/// Subscribes on `a`, publishes on `b` and reads the monitoring of both.
fn observe(a: Node, b: Node) -> Observed {
    let up = |r: &Value| r["remote_id"].as_str().is_some_and(|s| !s.is_empty());
    wait_route(a.http, "route at a", up);
    let before_b = wait_route(b.http, "route at b", up);
    // Interest a's own sessions (our streaming engine's) announced.
    let baseline = count(&before_b, "subscriptions");
    let mut sub = Raw::connect(a.port, "routez");
    sub.send(SUBS);
    sub.flush();
    wait_route(b.http, "the client's interest at b", |r| {
        r["subscriptions"].as_u64() == Some(baseline + ROUTE_SUBS)
    });
    let before_a = wait_route(a.http, "route at a", |_| true);
    let before_b = wait_route(b.http, "route at b", |_| true);
    let mut publisher = Raw::connect(b.port, "routez");
    publisher.send(PUBS);
    publisher.flush();
    let in_a = count(&before_a, "in_msgs") + ROUTED;
    let route_a = wait_route(a.http, "routed messages at a", |r| {
        r["in_msgs"].as_u64() >= Some(in_a)
    });
    let route_b = wait_route(b.http, "route at b", |_| true);
    let diff = |after: &Value, before: &Value, key: &str| count(after, key) - count(before, key);
    let route_a = serde_json::json!({
        "did_solicit": route_a["did_solicit"],
        "is_configured": route_a["is_configured"],
        "in_msgs": diff(&route_a, &before_a, "in_msgs"),
        "in_bytes": diff(&route_a, &before_a, "in_bytes"),
    });
    let route_b = serde_json::json!({
        "did_solicit": route_b["did_solicit"],
        "is_configured": route_b["is_configured"],
        "out_msgs": diff(&route_b, &before_b, "out_msgs"),
        "out_bytes": diff(&route_b, &before_b, "out_bytes"),
        "subscriptions": count(&route_b, "subscriptions") - baseline,
        "port": route_b["port"],
    });
    let (_, routez_a) = get(a.http, "/routez");
    let (_, routez_b) = get(b.http, "/routez");
    let (_, subs_b) = get(b.http, "/routez?subs=1");
    let (detail_b_values, detail_b) = get(b.http, "/routez?subs=detail");
    let (connz_a, _) = get(a.http, "/connz");
    Observed {
        routez_a,
        routez_b,
        subs_b,
        detail_b,
        detail_b_values,
        varz_a: get(a.http, "/varz"),
        varz_b: get(b.http, "/varz"),
        route_a,
        route_b,
        connz_a,
    }
}

/// The index in `detail` of the subscription on `subject`.
fn detail_index(values: &Value, subject: &str) -> usize {
    values["routes"][0]["subscriptions_list_detail"]
        .as_array()
        .expect("subscriptions_list_detail")
        .iter()
        .position(|s| s["subject"] == subject)
        .unwrap_or_else(|| panic!("no {subject} in {values:#}"))
}

#[test]
fn routez_and_varz_cluster_match_debian_nats_server() {
    let dir = temp_dir();
    let config = dir.join("nats.conf");
    std::fs::write(&config, "no_system_account: true\n").unwrap();

    let (da, db) = (Node::new(), Node::new());
    let _da = debian(da, &[], &config);
    let _db = debian(db, &[da.cluster], &config);
    let theirs = observe(da, db);

    let (oa, ob) = (Node::new(), Node::new());
    let _oa = ours(oa, &[], "routez-a", &dir.join("a.log"));
    let _ob = ours(ob, &[oa.cluster], "routez-b", &dir.join("b.log"));
    let mine = observe(oa, ob);

    // Keys, in order.
    for (what, o, t) in [
        ("/routez at a", &mine.routez_a, &theirs.routez_a),
        ("/routez at b", &mine.routez_b, &theirs.routez_b),
    ] {
        assert_same_keys(what, o, t);
        assert_same_keys(
            &format!("{what}: route"),
            o.get("routes").at(0),
            t.get("routes").at(0),
        );
    }
    assert_same_keys(
        "/routez?subs=1 at b: route",
        mine.subs_b.get("routes").at(0),
        theirs.subs_b.get("routes").at(0),
    );
    assert_same_keys(
        "/routez?subs=detail at b: route",
        mine.detail_b.get("routes").at(0),
        theirs.detail_b.get("routes").at(0),
    );
    // A plain and a queue subscription in detail. `msgs` is not compared:
    // nats-server counts the messages forwarded on a route's subscription,
    // our router does not count them yet (always 0).
    for subject in ["foo", "bar.*"] {
        let detail = |o: &Observed| {
            o.detail_b
                .get("routes")
                .at(0)
                .get("subscriptions_list_detail")
                .at(detail_index(&o.detail_b_values, subject))
                .keys()
        };
        assert_eq!(detail(&mine), detail(&theirs), "detail of {subject}");
        let values = |o: &Observed| {
            let list = &o.detail_b_values["routes"][0]["subscriptions_list_detail"];
            let s = &list[detail_index(&o.detail_b_values, subject)];
            (
                s["sid"].clone(),
                s["qgroup"].clone(),
                s["cid"] == o.detail_b_values["routes"][0]["rid"],
            )
        };
        assert_eq!(values(&mine), values(&theirs), "detail of {subject}");
    }
    for (what, o, t) in [
        ("a", &mine.varz_a, &theirs.varz_a),
        ("b", &mine.varz_b, &theirs.varz_b),
    ] {
        assert_same_keys(
            &format!("/varz at {what}: cluster"),
            o.1.get("cluster"),
            t.1.get("cluster"),
        );
        for varz in [o, t] {
            let keys = varz.1.keys();
            let at = |k: &str| keys.iter().position(|x| x == k);
            assert_eq!(
                at("connect_urls").map(|i| i - 1),
                at("port"),
                "{what}: {keys:?}"
            );
            assert_eq!(
                at("connect_urls").map(|i| i + 1),
                at("max_connections"),
                "{what}: {keys:?}"
            );
            assert_eq!(varz.0["routes"], 1, "{what}");
            assert_eq!(varz.0["remotes"], 1, "{what}");
            assert_eq!(varz.0["cluster"]["name"], "rz", "{what}");
        }
    }

    // Values.
    assert_eq!(
        mine.route_a,
        serde_json::json!({"did_solicit": false, "is_configured": false, "in_msgs": ROUTED, "in_bytes": 8})
    );
    assert_eq!(mine.route_a, theirs.route_a);
    assert_eq!(
        mine.route_b["subscriptions"], ROUTE_SUBS,
        "{:#}",
        mine.route_b
    );
    assert_eq!(mine.route_b["did_solicit"], true);
    assert_eq!(mine.route_b["is_configured"], true);
    assert_eq!(mine.route_b["out_msgs"], ROUTED);
    assert_eq!(mine.route_b["port"], oa.cluster);
    assert_eq!(theirs.route_b["port"], da.cluster);
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("port");
        }
        v
    };
    assert_eq!(strip(&mine.route_b), strip(&theirs.route_b));
    // The configured route's URL, on the soliciting side only.
    let urls = |v: &Value| v["cluster"]["urls"].clone();
    assert_eq!(
        urls(&mine.varz_b.0),
        serde_json::json!([format!("127.0.0.1:{}", oa.cluster)])
    );
    assert_eq!(
        urls(&theirs.varz_b.0),
        serde_json::json!([format!("127.0.0.1:{}", da.cluster)])
    );
    assert_eq!(urls(&mine.varz_a.0), Value::Null);
    assert_eq!(urls(&theirs.varz_a.0), Value::Null);
    // Routes are not connections: /connz and /varz's `connections` agree
    // and no connection is the route.
    for (what, o) in [("ours", &mine), ("debian", &theirs)] {
        assert_eq!(
            o.varz_a.0["connections"], o.connz_a["num_connections"],
            "{what}"
        );
        let route_port = get(if what == "ours" { oa.http } else { da.http }, "/routez").0["routes"]
            [0]["port"]
            .clone();
        let listed = o.connz_a["connections"].as_array().expect("connections");
        assert!(
            listed.iter().all(|c| c["port"] != route_port),
            "{what}: the route is listed in /connz: {:#}",
            o.connz_a
        );
    }
}
