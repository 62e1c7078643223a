//! Produce: each partition's records go to the shard that owns it, all
//! partitions at once; acks=0 gets no answer, acks=1 an answer once the
//! batches are in the segment file, acks=-1 once they are fdatasync'ed.
//! Once every partition has appended in memory the request is answered
//! later (`Reply::Later`): the connection reads on meanwhile, and its
//! answers still go out in request order.

use std::rc::Rc;

use bytes::Bytes;
use engine::Durability;
use futures_channel::oneshot;
use futures_util::future::{join_all, select, Either};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, record_formats, Preamble};
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
        });
    }
    // Each partition's job says when its batches are appended in memory
    // (offsets assigned): from then on, later requests on this connection
    // append after them, so the connection may read the next request while
    // these wait for the disk.
    let mut accepted = Vec::new();
    let mut outcomes = Vec::new();
    for topic in &request.topic_data {
        // From v13 topics are named by id (KIP-516).
        let name = if preamble.api_version >= 13 {
            shard.topic_name_of(topic.topic_id)
        } else {
            Some(topic.name.to_string())
        };
        for partition in &topic.partition_data {
            let (sender, receiver) = oneshot::channel();
            accepted.push(receiver);
            outcomes.push(produce_one(
                shard.clone(),
                preamble.api_version,
                name.clone(),
                partition.index,
                partition.records.clone(),
                acks,
                sender,
            ));
        }
    }
    let mut finished = Box::pin(join_all(outcomes));
    let outcomes = match select(join_all(accepted), finished.as_mut()).await {
        Either::Left(_) => {
            return Reply::Later(Box::pin(async move {
                let mut outcomes = finished.await.into_iter();
                answer(preamble, &request, acks, |_, _| {
                    outcomes.next().expect("one outcome per partition")
                })
            }))
        }
        Either::Right((outcomes, _)) => outcomes,
    };
    let mut outcomes = outcomes.into_iter();
    answer(preamble, &request, acks, |_, _| {
        outcomes.next().expect("one outcome per partition")
    })
}

fn answer(
    preamble: Preamble,
    request: &ProduceRequest,
    acks: i16,
    mut outcome: impl FnMut(&str, i32) -> PartitionOutcome,
) -> Reply {
    // acks=0 gets no answer, so a failure would go unseen: Kafka closes the
    // connection instead, and the producer refreshes its metadata and
    // reconnects. The first failed partition is the reason logged.
    let mut acks_zero_failure: Option<String> = None;
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
                            if acks == 0 && acks_zero_failure.is_none() {
                                acks_zero_failure = Some(format!(
                                    "acks=0 produce to {}-{} failed: {error:?}: {message}",
                                    topic.name.as_str(),
                                    partition.index
                                ));
                            }
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
            let response = TopicProduceResponse::default().with_partition_responses(partitions);
            if preamble.api_version >= 13 {
                response.with_topic_id(topic.topic_id)
            } else {
                response.with_name(topic.name.clone())
            }
        })
        .collect();
    if acks == 0 {
        return match acks_zero_failure {
            Some(reason) => Reply::Close(reason),
            None => Reply::Nothing,
        };
    }
    encode(
        preamble,
        &ProduceResponse::default().with_responses(responses),
    )
}

/// Appends one partition's records on its owning shard; `accepted` is
/// dropped or sent once they are appended in memory or refused.
async fn produce_one(
    shard: Rc<Shard>,
    api_version: i16,
    topic: Option<String>,
    partition: i32,
    records: Option<Bytes>,
    acks: i16,
    accepted: oneshot::Sender<()>,
) -> PartitionOutcome {
    let Some(topic) = topic else {
        return PartitionOutcome::failed(ResponseError::UnknownTopicId, "no topic with that id");
    };
    if !matches!(acks, -1..=1) {
        return PartitionOutcome::failed(
            ResponseError::InvalidRequiredAcks,
            format!("acks={acks}"),
        );
    }
    let Some(records) = records else {
        return PartitionOutcome::failed(ResponseError::CorruptMessage, "no records");
    };
    let durability = if acks == -1 {
        Durability::Flushed
    } else {
        Durability::Written
    };
    let owner = shard.owner_of(&topic, partition);
    let sent = std::time::Instant::now();
    let answer = shard
        .call(owner, move |owner| async move {
            crate::stats::produce_started(sent);
            let Some(log) = owner.partition(&topic, partition) else {
                return PartitionOutcome::failed(
                    ResponseError::UnknownTopicOrPartition,
                    format!("no partition {topic}-{partition}"),
                );
            };
            let max_message_bytes = log.config().max_message_bytes;
            let records =
                match record_formats::prepare_produced(api_version, records, max_message_bytes)
                    .await
                {
                    Ok(records) => records,
                    Err(error) => {
                        return PartitionOutcome::failed(
                            error_code::for_batch(&error),
                            error.to_string(),
                        )
                    }
                };
            let queued = log.append_queued(&records).await;
            if let Ok(info) = &queued {
                crate::stats::count_in(&topic, partition, records.len() as u64, info.records);
            }
            // The log has its own copy now. Dropping ours here leaves the
            // request (on the connection's shard) as the frame's last
            // holder, so its buffer returns to that shard's frame pool
            // instead of piling up in this one's.
            drop(records);
            let _ = accepted.send(());
            let appended = match queued {
                Ok(info) => log.append_done(info, durability).await,
                Err(error) => Err(error),
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
