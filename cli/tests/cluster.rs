//! Routes between processes: two of our `stan-server`s (embedded NATS
//! server) in a cluster, and one of ours with Debian's `nats-server`
//! (`scripts/install-deps.sh` installs it; `NATS_SERVER` may point at
//! another binary). Raw NATS clients on loopback check that plain,
//! wildcard and queue subscriptions, headers and request/reply cross the
//! route both ways, and that interest goes when a subscriber leaves.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::raw::Raw;
use common::{cluster_args, free_port, nats_server, spawn_quiet, wait_port, Kill, T};

/// Waits until the subscriptions `sub` made so far are known where `publisher`
/// is connected: a probe subscribed last (interest goes over a route in
/// order) is published until it comes back.
fn wait_interest(sub: &mut Raw, publisher: &mut Raw, tag: &str) {
    let subject = format!("probe.{tag}");
    sub.send(&format!("SUB {subject} probe-{tag}\r\n"));
    sub.flush();
    let deadline = Instant::now() + T;
    loop {
        assert!(
            Instant::now() < deadline,
            "interest of {} never reached {}",
            sub.name,
            publisher.name
        );
        publisher.send(&format!("PUB {subject} 1\r\nx\r\n"));
        publisher.flush();
        let until = Instant::now() + Duration::from_millis(100);
        if let Some(line) = sub.line(until) {
            assert!(
                line.starts_with(&format!("MSG {subject} ")),
                "{}: unexpected {line} while probing",
                sub.name
            );
            sub.bytes(1, deadline);
            break;
        }
    }
    sub.send(&format!("UNSUB probe-{tag}\r\n"));
    sub.flush();
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stan-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Our server on 127.0.0.1:`port`, its route listener on `cluster`,
/// soliciting `routes`; its log goes to `log`.
fn ours(port: u16, cluster: u16, routes: &[u16], extra: &[&str], log: &Path) -> Kill {
    ours_with(port, cluster, routes, extra, log, "")
}

/// [`ours`] with `creds` (`user:pass@`, or empty) in its listen URL (the
/// cluster authorization) and in the URLs of the routes it solicits.
fn ours_with(
    port: u16,
    cluster: u16,
    routes: &[u16],
    extra: &[&str],
    log: &Path,
    creds: &str,
) -> Kill {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stan-server"));
    cmd.args(cluster_args(port, cluster, routes, creds))
        .args(extra)
        .args(["-l", log.to_str().unwrap()]);
    spawn_quiet(&mut cmd, &[port])
}

/// Debian's `nats-server` on 127.0.0.1:`port`, routes as [`ours`].
fn debian(port: u16, cluster: u16, routes: &[u16], extra: &[&str]) -> Kill {
    debian_with(port, cluster, routes, extra, "")
}

/// [`debian`] with `creds` as in [`ours_with`].
fn debian_with(port: u16, cluster: u16, routes: &[u16], extra: &[&str], creds: &str) -> Kill {
    let mut cmd = Command::new(nats_server());
    cmd.args(cluster_args(port, cluster, routes, creds))
        .args(extra);
    spawn_quiet(&mut cmd, &[port])
}

/// Subscribers on the node at `a`, publishers on the node at `b`.
fn cross_node_checks(a: u16, b: u16, tag: &str) {
    let mut sub = Raw::connect(a, &format!("sub-{tag}"));
    let mut publisher = Raw::connect(b, &format!("pub-{tag}"));
    // Plain, wildcard, queue group, responder.
    sub.send("SUB plain 1\r\nSUB wild.* 2\r\nSUB full.> 3\r\nSUB svc 4\r\n");
    sub.send("SUB q.> workers 5\r\n");
    wait_interest(&mut sub, &mut publisher, &format!("{tag}-1"));
    publisher.send("PUB plain 5\r\nhello\r\n");
    publisher.send("PUB wild.x 1\r\nw\r\n");
    publisher.send("PUB wild.x.y 2\r\nno\r\n");
    publisher.send("PUB full.a.b 1\r\nf\r\n");
    publisher.send("HPUB plain 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n");
    publisher.flush();
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = sub.next(deadline).expect("a routed message");
        got.push((m.subject, m.sid, m.headers, m.payload));
    }
    assert_eq!(
        got,
        [
            ("plain".into(), "1".into(), None, "hello".into()),
            ("wild.x".into(), "2".into(), None, "w".into()),
            ("full.a.b".into(), "3".into(), None, "f".into()),
            (
                "plain".into(),
                "1".into(),
                Some("NATS/1.0\r\nK: v\r\n\r\n".into()),
                "hi".into()
            ),
        ]
    );
    sub.expect_nothing(Duration::from_millis(300));

    // A queue group spanning both nodes: each message once.
    let mut member_b = Raw::connect(b, &format!("member-{tag}"));
    member_b.send("SUB q.> workers 1\r\n");
    wait_interest(&mut member_b, &mut sub, &format!("{tag}-2"));
    let n = 20;
    for i in 0..n {
        publisher.send(&format!("PUB q.b 3\r\nb{i:02}\r\n"));
        sub.send(&format!("PUB q.a 3\r\na{i:02}\r\n"));
    }
    publisher.flush();
    sub.flush();
    let mut seen = Vec::new();
    let deadline = Instant::now() + T;
    while seen.len() < 2 * n {
        let mut progressed = false;
        for client in [&mut sub, &mut member_b] {
            if let Some(m) = client.next(Instant::now() + Duration::from_millis(50)) {
                assert!(m.subject.starts_with("q."), "{m:?}");
                seen.push(m.payload);
                progressed = true;
            }
        }
        assert!(
            progressed || Instant::now() < deadline,
            "queue group got {} of {}",
            seen.len(),
            2 * n
        );
    }
    sub.expect_nothing(Duration::from_millis(300));
    member_b.expect_nothing(Duration::from_millis(10));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 2 * n, "each message once");

    // Request/reply across the nodes.
    publisher.send("SUB _INBOX.r 9\r\n");
    wait_interest(&mut publisher, &mut sub, &format!("{tag}-3"));
    publisher.send("PUB svc _INBOX.r 4\r\nping\r\n");
    publisher.flush();
    let req = sub.next(Instant::now() + T).expect("the request");
    assert_eq!(
        (
            req.subject.as_str(),
            req.reply.as_deref(),
            req.payload.as_str()
        ),
        ("svc", Some("_INBOX.r"), "ping")
    );
    sub.send("PUB _INBOX.r 4\r\npong\r\n");
    sub.flush();
    let reply = publisher.next(Instant::now() + T).expect("the reply");
    assert_eq!(
        (
            reply.subject.as_str(),
            reply.sid.as_str(),
            reply.payload.as_str()
        ),
        ("_INBOX.r", "9", "pong")
    );

    // The subscriber leaves: its interest goes, and a request finds no
    // responders (503) on the other node.
    drop(sub);
    let deadline = Instant::now() + T;
    loop {
        publisher.send("PUB svc _INBOX.r 4\r\nping\r\n");
        publisher.flush();
        match publisher.next(Instant::now() + Duration::from_millis(200)) {
            Some(m) if m.headers.as_deref().is_some_and(|h| h.contains("503")) => break,
            Some(m) => panic!("unexpected {m:?}"),
            None => assert!(Instant::now() < deadline, "interest never removed"),
        }
    }
}

fn wait_log(log: &Path, text: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let got = std::fs::read_to_string(log).unwrap_or_default();
        if got.contains(text) {
            return got;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log:\n{got}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_of_our_servers_route_messages_both_ways() {
    let dir = temp_dir("ours");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let log1 = dir.join("a.log");
    let log2 = dir.join("b.log");
    let _a = ours(p1, c1, &[], &[], &log1);
    let _b = ours(p2, c2, &[c1], &[], &log2);
    let text = wait_log(&log1, "Route connection created");
    assert!(
        text.contains(&format!(
            "Listening for route connections on 127.0.0.1:{c1}"
        )),
        "{text}"
    );
    wait_log(&log2, "Route connection created");
    cross_node_checks(p1, p2, "ab");
    cross_node_checks(p2, p1, "ba");
}

#[test]
fn our_server_and_debian_nats_server_route_both_ways() {
    let dir = temp_dir("mixed");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let log1 = dir.join("ours.log");
    // Both solicit each other: one route survives.
    let _a = ours(p1, c1, &[c2], &["--cluster_name", "mixed"], &log1);
    let _b = debian(p2, c2, &[c1], &["--cluster_name", "mixed"]);
    wait_log(&log1, "Route connection created");
    cross_node_checks(p1, p2, "od");
    cross_node_checks(p2, p1, "do");
}

#[test]
fn the_mio_runtime_routes_with_tokio_smol_and_debian() {
    let dir = temp_dir("mio");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let (p3, c3, p4, c4) = (free_port(), free_port(), free_port(), free_port());
    let log1 = dir.join("mio.log");
    // mio solicits Debian (which starts later: mio retries its dial)
    // while Debian solicits mio too: one route survives.
    let _a = ours(
        p1,
        c1,
        &[c4],
        &["--runtime", "mio", "--cluster_name", "m"],
        &log1,
    );
    let _b = ours(
        p2,
        c2,
        &[c1],
        &["--cluster_name", "m"],
        &dir.join("tokio.log"),
    );
    let _c = ours(
        p3,
        c3,
        &[c1],
        &["--runtime", "smol", "--cluster_name", "m"],
        &dir.join("smol.log"),
    );
    let _d = debian(p4, c4, &[c1], &["--cluster_name", "m"]);
    let text = wait_log(&log1, "Route connection created");
    assert!(
        text.contains(&format!(
            "Listening for route connections on 127.0.0.1:{c1}"
        )),
        "{text}"
    );
    // mio accepted three routes; the others met by gossip, so every pair
    // routes (the checks go both ways between mio and each, and between
    // two nodes that only know each other through mio's gossip).
    cross_node_checks(p1, p2, "mio-tokio");
    cross_node_checks(p3, p1, "smol-mio");
    cross_node_checks(p1, p4, "mio-debian");
    cross_node_checks(p4, p2, "debian-tokio");
}

#[test]
fn cluster_authorization_between_our_server_and_debian_nats_server() {
    let dir = temp_dir("auth");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let log1 = dir.join("ours.log");
    // Each requires the credentials and presents them: Debian dials ours,
    // ours dials Debian; one route survives.
    let creds = "ruser:T0p%24ecret@";
    let _a = ours_with(
        p1,
        c1,
        &[c2],
        &["--cluster_name", "auth", "-D"],
        &log1,
        creds,
    );
    let _b = debian_with(p2, c2, &[c1], &["--cluster_name", "auth"], creds);
    wait_log(&log1, "Registering remote route");
    cross_node_checks(p1, p2, "auth-od");
    cross_node_checks(p2, p1, "auth-do");
}

#[test]
fn routes_with_wrong_cluster_credentials_are_refused_both_ways() {
    let dir = temp_dir("badauth");
    let (p1, c1, p2, c2) = (free_port(), free_port(), free_port(), free_port());
    let log1 = dir.join("ours.log");
    let log3 = dir.join("ours-dialler.log");
    // Debian requires ruser:right; ours presents ruser:wrong: Debian says
    // `-ERR 'Authorization Violation'`, ours logs it.
    let _b = debian_with(p2, c2, &[], &["--cluster_name", "auth"], "ruser:right@");
    let _a = ours_with(
        p1,
        c1,
        &[c2],
        &["--cluster_name", "auth", "-D"],
        &log1,
        "ruser:wrong@",
    );
    wait_log(&log1, "Authorization Violation");
    // Ours requires ruser:right; another of ours presents nothing.
    let (p3, c3) = (free_port(), free_port());
    let _c = ours_with(
        p3,
        c3,
        &[],
        &["--cluster_name", "auth"],
        &log3,
        "ruser:right@",
    );
    let log4 = dir.join("ours-plain.log");
    let (p4, c4) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stan-server"));
    cmd.args(["-a", "127.0.0.1", "-p", &p4.to_string()])
        .args(["--cluster", &format!("nats://127.0.0.1:{c4}")])
        .args(["--routes", &format!("nats://127.0.0.1:{c3}")])
        .args(["--cluster_name", "auth", "-l", log4.to_str().unwrap()]);
    let _d = Kill(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port(p4);
    wait_log(&log3, "authentication error");
    wait_log(&log4, "Authorization Violation");
    // The acceptors never register the route (the dialler registers on
    // the acceptor's INFO, as nats-server does, until the -ERR ends it).
    let text = std::fs::read_to_string(&log3).unwrap();
    assert!(!text.contains("Registering remote route"), "{text}");
    for log in [&log1, &log3, &log4] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            !text.contains("right") && !text.contains("wrong"),
            "no secret in the log: {text}"
        );
    }
}

#[test]
fn bad_route_urls_and_busy_cluster_port_are_refused() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(["-a", "127.0.0.1", "-p", &free_port().to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("stan-server runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let c = free_port().to_string();
    let cluster = format!("nats://127.0.0.1:{c}");
    let (code, err) = run(&["--cluster", &cluster, "--routes", "nats://nohost"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid route URL \"nats://nohost\""), "{err}");
    let (code, err) = run(&["--cluster", &format!("nats://ruser@127.0.0.1:{c}")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("expected cluster password to be set"), "{err}");
    let (code, err) = run(&["--routes", "nats://127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("require cluster capabilities"), "{err}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let (code, err) = run(&["--cluster", &format!("nats://127.0.0.1:{busy_port}")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Error listening on router"), "{err}");
}
