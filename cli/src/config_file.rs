//! `-c FILE` / `-sc FILE`: a configuration file in the NATS format
//! ([`stan_config`]) under the command line. Every setting that has a
//! flag becomes that flag's value unless the flag was given (so the file
//! goes through the flags' own checks, and flags override the file, as in
//! Go); the settings without a flag (per-channel limits, the embedded
//! server's limits, `discover_prefix`, ...) are applied to the options
//! afterwards. A file that does not parse, has an unknown key or a value
//! of the wrong type is refused whole, naming the file, line and column.
//!
//! The `cluster { }` block becomes the clustering flags: its listen
//! address (with the `authorization` credentials in it) the value a user
//! would give `--cluster` (`nats://user:pass@host:port`), its routes
//! `--routes`, and so on; a `--cluster` on the command line replaces the
//! file's listen address and credentials, as in nats-server. Its `tls { }`
//! (TLS on routes, which has no flag in nats-server) goes straight to
//! the options ([`apply_rest`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use stan_config::fs::{FsLoader, ProcessEnv};
use stan_config::{
    ChannelLimitsSettings, ClusterSettings, ConfigSettings, GoDuration, NatsTlsSettings, StoreType,
};
use stan_core::nats::router::RouteUrl;
use stan_core::stan::server::LimitsOverride;
use stan_tls::{Pem, ServerTlsOptions};

use crate::flags::Values;
use crate::server_opts::{OptionsError, RouteTlsOptions, ServerOptions};

/// The configuration files a command line names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFiles {
    /// `-c`: NATS options (and a `streaming { }` block).
    pub nats: Option<PathBuf>,
    /// `-sc`: streaming options.
    pub streaming: Option<PathBuf>,
}

impl ConfigFiles {
    /// Whether any file is named.
    pub fn any(&self) -> bool {
        self.nats.is_some() || self.streaming.is_some()
    }
}

/// Reads the files: as in Go, one file serves both parts; with both, `-c`
/// gives the NATS part and `-sc` the streaming one.
pub fn load(files: &ConfigFiles) -> Result<Option<ConfigSettings>, OptionsError> {
    let read = |path: &Path| {
        stan_config::load_nats_config(path, &FsLoader, &ProcessEnv)
            .map_err(|e| OptionsError::Config(e.to_string()))
    };
    Ok(match (&files.nats, &files.streaming) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(read(one)?),
        (Some(nats), Some(streaming)) => {
            let mut settings = read(nats)?;
            let other = read(streaming)?;
            settings.streaming = other.streaming;
            settings.warnings.extend(other.warnings);
            Some(settings)
        }
    })
}

/// Go's duration text of a file's duration, or the refusal naming `key`.
fn duration(key: &str, d: GoDuration) -> Result<String, OptionsError> {
    d.to_std()
        .map(|d| format!("{}ns", d.as_nanos()))
        .ok_or_else(|| OptionsError::Config(format!("{key}: negative duration {d}")))
}

/// Sets the flags the command line left unset from `settings`.
pub fn fill_flags(v: &mut Values, settings: &ConfigSettings) -> Result<(), OptionsError> {
    let n = &settings.nats;
    let s = &settings.streaming;
    let l = &s.store_limits;
    let f = &s.file;
    let mut set = |flag: &'static str, value: Option<String>| {
        if let Some(value) = value {
            v.set_default(flag, value);
        }
    };
    let text = |o: &Option<String>| o.clone();
    let num = |o: Option<i64>| o.map(|n| n.to_string());
    let flag = |o: Option<bool>| o.map(|b| b.to_string());
    set("a", text(&n.host));
    set("p", num(n.port));
    set("m", num(n.http_port));
    set("ms", num(n.https_port));
    set("user", text(&n.auth.user));
    set("pass", text(&n.auth.password));
    set("auth", text(&n.auth.token));
    set("l", text(&n.logfile));
    set("D", flag(n.debug));
    set("V", flag(n.trace));
    set("T", flag(n.logtime));
    set("P", text(&n.pid_file));
    if let Some(tls) = &n.tls {
        let verify = tls.verify.unwrap_or(false) || tls.verify_and_map.unwrap_or(false);
        set(
            if verify { "tlsverify" } else { "tls" },
            Some("true".into()),
        );
        set("tlscert", text(&tls.cert_file));
        set("tlskey", text(&tls.key_file));
        set("tlscacert", text(&tls.ca_file));
    }
    set("secure", flag(s.secure));
    if let Some(tls) = &s.tls {
        set("tls_client_cert", text(&tls.client_cert));
        set("tls_client_key", text(&tls.client_key));
        set("tls_client_cacert", text(&tls.client_ca));
    }
    set("cid", text(&s.cluster_id));
    set(
        "st",
        s.store_type.map(|t| match t {
            StoreType::Memory => "MEMORY".to_owned(),
            StoreType::File => "FILE".to_owned(),
        }),
    );
    set("dir", text(&s.dir));
    set("ns", text(&s.nats_server_url));
    set("SD", flag(s.debug));
    set("SV", flag(s.trace));
    set(
        "hbi",
        s.hb_interval
            .map(|d| duration("hb_interval", d))
            .transpose()?,
    );
    set(
        "hbt",
        s.hb_timeout
            .map(|d| duration("hb_timeout", d))
            .transpose()?,
    );
    set("hbf", num(s.hb_fail_count));
    set("encrypt", flag(s.encrypt));
    set("encryption_cipher", text(&s.encryption_cipher));
    set("encryption_key", text(&s.encryption_key));
    set("replace_durable", flag(s.replace_durable));
    set("mc", num(l.max_channels));
    set("mm", num(l.global.max_msgs));
    set("mb", num(l.global.max_bytes));
    set(
        "ma",
        l.global
            .max_age
            .map(|d| duration("max_age", d))
            .transpose()?,
    );
    set("msu", num(l.global.max_subs));
    set(
        "mi",
        l.global
            .max_inactivity
            .map(|d| duration("max_inactivity", d))
            .transpose()?,
    );
    set("file_compact_enabled", flag(f.compact));
    set("file_compact_frag", num(f.compact_frag));
    set("file_compact_interval", num(f.compact_interval));
    set("file_compact_min_size", num(f.compact_min_size));
    set("file_buffer_size", num(f.buffer_size));
    set("file_crc", flag(f.crc));
    set("file_crc_poly", num(f.crc_poly));
    set("file_sync", flag(f.sync));
    set("file_slice_max_msgs", num(f.slice_max_msgs));
    set("file_slice_max_bytes", num(f.slice_max_bytes));
    set(
        "file_slice_max_age",
        f.slice_max_age
            .map(|d| duration("slice_max_age", d))
            .transpose()?,
    );
    set("file_slice_archive_script", text(&f.slice_archive_script));
    set("file_fds_limit", num(f.fds_limit));
    set("file_parallel_recovery", num(f.parallel_recovery));
    set("file_read_buffer_size", num(f.read_buffer_size));
    set(
        "file_auto_sync",
        f.auto_sync.map(|d| duration("auto_sync", d)).transpose()?,
    );
    set("file_truncate_bad_eof", flag(f.truncate_bad_eof));
    if let Some(c) = &n.cluster {
        let routes_on_command_line = v.get("routes").is_some();
        for (name, value) in cluster_flags(c)? {
            v.set_default(name, value);
        }
        let file_routes = c.routes.as_ref().is_some_and(|r| !r.is_empty());
        if file_routes && !routes_on_command_line && v.get("cluster").is_none() {
            // nats-server 2.9 ignores such routes silently.
            return Err(OptionsError::Config(format!(
                "{}: cluster: the routes need a route listener (a listen port in the cluster block, or --cluster): solicited routes require cluster capabilities",
                c.pos
            )));
        }
    }
    Ok(())
}

/// The flag values of a `cluster { }` block. As in nats-server, the block
/// listens for routes only with a port other than 0.
fn cluster_flags(c: &ClusterSettings) -> Result<Vec<(&'static str, String)>, OptionsError> {
    let at = |msg: String| OptionsError::Config(format!("{}: cluster: {msg}", c.pos));
    let mut out = Vec::new();
    match c.port {
        None | Some(0) => {}
        Some(port) if !(-1..=65535).contains(&port) => {
            return Err(at(format!(
                "port {port} is out of range (1..65535, or -1 for a free one)"
            )))
        }
        Some(port) => {
            let host = c
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or("0.0.0.0");
            if host.contains(|ch: char| ch.is_whitespace() || "/@?#[]%,".contains(ch)) {
                return Err(at(format!(
                    "host {host:?} is not a host name or IP address"
                )));
            }
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            // nats-server's routes authenticate when the cluster has a user
            // (a password alone asks for nothing).
            let userinfo = match c.auth.user.as_deref().filter(|u| !u.is_empty()) {
                Some(user) => format!(
                    "{}:{}@",
                    escape_userinfo(user),
                    escape_userinfo(c.auth.password.as_deref().unwrap_or_default())
                ),
                None => String::new(),
            };
            out.push(("cluster", format!("nats://{userinfo}{host}:{port}")));
        }
    }
    if let Some(routes) = &c.routes {
        for r in routes {
            check_route_url(&r.url).map_err(|why| {
                OptionsError::Config(format!("{}: cluster: route URL {:?}: {why}", r.pos, r.url))
            })?;
        }
        if !routes.is_empty() {
            let urls: Vec<&str> = routes.iter().map(|r| r.url.as_str()).collect();
            out.push(("routes", urls.join(",")));
        }
    }
    if let Some(name) = &c.name {
        out.push(("cluster_name", name.clone()));
    }
    if let Some(advertise) = &c.advertise {
        out.push(("cluster_advertise", advertise.clone()));
    }
    if let Some(b) = c.no_advertise {
        out.push(("no_advertise", b.to_string()));
    }
    if let Some(n) = c.connect_retries {
        if u32::try_from(n).is_err() {
            return Err(at(format!(
                "connect_retries {n} is out of range (0..{})",
                u32::MAX
            )));
        }
        out.push(("connect_retries", n.to_string()));
    }
    Ok(out)
}

/// The form checks `--routes` makes, here to name the file's line: a
/// `nats://` or `nats-route://` URL (or `host:port`) with a port, and no
/// `,` (which would split the flag's list).
fn check_route_url(url: &str) -> Result<(), &'static str> {
    if url.contains(',') {
        return Err("a ',' cannot be passed on to --routes (write it %2C)");
    }
    let scheme_ok = url.split_once("://").is_none_or(|(scheme, _)| {
        ["nats", "nats-route"].contains(&scheme.to_ascii_lowercase().as_str())
    });
    if scheme_ok && RouteUrl::parse(url).is_some() {
        Ok(())
    } else {
        Err("expected nats://host:port or nats-route://host:port")
    }
}

/// Go's `url.UserPassword(..).String()` escaping: everything but letters,
/// digits and `-_.~$&+,;=` as `%XX`.
fn escape_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `cluster { tls { } }`: a certificate and key are required (they serve
/// both sides of a route, as in nats-server); `ca_file` verifies the peer
/// (the system's roots when absent).
fn route_tls(tls: &NatsTlsSettings) -> Result<RouteTlsOptions, String> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Err("a route certificate and key are required (cert_file and key_file)".into());
    };
    let unsupported = [
        ("verify_and_map", tls.verify_and_map.is_some()),
        ("cipher_suites", tls.cipher_suites.is_some()),
        ("curve_preferences", tls.curve_preferences.is_some()),
    ];
    if let Some((key, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(format!("{key} is not supported by this build"));
    }
    let mut options = ServerTlsOptions::new(Pem::file(cert), Pem::file(key));
    options.ca = tls.ca_file.as_ref().map(Pem::file);
    options.verify = tls.verify.unwrap_or(false);
    if let Some(t) = tls.timeout {
        match Duration::try_from_secs_f64(t) {
            Ok(d) if !d.is_zero() => options.handshake_timeout = d,
            _ => return Err(format!("timeout {t} is out of range")),
        }
    }
    Ok(RouteTlsOptions {
        tls: options,
        insecure: tls.insecure.unwrap_or(false),
    })
}

/// A count from the file that must fit `T` and not be negative.
fn count<T: TryFrom<i64>>(key: &str, n: i64) -> Result<T, OptionsError> {
    T::try_from(n).map_err(|_| OptionsError::Config(format!("{key}: {n} is out of range")))
}

/// A timeout in seconds from the file (`authorization { timeout }`, `tls
/// { timeout }`): finite, not negative, and not beyond what a `Duration`
/// holds.
fn seconds(key: &str, t: f64) -> Result<Duration, OptionsError> {
    Duration::try_from_secs_f64(t)
        .map_err(|_| OptionsError::Config(format!("{key}: {t} is out of range")))
}

fn std_duration(key: &str, d: GoDuration) -> Result<Duration, OptionsError> {
    d.to_std()
        .ok_or_else(|| OptionsError::Config(format!("{key}: negative duration {d}")))
}

/// A per-channel limit: `None` inherits; 0 or less is unlimited (as Go
/// turns a per-channel 0 into -1).
fn per_channel(l: &ChannelLimitsSettings) -> LimitsOverride {
    let unlimited_or = |n: i64| u64::try_from(n).unwrap_or(0);
    LimitsOverride {
        max_msgs: l.max_msgs.map(unlimited_or),
        max_bytes: l.max_bytes.map(unlimited_or),
        max_age: l.max_age.map(|d| d.to_std().unwrap_or(Duration::ZERO)),
        max_subs: l.max_subs.map(|n| usize::try_from(n).unwrap_or(0)),
        max_inactivity: l
            .max_inactivity
            .map(|d| d.to_std().unwrap_or(Duration::ZERO)),
    }
}

/// Whether the file sets the clients' and the routes' authorization
/// timeouts (0 does not: it keeps the default).
pub fn auth_timeouts_set(settings: &ConfigSettings) -> (bool, bool) {
    let set = |t: Option<f64>| t.is_some_and(|t| t != 0.0);
    let cluster = settings.nats.cluster.as_ref().and_then(|c| c.auth.timeout);
    (set(settings.nats.auth.timeout), set(cluster))
}

/// Applies what has no flag: the embedded server's limits, the
/// authorization timeouts (clients' and routes'), the monitoring host, `discover_prefix`, the
/// syslog tag, and the per-channel limits. Refuses what this build does
/// not do (connecting to NATS with credentials from the file).
pub fn apply_rest(opts: &mut ServerOptions, settings: &ConfigSettings) -> Result<(), OptionsError> {
    let n = &settings.nats;
    let s = &settings.streaming;
    let r = &mut opts.router;
    if let Some(t) = n.auth.timeout {
        let timeout = seconds("authorization timeout", t)?;
        // nats-server: 0 keeps the default.
        if !timeout.is_zero() {
            r.auth_timeout = timeout;
        }
    }
    let cluster_auth_timeout = n.cluster.as_ref().and_then(|c| c.auth.timeout);
    if let (Some(t), Some(cluster)) = (cluster_auth_timeout, r.cluster.as_mut()) {
        let timeout = seconds("cluster authorization timeout", t)?;
        // nats-server: 0 keeps the default.
        if !timeout.is_zero() {
            cluster.auth_timeout = timeout;
        }
    }
    if let Some(x) = n.max_payload {
        r.max_payload = count("max_payload", x)?;
    }
    if let Some(x) = n.max_connections {
        r.max_connections = count("max_connections", x)?;
    }
    if let Some(x) = n.max_subscriptions {
        r.max_subscriptions = count("max_subscriptions", x)?;
    }
    if let Some(x) = n.max_pending {
        r.max_pending = count("max_pending", x)?;
    }
    if let Some(d) = n.ping_interval {
        r.ping_interval = std_duration("ping_interval", d)?;
    }
    if let Some(x) = n.ping_max {
        r.max_pings_out = count("ping_max", x)?;
    }
    if let Some(d) = n.write_deadline {
        r.write_deadline = std_duration("write_deadline", d)?;
    }
    if let Some(host) = &n.http_host {
        opts.http_host = Some(host.clone());
    }
    if let (Some(tls), Some(options)) = (&n.tls, opts.tls.as_mut()) {
        if let Some(t) = tls.timeout {
            let timeout = seconds("tls timeout", t)?;
            if timeout.is_zero() {
                return Err(OptionsError::Config(format!(
                    "tls timeout: {t} is out of range"
                )));
            }
            options.handshake_timeout = timeout;
        }
        let unsupported = [
            ("insecure", tls.insecure.is_some()),
            ("cipher_suites", tls.cipher_suites.is_some()),
            ("curve_preferences", tls.curve_preferences.is_some()),
        ];
        if let Some((key, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(OptionsError::Config(format!(
                "tls {key}: not supported by this build (rustls chooses the cipher suites and curves)"
            )));
        }
    }
    if let Some(c) = &n.cluster {
        if let Some(tls) = &c.tls {
            opts.route_tls =
                Some(route_tls(tls).map_err(|msg| {
                    OptionsError::Config(format!("{}: cluster: tls: {msg}", c.pos))
                })?);
        }
    }
    if let (Some(tls), Some(options)) = (&s.tls, opts.nats_tls.as_mut()) {
        if let Some(name) = &tls.server_name {
            options.server_name = Some(name.clone());
        }
        if let Some(skip) = tls.skip_verify {
            options.insecure_skip_verify = skip;
        }
    }
    if let Some(prefix) = &s.discover_prefix {
        opts.engine.discover_prefix = prefix.clone();
    }
    if let Some(tag) = &s.syslog_name {
        opts.log.syslog_tag = Some(tag.clone());
    }
    for entry in &s.store_limits.channels {
        opts.engine
            .limits
            .per_channel
            .push((entry.name.clone(), per_channel(&entry.limits)));
    }
    let unsupported = [
        ("credentials", s.credentials.is_some()),
        ("nkey_seed_file", s.nkey_seed_file.is_some()),
        ("username", s.username.is_some()),
        ("password", s.password.is_some()),
        ("token", s.token.is_some()),
    ];
    if let Some((key, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(OptionsError::Config(format!(
            "streaming {key}: connecting to the NATS server with credentials from the configuration is not supported by this build (put them in nats_server_url: nats://user:password@host:port)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_opts::SPECS;
    use stan_config::{from_nats_config, parse_str, NoEnv, NoIncludes};

    fn settings(src: &str) -> ConfigSettings {
        from_nats_config(&parse_str("t.conf", src, &NoIncludes, &NoEnv).unwrap()).unwrap()
    }

    /// The flag values the block of `src` gives.
    fn flags_of(src: &str) -> Result<Vec<(&'static str, String)>, String> {
        let s = settings(src);
        cluster_flags(s.nats.cluster.as_ref().unwrap()).map_err(|e| e.to_string())
    }

    /// The values after filling under the command line `args`.
    fn filled(src: &str, args: &[&str]) -> Result<Values, String> {
        let mut v = crate::flags::parse(SPECS, args.iter().map(|a| a.to_string())).unwrap();
        fill_flags(&mut v, &settings(src)).map_err(|e| e.to_string())?;
        Ok(v)
    }

    #[test]
    fn every_key_becomes_its_flag() {
        let got = flags_of(
            "cluster {\n  name: c1\n  listen: 127.0.0.1:6222\n  routes: [nats://a:1, \"nats-route://b:2\"]\n  advertise: \"h:7\"\n  no_advertise: true\n  connect_retries: 4\n}",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("cluster", "nats://127.0.0.1:6222".to_owned()),
                ("routes", "nats://a:1,nats-route://b:2".to_owned()),
                ("cluster_name", "c1".to_owned()),
                ("cluster_advertise", "h:7".to_owned()),
                ("no_advertise", "true".to_owned()),
                ("connect_retries", "4".to_owned()),
            ]
        );
    }

    #[test]
    fn listen_url_forms() {
        let cluster = |src: &str| {
            flags_of(src)
                .unwrap()
                .into_iter()
                .find(|(f, _)| *f == "cluster")
                .map(|(_, v)| v)
        };
        // nats-server's default host; a random port; IPv6.
        assert_eq!(
            cluster("cluster { port: 6222 }").as_deref(),
            Some("nats://0.0.0.0:6222")
        );
        assert_eq!(
            cluster("cluster { host: \"\", port: 6222 }").as_deref(),
            Some("nats://0.0.0.0:6222")
        );
        assert_eq!(
            cluster("cluster { listen: \"127.0.0.1:-1\" }").as_deref(),
            Some("nats://127.0.0.1:-1")
        );
        assert_eq!(
            cluster("cluster { listen: \"[::1]:6222\" }").as_deref(),
            Some("nats://[::1]:6222")
        );
        // No port, or port 0: no route listener, as in nats-server.
        assert_eq!(cluster("cluster { host: h, name: n }"), None);
        assert_eq!(cluster("cluster { listen: 0 }"), None);
        // Credentials, escaped as Go's url.UserPassword does.
        assert_eq!(
            cluster(
                "cluster { listen: 127.0.0.1:6222, authorization { user: ruser, password: T0pS3cr3t } }"
            )
            .as_deref(),
            Some("nats://ruser:T0pS3cr3t@127.0.0.1:6222")
        );
        assert_eq!(
            cluster(
                "cluster { port: 1, authorization { user: \"a b@c\", password: \"p:/?#%é$&+,;=~\" } }"
            )
            .as_deref(),
            Some("nats://a%20b%40c:p%3A%2F%3F%23%25%C3%A9$&+,;=~@0.0.0.0:1")
        );
        // A user without a password: an empty one, which Go's flag form
        // keeps; a password without a user asks for nothing, as in Go.
        assert_eq!(
            cluster("cluster { port: 1, authorization { user: u } }").as_deref(),
            Some("nats://u:@0.0.0.0:1")
        );
        assert_eq!(
            cluster("cluster { port: 1, authorization { password: p } }").as_deref(),
            Some("nats://0.0.0.0:1")
        );
        assert_eq!(
            cluster("cluster { port: 1, authorization { timeout: 2 } }").as_deref(),
            Some("nats://0.0.0.0:1")
        );
    }

    #[test]
    fn out_of_range_values_name_the_block() {
        for (src, want) in [
            (
                "cluster { port: 65536 }",
                "t.conf:1:1: cluster: port 65536 is out of range",
            ),
            (
                "cluster { port: -2 }",
                "t.conf:1:1: cluster: port -2 is out of range",
            ),
            (
                "cluster { host: \"a/b\", port: 1 }",
                "t.conf:1:1: cluster: host \"a/b\" is not a host name",
            ),
            (
                "\ncluster { connect_retries: -1 }",
                "t.conf:2:1: cluster: connect_retries -1 is out of range",
            ),
            (
                "cluster {\n  routes: [\"nats://u:a,b@h:1\"]\n}",
                "t.conf:2:13: cluster: route URL \"nats://u:a,b@h:1\": a ',' cannot",
            ),
            (
                "cluster { routes: [\"tls://h:1\"] }",
                "t.conf:1:21: cluster: route URL \"tls://h:1\": expected nats://host:port",
            ),
            (
                "cluster { routes: [\"nats://h\"] }",
                "t.conf:1:21: cluster: route URL \"nats://h\": expected",
            ),
        ] {
            let e = flags_of(src).unwrap_err();
            assert!(e.contains(want), "{src}: {e}");
        }
    }

    #[test]
    fn flags_win_and_routes_need_a_listener() {
        let src = "cluster {\n  name: file\n  listen: 127.0.0.1:6222\n  routes: [nats://h:1]\n}";
        let v = filled(src, &[]).unwrap();
        assert_eq!(v.get("cluster"), Some("nats://127.0.0.1:6222"));
        assert_eq!(v.get("cluster_name"), Some("file"));
        let v = filled(
            src,
            &[
                "--cluster",
                "nats://127.0.0.1:7000",
                "--routes",
                "nats://x:2",
                "--cluster_name",
                "flag",
            ],
        )
        .unwrap();
        assert_eq!(v.get("cluster"), Some("nats://127.0.0.1:7000"));
        assert_eq!(v.get("routes"), Some("nats://x:2"));
        assert_eq!(v.get("cluster_name"), Some("flag"));
        // --no_advertise on the command line beats the file's false.
        let v = filled("cluster { no_advertise: false }", &["--no_advertise"]).unwrap();
        assert!(v.flag("no_advertise"));

        let routes_only = "port: 4222\ncluster {\n  routes: [nats://h:1]\n}";
        let e = filled(routes_only, &[]).unwrap_err();
        assert!(
            e.starts_with("configuration: t.conf:2:1: cluster: the routes need a route listener"),
            "{e}"
        );
        assert!(filled(routes_only, &["--cluster", "nats://127.0.0.1:-1"]).is_ok());
        // Routes from the command line: the flags' own check applies.
        assert!(filled(routes_only, &["--routes", "nats://h:2"]).is_ok());
    }

    #[test]
    fn cluster_authorization_timeout_applies() {
        let opts = |src: &str| {
            let s = settings(src);
            let mut v = crate::flags::parse(SPECS, Vec::<String>::new()).unwrap();
            fill_flags(&mut v, &s).unwrap();
            let mut args: Vec<String> = Vec::new();
            if let Some(c) = v.get("cluster") {
                args.extend(["--cluster".to_owned(), c.to_owned()]);
            }
            let mut o = match crate::server_opts::parse(args).unwrap() {
                crate::server_opts::Command::Serve(o) => *o,
                other => panic!("{other:?}"),
            };
            apply_rest(&mut o, &s)
                .map(|()| o)
                .map_err(|e| e.to_string())
        };
        let o = opts("cluster { listen: 127.0.0.1:-1, authorization { timeout: 0.5 } }").unwrap();
        let c = o.router.cluster.expect("cluster");
        assert_eq!(c.auth_timeout, Duration::from_millis(500));
        // 0 keeps nats-server's default.
        let o = opts("cluster { listen: 127.0.0.1:-1, authorization { timeout: 0 } }").unwrap();
        assert_eq!(
            o.router.cluster.unwrap().auth_timeout,
            Duration::from_secs(2)
        );
        for bad in ["-1", "-0.5", "99999999999999999999.0"] {
            let e = opts(&format!(
                "cluster {{ listen: 127.0.0.1:-1, authorization {{ timeout: {bad} }} }}"
            ))
            .unwrap_err();
            assert!(e.contains("cluster authorization timeout"), "{e}");
        }
        // The client authorization timeout no longer panics on huge values.
        let e = opts("authorization { timeout: 99999999999999999999.0 }").unwrap_err();
        assert!(e.contains("authorization timeout: "), "{e}");
    }

    /// `cluster { tls { } }` becomes the route TLS options (no flag).
    #[test]
    fn cluster_tls_becomes_the_route_tls() {
        let opts = |tls: &str| {
            let src = format!("cluster {{\n  listen: 127.0.0.1:-1\n  tls {{ {tls} }}\n}}");
            let s = settings(&src);
            let mut o = match crate::server_opts::parse(Vec::<String>::new()).unwrap() {
                crate::server_opts::Command::Serve(o) => *o,
                other => panic!("{other:?}"),
            };
            apply_rest(&mut o, &s)
                .map(|()| o.route_tls)
                .map_err(|e| e.to_string())
        };
        let t = opts("cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true, timeout: 0.5, insecure: true")
            .unwrap()
            .expect("route tls");
        assert_eq!(t.tls.cert, Pem::file("c.pem"));
        assert_eq!(t.tls.key, Pem::file("k.pem"));
        assert_eq!(t.tls.ca, Some(Pem::file("ca.pem")));
        assert!(t.tls.verify && t.insecure);
        assert_eq!(t.tls.handshake_timeout, Duration::from_millis(500));
        let t = opts("cert_file: c.pem, key_file: k.pem").unwrap().unwrap();
        assert_eq!(t.tls.ca, None);
        assert!(!t.tls.verify && !t.insecure);
        assert_eq!(t.tls.handshake_timeout, stan_tls::DEFAULT_HANDSHAKE_TIMEOUT);
        for (bad, want) in [
            (
                "cert_file: c.pem",
                "t.conf:1:1: cluster: tls: a route certificate and key are required",
            ),
            (
                "cert_file: c.pem, key_file: k.pem, timeout: 0",
                "cluster: tls: timeout 0 is out of range",
            ),
            (
                "cert_file: c.pem, key_file: k.pem, verify_and_map: true",
                "verify_and_map is not supported",
            ),
        ] {
            let e = opts(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
