//! A route peer and a client sending arbitrary bytes to a clustered router; see
//! `stan_core::fuzzing::route_session` for the input format and invariants.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stan_core::fuzzing::route_session(*START.get_or_init(Instant::now), data)
});
