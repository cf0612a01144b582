//! The measuring side of `stan-nats-bench`: the servers under test, one
//! node or two clustered over a route ([`target`]), the workloads
//! ([`workload`]) and the client that times them ([`client`]).
//!
//! One client implementation serves both server kinds, so that a ratio of
//! two figures compares the servers alone.

pub mod client;
pub mod target;
pub mod workload;

use std::io;
use std::time::Duration;

/// What stops a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket or child-process failure.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The subscribers fell behind by more than the window and did not
    /// catch up within the run's timeout.
    #[error("subscribers stalled: {received} of {sent} received after {after:?}")]
    Stalled {
        /// Messages received by then.
        received: u64,
        /// Messages published by then.
        sent: u64,
        /// How long the run had taken.
        after: Duration,
    },
    /// The run ended with messages missing (or extra ones).
    #[error("received {got} of {want} messages")]
    Count {
        /// Messages the subscribers counted.
        got: u64,
        /// Messages published.
        want: u64,
    },
    /// A subscription on the second node never became known on the
    /// publisher's node.
    #[error("interest in {subject} never crossed the route within {within:?}")]
    NoInterest {
        /// The probe subject that never came back.
        subject: String,
        /// How long probes were published.
        within: Duration,
    },
    /// A reader thread or task panicked.
    #[error("a subscriber reader panicked")]
    ReaderPanicked,
}

/// The median of `v` (the upper one of an even count); `NaN` when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
