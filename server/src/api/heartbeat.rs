//! Heartbeat: keeps a member's session; REBALANCE_IN_PROGRESS tells it to
//! rejoin.

use std::rc::Rc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group;
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: HeartbeatRequest) -> Reply {
    let group_id = request.group_id.to_string();
    let result = if !group::valid_group_id(&group_id) {
        Err(ResponseError::InvalidGroupId)
    } else {
        let member_id = request.member_id.to_string();
        let instance = request
            .group_instance_id
            .as_ref()
            .filter(|_| preamble.api_version >= 3)
            .map(|instance| instance.to_string());
        let generation_id = request.generation_id;
        let key = group_id.clone();
        group::on_coordinator(shard, &key, move |owner| {
            group::heartbeat(owner, group_id, member_id, instance, generation_id)
        })
        .await
        .and_then(|result| result)
    };
    let code = result.err().map_or(error_code::NONE, |error| error.code());
    encode(
        preamble,
        &HeartbeatResponse::default().with_error_code(code),
    )
}
