//! The conformance suite on tokio (server and client).

mod adapters;

use adapters::tokio_rt::{TokioClient, TokioServer};

stan_conformance::conformance_suite!(tokio_server_tokio_client, TokioServer, TokioClient);
stan_conformance::flow_suite!(tokio_server_flow, TokioServer);
stan_conformance::seed_suite!(tokio_server_seeds, TokioServer);
