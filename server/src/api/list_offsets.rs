//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, KIP-734),
//! earliest local (-4) and latest tiered (-5, both meaningful only with
//! tiered storage), or the first offset at or after a timestamp. Version 0
//! answers with a list of offsets (`legacy.rs` makes it from the one).

use std::rc::Rc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405: the first offset on local disk; without tiered storage, the
/// log start.
const EARLIEST_LOCAL: i64 = -4;
/// KIP-1005: the last offset in tiered storage; without it, none.
const LATEST_TIERED: i64 = -5;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: ListOffsetsRequest) -> Reply {
    let mut topics = Vec::new();
    for topic in &request.topics {
        let mut partitions = Vec::new();
        for partition in &topic.partitions {
            let name = topic.name.to_string();
            let index = partition.partition_index;
            let timestamp = partition.timestamp;
            let owner = shard.owner_of(&name, index);
            let answer = shard
                .call(owner, move |owner| async move {
                    lookup(&owner, &name, index, timestamp).await
                })
                .await
                .unwrap_or(Err(ResponseError::NotLeaderOrFollower));
            let response = ListOffsetsPartitionResponse::default().with_partition_index(index);
            partitions.push(match answer {
                Ok((offset, timestamp)) => response
                    .with_error_code(error_code::NONE)
                    .with_offset(offset)
                    .with_timestamp(timestamp)
                    // Versions before 4 have no leader epoch.
                    .with_leader_epoch(if preamble.api_version >= 4 { 0 } else { -1 }),
                Err(error) => response
                    .with_error_code(error.code())
                    .with_offset(-1)
                    .with_timestamp(-1),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    encode(
        preamble,
        &ListOffsetsResponse::default().with_topics(topics),
    )
}

async fn lookup(
    shard: &Shard,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i64, i64), ResponseError> {
    let log = shard
        .partition(topic, partition)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    match timestamp {
        LATEST => Ok((log.high_watermark().0, -1)),
        EARLIEST | EARLIEST_LOCAL => Ok((log.log_start_offset().0, -1)),
        LATEST_TIERED => Ok((-1, -1)),
        MAX_TIMESTAMP => Ok(log
            .max_timestamp()
            .map_or((-1, -1), |(timestamp, offset)| (offset.0, timestamp.0))),
        timestamp if timestamp >= 0 => {
            let inflated_bytes_max =
                engine::limits::batch_inflated_bytes_max(log.config().max_message_bytes);
            let inflate = |batch: &[u8]| inflate(batch, inflated_bytes_max);
            let found = log
                .offset_for_timestamp_with(engine::TimestampMs(timestamp), &inflate)
                .await
                .map_err(|error| error_code::for_engine(&error))?;
            Ok(found.map_or((-1, -1), |(offset, timestamp)| (offset.0, timestamp.0)))
        }
        _ => Err(ResponseError::InvalidRequest),
    }
}

/// Lists the `(offset, timestamp)` of the records of a compressed batch,
/// inflating at most `inflated_bytes_max` (a batch stored before
/// validation existed may claim any count: the list grows with the records
/// found, never by a count). `None` falls back to the batch's own bounds.
fn inflate(
    batch: &[u8],
    inflated_bytes_max: usize,
) -> Option<Vec<(engine::Offset, engine::TimestampMs)>> {
    let batch = engine::record_batch::RecordBatch::parse_header_only(batch)?;
    engine::record_batch::record_offsets_and_timestamps(&batch, inflated_bytes_max).ok()
}
