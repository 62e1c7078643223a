//! LeaveGroup: one member (v0-2) or a batch (v3+, KIP-345: members named by
//! member id or, for an administrator, by group.instance.id alone).

use std::rc::Rc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::ResponseError;

use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group;
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: LeaveGroupRequest) -> Reply {
    let version = preamble.api_version;
    let group_id = request.group_id.to_string();
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|member| {
                (
                    member.member_id.to_string(),
                    member.group_instance_id.as_ref().map(|id| id.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let answer = if !group::valid_group_id(&group_id) {
        Err(ResponseError::InvalidGroupId)
    } else {
        let members = leaving.clone();
        let key = group_id.clone();
        group::on_coordinator(shard, &key, move |owner| {
            group::leave(owner, group_id, members)
        })
        .await
        .and_then(|result| result)
    };
    let code = |result: &Result<(), ResponseError>| {
        result.err().map_or(error_code::NONE, |error| error.code())
    };
    let response = LeaveGroupResponse::default();
    let response = match answer {
        Err(error) => response.with_error_code(error.code()),
        Ok(results) if version >= 3 => response.with_error_code(error_code::NONE).with_members(
            leaving
                .into_iter()
                .zip(&results)
                .map(|((member_id, instance), result)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(member_id))
                        .with_group_instance_id(instance.map(str_bytes))
                        .with_error_code(code(result))
                })
                .collect(),
        ),
        Ok(results) => response.with_error_code(results.first().map_or(error_code::NONE, code)),
    };
    encode(preamble, &response)
}
