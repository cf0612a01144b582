//! `stan-auth-storm`: publish latency on a server with bcrypt credentials,
//! quiet and then during a storm of connections presenting secrets it has
//! never seen (each one costs the server a bcrypt comparison), for several
//! server binaries side by side in one run (by default ours and Debian's
//! `nats-server`).
//!
//! One authenticated client subscribes to a subject and publishes to it,
//! one message at a time, timing each round trip (`PUB`, then its `MSG`
//! back). While the storm runs, `--storm` threads keep connecting with
//! wrong passwords and waiting for the `-ERR 'Authorization Violation'`.
//! Rounds alternate the servers' order; the report gives the round trip's
//! median, 99th percentile and maximum, quiet and stormy, per server.
//!
//! ```text
//! stan-auth-storm [--servers PATH[,PATH...]] [--seconds S] [--storm T] [--rounds R]
//! ```

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use stan_cli::flags::{self, Kind, Spec};
use stan_cli::raw_nats::{find_nats_server, sibling_stan_server, Conn, Server};
use stan_core::nats::{Limits, ServerOp};

const SPECS: &[Spec] = &[
    Spec {
        names: &["servers"],
        kind: Kind::Str,
        value: "paths",
        help: "comma-separated server binaries (default: our stan-server next to this program, then nats-server)",
    },
    Spec {
        names: &["seconds"],
        kind: Kind::Int,
        value: "int",
        help: "seconds of each phase, quiet and stormy (default 3, at most 60)",
    },
    Spec {
        names: &["storm"],
        kind: Kind::Int,
        value: "int",
        help: "threads connecting with wrong passwords during the storm (default 8, at most 64)",
    },
    Spec {
        names: &["rounds"],
        kind: Kind::Int,
        value: "int",
        help: "rounds, alternating the servers' order (default 3, at most 20)",
    },
];

/// bcrypt of `s3cret`, cost 10 (nats-server's usual cost; as in the
/// interop kit).
const HASH: &str = "$2a$10$W9tftx7p4LsQCMVF5Sed2.2fsflp6QdrIFe0.AdsbCK2Vx8oLp/cC";
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of user `alice` presenting `pass`, its `CONNECT` followed by a
/// `PING` (the `PONG`, or the refusal, tells how authentication went).
fn open(port: u16, pass: &str) -> io::Result<Conn> {
    let mut c = Conn::open(port, IO_TIMEOUT, Limits::default(), 64 * 1024)?;
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"user\":\"alice\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
    );
    c.stream.write_all(connect.as_bytes())?;
    Ok(c)
}

/// Round trips of one authenticated client for `for_how_long`.
fn measure(c: &mut Conn, for_how_long: Duration) -> io::Result<Vec<Duration>> {
    let mut samples = Vec::new();
    let end = Instant::now() + for_how_long;
    while Instant::now() < end {
        let sent = Instant::now();
        c.stream.write_all(b"PUB lat 2\r\nhi\r\n")?;
        c.until(|op| matches!(op, ServerOp::Msg(_)))?;
        samples.push(sent.elapsed());
    }
    Ok(samples)
}

/// One storm thread: connects with a new wrong password until `stop`,
/// counting the refusals.
fn storm(port: u16, id: usize, stop: &AtomicBool, refused: &AtomicU64) {
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let Ok(mut c) = open(port, &format!("guess-{id}-{n}")) else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        // Refused with -ERR, or closed: either way, one more comparison.
        if let Err(e) = c.until(|op| matches!(op, ServerOp::Pong)) {
            if e.to_string().contains("Authorization Violation")
                || e.kind() == io::ErrorKind::UnexpectedEof
                || e.kind() == io::ErrorKind::ConnectionReset
            {
                refused.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

/// Quiet and stormy round trips on one server.
struct Run {
    quiet: Vec<Duration>,
    stormy: Vec<Duration>,
    refused_per_sec: f64,
}

fn run(binary: &Path, phase: Duration, threads: usize) -> io::Result<Run> {
    let server = Server::start(binary, &["--user", "alice", "--pass", HASH])?;
    let mut c = open(server.port, "s3cret")?;
    c.until(|op| matches!(op, ServerOp::Pong))?;
    c.stream.write_all(b"SUB lat 1\r\nPING\r\n")?;
    c.until(|op| matches!(op, ServerOp::Pong))?;
    // Warm up, then the quiet phase.
    measure(&mut c, Duration::from_millis(200))?;
    let quiet = measure(&mut c, phase)?;
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|id| {
            let (stop, refused, port) = (Arc::clone(&stop), Arc::clone(&refused), server.port);
            thread::spawn(move || storm(port, id, &stop, &refused))
        })
        .collect();
    // Let the storm build up first.
    thread::sleep(Duration::from_millis(300));
    let before = refused.load(Ordering::Acquire);
    let stormy = measure(&mut c, phase);
    let refused_per_sec = (refused.load(Ordering::Acquire) - before) as f64 / phase.as_secs_f64();
    stop.store(true, Ordering::Release);
    for w in workers {
        let _ = w.join();
    }
    Ok(Run {
        quiet,
        stormy: stormy?,
        refused_per_sec,
    })
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[i.min(samples.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn main() -> ExitCode {
    let v = match flags::parse(SPECS, std::env::args().skip(1)) {
        Ok(v) => v,
        Err(flags::FlagError::Help) => {
            print!("{}", flags::usage("stan-auth-storm", SPECS));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-auth-storm: {e}");
            eprint!("{}", flags::usage("stan-auth-storm", SPECS));
            return ExitCode::from(2);
        }
    };
    let servers: Vec<PathBuf> = match v.get("servers") {
        Some(list) => list.split(',').map(PathBuf::from).collect(),
        None => vec![sibling_stan_server(), find_nats_server()],
    };
    let phase = Duration::from_secs(v.int("seconds").unwrap_or(3).clamp(1, 60) as u64);
    let threads = v.int("storm").unwrap_or(8).clamp(1, 64) as usize;
    let rounds = v.int("rounds").unwrap_or(3).clamp(1, 20) as usize;
    println!("phases: {phase:?} quiet, {phase:?} with {threads} storm threads; rounds: {rounds}");
    let mut quiet: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
    let mut stormy: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
    let mut refused: Vec<f64> = vec![0.0; servers.len()];
    for round in 0..rounds {
        for k in 0..servers.len() {
            let i = if round % 2 == 0 {
                k
            } else {
                servers.len() - 1 - k
            };
            match run(&servers[i], phase, threads) {
                Ok(r) => {
                    quiet[i].extend(r.quiet);
                    stormy[i].extend(r.stormy);
                    refused[i] += r.refused_per_sec / rounds as f64;
                }
                Err(e) => {
                    eprintln!("stan-auth-storm: {}: {e}", servers[i].display());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "server (round trip, µs)",
        "quiet p50",
        "p99",
        "max",
        "storm p50",
        "p99",
        "max",
        "p99 x",
        "refused/s"
    );
    for i in 0..servers.len() {
        let (q, s) = (&mut quiet[i], &mut stormy[i]);
        let (q99, s99) = (percentile(q, 0.99), percentile(s, 0.99));
        println!(
            "{:<40} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8.1} {:>10.1}",
            servers[i].display(),
            us(percentile(q, 0.5)),
            us(q99),
            us(percentile(q, 1.0)),
            us(percentile(s, 0.5)),
            us(s99),
            us(percentile(s, 1.0)),
            s99.as_secs_f64() / q99.as_secs_f64().max(1e-9),
            refused[i]
        );
    }
    ExitCode::SUCCESS
}
