//! `stan-crash`'s command line (Go-style flags, as the other tools).
//!
//! ```
//! use stan_cli::crash::opts::{parse, Store};
//! use stan_cli::tool_opts::args;
//!
//! let o = parse(args(&["--kills", "5", "--store", "memory", "--seed", "42"])).unwrap();
//! assert_eq!((o.kills, o.store, o.seed), (5, Store::Memory, 42));
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::flags::{self, Kind, Spec};
use crate::harness_opts::{ranged, seed, store};
pub use crate::harness_opts::{OptsError, Store};

/// Every flag `stan-crash` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["server"],
        kind: Kind::Str,
        value: "path",
        help: "The stan-server program (default: stan-server next to stan-crash)",
    },
    Spec {
        names: &["store"],
        kind: Kind::Str,
        value: "type",
        help: "Store type given to the server with -st: FILE (default) or MEMORY",
    },
    Spec {
        names: &["kills"],
        kind: Kind::Int,
        value: "n",
        help: "Crashes (SIGKILL and restart) to make (default 20)",
    },
    Spec {
        names: &["max-seconds"],
        kind: Kind::Int,
        value: "s",
        help: "Time budget: no new round starts once the rounds have used it minus the final checks' share (default 240)",
    },
    Spec {
        names: &["publishers"],
        kind: Kind::Int,
        value: "n",
        help: "Publishing connections per round (default 3)",
    },
    Spec {
        names: &["channels"],
        kind: Kind::Int,
        value: "n",
        help: "Channels; publisher i publishes on channel i mod n (default 2)",
    },
    Spec {
        names: &["window"],
        kind: Kind::Int,
        value: "n",
        help: "PubAcks in flight per publisher (default 256)",
    },
    Spec {
        names: &["max-msgs"],
        kind: Kind::Int,
        value: "n",
        help: "Publishes over the whole run, at most (default 400000)",
    },
    Spec {
        names: &["min-delay"],
        kind: Kind::Duration,
        value: "duration",
        help: "Shortest time from a round's start to its crash (default 50ms)",
    },
    Spec {
        names: &["max-delay"],
        kind: Kind::Duration,
        value: "duration",
        help: "Longest time from a round's start to its crash (default 700ms)",
    },
    Spec {
        names: &["seed"],
        kind: Kind::Int,
        value: "n",
        help: "Seed of delays, port and payloads (default: random, printed)",
    },
    Spec {
        names: &["work-dir"],
        kind: Kind::Str,
        value: "path",
        help: "Directory for the store and the server logs (default: a new one under the temp dir)",
    },
    Spec {
        names: &["keep"],
        kind: Kind::Bool,
        value: "",
        help: "Keep the work directory after a passing run (a failing run always keeps it)",
    },
    Spec {
        names: &["no-kill"],
        kind: Kind::Bool,
        value: "",
        help: "Self-test of the harness: the same rounds, but the server is never killed or restarted (the clients are closed and reconnected); must pass even with MEMORY",
    },
    Spec {
        names: &["v", "verbose"],
        kind: Kind::Bool,
        value: "",
        help: "Print each round",
    },
];

/// A run's settings.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    /// `--server` (`None`: next to this program).
    pub server: Option<PathBuf>,
    /// `--store`.
    pub store: Store,
    /// `--kills`.
    pub kills: u32,
    /// `--max-seconds`.
    pub max_time: Duration,
    /// `--publishers`.
    pub publishers: u32,
    /// `--channels`.
    pub channels: u32,
    /// `--window`.
    pub window: usize,
    /// `--max-msgs`.
    pub max_msgs: u64,
    /// `--min-delay`.
    pub min_delay: Duration,
    /// `--max-delay`.
    pub max_delay: Duration,
    /// `--seed`.
    pub seed: u64,
    /// `--work-dir`.
    pub work_dir: Option<PathBuf>,
    /// `--keep`.
    pub keep: bool,
    /// `--no-kill`.
    pub no_kill: bool,
    /// `-v`.
    pub verbose: bool,
}

impl Default for CrashOptions {
    fn default() -> Self {
        CrashOptions {
            server: None,
            store: Store::File,
            kills: 20,
            max_time: Duration::from_secs(240),
            publishers: 3,
            channels: 2,
            window: 256,
            max_msgs: 400_000,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(700),
            seed: 0,
            work_dir: None,
            keep: false,
            no_kill: false,
            verbose: false,
        }
    }
}

/// The usage text.
pub fn usage() -> String {
    flags::usage("stan-crash", SPECS)
}

/// Parses `stan-crash`'s arguments (without the program name). Without
/// `--seed` the seed comes from OS entropy.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<CrashOptions, OptsError> {
    let v = flags::parse(SPECS, args)?;
    let d = CrashOptions::default();
    let store = store(&v)?;
    let o = CrashOptions {
        server: v.get("server").map(PathBuf::from),
        store,
        kills: ranged(&v, "kills", d.kills, 0, 100_000)?,
        max_time: Duration::from_secs(ranged(&v, "max-seconds", 240, 1, 86_400)?),
        publishers: ranged(&v, "publishers", d.publishers, 1, 64)?,
        channels: ranged(&v, "channels", d.channels, 1, 64)?,
        window: ranged(&v, "window", d.window, 1, 1 << 20)?,
        max_msgs: ranged(&v, "max-msgs", d.max_msgs, 0, 100_000_000)?,
        min_delay: v.duration("min-delay").unwrap_or(d.min_delay),
        max_delay: v.duration("max-delay").unwrap_or(d.max_delay),
        seed: seed(&v),
        work_dir: v.get("work-dir").map(PathBuf::from),
        keep: v.flag("keep"),
        no_kill: v.flag("no-kill"),
        verbose: v.flag("v"),
    };
    if o.min_delay > o.max_delay {
        return Err(OptsError::Invalid(format!(
            "--min-delay {:?} is above --max-delay {:?}",
            o.min_delay, o.max_delay
        )));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_opts::args;

    #[test]
    fn defaults() {
        let o = parse(args(&["--seed", "1"])).unwrap();
        assert_eq!(o.store, Store::File);
        assert_eq!(
            (o.kills, o.publishers, o.channels, o.window),
            (20, 3, 2, 256)
        );
        assert_eq!(o.max_time, Duration::from_secs(240));
        assert_eq!(o.seed, 1);
        assert!(!o.no_kill && !o.keep && o.server.is_none());
    }

    #[test]
    fn flags_are_read() {
        let o = parse(args(&[
            "--server=/x/stan-server",
            "--store",
            "MEMORY",
            "--max-seconds",
            "30",
            "--min-delay",
            "10ms",
            "--max-delay=20ms",
            "--no-kill",
            "--work-dir",
            "/tmp/w",
        ]))
        .unwrap();
        assert_eq!(o.server, Some(PathBuf::from("/x/stan-server")));
        assert_eq!(o.store, Store::Memory);
        assert_eq!(o.max_time, Duration::from_secs(30));
        assert_eq!(
            (o.min_delay, o.max_delay),
            (Duration::from_millis(10), Duration::from_millis(20))
        );
        assert!(o.no_kill);
        assert_eq!(o.work_dir, Some(PathBuf::from("/tmp/w")));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--store", "SQL"][..],
            &["--kills", "-1"],
            &["--publishers", "0"],
            &["--max-seconds", "0"],
            &["--min-delay", "2s", "--max-delay", "1s"],
            &["--kills", "x"],
            &["extra"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
