//! The engine's deadlines as data: one entry per [`TimerKey`], ordered by
//! time. Setting a key replaces its previous deadline.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::hash::SeededHashMap;

use super::slab::Key;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// Next heartbeat of a client.
    Heartbeat(Key),
    /// A request to a client's heartbeat inbox timed out (token).
    Request(u64),
    /// Ack-wait redelivery of a subscription.
    Redelivery(Key),
    /// Max-age expiry of a channel's oldest message.
    MaxAge(Key),
    /// Max-inactivity deletion of a channel.
    Inactivity(Key),
}

#[derive(Debug)]
pub(crate) struct Timers {
    by_key: SeededHashMap<TimerKey, Instant>,
    by_time: BTreeSet<(Instant, TimerKey)>,
}

impl Timers {
    pub(crate) fn new(seed: u64) -> Self {
        Timers {
            by_key: SeededHashMap::with_hasher(crate::hash::SeededState::new(seed)),
            by_time: BTreeSet::new(),
        }
    }

    /// Arms (or re-arms) `key` at `at`.
    pub(crate) fn set(&mut self, key: TimerKey, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Arms `key` at `at` unless it is already armed earlier.
    pub(crate) fn set_earliest(&mut self, key: TimerKey, at: Instant) {
        match self.by_key.get(&key) {
            Some(&old) if old <= at => {}
            _ => self.set(key, at),
        }
    }

    /// Disarms `key`.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// Whether `key` is armed.
    pub(crate) fn is_armed(&self, key: TimerKey) -> bool {
        self.by_key.contains_key(&key)
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Removes and returns one key due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// Number of armed deadlines.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}
