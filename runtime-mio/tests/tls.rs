//! TLS on mio, as nats-server does it: our blocking client over TLS to our
//! embedded server (a round trip; `INFO` announces `tls_required`),
//! `--tlsverify` (no client certificate, or another CA's, refused), a
//! wrong CA and an expired certificate refused by our client, plain-text
//! clients told `-ERR 'Secure Connection - TLS Required'`, the external
//! engine over TLS. Certificates are generated at test time; every wait
//! is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_mio::{
    ClientTls, Connection, ExternalEngine, Options, Server, ServerHandle, ServerTls, StartAt,
    SubscriptionOptions,
};
use stan_tls::test_certs::TestPki;

const T: Duration = Duration::from_secs(10);

/// Runs `f` on a thread and fails the test if it takes longer than `T`.
fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(T) {
        Ok(r) => {
            thread.join().unwrap();
            r
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("not done within {T:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!(),
        },
    }
}

type Logs = Arc<Mutex<Vec<String>>>;

/// The embedded server serving `tls` (debug log kept), with the engine in
/// process unless `engine` is false.
fn tls_server(tls: ServerTls, engine: bool) -> (ServerHandle, Logs) {
    let logs = Logs::default();
    let sink = Arc::clone(&logs);
    let config = RouterConfig {
        debug: true,
        ..RouterConfig::default()
    };
    let mut server = Server::bind_tls("127.0.0.1:0", config, Some(tls))
        .unwrap()
        .with_log(move |r| sink.lock().unwrap().push(r.to_string()));
    if engine {
        server = server.with_engine(ServerConfig::default(), MemStore::new(100), |_| {});
    }
    (server.spawn().unwrap(), logs)
}

fn has_line(logs: &Logs, want: &str) -> bool {
    logs.lock().unwrap().iter().any(|l| l.ends_with(want))
}

fn quick() -> Options {
    let mut o = Options::default();
    o.stan.connect_wait = Duration::from_millis(1500);
    o
}

fn connect(url: &str, id: &str, tls: ClientTls) -> Result<Connection, stan_mio::ConnectError> {
    let (url, id) = (url.to_owned(), id.to_owned());
    within(move || Connection::connect_tls(&url, "test-cluster", &id, quick(), Some(tls)))
}

fn round_trip(conn: &Connection, channel: &str) {
    conn.publish(channel, "over tls").expect("published");
    let opts = SubscriptionOptions {
        start: StartAt::First,
        ..Default::default()
    };
    let sub = conn.subscribe(channel, opts).expect("subscribed");
    let msg = sub.recv_timeout(T).expect("a message");
    assert_eq!(msg.data().as_ref(), b"over tls");
}

/// A raw plain-text client: the `INFO` line, then (after writing `send`)
/// everything up to the end of the stream.
fn raw(addr: SocketAddr, send: &[u8]) -> (serde_json::Value, String) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    let json = info.strip_prefix("INFO ").expect("INFO first").trim();
    let info = serde_json::from_str(json).unwrap();
    (&stream).write_all(send).unwrap();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    (info, String::from_utf8_lossy(&rest).into_owned())
}

fn tls_url(addr: SocketAddr) -> String {
    format!("tls://{addr}")
}

#[test]
fn round_trip_over_tls() {
    let pki = TestPki::generate();
    let (server, _) = tls_server(pki.server_tls(false), true);
    let (info, _) = raw(server.local_addr(), b"");
    assert_eq!(info["tls_required"], true);
    assert!(info.get("tls_verify").is_none());
    let conn = connect(
        &tls_url(server.local_addr()),
        "tls-a",
        pki.client_tls(false),
    )
    .expect("connected over TLS");
    round_trip(&conn, "tls.a");
    // A nats:// URL: the INFO asks for TLS, the settings are ours.
    let plain_url = format!("nats://{}", server.local_addr());
    let other = connect(&plain_url, "tls-b", pki.client_tls(true)).expect("connected");
    round_trip(&other, "tls.b");
    conn.close().unwrap();
    other.close().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn verify_requires_a_client_certificate() {
    let pki = TestPki::generate();
    let (server, logs) = tls_server(pki.server_tls(true), true);
    let (info, _) = raw(server.local_addr(), b"");
    assert_eq!(
        (&info["tls_required"], &info["tls_verify"]),
        (&true.into(), &true.into())
    );
    let url = tls_url(server.local_addr());
    assert!(connect(&url, "no-cert", pki.client_tls(false)).is_err());
    assert!(connect(&url, "other-ca", pki.other_client_tls()).is_err());
    let conn = connect(&url, "with-cert", pki.client_tls(true)).expect("accepted");
    round_trip(&conn, "verified");
    conn.close().unwrap();
    for want in [
        "TLS handshake error: peer sent no certificates",
        "TLS handshake error: invalid peer certificate: UnknownIssuer",
        "Client connection closed: TLS Handshake Error",
    ] {
        assert!(
            has_line(&logs, want),
            "{want:?} in {:#?}",
            logs.lock().unwrap()
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn client_refuses_wrong_ca_and_expired_certificates() {
    let pki = TestPki::generate();
    let (server, logs) = tls_server(pki.server_tls(false), true);
    assert!(connect(
        &tls_url(server.local_addr()),
        "wrong-ca",
        pki.wrong_ca_client_tls()
    )
    .is_err());
    assert!(has_line(
        &logs,
        "TLS handshake error: received fatal alert: UnknownCA"
    ));
    server.shutdown().unwrap();

    let (server, logs) = tls_server(pki.expired_server_tls(), true);
    assert!(connect(
        &tls_url(server.local_addr()),
        "expired",
        pki.client_tls(false)
    )
    .is_err());
    assert!(has_line(
        &logs,
        "TLS handshake error: received fatal alert: CertificateExpired"
    ));
    server.shutdown().unwrap();
}

#[test]
fn plain_text_clients_are_told_tls_is_required() {
    let pki = TestPki::generate();
    let tls = pki.server_tls_with_timeout(false, Duration::from_millis(300));
    let (server, logs) = tls_server(tls, false);
    let addr = server.local_addr();
    let (_, rest) = within(move || raw(addr, b"CONNECT {\"verbose\":false}\r\nPING\r\n"));
    assert_eq!(rest, "-ERR 'Secure Connection - TLS Required'\r\n");
    let started = Instant::now();
    let (_, rest) = within(move || raw(addr, b""));
    assert_eq!(rest, "-ERR 'Secure Connection - TLS Required'\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
    for want in [
        "TLS handshake error: tls: first record does not look like a TLS handshake",
        "TLS handshake timeout",
        "Client connection closed: TLS Handshake Error",
    ] {
        assert!(
            has_line(&logs, want),
            "{want:?} in {:#?}",
            logs.lock().unwrap()
        );
    }
    assert_eq!(server.control().connection_count(), Some(0));
    server.shutdown().unwrap();
}

#[test]
fn external_engine_over_tls() {
    let pki = TestPki::generate();
    let (server, _) = tls_server(pki.server_tls(true), false);
    let nats_url = format!("nats://{}", server.local_addr());
    let engine = ExternalEngine::start_tls(
        &nats_url,
        ServerConfig::default(),
        MemStore::new(100),
        Some(pki.client_tls(true)),
        |_| {},
    )
    .unwrap();
    // The engine subscribes once its own TLS connection is up: retry the
    // first connect until it answers.
    let url = tls_url(server.local_addr());
    let client = pki.client_tls(true);
    let deadline = Instant::now() + T;
    let conn = loop {
        match connect(&url, "via-external", client.clone()) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => eprintln!("retrying: {e}"),
            Err(e) => panic!("not connected: {e}"),
        }
    };
    round_trip(&conn, "external.tls");
    conn.close().unwrap();
    within(move || engine.stop());
    server.shutdown().unwrap();
}
