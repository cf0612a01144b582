//! `stan-nats-bench`: our router against Debian's `nats-server`, side by side
//! in one run, with one client implementation for both.
//!
//! Workloads on one server: publish only; one publisher to one subscriber;
//! one publisher to five members of one queue group.
//!
//! With `--routes`, two nodes of each server kind are clustered over a
//! loopback route (`--cluster nats://127.0.0.1:P --cluster_name
//! stan-nats-bench` on both, `--routes nats-route://127.0.0.1:P` on the
//! second) and the publisher is connected to the first node: one subscriber
//! on the second node (every message crosses the route); five queue
//! members on the second node; one queue group with two members on each
//! node (the share of messages that crossed is printed too). Timing starts
//! once probe messages show that the second node's interest has reached the
//! first.
//!
//! Every workload runs with 16- and 128-byte payloads. The servers run as
//! child processes on loopback ports, started afresh for every run, in
//! alternating order for several rounds; the median msgs/s of each and
//! their ratio (ours / nats-server) are printed, then the lowest ratio.
//!
//! ```text
//! stan-nats-bench [--routes] [--ours PATH] [--nats-server PATH] [--msgs N] [--rounds R]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use stan_cli::flags::{self, Kind, Spec};
use stan_cli::nats_bench::target::Target;
use stan_cli::nats_bench::workload::{self, Measure, Workload, ROUTED, SINGLE};
use stan_cli::nats_bench::{median, BenchError};
use stan_cli::raw_nats::{find_nats_server, sibling_stan_server};

const SPECS: &[Spec] = &[
    Spec {
        names: &["routes"],
        kind: Kind::Bool,
        value: "",
        help: "two clustered nodes of each server: publisher on one, subscribers across the route",
    },
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

/// One run of `workload` on fresh server(s) of `binary`.
fn measure(binary: &Path, w: Workload, size: usize, msgs: u64) -> Result<Measure, BenchError> {
    let target = if w.routed() {
        Target::pair(binary)?
    } else {
        Target::single(binary)?
    };
    workload::run(&target, w, size, msgs)
}

/// The medians of one workload and size: (ours, theirs) msgs/s and the
/// median share of messages that crossed to the second node.
struct Row {
    ours: f64,
    theirs: f64,
    ours_crossed: f64,
    theirs_crossed: f64,
}

/// `rounds` rounds of one workload and size, alternating which server
/// goes first.
fn compare(
    ours: &Path,
    reference: &Path,
    w: Workload,
    size: usize,
    msgs: u64,
    rounds: usize,
) -> Result<Row, String> {
    let (mut a, mut b, mut ac, mut bc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [(true, ours), (false, reference)]
        } else {
            [(false, reference), (true, ours)]
        };
        for (is_ours, bin) in order {
            let m = measure(bin, w, size, msgs)
                .map_err(|e| format!("{} {size}B on {}: {e}", w.name(), bin.display()))?;
            let crossed = m.crossed as f64 / msgs as f64;
            if is_ours {
                a.push(m.rate);
                ac.push(crossed);
            } else {
                b.push(m.rate);
                bc.push(crossed);
            }
        }
    }
    Ok(Row {
        ours: median(&mut a),
        theirs: median(&mut b),
        ours_crossed: median(&mut ac),
        theirs_crossed: median(&mut bc),
    })
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
    let routes = v.flag("routes");
    println!(
        "ours: {}  reference: {}  msgs/run: {msgs}  rounds: {rounds}{}",
        ours.display(),
        reference.display(),
        if routes {
            "  two nodes over a route"
        } else {
            ""
        }
    );
    println!(
        "{:<24} {:>6} {:>14} {:>14} {:>7}",
        "workload", "size", "ours msgs/s", "nats msgs/s", "ratio"
    );
    let workloads: &[Workload] = if routes { &ROUTED } else { &SINGLE };
    let mut worst = f64::INFINITY;
    for &w in workloads {
        for size in [16usize, 128] {
            let row = match compare(&ours, &reference, w, size, msgs, rounds) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("stan-nats-bench: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let ratio = row.ours / row.theirs;
            worst = worst.min(ratio);
            println!(
                "{:<24} {:>6} {:>14.0} {:>14.0} {:>7.2}",
                w.name(),
                size,
                row.ours,
                row.theirs,
                ratio
            );
            if w == Workload::RouteQueueSplit {
                println!(
                    "{:<24} {:>6} {:>13.0}% {:>13.0}%",
                    "  crossed the route",
                    "",
                    row.ours_crossed * 100.0,
                    row.theirs_crossed * 100.0
                );
            }
        }
    }
    println!("lowest ratio (ours / nats-server): {worst:.2}");
    ExitCode::SUCCESS
}
