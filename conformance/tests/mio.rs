//! The conformance suite on mio, and mio mixed with tokio.

mod adapters;

use adapters::async_rt::{TokioClient, TokioServer};
use adapters::mio_rt::{MioClient, MioServer};

stan_conformance::conformance_suite!(mio_server_mio_client, MioServer, MioClient);
stan_conformance::conformance_suite!(mio_server_tokio_client, MioServer, TokioClient);
stan_conformance::conformance_suite!(tokio_server_mio_client, TokioServer, MioClient);
stan_conformance::server_suite!(mio_server, MioServer);
stan_conformance::flow_suite!(mio_server_flow, MioServer);
stan_conformance::driver_suite!(mio_client_driver, MioClient);
stan_conformance::seed_suite!(mio_server_seeds, MioServer);
stan_conformance::restart_suite!(mio_server_restart, MioServer, MioClient);
