//! CreateTopics: validated on the controller, created on every shard before
//! the answer. `validate_only` checks without creating.

use std::rc::Rc;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::controller::{self, NewTopic};
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: CreateTopicsRequest) -> Reply {
    let topics: Vec<NewTopic> = request
        .topics
        .iter()
        .map(|topic| NewTopic {
            name: topic.name.to_string(),
            partitions: if topic.num_partitions == -1 {
                shard.config.num_partitions()
            } else {
                topic.num_partitions
            },
            replication_factor: if topic.replication_factor == -1 {
                shard.config.default_replication_factor()
            } else {
                topic.replication_factor
            },
            configs: topic
                .configs
                .iter()
                .filter_map(|config| {
                    config
                        .value
                        .as_ref()
                        .map(|value| (config.name.to_string(), value.to_string()))
                })
                .collect(),
        })
        .collect();
    let results = controller::create_topics(shard, topics.clone(), request.validate_only).await;
    let topics = topics
        .iter()
        .zip(results)
        .map(|(topic, result)| {
            let answer = CreatableTopicResult::default().with_name(
                kafka_protocol::messages::TopicName(StrBytes::from_string(topic.name.clone())),
            );
            match result {
                Ok(()) => answer
                    .with_num_partitions(topic.partitions)
                    .with_replication_factor(topic.replication_factor)
                    .with_topic_id(shard.topic(&topic.name).map_or(uuid::Uuid::nil(), |meta| {
                        uuid::Uuid::from_u128(meta.topic_id)
                    })),
                Err((error, message)) => answer
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    encode(
        preamble,
        &CreateTopicsResponse::default().with_topics(topics),
    )
}
