//! Arbitrary bytes through the file store's record decoder, recovery scan
//! and folding (one file, an index, or a whole store); see
//! `stan_core::fuzzing::filestore` for the input format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stan_core::fuzzing::filestore(data));
