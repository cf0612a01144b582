//! Time as data, the same way in every state machine of the core.
//!
//! * [`Clock`] keeps a state machine's idea of "now": every input carries a
//!   `now`, and a `now` earlier than one already seen is treated as that
//!   one (time never goes backwards inside the core; a driver whose clock
//!   steps back does not make deadlines fire twice or panic).
//! * [`Timers`] is the deadline table: one deadline per key of the owner's
//!   own enum, ordered by time. Setting a key replaces its deadline; the
//!   owner's `handle_timeout(now)` pops every due key with
//!   [`Timers::pop_due`] and its `poll_timeout` is [`Timers::next`]. The
//!   contract every owner keeps: after `handle_timeout(now)` no deadline at
//!   or before `now` is left (so a driver's loop never spins).
//! * [`deadline_after`] adds a duration to an instant without overflowing,
//!   so configured durations of any size cannot panic the core.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How far in the future a deadline that would overflow `Instant` is put:
/// about 30 years, later than any process lives.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + d`, or a far-future instant when that would overflow.
pub fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// A state machine's monotonic view of the driver's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    now: Instant,
}

impl Clock {
    /// A clock starting at `now`.
    pub fn new(now: Instant) -> Self {
        Clock { now }
    }

    /// Takes the `now` of an input: returns it, or the latest `now` seen if
    /// it is earlier.
    pub fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    /// The latest `now` seen.
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// A deadline table keyed by the owner's own enum `K`.
#[derive(Debug, Clone)]
pub struct Timers<K> {
    by_key: BTreeMap<K, Instant>,
    by_time: BTreeSet<(Instant, K)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_key: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms (or re-arms) `key` at `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            if old == at {
                return;
            }
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Arms `key` at `at`, or disarms it when `at` is `None`.
    pub fn set_opt(&mut self, key: K, at: Option<Instant>) {
        match at {
            Some(at) => self.set(key, at),
            None => self.cancel(key),
        }
    }

    /// Arms `key` at `at` unless it is already armed earlier.
    pub fn set_earliest(&mut self, key: K, at: Instant) {
        match self.by_key.get(&key) {
            Some(&old) if old <= at => {}
            _ => self.set(key, at),
        }
    }

    /// Disarms `key`.
    pub fn cancel(&mut self, key: K) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// The deadline of `key`, if armed.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// Whether `key` is armed.
    pub fn is_armed(&self, key: K) -> bool {
        self.by_key.contains_key(&key)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Removes and returns one key due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// Number of armed deadlines.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests;
