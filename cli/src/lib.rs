//! `stan-cli`: the binaries' shared pieces (Go-style flags, logging, option
//! translation). The binaries are `stan-server`, `stan-pub`, `stan-sub`,
//! `stan-bench`, `stan-nats-bench` ([`nats_bench`]), `stan-crash` (the
//! store's crash-test harness, [`crash`]), `stan-fsync-rate`
//! ([`fsync_rate`]), `stan-load`
//! (many idle clients on one server, [`load`]), `stan-soak` (a long mixed
//! workload checking loss, memory and descriptors, [`soak`]) and
//! `stan-auth-storm`.
//!
//! ```
//! use stan_cli::server_opts::{parse, Command};
//!
//! let Command::Serve(opts) = parse(["-p".to_string(), "4333".to_string()]).unwrap() else {
//!     panic!("expected serve")
//! };
//! assert_eq!(opts.port, 4333);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config_file;
pub mod crash;
pub mod filler;
pub mod flags;
pub mod fsync_rate;
pub mod harness_main;
pub mod harness_opts;
pub mod load;
pub mod log;
pub mod monitoring;
pub mod nats_bench;
pub mod pidfile;
pub mod raw_nats;
pub mod reload;
pub mod server_child;
pub mod server_opts;
pub mod signal_cmd;
pub mod signals;
pub mod soak;
pub mod store_gen;
pub mod tool_opts;

/// Lets smol's global executor use every core, as tokio's multi-thread
/// runtime does: sets `SMOL_THREADS` to the machine's parallelism unless
/// the operator chose a value. Call it first in `main`, before any thread
/// or smol task exists (smol reads the variable once, at its first use).
pub fn smol_threads_default() {
    if std::env::var_os("SMOL_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("SMOL_THREADS", cores.to_string());
    }
}

/// The wall clock, Unix nanoseconds (0 before 1970, saturating far ahead).
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
