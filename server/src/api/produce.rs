//! Produce: each partition's records go to the shard that owns it, all
//! partitions at once; acks=0 gets no answer, acks=1 an answer once the
//! batches are in the segment file, acks=-1 once they are fdatasync'ed.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{encode, Preamble};
use crate::connection::Reply;
use crate::error_code;
use crate::shard::Shard;

/// One partition's outcome, sent back across shards.
#[derive(Debug, Clone)]
struct PartitionOutcome {
    error: Option<(ResponseError, String)>,
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
}

impl PartitionOutcome {
    fn failed(error: ResponseError, message: impl Into<String>) -> PartitionOutcome {
        PartitionOutcome {
            error: Some((error, message.into())),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        }
    }
}

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: ProduceRequest) -> Reply {
    let acks = request.acks;
    if request.transactional_id.is_some() {
        // Transactions are not built yet.
        return answer(preamble, &request, acks, |_, _| {
            PartitionOutcome::failed(
                ResponseError::TransactionalIdAuthorizationFailed,
                "transactions are not supported yet",
            )
        })
        .await;
    }
    let mut pending = Vec::new();
    for topic in &request.topic_data {
        for partition in &topic.partition_data {
            let name = topic.name.to_string();
            let index = partition.index;
            let records = partition.records.clone();
            pending.push(produce_one(shard, name, index, records, acks));
        }
    }
    let outcomes = futures_util::future::join_all(pending).await;
    let mut outcomes = outcomes.into_iter();
    answer(preamble, &request, acks, |_, _| {
        outcomes.next().expect("one outcome per partition")
    })
    .await
}

async fn answer(
    preamble: Preamble,
    request: &ProduceRequest,
    acks: i16,
    mut outcome: impl FnMut(&str, i32) -> PartitionOutcome,
) -> Reply {
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|partition| {
                    let result = outcome(&topic.name, partition.index);
                    let (code, message) = match result.error {
                        Some((error, message)) => {
                            (error.code(), Some(StrBytes::from_string(message)))
                        }
                        None => (error_code::NONE, None),
                    };
                    PartitionProduceResponse::default()
                        .with_index(partition.index)
                        .with_error_code(code)
                        .with_error_message(message)
                        .with_base_offset(result.base_offset)
                        .with_log_append_time_ms(result.log_append_time_ms)
                        .with_log_start_offset(result.log_start_offset)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(partitions)
        })
        .collect();
    if acks == 0 {
        return Reply::Nothing;
    }
    encode(
        preamble,
        &ProduceResponse::default().with_responses(responses),
    )
}

async fn produce_one(
    shard: &Rc<Shard>,
    topic: String,
    partition: i32,
    records: Option<Bytes>,
    acks: i16,
) -> PartitionOutcome {
    if !matches!(acks, -1..=1) {
        return PartitionOutcome::failed(
            ResponseError::InvalidRequiredAcks,
            format!("acks={acks}"),
        );
    }
    let Some(records) = records else {
        return PartitionOutcome::failed(ResponseError::CorruptMessage, "no records");
    };
    let owner = shard.owner_of(&topic, partition);
    let answer = shard
        .call(owner, move |owner| async move {
            let Some(log) = owner.partition(&topic, partition) else {
                return PartitionOutcome::failed(
                    ResponseError::UnknownTopicOrPartition,
                    format!("no partition {topic}-{partition}"),
                );
            };
            let appended = if acks == -1 {
                log.append_durable(&records).await
            } else {
                log.append(&records).await
            };
            match appended {
                Ok(info) => PartitionOutcome {
                    error: None,
                    base_offset: info.base_offset.0,
                    log_append_time_ms: info.log_append_time.map_or(-1, |time| time.0),
                    log_start_offset: info.log_start_offset.0,
                },
                Err(error) => {
                    PartitionOutcome::failed(error_code::for_engine(&error), error.to_string())
                }
            }
        })
        .await;
    answer.unwrap_or_else(|_| {
        PartitionOutcome::failed(ResponseError::NotLeaderOrFollower, "shard unavailable")
    })
}
