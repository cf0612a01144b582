//! The client protocol's operations as the router processes them: `CONNECT`
//! (options, credentials, protocol checks), `PUB`/`HPUB`, `SUB`, `UNSUB`,
//! `PING` and `PONG`.

use std::time::Instant;

use super::auth::Verdict;
use super::fanout::Outbound;
use super::keepalive::FIRST_PING;
use super::routing::SubscribeOutcome;
use super::session::{SessionFlags, SessionPhase};
use super::{CloseReason, ConnectOptions, Router};
use crate::nats::codec::{self as encode, ClientOp};
use crate::nats::subject;
use crate::time::deadline_after;

impl Router {
    pub(super) fn process(&mut self, now: Instant, slot: u32, op: ClientOp) {
        let auth_pending = self.auth.is_required()
            && self.slots[slot as usize]
                .session
                .as_ref()
                .is_some_and(|s| s.phase == SessionPhase::AwaitingConnect);
        if auth_pending && !matches!(op, ClientOp::Connect(_)) {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        self.trace_in(slot, &op);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if !matches!(op, ClientOp::Pong | ClientOp::Connect(_)) {
            session.last_activity = now;
        }
        let verbose = session.flags.verbose;
        match op {
            ClientOp::Connect(json) => self.process_connect(now, slot, &json),
            ClientOp::Pub(frame) => {
                let flags = session.flags;
                if frame.headers().is_some() && !flags.headers {
                    self.close(slot, CloseReason::HeadersNotSupported);
                    return;
                }
                if flags.pedantic && subject::validate_publish(frame.subject()).is_err() {
                    self.send_err(slot, "Invalid Publish Subject");
                }
                self.publish(now, slot, &Outbound::Frame(&frame));
                if verbose {
                    self.send_ok(slot);
                }
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                if subject::validate_subscribe(&subject).is_err() {
                    self.send_err(slot, "Invalid Subject");
                    return;
                }
                match self.subscribe(slot, &subject, queue.as_deref(), &sid) {
                    SubscribeOutcome::TooMany => {
                        self.send_err(slot, "maximum subscriptions exceeded");
                    }
                    _ if verbose => self.send_ok(slot),
                    _ => {}
                }
            }
            ClientOp::Unsub { sid, max } => {
                self.unsubscribe(slot, &sid, max);
                if verbose {
                    self.send_ok(slot);
                }
            }
            ClientOp::Ping => {
                // nats-server's `processPing`: a client that missed a
                // change of the cluster's client URLs (it connected while
                // a route registered) gets the current INFO before its
                // PONG.
                self.send_info_if_urls_changed(slot);
                self.trace_out(slot, || "PONG".to_owned());
                self.write_wire(slot, |out| out.put(encode::PONG));
            }
            ClientOp::Pong => {
                session.pings_out = 0;
                if let Some(sent) = session.ping_sent_at.take() {
                    session.rtt = Some(now.saturating_duration_since(sent));
                }
            }
        }
    }

    pub(super) fn process_connect(&mut self, now: Instant, slot: u32, json: &[u8]) {
        let Ok(opts) = ConnectOptions::parse(json) else {
            self.close(slot, CloseReason::BadConnect);
            return;
        };
        let was_awaiting = self
            .slot_session(slot)
            .is_some_and(|s| s.phase == SessionPhase::AwaitingConnect);
        if let Some(session) = self.slot_session(slot) {
            // Known before the checks, so that their log lines name it.
            session.name.clone_from(&opts.name);
            session.lang.clone_from(&opts.lang);
            session.version.clone_from(&opts.version);
        }
        if was_awaiting && self.auth.is_required() {
            match self.auth.check(&opts) {
                Verdict::Accepted => {}
                Verdict::Rejected => {
                    self.close(slot, CloseReason::AuthorizationViolation);
                    return;
                }
                Verdict::NeedsHash { secret, hash } => {
                    // Finished by `handle_credential_verdict`.
                    self.request_check(slot, Box::new(opts), secret, hash);
                    return;
                }
            }
        }
        self.finish_connect(now, slot, &opts, was_awaiting);
    }

    /// The rest of a `CONNECT` once its credentials are accepted: protocol
    /// checks, the session's options, and (for the first one) the session
    /// opens.
    pub(super) fn finish_connect(
        &mut self,
        now: Instant,
        slot: u32,
        opts: &ConnectOptions,
        was_awaiting: bool,
    ) {
        if opts.account.as_deref().is_some_and(|a| !a.is_empty()) || opts.new_account == Some(true)
        {
            self.close(slot, CloseReason::AuthorizationViolation);
            return;
        }
        if !(0..=1).contains(&opts.protocol) {
            self.close(slot, CloseReason::BadClientProtocol);
            return;
        }
        if opts.no_responders && !opts.headers {
            self.close(slot, CloseReason::NoRespondersRequiresHeaders);
            return;
        }
        let server_headers = self.config.headers;
        let first_ping = self.config.ping_interval.min(FIRST_PING);
        let jitter = first_ping.mul_f64(self.rng.below(201) as f64 / 1000.0);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        session.flags = SessionFlags {
            verbose: opts.verbose,
            pedantic: opts.pedantic,
            echo: opts.echo,
            headers: opts.headers && server_headers,
            no_responders: opts.no_responders && server_headers,
            async_info: opts.protocol >= 1,
        };
        if was_awaiting {
            session.phase = SessionPhase::Open;
            session.auth_deadline = None;
            session.credentials = opts.credentials().map(Box::new);
            session.ping_at = Some(deadline_after(now, first_ping.saturating_add(jitter)));
            self.rearm(slot);
        }
        if opts.verbose {
            self.send_ok(slot);
        }
    }
}
