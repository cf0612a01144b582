//! Arbitrary bytes through both NATS decoders, in one piece and in
//! fuzz-chosen chunks: no panic, and the same ops (or the same error) either
//! way. The input format is documented in `stan_core::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stan_core::fuzzing::decode_chunked(data));
