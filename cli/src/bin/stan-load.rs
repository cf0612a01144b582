//! `stan-load`: one `stan-server` on 127.0.0.1 holding N STAN clients
//! (each with a subscription, pinging and answering heartbeats at the
//! default intervals) while a publisher runs; reports the server's RSS per
//! client, its CPU at idle and the publish throughput (see
//! `stan_cli::load`).
//!
//! ```text
//! stan-load [--clients 10000] [--compare] [--server PATH] [--idle 20s] [--duration 10s] [--json] [-v]
//! stan-load --stop-reading 100 [--clients 1000] [--rate 200] [--phase 10s] [--ack-wait 5s] [--max-in-flight 64]
//! ```
//!
//! Exit codes: 0 every check passed, 1 a check failed (the report says
//! which), 2 bad command line, 3 the run could not be carried out.

use std::process::ExitCode;

use stan_cli::flags::FlagError;
use stan_cli::load::{self, opts};

fn main() -> ExitCode {
    let opts = match opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(opts::OptsError::Flag(FlagError::Help)) => {
            print!("{}", opts::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-load: {e}\n{}", opts::usage());
            return ExitCode::from(2);
        }
    };
    // Two workers: the clients' driver tasks are IO-bound, and the server
    // (a separate process) gets the rest of the machine.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stan-load: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let outcome = runtime.block_on(load::run(&opts));
    // Connections left behind (a timed-out run) are not waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(o) => {
            if opts.json {
                println!("{}", o.to_json());
            } else {
                println!("{o}");
            }
            if o.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("stan-load: {e}");
            ExitCode::from(3)
        }
    }
}
