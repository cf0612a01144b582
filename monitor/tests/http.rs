//! The hyper server in front of the monitor: methods, headers, bodies, and
//! shutdown, over loopback with a raw HTTP/1.1 client.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{engine_snapshot, FixedSource};
use stan_monitor::http::serve;
use stan_monitor::{Monitor, MonitorSettings};

fn server() -> stan_monitor::http::HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = MonitorSettings {
        http_host: "127.0.0.1".into(),
        http_port: listener.local_addr().unwrap().port(),
        https_port: 0,
        version: "0.1.0".into(),
        toolchain: "rust".into(),
        config_load_time: SystemTime::now(),
    };
    let source = FixedSource {
        streaming: Some(engine_snapshot("2026-11-29T14:27:47Z")),
        ..FixedSource::default()
    };
    serve(listener, Arc::new(Monitor::new(settings)), Arc::new(source)).unwrap()
}

/// The raw answer to `request`: head (lowercased) and body.
fn exchange(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_owned())
}

fn get(port: u16, method: &str, path: &str) -> (String, String) {
    exchange(
        port,
        &format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn json_answers_carry_go_headers() {
    let s = server();
    let port = s.local_addr().port();
    let (head, body) = get(port, "GET", "/streaming/serverz");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["cluster_id"], "test-cluster");
    s.shutdown();
}

#[test]
fn head_has_no_body_and_other_methods_are_refused() {
    let s = server();
    let port = s.local_addr().port();
    let (head, body) = get(port, "HEAD", "/streaming/serverz");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(body.is_empty());
    let (head, _) = get(port, "POST", "/streaming/serverz");
    assert!(head.starts_with("http/1.1 405"), "{head}");
    assert!(head.contains("allow: get, head"), "{head}");
}

#[test]
fn no_content_has_no_type_and_errors_are_plain_text() {
    let s = server();
    let port = s.local_addr().port();
    let (head, body) = get(port, "GET", "/streaming/isFTActive");
    assert!(head.starts_with("http/1.1 204"), "{head}");
    assert!(!head.contains("content-type"), "{head}");
    assert!(body.is_empty());
    let (head, body) = get(port, "GET", "/nope");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert_eq!(body, "404 page not found\n");
    // No embedded NATS server in this source: its endpoints say so.
    let (head, body) = get(port, "GET", "/varz");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(body.contains("external NATS server"), "{body}");
}

#[test]
fn garbage_gets_a_400_and_the_server_goes_on() {
    let s = server();
    let port = s.local_addr().port();
    let (head, _) = exchange(port, "\x16\x03\x01 not http at all\r\n\r\n");
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let (head, _) = get(port, "GET", "/streaming/storez");
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[test]
fn shutdown_releases_the_port() {
    let s = server();
    let addr = s.local_addr();
    s.shutdown();
    assert!(TcpStream::connect(addr).is_err(), "nobody listens any more");
    TcpListener::bind(addr).expect("the port is free again");
}
