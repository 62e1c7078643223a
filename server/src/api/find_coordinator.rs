//! FindCoordinator: this broker coordinates every group (one broker, the
//! group's shard is found by hash when a request arrives). v4+ asks for
//! several keys at once. Transactions are not built yet: a transactional
//! key gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Produce answers
//! transactional batches.

use std::rc::Rc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::listeners::Endpoint;
use crate::shard::Shard;

/// Kafka's `CoordinatorType`.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The node a key is coordinated by, or why not.
type Answer = Result<(i32, String, i32), (ResponseError, String)>;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: FindCoordinatorRequest,
    advertised: &Endpoint,
) -> Reply {
    let node_id = shard.config.node_id();
    let (host, port) = (advertised.host.clone(), advertised.port);
    let answer = |key_type: i8| -> Answer {
        match key_type {
            KEY_TYPE_GROUP => Ok((node_id, host.clone(), i32::from(port))),
            KEY_TYPE_TRANSACTION => Err((
                ResponseError::TransactionalIdAuthorizationFailed,
                "transactions are not supported yet".into(),
            )),
            other => Err((
                ResponseError::InvalidRequest,
                format!("unknown coordinator key type {other}"),
            )),
        }
    };
    // v0 has no key type: it asks for a group.
    let key_type = if preamble.api_version == 0 {
        KEY_TYPE_GROUP
    } else {
        request.key_type
    };
    let response = FindCoordinatorResponse::default();
    if preamble.api_version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let coordinator = Coordinator::default().with_key(key.clone());
                match answer(key_type) {
                    Ok((node, host, port)) => coordinator
                        .with_error_code(error_code::NONE)
                        .with_node_id(BrokerId(node))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Err((error, message)) => coordinator
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::default())
                        .with_port(-1),
                }
            })
            .collect();
        return encode(preamble, &response.with_coordinators(coordinators));
    }
    let response = match answer(key_type) {
        Ok((node, host, port)) => response
            .with_error_code(error_code::NONE)
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Err((error, message)) => {
            let response = response
                .with_error_code(error.code())
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::default())
                .with_port(-1);
            if preamble.api_version >= 1 {
                response.with_error_message(Some(StrBytes::from_string(message)))
            } else {
                response
            }
        }
    };
    encode(preamble, &response)
}
