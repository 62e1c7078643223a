//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on single keys
//! of a topic's override set (APPEND and SUBTRACT on list keys only, as in
//! Kafka). Validated and stored by the controller; every shard applies the
//! new settings to its partitions before the answer. Broker resources are
//! refused with INVALID_REQUEST: dynamic broker configs are not supported.

use std::rc::Rc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::config_resource::{self, Alteration};
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;
use crate::topic_config::{ConfigChange, ConfigError, ConfigOp};

/// Kafka's `AlterConfigOp.OpType` codes.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: IncrementalAlterConfigsRequest,
) -> Reply {
    let alterations = request
        .resources
        .iter()
        .map(|resource| Alteration {
            resource_type: resource.resource_type,
            name: resource.resource_name.to_string(),
            change: resource
                .configs
                .iter()
                .map(operation)
                .collect::<Result<Vec<_>, _>>()
                .map(ConfigChange::Incremental),
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
        &IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}

fn operation(config: &AlterableConfig) -> Result<(String, ConfigOp), ConfigError> {
    let name = config.name.to_string();
    let value = || {
        config.value.as_ref().map(|value| value.to_string()).ok_or((
            ResponseError::InvalidRequest,
            format!("{name}: a null value is only allowed with DELETE"),
        ))
    };
    let op = match config.config_operation {
        SET => ConfigOp::Set(value()?),
        DELETE => ConfigOp::Delete,
        APPEND => ConfigOp::Append(value()?),
        SUBTRACT => ConfigOp::Subtract(value()?),
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("{name}: unknown config operation {other}"),
            ))
        }
    };
    Ok((name, op))
}
