//! Topic config overrides: how AlterConfigs and IncrementalAlterConfigs
//! edit a topic's override set, and what DescribeConfigs reports as the
//! value in force for each topic key.
//!
//! A topic stores only its overrides (`TopicMeta::configs`); every other
//! key takes its value from the broker (`server.properties`), which in turn
//! falls back to Kafka's default. Edits are pure functions of the current
//! override set, so the controller can validate a whole edit before it
//! touches the table:
//!
//! ```text
//!  overrides ──apply(change)──▶ new overrides ──validate──▶ LogConfig
//!                                     │ ok, not validate_only
//!                                     ▼
//!                      controller stores the table; every shard's
//!                      apply_topics calls PartitionLog::set_config
//! ```

use std::collections::{BTreeMap, BTreeSet};

use engine::LogConfig;
use kafka_protocol::ResponseError;

use crate::config::BrokerConfig;
use crate::shard::{log_config_for, TOPIC_CONFIG_KEYS};

/// Where a value in force comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    Topic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// Kafka's `ConfigType`, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    List = 7,
}

/// One operation of IncrementalAlterConfigs on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String),
    Delete,
    /// Adds list items (list keys only).
    Append(String),
    /// Removes list items (list keys only).
    Subtract(String),
}

/// How to change a topic's override set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// AlterConfigs: this becomes the whole override set.
    Replace(BTreeMap<String, String>),
    /// IncrementalAlterConfigs: these operations, in order.
    Incremental(Vec<(String, ConfigOp)>),
}

pub type ConfigError = (ResponseError, String);

/// A topic key: the broker keys it defaults from (most specific first), its
/// type and what it does.
struct TopicKey {
    name: &'static str,
    broker_keys: &'static [&'static str],
    config_type: ConfigType,
    doc: &'static str,
}

/// The same keys as [`TOPIC_CONFIG_KEYS`] (a test holds them equal).
const TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        name: "retention.ms",
        broker_keys: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        config_type: ConfigType::Long,
        doc: "delete segments whose newest record is older than this; -1 = forever",
    },
    TopicKey {
        name: "retention.bytes",
        broker_keys: &["log.retention.bytes"],
        config_type: ConfigType::Long,
        doc: "delete the oldest segments beyond this size per partition; -1 = no limit",
    },
    TopicKey {
        name: "segment.bytes",
        broker_keys: &["log.segment.bytes"],
        config_type: ConfigType::Int,
        doc: "segment size",
    },
    TopicKey {
        name: "segment.ms",
        broker_keys: &["log.roll.ms", "log.roll.hours"],
        config_type: ConfigType::Long,
        doc: "roll a segment this old",
    },
    TopicKey {
        name: "cleanup.policy",
        broker_keys: &["log.cleanup.policy"],
        config_type: ConfigType::List,
        doc: "delete or compact old segments",
    },
    TopicKey {
        name: "max.message.bytes",
        broker_keys: &["message.max.bytes"],
        config_type: ConfigType::Int,
        doc: "largest record batch",
    },
    TopicKey {
        name: "message.timestamp.type",
        broker_keys: &["log.message.timestamp.type"],
        config_type: ConfigType::String,
        doc: "CreateTime or LogAppendTime",
    },
    TopicKey {
        name: "flush.messages",
        broker_keys: &["log.flush.interval.messages"],
        config_type: ConfigType::Long,
        doc: "fdatasync after this many records",
    },
    TopicKey {
        name: "flush.ms",
        broker_keys: &["log.flush.interval.ms"],
        config_type: ConfigType::Long,
        doc: "fdatasync data older than this",
    },
];

/// Kafka's "never" for the flush settings: Long.MAX_VALUE.
const NEVER: u64 = i64::MAX as u64;

/// The override set after `change`, not yet validated.
pub fn apply(
    current: &BTreeMap<String, String>,
    change: &ConfigChange,
    broker: &BrokerConfig,
) -> Result<BTreeMap<String, String>, ConfigError> {
    match change {
        ConfigChange::Replace(configs) => Ok(configs.clone()),
        ConfigChange::Incremental(ops) => {
            let mut seen = BTreeSet::new();
            let mut configs = current.clone();
            for (key, op) in ops {
                if !seen.insert(key.as_str()) {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("duplicate config key {key} in one resource"),
                    ));
                }
                apply_op(&mut configs, key, op, broker)?;
            }
            Ok(configs)
        }
    }
}

fn apply_op(
    configs: &mut BTreeMap<String, String>,
    key: &str,
    op: &ConfigOp,
    broker: &BrokerConfig,
) -> Result<(), ConfigError> {
    let list_key = topic_key(key).is_some_and(|spec| spec.config_type == ConfigType::List);
    if matches!(op, ConfigOp::Append(_) | ConfigOp::Subtract(_)) && !list_key {
        return Err((
            ResponseError::InvalidConfig,
            format!("{key} is not a list: APPEND and SUBTRACT apply to list keys only"),
        ));
    }
    let items = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    };
    match op {
        ConfigOp::Set(value) => {
            configs.insert(key.to_string(), value.clone());
        }
        ConfigOp::Delete => {
            configs.remove(key);
        }
        ConfigOp::Append(value) => {
            let mut list = items(&value_in_force(broker, configs, key));
            for item in items(value) {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            configs.insert(key.to_string(), list.join(","));
        }
        ConfigOp::Subtract(value) => {
            let removed = items(value);
            let list: Vec<String> = items(&value_in_force(broker, configs, key))
                .into_iter()
                .filter(|item| !removed.contains(item))
                .collect();
            configs.insert(key.to_string(), list.join(","));
        }
    }
    Ok(())
}

/// Checks an override set: known keys, values the engine accepts.
pub fn validate(
    broker: &BrokerConfig,
    configs: &BTreeMap<String, String>,
) -> Result<LogConfig, ConfigError> {
    if let Some(key) = configs
        .keys()
        .find(|key| !TOPIC_CONFIG_KEYS.contains(&key.as_str()))
    {
        return Err((
            ResponseError::InvalidConfig,
            format!("unknown topic config {key}"),
        ));
    }
    log_config_for(broker, configs).map_err(|error| (ResponseError::InvalidConfig, error))
}

/// One topic key as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
    /// Where the value could come from, most specific first:
    /// (name, value, source).
    pub synonyms: Vec<(String, String, ConfigSource)>,
    pub config_type: ConfigType,
    pub doc: &'static str,
}

/// Every topic key with its value in force for a topic with `overrides`.
pub fn describe(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<DescribedConfig> {
    let defaults = broker.log_config();
    TOPIC_KEYS
        .iter()
        .map(|spec| {
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(spec.name) {
                synonyms.push((spec.name.to_string(), value.clone(), ConfigSource::Topic));
            }
            let entries: Vec<_> = spec
                .broker_keys
                .iter()
                .filter_map(|key| broker.entry(key))
                .collect();
            for entry in entries.iter().filter(|entry| entry.explicit) {
                let value = entry.value.clone().unwrap_or_default();
                synonyms.push((entry.name.to_string(), value, ConfigSource::StaticBroker));
            }
            let broker_set = entries.iter().any(|entry| entry.explicit);
            if let Some((name, value)) = entries
                .iter()
                .find_map(|entry| entry.default.map(|value| (entry.name, value)))
            {
                synonyms.push((name.to_string(), value.to_string(), ConfigSource::Default));
            }
            let (value, source) = match overrides.get(spec.name) {
                Some(value) => (value.clone(), ConfigSource::Topic),
                None if broker_set => (
                    broker_value(spec.name, &defaults),
                    ConfigSource::StaticBroker,
                ),
                None => (broker_value(spec.name, &defaults), ConfigSource::Default),
            };
            DescribedConfig {
                name: spec.name,
                value,
                source,
                synonyms,
                config_type: spec.config_type,
                doc: spec.doc,
            }
        })
        .collect()
}

fn topic_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|spec| spec.name == name)
}

/// The value a topic with `overrides` uses for `key`.
fn value_in_force(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    key: &str,
) -> String {
    overrides
        .get(key)
        .cloned()
        .unwrap_or_else(|| broker_value(key, &broker.log_config()))
}

/// The broker's value for a topic key, written as the topic key takes it.
fn broker_value(key: &str, defaults: &LogConfig) -> String {
    let or_minus_one = |value: Option<u64>| value.map_or("-1".to_string(), |v| v.to_string());
    match key {
        "retention.ms" => or_minus_one(defaults.retention_ms),
        "retention.bytes" => or_minus_one(defaults.retention_bytes),
        "segment.bytes" => defaults.segment_bytes.to_string(),
        "segment.ms" => defaults.segment_ms.unwrap_or(NEVER).to_string(),
        "cleanup.policy" => "delete".to_string(),
        "max.message.bytes" => defaults.max_message_bytes.to_string(),
        "message.timestamp.type" => match defaults.timestamp_type {
            engine::TimestampType::CreateTime => "CreateTime".to_string(),
            engine::TimestampType::LogAppendTime => "LogAppendTime".to_string(),
        },
        "flush.messages" => defaults.flush_messages.unwrap_or(NEVER).to_string(),
        "flush.ms" => defaults.flush_ms.unwrap_or(NEVER).to_string(),
        other => unreachable!("{other} is not a topic key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn the_key_table_matches_the_keys_shards_apply() {
        let names: Vec<&str> = TOPIC_KEYS.iter().map(|spec| spec.name).collect();
        assert_eq!(names, TOPIC_CONFIG_KEYS);
    }

    #[test]
    fn described_defaults_are_values_the_topic_accepts_and_mean_the_same() {
        let broker = BrokerConfig::embedded_default();
        for described in describe(&broker, &BTreeMap::new()) {
            assert_eq!(described.source, ConfigSource::Default);
            let overrides = map(&[(described.name, &described.value)]);
            let config = validate(&broker, &overrides)
                .unwrap_or_else(|error| panic!("{}: {error:?}", described.name));
            if !described.name.starts_with("flush.") {
                assert_eq!(config, broker.log_config(), "{}", described.name);
            }
        }
    }

    #[test]
    fn overrides_and_broker_settings_set_the_source() {
        let mut broker = BrokerConfig::embedded_default();
        broker.set("log.retention.hours", "1").unwrap();
        let described = describe(&broker, &map(&[("segment.bytes", "1048576")]));
        let find = |name: &str| described.iter().find(|d| d.name == name).unwrap().clone();
        let retention = find("retention.ms");
        assert_eq!(retention.value, "3600000");
        assert_eq!(retention.source, ConfigSource::StaticBroker);
        assert_eq!(
            retention.synonyms[0],
            (
                "log.retention.hours".into(),
                "1".into(),
                ConfigSource::StaticBroker
            )
        );
        let segment = find("segment.bytes");
        assert_eq!(
            (segment.value.as_str(), segment.source),
            ("1048576", ConfigSource::Topic)
        );
        assert_eq!(find("flush.ms").source, ConfigSource::Default);
    }

    #[test]
    fn incremental_ops_edit_the_override_set() {
        let broker = BrokerConfig::embedded_default();
        let current = map(&[("retention.ms", "1000"), ("segment.bytes", "1048576")]);
        let change = ConfigChange::Incremental(vec![
            ("retention.ms".into(), ConfigOp::Delete),
            ("flush.ms".into(), ConfigOp::Set("10".into())),
            ("cleanup.policy".into(), ConfigOp::Append("compact".into())),
        ]);
        let edited = apply(&current, &change, &broker).unwrap();
        assert_eq!(
            edited,
            map(&[
                ("cleanup.policy", "delete,compact"),
                ("flush.ms", "10"),
                ("segment.bytes", "1048576")
            ])
        );
        let subtract = ConfigChange::Incremental(vec![(
            "cleanup.policy".into(),
            ConfigOp::Subtract("delete".into()),
        )]);
        let edited = apply(&edited, &subtract, &broker).unwrap();
        assert_eq!(edited["cleanup.policy"], "compact");
        assert!(validate(&broker, &edited).is_ok());

        let append_to_number =
            ConfigChange::Incremental(vec![("retention.ms".into(), ConfigOp::Append("1".into()))]);
        let error = apply(&current, &append_to_number, &broker).unwrap_err();
        assert_eq!(error.0, ResponseError::InvalidConfig);
        let twice = ConfigChange::Incremental(vec![
            ("flush.ms".into(), ConfigOp::Delete),
            ("flush.ms".into(), ConfigOp::Set("1".into())),
        ]);
        assert_eq!(
            apply(&current, &twice, &broker).unwrap_err().0,
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn bad_values_and_unknown_keys_are_invalid_config_naming_the_key() {
        let broker = BrokerConfig::embedded_default();
        let (code, message) = validate(&broker, &map(&[("retention.ms", "soon")])).unwrap_err();
        assert_eq!(code, ResponseError::InvalidConfig);
        assert!(message.contains("retention.ms"), "{message}");
        let (code, message) = validate(&broker, &map(&[("no.such", "1")])).unwrap_err();
        assert_eq!(code, ResponseError::InvalidConfig);
        assert!(message.contains("no.such"), "{message}");
    }
}
