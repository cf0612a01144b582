//! [`SyncLatency`]: how long the IO thread's syncs take, counted into a
//! [`LatencyHistogram`] that monitoring reads from any thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stan_core::stan::latency::LatencyHistogram;

/// The store's sync latencies: one observation per batch that synced
/// anything, the time it spent in `fdatasync`/`fsync` (its closing sync of
/// the files appended to and the directories changed, a channel
/// directory's creation, a written handle closed to make room). Writes are
/// not counted, nor the syncs inside an atomic replace (compaction).
///
/// A cheap, cloneable handle: the IO thread takes its lock once per synced
/// batch, a reader for the time of one copy.
#[derive(Debug, Clone, Default)]
pub struct SyncLatency(Arc<Mutex<LatencyHistogram>>);

impl SyncLatency {
    /// The histogram so far.
    pub fn histogram(&self) -> LatencyHistogram {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts one batch's sync time.
    pub(crate) fn observe(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).observe(d);
    }
}
