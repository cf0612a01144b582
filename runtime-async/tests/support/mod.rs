//! What the tests of the shared layer have in common beyond the runtime
//! (`common`): a bounded wait and a server with its engine.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use stan_async::{EngineHandle, RouterServer, Runtime};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;

use crate::common::AsyncIo;

/// The bound on any single wait.
pub const T: Duration = Duration::from_secs(10);

/// `f`'s output, or `None` once `d` passed.
pub async fn within<F: Future>(d: Duration, f: F) -> Option<F::Output> {
    let at = Instant::now() + d;
    futures_lite::future::or(async { Some(f.await) }, async {
        AsyncIo.sleep_until(at).await;
        None
    })
    .await
}

/// The embedded NATS server on a free loopback port, the engine in
/// process.
pub async fn embedded() -> (RouterServer<AsyncIo>, EngineHandle) {
    let server = RouterServer::<AsyncIo>::bind("127.0.0.1:0", RouterConfig::default())
        .await
        .expect("bind");
    let engine = server.run_engine(ServerConfig::default(), MemStore::new(100), |_| {});
    (server, engine)
}

/// The URL of `server`.
pub fn url(server: &RouterServer<AsyncIo>) -> String {
    format!("nats://{}", server.local_addr())
}
