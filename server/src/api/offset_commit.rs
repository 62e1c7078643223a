//! OffsetCommit: offsets are stored in the offsets log and answered once
//! fdatasync'ed. Members of a group commit with their generation; a
//! consumer that uses assign() commits with generation -1 and no member id
//! to a group that only stores offsets.

use std::rc::Rc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::{self, CommitPartition, CommitRequest};
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: OffsetCommitRequest) -> Reply {
    let version = preamble.api_version;
    let commit = CommitRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request
            .group_instance_id
            .as_ref()
            .filter(|_| version >= 7)
            .map(|instance| instance.to_string()),
        topics: request
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|partition| CommitPartition {
                        partition: partition.partition_index,
                        offset: partition.committed_offset,
                        leader_epoch: if version >= 6 {
                            partition.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: partition
                            .committed_metadata
                            .as_ref()
                            .map(|metadata| metadata.to_string()),
                    })
                    .collect();
                (topic.name.to_string(), partitions)
            })
            .collect(),
    };
    let outcome = if commit.group_id.len() > group::limits::NAME_BYTES_MAX {
        Err(ResponseError::InvalidGroupId)
    } else {
        let key = commit.group_id.clone();
        group::on_coordinator(shard, &key, move |owner| group::commit(owner, commit)).await
    };
    let topics = request
        .topics
        .iter()
        .enumerate()
        .map(|(topic_index, topic)| {
            let partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(index, partition)| {
                    let error = match &outcome {
                        Err(error) => Some(*error),
                        Ok(results) => results[topic_index][index],
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(error.map_or(error_code::NONE, |error| error.code()))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    encode(
        preamble,
        &OffsetCommitResponse::default().with_topics(topics),
    )
}
