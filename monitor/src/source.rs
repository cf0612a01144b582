//! [`Source`]: where the monitor gets its snapshots from. A runtime's
//! server handles implement it (through closures the binary builds); the
//! calls may block briefly (a snapshot is taken inside the event loop
//! between inputs), so the HTTP server makes them off its IO threads.

use stan_core::nats::router::{RouterSnapshot, SnapshotOptions};
use stan_core::stan::latency::LatencyHistogram;
use stan_core::stan::server::{EngineSnapshot, EngineSnapshotOptions};

/// The running server, as monitoring sees it.
pub trait Source: Send + Sync + 'static {
    /// The embedded NATS server's state; `None` when there is none (the
    /// engine runs against an external NATS server, `-ns`) or it stopped.
    fn nats(&self, options: SnapshotOptions) -> Option<RouterSnapshot>;

    /// The streaming engine's state; `None` once it stopped.
    fn streaming(&self, options: EngineSnapshotOptions) -> Option<EngineSnapshot>;

    /// Latencies of the file store's syncs so far; `None` without a file
    /// store.
    fn sync_latency(&self) -> Option<LatencyHistogram> {
        None
    }
}
