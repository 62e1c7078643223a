//! JoinGroup: forwarded to the group's coordinator shard, where it waits
//! for the rebalance to complete (or the rebalance timeout). v4+ gets
//! MEMBER_ID_REQUIRED on a first join (KIP-394); v5+ carries the static
//! group.instance.id (KIP-345); v9+ may tell a rejoining static leader to
//! skip the assignment (KIP-814).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::ResponseError;

use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::limits::{
    MEMBER_METADATA_BYTES_MAX, NAME_BYTES_MAX, SESSION_TIMEOUT_MAX_MS, SESSION_TIMEOUT_MIN_MS,
};
use crate::group::{self, JoinOutcome, JoinRequest};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: JoinGroupRequest,
    client_id: String,
    client_host: &str,
) -> Reply {
    let version = preamble.api_version;
    let group_id = request.group_id.to_string();
    let member_id = request.member_id.to_string();
    let outcome = match validate(&request, version) {
        Err(error) => JoinOutcome::failed(member_id, error),
        Ok(()) => {
            let join = JoinRequest {
                member_id: member_id.clone(),
                group_instance_id: request
                    .group_instance_id
                    .as_ref()
                    .filter(|_| version >= 5)
                    .map(|instance| instance.to_string()),
                client_id,
                client_host: client_host.to_string(),
                session_timeout_ms: request.session_timeout_ms,
                // v0 has no rebalance timeout: the session timeout stands in.
                rebalance_timeout_ms: if version >= 1 {
                    request.rebalance_timeout_ms
                } else {
                    request.session_timeout_ms
                },
                protocol_type: request.protocol_type.to_string(),
                protocols: request
                    .protocols
                    .iter()
                    .map(|protocol| {
                        (
                            protocol.name.to_string(),
                            Bytes::copy_from_slice(&protocol.metadata),
                        )
                    })
                    .collect(),
                require_known_member_id: version >= 4,
                supports_skip_assignment: version >= 9,
            };
            let key = group_id.clone();
            group::on_coordinator(shard, &key, move |owner| group::join(owner, group_id, join))
                .await
                .unwrap_or_else(|error| JoinOutcome::failed(member_id, error))
        }
    };
    encode(preamble, &response(outcome, version))
}

fn validate(request: &JoinGroupRequest, version: i16) -> Result<(), ResponseError> {
    if !group::valid_group_id(&request.group_id) {
        return Err(ResponseError::InvalidGroupId);
    }
    if !(SESSION_TIMEOUT_MIN_MS..=SESSION_TIMEOUT_MAX_MS).contains(&request.session_timeout_ms) {
        return Err(ResponseError::InvalidSessionTimeout);
    }
    let metadata_bytes: usize = request
        .protocols
        .iter()
        .map(|protocol| protocol.metadata.len())
        .sum();
    let instance_bytes = match &request.group_instance_id {
        Some(instance) if version >= 5 => instance.len(),
        _ => 0,
    };
    let names_too_long = request.protocol_type.len() > NAME_BYTES_MAX
        || instance_bytes > NAME_BYTES_MAX
        || request.member_id.len() > NAME_BYTES_MAX
        || request
            .protocols
            .iter()
            .any(|protocol| protocol.name.len() > NAME_BYTES_MAX);
    if metadata_bytes > MEMBER_METADATA_BYTES_MAX || names_too_long {
        return Err(ResponseError::InvalidRequest);
    }
    Ok(())
}

fn response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let members = outcome
        .members
        .into_iter()
        .map(|member| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(member.member_id))
                .with_group_instance_id(
                    member
                        .group_instance_id
                        .filter(|_| version >= 5)
                        .map(str_bytes),
                )
                .with_metadata(member.metadata)
        })
        .collect();
    // Before v7 the protocol name is not nullable (Kafka sends "").
    let protocol_name = match outcome.protocol_name {
        None if version < 7 => Some(String::new()),
        name => name,
    };
    JoinGroupResponse::default()
        .with_error_code(outcome.error.map_or(error_code::NONE, |error| error.code()))
        .with_generation_id(outcome.generation_id)
        .with_protocol_type(outcome.protocol_type.map(str_bytes))
        .with_protocol_name(protocol_name.map(str_bytes))
        .with_leader(str_bytes(outcome.leader_id))
        .with_skip_assignment(outcome.skip_assignment && version >= 9)
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn answers_encode_in_every_version() {
        let outcome = JoinOutcome {
            error: None,
            generation_id: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader_id: "m-1".into(),
            skip_assignment: true,
            member_id: "m-1".into(),
            members: vec![group::state::JoinedMember {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                metadata: Bytes::from_static(b"meta"),
            }],
        };
        for version in 0..=9 {
            let mut out = bytes::BytesMut::new();
            response(outcome.clone(), version)
                .encode(&mut out, version)
                .unwrap();
            let failed = JoinOutcome::failed("m", ResponseError::MemberIdRequired);
            response(failed, version).encode(&mut out, version).unwrap();
        }
    }
}
