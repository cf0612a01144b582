//! `stan-crash`: crash-tests the server's store. Starts `stan-server`
//! (`-st FILE` by default) as a child on a loopback port, publishes and
//! consumes through it, kills it with SIGKILL at random points, restarts
//! it on the same store, and checks that nothing acknowledged was lost
//! (see `stan_cli::crash`).
//!
//! ```text
//! stan-crash [--server PATH] [--store FILE|MEMORY] [--kills 20] [--max-seconds 240] [--seed N] [-v]
//! ```
//!
//! Exit codes: 0 every check passed, 1 a check failed (the summary lists
//! the violations), 2 bad command line, 3 the harness could not run (the
//! server did not start, a client could not connect, or the run outlived
//! `--max-seconds` plus 180 s of slack; the server is killed then).

use std::process::ExitCode;

use stan_cli::crash::{self, opts};
use stan_cli::harness_main;

fn main() -> ExitCode {
    let opts = match opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => return harness_main::refuse("stan-crash", &e, &opts::usage()),
    };
    let runtime = match harness_main::runtime("stan-crash") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(crash::run_bounded(&opts)) {
        Ok(summary) => {
            println!("{summary}");
            if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("stan-crash: could not run (seed {}): {e}", opts.seed);
            ExitCode::from(3)
        }
    }
}
