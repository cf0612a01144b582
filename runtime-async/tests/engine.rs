//! `ExternalEngine`'s own API (the conformance suite runs the engine
//! through an external NATS server on every runtime): a URL that does not
//! parse is refused at start, and a running engine is not reported closed.
//! Run once, on the test runtime.

mod common;
mod support;

use std::time::Duration;

use common::AsyncIo;
use stan_async::{ExternalEngine, RouterServer};
use stan_core::nats::router::RouterConfig;
use stan_core::stan::server::ServerConfig;
use stan_core::stan::store::MemStore;
use support::within;

#[test]
fn a_bad_url_is_refused_at_start() {
    let started = ExternalEngine::<AsyncIo>::start(
        "nats://host:notaport",
        ServerConfig::default(),
        MemStore::new(1),
        |_| {},
    );
    assert!(started.is_err());
}

#[test]
fn a_running_engine_is_not_reported_closed() {
    async_io::block_on(async {
        let nats = RouterServer::<AsyncIo>::bind("127.0.0.1:0", RouterConfig::default())
            .await
            .expect("bind");
        let url = format!("nats://{}", nats.local_addr());
        let engine = ExternalEngine::<AsyncIo>::start(
            &url,
            ServerConfig::default(),
            MemStore::new(100),
            |_| {},
        )
        .expect("valid URL");
        // Nothing to await: the absence of an event, over a bounded time.
        assert_eq!(
            within(Duration::from_millis(300), engine.closed()).await,
            None
        );
        engine.stop().await;
        nats.shutdown().await;
    });
}
