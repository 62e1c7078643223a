//! Produce latency at a fixed rate, with librdkafka (the `rdkafka` crate) as
//! the client: every millisecond the sender hands librdkafka the records
//! that keep the rate, then sleeps. Each record's latency is the time from
//! its `send` to its delivery report (acks as asked), so it includes
//! `linger.ms` and the client's own queueing, as a user's would.
//!
//! Why not `rdkafka_performance -r`: between two records it calls
//! `rd_kafka_poll(rk, 0)` in a loop, so it keeps one core busy whatever the
//! rate; on a 2-core machine that takes half the CPU from the broker's two
//! shards, and what it measures is mostly the scheduler. This sender sleeps
//! between ticks and costs a few percent of a core at 50 MB/s.
//!
//! ```text
//! cargo run --release -p ringlog-bench --example produce_latency -- \
//!     HOST:PORT TOPIC MB_PER_S RECORD_BYTES SECONDS [key=value ...]
//! ```
//! `key=value` pairs go to librdkafka (defaults: acks=1, linger.ms=1),
//! except `payload=text`, which sends words of pseudo-random text from a
//! small vocabulary (gzip shrinks it a hundredfold), and `payload=hex`,
//! pseudo-random hex digits (about 2:1 under gzip), instead of one byte
//! repeated.
//! Prints one line: records, errors, p50/p99/p99.9/max in ms, client CPU.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

/// Delivery reports: each record's latency in microseconds, and errors.
#[derive(Clone, Default)]
struct Latencies(Arc<Mutex<(Vec<u64>, u64)>>);

impl ClientContext for Latencies {}

impl ProducerContext for Latencies {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        let micros = sent.elapsed().as_micros() as u64;
        let mut reports = self.0.lock().expect("delivery reports lock");
        match result {
            Ok(_) => reports.0.push(micros),
            Err(_) => reports.1 += 1,
        }
    }
}

/// The sender's tick: records for one millisecond go out together.
const TICK: Duration = Duration::from_millis(1);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!(
            "usage: produce_latency HOST:PORT TOPIC MB_PER_S RECORD_BYTES SECONDS [key=value ...]"
        );
        std::process::exit(2);
    }
    let topic = &args[2];
    let bytes_per_second: f64 = args[3].parse::<f64>().expect("MB_PER_S is a number") * 1e6;
    let record_bytes: usize = args[4].parse().expect("RECORD_BYTES is a number");
    let seconds: f64 = args[5].parse().expect("SECONDS is a number");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args[1])
        .set("acks", "1")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "30000");
    let mut kind = Payload::Repeated;
    for setting in &args[6..] {
        let (key, value) = setting.split_once('=').expect("settings are key=value");
        match (key, value) {
            ("payload", "text") => kind = Payload::Text,
            ("payload", "hex") => kind = Payload::Hex,
            _ => {
                config.set(key, value);
            }
        }
    }
    let reports = Latencies::default();
    let producer: ThreadedProducer<Latencies> = config
        .create_with_context(reports.clone())
        .expect("producer");
    let payload = match kind {
        Payload::Repeated => vec![b'x'; record_bytes],
        Payload::Text => text_payload(record_bytes),
        Payload::Hex => hex_payload(record_bytes),
    };
    warm_up(&producer, &reports, topic, &payload);
    let records_per_second = bytes_per_second / record_bytes as f64;
    let cpu_before = ringlog_bench::process_cpu_seconds();
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut next_tick = started;
    while started.elapsed().as_secs_f64() < seconds {
        let due = (started.elapsed().as_secs_f64() * records_per_second) as u64;
        while sent < due {
            let record =
                BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(&payload[..]);
            match producer.send::<(), [u8]>(record) {
                Ok(()) => sent += 1,
                Err(_) => {
                    // Queue full: the broker cannot keep up with the rate.
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        next_tick += TICK;
        if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    producer
        .flush(Duration::from_secs(30))
        .expect("flush within 30 s");
    let cpu = ringlog_bench::process_cpu_seconds() - cpu_before;
    let (mut latencies, errors) = std::mem::take(&mut *reports.0.lock().expect("reports"));
    latencies.sort_unstable();
    let at = |fraction: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1);
        latencies[index] as f64 / 1000.0
    };
    println!(
        "latency {} records {errors} errors {:.1} MB/s: p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms max {:.2} ms; client cpu {cpu:.2} s",
        latencies.len(),
        sent as f64 * record_bytes as f64 / elapsed / 1e6,
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
    );
}

/// Connects, learns the topic's partitions and leaders and sends a record
/// to each partition, so the timed records do not wait for the bootstrap
/// (connections, ApiVersions, Metadata, a topic auto-created): those
/// first-record costs would otherwise be the whole p99.9.
fn warm_up(
    producer: &ThreadedProducer<Latencies>,
    reports: &Latencies,
    topic: &str,
    payload: &[u8],
) {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |topic| topic.partitions().len()) as i32;
    for partition in 0..partitions.max(1) {
        let record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
            .partition(partition)
            .payload(payload);
        producer.send::<(), [u8]>(record).expect("warm-up send");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("warm-up flush");
    let mut reports = reports.0.lock().expect("reports");
    assert_eq!(reports.1, 0, "warm-up records failed");
    *reports = (Vec::new(), 0);
}

/// `len` bytes of words drawn from a small vocabulary by a fixed
/// pseudo-random sequence: compresses like text, not like one byte repeated.
fn text_payload(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "request",
        "partition",
        "offset",
        "broker",
        "shard",
        "segment",
        "error",
        "user",
        "timestamp",
        "value",
        "key",
        "latency",
        "fetch",
        "produce",
        "commit",
        "group",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(WORDS[(state % 16) as usize].as_bytes());
        out.push(if state.is_multiple_of(7) { b'\n' } else { b' ' });
        out.extend_from_slice((state % 10_000).to_string().as_bytes());
        out.push(b' ');
    }
    out.truncate(len);
    out
}

/// What the records carry.
enum Payload {
    Repeated,
    Text,
    Hex,
}

/// `len` pseudo-random hex digits: 4 bits of entropy per byte.
fn hex_payload(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b"0123456789abcdef"[(state & 15) as usize]
        })
        .collect()
}
