//! `stan-soak`'s command line (Go-style flags, as the other tools).
//!
//! ```
//! use stan_cli::soak::opts::parse;
//! use stan_cli::tool_opts::args;
//! use std::time::Duration;
//!
//! let o = parse(args(&["--duration", "5m", "--rate", "100", "--seed", "7"])).unwrap();
//! assert_eq!((o.duration, o.rate, o.seed), (Duration::from_secs(300), 100, 7));
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::flags::{self, Kind, Spec};
pub use crate::harness_opts::OptsError;
use crate::harness_opts::{ranged, seed, store, Store};

/// Every flag `stan-soak` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["duration"],
        kind: Kind::Duration,
        value: "duration",
        help: "Whole run, warm-up and final settle included (default 5m; at least 1m, at most 24h)",
    },
    Spec {
        names: &["server"],
        kind: Kind::Str,
        value: "path",
        help: "The stan-server program (default: stan-server next to stan-soak)",
    },
    Spec {
        names: &["store"],
        kind: Kind::Str,
        value: "type",
        help: "Store type given to the server with -st: FILE (default, in the work dir) or MEMORY",
    },
    Spec {
        names: &["channels"],
        kind: Kind::Int,
        value: "n",
        help: "Channels; each has its publishers, durables and queue groups (default 3)",
    },
    Spec {
        names: &["rate"],
        kind: Kind::Int,
        value: "msgs/s",
        help: "Publishes per second over all channels (default 150)",
    },
    Spec {
        names: &["max-msgs"],
        kind: Kind::Int,
        value: "n",
        help: "The server's per-channel message limit (-mm; -mb is n KiB); publishers wait while the slowest reader is half of it behind (default 4000)",
    },
    Spec {
        names: &["warmup"],
        kind: Kind::Duration,
        value: "duration",
        help: "Warm-up phase, after which the baseline is taken (default: a tenth of --duration, 20s..2m)",
    },
    Spec {
        names: &["settle"],
        kind: Kind::Duration,
        value: "duration",
        help: "Quiet time after every client is gone, before the baseline and the final measure (default 20s)",
    },
    Spec {
        names: &["sample"],
        kind: Kind::Duration,
        value: "duration",
        help: "Interval of the RSS/fd samples (default 5s)",
    },
    Spec {
        names: &["rss-tolerance"],
        kind: Kind::Int,
        value: "percent",
        help: "Final RSS may exceed the baseline by this share ... (default 20)",
    },
    Spec {
        names: &["rss-slack"],
        kind: Kind::Int,
        value: "MiB",
        help: "... or by this much, whichever is larger (default 8)",
    },
    Spec {
        names: &["fd-tolerance"],
        kind: Kind::Int,
        value: "n",
        help: "Final open fds other than the store's files may exceed the baseline by this many (default 2); fds on store files must not outnumber the files, and an fd on a deleted file always fails",
    },
    Spec {
        names: &["csv"],
        kind: Kind::Str,
        value: "file",
        help: "Write the curve (time, RSS, fds, clients, msgs published/delivered/redelivered) as CSV",
    },
    Spec {
        names: &["seed"],
        kind: Kind::Int,
        value: "n",
        help: "Seed of the workload's choices, port and payloads (default: random, printed)",
    },
    Spec {
        names: &["work-dir"],
        kind: Kind::Str,
        value: "path",
        help: "Directory for the store and the server log (default: a new one under the temp dir)",
    },
    Spec {
        names: &["keep"],
        kind: Kind::Bool,
        value: "",
        help: "Keep the work directory after a passing run (a failing run always keeps it)",
    },
    Spec {
        names: &["no-gate"],
        kind: Kind::Bool,
        value: "",
        help: "Self-test of the loss check: publishers ignore the limit gate, so with a small --max-msgs the server drops messages consumers have not read and the run must fail",
    },
    Spec {
        names: &["v", "verbose"],
        kind: Kind::Bool,
        value: "",
        help: "Print each phase and each sample",
    },
];

/// A run's settings.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// `--duration`: the whole run.
    pub duration: Duration,
    /// `--server` (`None`: next to this program).
    pub server: Option<PathBuf>,
    /// `--store`.
    pub store: Store,
    /// `--channels`.
    pub channels: u32,
    /// `--rate`: publishes per second over every channel.
    pub rate: u32,
    /// `--max-msgs`: the server's `-mm`.
    pub max_msgs: u64,
    /// `--warmup`.
    pub warmup: Duration,
    /// `--settle`.
    pub settle: Duration,
    /// `--sample`.
    pub sample: Duration,
    /// `--rss-tolerance` (percent).
    pub rss_tolerance_pct: u64,
    /// `--rss-slack` (MiB).
    pub rss_slack_mib: u64,
    /// `--fd-tolerance`.
    pub fd_tolerance: u64,
    /// `--csv`.
    pub csv: Option<PathBuf>,
    /// `--seed`.
    pub seed: u64,
    /// `--work-dir`.
    pub work_dir: Option<PathBuf>,
    /// `--keep`.
    pub keep: bool,
    /// `--no-gate`.
    pub no_gate: bool,
    /// `-v`.
    pub verbose: bool,
}

impl SoakOptions {
    /// The main phase: the run minus the warm-up, the two quiesces (drain
    /// and settle) and the server's start and stop.
    pub fn main_phase(&self) -> Duration {
        self.duration
            .saturating_sub(self.warmup + 2 * (self.settle + DRAIN_ALLOWANCE))
            .max(MIN_MAIN)
    }

    /// The hard bound of a run: past it the server is killed and the run
    /// fails.
    pub fn hard_bound(&self) -> Duration {
        self.duration + HARD_SLACK
    }
}

/// The shortest main phase.
pub const MIN_MAIN: Duration = Duration::from_secs(10);
/// What a drain is expected to take (the time reserved for each).
pub const DRAIN_ALLOWANCE: Duration = Duration::from_secs(10);
/// Slack past `--duration` before the run is abandoned.
pub const HARD_SLACK: Duration = Duration::from_secs(180);

/// The usage text.
pub fn usage() -> String {
    flags::usage("stan-soak", SPECS)
}

/// The default warm-up of a run of `duration`.
fn default_warmup(duration: Duration) -> Duration {
    (duration / 10).clamp(Duration::from_secs(20), Duration::from_secs(120))
}

/// The default settle time of a run of `duration`: 20 s, 10 s under 3
/// minutes (the heartbeats drop a cut client within about 8 s).
fn default_settle(duration: Duration) -> Duration {
    if duration < Duration::from_secs(180) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(20)
    }
}

/// Parses `stan-soak`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<SoakOptions, OptsError> {
    let v = flags::parse(SPECS, args)?;
    let store = store(&v)?;
    let duration = v.duration("duration").unwrap_or(Duration::from_secs(300));
    if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&duration) {
        return Err(OptsError::Invalid(format!(
            "--duration {duration:?}: expected 1m..=24h"
        )));
    }
    let o = SoakOptions {
        duration,
        server: v.get("server").map(PathBuf::from),
        store,
        channels: ranged(&v, "channels", 3, 1, 32)?,
        rate: ranged(&v, "rate", 150, 1, 100_000)?,
        max_msgs: ranged(&v, "max-msgs", 4000, 200, 10_000_000)?,
        warmup: v
            .duration("warmup")
            .unwrap_or_else(|| default_warmup(duration)),
        settle: v
            .duration("settle")
            .unwrap_or_else(|| default_settle(duration)),
        sample: v.duration("sample").unwrap_or(Duration::from_secs(5)),
        rss_tolerance_pct: ranged(&v, "rss-tolerance", 20, 0, 1000)?,
        rss_slack_mib: ranged(&v, "rss-slack", 8, 0, 100_000)?,
        fd_tolerance: ranged(&v, "fd-tolerance", 2, 0, 100_000)?,
        csv: v.get("csv").map(PathBuf::from),
        seed: seed(&v),
        work_dir: v.get("work-dir").map(PathBuf::from),
        keep: v.flag("keep"),
        no_gate: v.flag("no-gate"),
        verbose: v.flag("v"),
    };
    if o.sample < Duration::from_millis(100) || o.sample > Duration::from_secs(600) {
        return Err(OptsError::Invalid(format!(
            "--sample {:?}: expected 100ms..=10m",
            o.sample
        )));
    }
    if o.settle < Duration::from_secs(1) {
        return Err(OptsError::Invalid(format!(
            "--settle {:?}: expected at least 1s",
            o.settle
        )));
    }
    if o.warmup < Duration::from_secs(5) || o.warmup + 2 * o.settle + MIN_MAIN > o.duration {
        return Err(OptsError::Invalid(format!(
            "--warmup {:?}: expected at least 5s, and warm-up plus two settles plus 10s ({:?}) within --duration {:?}",
            o.warmup,
            o.warmup + 2 * o.settle + MIN_MAIN,
            o.duration
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
        assert_eq!(o.duration, Duration::from_secs(300));
        assert_eq!(o.warmup, Duration::from_secs(30));
        assert_eq!((o.channels, o.rate, o.max_msgs), (3, 150, 4000));
        assert_eq!(o.store, Store::File);
        assert_eq!(
            o.main_phase(),
            Duration::from_secs(300 - 30 - 2 * (20 + 10))
        );
        let long = parse(args(&["--duration", "60m"])).unwrap();
        assert_eq!(long.warmup, Duration::from_secs(120));
        let short = parse(args(&["--duration", "1m"])).unwrap();
        assert_eq!(
            (short.warmup, short.settle),
            (Duration::from_secs(20), Duration::from_secs(10))
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--store", "SQL"][..],
            &["--duration", "10s"],
            &["--duration", "25h"],
            &["--channels", "0"],
            &["--rate", "0"],
            &["--sample", "1ms"],
            &["--warmup", "4m31s", "--duration", "5m"],
            &["extra"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
