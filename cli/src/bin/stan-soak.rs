//! `stan-soak`: a soak test of `stan-server` under a mixed workload
//! (publishers, durable and queue subscribers with manual acks and
//! redeliveries, clients coming and going) for `--duration`, checking
//! that no message is lost or duplicated beyond redelivery and that the
//! server's RSS and open fds come back to their baseline (see
//! `stan_cli::soak`).
//!
//! ```text
//! stan-soak [--duration 5m] [--store FILE|MEMORY] [--rate 150] [--csv FILE] [--seed N] [-v]
//! ```
//!
//! Exit codes: 0 every check passed, 1 a check failed (the summary says
//! which), 2 bad command line, 3 the harness could not run (the server did
//! not start, or the run outlived `--duration` plus 180 s; the server is
//! killed then).

use std::process::ExitCode;

use stan_cli::harness_main;
use stan_cli::soak::{self, opts};

fn main() -> ExitCode {
    let opts = match opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => return harness_main::refuse("stan-soak", &e, &opts::usage()),
    };
    let runtime = match harness_main::runtime("stan-soak") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    eprintln!(
        "stan-soak: seed {}, --duration {:?}, {} publishes/s over {} channels",
        opts.seed, opts.duration, opts.rate, opts.channels
    );
    let outcome = runtime.block_on(soak::run_bounded(&opts));
    // Background closes of cut clients may still be waiting: do not wait.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("stan-soak: could not run (seed {}): {e}", opts.seed);
            ExitCode::from(3)
        }
    }
}
