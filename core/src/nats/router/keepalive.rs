//! Each session's deadlines: the keepalive `PING`s and stale-connection
//! check, the authentication timeout and the end of a producer's stall,
//! kept as one entry per session in the router's timer table.

use std::time::{Duration, Instant};

use super::flow::stall_duration;
use super::session::Session;
use super::verify::PendingConnect;
use super::{CloseReason, LogLevel, LogMessage, Router, SessionPhase};
use crate::nats::codec as encode;
use crate::time::deadline_after;

/// First keepalive tick: min(ping_interval, this) plus up to 20 % jitter.
pub(super) const FIRST_PING: Duration = Duration::from_secs(2);

impl Router {
    /// Keeps the timer table entry of `slot` equal to its next deadline.
    pub(super) fn rearm(&mut self, slot: u32) {
        let conn = self.conn_id(slot);
        let next = self.slots[slot as usize]
            .session
            .as_ref()
            .and_then(Session::next_deadline);
        self.timers.set_opt(conn, next);
    }

    pub(super) fn fire_timers(&mut self, now: Instant, slot: u32) {
        let ping_interval = self.config.ping_interval;
        let max_out = self.config.max_pings_out;
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.input_paused_until.is_some_and(|at| at <= now) {
            let consumer = session.paused_on;
            self.resume_input(slot);
            if self.config.debug {
                let pending = consumer.map_or(0, |c| self.pending_output_bytes(c));
                let ttl = stall_duration(pending, self.config.max_pending);
                self.log(slot, LogLevel::Debug, LogMessage::StallTimedOut(ttl));
            }
        }
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.auth_deadline.is_some_and(|at| at <= now) {
            session.auth_deadline = None;
            let rechecking = session
                .pending_connect
                .as_ref()
                .is_some_and(PendingConnect::is_reauth);
            if session.phase == SessionPhase::AwaitingConnect || rechecking {
                self.close(slot, CloseReason::AuthenticationTimeout);
                return;
            }
        }
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.ping_at.is_some_and(|at| at <= now) {
            let idle = now.saturating_duration_since(session.last_activity) >= ping_interval;
            if !session.rtt_probed || idle {
                if session.pings_out + 1 > max_out {
                    session.ping_at = None;
                    self.close(slot, CloseReason::StaleConnection);
                    return;
                }
                session.rtt_probed = true;
                session.pings_out += 1;
                session.ping_sent_at = Some(now);
                session.ping_at = Some(deadline_after(now, ping_interval));
                self.trace_out(slot, || "PING".to_owned());
                self.write_wire(slot, |out| out.put(encode::PING));
            } else {
                session.ping_at = Some(deadline_after(now, ping_interval));
            }
        }
    }
}
