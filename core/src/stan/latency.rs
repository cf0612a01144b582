//! [`LatencyHistogram`]: a fixed-bucket histogram of durations (the file
//! store's sync latency), plain data that a monitoring endpoint renders
//! as a Prometheus histogram.

use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: 50 µs to 5 s.
pub const BUCKET_BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

/// Durations counted into the buckets of [`BUCKET_BOUNDS_US`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Observations at or under each bound (not cumulative), then one
    /// count for those above the last bound.
    pub buckets: [u64; BUCKET_BOUNDS_US.len() + 1],
    /// Observations.
    pub count: u64,
    /// Sum of the observations, in microseconds.
    pub sum_us: u64,
}

impl LatencyHistogram {
    /// Counts one observation.
    pub fn observe(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// The cumulative counts Prometheus wants: at or under each bound, then
    /// all observations (`+Inf`).
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<u64>, u64)> + '_ {
        let mut total = 0;
        self.buckets.iter().enumerate().map(move |(i, n)| {
            total += n;
            (BUCKET_BOUNDS_US.get(i).copied(), total)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_and_cumulate() {
        let mut h = LatencyHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(51));
        h.observe(Duration::from_secs(10));
        assert_eq!((h.buckets[0], h.buckets[1], h.buckets[16]), (1, 1, 1));
        let c: Vec<_> = h.cumulative().collect();
        assert_eq!(c[0], (Some(50), 1));
        assert_eq!(c[1], (Some(100), 2));
        assert_eq!(c[16], (None, 3));
        assert_eq!((h.count, h.sum_us), (3, 10_000_101));
    }
}
