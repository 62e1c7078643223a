//! What the perf tests measure while they run: counts, bytes, latencies in
//! an HDR histogram (microseconds, 3 significant digits, so a percentile is
//! within 0.1% of the true value whatever the range), and throughput per
//! second for the picture.
//!
//! Kafka's tools print latencies in whole milliseconds taken from
//! `System.currentTimeMillis()`, percentiles from a sample of at most
//! 500,000 records. Here every record is recorded, in microseconds; the
//! lines in Kafka's format are computed from this histogram (percentiles
//! truncated to whole milliseconds, as Kafka's are), and a labelled line
//! after them gives the microsecond figures.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latency and volume of a run, or of a window of it.
pub struct Stats {
    pub count: u64,
    pub bytes: u64,
    latency_us: Histogram<u64>,
    /// Exact sum and maximum (the histogram's are rounded to its buckets).
    latency_sum_us: u128,
    latency_max_us: u64,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            count: 0,
            bytes: 0,
            // Auto-resizing: no latency is ever clipped or dropped.
            latency_us: Histogram::new(3).expect("3 significant digits is valid"),
            latency_sum_us: 0,
            latency_max_us: 0,
        }
    }

    pub fn record(&mut self, bytes: u64, latency: Duration) {
        self.count += 1;
        self.bytes += bytes;
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_sum_us += u128::from(micros);
        self.latency_max_us = self.latency_max_us.max(micros);
        // The histogram grows to fit (auto-resize); only a value beyond
        // what any histogram can track would be clamped.
        if self.latency_us.record(micros).is_err() {
            self.latency_us.saturating_record(micros);
        }
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.latency_us
    }

    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.latency_sum_us as f64 / self.count as f64 / 1000.0
        }
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_max_us as f64 / 1000.0
    }

    /// The latency at `quantile` in microseconds.
    /// (HDR reports the top of a value's bucket, which may pass the exact
    /// maximum; no latency was above the maximum, so it caps the answer.)
    pub fn quantile_us(&self, quantile: f64) -> u64 {
        self.latency_us
            .value_at_quantile(quantile)
            .min(self.latency_max_us)
    }

    /// The latency at `quantile` in whole milliseconds (truncated, as
    /// Kafka's integer-millisecond latencies are).
    pub fn quantile_ms(&self, quantile: f64) -> u64 {
        self.quantile_us(quantile) / 1000
    }

    /// Kafka's final line: "N records sent, X records/sec (Y MB/sec),
    /// A ms avg latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th,
    /// P ms 99.9th." (ProducerPerformance.Stats.printTotal).
    pub fn kafka_total_line(&self, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.count as f64 / seconds,
            self.bytes as f64 / seconds / (1024.0 * 1024.0),
            self.mean_ms(),
            self.max_ms(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.95),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
        )
    }

    /// Kafka's 5-second progress line (Stats.printWindow).
    pub fn kafka_window_line(&self, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.count,
            self.count as f64 / seconds,
            self.bytes as f64 / seconds / (1024.0 * 1024.0),
            self.mean_ms(),
            self.max_ms(),
        )
    }

    /// The HDR figures in microseconds, for the labelled report line.
    pub fn hdr_line(&self) -> String {
        format!(
            "p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, p99.99 {} us, max {} us, mean {:.0} us over {} records",
            self.quantile_us(0.5),
            self.quantile_us(0.9),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            self.quantile_us(0.9999),
            self.latency_max_us,
            self.mean_ms() * 1000.0,
            self.count
        )
    }
}

/// Bytes acknowledged (or consumed) per 100 ms since the start, for the
/// picture's throughput line.
#[derive(Default)]
pub struct Timeline {
    buckets: Vec<u64>,
}

const BUCKET: Duration = Duration::from_millis(100);
/// A day of buckets at most: a later sample is added to the last one.
const BUCKETS_MAX: usize = 864_000;
/// The picture shows at most this many points; buckets are merged to fit.
const POINTS_MAX: usize = 600;

impl Timeline {
    pub fn add(&mut self, since_start: Duration, bytes: u64) {
        let index = usize::try_from(since_start.as_millis() / BUCKET.as_millis())
            .unwrap_or(usize::MAX)
            .min(BUCKETS_MAX - 1);
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, 0);
        }
        self.buckets[index] += bytes;
    }

    /// (seconds since start, MB/s) at the start of each interval, MB being
    /// 2^20 bytes as in Kafka's output; intervals are whole multiples of
    /// 100 ms, the last one cut at `elapsed` so a partial interval is not
    /// shown as a drop.
    pub fn megabytes_per_second(&self, elapsed: Duration) -> Vec<(f64, f64)> {
        // Intervals of 0.1, 0.2, 0.5, 1, 2, 5, 10 ... seconds: the fewest
        // that fit in POINTS_MAX, and round numbers on the axis.
        let needed = self.buckets.len().div_ceil(POINTS_MAX).max(1);
        let merge = (0..)
            .flat_map(|power| [1, 2, 5].map(|step| step * 10usize.pow(power)))
            .find(|&merge| merge >= needed)
            .unwrap_or(needed);
        let width = BUCKET.as_secs_f64() * merge as f64;
        let end = elapsed.as_secs_f64();
        self.buckets
            .chunks(merge)
            .enumerate()
            .map(|(i, chunk)| {
                let from = i as f64 * width;
                let covered = (end - from).clamp(1e-3, width);
                let bytes: u64 = chunk.iter().sum();
                (from, bytes as f64 / covered / (1024.0 * 1024.0))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_line_has_kafkas_exact_shape() {
        let mut stats = Stats::new();
        for millis in 1..=1000u64 {
            stats.record(100, Duration::from_millis(millis));
        }
        let line = stats.kafka_total_line(Duration::from_secs(2));
        assert_eq!(
            line,
            "1000 records sent, 500.0 records/sec (0.05 MB/sec), 500.50 ms avg latency, 1000.00 ms max latency, 500 ms 50th, 950 ms 95th, 990 ms 99th, 999 ms 99.9th."
        );
    }

    #[test]
    fn the_timeline_gives_rates_per_interval() {
        let mut timeline = Timeline::default();
        timeline.add(Duration::from_millis(10), 1024 * 1024);
        timeline.add(Duration::from_millis(90), 1024 * 1024);
        timeline.add(Duration::from_millis(250), 512 * 1024);
        // 2 MiB in the first 100 ms; nothing in the second; 0.5 MiB in the
        // 50 ms of the third the run lasted.
        let points = timeline.megabytes_per_second(Duration::from_millis(250));
        assert_eq!(points.len(), 3);
        assert!((points[0].1 - 20.0).abs() < 1e-9, "{points:?}");
        assert_eq!(points[1].1, 0.0);
        assert!((points[2].1 - 10.0).abs() < 1e-6, "{points:?}");
    }

    #[test]
    fn long_timelines_merge_to_a_bounded_number_of_points() {
        let mut timeline = Timeline::default();
        for second in 0..1000u64 {
            timeline.add(Duration::from_secs(second), 1024 * 1024);
        }
        let points = timeline.megabytes_per_second(Duration::from_secs(1000));
        assert!(points.len() <= 600, "{}", points.len());
        // 2 s intervals: 1 MiB each second is 1 MiB/s, no aliasing.
        assert!(points.iter().all(|(_, rate)| (rate - 1.0).abs() < 1e-9));
    }
}
