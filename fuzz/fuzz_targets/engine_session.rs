//! Arbitrary client actions, raw payloads and time steps through the STAN
//! engine; see `stan_core::fuzzing::engine_session` for the input format
//! and `stan_core::fuzzing::check_engine` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stan_core::fuzzing::engine_session(data));
