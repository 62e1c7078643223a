//! OffsetDelete: removes committed offsets of a group, except those of
//! topics a non-empty consumer group subscribes to.

use std::rc::Rc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group;
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: OffsetDeleteRequest) -> Reply {
    let group_id = request.group_id.to_string();
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| partition.partition_index)
                .collect();
            (topic.name.to_string(), partitions)
        })
        .collect();
    let answer = if group_id.len() > group::limits::NAME_BYTES_MAX {
        Err(ResponseError::InvalidGroupId)
    } else {
        let key = group_id.clone();
        group::on_coordinator(shard, &key, move |owner| {
            group::delete_offsets(owner, group_id, topics)
        })
        .await
        .and_then(|result| result)
    };
    let response = match answer {
        // A group-level error comes with no partitions, as Kafka answers.
        Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
        Ok(results) => {
            let topics = request
                .topics
                .iter()
                .zip(results)
                .map(|(topic, errors)| {
                    let partitions = topic
                        .partitions
                        .iter()
                        .zip(errors)
                        .map(|(partition, error)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(partition.partition_index)
                                .with_error_code(error.map_or(error_code::NONE, |e| e.code()))
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            OffsetDeleteResponse::default()
                .with_error_code(error_code::NONE)
                .with_topics(topics)
        }
    };
    encode(preamble, &response)
}
