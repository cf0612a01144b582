//! `stan-server -c FILE` / `-sc FILE`: configuration files in the Go
//! servers' documented syntax run unchanged, flags override the file,
//! per-channel (wildcard) limits apply, a `cluster { }` block clusters
//! two servers, and a bad file is refused whole with the file, line and
//! column.

mod common;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::{free_port, wait_port, Kill, T};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let body = ureq::get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(args)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "refused: {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn go_syntax_config_with_streaming_block_and_flag_overrides() {
    let dir = temp_dir("go");
    let (p_file, p_flag, m) = (free_port(), free_port(), free_port());
    std::fs::write(dir.join("limits.conf"), "max_msgs: 2000\nmax_age: \"1h\"\n").unwrap();
    let conf = dir.join("server.conf");
    std::fs::write(
        &conf,
        format!(
            r#"# nats-server options
listen: 127.0.0.1:{p_file}
http_port: {m}
max_payload: 512KB
authorization {{
  timeout: 3
}}
CID = "conf-cluster"
streaming {{
  id: $CID
  store: "memory"
  hb_interval: "2s"
  store_limits {{
    max_channels: 10
    include "limits.conf"
    channels: {{
      "orders.*": {{ max_msgs: 5 }}
      "audit": {{ max_subs: 2 }}
    }}
  }}
}}
"#
        ),
    )
    .unwrap();
    // -p overrides the file's port.
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-c", conf.to_str().unwrap(), "-p", &p_flag.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(m);
    wait_port(p_flag);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p_file)).is_err(),
        "the flag's port, not the file's"
    );
    let storez = get_json(m, "/streaming/storez");
    assert_eq!(storez["cluster_id"], "conf-cluster");
    let limits = &storez["limits"];
    assert_eq!(limits["max_channels"], 10);
    assert_eq!(limits["max_msgs"], 2000, "from the included file");
    assert_eq!(limits["max_age"], 3_600_000_000_000u64);
    assert_eq!(limits["channels"]["orders.*"]["max_msgs"], 5);
    assert_eq!(limits["channels"]["audit"]["max_subscriptions"], 2);
    let varz = get_json(m, "/varz");
    assert_eq!(varz["max_payload"], 512 * 1024);
    assert_eq!(varz["auth_timeout"], 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_configs_are_refused_with_their_position() {
    let dir = temp_dir("bad");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let unknown = write(
        "unknown.conf",
        "port: 4222\nstreaming {\n  cluster_id: x\n  colour: blue\n}\n",
    );
    let err = refused(&["-c", &unknown]);
    assert!(
        err.contains("unknown.conf:4:3") && err.contains("colour"),
        "{err}"
    );

    let wrong = write("wrong.conf", "streaming {\n  hb_interval: 10\n}\n");
    let err = refused(&["-sc", &wrong]);
    assert!(
        err.contains("wrong.conf:2:")
            && err.contains(r#"parameter "hb_interval" value is expected to be string, got int64"#),
        "{err}"
    );

    let syntax = write("syntax.conf", "streaming {\n  cluster_id: \"x\n}\n");
    let err = refused(&["-sc", &syntax]);
    assert!(err.contains("syntax.conf:2:"), "{err}");

    let err = refused(&["-c", "/nonexistent/stan.conf"]);
    assert!(err.contains("/nonexistent/stan.conf"), "{err}");

    let sql = write("sql.conf", "streaming {\n  store: sql\n}\n");
    let err = refused(&["-sc", &sql]);
    assert!(err.contains("sql.conf:2:") && err.contains("not"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sample configuration shipped for the systemd unit starts a server.
#[test]
fn the_shipped_sample_config_runs() {
    let dir = temp_dir("sample");
    let sample = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/stan-server.conf"),
    )
    .unwrap();
    let (p, m) = (free_port(), free_port());
    let conf = dir.join("stan-server.conf");
    let text = sample
        .replace("port: 4222", &format!("port: {p}"))
        .replace("http_port: 8222", &format!("http_port: {m}"))
        .replace("/var/lib/stan-server", dir.join("store").to_str().unwrap());
    std::fs::write(&conf, text).unwrap();
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-sc", conf.to_str().unwrap(), "-a", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(m);
    let storez = get_json(m, "/streaming/storez");
    assert_eq!(storez["type"], "FILE");
    assert_eq!(
        storez["limits"]["channels"]["metrics.>"]["max_msgs"],
        10_000
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A subscriber on `sub_port` receives what a publisher on `pub_port`
/// sends: published until it arrives (interest crosses the route after
/// the route is up), bounded by [`T`].
fn routed(sub_port: u16, pub_port: u16, subject: &str) {
    let mut sub = Raw::connect(sub_port, "config-sub");
    let mut publisher = Raw::connect(pub_port, "config-pub");
    sub.send(&format!("SUB {subject} 1\r\n"));
    sub.flush();
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "{subject}: nothing crossed the route from {pub_port} to {sub_port}"
        );
        publisher.send(&format!("PUB {subject} 5\r\nhello\r\n"));
        publisher.flush();
        if let Some(line) = sub.line(Instant::now() + Duration::from_millis(100)) {
            assert_eq!(line, format!("MSG {subject} 1 5"));
            assert_eq!(sub.line(deadline).as_deref(), Some("hello"));
            return;
        }
    }
}

fn start(args: &[&str], client_port: u16) -> Kill {
    let child = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(client_port);
    child
}

/// Two servers clustered by their files alone: one listens for routes
/// (`listen`, `name`, `no_advertise`, `authorization` with a password that
/// needs escaping in a URL and a short timeout), the other solicits it
/// (`host` and `port`, `routes` with the credentials, `connect_retries`);
/// messages cross both ways.
#[test]
fn cluster_block_routes_messages_between_two_servers() {
    let dir = temp_dir("cluster");
    let (pa, ca, pb, cb) = (free_port(), free_port(), free_port(), free_port());
    let a = dir.join("a.conf");
    std::fs::write(
        &a,
        format!(
            "listen: 127.0.0.1:{pa}\ncluster {{\n  name: conf-cluster\n  listen: 127.0.0.1:{ca}\n  no_advertise: true\n  authorization {{\n    user: ruser\n    password: \"p@ss w0rd\"\n    timeout: 0.25\n  }}\n}}\nstreaming {{ id: conf-a }}\n"
        ),
    )
    .unwrap();
    let b = dir.join("b.conf");
    std::fs::write(
        &b,
        format!(
            "host: 127.0.0.1\nport: {pb}\nCluster {{\n  Name: conf-cluster\n  net: 127.0.0.1\n  port: {cb}\n  routes: [\n    \"nats-route://ruser:p%40ss%20w0rd@127.0.0.1:{ca}\"\n  ]\n  connect_retries: 2\n}}\nstreaming {{ id: conf-b }}\n"
        ),
    )
    .unwrap();
    let _a = start(&["-c", a.to_str().unwrap()], pa);
    let _b = start(&["-c", b.to_str().unwrap()], pb);
    // The route listener announces the file's name and its authorization,
    // and closes a route that does not authenticate within the file's
    // timeout (0.25 s; nats-server's default is 2 s).
    let started = Instant::now();
    let mut silent = Raw::open(ca, "silent");
    for want in ["\"cluster\":\"conf-cluster\"", "\"auth_required\":true"] {
        assert!(silent.info.contains(want), "{want}: {}", silent.info);
    }
    let mut chunk = [0u8; 512];
    loop {
        assert!(started.elapsed() < T, "a silent route was never closed");
        match silent.sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "closed after {:?}: not the file's authorization timeout",
        started.elapsed()
    );
    routed(pa, pb, "conf.ab");
    routed(pb, pa, "conf.ba");
    // no_advertise: a gives its clients no URLs (and b none of a's, as
    // nats-server leaves them out of the route INFO); b gives its own.
    let info_a = Raw::open(pa, "info-a").info;
    assert!(!info_a.contains("connect_urls"), "{info_a}");
    let info_b = Raw::open(pb, "info-b").info;
    assert!(
        info_b.contains(&format!("\"connect_urls\":[\"127.0.0.1:{pb}\"]")),
        "{info_b}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--cluster` and `--cluster_name` replace the file's listen address and
/// name; the rest of the block still applies.
#[test]
fn cluster_flags_override_the_block() {
    let dir = temp_dir("cluster-flags");
    let (p, c_file, c_flag) = (free_port(), free_port(), free_port());
    let conf = dir.join("c.conf");
    std::fs::write(
        &conf,
        format!(
            "port: {p}\ncluster {{\n  name: from-file\n  listen: 127.0.0.1:{c_file}\n  connect_retries: 1\n}}\n"
        ),
    )
    .unwrap();
    let cluster = format!("nats://127.0.0.1:{c_flag}");
    let _server = start(
        &[
            "-c",
            conf.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "--cluster",
            &cluster,
            "--cluster_name",
            "from-flag",
        ],
        p,
    );
    let info = Raw::open(c_flag, "info-c").info;
    assert!(info.contains("\"cluster\":\"from-flag\""), "{info}");
    assert!(
        TcpStream::connect(("127.0.0.1", c_file)).is_err(),
        "the flag's route port, not the file's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_cluster_blocks_are_refused_with_their_position() {
    let dir = temp_dir("cluster-bad");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cases = [
        (
            "tls.conf",
            "cluster {\n  listen: 127.0.0.1:-1\n  tls { cert_file: c.pem }\n}\n",
            "tls.conf:1:1: cluster: tls: a route certificate and key are required",
        ),
        (
            "unknown.conf",
            "cluster {\n  listen: 127.0.0.1:-1\n  pool_size: 3\n}\n",
            "unknown.conf:3:3: unknown configuration key \"pool_size\" in the cluster block",
        ),
        (
            "no_listen.conf",
            "port: 4222\ncluster {\n  routes: [nats://127.0.0.1:6222]\n}\n",
            "no_listen.conf:2:1: cluster: the routes need a route listener",
        ),
        (
            "route.conf",
            "cluster {\n  listen: 127.0.0.1:-1\n  routes: [\n    \"http://127.0.0.1:6222\"\n  ]\n}\n",
            "route.conf:4:6: cluster: route URL \"http://127.0.0.1:6222\"",
        ),
        (
            "streaming.conf",
            "streaming {\n  cluster { node_id: a }\n}\n",
            "streaming.conf:2:3: \"cluster\" is not supported by this build (streaming clustering)",
        ),
    ];
    for (name, text, want) in cases {
        let err = refused(&["-c", &write(name, text)]);
        assert!(err.contains(want), "{name}: {err}");
    }
    // The same routes with --cluster on the command line run.
    let p = free_port();
    let conf = write(
        "routes_only.conf",
        &format!("port: {p}\ncluster {{\n  routes: [nats://127.0.0.1:1]\n}}\n"),
    );
    let _server = start(
        &[
            "-c",
            &conf,
            "-a",
            "127.0.0.1",
            "--cluster",
            "nats://127.0.0.1:-1",
        ],
        p,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
