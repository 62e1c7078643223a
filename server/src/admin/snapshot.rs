//! One shard's state as the admin listener sees it: taken on that shard by
//! a job sent over the channel mesh (`Shard::call`), returned by value.
//! Nothing here is read from another thread; the copy is the message.

use std::cell::Cell;
use std::time::Duration;

use engine::latency::Histogram;

use crate::shard::Shard;
use crate::stats::CountersSnapshot;

thread_local! {
    /// Set once this shard listens for clients (broker.rs).
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling shard as serving clients: its partitions are open
/// and its listener is bound.
pub fn mark_serving() {
    SERVING.with(|serving| serving.set(true));
}

/// A partition this shard owns, as its log reports it now.
#[derive(Debug, Clone)]
pub struct PartitionGauges {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub flushed_offset: i64,
    pub segments: u64,
    pub size_bytes: u64,
    pub fdatasyncs: u64,
}

/// Everything one shard reports to a scrape or a status request.
#[derive(Debug, Clone)]
pub struct ShardSnapshot {
    pub shard: usize,
    /// Partitions open and listener bound, and not stopping.
    pub serving: bool,
    pub counters: CountersSnapshot,
    pub partitions: Vec<PartitionGauges>,
    pub open_connections: u64,
    pub sendfile_bytes: u64,
    pub memory_record_bytes: u64,
    /// (bucket bound in ms, `None` for the open one; count) and the sum.
    pub timer_lateness: (Vec<(Option<u64>, u64)>, Duration),
    pub fdatasync: Histogram,
    /// (group, topic, partition, committed offset) of groups coordinated here.
    pub committed: Vec<(String, String, i32, i64)>,
    /// Offline partitions, disk-full episodes, recovery truncations.
    pub storage: crate::metrics::StorageCounters,
}

/// Takes the calling shard's snapshot (runs on that shard).
pub fn take(shard: &Shard) -> ShardSnapshot {
    let mut partitions: Vec<PartitionGauges> = shard
        .owned_partitions()
        .into_iter()
        .map(|((topic, partition), log)| PartitionGauges {
            topic,
            partition,
            log_start_offset: log.log_start_offset().0,
            log_end_offset: log.log_end_offset().0,
            high_watermark: log.high_watermark().0,
            flushed_offset: log.flushed_offset().0,
            segments: log.segment_count() as u64,
            size_bytes: log.size_bytes(),
            fdatasyncs: log.fdatasync_count(),
        })
        .collect();
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let (sendfile_bytes, memory_record_bytes) = crate::metrics::fetch_bytes();
    let counters = crate::stats::snapshot(|topic, partition| {
        shard
            .topic(topic)
            .is_some_and(|meta| partition < meta.partitions)
    });
    ShardSnapshot {
        shard: shard.id,
        serving: SERVING.with(Cell::get) && !shard.stopping.get(),
        counters,
        partitions,
        open_connections: shard.open_connection_count() as u64,
        sendfile_bytes,
        memory_record_bytes,
        timer_lateness: crate::metrics::timer_lateness(),
        fdatasync: engine::latency::fdatasync_latency(),
        committed: crate::group::committed_offsets(shard),
        storage: crate::metrics::storage_counters(),
    }
}
