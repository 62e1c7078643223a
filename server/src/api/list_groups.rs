//! ListGroups: every shard lists the groups it coordinates; v4+ filters by
//! state, v5+ by type (all of Ringlog's groups are "classic").

use std::rc::Rc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::group_common::str_bytes;
use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::group::{self, GroupState};
use crate::shard::Shard;

/// The group type of every group here (KIP-848 groups are "consumer").
const GROUP_TYPE: &str = "classic";

pub async fn handle(shard: &Rc<Shard>, preamble: Preamble, request: ListGroupsRequest) -> Reply {
    let version = preamble.api_version;
    // None: every state. Unknown state names match no group.
    let states: Option<Vec<GroupState>> =
        (version >= 4 && !request.states_filter.is_empty()).then(|| {
            request
                .states_filter
                .iter()
                .filter_map(|name| GroupState::parse(name))
                .collect()
        });
    let types_match = version < 5
        || request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|name| name.eq_ignore_ascii_case(GROUP_TYPE));
    let mut error = None;
    let mut groups = Vec::new();
    if types_match {
        for target in 0..shard.count {
            let filter = states.clone();
            let answer = shard
                .call(target, move |owner| async move {
                    group::list_groups_here(&owner, &filter)
                })
                .await;
            match answer {
                Ok((shard_error, listed)) => {
                    error = error.or(shard_error);
                    groups.extend(listed);
                }
                Err(_) => error = Some(kafka_protocol::ResponseError::CoordinatorNotAvailable),
            }
        }
    }
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let groups = groups
        .into_iter()
        .map(|listed| {
            let group = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(listed.group_id)))
                .with_protocol_type(str_bytes(listed.protocol_type));
            let group = if version >= 4 {
                group.with_group_state(str_bytes(listed.state.name()))
            } else {
                group
            };
            if version >= 5 {
                group.with_group_type(str_bytes(GROUP_TYPE))
            } else {
                group
            }
        })
        .collect();
    let code = error.map_or(error_code::NONE, |error| error.code());
    encode(
        preamble,
        &ListGroupsResponse::default()
            .with_error_code(code)
            .with_groups(groups),
    )
}
