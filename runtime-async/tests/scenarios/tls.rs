//! TLS on one runtime, as nats-server does it: written once over
//! `stan_async`'s generic API and run on the test runtime (`tests/tls.rs`),
//! on tokio and on smol (their `tests/tls.rs` include this file).
//! Certificates are generated at test time; everything is on loopback,
//! every wait is bounded.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stan_async::{
    ClientTls, Connection, ExternalEngine, Options, ReadHalf, RouterServer, Runtime, ServerTls,
    StartAt, SubscriptionOptions, WriteHalf,
};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_tls::test_certs::TestPki;

/// The bound on any single wait.
pub const T: Duration = Duration::from_secs(10);

/// `f`'s output, or `None` once `d` passed (on `rt`'s timer).
pub async fn within<R: Runtime, F: Future>(rt: &R, d: Duration, f: F) -> Option<F::Output> {
    let at = Instant::now() + d;
    futures_lite::future::or(async { Some(f.await) }, async {
        rt.sleep_until(at).await;
        None
    })
    .await
}

/// The router's log lines, kept.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The embedded server serving `tls` on a free loopback port (debug log
/// kept), with the engine in process unless `engine` is false.
pub async fn tls_server<R: Runtime>(
    rt: &R,
    tls: ServerTls,
    engine: bool,
) -> (RouterServer<R>, Option<stan_async::EngineHandle>, Logs) {
    let logs = Logs::default();
    let sink = logs.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let config = RouterConfig {
        debug: true,
        ..RouterConfig::default()
    };
    let server = RouterServer::serve_tls_on(
        rt.clone(),
        listener,
        config,
        Some(tls),
        Box::new(move |r| sink.0.lock().unwrap().push(r.to_string())),
    )
    .expect("serve");
    let engine =
        engine.then(|| server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {}));
    (server, engine, logs)
}

/// Client options that give up quickly (a refused handshake is retried
/// until the connect request times out).
fn quick() -> Options {
    let mut o = Options::default();
    o.stan.connect_wait = Duration::from_millis(1500);
    o
}

pub async fn connect<R: Runtime>(
    rt: &R,
    url: &str,
    id: &str,
    tls: Option<ClientTls>,
) -> Result<Connection<R>, stan_async::ConnectError> {
    within(
        rt,
        T,
        Connection::connect_on_tls(rt.clone(), url, "test-cluster", id, quick(), tls),
    )
    .await
    .expect("connect returns in time")
}

/// Publishes, subscribes from the first message, receives it.
pub async fn round_trip<R: Runtime>(rt: &R, conn: &Connection<R>, channel: &str) {
    within(rt, T, conn.publish(channel, "over tls"))
        .await
        .expect("in time")
        .expect("published");
    let opts = SubscriptionOptions {
        start: StartAt::First,
        ..Default::default()
    };
    let mut sub = within(rt, T, conn.subscribe(channel, opts))
        .await
        .expect("in time")
        .expect("subscribed");
    let msg = within(rt, T, sub.next())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(msg.data().as_ref(), b"over tls");
}

/// A raw TCP client on `rt`: reads the `INFO` line, writes `send`, then
/// reads to the end of the stream. Returns (`INFO` line, the rest).
pub async fn raw<R: Runtime>(rt: &R, port: u16, send: &[u8]) -> (String, Vec<u8>) {
    let stream = rt.connect("127.0.0.1", port).await.expect("dial");
    let (mut rd, mut wr) = R::split(stream).expect("split");
    let mut buf = BytesMut::with_capacity(4096);
    let info_end = loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            break i + 1;
        }
        buf.reserve(4096);
        let n = within(rt, T, rd.read_buf(&mut buf))
            .await
            .expect("INFO in time")
            .expect("read");
        assert!(n > 0, "closed before INFO");
    };
    let info = String::from_utf8(buf.split_to(info_end).to_vec()).expect("utf-8");
    if !send.is_empty() {
        let _ = wr.write_vectored(&[std::io::IoSlice::new(send)]).await;
    }
    loop {
        buf.reserve(4096);
        match within(rt, T, rd.read_buf(&mut buf))
            .await
            .expect("closed in time")
        {
            Ok(0) | Err(_) => return (info, buf.to_vec()),
            Ok(_) => {}
        }
    }
}

fn info_json(line: &str) -> serde_json::Value {
    let json = line.strip_prefix("INFO ").expect("an INFO line");
    serde_json::from_str(json.trim()).expect("INFO JSON")
}

fn tls_url<R: Runtime>(server: &RouterServer<R>) -> String {
    format!("tls://{}", server.local_addr())
}

/// Our client over TLS to our embedded server: a round trip; `INFO`
/// announces `tls_required` (and `tls_verify` only under verify).
pub async fn round_trip_over_tls<R: Runtime>(rt: &R, pki: &TestPki) {
    let (server, engine, _) = tls_server(rt, pki.server_tls(false), true).await;
    let (info, _) = raw(rt, server.local_addr().port(), b"").await;
    let info = info_json(&info);
    assert_eq!(info["tls_required"], true);
    assert!(info.get("tls_verify").is_none());
    // A tls:// URL with our CA; then a nats:// URL with TLS settings (the
    // INFO asks for TLS either way).
    let conn = connect(rt, &tls_url(&server), "tls-a", Some(pki.client_tls(false)))
        .await
        .expect("connected over TLS");
    round_trip(rt, &conn, "tls.a").await;
    let plain_url = format!("nats://{}", server.local_addr());
    let other = connect(rt, &plain_url, "tls-b", Some(pki.client_tls(true)))
        .await
        .expect("connected over TLS");
    round_trip(rt, &other, "tls.b").await;
    within(rt, T, conn.close())
        .await
        .expect("in time")
        .expect("closed");
    within(rt, T, other.close())
        .await
        .expect("in time")
        .expect("closed");
    if let Some(engine) = engine {
        engine.stop().await;
    }
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");
}

/// `--tlsverify`: a client without a certificate, or with another CA's, is
/// refused (logged as nats-server logs it); with ours it is served.
pub async fn verify_requires_a_client_certificate<R: Runtime>(rt: &R, pki: &TestPki) {
    let (server, engine, logs) = tls_server(rt, pki.server_tls(true), true).await;
    let (info, _) = raw(rt, server.local_addr().port(), b"").await;
    let info = info_json(&info);
    assert_eq!(
        (&info["tls_required"], &info["tls_verify"]),
        (&true.into(), &true.into())
    );
    let url = tls_url(&server);
    assert!(connect(rt, &url, "no-cert", Some(pki.client_tls(false)))
        .await
        .is_err());
    assert!(connect(rt, &url, "other-ca", Some(pki.other_client_tls()))
        .await
        .is_err());
    let conn = connect(rt, &url, "with-cert", Some(pki.client_tls(true)))
        .await
        .expect("a client certificate of the CA is accepted");
    round_trip(rt, &conn, "verified").await;
    within(rt, T, conn.close())
        .await
        .expect("in time")
        .expect("closed");
    let lines = logs.lines();
    for want in [
        "TLS handshake error: peer sent no certificates",
        "TLS handshake error: invalid peer certificate: UnknownIssuer",
        "Client connection closed: TLS Handshake Error",
    ] {
        assert!(
            lines.iter().any(|l| l.ends_with(want)),
            "{want:?} in {lines:#?}"
        );
    }
    if let Some(engine) = engine {
        engine.stop().await;
    }
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");
}

/// Our client refuses a server certificate of another CA, and an expired
/// one.
pub async fn client_refuses_wrong_ca_and_expired_certificates<R: Runtime>(rt: &R, pki: &TestPki) {
    let (server, engine, logs) = tls_server(rt, pki.server_tls(false), true).await;
    let url = tls_url(&server);
    assert!(
        connect(rt, &url, "wrong-ca", Some(pki.wrong_ca_client_tls()))
            .await
            .is_err()
    );
    // The server saw our client's alert.
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("TLS handshake error: received fatal alert: UnknownCA")),
        "{lines:#?}"
    );
    if let Some(engine) = engine {
        engine.stop().await;
    }
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");

    let (server, engine, logs) = tls_server(rt, pki.expired_server_tls(), true).await;
    let url = tls_url(&server);
    assert!(connect(rt, &url, "expired", Some(pki.client_tls(false)))
        .await
        .is_err());
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("TLS handshake error: received fatal alert: CertificateExpired")),
        "{lines:#?}"
    );
    if let Some(engine) = engine {
        engine.stop().await;
    }
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");
}

/// A plain-text client on the TLS port: nats-server's `-ERR 'Secure
/// Connection - TLS Required'` in plain text, then the close; the same
/// for a client that sends nothing within the handshake timeout.
pub async fn plain_text_clients_are_told_tls_is_required<R: Runtime>(rt: &R, pki: &TestPki) {
    let tls = pki.server_tls_with_timeout(false, Duration::from_millis(300));
    let (server, _, logs) = tls_server(rt, tls, false).await;
    let port = server.local_addr().port();
    let (_, rest) = raw(rt, port, b"CONNECT {\"verbose\":false}\r\nPING\r\n").await;
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "-ERR 'Secure Connection - TLS Required'\r\n"
    );
    let started = Instant::now();
    let (_, rest) = raw(rt, port, b"").await;
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "-ERR 'Secure Connection - TLS Required'\r\n"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let lines = logs.lines();
    for want in [
        "TLS handshake error: tls: first record does not look like a TLS handshake",
        "TLS handshake timeout",
        "Client connection closed: TLS Handshake Error",
    ] {
        assert!(
            lines.iter().any(|l| l.ends_with(want)),
            "{want:?} in {lines:#?}"
        );
    }
    assert_eq!(server.connection_count(), 0);
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");
}

/// The engine against an external NATS server over TLS (our own embedded
/// server, verifying clients), with a client certificate and our CA; a
/// client reaches it through that server.
pub async fn external_engine_over_tls<R: Runtime>(rt: &R, pki: &TestPki) {
    let (server, _, _) = tls_server(rt, pki.server_tls(true), false).await;
    let nats_url = format!("nats://{}", server.local_addr());
    let engine = ExternalEngine::start_on_tls(
        rt.clone(),
        &nats_url,
        ServerConfig::default(),
        MemStore::new(100),
        Some(pki.client_tls(true)),
        |_| {},
    )
    .expect("started");
    // The engine subscribes once its own TLS connection is up: retry the
    // first connect until it answers.
    let deadline = Instant::now() + T;
    let conn = loop {
        match connect(
            rt,
            &tls_url(&server),
            "via-external",
            Some(pki.client_tls(true)),
        )
        .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => eprintln!("retrying: {e}"),
            Err(e) => panic!("not connected: {e}"),
        }
    };
    round_trip(rt, &conn, "external.tls").await;
    within(rt, T, conn.close())
        .await
        .expect("in time")
        .expect("closed");
    within(rt, T, engine.stop()).await.expect("stopped in time");
    within(rt, T, server.shutdown())
        .await
        .expect("shut down in time");
}

/// Every scenario, in turn, on `rt`.
pub async fn all<R: Runtime>(rt: &R) {
    let pki = TestPki::generate();
    round_trip_over_tls(rt, &pki).await;
    verify_requires_a_client_certificate(rt, &pki).await;
    client_refuses_wrong_ca_and_expired_certificates(rt, &pki).await;
    plain_text_clients_are_told_tls_is_required(rt, &pki).await;
    external_engine_over_tls(rt, &pki).await;
}
