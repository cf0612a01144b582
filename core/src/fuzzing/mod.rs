//! Invariant checks shared by the fuzz targets in `fuzz/` and the test that
//! replays their committed corpora, so CI covers the corpora without a
//! fuzzer. One module per input surface; each entry point documents its
//! input format and the invariants it checks. Most formats are byte-coded
//! (any byte string is a valid input); the structure-aware targets
//! ([`engine_structured`], [`codec_roundtrip`]) decode theirs with the
//! `arbitrary` crate, still from plain bytes.

mod client;
mod codec;
mod decode;
mod engine;
mod engine_structured;
mod filestore;
#[cfg(test)]
mod regressions;
mod route;
mod router;

pub use client::client_session;
pub use codec::codec_roundtrip;
pub use decode::decode_chunked;
pub use engine::{check_engine, engine_session};
pub use engine_structured::{
    engine_structured, Mangle, Num, Override, Reply, StructuredOp, StructuredSetup, Text,
};
pub use filestore::filestore;
pub use route::route_session;
pub use router::router_session;
