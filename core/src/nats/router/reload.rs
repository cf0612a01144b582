//! [`Router::reload`]: a new configuration taken while running, as
//! nats-server's configuration reload does: authorization, limits,
//! keepalive and logging switches change; the listen address and what the
//! router was built with (name, headers, cache size, TLS, seed) need a
//! restart.

use std::time::Instant;

use super::auth::{Auth, Authenticator, Verdict};
use super::session::{SessionPhase, Transport};
use super::{CloseReason, ClusterConfig, Router, RouterConfig};
use crate::nats::codec::Limits;
use crate::time::deadline_after;

/// Why a reload was refused (nothing was applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// A setting that only a restart changes.
    #[error("config reload not supported for {option}: old={old}, new={new}")]
    NotSupported {
        /// nats-server's name of the option.
        option: &'static str,
        /// Its value now.
        old: String,
        /// The value asked for.
        new: String,
    },
}

/// What a reload compares of the cluster settings (every one of them needs
/// a restart here; nats-server 2.9 reloads routes and cluster
/// authorization), without the password. A port of 0 in `new` ("any free
/// port") stands for the port bound, `old`'s.
fn cluster_text(c: Option<&ClusterConfig>, old: Option<&ClusterConfig>) -> String {
    let Some(c) = c else {
        return "none".into();
    };
    let port = match old {
        Some(o) if c.port == 0 => o.port,
        _ => c.port,
    };
    let user = match &c.auth {
        Auth::UserPass { user, .. } => user.as_str(),
        Auth::None | Auth::Token(_) => "",
    };
    format!(
        "{{name: {:?}, listen: {}:{port}, routes: {:?}, advertise: {:?}, no_advertise: {}, connect_retries: {}, user: {user:?}, password changed: {}, auth_timeout: {:?}}}",
        c.name,
        c.host,
        c.routes,
        c.advertise,
        c.no_advertise,
        c.connect_retries,
        old.is_some_and(|o| o.auth != c.auth && matches!((&o.auth, &c.auth), (Auth::UserPass { user: a, .. }, Auth::UserPass { user: b, .. }) if a == b)),
        c.auth_timeout,
    )
}

impl Router {
    /// Takes `new` while running and returns what changed, one
    /// `Reloaded: ...` line each, as nats-server logs them. New settings
    /// apply to what happens from now on: new connections get the new
    /// `INFO` and limits, the next keepalive uses the new interval. A new
    /// authorization is checked against every open client's credentials,
    /// as nats-server does: a client they no longer admit is closed with
    /// `-ERR 'Authorization Violation'` (one whose secret must be compared
    /// with a new bcrypt hash waits for that check, its input paused, see
    /// [`RouterEvent::VerifyCredentials`](super::RouterEvent::VerifyCredentials)).
    /// In-process sessions (the streaming engine) and routes are not
    /// checked. Refused whole when a setting that needs a restart differs.
    pub fn reload(&mut self, now: Instant, new: RouterConfig) -> Result<Vec<String>, ReloadError> {
        let _ = self.advance(now);
        let old = &self.config;
        let fixed: [(&'static str, String, String); 7] = [
            (
                "cluster",
                cluster_text(old.cluster.as_ref(), None),
                cluster_text(new.cluster.as_ref(), old.cluster.as_ref()),
            ),
            ("host", old.host.clone(), new.host.clone()),
            ("port", old.port.to_string(), new.port.to_string()),
            (
                "server_name",
                format!("{:?}", old.server_name),
                format!("{:?}", new.server_name),
            ),
            ("headers", old.headers.to_string(), new.headers.to_string()),
            (
                "tls",
                format!("{}/{}", old.tls_required, old.tls_verify),
                format!("{}/{}", new.tls_required, new.tls_verify),
            ),
            (
                "match_cache_size",
                old.match_cache_size.to_string(),
                new.match_cache_size.to_string(),
            ),
        ];
        if let Some((option, old, new)) = fixed.into_iter().find(|(_, a, b)| a != b) {
            return Err(ReloadError::NotSupported { option, old, new });
        }
        let mut changes = Vec::new();
        let auth_changed = old.auth != new.auth;
        if auth_changed {
            changes.push("Reloaded: authorization users".to_owned());
            self.auth = Authenticator::new(new.auth.clone());
        }
        let mut note = |name: &str, a: String, b: String| {
            if a != b {
                changes.push(format!("Reloaded: {name} = {b}"));
            }
        };
        note(
            "authorization timeout",
            format!("{:?}", old.auth_timeout),
            format!("{:?}", new.auth_timeout),
        );
        note(
            "ping_interval",
            format!("{:?}", old.ping_interval),
            format!("{:?}", new.ping_interval),
        );
        note(
            "ping_max",
            old.max_pings_out.to_string(),
            new.max_pings_out.to_string(),
        );
        note(
            "max_control_line",
            old.max_control_line.to_string(),
            new.max_control_line.to_string(),
        );
        note(
            "max_payload",
            old.max_payload.to_string(),
            new.max_payload.to_string(),
        );
        note(
            "max_pending",
            old.max_pending.to_string(),
            new.max_pending.to_string(),
        );
        note(
            "write_deadline",
            format!("{:?}", old.write_deadline),
            format!("{:?}", new.write_deadline),
        );
        note(
            "max_connections",
            old.max_connections.to_string(),
            new.max_connections.to_string(),
        );
        note(
            "max_subscriptions",
            old.max_subscriptions.to_string(),
            new.max_subscriptions.to_string(),
        );
        note("debug", old.debug.to_string(), new.debug.to_string());
        note("trace", old.trace.to_string(), new.trace.to_string());
        self.limits = Limits {
            max_control_line: new.max_control_line,
            max_payload: new.max_payload,
        };
        self.config = RouterConfig {
            // What the router was built from stays.
            seed: self.config.seed,
            ..new
        };
        if auth_changed {
            self.reauthorize_clients(now);
        }
        Ok(changes)
    }

    /// Checks every open client's credentials against the authorization
    /// just reloaded (see [`Router::reload`]).
    fn reauthorize_clients(&mut self, now: Instant) {
        let clients: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&slot| {
                self.slots[slot as usize].session.as_ref().is_some_and(|s| {
                    s.phase == SessionPhase::Open
                        && s.route.is_none()
                        && s.pending_connect.is_none()
                        && matches!(s.transport, Transport::Wire { .. })
                })
            })
            .collect();
        for slot in clients {
            let credentials = self
                .slot_session(slot)
                .and_then(|s| s.credentials.clone())
                .unwrap_or_default();
            match self.auth.check(&credentials) {
                Verdict::Accepted => {}
                Verdict::Rejected => self.close(slot, CloseReason::AuthorizationViolation),
                Verdict::NeedsHash { secret, hash } => {
                    self.request_reauth_check(slot, credentials, secret, hash);
                    // Bounded as a CONNECT's check is: closed if no
                    // verdict comes in time.
                    let deadline = deadline_after(now, self.config.auth_timeout);
                    if let Some(s) = self.slot_session(slot) {
                        s.auth_deadline = Some(deadline);
                    }
                    self.rearm(slot);
                }
            }
        }
    }
}
