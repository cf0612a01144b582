//! Arbitrary server responses, deliveries, application commands and time
//! steps through the STAN client session; see
//! `stan_core::fuzzing::client_session` for the input format and invariants.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stan_core::fuzzing::client_session(*START.get_or_init(Instant::now), data)
});
