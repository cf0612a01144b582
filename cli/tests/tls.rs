//! `stan-server` with TLS from its flags and from a configuration file:
//! our client over TLS with a client certificate under `--tlsverify`,
//! refused without one; HTTPS monitoring (`-ms`); bad certificate files
//! refused at start with the file named. (The official clients and
//! `-ns` through nats-server over TLS: `interop/tls/`.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{free_port, wait_port, Kill, T};
use stan_tls::test_certs::TestPki;
use stan_tokio::{Connection, Options};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn https_get(ca: &Path, port: u16, path: &str) -> String {
    let ca = ureq::tls::Certificate::from_pem(&std::fs::read(ca).unwrap())
        .unwrap()
        .to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(T))
        .build()
        .into();
    agent
        .get(&format!("https://127.0.0.1:{port}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn check(dir: &Path, args: &[String], p: u16, ms: u16) {
    let _server = Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(p);
    wait_port(ms);
    let (with_cert, without_cert) = clients_from(dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("nats://127.0.0.1:{p}");
    rt.block_on(async {
        let c = Connection::connect_tls(
            &url,
            "test-cluster",
            "tls-ok",
            Options::default(),
            Some(with_cert),
        )
        .await
        .expect("a client with our CA and its certificate");
        c.publish("secure", "hello").await.unwrap();
        c.close().await.unwrap();
        let mut quick = Options::default();
        quick.stan.connect_wait = std::time::Duration::from_millis(500);
        let refused =
            Connection::connect_tls(&url, "test-cluster", "no-cert", quick, Some(without_cert))
                .await;
        assert!(refused.is_err(), "no client certificate under --tlsverify");
    });
    let serverz = https_get(&dir.join("ca.pem"), ms, "/streaming/serverz");
    assert!(
        serverz.contains(r#""cluster_id": "test-cluster""#),
        "{serverz}"
    );
    let channelsz = https_get(&dir.join("ca.pem"), ms, "/streaming/channelsz");
    assert!(channelsz.contains("secure"), "{channelsz}");
}

/// Our client with the CA of `dir` and its client certificate, and the
/// same without a certificate.
fn clients_from(dir: &Path) -> (stan_tls::ClientTls, stan_tls::ClientTls) {
    let pem = |n: &str| stan_tls::Pem::file(dir.join(n));
    let with = stan_tls::ClientTls::new(&stan_tls::ClientTlsOptions {
        ca: Some(pem("ca.pem")),
        cert: Some(pem("client-cert.pem")),
        key: Some(pem("client-key.pem")),
        ..Default::default()
    })
    .unwrap();
    let without = stan_tls::ClientTls::new(&stan_tls::ClientTlsOptions {
        ca: Some(pem("ca.pem")),
        ..Default::default()
    })
    .unwrap();
    (with, without)
}

#[test]
fn tls_from_flags_and_https_monitoring() {
    let dir = temp_dir("flags");
    TestPki::generate().write_to(&dir).unwrap();
    let (p, ms) = (free_port(), free_port());
    let f = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let args: Vec<String> = [
        "-a",
        "127.0.0.1",
        "-p",
        &p.to_string(),
        "-ms",
        &ms.to_string(),
        "--tlsverify",
        "--tlscert",
        &f("server-cert.pem"),
        "--tlskey",
        &f("server-key.pem"),
        "--tlscacert",
        &f("ca.pem"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    check(&dir, &args, p, ms);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_from_a_config_file() {
    let dir = temp_dir("conf");
    TestPki::generate().write_to(&dir).unwrap();
    let (p, ms) = (free_port(), free_port());
    let conf = dir.join("tls.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{p}\nhttps_port: {ms}\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n  timeout: 3\n}}\n",
            dir.join("server-cert.pem"),
            dir.join("server-key.pem"),
            dir.join("ca.pem"),
        ),
    )
    .unwrap();
    let args = vec!["-c".to_owned(), conf.to_str().unwrap().to_owned()];
    check(&dir, &args, p, ms);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_certificates_are_refused_at_start() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
    let junk = dir.join("junk.pem");
    for (args, expect) in [
        (
            vec![
                "--tls",
                "--tlscert",
                "/nonexistent/c.pem",
                "--tlskey",
                "/nonexistent/k.pem",
            ],
            "/nonexistent/c.pem",
        ),
        (
            vec![
                "--tls",
                "--tlscert",
                junk.to_str().unwrap(),
                "--tlskey",
                junk.to_str().unwrap(),
            ],
            "junk.pem",
        ),
        (
            vec!["--tlsverify", "--tlscert", "c.pem", "--tlskey", "k.pem"],
            "--tlscacert",
        ),
        (vec!["--tls"], "--tlscert"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-p", &free_port().to_string()])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
