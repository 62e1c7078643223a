//! ListGroups, DescribeGroups and DeleteGroups on the coordinator side.
//! ListGroups asks every shard for its part; the others run on the group's
//! coordinator shard.

use std::rc::Rc;

use kafka_protocol::ResponseError;

use super::limits::GROUPS_PER_REQUEST_MAX;
use super::record::LogRecord;
use super::state::{GroupState, GroupSummary};
use super::store::{self, group_store_error};
use crate::shard::Shard;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// This shard's groups in one of `states` (all when None). The error is
/// COORDINATOR_LOAD_IN_PROGRESS while a partition is still being read; the
/// groups loaded so far are listed anyway, as Kafka does.
pub fn list_groups_here(
    shard: &Shard,
    states: &Option<Vec<GroupState>>,
) -> (Option<ResponseError>, Vec<ListedGroup>) {
    let error =
        (!shard.coordinator.all_loaded()).then_some(ResponseError::CoordinatorLoadInProgress);
    let groups = shard.coordinator.groups.borrow();
    let listed = groups
        .values()
        .filter(|group| {
            states
                .as_ref()
                .is_none_or(|states| states.contains(&group.state))
        })
        .take(GROUPS_PER_REQUEST_MAX)
        .map(|group| ListedGroup {
            group_id: group.group_id.clone(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            state: group.state,
        })
        .collect();
    (error, listed)
}

/// DescribeGroups of one group; an unknown group is described as Dead
/// with no members, as Kafka does.
pub async fn describe_group(
    shard: Rc<Shard>,
    group_id: String,
) -> Result<GroupSummary, ResponseError> {
    shard.coordinator.loaded_log(&group_id)?;
    let groups = shard.coordinator.groups.borrow();
    Ok(match groups.get(&group_id) {
        Some(group) => group.summary(),
        None => GroupSummary {
            state: GroupState::Dead,
            protocol_type: String::new(),
            protocol_name: String::new(),
            members: Vec::new(),
        },
    })
}

/// DeleteGroups of one group: only an Empty group goes (with its offsets);
/// a group with members gets NON_EMPTY_GROUP.
pub async fn delete_group(shard: Rc<Shard>, group_id: String) -> Result<(), ResponseError> {
    let log = shard.coordinator.loaded_log(&group_id)?;
    {
        let mut groups = shard.coordinator.groups.borrow_mut();
        let group = groups
            .get_mut(&group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        match group.state {
            GroupState::Empty => group.mark_dead(),
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            _ => return Err(ResponseError::NonEmptyGroup),
        }
        groups.remove(&group_id);
    }
    let tombstone = LogRecord::Group {
        group_id,
        value: None,
    };
    let written = match store::append(&shard, &log, &[tombstone]) {
        Ok(pending) => pending.durable().await,
        Err(error) => Err(error),
    };
    written.map_err(|error| group_store_error(&error))
}
