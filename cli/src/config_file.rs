//! `-c FILE` / `-sc FILE`: a configuration file in the NATS format
//! ([`stan_config`]) under the command line. Every setting that has a
//! flag becomes that flag's value unless the flag was given (so the file
//! goes through the flags' own checks, and flags override the file, as in
//! Go); the settings without a flag (per-channel limits, the embedded
//! server's limits, `discover_prefix`, ...) are applied to the options
//! afterwards. A file that does not parse, has an unknown key or a value
//! of the wrong type is refused whole, naming the file, line and column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stan_config::fs::{FsLoader, ProcessEnv};
use stan_config::{ChannelLimitsSettings, ConfigSettings, GoDuration, StoreType};
use stan_core::stan::server::LimitsOverride;

use crate::flags::Values;
use crate::server_opts::{OptionsError, ServerOptions};

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
    Ok(())
}

/// A count from the file that must fit `T` and not be negative.
fn count<T: TryFrom<i64>>(key: &str, n: i64) -> Result<T, OptionsError> {
    T::try_from(n).map_err(|_| OptionsError::Config(format!("{key}: {n} is out of range")))
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

/// Applies what has no flag: the embedded server's limits, the
/// authorization timeout, the monitoring host, `discover_prefix`, the
/// syslog tag, and the per-channel limits. Refuses what this build does
/// not do (connecting to NATS with credentials from the file).
pub fn apply_rest(opts: &mut ServerOptions, settings: &ConfigSettings) -> Result<(), OptionsError> {
    let n = &settings.nats;
    let s = &settings.streaming;
    let r = &mut opts.router;
    if let Some(t) = n.auth.timeout {
        if !(t.is_finite() && t >= 0.0) {
            return Err(OptionsError::Config(format!(
                "authorization timeout: {t} is out of range"
            )));
        }
        r.auth_timeout = Duration::from_secs_f64(t);
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
            if !(t.is_finite() && t > 0.0) {
                return Err(OptionsError::Config(format!(
                    "tls timeout: {t} is out of range"
                )));
            }
            options.handshake_timeout = Duration::from_secs_f64(t);
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
