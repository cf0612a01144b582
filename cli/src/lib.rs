//! `stan-cli`: the binaries' shared pieces (Go-style flags, logging, option
//! translation). The binaries are `stan-server`, `stan-pub`, `stan-sub`,
//! `stan-bench` and `stan-nats-bench`.
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

pub mod flags;
pub mod log;
pub mod server_opts;
pub mod tool_opts;
