//! OffsetFetch: a group's committed offsets (-1 where none), for the
//! partitions asked or, with no topics (v2+), every committed one. v8+
//! asks for several groups at once; each goes to its coordinator shard.

use std::rc::Rc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::ResponseError;

use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::{self, FetchedOffset};
use crate::shard::Shard;

type Topics = Option<Vec<(String, Vec<i32>)>>;

/// One group's answer: its offsets by topic, or a group-level error (then
/// every partition asked for carries it too).
type Fetched = Result<Vec<(String, Vec<FetchedOffset>)>, ResponseError>;

async fn fetch(shard: &Rc<Shard>, group_id: String, topics: Topics) -> (Topics, Fetched) {
    if group_id.len() > group::limits::NAME_BYTES_MAX {
        return (topics, Err(ResponseError::InvalidGroupId));
    }
    let asked = topics.clone();
    let key = group_id.clone();
    let fetched = group::on_coordinator(shard, &key, move |owner| {
        group::fetch_offsets(owner, group_id, topics)
    })
    .await
    .and_then(|result| result);
    (asked, fetched)
}

/// The rows to answer: what was found, or the asked partitions with -1.
fn rows(asked: Topics, fetched: &Fetched) -> Vec<(String, Vec<FetchedOffset>)> {
    match fetched {
        Ok(found) => found.clone(),
        Err(_) => asked
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partitions)| {
                let unknown = partitions
                    .into_iter()
                    .map(|partition| FetchedOffset {
                        partition,
                        offset: -1,
                        leader_epoch: -1,
                        metadata: String::new(),
                    })
                    .collect();
                (topic, unknown)
            })
            .collect(),
    }
}

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: OffsetFetchRequest) -> Reply {
    let version = preamble.api_version;
    if version >= 8 {
        let asks = request.groups.iter().map(|asked| {
            let topics = asked.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|topic| (topic.name.to_string(), topic.partition_indexes.clone()))
                    .collect()
            });
            fetch(shard, asked.group_id.to_string(), topics)
        });
        let answers = futures_util::future::join_all(asks).await;
        let groups = request
            .groups
            .iter()
            .zip(answers)
            .map(|(asked, (topics, fetched))| group_v8(asked.group_id.clone(), topics, fetched))
            .collect();
        return encode(
            preamble,
            &OffsetFetchResponse::default().with_groups(groups),
        );
    }
    let topics = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| (topic.name.to_string(), topic.partition_indexes.clone()))
            .collect()
    });
    let (asked, fetched) = fetch(shard, request.group_id.to_string(), topics).await;
    let partition_error = fetched.as_ref().err().copied();
    let topics = rows(asked, &fetched)
        .into_iter()
        .map(|(topic, offsets)| {
            let partitions = offsets
                .into_iter()
                .map(|offset| {
                    let partition = OffsetFetchResponsePartition::default()
                        .with_partition_index(offset.partition)
                        .with_committed_offset(offset.offset)
                        .with_metadata(Some(str_bytes(offset.metadata)))
                        .with_error_code(partition_error.map_or(error_code::NONE, |e| e.code()));
                    if version >= 5 {
                        partition.with_committed_leader_epoch(offset.leader_epoch)
                    } else {
                        partition
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    let response = if version >= 2 {
        response.with_error_code(partition_error.map_or(error_code::NONE, |e| e.code()))
    } else {
        response
    };
    encode(preamble, &response)
}

fn group_v8(group_id: GroupId, asked: Topics, fetched: Fetched) -> OffsetFetchResponseGroup {
    let error = fetched.as_ref().err().copied();
    let code = error.map_or(error_code::NONE, |error| error.code());
    let topics = rows(asked, &fetched)
        .into_iter()
        .map(|(topic, offsets)| {
            let partitions = offsets
                .into_iter()
                .map(|offset| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(offset.partition)
                        .with_committed_offset(offset.offset)
                        .with_committed_leader_epoch(offset.leader_epoch)
                        .with_metadata(Some(str_bytes(offset.metadata)))
                        .with_error_code(code)
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
        .with_error_code(code)
}
