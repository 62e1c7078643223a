//! Shared helpers for Ringlog's benchmarks: the storage-engine benches
//! (`benches/`) and the broker clients (`examples/`).
//!
//! Everything here goes through the engine's public API only. See
//! `docs/benchmarks.md` for how to run the benches and what they measured.

use std::path::PathBuf;
use std::time::Duration;

use engine::record_batch::{BatchBuilder, Record};
use engine::{LogConfig, TimestampMs};

/// Value bytes of one "1 KB" record; with its framing (length, attributes,
/// deltas, key and value lengths, header count) a record is ~1010 bytes.
pub const RECORD_VALUE_BYTES: usize = 1000;

/// The batch sizes the benches use, by name: (label, nominal bytes).
pub const BATCH_SIZES: [(&str, usize); 3] = [
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
    ("1MiB", 1024 * 1024),
];

/// A fixed timestamp, so batches are byte-for-byte reproducible.
pub const TIMESTAMP: TimestampMs = TimestampMs(1_700_000_000_000);

/// An uncompressed batch of `nominal_bytes / 1024` records of
/// [`RECORD_VALUE_BYTES`] each: slightly under `nominal_bytes` in total
/// (16 205, 258 749 and 1 035 197 bytes for "16KiB", "256KiB" and "1MiB";
/// the last is under Kafka's default `max.message.bytes` of 1 048 588).
pub fn batch_of_1k_records(nominal_bytes: usize) -> Vec<u8> {
    let count = (nominal_bytes / 1024).max(1);
    let mut builder = BatchBuilder::new();
    for index in 0..count {
        let value = vec![(index % 251) as u8; RECORD_VALUE_BYTES];
        builder.push(Record::value(
            value,
            TimestampMs(TIMESTAMP.0 + index as i64),
        ));
    }
    builder.build()
}

/// A one-record batch of exactly `total_bytes` bytes (for the durable
/// latency runs: "1 KB batches").
pub fn single_record_batch(total_bytes: usize) -> Vec<u8> {
    // Header (61) + record framing (~6..9 bytes): find the value size that
    // lands exactly on `total_bytes`.
    for value_bytes in (total_bytes.saturating_sub(80)..total_bytes).rev() {
        let batch = BatchBuilder::new()
            .record(Record::value(vec![7u8; value_bytes], TIMESTAMP))
            .build();
        if batch.len() == total_bytes {
            return batch;
        }
    }
    panic!("no single-record batch of exactly {total_bytes} bytes");
}

/// The log settings for the benches: `segment.bytes` as given, no
/// time-based roll or retention, everything else Kafka's defaults.
pub fn log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: None,
        retention_ms: None,
        retention_bytes: None,
        ..LogConfig::default()
    }
}

/// 1 GiB, Kafka's default `segment.bytes`.
pub const SEGMENT_BYTES_1GIB: u64 = 1024 * 1024 * 1024;

/// Where the benches put their logs: `$RINGLOG_BENCH_DIR` if set, else the
/// system temporary directory (ext4 on the same disk on the bench machine).
pub fn bench_root() -> PathBuf {
    std::env::var_os("RINGLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// A fresh temporary directory under [`bench_root`], removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ringlog-bench-")
        .tempdir_in(bench_root())
        .expect("cannot create a temporary directory for the bench")
}

/// Reads a positive integer from the environment, with a default.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|value| *value > 0)
        .unwrap_or(default)
}

/// xorshift64*: a tiny deterministic generator for random offsets.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, bound)` (bound > 0; the modulo bias is negligible here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// Nearest-rank percentile of sorted samples; `q` in `[0, 1]`.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    assert!(!sorted.is_empty());
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Formats a duration in microseconds with one decimal.
pub fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

/// This process's user + system CPU seconds so far (from `/proc/self/stat`).
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .expect("stat has a ')'")
        .split_whitespace()
        .collect();
    // After the command name: state is field 3, utime 14 and stime 15.
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::record_batch::{RecordBatch, Validation};

    #[test]
    fn batches_are_valid_and_under_the_default_max() {
        for (_, nominal) in BATCH_SIZES {
            let batch = batch_of_1k_records(nominal);
            assert!(batch.len() <= nominal);
            assert!(batch.len() <= LogConfig::default().max_message_bytes);
            RecordBatch::parse(&batch, Validation::Client).unwrap();
        }
        assert_eq!(single_record_batch(1024).len(), 1024);
        let sizes: Vec<usize> = BATCH_SIZES
            .iter()
            .map(|(_, nominal)| batch_of_1k_records(*nominal).len())
            .collect();
        assert_eq!(sizes, [16_205, 258_749, 1_035_197]);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        assert_eq!(percentile(&samples, 0.5), Duration::from_micros(500));
        assert_eq!(percentile(&samples, 0.99), Duration::from_micros(990));
        assert_eq!(percentile(&samples, 0.999), Duration::from_micros(999));
        assert_eq!(percentile(&samples, 1.0), Duration::from_micros(1000));
    }
}
