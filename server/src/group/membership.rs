//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup on the coordinator
//! shard: each runs the state machine (state.rs) in one synchronous step,
//! appends the group's record if the step changed what is stored, then
//! waits for its answer (a rebalance, the leader, or durability).
//!
//! These functions run on the group's coordinator shard (the handlers
//! forward to it with `on_coordinator`).

use std::rc::Rc;
use std::time::Instant;

use kafka_protocol::ResponseError;

use super::state::{Group, JoinOutcome, JoinRequest, JoinStep, SyncOutcome, SyncRequest, SyncStep};
use super::store::{self, group_store_error};
use crate::shard::Shard;

pub async fn join(shard: Rc<Shard>, group_id: String, request: JoinRequest) -> JoinOutcome {
    let log = match shard.coordinator.loaded_log(&group_id) {
        Ok(log) => log,
        Err(error) => return JoinOutcome::failed(request.member_id, error),
    };
    let member_id = request.member_id.clone();
    let step = {
        let mut groups = shard.coordinator.groups.borrow_mut();
        if !groups.contains_key(&group_id) {
            if !member_id.is_empty() {
                return JoinOutcome::failed(member_id, ResponseError::UnknownMemberId);
            }
            groups.insert(group_id.clone(), Group::new(group_id.clone()));
        }
        let group = groups.get_mut(&group_id).expect("inserted above");
        let step = group.join(request, Instant::now());
        if group.is_vacant() {
            groups.remove(&group_id);
        }
        step
    };
    let stored = store::store_metadata(&shard, &log, &group_id);
    match step {
        JoinStep::Now(outcome) => {
            if let Some(Ok(pending)) = stored {
                pending.in_background("group metadata");
            }
            outcome
        }
        JoinStep::Wait(receiver) => {
            if let Some(Ok(pending)) = stored {
                pending.in_background("group metadata");
            }
            // Dropped unanswered: the member's entry was replaced.
            receiver.await.unwrap_or_else(|_| {
                JoinOutcome::failed(member_id, ResponseError::RebalanceInProgress)
            })
        }
        JoinStep::WhenStored(outcome) => {
            let written = match stored {
                Some(Ok(pending)) => pending.durable().await,
                Some(Err(error)) => Err(error),
                None => Ok(()),
            };
            match written {
                Ok(()) => outcome,
                Err(error) => JoinOutcome::failed(outcome.member_id, group_store_error(&error)),
            }
        }
    }
}

pub async fn sync(shard: Rc<Shard>, group_id: String, request: SyncRequest) -> SyncOutcome {
    let log = match shard.coordinator.loaded_log(&group_id) {
        Ok(log) => log,
        Err(error) => return SyncOutcome::failed(error),
    };
    let step = {
        let mut groups = shard.coordinator.groups.borrow_mut();
        match groups.get_mut(&group_id) {
            None => return SyncOutcome::failed(ResponseError::UnknownMemberId),
            Some(group) => group.sync(request, Instant::now()),
        }
    };
    let stored = store::store_metadata(&shard, &log, &group_id);
    match step {
        SyncStep::Now(outcome) => outcome,
        SyncStep::Wait(receiver) => receiver
            .await
            .unwrap_or_else(|_| SyncOutcome::failed(ResponseError::RebalanceInProgress)),
        SyncStep::WhenStored {
            generation_id,
            waiters,
            leader,
        } => {
            let written = match stored {
                Some(Ok(pending)) => pending.durable().await,
                Some(Err(error)) => Err(error),
                None => Ok(()),
            };
            match written {
                Ok(()) => {
                    for (waiter, outcome) in waiters {
                        let _ = waiter.send(outcome);
                    }
                }
                Err(error) => {
                    tracing::warn!(group = %group_id, "storing the assignment failed: {error}");
                    let code = group_store_error(&error);
                    for (waiter, _) in waiters {
                        let _ = waiter.send(SyncOutcome::failed(code));
                    }
                    if let Some(group) = shard.coordinator.groups.borrow_mut().get_mut(&group_id) {
                        group.store_failed(generation_id, Instant::now());
                    }
                }
            }
            leader
                .await
                .unwrap_or_else(|_| SyncOutcome::failed(ResponseError::RebalanceInProgress))
        }
    }
}

pub async fn heartbeat(
    shard: Rc<Shard>,
    group_id: String,
    member_id: String,
    group_instance_id: Option<String>,
    generation_id: i32,
) -> Result<(), ResponseError> {
    match shard.coordinator.loaded_log(&group_id) {
        Ok(_) => {}
        // Kafka answers blindly while loading: the member keeps its session.
        Err(ResponseError::CoordinatorLoadInProgress) => return Ok(()),
        Err(error) => return Err(error),
    }
    let mut groups = shard.coordinator.groups.borrow_mut();
    let group = groups
        .get_mut(&group_id)
        .ok_or(ResponseError::UnknownMemberId)?;
    group.heartbeat(
        &member_id,
        group_instance_id.as_deref(),
        generation_id,
        Instant::now(),
    )
}

/// One result per (member id, instance id) leaving.
pub async fn leave(
    shard: Rc<Shard>,
    group_id: String,
    members: Vec<(String, Option<String>)>,
) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
    let log = shard.coordinator.loaded_log(&group_id)?;
    let results = {
        let mut groups = shard.coordinator.groups.borrow_mut();
        let Some(group) = groups.get_mut(&group_id) else {
            return Ok(members
                .iter()
                .map(|_| Err(ResponseError::UnknownMemberId))
                .collect());
        };
        let now = Instant::now();
        members
            .iter()
            .map(|(member_id, instance)| group.leave(member_id, instance.as_deref(), now))
            .collect()
    };
    if let Some(Ok(pending)) = store::store_metadata(&shard, &log, &group_id) {
        pending.in_background("group metadata");
    }
    Ok(results)
}
