//! TLS on the test runtime (`async-io`): the scenarios of
//! `scenarios/tls.rs`, which `stan-tokio` and `stan-smol` run too.

mod common;
#[path = "scenarios/tls.rs"]
mod scenarios;

use common::AsyncIo;
use stan_tls::test_certs::TestPki;

#[test]
fn round_trip_over_tls() {
    async_io::block_on(scenarios::round_trip_over_tls(
        &AsyncIo,
        &TestPki::generate(),
    ));
}

#[test]
fn verify_requires_a_client_certificate() {
    async_io::block_on(scenarios::verify_requires_a_client_certificate(
        &AsyncIo,
        &TestPki::generate(),
    ));
}

#[test]
fn client_refuses_wrong_ca_and_expired_certificates() {
    async_io::block_on(scenarios::client_refuses_wrong_ca_and_expired_certificates(
        &AsyncIo,
        &TestPki::generate(),
    ));
}

#[test]
fn plain_text_clients_are_told_tls_is_required() {
    async_io::block_on(scenarios::plain_text_clients_are_told_tls_is_required(
        &AsyncIo,
        &TestPki::generate(),
    ));
}

#[test]
fn external_engine_over_tls() {
    async_io::block_on(scenarios::external_engine_over_tls(
        &AsyncIo,
        &TestPki::generate(),
    ));
}
