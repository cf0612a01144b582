//! `RouterMonitor` and `EngineMonitor` on tokio: the monitoring scenario
//! of `stan-async` (its `tests/monitoring/mod.rs`), the engine embedded
//! and external (against our own `RouterServer`). The monitors block: the
//! scenario calls them from threads of their own, as `spawn_blocking`
//! would.

#[path = "../../runtime-async/tests/monitoring/mod.rs"]
mod monitoring;

use monitoring::{scenario, Mode};
use stan_tokio::Tokio;

#[tokio::test]
async fn embedded_engine_and_router() {
    scenario::<Tokio>(Mode::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_engine_and_router() {
    scenario::<Tokio>(Mode::External, None).await;
}

#[test]
fn the_monitors_are_offered_under_tokios_names() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<stan_tokio::RouterMonitor>();
    shareable::<stan_tokio::EngineMonitor>();
}
