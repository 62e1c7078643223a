//! `ringlog console-consumer`: kafka-console-consumer.sh. Prints each
//! record's value on a line, as Kafka's DefaultMessageFormatter does, with
//! `print.timestamp`, `print.partition`, `print.offset`, `print.headers`,
//! `print.key` in that order before it, each followed by `key.separator`
//! (a tab by default).
//!
//! Two ways to read, as in Kafka: in a consumer group (`--group`, or a
//! fresh `console-consumer-NNNNN`), starting where the group left off or,
//! with no committed offset, at the end (or the beginning with
//! `--from-beginning`); or one partition (`--partition P --offset
//! O|earliest|latest`) with no group. In a group only the records printed
//! count as consumed: their offsets alone are committed, so a
//! `--max-messages` run hands the rest to the next consumer of the group.
//! The tool ends after `--max-messages`, after `--timeout-ms` without a
//! record, or on Ctrl-C, and prints `Processed a total of N messages` on
//! stderr.

use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use super::common::{
    catch_interrupt, interrupted, key_value, ClientProperties, Role, ToolError, REQUEST_TIMEOUT,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: String,
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// Start at the beginning when the group has no committed offset.
    #[arg(long)]
    from_beginning: bool,
    /// The consumer group (default: a new console-consumer-NNNNN).
    #[arg(long)]
    group: Option<String>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Read only this partition (no group).
    #[arg(long, value_name = "P")]
    partition: Option<i32>,
    /// With --partition: a number, earliest or latest.
    #[arg(long, value_name = "OFFSET")]
    offset: Option<String>,
    /// Stop when no record came for this long.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// A formatter property: print.key, print.timestamp, print.partition,
    /// print.offset, print.headers, print.value, key.separator,
    /// line.separator, headers.separator, null.literal. May repeat.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// read_uncommitted or read_committed.
    #[arg(long, value_name = "LEVEL", default_value = "read_uncommitted")]
    isolation_level: String,
    /// A consumer setting (librdkafka or Kafka's name); may repeat.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    consumer_properties: Vec<String>,
    /// A properties file of consumer settings (--consumer-property wins).
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<std::path::PathBuf>,
}

/// What DefaultMessageFormatter prints, and with which separators.
#[derive(Debug)]
struct Formatter {
    print_timestamp: bool,
    print_partition: bool,
    print_offset: bool,
    print_headers: bool,
    print_key: bool,
    print_value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
}

impl Formatter {
    fn from_properties(items: &[String]) -> Result<Formatter, ToolError> {
        let mut formatter = Formatter {
            print_timestamp: false,
            print_partition: false,
            print_offset: false,
            print_headers: false,
            print_key: false,
            print_value: true,
            key_separator: b"\t".to_vec(),
            line_separator: b"\n".to_vec(),
            headers_separator: b",".to_vec(),
            null_literal: b"null".to_vec(),
        };
        for item in items {
            let (key, value) = key_value("--property", item)?;
            let flag = value.trim().eq_ignore_ascii_case("true");
            let bytes = unescape(value);
            match key {
                "print.timestamp" => formatter.print_timestamp = flag,
                "print.partition" => formatter.print_partition = flag,
                "print.offset" => formatter.print_offset = flag,
                "print.headers" => formatter.print_headers = flag,
                "print.key" => formatter.print_key = flag,
                "print.value" => formatter.print_value = flag,
                "key.separator" => formatter.key_separator = bytes,
                "line.separator" => formatter.line_separator = bytes,
                "headers.separator" => formatter.headers_separator = bytes,
                "null.literal" => formatter.null_literal = bytes,
                // Deserializers are Java classes; the tool prints bytes.
                "key.deserializer" | "value.deserializer" | "headers.deserializer" => {}
                other => {
                    return Err(ToolError::Usage(format!(
                        "--property {other}: not a formatter property (print.key, print.timestamp, \
                         print.partition, print.offset, print.headers, print.value, key.separator, \
                         line.separator, headers.separator, null.literal)"
                    )))
                }
            }
        }
        Ok(formatter)
    }

    /// Writes one record the way Kafka's DefaultMessageFormatter does.
    fn write(&self, out: &mut impl Write, message: &BorrowedMessage<'_>) -> std::io::Result<()> {
        let fields = [
            self.print_timestamp,
            self.print_partition,
            self.print_offset,
            self.print_headers,
            self.print_key,
            self.print_value,
        ];
        // After field i, a column separator if any later field is printed.
        let more_after = |i: usize| fields[i + 1..].iter().any(|&on| on);
        let separator = |out: &mut dyn Write, i: usize| -> std::io::Result<()> {
            if more_after(i) {
                out.write_all(&self.key_separator)
            } else {
                out.write_all(&self.line_separator)
            }
        };
        if self.print_timestamp {
            match message.timestamp() {
                Timestamp::CreateTime(time) => write!(out, "CreateTime:{time}")?,
                Timestamp::LogAppendTime(time) => write!(out, "LogAppendTime:{time}")?,
                Timestamp::NotAvailable => out.write_all(b"NO_TIMESTAMP")?,
            }
            separator(out, 0)?;
        }
        if self.print_partition {
            write!(out, "Partition:{}", message.partition())?;
            separator(out, 1)?;
        }
        if self.print_offset {
            write!(out, "Offset:{}", message.offset())?;
            separator(out, 2)?;
        }
        if self.print_headers {
            match message.headers() {
                Some(headers) if headers.count() > 0 => {
                    for (i, header) in headers.iter().enumerate() {
                        if i > 0 {
                            out.write_all(&self.headers_separator)?;
                        }
                        write!(out, "{}:", header.key)?;
                        out.write_all(header.value.unwrap_or(&self.null_literal))?;
                    }
                }
                _ => out.write_all(b"NO_HEADERS")?,
            }
            separator(out, 3)?;
        }
        if self.print_key {
            out.write_all(message.key().unwrap_or(&self.null_literal))?;
            separator(out, 4)?;
        }
        if self.print_value {
            out.write_all(message.payload().unwrap_or(&self.null_literal))?;
            out.write_all(&self.line_separator)?;
        }
        Ok(())
    }
}

/// Kafka's tools read separators with Java escapes (`\t`, `\n`).
fn unescape(value: &str) -> Vec<u8> {
    value
        .replace("\\t", "\t")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .into_bytes()
}

/// Where a `--partition` read starts.
fn start_offset(args: &Args) -> Result<Offset, ToolError> {
    match (args.offset.as_deref(), args.from_beginning) {
        (Some(_), true) => Err(ToolError::Usage(
            "Options from-beginning and offset cannot be specified together.".into(),
        )),
        (None, true) | (Some("earliest"), false) => Ok(Offset::Beginning),
        (None, false) | (Some("latest"), false) => Ok(Offset::End),
        (Some(number), false) => match number.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Offset::Offset(offset)),
            _ => Err(ToolError::Usage(format!(
                "--offset {number}: The provided offset value '{number}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."
            ))),
        },
    }
}

fn check_args(args: &Args) -> Result<(), ToolError> {
    if args.offset.is_some() && args.partition.is_none() {
        return Err(ToolError::Usage(
            "The partition is required when offset is specified.".into(),
        ));
    }
    if args.group.is_some() && args.partition.is_some() {
        return Err(ToolError::Usage(
            "Options group and partition cannot be specified together.".into(),
        ));
    }
    if !matches!(
        args.isolation_level.as_str(),
        "read_uncommitted" | "read_committed"
    ) {
        return Err(ToolError::Usage(format!(
            "--isolation-level {}: expected read_uncommitted or read_committed",
            args.isolation_level
        )));
    }
    Ok(())
}

pub fn run(args: Args) -> Result<(), ToolError> {
    check_args(&args)?;
    let formatter = Formatter::from_properties(&args.properties)?;
    let consumer = connect(&args)?;
    match args.partition {
        Some(partition) => {
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(&args.topic, partition, start_offset(&args)?)?;
            consumer.assign(&assignment)?;
        }
        None => consumer.subscribe(&[&args.topic])?,
    }
    catch_interrupt();
    let in_group = args.partition.is_none();
    let printed = consume(&consumer, &args, &formatter, in_group);
    if in_group {
        // Commit what was printed (stored offsets) before leaving the group.
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
    }
    let _ = std::io::stdout().flush();
    eprintln!(
        "Processed a total of {} messages",
        printed.as_ref().unwrap_or(&0)
    );
    printed.map(|_| ())
}

/// The poll loop; returns how many records were printed.
fn consume(
    consumer: &BaseConsumer,
    args: &Args,
    formatter: &Formatter,
    in_group: bool,
) -> Result<u64, ToolError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    while args.max_messages.is_none_or(|max| printed < max) && !interrupted() {
        if timeout.is_some_and(|timeout| last_record.elapsed() >= timeout) {
            break;
        }
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            out.flush()
                .map_err(|error| ToolError::Failed(format!("writing standard output: {error}")))?;
            continue;
        };
        let message = match polled {
            Ok(message) => message,
            Err(error) => {
                // Kafka's consumer logs and keeps polling on transient errors;
                // a missing topic or partition is the user's to know about.
                eprintln!("ringlog console-consumer: {error}");
                continue;
            }
        };
        last_record = Instant::now();
        match formatter.write(&mut out, &message) {
            Ok(()) => {}
            // A closed pipe (`| head`) ends the run, like Kafka's.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(error) => {
                return Err(ToolError::Failed(format!(
                    "writing standard output: {error}"
                )))
            }
        }
        if in_group {
            consumer.store_offset_from_message(&message)?;
        }
        printed += 1;
    }
    let _ = out.flush();
    Ok(printed)
}

fn connect(args: &Args) -> Result<BaseConsumer, ToolError> {
    let mut properties = ClientProperties::new();
    properties.set("(default)", "client.id", "console-consumer");
    properties.add_file("--consumer.config", args.consumer_config.as_deref())?;
    properties.add_pairs("--consumer-property", &args.consumer_properties)?;
    // librdkafka wants a group id even to read assigned partitions; without
    // a subscription it never joins that group.
    let group = match (&args.group, properties.get("group.id")) {
        (Some(group), _) => group.clone(),
        (None, Some(group)) => group.to_string(),
        (None, None) => format!("console-consumer-{}", std::process::id() % 100_000),
    };
    properties.set("--group", "group.id", &group);
    if args.partition.is_none() {
        let reset = if args.from_beginning {
            "earliest"
        } else {
            "latest"
        };
        properties.set("--from-beginning", "auto.offset.reset", reset);
        // Offsets are stored for printed records only and committed from those.
        properties.set("(console-consumer)", "enable.auto.offset.store", "false");
    } else {
        properties.set("(console-consumer)", "enable.auto.commit", "false");
    }
    properties.set(
        "--isolation-level",
        "isolation.level",
        &args.isolation_level,
    );
    properties.set(
        "--bootstrap-server",
        "bootstrap.servers",
        &args.bootstrap_server,
    );
    let consumer: BaseConsumer = properties.client_config(Role::Consumer)?.create()?;
    // Fail early and clearly when the topic is not there.
    let metadata = consumer.fetch_metadata(Some(&args.topic), REQUEST_TIMEOUT)?;
    if let Some(error) = metadata.topics().first().and_then(|topic| topic.error()) {
        return Err(ToolError::Failed(format!(
            "topic {}: {}",
            args.topic,
            rdkafka::types::RDKafkaErrorCode::from(error)
        )));
    }
    Ok(consumer)
}
