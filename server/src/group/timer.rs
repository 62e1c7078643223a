//! The shard's group timer: every `TIMER_TICK` (100 ms) each group with
//! members or pending member ids checks its deadlines (state.rs `tick`):
//! sessions that ran out evict their members and start a rebalance; a
//! rebalance whose timeout passed completes without the members that did
//! not rejoin; members that did not send SyncGroup within the rebalance
//! timeout are removed. Changed metadata (a group turning Empty) is stored;
//! a group left with nothing to remember (a member id handed out with
//! MEMBER_ID_REQUIRED that never came back) is forgotten.
//!
//! One timer per shard, not one per member: a tick costs a pass over the
//! shard's groups with members, and deadlines are met within a tick.

use std::rc::Rc;
use std::time::Instant;

use super::partition_for;
use super::store;
use crate::shard::Shard;

pub fn tick(shard: &Rc<Shard>) {
    let now = Instant::now();
    let changed: Vec<String> = {
        let mut groups = shard.coordinator.groups.borrow_mut();
        let mut changed = Vec::new();
        let mut vacant = Vec::new();
        for group in groups.values_mut().filter(|group| group.has_deadlines()) {
            group.tick(now);
            if group.metadata_changed {
                changed.push(group.group_id.clone());
            } else if group.is_vacant() {
                // Only expired member ids were ever here: forget the group.
                vacant.push(group.group_id.clone());
            }
        }
        for group_id in vacant {
            groups.remove(&group_id);
        }
        changed
    };
    for group_id in changed {
        let log = shard
            .coordinator
            .logs
            .borrow()
            .get(&partition_for(&group_id))
            .cloned();
        let Some(log) = log else { continue };
        match store::store_metadata(shard, &log, &group_id) {
            Some(Ok(pending)) => pending.in_background("group metadata"),
            Some(Err(error)) => {
                tracing::warn!(group = %group_id, "storing group metadata: {error}")
            }
            None => {}
        }
    }
}
