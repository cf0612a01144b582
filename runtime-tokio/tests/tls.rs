//! TLS on tokio: `stan-async`'s TLS scenarios (`scenarios/tls.rs` of
//! `runtime-async`) with the [`Tokio`] runtime: our client over TLS to our
//! embedded server, `--tlsverify`, a wrong CA and an expired certificate
//! refused, plain-text clients told that TLS is required, the external
//! engine over TLS.

#[path = "../../runtime-async/tests/scenarios/tls.rs"]
mod scenarios;

use stan_tls::test_certs::TestPki;
use stan_tokio::Tokio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_over_tls() {
    scenarios::round_trip_over_tls(&Tokio, &TestPki::generate()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_requires_a_client_certificate() {
    scenarios::verify_requires_a_client_certificate(&Tokio, &TestPki::generate()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_wrong_ca_and_expired_certificates() {
    scenarios::client_refuses_wrong_ca_and_expired_certificates(&Tokio, &TestPki::generate()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_clients_are_told_tls_is_required() {
    scenarios::plain_text_clients_are_told_tls_is_required(&Tokio, &TestPki::generate()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_engine_over_tls() {
    scenarios::external_engine_over_tls(&Tokio, &TestPki::generate()).await;
}
