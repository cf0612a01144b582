//! HTTPS monitoring (`serve_tls`, nats-server's `-ms`): `/streaming/serverz`
//! over TLS with a rustls client, no client certificate asked even when
//! the NATS port verifies clients, and a plain-HTTP client on the HTTPS
//! port answered nothing while the server goes on. Certificates are
//! generated at test time.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{engine_snapshot, FixedSource};
use stan_monitor::http::serve_tls;
use stan_monitor::{Monitor, MonitorSettings};
use stan_tls::rustls::{ClientConnection, StreamOwned};
use stan_tls::test_certs::TestPki;
use stan_tls::{ClientTls, ServerTls};

fn server(tls: ServerTls) -> stan_monitor::http::HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = MonitorSettings {
        http_host: "127.0.0.1".into(),
        http_port: 0,
        https_port: listener.local_addr().unwrap().port(),
        version: "0.1.0".into(),
        toolchain: "rust".into(),
        config_load_time: SystemTime::now(),
    };
    let source = FixedSource {
        streaming: Some(engine_snapshot("2026-11-29T14:27:47Z")),
        ..FixedSource::default()
    };
    serve_tls(
        listener,
        Arc::new(Monitor::new(settings)),
        Arc::new(source),
        tls,
    )
    .unwrap()
}

/// `GET path` over TLS with `client`: the head (lowercased) and the body,
/// or the TLS error's text.
fn get_tls(port: u16, client: &ClientTls, path: &str) -> Result<(String, String), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let session: ClientConnection = client.connect("127.0.0.1").unwrap();
    let mut tls = StreamOwned::new(session, tcp);
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    match tls.read_to_end(&mut all) {
        Ok(_) => {}
        // The server closed without close_notify after its answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !all.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((head.to_ascii_lowercase(), body.to_owned()))
}

#[test]
fn serverz_over_https() {
    let pki = TestPki::generate();
    let s = server(pki.server_tls(false));
    let port = s.local_addr().port();
    let (head, body) = get_tls(port, &pki.client_tls(false), "/streaming/serverz").unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cluster_id"], "test-cluster");
    // A client that does not trust our CA is refused by its own side.
    let err = get_tls(port, &pki.wrong_ca_client_tls(), "/streaming/serverz").unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    s.shutdown();
}

#[test]
fn https_asks_no_client_certificate_even_when_nats_verifies() {
    let pki = TestPki::generate();
    let s = server(pki.server_tls(true));
    let port = s.local_addr().port();
    let (head, _) = get_tls(port, &pki.client_tls(false), "/streaming/storez").unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    s.shutdown();
}

#[test]
fn plain_http_on_the_https_port_gets_no_answer_and_the_server_goes_on() {
    let pki = TestPki::generate();
    let s = server(pki.server_tls(false));
    let port = s.local_addr().port();
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /streaming/serverz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/1.1 200"));
    let (head, _) = get_tls(port, &pki.client_tls(false), "/streaming/serverz").unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    s.shutdown();
}
