//! Latency histograms kept per thread, and the one the engine fills: how
//! long each fdatasync of a partition log took on this thread.
//!
//! A host runs one executor per thread (the broker: one shard per core), so
//! a thread-local histogram is that executor's own: recording costs two
//! plain increments, no atomic and no lock, and a reader on the same thread
//! (the broker's metrics snapshot, gathered on each shard by message) sees
//! every sample. The buckets are fixed, Prometheus-style upper bounds; the
//! exporter turns the counts into cumulative buckets.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

/// Upper bounds of the buckets, µs: 50 µs to 10 s; the last bucket is open.
pub const BOUNDS_US: [u64; 18] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// A fixed-bucket latency histogram: counts per bucket (not cumulative),
/// the open bucket last, and the sum of every sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    pub counts: [u64; BOUNDS_US.len() + 1],
    pub sum_us: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::EMPTY
    }
}

impl Histogram {
    pub const EMPTY: Histogram = Histogram {
        counts: [0; BOUNDS_US.len() + 1],
        sum_us: 0,
    };

    pub fn record(&mut self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_US.partition_point(|bound| *bound < us);
        self.counts[bucket] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

thread_local! {
    static FDATASYNC: Cell<Histogram> = const { Cell::new(Histogram::EMPTY) };
}

/// Awaits an fdatasync and records how long it took on this thread.
pub(crate) async fn timed_fdatasync<T>(sync: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = sync.await;
    let elapsed = started.elapsed();
    FDATASYNC.with(|cell| {
        let mut histogram = cell.get();
        histogram.record(elapsed);
        cell.set(histogram);
    });
    result
}

/// The fdatasync latencies of the partition logs on this thread (flushes
/// for acks=all and flush.messages/flush.ms, and segment seals).
pub fn fdatasync_latency() -> Histogram {
    FDATASYNC.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_the_first_bucket_whose_bound_holds_them() {
        let mut histogram = Histogram::default();
        histogram.record(Duration::from_micros(50)); // bound 50 holds 50
        histogram.record(Duration::from_micros(51));
        histogram.record(Duration::from_secs(60)); // the open bucket
        assert_eq!(histogram.counts[0], 1);
        assert_eq!(histogram.counts[1], 1);
        assert_eq!(histogram.counts[BOUNDS_US.len()], 1);
        assert_eq!(histogram.count(), 3);
        assert_eq!(histogram.sum_us, 50 + 51 + 60_000_000);
        let mut merged = histogram;
        merged.merge(&histogram);
        assert_eq!(merged.count(), 6);
        assert_eq!(merged.sum_us, 2 * histogram.sum_us);
    }

    #[test]
    fn a_timed_sync_is_recorded_on_its_thread() {
        std::thread::spawn(|| {
            let before = fdatasync_latency().count();
            crate::runtime::block_on(async {
                timed_fdatasync(async {}).await;
            });
            assert_eq!(fdatasync_latency().count(), before + 1);
        })
        .join()
        .unwrap();
    }
}
