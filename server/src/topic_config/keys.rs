//! The one table of topic config keys: every key Kafka 4.x knows for a
//! topic, with the broker keys it defaults from, Kafka's default, how a
//! value is checked, and what Ringlog does with it. CreateTopics,
//! AlterConfigs, IncrementalAlterConfigs and DescribeConfigs all read this
//! table, and so do the shards when they build a partition's `LogConfig`.
//!
//! A key is either *applied* (the engine acts on it: retention, segments,
//! flushing, batch size, timestamps, index spacing) or *accepted*: checked
//! as Kafka checks it, stored, described, and without effect yet; its
//! `effect` says why. docs/broker.md lists both kinds.

use engine::{LogConfig, TimestampType};

use super::ConfigType;

/// Kafka's "never" for the long settings: Long.MAX_VALUE.
pub const NEVER: i64 = i64::MAX;

/// How a value is checked (Kafka's validators for the key).
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// A long of at least `min`.
    Long { min: i64 },
    /// An int in `min..=max`.
    Int { min: i32, max: i32 },
    /// An int in `min..=max`, or exactly `or`.
    IntOr { min: i32, max: i32, or: i32 },
    /// A double in `min..=max`.
    Double { min: f64, max: f64 },
    /// `true` or `false`.
    Bool,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these words, at least one.
    ListOf(&'static [&'static str]),
    /// Throttled replicas: empty, `*`, or `partition:broker` pairs.
    Replicas,
    /// A message format version such as `0.10.2` or `3.0-IV1`.
    Version,
}

/// What Ringlog does with a key.
#[derive(Debug, Clone, Copy)]
pub enum Effect {
    /// The engine applies it: `apply` sets the `LogConfig` field from a
    /// checked value, `in_force` writes the field back as the key takes it.
    Applied {
        apply: fn(&mut LogConfig, &str),
        in_force: fn(&LogConfig) -> String,
    },
    /// Read by a request handler, not the engine (where): the value in
    /// force is the topic's override or Kafka's default.
    ByHandler(&'static str),
    /// Accepted and described, no effect yet: why.
    NotApplied(&'static str),
}

/// One topic key.
#[derive(Debug)]
pub struct TopicKey {
    pub name: &'static str,
    /// The broker keys it defaults from, most specific first.
    pub broker_keys: &'static [&'static str],
    pub config_type: ConfigType,
    pub check: Check,
    /// Kafka's default, written as the key takes it.
    pub default: &'static str,
    pub effect: Effect,
    pub doc: &'static str,
}

const NO_REPLICATION: &str = "one broker: there are no followers yet";
const NO_COMPACTION: &str = "log compaction is not built yet";
const NO_TIERING: &str = "tiered storage is not built yet";
const RECOMPRESSION: &str = "batches are stored as the producer sent them";

/// A checked long: `Check` has run, so it parses.
fn long(value: &str) -> i64 {
    value.parse().expect("a checked long")
}

/// `-1` (or any negative) means "no limit" for the retention keys.
fn limit(value: &str) -> Option<u64> {
    u64::try_from(long(value)).ok()
}

/// Long.MAX_VALUE means "never" for the flush and timestamp keys.
fn unless_never(value: &str) -> Option<u64> {
    match long(value) {
        NEVER => None,
        n => u64::try_from(n).ok(),
    }
}

fn or_minus_one(value: Option<u64>) -> String {
    value.map_or("-1".into(), |v| v.to_string())
}

fn or_never(value: Option<u64>) -> String {
    value.map_or(NEVER.to_string(), |v| v.to_string())
}

/// Every topic key, in Kafka's (alphabetical) order.
pub const TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        name: "cleanup.policy",
        broker_keys: &["log.cleanup.policy"],
        config_type: ConfigType::List,
        check: Check::ListOf(&["delete", "compact"]),
        default: "delete",
        effect: Effect::NotApplied(
            "retention always deletes old segments; compaction is not built yet",
        ),
        doc: "delete old segments, or compact them by key",
    },
    TopicKey {
        name: "compression.gzip.level",
        broker_keys: &["compression.gzip.level"],
        config_type: ConfigType::Int,
        check: Check::IntOr {
            min: 1,
            max: 9,
            or: -1,
        },
        default: "-1",
        effect: Effect::NotApplied(RECOMPRESSION),
        doc: "gzip level when the broker recompresses",
    },
    TopicKey {
        name: "compression.lz4.level",
        broker_keys: &["compression.lz4.level"],
        config_type: ConfigType::Int,
        check: Check::Int { min: 1, max: 17 },
        default: "9",
        effect: Effect::NotApplied(RECOMPRESSION),
        doc: "lz4 level when the broker recompresses",
    },
    TopicKey {
        name: "compression.type",
        broker_keys: &["compression.type"],
        config_type: ConfigType::String,
        check: Check::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        default: "producer",
        effect: Effect::NotApplied(RECOMPRESSION),
        doc: "the codec batches are stored with; producer keeps the producer's",
    },
    TopicKey {
        name: "compression.zstd.level",
        broker_keys: &["compression.zstd.level"],
        config_type: ConfigType::Int,
        check: Check::Int {
            min: -131072,
            max: 22,
        },
        default: "3",
        effect: Effect::NotApplied(RECOMPRESSION),
        doc: "zstd level when the broker recompresses",
    },
    TopicKey {
        name: "delete.retention.ms",
        broker_keys: &["log.cleaner.delete.retention.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "86400000",
        effect: Effect::NotApplied(NO_COMPACTION),
        doc: "how long compaction keeps tombstones",
    },
    TopicKey {
        name: "file.delete.delay.ms",
        broker_keys: &["log.segment.delete.delay.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "60000",
        effect: Effect::NotApplied("retention deletes a segment's files at once"),
        doc: "wait before deleting a segment's files",
    },
    TopicKey {
        name: "flush.messages",
        broker_keys: &["log.flush.interval.messages"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 1 },
        default: "9223372036854775807",
        effect: Effect::Applied {
            apply: |config, value| config.flush_messages = unless_never(value),
            in_force: |config| or_never(config.flush_messages),
        },
        doc: "fdatasync after this many records",
    },
    TopicKey {
        name: "flush.ms",
        broker_keys: &["log.flush.interval.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "9223372036854775807",
        effect: Effect::Applied {
            apply: |config, value| config.flush_ms = unless_never(value),
            in_force: |config| or_never(config.flush_ms),
        },
        doc: "fdatasync data older than this",
    },
    TopicKey {
        name: "follower.replication.throttled.replicas",
        broker_keys: &[],
        config_type: ConfigType::List,
        check: Check::Replicas,
        default: "",
        effect: Effect::NotApplied(NO_REPLICATION),
        doc: "replicas whose follower fetches are throttled",
    },
    TopicKey {
        name: "index.interval.bytes",
        broker_keys: &["log.index.interval.bytes"],
        config_type: ConfigType::Int,
        check: Check::Int {
            min: 0,
            max: i32::MAX,
        },
        default: "4096",
        effect: Effect::Applied {
            // 0 (an entry for every batch) is the engine's 1.
            apply: |config, value| config.index_interval_bytes = long(value).max(1) as u64,
            in_force: |config| config.index_interval_bytes.to_string(),
        },
        doc: "log bytes between offset index entries",
    },
    TopicKey {
        name: "leader.replication.throttled.replicas",
        broker_keys: &[],
        config_type: ConfigType::List,
        check: Check::Replicas,
        default: "",
        effect: Effect::NotApplied(NO_REPLICATION),
        doc: "replicas whose leader-side fetches are throttled",
    },
    TopicKey {
        name: "local.retention.bytes",
        broker_keys: &["log.local.retention.bytes"],
        config_type: ConfigType::Long,
        check: Check::Long { min: -2 },
        default: "-2",
        effect: Effect::NotApplied(NO_TIERING),
        doc: "local bytes kept when tiered storage holds the rest; -2 = retention.bytes",
    },
    TopicKey {
        name: "local.retention.ms",
        broker_keys: &["log.local.retention.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: -2 },
        default: "-2",
        effect: Effect::NotApplied(NO_TIERING),
        doc: "local time kept when tiered storage holds the rest; -2 = retention.ms",
    },
    TopicKey {
        name: "max.compaction.lag.ms",
        broker_keys: &["log.cleaner.max.compaction.lag.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 1 },
        default: "9223372036854775807",
        effect: Effect::NotApplied(NO_COMPACTION),
        doc: "longest a record stays uncompacted",
    },
    TopicKey {
        name: "max.message.bytes",
        broker_keys: &["message.max.bytes"],
        config_type: ConfigType::Int,
        check: Check::Int {
            min: 0,
            max: i32::MAX,
        },
        default: "1048588",
        effect: Effect::Applied {
            apply: |config, value| config.max_message_bytes = long(value) as usize,
            in_force: |config| config.max_message_bytes.to_string(),
        },
        doc: "largest record batch",
    },
    TopicKey {
        name: "message.downconversion.enable",
        broker_keys: &["log.message.downconversion.enable"],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "true",
        effect: Effect::ByHandler(
            "Fetch v0-v3: false answers UNSUPPORTED_VERSION instead of down-converting (a Kafka 3.x key)",
        ),
        doc: "down-convert batches for fetchers of old message formats",
    },
    TopicKey {
        name: "message.format.version",
        broker_keys: &["log.message.format.version"],
        config_type: ConfigType::String,
        check: Check::Version,
        default: "3.0-IV1",
        effect: Effect::NotApplied("deprecated in Kafka 3.0: batches are stored in format v2"),
        doc: "the message format appends are converted to",
    },
    TopicKey {
        name: "message.timestamp.after.max.ms",
        broker_keys: &["log.message.timestamp.after.max.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "3600000",
        effect: Effect::Applied {
            apply: |config, value| config.timestamp_after_max_ms = unless_never(value),
            in_force: |config| or_never(config.timestamp_after_max_ms),
        },
        doc: "how far ahead of the broker's clock a CreateTime timestamp may be",
    },
    TopicKey {
        name: "message.timestamp.before.max.ms",
        broker_keys: &["log.message.timestamp.before.max.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "9223372036854775807",
        effect: Effect::Applied {
            apply: |config, value| config.timestamp_before_max_ms = unless_never(value),
            in_force: |config| or_never(config.timestamp_before_max_ms),
        },
        doc: "how far behind the broker's clock a CreateTime timestamp may be",
    },
    TopicKey {
        name: "message.timestamp.type",
        broker_keys: &["log.message.timestamp.type"],
        config_type: ConfigType::String,
        check: Check::OneOf(&["CreateTime", "LogAppendTime"]),
        default: "CreateTime",
        effect: Effect::Applied {
            apply: |config, value| {
                config.timestamp_type = match value {
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => TimestampType::CreateTime,
                }
            },
            in_force: |config| match config.timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
        },
        doc: "CreateTime or LogAppendTime",
    },
    TopicKey {
        name: "min.cleanable.dirty.ratio",
        broker_keys: &["log.cleaner.min.cleanable.ratio"],
        config_type: ConfigType::Double,
        check: Check::Double { min: 0.0, max: 1.0 },
        default: "0.5",
        effect: Effect::NotApplied(NO_COMPACTION),
        doc: "dirty share of the log that makes it cleanable",
    },
    TopicKey {
        name: "min.compaction.lag.ms",
        broker_keys: &["log.cleaner.min.compaction.lag.ms"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "0",
        effect: Effect::NotApplied(NO_COMPACTION),
        doc: "shortest a record stays uncompacted",
    },
    TopicKey {
        name: "min.insync.replicas",
        broker_keys: &["min.insync.replicas"],
        config_type: ConfigType::Int,
        check: Check::Int {
            min: 1,
            max: i32::MAX,
        },
        default: "1",
        effect: Effect::NotApplied(NO_REPLICATION),
        doc: "in-sync replicas an acks=all write needs",
    },
    TopicKey {
        name: "preallocate",
        broker_keys: &["log.preallocate"],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "false",
        effect: Effect::NotApplied("segments grow as they are written"),
        doc: "preallocate a new segment's file",
    },
    TopicKey {
        name: "remote.log.copy.disable",
        broker_keys: &[],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "false",
        effect: Effect::NotApplied(NO_TIERING),
        doc: "stop copying segments to tiered storage",
    },
    TopicKey {
        name: "remote.log.delete.on.disable",
        broker_keys: &[],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "false",
        effect: Effect::NotApplied(NO_TIERING),
        doc: "delete tiered segments when tiering is turned off",
    },
    TopicKey {
        name: "remote.storage.enable",
        broker_keys: &[],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "false",
        effect: Effect::NotApplied(NO_TIERING),
        doc: "keep old segments in tiered storage",
    },
    TopicKey {
        name: "retention.bytes",
        broker_keys: &["log.retention.bytes"],
        config_type: ConfigType::Long,
        check: Check::Long { min: i64::MIN },
        default: "-1",
        effect: Effect::Applied {
            apply: |config, value| config.retention_bytes = limit(value),
            in_force: |config| or_minus_one(config.retention_bytes),
        },
        doc: "delete the oldest segments beyond this size per partition; -1 = no limit",
    },
    TopicKey {
        name: "retention.ms",
        broker_keys: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        config_type: ConfigType::Long,
        check: Check::Long { min: -1 },
        default: "604800000",
        effect: Effect::Applied {
            apply: |config, value| config.retention_ms = limit(value),
            in_force: |config| or_minus_one(config.retention_ms),
        },
        doc: "delete segments whose newest record is older than this; -1 = forever",
    },
    TopicKey {
        name: "segment.bytes",
        broker_keys: &["log.segment.bytes"],
        config_type: ConfigType::Int,
        // The engine's own bound (engine::limits::SEGMENT_BYTES_MIN) applies too.
        check: Check::Int {
            min: 1,
            max: i32::MAX,
        },
        default: "1073741824",
        effect: Effect::Applied {
            apply: |config, value| config.segment_bytes = long(value) as u64,
            in_force: |config| config.segment_bytes.to_string(),
        },
        doc: "segment size",
    },
    TopicKey {
        name: "segment.index.bytes",
        broker_keys: &["log.index.size.max.bytes"],
        config_type: ConfigType::Int,
        check: Check::Int {
            min: 4,
            max: i32::MAX,
        },
        default: "10485760",
        effect: Effect::NotApplied("index files grow with their segment"),
        doc: "largest offset index file",
    },
    TopicKey {
        name: "segment.jitter.ms",
        broker_keys: &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 0 },
        default: "0",
        effect: Effect::NotApplied("segments roll at segment.ms exactly"),
        doc: "random reduction of segment.ms",
    },
    TopicKey {
        name: "segment.ms",
        broker_keys: &["log.roll.ms", "log.roll.hours"],
        config_type: ConfigType::Long,
        check: Check::Long { min: 1 },
        default: "604800000",
        effect: Effect::Applied {
            apply: |config, value| config.segment_ms = unless_never(value),
            in_force: |config| or_never(config.segment_ms),
        },
        doc: "roll a segment this old",
    },
    TopicKey {
        name: "unclean.leader.election.enable",
        broker_keys: &["unclean.leader.election.enable"],
        config_type: ConfigType::Boolean,
        check: Check::Bool,
        default: "false",
        effect: Effect::NotApplied(NO_REPLICATION),
        doc: "let an out-of-sync replica become leader",
    },
];

/// The key named `name`, if Kafka has it.
pub fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|key| key.name == name)
}

impl TopicKey {
    /// Checks `value` as Kafka checks this key: the reason names the key.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let name = self.name;
        let bad = |want: &str| Err(format!("{name}: {value:?} is not {want}"));
        let number = |text: &str| text.trim().parse::<i64>().ok();
        match self.check {
            Check::Long { min } => match number(value) {
                Some(n) if n >= min => Ok(()),
                _ => bad(&format!("a long of at least {min}")),
            },
            Check::Int { min, max } => match number(value) {
                Some(n) if (i64::from(min)..=i64::from(max)).contains(&n) => Ok(()),
                _ => bad(&format!("an int in [{min}, {max}]")),
            },
            Check::IntOr { min, max, or } => match number(value) {
                Some(n) if n == i64::from(or) || (i64::from(min)..=i64::from(max)).contains(&n) => {
                    Ok(())
                }
                _ => bad(&format!("{or} or an int in [{min}, {max}]")),
            },
            Check::Double { min, max } => match value.trim().parse::<f64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => bad(&format!("a number in [{min}, {max}]")),
            },
            Check::Bool => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(()),
                _ => bad("true or false"),
            },
            Check::OneOf(words) if words.contains(&value) => Ok(()),
            Check::OneOf(words) => bad(&format!("one of {}", words.join(", "))),
            Check::ListOf(words) => {
                let items: Vec<&str> = value.split(',').map(str::trim).collect();
                if items.iter().all(|item| words.contains(item)) {
                    Ok(())
                } else {
                    bad(&format!("a list of {}", words.join(", ")))
                }
            }
            Check::Replicas => {
                let pair = |item: &str| {
                    item.split_once(':').is_some_and(|(partition, broker)| {
                        partition.trim().parse::<u32>().is_ok()
                            && broker.trim().parse::<u32>().is_ok()
                    })
                };
                let trimmed = value.trim();
                if trimmed.is_empty() || trimmed == "*" || trimmed.split(',').all(pair) {
                    Ok(())
                } else {
                    bad("empty, * or partition:broker pairs")
                }
            }
            Check::Version => {
                let release = value.split('-').next().unwrap_or_default();
                let parts: Vec<&str> = release.split('.').collect();
                if (2..=4).contains(&parts.len())
                    && parts.iter().all(|part| part.parse::<u16>().is_ok())
                {
                    Ok(())
                } else {
                    bad("a Kafka version such as 2.8 or 3.0-IV1")
                }
            }
        }
    }
}
