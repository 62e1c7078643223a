//! What the data path counts for the admin listener's `/metrics`: bytes and
//! records in and out per partition and per shard, requests and their
//! latency by API and version, error codes answered, and the queue time of
//! produce and fetch work on the partition's owning shard.
//!
//! Thread per core, kept: every count lives in this shard's thread-local
//! [`Counters`] and is touched only by this shard's thread, with a plain
//! `Cell`/`RefCell` (no atomic, no lock, nothing shared). A scrape does not
//! read them from another thread: the admin listener sends each shard a job
//! (`Shard::call` over the channel mesh) that copies them into a
//! [`ShardSnapshot`], which crosses back by value (`admin/exposition.rs`).
//!
//! Where each count is taken, and so which shard's snapshot holds it:
//! - bytes and records **in**: on the partition's owning shard, once the
//!   batches took their place in the log (`api/produce.rs`);
//! - bytes and records **out**: on the shard whose connection answered the
//!   fetch, from the partitions the answer holds (`api/fetch.rs`); the
//!   exporter adds every shard's count of a partition and labels the sum
//!   with the owning shard, so each partition is one series;
//! - requests, latency and error codes: on the connection's shard
//!   (`api/mod.rs`);
//! - queue time: on the owning shard, when the work starts there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine::latency::Histogram;

/// A partition's traffic counters (monotonic, since the broker started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Record-batch bytes appended (as stored: after any up-conversion).
    pub bytes_in: u64,
    /// Records appended.
    pub records_in: u64,
    /// Record-batch bytes sent to fetchers (sendfile and memory alike).
    pub bytes_out: u64,
    /// Offsets sent to fetchers (see `engine::ReadResult::next_offset`).
    pub records_out: u64,
}

impl Traffic {
    pub fn add(&mut self, other: &Traffic) {
        self.bytes_in += other.bytes_in;
        self.records_in += other.records_in;
        self.bytes_out += other.bytes_out;
        self.records_out += other.records_out;
    }
}

/// Requests of one API and version on this shard.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestCounts {
    pub requests: u64,
    /// From the request's decode until its answer was ready (not sent).
    pub latency: Histogram,
}

/// This shard's counters. Shard contract: thread-local, used only on the
/// shard's own thread; no borrow is held across an await.
#[derive(Debug, Default)]
struct Counters {
    /// Topic → partition index → traffic. Keyed by name so the data path
    /// looks a partition up without allocating.
    partitions: HashMap<String, Vec<Traffic>>,
    /// The shard's totals: unlike a partition's, they outlive deleted topics.
    shard: Traffic,
    /// (API key, version) → requests and latency.
    requests: HashMap<(i16, i16), RequestCounts>,
    /// (API key, error code) → answers carrying it (partition-level codes
    /// count once per partition).
    errors: HashMap<(i16, i16), u64>,
    /// Connections closed by the broker for bad input, by API key (-1 when
    /// the frame had none the broker knows).
    closed: HashMap<i16, u64>,
    produce_queue: Histogram,
    fetch_queue: Histogram,
}

thread_local! {
    static COUNTERS: RefCell<Counters> = RefCell::new(Counters::default());
}

fn partition_traffic<'a>(
    counters: &'a mut Counters,
    topic: &str,
    partition: i32,
) -> Option<&'a mut Traffic> {
    let index = usize::try_from(partition).ok()?;
    if !counters.partitions.contains_key(topic) {
        counters.partitions.insert(topic.to_string(), Vec::new());
    }
    let partitions = counters.partitions.get_mut(topic)?;
    if partitions.len() <= index {
        partitions.resize(index + 1, Traffic::default());
    }
    partitions.get_mut(index)
}

/// Batches of `bytes` holding `records` records were appended to a
/// partition this shard owns.
pub fn count_in(topic: &str, partition: i32, bytes: u64, records: u64) {
    COUNTERS.with(|counters| {
        let counters = &mut *counters.borrow_mut();
        counters.shard.bytes_in += bytes;
        counters.shard.records_in += records;
        if let Some(traffic) = partition_traffic(counters, topic, partition) {
            traffic.bytes_in += bytes;
            traffic.records_in += records;
        }
    });
}

/// A fetch answer sent `bytes` of a partition's batches, `records` offsets.
pub fn count_out(topic: &str, partition: i32, bytes: u64, records: u64) {
    COUNTERS.with(|counters| {
        let counters = &mut *counters.borrow_mut();
        counters.shard.bytes_out += bytes;
        counters.shard.records_out += records;
        if let Some(traffic) = partition_traffic(counters, topic, partition) {
            traffic.bytes_out += bytes;
            traffic.records_out += records;
        }
    });
}

/// One request of `api_key` v`version` was answered `elapsed` after its decode.
pub fn count_request(api_key: i16, version: i16, elapsed: Duration) {
    COUNTERS.with(|counters| {
        let mut counters = counters.borrow_mut();
        let entry = counters.requests.entry((api_key, version)).or_default();
        entry.requests += 1;
        entry.latency.record(elapsed);
    });
}

/// An answer of `api_key` carried error code `code` (non-zero).
pub fn count_error(api_key: i16, code: i16) {
    if code == 0 {
        return;
    }
    COUNTERS.with(|counters| {
        *counters
            .borrow_mut()
            .errors
            .entry((api_key, code))
            .or_default() += 1;
    });
}

/// The broker closed a connection over a request of `api_key` (-1: none known).
pub fn count_closed(api_key: i16) {
    COUNTERS.with(|counters| *counters.borrow_mut().closed.entry(api_key).or_default() += 1);
}

/// A produce's work began on the owning shard, `decoded` being when its
/// request was decoded on the connection's shard.
pub fn produce_started(decoded: Instant) {
    COUNTERS.with(|counters| {
        counters
            .borrow_mut()
            .produce_queue
            .record(decoded.elapsed())
    });
}

/// A fetch's first read began on the owning shard.
pub fn fetch_started(decoded: Instant) {
    COUNTERS.with(|counters| counters.borrow_mut().fetch_queue.record(decoded.elapsed()));
}

/// A copy of this shard's counters, to cross to the admin listener's shard.
#[derive(Debug, Clone, Default)]
pub struct CountersSnapshot {
    /// (topic, partition, traffic), partitions with any traffic counted here.
    pub partitions: Vec<(String, i32, Traffic)>,
    pub shard: Traffic,
    /// (API key, version, counts).
    pub requests: Vec<(i16, i16, RequestCounts)>,
    /// (API key, error code, answers).
    pub errors: Vec<(i16, i16, u64)>,
    /// (API key, connections closed).
    pub closed: Vec<(i16, u64)>,
    pub produce_queue: Histogram,
    pub fetch_queue: Histogram,
}

/// Copies this shard's counters. Partitions of topics `exists` no longer
/// knows are dropped first: a deleted topic's series end with it.
pub fn snapshot(exists: impl Fn(&str, i32) -> bool) -> CountersSnapshot {
    COUNTERS.with(|counters| {
        let mut counters = counters.borrow_mut();
        counters.partitions.retain(|topic, partitions| {
            partitions.truncate(
                (0..partitions.len())
                    .rev()
                    .find(|&index| exists(topic, index as i32))
                    .map_or(0, |last| last + 1),
            );
            !partitions.is_empty()
        });
        let mut partitions = Vec::new();
        for (topic, traffic) in &counters.partitions {
            for (index, traffic) in traffic.iter().enumerate() {
                if *traffic != Traffic::default() {
                    partitions.push((topic.clone(), index as i32, *traffic));
                }
            }
        }
        CountersSnapshot {
            partitions,
            shard: counters.shard,
            requests: counters
                .requests
                .iter()
                .map(|(&(api, version), counts)| (api, version, *counts))
                .collect(),
            errors: counters
                .errors
                .iter()
                .map(|(&(api, code), &count)| (api, code, count))
                .collect(),
            closed: counters
                .closed
                .iter()
                .map(|(&api, &count)| (api, count))
                .collect(),
            produce_queue: counters.produce_queue,
            fetch_queue: counters.fetch_queue,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_partition_and_per_shard() {
        std::thread::spawn(|| {
            count_in("t", 2, 100, 3);
            count_in("t", 2, 50, 1);
            count_in("u", 0, 10, 1);
            count_out("t", 2, 120, 4);
            count_request(0, 9, Duration::from_millis(3));
            count_error(0, 0);
            count_error(0, 56);
            let snapshot = snapshot(|_, _| true);
            let t2 = snapshot
                .partitions
                .iter()
                .find(|(topic, partition, _)| topic == "t" && *partition == 2)
                .unwrap()
                .2;
            assert_eq!(
                t2,
                Traffic {
                    bytes_in: 150,
                    records_in: 4,
                    bytes_out: 120,
                    records_out: 4
                }
            );
            assert_eq!(snapshot.shard.bytes_in, 160);
            assert_eq!(snapshot.partitions.len(), 2, "idle partitions 0, 1 omitted");
            assert_eq!(snapshot.requests[0].2.requests, 1);
            assert_eq!(snapshot.errors, vec![(0, 56, 1)], "code 0 is not an error");
            // Topic u deleted: its series go, the shard's total stays.
            let snapshot = super::snapshot(|topic, _| topic == "t");
            assert_eq!(snapshot.partitions.len(), 1);
            assert_eq!(snapshot.shard.bytes_in, 160);
        })
        .join()
        .unwrap();
    }
}
