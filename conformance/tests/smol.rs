//! The conformance suite on smol, and smol mixed with the other runtimes.

mod adapters;

use adapters::async_rt::{SmolClient, SmolServer, TokioClient, TokioServer};
use adapters::mio_rt::MioServer;

stan_conformance::conformance_suite!(smol_server_smol_client, SmolServer, SmolClient);
stan_conformance::conformance_suite!(smol_server_tokio_client, SmolServer, TokioClient);
stan_conformance::conformance_suite!(tokio_server_smol_client, TokioServer, SmolClient);
stan_conformance::conformance_suite!(mio_server_smol_client, MioServer, SmolClient);
stan_conformance::server_suite!(smol_server, SmolServer);
stan_conformance::flow_suite!(smol_server_flow, SmolServer);
stan_conformance::driver_suite!(smol_client_driver, SmolClient);
stan_conformance::seed_suite!(smol_server_seeds, SmolServer);
stan_conformance::restart_suite!(smol_server_restart, SmolServer, SmolClient);
