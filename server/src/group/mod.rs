//! The group coordinator: consumer groups (Kafka's classic protocol) and
//! their committed offsets, stored durably in the offsets log.
//!
//! ```text
//!   group id ──fnv1a % 16──▶ partition p of __consumer_offsets
//!            ──shard_of("__consumer_offsets", p)──▶ coordinator shard
//!
//!   any shard: decode ── Shard::call(coordinator shard) ──▶ that shard:
//!                                                           Coordinator
//!                                                             groups: group id → Group (state.rs)
//!                                                             logs:   p → OffsetsLog (offsets_log.rs)
//! ```
//!
//! Each group lives on one shard, its coordinator shard, whose
//! [`Coordinator`] holds the group's state machine and committed offsets in
//! plain `RefCell`s: no other shard ever touches them, so there are no
//! locks. Every group request is forwarded there with `Shard::call`; a
//! JoinGroup or SyncGroup waiting for a rebalance waits there, on a oneshot
//! channel the state machine completes.
//!
//! Durability: each shard opens the offsets-log partitions it owns before
//! the broker listens, then reads them back in the background (requests
//! for those groups get COORDINATOR_LOAD_IN_PROGRESS meanwhile). Committed
//! offsets and completed rebalances are appended (record.rs) and answered
//! once fdatasync'ed; snapshots keep loading time bounded (store.rs).
//! Sessions, rebalance and sync deadlines run off one timer per shard
//! (timer.rs). See docs/groups.md.

mod admin;
pub mod limits;
mod membership;
mod offsets;
mod offsets_log;
mod protocol;
pub mod record;
pub mod state;
mod store;
mod timer;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;

use kafka_protocol::ResponseError;

pub use admin::{delete_group, describe_group, list_groups_here};
pub use membership::{heartbeat, join, leave, sync};
pub use offsets::{
    commit, delete_offsets, fetch_offsets, purge_deleted_topics, CommitPartition, CommitRequest,
    FetchedOffset,
};
pub use state::{GroupState, GroupSummary, JoinOutcome, JoinRequest, SyncOutcome, SyncRequest};
pub use store::{start, stop};

use crate::shard::{shard_of, Shard};
use offsets_log::OffsetsLog;
use state::Group;

/// The internal topic's name. It is not in the topic table: Metadata does
/// not list it and clients can neither produce to it nor create it.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The offsets-log partition of a group: FNV-1a of its id.
pub fn partition_for(group_id: &str) -> i32 {
    let mut hash: u32 = 0x811c9dc5;
    for byte in group_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x01000193);
    }
    (hash % limits::OFFSETS_PARTITIONS as u32) as i32
}

/// The shard coordinating a group.
pub fn coordinator_shard(group_id: &str, shards: usize) -> usize {
    shard_of(OFFSETS_TOPIC, partition_for(group_id), shards)
}

/// One shard's part of the coordinator: the groups whose offsets-log
/// partition it owns, and those partitions.
///
/// Shard contract: lives in its `Shard` and is used only on that shard's
/// thread; no borrow is held across an await.
#[derive(Default)]
pub struct Coordinator {
    groups: RefCell<HashMap<String, Group>>,
    logs: RefCell<BTreeMap<i32, Rc<OffsetsLog>>>,
}

impl Coordinator {
    /// The group's log if this shard coordinates it and has loaded it.
    fn loaded_log(&self, group_id: &str) -> Result<Rc<OffsetsLog>, ResponseError> {
        let log = self
            .logs
            .borrow()
            .get(&partition_for(group_id))
            .cloned()
            .ok_or(ResponseError::NotCoordinator)?;
        if !log.is_loaded() {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        Ok(log)
    }

    /// Whether every partition this shard owns has been read back.
    fn all_loaded(&self) -> bool {
        self.logs.borrow().values().all(|log| log.is_loaded())
    }
}

/// Every committed offset of the groups this shard coordinates, as
/// (group id, topic, partition, offset): the admin listener's lag gauges.
pub fn committed_offsets(shard: &Shard) -> Vec<(String, String, i32, i64)> {
    let groups = shard.coordinator.groups.borrow();
    let mut committed = Vec::new();
    for (group_id, group) in groups.iter() {
        for ((topic, partition), value) in &group.offsets {
            committed.push((group_id.clone(), topic.clone(), *partition, value.offset));
        }
    }
    committed
}

/// Runs `job` on the coordinator shard of `group_id`.
pub async fn on_coordinator<R, F, Fut>(
    shard: &Rc<Shard>,
    group_id: &str,
    job: F,
) -> Result<R, ResponseError>
where
    F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
    R: Send + 'static,
{
    // A group id off the wire is bounded before it crosses shards.
    if group_id.len() > limits::NAME_BYTES_MAX {
        return Err(ResponseError::InvalidGroupId);
    }
    let target = coordinator_shard(group_id, shard.count);
    shard
        .call(target, job)
        .await
        .map_err(|_| ResponseError::CoordinatorNotAvailable)
}

/// Checks a group id from a request: Kafka refuses empty ones for
/// membership and bounds are ours.
pub fn valid_group_id(group_id: &str) -> bool {
    !group_id.is_empty() && group_id.len() <= limits::NAME_BYTES_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_spread_over_partitions_and_shards() {
        let mut partitions = [0usize; limits::OFFSETS_PARTITIONS as usize];
        let mut shards = [0usize; 4];
        for index in 0..1600 {
            let group = format!("group-{index}");
            let partition = partition_for(&group);
            assert!((0..limits::OFFSETS_PARTITIONS).contains(&partition));
            partitions[partition as usize] += 1;
            shards[coordinator_shard(&group, 4)] += 1;
        }
        assert!(partitions.iter().all(|&count| count > 50), "{partitions:?}");
        assert!(shards.iter().all(|&count| count > 250), "{shards:?}");
        // Stable across releases: stored groups are found by this hash.
        assert_eq!(partition_for("my-group"), partition_for("my-group"));
        assert_eq!(partition_for(""), (0x811c9dc5u32 % 16) as i32);
    }
}
