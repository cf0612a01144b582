//! `stan-server`'s flags (a subset of `nats-streaming-server`'s, docs/protocol.md
//! C.6: only what is implemented is accepted) and their translation into
//! settings.

use std::time::Duration;

use stan_core::nats::router::{Auth, RouterConfig};
use stan_core::stan::server::{ServerConfig, StoreLimits};
use stan_core::stan::store::ChannelLimits;

use crate::flags::{self, FlagError, Kind, Spec, Values};
use crate::log::Level;

/// Every flag `stan-server` accepts.
pub const SPECS: &[Spec] = &[
    Spec {
        names: &["a", "addr", "net"],
        kind: Kind::Str,
        value: "host",
        help: "Bind to host address (default: 0.0.0.0)",
    },
    Spec {
        names: &["p", "port"],
        kind: Kind::Int,
        value: "int",
        help: "Use port for clients (default: 4222)",
    },
    Spec {
        names: &["user"],
        kind: Kind::Str,
        value: "string",
        help: "User required for connections",
    },
    Spec {
        names: &["pass"],
        kind: Kind::Str,
        value: "string",
        help: "Password required for connections (may be a bcrypt hash)",
    },
    Spec {
        names: &["auth"],
        kind: Kind::Str,
        value: "string",
        help: "Authorization token required for connections (may be a bcrypt hash)",
    },
    Spec {
        names: &["cid", "cluster_id"],
        kind: Kind::Str,
        value: "string",
        help: "Cluster ID (default: test-cluster)",
    },
    Spec {
        names: &["st", "store"],
        kind: Kind::Str,
        value: "string",
        help: "Store type: MEMORY (FILE and SQL are not available in this build)",
    },
    Spec {
        names: &["dir"],
        kind: Kind::Str,
        value: "string",
        help: "For FILE store type, this is the root directory",
    },
    Spec {
        names: &["ns", "nats_server"],
        kind: Kind::Str,
        value: "string",
        help: "Connect to this external NATS Server URL (embedded otherwise)",
    },
    Spec {
        names: &["mc", "max_channels"],
        kind: Kind::Int,
        value: "int",
        help: "Max number of channels (0 for unlimited) (default: 100)",
    },
    Spec {
        names: &["msu", "max_subs"],
        kind: Kind::Int,
        value: "int",
        help: "Max number of subscriptions per channel (0 for unlimited) (default: 1000)",
    },
    Spec {
        names: &["mm", "max_msgs"],
        kind: Kind::Int,
        value: "int",
        help: "Max number of messages per channel (0 for unlimited) (default: 1000000)",
    },
    Spec {
        names: &["mb", "max_bytes"],
        kind: Kind::Str,
        value: "size",
        help: "Max messages total size per channel (0 for unlimited) (default: 1024000000)",
    },
    Spec {
        names: &["ma", "max_age"],
        kind: Kind::Duration,
        value: "duration",
        help: "Max duration a message can be stored (\"0s\" for unlimited)",
    },
    Spec {
        names: &["mi", "max_inactivity"],
        kind: Kind::Duration,
        value: "duration",
        help: "Max inactivity (no new message, no subscription) after which a channel can be garbage collected (0 for unlimited)",
    },
    Spec {
        names: &["hbi", "hb_interval"],
        kind: Kind::Duration,
        value: "duration",
        help: "Interval at which server sends heartbeat to a client (default: 30s)",
    },
    Spec {
        names: &["hbt", "hb_timeout"],
        kind: Kind::Duration,
        value: "duration",
        help: "How long server waits for a heartbeat response (default: 10s)",
    },
    Spec {
        names: &["hbf", "hb_fail_count"],
        kind: Kind::Int,
        value: "int",
        help: "Number of failed heartbeats before server closes the client connection (default: 10)",
    },
    Spec {
        names: &["io_batch_size"],
        kind: Kind::Int,
        value: "int",
        help: "Max number of messages stored per flush (default: 1024)",
    },
    Spec {
        names: &["replace_durable"],
        kind: Kind::Bool,
        value: "",
        help: "Replace the existing durable subscription instead of reporting a duplicate durable error",
    },
    Spec {
        names: &["runtime"],
        kind: Kind::Str,
        value: "name",
        help: "Runtime adapter: tokio (default), smol or mio",
    },
    Spec {
        names: &["SD", "stan_debug"],
        kind: Kind::Bool,
        value: "",
        help: "Enable STAN debugging output",
    },
    Spec {
        names: &["SV", "stan_trace"],
        kind: Kind::Bool,
        value: "",
        help: "Trace the raw STAN protocol",
    },
    Spec {
        names: &["SDV"],
        kind: Kind::Bool,
        value: "",
        help: "Debug and trace STAN",
    },
    Spec {
        names: &["D", "debug"],
        kind: Kind::Bool,
        value: "",
        help: "Enable debugging output",
    },
    Spec {
        names: &["V", "trace"],
        kind: Kind::Bool,
        value: "",
        help: "Trace the raw protocol",
    },
    Spec {
        names: &["DV"],
        kind: Kind::Bool,
        value: "",
        help: "Debug and trace",
    },
    Spec {
        names: &["v", "version"],
        kind: Kind::Bool,
        value: "",
        help: "Print version information",
    },
];

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    /// Serve with these settings.
    Serve(Box<ServerOptions>),
    /// Print the version.
    Version,
}

/// Settings of a server run.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Router settings.
    pub router: RouterConfig,
    /// Most verbose log level.
    pub log_level: Level,
    /// Streaming engine settings.
    pub engine: ServerConfig,
    /// External NATS server URL (`-ns`); the embedded one otherwise.
    pub nats_server: Option<String>,
    /// The runtime adapter that serves.
    pub runtime: RuntimeKind,
}

/// A runtime adapter (`--runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `stan-tokio` (default).
    Tokio,
    /// `stan-smol`.
    Smol,
    /// `stan-mio`: one event-loop thread.
    Mio,
}

impl std::str::FromStr for RuntimeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tokio" => Ok(RuntimeKind::Tokio),
            "smol" => Ok(RuntimeKind::Smol),
            "mio" => Ok(RuntimeKind::Mio),
            _ => Err(format!(
                "unknown runtime {s:?} (expected tokio, smol or mio)"
            )),
        }
    }
}

/// Why the command line was refused.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A flag-level error.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// Flags that parse but do not make sense together or in range.
    #[error("{0}")]
    Invalid(String),
}

/// Parses `stan-server`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, OptionsError> {
    let v = flags::parse(SPECS, args)?;
    if v.flag("v") {
        return Ok(Command::Version);
    }
    Ok(Command::Serve(Box::new(from_values(&v)?)))
}

fn from_values(v: &Values) -> Result<ServerOptions, OptionsError> {
    let host = v.get("a").unwrap_or("0.0.0.0").to_string();
    let port = match v.int("p") {
        None => 4222,
        Some(p) => {
            u16::try_from(p).map_err(|_| bad_value(v, "p", "out of range 0..65535".into()))?
        }
    };
    let auth = match (v.get("user"), v.get("pass"), v.get("auth")) {
        (None, None, None) => Auth::None,
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(OptionsError::Invalid(
                "--auth cannot be combined with --user/--pass".into(),
            ))
        }
        (None, None, Some(token)) => Auth::Token(token.to_string()),
        (Some(user), Some(pass), None) => Auth::UserPass {
            user: user.to_string(),
            pass: pass.to_string(),
        },
        (Some(_), None, None) => {
            return Err(OptionsError::Invalid("--user requires --pass".into()))
        }
        (None, Some(_), None) => {
            return Err(OptionsError::Invalid("--pass requires --user".into()))
        }
    };
    let log_level = if v.flag("DV") || v.flag("V") || v.flag("SDV") || v.flag("SV") {
        Level::Trace
    } else if v.flag("D") || v.flag("SD") {
        Level::Debug
    } else {
        Level::Info
    };
    let router = RouterConfig {
        host: host.clone(),
        port,
        auth,
        seed: seed(),
        debug: v.flag("D") || v.flag("DV"),
        trace: v.flag("V") || v.flag("DV"),
        ..RouterConfig::default()
    };
    Ok(ServerOptions {
        host,
        port,
        router,
        log_level,
        engine: engine_config(v)?,
        nats_server: v.get("ns").map(str::to_owned),
        runtime: v
            .get("runtime")
            .unwrap_or("tokio")
            .parse()
            .map_err(OptionsError::Invalid)?,
    })
}

fn invalid(msg: String) -> OptionsError {
    OptionsError::Invalid(msg)
}

/// The value of flag `-name` refused for `why`: `invalid value "..." for
/// flag -name: why`, as for a value that does not parse.
fn bad_value(v: &Values, name: &str, why: String) -> OptionsError {
    OptionsError::Flag(FlagError::BadValue {
        flag: format!("-{name}"),
        value: v.get(name).unwrap_or_default().to_owned(),
        why,
    })
}

/// A non-negative integer flag that fits `T` (`max` is `T`'s largest
/// value, for the error).
fn count<T: TryFrom<u64>>(
    v: &Values,
    name: &str,
    default: T,
    max: impl std::fmt::Display,
) -> Result<T, OptionsError> {
    let Some(n) = v.int(name) else {
        return Ok(default);
    };
    let n = u64::try_from(n).map_err(|_| bad_value(v, name, "cannot be negative".into()))?;
    T::try_from(n).map_err(|_| bad_value(v, name, format!("too large (at most {max})")))
}

fn engine_config(v: &Values) -> Result<ServerConfig, OptionsError> {
    let defaults = ServerConfig::default();
    let store = v.get("st").unwrap_or("MEMORY");
    match store.to_ascii_uppercase().as_str() {
        "MEMORY" => {}
        "FILE" | "SQL" => {
            return Err(invalid(format!(
                "store type {store:?} is not available in this build (only MEMORY)"
            )))
        }
        _ => return Err(invalid(format!("unsupported store type: {store:?}"))),
    }
    let cluster_id = v.get("cid").unwrap_or("test-cluster").to_string();
    let usable =
        stan_core::nats::subject::validate_publish(format!("_STAN.pub.{cluster_id}").as_bytes())
            .is_ok()
            && stan_core::nats::subject::is_literal(cluster_id.as_bytes());
    if !usable {
        return Err(invalid(format!(
            "cluster ID {cluster_id:?} is not usable in a subject"
        )));
    }
    let d = ChannelLimits::default();
    let max_bytes = match v.get("mb") {
        None => d.max_bytes,
        Some(s) => parse_size(s).map_err(|why| bad_value(v, "mb", why))?,
    };
    let channel = ChannelLimits {
        max_msgs: count(v, "mm", d.max_msgs, u64::MAX)?,
        max_bytes,
        max_age: v.duration("ma").unwrap_or(d.max_age),
        max_subs: count(v, "msu", d.max_subs, usize::MAX)?,
        max_inactivity: v.duration("mi").unwrap_or(d.max_inactivity),
    };
    let positive = |name: &str, default: Duration| -> Result<Duration, OptionsError> {
        match v.duration(name) {
            None => Ok(default),
            Some(d) if d.is_zero() => Err(bad_value(v, name, "must be positive".into())),
            Some(d) => Ok(d),
        }
    };
    Ok(ServerConfig {
        cluster_id,
        hb_interval: positive("hbi", defaults.hb_interval)?,
        hb_timeout: positive("hbt", defaults.hb_timeout)?,
        hb_fail_count: count(v, "hbf", defaults.hb_fail_count, u32::MAX)?,
        limits: StoreLimits {
            max_channels: count(v, "mc", 100, usize::MAX)?,
            channel,
            per_channel: Vec::new(),
        },
        io_batch_size: count(v, "io_batch_size", 1024, usize::MAX)?.max(1),
        seed: seed(),
        trace: v.flag("SV") || v.flag("SDV"),
        replace_durable: v.flag("replace_durable"),
        ..defaults
    })
}

/// Parses a size: a plain integer, or with a suffix `k`, `m`, `g`, `t`, `p`,
/// `e` (powers of 1000) or `kb`/`ki`/`kib`, `mb`/... (powers of 1024),
/// case-insensitive (docs/protocol.md C.3).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let (base, power): (u64, u32) = match suffix {
        "" => (1, 0),
        "k" => (1000, 1),
        "m" => (1000, 2),
        "g" => (1000, 3),
        "t" => (1000, 4),
        "p" => (1000, 5),
        "e" => (1000, 6),
        "kb" | "ki" | "kib" => (1024, 1),
        "mb" | "mi" | "mib" => (1024, 2),
        "gb" | "gi" | "gib" => (1024, 3),
        "tb" | "ti" | "tib" => (1024, 4),
        "pb" | "pi" | "pib" => (1024, 5),
        "eb" | "ei" | "eib" => (1024, 6),
        _ => return Err(format!("{s:?}: unknown size suffix {suffix:?}")),
    };
    base.checked_pow(power)
        .and_then(|m| n.checked_mul(m))
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A fresh seed from OS entropy, for each served configuration: the core
/// derives from it the ids it publishes (server id, inboxes) and, apart, the
/// secret hash keys of its maps, so it must not be guessable.
fn seed() -> u64 {
    stan_tokio::entropy_seed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn serve(a: &[&str]) -> ServerOptions {
        match parse(args(a)).unwrap() {
            Command::Serve(o) => *o,
            Command::Version => panic!("version"),
        }
    }

    #[test]
    fn defaults() {
        let o = serve(&[]);
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4222));
        assert_eq!(o.router.auth, Auth::None);
    }

    #[test]
    fn addr_port_and_auth() {
        let o = serve(&[
            "-a",
            "127.0.0.1",
            "--port=5000",
            "--user",
            "u",
            "--pass",
            "p",
        ]);
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 5000));
        assert_eq!(
            o.router.auth,
            Auth::UserPass {
                user: "u".into(),
                pass: "p".into()
            }
        );
        assert_eq!(serve(&["--auth", "t"]).router.auth, Auth::Token("t".into()));
    }

    #[test]
    fn streaming_flags() {
        let o = serve(&[
            "-cid",
            "prod",
            "-mc",
            "5",
            "-msu",
            "7",
            "-mm",
            "9",
            "-mb",
            "2KB",
            "-ma",
            "1m",
            "-mi",
            "1h",
            "-hbi",
            "2s",
            "-hbt",
            "1s",
            "-hbf",
            "3",
            "-ns",
            "nats://h:4222",
            "-SD",
            "-st",
            "memory",
        ]);
        let e = &o.engine;
        assert_eq!(e.cluster_id, "prod");
        assert_eq!(e.limits.max_channels, 5);
        let c = e.limits.channel;
        assert_eq!((c.max_subs, c.max_msgs, c.max_bytes), (7, 9, 2048));
        assert_eq!(
            (c.max_age, c.max_inactivity),
            (Duration::from_secs(60), Duration::from_secs(3600))
        );
        assert_eq!(
            (e.hb_interval, e.hb_timeout, e.hb_fail_count),
            (Duration::from_secs(2), Duration::from_secs(1), 3)
        );
        assert_eq!(o.nats_server.as_deref(), Some("nats://h:4222"));
        assert_eq!(o.log_level, Level::Debug);
        let d = serve(&[]);
        assert_eq!(d.engine.cluster_id, "test-cluster");
        assert_eq!(d.engine.limits.max_channels, 100);
        assert_eq!(d.engine.limits.channel, ChannelLimits::default());
        assert_eq!(d.runtime, RuntimeKind::Tokio);
        assert_eq!(serve(&["--runtime", "mio"]).runtime, RuntimeKind::Mio);
        assert_eq!(serve(&["--runtime=SMOL"]).runtime, RuntimeKind::Smol);
    }

    #[test]
    fn replace_durable_flag() {
        assert!(!serve(&[]).engine.replace_durable, "off by default");
        assert!(serve(&["--replace_durable"]).engine.replace_durable);
        assert!(serve(&["-replace_durable"]).engine.replace_durable);
        assert!(serve(&["--replace_durable=true"]).engine.replace_durable);
        assert!(!serve(&["--replace_durable=false"]).engine.replace_durable);
        assert!(parse(args(&["--replace_durable=maybe"])).is_err());
    }

    #[test]
    fn sizes() {
        for (s, want) in [
            ("0", 0),
            ("10", 10),
            ("1k", 1000),
            ("1KB", 1024),
            ("3mib", 3 << 20),
            ("2G", 2_000_000_000),
            ("1Gi", 1 << 30),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for bad in ["", "k", "1x", "-1", "99999999999e"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_combinations_are_refused() {
        for bad in [
            &["-p", "70000"][..],
            &["--user", "u"],
            &["--pass", "p"],
            &["--auth", "t", "--user", "u", "--pass", "p"],
            &["-st", "FILE"],
            &["-st", "nope"],
            &["-mm", "-1"],
            &["-mb", "12q"],
            &["-hbi", "0s"],
            &["-hbi", "ten"],
            &["-cid", "a b"],
            &["-unknown"],
            &["--runtime", "async-std"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused_naming_flag_and_value() {
        for (bad, flag, value) in [
            (
                &["-hbi", "99999999999999999999h"][..],
                "-hbi",
                "99999999999999999999h",
            ),
            (&["-hbt=2562048h"], "-hbt", "2562048h"),
            (
                &["-ma", "9223372036854775808ns"],
                "-ma",
                "9223372036854775808ns",
            ),
            (&["-mi", "-1s"], "-mi", "-1s"),
            (&["-hbi", "0"], "-hbi", "0"),
            (&["-hbf", "4294967296"], "-hbf", "4294967296"),
            (&["-hbf", "-1"], "-hbf", "-1"),
            (
                &["-mm", "99999999999999999999"],
                "-mm",
                "99999999999999999999",
            ),
            (&["-mm", "-1"], "-mm", "-1"),
            (&["-mc", "-5"], "-mc", "-5"),
            (&["-msu", "-5"], "-msu", "-5"),
            (&["--io_batch_size", "-1"], "-io_batch_size", "-1"),
            (&["-mb", "99999999999e"], "-mb", "99999999999e"),
            (&["-mb", "-1"], "-mb", "-1"),
            (&["-p", "70000"], "-p", "70000"),
            (&["-p", "-1"], "-p", "-1"),
        ] {
            let e = parse(args(bad)).unwrap_err();
            let OptionsError::Flag(FlagError::BadValue {
                flag: f, value: v, ..
            }) = &e
            else {
                panic!("{bad:?}: {e:?}");
            };
            assert_eq!((f.as_str(), v.as_str()), (flag, value), "{bad:?}");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("invalid value {value:?} for flag {flag}: ")),
                "{text}"
            );
        }
    }

    #[test]
    fn the_largest_values_are_accepted() {
        let o = serve(&[
            "-hbi",
            "2562047h47m16.854775807s",
            "-hbt",
            "2562047h",
            "-ma",
            "9223372036854775807ns",
            "-mi",
            "100000h",
            "-hbf",
            "4294967295",
            "-mm",
            "9223372036854775807",
            "-mb",
            "18e",
        ]);
        let e = &o.engine;
        assert_eq!(e.hb_interval, flags::MAX_DURATION);
        assert_eq!(e.hb_timeout, Duration::from_secs(2_562_047 * 3600));
        assert_eq!(e.limits.channel.max_age, flags::MAX_DURATION);
        assert_eq!(e.hb_fail_count, u32::MAX);
        assert_eq!(e.limits.channel.max_msgs, i64::MAX as u64);
        assert_eq!(e.limits.channel.max_bytes, 18_000_000_000_000_000_000);
    }
}
