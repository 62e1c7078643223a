//! SyncGroup: the leader sends every member's assignment; followers wait
//! on the coordinator shard until it arrives and is stored.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::ResponseError;

use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::{self, SyncOutcome, SyncRequest};
use crate::shard::Shard;

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: SyncGroupRequest) -> Reply {
    let version = preamble.api_version;
    let group_id = request.group_id.to_string();
    let outcome = if !group::valid_group_id(&group_id) {
        SyncOutcome::failed(ResponseError::InvalidGroupId)
    } else {
        let sync = SyncRequest {
            generation_id: request.generation_id,
            member_id: request.member_id.to_string(),
            group_instance_id: request
                .group_instance_id
                .as_ref()
                .filter(|_| version >= 3)
                .map(|instance| instance.to_string()),
            protocol_type: request
                .protocol_type
                .as_ref()
                .filter(|_| version >= 5)
                .map(|name| name.to_string()),
            protocol_name: request
                .protocol_name
                .as_ref()
                .filter(|_| version >= 5)
                .map(|name| name.to_string()),
            assignments: request
                .assignments
                .iter()
                .map(|assignment| {
                    (
                        assignment.member_id.to_string(),
                        Bytes::copy_from_slice(&assignment.assignment),
                    )
                })
                .collect(),
        };
        let key = group_id.clone();
        group::on_coordinator(shard, &key, move |owner| group::sync(owner, group_id, sync))
            .await
            .unwrap_or_else(SyncOutcome::failed)
    };
    encode(preamble, &response(outcome, version))
}

fn response(outcome: SyncOutcome, version: i16) -> SyncGroupResponse {
    let response = SyncGroupResponse::default()
        .with_error_code(outcome.error.map_or(error_code::NONE, |error| error.code()))
        .with_assignment(outcome.assignment);
    if version >= 5 {
        response
            .with_protocol_type(outcome.protocol_type.map(str_bytes))
            .with_protocol_name(outcome.protocol_name.map(str_bytes))
    } else {
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn answers_encode_in_every_version() {
        let outcome = SyncOutcome {
            error: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: Bytes::from_static(b"assignment"),
        };
        for version in 0..=5 {
            let mut out = bytes::BytesMut::new();
            response(outcome.clone(), version)
                .encode(&mut out, version)
                .unwrap();
        }
    }
}
