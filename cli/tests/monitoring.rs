//! `stan-server -m PORT` against the Go server's own monitoring answers
//! (`../shared/fixtures/go-monitoring/`): the fixture's scenario is
//! recreated with our client on each runtime (and with `-ns` through
//! Debian's `nats-server`), every endpoint is fetched, and its key set and
//! value types are compared with the fixture's, and the values that must
//! agree (counts, sequences, names, `last_sent`, `pending_count`,
//! `is_offline`, limits) are compared one by one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stan_tokio::{Connection, Options, StartAt, SubscriptionOptions};

mod common;

use common::{connect_retrying, free_port, nats_server, wait_port, Kill, T};

fn fixture(name: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/go-monitoring");
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `GET path` on the monitoring port: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(T))
        .build()
        .into();
    let mut resp = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, body)
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences of shape between the Go server's answer and ours: keys
/// missing on either side and values of another JSON type.
fn shape_diff(go: &Value, ours: &Value, at: &str, out: &mut Vec<String>) {
    shape_diff_any(&[go], ours, at, out);
}

/// [`shape_diff`] against several examples of one value (the elements of
/// an array, which differ by the fields Go omits when empty): a key every
/// example has is required, a key only some have is optional, any other is
/// extra; an array's elements are compared with all the examples'
/// elements.
fn shape_diff_any(go: &[&Value], ours: &Value, at: &str, out: &mut Vec<String>) {
    if !go.iter().any(|g| kind(g) == kind(ours)) {
        let kinds: Vec<&str> = go.iter().map(|g| kind(g)).collect();
        out.push(format!("{at}: Go has {kinds:?}, we have a {}", kind(ours)));
        return;
    }
    match ours {
        Value::Object(o) => {
            let maps: Vec<&serde_json::Map<String, Value>> =
                go.iter().filter_map(|g| g.as_object()).collect();
            let mut keys: Vec<&String> = maps.iter().flat_map(|g| g.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in &keys {
                let examples: Vec<&Value> = maps.iter().filter_map(|g| g.get(*k)).collect();
                match o.get(*k) {
                    None if examples.len() == maps.len() => out.push(format!("{at}.{k}: missing")),
                    None => {}
                    Some(ov) => shape_diff_any(&examples, ov, &format!("{at}.{k}"), out),
                }
            }
            for k in o.keys().filter(|k| !keys.contains(k)) {
                out.push(format!("{at}.{k}: not in Go's answer"));
            }
        }
        Value::Array(o) => {
            let elements: Vec<&Value> = go.iter().filter_map(|g| g.as_array()).flatten().collect();
            if !elements.is_empty() {
                for (i, ov) in o.iter().enumerate() {
                    shape_diff_any(&elements, ov, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn assert_shape(name: &str, ours: &Value) {
    assert_shape_except(name, ours, &[]);
}

/// `allowed`: differences that are explained (each with its reason at
/// the call site).
fn assert_shape_except(name: &str, ours: &Value, allowed: &[&str]) {
    let mut diff = Vec::new();
    shape_diff(&fixture(name), ours, "", &mut diff);
    diff.retain(|d| !allowed.iter().any(|a| d.contains(a)));
    assert!(
        diff.is_empty(),
        "{name}: shape differs from the Go server's:\n  {}\nours: {ours:#}",
        diff.join("\n  ")
    );
}

/// The fields of `keys` are equal in both.
fn assert_same(name: &str, go: &Value, ours: &Value, keys: &[&str]) {
    for k in keys {
        assert_eq!(
            go.get(k),
            ours.get(k),
            "{name}: {k:?} differs (ours: {ours:#})"
        );
    }
}

const SUB_FIELDS: &[&str] = &[
    "client_id",
    "durable_name",
    "queue_name",
    "is_durable",
    "is_offline",
    "max_inflight",
    "ack_wait",
    "last_sent",
    "pending_count",
    "is_stalled",
];

const CHANNEL_FIELDS: &[&str] = &[
    "name",
    "msgs",
    "bytes",
    "first_seq",
    "last_seq",
    "subs_count",
];

fn subs_by_client(list: &Value) -> Vec<(String, Value)> {
    let mut subs: Vec<(String, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["client_id"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    subs
}

fn assert_same_subs(name: &str, go: &Value, ours: &Value) {
    let (go, ours) = (subs_by_client(go), subs_by_client(ours));
    assert_eq!(go.len(), ours.len(), "{name}: subscription count");
    for ((_, g), (_, o)) in go.iter().zip(&ours) {
        assert_same(name, g, o, SUB_FIELDS);
    }
}

/// The fixture's scenario: 3 messages on `orders` and 1 on `audit.log`
/// from `pub1`, which then leaves; `sub1` with durable `billing` on
/// `orders` (all available, auto ack), `sub2` in queue group `workers`.
/// Payload sizes are the Go run's (the stored bytes must agree). Returns
/// the connections to keep open while the endpoints are read.
async fn scenario(url: &str) -> (Connection, Connection) {
    let opts = Options {
        nats_name: Some("NATS Streaming Example Subscriber".into()),
        ..Options::default()
    };
    let connect = |id: &'static str| connect_retrying(url, id, opts.clone());
    let sub1 = connect("sub1").await;
    let sub2 = connect("sub2").await;
    let base = SubscriptionOptions {
        max_in_flight: 1024,
        ack_wait: Duration::from_secs(30),
        ..Default::default()
    };
    let mut billing = sub1
        .subscribe(
            "orders",
            SubscriptionOptions {
                durable: Some("billing".into()),
                start: StartAt::First,
                ..base.clone()
            },
        )
        .await
        .unwrap();
    let mut workers = sub2
        .subscribe(
            "orders",
            SubscriptionOptions {
                queue: Some("workers".into()),
                ..base
            },
        )
        .await
        .unwrap();
    let pub1 = connect("pub1").await;
    for i in 1..=3 {
        pub1.publish("orders", format!("order-{i}")).await.unwrap();
    }
    pub1.publish("audit.log", "x").await.unwrap();
    pub1.close().await.unwrap();
    for _ in 0..3 {
        tokio::time::timeout(T, billing.next())
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(T, workers.next())
            .await
            .unwrap()
            .unwrap();
    }
    // The subscriptions stay open (dropping the handles keeps them
    // registered with the server until the connection closes).
    std::mem::forget(billing);
    std::mem::forget(workers);
    (sub1, sub2)
}

/// Polls `path` until `done` holds (the auto acks are on their way).
fn wait_for(port: u16, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let v = get_json(port, path);
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_streaming(m: u16) {
    let channels = wait_for(m, "/streaming/channelsz?subs=1", |v| {
        v["channels"].as_array().is_some_and(|cs| {
            cs.iter()
                .flat_map(|c| c["subscriptions"].as_array().cloned().unwrap_or_default())
                .all(|s| s["pending_count"] == 0)
        })
    });

    let serverz = get_json(m, "/streaming/serverz");
    assert_shape("streaming_serverz.json", &serverz);
    let go = fixture("streaming_serverz.json");
    assert_same(
        "serverz",
        &go,
        &serverz,
        &[
            "cluster_id",
            "state",
            "clients",
            "subscriptions",
            "channels",
            "total_msgs",
            "total_bytes",
            "in_msgs",
            "out_msgs",
        ],
    );

    let storez = get_json(m, "/streaming/storez");
    assert_shape("streaming_storez.json", &storez);
    assert_same(
        "storez",
        &fixture("streaming_storez.json"),
        &storez,
        &["cluster_id", "type", "limits", "total_msgs", "total_bytes"],
    );

    let names = get_json(m, "/streaming/channelsz");
    assert_shape("streaming_channelsz.json", &names);
    assert_same(
        "channelsz",
        &fixture("streaming_channelsz.json"),
        &names,
        &["cluster_id", "offset", "limit", "count", "total", "names"],
    );

    assert_shape("streaming_channelsz_subs_1.json", &channels);
    let go = fixture("streaming_channelsz_subs_1.json");
    assert_same("channelsz?subs=1", &go, &channels, &["count", "total"]);
    for (g, o) in go["channels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(channels["channels"].as_array().unwrap())
    {
        assert_same("channelsz?subs=1", g, o, CHANNEL_FIELDS);
        if let Some(gs) = g.get("subscriptions") {
            assert_same_subs("channelsz?subs=1", gs, &o["subscriptions"]);
        }
    }

    let orders = get_json(m, "/streaming/channelsz?channel=orders&subs=1");
    assert_shape("streaming_channelsz_channel_orders_subs_1.json", &orders);
    let go = fixture("streaming_channelsz_channel_orders_subs_1.json");
    assert_same("channelsz?channel=orders", &go, &orders, CHANNEL_FIELDS);
    assert_same_subs(
        "channelsz?channel=orders",
        &go["subscriptions"],
        &orders["subscriptions"],
    );

    let clients = get_json(m, "/streaming/clientsz");
    assert_shape("streaming_clientsz.json", &clients);
    let go = fixture("streaming_clientsz.json");
    assert_same(
        "clientsz",
        &go,
        &clients,
        &["count", "total", "offset", "limit"],
    );
    for (g, o) in go["clients"]
        .as_array()
        .unwrap()
        .iter()
        .zip(clients["clients"].as_array().unwrap())
    {
        assert_same("clientsz", g, o, &["id", "subs_count"]);
    }

    let clients = get_json(m, "/streaming/clientsz?subs=1");
    assert_shape("streaming_clientsz_subs_1.json", &clients);
    let go = fixture("streaming_clientsz_subs_1.json");
    for (g, o) in go["clients"]
        .as_array()
        .unwrap()
        .iter()
        .zip(clients["clients"].as_array().unwrap())
    {
        assert_same("clientsz?subs=1", g, o, &["id", "subs_count"]);
        assert_same_subs(
            "clientsz?subs=1",
            &g["subscriptions"]["orders"],
            &o["subscriptions"]["orders"],
        );
    }

    // Not found: the Go server's status and body.
    let (status, body) = get(m, "/streaming/channelsz?channel=nope");
    assert_eq!((status, body.trim()), (404, "Channel nope not found"));
    let (status, body) = get(m, "/streaming/clientsz?client=nope");
    assert_eq!((status, body.trim()), (404, "Client nope not found"));
    // Not in FT mode.
    assert_eq!(get(m, "/streaming/isFTActive").0, 204);
}

fn check_nats(m: u16) {
    let varz = get_json(m, "/varz");
    // `git_commit` is omitted when empty, in Go too: we are not built with
    // one.
    assert_shape_except("varz.json", &varz, &[".git_commit: missing"]);
    assert!(
        varz["in_msgs"].as_u64().unwrap() > 0,
        "real counters: {varz:#}"
    );
    assert!(
        varz["out_msgs"].as_u64().unwrap() > 0,
        "real counters: {varz:#}"
    );
    assert!(varz["mem"].as_u64().unwrap() > 0, "RSS read: {varz:#}");

    let connz = get_json(m, "/connz");
    assert_shape("connz.json", &connz);
    let connz = get_json(m, "/connz?subs=1");
    assert_shape("connz_subs_1.json", &connz);
    let names: Vec<&str> = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "NATS Streaming Example Subscriber")
            .count(),
        2,
        "{names:?}"
    );

    let subsz = get_json(m, "/subsz");
    assert_shape("subsz.json", &subsz);
    assert!(subsz["num_subscriptions"].as_u64().unwrap() > 0);
    assert!(subsz["num_matches"].as_u64().unwrap() > 0);
    let subsz = get_json(m, "/subsz?subs=1");
    assert_shape("subsz_subs_1.json", &subsz);
    assert_eq!(
        subsz["subscriptions_list"].as_array().unwrap().len() as u64,
        subsz["num_subscriptions"].as_u64().unwrap()
    );

    let routez = get_json(m, "/routez");
    assert_shape("routez.json", &routez);
    assert_same(
        "routez",
        &fixture("routez.json"),
        &routez,
        &["num_routes", "routes"],
    );
    assert_eq!(get_json(m, "/healthz"), fixture("healthz.json"));
}

fn run(runtime: &str, external: bool) {
    let (p, m) = (free_port(), free_port());
    let mut _nats = None;
    let mut args: Vec<String> = ["-cid", "test-cluster", "-mm", "1000", "--runtime", runtime]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["-m".into(), m.to_string()]);
    if external {
        _nats = Some(Kill(
            Command::new(nats_server())
                .args(["-a", "127.0.0.1", "-p", &p.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts"),
        ));
        wait_port(p);
        args.extend(["-ns".into(), format!("nats://127.0.0.1:{p}")]);
    } else {
        args.extend(["-a".into(), "127.0.0.1".into(), "-p".into(), p.to_string()]);
    }
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    );
    wait_port(m);
    // A worker thread keeps the clients' connections running while this
    // thread reads the endpoints (the auto acks of the messages taken last
    // are written by them).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("nats://127.0.0.1:{p}");
    let _conns = rt.block_on(scenario(&url));
    check_streaming(m);
    if external {
        // The NATS endpoints are the external server's.
        assert_eq!(get(m, "/varz").0, 404);
    } else {
        check_nats(m);
    }
    let (status, body) = get(m, "/no/such/path");
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
}

#[test]
fn go_fixture_on_tokio() {
    run("tokio", false);
}

#[test]
fn go_fixture_on_smol() {
    run("smol", false);
}

#[test]
fn go_fixture_on_mio() {
    run("mio", false);
}

#[test]
fn go_fixture_with_external_nats_server_on_tokio() {
    run("tokio", true);
}

#[test]
fn go_fixture_with_external_nats_server_on_mio() {
    run("mio", true);
}

/// With a file store: `storez` says `FILE` and `/metrics` has the store's
/// sync latency histogram, its count the syncs made.
#[test]
fn file_store_metrics() {
    let dir = std::env::temp_dir().join(format!("stan-monitor-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (p, m) = (free_port(), free_port());
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &p.to_string(),
                "-m",
                &m.to_string(),
            ])
            .args(["-st", "FILE", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    );
    wait_port(m);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("nats://127.0.0.1:{p}");
    rt.block_on(async {
        let c = connect_retrying(&url, "filer", Options::default()).await;
        for i in 0..5 {
            c.publish("durable.things", format!("thing {i}"))
                .await
                .unwrap();
        }
        c.close().await.unwrap();
    });
    assert_eq!(get_json(m, "/streaming/storez")["type"], "FILE");
    let (status, metrics) = get(m, "/metrics");
    assert_eq!(status, 200);
    let count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("stan_store_sync_latency_seconds_count "))
        .unwrap_or_else(|| panic!("no sync histogram in:\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 1, "syncs counted: {count}");
    assert!(metrics.contains("stan_channel_messages{channel=\"durable.things\"} 5"));
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
}
