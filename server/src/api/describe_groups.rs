//! DescribeGroups: each group from its coordinator shard. An unknown group
//! is reported as Dead with no members (Kafka's answer before v6).

use std::rc::Rc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::authorized_operations;
use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::{self, GroupSummary};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: DescribeGroupsRequest,
) -> Reply {
    let version = preamble.api_version;
    let asks = request.groups.iter().map(|group_id| {
        let group_id = group_id.to_string();
        async move {
            let key = group_id.clone();
            group::on_coordinator(shard, &key, move |owner| {
                group::describe_group(owner, group_id)
            })
            .await
            .and_then(|result| result)
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    let operations = authorized_operations::answer(
        version >= 3 && request.include_authorized_operations,
        authorized_operations::GROUP,
    );
    let groups = request
        .groups
        .iter()
        .zip(answers)
        .map(|(group_id, answer)| {
            let described = match answer {
                Ok(summary) => described(summary, version),
                Err(error) => DescribedGroup::default()
                    .with_error_code(error.code())
                    .with_group_state(str_bytes("")),
            };
            let described = described.with_group_id(group_id.clone());
            if version >= 3 {
                described.with_authorized_operations(operations)
            } else {
                described
            }
        })
        .collect();
    encode(
        preamble,
        &DescribeGroupsResponse::default().with_groups(groups),
    )
}

fn described(summary: GroupSummary, version: i16) -> DescribedGroup {
    let members = summary
        .members
        .into_iter()
        .map(|member| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(member.member_id))
                .with_group_instance_id(
                    member
                        .group_instance_id
                        .filter(|_| version >= 4)
                        .map(str_bytes),
                )
                .with_client_id(str_bytes(member.client_id))
                .with_client_host(str_bytes(member.client_host))
                .with_member_metadata(member.metadata)
                .with_member_assignment(member.assignment)
        })
        .collect();
    DescribedGroup::default()
        .with_error_code(error_code::NONE)
        .with_group_state(str_bytes(summary.state.name()))
        .with_protocol_type(str_bytes(summary.protocol_type))
        .with_protocol_data(str_bytes(summary.protocol_name))
        .with_members(members)
}
