//! `stan-server`'s flags (a subset of `nats-streaming-server`'s, docs/protocol.md
//! C.6: only what is implemented is accepted) and their translation into
//! settings.

use std::time::Duration;

use stan_core::nats::router::{Auth, ClusterConfig, RouteUrl, RouterConfig};
use stan_core::stan::filestore::crypto::ENV_KEY;
use stan_core::stan::filestore::{Cipher, Crc32, EncryptionOptions, FileStoreOptions};
use stan_core::stan::server::{ServerConfig, StoreLimits};
use stan_core::stan::store::ChannelLimits;

use crate::config_file::{self, ConfigFiles};
use crate::flags::{self, FlagError, Kind, Spec, Values};
use crate::log::{Destination, LogConfig};
use stan_tls::{ClientTlsOptions, Pem, ServerTlsOptions};

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
        names: &["m", "http_port"],
        kind: Kind::Int,
        value: "int",
        help: "Use port for http monitoring (0: off; -1: a free port)",
    },
    Spec {
        names: &["ms", "https_port"],
        kind: Kind::Int,
        value: "int",
        help: "Use port for https monitoring (needs --tls)",
    },
    Spec {
        names: &["tls"],
        kind: Kind::Bool,
        value: "",
        help: "Enable TLS, do not verify clients (default: false)",
    },
    Spec {
        names: &["tlscert"],
        kind: Kind::Str,
        value: "file",
        help: "Server certificate file",
    },
    Spec {
        names: &["tlskey"],
        kind: Kind::Str,
        value: "file",
        help: "Private key for server certificate",
    },
    Spec {
        names: &["tlsverify"],
        kind: Kind::Bool,
        value: "",
        help: "Enable TLS, verify client certificates",
    },
    Spec {
        names: &["tlscacert"],
        kind: Kind::Str,
        value: "file",
        help: "Client certificate CA for verification",
    },
    Spec {
        names: &["secure"],
        kind: Kind::Bool,
        value: "",
        help: "Use a TLS connection to the NATS server without verification; weaker than specifying certificates",
    },
    Spec {
        names: &["tls_client_key"],
        kind: Kind::Str,
        value: "file",
        help: "Client key for the streaming server",
    },
    Spec {
        names: &["tls_client_cert"],
        kind: Kind::Str,
        value: "file",
        help: "Client certificate for the streaming server",
    },
    Spec {
        names: &["tls_client_cacert"],
        kind: Kind::Str,
        value: "file",
        help: "Client certificate CA for the streaming server",
    },
    Spec {
        names: &["c", "config"],
        kind: Kind::Str,
        value: "file",
        help: "Configuration file (NATS options, with a streaming { } block)",
    },
    Spec {
        names: &["sc", "stan_config"],
        kind: Kind::Str,
        value: "file",
        help: "Streaming server configuration file",
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
        help: "Store type: MEMORY|FILE (SQL is not available in this build)",
    },
    Spec {
        names: &["dir"],
        kind: Kind::Str,
        value: "string",
        help: "For FILE store type, this is the root directory",
    },
    Spec {
        names: &["file_compact_enabled"],
        kind: Kind::Bool,
        value: "",
        help: "Enable file compaction (default: true)",
    },
    Spec {
        names: &["file_compact_frag"],
        kind: Kind::Int,
        value: "int",
        help: "File fragmentation threshold for compaction, in percent (default: 50)",
    },
    Spec {
        names: &["file_compact_interval"],
        kind: Kind::Int,
        value: "int",
        help: "Minimum interval (in seconds) between file compactions (default: 300)",
    },
    Spec {
        names: &["file_compact_min_size"],
        kind: Kind::Str,
        value: "size",
        help: "Minimum file size for compaction (default: 1048576)",
    },
    Spec {
        names: &["file_buffer_size"],
        kind: Kind::Str,
        value: "size",
        help: "File buffer size: accepted; writes are coalesced per group commit instead (default: 2097152)",
    },
    Spec {
        names: &["file_crc"],
        kind: Kind::Bool,
        value: "",
        help: "Check the CRC of records at recovery (default: true)",
    },
    Spec {
        names: &["file_crc_poly"],
        kind: Kind::Int,
        value: "int",
        help: "Polynomial used to make the table used for CRC-32 computation (default: 3988292384)",
    },
    Spec {
        names: &["file_sync"],
        kind: Kind::Bool,
        value: "",
        help: "Sync the files before a PubAck (default: true)",
    },
    Spec {
        names: &["file_slice_max_msgs"],
        kind: Kind::Int,
        value: "int",
        help: "Maximum number of messages per file slice (0: unlimited)",
    },
    Spec {
        names: &["file_slice_max_bytes"],
        kind: Kind::Str,
        value: "size",
        help: "Maximum file slice size, including index file (default: 64MB)",
    },
    Spec {
        names: &["file_slice_max_age"],
        kind: Kind::Duration,
        value: "duration",
        help: "Maximum file slice duration starting when the first message is stored (0: unlimited)",
    },
    Spec {
        names: &["file_slice_archive_script"],
        kind: Kind::Str,
        value: "string",
        help: "Path to script to use if you want to archive a file slice being removed",
    },
    Spec {
        names: &["file_fds_limit"],
        kind: Kind::Int,
        value: "int",
        help: "Store will try to use no more file descriptors than this given limit (0: 256 cached)",
    },
    Spec {
        names: &["file_parallel_recovery"],
        kind: Kind::Int,
        value: "int",
        help: "On startup, number of channels that can be recovered in parallel: accepted; recovery reads channels in turn (default: 1)",
    },
    Spec {
        names: &["file_truncate_bad_eof"],
        kind: Kind::Bool,
        value: "",
        help: "Truncate files for which there is an unexpected EOF on recovery, dataloss may occur",
    },
    Spec {
        names: &["file_read_buffer_size"],
        kind: Kind::Str,
        value: "size",
        help: "Bytes read ahead from a slice when a message is not in memory (default: 2097152)",
    },
    Spec {
        names: &["file_auto_sync"],
        kind: Kind::Duration,
        value: "duration",
        help: "Interval at which the store is synced when --file_sync=false; 0 disables (default: 1m)",
    },
    Spec {
        names: &["encrypt"],
        kind: Kind::Bool,
        value: "",
        help: "Specify if server should use encryption at rest (message payloads, FILE store)",
    },
    Spec {
        names: &["encryption_cipher"],
        kind: Kind::Str,
        value: "string",
        help: "Cipher to use for encryption: AES or CHACHA (default: AES)",
    },
    Spec {
        names: &["encryption_key"],
        kind: Kind::Str,
        value: "string",
        help: "Encryption key. It is recommended to specify it through the NATS_STREAMING_ENCRYPTION_KEY environment variable instead (which takes precedence)",
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
        names: &["cluster"],
        kind: Kind::Str,
        value: "url",
        help: "Cluster URL for solicited routes (nats://host:port; port -1: a free one)",
    },
    Spec {
        names: &["routes"],
        kind: Kind::Str,
        value: "url,url",
        help: "Routes to solicit and connect (nats://host:port, nats-route://host:port)",
    },
    Spec {
        names: &["cluster_name"],
        kind: Kind::Str,
        value: "name",
        help: "Cluster name (default: agreed with the other servers)",
    },
    Spec {
        names: &["no_advertise"],
        kind: Kind::Bool,
        value: "",
        help: "Do not advertise known cluster information to clients",
    },
    Spec {
        names: &["cluster_advertise"],
        kind: Kind::Str,
        value: "host:port",
        help: "Cluster URL to advertise to other servers",
    },
    Spec {
        names: &["connect_retries"],
        kind: Kind::Int,
        value: "int",
        help: "For implicit routes, number of connect retries",
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
        names: &["l", "log"],
        kind: Kind::Str,
        value: "file",
        help: "File to redirect log output",
    },
    Spec {
        names: &["T", "logtime"],
        kind: Kind::Bool,
        value: "",
        help: "Timestamp log entries (default: true)",
    },
    Spec {
        names: &["s", "syslog"],
        kind: Kind::Bool,
        value: "",
        help: "Log to syslog or windows event log",
    },
    Spec {
        names: &["r", "remote_syslog"],
        kind: Kind::Str,
        value: "string",
        help: "Syslog server addr (udp://127.0.0.1:514)",
    },
    Spec {
        names: &["P", "pid"],
        kind: Kind::Str,
        value: "file",
        help: "File to store process pid",
    },
    Spec {
        names: &["sl", "signal"],
        kind: Kind::Str,
        value: "signal",
        help: "Send signal to stan-server process (stop, quit, reopen, reload, ldm, term)[=pid or pid file]",
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
    /// `-sl`: send a signal to a running server (its `-P` pid file, if
    /// given, names it).
    Signal {
        /// `stop|quit|reopen|reload|ldm|term[=PID or pid file]`.
        signal: String,
        /// `-P`.
        pid_file: Option<std::path::PathBuf>,
    },
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
    /// Where and what to log (`-l`, `-T`, `-s`, `-r`, `-D`/`-V`/...).
    pub log: LogConfig,
    /// `-P`: the file the pid is written to.
    pub pid_file: Option<std::path::PathBuf>,
    /// The monitoring host (the configuration's `http_host`; `host`
    /// otherwise, as nats-server).
    pub http_host: Option<String>,
    /// The configuration files read (`-c`, `-sc`), read again on `SIGHUP`.
    pub config_files: ConfigFiles,
    /// What the configuration files had that is accepted but has no effect.
    pub config_warnings: Vec<String>,
    /// Streaming engine settings.
    pub engine: ServerConfig,
    /// External NATS server URL (`-ns`); the embedded one otherwise.
    pub nats_server: Option<String>,
    /// The store: memory, or a file store directory.
    pub store: StoreChoice,
    /// The runtime adapter that serves.
    pub runtime: RuntimeKind,
    /// Monitoring HTTP port (`-m`): `None` when off, `Some(0)` for a free
    /// port chosen by the system.
    pub http_port: Option<u16>,
    /// Monitoring HTTPS port (`-ms`), with the server's TLS settings.
    pub https_port: Option<u16>,
    /// The embedded NATS server's TLS (`--tls`, `--tlscert`, ...; the
    /// configuration's `tls { }`).
    pub tls: Option<ServerTlsOptions>,
    /// TLS to the external NATS server (`-secure`, `-tls_client_*`).
    pub nats_tls: Option<ClientTlsOptions>,
    /// TLS on routes (the configuration's `cluster { tls { } }`; no flag,
    /// as in nats-server).
    pub route_tls: Option<RouteTlsOptions>,
}

/// TLS on routes: the `cluster { tls { } }` block. Its certificate and key
/// serve accepted routes and are the client certificate of solicited
/// ones; its CA verifies the peer both ways.
#[derive(Debug, Clone)]
pub struct RouteTlsOptions {
    /// The certificate, key, CA, `verify` and handshake `timeout`.
    pub tls: ServerTlsOptions,
    /// `insecure`: a solicited route accepts any certificate.
    pub insecure: bool,
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
    /// A configuration file that does not parse or does not make sense
    /// (the text names the file, line and column where it can).
    #[error("configuration: {0}")]
    Config(String),
}

/// Parses `stan-server`'s arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, OptionsError> {
    let mut v = flags::parse(SPECS, args)?;
    if v.flag("v") {
        return Ok(Command::Version);
    }
    if let Some(signal) = v.get("sl") {
        return Ok(Command::Signal {
            signal: signal.to_owned(),
            pid_file: v.get("P").map(std::path::PathBuf::from),
        });
    }
    let files = ConfigFiles {
        nats: v.get("c").map(std::path::PathBuf::from),
        streaming: v.get("sc").map(std::path::PathBuf::from),
    };
    let settings = config_file::load(&files)?;
    if let Some(settings) = &settings {
        config_file::fill_flags(&mut v, settings)?;
    }
    let mut opts = from_values(&v)?;
    let mut timeouts_set = (false, false);
    if let Some(settings) = settings {
        config_file::apply_rest(&mut opts, &settings)?;
        timeouts_set = config_file::auth_timeouts_set(&settings);
        opts.config_warnings = settings.warnings.iter().map(|w| w.to_string()).collect();
    }
    default_auth_timeouts_with_tls(&mut opts, timeouts_set);
    opts.config_files = files;
    Ok(Command::Serve(Box::new(opts)))
}

/// nats-server's default authorization timeout with TLS: the TLS timeout
/// plus one second (the handshake counts against it), for the clients and
/// for the routes, unless the configuration file sets it (`set`: clients,
/// routes).
fn default_auth_timeouts_with_tls(opts: &mut ServerOptions, set: (bool, bool)) {
    const MARGIN: Duration = Duration::from_secs(1);
    if let (false, Some(tls)) = (set.0, &opts.tls) {
        opts.router.auth_timeout = tls.handshake_timeout.saturating_add(MARGIN);
    }
    if let (false, Some(route_tls), Some(cluster)) =
        (set.1, &opts.route_tls, opts.router.cluster.as_mut())
    {
        cluster.auth_timeout = route_tls.tls.handshake_timeout.saturating_add(MARGIN);
    }
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
    let log = LogConfig {
        destination: Destination::from_flags(
            v.get("l").map(std::path::Path::new),
            v.get("r"),
            v.flag("s"),
        ),
        logtime: v.get("T").is_none_or(|t| t == "true"),
        debug: ["D", "DV", "SD", "SDV"].iter().any(|f| v.flag(f)),
        trace: ["V", "DV", "SV", "SDV"].iter().any(|f| v.flag(f)),
        ..LogConfig::default()
    };
    let router = RouterConfig {
        host: host.clone(),
        port,
        auth,
        seed: seed(),
        debug: v.flag("D") || v.flag("DV"),
        trace: v.flag("V") || v.flag("DV"),
        cluster: cluster_config(v)?,
        ..RouterConfig::default()
    };
    let http_port = match v.int("m") {
        None | Some(0) => None,
        Some(-1) => Some(0),
        Some(p) => Some(u16::try_from(p).map_err(|_| {
            bad_value(
                v,
                "m",
                "out of range 0..65535 (or -1 for a free port)".into(),
            )
        })?),
    };
    let tls = server_tls(v)?;
    let https_port = match v.int("ms") {
        None | Some(0) => None,
        Some(-1) => Some(0),
        Some(p) => Some(u16::try_from(p).map_err(|_| {
            bad_value(
                v,
                "ms",
                "out of range 0..65535 (or -1 for a free port)".into(),
            )
        })?),
    };
    if https_port.is_some() && tls.is_none() {
        return Err(invalid(
            "--https_port: monitoring over HTTPS needs the server's TLS settings (--tls, --tlscert, --tlskey)".into(),
        ));
    }
    let runtime: RuntimeKind = v
        .get("runtime")
        .unwrap_or("tokio")
        .parse()
        .map_err(OptionsError::Invalid)?;
    if router.cluster.is_some() && v.get("ns").is_some() {
        return Err(invalid(
            "--cluster configures the embedded NATS server: it cannot be combined with -ns".into(),
        ));
    }
    Ok(ServerOptions {
        host,
        port,
        http_port,
        https_port,
        tls,
        nats_tls: nats_client_tls(v),
        route_tls: None,
        router,
        log,
        pid_file: v.get("P").map(std::path::PathBuf::from),
        http_host: None,
        config_files: ConfigFiles::default(),
        config_warnings: Vec::new(),
        engine: engine_config(v)?,
        nats_server: v.get("ns").map(str::to_owned),
        store: store_choice(v)?,
        runtime,
    })
}

/// A route URL of `--cluster` or `--routes` (nats-server's forms:
/// `nats://host:port`, `nats-route://host:port`, `host:port`, with
/// optional `user:pass@`).
fn route_url(v: &Values, name: &str, text: &str) -> Result<RouteUrl, OptionsError> {
    let scheme_ok = match text.split_once("://") {
        Some((scheme, _)) => ["nats", "nats-route"].contains(&scheme.to_ascii_lowercase().as_str()),
        None => true,
    };
    RouteUrl::parse(text).filter(|_| scheme_ok).ok_or_else(|| {
        let shown = redact_password(text);
        OptionsError::Flag(FlagError::BadValue {
            flag: format!("-{name}"),
            value: redact_password(v.get(name).unwrap_or_default()),
            why: format!(
                "invalid route URL {shown:?} (expected nats://host:port or nats-route://host:port)"
            ),
        })
    })
}

/// `text` (one URL or a comma-separated list) with the password of each
/// `user:password@` replaced by `***`: errors never echo a secret.
fn redact_password(text: &str) -> String {
    text.split(',')
        .map(|url| {
            let start = url.find("://").map_or(0, |i| i + 3);
            match url[start..].rfind('@') {
                Some(at) => {
                    let userinfo = &url[start..start + at];
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..start], &url[start + at..])
                        }
                        None => url.to_owned(),
                    }
                }
                None => url.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The cluster settings of `--cluster`, `--routes`, `--cluster_name`,
/// `--no_advertise`, `--cluster_advertise`, `--connect_retries`; `None`
/// without `--cluster`.
fn cluster_config(v: &Values) -> Result<Option<ClusterConfig>, OptionsError> {
    let Some(listen) = v.get("cluster") else {
        if v.get("routes").is_some_and(|r| !r.trim().is_empty()) {
            return Err(invalid(
                "solicited routes require cluster capabilities, e.g. --cluster".into(),
            ));
        }
        return Ok(None);
    };
    // nats-server's `-1`: a free port.
    let listen_text = listen.replacen(":-1", ":0", 1);
    let url = route_url(v, "cluster", &listen_text)?;
    // nats-server's `overrideCluster`: the listen URL's credentials are the
    // cluster authorization.
    let auth = match (&url.user, &url.pass) {
        (None, _) => Auth::None,
        (Some(_), None) => return Err(invalid("expected cluster password to be set".into())),
        (Some(user), Some(pass)) => Auth::UserPass {
            user: user.clone(),
            pass: pass.clone(),
        },
    };
    let mut routes = Vec::new();
    for text in v.get("routes").unwrap_or_default().split(',') {
        let text = text.trim();
        if !text.is_empty() {
            route_url(v, "routes", text)?;
            routes.push(text.to_owned());
        }
    }
    let connect_retries = count(v, "connect_retries", 0u32, u32::MAX)?;
    Ok(Some(ClusterConfig {
        name: v
            .get("cluster_name")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        host: url.host,
        port: url.port,
        advertise: v
            .get("cluster_advertise")
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        routes,
        no_advertise: v.flag("no_advertise"),
        connect_retries,
        auth,
        ..ClusterConfig::default()
    }))
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

/// The embedded server's TLS from `--tls`, `--tlsverify`, `--tlscert`,
/// `--tlskey`, `--tlscacert` (nats-server's rules: `--tlsverify` implies
/// `--tls`; a certificate and its key come together).
fn server_tls(v: &Values) -> Result<Option<ServerTlsOptions>, OptionsError> {
    let wanted = v.flag("tls") || v.flag("tlsverify");
    let (cert, key) = (v.get("tlscert"), v.get("tlskey"));
    if !wanted {
        if cert.is_some() || key.is_some() || v.get("tlscacert").is_some() {
            return Err(invalid(
                "--tlscert, --tlskey and --tlscacert need --tls or --tlsverify".into(),
            ));
        }
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        return Err(invalid(
            "TLS Server certificate must be present and valid (--tlscert and --tlskey)".into(),
        ));
    };
    let mut tls = ServerTlsOptions::new(Pem::file(cert), Pem::file(key));
    tls.verify = v.flag("tlsverify");
    tls.ca = v.get("tlscacert").map(Pem::file);
    if tls.verify && tls.ca.is_none() {
        return Err(invalid(
            "--tlsverify needs --tlscacert: the CA that signs client certificates".into(),
        ));
    }
    Ok(Some(tls))
}

/// TLS to the external NATS server: `-secure`, or any `-tls_client_*`.
fn nats_client_tls(v: &Values) -> Option<ClientTlsOptions> {
    let (cert, key, ca) = (
        v.get("tls_client_cert"),
        v.get("tls_client_key"),
        v.get("tls_client_cacert"),
    );
    if !v.flag("secure") && cert.is_none() && key.is_none() && ca.is_none() {
        return None;
    }
    Some(ClientTlsOptions {
        ca: ca.map(Pem::file),
        cert: cert.map(Pem::file),
        key: key.map(Pem::file),
        // `-secure` alone: TLS without verification, as Go's.
        insecure_skip_verify: v.flag("secure") && ca.is_none(),
        ..ClientTlsOptions::default()
    })
}

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// `-st MEMORY`: lost on restart.
    Memory,
    /// `-st FILE --dir DIR`.
    File(Box<FileSettings>),
}

/// The file store's settings (`--dir` and the `--file_*` flags).
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// The store directory.
    pub dir: std::path::PathBuf,
    /// How the store writes.
    pub store: FileStoreOptions,
    /// Check CRCs at recovery (`--file_crc`).
    pub crc_check: bool,
    /// `--file_truncate_bad_eof`.
    pub truncate_bad_eof: bool,
    /// Most files kept open (`--file_fds_limit`, 0: the default).
    pub fds_limit: usize,
}

fn bool_or(v: &Values, name: &str, default: bool) -> bool {
    v.get(name).map_or(default, |s| s == "true")
}

fn size_or(v: &Values, name: &str, default: u64) -> Result<u64, OptionsError> {
    match v.get(name) {
        None => Ok(default),
        Some(s) => parse_size(s).map_err(|why| bad_value(v, name, why)),
    }
}

fn store_choice(v: &Values) -> Result<StoreChoice, OptionsError> {
    let store = v.get("st").unwrap_or("MEMORY");
    match store.to_ascii_uppercase().as_str() {
        "MEMORY" => {
            // Go wraps any store with encryption, so the flags are checked
            // (a key is required) as for FILE; a memory store has nothing at
            // rest to encrypt.
            encryption(v, env_key(), seed)?;
            return Ok(StoreChoice::Memory);
        }
        "FILE" => {}
        "SQL" => {
            return Err(invalid(format!(
                "store type {store:?} is not available in this build (MEMORY or FILE)"
            )))
        }
        _ => return Err(invalid(format!("unsupported store type: {store:?}"))),
    }
    let dir = match v.get("dir") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => {
            return Err(invalid(
                "for FILE stores, root directory must be specified".into(),
            ))
        }
    };
    let encryption = encryption(v, env_key(), seed)?;
    let d = FileStoreOptions::default();
    let crc = match v.int("file_crc_poly") {
        None => d.crc.clone(),
        Some(p) => {
            Crc32::from_option(p).map_err(|e| bad_value(v, "file_crc_poly", e.to_string()))?
        }
    };
    let store = FileStoreOptions {
        sync: bool_or(v, "file_sync", d.sync),
        crc,
        slice_max_msgs: count(v, "file_slice_max_msgs", d.slice_max_msgs, u64::MAX)?,
        slice_max_bytes: size_or(v, "file_slice_max_bytes", d.slice_max_bytes)?,
        slice_max_age: v.duration("file_slice_max_age").unwrap_or(d.slice_max_age),
        compact: bool_or(v, "file_compact_enabled", d.compact),
        compact_fragmentation: count(v, "file_compact_frag", d.compact_fragmentation, u32::MAX)?,
        compact_interval: Duration::from_secs(count(
            v,
            "file_compact_interval",
            d.compact_interval.as_secs(),
            u64::MAX,
        )?),
        compact_min_size: size_or(v, "file_compact_min_size", d.compact_min_size)?,
        max_channels: count(v, "mc", 100, usize::MAX)?,
        encryption,
        cache_bytes: d.cache_bytes,
        read_ahead: size_or(v, "file_read_buffer_size", d.read_ahead)?,
        verify_reads: bool_or(v, "file_crc", true),
        auto_sync: v.duration("file_auto_sync").unwrap_or(d.auto_sync),
        slice_archive_script: v
            .get("file_slice_archive_script")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    };
    // Accepted with a documented effect (see the README's flag table).
    size_or(v, "file_buffer_size", 2 * 1024 * 1024)?;
    count(v, "file_parallel_recovery", 1u64, u64::MAX)?;
    Ok(StoreChoice::File(Box::new(FileSettings {
        dir,
        store,
        crc_check: bool_or(v, "file_crc", true),
        truncate_bad_eof: bool_or(v, "file_truncate_bad_eof", false),
        fds_limit: count(v, "file_fds_limit", 0, usize::MAX)?,
    })))
}

/// The key in the environment (`NATS_STREAMING_ENCRYPTION_KEY`), as bytes.
/// The encryption key in the environment (`NATS_STREAMING_ENCRYPTION_KEY`).
pub fn env_key() -> Option<Vec<u8>> {
    std::env::var_os(ENV_KEY).map(std::ffi::OsString::into_encoded_bytes)
}

/// Encryption at rest, as Go decides it (`server.go`, `stores/cryptostore.go`):
/// on with `--encrypt` or a non-empty `--encryption_key`; the cipher from
/// `--encryption_cipher` (case-insensitive, empty: AES; Go's "auto" picks AES
/// on amd64/386 and CHACHA elsewhere); the key from `env_key` if set and not
/// empty, else from `--encryption_key`. Only the key's hash is kept: the
/// options' `Debug` shows neither. `nonce_seed` is called once, for the
/// random nonce prefix of this run.
pub fn encryption(
    v: &Values,
    env_key: Option<Vec<u8>>,
    nonce_seed: impl FnOnce() -> u64,
) -> Result<Option<EncryptionOptions>, OptionsError> {
    let flag_key = v.get("encryption_key").filter(|k| !k.is_empty());
    if !bool_or(v, "encrypt", false) && flag_key.is_none() {
        return Ok(None);
    }
    let cipher: Cipher = v
        .get("encryption_cipher")
        .unwrap_or_default()
        .parse()
        .map_err(|e| invalid(format!("{e}")))?;
    let key = match env_key.filter(|k| !k.is_empty()) {
        Some(k) => k,
        None => flag_key.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
    };
    EncryptionOptions::new(cipher, &key, nonce_seed())
        .map(Some)
        .map_err(|e| {
            invalid(format!(
                "{e} (--encryption_key or the {ENV_KEY} environment variable)"
            ))
        })
}

fn engine_config(v: &Values) -> Result<ServerConfig, OptionsError> {
    let defaults = ServerConfig::default();
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
            other => panic!("not serve: {other:?}"),
        }
    }

    /// As nats-server: with TLS, an authorization timeout the file does
    /// not set is the TLS timeout plus one second (the handshake counts
    /// against it); without TLS, 2 s.
    #[test]
    fn auth_timeouts_default_to_the_tls_timeout_plus_one_second() {
        let two = Duration::from_secs(2);
        let plain = serve(&["--cluster", "nats://127.0.0.1:-1"]);
        assert_eq!(plain.router.auth_timeout, two);
        assert_eq!(plain.router.cluster.unwrap().auth_timeout, two);
        let flags = serve(&["--tls", "--tlscert", "c.pem", "--tlskey", "k.pem"]);
        assert_eq!(flags.router.auth_timeout, Duration::from_secs(3));

        let dir = tempfile::tempdir().unwrap();
        let conf = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let tls = "tls { cert_file: c.pem, key_file: k.pem, timeout: 0.5 }";
        let cluster_tls = "cluster { listen: 127.0.0.1:-1, tls { cert_file: c.pem, key_file: k.pem, timeout: 4 } }";
        let file = conf("tls.conf", &format!("{tls}\n{cluster_tls}\n"));
        let o = serve(&["-c", &file]);
        assert_eq!(o.router.auth_timeout, Duration::from_millis(1500));
        assert_eq!(
            o.router.cluster.unwrap().auth_timeout,
            Duration::from_secs(5)
        );
        // Set in the file (0 is not setting it): kept as is.
        let file = conf(
            "set.conf",
            &format!(
                "{tls}\nauthorization {{ timeout: 0.25 }}\ncluster {{ listen: 127.0.0.1:-1, authorization {{ timeout: 7 }}, tls {{ cert_file: c.pem, key_file: k.pem }} }}\n"
            ),
        );
        let o = serve(&["-c", &file]);
        assert_eq!(o.router.auth_timeout, Duration::from_millis(250));
        assert_eq!(
            o.router.cluster.unwrap().auth_timeout,
            Duration::from_secs(7)
        );
        let file = conf(
            "zero.conf",
            &format!("{tls}\nauthorization {{ timeout: 0 }}\n"),
        );
        assert_eq!(
            serve(&["-c", &file]).router.auth_timeout,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn cluster_flags() {
        assert!(serve(&[]).router.cluster.is_none());
        let o = serve(&[
            "--cluster",
            "nats://127.0.0.1:-1",
            "--routes",
            "nats://10.0.0.2:6222, nats-route://h:7222,h2:8222",
            "--cluster_name",
            "c1",
            "--no_advertise",
            "--cluster_advertise",
            "pub.example:6222",
            "--connect_retries",
            "3",
        ]);
        let c = o.router.cluster.expect("clustering");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 0));
        assert_eq!(
            c.routes,
            ["nats://10.0.0.2:6222", "nats-route://h:7222", "h2:8222"]
        );
        assert_eq!(c.name.as_deref(), Some("c1"));
        assert_eq!(c.advertise.as_deref(), Some("pub.example:6222"));
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 3);
        for bad in [
            &["--cluster", "nats://127.0.0.1"][..],
            &["--cluster", "http://127.0.0.1:6222"],
            &["--cluster", "nats://a@127.0.0.1:6222"],
            &["--cluster", "nats://127.0.0.1:6222", "--routes", "nats://x"],
            &["--routes", "nats://127.0.0.1:6222"],
            &["--cluster", "nats://127.0.0.1:6222", "-ns", "nats://h:4222"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
        // The listen URL's credentials are the cluster authorization; route
        // URLs may carry credentials; every runtime serves routes.
        let o = serve(&[
            "--cluster",
            "nats://ruser:p%40ss@127.0.0.1:6222",
            "--routes",
            "nats://ruser:p%40ss@127.0.0.1:7222",
            "--runtime",
            "mio",
        ]);
        let err = parse(args(&[
            "--cluster",
            "nats://127.0.0.1:6222",
            "--routes",
            "nats://ruser:s3cret@h:1,nats://u:hush@nohost",
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("invalid route URL \"nats://u:***@nohost\""),
            "{err}"
        );
        assert!(!err.contains("s3cret") && !err.contains("hush"), "{err}");
        let c = o.router.cluster.expect("clustering");
        assert_eq!(
            c.auth,
            Auth::UserPass {
                user: "ruser".into(),
                pass: "p@ss".into()
            }
        );
    }

    #[test]
    fn help_lists_every_operations_option() {
        let help = flags::usage("stan-server", SPECS);
        for option in [
            "-c, --config",
            "--sc, --stan_config",
            "-m, --http_port",
            "--ms, --https_port",
            "--tls ",
            "--tlscert",
            "--tlskey",
            "--tlsverify",
            "--tlscacert",
            "--secure",
            "--tls_client_cert",
            "--tls_client_key",
            "--tls_client_cacert",
            "-l, --log",
            "-T, --logtime",
            "-s, --syslog",
            "-r, --remote_syslog",
            "-P, --pid",
            "--sl, --signal",
            "-D, --debug",
            "-V, --trace",
            "--DV",
            "--SD, --stan_debug",
            "--SV, --stan_trace",
            "--SDV",
            "--replace_durable",
        ] {
            assert!(help.contains(option), "{option} missing from:\n{help}");
        }
    }

    #[test]
    fn logging_pid_and_signal_flags() {
        let o = serve(&[]);
        assert_eq!(o.log, LogConfig::default());
        assert_eq!(o.pid_file, None);
        let o = serve(&["-l", "/tmp/x.log", "-T=false", "-V", "-P", "/tmp/p"]);
        assert_eq!(o.log.destination, Destination::File("/tmp/x.log".into()));
        assert!(!o.log.logtime && o.log.trace && !o.log.debug);
        assert_eq!(o.pid_file, Some("/tmp/p".into()));
        let o = serve(&["-s", "-SD"]);
        assert_eq!(o.log.destination, Destination::Syslog);
        assert!(o.log.debug && !o.log.trace);
        let o = serve(&["-r", "udp://127.0.0.1:514", "-DV"]);
        assert_eq!(
            o.log.destination,
            Destination::RemoteSyslog("udp://127.0.0.1:514".into())
        );
        assert!(o.log.debug && o.log.trace);
        match parse(args(&["-sl", "reload=42", "-P", "/tmp/p"])).unwrap() {
            Command::Signal { signal, pid_file } => {
                assert_eq!(signal, "reload=42");
                assert_eq!(pid_file, Some("/tmp/p".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = serve(&[]);
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4222));
        assert_eq!(o.router.auth, Auth::None);
    }

    #[test]
    fn monitoring_ports() {
        assert_eq!(serve(&[]).http_port, None);
        assert_eq!(serve(&["-m", "0"]).http_port, None);
        assert_eq!(serve(&["-m", "8222"]).http_port, Some(8222));
        assert_eq!(serve(&["--http_port=-1"]).http_port, Some(0));
        let e = parse(args(&["-m", "70000"])).unwrap_err().to_string();
        assert!(e.contains("-m") && e.contains("out of range"), "{e}");
        let e = parse(args(&["-ms", "8443"])).unwrap_err().to_string();
        assert!(e.contains("--https_port") && e.contains("--tls"), "{e}");
        let o = serve(&[
            "-ms",
            "8443",
            "--tls",
            "--tlscert",
            "c.pem",
            "--tlskey",
            "k.pem",
        ]);
        assert_eq!(o.https_port, Some(8443));
        assert_eq!(serve(&["-ms", "0"]).http_port, None);
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
        assert!(o.log.debug && !o.log.trace);
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

    fn enc(a: &[&str], env: Option<&str>) -> Result<Option<EncryptionOptions>, OptionsError> {
        let v = flags::parse(SPECS, args(a)).unwrap();
        encryption(&v, env.map(|k| k.as_bytes().to_vec()), || 7)
    }

    #[test]
    fn encryption_flags() {
        assert_eq!(enc(&[], None).unwrap(), None);
        assert_eq!(enc(&["--encrypt=false"], Some("env")).unwrap(), None);
        // The cipher is only looked at with encryption on, as in Go.
        assert_eq!(enc(&["--encryption_cipher", "des"], None).unwrap(), None);

        let flag = |k: &str| EncryptionOptions::new(Cipher::Aes, k.as_bytes(), 7).unwrap();
        assert_eq!(
            enc(&["--encrypt", "--encryption_key", "k1"], None).unwrap(),
            Some(flag("k1"))
        );
        // A key alone turns encryption on (Go: `Encrypt || len(key) > 0`).
        assert_eq!(
            enc(&["--encryption_key=k1"], None).unwrap(),
            Some(flag("k1"))
        );
        // The environment wins over the flag, unless empty.
        assert_eq!(
            enc(&["--encrypt", "--encryption_key", "k1"], Some("k2")).unwrap(),
            Some(flag("k2"))
        );
        assert_eq!(enc(&["--encrypt"], Some("k2")).unwrap(), Some(flag("k2")));
        assert_eq!(
            enc(&["--encrypt", "--encryption_key", "k1"], Some("")).unwrap(),
            Some(flag("k1"))
        );

        let chacha = enc(&["--encrypt", "--encryption_cipher", "chacha"], Some("k")).unwrap();
        assert_eq!(chacha.unwrap().cipher(), Cipher::ChaCha);
        let aes = enc(&["--encrypt", "--encryption_cipher=Aes"], Some("k")).unwrap();
        assert_eq!(aes.unwrap().cipher(), Cipher::Aes);
        let auto = enc(&["--encrypt", "--encryption_cipher="], Some("k")).unwrap();
        assert_eq!(auto.unwrap().cipher(), Cipher::Aes);

        let no_key = enc(&["--encrypt"], None).unwrap_err().to_string();
        assert_eq!(
            no_key,
            "encryption key required (--encryption_key or the NATS_STREAMING_ENCRYPTION_KEY \
             environment variable)"
        );
        assert!(enc(&["--encrypt", "--encryption_key="], Some("")).is_err());
        let bad = enc(&["--encrypt", "--encryption_cipher", "des"], Some("k")).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "encryption cipher not supported: \"des\" (AES or CHACHA)"
        );
    }

    #[test]
    fn encrypted_file_store() {
        let o = serve(&[
            "-st",
            "FILE",
            "--dir",
            "/tmp/x",
            "--encryption_key",
            "s3cret!",
        ]);
        let StoreChoice::File(f) = o.store else {
            panic!("file store expected");
        };
        let e = f.store.encryption.as_ref().expect("encryption on");
        assert_eq!(e.cipher(), Cipher::Aes);
        // The key is never shown (the options are logged in debug).
        assert!(!format!("{f:?}").contains("s3cret!"));
        let StoreChoice::File(plain) = serve(&["-st", "FILE", "--dir", "/tmp/x"]).store else {
            panic!("file store expected");
        };
        assert_eq!(plain.store.encryption, None);
        // Accepted with a memory store, as Go accepts it (nothing at rest).
        assert!(matches!(
            serve(&["--encryption_key", "k"]).store,
            StoreChoice::Memory
        ));
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
