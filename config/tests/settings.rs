//! The settings mapping, on config files in the Go servers' documented
//! syntax (tests/data) and on every kind of error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use stan_config::fs::FsLoader;
use stan_config::{
    from_nats_config, from_streaming_config, load_nats_config, load_streaming_config, parse_str,
    ChannelLimitsSettings, ConfigSettings, Error, GoDuration, NoEnv, NoIncludes, StoreType,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn secs(s: i64) -> Option<GoDuration> {
    Some(GoDuration(s * 1_000_000_000))
}

fn settings(src: &str) -> Result<ConfigSettings, Error> {
    let tree = parse_str("t.conf", src, &NoIncludes, &NoEnv)?;
    let a = from_nats_config(&tree);
    let b = from_streaming_config(&tree);
    // Go reads -c and -sc files the same way.
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    a
}

fn ok(src: &str) -> ConfigSettings {
    settings(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

/// The error of `src`, as text (which starts with the position).
fn err(src: &str) -> String {
    match settings(src) {
        Ok(s) => panic!("{src:?} accepted: {s:?}"),
        Err(e) => {
            assert!(e.pos().is_some(), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn nats_config_with_streaming_block() {
    let s = load_nats_config(data("nats_with_streaming.conf"), &FsLoader, &NoEnv).unwrap();
    let n = &s.nats;
    assert_eq!(n.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(n.port, Some(4222));
    assert_eq!(n.http_port, Some(8222));
    assert_eq!(n.https_port, None);
    assert_eq!(n.auth.user.as_deref(), Some("stan"));
    assert_eq!(n.auth.password.as_deref(), Some("T0pS3cr3t"));
    assert_eq!(n.auth.token, None);
    assert_eq!(n.auth.timeout, Some(2.5));
    let tls = n.tls.as_ref().unwrap();
    assert_eq!(tls.cert_file.as_deref(), Some("/etc/stan/server-cert.pem"));
    assert_eq!(tls.key_file.as_deref(), Some("/etc/stan/server-key.pem"));
    assert_eq!(tls.ca_file.as_deref(), Some("/etc/stan/ca.pem"));
    assert_eq!(tls.verify, Some(true));
    assert_eq!(tls.timeout, Some(2.0));
    assert_eq!(n.max_payload, Some(1 << 20));
    assert_eq!(n.max_connections, Some(64_000));
    assert_eq!(n.max_subscriptions, Some(1000));
    assert_eq!(n.max_pending, Some(64 << 20));
    assert_eq!(n.ping_interval, secs(120));
    assert_eq!(n.ping_max, Some(3));
    assert_eq!(n.write_deadline, secs(10));
    assert_eq!(n.logfile.as_deref(), Some("/var/log/stan/stan.log"));
    assert_eq!(
        (n.debug, n.trace, n.logtime),
        (Some(false), Some(false), Some(true))
    );
    assert_eq!(n.pid_file.as_deref(), Some("/var/run/stan.pid"));

    let st = &s.streaming;
    assert_eq!(st.cluster_id.as_deref(), Some("prod-cluster"));
    assert_eq!(st.discover_prefix.as_deref(), Some("_STAN.discover"));
    assert_eq!(st.store_type, Some(StoreType::File));
    assert_eq!(st.dir.as_deref(), Some("/var/lib/stan"));
    assert_eq!((st.debug, st.trace), (Some(false), Some(false)));
    assert_eq!(st.hb_interval, secs(30));
    assert_eq!(st.hb_timeout, secs(10));
    assert_eq!(st.hb_fail_count, Some(10));
    let sl = &st.store_limits;
    assert_eq!(sl.max_channels, Some(500));
    assert_eq!(
        sl.global,
        ChannelLimitsSettings {
            max_msgs: Some(1_000_000),
            max_bytes: Some(1 << 30),
            max_age: secs(24 * 3600),
            max_subs: Some(100),
            max_inactivity: secs(3600),
        }
    );
    assert!(sl.channels.is_empty());
    let f = &st.file;
    assert_eq!(f.compact, Some(true));
    assert_eq!(f.compact_frag, Some(50));
    assert_eq!(f.compact_interval, Some(300));
    assert_eq!(f.compact_min_size, Some(1 << 20));
    assert_eq!(f.buffer_size, Some(2 << 20));
    assert_eq!(f.crc, Some(true));
    assert_eq!(f.crc_poly, Some(3_988_292_384));
    assert_eq!(f.sync, Some(true));
    assert_eq!(f.slice_max_msgs, Some(0));
    assert_eq!(f.slice_max_bytes, Some(64 << 20));
    assert_eq!(f.slice_max_age, Some(GoDuration::ZERO));
    assert_eq!(f.fds_limit, Some(0));
    assert_eq!(f.parallel_recovery, Some(1));
    assert_eq!(f.read_buffer_size, Some(2 << 20));
    assert_eq!(f.auto_sync, secs(60));
    assert_eq!(f.slice_archive_script, None);
    let t = st.tls.as_ref().unwrap();
    assert_eq!(t.client_cert.as_deref(), Some("/etc/stan/client-cert.pem"));
    assert_eq!(t.client_key.as_deref(), Some("/etc/stan/client-key.pem"));
    assert_eq!(t.client_ca.as_deref(), Some("/etc/stan/ca.pem"));
    assert_eq!(st.encrypt, Some(true));
    assert_eq!(st.encryption_cipher.as_deref(), Some("AES"));
    assert_eq!(st.encryption_key, None);
    assert_eq!(st.replace_durable, Some(true));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn streaming_config_at_top_level_with_wildcard_channels() {
    let s = load_streaming_config(data("streaming_only.conf"), &FsLoader, &NoEnv).unwrap();
    let st = &s.streaming;
    assert_eq!(st.cluster_id.as_deref(), Some("orders"));
    assert_eq!(st.store_type, Some(StoreType::Memory));
    assert_eq!(st.nats_server_url.as_deref(), Some("nats://127.0.0.1:4222"));
    assert_eq!(st.hb_interval, secs(5));
    assert_eq!(st.hb_timeout, secs(2));
    assert_eq!(st.hb_fail_count, Some(3));
    let sl = &st.store_limits;
    assert_eq!(sl.max_channels, Some(10));
    assert_eq!(
        sl.global,
        ChannelLimitsSettings {
            max_msgs: Some(5000),
            max_bytes: Some(10 << 20),
            max_age: secs(5400),
            max_subs: Some(50),
            max_inactivity: Some(GoDuration::ZERO),
        }
    );
    let names: Vec<&str> = sl.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["orders.>", "orders.eu.*", "payments", "audit.log"]);
    assert_eq!(
        sl.channels[0].limits,
        ChannelLimitsSettings {
            max_msgs: Some(0),
            max_bytes: Some(512 << 10),
            ..Default::default()
        }
    );
    assert_eq!(sl.channels[0].pos.line, 17);
    assert_eq!(sl.channels[0].pos.column, 6);
    assert_eq!(sl.channels[1].limits.max_msgs, Some(100));
    assert_eq!(sl.channels[1].limits.max_age, secs(90));
    assert_eq!(sl.channels[2].limits.max_inactivity, secs(900));
    assert_eq!(sl.channels[2].limits.max_subs, Some(5));
    assert_eq!(sl.channels[3].limits, ChannelLimitsSettings::default());
    let f = &st.file;
    assert_eq!(f.sync, Some(false));
    assert_eq!(f.slice_max_msgs, Some(10_000));
    assert_eq!(f.slice_max_bytes, Some(16 << 20));
    assert_eq!(f.slice_max_age, secs(3600));
    assert_eq!(f.fds_limit, Some(256));
    assert_eq!(st.credentials.as_deref(), Some("/etc/stan/stan.creds"));
    assert_eq!(st.username.as_deref(), Some("stan_user"));
    assert_eq!(st.password.as_deref(), Some("pwd"));
    assert_eq!(st.nkey_seed_file.as_deref(), Some("/etc/stan/seed.nk"));
    assert_eq!(st.syslog_name.as_deref(), Some("stan"));
    assert_eq!(st.replace_durable, Some(true));
    assert_eq!(st.encryption_key.as_deref(), Some("0123456789abcdef"));
    // Go: an encryption key turns encryption on.
    assert_eq!(st.encrypt, Some(true));
    // No NATS option in this file.
    assert_eq!(s.nats, Default::default());
}

#[test]
fn includes_relative_to_the_including_file() {
    let s = load_nats_config(data("with_includes.conf"), &FsLoader, &NoEnv).unwrap();
    assert_eq!(s.nats.port, Some(4333));
    assert_eq!(s.nats.auth.token.as_deref(), Some("s3cr3t-token"));
    assert_eq!(s.nats.http_host.as_deref(), Some("localhost"));
    assert_eq!(s.nats.http_port, Some(8333));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("included"));
    assert_eq!(s.streaming.store_limits.max_channels, Some(42));
    assert_eq!(s.streaming.hb_interval, secs(7));
}

#[test]
fn variables_and_environment() {
    let env = |k: &str| match k {
        "STAN_TEST_PORT" => Some("4242".to_string()),
        "STAN_TEST_CLUSTER" => Some("\"from-env\"".to_string()),
        "MAX_PAYLOAD_ENV" => Some("2MB".to_string()),
        _ => None,
    };
    let s = load_nats_config(data("variables.conf"), &FsLoader, &env).unwrap();
    assert_eq!(s.nats.port, Some(4242));
    assert_eq!(s.nats.max_payload, Some(2 << 20));
    assert_eq!(s.streaming.dir.as_deref(), Some("/srv/stan"));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("from-env"));
    assert_eq!(s.streaming.store_limits.global.max_bytes, Some(2 << 30));
    assert_eq!(s.streaming.store_limits.global.max_msgs, Some(16));

    // Without the environment, the first missing variable is reported.
    let e = load_nats_config(data("variables.conf"), &FsLoader, &NoEnv).unwrap_err();
    let path = data("variables.conf");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6:7: variable reference for 'STAN_TEST_PORT' can not be found",
            path.display()
        )
    );
}

#[test]
fn include_cycle_from_files() {
    let e = load_nats_config(data("cycle_a.conf"), &FsLoader, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::IncludeCycle { .. }), "{e:?}");
    let p = e.pos().unwrap();
    assert!(p.file.ends_with("cycle_b.conf"), "{p}");
    assert_eq!((p.line, p.column), (1, 9));
}

#[test]
fn unsupported_features_are_named() {
    let e =
        load_streaming_config(data("go_style_unsupported.conf"), &FsLoader, &NoEnv).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(
        e.to_string()
            .ends_with("go_style_unsupported.conf:5:3: \"ft_group\" is not supported by this build (fault tolerance mode)"),
        "{e}"
    );
    for (src, key) in [
        ("streaming { sql { driver: mysql } }", "sql"),
        ("streaming { sql_options {} }", "sql_options"),
        ("streaming { cluster { node_id: a } }", "cluster"),
        ("streaming { partitioning: true }", "partitioning"),
        ("streaming { store: sql }", "store"),
        ("cluster { tls { pinned_certs: [] } }", "pinned_certs"),
        ("jetstream {}", "jetstream"),
        ("accounts {}", "accounts"),
        ("leafnodes {}", "leafnodes"),
        ("server_name: x", "server_name"),
        ("authorization { users: [] }", "users"),
        ("authorization { permissions {} }", "permissions"),
        ("tls { pinned_certs: [] }", "pinned_certs"),
    ] {
        let m = err(src);
        assert!(
            m.contains(&format!("\"{key}\" is not supported by this build")),
            "{src}: {m}"
        );
    }
    // Explicitly disabled features are fine.
    let s = ok("streaming { partitioning: false, ft_group: \"\" }");
    assert_eq!(s.streaming, Default::default());
}

#[test]
fn unknown_keys_at_every_level() {
    let cases = [
        ("bogus: 1", "t.conf:1:1: unknown configuration key \"bogus\" in the top level"),
        (
            "streaming {\n  id: x\n  bogus: 1\n}",
            "t.conf:3:3: unknown configuration key \"bogus\" in the streaming block",
        ),
        (
            "store_limits { max_msgs: 1, mx: 2 }",
            "t.conf:1:29: unknown configuration key \"mx\" in store_limits",
        ),
        (
            "limits { channels { foo { max_channels: 1 } } }",
            "t.conf:1:27: unknown configuration key \"max_channels\" in the limits of channel \"foo\"",
        ),
        (
            "file { compact: true, nope: 1 }",
            "t.conf:1:23: unknown configuration key \"nope\" in file",
        ),
        (
            "streaming { tls { cert_file: x } }",
            "t.conf:1:19: unknown configuration key \"cert_file\" in the streaming tls block",
        ),
        (
            "streaming {}\ntls { client_cert: x }",
            "t.conf:2:7: unknown configuration key \"client_cert\" in the tls block",
        ),
        (
            "tls { whatever: x }",
            "t.conf:1:7: unknown configuration key \"whatever\" in the tls block",
        ),
        (
            "authorization { user: a, nick: b }",
            "t.conf:1:26: unknown configuration key \"nick\" in the authorization block",
        ),
        (
            "streaming { id: a }\ncluster_id: b",
            "t.conf:2:1: unknown configuration key \"cluster_id\" in the top level (streaming options belong in the streaming block)",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
}

#[test]
fn variable_only_keys_are_not_unknown() {
    let s = ok("PORT = 4333\nport: $PORT\nstreaming {\n  ID = abc\n  id: $ID\n  file { N = 5, parallel_recovery: $N }\n}");
    assert_eq!(s.nats.port, Some(4333));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("abc"));
    assert_eq!(s.streaming.file.parallel_recovery, Some(5));
    // An unused one is unknown.
    assert!(err("UNUSED = 1").contains("unknown configuration key \"UNUSED\""));
}

#[test]
fn type_mismatches_use_go_text() {
    let cases = [
        (
            "streaming {\n  hb_interval: 10\n}",
            "t.conf:2:3: parameter \"hb_interval\" value is expected to be string, got int64",
        ),
        (
            "cluster_id: 12",
            "t.conf:1:1: parameter \"cluster_id\" value is expected to be string, got int64",
        ),
        (
            "sd: \"true\"",
            "t.conf:1:1: parameter \"sd\" value is expected to be bool, got string",
        ),
        (
            "store_limits { max_msgs: 1.5 }",
            "t.conf:1:16: parameter \"max_msgs\" value is expected to be int64, got float64",
        ),
        (
            "store_limits: 5",
            "t.conf:1:1: parameter \"store_limits\" value is expected to be map, got int64",
        ),
        (
            "streaming: [1]",
            "t.conf:1:1: parameter \"streaming\" value is expected to be map, got slice",
        ),
        (
            "limits { channels { foo: 1 } }",
            "t.conf:1:21: parameter \"foo\" value is expected to be map, got int64",
        ),
        (
            "port: \"4222\"",
            "t.conf:1:1: parameter \"port\" value is expected to be int64, got string",
        ),
        (
            "debug: 1",
            "t.conf:1:1: parameter \"debug\" value is expected to be bool, got int64",
        ),
        (
            "authorization { timeout: \"2s\" }",
            "t.conf:1:17: parameter \"timeout\" value is expected to be float64, got string",
        ),
        (
            "tls { cipher_suites: [1] }",
            "t.conf:1:23: parameter \"cipher_suites\" value is expected to be string, got int64",
        ),
        (
            "file { auto_sync: 2016-05-04T18:53:41Z }",
            "t.conf:1:8: parameter \"auto_sync\" value is expected to be string, got struct",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
}

#[test]
fn durations() {
    let s = ok("ping_interval: 30\nwrite_deadline: \"2.5s\"\nhb_timeout: \"-1s\"\nfile { auto_sync: \"-1ns\" }");
    assert_eq!(s.nats.ping_interval, secs(30));
    assert_eq!(s.nats.write_deadline, Some(GoDuration(2_500_000_000)));
    assert_eq!(s.streaming.hb_timeout, Some(GoDuration(-1_000_000_000)));
    assert_eq!(s.streaming.file.auto_sync, Some(GoDuration(-1)));
    let s = ok("ping_interval: 30\nstore_limits { max_age: \"1h2m3s\" }");
    assert_eq!(s.streaming.store_limits.global.max_age, secs(3723));
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0].to_string(),
        "t.conf:1:1: ping_interval should be converted to a duration"
    );
    // Unquoted "2m" is the integer 2000000 (a size), so seconds, as in Go.
    assert_eq!(ok("ping_interval: 2m").nats.ping_interval, secs(2_000_000));
    assert_eq!(
        err("hb_interval: \"10 s\""),
        "t.conf:1:15: invalid value for \"hb_interval\": time: unknown unit \" s\" in duration \"10 s\""
    );
    assert_eq!(
        err("hbi: \"5\""),
        "t.conf:1:7: invalid value for \"hbi\": time: missing unit in duration \"5\""
    );
    // Unquoted durations that do not look like sizes are strings.
    assert_eq!(ok("hbi: 1m30s").streaming.hb_interval, secs(90));
    assert_eq!(
        ok("hbi: 250ms").streaming.hb_interval,
        Some(GoDuration(250_000_000))
    );
}

#[test]
fn sizes() {
    let s = ok(
        "max_payload: \"512KB\"\nstore_limits { max_bytes: \"1GB\" }\nfile { buffer_size: 4kb }",
    );
    assert_eq!(s.nats.max_payload, Some(512 << 10));
    assert_eq!(s.streaming.store_limits.global.max_bytes, Some(1 << 30));
    assert_eq!(s.streaming.file.buffer_size, Some(4096));
    assert_eq!(
        err("max_payload: 4GB"),
        "t.conf:1:14: invalid value for \"max_payload\": max_payload value is too big"
    );
    assert_eq!(
        err("file { buffer_size: \"lots\" }"),
        "t.conf:1:22: invalid value for \"buffer_size\": expected a size such as 1024, 512KB or 1GB, got \"lots\""
    );
}

#[test]
fn listen_forms() {
    let s = ok("listen: 4333");
    assert_eq!((s.nats.host.clone(), s.nats.port), (None, Some(4333)));
    let s = ok("listen: \"[::1]:-1\"\nhttps: 0.0.0.0:8443");
    assert_eq!(
        (s.nats.host.as_deref(), s.nats.port),
        (Some("::1"), Some(-1))
    );
    assert_eq!(
        (s.nats.http_host.as_deref(), s.nats.https_port),
        (Some("0.0.0.0"), Some(8443))
    );
    let s = ok("net: 10.0.0.1\nport: 5\nmonitor_port: 6");
    assert_eq!(
        (s.nats.host.as_deref(), s.nats.port, s.nats.http_port),
        (Some("10.0.0.1"), Some(5), Some(6))
    );
    assert_eq!(
        err("listen: localhost"),
        "t.conf:1:9: invalid value for \"listen\": could not parse address string \"localhost\""
    );
    assert_eq!(
        err("listen: \"a:b\""),
        "t.conf:1:10: invalid value for \"listen\": could not parse port \"b\""
    );
}

#[test]
fn store_types_and_channel_names() {
    assert_eq!(
        ok("store: MEMORY").streaming.store_type,
        Some(StoreType::Memory)
    );
    assert_eq!(
        ok("storetype: File").streaming.store_type,
        Some(StoreType::File)
    );
    assert_eq!(
        err("st: disk"),
        "t.conf:1:5: invalid value for \"st\": unknown store type: disk"
    );
    assert_eq!(
        err("limits { channels { \"foo.>.bar\": {} } }"),
        "t.conf:1:22: invalid value for \"foo.>.bar\": invalid channel name \"foo.>.bar\""
    );
    assert!(err("limits { channels { \"a/b\": {} } }").contains("invalid channel name"));
    // A channel defined twice (through two aliases): the last wins.
    let s = ok("limits { channels { a: { mm: 1 } }, per_channel { a: { mm: 2 }, b: {} } }");
    let ch = &s.streaming.store_limits.channels;
    assert_eq!(ch.len(), 2);
    assert_eq!((ch[0].name.as_str(), ch[0].limits.max_msgs), ("a", Some(2)));
}

#[test]
fn top_level_tls_feeds_both_servers_without_streaming_block() {
    let s = ok(
        "tls {\n  cert_file: s.pem\n  key_file: k.pem\n  client_cert: c.pem\n  insecure: true\n}",
    );
    let nt = s.nats.tls.as_ref().unwrap();
    assert_eq!(nt.cert_file.as_deref(), Some("s.pem"));
    assert_eq!(nt.insecure, Some(true));
    let st = s.streaming.tls.as_ref().unwrap();
    assert_eq!(st.client_cert.as_deref(), Some("c.pem"));
    assert_eq!(st.skip_verify, Some(true));
    // Only streaming keys: NATS TLS stays off.
    let s = ok("tls { client_cert: c.pem, client_ca: ca.pem, server_name: h }");
    assert_eq!(s.nats.tls, None);
    assert_eq!(s.streaming.tls.unwrap().server_name.as_deref(), Some("h"));
    // With a streaming block, the top-level tls is the NATS server's.
    let s = ok("tls { verify: true }\nstreaming { tls { client_key: k } }");
    assert_eq!(s.nats.tls.unwrap().verify, Some(true));
    assert_eq!(s.streaming.tls.unwrap().client_key.as_deref(), Some("k"));
}

#[test]
fn streaming_keys_at_top_level_of_a_nats_file() {
    // Go uses the -c file for streaming too when there is no -sc.
    let s = ok("port: 4222\ncluster_id: top\nstore: file\ndir: /d\ndebug: true\nsd: true");
    assert_eq!(s.nats.port, Some(4222));
    assert_eq!(s.nats.debug, Some(true));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("top"));
    assert_eq!(s.streaming.store_type, Some(StoreType::File));
    assert_eq!(s.streaming.debug, Some(true));
    // With a streaming block, only the block counts.
    let s = ok("port: 1\nstreaming { cid: blk }");
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("blk"));
}

#[test]
fn keys_are_case_insensitive() {
    let s = ok("PORT: 1\nStreaming { Cluster_ID: x, Store_Limits { MAX_MSGS: 3 } }");
    assert_eq!(s.nats.port, Some(1));
    assert_eq!(s.streaming.cluster_id.as_deref(), Some("x"));
    assert_eq!(s.streaming.store_limits.global.max_msgs, Some(3));
    // Channel names are not.
    let s = ok("limits { channels { Foo: {}, foo: {} } }");
    assert_eq!(s.streaming.store_limits.channels.len(), 2);
}

#[test]
fn aliases() {
    let s = ok(concat!(
        "cid: a\nstore_type: memory\ndatastore: /x\nstan_debug: true\nstan_trace: true\n",
        "nats_server: nats://h:1\nserver_to_client_hb_interval: \"1s\"\n",
        "server_to_client_hb_timeout: \"2s\"\nserver_to_client_hb_fail_count: 4\n",
        "user: u\npass: p\ntoken: t\nreplace_duplicate_durables: true\n",
        "storelimits { maxchannels: 1, maxmsgs: 2, maxbytes: 3, maxage: \"4s\", maxsubscriptions: 5, maxinactivity: \"6s\",\n",
        "  channelslimits { c: { max_count: 7, msu: 8, mi: \"9s\", ma: \"10s\", mb: 11 } } }\n",
        "file { compact_enabled: false, compact_fragmentation: 1, do_crc: false, sync_on_flush: true,\n",
        "  slice_count: 2, slice_bytes: 3, slice_age: \"4s\", slice_script: s.sh, file_read_buffer_size: 5,\n",
        "  file_auto_sync: \"6s\", file_truncate_bad_eof: true }\n",
        "secure: true\nsyslog_name: n\nencrypt: false\nencryption_key: k\n",
    ));
    let st = &s.streaming;
    assert_eq!(st.cluster_id.as_deref(), Some("a"));
    assert_eq!(st.dir.as_deref(), Some("/x"));
    assert_eq!((st.debug, st.trace), (Some(true), Some(true)));
    assert_eq!(st.nats_server_url.as_deref(), Some("nats://h:1"));
    assert_eq!(
        (st.hb_interval, st.hb_timeout, st.hb_fail_count),
        (secs(1), secs(2), Some(4))
    );
    assert_eq!(
        (
            st.username.as_deref(),
            st.password.as_deref(),
            st.token.as_deref()
        ),
        (Some("u"), Some("p"), Some("t"))
    );
    assert_eq!(st.replace_durable, Some(true));
    let sl = &st.store_limits;
    assert_eq!(sl.max_channels, Some(1));
    assert_eq!(
        sl.global,
        ChannelLimitsSettings {
            max_msgs: Some(2),
            max_bytes: Some(3),
            max_age: secs(4),
            max_subs: Some(5),
            max_inactivity: secs(6),
        }
    );
    assert_eq!(
        sl.channels[0].limits,
        ChannelLimitsSettings {
            max_msgs: Some(7),
            max_bytes: Some(11),
            max_age: secs(10),
            max_subs: Some(8),
            max_inactivity: secs(9),
        }
    );
    let f = &st.file;
    assert_eq!(
        (f.compact, f.compact_frag, f.crc, f.sync),
        (Some(false), Some(1), Some(false), Some(true))
    );
    assert_eq!(
        (f.slice_max_msgs, f.slice_max_bytes, f.slice_max_age),
        (Some(2), Some(3), secs(4))
    );
    assert_eq!(f.slice_archive_script.as_deref(), Some("s.sh"));
    assert_eq!(
        (f.read_buffer_size, f.auto_sync, f.truncate_bad_eof),
        (Some(5), secs(6), Some(true))
    );
    assert_eq!(st.secure, Some(true));
    assert_eq!(st.syslog_name.as_deref(), Some("n"));
    // An explicit `encrypt: false` is kept.
    assert_eq!(
        (st.encrypt, st.encryption_key.as_deref()),
        (Some(false), Some("k"))
    );
}

#[test]
fn obsolete_cache_option_warns() {
    let s = ok("file {\n  cache: true\n}");
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0].to_string(),
        "t.conf:2:3: \"cache\" is an obsolete file store option, ignored"
    );
}

#[test]
fn authorization_conflicts() {
    assert_eq!(
        err("authorization {\n  user: a\n  token: b\n}"),
        "t.conf:1:1: invalid value for \"authorization\": Cannot have a user/pass and token"
    );
    let s = ok("authorization { username: a, pass: b, timeout: 1 }");
    assert_eq!(s.nats.auth.user.as_deref(), Some("a"));
    assert_eq!(s.nats.auth.password.as_deref(), Some("b"));
    assert_eq!(s.nats.auth.timeout, Some(1.0));
}

#[test]
fn errors_in_included_files_name_them() {
    let files: HashMap<PathBuf, String> = [
        ("/cfg/main.conf", "port: 1\ninclude inc/streaming.conf\n"),
        (
            "/cfg/inc/streaming.conf",
            "streaming {\n  store_limits { max_msgs: \"many\" }\n}\n",
        ),
    ]
    .into_iter()
    .map(|(p, c)| (PathBuf::from(p), c.to_string()))
    .collect();
    let loader = |p: &Path| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    let e = load_nats_config("/cfg/main.conf", &loader, &NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/cfg/inc/streaming.conf:2:18: parameter \"max_msgs\" value is expected to be int64, got string"
    );
}
