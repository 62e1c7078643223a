//! `ringlog consumer-perf-test`: kafka-consumer-perf-test.sh. A consumer
//! in a group (a fresh `perf-consumer-NNNNN` unless `--group`) reads
//! `--messages` records from the beginning (`--from-latest`: the end) and
//! prints Kafka's header and summary line:
//!
//! ```text
//! start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
//! 2026-01-01 10:00:00:000, 2026-01-01 10:00:02:000, 476.8372, 238.4186, 500000, 250000.0000, 312, 1688, 282.4865, 296208.5308
//! ```
//!
//! MB are 2^20 bytes of keys and values; `rebalance.time.ms` is the time
//! spent joining the group (from the start, or a revocation, to the
//! assignment), and the fetch figures leave it out. `--fetch-size` is
//! `max.partition.fetch.bytes`. With `--show-detailed-stats` a line per
//! `--reporting-interval` replaces the summary, as in Kafka. The run ends
//! after `--messages` records or `--timeout` ms without one.
//!
//! Added to Kafka's output: a labelled line with the settings and the
//! broker's flush setting, and the records' age when received (now minus
//! their timestamp) in an HDR histogram: end-to-end latency when the topic
//! is read while it is produced, merely the data's age otherwise.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Message, Timestamp};
use rdkafka::ClientContext;

use super::common::{format_time_ms, topic_flush_setting, ClientProperties, Role, ToolError};
use super::perf_stats::{Stats, Timeline};
use super::progress::Progress;
use super::report::{write_svg, Picture};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: Option<String>,
    /// The old name of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    broker_list: Option<String>,
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// How many records to read.
    #[arg(long, value_name = "N")]
    messages: u64,
    /// The consumer group (default: a new perf-consumer-NNNNN).
    #[arg(long)]
    group: Option<String>,
    /// max.partition.fetch.bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    fetch_size: u64,
    /// Start at the end when the group has no committed offset.
    #[arg(long)]
    from_latest: bool,
    /// socket.receive.buffer.bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 2 * 1024 * 1024)]
    socket_buffer_size: u64,
    /// A properties file of consumer settings.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// Print librdkafka's consumer metrics at the end.
    #[arg(long)]
    print_metrics: bool,
    /// A line per --reporting-interval instead of the summary.
    #[arg(long)]
    show_detailed_stats: bool,
    /// Give up after this long without a record.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout: u64,
    /// The interval of --show-detailed-stats lines.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    reporting_interval: u64,
    /// A java.text.SimpleDateFormat pattern for the time columns.
    #[arg(
        long,
        value_name = "PATTERN",
        default_value = "yyyy-MM-dd HH:mm:ss:SSS"
    )]
    date_format: String,
    /// Leave out the header line.
    #[arg(long)]
    hide_header: bool,
    /// Write an SVG of throughput over time and the records' age.
    #[arg(long, value_name = "FILE.svg")]
    report: Option<PathBuf>,
}

/// Time spent in rebalances, as Kafka's ConsumerPerfRebListener counts it.
struct Joins {
    join_start: Instant,
    total_ms: u64,
    window_ms: u64,
}

struct Context {
    joins: Mutex<Joins>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            self.joins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .join_start = Instant::now();
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            let mut joins = self.joins.lock().unwrap_or_else(|e| e.into_inner());
            let spent = joins.join_start.elapsed().as_millis() as u64;
            joins.total_ms += spent;
            joins.window_ms += spent;
        }
    }
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

const MEGABYTE: f64 = 1024.0 * 1024.0;

pub fn run(args: Args) -> Result<(), ToolError> {
    if args.reporting_interval == 0 {
        return Err(ToolError::Usage(
            "--reporting-interval: Reporting interval must be greater than 0.".into(),
        ));
    }
    let properties = consumer_properties(&args)?;
    let flush = topic_flush_setting(&properties, &args.topic);
    if !args.hide_header {
        print_header(args.show_detailed_stats);
    }
    let start_ms = epoch_ms();
    let start = Instant::now();
    let context = Context {
        joins: Mutex::new(Joins {
            join_start: start,
            total_ms: 0,
            window_ms: 0,
        }),
    };
    let consumer: BaseConsumer<Context> = properties
        .client_config(Role::Consumer)?
        .create_with_context(context)?;
    consumer.subscribe(&[&args.topic])?;
    let progress = Progress::new(args.messages, "records");
    let consumed = consume(&consumer, &args, &progress)?;
    let end_ms = epoch_ms();
    let elapsed = start.elapsed();
    progress.finish();
    let join_ms = consumer
        .context()
        .joins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .total_ms;
    if !args.show_detailed_stats {
        print_summary(&args, start_ms, end_ms, elapsed, join_ms, &consumed.stats);
    }
    let settings = format!(
        "fetch-size={} socket-buffer-size={} group={} auto.offset.reset={}",
        args.fetch_size,
        args.socket_buffer_size,
        properties.get("group.id").unwrap_or_default(),
        if args.from_latest {
            "latest"
        } else {
            "earliest"
        },
    );
    println!("Settings: {settings}; broker {flush}");
    println!("Record age at receipt (now minus record timestamp; end-to-end latency when read while produced): HDR {}", consumed.stats.hdr_line());
    if args.print_metrics {
        if let Ok(position) = consumer.position() {
            println!("\nMetric Name   Value");
            for element in position.elements() {
                println!(
                    "consumer-fetch-manager-metrics:position:{{topic={},partition={}}} : {:?}",
                    element.topic(),
                    element.partition(),
                    element.offset()
                );
            }
        }
    }
    if let Some(path) = &args.report {
        let picture = Picture {
            title: format!(
                "consumer-perf-test: {} records from {}",
                args.messages, args.topic
            ),
            labels: vec![
                format!(
                    "{} records, {:.4} MB in {:.3} s, rebalance {} ms",
                    consumed.stats.count,
                    consumed.stats.bytes as f64 / MEGABYTE,
                    elapsed.as_secs_f64(),
                    join_ms
                ),
                format!("{settings}; broker {flush}"),
            ],
            throughput: consumed.timeline.megabytes_per_second(elapsed),
            elapsed_seconds: elapsed.as_secs_f64(),
            latency: Some((
                consumed.stats.histogram(),
                "record age at receipt (end-to-end when read while produced)".into(),
            )),
        };
        write_svg(path, &picture)?;
    }
    Ok(())
}

fn consumer_properties(args: &Args) -> Result<ClientProperties, ToolError> {
    let bootstrap = match (&args.bootstrap_server, &args.broker_list) {
        (Some(servers), _) | (None, Some(servers)) => servers.clone(),
        (None, None) => {
            return Err(ToolError::Usage(
                "--bootstrap-server is required (or the old --broker-list)".into(),
            ))
        }
    };
    let mut properties = ClientProperties::new();
    properties.add_file("--consumer.config", args.consumer_config.as_deref())?;
    properties.set("--bootstrap-server", "bootstrap.servers", &bootstrap);
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("perf-consumer-{}", std::process::id() % 100_000));
    properties.set("--group", "group.id", &group);
    properties.set(
        "--socket-buffer-size",
        "socket.receive.buffer.bytes",
        &args.socket_buffer_size.to_string(),
    );
    properties.set(
        "--fetch-size",
        "max.partition.fetch.bytes",
        &args.fetch_size.to_string(),
    );
    let reset = if args.from_latest {
        "latest"
    } else {
        "earliest"
    };
    properties.set("--from-latest", "auto.offset.reset", reset);
    properties.set("(default)", "check.crcs", "false");
    if properties.get("client.id").is_none() {
        properties.set("(default)", "client.id", "perf-consumer-client");
    }
    Ok(properties)
}

fn print_header(detailed: bool) {
    let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
    if detailed {
        println!(
            "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}"
        );
    } else {
        println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
    }
}

struct Consumed {
    stats: Stats,
    timeline: Timeline,
}

fn consume(
    consumer: &BaseConsumer<Context>,
    args: &Args,
    progress: &Progress,
) -> Result<Consumed, ToolError> {
    let mut stats = Stats::new();
    let mut timeline = Timeline::default();
    let start = Instant::now();
    let timeout = Duration::from_millis(args.timeout);
    let interval = Duration::from_millis(args.reporting_interval);
    let mut last_record = Instant::now();
    let mut last_report = Instant::now();
    let mut last_report_ms = epoch_ms();
    let (mut last_count, mut last_bytes) = (0u64, 0u64);
    while stats.count < args.messages && last_record.elapsed() <= timeout {
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match polled {
            Ok(message) => message,
            Err(error) => {
                // Kafka's consumer retries transient errors; say what happened.
                eprintln!("ringlog consumer-perf-test: {error}");
                continue;
            }
        };
        let now = Instant::now();
        last_record = now;
        let bytes = message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len);
        let age = match message.timestamp() {
            Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => {
                Duration::from_millis(u64::try_from(epoch_ms() - ms).unwrap_or(0))
            }
            Timestamp::NotAvailable => Duration::ZERO,
        };
        stats.record(bytes as u64, age);
        timeline.add(now - start, bytes as u64);
        if stats.count.is_multiple_of(4096) {
            progress.set(stats.count);
        }
        if now - last_report >= interval {
            if args.show_detailed_stats {
                let now_ms = epoch_ms();
                let window_join_ms = std::mem::take(
                    &mut consumer
                        .context()
                        .joins
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .window_ms,
                );
                progress.println(&detailed_line(
                    &args.date_format,
                    (last_report_ms, now_ms),
                    (last_count, last_bytes),
                    (stats.count, stats.bytes),
                    window_join_ms,
                ));
                last_report_ms = now_ms;
            }
            last_report = now;
            (last_count, last_bytes) = (stats.count, stats.bytes);
        }
    }
    if stats.count < args.messages {
        println!(
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
            args.timeout
        );
    }
    Ok(Consumed { stats, timeline })
}

/// Kafka's printConsumerProgress line for one interval.
fn detailed_line(
    date_format: &str,
    (from_ms, to_ms): (i64, i64),
    (last_count, last_bytes): (u64, u64),
    (count, bytes): (u64, u64),
    join_ms: u64,
) -> String {
    let elapsed_ms = (to_ms - from_ms).max(1) as f64;
    let interval_mb = (bytes - last_bytes) as f64 / MEGABYTE;
    let interval_count = (count - last_count) as f64;
    let fetch_ms = to_ms - from_ms - join_ms as i64;
    let (fetch_mb_sec, fetch_msg_sec) = if fetch_ms <= 0 {
        (0.0, 0.0)
    } else {
        (
            1000.0 * interval_mb / fetch_ms as f64,
            1000.0 * interval_count / fetch_ms as f64,
        )
    };
    format!(
        "{}, 0, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        format_time_ms(to_ms, date_format),
        bytes as f64 / MEGABYTE,
        1000.0 * interval_mb / elapsed_ms,
        count,
        interval_count / elapsed_ms * 1000.0,
        join_ms,
        fetch_ms,
        fetch_mb_sec,
        fetch_msg_sec,
    )
}

/// Kafka's summary line.
fn print_summary(
    args: &Args,
    start_ms: i64,
    end_ms: i64,
    elapsed: Duration,
    join_ms: u64,
    stats: &Stats,
) {
    let elapsed_ms = elapsed.as_millis() as i64;
    let seconds = (elapsed_ms as f64 / 1000.0).max(1e-3);
    let fetch_ms = elapsed_ms - join_ms as i64;
    let fetch_seconds = (fetch_ms as f64 / 1000.0).max(1e-3);
    let megabytes = stats.bytes as f64 / MEGABYTE;
    println!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        format_time_ms(start_ms, &args.date_format),
        format_time_ms(end_ms, &args.date_format),
        megabytes,
        megabytes / seconds,
        stats.count,
        stats.count as f64 / seconds,
        join_ms,
        fetch_ms,
        megabytes / fetch_seconds,
        stats.count as f64 / fetch_seconds,
    );
}
