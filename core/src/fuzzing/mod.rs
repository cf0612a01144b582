//! Invariant checks shared by the fuzz targets in `fuzz/` and the test that
//! replays their committed corpora, so CI covers the corpora without a
//! fuzzer. One module per input surface; each entry point documents its
//! input format (chosen so that any byte string is a valid input and no
//! `arbitrary` dependency is needed) and the invariants it checks.

mod client;
mod decode;
mod engine;
mod filestore;
mod router;

pub use client::client_session;
pub use decode::decode_chunked;
pub use engine::engine_session;
pub use filestore::filestore;
pub use router::router_session;
