//! The conformance suite on tokio (server and client).

mod adapters;

use adapters::async_rt::{TokioClient, TokioServer};

stan_conformance::conformance_suite!(tokio_server_tokio_client, TokioServer, TokioClient);
stan_conformance::server_suite!(tokio_server, TokioServer);
stan_conformance::flow_suite!(tokio_server_flow, TokioServer);
stan_conformance::driver_suite!(tokio_client_driver, TokioClient);
stan_conformance::seed_suite!(tokio_server_seeds, TokioServer);
stan_conformance::restart_suite!(tokio_server_restart, TokioServer, TokioClient);
