//! CreatePartitions: grows topics through the controller, which raises the
//! partition count in the topic table; every shard opens the new partitions
//! it owns before the answer. Partitions are never removed: a count at or
//! below the current one is INVALID_PARTITIONS. `validate_only` checks
//! without growing. Explicit assignments must place each new partition on
//! this broker alone (the only broker there is).

use std::collections::HashMap;
use std::rc::Rc;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{BrokerId, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::controller::{self, AdminResult, PartitionGrowth};
use crate::error_code;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: CreatePartitionsRequest,
) -> Reply {
    let node_id = BrokerId(shard.config.node_id());
    let mut mentions: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *mentions.entry(topic.name.as_str()).or_default() += 1;
    }
    let mut results: Vec<Option<AdminResult>> = Vec::with_capacity(request.topics.len());
    let mut growths = Vec::new();
    for topic in &request.topics {
        let checked = if mentions[topic.name.as_str()] > 1 {
            Err((
                ResponseError::InvalidRequest,
                "duplicate topic in request".to_string(),
            ))
        } else {
            check_assignments(topic, node_id)
        };
        match checked {
            Ok(()) => {
                growths.push(PartitionGrowth {
                    topic: topic.name.to_string(),
                    count: topic.count,
                    assignments: topic.assignments.as_ref().map(Vec::len),
                });
                results.push(None);
            }
            Err(error) => results.push(Some(Err(error))),
        }
    }
    let growth_count = growths.len();
    let answers = controller::create_partitions(shard, growths, request.validate_only).await;
    assert_eq!(
        answers.len(),
        growth_count,
        "one controller answer per topic"
    );
    let mut answers = answers.into_iter();
    let topics = request
        .topics
        .iter()
        .zip(results)
        .map(|(topic, result)| {
            let result = result.unwrap_or_else(|| answers.next().expect("counted above"));
            let answer = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            let (code, message) = error_code::code_and_message(result);
            answer.with_error_code(code).with_error_message(message)
        })
        .collect();
    encode(
        preamble,
        &CreatePartitionsResponse::default().with_results(topics),
    )
}

/// Every listed assignment must be exactly this broker: one replica, as
/// every partition here has.
fn check_assignments(
    topic: &CreatePartitionsTopic,
    node_id: BrokerId,
) -> Result<(), (ResponseError, String)> {
    let Some(assignments) = &topic.assignments else {
        return Ok(());
    };
    let this_broker_only =
        |assignment: &CreatePartitionsAssignment| assignment.broker_ids == [node_id];
    if assignments.iter().all(this_broker_only) {
        return Ok(());
    }
    Err((
        ResponseError::InvalidReplicaAssignment,
        format!(
            "each new partition of {} must be assigned to broker {} alone \
             (one broker, replication factor 1)",
            topic.name.as_str(),
            node_id.0
        ),
    ))
}
