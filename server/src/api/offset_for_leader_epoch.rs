//! OffsetForLeaderEpoch: the end offset of a leader epoch, which consumers
//! use to detect log truncation (KIP-320) and followers to truncate.
//!
//! Every partition here has had one leader, in epoch 0, since offset 0 (its
//! start moves up with retention and DeleteRecords). Kafka's answer for
//! that epoch history (LeaderEpochFileCache.endOffsetFor):
//!
//! ```text
//!  requested epoch   answer (leader_epoch, end_offset)
//!  -1 (undefined)    (-1, -1)
//!   0 (current)      (0, high watermark)
//!  > 0 (unknown)     (-1, -1)
//!  < -1              (requested, log start offset): the first epoch after it starts there
//! ```
//!
//! A `current_leader_epoch` other than -1 (no check) or 0 is fenced
//! (older) or unknown (newer), as Kafka answers.

use std::rc::Rc;

use futures_util::future::join_all;
use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;

/// The only leader epoch there has been.
const LEADER_EPOCH: i32 = 0;
/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: OffsetForLeaderEpochRequest,
) -> Reply {
    let topics = join_all(request.topics.iter().map(|topic| async move {
        let partitions = join_all(topic.partitions.iter().map(|partition| {
            let name = topic.topic.to_string();
            let request = partition.clone();
            async move {
                let index = request.partition;
                let owner = shard.owner_of(&name, index);
                let answer = shard
                    .call(owner, move |owner| async move {
                        end_offset(&owner, &name, &request)
                    })
                    .await
                    .unwrap_or(Err(ResponseError::NotLeaderOrFollower));
                let result = EpochEndOffset::default().with_partition(index);
                match answer {
                    Ok((leader_epoch, end_offset)) => result
                        .with_error_code(error_code::NONE)
                        .with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset),
                    Err(error) => result
                        .with_error_code(error.code())
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET),
                }
            }
        }))
        .await;
        OffsetForLeaderTopicResult::default()
            .with_topic(topic.topic.clone())
            .with_partitions(partitions)
    }))
    .await;
    encode(
        preamble,
        &OffsetForLeaderEpochResponse::default().with_topics(topics),
    )
}

fn end_offset(
    shard: &Shard,
    topic: &str,
    request: &OffsetForLeaderPartition,
) -> Result<(i32, i64), ResponseError> {
    let log = shard
        .partition(topic, request.partition)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    match request.current_leader_epoch {
        UNDEFINED_EPOCH | LEADER_EPOCH => {}
        epoch if epoch < LEADER_EPOCH => return Err(ResponseError::FencedLeaderEpoch),
        _ => return Err(ResponseError::UnknownLeaderEpoch),
    }
    Ok(match request.leader_epoch {
        LEADER_EPOCH => (LEADER_EPOCH, log.high_watermark().0),
        UNDEFINED_EPOCH => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
        epoch if epoch > LEADER_EPOCH => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
        epoch => (epoch, log.log_start_offset().0),
    })
}
