//! `ringlog producer-perf-test`: kafka-producer-perf-test.sh. Sends
//! `--num-records` records as fast as it can (`--throughput -1`) or at a
//! fixed rate, prints Kafka's progress line every 5 s and Kafka's final
//! line:
//!
//! ```text
//! 4000000 records sent, 253405.2 records/sec (241.67 MB/sec), 85.43 ms avg latency, 392.00 ms max latency, 77 ms 50th, 190 ms 95th, 253 ms 99th, 380 ms 99.9th.
//! ```
//!
//! then lines of its own that say what was measured and how: the producer
//! settings (acks, compression, batch size, linger), the broker's flush
//! setting for the topic (DescribeConfigs), how latency was taken, and the
//! HDR percentiles in microseconds.
//!
//! Latency is from the record's send call to its acknowledgement. With a
//! fixed `--throughput`, record i is due at `start + i / throughput`, and
//! its latency is taken from that due time, not from when it was sent: if
//! the producer falls behind (librdkafka's queue full, the broker slow), the
//! records that had to wait count the wait, instead of the stall hiding
//! behind one slow sample (coordinated omission). `--warmup-records N`
//! (Kafka 4.2) leaves the first N records out of a second, steady-state
//! line, of the HDR figures and of the picture's percentile curve.
//!
//! Producer defaults follow the Java client's, so figures compare with
//! Kafka's tool: batch.size 16384, linger.ms 5, acks all,
//! client.id perf-producer-client; `--producer-props` overrides them.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use super::common::{topic_flush_setting, ClientProperties, Role, ToolError, REQUEST_TIMEOUT};
use super::perf_stats::{Stats, Timeline};
use super::progress::Progress;
use super::report::{write_svg, Picture};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// How many records to send.
    #[arg(long, value_name = "N")]
    num_records: u64,
    /// Record size in bytes (random uppercase letters).
    #[arg(long, value_name = "BYTES")]
    record_size: Option<usize>,
    /// Take payloads from this file, split at --payload-delimiter.
    #[arg(long, value_name = "FILE")]
    payload_file: Option<PathBuf>,
    /// The delimiter of --payload-file.
    #[arg(long, value_name = "TEXT", default_value = "\\n")]
    payload_delimiter: String,
    /// Payloads are 0, 1, 2, ... as text.
    #[arg(long)]
    payload_monotonic: bool,
    /// Records per second; -1 for no limit.
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    throughput: f64,
    /// Producer settings, e.g. bootstrap.servers=H:P acks=1.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1..)]
    producer_props: Vec<String>,
    /// A properties file of producer settings (--producer-props win).
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// The broker(s) to connect to (else bootstrap.servers in the props).
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: Option<String>,
    /// Print librdkafka's producer metrics at the end.
    #[arg(long)]
    print_metrics: bool,
    /// Leave the first N records out of the steady-state figures.
    #[arg(long, value_name = "N", default_value_t = 0)]
    warmup_records: u64,
    /// Transactions (Kafka's --transactional-id): not supported here.
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
    /// Write an SVG of throughput over time and the latency percentiles.
    #[arg(long, value_name = "FILE.svg")]
    report: Option<PathBuf>,
}

/// librdkafka's statistics period with --print-metrics.
const STATISTICS_INTERVAL_MS: &str = "500";

/// Kafka's Stats prints a window every 5 s.
const WINDOW: Duration = Duration::from_secs(5);

/// What a record carries to its delivery report.
struct Sent {
    index: u64,
    /// When its latency starts: its due time (fixed throughput) or its send
    /// call, since the run's start.
    since_start: Duration,
    bytes: u32,
}

/// The run's measurements, updated by delivery reports. The reports run on
/// the sending thread (BaseProducer::poll), so the lock is never contended.
struct Run {
    start: Instant,
    warmup: u64,
    total: Stats,
    steady: Stats,
    /// When the first steady-state record was sent, since start.
    steady_start: Option<Duration>,
    window: Stats,
    window_start: Instant,
    timeline: Timeline,
    failures: u64,
    first_failure: Option<String>,
    window_lines: Vec<String>,
}

struct Context {
    run: Mutex<Run>,
    statistics: Mutex<Option<Statistics>>,
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        *self.statistics.lock().unwrap_or_else(|e| e.into_inner()) = Some(statistics);
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Err((error, _)) = result {
            run.failures += 1;
            if run.first_failure.is_none() {
                run.first_failure = Some(error.to_string());
            }
            return;
        }
        let latency = now.saturating_duration_since(run.start + sent.since_start);
        let bytes = u64::from(sent.bytes);
        run.total.record(bytes, latency);
        if sent.index >= run.warmup {
            run.steady.record(bytes, latency);
        }
        run.window.record(bytes, latency);
        let since_start = now - run.start;
        run.timeline.add(since_start, bytes);
        if now - run.window_start >= WINDOW {
            let line = run.window.kafka_window_line(now - run.window_start);
            run.window_lines.push(line);
            run.window = Stats::new();
            run.window_start = now;
        }
    }
}

/// Where payloads come from (exactly one of the three flags).
enum Payloads {
    Random(Vec<Vec<u8>>),
    File(Vec<Vec<u8>>),
    Monotonic,
}

impl Payloads {
    fn from_args(args: &Args) -> Result<Payloads, ToolError> {
        let given = [
            args.record_size.is_some(),
            args.payload_file.is_some(),
            args.payload_monotonic,
        ];
        if given.iter().filter(|&&on| on).count() != 1 {
            return Err(ToolError::Usage(
                "exactly one of --record-size, --payload-file or --payload-monotonic is needed"
                    .into(),
            ));
        }
        if let Some(size) = args.record_size {
            return Ok(Payloads::Random(random_payloads(size)));
        }
        if let Some(path) = &args.payload_file {
            let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            println!("Reading payloads from: {}", absolute.display());
            let text = std::fs::read_to_string(path).map_err(|error| {
                ToolError::Usage(format!("--payload-file {}: {error}", path.display()))
            })?;
            let delimiter = args
                .payload_delimiter
                .replace("\\n", "\n")
                .replace("\\t", "\t");
            let list: Vec<Vec<u8>> = text
                .split(delimiter.as_str())
                .filter(|payload| !payload.is_empty())
                .map(|payload| payload.as_bytes().to_vec())
                .collect();
            println!("Number of messages read: {}", list.len());
            if list.is_empty() {
                return Err(ToolError::Usage(format!(
                    "--payload-file {}: File does not contain any payloads",
                    path.display()
                )));
            }
            return Ok(Payloads::File(list));
        }
        Ok(Payloads::Monotonic)
    }

    fn get(&self, index: u64, scratch: &mut Vec<u8>) -> usize {
        let pick = |list: &Vec<Vec<u8>>| {
            // A cheap mix of the index: payloads vary record to record.
            let mixed = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
            (mixed % list.len() as u64) as usize
        };
        scratch.clear();
        match self {
            Payloads::Random(list) | Payloads::File(list) => {
                scratch.extend_from_slice(&list[pick(list)])
            }
            Payloads::Monotonic => scratch.extend_from_slice(index.to_string().as_bytes()),
        }
        scratch.len()
    }
}

/// Random uppercase letters as Kafka's tool sends, from a pool of distinct
/// payloads (at most 64 MiB of them) cycled through, so generating them
/// costs nothing during the run and no two neighbours in a batch repeat.
fn random_payloads(size: usize) -> Vec<Vec<u8>> {
    let count = (64 * 1024 * 1024 / size.max(1)).clamp(1, 1024);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..count)
        .map(|_| {
            (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b'A' + (state % 26) as u8
                })
                .collect()
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), ToolError> {
    if args.transactional_id.is_some() {
        return Err(ToolError::Usage(
            "--transactional-id: transactions are not supported (Ringlog refuses transactional ids until it has transactions)".into(),
        ));
    }
    if args.throughput == 0.0 {
        return Err(ToolError::Usage(
            "--throughput 0: give records per second, or -1 for no limit".into(),
        ));
    }
    let payloads = Payloads::from_args(&args)?;
    let properties = producer_properties(&args)?;
    // Fail early, and clearly, when the cluster cannot be reached.
    let probe: BaseProducer = properties.client_config(Role::Producer)?.create()?;
    probe
        .client()
        .fetch_metadata(Some(&args.topic), REQUEST_TIMEOUT)
        .map_err(|error| {
            ToolError::Failed(format!(
                "no metadata for topic {} from {}: {error}",
                args.topic,
                properties.get("bootstrap.servers").unwrap_or_default()
            ))
        })?;
    drop(probe);
    let labels = Labels::of(&args, &properties)?;
    if args.warmup_records > 0 {
        println!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            args.warmup_records
        );
    }
    let start = Instant::now();
    let context = Context {
        run: Mutex::new(Run {
            start,
            warmup: args.warmup_records,
            total: Stats::new(),
            steady: Stats::new(),
            steady_start: None,
            window: Stats::new(),
            window_start: start,
            timeline: Timeline::default(),
            failures: 0,
            first_failure: None,
            window_lines: Vec::new(),
        }),
        statistics: Mutex::new(None),
    };
    let mut config = properties.client_config(Role::Producer)?;
    if args.print_metrics {
        config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    }
    let producer: BaseProducer<Context> = config.create_with_context(context)?;
    let progress = Progress::new(args.num_records, "records");
    send_all(&producer, &args, &payloads, start, &progress)?;
    drain(&producer, &progress)?;
    let elapsed = start.elapsed();
    if args.print_metrics {
        await_statistics(&producer);
    }
    progress.finish();
    report(&producer, &args, &labels, elapsed)
}

fn producer_properties(args: &Args) -> Result<ClientProperties, ToolError> {
    let mut properties = ClientProperties::new();
    // The Java client's defaults, so results compare with Kafka's tool.
    properties.set("(default)", "batch.size", "16384");
    properties.set("(default)", "linger.ms", "5");
    properties.set("(default)", "acks", "all");
    properties.set("(default)", "client.id", "perf-producer-client");
    // Java's delivery.timeout.ms (librdkafka's default is 300 s).
    properties.set("(default)", "delivery.timeout.ms", "120000");
    properties.add_file("--producer.config", args.producer_config.as_deref())?;
    properties.add_pairs("--producer-props", &args.producer_props)?;
    if let Some(servers) = &args.bootstrap_server {
        properties.set("--bootstrap-server", "bootstrap.servers", servers);
    }
    if properties.get("bootstrap.servers").is_none() {
        return Err(ToolError::Usage(
            "Either --producer-props or --producer.config must be specified (with bootstrap.servers=HOST:PORT), or --bootstrap-server".into(),
        ));
    }
    Ok(properties)
}

/// Sends every record, pacing them when the throughput is fixed.
fn send_all(
    producer: &BaseProducer<Context>,
    args: &Args,
    payloads: &Payloads,
    start: Instant,
    progress: &Progress,
) -> Result<(), ToolError> {
    let paced = args.throughput > 0.0;
    let mut payload = Vec::new();
    for index in 0..args.num_records {
        let due = if paced {
            let due = Duration::from_secs_f64(index as f64 / args.throughput);
            wait_until(producer, start + due);
            due
        } else {
            start.elapsed()
        };
        if index == args.warmup_records && args.warmup_records > 0 {
            println!("Beginning steady state.");
        }
        if index == args.warmup_records {
            producer
                .context()
                .run
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .steady_start = Some(start.elapsed());
        }
        let bytes = payloads.get(index, &mut payload);
        let mut sent = Box::new(Sent {
            index,
            since_start: due,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        });
        loop {
            let record = BaseRecord::<(), [u8], Box<Sent>>::with_opaque_to(&args.topic, sent)
                .payload(&payload);
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                    // librdkafka's queue is full: as Java's send() blocks, wait.
                    sent = record.delivery_opaque;
                    producer.poll(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(ToolError::Failed(format!("send: {error}"))),
            }
        }
        producer.poll(Duration::ZERO);
        print_windows(producer, progress);
        if index.is_multiple_of(4096) {
            progress.set(index);
        }
    }
    Ok(())
}

/// Serves delivery reports until `due`.
fn wait_until(producer: &BaseProducer<Context>, due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > Duration::from_millis(2) {
            producer.poll(left - Duration::from_millis(1));
        } else {
            producer.poll(Duration::ZERO);
            std::hint::spin_loop();
        }
    }
}

/// Waits for every outstanding record's delivery report.
fn drain(producer: &BaseProducer<Context>, progress: &Progress) -> Result<(), ToolError> {
    loop {
        producer.poll(Duration::from_millis(100));
        print_windows(producer, progress);
        if producer.in_flight_count() == 0 {
            return Ok(());
        }
    }
}

fn print_windows(producer: &BaseProducer<Context>, progress: &Progress) {
    let lines = {
        let mut run = producer
            .context()
            .run
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if run.window_lines.is_empty() {
            return;
        }
        progress.set(run.total.count);
        std::mem::take(&mut run.window_lines)
    };
    for line in lines {
        progress.println(&line);
    }
}

/// What a run is labelled with.
struct Labels {
    settings: String,
    flush: String,
    latency: String,
}

impl Labels {
    fn of(args: &Args, properties: &ClientProperties) -> Result<Labels, ToolError> {
        let get = |key: &str, default: &str| properties.get(key).unwrap_or(default).to_string();
        let acks = properties
            .get("acks")
            .or_else(|| properties.get("request.required.acks"))
            .unwrap_or("all")
            .to_string();
        let settings = format!(
            "acks={acks} compression.type={} batch.size={} linger.ms={}",
            get("compression.type", "none"),
            get("batch.size", "16384"),
            get("linger.ms", "5"),
        );
        let latency = if args.throughput > 0.0 {
            format!(
                "latency from each record's intended send time at {} records/sec (coordinated omission corrected)",
                args.throughput
            )
        } else {
            "latency from each record's send call to its acknowledgement (no throughput limit)"
                .to_string()
        };
        Ok(Labels {
            settings,
            flush: topic_flush_setting(properties, &args.topic),
            latency,
        })
    }
}

fn report(
    producer: &BaseProducer<Context>,
    args: &Args,
    labels: &Labels,
    elapsed: Duration,
) -> Result<(), ToolError> {
    let run = producer
        .context()
        .run
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    println!("{}", run.total.kafka_total_line(elapsed));
    let measured = if args.warmup_records > 0 {
        let steady_elapsed = elapsed.saturating_sub(run.steady_start.unwrap_or_default());
        let line = run.steady.kafka_total_line(steady_elapsed);
        println!(
            "{}",
            line.replacen(" records sent", " steady state records sent", 1)
        );
        &run.steady
    } else {
        &run.total
    };
    println!("Settings: {}; broker {}", labels.settings, labels.flush);
    println!(
        "Latency: {}; warm-up: first {} records excluded",
        labels.latency, args.warmup_records
    );
    println!("HDR latency: {}", measured.hdr_line());
    if args.print_metrics {
        print_metrics(producer);
    }
    if let Some(path) = &args.report {
        let picture = Picture {
            title: format!(
                "producer-perf-test: {} records of {} bytes to {}",
                args.num_records,
                args.record_size
                    .map_or("varying".to_string(), |s| s.to_string()),
                args.topic
            ),
            labels: vec![
                run.total.kafka_total_line(elapsed),
                format!("{}; broker {}", labels.settings, labels.flush),
                format!(
                    "{}; warm-up: first {} records excluded",
                    labels.latency, args.warmup_records
                ),
            ],
            throughput: run.timeline.megabytes_per_second(elapsed),
            elapsed_seconds: elapsed.as_secs_f64(),
            latency: Some((measured.histogram(), labels.latency.clone())),
        };
        write_svg(path, &picture)?;
    }
    if run.failures > 0 {
        return Err(ToolError::Failed(format!(
            "{} records were not acknowledged (first error: {})",
            run.failures,
            run.first_failure.as_deref().unwrap_or("unknown")
        )));
    }
    Ok(())
}

/// Waits (up to a few statistics periods) for a statistics report made
/// after every record was acknowledged, so the totals cover the whole run.
fn await_statistics(producer: &BaseProducer<Context>) {
    let statistics = &producer.context().statistics;
    statistics.lock().unwrap_or_else(|e| e.into_inner()).take();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        producer.poll(Duration::from_millis(50));
        if statistics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return;
        }
    }
}

/// Kafka prints its client's metrics as `name : value`; these are
/// librdkafka's counterparts from its last statistics report.
fn print_metrics(producer: &BaseProducer<Context>) {
    let statistics = producer
        .context()
        .statistics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(statistics) = statistics else {
        println!("(no librdkafka statistics were reported)");
        return;
    };
    let mut rows: Vec<(String, String)> = vec![
        (
            "producer-metrics:record-send-total".into(),
            statistics.txmsgs.to_string(),
        ),
        (
            "producer-metrics:byte-total".into(),
            statistics.txmsg_bytes.to_string(),
        ),
        (
            "producer-metrics:request-total".into(),
            statistics.tx.to_string(),
        ),
        (
            "producer-metrics:outgoing-byte-total".into(),
            statistics.tx_bytes.to_string(),
        ),
    ];
    for (name, topic) in &statistics.topics {
        rows.push((
            format!("producer-topic-metrics:batch-size-avg:{{topic={name}}}"),
            topic.batchsize.avg.to_string(),
        ));
        rows.push((
            format!("producer-topic-metrics:records-per-batch-avg:{{topic={name}}}"),
            topic.batchcnt.avg.to_string(),
        ));
    }
    for broker in statistics.brokers.values().filter(|b| b.nodeid >= 0) {
        if let Some(rtt) = &broker.rtt {
            rows.push((
                format!(
                    "producer-node-metrics:request-latency-avg-us:{{node-id=node-{}}}",
                    broker.nodeid
                ),
                rtt.avg.to_string(),
            ));
        }
    }
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(11);
    println!("\n{:<width$}   Value", "Metric Name");
    for (name, value) in rows {
        println!("{name:<width$} : {value}");
    }
}
