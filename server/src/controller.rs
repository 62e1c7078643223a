//! Topic administration. Shard 0 is the controller: it alone changes the
//! topic table, one change at a time, stores it durably and hands every
//! shard its new copy before answering, so a topic is usable on every shard
//! once CreateTopics returns.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::ResponseError;

use crate::shard::{log_config_for, Shard, TOPIC_CONFIG_KEYS};
use crate::topics::{new_topic_id, valid_topic_name, TopicMeta, TopicTable};

pub const CONTROLLER_SHARD: usize = 0;

/// Brokers in the cluster: one until replication arrives.
const BROKERS: i16 = 1;

/// A topic to create, already defaulted.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

pub type AdminResult = Result<(), (ResponseError, String)>;

pub async fn create_topics(
    shard: &Rc<Shard>,
    topics: Vec<NewTopic>,
    validate_only: bool,
) -> Vec<AdminResult> {
    let count = topics.len();
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, broker| {
                topics
                    .iter()
                    .map(|topic| add(table, broker, topic, validate_only))
                    .collect()
            })
            .await
        })
        .await;
    answer.unwrap_or_else(|_| {
        vec![
            Err((
                ResponseError::NotController,
                "controller unavailable".into()
            ));
            count
        ]
    })
}

pub async fn delete_topics(shard: &Rc<Shard>, names: Vec<String>) -> Vec<AdminResult> {
    let count = names.len();
    if !shard.config.delete_topic_enable() {
        return vec![
            Err((
                ResponseError::TopicDeletionDisabled,
                "delete.topic.enable is false".into()
            ));
            count
        ];
    }
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, _| {
                names
                    .iter()
                    .map(|name| match table.topics.remove(name) {
                        Some(_) => Ok(()),
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("no topic {name}"),
                        )),
                    })
                    .collect()
            })
            .await
        })
        .await;
    answer.unwrap_or_else(|_| {
        vec![
            Err((
                ResponseError::NotController,
                "controller unavailable".into()
            ));
            count
        ]
    })
}

/// Applies `edit` to a copy of the table; if anything changed, stores it
/// and installs it on every shard.
async fn change<F>(controller: Rc<Shard>, edit: F) -> Vec<AdminResult>
where
    F: FnOnce(&mut TopicTable, &crate::config::BrokerConfig) -> Vec<AdminResult>,
{
    let changes = controller.controller_changes.clone();
    let _permit = changes.acquire_static_permit(1).await;
    let mut table = controller.topics.borrow().clone();
    let before = table.clone();
    let results = edit(&mut table, &controller.config);
    if table == before {
        return results;
    }
    let log_dir = controller.log_dir.clone();
    let to_store = table.clone();
    let stored = glommio::executor()
        .spawn_blocking(move || to_store.store_blocking(&log_dir))
        .await;
    if let Err(error) = stored {
        let message = format!("storing the topic table: {error}");
        tracing::error!("{message}");
        return results
            .into_iter()
            .map(|result| result.and(Err((ResponseError::KafkaStorageError, message.clone()))))
            .collect();
    }
    for target in 0..controller.count {
        let copy = table.clone();
        let applied = controller
            .call(target, move |shard| async move {
                shard.apply_topics(copy).await
            })
            .await;
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!("shard {target} could not apply the topic table: {error}")
            }
            Err(_) => tracing::error!("shard {target} is gone"),
        }
    }
    results
}

fn add(
    table: &mut TopicTable,
    broker: &crate::config::BrokerConfig,
    topic: &NewTopic,
    validate_only: bool,
) -> AdminResult {
    if !valid_topic_name(&topic.name) {
        return Err((
            ResponseError::InvalidTopicException,
            format!("{:?} is not a legal topic name", topic.name),
        ));
    }
    if table.topics.contains_key(&topic.name) {
        return Err((
            ResponseError::TopicAlreadyExists,
            format!("topic {} already exists", topic.name),
        ));
    }
    if topic.partitions < 1 || topic.partitions > crate::limits::PARTITIONS_PER_TOPIC_MAX {
        return Err((
            ResponseError::InvalidPartitions,
            format!("{} partitions is out of range", topic.partitions),
        ));
    }
    if topic.replication_factor < 1 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            "replication factor must be at least 1".into(),
        ));
    }
    if topic.replication_factor > BROKERS {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "replication factor {} is larger than the {BROKERS} available broker(s)",
                topic.replication_factor
            ),
        ));
    }
    for key in topic.configs.keys() {
        if !TOPIC_CONFIG_KEYS.contains(&key.as_str()) {
            return Err((
                ResponseError::InvalidConfig,
                format!("unknown topic config {key}"),
            ));
        }
    }
    log_config_for(broker, &topic.configs)
        .map_err(|error| (ResponseError::InvalidConfig, error))?;
    if !validate_only {
        table.topics.insert(
            topic.name.clone(),
            TopicMeta {
                partitions: topic.partitions,
                topic_id: new_topic_id(&topic.name),
                configs: topic.configs.clone(),
            },
        );
    }
    Ok(())
}
