//! Replays the committed cargo-fuzz corpora through the same invariant checks
//! the fuzz targets run, so CI covers them without a fuzzer.

// A test/bench driver, outside the library: the core's purity lints do not
// apply (it reads files and the clock).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let data = std::fs::read(&path).expect("corpus file");
            (name, data)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "corpus {target} has only {} inputs",
        files.len()
    );
    files
}

#[test]
fn decode_chunked_corpus() {
    for (name, data) in corpus("decode_chunked") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::decode_chunked(&data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn router_session_corpus() {
    let start = std::time::Instant::now();
    for (name, data) in corpus("router_session") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::router_session(start, &data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn route_session_corpus() {
    let start = std::time::Instant::now();
    for (name, data) in corpus("route_session") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::route_session(start, &data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn engine_session_corpus() {
    for (name, data) in corpus("engine_session") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::engine_session(&data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn client_session_corpus() {
    let start = std::time::Instant::now();
    for (name, data) in corpus("client_session") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::client_session(start, &data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn filestore_corpus() {
    for (name, data) in corpus("filestore") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::filestore(&data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn engine_structured_corpus() {
    for (name, data) in corpus("engine_structured") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::engine_structured(&data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}

#[test]
fn codec_roundtrip_corpus() {
    for (name, data) in corpus("codec_roundtrip") {
        let outcome = std::panic::catch_unwind(|| stan_core::fuzzing::codec_roundtrip(&data));
        assert!(outcome.is_ok(), "corpus input {name} fails the invariant");
    }
}
