//! `stan-load`'s command line (Go-style flags, as the other tools).
//!
//! ```
//! use stan_cli::load::opts::parse;
//! use stan_cli::tool_opts::args;
//!
//! let o = parse(args(&["--clients", "300", "--compare", "--hbi", "1s"])).unwrap();
//! assert_eq!((o.clients, o.compare), (300, true));
//! assert_eq!(o.hbi.as_deref(), Some("1s"));
//! ```

use std::path::PathBuf;
use std::time::Duration;

use crate::flags::{self, FlagError, Kind, Spec, Values};

/// Most clients one run may open (the server and this tool each hold one
/// descriptor per client; the usual limit here is 20000 per process).
pub const MAX_CLIENTS: u32 = 19_000;
/// `--clients` of the stop-reading mode when not given.
pub const STOP_READING_CLIENTS: u32 = 1000;

/// Every flag `stan-load` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["server"],
        kind: Kind::Str,
        value: "path",
        help:
            "The stan-server program to start on 127.0.0.1 (default: stan-server next to stan-load)",
    },
    Spec {
        names: &["attach"],
        kind: Kind::Str,
        value: "url",
        help: "Use a running server instead (nats://127.0.0.1:PORT, loopback only; needs --pid)",
    },
    Spec {
        names: &["pid"],
        kind: Kind::Int,
        value: "pid",
        help: "The attached server's process ID (RSS, CPU and FDs are read from /proc)",
    },
    Spec {
        names: &["monitor"],
        kind: Kind::Int,
        value: "port",
        help: "The attached server's monitoring port (-m), for its client counts (optional)",
    },
    Spec {
        names: &["runtime"],
        kind: Kind::Str,
        value: "name",
        help: "The started server's --runtime: tokio (default), smol or mio",
    },
    Spec {
        names: &["clients"],
        kind: Kind::Int,
        value: "n",
        help: "STAN clients to hold, each with one subscription (default 10000, at most 19000)",
    },
    Spec {
        names: &["compare"],
        kind: Kind::Bool,
        value: "",
        help: "Run with 10 clients first, then with --clients, and print both with their ratios",
    },
    Spec {
        names: &["channels"],
        kind: Kind::Int,
        value: "n",
        help: "Channels the clients subscribe to; client i takes channel i mod n (default 16; at most 1000 subscriptions per channel, the server's default -msu)",
    },
    Spec {
        names: &["concurrency"],
        kind: Kind::Int,
        value: "n",
        help: "Connects (and closes) in progress at once (default 32; the listen backlog is 128)",
    },
    Spec {
        names: &["idle"],
        kind: Kind::Duration,
        value: "duration",
        help: "Window of the idle CPU measurement with every client connected (default 20s)",
    },
    Spec {
        names: &["msgs"],
        kind: Kind::Int,
        value: "n",
        help: "Messages of the throughput phase, at most (default 100000)",
    },
    Spec {
        names: &["duration"],
        kind: Kind::Duration,
        value: "duration",
        help: "Time bound of the throughput phase: no publish starts after it (default 10s)",
    },
    Spec {
        names: &["size"],
        kind: Kind::Int,
        value: "bytes",
        help: "Payload size (default 128)",
    },
    Spec {
        names: &["window"],
        kind: Kind::Int,
        value: "n",
        help: "PubAcks in flight of the asynchronous publisher (default 1000)",
    },
    Spec {
        names: &["sync"],
        kind: Kind::Bool,
        value: "",
        help: "Publish synchronously (each publish waits for its PubAck) instead",
    },
    Spec {
        names: &["fanout"],
        kind: Kind::Int,
        value: "n",
        help:
            "Messages published on each client channel, which every subscriber must get (default 2)",
    },
    Spec {
        names: &["hbi"],
        kind: Kind::Str,
        value: "duration",
        help: "Passed to the started server as -hbi (default: the server's, 30s)",
    },
    Spec {
        names: &["hbt"],
        kind: Kind::Str,
        value: "duration",
        help: "Passed to the started server as -hbt (default: the server's, 10s)",
    },
    Spec {
        names: &["hbf"],
        kind: Kind::Int,
        value: "n",
        help: "Passed to the started server as -hbf (default: the server's, 10)",
    },
    Spec {
        names: &["stop-reading"],
        kind: Kind::Int,
        value: "k",
        help: "Stop-reading mode instead of the load run: every client subscribes (manual acks), a publisher publishes at --rate for two --phase windows, and in the second K clients stop taking messages; reports the other clients' throughput and latency in both phases and the server's RSS (--clients is 1000 in this mode unless given; e.g. K = 100)",
    },
    Spec {
        names: &["rate"],
        kind: Kind::Int,
        value: "msgs/s",
        help: "Stop-reading mode: messages published per second in all, round-robin over the client channels (default 200)",
    },
    Spec {
        names: &["phase"],
        kind: Kind::Duration,
        value: "duration",
        help: "Stop-reading mode: length of each of the two phases (default 10s)",
    },
    Spec {
        names: &["ack-wait"],
        kind: Kind::Duration,
        value: "duration",
        help: "Stop-reading mode: the subscriptions' ack wait, whole seconds (default 5s)",
    },
    Spec {
        names: &["max-in-flight"],
        kind: Kind::Int,
        value: "n",
        help: "Stop-reading mode: the subscriptions' max in flight (default 64)",
    },
    Spec {
        names: &["max-seconds"],
        kind: Kind::Int,
        value: "s",
        help: "Hard bound of the whole run; the server is killed past it (default 900)",
    },
    Spec {
        names: &["json"],
        kind: Kind::Bool,
        value: "",
        help: "Print the report as JSON",
    },
    Spec {
        names: &["v", "verbose"],
        kind: Kind::Bool,
        value: "",
        help: "Print progress on stderr",
    },
];

/// A run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// `--server` (`None`: next to this program).
    pub server: Option<PathBuf>,
    /// `--attach`.
    pub attach: Option<String>,
    /// `--pid`.
    pub pid: Option<u32>,
    /// `--monitor`.
    pub monitor: Option<u16>,
    /// `--runtime`.
    pub runtime: Option<String>,
    /// `--clients`.
    pub clients: u32,
    /// `--compare`.
    pub compare: bool,
    /// `--channels`.
    pub channels: u32,
    /// `--concurrency`.
    pub concurrency: u32,
    /// `--idle`.
    pub idle: Duration,
    /// `--msgs`.
    pub msgs: u64,
    /// `--duration`.
    pub duration: Duration,
    /// `--size`.
    pub size: usize,
    /// `--window`.
    pub window: usize,
    /// `--sync`.
    pub sync: bool,
    /// `--fanout`.
    pub fanout: u32,
    /// `--hbi`.
    pub hbi: Option<String>,
    /// `--hbt`.
    pub hbt: Option<String>,
    /// `--hbf`.
    pub hbf: Option<u32>,
    /// `--stop-reading` (the stop-reading mode when set).
    pub stop_reading: Option<u32>,
    /// `--rate`, messages per second in all (stop-reading mode).
    pub rate: u32,
    /// `--phase` (stop-reading mode).
    pub phase: Duration,
    /// `--ack-wait` (stop-reading mode).
    pub ack_wait: Duration,
    /// `--max-in-flight` (stop-reading mode).
    pub max_in_flight: u32,
    /// `--max-seconds`.
    pub max_time: Duration,
    /// `--json`.
    pub json: bool,
    /// `-v`.
    pub verbose: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            server: None,
            attach: None,
            pid: None,
            monitor: None,
            runtime: None,
            clients: 10_000,
            compare: false,
            channels: 16,
            concurrency: 32,
            idle: Duration::from_secs(20),
            msgs: 100_000,
            duration: Duration::from_secs(10),
            size: 128,
            window: 1000,
            sync: false,
            fanout: 2,
            hbi: None,
            hbt: None,
            hbf: None,
            stop_reading: None,
            rate: 200,
            phase: Duration::from_secs(10),
            ack_wait: Duration::from_secs(5),
            max_in_flight: 64,
            max_time: Duration::from_secs(900),
            json: false,
            verbose: false,
        }
    }
}

/// Why the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptsError {
    /// A flag-level error (`-h` included).
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A value that parses but is out of range or contradictory.
    #[error("{0}")]
    Invalid(String),
}

/// The usage text.
pub fn usage() -> String {
    flags::usage("stan-load", SPECS)
}

/// Parses `stan-load`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<LoadOptions, OptsError> {
    let v = flags::parse(SPECS, args)?;
    let d = LoadOptions::default();
    let bounded = |name: &str, default: Duration, max: Duration| -> Result<Duration, OptsError> {
        let t = v.duration(name).unwrap_or(default);
        if t.is_zero() || t > max {
            return Err(OptsError::Invalid(format!(
                "--{name} {t:?}: expected above 0 and at most {max:?}"
            )));
        }
        Ok(t)
    };
    let mut o = LoadOptions {
        server: v.get("server").map(PathBuf::from),
        attach: v.get("attach").map(str::to_owned),
        pid: v
            .get("pid")
            .map(|_| ranged(&v, "pid", 0, 1, i64::from(i32::MAX)))
            .transpose()?,
        monitor: v
            .get("monitor")
            .map(|_| ranged(&v, "monitor", 0, 1, 65535))
            .transpose()?,
        runtime: v.get("runtime").map(str::to_ascii_lowercase),
        clients: ranged(&v, "clients", d.clients, 1, i64::from(MAX_CLIENTS))?,
        compare: v.flag("compare"),
        channels: ranged(&v, "channels", d.channels, 1, 1000)?,
        concurrency: ranged(&v, "concurrency", d.concurrency, 1, 100)?,
        idle: bounded("idle", d.idle, Duration::from_secs(600))?,
        msgs: ranged(&v, "msgs", d.msgs, 0, 10_000_000)?,
        duration: bounded("duration", d.duration, Duration::from_secs(600))?,
        size: ranged(&v, "size", d.size, 0, 1 << 20)?,
        window: ranged(&v, "window", d.window, 1, 16384)?,
        sync: v.flag("sync"),
        fanout: ranged(&v, "fanout", d.fanout, 0, 100)?,
        hbi: v.get("hbi").map(str::to_owned),
        hbt: v.get("hbt").map(str::to_owned),
        hbf: v
            .get("hbf")
            .map(|_| ranged(&v, "hbf", 0, 1, 1000))
            .transpose()?,
        stop_reading: v
            .get("stop-reading")
            .map(|_| ranged(&v, "stop-reading", 0, 1, i64::from(MAX_CLIENTS)))
            .transpose()?,
        rate: ranged(&v, "rate", d.rate, 1, 100_000)?,
        phase: bounded("phase", d.phase, Duration::from_secs(600))?,
        ack_wait: bounded("ack-wait", d.ack_wait, Duration::from_secs(3600))?,
        max_in_flight: ranged(&v, "max-in-flight", d.max_in_flight, 1, 65_536)?,
        max_time: Duration::from_secs(ranged(&v, "max-seconds", 900, 10, 7200)?),
        json: v.flag("json"),
        verbose: v.flag("v"),
    };
    if let Some(k) = o.stop_reading {
        if v.get("clients").is_none() {
            o.clients = STOP_READING_CLIENTS;
        }
        if k >= o.clients {
            return Err(OptsError::Invalid(format!(
                "--stop-reading {k}: must be below --clients ({}), some clients must keep reading",
                o.clients
            )));
        }
        if o.compare {
            return Err(OptsError::Invalid(
                "--stop-reading and --compare do not go together".into(),
            ));
        }
        if o.ack_wait < Duration::from_secs(1) {
            return Err(OptsError::Invalid(
                "--ack-wait: at least 1s (it is sent in whole seconds)".into(),
            ));
        }
    }
    if let Some(rt) = &o.runtime {
        if !["tokio", "smol", "mio"].contains(&rt.as_str()) {
            return Err(OptsError::Invalid(format!(
                "--runtime {rt}: expected tokio, smol or mio"
            )));
        }
    }
    for (name, value) in [("hbi", &o.hbi), ("hbt", &o.hbt)] {
        if let Some(t) = value {
            flags::parse_duration(t)
                .map_err(|e| OptsError::Invalid(format!("--{name} {t}: {e}")))?;
        }
    }
    if let Some(url) = &o.attach {
        if o.pid.is_none() {
            return Err(OptsError::Invalid(
                "--attach needs --pid (the server's process, for /proc)".into(),
            ));
        }
        if !is_loopback_url(url) {
            return Err(OptsError::Invalid(format!(
                "--attach {url}: only nats://127.0.0.1:PORT (loopback) is allowed"
            )));
        }
        if o.server.is_some() || o.runtime.is_some() || o.hbi.is_some() || o.hbt.is_some() {
            return Err(OptsError::Invalid(
                "--attach uses a running server: --server, --runtime, --hbi and --hbt do not apply"
                    .into(),
            ));
        }
    }
    Ok(o)
}

/// `nats://127.0.0.1:PORT` (or `localhost`), nothing else.
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("nats://") else {
        return false;
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return false;
    };
    matches!(host, "127.0.0.1" | "localhost") && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// An integer flag in `lo..=hi`, converted to `T`.
fn ranged<T: TryFrom<i64>>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_opts::args;

    #[test]
    fn defaults() {
        let o = parse(args(&[])).unwrap();
        assert_eq!(o, LoadOptions::default());
        assert_eq!((o.clients, o.idle), (10_000, Duration::from_secs(20)));
    }

    #[test]
    fn flags_are_read() {
        let o = parse(args(&[
            "--clients=300",
            "--idle",
            "3s",
            "--duration",
            "2s",
            "--msgs",
            "5000",
            "--sync",
            "--hbi",
            "1s",
            "--hbt",
            "5s",
            "--hbf",
            "3",
            "--runtime",
            "MIO",
            "--json",
        ]))
        .unwrap();
        assert_eq!((o.clients, o.msgs, o.hbf), (300, 5000, Some(3)));
        assert_eq!(o.idle, Duration::from_secs(3));
        assert!(o.sync && o.json && !o.compare);
        assert_eq!(o.runtime.as_deref(), Some("mio"));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--clients", "0"][..],
            &["--clients", "20000"],
            &["--idle", "0"],
            &["--runtime", "async-std"],
            &["--hbi", "soon"],
            &["--attach", "nats://127.0.0.1:4222"],
            &["--attach", "nats://10.0.0.1:4222", "--pid", "7"],
            &[
                "--attach",
                "nats://127.0.0.1:4222",
                "--pid",
                "7",
                "--hbi",
                "1s",
            ],
            &["--concurrency", "x"],
            &["extra"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse(args(&["--attach", "nats://127.0.0.1:4222", "--pid", "7"])).is_ok());
    }

    #[test]
    fn stop_reading_mode() {
        let o = parse(args(&["--stop-reading", "100"])).unwrap();
        assert_eq!((o.clients, o.stop_reading), (1000, Some(100)));
        assert_eq!((o.rate, o.max_in_flight), (200, 64));
        assert_eq!(o.phase, Duration::from_secs(10));
        let o = parse(args(&[
            "--stop-reading",
            "6",
            "--clients",
            "60",
            "--phase",
            "3s",
            "--ack-wait",
            "1s",
        ]))
        .unwrap();
        assert_eq!((o.clients, o.stop_reading), (60, Some(6)));
        assert_eq!(o.ack_wait, Duration::from_secs(1));
        for bad in [
            &["--stop-reading", "60", "--clients", "60"][..],
            &["--stop-reading", "0"],
            &["--stop-reading", "5", "--compare"],
            &["--stop-reading", "5", "--ack-wait", "500ms"],
            &["--rate", "0"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
