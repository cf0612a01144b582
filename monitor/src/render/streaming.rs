//! nats-streaming-server 0.25's `/streaming/serverz`, `/storez`,
//! `/clientsz`, `/channelsz` and its HTML index, rendered from an
//! [`EngineSnapshot`] with the same fields, order and `omitempty` (see the
//! fixtures in `shared/fixtures/go-monitoring` and
//! `go-filestore-0.25.6/expected`).
//!
//! Query handling is the Go server's: `subs` counts only as `1` (`Atoi`),
//! `offset` below 0 is 0, a `limit` of 0 or less (or not a number) is 1024,
//! an unknown `client` or `channel` is `404` `Client <id> not found` /
//! `Channel <name> not found`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use stan_core::stan::server::{
    ChannelSnapshot, ClientSnapshot, EngineSnapshot, StoreLimits, SubscriptionSnapshot,
};
use stan_core::stan::store::ChannelLimits;

use super::{json, page, text};
use crate::handler::{MonitorSettings, Response, HTML};
use crate::procfs::ProcStats;
use crate::query::Query;
use crate::timefmt::{rfc3339_unix_nanos, uptime};

/// The streaming server's default list size.
const DEFAULT_LIST_LIMIT: i64 = 1024;

/// The streaming server's `subs` option: on only when `Atoi` gives 1.
pub(crate) fn wants_subs(query: &Query) -> bool {
    query.lenient_int("subs") == 1
}

/// `getOffsetAndLimit`.
fn offset_and_limit(query: &Query) -> (i64, i64) {
    let offset = query.lenient_int("offset").max(0);
    let limit = query.lenient_int("limit");
    (
        offset,
        if limit <= 0 {
            DEFAULT_LIST_LIMIT
        } else {
            limit
        },
    )
}

fn now(snap: &EngineSnapshot) -> String {
    rfc3339_unix_nanos(i128::from(snap.now_unix_ns))
}

// ------------------------------------------------------------- index

/// `/streaming`: links to the four endpoints.
pub(crate) fn index() -> Response {
    let body = "<html lang=\"en\">\n  <head>\n    <title>NATS Streaming monitoring</title>\n  </head>\n  <body>\n    <h1>NATS Streaming</h1>\n    <a href=/streaming/serverz>server</a><br/>\n    <a href=/streaming/storez>store</a><br/>\n    <a href=/streaming/clientsz>clients</a><br/>\n    <a href=/streaming/channelsz>channels</a><br/>\n  </body>\n</html>";
    Response {
        status: 200,
        content_type: HTML,
        body: body.as_bytes().to_vec(),
    }
}

// ------------------------------------------------------------- serverz

#[derive(Serialize)]
struct Serverz<'a> {
    cluster_id: &'a str,
    server_id: &'a str,
    version: &'a str,
    go: &'a str,
    state: &'a str,
    now: String,
    start_time: String,
    uptime: String,
    clients: usize,
    subscriptions: usize,
    channels: usize,
    total_msgs: u64,
    total_bytes: u64,
    in_msgs: u64,
    in_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    open_fds: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    max_fds: i64,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// `/streaming/serverz`.
pub(crate) fn serverz(
    snap: &EngineSnapshot,
    settings: &MonitorSettings,
    proc: &ProcStats,
    query: &Query,
) -> Response {
    let up = u64::try_from(snap.now_unix_ns.saturating_sub(snap.start_unix_ns)).unwrap_or(0);
    let v = Serverz {
        cluster_id: &snap.cluster_id,
        server_id: &snap.server_id,
        version: &settings.version,
        go: &settings.toolchain,
        state: snap.state,
        now: now(snap),
        start_time: rfc3339_unix_nanos(i128::from(snap.start_unix_ns)),
        uptime: uptime(Duration::from_nanos(up)),
        clients: snap.clients.len(),
        subscriptions: snap.subscription_count,
        channels: snap.channels.len(),
        total_msgs: snap.total_msgs(),
        total_bytes: snap.total_bytes(),
        in_msgs: snap.stats.in_msgs,
        in_bytes: snap.stats.in_bytes,
        out_msgs: snap.stats.out_msgs,
        out_bytes: snap.stats.out_bytes,
        open_fds: i64::try_from(proc.open_fds).unwrap_or(i64::MAX),
        // Go converts procfs's unlimited (all bits set) to an int: -1.
        max_fds: i64::try_from(proc.max_fds).unwrap_or(-1),
    };
    json(&v, query)
}

// ------------------------------------------------------------- storez

#[derive(Serialize)]
struct Storez<'a> {
    cluster_id: &'a str,
    server_id: &'a str,
    now: String,
    #[serde(rename = "type")]
    store_type: &'a str,
    limits: LimitsJson<'a>,
    total_msgs: u64,
    total_bytes: u64,
}

#[derive(Serialize)]
struct LimitsJson<'a> {
    max_channels: usize,
    #[serde(flatten)]
    channel: ChannelLimitsJson,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    channels: BTreeMap<&'a str, ChannelLimitsJson>,
}

#[derive(Serialize)]
struct ChannelLimitsJson {
    max_msgs: u64,
    max_bytes: u64,
    max_age: u128,
    max_subscriptions: usize,
    max_inactivity: u128,
}

impl From<ChannelLimits> for ChannelLimitsJson {
    fn from(l: ChannelLimits) -> Self {
        ChannelLimitsJson {
            max_msgs: l.max_msgs,
            max_bytes: l.max_bytes,
            max_age: l.max_age.as_nanos(),
            max_subscriptions: l.max_subs,
            max_inactivity: l.max_inactivity.as_nanos(),
        }
    }
}

fn limits_json(limits: &StoreLimits) -> LimitsJson<'_> {
    LimitsJson {
        max_channels: limits.max_channels,
        channel: limits.channel.into(),
        // Each configured entry with what it resolves to, as the Go
        // server shows its built per-channel limits.
        channels: limits
            .per_channel
            .iter()
            .map(|(name, _)| (name.as_str(), limits.for_channel(name).into()))
            .collect(),
    }
}

/// `/streaming/storez`.
pub(crate) fn storez(snap: &EngineSnapshot, query: &Query) -> Response {
    let v = Storez {
        cluster_id: &snap.cluster_id,
        server_id: &snap.server_id,
        now: now(snap),
        store_type: snap.store_kind,
        limits: limits_json(&snap.limits),
        total_msgs: snap.total_msgs(),
        total_bytes: snap.total_bytes(),
    };
    json(&v, query)
}

// ------------------------------------------------------------- subscriptions

#[derive(Serialize)]
struct Subscriptionz<'a> {
    client_id: &'a str,
    inbox: &'a str,
    ack_inbox: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    durable_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    queue_name: &'a str,
    is_durable: bool,
    is_offline: bool,
    max_inflight: usize,
    ack_wait: u64,
    last_sent: u64,
    pending_count: usize,
    is_stalled: bool,
}

impl<'a> From<&'a SubscriptionSnapshot> for Subscriptionz<'a> {
    fn from(s: &'a SubscriptionSnapshot) -> Self {
        Subscriptionz {
            client_id: &s.client_id,
            inbox: &s.inbox,
            ack_inbox: &s.ack_inbox,
            durable_name: &s.durable_name,
            queue_name: &s.queue_name,
            is_durable: s.is_durable,
            is_offline: s.is_offline,
            max_inflight: s.max_inflight,
            ack_wait: s.ack_wait.as_secs(),
            last_sent: s.last_sent,
            pending_count: s.pending_count,
            is_stalled: s.is_stalled,
        }
    }
}

// ------------------------------------------------------------- clientsz

#[derive(Serialize)]
struct Clientsz<'a> {
    cluster_id: &'a str,
    server_id: &'a str,
    now: String,
    offset: i64,
    limit: i64,
    count: usize,
    total: usize,
    clients: Vec<Clientz<'a>>,
}

#[derive(Serialize)]
struct Clientz<'a> {
    id: &'a str,
    hb_inbox: &'a str,
    subs_count: usize,
    /// By channel name (Go's map, so sorted), in the client's order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    subscriptions: BTreeMap<&'a str, Vec<Subscriptionz<'a>>>,
}

/// Each client's online subscriptions by channel, from the channels'
/// lists (a subscription carries its client's ID).
type ByClient<'a> = HashMap<&'a str, BTreeMap<&'a str, Vec<Subscriptionz<'a>>>>;

fn subs_by_client(snap: &EngineSnapshot) -> ByClient<'_> {
    let mut by_client: ByClient<'_> = HashMap::new();
    for channel in &snap.channels {
        for sub in channel.subscriptions.iter().filter(|s| !s.is_offline) {
            by_client
                .entry(sub.client_id.as_str())
                .or_default()
                .entry(channel.name.as_str())
                .or_default()
                .push(sub.into());
        }
    }
    by_client
}

fn clientz<'a>(c: &'a ClientSnapshot, by_client: &mut ByClient<'a>) -> Clientz<'a> {
    Clientz {
        id: &c.id,
        hb_inbox: &c.hb_inbox,
        subs_count: c.subs_count,
        subscriptions: by_client.remove(c.id.as_str()).unwrap_or_default(),
    }
}

/// `/streaming/clientsz`, or one client with `client=<id>`.
pub(crate) fn clientsz(snap: &EngineSnapshot, query: &Query) -> Response {
    let single = query.get("client");
    if !single.is_empty() {
        return match snap.clients.iter().find(|c| c.id == single) {
            Some(c) => json(&clientz(c, &mut subs_by_client(snap)), query),
            None => text(404, format!("Client {single} not found\n")),
        };
    }
    let (offset, limit) = offset_and_limit(query);
    let range = page(offset, limit, snap.clients.len());
    let mut by_client = subs_by_client(snap);
    let clients: Vec<Clientz<'_>> = snap.clients[range]
        .iter()
        .map(|c| clientz(c, &mut by_client))
        .collect();
    let v = Clientsz {
        cluster_id: &snap.cluster_id,
        server_id: &snap.server_id,
        now: now(snap),
        offset,
        limit,
        count: clients.len(),
        total: snap.clients.len(),
        clients,
    };
    json(&v, query)
}

// ------------------------------------------------------------- channelsz

#[derive(Serialize)]
struct Channelsz<'a> {
    cluster_id: &'a str,
    server_id: &'a str,
    now: String,
    offset: i64,
    limit: i64,
    count: usize,
    total: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    names: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    channels: Vec<Channelz<'a>>,
}

#[derive(Serialize)]
struct Channelz<'a> {
    name: &'a str,
    msgs: u64,
    bytes: u64,
    first_seq: u64,
    last_seq: u64,
    subs_count: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions: Vec<Subscriptionz<'a>>,
}

fn channelz(c: &ChannelSnapshot, subs: bool) -> Channelz<'_> {
    Channelz {
        name: &c.name,
        msgs: c.msgs,
        bytes: c.bytes,
        first_seq: c.first_seq,
        last_seq: c.last_seq,
        subs_count: c.subs_count,
        subscriptions: if subs {
            c.subscriptions.iter().map(Into::into).collect()
        } else {
            Vec::new()
        },
    }
}

/// `/streaming/channelsz`: names by default, channels with `subs=1`, one
/// channel with `channel=<name>`.
pub(crate) fn channelsz(snap: &EngineSnapshot, query: &Query) -> Response {
    let subs = wants_subs(query);
    let single = query.get("channel");
    if !single.is_empty() {
        return match snap.channels.iter().find(|c| c.name == single) {
            Some(c) => json(&channelz(c, subs), query),
            None => text(404, format!("Channel {single} not found\n")),
        };
    }
    let (offset, limit) = offset_and_limit(query);
    let range = page(offset, limit, snap.channels.len());
    let page = &snap.channels[range];
    let (names, channels) = if subs {
        (Vec::new(), page.iter().map(|c| channelz(c, true)).collect())
    } else {
        (page.iter().map(|c| c.name.as_str()).collect(), Vec::new())
    };
    let v = Channelsz {
        cluster_id: &snap.cluster_id,
        server_id: &snap.server_id,
        now: now(snap),
        offset,
        limit,
        count: page.len(),
        total: snap.channels.len(),
        names,
        channels,
    };
    json(&v, query)
}
