//! The top-level `cluster { }` block (nats-server 2.9's `parseCluster`):
//! every key and alias, the value forms, and every refusal with its
//! position.

use stan_config::{
    from_nats_config, from_streaming_config, parse_str, ClusterSettings, ConfigSettings, Error,
    NoIncludes,
};

fn settings(src: &str) -> Result<ConfigSettings, Error> {
    let env = |name: &str| (name == "ROUTE").then(|| "nats://127.0.0.1:7333".to_string());
    let tree = parse_str("t.conf", src, &NoIncludes, &env)?;
    let a = from_nats_config(&tree);
    let b = from_streaming_config(&tree);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    a
}

fn ok(src: &str) -> ConfigSettings {
    settings(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn cluster(src: &str) -> ClusterSettings {
    ok(src)
        .nats
        .cluster
        .unwrap_or_else(|| panic!("{src:?}: no cluster"))
}

fn err(src: &str) -> (Error, String) {
    match settings(src) {
        Ok(s) => panic!("{src:?} accepted: {s:?}"),
        Err(e) => {
            assert!(e.pos().is_some(), "{e:?}");
            let text = e.to_string();
            (e, text)
        }
    }
}

/// The example of nats-server's documentation, in a file with a streaming
/// block.
#[test]
fn documented_block() {
    let s = ok(r#"
port: 4222
cluster {
  name: "C1"
  listen: 127.0.0.1:6222
  authorization {
    user: route_user
    password: "T0pS3cr3t"
    timeout: 0.5
  }
  routes = [
    nats-route://route_user:T0pS3cr3t@127.0.0.1:6223
    "nats://127.0.0.1:6224"
  ]
  advertise: "10.0.0.1:6222"
  no_advertise: true
  connect_retries: 5
}
streaming { id: c1 }
"#);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let c = s.nats.cluster.expect("cluster");
    assert_eq!((c.pos.line, c.pos.column), (3, 1));
    assert_eq!(c.name.as_deref(), Some("C1"));
    assert_eq!(c.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.port, Some(6222));
    assert_eq!(c.auth.user.as_deref(), Some("route_user"));
    assert_eq!(c.auth.password.as_deref(), Some("T0pS3cr3t"));
    assert_eq!(c.auth.timeout, Some(0.5));
    let routes = c.routes.expect("routes");
    let urls: Vec<&str> = routes.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "nats-route://route_user:T0pS3cr3t@127.0.0.1:6223",
            "nats://127.0.0.1:6224"
        ]
    );
    assert_eq!((routes[1].pos.line, routes[1].pos.column), (13, 6));
    assert_eq!(c.advertise.as_deref(), Some("10.0.0.1:6222"));
    assert_eq!(c.no_advertise, Some(true));
    assert_eq!(c.connect_retries, Some(5));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("c1"));
}

#[test]
fn absent_and_empty_blocks() {
    assert_eq!(ok("port: 4222").nats.cluster, None);
    let c = cluster("cluster {}");
    assert_eq!(c, ClusterSettings::new(c.pos.clone()));
    assert_eq!(c.routes, None);
    assert_eq!(cluster("cluster { routes: [] }").routes, Some(Vec::new()));
}

#[test]
fn aliases_and_case() {
    let c = cluster(
        "CLUSTER {\n  Net: 10.1.2.3\n  PORT: 7222\n  cluster_advertise: \"h:1\"\n  Authorization { USERNAME: u, pass: p, Timeout: 3 }\n  Routes: [h:7223]\n  Name: n\n  No_Advertise: false\n  Connect_Retries: 0\n}",
    );
    assert_eq!(c.host.as_deref(), Some("10.1.2.3"));
    assert_eq!(c.port, Some(7222));
    assert_eq!(c.advertise.as_deref(), Some("h:1"));
    assert_eq!(c.auth.user.as_deref(), Some("u"));
    assert_eq!(c.auth.password.as_deref(), Some("p"));
    assert_eq!(c.auth.timeout, Some(3.0));
    assert_eq!(c.routes.unwrap()[0].url, "h:7223");
    assert_eq!(c.name.as_deref(), Some("n"));
    assert_eq!(c.no_advertise, Some(false));
    assert_eq!(c.connect_retries, Some(0));
    assert_eq!(cluster("cluster { host: h }").host.as_deref(), Some("h"));
    assert_eq!(
        cluster("cluster { advertise: a }").advertise.as_deref(),
        Some("a")
    );
}

#[test]
fn listen_forms() {
    let hp = |src: &str| {
        let c = cluster(src);
        (c.host, c.port)
    };
    assert_eq!(hp("cluster { listen: 6222 }"), (None, Some(6222)));
    assert_eq!(
        hp("cluster { listen: \"0.0.0.0:6222\" }"),
        (Some("0.0.0.0".into()), Some(6222))
    );
    assert_eq!(
        hp("cluster { listen: \"[::1]:6222\" }"),
        (Some("::1".into()), Some(6222))
    );
    assert_eq!(
        hp("cluster { listen: 127.0.0.1:-1 }"),
        (Some("127.0.0.1".into()), Some(-1))
    );
    // A later key wins; a bare port keeps the host.
    assert_eq!(
        hp("cluster { host: h, listen: 6222 }"),
        (Some("h".into()), Some(6222))
    );
    assert_eq!(
        hp("cluster { listen: a:1, port: 2, host: b }"),
        (Some("b".into()), Some(2))
    );
    // Variables, including the environment.
    assert_eq!(hp("P = 6999\ncluster { port: $P }"), (None, Some(6999)));
    // Routes from a variable and from the environment.
    let c = cluster("R = \"nats://h:1\"\ncluster { routes: [$R, $ROUTE] }");
    let urls: Vec<String> = c.routes.unwrap().into_iter().map(|r| r.url).collect();
    assert_eq!(urls, ["nats://h:1", "nats://127.0.0.1:7333"]);
}

#[test]
fn routes_are_trimmed_and_deduplicated_with_a_warning() {
    let s = ok("cluster {\n  routes: [\" nats://a:1 \", \"nats://b:2\", \"nats://a:1\"]\n}");
    let urls: Vec<String> = s
        .nats
        .cluster
        .unwrap()
        .routes
        .unwrap()
        .into_iter()
        .map(|r| r.url)
        .collect();
    assert_eq!(urls, ["nats://a:1", "nats://b:2"]);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0].to_string(),
        "t.conf:2:43: Duplicate route entry detected: \"nats://a:1\" (ignored)"
    );
}

#[test]
fn bad_types() {
    let cases = [
        ("cluster: 6222", "cluster", "map", "int64"),
        ("cluster { name: 5 }", "name", "string", "int64"),
        ("cluster { port: \"6222\" }", "port", "int64", "string"),
        ("cluster { host: 1 }", "host", "string", "int64"),
        ("cluster { net: true }", "net", "string", "bool"),
        ("cluster { listen: true }", "listen", "string", "bool"),
        (
            "cluster { routes: \"nats://a:1\" }",
            "routes",
            "slice",
            "string",
        ),
        ("cluster { routes: { a: 1 } }", "routes", "slice", "map"),
        ("cluster { advertise: 1 }", "advertise", "string", "int64"),
        (
            "cluster { cluster_advertise: [] }",
            "cluster_advertise",
            "string",
            "slice",
        ),
        (
            "cluster { no_advertise: \"yes\" }",
            "no_advertise",
            "bool",
            "string",
        ),
        (
            "cluster { connect_retries: 1.5 }",
            "connect_retries",
            "int64",
            "float64",
        ),
        (
            "cluster { authorization: true }",
            "authorization",
            "map",
            "bool",
        ),
        (
            "cluster { authorization { user: 1 } }",
            "user",
            "string",
            "int64",
        ),
        (
            "cluster { authorization { password: [] } }",
            "password",
            "string",
            "slice",
        ),
        (
            "cluster { authorization { timeout: \"2s\" } }",
            "timeout",
            "float64",
            "string",
        ),
    ];
    for (src, key, expected, got) in cases {
        let (e, text) = err(src);
        assert!(matches!(e, Error::TypeMismatch { .. }), "{src}: {e:?}");
        assert!(
            text.ends_with(&format!(
                "parameter \"{key}\" value is expected to be {expected}, got {got}"
            )),
            "{src}: {text}"
        );
    }
    // A route that is not a string: the element's position.
    let (_, text) = err("cluster {\n  routes: [\n    \"nats://a:1\"\n    2\n  ]\n}");
    assert_eq!(
        text,
        "t.conf:4:5: parameter \"routes\" value is expected to be string, got int64"
    );
}

#[test]
fn bad_values() {
    for (src, want) in [
        (
            "cluster { listen: localhost }",
            "t.conf:1:19: invalid value for \"listen\": could not parse address string \"localhost\"",
        ),
        (
            "cluster { listen: \"h:port\" }",
            "t.conf:1:20: invalid value for \"listen\": could not parse port \"port\"",
        ),
        (
            "cluster { routes: [\"nats://a:1\", \"  \"] }",
            "t.conf:1:35: invalid value for \"routes\": empty route URL",
        ),
        (
            "cluster {\n  authorization { token: abc }\n}",
            "t.conf:2:3: invalid value for \"authorization\": Cluster authorization does not support tokens",
        ),
        (
            "cluster { authorization { users: [{user: a, password: b}] } }",
            "t.conf:1:11: invalid value for \"authorization\": Cluster authorization does not allow multiple users",
        ),
        (
            "cluster { authorization { nkeys: [] } }",
            "t.conf:1:11: invalid value for \"authorization\": Cluster authorization does not allow multiple users",
        ),
    ] {
        assert_eq!(err(src).1, want, "{src}");
    }
}

#[test]
fn unknown_keys_name_the_key_and_the_block() {
    for (src, want) in [
        (
            "cluster {\n  listen: 6222\n  colour: blue\n}",
            "t.conf:3:3: unknown configuration key \"colour\" in the cluster block",
        ),
        (
            "cluster { authorization { user: a, nick: b } }",
            "t.conf:1:36: unknown configuration key \"nick\" in the cluster authorization block",
        ),
    ] {
        let (e, text) = err(src);
        assert!(matches!(e, Error::UnknownKey { .. }), "{e:?}");
        assert_eq!(text, want);
    }
    // nats-server 2.10's keys: unknown to 2.9 (as Debian's nats-server
    // 2.9.10 reports them), with a hint.
    for key in [
        "pool_size",
        "compression",
        "accounts",
        "ping_interval",
        "ping_max",
    ] {
        let (e, text) = err(&format!("cluster {{ listen: 6222, {key}: 3 }}"));
        assert!(matches!(e, Error::UnknownKey { .. }), "{e:?}");
        assert!(
            text.starts_with(&format!(
                "t.conf:1:25: unknown configuration key \"{key}\" in the cluster block (a nats-server 2.10 option"
            )),
            "{text}"
        );
    }
    // A key only used as a variable is not an option.
    let c = cluster("cluster {\n  PORT = 7000\n  port: $PORT\n}");
    assert_eq!(c.port, Some(7000));
}

#[test]
fn unsupported_features_are_refused_with_their_position() {
    for (src, key, detail) in [
        (
            "cluster { permissions { import: \">\" } }",
            "permissions",
            "route permissions",
        ),
        (
            "cluster { authorization { user: a, password: b, permissions { export: \">\" } } }",
            "permissions",
            "route permissions",
        ),
        (
            "cluster { authorization { default_permissions {} } }",
            "default_permissions",
            "route permissions",
        ),
        (
            "cluster { node_id: a }",
            "node_id",
            "streaming clustering; in Go it belongs in streaming { cluster { } }",
        ),
        (
            "cluster { peers: [a, b] }",
            "peers",
            "streaming clustering; in Go it belongs in streaming { cluster { } }",
        ),
        // The streaming server's clustering stays refused.
        (
            "streaming { cluster { node_id: a } }",
            "cluster",
            "streaming clustering",
        ),
    ] {
        let (e, text) = err(src);
        assert!(matches!(e, Error::Unsupported { .. }), "{src}: {e:?}");
        assert!(
            text.ends_with(&format!(
                "\"{key}\" is not supported by this build ({detail})"
            )),
            "{src}: {text}"
        );
    }
    let (_, text) = err("cluster {\n  listen: 6222\n  tls {\n    pinned_certs: []\n  }\n}");
    assert!(text.starts_with("t.conf:4:5: "), "{text}");
}

/// Go takes the last `cluster` key.
#[test]
fn the_last_block_wins() {
    let c = cluster("cluster { port: 1 }\ncluster { name: b }");
    assert_eq!((c.port, c.name.as_deref()), (None, Some("b")));
}

/// `cluster { tls { } }`: TLS on routes, with the keys of the top-level
/// `tls` block; an unknown key inside is refused at its position.
#[test]
fn tls_on_routes_is_read() {
    let c = cluster(
        "cluster {\n  listen: 6222\n  tls {\n    cert_file: c.pem\n    key_file: k.pem\n    ca_file: ca.pem\n    verify: true\n    timeout: 3\n    insecure: false\n  }\n}",
    );
    let tls = c.tls.expect("cluster tls");
    assert_eq!(tls.cert_file.as_deref(), Some("c.pem"));
    assert_eq!(tls.key_file.as_deref(), Some("k.pem"));
    assert_eq!(tls.ca_file.as_deref(), Some("ca.pem"));
    assert_eq!(tls.verify, Some(true));
    assert_eq!(tls.timeout, Some(3.0));
    assert_eq!(tls.insecure, Some(false));
    assert_eq!(cluster("cluster { port: 1 }").tls, None);
    let (e, text) = err("cluster {\n  tls {\n    certfile: c.pem\n  }\n}");
    assert!(matches!(e, Error::UnknownKey { .. }), "{e:?}");
    assert!(text.starts_with("t.conf:3:5: "), "{text}");
}
