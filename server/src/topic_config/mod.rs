//! Topic config overrides: how AlterConfigs and IncrementalAlterConfigs
//! edit a topic's override set, and what DescribeConfigs reports as the
//! value in force for each topic key.
//!
//! The keys themselves, their checks, defaults and effect are one table in
//! `keys.rs`. A topic stores only its overrides (`TopicMeta::configs`);
//! every other key takes its value from the broker (`server.properties`),
//! which in turn falls back to Kafka's default. Edits are pure functions of the current
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

mod keys;

pub use keys::{topic_key, Effect, TopicKey, TOPIC_KEYS};

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
    Double = 6,
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

/// The table of topic keys as docs/broker.md shows it (a test holds the
/// two equal): key, Kafka's default, and what Ringlog does with it.
#[cfg(test)]
fn markdown_table() -> String {
    let mut table = String::from("| key | Kafka's default | in Ringlog |\n| --- | --- | --- |\n");
    for spec in TOPIC_KEYS {
        let effect = match spec.effect {
            Effect::Applied { .. } => "applied".to_string(),
            Effect::ByHandler(by) => format!("applied by the request layer: {by}"),
            Effect::NotApplied(why) => format!("accepted, no effect yet: {why}"),
        };
        let default = if spec.default.is_empty() {
            "(empty)"
        } else {
            spec.default
        };
        table.push_str(&format!("| `{}` | {default} | {effect} |\n", spec.name));
    }
    table
}

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

/// Checks an override set: known keys, each value as Kafka checks it, and
/// the whole as the engine accepts it.
pub fn validate(
    broker: &BrokerConfig,
    configs: &BTreeMap<String, String>,
) -> Result<LogConfig, ConfigError> {
    for (key, value) in configs {
        let Some(spec) = topic_key(key) else {
            return Err((
                ResponseError::InvalidConfig,
                format!("unknown topic config {key}"),
            ));
        };
        spec.check(value)
            .map_err(|reason| (ResponseError::InvalidConfig, reason))?;
    }
    log_config_for(broker, configs).map_err(|error| (ResponseError::InvalidConfig, error))
}

/// The engine settings for a partition of a topic with these overrides:
/// the broker's, with every applied key's override on top. Keys without
/// effect are skipped; unknown keys and bad values are errors.
pub fn log_config_for(
    broker: &BrokerConfig,
    configs: &BTreeMap<String, String>,
) -> Result<LogConfig, String> {
    let mut config = broker.log_config();
    for (key, value) in configs {
        let spec = topic_key(key).ok_or_else(|| format!("unknown topic config {key}"))?;
        spec.check(value)?;
        if let Effect::Applied { apply, .. } = spec.effect {
            apply(&mut config, value.trim());
        }
    }
    config.validate().map_err(|error| error.to_string())?;
    Ok(config)
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
    /// Kafka's meaning, and for keys without effect in Ringlog, why.
    pub doc: String,
}

/// Every topic key with its value in force for a topic with `overrides`.
pub fn describe(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<DescribedConfig> {
    let defaults = broker.log_config();
    TOPIC_KEYS
        .iter()
        .map(|spec| describe_key(broker, &defaults, overrides, spec))
        .collect()
}

fn describe_key(
    broker: &BrokerConfig,
    defaults: &LogConfig,
    overrides: &BTreeMap<String, String>,
    spec: &'static TopicKey,
) -> DescribedConfig {
    let mut synonyms = Vec::new();
    if let Some(value) = overrides.get(spec.name) {
        synonyms.push((spec.name.to_string(), value.clone(), ConfigSource::Topic));
    }
    // Broker keys Ringlog's server.properties knows; the others hold Kafka's default.
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
    let default_synonym = entries
        .iter()
        .find_map(|entry| entry.default.map(|value| (entry.name, value)))
        .or_else(|| spec.broker_keys.first().map(|name| (*name, spec.default)));
    if let Some((name, value)) = default_synonym {
        synonyms.push((name.to_string(), value.to_string(), ConfigSource::Default));
    }
    let (value, source) = match overrides.get(spec.name) {
        Some(value) => (value.clone(), ConfigSource::Topic),
        None if broker_set => (broker_value(spec, defaults), ConfigSource::StaticBroker),
        None => (broker_value(spec, defaults), ConfigSource::Default),
    };
    DescribedConfig {
        name: spec.name,
        value,
        source,
        synonyms,
        config_type: spec.config_type,
        doc: match spec.effect {
            Effect::Applied { .. } => spec.doc.to_string(),
            Effect::ByHandler(by) => format!("{} ({by})", spec.doc),
            Effect::NotApplied(why) => {
                format!("{} (accepted, no effect in Ringlog yet: {why})", spec.doc)
            }
        },
    }
}

/// The value a topic with `overrides` uses for `key`.
pub fn value_in_force(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    key: &str,
) -> String {
    match (overrides.get(key), topic_key(key)) {
        (Some(value), _) => value.clone(),
        (None, Some(spec)) => broker_value(spec, &broker.log_config()),
        (None, None) => String::new(),
    }
}

/// The broker's value for a topic key, written as the topic key takes it:
/// the engine's setting for applied keys, Kafka's default for the others.
fn broker_value(spec: &TopicKey, defaults: &LogConfig) -> String {
    match spec.effect {
        Effect::Applied { in_force, .. } => in_force(defaults),
        Effect::ByHandler(_) | Effect::NotApplied(_) => spec.default.to_string(),
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
    fn the_table_is_sorted_unique_and_its_defaults_pass_their_checks() {
        let names: Vec<&str> = TOPIC_KEYS.iter().map(|spec| spec.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        for spec in TOPIC_KEYS {
            spec.check(spec.default)
                .unwrap_or_else(|reason| panic!("{}: {reason}", spec.name));
        }
        // Applied keys: Kafka's default is also the engine's.
        let engine = LogConfig::default();
        for spec in TOPIC_KEYS {
            if let Effect::Applied { in_force, .. } = spec.effect {
                assert_eq!(in_force(&engine), spec.default, "{}", spec.name);
            }
        }
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
    fn applied_keys_map_onto_the_engine_and_the_others_change_nothing() {
        let broker = BrokerConfig::embedded_default();
        let config = log_config_for(
            &broker,
            &map(&[
                ("retention.ms", "1000"),
                ("message.timestamp.type", "LogAppendTime"),
                ("message.timestamp.before.max.ms", "60000"),
                ("message.timestamp.after.max.ms", "9223372036854775807"),
                ("index.interval.bytes", "0"),
                ("flush.messages", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.retention_ms, Some(1000));
        assert_eq!(config.timestamp_type, engine::TimestampType::LogAppendTime);
        assert_eq!(config.timestamp_before_max_ms, Some(60000));
        assert_eq!(config.timestamp_after_max_ms, None);
        assert_eq!(config.index_interval_bytes, 1);
        assert_eq!(config.flush_messages, Some(1));
        let accepted = map(&[
            ("cleanup.policy", "compact,delete"),
            ("compression.type", "zstd"),
            ("min.insync.replicas", "2"),
            ("min.cleanable.dirty.ratio", "0.25"),
            ("leader.replication.throttled.replicas", "0:1,1:1"),
            ("follower.replication.throttled.replicas", "*"),
            ("message.format.version", "2.8-IV1"),
            ("preallocate", "true"),
            ("compression.gzip.level", "-1"),
        ]);
        assert_eq!(
            log_config_for(&broker, &accepted).unwrap(),
            broker.log_config()
        );
        // The engine's own bounds still hold.
        assert!(log_config_for(&broker, &map(&[("segment.bytes", "12")])).is_err());
    }

    #[test]
    fn docs_broker_md_shows_the_table() {
        let docs = include_str!("../../../docs/broker.md");
        let table = markdown_table();
        assert!(
            docs.contains(&table),
            "docs/broker.md's topic config table differs from the code's; it should read:\n{table}"
        );
    }

    #[test]
    fn every_key_refuses_what_kafka_refuses() {
        let broker = BrokerConfig::embedded_default();
        for (key, value) in [
            ("cleanup.policy", "forever"),
            ("cleanup.policy", ""),
            ("compression.type", "brotli"),
            ("compression.gzip.level", "0"),
            ("compression.lz4.level", "18"),
            ("compression.zstd.level", "23"),
            ("delete.retention.ms", "-1"),
            ("flush.messages", "0"),
            ("flush.ms", "-1"),
            ("follower.replication.throttled.replicas", "0-1"),
            ("index.interval.bytes", "-1"),
            ("local.retention.ms", "-3"),
            ("max.compaction.lag.ms", "0"),
            ("max.message.bytes", "2147483648"),
            ("message.downconversion.enable", "yes"),
            ("message.format.version", "latest"),
            ("message.timestamp.type", "BrokerTime"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("min.insync.replicas", "0"),
            ("remote.storage.enable", "1"),
            ("retention.ms", "-2"),
            ("segment.index.bytes", "3"),
            ("segment.ms", "0"),
            ("unclean.leader.election.enable", "maybe"),
        ] {
            let (code, message) = validate(&broker, &map(&[(key, value)]))
                .expect_err(&format!("{key}={value:?} accepted"));
            assert_eq!(code, ResponseError::InvalidConfig, "{key}");
            assert!(message.contains(key), "{key}: {message}");
        }
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
