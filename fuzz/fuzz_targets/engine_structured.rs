//! Protobuf requests with arbitrary fields (valid and spoiled), raw bytes,
//! clients coming and going, acks and time steps through the STAN engine,
//! decoded with `arbitrary`; see `stan_core::fuzzing::engine_structured`
//! for the input format and `stan_core::fuzzing::check_engine` for the
//! invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stan_core::fuzzing::engine_structured(data));
