//! Soliciting routes: the dials the router asks its driver for, their
//! outcomes and retries, kept as deadlines (nats-server's `connectToRoute`
//! and `reConnectToRoute`: explicit routes are retried for ever every
//! `connect_delay`; implicit ones `connect_retries` times; a broken route
//! is dialled again after up to 100 ms of jitter, plus `reconnect_delay`
//! when explicit).

use std::time::{Duration, Instant};

use super::{RouteUrl, Router};
use crate::nats::router::{ConnId, LogLevel, RouterEvent};
use crate::time::deadline_after;

/// Identifies one dial the router asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub(crate) u64);

/// A route being solicited.
#[derive(Debug)]
pub(crate) struct Dial {
    pub(crate) url: RouteUrl,
    pub(crate) explicit: bool,
    pub(crate) attempts: u32,
    /// The driver is dialling it (a `DialRoute` event went out).
    pub(crate) in_progress: bool,
}

impl Router {
    /// Adds an explicit route (as `--routes` does) and dials it now. The
    /// URL is returned unparsed as the error when it is not a route URL.
    pub fn solicit_route(&mut self, now: Instant, url: &str) -> Result<DialId, String> {
        let now = self.advance(now);
        let parsed = RouteUrl::parse(url).ok_or_else(|| url.to_owned())?;
        self.ensure_cluster(now);
        if let Some(c) = self.cluster.as_deref_mut() {
            if !c.config.routes.iter().any(|r| r == url) {
                c.config.routes.push(url.to_owned());
            }
        }
        Ok(self.schedule_dial(parsed, true, now))
    }

    /// The dial `dial` connected: creates the solicited route session,
    /// which sends its `CONNECT` and `INFO`. `peer` is the remote address.
    /// `None` when the dial is unknown (the router no longer wants it; the
    /// driver closes the connection).
    pub fn handle_route_connected(
        &mut self,
        now: Instant,
        dial: DialId,
        peer: &str,
    ) -> Option<ConnId> {
        let now = self.advance(now);
        let cluster = self.cluster.as_deref_mut()?;
        let d = cluster.dials.remove(&dial.0)?;
        cluster.dial_timers.cancel(dial.0);
        let conn = self.new_route_session(now, peer, Some((d.url, d.explicit)));
        self.send_route_connect(conn.slot);
        self.send_route_info(conn.slot);
        Some(conn)
    }

    /// The dial `dial` failed (refused, unreachable, timed out): retried
    /// after `connect_delay` when explicit or while implicit retries last.
    pub fn handle_route_dial_failed(&mut self, now: Instant, dial: DialId) {
        let now = self.advance(now);
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        let delay = cluster.config.connect_delay;
        let retries = cluster.config.connect_retries;
        let Some(d) = cluster.dials.get_mut(&dial.0) else {
            return;
        };
        d.in_progress = false;
        d.attempts += 1;
        let text = format!(
            "Error trying to connect to route (attempt {}): dial {} failed",
            d.attempts,
            d.url.host_port()
        );
        let give_up = !d.explicit && d.attempts > retries;
        if give_up {
            cluster.dials.remove(&dial.0);
        } else {
            cluster.dial_timers.set(dial.0, deadline_after(now, delay));
        }
        // nats-server reports the first failure and then every
        // `reconnectErrorReports`-th (3600) as errors, the rest at debug.
        let attempts = self
            .cluster
            .as_deref()
            .and_then(|c| c.dials.get(&dial.0))
            .map_or(1, |d| d.attempts);
        if attempts == 1 || attempts % 3600 == 0 {
            self.server_log(LogLevel::Error, text);
        } else if self.config.debug {
            self.server_log(LogLevel::Debug, text);
        }
    }

    /// Starts soliciting `url` now (unless it is already being dialled).
    pub(super) fn schedule_dial(&mut self, url: RouteUrl, explicit: bool, now: Instant) -> DialId {
        self.schedule_dial_at(url, explicit, now)
    }

    /// Dials a route that broke again, after nats-server's delay.
    pub(super) fn schedule_redial(&mut self, url: RouteUrl, explicit: bool, now: Instant) {
        let jitter = Duration::from_millis(self.rng.below(100) as u64);
        let extra = self
            .cluster
            .as_deref()
            .map_or(Duration::ZERO, |c| c.config.reconnect_delay);
        let delay = if explicit { jitter + extra } else { jitter };
        self.schedule_dial_at(url, explicit, deadline_after(now, delay));
    }

    fn schedule_dial_at(&mut self, url: RouteUrl, explicit: bool, at: Instant) -> DialId {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return DialId(0);
        };
        if let Some((&id, d)) = cluster.dials.iter_mut().find(|(_, d)| d.url == url) {
            d.explicit |= explicit;
            return DialId(id);
        }
        let id = cluster.next_dial;
        cluster.next_dial += 1;
        cluster.dials.insert(
            id,
            Dial {
                url,
                explicit,
                attempts: 0,
                in_progress: false,
            },
        );
        cluster.dial_timers.set(id, at);
        DialId(id)
    }

    /// Emits the dials that are due.
    pub(in crate::nats::router) fn fire_dials(&mut self, now: Instant) {
        let Some(cluster) = self.cluster.as_deref_mut() else {
            return;
        };
        while let Some(id) = cluster.dial_timers.pop_due(now) {
            let Some(d) = cluster.dials.get_mut(&id) else {
                continue;
            };
            d.in_progress = true;
            self.events.push_back(RouterEvent::DialRoute {
                dial: DialId(id),
                url: d.url.clone(),
            });
        }
    }
}
