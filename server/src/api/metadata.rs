//! Metadata: this broker, and the topics asked for (all when none are
//! named). Unknown topics are created when the client allows it and
//! `auto.create.topics.enable` is on. Authorized operations (v8+) are
//! answered as Kafka without an authorizer does (`authorized_operations`).

use std::rc::Rc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::authorized_operations;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::controller::{self, NewTopic};
use crate::listeners::Endpoint;
use crate::shard::Shard;

pub const CLUSTER_ID: &str = "ringlog-cluster";

/// `advertised`: what clients of the listener the request came on are told.
pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: MetadataRequest,
    advertised: &Endpoint,
) -> Reply {
    let node_id = shard.config.node_id();
    let (host, port) = (advertised.host.clone(), advertised.port);
    let requested: Option<Vec<String>> = match request.topics {
        None => None,
        // v0 has no null: an empty list means every topic.
        Some(topics) if topics.is_empty() && preamble.api_version == 0 => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|topic| topic.name.map(|name| name.to_string()))
                .collect(),
        ),
    };
    let allow_create = (preamble.api_version < 4 || request.allow_auto_topic_creation)
        && shard.config.auto_create_topics();
    let names = match requested {
        None => shard.topics.borrow().topics.keys().cloned().collect(),
        Some(names) => {
            if allow_create {
                auto_create(shard, &names).await;
            }
            names
        }
    };
    // v8+ asks per topic; the cluster's operations exist in v8 to v10 only.
    let topic_operations = authorized_operations::answer(
        request.include_topic_authorized_operations,
        authorized_operations::TOPIC,
    );
    let topics = names
        .iter()
        .map(|name| {
            describe(shard, name, node_id).with_topic_authorized_operations(topic_operations)
        })
        .collect();
    let cluster_operations = authorized_operations::answer(
        (8..=10).contains(&preamble.api_version) && request.include_cluster_authorized_operations,
        authorized_operations::CLUSTER,
    );
    let response = MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_operations)
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node_id))
            .with_host(StrBytes::from_string(host))
            .with_port(i32::from(port))])
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_controller_id(BrokerId(node_id))
        .with_topics(topics);
    encode(preamble, &response)
}

async fn auto_create(shard: &Rc<Shard>, names: &[String]) {
    let missing: Vec<NewTopic> = names
        .iter()
        .filter(|name| shard.topic(name).is_none() && crate::topics::valid_topic_name(name))
        .map(|name| NewTopic {
            name: name.clone(),
            partitions: shard.config.num_partitions(),
            replication_factor: shard.config.default_replication_factor(),
            configs: Default::default(),
        })
        .collect();
    if !missing.is_empty() {
        for result in controller::create_topics(shard, missing, false).await {
            if let Err((code, message)) = result {
                if code != ResponseError::TopicAlreadyExists {
                    tracing::warn!("auto-creating a topic: {message}");
                }
            }
        }
    }
}

fn describe(shard: &Shard, name: &str, node_id: i32) -> MetadataResponseTopic {
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))));
    if !crate::topics::valid_topic_name(name) {
        return topic.with_error_code(ResponseError::InvalidTopicException.code());
    }
    let Some(meta) = shard.topic(name) else {
        return topic.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let partitions = (0..meta.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(node_id))
                .with_leader_epoch(0)
                .with_replica_nodes(vec![BrokerId(node_id)])
                .with_isr_nodes(vec![BrokerId(node_id)])
        })
        .collect();
    topic
        .with_topic_id(uuid::Uuid::from_u128(meta.topic_id))
        .with_is_internal(false)
        .with_partitions(partitions)
}
