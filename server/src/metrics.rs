//! Per-shard counters (thread-local: a shard is a thread), logged when the
//! shard stops. They show the zero copy (record bytes a Fetch sends with
//! sendfile versus record bytes it copies out of memory), whether the
//! shard's thread ever stalls (how late a periodic timer fires), and
//! storage trouble: partitions gone offline, disk-full episodes and the
//! appends they refused, failed preallocations, recovery truncations.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

thread_local! {
    static SENDFILE_BYTES: Cell<u64> = const { Cell::new(0) };
    static MEMORY_RECORD_BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Record bytes that went from a segment file to a socket with sendfile.
pub fn add_sendfile_bytes(bytes: u64) {
    SENDFILE_BYTES.with(|counter| counter.set(counter.get() + bytes));
}

/// Record bytes a Fetch served from memory (the tail cache or unwritten data).
pub fn add_memory_record_bytes(bytes: u64) {
    MEMORY_RECORD_BYTES.with(|counter| counter.set(counter.get() + bytes));
}

/// (sendfile bytes, memory record bytes) of this shard.
pub fn fetch_bytes() -> (u64, u64) {
    (
        SENDFILE_BYTES.with(Cell::get),
        MEMORY_RECORD_BYTES.with(Cell::get),
    )
}

/// Storage trouble on one shard, counted from the engine's storage events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageCounters {
    /// Partitions that went offline (an I/O error; back after a restart).
    pub partitions_offline: u64,
    /// Disk-full episodes of partitions (each partition counts its own).
    pub disk_full_episodes: u64,
    /// Partitions in a disk-full episode now.
    pub partitions_disk_full: u64,
    /// Appends refused because the disk was full.
    pub disk_full_refused_appends: u64,
    /// Preallocations (fallocate) that failed; the log wrote without them.
    pub preallocation_failures: u64,
    /// Segments recovery cut at a torn or invalid tail (or dropped after a gap).
    pub recovery_truncations: u64,
}

thread_local! {
    static STORAGE: Cell<StorageCounters> = const {
        Cell::new(StorageCounters {
            partitions_offline: 0,
            disk_full_episodes: 0,
            partitions_disk_full: 0,
            disk_full_refused_appends: 0,
            preallocation_failures: 0,
            recovery_truncations: 0,
        })
    };
}

/// What a storage event changed in this shard's disk-full picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFullTransition {
    /// The first partition of the shard found the disk full.
    Began,
    /// The last partition of the shard in an episode got space back.
    Ended,
    None,
}

/// Counts one storage event of this shard.
pub fn count_storage_event(event: &engine::StorageEvent<'_>) -> DiskFullTransition {
    use engine::StorageEvent;
    STORAGE.with(|cell| {
        let mut counters = cell.get();
        let mut transition = DiskFullTransition::None;
        match event {
            StorageEvent::Offline { .. } => counters.partitions_offline += 1,
            StorageEvent::DiskFull { .. } => {
                counters.disk_full_episodes += 1;
                counters.partitions_disk_full += 1;
                if counters.partitions_disk_full == 1 {
                    transition = DiskFullTransition::Began;
                }
            }
            StorageEvent::DiskFullEnded {
                refused_appends, ..
            } => {
                counters.disk_full_refused_appends += refused_appends;
                counters.partitions_disk_full = counters.partitions_disk_full.saturating_sub(1);
                if counters.partitions_disk_full == 0 {
                    transition = DiskFullTransition::Ended;
                }
            }
            StorageEvent::PreallocationFailed { .. } => counters.preallocation_failures += 1,
            StorageEvent::RecoveryTruncated { .. } => counters.recovery_truncations += 1,
        }
        cell.set(counters);
        transition
    })
}

/// This shard's storage counters.
pub fn storage_counters() -> StorageCounters {
    STORAGE.with(Cell::get)
}

/// Upper bounds (ms) of the timer-lateness buckets; the last is open.
const LATENESS_BOUNDS_MS: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/// How late a shard's timer fired, counted per bucket.
#[derive(Default)]
pub struct Lateness {
    counts: [u64; LATENESS_BOUNDS_MS.len() + 1],
    max: Duration,
    sum: Duration,
}

impl Lateness {
    pub fn record(&mut self, late: Duration) {
        let ms = late.as_millis() as u64;
        let bucket = LATENESS_BOUNDS_MS
            .iter()
            .position(|bound| ms < *bound)
            .unwrap_or(LATENESS_BOUNDS_MS.len());
        self.counts[bucket] += 1;
        self.max = self.max.max(late);
        self.sum += late;
    }

    pub fn samples(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket bound below which `fraction` of the samples fell (ms);
    /// `None` if that is the open bucket or there are no samples.
    pub fn quantile_bound_ms(&self, fraction: f64) -> Option<u64> {
        let wanted = (self.samples() as f64 * fraction).ceil() as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return LATENESS_BOUNDS_MS.get(bucket).copied();
            }
        }
        None
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// Samples at least `ms` late (`ms` one of the bucket bounds).
    pub fn at_least_ms(&self, ms: u64) -> u64 {
        let first = LATENESS_BOUNDS_MS
            .iter()
            .position(|bound| *bound == ms)
            .map_or(self.counts.len(), |index| index + 1);
        self.counts[first..].iter().sum()
    }
}

thread_local! {
    static TIMER_LATENESS: RefCell<Lateness> = RefCell::new(Lateness::default());
}

/// Records one firing of the shard's stall probe, `late` after its time.
pub fn record_timer_lateness(late: Duration) {
    TIMER_LATENESS.with(|lateness| lateness.borrow_mut().record(late));
}

/// This shard's timer lateness for the admin listener: (bucket upper
/// bound in ms, count) with `None` for the open bucket, and the sum.
pub fn timer_lateness() -> (Vec<(Option<u64>, u64)>, Duration) {
    TIMER_LATENESS.with(|lateness| {
        let lateness = lateness.borrow();
        let buckets = lateness
            .counts
            .iter()
            .enumerate()
            .map(|(bucket, count)| (LATENESS_BOUNDS_MS.get(bucket).copied(), *count))
            .collect();
        (buckets, lateness.sum)
    })
}

/// Logs this shard's counters (at shutdown).
pub fn log_shard_counters(shard: usize) {
    let (sendfile_bytes, memory_record_bytes) = fetch_bytes();
    tracing::info!(
        shard,
        sendfile_bytes,
        memory_record_bytes,
        "fetch record bytes"
    );
    let storage = storage_counters();
    tracing::info!(
        shard,
        partitions_offline = storage.partitions_offline,
        disk_full_episodes = storage.disk_full_episodes,
        partitions_disk_full = storage.partitions_disk_full,
        disk_full_refused_appends = storage.disk_full_refused_appends,
        preallocation_failures = storage.preallocation_failures,
        recovery_truncations = storage.recovery_truncations,
        "storage counters"
    );
    TIMER_LATENESS.with(|lateness| {
        let lateness = lateness.borrow();
        tracing::info!(
            shard,
            samples = lateness.samples(),
            p99_below_ms = lateness.quantile_bound_ms(0.99).unwrap_or(u64::MAX),
            late_5ms = lateness.at_least_ms(5),
            late_20ms = lateness.at_least_ms(20),
            max_us = lateness.max().as_micros() as u64,
            "shard timer lateness"
        );
    });
}

/// Measures, for as long as `running` says, how late a short timer fires
/// on this shard: a blocked or starved shard thread shows here.
pub async fn probe_timer_lateness(period: Duration, running: impl Fn() -> bool) {
    while running() {
        let start = Instant::now();
        crate::shard::sleep_until(start + period).await;
        record_timer_lateness(start.elapsed().saturating_sub(period));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_buckets_and_quantiles() {
        let mut lateness = Lateness::default();
        for _ in 0..98 {
            lateness.record(Duration::from_micros(300));
        }
        lateness.record(Duration::from_millis(7));
        lateness.record(Duration::from_millis(120));
        assert_eq!(lateness.samples(), 100);
        assert_eq!(lateness.quantile_bound_ms(0.5), Some(1));
        assert_eq!(lateness.quantile_bound_ms(0.99), Some(10));
        assert_eq!(lateness.quantile_bound_ms(1.0), Some(200));
        assert_eq!(lateness.at_least_ms(5), 2);
        assert_eq!(lateness.at_least_ms(20), 1);
        assert_eq!(lateness.max(), Duration::from_millis(120));
    }
}
