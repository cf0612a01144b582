//! `stan-store-gen`: writes a large store directory in the file store's
//! format (nats-streaming-server 0.25.x's) for recovery and import
//! measurements, then reopens it and checks it (see
//! `stan_cli::store_gen`).
//!
//! ```text
//! stan-store-gen --dir /tmp/big --size 1GB --channels 4 --msg-size 1024 [--slice-max-bytes 64MB] [--subs] [--cluster-id test-cluster] [--seed 1] [--verify=false]
//! ```
//!
//! Exit codes: 0 written (and verified), 1 an error, 2 bad command line.

use std::process::ExitCode;

use stan_cli::flags::FlagError;
use stan_cli::store_gen::{self, GenOptsError};

fn main() -> ExitCode {
    let opts = match store_gen::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(GenOptsError::Flag(FlagError::Help)) => {
            print!("{}", store_gen::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-store-gen: {e}\n{}", store_gen::usage());
            return ExitCode::from(2);
        }
    };
    let report = match store_gen::generate(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stan-store-gen: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{report}");
    if opts.verify {
        match store_gen::verify(&opts, &report) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("stan-store-gen: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
