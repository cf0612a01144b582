//! Monitoring snapshots of the router: its settings, counters, sessions and
//! subscriptions as plain data, taken on demand between inputs (never on the
//! message path). Rendering them (nats-server's `/varz`, `/connz`, `/subsz`
//! JSON, Prometheus text) is the monitoring crate's job.

use std::time::{Duration, Instant};

use super::index::SubKey;
use super::session::{Session, SessionStats, Transport};
use super::{Router, RouterStats};
use crate::shared_str::SharedStr;

/// What a snapshot includes beyond the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Every subscription, in [`RouterSnapshot::subscriptions_list`]
    /// (`/connz?subs=1`, `/subsz?subs=1`). Without it only their counts are taken.
    pub subscriptions: bool,
    /// Most connections plus subscriptions listed in one snapshot (0: no
    /// limit). A snapshot that stops short is a page: its
    /// [`RouterSnapshot::next`] is where the next page starts, so that a
    /// large listing is taken in several short turns of the event loop
    /// instead of one long one.
    pub max_items: usize,
    /// Where this page starts: the previous page's `next` (`None`: at the
    /// beginning).
    pub from: Option<RouterCursor>,
}

/// Where a page of a router snapshot starts (opaque; from
/// [`RouterSnapshot::next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterCursor {
    /// The first session listed (the smallest client id at or above it).
    cid: u64,
    /// `None`: the session's own entry first; `Some(k)`: its entry is
    /// listed, its subscriptions from table key `k` on are not yet.
    sub_from: Option<SubKey>,
}

/// The router at one moment, for monitoring.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSnapshot {
    /// The id announced in `INFO`.
    pub server_id: String,
    /// The name announced in `INFO` (the id when none was configured).
    pub server_name: String,
    /// Listen host announced in `INFO`.
    pub host: String,
    /// Listen port announced in `INFO`.
    pub port: u16,
    /// Whether clients must authenticate.
    pub auth_required: bool,
    /// Time a client has to authenticate.
    pub auth_timeout: Duration,
    /// Most simultaneous client connections.
    pub max_connections: usize,
    /// Most subscriptions per connection (0: unlimited).
    pub max_subscriptions: usize,
    /// Interval of the keepalive `PING`s.
    pub ping_interval: Duration,
    /// Unanswered `PING`s allowed.
    pub ping_max: u32,
    /// Longest accepted control line.
    pub max_control_line: usize,
    /// Largest accepted payload.
    pub max_payload: usize,
    /// Pending output above which a client is a slow consumer.
    pub max_pending: usize,
    /// How long one write may block.
    pub write_deadline: Duration,
    /// When the router was created.
    pub started_at: Instant,
    /// When the snapshot was taken (the router's clock).
    pub taken_at: Instant,
    /// Life-time traffic counters.
    pub stats: RouterStats,
    /// Subscription index statistics (`/subsz`).
    pub sublist: SublistStats,
    /// Open sessions (wire and in-process), by client id.
    pub connections: Vec<ConnSnapshot>,
    /// Every subscription, grouped by client id in the order of
    /// [`RouterSnapshot::connections`] (only with
    /// [`SnapshotOptions::subscriptions`]): a connection's are the run with
    /// its `cid`. A page may hold the rest of the subscriptions of a
    /// connection listed on the page before.
    pub subscriptions_list: Vec<SubSnapshot>,
    /// Where the next page starts; `None` when this one reached the end.
    pub next: Option<RouterCursor>,
}

/// The subscription index's statistics, as nats-server's sublist reports
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SublistStats {
    /// Subscriptions in the index.
    pub num_subscriptions: u64,
    /// Lookups held in the result cache.
    pub num_cache: u64,
    /// Subscriptions ever inserted.
    pub num_inserts: u64,
    /// Subscriptions ever removed.
    pub num_removes: u64,
    /// Lookups ever made.
    pub num_matches: u64,
    /// Share of lookups answered from the cache (0 to 1).
    pub cache_hit_rate: f64,
    /// Largest number of receivers of a cached lookup.
    pub max_fanout: u64,
    /// Mean number of receivers of the cached lookups.
    pub avg_fanout: f64,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// The id announced in `INFO` (`cid`).
    pub cid: u64,
    /// An in-process session (the streaming engine), not a socket.
    pub in_process: bool,
    /// Peer address given at accept (`ip:port`; empty in process).
    pub peer: String,
    /// When it was accepted.
    pub started_at: Instant,
    /// When it last published, (un)subscribed or pinged.
    pub last_activity: Instant,
    /// The last keepalive round trip measured.
    pub rtt: Option<Duration>,
    /// Output waiting for the peer.
    pub pending_bytes: usize,
    /// Traffic counters.
    pub stats: SessionStats,
    /// Number of subscriptions.
    pub subscriptions: usize,
    /// Name from `CONNECT`.
    pub name: String,
    /// Library language from `CONNECT`.
    pub lang: String,
    /// Library version from `CONNECT`.
    pub version: String,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubSnapshot {
    /// The owning session's client id.
    pub cid: u64,
    /// Subject (possibly a wildcard).
    pub subject: SharedStr,
    /// Queue group, if any.
    pub queue: Option<SharedStr>,
    /// The client's sid.
    pub sid: SharedStr,
    /// Messages delivered to it.
    pub msgs: u64,
    /// Auto-unsubscribe count, if set.
    pub max: Option<u64>,
}

impl Router {
    /// A monitoring snapshot (or one page of it, see
    /// [`SnapshotOptions::max_items`]) at the router's latest `now`. Costs
    /// a sort of the sessions' ids plus one step per item listed: take it
    /// between inputs, not per message.
    pub fn snapshot(&self, options: SnapshotOptions) -> RouterSnapshot {
        let counters = self.index.counters();
        let (mut cached, mut fanout_sum, mut max_fanout) = (0u64, 0u64, 0u64);
        for fanout in self.index.cached_fanouts() {
            cached += 1;
            fanout_sum += fanout as u64;
            max_fanout = max_fanout.max(fanout as u64);
        }
        let ratio = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let sublist = SublistStats {
            num_subscriptions: self.index.len() as u64,
            num_cache: cached,
            num_inserts: counters.inserts,
            num_removes: counters.removes,
            num_matches: counters.matches,
            cache_hit_rate: ratio(counters.cache_hits, counters.matches),
            max_fanout,
            avg_fanout: ratio(fanout_sum, cached),
        };
        let from = options.from;
        let mut sessions: Vec<&Session> = self
            .slots
            .iter()
            .filter_map(|slot| slot.session.as_ref())
            .filter(|s| from.is_none_or(|c| s.cid >= c.cid))
            .collect();
        sessions.sort_unstable_by_key(|s| s.cid);
        let budget = match options.max_items {
            0 => usize::MAX,
            n => n,
        };
        let mut items = 0usize;
        let mut next = None;
        let mut connections = Vec::new();
        let mut subscriptions_list = Vec::new();
        'sessions: for session in sessions {
            let resumed = from
                .filter(|c| c.cid == session.cid)
                .and_then(|c| c.sub_from);
            if resumed.is_none() {
                if items >= budget {
                    next = Some(RouterCursor {
                        cid: session.cid,
                        sub_from: None,
                    });
                    break;
                }
                connections.push(conn_snapshot(session));
                items += 1;
            }
            if !options.subscriptions {
                continue;
            }
            // In table-key order, so that a page resumes where the last
            // one stopped whatever changed in between.
            let mut keys: Vec<SubKey> = session
                .sids
                .values()
                .copied()
                .filter(|k| resumed.is_none_or(|from| *k >= from))
                .collect();
            keys.sort_unstable();
            for key in keys {
                if items >= budget {
                    next = Some(RouterCursor {
                        cid: session.cid,
                        sub_from: Some(key),
                    });
                    break 'sessions;
                }
                let Some(Some(sub)) = self.subs.get(key as usize) else {
                    continue;
                };
                // Three reference counts, no allocation.
                subscriptions_list.push(SubSnapshot {
                    cid: session.cid,
                    subject: SharedStr::new(sub.subject.clone()),
                    queue: sub.queue.clone().map(SharedStr::new),
                    sid: SharedStr::new(sub.sid.clone()),
                    msgs: sub.delivered,
                    max: sub.max,
                });
                items += 1;
            }
        }
        RouterSnapshot {
            server_id: self.server_id.clone(),
            server_name: self
                .config
                .server_name
                .clone()
                .unwrap_or_else(|| self.server_id.clone()),
            host: self.config.host.clone(),
            port: self.config.port,
            auth_required: self.auth.is_required(),
            auth_timeout: self.config.auth_timeout,
            max_connections: self.config.max_connections,
            max_subscriptions: self.config.max_subscriptions,
            ping_interval: self.config.ping_interval,
            ping_max: self.config.max_pings_out,
            max_control_line: self.config.max_control_line,
            max_payload: self.config.max_payload,
            max_pending: self.config.max_pending,
            write_deadline: self.config.write_deadline,
            started_at: self.started_at,
            taken_at: self.clock.now(),
            stats: self.stats,
            sublist,
            connections,
            subscriptions_list,
            next,
        }
    }
}

fn conn_snapshot(s: &Session) -> ConnSnapshot {
    ConnSnapshot {
        cid: s.cid,
        in_process: matches!(s.transport, Transport::Local { .. }),
        peer: s.peer.clone(),
        started_at: s.accepted_at,
        last_activity: s.last_activity,
        rtt: s.rtt,
        pending_bytes: s.pending(),
        stats: s.stats,
        subscriptions: s.sids.len(),
        name: s.name.clone(),
        lang: s.lang.clone(),
        version: s.version.clone(),
    }
}
