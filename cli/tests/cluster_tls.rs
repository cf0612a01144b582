//! TLS on routes (`cluster { tls { } }` in the configuration file), as
//! nats-server 2.9 does it: both sides handshake right after the TCP
//! connect, before any `INFO`/`CONNECT`. Two of ours route over TLS both
//! ways; ours and Debian's `nats-server` (with `verify: true`, so each
//! checks the other's certificate) route both ways; a plain-text route
//! dialled to a TLS cluster port gets nothing in plain text and no route
//! forms; a solicitor trusting the wrong CA fails the handshake; the mio
//! runtime refuses a TLS cluster at startup. Raw NATS clients on loopback
//! check the routing.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stan_tls::test_certs::TestPki;
use stan_tls::{rustls, ClientTls, ClientTlsOptions, Pem};

mod common;

use common::{free_port, nats_server, wait_port, Kill, T};

/// A NATS client speaking the text protocol over a blocking socket.
struct Raw {
    sock: TcpStream,
    buf: Vec<u8>,
    name: String,
}

impl Raw {
    fn connect(port: u16, name: &str) -> Raw {
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut raw = Raw {
            sock,
            buf: Vec::new(),
            name: name.into(),
        };
        let info = raw.line(Instant::now() + T).expect("INFO");
        assert!(info.starts_with("INFO "), "{name}: {info}");
        raw.send(&format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"{name}\"}}\r\n"
        ));
        raw.flush();
        raw
    }

    fn send(&mut self, text: &str) {
        self.sock.write_all(text.as_bytes()).unwrap();
    }

    /// Reads more input until `deadline`; false when nothing came.
    fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 8192];
        while Instant::now() < deadline {
            match self.sock.read(&mut chunk) {
                Ok(0) => panic!("{}: connection closed", self.name),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{}: {e}", self.name),
            }
        }
        false
    }

    /// The next line (without CRLF), answering the server's `PING`s.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                if line == "PING" {
                    self.send("PONG\r\n");
                    continue;
                }
                return Some(line);
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// `n` bytes and the CRLF after them.
    fn bytes(&mut self, n: usize, deadline: Instant) -> String {
        while self.buf.len() < n + 2 {
            assert!(self.fill(deadline), "{}: payload cut", self.name);
        }
        let data = String::from_utf8_lossy(&self.buf[..n]).into_owned();
        self.buf.drain(..n + 2);
        data
    }

    /// Sends `PING` and waits for its `PONG` (this client receives no
    /// messages meanwhile).
    fn flush(&mut self) {
        self.send("PING\r\n");
        let deadline = Instant::now() + T;
        loop {
            let line = self
                .line(deadline)
                .unwrap_or_else(|| panic!("{}: no PONG", self.name));
            match line.as_str() {
                "PONG" => return,
                "+OK" => {}
                l if l.starts_with("INFO ") => {}
                l => panic!("{}: unexpected {l}", self.name),
            }
        }
    }
}

/// A message published on the node at `publisher` reaches a subscriber on
/// the node at `subscriber` (published again until the subscriber's
/// interest has crossed the route, within [`T`]).
fn routes_one_way(subscriber: u16, publisher: u16, tag: &str) {
    let subject = format!("tls.{tag}");
    let mut sub = Raw::connect(subscriber, &format!("sub-{tag}"));
    sub.send(&format!("SUB {subject} 1\r\n"));
    sub.flush();
    let mut publ = Raw::connect(publisher, &format!("pub-{tag}"));
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "{tag}: nothing crossed the route from {publisher} to {subscriber}"
        );
        publ.send(&format!("PUB {subject} 5\r\nhello\r\n"));
        publ.flush();
        if let Some(line) = sub.line(Instant::now() + Duration::from_millis(100)) {
            assert_eq!(line, format!("MSG {subject} 1 5"), "{tag}");
            assert_eq!(sub.bytes(5, deadline), "hello", "{tag}");
            return;
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-cluster-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TestPki::generate().write_to(&dir).unwrap();
    dir
}

/// A configuration file (`port` for clients, a `cluster` block listening
/// on `cluster`, soliciting `routes`, with `tls` as the body of its `tls {
/// }` block unless empty), written as `dir/name`.
fn config(dir: &Path, name: &str, port: u16, cluster: u16, routes: &[u16], tls: &str) -> PathBuf {
    let routes: Vec<String> = routes
        .iter()
        .map(|p| format!("\"nats://127.0.0.1:{p}\""))
        .collect();
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!("  tls {{\n{tls}\n  }}\n")
    };
    let text = format!(
        "host: 127.0.0.1\nport: {port}\ncluster {{\n  name: tls\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{}]\n{tls}}}\n",
        routes.join(", ")
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The `tls { }` body: the route certificate of the test CA, verifying
/// peers against `ca` (a file of `dir`).
fn route_tls(dir: &Path, ca: &str) -> String {
    format!(
        "    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    verify: true\n    timeout: 2",
        dir.join("route-cert.pem").display(),
        dir.join("route-key.pem").display(),
        dir.join(ca).display()
    )
}

/// Our server with configuration file `conf` (and `extra` flags); its log
/// goes to `log`. Waits for its client port.
fn ours(conf: &Path, port: u16, extra: &[&str], log: &Path) -> Kill {
    let child = Command::new(env!("CARGO_BIN_EXE_stan-server"))
        .args(["-c", conf.to_str().unwrap()])
        .args(extra)
        .args(["-l", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stan-server starts");
    let child = Kill(child);
    wait_port(port);
    child
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn wait_log(log: &Path, text: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let got = read(log);
        if got.contains(text) {
            return got;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{got}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The route `INFO` of the route port `cluster`, read over TLS (the
/// handshake first, with the route certificate: the port verifies it).
fn route_info_over_tls(dir: &Path, cluster: u16) -> String {
    let client = ClientTls::new(&ClientTlsOptions {
        ca: Some(Pem::file(dir.join("ca.pem"))),
        cert: Some(Pem::file(dir.join("route-cert.pem"))),
        key: Some(Pem::file(dir.join("route-key.pem"))),
        ..ClientTlsOptions::default()
    })
    .unwrap();
    let sock = TcpStream::connect(("127.0.0.1", cluster)).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let mut tls = rustls::StreamOwned::new(client.connect("127.0.0.1").unwrap(), sock);
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        assert_eq!(tls.read(&mut byte).unwrap(), 1, "closed before the INFO");
        got.push(byte[0]);
        assert!(got.len() < 64 * 1024, "no end of line");
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn two_of_our_servers_route_over_tls_both_ways() {
    let dir = temp_dir("ours");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let tls = route_tls(&dir, "ca.pem");
    let conf1 = config(&dir, "a.conf", p1, c1, &[], &tls);
    let conf2 = config(&dir, "b.conf", p2, c2, &[c1], &tls);
    let (log1, log2) = (dir.join("a.log"), dir.join("b.log"));
    let _a = ours(&conf1, p1, &["-D"], &log1);
    // The other adapter solicits.
    let _b = ours(&conf2, p2, &["--runtime", "smol", "-D"], &log2);
    wait_log(&log1, "Route connection created");
    wait_log(&log2, "Route connection created");
    let info = route_info_over_tls(&dir, c1);
    assert!(info.starts_with("INFO {"), "{info}");
    assert!(
        info.contains("\"tls_required\":true,\"tls_verify\":true"),
        "{info}"
    );
    routes_one_way(p1, p2, "ab");
    routes_one_way(p2, p1, "ba");
    for log in [&log1, &log2] {
        let text = read(log);
        assert!(!text.contains("TLS route handshake error"), "{text}");
    }
}

/// Debian's `nats-server` with configuration file `conf`, its log in
/// `log`. Waits for its client port.
fn debian(conf: &Path, port: u16, log: &Path) -> Kill {
    let child = Command::new(nats_server())
        .args(["-c", conf.to_str().unwrap()])
        .args(["-l", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let child = Kill(child);
    wait_port(port);
    child
}

#[test]
fn our_server_and_debian_nats_server_route_over_tls_both_ways() {
    let dir = temp_dir("mixed");
    let tls = route_tls(&dir, "ca.pem");
    // Ours solicits (TLS client, presenting its certificate), Debian
    // accepts (verifying it); then the other way round.
    for ours_solicits in [true, false] {
        let tag = if ours_solicits { "od" } else { "do" };
        let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
        let (to_debian, to_ours): (&[u16], &[u16]) = if ours_solicits {
            (&[c2], &[])
        } else {
            (&[], &[c1])
        };
        let conf1 = config(&dir, &format!("ours-{tag}.conf"), p1, c1, to_debian, &tls);
        let conf2 = config(&dir, &format!("debian-{tag}.conf"), p2, c2, to_ours, &tls);
        let log1 = dir.join(format!("ours-{tag}.log"));
        let log2 = dir.join(format!("debian-{tag}.log"));
        // The acceptor first: the route forms at the first dial.
        let (_a, _b) = if ours_solicits {
            let b = debian(&conf2, p2, &log2);
            (ours(&conf1, p1, &[], &log1), b)
        } else {
            let a = ours(&conf1, p1, &[], &log1);
            (a, debian(&conf2, p2, &log2))
        };
        wait_log(&log1, "Route connection created");
        wait_log(&log2, "Route connection created");
        routes_one_way(p1, p2, &format!("{tag}-1"));
        routes_one_way(p2, p1, &format!("{tag}-2"));
        for log in [&log1, &log2] {
            let text = read(log);
            assert!(!text.contains("TLS route handshake error"), "{text}");
            assert!(!text.contains("Error trying to connect"), "{text}");
        }
    }
}

#[test]
fn a_plain_text_route_to_a_tls_cluster_port_is_refused() {
    let dir = temp_dir("plain");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let conf1 = config(&dir, "tls.conf", p1, c1, &[], &route_tls(&dir, "ca.pem"));
    let conf2 = config(&dir, "plain.conf", p2, c2, &[c1], "");
    let (log1, log2) = (dir.join("tls.log"), dir.join("plain.log"));
    let _a = ours(&conf1, p1, &["-D"], &log1);
    // A raw route: nothing comes back in plain text (no INFO), the
    // connection closes.
    plain_route_gets_nothing(c1);
    let text = wait_log(&log1, "TLS route handshake error: ");
    assert!(
        text.contains("first record does not look like a TLS handshake"),
        "{text}"
    );
    // Our server without TLS soliciting the TLS port: refused, retried.
    let _b = ours(&conf2, p2, &["-D"], &log2);
    let deadline = Instant::now() + T;
    while read(&log1).matches("TLS route handshake error").count() < 2 {
        assert!(Instant::now() < deadline, "{}", read(&log1));
        std::thread::sleep(Duration::from_millis(50));
    }
    // No session on the TLS side; the solicitor's never registers (it
    // never gets an INFO).
    let text = read(&log1);
    assert!(!text.contains("Route connection created"), "{text}");
    for log in [&log1, &log2] {
        let text = read(log);
        assert!(!text.contains("Registering remote route"), "{text}");
    }
}

#[test]
fn a_solicitor_trusting_another_ca_fails_the_handshake() {
    let dir = temp_dir("wrongca");
    let (p1, c1) = (free_port(), free_port());
    let conf1 = config(&dir, "a.conf", p1, c1, &[], &route_tls(&dir, "ca.pem"));
    let log1 = dir.join("a.log");
    let _a = ours(&conf1, p1, &["-D"], &log1);
    // A tokio and a mio solicitor that trust another CA than the one of
    // the acceptor's certificate.
    for runtime in ["tokio", "mio"] {
        let (p2, c2) = (free_port(), free_port());
        let tls = route_tls(&dir, "other-ca.pem");
        let conf2 = config(&dir, &format!("{runtime}.conf"), p2, c2, &[c1], &tls);
        let log2 = dir.join(format!("{runtime}.log"));
        let _b = ours(&conf2, p2, &["--runtime", runtime, "-D"], &log2);
        let text = wait_log(&log2, "TLS route handshake error: ");
        assert!(
            text.contains(&format!(
                "127.0.0.1:{c1} - TLS route handshake error: invalid peer certificate"
            )),
            "{text}"
        );
        // Retried as a failed dial is.
        let deadline = Instant::now() + T;
        while read(&log2).matches("TLS route handshake error").count() < 2 {
            assert!(Instant::now() < deadline, "{}", read(&log2));
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = read(&log2);
        assert!(!text.contains("Registering remote route"), "{text}");
    }
    // The acceptor saw the solicitors' alerts; no route session ever.
    let text = read(&log1);
    assert!(text.contains("TLS route handshake error: "), "{text}");
    assert!(!text.contains("Route connection created"), "{text}");
}

/// Writes a plain-text route `CONNECT` and `INFO` to the route port
/// `cluster`: nothing comes back in plain text (no `INFO`), the
/// connection closes.
fn plain_route_gets_nothing(cluster: u16) {
    let mut sock = TcpStream::connect(("127.0.0.1", cluster)).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    sock.write_all(
        b"CONNECT {\"name\":\"x\",\"cluster\":\"tls\"}\r\nINFO {\"server_id\":\"x\"}\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    match sock.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the TLS route port did not close the connection: {e}"),
    }
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
}

#[test]
fn the_mio_runtime_routes_over_tls_with_tokio_and_debian() {
    let dir = temp_dir("mio");
    let tls = route_tls(&dir, "ca.pem");
    let (pm, cm, pt, ct, pd, cd) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    // mio solicits Debian (mio as TLS client); tokio solicits mio (mio
    // as TLS server).
    let conf_d = config(&dir, "debian.conf", pd, cd, &[], &tls);
    let conf_m = config(&dir, "mio.conf", pm, cm, &[cd], &tls);
    let conf_t = config(&dir, "tokio.conf", pt, ct, &[cm], &tls);
    let (log_d, log_m, log_t) = (
        dir.join("debian.log"),
        dir.join("mio.log"),
        dir.join("tokio.log"),
    );
    let _d = debian(&conf_d, pd, &log_d);
    let _m = ours(&conf_m, pm, &["--runtime", "mio", "-D"], &log_m);
    wait_log(&log_d, "Route connection created");
    let _t = ours(&conf_t, pt, &[], &log_t);
    wait_log(&log_t, "Route connection created");
    let info = route_info_over_tls(&dir, cm);
    assert!(
        info.contains("\"tls_required\":true,\"tls_verify\":true"),
        "{info}"
    );
    routes_one_way(pm, pd, "md");
    routes_one_way(pd, pm, "dm");
    routes_one_way(pm, pt, "mt");
    routes_one_way(pt, pm, "tm");
    for log in [&log_d, &log_m, &log_t] {
        let text = read(log);
        assert!(!text.contains("TLS route handshake error"), "{text}");
    }
    // A plain-text route on mio's TLS route port: refused, logged.
    plain_route_gets_nothing(cm);
    let text = wait_log(&log_m, "TLS route handshake error: ");
    assert!(
        text.contains("first record does not look like a TLS handshake"),
        "{text}"
    );
}
