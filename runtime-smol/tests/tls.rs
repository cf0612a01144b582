//! TLS on smol: `stan-async`'s TLS scenarios (`scenarios/tls.rs` of
//! `runtime-async`) with the [`Smol`] runtime: our client over TLS to our
//! embedded server, `--tlsverify`, a wrong CA and an expired certificate
//! refused, plain-text clients told that TLS is required, the external
//! engine over TLS.

#[path = "../../runtime-async/tests/scenarios/tls.rs"]
mod scenarios;

use stan_smol::Smol;
use stan_tls::test_certs::TestPki;

#[test]
fn round_trip_over_tls() {
    smol::block_on(scenarios::round_trip_over_tls(&Smol, &TestPki::generate()));
}

#[test]
fn verify_requires_a_client_certificate() {
    smol::block_on(scenarios::verify_requires_a_client_certificate(
        &Smol,
        &TestPki::generate(),
    ));
}

#[test]
fn client_refuses_wrong_ca_and_expired_certificates() {
    smol::block_on(scenarios::client_refuses_wrong_ca_and_expired_certificates(
        &Smol,
        &TestPki::generate(),
    ));
}

#[test]
fn plain_text_clients_are_told_tls_is_required() {
    smol::block_on(scenarios::plain_text_clients_are_told_tls_is_required(
        &Smol,
        &TestPki::generate(),
    ));
}

#[test]
fn external_engine_over_tls() {
    smol::block_on(scenarios::external_engine_over_tls(
        &Smol,
        &TestPki::generate(),
    ));
}
