//! DescribeConfigs: the value in force of every topic key for a topic (its
//! override, else the broker's setting, else the default), and of every key
//! of the broker's config table for this broker. Read from this shard's
//! copy of the topic table: the controller installs a change on every shard
//! before it answers, so what was altered is what is described.

use std::rc::Rc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::config_resource::{self, Resource};
use super::reply::Reply;
use super::{encode, Preamble};
use crate::config::{BrokerConfig, Kind};
use crate::error_code;
use crate::shard::Shard;
use crate::topic_config::{self, ConfigError, ConfigSource, ConfigType};

/// What the request asks to be included besides names and values.
#[derive(Debug, Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: DescribeConfigsRequest,
) -> Reply {
    let detail = Detail {
        synonyms: request.include_synonyms,
        documentation: request.include_documentation,
    };
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let answer = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let keys: Option<Vec<String>> = resource
                .configuration_keys
                .as_ref()
                .map(|keys| keys.iter().map(|key| key.to_string()).collect());
            match describe(
                shard,
                resource.resource_type,
                &resource.resource_name,
                detail,
            ) {
                Ok(configs) => answer.with_error_code(error_code::NONE).with_configs(
                    configs
                        .into_iter()
                        .filter(|config| {
                            keys.as_ref()
                                .is_none_or(|keys| keys.iter().any(|key| **key == *config.name))
                        })
                        .collect(),
                ),
                Err((error, message)) => answer
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    encode(
        preamble,
        &DescribeConfigsResponse::default().with_results(results),
    )
}

fn describe(
    shard: &Shard,
    resource_type: i8,
    name: &str,
    detail: Detail,
) -> Result<Vec<DescribeConfigsResourceResult>, ConfigError> {
    match config_resource::classify(resource_type, name, shard.config.node_id())? {
        Resource::Topic(topic) => {
            let meta = shard.topic(&topic).ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("topic {topic} does not exist"),
                )
            })?;
            Ok(topic_config::describe(&shard.config, &meta.configs)
                .into_iter()
                .map(|described| {
                    entry(described.name, Some(described.value), described.source)
                        .with_config_type(described.config_type as i8)
                        .with_synonyms(synonyms(&described.synonyms, detail))
                        .with_documentation(
                            detail
                                .documentation
                                .then(|| StrBytes::from_string(described.doc.clone())),
                        )
                })
                .collect())
        }
        Resource::Broker => Ok(broker_entries(&shard.config, detail)),
        // Ringlog has no dynamic cluster-wide defaults: nothing to report.
        Resource::BrokerDefaults => Ok(Vec::new()),
    }
}

fn broker_entries(config: &BrokerConfig, detail: Detail) -> Vec<DescribeConfigsResourceResult> {
    config
        .entries()
        .into_iter()
        .map(|key| {
            let source = if key.explicit {
                ConfigSource::StaticBroker
            } else {
                ConfigSource::Default
            };
            let mut synonyms = Vec::new();
            if key.explicit {
                synonyms.push((
                    key.name.to_string(),
                    key.value.clone().unwrap_or_default(),
                    ConfigSource::StaticBroker,
                ));
            }
            if let Some(default) = key.default {
                synonyms.push((
                    key.name.to_string(),
                    default.to_string(),
                    ConfigSource::Default,
                ));
            }
            entry(key.name, key.value, source)
                // Dynamic broker configs are not supported: every key is read-only.
                .with_read_only(true)
                .with_config_type(broker_type(key.kind) as i8)
                .with_synonyms(self::synonyms(&synonyms, detail))
                .with_documentation(
                    detail
                        .documentation
                        .then(|| StrBytes::from_static_str(key.doc)),
                )
        })
        .collect()
}

fn entry(
    name: &'static str,
    value: Option<String>,
    source: ConfigSource,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(value.map(StrBytes::from_string))
        .with_read_only(false)
        .with_config_source(source as i8)
        .with_is_sensitive(false)
}

fn synonyms(
    synonyms: &[(String, String, ConfigSource)],
    detail: Detail,
) -> Vec<DescribeConfigsSynonym> {
    if !detail.synonyms {
        return Vec::new();
    }
    synonyms
        .iter()
        .map(|(name, value, source)| {
            DescribeConfigsSynonym::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_value(Some(StrBytes::from_string(value.clone())))
                .with_source(*source as i8)
        })
        .collect()
}

fn broker_type(kind: Kind) -> ConfigType {
    match kind {
        Kind::Int { max, .. } if max <= i64::from(i32::MAX) => ConfigType::Int,
        Kind::Int { .. } => ConfigType::Long,
        Kind::Bool => ConfigType::Boolean,
        Kind::Text | Kind::TextOrEmpty => ConfigType::String,
    }
}
