//! Seeds for the core's state machines, drawn from OS entropy when the user
//! chose none (a `seed` of 0 in a core configuration means "not chosen";
//! the core itself never reads entropy), and the wall clock the core is
//! handed at start.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh seed from the operating system's entropy source (`getrandom`),
/// never 0. Every constructor of this crate uses it for a configuration
/// whose seed is 0, so a served router, engine or client never runs on the
/// core's public test seed.
///
/// # Panics
///
/// When the operating system has no entropy source to read, as the
/// standard library's `RandomState` does.
pub fn entropy_seed() -> u64 {
    loop {
        match getrandom::u64() {
            Ok(0) => continue,
            Ok(seed) => return seed,
            Err(e) => panic!("stan-async: no OS entropy for a seed: {e}"),
        }
    }
}

/// `seed`, or a fresh one from OS entropy when it is 0 (not chosen).
pub(crate) fn or_entropy(seed: u64) -> u64 {
    if seed == 0 {
        entropy_seed()
    } else {
        seed
    }
}

/// Unix nanoseconds now (the wall clock a state machine gets at start).
pub(crate) fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
