//! `stan-server -c FILE` / `-sc FILE`: configuration files in the Go
//! servers' documented syntax run unchanged, flags override the file,
//! per-channel (wildcard) limits apply, and a bad file is refused whole
//! with the file, line and column.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{free_port, wait_port, Kill};

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
