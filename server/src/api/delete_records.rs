//! DeleteRecords: moves a partition's log start offset up to the requested
//! offset (-1: the high watermark) on the shard that owns it; segments
//! wholly below it are deleted. Answers the new log start offset as the
//! low watermark. An offset beyond the high watermark is
//! OFFSET_OUT_OF_RANGE. The partitions are worked on concurrently.

use std::rc::Rc;

use futures_util::future::join_all;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;

/// The requested offset that means "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: DeleteRecordsRequest) -> Reply {
    let topics = join_all(request.topics.iter().map(|topic| async move {
        let partitions = join_all(topic.partitions.iter().map(|partition| {
            let name = topic.name.to_string();
            let index = partition.partition_index;
            let offset = partition.offset;
            async move {
                let owner = shard.owner_of(&name, index);
                let answer = shard
                    .call(owner, move |owner| async move {
                        delete_before(&owner, &name, index, offset).await
                    })
                    .await
                    .unwrap_or(Err(ResponseError::NotLeaderOrFollower));
                let result = DeleteRecordsPartitionResult::default().with_partition_index(index);
                match answer {
                    Ok(low_watermark) => result
                        .with_error_code(error_code::NONE)
                        .with_low_watermark(low_watermark),
                    Err(error) => result.with_error_code(error.code()).with_low_watermark(-1),
                }
            }
        }))
        .await;
        DeleteRecordsTopicResult::default()
            .with_name(topic.name.clone())
            .with_partitions(partitions)
    }))
    .await;
    encode(
        preamble,
        &DeleteRecordsResponse::default().with_topics(topics),
    )
}

async fn delete_before(
    shard: &Shard,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<i64, ResponseError> {
    let log = shard
        .partition(topic, partition)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let offset = match offset {
        HIGH_WATERMARK => log.high_watermark(),
        offset => engine::Offset(offset),
    };
    let log_start_offset = log
        .delete_records_before(offset)
        .await
        .map_err(|error| error_code::for_engine(&error))?;
    Ok(log_start_offset.0)
}
