//! Faults between processes, over loopback: the `-ns` engine's NATS server
//! gone for several reconnect attempts, or the engine's own connection cut
//! while the NATS server runs on; a client's connection cut in the middle
//! of a burst of async publishes; a NATS client that goes silent; a
//! streaming server that freezes. Connections are cut by a TCP proxy in
//! the test. Every wait is bounded.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use stan_tokio::{ClientError, Options, PubAckFuture, StartAt, SubscriptionOptions};
use tokio::net::{TcpListener, TcpStream as TokioStream};
use tokio::task::AbortHandle;
use tokio::time::timeout;

mod common;

use common::{connect_retrying, free_port, nats_server, wait_port, Kill, T};

/// A loopback TCP proxy to `127.0.0.1:target`. [`Proxy::cut`] drops every
/// proxied connection and, until [`Proxy::restore`], closes each new one
/// at once (a path that accepts and hangs up: every dial fails).
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (task_up, task_conns) = (Arc::clone(&up), Arc::clone(&conns));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !task_up.load(Ordering::SeqCst) {
                    continue; // dropped: the dial sees the connection close
                }
                let Ok(mut server) = TokioStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                task_conns.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            up,
            conns,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Drops every connection through the proxy; refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Lets new connections through again.
    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn start_nats(port: u16) -> Kill {
    let nats = Kill(
        Command::new(nats_server())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts"),
    );
    wait_port(port);
    nats
}

fn stan_server(args: &[&str]) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_stan-server"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stan-server starts"),
    )
}

/// A log file path for this test (removed first).
fn log_path(name: &str) -> PathBuf {
    let log = std::env::temp_dir().join(format!("stan-faults-{name}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    log
}

/// Waits (up to [`T`]) until `log` holds `text`; the log then.
async fn wait_log(log: &Path, text: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(Instant::now() < deadline, "no {text:?} in:\n{content}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const LOST: &str = "connection to the NATS server has been disconnected";
const BACK: &str = "connection reconnected to NATS Server";

/// A subscription from the first message.
fn from_first() -> SubscriptionOptions {
    SubscriptionOptions {
        start: StartAt::First,
        ..Default::default()
    }
}

/// The external NATS server killed and started again only after a few
/// seconds (a dozen of the engine's reconnect attempts, every 250 ms,
/// fail): the engine logs the loss once and the reconnection once; a
/// subscriber from before the outage (its own connection reconnecting
/// too) receives what is published after, and nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_rides_out_its_nats_server_down_for_seconds() {
    let port = free_port();
    let nats = start_nats(port);
    let url = format!("nats://127.0.0.1:{port}");
    let log = log_path("down");
    let _stan = stan_server(&["-ns", &url, "-l", log.to_str().unwrap()]);
    let c = connect_retrying(&url, "survivor", Options::default()).await;
    c.publish("down", "one").await.unwrap();
    let mut s = c.subscribe("down", from_first()).await.unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!((m.sequence(), m.data().as_ref()), (1, &b"one"[..]));

    drop(nats);
    wait_log(&log, LOST).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _nats = start_nats(port);
    let content = wait_log(&log, BACK).await;
    assert_eq!(content.matches(LOST).count(), 1, "{content}");
    assert_eq!(content.matches(BACK).count(), 1, "{content}");

    // The old connection publishes (its PubAck may wait for its own
    // reconnection) and its subscription receives.
    timeout(T, c.publish("down", "two")).await.unwrap().unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!((m.sequence(), m.data().as_ref()), (2, &b"two"[..]));
    let fresh = connect_retrying(&url, "fresh", Options::default()).await;
    let mut s2 = fresh.subscribe("down", from_first()).await.unwrap();
    for (seq, data) in [(1, "one"), (2, "two")] {
        let m = timeout(T, s2.next()).await.unwrap().unwrap();
        assert_eq!((m.sequence(), m.data().as_ref()), (seq, data.as_bytes()));
    }
    fresh.close().await.unwrap();
    c.close().await.unwrap();
    let _ = std::fs::remove_file(&log);
}

/// The engine's own connection to the NATS server cut (by a proxy between
/// them) while the NATS server runs on, and every reconnect attempt
/// refused for two seconds: the engine logs the loss and the reconnection
/// once each, resubscribes, and clients that never lost their own
/// connections are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_reconnects_when_its_own_connection_is_cut() {
    let port = free_port();
    let _nats = start_nats(port);
    let url = format!("nats://127.0.0.1:{port}");
    let proxy = Proxy::start(port).await;
    let log = log_path("cut");
    let _stan = stan_server(&["-ns", &proxy.url(), "-l", log.to_str().unwrap()]);
    let c = connect_retrying(&url, "direct", Options::default()).await;
    c.publish("cut", "one").await.unwrap();
    let mut s = c.subscribe("cut", from_first()).await.unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!(m.sequence(), 1);

    let mut fast = Options::default();
    fast.stan.pub_ack_wait = Duration::from_secs(1);
    let impatient = connect_retrying(&url, "impatient", fast).await;

    proxy.cut();
    wait_log(&log, LOST).await;
    // Meanwhile nobody serves the cluster: a publish fails, and fast.
    let during = timeout(T, impatient.publish("cut", "lost")).await.unwrap();
    assert!(during.is_err(), "{during:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    let content = wait_log(&log, BACK).await;
    assert_eq!(content.matches(LOST).count(), 1, "{content}");
    assert_eq!(content.matches(BACK).count(), 1, "{content}");

    timeout(T, c.publish("cut", "two")).await.unwrap().unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!((m.sequence(), m.data().as_ref()), (2, &b"two"[..]));
    timeout(T, impatient.publish("cut", "three"))
        .await
        .unwrap()
        .unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!((m.sequence(), m.data().as_ref()), (3, &b"three"[..]));
    impatient.close().await.unwrap();
    c.close().await.unwrap();
    let _ = std::fs::remove_file(&log);
}

/// `GET path` on the monitoring port, as JSON.
fn get_json(port: u16, path: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(T))
        .build()
        .into();
    let body = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The IDs of the clients the streaming server knows.
fn clients(monitor: u16) -> Vec<String> {
    let v = get_json(monitor, "/streaming/clientsz");
    v["clients"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A stan-server (embedded NATS, monitoring, heartbeats every second
/// when `fast_heartbeats`) and a proxy to it; its NATS URL, its
/// monitoring port.
async fn server_behind_proxy(fast_heartbeats: bool) -> (Kill, Proxy, String, u16) {
    let port = free_port();
    let monitor = free_port();
    let (port_s, monitor_s) = (port.to_string(), monitor.to_string());
    let mut args = vec!["-a", "127.0.0.1", "-p", &port_s, "-m", &monitor_s];
    if fast_heartbeats {
        args.extend(["-hbi", "1s", "-hbt", "1s", "-hbf", "1"]);
    }
    let server = stan_server(&args);
    wait_port(port);
    wait_port(monitor);
    let proxy = Proxy::start(port).await;
    (server, proxy, format!("nats://127.0.0.1:{port}"), monitor)
}

/// Publishes `m<i>` asynchronously on `channel` until `stop`, counting in
/// `issued`; the futures with their numbers.
async fn burst(
    c: Arc<stan_tokio::Connection>,
    channel: &'static str,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<(usize, PubAckFuture)> {
    let mut futures = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) && i < 200_000 {
        match c.publish_async(channel, format!("m{i}")).await {
            Ok(f) => futures.push((i, f)),
            Err(_) => break, // the connection is gone
        }
        i += 1;
        issued.store(i, Ordering::SeqCst);
    }
    futures
}

/// Waits (bounded) until `n` of the publishes `issued` on `c` have their
/// outcome: the burst is under way, PubAcks coming back.
async fn wait_settled(c: &stan_tokio::Connection, issued: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + T;
    loop {
        let (in_flight, queued) = c.publishes_pending();
        if issued.load(Ordering::SeqCst) >= n + in_flight + queued {
            return;
        }
        assert!(Instant::now() < deadline, "the burst did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Awaits every publish (all together within `bound`): the numbers of the
/// acknowledged ones, and the errors of the others.
async fn settle(
    futures: Vec<(usize, PubAckFuture)>,
    bound: Duration,
) -> (BTreeSet<usize>, Vec<ClientError>) {
    let deadline = tokio::time::Instant::now() + bound;
    let mut acked = BTreeSet::new();
    let mut errors = Vec::new();
    for (i, f) in futures {
        match tokio::time::timeout_at(deadline, f).await {
            Ok(Ok(())) => {
                acked.insert(i);
            }
            Ok(Err(e)) => errors.push(e),
            Err(_) => panic!("publish {i} still pending after {bound:?}"),
        }
    }
    (acked, errors)
}

/// Every stored message on `channel`, read by a new client connected
/// directly: their numbers; each stored once.
async fn stored(url: &str, channel: &str, id: &str, monitor: u16) -> BTreeSet<usize> {
    let v = get_json(monitor, &format!("/streaming/channelsz?channel={channel}"));
    let last = v["last_seq"].as_u64().expect("last_seq");
    let c = connect_retrying(url, id, Options::default()).await;
    let mut s = c.subscribe(channel, from_first()).await.unwrap();
    let mut numbers = BTreeSet::new();
    for seq in 1..=last {
        let m = timeout(T, s.next()).await.unwrap().unwrap();
        assert_eq!(m.sequence(), seq);
        let text = std::str::from_utf8(m.data()).unwrap();
        let n = text.strip_prefix('m').unwrap().parse().unwrap();
        assert!(numbers.insert(n), "{text} stored twice");
    }
    c.close().await.unwrap();
    numbers
}

/// A client's connection (through a proxy) cut in the middle of a burst of
/// async publishes and never back: every publish future completes within
/// a bound (its PubAck, the PubAck timeout, or connection closed once the
/// client's pings give up), the connection reports itself lost, the
/// server keeps every acknowledged message, and its heartbeats close the
/// vanished client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_mid_publish_settles_every_publish() {
    let (_server, proxy, url, monitor) = server_behind_proxy(true).await;
    let mut options = Options::default();
    options.stan.pub_ack_wait = Duration::from_secs(2);
    options.stan.ping_interval = 1;
    options.stan.ping_max_out = 3;
    let c = Arc::new(connect_retrying(&proxy.url(), "cutme", options).await);
    assert_eq!(clients(monitor), ["cutme"]);
    let issued = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(burst(
        Arc::clone(&c),
        "cut",
        Arc::clone(&issued),
        Arc::clone(&stop),
    ));
    wait_settled(&c, &issued, 2_000).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let futures = timeout(T, publisher).await.unwrap().unwrap();
    let total = futures.len();
    let (acked, errors) = settle(futures, 2 * T).await;
    assert_eq!(acked.len() + errors.len(), total);
    assert!(!errors.is_empty(), "the cut caught publishes in flight");
    for e in &errors {
        assert!(
            matches!(
                e,
                ClientError::PubAckTimeout | ClientError::ConnectionClosed
            ),
            "{e}"
        );
    }
    let lost = timeout(T, c.connection_lost()).await.expect("told in time");
    assert_eq!(lost, ClientError::MaxPings);

    // The server closes the vanished client by its heartbeats.
    let deadline = Instant::now() + T;
    while !clients(monitor).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", clients(monitor));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every acknowledged message is stored, once.
    let stored = stored(&url, "cut", "checker", monitor).await;
    assert!(acked.len() >= 2_000);
    assert!(acked.is_subset(&stored), "acknowledged but not stored");
    assert!(stored.iter().all(|&n| n < total));
}

/// The same cut, with the proxy letting the client back half a second
/// later: every publish future completes within a bound (PubAck, or the
/// PubAck timeout for what the cut lost), and the same connection
/// publishes and receives afterwards; the server still knows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_mid_publish_reconnects_and_goes_on() {
    // Default heartbeats: the client is back long before they would fail.
    let (_server, proxy, url, monitor) = server_behind_proxy(false).await;
    let mut options = Options::default();
    options.stan.pub_ack_wait = Duration::from_secs(3);
    let c = Arc::new(connect_retrying(&proxy.url(), "comeback", options).await);
    let issued = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(burst(
        Arc::clone(&c),
        "back",
        Arc::clone(&issued),
        Arc::clone(&stop),
    ));
    wait_settled(&c, &issued, 2_000).await;
    proxy.cut();
    stop.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    let futures = timeout(T, publisher).await.unwrap().unwrap();
    let total = futures.len();
    let (acked, errors) = settle(futures, 2 * T).await;
    assert_eq!(acked.len() + errors.len(), total);
    for e in &errors {
        assert_eq!(*e, ClientError::PubAckTimeout);
    }

    timeout(T, c.publish("back", "after"))
        .await
        .unwrap()
        .unwrap();
    let mut s = c
        .subscribe(
            "back",
            SubscriptionOptions {
                start: StartAt::LastReceived,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let m = timeout(T, s.next()).await.unwrap().unwrap();
    assert_eq!(m.data().as_ref(), b"after");
    s.unsubscribe().await.unwrap();
    assert!(clients(monitor).contains(&"comeback".to_owned()));
    // The "after" message aside, every acknowledged one is stored, once.
    let v = get_json(monitor, "/streaming/channelsz?channel=back");
    let last = v["last_seq"].as_u64().unwrap();
    let checker = connect_retrying(&url, "checker", Options::default()).await;
    let mut s = checker.subscribe("back", from_first()).await.unwrap();
    let mut numbers = BTreeSet::new();
    for seq in 1..last {
        let m = timeout(T, s.next()).await.unwrap().unwrap();
        assert_eq!(m.sequence(), seq);
        let text = std::str::from_utf8(m.data()).unwrap();
        assert!(numbers.insert(text.strip_prefix('m').unwrap().parse::<usize>().unwrap()));
    }
    assert!(acked.is_subset(&numbers), "acknowledged but not stored");
    checker.close().await.unwrap();
    drop(s);
    Arc::try_unwrap(c).unwrap().close().await.unwrap();
}

/// A raw NATS client that sends `CONNECT` and then nothing: with a ping
/// interval of 1 s (configuration file), the server PINGs it, then sends
/// nats-server's `-ERR 'Stale Connection'` and closes it, within seconds.
#[test]
fn a_silent_nats_client_gets_stale_connection() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("stale.conf");
    std::fs::write(&conf, "ping_interval: \"1s\"\nping_max: 2\n").unwrap();
    let port = free_port();
    let _server = stan_server(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        conf.to_str().unwrap(),
    ]);
    wait_port(port);
    let start = Instant::now();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    sock.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no close within {T:?}: {e}; read {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("INFO "), "{text}");
    assert!(text.contains("PING\r\n"), "{text}");
    assert!(text.ends_with("-ERR 'Stale Connection'\r\n"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

/// A streaming server frozen (SIGSTOP) under a client with fast pings: the
/// client's pings report the connection lost; its pending publish
/// settles; thawed, the server serves new clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_learns_its_frozen_server_is_gone() {
    use rustix::process::{kill_process, Pid, Signal};
    let port = free_port();
    let server = stan_server(&["-a", "127.0.0.1", "-p", &port.to_string()]);
    wait_port(port);
    let url = format!("nats://127.0.0.1:{port}");
    let mut options = Options::default();
    options.stan.ping_interval = 1;
    options.stan.ping_max_out = 2;
    let c = connect_retrying(&url, "patient", options).await;
    c.publish("frozen", "one").await.unwrap();
    let pid = Pid::from_raw(server.0.id() as i32).unwrap();
    kill_process(pid, Signal::STOP).unwrap();
    // The signal takes effect asynchronously: wait until every thread of
    // the server is stopped.
    let tasks = PathBuf::from(format!("/proc/{}/task", server.0.id()));
    let all_stopped = || {
        std::fs::read_dir(&tasks).unwrap().all(|t| {
            let stat = std::fs::read_to_string(t.unwrap().path().join("stat"));
            stat.is_ok_and(|s| s.contains(") T "))
        })
    };
    let deadline = Instant::now() + T;
    while !all_stopped() {
        assert!(Instant::now() < deadline, "never stopped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pending = c.publish_async("frozen", "two").await.unwrap();
    let lost = timeout(T, c.connection_lost()).await;
    let settled = timeout(T, pending).await;
    kill_process(pid, Signal::CONT).unwrap();
    assert_eq!(lost.expect("told in time"), ClientError::MaxPings);
    assert!(
        matches!(
            settled.expect("settled in time"),
            Err(ClientError::ConnectionClosed | ClientError::PubAckTimeout)
        ),
        "the lost connection fails its publish"
    );
    let again = connect_retrying(&url, "again", Options::default()).await;
    again.publish("frozen", "three").await.unwrap();
    again.close().await.unwrap();
}
