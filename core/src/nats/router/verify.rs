//! Credentials checked off the routing path: a `CONNECT` whose secret must
//! be compared with a bcrypt hash (deliberately slow: tens of milliseconds)
//! pauses its session and asks the driver to run the hash
//! ([`RouterEvent::VerifyCredentials`]); the driver runs
//! [`CredentialCheck::verify`] on another thread and hands the
//! [`CredentialVerdict`] back ([`Router::handle_credential_verdict`]).
//! Every other session keeps being served meanwhile, so a storm of
//! connections with new credentials does not stall traffic.
//!
//! While the check runs the session's input stays in the driver's buffer
//! ([`Router::is_input_paused`]); the authentication timeout keeps running,
//! so a backlog of checks cannot hold sessions forever.

use std::time::Instant;

use super::auth::{bcrypt_matches, Verdict};
use super::session::SessionPhase;
use super::{CloseReason, ConnId, ConnectOptions, Router, RouterEvent};

/// A bcrypt comparison the router needs before it can accept a `CONNECT`.
/// Run [`verify`](Self::verify) away from the thread that drives the router.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialCheck {
    conn: ConnId,
    ticket: u64,
    secret: String,
    hash: String,
}

impl std::fmt::Debug for CredentialCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("CredentialCheck")
            .field("conn", &self.conn)
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl CredentialCheck {
    /// The session waiting for this check.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Runs the hash: CPU-bound, tens of milliseconds at nats-server's usual
    /// costs. Pure: no IO, safe on any thread.
    #[must_use]
    pub fn verify(&self) -> CredentialVerdict {
        CredentialVerdict {
            conn: self.conn,
            ticket: self.ticket,
            matches: bcrypt_matches(&self.secret, &self.hash),
        }
    }
}

/// The outcome of a [`CredentialCheck`], for
/// [`Router::handle_credential_verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialVerdict {
    conn: ConnId,
    ticket: u64,
    matches: bool,
}

impl CredentialVerdict {
    /// The session the check was for.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Whether the secret matched the hash.
    pub fn matches(&self) -> bool {
        self.matches
    }
}

/// A session's `CONNECT` waiting for its credential check.
#[derive(Debug)]
pub(crate) struct PendingConnect {
    ticket: u64,
    hash: String,
    opts: Box<ConnectOptions>,
    /// A route's `CONNECT` (checked against the cluster authorization),
    /// to finish once the verdict is in.
    route_connect: Option<Vec<u8>>,
    /// An open session's credentials checked again after a reload changed
    /// the authorization: nothing to finish, only to keep or close it.
    reauth: bool,
}

impl PendingConnect {
    /// Whether this is an open session's check after a reload.
    pub(crate) fn is_reauth(&self) -> bool {
        self.reauth
    }
}

impl Router {
    /// The result of a [`CredentialCheck`] the router asked for: the
    /// session's `CONNECT` completes (or it is closed with `Authorization
    /// Violation`), and [`RouterEvent::InputResumed`] says to feed its
    /// buffered input again. A verdict for a session that is gone, or that
    /// a configuration reload made moot, is ignored or checked anew.
    pub fn handle_credential_verdict(&mut self, now: Instant, verdict: CredentialVerdict) {
        let now = self.advance(now);
        let Some(session) = self.session_mut(verdict.conn) else {
            return;
        };
        if session
            .pending_connect
            .as_ref()
            .is_none_or(|p| p.ticket != verdict.ticket)
        {
            return;
        }
        let Some(pending) = session.pending_connect.take() else {
            return;
        };
        if session.phase == SessionPhase::Closing {
            return;
        }
        let slot = verdict.conn.slot;
        if let Some(json) = pending.route_connect {
            let accepted = verdict.matches
                && self
                    .cluster
                    .as_deref_mut()
                    .is_some_and(|c| match c.auth.check(&pending.opts) {
                        Verdict::Accepted => true,
                        Verdict::Rejected => false,
                        Verdict::NeedsHash { secret, hash } => {
                            hash == pending.hash && {
                                c.auth.remember(&secret);
                                true
                            }
                        }
                    });
            self.finish_route_connect(slot, &json, accepted);
            self.events
                .push_back(RouterEvent::InputResumed(verdict.conn));
            return;
        }
        // Decided again: a reload may have changed the credentials since.
        let accepted = match self.auth.check(&pending.opts) {
            Verdict::Accepted => true,
            Verdict::Rejected => false,
            Verdict::NeedsHash { secret, hash } if hash == pending.hash => {
                if verdict.matches {
                    self.auth.remember(&secret);
                }
                verdict.matches
            }
            Verdict::NeedsHash { secret, hash } => {
                self.request_pending_check(slot, pending.opts, None, pending.reauth, secret, hash);
                return;
            }
        };
        if !accepted {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        if pending.reauth {
            if let Some(session) = self.slot_session(slot) {
                session.credentials = Some(pending.opts);
                session.auth_deadline = None;
            }
        } else {
            self.finish_connect(now, slot, &pending.opts, true);
        }
        self.events
            .push_back(RouterEvent::InputResumed(verdict.conn));
    }

    /// Whether `check` is still awaited (its session is open and waiting
    /// for it): a driver with a backlog of checks skips the stale ones.
    pub fn is_credential_check_current(&self, check: &CredentialCheck) -> bool {
        self.session(check.conn).is_some_and(|s| {
            s.pending_connect.as_ref().is_some_and(|p| {
                p.ticket == check.ticket
                    && (s.phase == SessionPhase::AwaitingConnect
                        || (p.reauth && s.phase == SessionPhase::Open))
            })
        })
    }

    /// Pauses session `slot` and asks the driver to compare `secret` with
    /// `hash`.
    pub(super) fn request_check(
        &mut self,
        slot: u32,
        opts: Box<ConnectOptions>,
        secret: String,
        hash: String,
    ) {
        self.request_pending_check(slot, opts, None, false, secret, hash);
    }

    /// Pauses open session `slot` and asks the driver to compare the
    /// secret it authenticated with (`opts`) with the new `hash` a reload
    /// configured: it is closed with `Authorization Violation` unless they
    /// match.
    pub(super) fn request_reauth_check(
        &mut self,
        slot: u32,
        opts: Box<ConnectOptions>,
        secret: String,
        hash: String,
    ) {
        self.request_pending_check(slot, opts, None, true, secret, hash);
    }

    /// Pauses route session `slot` and asks the driver to compare the
    /// secret of its `CONNECT` (`json`) with the cluster's `hash`.
    pub(super) fn request_route_check(
        &mut self,
        slot: u32,
        opts: Box<ConnectOptions>,
        json: Vec<u8>,
        secret: String,
        hash: String,
    ) {
        self.request_pending_check(slot, opts, Some(json), false, secret, hash);
    }

    fn request_pending_check(
        &mut self,
        slot: u32,
        opts: Box<ConnectOptions>,
        route_connect: Option<Vec<u8>>,
        reauth: bool,
        secret: String,
        hash: String,
    ) {
        let conn = self.conn_id(slot);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        session.pending_connect = Some(PendingConnect {
            ticket,
            hash: hash.clone(),
            opts,
            route_connect,
            reauth,
        });
        self.events
            .push_back(RouterEvent::VerifyCredentials(CredentialCheck {
                conn,
                ticket,
                secret,
                hash,
            }));
    }
}
