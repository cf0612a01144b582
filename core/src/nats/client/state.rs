//! The connection's life: its states and their deadlines (dial, handshake,
//! keepalive), losing a transport, scheduling the reconnect, and closing
//! for good.

use std::time::Instant;

use super::{CloseReason, Connection, DisconnectReason, Event};
use crate::time::deadline_after;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// A dial of the current server is due ([`Deadline::Dial`]).
    Waiting,
    /// `WantConnect` emitted; waiting for the driver's verdict
    /// ([`Deadline::DialTimeout`]).
    Dialing,
    /// Transport up; waiting for `INFO` ([`Deadline::Handshake`]).
    AwaitInfo,
    /// `INFO` says (or we asked for) TLS: `UpgradeTls` emitted, waiting for
    /// the driver's handshake ([`Deadline::Handshake`]).
    AwaitTls,
    /// `CONNECT` and `PING` sent; waiting for `PONG`
    /// ([`Deadline::Handshake`]).
    AwaitPong,
    /// Open; [`Deadline::Ping`] is the keepalive tick (none if disabled).
    Connected,
    Closed,
}

/// What a deadline of the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Deadline {
    /// Dial the current server (after the reconnect wait).
    Dial,
    /// The driver's dial must be over by then (`connect_timeout` after
    /// `WantConnect`); otherwise it is abandoned.
    DialTimeout,
    /// The handshake (`INFO`, then `PONG`) must be done by then.
    Handshake,
    /// Send a keepalive `PING` (or declare the connection stale).
    Ping,
}

impl State {
    /// The deadline this state keeps armed, if any.
    pub(super) fn deadline(self) -> Option<Deadline> {
        match self {
            State::Waiting => Some(Deadline::Dial),
            State::Dialing => Some(Deadline::DialTimeout),
            State::AwaitInfo | State::AwaitTls | State::AwaitPong => Some(Deadline::Handshake),
            State::Connected => Some(Deadline::Ping),
            State::Closed => None,
        }
    }
}

impl Connection {
    /// The transport is gone: tell the driver, then plan the next dial.
    pub(super) fn lose(&mut self, reason: DisconnectReason) {
        self.out.clear();
        self.pings_out = 0;
        let mut flushes: Vec<u64> = self.pongs.drain(..).flatten().collect();
        flushes.append(&mut self.pending_flushes);
        self.pending_flushes = flushes;
        self.events.push_back(Event::Disconnected {
            reason: reason.clone(),
        });
        self.last_reason = Some(reason);
        self.schedule_reconnect();
    }

    /// Asks the driver to dial the current server ([`Event::WantConnect`]),
    /// within `connect_timeout` ([`Deadline::DialTimeout`]).
    pub(super) fn want_connect(&mut self, now: Instant) {
        let Some(server) = self.servers.get(self.server_idx).cloned() else {
            return self.finish(CloseReason::NoServers);
        };
        if let Some(entry) = self.pool.get_mut(self.server_idx) {
            entry.last_dial = Some(now);
        }
        self.enter(State::Dialing);
        self.timers.set(
            Deadline::DialTimeout,
            deadline_after(now, self.options.connect_timeout),
        );
        self.events.push_back(Event::WantConnect { server });
    }

    pub(super) fn schedule_reconnect(&mut self) {
        if self
            .options
            .max_reconnects
            .is_some_and(|max| self.attempts >= max)
        {
            let last = self
                .last_reason
                .take()
                .unwrap_or(DisconnectReason::TransportClosed);
            return self.finish(CloseReason::ReconnectsExhausted {
                attempts: self.attempts,
                last,
            });
        }
        self.attempts += 1;
        self.server_idx = (self.server_idx + 1) % self.servers.len().max(1);
        self.enter(State::Waiting);
        // `reconnect_wait` after this server's last dial (at once if it
        // was never dialled, or long ago).
        let now = self.clock.now();
        let due = match self.pool.get(self.server_idx).and_then(|e| e.last_dial) {
            Some(dialled) => deadline_after(dialled, self.options.reconnect_wait).max(now),
            None => now,
        };
        self.timers.set(Deadline::Dial, due);
    }

    pub(super) fn finish(&mut self, reason: CloseReason) {
        self.enter(State::Closed);
        self.buffer.clear();
        self.pongs.clear();
        self.pending_flushes.clear();
        self.events.push_back(Event::Closed { reason });
    }

    /// Moves to `state`, disarming every deadline it does not keep.
    pub(super) fn enter(&mut self, state: State) {
        self.state = state;
        for d in [
            Deadline::Dial,
            Deadline::DialTimeout,
            Deadline::Handshake,
            Deadline::Ping,
        ] {
            if state.deadline() != Some(d) {
                self.timers.cancel(d);
            }
        }
    }
}
