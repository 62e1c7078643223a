//! AlterConfigs (legacy): a topic's override set is replaced by the keys
//! the request lists (a key with a null value is dropped, as Kafka does).
//! Validated and stored by the controller; every shard applies the new
//! settings to its partitions before the answer. Broker resources are
//! refused with INVALID_REQUEST: dynamic broker configs are not supported.

use std::rc::Rc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::config_resource::{self, Alteration};
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;
use crate::topic_config::ConfigChange;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: AlterConfigsRequest) -> Reply {
    let alterations = request
        .resources
        .iter()
        .map(|resource| Alteration {
            resource_type: resource.resource_type,
            name: resource.resource_name.to_string(),
            change: Ok(ConfigChange::Replace(
                resource
                    .configs
                    .iter()
                    .filter_map(|config| {
                        let value = config.value.as_ref()?;
                        Some((config.name.to_string(), value.to_string()))
                    })
                    .collect(),
            )),
        })
        .collect();
    let results = config_resource::alter(shard, alterations, request.validate_only).await;
    let responses = request
        .resources
        .iter()
        .zip(results)
        .map(|(resource, result)| {
            let answer = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let (code, message) = error_code::code_and_message(result);
            answer.with_error_code(code).with_error_message(message)
        })
        .collect();
    encode(
        preamble,
        &AlterConfigsResponse::default().with_responses(responses),
    )
}
