//! DeleteTopics: the controller removes the topics; each shard closes and
//! deletes its partitions before the answer.

use std::rc::Rc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::controller;
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: DeleteTopicsRequest) -> Reply {
    let mut names: Vec<String> = request
        .topic_names
        .iter()
        .map(|name| name.to_string())
        .collect();
    // v6 names topics in `topics` (by name or id).
    names.extend(
        request
            .topics
            .iter()
            .filter_map(|topic| topic.name.as_ref().map(|name| name.to_string())),
    );
    let results = controller::delete_topics(shard, names.clone()).await;
    let responses = names
        .iter()
        .zip(results)
        .map(|(name, result)| {
            let answer = DeletableTopicResult::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
            match result {
                Ok(()) => answer,
                Err((error, message)) => answer
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    encode(
        preamble,
        &DeleteTopicsResponse::default().with_responses(responses),
    )
}
