//! `stan-nats-bench`: our router against Debian's `nats-server`, side by side
//! in one run, with one client implementation for both.
//!
//! Workloads: publish only; one publisher to one subscriber; one publisher to
//! five members of one queue group; each with 16- and 128-byte payloads.
//! Both servers run as child processes on loopback ports, in alternating
//! order, for several rounds; the median msgs/s of each and their ratio are
//! printed.
//!
//! ```text
//! stan-nats-bench [--ours PATH] [--nats-server PATH] [--msgs N] [--rounds R]
//! ```

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use stan_cli::flags::{self, Kind, Spec};
use stan_cli::raw_nats::{find_nats_server, sibling_stan_server, Conn, Server};
use stan_core::nats::{Limits, ServerOp};

const SPECS: &[Spec] = &[
    Spec {
        names: &["ours"],
        kind: Kind::Str,
        value: "path",
        help: "our stan-server binary (default: next to this program)",
    },
    Spec {
        names: &["nats-server"],
        kind: Kind::Str,
        value: "path",
        help: "reference nats-server binary (default: nats-server on PATH, /usr/sbin/nats-server)",
    },
    Spec {
        names: &["msgs"],
        kind: Kind::Int,
        value: "int",
        help: "messages per run (default 1000000)",
    },
    Spec {
        names: &["rounds"],
        kind: Kind::Int,
        value: "int",
        help: "rounds per workload, alternating servers (default 3)",
    },
];

/// Most messages a publisher may be ahead of its subscribers.
const WINDOW: u64 = 100_000;
const FRAMES_PER_WRITE: usize = 512;
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Workload {
    PubOnly,
    PubSub,
    Queue5,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::PubOnly => "publish only",
            Workload::PubSub => "1 pub -> 1 sub",
            Workload::Queue5 => "1 pub -> 5 queue subs",
        }
    }

    fn subscribers(self) -> usize {
        match self {
            Workload::PubOnly => 0,
            Workload::PubSub => 1,
            Workload::Queue5 => 5,
        }
    }
}

/// A benchmark client: generous limits, reads timing out after the run's
/// timeout, announced with a plain `CONNECT`.
fn open(port: u16) -> io::Result<Conn> {
    let mut c = Conn::open(
        port,
        RUN_TIMEOUT,
        Limits {
            max_control_line: 64 * 1024,
            max_payload: 64 * 1024 * 1024,
        },
        256 * 1024,
    )?;
    c.stream
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n")?;
    Ok(c)
}

fn run(port: u16, workload: Workload, size: usize, msgs: u64) -> io::Result<f64> {
    let received = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    for i in 0..workload.subscribers() {
        let mut c = open(port)?;
        let sub = match workload {
            Workload::Queue5 => format!("SUB bench.{size} workers {i}\r\n"),
            _ => format!("SUB bench.{size} {i}\r\n"),
        };
        c.stream.write_all(sub.as_bytes())?;
        c.ping()?;
        subs.push(c);
    }
    let mut publisher = open(port)?;
    publisher.ping()?;

    let start = Instant::now();
    // All subscribers on one thread, multiplexed by a single-threaded
    // runtime: the client side costs as little CPU as possible.
    let readers = if subs.is_empty() {
        None
    } else {
        let received = Arc::clone(&received);
        Some(thread::spawn(move || -> io::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for c in subs {
                    let received = Arc::clone(&received);
                    tasks.push(tokio::spawn(count_msgs(c, received, msgs)));
                }
                for t in tasks {
                    t.await.map_err(|_| io::Error::other("reader panicked"))??;
                }
                Ok(())
            })
        }))
    };

    let mut frame = format!("PUB bench.{size} {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', size));
    frame.extend_from_slice(b"\r\n");
    let chunk: Vec<u8> = frame.repeat(FRAMES_PER_WRITE);
    let mut sent = 0u64;
    while sent < msgs {
        let n = (msgs - sent).min(FRAMES_PER_WRITE as u64);
        publisher
            .stream
            .write_all(&chunk[..frame.len() * n as usize])?;
        sent += n;
        if workload.subscribers() > 0 {
            while sent - received.load(Ordering::Acquire) > WINDOW {
                if start.elapsed() > RUN_TIMEOUT {
                    return Err(io::Error::other("subscribers stalled"));
                }
                thread::sleep(Duration::from_micros(50));
            }
        }
    }
    publisher.ping()?;
    if let Some(r) = readers {
        r.join()
            .map_err(|_| io::Error::other("reader panicked"))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if workload.subscribers() > 0 {
        let got = received.load(Ordering::Acquire);
        if got != msgs {
            return Err(io::Error::other(format!("received {got} of {msgs}")));
        }
    }
    Ok(msgs as f64 / elapsed)
}

/// Counts `MSG`s on one subscriber connection until `msgs` arrived in total
/// (over all subscribers).
async fn count_msgs(c: Conn, received: Arc<AtomicU64>, msgs: u64) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (stream, mut buf, mut dec) = c.into_parts();
    stream.set_nonblocking(true)?;
    let mut stream = tokio::net::TcpStream::from_std(stream)?;
    while received.load(Ordering::Acquire) < msgs {
        if buf.capacity() - buf.len() < 64 * 1024 {
            buf.reserve(256 * 1024);
        }
        let read =
            tokio::time::timeout(Duration::from_millis(100), stream.read_buf(&mut buf)).await;
        match read {
            Err(_) => continue, // re-check the total
            Ok(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        let mut batch = 0;
        while let Some(op) = dec.decode(&mut buf).map_err(io::Error::other)? {
            match op {
                ServerOp::Msg(_) => batch += 1,
                ServerOp::Ping => stream.write_all(b"PONG\r\n").await?,
                _ => {}
            }
        }
        received.fetch_add(batch, Ordering::AcqRel);
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let v = match flags::parse(SPECS, std::env::args().skip(1)) {
        Ok(v) => v,
        Err(flags::FlagError::Help) => {
            print!("{}", flags::usage("stan-nats-bench", SPECS));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-nats-bench: {e}");
            eprint!("{}", flags::usage("stan-nats-bench", SPECS));
            return ExitCode::from(2);
        }
    };
    let ours = v
        .get("ours")
        .map(PathBuf::from)
        .unwrap_or_else(sibling_stan_server);
    let reference = v
        .get("nats-server")
        .map(PathBuf::from)
        .unwrap_or_else(find_nats_server);
    let msgs = v.int("msgs").unwrap_or(1_000_000).max(1) as u64;
    let rounds = v.int("rounds").unwrap_or(3).clamp(1, 50) as usize;
    println!(
        "ours: {}  reference: {}  msgs/run: {msgs}  rounds: {rounds}",
        ours.display(),
        reference.display()
    );
    println!(
        "{:<24} {:>6} {:>14} {:>14} {:>7}",
        "workload", "size", "ours msgs/s", "nats msgs/s", "ratio"
    );
    let mut worst = f64::INFINITY;
    for workload in [Workload::PubOnly, Workload::PubSub, Workload::Queue5] {
        for size in [16usize, 128] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                let order: [(bool, &PathBuf); 2] = if round % 2 == 0 {
                    [(true, &ours), (false, &reference)]
                } else {
                    [(false, &reference), (true, &ours)]
                };
                for (is_ours, bin) in order {
                    let result =
                        Server::start(bin, &[]).and_then(|s| run(s.port, workload, size, msgs));
                    match result {
                        Ok(rate) if is_ours => a.push(rate),
                        Ok(rate) => b.push(rate),
                        Err(e) => {
                            eprintln!("{} {size}B on {}: {e}", workload.name(), bin.display());
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
            let (ma, mb) = (median(&mut a), median(&mut b));
            worst = worst.min(ma / mb);
            println!(
                "{:<24} {:>6} {:>14.0} {:>14.0} {:>7.2}",
                workload.name(),
                size,
                ma,
                mb,
                ma / mb
            );
        }
    }
    println!("lowest ratio (ours / nats-server): {worst:.2}");
    ExitCode::SUCCESS
}
