//! Monitoring snapshots of the router: its settings, counters, sessions and
//! subscriptions as plain data, taken on demand between inputs (never on the
//! message path). Rendering them (nats-server's `/varz`, `/connz`, `/subsz`
//! JSON, Prometheus text) is the monitoring crate's job.
//!
//! Route sessions are not connections here, as nats-server does not list
//! them in `/connz` nor count them in `/varz`'s `connections`: they are in
//! [`ClusterSnapshot::routes`] (`/routez`). Their subscriptions (the
//! interest the remote servers registered) stay in
//! [`RouterSnapshot::subscriptions_list`], as nats-server's `/subsz` lists
//! them.

use std::time::{Duration, Instant};

use super::index::SubKey;
use super::route::RouteUrl;
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
    /// The cluster, when this server is in one (on the first page only).
    pub cluster: Option<ClusterSnapshot>,
}

/// The cluster as this server sees it (`/varz`'s `cluster`, `/routez`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSnapshot {
    /// The cluster's name (agreed on when it is dynamic).
    pub name: String,
    /// Host of the route listener.
    pub host: String,
    /// Port of the route listener.
    pub port: u16,
    /// How long an accepted route may take to authenticate.
    pub auth_timeout: Duration,
    /// The configured routes, as `host:port`.
    pub urls: Vec<String>,
    /// The client URLs told to clients (`connect_urls`): this server's,
    /// then the other servers'; empty with `no_advertise` or no route.
    pub connect_urls: Vec<String>,
    /// The registered routes, by client id.
    pub routes: Vec<RouteSnapshot>,
}

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSnapshot {
    /// The route's session: its client id (nats-server's `rid`), remote
    /// address, times, counters and number of subscriptions.
    pub conn: ConnSnapshot,
    /// The remote server's id.
    pub remote_id: String,
    /// The remote server's name.
    pub remote_name: String,
    /// Whether this server dialled it.
    pub solicited: bool,
    /// Whether it is one of the configured routes.
    pub configured: bool,
    /// The interest the remote server registered here (only with
    /// [`SnapshotOptions::subscriptions`]), in table-key order.
    pub subscriptions_list: Vec<SubSnapshot>,
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
            // A route is listed among the routes, not the connections.
            if resumed.is_none() && session.route.is_none() {
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
                let Some(sub) = self.sub_snapshot(session.cid, key) else {
                    continue;
                };
                subscriptions_list.push(sub);
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
            cluster: if from.is_none() {
                self.cluster_snapshot(options.subscriptions)
            } else {
                None
            },
        }
    }

    /// One subscription of the table (`None`: the key is free).
    fn sub_snapshot(&self, cid: u64, key: SubKey) -> Option<SubSnapshot> {
        let sub = self.subs.get(key as usize)?.as_ref()?;
        // Three reference counts, no allocation.
        Some(SubSnapshot {
            cid,
            subject: SharedStr::new(sub.subject.clone()),
            queue: sub.queue.clone().map(SharedStr::new),
            sid: SharedStr::new(sub.sid.clone()),
            msgs: sub.delivered,
            max: sub.max,
        })
    }

    /// The cluster and its registered routes (with their subscriptions
    /// when `subscriptions`); `None` when this server is in none.
    fn cluster_snapshot(&self, subscriptions: bool) -> Option<ClusterSnapshot> {
        let config = self.config.cluster.as_ref()?;
        let mut routes: Vec<RouteSnapshot> = self
            .routes()
            .into_iter()
            .filter_map(|r| {
                let session = self.session(r.conn)?;
                let subscriptions_list = if subscriptions {
                    let mut keys: Vec<SubKey> = session.sids.values().copied().collect();
                    keys.sort_unstable();
                    keys.into_iter()
                        .filter_map(|k| self.sub_snapshot(session.cid, k))
                        .collect()
                } else {
                    Vec::new()
                };
                Some(RouteSnapshot {
                    conn: conn_snapshot(session),
                    remote_id: r.remote_id,
                    remote_name: r.remote_name,
                    solicited: r.solicited,
                    configured: r.explicit,
                    subscriptions_list,
                })
            })
            .collect();
        routes.sort_unstable_by_key(|r| r.conn.cid);
        Some(ClusterSnapshot {
            name: self
                .cluster_name()
                .map_or_else(|| config.name.clone().unwrap_or_default(), str::to_owned),
            host: config.host.clone(),
            port: config.port,
            auth_timeout: config.auth_timeout,
            urls: config
                .routes
                .iter()
                .map(|u| RouteUrl::parse(u).map_or_else(|| u.clone(), |u| u.host_port()))
                .collect(),
            connect_urls: self.client_connect_urls(),
            routes,
        })
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

#[cfg(test)]
mod route_tests {
    use super::SnapshotOptions;
    use crate::sim::cluster::{route_url, ClusterWorld};

    fn with_subs() -> SnapshotOptions {
        SnapshotOptions {
            subscriptions: true,
            ..SnapshotOptions::default()
        }
    }

    #[test]
    fn routes_are_listed_apart_from_the_connections() {
        // Node 0 solicits node 1.
        let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
        w.settle();
        let _sub = w.subscriber(
            1,
            &[("foo", None), ("bar.*", Some("q")), ("bar.*", Some("q"))],
        );
        let publisher = w.subscriber(0, &[]);
        w.settle();
        w.send(
            publisher,
            "PUB foo 2\r\nhi\r\nPUB bar.x 1\r\nx\r\nPUB none 1\r\nn\r\n",
        );
        w.settle();
        let ids: Vec<String> = w
            .nodes
            .iter()
            .map(|n| n.router.server_id().to_owned())
            .collect();

        let a = w.nodes[0].router.snapshot(with_subs());
        // The publisher alone is a connection; the route is not.
        assert_eq!(a.connections.len(), 1, "{:?}", a.connections);
        let cluster = a.cluster.as_ref().expect("a cluster");
        // `host:port`, as nats-server prints the configured routes.
        assert_eq!(route_url(1), "nats-route://10.0.0.2:6222");
        assert_eq!(cluster.urls, ["10.0.0.2:6222"]);
        assert_eq!(cluster.routes.len(), 1);
        let r = &cluster.routes[0];
        assert_eq!(r.remote_id, ids[1]);
        assert!(r.solicited && r.configured);
        assert_ne!(r.conn.cid, a.connections[0].cid);
        // Node 1's interest: foo and one weighted queue group entry.
        assert_eq!(r.conn.subscriptions, 2);
        let subs: Vec<(&str, Option<&str>, &str)> = r
            .subscriptions_list
            .iter()
            .map(|s| (s.subject.as_str(), s.queue.as_deref(), s.sid.as_str()))
            .collect();
        assert_eq!(
            subs,
            [("foo", None, "$G foo"), ("bar.*", Some("q"), "$G bar.* q")]
        );
        assert!(r.subscriptions_list.iter().all(|s| s.cid == r.conn.cid));
        // Two of the three messages crossed the route.
        assert_eq!(r.conn.stats.out_msgs, 2);
        assert_eq!(r.conn.stats.out_bytes, 3);
        // /subsz still lists the route's subscriptions, as nats-server's.
        assert_eq!(
            a.subscriptions_list
                .iter()
                .filter(|s| s.cid == r.conn.cid)
                .count(),
            2
        );

        let b = w.nodes[1].router.snapshot(SnapshotOptions::default());
        assert_eq!(b.connections.len(), 1, "the subscriber only");
        let cluster = b.cluster.as_ref().expect("a cluster");
        assert!(cluster.urls.is_empty());
        let r = &cluster.routes[0];
        assert_eq!(r.remote_id, ids[0]);
        assert!(!r.solicited && !r.configured);
        assert_eq!((r.conn.stats.in_msgs, r.conn.stats.in_bytes), (2, 3));
        // Without `subscriptions`, counts only.
        assert!(r.subscriptions_list.is_empty());
        assert_eq!(r.conn.subscriptions, 0);
    }

    #[test]
    fn later_pages_carry_no_cluster() {
        let mut w = ClusterWorld::new(2, |i| if i == 0 { vec![1] } else { vec![] });
        w.settle();
        let _ = w.subscriber(0, &[("a", None)]);
        let _ = w.subscriber(0, &[("b", None)]);
        let first = w.nodes[0].router.snapshot(SnapshotOptions {
            max_items: 1,
            ..SnapshotOptions::default()
        });
        assert!(first.cluster.is_some());
        let next = w.nodes[0].router.snapshot(SnapshotOptions {
            max_items: 1,
            from: first.next,
            ..SnapshotOptions::default()
        });
        assert!(first.next.is_some());
        assert!(next.cluster.is_none());
    }
}
