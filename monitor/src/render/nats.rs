//! nats-server 2.9's `/varz`, `/connz`, `/subsz`, `/routez` and `/healthz`
//! rendered from a [`RouterSnapshot`]: the same field names, order,
//! nesting and `omitempty` as nats-server (see the fixtures in
//! `shared/fixtures/go-monitoring`).
//!
//! Routes (nats-server 2.9 clustering): `/routez` lists the registered
//! routes; `/varz` shows the `cluster` block (name, listener, configured
//! route URLs), `connect_urls` and the number of `routes` and `remotes`
//! when the server is in a cluster, `{}`, no `connect_urls` and 0 when it
//! is not. Routes are not connections: neither `/connz` nor `/varz`'s
//! `connections` count them, as in nats-server.
//!
//! Where this server has no equivalent, Go's empty value is shown:
//! `gateway`, `leaf`, `mqtt`, `websocket`, `jetstream` and
//! `ocsp_peer_cache` are `{}`, `leafnodes` is 0,
//! `tls_timeout` is nats-server's default 2, `system_account` is `$SYS`
//! (nats-server always creates it), every subscription is in the global
//! account `$G`. `git_commit` (omitempty) is absent. The in-process
//! sessions (the streaming engine's) are listed like Go's in-process
//! clients: kind `Client`, type `nats`, `ip` `""` and `port` 0 (nats-server
//! fills both only for a client with a socket).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use stan_core::nats::router::{
    ClusterSnapshot, ConnSnapshot, RouteSnapshot, RouterSnapshot, SubSnapshot,
};

use super::{json, json_compact, page, text, Empty, GoFloat};
use crate::handler::{MonitorSettings, Response};
use crate::procfs::ProcStats;
use crate::query::Query;
use crate::timefmt::{rfc3339, rtt, uptime, wall_at};

/// nats-server's default number of connections or subscriptions listed.
pub(crate) const DEFAULT_LIST_SIZE: i64 = 1024;

/// The only account there is.
const GLOBAL_ACCOUNT: &str = "$G";

/// The clocks of a request: `now` on the snapshots' clock is `wall`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    pub(crate) now: Instant,
    pub(crate) wall: SystemTime,
}

impl Clocks {
    fn time(&self, t: Instant) -> String {
        rfc3339(wall_at(t, self.now, self.wall))
    }

    fn now(&self) -> String {
        rfc3339(self.wall)
    }

    fn since(&self, t: Instant) -> String {
        uptime(self.now.saturating_duration_since(t))
    }
}

// ---------------------------------------------------------------- /varz

/// What `/varz` shows besides the snapshot.
pub(crate) struct VarzExtras<'a> {
    pub(crate) settings: &'a MonitorSettings,
    pub(crate) version: &'a str,
    pub(crate) proc: ProcStats,
    pub(crate) cpu: f64,
    pub(crate) cores: usize,
    pub(crate) http_req_stats: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Varz<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u8,
    go: &'a str,
    host: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    connect_urls: &'a [String],
    max_connections: usize,
    #[serde(skip_serializing_if = "is_zero_usize")]
    max_subscriptions: usize,
    ping_interval: u128,
    ping_max: u32,
    http_host: &'a str,
    http_port: u16,
    http_base_path: &'a str,
    https_port: u16,
    auth_timeout: GoFloat,
    max_control_line: usize,
    max_payload: usize,
    max_pending: usize,
    cluster: ClusterVarz<'a>,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    tls_timeout: GoFloat,
    write_deadline: u128,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    cpu: GoFloat,
    connections: usize,
    total_connections: u64,
    routes: usize,
    remotes: usize,
    leafnodes: u32,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: u64,
    http_req_stats: BTreeMap<String, u64>,
    config_load_time: String,
    system_account: &'a str,
    ocsp_peer_cache: Empty,
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// nats-server's `ClusterOptsVarz`: every field omitempty, so `{}` without
/// a cluster. No cluster TLS is configurable here (`tls_required` and
/// `tls_verify` stay absent); `tls_timeout` is nats-server's cluster
/// default (2 s), as it prints it.
#[derive(Serialize, Default)]
struct ClusterVarz<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(rename = "addr", skip_serializing_if = "str::is_empty")]
    host: &'a str,
    #[serde(rename = "cluster_port", skip_serializing_if = "is_zero_u16")]
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_timeout: Option<GoFloat>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    urls: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_timeout: Option<GoFloat>,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

/// nats-server's default cluster `tls_timeout`, seconds.
const CLUSTER_TIMEOUT_SECS: f64 = 2.0;

impl<'a> ClusterVarz<'a> {
    fn new(cluster: Option<&'a ClusterSnapshot>) -> Self {
        match cluster {
            None => ClusterVarz::default(),
            Some(c) => ClusterVarz {
                name: &c.name,
                host: &c.host,
                port: c.port,
                auth_timeout: Some(GoFloat(c.auth_timeout.as_secs_f64())),
                urls: &c.urls,
                tls_timeout: Some(GoFloat(CLUSTER_TIMEOUT_SECS)),
            },
        }
    }
}

/// `/varz`.
pub(crate) fn varz(
    snap: &RouterSnapshot,
    extras: VarzExtras<'_>,
    clocks: Clocks,
    query: &Query,
) -> Response {
    let s = extras.settings;
    let cluster = snap.cluster.as_ref();
    let num_routes = cluster.map_or(0, |c| c.routes.len());
    let v = Varz {
        server_id: &snap.server_id,
        server_name: &snap.server_name,
        version: extras.version,
        proto: 1,
        go: &s.toolchain,
        host: &snap.host,
        port: snap.port,
        auth_required: snap.auth_required,
        connect_urls: cluster.map_or(&[], |c| &c.connect_urls),
        max_connections: snap.max_connections,
        max_subscriptions: snap.max_subscriptions,
        ping_interval: snap.ping_interval.as_nanos(),
        ping_max: snap.ping_max,
        http_host: &s.http_host,
        http_port: s.http_port,
        http_base_path: "",
        https_port: s.https_port,
        auth_timeout: GoFloat(snap.auth_timeout.as_secs_f64()),
        max_control_line: snap.max_control_line,
        max_payload: snap.max_payload,
        max_pending: snap.max_pending,
        cluster: ClusterVarz::new(cluster),
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: GoFloat(2.0),
        write_deadline: snap.write_deadline.as_nanos(),
        start: clocks.time(snap.started_at),
        now: clocks.now(),
        uptime: clocks.since(snap.started_at),
        mem: extras.proc.rss_bytes,
        cores: extras.cores,
        gomaxprocs: extras.cores,
        cpu: GoFloat(extras.cpu),
        connections: snap.connections.len(),
        total_connections: snap.stats.total_connections,
        routes: num_routes,
        // One route per remote server is kept (duplicates are closed).
        remotes: num_routes,
        leafnodes: 0,
        in_msgs: snap.stats.in_msgs,
        out_msgs: snap.stats.out_msgs,
        in_bytes: snap.stats.in_bytes,
        out_bytes: snap.stats.out_bytes,
        slow_consumers: snap.stats.slow_consumers,
        subscriptions: snap.sublist.num_subscriptions,
        http_req_stats: extras.http_req_stats,
        config_load_time: rfc3339(s.config_load_time),
        system_account: "$SYS",
        ocsp_peer_cache: Empty {},
    };
    json(&v, query)
}

// ---------------------------------------------------------------- /connz

/// How `/connz` lists subscriptions (`subs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubsOption {
    /// Not at all.
    None,
    /// Their subjects (`subs=1`, `subs=true`).
    Subjects,
    /// In detail (`subs=detail`).
    Detail,
}

/// nats-server's `decodeSubs`.
pub(crate) fn decode_subs(query: &Query) -> Result<SubsOption, String> {
    if query.get("subs").eq_ignore_ascii_case("detail") {
        return Ok(SubsOption::Detail);
    }
    Ok(if query.bool("subs")? {
        SubsOption::Subjects
    } else {
        SubsOption::None
    })
}

/// Which connections `/connz` lists (`state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Open,
    Closed,
    All,
}

/// `/connz`'s query, decoded in nats-server's order (each failure is a
/// `400` with Go's text).
#[derive(Debug, Clone)]
pub(crate) struct ConnzOptions {
    sort: String,
    /// How subscriptions are listed.
    pub(crate) subs: SubsOption,
    offset: i64,
    limit: i64,
    cid: u64,
    state: ConnState,
    user: String,
    acc: String,
    mqtt_client: String,
}

impl ConnzOptions {
    /// Decodes `query` as nats-server's `HandleConnz`.
    pub(crate) fn decode(query: &Query) -> Result<ConnzOptions, String> {
        let _auth = query.bool("auth")?;
        let subs = decode_subs(query)?;
        let offset = query.int("offset")?;
        let limit = query.int("limit")?;
        let cid = query.uint("cid")?;
        let state = match query.get("state").to_ascii_lowercase().as_str() {
            "" | "open" => ConnState::Open,
            "closed" => ConnState::Closed,
            "any" | "all" => ConnState::All,
            other => return Err(format!("Error decoding state for {other}")),
        };
        Ok(ConnzOptions {
            sort: query.get("sort").to_owned(),
            subs,
            offset,
            limit,
            cid,
            state,
            user: query.get("user").to_owned(),
            acc: query.get("acc").to_owned(),
            mqtt_client: query.get("mqtt_client").to_owned(),
        })
    }
}

/// The sort orders of `/connz`; all but `cid`, `start`, `uptime` and
/// `reason` are descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Cid,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

impl SortBy {
    fn parse(s: &str) -> Option<SortBy> {
        Some(match s {
            "" | "cid" | "start" => SortBy::Cid,
            "subs" => SortBy::Subs,
            "pending" => SortBy::Pending,
            "msgs_to" => SortBy::MsgsTo,
            "msgs_from" => SortBy::MsgsFrom,
            "bytes_to" => SortBy::BytesTo,
            "bytes_from" => SortBy::BytesFrom,
            "last" => SortBy::Last,
            "idle" => SortBy::Idle,
            "uptime" => SortBy::Uptime,
            "stop" => SortBy::Stop,
            "reason" => SortBy::Reason,
            "rtt" => SortBy::Rtt,
            _ => return None,
        })
    }
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    now: String,
    num_connections: usize,
    total: usize,
    offset: i64,
    limit: i64,
    connections: Option<Vec<ConnInfo<'a>>>,
}

#[derive(Serialize)]
struct ConnInfo<'a> {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: &'a str,
    port: u16,
    start: String,
    last_activity: String,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    lang: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail<'a>>,
}

#[derive(Serialize)]
struct SubDetail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'static str>,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<&'a str>,
    sid: &'a str,
    msgs: u64,
    #[serde(skip_serializing_if = "super::is_zero_u64")]
    max: u64,
    cid: u64,
}

impl<'a> SubDetail<'a> {
    fn new(sub: &'a SubSnapshot, account: Option<&'static str>) -> Self {
        SubDetail {
            account,
            subject: &sub.subject,
            qgroup: sub.queue.as_deref().filter(|q| !q.is_empty()),
            sid: &sub.sid,
            msgs: sub.msgs,
            max: sub.max.unwrap_or(0),
            cid: sub.cid,
        }
    }
}

/// `ip` and `port` of a peer address (`1.2.3.4:5`, `[::1]:5`); empty and 0
/// for an in-process session.
fn split_peer(conn: &ConnSnapshot) -> (&str, u16) {
    if conn.in_process {
        return ("", 0);
    }
    match conn.peer.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[').trim_end_matches(']'),
            port.parse().unwrap_or(0),
        ),
        None => (conn.peer.as_str(), 0),
    }
}

/// `/connz`, or the `400` text of an invalid option.
pub(crate) fn connz(
    snap: &RouterSnapshot,
    opts: &ConnzOptions,
    clocks: Clocks,
    query: &Query,
) -> Response {
    let Some(sort) = SortBy::parse(&opts.sort) else {
        return text(400, format!("invalid sorting option: {}", opts.sort));
    };
    let offset = opts.offset.max(0);
    let mut limit = if opts.limit <= 0 {
        DEFAULT_LIST_SIZE
    } else {
        opts.limit
    };
    if sort == SortBy::Stop && opts.state != ConnState::Closed {
        return text(400, "sort by stop only valid on closed connections");
    }
    if sort == SortBy::Reason && opts.state != ConnState::Closed {
        return text(400, "sort by reason only valid on closed connections");
    }
    if opts.cid > 0 {
        limit = 1;
    }
    let mut connz = Connz {
        server_id: &snap.server_id,
        now: clocks.now(),
        num_connections: 0,
        total: 0,
        offset,
        limit,
        connections: None,
    };
    // An unknown account: nats-server answers before listing anything.
    if !opts.acc.is_empty() && opts.acc != GLOBAL_ACCOUNT {
        return json(&connz, query);
    }
    // No closed connection is kept: `closed` lists none, `all` the open.
    connz.total = match opts.state {
        ConnState::Closed => 0,
        ConnState::Open | ConnState::All => snap.connections.len(),
    };
    let mut open: Vec<&ConnSnapshot> = match (opts.state, opts.cid) {
        (ConnState::Closed, _) => Vec::new(),
        // nats-server looks a cid up among the closed connections only
        // when `state` is `all`.
        (ConnState::All, cid) if cid > 0 => Vec::new(),
        (ConnState::Open, cid) if cid > 0 => {
            snap.connections.iter().filter(|c| c.cid == cid).collect()
        }
        _ => snap
            .connections
            .iter()
            // No session has a user name or an MQTT client id.
            .filter(|_| opts.user.is_empty() && opts.mqtt_client.is_empty())
            .collect(),
    };
    sort_connections(&mut open, sort, clocks.now);
    let range = page(offset, limit, open.len());
    let subs = match opts.subs {
        SubsOption::None => HashMap::new(),
        _ => subs_by_cid(&snap.subscriptions_list),
    };
    let list: Vec<ConnInfo<'_>> = open[range]
        .iter()
        .map(|c| conn_info(c, opts.subs, subs.get(&c.cid), clocks))
        .collect();
    connz.num_connections = list.len();
    connz.connections = Some(list);
    json(&connz, query)
}

/// Subscriptions grouped by their connection, in one pass.
fn subs_by_cid(subs: &[SubSnapshot]) -> HashMap<u64, Vec<&SubSnapshot>> {
    let mut by_cid: HashMap<u64, Vec<&SubSnapshot>> = HashMap::new();
    for sub in subs {
        by_cid.entry(sub.cid).or_default().push(sub);
    }
    by_cid
}

/// nats-server's orders, stable and by cid among equals.
fn sort_connections(conns: &mut [&ConnSnapshot], sort: SortBy, now: Instant) {
    conns.sort_by_key(|c| c.cid);
    match sort {
        SortBy::Cid | SortBy::Stop | SortBy::Reason => {}
        SortBy::Subs => conns.sort_by_key(|c| Reverse(c.subscriptions)),
        SortBy::Pending => conns.sort_by_key(|c| Reverse(c.pending_bytes)),
        SortBy::MsgsTo => conns.sort_by_key(|c| Reverse(c.stats.out_msgs)),
        SortBy::MsgsFrom => conns.sort_by_key(|c| Reverse(c.stats.in_msgs)),
        SortBy::BytesTo => conns.sort_by_key(|c| Reverse(c.stats.out_bytes)),
        SortBy::BytesFrom => conns.sort_by_key(|c| Reverse(c.stats.in_bytes)),
        SortBy::Rtt => conns.sort_by_key(|c| Reverse(c.rtt.unwrap_or_default())),
        // Most recent activity first.
        SortBy::Last => conns.sort_by_key(|c| Reverse(c.last_activity)),
        // Longest idle first.
        SortBy::Idle => {
            conns.sort_by_key(|c| Reverse(now.saturating_duration_since(c.last_activity)))
        }
        // Shortest uptime first (nats-server does not reverse this one).
        SortBy::Uptime => conns.sort_by_key(|c| now.saturating_duration_since(c.started_at)),
    }
}

fn conn_info<'a>(
    c: &'a ConnSnapshot,
    subs: SubsOption,
    list: Option<&Vec<&'a SubSnapshot>>,
    clocks: Clocks,
) -> ConnInfo<'a> {
    let (ip, port) = split_peer(c);
    let list = list.map_or(&[][..], |l| l.as_slice());
    ConnInfo {
        cid: c.cid,
        kind: "Client",
        kind_type: "nats",
        ip,
        port,
        start: clocks.time(c.started_at),
        last_activity: clocks.time(c.last_activity),
        rtt: rtt(c.rtt),
        uptime: clocks.since(c.started_at),
        idle: clocks.since(c.last_activity),
        pending_bytes: c.pending_bytes,
        in_msgs: c.stats.in_msgs,
        out_msgs: c.stats.out_msgs,
        in_bytes: c.stats.in_bytes,
        out_bytes: c.stats.out_bytes,
        subscriptions: c.subscriptions,
        name: &c.name,
        lang: &c.lang,
        version: &c.version,
        subscriptions_list: if subs == SubsOption::Subjects {
            list.iter().map(|s| s.subject.as_str()).collect()
        } else {
            Vec::new()
        },
        subscriptions_list_detail: if subs == SubsOption::Detail {
            list.iter().map(|s| SubDetail::new(s, None)).collect()
        } else {
            Vec::new()
        },
    }
}

// ---------------------------------------------------------------- /subsz

/// `/subsz`'s query, decoded as nats-server's `HandleSubsz`.
#[derive(Debug, Clone)]
pub(crate) struct SubszOptions {
    /// List the subscriptions (`subs`).
    pub(crate) subs: bool,
    offset: i64,
    limit: i64,
    test: String,
    acc: String,
}

impl SubszOptions {
    /// Decodes `query`.
    pub(crate) fn decode(query: &Query) -> Result<SubszOptions, String> {
        Ok(SubszOptions {
            subs: query.bool("subs")?,
            offset: query.int("offset")?,
            limit: query.int("limit")?,
            test: query.get("test").to_owned(),
            acc: query.get("acc").to_owned(),
        })
    }
}

#[derive(Serialize)]
struct SublistStats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    cache_hit_rate: GoFloat,
    max_fanout: u64,
    avg_fanout: GoFloat,
}

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(flatten)]
    stats: SublistStats,
    total: usize,
    offset: i64,
    limit: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<SubDetail<'a>>,
}

/// nats-server's `IsValidLiteralSubject`: no empty token, no `*` or `>`
/// token.
fn is_valid_literal_subject(subject: &str) -> bool {
    subject
        .split('.')
        .all(|t| !t.is_empty() && t != "*" && t != ">")
}

/// `/subsz`: the index's statistics alone unless subscriptions are listed
/// (and some are).
pub(crate) fn subsz(
    snap: &RouterSnapshot,
    opts: &SubszOptions,
    clocks: Clocks,
    query: &Query,
) -> Response {
    let offset = opts.offset.max(0);
    let limit = if opts.limit <= 0 {
        DEFAULT_LIST_SIZE
    } else {
        opts.limit
    };
    let test = (!opts.test.is_empty()).then_some(opts.test.as_str());
    if let Some(t) = test {
        if !is_valid_literal_subject(t) {
            return text(
                400,
                format!("invalid test subject, must be valid publish subject: {t}"),
            );
        }
    }
    // Another account than the global one has nothing.
    let in_account = opts.acc.is_empty() || opts.acc == GLOBAL_ACCOUNT;
    let l = &snap.sublist;
    let stats = if in_account {
        SublistStats {
            num_subscriptions: l.num_subscriptions,
            num_cache: l.num_cache,
            num_inserts: l.num_inserts,
            num_removes: l.num_removes,
            num_matches: l.num_matches,
            cache_hit_rate: GoFloat(l.cache_hit_rate),
            max_fanout: l.max_fanout,
            avg_fanout: GoFloat(l.avg_fanout),
        }
    } else {
        SublistStats {
            num_subscriptions: 0,
            num_cache: 0,
            num_inserts: 0,
            num_removes: 0,
            num_matches: 0,
            cache_hit_rate: GoFloat(0.0),
            max_fanout: 0,
            avg_fanout: GoFloat(0.0),
        }
    };
    let mut list = Vec::new();
    if opts.subs && in_account {
        let matching: Vec<&SubSnapshot> = snap
            .subscriptions_list
            .iter()
            .filter(|s| {
                test.is_none_or(|t| {
                    stan_core::nats::subject::matches(s.subject.as_bytes(), t.as_bytes())
                })
            })
            .collect();
        let range = page(offset, limit, matching.len());
        list = matching[range]
            .iter()
            .map(|s| SubDetail::new(s, Some(GLOBAL_ACCOUNT)))
            .collect();
    }
    if list.is_empty() {
        return json(&stats, query);
    }
    let subsz = Subsz {
        server_id: &snap.server_id,
        now: clocks.now(),
        stats,
        // nats-server's `total` is the length of the page.
        total: list.len(),
        offset,
        limit,
        subscriptions_list: list,
    };
    json(&subsz, query)
}

// ---------------------------------------------------------------- /routez

#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    server_name: &'a str,
    now: String,
    num_routes: usize,
    routes: Vec<RouteInfo<'a>>,
}

/// nats-server's `RouteInfo`. No route permissions are configurable here,
/// so `import` and `export` (omitempty) are always absent.
#[derive(Serialize)]
struct RouteInfo<'a> {
    rid: u64,
    remote_id: &'a str,
    remote_name: &'a str,
    did_solicit: bool,
    is_configured: bool,
    ip: &'a str,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    rtt: String,
    uptime: String,
    idle: String,
    pending_size: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail<'a>>,
}

fn route_info(r: &RouteSnapshot, subs: SubsOption, clocks: Clocks) -> RouteInfo<'_> {
    let c = &r.conn;
    let (ip, port) = split_peer(c);
    RouteInfo {
        rid: c.cid,
        remote_id: &r.remote_id,
        remote_name: &r.remote_name,
        did_solicit: r.solicited,
        is_configured: r.configured,
        ip,
        port,
        start: clocks.time(c.started_at),
        last_activity: clocks.time(c.last_activity),
        rtt: rtt(c.rtt),
        uptime: clocks.since(c.started_at),
        idle: clocks.since(c.last_activity),
        pending_size: c.pending_bytes,
        in_msgs: c.stats.in_msgs,
        out_msgs: c.stats.out_msgs,
        in_bytes: c.stats.in_bytes,
        out_bytes: c.stats.out_bytes,
        subscriptions: c.subscriptions,
        subscriptions_list: if subs == SubsOption::Subjects {
            r.subscriptions_list
                .iter()
                .map(|s| s.subject.as_str())
                .collect()
        } else {
            Vec::new()
        },
        subscriptions_list_detail: if subs == SubsOption::Detail {
            r.subscriptions_list
                .iter()
                .map(|s| SubDetail::new(s, None))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// `/routez`: the registered routes, by `rid`; with `subs` (taken from a
/// snapshot with subscriptions) each route's subscriptions (the interest
/// its server registered here, `sid` being `account subject [queue]` and
/// `cid` the route's) as subjects or in detail. `server_name` is the
/// configured name, `""` when none was (nats-server shows its options'
/// name there). nats-server 2.9.10 (Debian's) has neither `server_name`
/// nor `remote_name`; 2.9.24, which this server announces and whose
/// output the fixtures hold, has both.
pub(crate) fn routez(
    snap: &RouterSnapshot,
    subs: SubsOption,
    clocks: Clocks,
    query: &Query,
) -> Response {
    let name = if snap.server_name == snap.server_id {
        ""
    } else {
        &snap.server_name
    };
    let routes: Vec<RouteInfo<'_>> = snap
        .cluster
        .iter()
        .flat_map(|c| c.routes.iter())
        .map(|r| route_info(r, subs, clocks))
        .collect();
    let r = Routez {
        server_id: &snap.server_id,
        server_name: name,
        now: clocks.now(),
        num_routes: routes.len(),
        routes,
    };
    json(&r, query)
}

// ---------------------------------------------------------------- /healthz

#[derive(Serialize)]
struct HealthStatus {
    status: &'static str,
}

/// `/healthz` of a running server, compact as nats-server writes it.
pub(crate) fn healthz(query: &Query) -> Response {
    json_compact(&HealthStatus { status: "ok" }, query)
}

#[cfg(test)]
#[path = "nats_routes_tests.rs"]
mod routes_tests;
