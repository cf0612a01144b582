//! `stan-fsync-rate`: measures how many synced appends per second the disk
//! under a directory takes (see `stan_cli::fsync_rate`).
//!
//! ```text
//! stan-fsync-rate [--dir D] [--seconds 3s] [--count 100000] [--size 128] [--sync data|all]
//! ```
//!
//! Exit codes: 0 measured, 1 an IO error, 2 bad command line.

use std::process::ExitCode;

use stan_cli::flags::FlagError;
use stan_cli::fsync_rate::{self, FsyncOptsError};

fn main() -> ExitCode {
    let opts = match fsync_rate::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(FsyncOptsError::Flag(FlagError::Help)) => {
            print!("{}", fsync_rate::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stan-fsync-rate: {e}\n{}", fsync_rate::usage());
            return ExitCode::from(2);
        }
    };
    match fsync_rate::measure(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stan-fsync-rate: {e}");
            ExitCode::FAILURE
        }
    }
}
