//! `stan-pub` and `stan-sub` as processes against an in-process streaming
//! server on a free loopback port. Every wait is bounded; children are
//! killed when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;
use common::free_port;

use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use stan_tokio::{EngineHandle, RouterServer};

/// Bound of every wait.
const T: Duration = Duration::from_secs(20);
const PUB: &str = env!("CARGO_BIN_EXE_stan-pub");
const SUB: &str = env!("CARGO_BIN_EXE_stan-sub");
const SERVER: &str = env!("CARGO_BIN_EXE_stan-server");

/// A streaming server with its embedded NATS server, in this process.
struct Server {
    rt: Option<tokio::runtime::Runtime>,
    parts: Option<(RouterServer, EngineHandle)>,
    url: String,
}

impl Server {
    fn start() -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (server, engine) = rt.block_on(async {
            let server = RouterServer::bind("127.0.0.1:0", RouterConfig::default())
                .await
                .unwrap();
            let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
            (server, engine)
        });
        let url = format!("nats://{}", server.local_addr());
        Server {
            rt: Some(rt),
            parts: Some((server, engine)),
            url,
        }
    }

    /// `stan-pub -s URL <subject> <message>`, checked to succeed.
    fn publish(&self, subject: &str, message: &str) {
        let out = run(PUB, &["-s", &self.url, subject, message]);
        assert!(out.status.success(), "stan-pub failed: {out:?}");
        assert_eq!(out.stdout, format!("Published [{subject}] : '{message}'\n"));
    }

    /// `stan-sub -s URL <args...>` run to its end.
    fn sub(&self, args: &[&str]) -> Output {
        run(SUB, &self.with_url(args))
    }

    fn with_url<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["-s", self.url.as_str()];
        a.extend_from_slice(args);
        a
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if let Some((server, engine)) = self.parts.take() {
                rt.block_on(async {
                    let stop = async {
                        engine.stop().await;
                        server.shutdown().await;
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(5), stop).await;
                });
            }
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// What a finished process printed.
#[derive(Debug)]
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The `[#n] Received: ...` lines.
    fn received(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.contains("] Received: "))
            .collect()
    }

    /// The sequences of the received messages, in order.
    fn sequences(&self) -> Vec<u64> {
        self.received().iter().map(|l| sequence(l)).collect()
    }
}

fn sequence(line: &str) -> u64 {
    let rest = line.split("sequence:").nth(1).expect("a sequence");
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// A running child: stdout lines arrive on a channel, stderr is collected.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

fn spawn(bin: &str, args: &[&str]) -> Proc {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Proc {
        child,
        lines,
        seen: Vec::new(),
        stderr: Some(stderr),
    }
}

impl Proc {
    /// Waits (bounded) for a stdout line containing `needle`.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + T;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; got {:?}", self.seen),
            }
        }
    }

    /// Stdout lines so far, without waiting.
    fn poll_lines(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Sends SIGINT, as Ctrl-C does.
    #[cfg(unix)]
    fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -INT");
    }

    /// Waits (bounded) for the exit and collects the output.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                panic!(
                    "process did not exit in time; stdout {:?}",
                    self.poll_lines()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader ends at EOF, now that the process is gone.
        while let Ok(line) = self.lines.recv_timeout(T) {
            self.seen.push(line);
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        let mut stdout = self.seen.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(bin: &str, args: &[&str]) -> Output {
    spawn(bin, args).finish()
}

#[test]
fn published_messages_are_received_in_order() {
    let s = Server::start();
    for m in ["m1", "m2", "m3"] {
        s.publish("foo", m);
    }
    let out = s.sub(&["--all", "--count", "3", "foo"]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "Connected to {} clusterID: [test-cluster] clientID: [stan-sub]",
            s.url
        )
    );
    assert_eq!(
        lines[1],
        "Listening on [foo], clientID=[stan-sub], qgroup=[] durable=[]"
    );
    let received = out.received();
    assert_eq!(received.len(), 3, "{out:?}");
    for (i, line) in received.iter().enumerate() {
        let n = i + 1;
        let prefix =
            format!("[#{n}] Received: sequence:{n} subject:\"foo\" data:\"m{n}\" timestamp:");
        assert!(line.starts_with(&prefix), "{line}");
        let ts: i64 = line[prefix.len()..].parse().expect("a timestamp alone");
        assert!(ts > 0);
    }
    assert_eq!(lines.len(), 5, "nothing else printed: {out:?}");
}

#[test]
fn payloads_are_quoted_like_protobuf_text() {
    let s = Server::start();
    s.publish("q", "say \"hé\"\\");
    let out = s.sub(&["--all", "--count", "1", "-id", "quoter", "q"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.received()[0].contains(r#" data:"say \"h\303\251\"\\" "#),
        "{out:?}"
    );
    // -t prefixes a date and time.
    let out = s.sub(&["--all", "--count", "1", "-t", "q"]);
    let line = out.received()[0];
    assert!(line.len() > 20 && line.as_bytes()[4] == b'/' && line.as_bytes()[19] == b' ');
    assert!(
        line[20..].starts_with("[#1] Received: sequence:1"),
        "{line}"
    );
}

#[test]
fn start_positions() {
    let s = Server::start();
    for m in ["m1", "m2", "m3"] {
        s.publish("foo", m);
    }
    assert_eq!(
        s.sub(&["--seq", "2", "--count", "2", "foo"]).sequences(),
        [2, 3]
    );
    assert_eq!(s.sub(&["-seq=3", "--count", "1", "foo"]).sequences(), [3]);
    assert_eq!(s.sub(&["--last", "--count", "1", "foo"]).sequences(), [3]);
    assert_eq!(
        s.sub(&["--since", "1h", "--count", "3", "foo"]).sequences(),
        [1, 2, 3]
    );
    // Only what is younger than the interval.
    std::thread::sleep(Duration::from_secs(3));
    s.publish("foo", "m4");
    assert_eq!(
        s.sub(&["--since", "2s", "--count", "1", "foo"]).sequences(),
        [4]
    );
}

#[test]
fn new_only_by_default() {
    let s = Server::start();
    s.publish("foo", "old");
    let mut sub = spawn(SUB, &s.with_url(&["--count", "1", "foo"]));
    sub.wait_line("Listening on [foo]");
    s.publish("foo", "new");
    let out = sub.finish();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.sequences(), [2]);
    assert!(out.received()[0].contains("data:\"new\""));
}

#[test]
fn durable_resumes_after_the_last_printed_message() {
    let s = Server::start();
    for m in ["m1", "m2", "m3"] {
        s.publish("dur", m);
    }
    let first = s.sub(&["--durable", "d", "--all", "--count", "1", "dur"]);
    assert!(first.status.success(), "{first:?}");
    assert!(first.stdout.contains("qgroup=[] durable=[d]"));
    assert_eq!(first.sequences(), [1]);
    s.publish("dur", "m4");
    s.publish("dur", "m5");
    // Resumed: the start position of a resumed durable is ignored.
    let again = s.sub(&["--durable", "d", "--all", "--count", "4", "dur"]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(again.sequences(), [2, 3, 4, 5]);
    // --unsubscribe removes the durable: a new one starts afresh.
    s.publish("dur", "m6");
    let last = s.sub(&["--durable", "d", "--unsubscribe", "--count", "1", "dur"]);
    assert_eq!(last.sequences(), [6]);
    let fresh = s.sub(&["--durable", "d", "--all", "--count", "1", "dur"]);
    assert_eq!(fresh.sequences(), [1]);
}

#[cfg(unix)]
#[test]
fn interrupt_closes_a_durable_or_unsubscribes_with_the_flag() {
    let s = Server::start();
    s.publish("int", "m1");
    s.publish("int", "m2");
    let mut sub = spawn(SUB, &s.with_url(&["--durable", "d", "--all", "int"]));
    sub.wait_line("[#2] Received: sequence:2");
    sub.interrupt();
    let out = sub.finish();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("Received an interrupt"), "{out:?}");
    // Closed, not removed: resumes at 3.
    s.publish("int", "m3");
    assert_eq!(
        s.sub(&["--durable", "d", "--count", "1", "int"])
            .sequences(),
        [3]
    );
    let mut sub = spawn(
        SUB,
        &s.with_url(&["--durable", "d", "--unsubscribe", "int"]),
    );
    sub.wait_line("Listening on [int]");
    sub.interrupt();
    assert!(sub.finish().status.success());
    // Removed: --all starts from the first message again.
    assert_eq!(
        s.sub(&["--durable", "d", "--all", "--count", "1", "int"])
            .sequences(),
        [1]
    );
    // A plain subscription ends on an interrupt too.
    let mut sub = spawn(SUB, &s.with_url(&["int"]));
    sub.wait_line("Listening on [int]");
    sub.interrupt();
    let out = sub.finish();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn queue_group_flag() {
    let s = Server::start();
    s.publish("work", "w1");
    s.publish("work", "w2");
    let out = s.sub(&["--qgroup", "g", "--all", "--count", "2", "work"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out
        .stdout
        .contains("Listening on [work], clientID=[stan-sub], qgroup=[g] durable=[]"));
    assert_eq!(out.sequences(), [1, 2]);
}

#[cfg(unix)]
#[test]
fn queue_members_share_the_messages() {
    let s = Server::start();
    let mut a = spawn(SUB, &s.with_url(&["-id", "a", "--qgroup", "g", "work"]));
    let mut b = spawn(SUB, &s.with_url(&["-id", "b", "--qgroup", "g", "work"]));
    a.wait_line("qgroup=[g]");
    b.wait_line("qgroup=[g]");
    for i in 1..=6 {
        s.publish("work", &format!("w{i}"));
    }
    let deadline = Instant::now() + T;
    let received = |p: &mut Proc| {
        p.poll_lines()
            .iter()
            .filter(|l| l.contains("Received"))
            .map(|l| sequence(l))
            .collect::<Vec<_>>()
    };
    loop {
        let mut all = received(&mut a);
        all.extend(received(&mut b));
        all.sort_unstable();
        if all.len() >= 6 {
            assert_eq!(all, [1, 2, 3, 4, 5, 6], "each message once");
            break;
        }
        assert!(Instant::now() < deadline, "queue messages missing: {all:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    a.interrupt();
    b.interrupt();
    assert!(a.finish().status.success());
    assert!(b.finish().status.success());
}

#[test]
fn async_publish() {
    let s = Server::start();
    let out = run(PUB, &["-s", &s.url, "-a", "foo", "hello"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, "Published [foo] : 'hello'\n");
    let out = run(
        PUB,
        &["--server", &s.url, "--async", "--clientid=p2", "foo", "-2"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, "Published [foo] : '-2'\n");
    let out = s.sub(&["--all", "--count", "2", "foo"]);
    let r = out.received();
    assert!(
        r[0].contains("sequence:1 subject:\"foo\" data:\"hello\""),
        "{out:?}"
    );
    assert!(
        r[1].contains("sequence:2 subject:\"foo\" data:\"-2\""),
        "{out:?}"
    );
}

#[test]
fn bad_command_lines_exit_2_with_a_message() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            SUB,
            &["--seq", "2", "--all", "foo"],
            "--seq and --all cannot be combined",
        ),
        (
            SUB,
            &["--last", "--since", "1s", "foo"],
            "cannot be combined",
        ),
        (
            SUB,
            &["--since", "1hr", "foo"],
            "invalid value \"1hr\" for flag -since",
        ),
        (SUB, &["--seq", "0", "foo"], "sequences start at 1"),
        (SUB, &["--count", "-1", "foo"], "cannot be negative"),
        (
            SUB,
            &["--bogus", "foo"],
            "flag provided but not defined: -bogus",
        ),
        (SUB, &[], "a subject must be specified"),
        (SUB, &["foo", "bar"], "too many arguments"),
        (SUB, &["--durable"], "flag needs an argument: -durable"),
        (PUB, &["foo"], "a subject and a message must be specified"),
        (PUB, &[], "a subject and a message must be specified"),
        (PUB, &["foo", "a", "b"], "too many arguments"),
        (
            PUB,
            &["-x", "foo", "a"],
            "flag provided but not defined: -x",
        ),
        (PUB, &["-id", "", "foo", "a"], "client ID"),
        (
            SUB,
            &["--since", "99999999999999999999h", "foo"],
            "invalid value \"99999999999999999999h\" for flag -since: duration",
        ),
        (
            SUB,
            &["--seq", "99999999999999999999", "foo"],
            "invalid value \"99999999999999999999\" for flag -seq",
        ),
    ];
    for (bin, args, message) in cases {
        let out = run(bin, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {out:?}");
        assert!(out.stderr.contains("Usage: stan-"), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    for (bin, usage) in [
        (PUB, "Usage: stan-pub [options] <subject> <message>"),
        (SUB, "Usage: stan-sub [options] <subject>"),
    ] {
        let out = run(bin, &["-h"]);
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.starts_with(usage), "{out:?}");
    }
}

#[test]
fn out_of_range_server_flags_exit_2_with_the_usage() {
    for (args, message) in [
        (
            &["-hbi", "99999999999999999999h"][..],
            "stan-server: invalid value \"99999999999999999999h\" for flag -hbi: duration",
        ),
        (
            &["-ma", "2562048h"],
            "invalid value \"2562048h\" for flag -ma: duration",
        ),
        (
            &["-hbf", "4294967296"],
            "invalid value \"4294967296\" for flag -hbf: too large",
        ),
        (
            &["-mm", "99999999999999999999"],
            "invalid value \"99999999999999999999\" for flag -mm",
        ),
        (
            &["-mb", "99999999999e"],
            "invalid value \"99999999999e\" for flag -mb",
        ),
        (
            &["-mc", "-1"],
            "invalid value \"-1\" for flag -mc: cannot be negative",
        ),
        (
            &["-p", "70000"],
            "invalid value \"70000\" for flag -p: out of range",
        ),
    ] {
        let out = run(SERVER, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(message), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("Usage: stan-server [options]"),
            "{args:?}: {out:?}"
        );
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
    }
}

#[test]
fn unreachable_server_exits_1() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let publ = spawn(PUB, &["-s", &url, "foo", "x"]);
    let sub = spawn(SUB, &["-s", &url, "--all", "foo"]);
    for out in [publ.finish(), sub.finish()] {
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stderr.starts_with("Can't connect: "), "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "Make sure a NATS Streaming Server is running at: {url}"
            )),
            "{out:?}"
        );
    }
}

#[test]
fn wrong_cluster_or_refused_subscription_exits_1() {
    let s = Server::start();
    let out = run(PUB, &["-s", &s.url, "-c", "nope", "foo", "x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("wrong cluster ID"), "{out:?}");
    let out = s.sub(&["-c", "nope", "foo"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = run(PUB, &["-s", &s.url, "-id", "bad id", "foo", "x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("invalid clientID"), "{out:?}");
    let out = s.sub(&["--all", "foo.*"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("cannot subscribe"), "{out:?}");
}

/// Debian's `nats-server` (`scripts/install-deps.sh` installs it), or
/// `NATS_SERVER`.
fn nats_server() -> String {
    if let Ok(p) = std::env::var("NATS_SERVER") {
        return p;
    }
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nats-server not found: run scripts/install-deps.sh (or set NATS_SERVER)")
        .into()
}

/// `stan-nats-bench --routes` clusters two nodes of each server, pushes
/// every message across the route and prints a rate for both and their
/// ratio, for each routed workload and payload size.
#[test]
fn nats_bench_routes_mode_prints_both_rates_and_ratios() {
    let reference = nats_server();
    let out = run(
        env!("CARGO_BIN_EXE_stan-nats-bench"),
        &[
            "--routes",
            "--msgs",
            "2000",
            "--rounds",
            "1",
            "--ours",
            SERVER,
            "--nats-server",
            &reference,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let mut rows = Vec::new();
    for line in out.stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(&last) = fields.last() else { continue };
        if !line.starts_with("route ") {
            continue;
        }
        // name..., size, ours msgs/s, nats msgs/s, ratio
        let n = fields.len();
        assert!(n >= 5, "{line}");
        let nums: Vec<f64> = fields[n - 3..]
            .iter()
            .map(|f| f.parse().unwrap_or_else(|_| panic!("{line}")))
            .collect();
        assert!(nums.iter().all(|x| x.is_finite() && *x > 0.0), "{line}");
        let ratio: f64 = last.parse().unwrap();
        assert!((ratio - nums[0] / nums[1]).abs() < 0.01, "{line}");
        rows.push((fields[..n - 4].join(" "), fields[n - 4].to_owned()));
    }
    let names = [
        "route pub -> sub",
        "route pub -> 5 queue",
        "route queue 2 + 2",
    ];
    let want: Vec<(String, String)> = names
        .iter()
        .flat_map(|n| ["16", "128"].map(|s| (n.to_string(), s.to_owned())))
        .collect();
    assert_eq!(rows, want, "{}", out.stdout);
    let lowest = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("lowest ratio (ours / nats-server): "))
        .unwrap_or_else(|| panic!("no ratio line: {}", out.stdout));
    assert!(lowest.parse::<f64>().is_ok_and(|r| r > 0.0), "{lowest}");
}
