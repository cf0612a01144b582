//! The conformance suite on mio, and mio mixed with tokio.

mod adapters;

use adapters::mio_rt::{MioClient, MioServer};
use adapters::tokio_rt::{TokioClient, TokioServer};

stan_conformance::conformance_suite!(mio_server_mio_client, MioServer, MioClient);
stan_conformance::conformance_suite!(mio_server_tokio_client, MioServer, TokioClient);
stan_conformance::conformance_suite!(tokio_server_mio_client, TokioServer, MioClient);
stan_conformance::flow_suite!(mio_server_flow, MioServer);
stan_conformance::seed_suite!(mio_server_seeds, MioServer);
