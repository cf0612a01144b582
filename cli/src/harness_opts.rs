//! What the command lines of the test harnesses `stan-crash` and
//! `stan-soak` share: their error, the `--store` and `--seed` flags, and
//! integer flags bounded to a range.
//!
//! ```
//! use stan_cli::flags::{self, Kind, Spec};
//! use stan_cli::harness_opts::{ranged, store, Store};
//! use stan_cli::tool_opts::args;
//!
//! const SPECS: &[Spec] = &[
//!     Spec { names: &["store"], kind: Kind::Str, value: "type", help: "" },
//!     Spec { names: &["n"], kind: Kind::Int, value: "n", help: "" },
//! ];
//! let v = flags::parse(SPECS, args(&["--store", "memory", "--n", "7"])).unwrap();
//! assert_eq!(store(&v).unwrap(), Store::Memory);
//! assert_eq!(ranged::<u32>(&v, "n", 1, 0, 10).unwrap(), 7);
//! ```

use crate::flags::{FlagError, Values};

/// Why the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptsError {
    /// A flag-level error (`-h` included).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A value that parses but is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The store type given to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `-st FILE`: must survive every crash.
    File,
    /// `-st MEMORY`: loses everything at a crash (proves the harness
    /// detects losses).
    Memory,
}

impl Store {
    /// The value of `-st`.
    pub fn flag(self) -> &'static str {
        match self {
            Store::File => "FILE",
            Store::Memory => "MEMORY",
        }
    }
}

/// `--store`: `FILE` (the default) or `MEMORY`, in any case.
pub fn store(v: &Values) -> Result<Store, OptsError> {
    match v.get("store").map(str::to_ascii_uppercase).as_deref() {
        None | Some("FILE") => Ok(Store::File),
        Some("MEMORY") => Ok(Store::Memory),
        Some(other) => Err(OptsError::Invalid(format!(
            "--store {other}: expected FILE or MEMORY"
        ))),
    }
}

/// `--seed`, or without it a seed from OS entropy, of 63 bits so that the
/// printed seed is a valid `--seed`.
pub fn seed(v: &Values) -> u64 {
    match v.int("seed") {
        Some(s) => s as u64,
        None => stan_tokio::entropy_seed() & (i64::MAX as u64),
    }
}

/// An integer flag in `lo..=hi`, converted to `T`; `default` without it.
pub fn ranged<T: TryFrom<i64>>(
    v: &Values,
    name: &str,
    default: T,
    lo: i64,
    hi: i64,
) -> Result<T, OptsError> {
    let Some(n) = v.int(name) else {
        return Ok(default);
    };
    if !(lo..=hi).contains(&n) {
        return Err(OptsError::Invalid(format!(
            "--{name} {n}: expected {lo}..={hi}"
        )));
    }
    T::try_from(n).map_err(|_| OptsError::Invalid(format!("--{name} {n}: out of range")))
}
