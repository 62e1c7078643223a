//! ConfigResource: what DescribeConfigs, AlterConfigs and
//! IncrementalAlterConfigs name — a topic, or this broker by its node id.

use std::rc::Rc;

use kafka_protocol::ResponseError;

use crate::controller::{self, AdminResult, TopicConfigEdit};
use crate::shard::Shard;
use crate::topic_config::{ConfigChange, ConfigError};

/// Kafka's `ConfigResource.Type` codes Ringlog answers for.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    /// This broker (named by its node id).
    Broker,
    /// The cluster-wide broker defaults (named by the empty string).
    BrokerDefaults,
}

pub fn classify(resource_type: i8, name: &str, node_id: i32) -> Result<Resource, ConfigError> {
    match resource_type {
        TOPIC => Ok(Resource::Topic(name.to_string())),
        BROKER if name.is_empty() => Ok(Resource::BrokerDefaults),
        BROKER if name == node_id.to_string() => Ok(Resource::Broker),
        BROKER => Err((
            ResponseError::InvalidRequest,
            format!("unexpected broker id {name:?}: this is broker {node_id}"),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("config resource type {other} is not supported (topics and brokers are)"),
        )),
    }
}

/// Dynamic broker configs are refused with this answer.
pub fn broker_configs_are_static() -> ConfigError {
    (
        ResponseError::InvalidRequest,
        "dynamic broker configs are not supported yet: set the key in server.properties \
         (or --override) and restart"
            .to_string(),
    )
}

/// One resource of an AlterConfigs or IncrementalAlterConfigs request: its
/// type, name, and the change it asks for (or why it cannot be decoded).
pub struct Alteration {
    pub resource_type: i8,
    pub name: String,
    pub change: Result<ConfigChange, ConfigError>,
}

/// Applies the topic alterations through the controller in one table
/// change; refuses broker resources. One result per alteration, in order.
pub async fn alter(
    shard: &Rc<Shard>,
    alterations: Vec<Alteration>,
    validate_only: bool,
) -> Vec<AdminResult> {
    let node_id = shard.config.node_id();
    let mut results: Vec<Option<AdminResult>> = Vec::with_capacity(alterations.len());
    let mut edits = Vec::new();
    for alteration in alterations {
        let resource = classify(alteration.resource_type, &alteration.name, node_id);
        match (resource, alteration.change) {
            (Err(error), _) => results.push(Some(Err(error))),
            (Ok(Resource::Broker | Resource::BrokerDefaults), _) => {
                results.push(Some(Err(broker_configs_are_static())))
            }
            (Ok(Resource::Topic(_)), Err(error)) => results.push(Some(Err(error))),
            (Ok(Resource::Topic(topic)), Ok(change)) => {
                edits.push(TopicConfigEdit { topic, change });
                results.push(None);
            }
        }
    }
    let edit_count = edits.len();
    let answers = controller::alter_topic_configs(shard, edits, validate_only).await;
    assert_eq!(answers.len(), edit_count, "one controller answer per edit");
    let mut answers = answers.into_iter();
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| answers.next().expect("counted above")))
        .collect()
}
