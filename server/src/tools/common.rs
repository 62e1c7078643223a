//! What the tools share: their error type and exit codes, the answer to
//! `--zookeeper`, client properties (Kafka's Java names mapped to
//! librdkafka's, each checked and blamed on the flag that brought it),
//! properties files, topic patterns, time formats and Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

/// How long an admin request (create, describe, list offsets ...) may take
/// before the tool gives up; Kafka's tools wait `default.api.timeout.ms`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How a tool failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// A flag is missing, malformed or excluded by another: the text names
    /// the flag. Exit code 2, like clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed; the text is printed on stderr. Exit 1.
    #[error("{0}")]
    Failed(String),
    /// The command failed and already printed why, where Kafka's tool
    /// prints it (some print errors on stdout). Exit 1.
    #[error("failed")]
    Reported,
}

impl From<KafkaError> for ToolError {
    fn from(error: KafkaError) -> ToolError {
        ToolError::Failed(error.to_string())
    }
}

/// Turns a tool's result into the process's exit code, printing the error.
pub fn exit(tool: &str, result: Result<(), ToolError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ToolError::Usage(message)) => {
            eprintln!("ringlog {tool}: {message}");
            eprintln!("Run 'ringlog {tool} --help' for its flags.");
            ExitCode::from(2)
        }
        Err(ToolError::Failed(message)) => {
            eprintln!("ringlog {tool}: {message}");
            ExitCode::from(1)
        }
        Err(ToolError::Reported) => ExitCode::from(1),
    }
}

/// Kafka's tools took `--zookeeper HOST:2181` until Kafka 3.0. Ringlog has
/// no ZooKeeper: if any argument is `--zookeeper`, say so and what to use.
pub fn refuse_zookeeper(args: &[String]) -> Option<ExitCode> {
    let given = args
        .iter()
        .any(|arg| arg == "--zookeeper" || arg.starts_with("--zookeeper="));
    if !given {
        return None;
    }
    eprintln!(
        "ringlog: --zookeeper is not needed: Ringlog keeps its metadata itself and runs no ZooKeeper.\n\
         Use --bootstrap-server HOST:PORT with the broker's listener instead \
         (ringlog serve listens on 127.0.0.1:9092 by default)."
    );
    Some(ExitCode::from(2))
}

/// Runs a future to completion on this thread (the admin client's futures
/// are completed by librdkafka's own thread; nothing else needs a runtime).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_lite::future::block_on(future)
}

/// Splits `key=value`; the error names the flag the pair came with.
pub fn key_value<'a>(flag: &str, item: &'a str) -> Result<(&'a str, &'a str), ToolError> {
    match item.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value)),
        _ => Err(ToolError::Usage(format!(
            "{flag} {item:?}: expected key=value"
        ))),
    }
}

/// Reads a Java properties file (`key=value`, `key: value` or
/// `key value`; `#` and `!` start comments). The error names the flag.
pub fn load_properties(flag: &str, path: &Path) -> Result<Vec<(String, String)>, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ToolError::Usage(format!("{flag} {}: {error}", path.display())))?;
    Ok(parse_properties(&text))
}

fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .map(|line| {
            let split = line
                .find(['=', ':'])
                .or_else(|| line.find(char::is_whitespace));
            match split {
                Some(at) => (
                    line[..at].trim().to_string(),
                    line[at + 1..].trim().to_string(),
                ),
                None => (line.to_string(), String::new()),
            }
        })
        .collect()
}

/// Which client a set of properties configures: the Java names that need a
/// librdkafka counterpart differ between producers and consumers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Consumer,
    Admin,
}

/// Client properties in the order they were given (a later one wins), each
/// with the flag it came from, so an error can name that flag.
#[derive(Default)]
pub struct ClientProperties {
    items: Vec<(String, String, String)>,
}

impl ClientProperties {
    pub fn new() -> ClientProperties {
        ClientProperties::default()
    }

    pub fn set(&mut self, origin: &str, key: &str, value: &str) {
        self.items
            .push((key.to_string(), value.to_string(), origin.to_string()));
    }

    /// Adds `key=value` items given with `flag`.
    pub fn add_pairs(&mut self, flag: &str, items: &[String]) -> Result<(), ToolError> {
        for item in items {
            let (key, value) = key_value(flag, item)?;
            self.set(flag, key, value);
        }
        Ok(())
    }

    /// Adds the properties of a file given with `flag`.
    pub fn add_file(&mut self, flag: &str, path: Option<&Path>) -> Result<(), ToolError> {
        if let Some(path) = path {
            for (key, value) in load_properties(flag, path)? {
                self.set(flag, &key, &value);
            }
        }
        Ok(())
    }

    /// The value in force for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(name, _, _)| name == key)
            .map(|(_, value, _)| value.as_str())
    }

    /// The librdkafka configuration: Java-only names mapped or dropped (with
    /// a note on stderr), every property checked by librdkafka on its own so
    /// that a bad one is reported with the flag that gave it.
    pub fn client_config(&self, role: Role) -> Result<ClientConfig, ToolError> {
        let mut config = ClientConfig::new();
        for (key, value, origin) in &self.items {
            let Some((key, value)) = librdkafka_property(role, key, value) else {
                continue;
            };
            let mut single = ClientConfig::new();
            single.set(&key, &value);
            if let Err(error) = single.create_native_config() {
                return Err(ToolError::Usage(format!(
                    "{origin} {key}={value}: {}",
                    describe_config_error(&error)
                )));
            }
            config.set(key, value);
        }
        Ok(config)
    }
}

fn describe_config_error(error: &KafkaError) -> String {
    match error {
        KafkaError::ClientConfig(_, description, _, _) => description.clone(),
        other => other.to_string(),
    }
}

/// Maps one Kafka (Java client) property to librdkafka's name and value;
/// None drops it. librdkafka already accepts most Java names as aliases.
fn librdkafka_property(role: Role, key: &str, value: &str) -> Option<(String, String)> {
    let renamed = |name: &str| Some((name.to_string(), value.to_string()));
    match key {
        // Serializers are Java classes; the tools send and print bytes.
        "key.serializer" | "value.serializer" | "key.deserializer" | "value.deserializer" => None,
        "receive.buffer.bytes" => renamed("socket.receive.buffer.bytes"),
        "send.buffer.bytes" => renamed("socket.send.buffer.bytes"),
        "max.request.size" => renamed("message.max.bytes"),
        "fetch.max.wait.ms" => renamed("fetch.wait.max.ms"),
        "buffer.memory" if role == Role::Producer => {
            let kbytes = value
                .trim()
                .parse::<u64>()
                .map(|bytes| (bytes / 1024).max(1));
            match kbytes {
                Ok(kbytes) => Some(("queue.buffering.max.kbytes".to_string(), kbytes.to_string())),
                Err(_) => renamed("buffer.memory"),
            }
        }
        "partition.assignment.strategy" => {
            let mapped: Vec<&str> = value
                .split(',')
                .map(
                    |class| match class.trim().rsplit('.').next().unwrap_or("") {
                        "RangeAssignor" => "range",
                        "RoundRobinAssignor" => "roundrobin",
                        "CooperativeStickyAssignor" => "cooperative-sticky",
                        other => other,
                    },
                )
                .collect();
            Some((key.to_string(), mapped.join(",")))
        }
        "max.block.ms" | "max.poll.records" | "default.api.timeout.ms" | "metadata.max.idle.ms" => {
            eprintln!(
                "ringlog: ignoring {key}={value} (a Java client setting librdkafka does not have)"
            );
            None
        }
        _ => renamed(key),
    }
}

/// The topic's flush.messages / flush.ms as the broker reports them
/// (DescribeConfigs), for the perf tests' labels; the reason if it cannot.
pub fn topic_flush_setting(properties: &ClientProperties, topic: &str) -> String {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let described = (|| -> Result<String, ToolError> {
        let mut config = properties.client_config(Role::Admin)?;
        // Keep the connection settings; an admin client warns about the rest.
        for key in [
            "acks",
            "batch.size",
            "linger.ms",
            "compression.type",
            "request.required.acks",
            "group.id",
            "auto.offset.reset",
            "max.partition.fetch.bytes",
        ] {
            config.remove(key);
        }
        let admin: AdminClient<rdkafka::client::DefaultClientContext> = config.create()?;
        let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
        let results =
            block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &options))?;
        let Some(Ok(resource)) = results.into_iter().next() else {
            return Ok(format!("flush not reported for topic {topic}"));
        };
        let value = |key: &str| {
            resource
                .get(key)
                .and_then(|entry| entry.value.clone())
                .unwrap_or_else(|| "not reported".into())
        };
        Ok(format!(
            "flush.messages={} flush.ms={} (topic {topic})",
            value("flush.messages"),
            value("flush.ms")
        ))
    })();
    described.unwrap_or_else(|error| format!("flush unknown ({error})"))
}

/// Kafka's `--topic` on list/describe/alter/delete is a regular expression
/// matched against the whole name.
pub struct TopicPattern(regex::Regex);

impl TopicPattern {
    pub fn new(flag: &str, pattern: &str) -> Result<TopicPattern, ToolError> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(TopicPattern)
            .map_err(|error| ToolError::Usage(format!("{flag} {pattern:?}: {error}")))
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.0.is_match(topic)
    }
}

/// Kafka's internal topics (listed unless `--exclude-internal`).
pub fn is_internal_topic(topic: &str) -> bool {
    matches!(topic, "__consumer_offsets" | "__transaction_state")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on Ctrl-C (SIGINT) and SIGTERM set a flag the tool polls
/// (`interrupted`), so a consumer can commit, close and print its count.
pub fn catch_interrupt() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            let _ = sigaction(signal, &action);
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Formats a time in milliseconds since the epoch, in local time, with a
/// `java.text.SimpleDateFormat` pattern (the letters Kafka's tools use:
/// yyyy MM dd HH mm ss SSS; other letters are copied).
pub fn format_time_ms(epoch_ms: i64, java_pattern: &str) -> String {
    use chrono::TimeZone;
    let Some(time) = chrono::Local.timestamp_millis_opt(epoch_ms).single() else {
        return epoch_ms.to_string();
    };
    let mut format = String::new();
    let mut rest = java_pattern;
    while let Some(first) = rest.chars().next() {
        let run = rest.chars().take_while(|&c| c == first).count();
        let piece = match (first, run) {
            ('y', 4) | ('y', 1) | ('y', 3) => "%Y",
            ('y', 2) => "%y",
            ('M', 2) | ('M', 1) => "%m",
            ('d', _) => "%d",
            ('H', _) => "%H",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('%', _) => "%%",
            _ => "",
        };
        if piece.is_empty() {
            format.push_str(&rest[..run * first.len_utf8()]);
        } else {
            format.push_str(piece);
        }
        rest = &rest[run * first.len_utf8()..];
    }
    time.format(&format).to_string()
}

/// Parses Kafka's `--to-datetime` value, `YYYY-MM-DDTHH:mm:SS.sss` with an
/// optional zone (`Z`, `+02:00`, `-0500`); without one it is local time.
/// Returns milliseconds since the epoch.
pub fn parse_datetime(flag: &str, text: &str) -> Result<i64, ToolError> {
    use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
    let bad = || {
        ToolError::Usage(format!(
            "{flag} {text:?}: expected a date-time as YYYY-MM-DDTHH:mm:SS.sss, optionally with a zone (Z, +HH:mm)"
        ))
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Ok(time.timestamp_millis());
        }
    }
    if let Some(utc) = text.strip_suffix('Z') {
        let naive =
            NaiveDateTime::parse_from_str(utc, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
        return Ok(naive.and_utc().timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|time| time.timestamp_millis())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_files_take_kafka_separators_and_comments() {
        let text =
            "# comment\n! also\nbootstrap.servers=127.0.0.1:9092\nacks: all\nlinger.ms 5\n\n";
        assert_eq!(
            parse_properties(text),
            vec![
                (
                    "bootstrap.servers".to_string(),
                    "127.0.0.1:9092".to_string()
                ),
                ("acks".to_string(), "all".to_string()),
                ("linger.ms".to_string(), "5".to_string()),
            ]
        );
    }

    #[test]
    fn a_bad_property_is_blamed_on_its_flag() {
        let mut properties = ClientProperties::new();
        properties.set("--producer-props", "acks", "1");
        properties.set("--producer-props", "no.such.thing", "3");
        let Err(ToolError::Usage(message)) = properties.client_config(Role::Producer) else {
            panic!("accepted an unknown property");
        };
        assert!(
            message.starts_with("--producer-props no.such.thing=3: "),
            "{message}"
        );
    }

    #[test]
    fn java_only_names_are_mapped() {
        assert_eq!(
            librdkafka_property(Role::Producer, "buffer.memory", "33554432"),
            Some(("queue.buffering.max.kbytes".into(), "32768".into()))
        );
        assert_eq!(
            librdkafka_property(
                Role::Consumer,
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor"
            ),
            Some(("partition.assignment.strategy".into(), "roundrobin".into()))
        );
        assert_eq!(
            librdkafka_property(Role::Consumer, "key.deserializer", "x"),
            None
        );
    }

    #[test]
    fn topic_patterns_match_whole_names() {
        let pattern = TopicPattern::new("--topic", "test0.").unwrap();
        assert!(pattern.matches("test04"));
        assert!(!pattern.matches("test041"));
        assert!(TopicPattern::new("--topic", "(").is_err());
    }

    #[test]
    fn datetimes_parse_with_and_without_zone() {
        assert_eq!(
            parse_datetime("--to-datetime", "2024-01-02T03:04:05.678Z").unwrap(),
            1_704_164_645_678
        );
        assert_eq!(
            parse_datetime("--to-datetime", "2024-01-02T05:04:05.678+02:00").unwrap(),
            1_704_164_645_678
        );
        assert!(parse_datetime("--to-datetime", "yesterday").is_err());
    }

    #[test]
    fn java_date_patterns_become_chrono_ones() {
        let text = format_time_ms(0, "yyyy-MM-dd HH:mm:ss:SSS");
        assert_eq!(text.len(), "1970-01-01 00:00:00:000".len(), "{text}");
        assert!(text.ends_with(":000"), "{text}");
    }
}
