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
        let Some((attempts, host_port, gave_up)) = self.retry_dial(now, dial) else {
            return;
        };
        let text = format!(
            "Error trying to connect to route (attempt {attempts}): dial {host_port} failed"
        );
        // nats-server reports the first failure and then every
        // `reconnectErrorReports`-th (3600) as errors, the rest at debug;
        // the last attempt of an implicit route is an error too.
        if gave_up || attempts == 1 || attempts % 3600 == 0 {
            self.server_log(LogLevel::Error, text);
        } else if self.config.debug {
            self.server_log(LogLevel::Debug, text);
        }
    }

    /// The TLS handshake of a route failed or timed out (cluster TLS: the
    /// driver handshakes before the route session exists). Logged as
    /// nats-server logs it (`peer - TLS route handshake error: ...`, an
    /// error); a solicited route (`Some(dial)`) is retried as a failed
    /// dial is. An accepted route (`None`) leaves nothing behind.
    pub fn handle_route_tls_failed(
        &mut self,
        now: Instant,
        dial: Option<DialId>,
        peer: &str,
        error: &str,
    ) {
        let now = self.advance(now);
        if let Some(dial) = dial {
            self.retry_dial(now, dial);
        }
        self.server_log(
            LogLevel::Error,
            format!("{peer} - TLS route handshake error: {error}"),
        );
    }

    /// Counts a failed attempt of `dial` and schedules the next one (or
    /// drops an implicit route out of retries). The attempts so far and
    /// the route's `host:port`, and whether it was dropped; `None` when
    /// the dial is unknown.
    fn retry_dial(&mut self, now: Instant, dial: DialId) -> Option<(u32, String, bool)> {
        let cluster = self.cluster.as_deref_mut()?;
        let delay = cluster.config.connect_delay;
        let retries = cluster.config.connect_retries;
        let d = cluster.dials.get_mut(&dial.0)?;
        d.in_progress = false;
        d.attempts += 1;
        let (attempts, host_port) = (d.attempts, d.url.host_port());
        let give_up = !d.explicit && d.attempts > retries;
        if give_up {
            cluster.dials.remove(&dial.0);
        } else {
            cluster.dial_timers.set(dial.0, deadline_after(now, delay));
        }
        Some((attempts, host_port, give_up))
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
