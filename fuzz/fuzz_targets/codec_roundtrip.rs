//! Client and server ops built from the input, encoded, decoded back whole
//! and in chunks: the same ops, no byte left; see
//! `stan_core::fuzzing::codec_roundtrip` for the input format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stan_core::fuzzing::codec_roundtrip(data));
