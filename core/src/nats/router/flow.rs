//! Flow control, as nats-server does it: bytes handed to the driver count
//! against a session's `max_pending` until written; a client publishing to
//! a session past half of it is stalled (its input paused for 100 ms to 1 s,
//! less if the consumer catches up sooner).

use std::time::{Duration, Instant};

use super::session::SessionPhase;
use super::{ConnId, Router, RouterEvent};
use crate::time::deadline_after;

impl Router {
    /// The driver wrote `bytes` of what [`Router::poll_transmit`] handed
    /// out for `conn`. Until then those bytes count as pending; producers
    /// stalled on `conn` resume once it is back under half of
    /// `max_pending`.
    pub fn handle_written(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        self.advance(now);
        let half = self.config.max_pending / 2;
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        if let Some(out) = session.wire_out() {
            out.confirm(bytes);
        }
        if !session.stalled_producers.is_empty() && session.pending() <= half {
            self.release_stalled(conn);
        }
    }

    /// The in-process peer of `conn` has taken its deliveries
    /// ([`Router::poll_delivery`]): producers stalled on it resume once it
    /// is back under half of `max_pending`.
    pub fn handle_drained(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        let half = self.config.max_pending / 2;
        let Some(session) = self.session(conn) else {
            return;
        };
        if !session.stalled_producers.is_empty() && session.pending() <= half {
            self.release_stalled(conn);
        }
    }

    /// Pauses the input of producer `slot`, which published to `consumer`
    /// while `pending` bytes were waiting for it.
    pub(super) fn stall(&mut self, now: Instant, slot: u32, consumer: ConnId, pending: usize) {
        let ttl = stall_duration(pending, self.config.max_pending);
        let producer = self.conn_id(slot);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.phase == SessionPhase::Closing {
            return;
        }
        session.input_paused_until = Some(deadline_after(now, ttl));
        session.paused_on = Some(consumer);
        self.rearm(slot);
        if let Some(c) = self.session_mut(consumer) {
            if !c.stalled_producers.contains(&producer) {
                c.stalled_producers.push(producer);
            }
        }
    }

    /// `consumer` caught up (or is gone): every producer paused on it
    /// resumes.
    pub(super) fn release_stalled(&mut self, consumer: ConnId) {
        let Some(session) = self.session_mut(consumer) else {
            return;
        };
        let producers = std::mem::take(&mut session.stalled_producers);
        for producer in producers {
            if self
                .session(producer)
                .is_some_and(|p| p.paused_on == Some(consumer))
            {
                self.resume_input(producer.slot);
            }
        }
    }

    /// Ends the stall of `slot` and tells the driver.
    pub(super) fn resume_input(&mut self, slot: u32) {
        let conn = self.conn_id(slot);
        let Some(session) = self.slot_session(slot) else {
            return;
        };
        if session.input_paused_until.take().is_none() {
            return;
        }
        session.paused_on = None;
        let closing = session.phase == SessionPhase::Closing;
        self.rearm(slot);
        if !closing {
            self.events.push_back(RouterEvent::InputResumed(conn));
        }
    }
}

/// Shortest stall of a producer (nats-server's `stallClientMinDuration`).
const STALL_MIN: Duration = Duration::from_millis(100);
/// Longest stall of a producer (nats-server's `stallClientMaxDuration`).
const STALL_MAX: Duration = Duration::from_secs(1);

/// How long a producer is stalled for a consumer with `pending` bytes of a
/// `max_pending` limit: 100 ms just past half, 100 ms more per tenth of the
/// upper half, 1 s at the limit (nats-server's `stallDuration`).
pub(crate) fn stall_duration(pending: usize, max_pending: usize) -> Duration {
    let half = max_pending / 2;
    if pending >= max_pending {
        return STALL_MAX;
    }
    if pending <= half {
        return STALL_MIN;
    }
    let step = (half / 10).max(1);
    let steps = u32::try_from((pending - half) / step).unwrap_or(u32::MAX);
    STALL_MIN
        .saturating_add(STALL_MIN.saturating_mul(steps))
        .min(STALL_MAX)
}
