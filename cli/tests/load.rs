//! `stan-load` at CI size: 300 clients, each with a subscription, on a
//! debug `stan-server` child with heartbeats every second (so that they
//! are sent and answered during the run), a short idle window and a short
//! publisher. Every client must connect and subscribe, the server must
//! count them, no client may be lost to heartbeats or pings, the
//! subscribers must get the published messages, and after the close the
//! server's descriptors must be back near their baseline.
//!
//! The run is bounded twice: by its own `--max-seconds`, and by a kill
//! here a minute later.
//!
//! The second test runs the stop-reading mode at CI size.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOAD: &str = env!("CARGO_BIN_EXE_stan-load");
const SERVER: &str = env!("CARGO_BIN_EXE_stan-server");

const CLIENTS: u64 = 300;
const FANOUT: u64 = 2;

#[test]
fn three_hundred_clients_hold_and_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let mut child = Command::new(LOAD)
        .args([
            "--server",
            SERVER,
            "--clients",
            &CLIENTS.to_string(),
            "--channels",
            "4",
            "--idle",
            "3s",
            "--duration",
            "2s",
            "--msgs",
            "5000",
            "--fanout",
            &FANOUT.to_string(),
            "--hbi",
            "1s",
            "--hbt",
            "5s",
            "--max-seconds",
            "60",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stan-load outlived 120 s; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let show = format!("status {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{show}"));
    let n = |k: &str| {
        r[k].as_u64()
            .unwrap_or_else(|| panic!("no number {k}:\n{show}"))
    };
    assert_eq!(n("connected"), CLIENTS, "every client connects:\n{show}");
    assert_eq!(n("server_clients"), CLIENTS, "{show}");
    assert_eq!(n("server_subscriptions"), CLIENTS, "{show}");
    assert_eq!(n("lost"), 0, "no client is lost to heartbeats:\n{show}");
    assert!(n("acked") > 0, "{show}");
    assert_eq!(n("publish_errors"), 0, "{show}");
    assert_eq!(n("bench_received"), n("acked"), "{show}");
    assert_eq!(n("fanout_expected"), CLIENTS * FANOUT, "{show}");
    assert_eq!(n("fanout_received"), CLIENTS * FANOUT, "{show}");
    assert_eq!(n("close_failures"), 0, "{show}");
    assert!(
        n("fds_connected") >= n("fds_base") + CLIENTS,
        "one descriptor per client:\n{show}"
    );
    assert!(
        n("fds_closed") <= n("fds_base") + 8,
        "descriptors back near the baseline:\n{show}"
    );
    assert_eq!(n("server_clients_closed"), 0, "{show}");
    assert!(r["rss_per_client_bytes"].as_f64().unwrap() > 0.0, "{show}");
    assert!(r["idle_cpu_pct"].as_f64().is_some(), "{show}");
    assert_eq!(r["passed"], true, "{show}");
    assert!(status.success(), "{show}");
}

/// `--stop-reading` at CI size: 60 subscribers on 4 channels, 6 of which
/// stop taking messages in the second of two 3 s phases (manual acks, max
/// in flight 16, ack wait 1 s, so the server holds and redelivers for
/// them). The 54 others must get every message of both phases, the server
/// must still answer and count every client afterwards, and the stopped
/// ones must have been sent redeliveries.
#[test]
fn sixty_subscribers_six_stop_reading() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let mut child = Command::new(LOAD)
        .args([
            "--server",
            SERVER,
            "--stop-reading",
            "6",
            "--clients",
            "60",
            "--channels",
            "4",
            "--rate",
            "200",
            "--phase",
            "3s",
            "--ack-wait",
            "1s",
            "--max-in-flight",
            "16",
            "--max-seconds",
            "60",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stan-load outlived 120 s; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let show = format!("status {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{show}"));
    let n = |v: &serde_json::Value, k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("no number {k}:\n{show}"))
    };
    assert_eq!(n(&r, "connected"), 60, "{show}");
    assert_eq!((n(&r, "stopped"), n(&r, "steady")), (6, 54), "{show}");
    for phase in ["phase1", "phase2"] {
        let p = &r[phase];
        assert_eq!(n(p, "published"), 600, "{phase}:\n{show}");
        assert_eq!(n(p, "acked"), 600, "{phase}:\n{show}");
        // 600 messages over 4 channels, 54 steady clients: each owed the
        // 150 of its channel.
        assert_eq!(n(p, "expected"), 54 * 150, "{phase}:\n{show}");
        assert_eq!(
            n(p, "received"),
            n(p, "expected"),
            "nothing lost in {phase}:\n{show}"
        );
        assert_eq!(n(p, "short_clients"), 0, "{phase}:\n{show}");
    }
    // Still serving: the server answers its monitoring port and counts
    // every client (and the publisher) after phase 2.
    assert_eq!(n(&r, "server_clients_after"), 61, "{show}");
    assert_eq!(n(&r, "server_subscriptions_after"), 60, "{show}");
    assert_eq!(n(&r, "lost"), 0, "{show}");
    assert!(
        n(&r, "stopped_redelivered") > 0,
        "redeliveries to the stopped:\n{show}"
    );
    assert!(r["ratios_phase2_over_phase1"]["p99"].is_number(), "{show}");
    assert_eq!(r["passed"], true, "{show}");
    assert!(status.success(), "{show}");
}
