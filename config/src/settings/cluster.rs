//! The top-level `cluster { … }` block: nats-server 2.9's `parseCluster`
//! (`server/opts.go`), with its aliases and value forms.
//!
//! Keys: `name`; `listen` (`port` or `host:port`); `host`/`net`; `port`;
//! `routes` (an array of URLs); `advertise`/`cluster_advertise`;
//! `no_advertise`; `connect_retries`; `authorization { user password
//! timeout }`; `tls { }` (TLS on routes: the keys of the top-level `tls`
//! block, `cert_file key_file ca_file verify timeout insecure …`; what the
//! server does not support is the caller's to refuse). Refused as
//! unsupported: `permissions` (route permissions, also inside
//! `authorization`), and the
//! streaming server's Raft clustering keys (`node_id`, `peers`, …), which
//! belong in `streaming { cluster { } }`. nats-server 2.10's keys
//! (`pool_size`, `compression`, …) are unknown keys, as nats-server 2.9
//! reports them.
//!
//! Read from nats-server's `server/opts.go` (`parseCluster`,
//! `parseListen`, `parseURLs`, a 2.9 copy without the 2.10 keys) and
//! checked against Debian's nats-server 2.9.10 (`unknown field
//! "pool_size"`, `Cluster authorization does not support tokens`). The
//! 2.10 key list and the streaming clustering keys are from memory of
//! nats-server 2.10 and nats-streaming-server 0.25.
//!
//! Differences from Go, which reads the keys of a map in random order: a
//! later key wins (`listen: 6222` after `host: h` keeps `h`; in Go either
//! may win); a route that is not a string is a type error (Go panics into
//! a config error).

use crate::error::Error;
use crate::value::{Entry, Pos, ValueKind};

use super::{
    boolean, int, listen, map, mismatch, nats_tls_key, seconds, string, unknown, unsupported,
    NatsTlsSettings, Warning,
};

/// The `cluster { … }` block at the top level: the embedded NATS server's
/// routes, as nats-server 2.9's `parseCluster` reads it. (The streaming
/// server's Raft clustering, `streaming { cluster { … } }`, is refused as
/// unsupported.)
///
/// As in nats-server, the block only turns routing on with a port: no
/// `port`/`listen`, or port 0, means no route listener. Ports and URLs are
/// kept as written; the caller checks their range and form.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSettings {
    /// Where the `cluster` key is, for the caller's errors.
    pub pos: Pos,
    /// `name`.
    pub name: Option<String>,
    /// `host`, `net`, or the host part of `listen`.
    pub host: Option<String>,
    /// `port`, or the port of `listen` (`-1`: a random port, as in Go).
    pub port: Option<i64>,
    /// `routes`: the URLs to solicit, trimmed, in file order; a repeated
    /// URL is dropped with a warning, as in Go. `None` when absent.
    pub routes: Option<Vec<ClusterRoute>>,
    /// `advertise`, `cluster_advertise`.
    pub advertise: Option<String>,
    /// `no_advertise`.
    pub no_advertise: Option<bool>,
    /// `connect_retries`.
    pub connect_retries: Option<i64>,
    /// `authorization { user password timeout }` (nats-server refuses a
    /// token or several users here; so does this mapping).
    pub auth: ClusterAuthSettings,
    /// `tls { … }`: TLS on routes (the same keys as the top-level `tls`
    /// block; nats-server uses the certificate both to accept routes and
    /// as the client certificate of the routes it solicits).
    pub tls: Option<NatsTlsSettings>,
}

impl ClusterSettings {
    /// An empty block found at `pos`.
    pub fn new(pos: Pos) -> Self {
        ClusterSettings {
            pos,
            name: None,
            host: None,
            port: None,
            routes: None,
            advertise: None,
            no_advertise: None,
            connect_retries: None,
            auth: ClusterAuthSettings::default(),
            tls: None,
        }
    }
}

/// One URL of `cluster { routes: [ … ] }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRoute {
    /// The URL, trimmed (`nats://host:port`, `nats-route://user:pass@host:port`, …).
    pub url: String,
    /// Where it is written.
    pub pos: Pos,
}

/// `cluster { authorization { … } }`: the credentials routes use, both
/// to accept and to solicit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterAuthSettings {
    /// `user`, `username`.
    pub user: Option<String>,
    /// `password`, `pass`.
    pub password: Option<String>,
    /// `timeout`, in seconds (integer or float).
    pub timeout: Option<f64>,
}

const SECTION: &str = "the cluster block";

/// Cluster keys nats-server 2.10 added (route pooling, compression,
/// per-account routes, route keepalive): nats-server 2.9 reports them as
/// unknown fields.
const NATS_2_10: &[&str] = &[
    "pool_size",
    "accounts",
    "compression",
    "ping_interval",
    "ping_max",
];

/// nats-streaming-server's clustering (Raft) options: in Go they belong in
/// `streaming { cluster { … } }`, which this build does not support.
const STREAMING_CLUSTERING: &[&str] = &[
    "node_id",
    "bootstrap",
    "peers",
    "log_path",
    "raft_log_path",
    "log_cache_size",
    "log_snapshots",
    "trailing_logs",
    "sync",
    "raft_logging",
    "raft_heartbeat_timeout",
    "raft_election_timeout",
    "raft_lease_timeout",
    "raft_commit_timeout",
    "proceed_on_restore_failure",
    "allow_add_remove_node",
    "bolt_free_list_sync",
    "bolt_free_list_map",
    "nodes_connections",
];

/// The top-level `cluster` entry `e`.
pub(super) fn parse_cluster(
    e: &Entry,
    warnings: &mut Vec<Warning>,
) -> Result<ClusterSettings, Error> {
    let mut c = ClusterSettings::new(e.key_pos.clone());
    for ce in map(e)? {
        let name = ce.key.to_ascii_lowercase();
        match name.as_str() {
            "name" => c.name = Some(string(ce)?),
            "listen" => {
                let (host, port) = listen(ce)?;
                if host.is_some() {
                    c.host = host;
                }
                c.port = Some(port);
            }
            "port" => c.port = Some(int(ce)?),
            "host" | "net" => c.host = Some(string(ce)?),
            "authorization" => parse_cluster_auth(ce, &mut c.auth)?,
            "routes" => c.routes = Some(routes(ce, warnings)?),
            "advertise" | "cluster_advertise" => c.advertise = Some(string(ce)?),
            "no_advertise" => c.no_advertise = Some(boolean(ce)?),
            "connect_retries" => c.connect_retries = Some(int(ce)?),
            "tls" => c.tls = Some(parse_cluster_tls(ce)?),
            "permissions" => return Err(unsupported(ce, "route permissions")),
            _ if ce.used_as_variable => {}
            n if NATS_2_10.contains(&n) => {
                return Err(unknown(
                    ce,
                    format!(
                        "{SECTION} (a nats-server 2.10 option; this build has nats-server 2.9's routes)"
                    ),
                ))
            }
            n if STREAMING_CLUSTERING.contains(&n) => {
                return Err(unsupported(
                    ce,
                    "streaming clustering; in Go it belongs in streaming { cluster { } }",
                ))
            }
            _ => return Err(unknown(ce, SECTION)),
        }
    }
    Ok(c)
}

/// `cluster { tls { … } }`: the keys of the top-level `tls` block.
fn parse_cluster_tls(e: &Entry) -> Result<NatsTlsSettings, Error> {
    let mut t = NatsTlsSettings::default();
    for te in map(e)? {
        let name = te.key.to_ascii_lowercase();
        if !nats_tls_key(&name, te, &mut t)? && !te.used_as_variable {
            return Err(unknown(te, "the cluster tls block"));
        }
    }
    Ok(t)
}

/// nats-server's `parseAuthorization` under `cluster`: one user, no token.
fn parse_cluster_auth(e: &Entry, a: &mut ClusterAuthSettings) -> Result<(), Error> {
    let refuse = |msg: &str| Error::InvalidValue {
        key: e.key.clone(),
        pos: e.key_pos.clone(),
        msg: msg.into(),
    };
    for ae in map(e)? {
        match ae.key.to_ascii_lowercase().as_str() {
            "user" | "username" => a.user = Some(string(ae)?),
            "pass" | "password" => a.password = Some(string(ae)?),
            "timeout" => a.timeout = Some(seconds(ae)?),
            "token" => return Err(refuse("Cluster authorization does not support tokens")),
            "users" | "nkeys" => {
                return Err(refuse(
                    "Cluster authorization does not allow multiple users",
                ))
            }
            "permissions" | "default_permissions" | "default_permission" => {
                return Err(unsupported(ae, "route permissions"))
            }
            _ if ae.used_as_variable => {}
            _ => return Err(unknown(ae, "the cluster authorization block")),
        }
    }
    Ok(())
}

/// `routes: [ url, … ]`: strings, trimmed; a repeated URL is dropped with
/// nats-server's warning.
fn routes(e: &Entry, warnings: &mut Vec<Warning>) -> Result<Vec<ClusterRoute>, Error> {
    let ValueKind::Array(values) = &e.value.kind else {
        return Err(mismatch(e, "slice"));
    };
    let mut out: Vec<ClusterRoute> = Vec::with_capacity(values.len());
    for v in values {
        let ValueKind::String(text) = &v.kind else {
            return Err(Error::TypeMismatch {
                key: e.key.clone(),
                pos: v.pos.clone(),
                expected: "string",
                got: v.kind.go_kind(),
            });
        };
        let url = text.trim();
        if url.is_empty() {
            return Err(Error::InvalidValue {
                key: e.key.clone(),
                pos: v.pos.clone(),
                msg: "empty route URL".into(),
            });
        }
        if out.iter().any(|r| r.url == url) {
            warnings.push(Warning {
                pos: v.pos.clone(),
                message: format!("Duplicate route entry detected: {url:?} (ignored)"),
            });
            continue;
        }
        out.push(ClusterRoute {
            url: url.to_owned(),
            pos: v.pos.clone(),
        });
    }
    Ok(out)
}
