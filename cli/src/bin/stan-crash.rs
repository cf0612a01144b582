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
use stan_cli::flags::FlagError;

fn main() -> ExitCode {
    let opts = match opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(opts::OptsError::Flag(FlagError::Help)) => {
            print!("{}", opts::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-crash: {e}\n{}", opts::usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stan-crash: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
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
