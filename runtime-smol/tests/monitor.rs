//! `RouterMonitor` and `EngineMonitor` on smol: the monitoring scenario
//! of `stan-async` (its `tests/monitoring/mod.rs`), the engine embedded
//! and external (against our own `RouterServer`). The monitors block: the
//! scenario calls them from threads of their own, as `smol::unblock`
//! would.

#[path = "../../runtime-async/tests/monitoring/mod.rs"]
mod monitoring;

use monitoring::{scenario, Mode};
use stan_smol::Smol;

#[test]
fn embedded_engine_and_router() {
    smol::block_on(scenario::<Smol>(Mode::Embedded, None));
}

#[test]
fn external_engine_and_router() {
    smol::block_on(scenario::<Smol>(Mode::External, None));
}

#[test]
fn the_monitors_are_offered_under_smols_names() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<stan_smol::RouterMonitor>();
    shareable::<stan_smol::EngineMonitor>();
}
