//! The coordinator's storage side: opening and loading the offsets-log
//! partitions a shard owns, appending records in the order the state
//! changed, snapshots, and closing.
//!
//! Snapshots bound loading time. When a partition has taken more bytes
//! since its last snapshot than `max(SNAPSHOT_AFTER_BYTES_MIN, 2 × the last
//! snapshot)`, the shard appends, in one synchronous append (so nothing
//! interleaves), the partition's whole state as the log last said it:
//!
//! ```text
//!   SnapshotBegin{groups, offsets} | Group record per group | Offset record
//!   per committed offset | SnapshotEnd{begin_offset}
//! ```
//!
//! Once those records are fdatasync'ed the log start moves to the
//! snapshot's first offset (`delete_records_before`) and whole segments
//! before it are deleted. Loading reads from the log start, so it reads one
//! snapshot plus what came after it. Replaying a snapshot's records over
//! the older records they repeat gives the same state, so a crash anywhere
//! in between (before the start moved) loses nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use kafka_protocol::ResponseError;

use super::limits::{OFFSETS_PARTITIONS, TIMER_TICK};
use super::offsets_log::{log_config, LoadError, LoadStats, OffsetsLog};
use super::record::LogRecord;
use super::state::Group;
use super::{partition_for, OFFSETS_TOPIC};
use crate::shard::{partition_dir, Shard};

type Groups = HashMap<String, Group>;

/// Opens the offsets-log partitions this shard owns and starts, in the
/// background, loading them and the shard's group timer. Runs before the
/// broker listens; the loading runs once it does.
pub async fn start(shard: &Rc<Shard>) -> Result<(), String> {
    let config = log_config(shard.config.log_config());
    for partition in 0..OFFSETS_PARTITIONS {
        if shard.owner_of(OFFSETS_TOPIC, partition) != shard.id {
            continue;
        }
        let dir = partition_dir(&shard.log_dir, OFFSETS_TOPIC, partition);
        let log = OffsetsLog::open_in(&shard.storage, &dir, config.clone(), partition)
            .await
            .map_err(|error| format!("opening {}: {error}", dir.display()))?;
        shard
            .coordinator
            .logs
            .borrow_mut()
            .insert(partition, Rc::new(log));
    }
    let loader = shard.clone();
    glommio::spawn_local(async move { load_all(&loader).await }).detach();
    let ticker = shard.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(TIMER_TICK).await;
            super::timer::tick(&ticker);
        }
    })
    .detach();
    Ok(())
}

/// Flushes and closes the shard's offsets-log partitions (shutdown).
pub async fn stop(shard: &Shard) {
    let logs: Vec<_> = std::mem::take(&mut *shard.coordinator.logs.borrow_mut())
        .into_values()
        .collect();
    for log in logs {
        let partition = log.partition;
        let closed = match Rc::try_unwrap(log) {
            Ok(log) => log.close().await,
            Err(log) => log.flush().await,
        };
        if let Err(error) = closed {
            tracing::error!("closing {OFFSETS_TOPIC}-{partition}: {error}");
        }
    }
}

async fn load_all(shard: &Rc<Shard>) {
    let logs: Vec<Rc<OffsetsLog>> = shard.coordinator.logs.borrow().values().cloned().collect();
    for log in logs {
        let started = Instant::now();
        match load(shard, &log).await {
            Ok(stats) if stats.records > 0 => tracing::info!(
                shard = shard.id,
                partition = log.partition,
                records = stats.records,
                bytes = stats.bytes,
                log_start_offset = stats.log_start_offset,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded {OFFSETS_TOPIC}-{}",
                log.partition
            ),
            Ok(_) => {}
            // The partition stays unloaded: its groups get
            // COORDINATOR_LOAD_IN_PROGRESS and nothing is written over it.
            Err(error) => tracing::error!(
                "cannot load {OFFSETS_TOPIC}-{}: {error}; its groups stay unavailable",
                log.partition
            ),
        }
    }
}

/// Reads a partition back into groups, then drops offsets of topics that
/// were deleted meanwhile.
async fn load(shard: &Rc<Shard>, log: &Rc<OffsetsLog>) -> Result<LoadStats, LoadError> {
    let (groups, stats) = read_back(log).await?;
    shard.coordinator.groups.borrow_mut().extend(groups);
    log.set_loaded(stats);
    super::offsets::purge_here(shard).await;
    Ok(stats)
}

/// The groups a partition's log describes, replayed from its start.
async fn read_back(log: &OffsetsLog) -> Result<(Groups, LoadStats), LoadError> {
    let now = Instant::now();
    let mut groups = Groups::default();
    let stats = log
        .read_all(|_, record| replay(&mut groups, record, now))
        .await?;
    // Offsets whose tombstones emptied a group that was never stored.
    groups.retain(|_, group| !group.is_vacant());
    Ok((groups, stats))
}

/// Applies one stored record to the state being loaded.
fn replay(groups: &mut Groups, record: LogRecord, now: Instant) {
    match record {
        LogRecord::Offset {
            group_id,
            topic,
            partition,
            value: Some(value),
        } => {
            groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id))
                .offsets
                .insert((topic, partition), value);
        }
        LogRecord::Offset {
            group_id,
            topic,
            partition,
            value: None,
        } => {
            if let Some(group) = groups.get_mut(&group_id) {
                group.offsets.remove(&(topic, partition));
            }
        }
        LogRecord::Group {
            group_id,
            value: Some(value),
        } => groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id))
            .restore(value, now),
        // A group tombstone deletes the group and its offsets.
        LogRecord::Group {
            group_id,
            value: None,
        } => {
            groups.remove(&group_id);
        }
        LogRecord::SnapshotBegin { .. } | LogRecord::SnapshotEnd { .. } => {}
    }
}

/// Records appended and the offset durability must reach.
pub struct Pending {
    log: Rc<OffsetsLog>,
    end: engine::Offset,
}

impl Pending {
    pub async fn durable(self) -> Result<(), engine::Error> {
        self.log.wait_durable(self.end).await
    }

    /// Lets the records become durable without anyone waiting (a leave or
    /// an expiry: nobody is answered about them); a failure is logged.
    pub fn in_background(self, what: &'static str) {
        glommio::spawn_local(async move {
            if let Err(error) = self.durable().await {
                tracing::error!("storing {what} in {OFFSETS_TOPIC}: {error}");
            }
        })
        .detach();
    }
}

/// Appends `records` to the group's partition now (they take offsets in
/// call order), then writes a snapshot if one is due. Call it in the same
/// synchronous step as the state change the records describe.
pub fn append(
    shard: &Rc<Shard>,
    log: &Rc<OffsetsLog>,
    records: &[LogRecord],
) -> Result<Pending, engine::Error> {
    append_to(&shard.coordinator.groups, log, records)
}

fn append_to(
    groups: &RefCell<Groups>,
    log: &Rc<OffsetsLog>,
    records: &[LogRecord],
) -> Result<Pending, engine::Error> {
    let appended = log.append(records)?;
    maybe_snapshot(groups, log);
    Ok(Pending {
        log: log.clone(),
        end: appended.end,
    })
}

/// Appends the group's metadata record if its durable part changed.
/// None: nothing to store.
pub fn store_metadata(
    shard: &Rc<Shard>,
    log: &Rc<OffsetsLog>,
    group_id: &str,
) -> Option<Result<Pending, engine::Error>> {
    let record = shard
        .coordinator
        .groups
        .borrow_mut()
        .get_mut(group_id)
        .and_then(Group::take_metadata_record)?;
    Some(append(shard, log, &[record]))
}

/// The partition's whole state, as the log last said it.
fn snapshot_records(groups: &Groups, partition: i32) -> Vec<LogRecord> {
    let mut records = vec![LogRecord::SnapshotBegin {
        groups: 0,
        offsets: 0,
    }];
    let (mut group_count, mut offset_count) = (0, 0);
    for (group_id, group) in groups.iter() {
        if partition_for(group_id) != partition {
            continue;
        }
        if let Some(value) = &group.stored_metadata {
            group_count += 1;
            records.push(LogRecord::Group {
                group_id: group_id.clone(),
                value: Some(value.clone()),
            });
        }
        for ((topic, index), value) in &group.offsets {
            offset_count += 1;
            records.push(LogRecord::Offset {
                group_id: group_id.clone(),
                topic: topic.clone(),
                partition: *index,
                value: Some(value.clone()),
            });
        }
    }
    records[0] = LogRecord::SnapshotBegin {
        groups: group_count,
        offsets: offset_count,
    };
    records
}

fn maybe_snapshot(groups: &RefCell<Groups>, log: &Rc<OffsetsLog>) {
    if !log.wants_snapshot() {
        return;
    }
    let mut records = snapshot_records(&groups.borrow(), log.partition);
    let begin = log.log_end_offset();
    records.push(LogRecord::SnapshotEnd {
        begin_offset: begin.0,
    });
    let appended = match log.append(&records) {
        Ok(appended) => appended,
        Err(error) => {
            tracing::warn!("snapshot of {OFFSETS_TOPIC}-{}: {error}", log.partition);
            return;
        }
    };
    assert_eq!(appended.begin, begin, "a snapshot is one contiguous run");
    log.snapshot_started(appended.bytes);
    let log = log.clone();
    glommio::spawn_local(async move {
        let outcome = match log.wait_durable(appended.end).await {
            Ok(()) => log.snapshot_done(begin).await.map(|_| ()),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => tracing::debug!(
                partition = log.partition,
                records = records.len(),
                bytes = appended.bytes,
                "snapshot of {OFFSETS_TOPIC}-{} written; log starts at {}",
                log.partition,
                begin.0
            ),
            Err(error) => tracing::warn!("snapshot of {OFFSETS_TOPIC}-{}: {error}", log.partition),
        }
    })
    .detach();
}

/// Kafka's mapping of a failed offset-commit write (GroupMetadataManager):
/// too large → INVALID_COMMIT_OFFSET_SIZE; the log failed or closed →
/// NOT_COORDINATOR, so the client looks for the coordinator again.
pub fn commit_error(error: &engine::Error) -> ResponseError {
    match crate::error_code::for_engine(error) {
        ResponseError::MessageTooLarge => ResponseError::InvalidCommitOffsetSize,
        _ => ResponseError::NotCoordinator,
    }
}

/// The same for a group-metadata write (SyncGroup, a static rejoin): too
/// large → UNKNOWN_SERVER_ERROR, else NOT_COORDINATOR.
pub fn group_store_error(error: &engine::Error) -> ResponseError {
    match crate::error_code::for_engine(error) {
        ResponseError::MessageTooLarge => ResponseError::UnknownServerError,
        _ => ResponseError::NotCoordinator,
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
