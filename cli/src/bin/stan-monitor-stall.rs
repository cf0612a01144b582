//! `stan-monitor-stall`: how much monitoring stalls the message path.
//!
//! Starts `stan-server -m` (a child process, loopback), gives it
//! `--subs` subscriptions (10,000 by default) on an idle channel, then
//! measures synchronous publish round trips on another channel for
//! `--seconds`, twice, side by side: first with nobody reading the
//! monitoring port (the reference), then while a reader fetches the heavy
//! endpoints (`/streaming/channelsz?subs=1`, `/streaming/clientsz?subs=1`,
//! `/connz?subs=1`, `/subsz?subs=1`, `/metrics`) back to back (or with
//! `--interval_ms` between rounds, as a dashboard would). Prints the
//! latency percentiles of both phases, their ratios, and how long the
//! endpoints took to answer.
//!
//! ```text
//! stan-monitor-stall [--server PATH] [--runtime tokio|smol|mio] [--subs N] [--seconds S] [--interval_ms MS]
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stan_cli::flags::{self, Kind, Spec};
use stan_tokio::{Connection, Options, SubscriptionOptions};

const SPECS: &[Spec] = &[
    Spec {
        names: &["server"],
        kind: Kind::Str,
        value: "path",
        help: "stan-server binary (default: the one beside this binary)",
    },
    Spec {
        names: &["runtime"],
        kind: Kind::Str,
        value: "name",
        help: "the server's runtime: tokio (default), smol or mio",
    },
    Spec {
        names: &["subs"],
        kind: Kind::Int,
        value: "int",
        help: "subscriptions held (default 10000)",
    },
    Spec {
        names: &["interval_ms"],
        kind: Kind::Int,
        value: "int",
        help: "pause between two rounds of the reader, in ms (default 0: back to back)",
    },
    Spec {
        names: &["seconds"],
        kind: Kind::Int,
        value: "int",
        help: "length of each phase in seconds (default 5)",
    },
];

const ENDPOINTS: &[&str] = &[
    "/streaming/channelsz?subs=1",
    "/streaming/clientsz?subs=1",
    "/connz?subs=1",
    "/subsz?subs=1",
    "/metrics",
];

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> ExitCode {
    let v = match flags::parse(SPECS, std::env::args().skip(1)) {
        Ok(v) => v,
        Err(flags::FlagError::Help) => {
            print!("{}", flags::usage("stan-monitor-stall", SPECS));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-monitor-stall: {e}");
            return ExitCode::from(2);
        }
    };
    let server = v.get("server").map(std::path::PathBuf::from).or_else(|| {
        let exe = std::env::current_exe().ok()?;
        Some(exe.with_file_name("stan-server"))
    });
    let Some(server) = server else {
        eprintln!("stan-monitor-stall: no stan-server binary (use --server)");
        return ExitCode::from(2);
    };
    let subs = v.int("subs").unwrap_or(10_000).max(0) as usize;
    let seconds = v.int("seconds").unwrap_or(5).clamp(1, 600) as u64;
    let runtime = v.get("runtime").unwrap_or("tokio").to_owned();
    let interval = Duration::from_millis(v.int("interval_ms").unwrap_or(0).clamp(0, 60_000) as u64);
    match run(
        &server,
        &runtime,
        subs,
        Duration::from_secs(seconds),
        interval,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stan-monitor-stall: {e}");
            ExitCode::FAILURE
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_port(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("port {port} never opened"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `GET path` over a fresh connection; the body's length.
fn get(port: u16, path: &str) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    if !body.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "GET {path}: {}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        )));
    }
    Ok(body.len())
}

fn run(
    server: &std::path::Path,
    runtime: &str,
    subs: usize,
    phase: Duration,
    interval: Duration,
) -> Result<(), String> {
    let (p, m) = (
        free_port().map_err(|e| e.to_string())?,
        free_port().map_err(|e| e.to_string())?,
    );
    let _server = Kill(
        Command::new(server)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &p.to_string(),
                "-m",
                &m.to_string(),
            ])
            .args(["-msu", "0", "-mc", "0", "--runtime", runtime])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", server.display()))?,
    );
    wait_port(p)?;
    wait_port(m)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("nats://127.0.0.1:{p}");
    rt.block_on(async {
        let holder = Connection::connect(&url, "test-cluster", "holder", Options::default())
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut held = Vec::with_capacity(subs);
        for _ in 0..subs {
            held.push(
                holder
                    .subscribe("idle", SubscriptionOptions::default())
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        println!(
            "{subs} subscriptions on channel idle in {:.1?} (runtime {runtime})",
            started.elapsed()
        );
        let publisher = Connection::connect(&url, "test-cluster", "pub", Options::default())
            .await
            .map_err(|e| e.to_string())?;
        // Warm up.
        for _ in 0..1000 {
            publisher
                .publish("hot", "x")
                .await
                .map_err(|e| e.to_string())?;
        }
        let quiet = measure(&publisher, phase).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let timings = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (stop, timings) = (stop.clone(), timings.clone());
            std::thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    for path in ENDPOINTS {
                        let t = Instant::now();
                        let len = get(m, path).map_err(|e| e.to_string())?;
                        if let Ok(mut v) = timings.lock() {
                            v.push((*path, t.elapsed(), len));
                        }
                    }
                    std::thread::sleep(interval);
                }
                Ok(())
            })
        };
        let loaded = measure(&publisher, phase).await;
        stop.store(true, Ordering::Relaxed);
        let read = reader.join().map_err(|_| "reader panicked".to_owned())?;
        let loaded = loaded?;
        read?;
        report(&quiet, &loaded, &timings.lock().map_err(|e| e.to_string())?);
        drop(held);
        Ok::<(), String>(())
    })
}

/// Synchronous publish round trips for `phase`, sorted.
async fn measure(publisher: &Connection, phase: Duration) -> Result<Vec<Duration>, String> {
    let mut lat = Vec::new();
    let end = Instant::now() + phase;
    while Instant::now() < end {
        let t = Instant::now();
        publisher
            .publish("hot", "payload")
            .await
            .map_err(|e| e.to_string())?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(quiet: &[Duration], loaded: &[Duration], reads: &[(&str, Duration, usize)]) {
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "publish round trip", "count", "p50", "p99", "p99.9", "max"
    );
    for (name, l) in [("no monitoring", quiet), ("monitoring polled", loaded)] {
        println!(
            "{:<22} {:>10} {:>10.1?} {:>10.1?} {:>10.1?} {:>10.1?}",
            name,
            l.len(),
            pct(l, 0.5),
            pct(l, 0.99),
            pct(l, 0.999),
            pct(l, 1.0)
        );
    }
    let ratio = |p: f64| pct(loaded, p).as_secs_f64() / pct(quiet, p).as_secs_f64().max(1e-9);
    println!(
        "ratio polled/quiet: p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}; throughput {:.2}",
        ratio(0.5),
        ratio(0.99),
        ratio(0.999),
        ratio(1.0),
        loaded.len() as f64 / quiet.len().max(1) as f64
    );
    for path in ENDPOINTS {
        let mut t: Vec<Duration> = reads.iter().filter(|r| r.0 == *path).map(|r| r.1).collect();
        t.sort();
        let bytes = reads.iter().find(|r| r.0 == *path).map_or(0, |r| r.2);
        println!(
            "GET {:<30} {:>5} times, median {:>9.1?}, max {:>9.1?}, {} bytes",
            path,
            t.len(),
            pct(&t, 0.5),
            pct(&t, 1.0),
            bytes
        );
    }
}
