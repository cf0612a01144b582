//! From a parsed tree to stan-server's settings: the NATS server options
//! (nats-server's `server/opts.go`) and the streaming options
//! (nats-streaming-server's `server/conf.go`), with all their aliases.
//!
//! Every field is an `Option`: `None` means "not in the file", so that the
//! command line can override the file field by field, as in Go. Values are
//! kept as written (Go's types: `i64`, signed [`GoDuration`]s); range checks
//! that Go does when starting the server are left to the caller.
//!
//! Keys are compared case-insensitively (Go lowercases them). Unlike Go,
//! which ignores unknown keys, an unknown key is an error naming the key,
//! file, line and column — except a key that is only used as a `$variable`
//! (nats-server skips those too). Options that Go has but this build does
//! not implement are recognised and refused with
//! [`Error::Unsupported`].

use std::fmt;
use std::path::Path;

use crate::error::Error;
use crate::parser::{parse_file, Env, Loader};
use crate::units::{parse_go_duration, parse_size, GoDuration};
use crate::value::{Entry, Map, Pos, ValueKind};

mod cluster;

use cluster::parse_cluster;
pub use cluster::{ClusterAuthSettings, ClusterRoute, ClusterSettings};

/// Everything a configuration file sets. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigSettings {
    /// The NATS server options (top level of the file).
    pub nats: NatsSettings,
    /// The streaming options (the `streaming { }` block, or the top level
    /// when the file has no such block).
    pub streaming: StreamingSettings,
    /// Things accepted but worth telling the user (integer durations,
    /// obsolete keys), in file order.
    pub warnings: Vec<Warning>,
}

/// A non-fatal remark about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

/// The NATS server options of a configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NatsSettings {
    /// `host`, `net`, or the host part of `listen`.
    pub host: Option<String>,
    /// `port`, or the port of `listen` (`-1`: random port, as in Go).
    pub port: Option<i64>,
    /// The host part of `http: host:port` / `https: host:port`.
    pub http_host: Option<String>,
    /// `http_port`, `monitor_port`, or the port of `http`.
    pub http_port: Option<i64>,
    /// `https_port`, or the port of `https`.
    pub https_port: Option<i64>,
    /// `authorization { user password token timeout }`.
    pub auth: AuthSettings,
    /// `tls { … }`: the NATS server's own TLS, recorded as data.
    pub tls: Option<NatsTlsSettings>,
    /// `max_payload` (a size; more than 2³¹-1 is refused, as in Go).
    pub max_payload: Option<i64>,
    /// `max_connections`, `max_conn`.
    pub max_connections: Option<i64>,
    /// `max_subscriptions`, `max_subs` (per connection).
    pub max_subscriptions: Option<i64>,
    /// `max_pending` (a size).
    pub max_pending: Option<i64>,
    /// `ping_interval`: a duration string, or (with a warning, as in Go)
    /// an integer number of seconds.
    pub ping_interval: Option<GoDuration>,
    /// `ping_max`.
    pub ping_max: Option<i64>,
    /// `write_deadline`: as `ping_interval`.
    pub write_deadline: Option<GoDuration>,
    /// `logfile`, `log_file`.
    pub logfile: Option<String>,
    /// `debug`.
    pub debug: Option<bool>,
    /// `trace`.
    pub trace: Option<bool>,
    /// `logtime`.
    pub logtime: Option<bool>,
    /// `pid_file`, `pidfile`.
    pub pid_file: Option<String>,
    /// `cluster { … }`: the routes of the embedded NATS server (`None`
    /// when the file has no such block).
    pub cluster: Option<ClusterSettings>,
}

/// `authorization { … }` (single user or token; `users`, `nkeys`,
/// `permissions` are refused as unsupported).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthSettings {
    /// `user`, `username`.
    pub user: Option<String>,
    /// `password`, `pass`.
    pub password: Option<String>,
    /// `token`.
    pub token: Option<String>,
    /// `timeout`, in seconds (integer or float, as Go's `AuthTimeout`).
    pub timeout: Option<f64>,
}

/// The NATS server's `tls { … }` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NatsTlsSettings {
    /// `cert_file`.
    pub cert_file: Option<String>,
    /// `key_file`.
    pub key_file: Option<String>,
    /// `ca_file`.
    pub ca_file: Option<String>,
    /// `verify`.
    pub verify: Option<bool>,
    /// `verify_and_map`.
    pub verify_and_map: Option<bool>,
    /// `insecure`.
    pub insecure: Option<bool>,
    /// `timeout`, in seconds (integer or float).
    pub timeout: Option<f64>,
    /// `cipher_suites`.
    pub cipher_suites: Option<Vec<String>>,
    /// `curve_preferences`.
    pub curve_preferences: Option<Vec<String>>,
}

/// `store`/`st`/`store_type`/`storetype` (case-insensitive in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreType {
    /// `MEMORY`.
    Memory,
    /// `FILE`.
    File,
}

/// The streaming options of a configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamingSettings {
    /// `id`, `cid`, `cluster_id`.
    pub cluster_id: Option<String>,
    /// `discover_prefix`.
    pub discover_prefix: Option<String>,
    /// `store`, `st`, `store_type`, `storetype` (`SQL` is refused as
    /// unsupported).
    pub store_type: Option<StoreType>,
    /// `dir`, `datastore`.
    pub dir: Option<String>,
    /// `sd`, `stan_debug`.
    pub debug: Option<bool>,
    /// `sv`, `stan_trace`.
    pub trace: Option<bool>,
    /// `ns`, `nats_server`, `nats_server_url`.
    pub nats_server_url: Option<String>,
    /// `credentials` (for the server's own NATS connections).
    pub credentials: Option<String>,
    /// `secure`.
    pub secure: Option<bool>,
    /// `tls { client_cert client_key client_ca … }`, for the server's own
    /// NATS connections.
    pub tls: Option<StreamingTlsSettings>,
    /// `store_limits`, `limits`, `storelimits`.
    pub store_limits: StoreLimitsSettings,
    /// `file`, `file_options`.
    pub file: FileSettings,
    /// `hb_interval`, `hbi`, `server_to_client_hb_interval` (a duration
    /// string, as in Go).
    pub hb_interval: Option<GoDuration>,
    /// `hb_timeout`, `hbt`, `server_to_client_hb_timeout`.
    pub hb_timeout: Option<GoDuration>,
    /// `hb_fail_count`, `hbf`, `server_to_client_hb_fail_count`.
    pub hb_fail_count: Option<i64>,
    /// `syslog_name`.
    pub syslog_name: Option<String>,
    /// `encrypt`; also set to `true` by `encryption_key` when `encrypt` is
    /// not in the file (Go sets it whenever a key is given).
    pub encrypt: Option<bool>,
    /// `encryption_cipher`.
    pub encryption_cipher: Option<String>,
    /// `encryption_key`.
    pub encryption_key: Option<String>,
    /// `username`, `user` (for the server's own NATS connections).
    pub username: Option<String>,
    /// `password`, `pass`.
    pub password: Option<String>,
    /// `token`.
    pub token: Option<String>,
    /// `nkey_seed_file`.
    pub nkey_seed_file: Option<String>,
    /// `replace_durable`, `replace_durables`, `replace_duplicate_durable(s)`.
    pub replace_durable: Option<bool>,
}

/// The streaming `tls { … }` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamingTlsSettings {
    /// `client_cert`.
    pub client_cert: Option<String>,
    /// `client_key`.
    pub client_key: Option<String>,
    /// `client_ca`, `client_cacert`.
    pub client_ca: Option<String>,
    /// `server_name`, `server_hostname`.
    pub server_name: Option<String>,
    /// `skip_verify`, `insecure`.
    pub skip_verify: Option<bool>,
}

/// `store_limits { … }`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreLimitsSettings {
    /// `max_channels`, `mc`, `maxchannels`.
    pub max_channels: Option<i64>,
    /// The global channel limits (keys directly in `store_limits`).
    pub global: ChannelLimitsSettings,
    /// `channels`, `per_channel`, `channels_limits`, `channelslimits`,
    /// `per_channel_limits`: in file order, names (wildcards included)
    /// kept as written and validated as Go validates them.
    pub channels: Vec<ChannelLimitsEntry>,
}

/// Channel limits as written. In a per-channel entry, `None` means
/// "inherit" (from the closest wider wildcard entry, else the global
/// limits), while `Some(0)` and negative values mean unlimited (Go turns a
/// per-channel 0 into -1). In the global limits 0 means unlimited and a
/// negative value is for the caller to refuse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelLimitsSettings {
    /// `max_msgs`, `mm`, `maxmsgs`, `max_count`, `maxcount`.
    pub max_msgs: Option<i64>,
    /// `max_bytes`, `mb`, `maxbytes` (a size).
    pub max_bytes: Option<i64>,
    /// `max_age`, `ma`, `maxage` (a duration string).
    pub max_age: Option<GoDuration>,
    /// `max_subs`, `msu`, `max_subscriptions`, `maxsubscriptions`.
    pub max_subs: Option<i64>,
    /// `max_inactivity`, `mi`, `maxinactivity` (a duration string).
    pub max_inactivity: Option<GoDuration>,
}

/// One per-channel limits entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelLimitsEntry {
    /// The channel name or wildcard (`foo`, `foo.*`, `foo.>`).
    pub name: String,
    /// Where the name is.
    pub pos: Pos,
    /// Its limits.
    pub limits: ChannelLimitsSettings,
}

/// `file { … }`, the options of the `--file_*` flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSettings {
    /// `compact`, `compact_enabled`.
    pub compact: Option<bool>,
    /// `compact_frag`, `compact_fragmentation` (percent).
    pub compact_frag: Option<i64>,
    /// `compact_interval` (seconds).
    pub compact_interval: Option<i64>,
    /// `compact_min_size` (a size).
    pub compact_min_size: Option<i64>,
    /// `buffer_size` (a size).
    pub buffer_size: Option<i64>,
    /// `crc`, `do_crc`.
    pub crc: Option<bool>,
    /// `crc_poly`.
    pub crc_poly: Option<i64>,
    /// `sync`, `do_sync`, `sync_on_flush`.
    pub sync: Option<bool>,
    /// `slice_max_msgs`, `slice_max_count`, `slice_msgs`, `slice_count`.
    pub slice_max_msgs: Option<i64>,
    /// `slice_max_bytes`, `slice_max_size`, `slice_bytes`, `slice_size`.
    pub slice_max_bytes: Option<i64>,
    /// `slice_max_age`, `slice_age`, `slice_max_time`, `slice_time_limit`.
    pub slice_max_age: Option<GoDuration>,
    /// `slice_archive_script`, `slice_archive`, `slice_script`.
    pub slice_archive_script: Option<String>,
    /// `fds_limit`, `file_descriptors_limit`.
    pub fds_limit: Option<i64>,
    /// `parallel_recovery`.
    pub parallel_recovery: Option<i64>,
    /// `read_buffer_size`, `file_read_buffer_size` (a size).
    pub read_buffer_size: Option<i64>,
    /// `auto_sync`, `file_auto_sync` (a duration string; ≤ 0 disables).
    pub auto_sync: Option<GoDuration>,
    /// `truncate_bad_eof`, `file_truncate_bad_eof`: not in Go's file
    /// syntax (only the `--file_truncate_bad_eof` flag), accepted here.
    pub truncate_bad_eof: Option<bool>,
}

/// Settings from the file given with `-c` (NATS configuration).
///
/// The top level holds the NATS options; the streaming options are in a
/// `streaming { }` block or, when the file has no such block, at the top
/// level too (Go uses the `-c` file for streaming when `-sc` is absent). A
/// top-level `tls` then feeds both: NATS keys (`cert_file`, …) go to
/// [`NatsSettings::tls`], streaming keys (`client_cert`, …) to
/// [`StreamingSettings::tls`].
///
/// When both `-c` and `-sc` are given, Go uses each file for its own
/// module only: take [`ConfigSettings::nats`] from this result and
/// [`ConfigSettings::streaming`] from [`from_streaming_config`]'s.
pub fn from_nats_config(tree: &Map) -> Result<ConfigSettings, Error> {
    from_tree(tree)
}

/// Settings from the file given with `-sc` (streaming configuration).
///
/// Go reads this file exactly as the `-c` one (and uses it for the NATS
/// options too when `-c` is absent), so the rules are those of
/// [`from_nats_config`]: streaming keys in a `streaming { }` block, or at
/// the top level when there is none; NATS keys at the top level.
pub fn from_streaming_config(tree: &Map) -> Result<ConfigSettings, Error> {
    from_tree(tree)
}

/// [`parse_file`] then [`from_nats_config`].
pub fn load_nats_config(
    path: impl AsRef<Path>,
    loader: &dyn Loader,
    env: &dyn Env,
) -> Result<ConfigSettings, Error> {
    from_nats_config(&parse_file(path, loader, env)?)
}

/// [`parse_file`] then [`from_streaming_config`].
pub fn load_streaming_config(
    path: impl AsRef<Path>,
    loader: &dyn Loader,
    env: &dyn Env,
) -> Result<ConfigSettings, Error> {
    from_streaming_config(&parse_file(path, loader, env)?)
}

const TOP: &str = "the top level";

fn from_tree(tree: &Map) -> Result<ConfigSettings, Error> {
    let mut out = ConfigSettings::default();
    let union = !tree.iter().any(|e| e.key.eq_ignore_ascii_case("streaming"));
    for e in tree {
        let name = e.key.to_ascii_lowercase();
        if name == "streaming" {
            // Go keeps the last `streaming` map (all are checked here).
            let mut s = StreamingSettings::default();
            parse_streaming(map(e)?, "the streaming block", &mut s, &mut out.warnings)?;
            out.streaming = s;
            continue;
        }
        if name == "tls" && union {
            let (nt, st) = parse_shared_tls(e)?;
            out.nats.tls = nt;
            if st.is_some() {
                out.streaming.tls = st;
            }
            continue;
        }
        if apply_nats(&name, e, &mut out.nats, &mut out.warnings)? {
            continue;
        }
        if union && apply_streaming(&name, e, &mut out.streaming, &mut out.warnings)? {
            continue;
        }
        if e.used_as_variable {
            continue;
        }
        let streaming_key = !union
            && !matches!(
                apply_streaming(&name, e, &mut StreamingSettings::default(), &mut Vec::new()),
                Ok(false)
            );
        return Err(unknown(
            e,
            if streaming_key {
                "the top level (streaming options belong in the streaming block)"
            } else {
                TOP
            },
        ));
    }
    if out.streaming.encryption_key.is_some() && out.streaming.encrypt.is_none() {
        out.streaming.encrypt = Some(true);
    }
    Ok(out)
}

// ---------------------------------------------------------------- helpers

fn unknown(e: &Entry, section: impl Into<String>) -> Error {
    Error::UnknownKey {
        key: e.key.clone(),
        pos: e.key_pos.clone(),
        section: section.into(),
    }
}

fn mismatch(e: &Entry, expected: &'static str) -> Error {
    Error::TypeMismatch {
        key: e.key.clone(),
        pos: e.key_pos.clone(),
        expected,
        got: e.value.kind.go_kind(),
    }
}

fn invalid(e: &Entry, msg: impl Into<String>) -> Error {
    Error::InvalidValue {
        key: e.key.clone(),
        pos: e.value.pos.clone(),
        msg: msg.into(),
    }
}

fn unsupported(e: &Entry, detail: &str) -> Error {
    Error::Unsupported {
        key: e.key.clone(),
        pos: e.key_pos.clone(),
        detail: (!detail.is_empty()).then(|| detail.to_string()),
    }
}

fn string(e: &Entry) -> Result<String, Error> {
    match &e.value.kind {
        ValueKind::String(s) => Ok(s.clone()),
        _ => Err(mismatch(e, "string")),
    }
}

fn boolean(e: &Entry) -> Result<bool, Error> {
    match e.value.kind {
        ValueKind::Bool(b) => Ok(b),
        _ => Err(mismatch(e, "bool")),
    }
}

fn int(e: &Entry) -> Result<i64, Error> {
    match e.value.kind {
        ValueKind::Int(i) => Ok(i),
        _ => Err(mismatch(e, "int64")),
    }
}

fn map(e: &Entry) -> Result<&Map, Error> {
    match &e.value.kind {
        ValueKind::Map(m) => Ok(m),
        _ => Err(mismatch(e, "map")),
    }
}

/// An integer (size suffixes already applied by the parser) or, beyond
/// Go, a string with a size (`"1GB"`).
fn size(e: &Entry) -> Result<i64, Error> {
    match &e.value.kind {
        ValueKind::Int(i) => Ok(*i),
        ValueKind::String(s) => parse_size(s.trim()).map_err(|m| invalid(e, m)),
        _ => Err(mismatch(e, "int64")),
    }
}

/// A Go duration string (Go accepts only strings for these).
fn duration(e: &Entry) -> Result<GoDuration, Error> {
    match &e.value.kind {
        ValueKind::String(s) => parse_go_duration(s).map_err(|m| invalid(e, m)),
        _ => Err(mismatch(e, "string")),
    }
}

/// nats-server's `parseDuration`: a duration string, or an integer number
/// of seconds with a warning.
fn duration_or_secs(e: &Entry, warnings: &mut Vec<Warning>) -> Result<GoDuration, Error> {
    match &e.value.kind {
        ValueKind::Int(i) => {
            warnings.push(Warning {
                pos: e.key_pos.clone(),
                message: format!("{} should be converted to a duration", e.key),
            });
            Ok(GoDuration::from_secs(*i))
        }
        _ => duration(e),
    }
}

/// Seconds as a float (integer or float accepted, as nats-server).
fn seconds(e: &Entry) -> Result<f64, Error> {
    match e.value.kind {
        ValueKind::Int(i) => Ok(i as f64),
        ValueKind::Float(f) => Ok(f),
        _ => Err(mismatch(e, "float64")),
    }
}

fn string_list(e: &Entry) -> Result<Vec<String>, Error> {
    match &e.value.kind {
        ValueKind::Array(a) => a
            .iter()
            .map(|v| match &v.kind {
                ValueKind::String(s) => Ok(s.clone()),
                other => Err(Error::TypeMismatch {
                    key: e.key.clone(),
                    pos: v.pos.clone(),
                    expected: "string",
                    got: other.go_kind(),
                }),
            })
            .collect(),
        _ => Err(mismatch(e, "slice")),
    }
}

/// Go's `net.SplitHostPort` then `strconv.Atoi` of the port.
fn split_host_port(s: &str) -> Result<(String, i64), String> {
    let bad_addr = || format!("could not parse address string {s:?}");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(bad_addr)?;
        let port = rest[end + 1..].strip_prefix(':').ok_or_else(bad_addr)?;
        (&rest[..end], port)
    } else {
        let i = s.rfind(':').ok_or_else(bad_addr)?;
        let host = &s[..i];
        if host.contains(':') || host.contains(['[', ']']) {
            return Err(bad_addr());
        }
        (host, &s[i + 1..])
    };
    let port = port
        .parse::<i64>()
        .map_err(|_| format!("could not parse port {port:?}"))?;
    Ok((host.to_string(), port))
}

/// `listen`/`http`/`https`: a port, or `host:port`.
fn listen(e: &Entry) -> Result<(Option<String>, i64), Error> {
    match &e.value.kind {
        ValueKind::Int(p) => Ok((None, *p)),
        ValueKind::String(s) => split_host_port(s)
            .map(|(h, p)| (Some(h), p))
            .map_err(|m| invalid(e, m)),
        _ => Err(mismatch(e, "string")),
    }
}

// ------------------------------------------------------------------- NATS

/// nats-server options this build does not implement.
const NATS_UNSUPPORTED: &[(&str, &str)] = &[
    ("gateway", "NATS gateways"),
    ("leaf", "NATS leaf nodes"),
    ("leafnodes", "NATS leaf nodes"),
    ("jetstream", "JetStream"),
    ("store_dir", "JetStream"),
    ("storedir", "JetStream"),
    ("websocket", "websocket"),
    ("ws", "websocket"),
    ("mqtt", "MQTT"),
    ("accounts", "NATS accounts"),
    ("mappings", "subject mappings"),
    ("maps", "subject mappings"),
    ("operator", "operator JWTs"),
    ("operators", "operator JWTs"),
    ("root", "operator JWTs"),
    ("roots", "operator JWTs"),
    ("root_operator", "operator JWTs"),
    ("root_operators", "operator JWTs"),
    ("resolver", "account resolvers"),
    ("account_resolver", "account resolvers"),
    ("accounts_resolver", "account resolvers"),
    ("resolver_tls", "account resolvers"),
    ("resolver_preload", "account resolvers"),
    ("resolver_pinned_accounts", "account resolvers"),
    ("system_account", "NATS accounts"),
    ("system", "NATS accounts"),
    ("no_system_account", "NATS accounts"),
    ("no_system", "NATS accounts"),
    ("no_sys_acc", "NATS accounts"),
    ("no_auth_user", "NATS accounts"),
    ("trusted", "operator JWTs"),
    ("trusted_keys", "operator JWTs"),
    ("default_js_domain", "JetStream"),
    ("server_name", ""),
    ("server_tags", ""),
    ("client_advertise", ""),
    ("http_base_path", ""),
    ("ports_file_dir", ""),
    ("prof_port", ""),
    ("syslog", ""),
    ("remote_syslog", ""),
    ("logtime_utc", ""),
    ("logfile_size_limit", ""),
    ("log_size_limit", ""),
    ("logfile_max_num", ""),
    ("log_max_num", ""),
    ("trace_verbose", ""),
    ("max_control_line", ""),
    ("max_traced_msg_len", ""),
    ("max_sub_tokens", ""),
    ("max_subscription_tokens", ""),
    ("disable_sublist_cache", ""),
    ("no_sublist_cache", ""),
    ("no_header_support", ""),
    ("connect_error_reports", ""),
    ("reconnect_error_reports", ""),
    ("lame_duck_duration", ""),
    ("lame_duck_grace_period", ""),
    ("allow_non_tls", ""),
    ("ocsp", "OCSP"),
    ("ocsp_cache", "OCSP"),
];

fn apply_nats(
    name: &str,
    e: &Entry,
    n: &mut NatsSettings,
    warnings: &mut Vec<Warning>,
) -> Result<bool, Error> {
    match name {
        "listen" => {
            let (host, port) = listen(e)?;
            if host.is_some() {
                n.host = host;
            }
            n.port = Some(port);
        }
        "port" => n.port = Some(int(e)?),
        "host" | "net" => n.host = Some(string(e)?),
        "http" | "https" => {
            let (host, port) = listen(e)?;
            if host.is_some() {
                n.http_host = host;
            }
            if name == "http" {
                n.http_port = Some(port);
            } else {
                n.https_port = Some(port);
            }
        }
        "http_port" | "monitor_port" => n.http_port = Some(int(e)?),
        "https_port" => n.https_port = Some(int(e)?),
        "authorization" => parse_auth(e, &mut n.auth)?,
        "cluster" => n.cluster = Some(parse_cluster(e, warnings)?),
        "tls" => {
            let mut t = NatsTlsSettings::default();
            for te in map(e)? {
                let tname = te.key.to_ascii_lowercase();
                if !nats_tls_key(&tname, te, &mut t)? && !te.used_as_variable {
                    return Err(unknown(te, "the tls block"));
                }
            }
            n.tls = Some(t);
        }
        "max_payload" => {
            let v = size(e)?;
            if v > i64::from(i32::MAX) {
                return Err(invalid(e, format!("{} value is too big", e.key)));
            }
            n.max_payload = Some(v);
        }
        "max_pending" => n.max_pending = Some(size(e)?),
        "max_connections" | "max_conn" => n.max_connections = Some(int(e)?),
        "max_subscriptions" | "max_subs" => n.max_subscriptions = Some(int(e)?),
        "ping_interval" => n.ping_interval = Some(duration_or_secs(e, warnings)?),
        "ping_max" => n.ping_max = Some(int(e)?),
        "write_deadline" => n.write_deadline = Some(duration_or_secs(e, warnings)?),
        "logfile" | "log_file" => n.logfile = Some(string(e)?),
        "debug" => n.debug = Some(boolean(e)?),
        "trace" => n.trace = Some(boolean(e)?),
        "logtime" => n.logtime = Some(boolean(e)?),
        "pidfile" | "pid_file" => n.pid_file = Some(string(e)?),
        _ => {
            return match NATS_UNSUPPORTED.iter().find(|(k, _)| *k == name) {
                Some((_, detail)) => Err(unsupported(e, detail)),
                None => Ok(false),
            }
        }
    }
    Ok(true)
}

fn parse_auth(e: &Entry, a: &mut AuthSettings) -> Result<(), Error> {
    for ae in map(e)? {
        match ae.key.to_ascii_lowercase().as_str() {
            "user" | "username" => a.user = Some(string(ae)?),
            "pass" | "password" => a.password = Some(string(ae)?),
            "token" => a.token = Some(string(ae)?),
            "timeout" => a.timeout = Some(seconds(ae)?),
            "users" | "nkeys" => return Err(unsupported(ae, "multiple users")),
            "permissions" | "default_permissions" | "default_permission" => {
                return Err(unsupported(ae, "permissions"))
            }
            "auth_callout" | "callout" => return Err(unsupported(ae, "auth callout")),
            _ if ae.used_as_variable => {}
            _ => return Err(unknown(ae, "the authorization block")),
        }
    }
    if (a.user.is_some() || a.password.is_some()) && a.token.is_some() {
        return Err(Error::InvalidValue {
            key: e.key.clone(),
            pos: e.key_pos.clone(),
            msg: "Cannot have a user/pass and token".into(),
        });
    }
    Ok(())
}

fn nats_tls_key(name: &str, e: &Entry, t: &mut NatsTlsSettings) -> Result<bool, Error> {
    match name {
        "cert_file" => t.cert_file = Some(string(e)?),
        "key_file" => t.key_file = Some(string(e)?),
        "ca_file" => t.ca_file = Some(string(e)?),
        "verify" => t.verify = Some(boolean(e)?),
        "verify_and_map" => t.verify_and_map = Some(boolean(e)?),
        "insecure" => t.insecure = Some(boolean(e)?),
        "timeout" => t.timeout = Some(seconds(e)?),
        "cipher_suites" => t.cipher_suites = Some(string_list(e)?),
        "curve_preferences" => t.curve_preferences = Some(string_list(e)?),
        "pinned_certs"
        | "handshake_first"
        | "first"
        | "min_version"
        | "cert_store"
        | "cert_match"
        | "cert_match_by"
        | "cert_match_skip_invalid"
        | "ca_certs_match"
        | "certs"
        | "ocsp_peer"
        | "verify_cert_and_check_known_urls"
        | "connection_rate_limit" => return Err(unsupported(e, "")),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A top-level `tls` in a file without `streaming` block: Go hands it to
/// both the NATS server and the streaming server.
fn parse_shared_tls(
    e: &Entry,
) -> Result<(Option<NatsTlsSettings>, Option<StreamingTlsSettings>), Error> {
    let m = map(e)?;
    let (mut nt, mut st) = (NatsTlsSettings::default(), StreamingTlsSettings::default());
    let (mut any_nats, mut any_streaming) = (false, false);
    for te in m {
        let tname = te.key.to_ascii_lowercase();
        let a = nats_tls_key(&tname, te, &mut nt)?;
        let b = streaming_tls_key(&tname, te, &mut st)?;
        if !a && !b && !te.used_as_variable {
            return Err(unknown(te, "the tls block"));
        }
        any_nats |= a;
        any_streaming |= b;
    }
    Ok((
        (any_nats || !any_streaming).then_some(nt),
        any_streaming.then_some(st),
    ))
}

// -------------------------------------------------------------- streaming

fn parse_streaming(
    m: &Map,
    section: &str,
    s: &mut StreamingSettings,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    for e in m {
        let name = e.key.to_ascii_lowercase();
        if !apply_streaming(&name, e, s, warnings)? && !e.used_as_variable {
            return Err(unknown(e, section));
        }
    }
    Ok(())
}

fn apply_streaming(
    name: &str,
    e: &Entry,
    s: &mut StreamingSettings,
    warnings: &mut Vec<Warning>,
) -> Result<bool, Error> {
    match name {
        "id" | "cid" | "cluster_id" => s.cluster_id = Some(string(e)?),
        "discover_prefix" => s.discover_prefix = Some(string(e)?),
        "st" | "store_type" | "store" | "storetype" => {
            let v = string(e)?;
            s.store_type = Some(match v.to_uppercase().as_str() {
                "FILE" => StoreType::File,
                "MEMORY" => StoreType::Memory,
                "SQL" => return Err(unsupported(e, "SQL store")),
                _ => return Err(invalid(e, format!("unknown store type: {v}"))),
            });
        }
        "dir" | "datastore" => s.dir = Some(string(e)?),
        "sd" | "stan_debug" => s.debug = Some(boolean(e)?),
        "sv" | "stan_trace" => s.trace = Some(boolean(e)?),
        "ns" | "nats_server" | "nats_server_url" => s.nats_server_url = Some(string(e)?),
        "credentials" => s.credentials = Some(string(e)?),
        "secure" => s.secure = Some(boolean(e)?),
        "tls" => {
            let mut t = StreamingTlsSettings::default();
            for te in map(e)? {
                let tname = te.key.to_ascii_lowercase();
                if !streaming_tls_key(&tname, te, &mut t)? && !te.used_as_variable {
                    return Err(unknown(te, "the streaming tls block"));
                }
            }
            s.tls = Some(t);
        }
        "limits" | "store_limits" | "storelimits" => parse_store_limits(e, &mut s.store_limits)?,
        "file" | "file_options" => parse_file_options(e, &mut s.file, warnings)?,
        "sql" | "sql_options" => return Err(unsupported(e, "SQL store")),
        "hbi" | "hb_interval" | "server_to_client_hb_interval" => {
            s.hb_interval = Some(duration(e)?)
        }
        "hbt" | "hb_timeout" | "server_to_client_hb_timeout" => s.hb_timeout = Some(duration(e)?),
        "hbf" | "hb_fail_count" | "server_to_client_hb_fail_count" => {
            s.hb_fail_count = Some(int(e)?)
        }
        "ft_group" | "ft_group_name" => {
            if !string(e)?.is_empty() {
                return Err(unsupported(e, "fault tolerance mode"));
            }
        }
        "partitioning" => {
            if boolean(e)? {
                return Err(unsupported(e, "partitioning"));
            }
        }
        "cluster" => return Err(unsupported(e, "streaming clustering")),
        "syslog_name" => s.syslog_name = Some(string(e)?),
        "encrypt" => s.encrypt = Some(boolean(e)?),
        "encryption_cipher" => s.encryption_cipher = Some(string(e)?),
        "encryption_key" => s.encryption_key = Some(string(e)?),
        "username" | "user" => s.username = Some(string(e)?),
        "password" | "pass" => s.password = Some(string(e)?),
        "token" => s.token = Some(string(e)?),
        "nkey_seed_file" => s.nkey_seed_file = Some(string(e)?),
        "replace_durable"
        | "replace_durables"
        | "replace_duplicate_durable"
        | "replace_duplicate_durables" => s.replace_durable = Some(boolean(e)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn streaming_tls_key(name: &str, e: &Entry, t: &mut StreamingTlsSettings) -> Result<bool, Error> {
    match name {
        "client_cert" => t.client_cert = Some(string(e)?),
        "client_key" => t.client_key = Some(string(e)?),
        "client_ca" | "client_cacert" => t.client_ca = Some(string(e)?),
        "server_name" | "server_hostname" => t.server_name = Some(string(e)?),
        "skip_verify" | "insecure" => t.skip_verify = Some(boolean(e)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_store_limits(e: &Entry, sl: &mut StoreLimitsSettings) -> Result<(), Error> {
    for le in map(e)? {
        let name = le.key.to_ascii_lowercase();
        match name.as_str() {
            "mc" | "max_channels" | "maxchannels" => sl.max_channels = Some(int(le)?),
            "channels" | "channels_limits" | "channelslimits" | "per_channel"
            | "per_channel_limits" => parse_per_channel(le, &mut sl.channels)?,
            _ => {
                if !channel_limit_key(&name, le, &mut sl.global)? && !le.used_as_variable {
                    return Err(unknown(le, e.key.clone()));
                }
            }
        }
    }
    Ok(())
}

fn parse_per_channel(e: &Entry, out: &mut Vec<ChannelLimitsEntry>) -> Result<(), Error> {
    for ce in map(e)? {
        let ValueKind::Map(limits_map) = &ce.value.kind else {
            if ce.used_as_variable {
                continue;
            }
            return Err(mismatch(ce, "map"));
        };
        if !is_channel_name_valid(&ce.key) {
            return Err(Error::InvalidValue {
                key: ce.key.clone(),
                pos: ce.key_pos.clone(),
                msg: format!("invalid channel name {:?}", ce.key),
            });
        }
        let mut limits = ChannelLimitsSettings::default();
        for le in limits_map {
            let name = le.key.to_ascii_lowercase();
            if !channel_limit_key(&name, le, &mut limits)? && !le.used_as_variable {
                return Err(unknown(le, format!("the limits of channel {:?}", ce.key)));
            }
        }
        let entry = ChannelLimitsEntry {
            name: ce.key.clone(),
            pos: ce.key_pos.clone(),
            limits,
        };
        match out.iter_mut().find(|c| c.name == ce.key) {
            Some(existing) => *existing = entry,
            None => out.push(entry),
        }
    }
    Ok(())
}

fn channel_limit_key(name: &str, e: &Entry, cl: &mut ChannelLimitsSettings) -> Result<bool, Error> {
    match name {
        "msu" | "max_subs" | "max_subscriptions" | "maxsubscriptions" => {
            cl.max_subs = Some(int(e)?)
        }
        "mm" | "max_msgs" | "maxmsgs" | "max_count" | "maxcount" => cl.max_msgs = Some(int(e)?),
        "mb" | "max_bytes" | "maxbytes" => cl.max_bytes = Some(size(e)?),
        "ma" | "max_age" | "maxage" => cl.max_age = Some(duration(e)?),
        "mi" | "max_inactivity" | "maxinactivity" => cl.max_inactivity = Some(duration(e)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// nats-streaming-server's `util.IsChannelNameValid(name, true)`: tokens
/// separated by `.`, none empty, no `/`; `*` and `>` only as whole tokens,
/// `>` only last.
pub fn is_channel_name_valid(name: &str) -> bool {
    if name.is_empty() || name.contains('/') {
        return false;
    }
    let tokens: Vec<&str> = name.split('.').collect();
    let last = tokens.len() - 1;
    tokens.iter().enumerate().all(|(i, t)| {
        if t.is_empty() {
            return false;
        }
        if t.contains(['*', '>']) {
            return *t == "*" || (*t == ">" && i == last);
        }
        true
    })
}

fn parse_file_options(
    e: &Entry,
    f: &mut FileSettings,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    for fe in map(e)? {
        match fe.key.to_ascii_lowercase().as_str() {
            "compact" | "compact_enabled" => f.compact = Some(boolean(fe)?),
            "compact_frag" | "compact_fragmentation" => f.compact_frag = Some(int(fe)?),
            "compact_interval" => f.compact_interval = Some(int(fe)?),
            "compact_min_size" => f.compact_min_size = Some(size(fe)?),
            "buffer_size" => f.buffer_size = Some(size(fe)?),
            "crc" | "do_crc" => f.crc = Some(boolean(fe)?),
            "crc_poly" => f.crc_poly = Some(int(fe)?),
            "sync" | "do_sync" | "sync_on_flush" => f.sync = Some(boolean(fe)?),
            "slice_max_msgs" | "slice_max_count" | "slice_msgs" | "slice_count" => {
                f.slice_max_msgs = Some(int(fe)?)
            }
            "slice_max_bytes" | "slice_max_size" | "slice_bytes" | "slice_size" => {
                f.slice_max_bytes = Some(size(fe)?)
            }
            "slice_max_age" | "slice_age" | "slice_max_time" | "slice_time_limit" => {
                f.slice_max_age = Some(duration(fe)?)
            }
            "slice_archive_script" | "slice_archive" | "slice_script" => {
                f.slice_archive_script = Some(string(fe)?)
            }
            "file_descriptors_limit" | "fds_limit" => f.fds_limit = Some(int(fe)?),
            "parallel_recovery" => f.parallel_recovery = Some(int(fe)?),
            "file_read_buffer_size" | "read_buffer_size" => f.read_buffer_size = Some(size(fe)?),
            "file_auto_sync" | "auto_sync" => f.auto_sync = Some(duration(fe)?),
            "truncate_bad_eof" | "file_truncate_bad_eof" => f.truncate_bad_eof = Some(boolean(fe)?),
            "cache" => warnings.push(Warning {
                pos: fe.key_pos.clone(),
                message: format!("\"{}\" is an obsolete file store option, ignored", fe.key),
            }),
            _ if fe.used_as_variable => {}
            _ => return Err(unknown(fe, e.key.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for ok in [
            "foo", "foo.bar", "foo.*", "foo.>", "*", ">", "*.bar.>", "a b",
        ] {
            assert!(is_channel_name_valid(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            "foo/bar",
            "foo*",
            "foo.>.bar",
            "f>",
        ] {
            assert!(!is_channel_name_valid(bad), "{bad}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("0.0.0.0:4222"),
            Ok(("0.0.0.0".into(), 4222))
        );
        assert_eq!(split_host_port(":-1"), Ok(("".into(), -1)));
        assert_eq!(split_host_port("[::1]:4222"), Ok(("::1".into(), 4222)));
        assert!(split_host_port("localhost").is_err());
        assert!(split_host_port("::1:4222").is_err());
        assert!(split_host_port("host:port").is_err());
    }
}
