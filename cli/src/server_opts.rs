//! `stan-server`'s flags (a subset of `nats-streaming-server`'s, fact sheet
//! C.6: only what is implemented is accepted) and their translation into
//! settings.

use std::time::Duration;

use stan_core::nats::router::{Auth, RouterConfig};

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
        Some(p) => u16::try_from(p)
            .map_err(|_| OptionsError::Invalid(format!("port {p} is out of range 0..65535")))?,
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
    let log_level = if v.flag("DV") || v.flag("V") {
        Level::Trace
    } else if v.flag("D") {
        Level::Debug
    } else {
        Level::Info
    };
    let router = RouterConfig {
        host: host.clone(),
        port,
        auth,
        seed: seed(),
        ..RouterConfig::default()
    };
    Ok(ServerOptions {
        host,
        port,
        router,
        log_level,
    })
}

/// A per-process seed for ids (not security-relevant).
fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)
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
    fn invalid_combinations_are_refused() {
        for bad in [
            &["-p", "70000"][..],
            &["--user", "u"],
            &["--pass", "p"],
            &["--auth", "t", "--user", "u", "--pass", "p"],
            &["-cid", "x"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
