//! `ringlog console-producer`: kafka-console-producer.sh. Each line of
//! standard input becomes one record (Kafka's LineMessageReader): with
//! `--property parse.key=true` the text before `key.separator` (default a
//! tab) is the key; `parse.headers=true` reads `k:v,k2:v2` and a tab
//! first; `null.marker` turns a matching key or value into null. A line
//! without the separator is an error naming its line number, unless
//! `ignore.error=true`. At end of input every record is delivered (or its
//! failure printed) before the tool exits; exit 1 if any failed.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::common::{key_value, ClientProperties, Role, ToolError};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The broker(s) to connect to.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    bootstrap_server: Option<String>,
    /// The old name of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    broker_list: Option<String>,
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// A line reader property: parse.key, key.separator, parse.headers,
    /// headers.delimiter, headers.separator, headers.key.separator,
    /// null.marker, ignore.error. May repeat.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// A producer setting (librdkafka or Kafka's name); may repeat.
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    producer_properties: Vec<String>,
    /// A properties file of producer settings (--producer-property wins).
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<std::path::PathBuf>,
    /// acks: 0, 1, -1 or all.
    #[arg(
        long,
        value_name = "ACKS",
        default_value = "-1",
        allow_negative_numbers = true
    )]
    request_required_acks: String,
    /// none, gzip, snappy, lz4 or zstd (gzip if given without a value).
    #[arg(long, value_name = "CODEC", num_args = 0..=1, default_missing_value = "gzip")]
    compression_codec: Option<String>,
    /// Send each record and wait for it before reading the next line.
    #[arg(long)]
    sync: bool,
    /// linger.ms: how long to wait to fill a batch.
    #[arg(long = "timeout", value_name = "MS", default_value_t = 1000)]
    linger_ms: u64,
    /// batch.size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16384)]
    batch_size: u64,
    /// How long a request may wait for its answer.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    request_timeout_ms: u64,
    /// Retries of a failed send.
    #[arg(long, value_name = "N", default_value_t = 3)]
    message_send_max_retries: u32,
    /// Wait before retrying.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    retry_backoff_ms: u64,
}

/// How a line becomes a record (Kafka's LineMessageReader settings).
#[derive(Debug)]
struct LineFormat {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    headers_separator: String,
    headers_key_separator: String,
    null_marker: Option<String>,
    ignore_error: bool,
}

impl LineFormat {
    fn from_properties(items: &[String]) -> Result<LineFormat, ToolError> {
        let mut format = LineFormat {
            parse_key: false,
            key_separator: "\t".into(),
            parse_headers: false,
            headers_delimiter: "\t".into(),
            headers_separator: ",".into(),
            headers_key_separator: ":".into(),
            null_marker: None,
            ignore_error: false,
        };
        for item in items {
            let (key, value) = key_value("--property", item)?;
            let flag = || value.trim().eq_ignore_ascii_case("true");
            match key {
                "parse.key" => format.parse_key = flag(),
                "key.separator" => format.key_separator = value.to_string(),
                "parse.headers" => format.parse_headers = flag(),
                "headers.delimiter" => format.headers_delimiter = value.to_string(),
                "headers.separator" => format.headers_separator = value.to_string(),
                "headers.key.separator" => format.headers_key_separator = value.to_string(),
                "null.marker" => format.null_marker = Some(value.to_string()),
                "ignore.error" => format.ignore_error = flag(),
                other => {
                    return Err(ToolError::Usage(format!(
                        "--property {other}: not a line reader property (parse.key, key.separator, \
                         parse.headers, headers.delimiter, headers.separator, headers.key.separator, \
                         null.marker, ignore.error)"
                    )))
                }
            }
        }
        for (name, separator) in [
            ("key.separator", &format.key_separator),
            ("headers.delimiter", &format.headers_delimiter),
        ] {
            if separator.is_empty() {
                return Err(ToolError::Usage(format!(
                    "--property {name}: must not be empty"
                )));
            }
        }
        Ok(format)
    }

    /// Splits `text` at `separator` from `start`; None if not enabled.
    fn split<'a>(
        &self,
        enabled: bool,
        line: &'a str,
        start: usize,
        separator: &str,
        what: &str,
        number: u64,
    ) -> Result<Option<&'a str>, String> {
        if !enabled {
            return Ok(None);
        }
        match line[start..].find(separator) {
            Some(at) => Ok(Some(&line[start..start + at])),
            None if self.ignore_error => Ok(None),
            None => Err(format!("No {what} found on line number {number}: '{line}'")),
        }
    }

    fn nulled<'a>(&self, text: &'a str) -> Option<&'a str> {
        match &self.null_marker {
            Some(marker) if marker == text => None,
            _ => Some(text),
        }
    }

    /// One line as (headers, key, value).
    fn parse<'a>(&self, line: &'a str, number: u64) -> Result<ParsedLine<'a>, String> {
        let headers = self.split(
            self.parse_headers,
            line,
            0,
            &self.headers_delimiter,
            "headers delimiter",
            number,
        )?;
        let after_headers = headers.map_or(0, |h| h.len() + self.headers_delimiter.len());
        let key = self.split(
            self.parse_key,
            line,
            after_headers,
            &self.key_separator,
            "key separator",
            number,
        )?;
        let after_key = after_headers + key.map_or(0, |k| k.len() + self.key_separator.len());
        let mut pairs = Vec::new();
        if let Some(headers) = headers.and_then(|h| self.nulled(h)) {
            for pair in headers.split(self.headers_separator.as_str()) {
                match pair.split_once(self.headers_key_separator.as_str()) {
                    Some((name, value)) => pairs.push((name, self.nulled(value))),
                    None if self.ignore_error => pairs.push((pair, None)),
                    None => {
                        return Err(format!(
                            "No header key separator found in pair '{pair}' on line number {number}"
                        ))
                    }
                }
            }
        }
        Ok(ParsedLine {
            headers: pairs,
            key: key.and_then(|k| self.nulled(k)),
            value: self.nulled(&line[after_key..]),
        })
    }
}

#[derive(Debug, PartialEq)]
struct ParsedLine<'a> {
    headers: Vec<(&'a str, Option<&'a str>)>,
    key: Option<&'a str>,
    value: Option<&'a str>,
}

/// Prints failed deliveries as Kafka's ErrorLoggingCallback does, counts them.
struct Deliveries {
    topic: String,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            use rdkafka::message::Message;
            let key = message.key().map_or("null".to_string(), |key| {
                String::from_utf8_lossy(key).into_owned()
            });
            let value = message.payload().map_or(0, <[u8]>::len);
            eprintln!(
                "Error when sending message to topic {} with key: {key}, value: {value} bytes with error: {error}",
                self.topic
            );
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub fn run(args: Args) -> Result<(), ToolError> {
    let format = LineFormat::from_properties(&args.properties)?;
    let producer = connect(&args)?;
    let prompt = std::io::stdin().is_terminal();
    let mut number = 0;
    let mut line = String::new();
    let mut input = std::io::stdin().lock();
    loop {
        if prompt {
            print!(">");
            let _ = std::io::stdout().flush();
        }
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|error| ToolError::Failed(format!("reading standard input: {error}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        let parsed = format.parse(text, number).map_err(ToolError::Failed)?;
        send(&producer, &args.topic, &parsed)?;
        if args.sync {
            producer.flush(Duration::from_millis(
                args.request_timeout_ms.max(1000) * u64::from(args.message_send_max_retries + 1),
            ))?;
        }
    }
    if prompt {
        println!();
    }
    producer.flush(Duration::from_secs(120))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        failed => Err(ToolError::Failed(format!(
            "{failed} record(s) were not delivered"
        ))),
    }
}

fn connect(args: &Args) -> Result<ThreadedProducer<Deliveries>, ToolError> {
    let bootstrap = match (&args.bootstrap_server, &args.broker_list) {
        (Some(servers), _) | (None, Some(servers)) => servers.clone(),
        (None, None) => {
            return Err(ToolError::Usage(
                "--bootstrap-server is required (or the old --broker-list)".into(),
            ))
        }
    };
    let mut properties = ClientProperties::new();
    properties.set(
        "--request-required-acks",
        "acks",
        &args.request_required_acks,
    );
    properties.set(
        "--compression-codec",
        "compression.type",
        args.compression_codec.as_deref().unwrap_or("none"),
    );
    properties.set("--timeout", "linger.ms", &args.linger_ms.to_string());
    properties.set("--batch-size", "batch.size", &args.batch_size.to_string());
    properties.set(
        "--request-timeout-ms",
        "request.timeout.ms",
        &args.request_timeout_ms.to_string(),
    );
    properties.set(
        "--message-send-max-retries",
        "retries",
        &args.message_send_max_retries.to_string(),
    );
    properties.set(
        "--retry-backoff-ms",
        "retry.backoff.ms",
        &args.retry_backoff_ms.to_string(),
    );
    properties.set("(default)", "client.id", "console-producer");
    // Java's delivery.timeout.ms (librdkafka's default is 300 s).
    properties.set("(default)", "delivery.timeout.ms", "120000");
    properties.add_file("--producer.config", args.producer_config.as_deref())?;
    properties.add_pairs("--producer-property", &args.producer_properties)?;
    properties.set("--bootstrap-server", "bootstrap.servers", &bootstrap);
    let context = Deliveries {
        topic: args.topic.clone(),
        failed: AtomicU64::new(0),
    };
    Ok(properties
        .client_config(Role::Producer)?
        .create_with_context(context)?)
}

/// Hands one record to librdkafka, waiting while its queue is full.
fn send(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    line: &ParsedLine<'_>,
) -> Result<(), ToolError> {
    loop {
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic);
        if let Some(key) = line.key {
            record = record.key(key);
        }
        if let Some(value) = line.value {
            record = record.payload(value);
        }
        if !line.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(line.headers.len());
            for (name, value) in &line.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: *value,
                });
            }
            record = record.headers(headers);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                _,
            )) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(properties: &[&str]) -> LineFormat {
        let items: Vec<String> = properties.iter().map(|p| p.to_string()).collect();
        LineFormat::from_properties(&items).unwrap()
    }

    #[test]
    fn a_plain_line_is_a_value_without_key() {
        let parsed = format(&[]).parse("hello:world", 1).unwrap();
        assert_eq!(parsed.key, None);
        assert_eq!(parsed.value, Some("hello:world"));
    }

    #[test]
    fn parse_key_splits_at_the_first_separator() {
        let parsed = format(&["parse.key=true", "key.separator=:"])
            .parse("user1:a:b", 1)
            .unwrap();
        assert_eq!(parsed.key, Some("user1"));
        assert_eq!(parsed.value, Some("a:b"));
    }

    #[test]
    fn a_missing_separator_names_the_line() {
        let error = format(&["parse.key=true", "key.separator=:"])
            .parse("nokey", 7)
            .unwrap_err();
        assert_eq!(error, "No key separator found on line number 7: 'nokey'");
        let ignored = format(&["parse.key=true", "key.separator=:", "ignore.error=true"])
            .parse("nokey", 7)
            .unwrap();
        assert_eq!((ignored.key, ignored.value), (None, Some("nokey")));
    }

    #[test]
    fn headers_then_key_then_value() {
        let parsed = format(&["parse.headers=true", "parse.key=true", "null.marker=NULL"])
            .parse("h1:v1,h2:NULL\tk\tNULL", 1)
            .unwrap();
        assert_eq!(parsed.headers, vec![("h1", Some("v1")), ("h2", None)]);
        assert_eq!(parsed.key, Some("k"));
        assert_eq!(parsed.value, None);
    }

    #[test]
    fn unknown_properties_are_refused_by_name() {
        let error = LineFormat::from_properties(&["parse.kee=true".to_string()]).unwrap_err();
        assert!(
            error.to_string().starts_with("--property parse.kee:"),
            "{error}"
        );
    }
}
