//! What the `main` functions of the test harnesses `stan-crash` and
//! `stan-soak` share: their command line refused with the usage (exit
//! code 2, or 0 for `-h`), and their two-thread tokio runtime (exit code 3
//! when it cannot be made).

use std::process::ExitCode;

use crate::flags::FlagError;
use crate::harness_opts::OptsError;

/// Reports a refused command line of `tool`: for `-h` the usage on stdout
/// and success, else the error and the usage on stderr and exit code 2.
pub fn refuse(tool: &str, e: &OptsError, usage: &str) -> ExitCode {
    if let OptsError::Flag(FlagError::Help) = e {
        print!("{usage}");
        return ExitCode::SUCCESS;
    }
    eprintln!("{tool}: {e}\n{usage}");
    ExitCode::from(2)
}

/// The multi-thread runtime of a harness (2 workers, I/O and time on);
/// when it cannot be made, says so for `tool` and gives exit code 3.
pub fn runtime(tool: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{tool}: cannot start the runtime: {e}");
            ExitCode::from(3)
        })
}
