//! Committed offsets on the coordinator shard: OffsetCommit (answered once
//! the records are fdatasync'ed), OffsetFetch, OffsetDelete, and dropping
//! the offsets of deleted topics.
//!
//! A commit changes memory and appends its records in one synchronous step,
//! so the log holds commits in the order memory saw them, even when
//! several commits of one partition are in flight.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use kafka_protocol::ResponseError;

use super::limits::OFFSET_METADATA_BYTES_MAX;
use super::offsets_log::OffsetsLog;
use super::record::{LogRecord, OffsetValue};
use super::state::{now_ms, Group, GroupState};
use super::store::{self, commit_error};
use crate::shard::Shard;

#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub group_id: String,
    /// -1 for a consumer that only stores offsets (assign()).
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<(String, Vec<CommitPartition>)>,
}

/// Per topic, per partition (in request order): the error, if any.
pub type CommitOutcome = Vec<Vec<Option<ResponseError>>>;

fn every_partition(request: &CommitRequest, error: ResponseError) -> CommitOutcome {
    request
        .topics
        .iter()
        .map(|(_, partitions)| vec![Some(error); partitions.len()])
        .collect()
}

fn partition_exists(shard: &Shard, topic: &str, partition: i32) -> bool {
    shard
        .topic(topic)
        .is_some_and(|meta| (0..meta.partitions).contains(&partition))
}

pub async fn commit(shard: Rc<Shard>, request: CommitRequest) -> CommitOutcome {
    let log = match shard.coordinator.loaded_log(&request.group_id) {
        Ok(log) => log,
        Err(error) => return every_partition(&request, error),
    };
    let (mut outcome, records) = match apply_commit(&shard, &request) {
        Ok(applied) => applied,
        Err(error) => return every_partition(&request, error),
    };
    if records.is_empty() {
        return outcome;
    }
    let written = match store::append(&shard, &log, &records) {
        Ok(pending) => pending.durable().await,
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        tracing::warn!(group = %request.group_id, "storing a commit failed: {error}");
        let code = commit_error(&error);
        for result in outcome.iter_mut().flatten() {
            result.get_or_insert(code);
        }
    }
    outcome
}

/// Validates the commit, updates memory and returns the records to append.
fn apply_commit(
    shard: &Shard,
    request: &CommitRequest,
) -> Result<(CommitOutcome, Vec<LogRecord>), ResponseError> {
    let mut groups = shard.coordinator.groups.borrow_mut();
    let group_id = &request.group_id;
    if !groups.contains_key(group_id) {
        if request.generation_id >= 0 {
            // A member of a generation this coordinator never saw.
            return Err(ResponseError::IllegalGeneration);
        }
        groups.insert(group_id.clone(), Group::new(group_id.clone()));
    }
    let group = groups.get_mut(group_id).expect("inserted above");
    if let Err(error) = group.validate_commit(
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
        Instant::now(),
    ) {
        tracing::debug!(
            group = %group_id,
            member = %request.member_id,
            generation = request.generation_id,
            group_generation = group.generation_id,
            state = group.state.name(),
            "commit refused: {error:?}"
        );
        return Err(error);
    }
    let commit_timestamp_ms = now_ms();
    let mut records = Vec::new();
    let mut outcome = Vec::with_capacity(request.topics.len());
    for (topic, partitions) in &request.topics {
        let mut results = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let metadata = partition.metadata.clone().unwrap_or_default();
            if metadata.len() > OFFSET_METADATA_BYTES_MAX {
                results.push(Some(ResponseError::OffsetMetadataTooLarge));
                continue;
            }
            if !partition_exists(shard, topic, partition.partition) {
                results.push(Some(ResponseError::UnknownTopicOrPartition));
                continue;
            }
            let value = OffsetValue {
                offset: partition.offset,
                leader_epoch: partition.leader_epoch,
                metadata,
                commit_timestamp_ms,
            };
            group
                .offsets
                .insert((topic.clone(), partition.partition), value.clone());
            records.push(LogRecord::Offset {
                group_id: group_id.clone(),
                topic: topic.clone(),
                partition: partition.partition,
                value: Some(value),
            });
            results.push(None);
        }
        outcome.push(results);
    }
    if group.is_vacant() {
        groups.remove(group_id);
    }
    Ok((outcome, records))
}

/// A committed offset as OffsetFetch reports it; -1 and "" when none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

impl FetchedOffset {
    fn unknown(partition: i32) -> FetchedOffset {
        FetchedOffset {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        }
    }
}

/// The group's committed offsets for `topics` (None: every committed one).
pub async fn fetch_offsets(
    shard: Rc<Shard>,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Vec<FetchedOffset>)>, ResponseError> {
    shard.coordinator.loaded_log(&group_id)?;
    let groups = shard.coordinator.groups.borrow();
    let offsets = groups.get(&group_id).map(|group| &group.offsets);
    let found = |topic: &str, partition: i32| {
        offsets
            .and_then(|offsets| offsets.get(&(topic.to_string(), partition)))
            .map_or(FetchedOffset::unknown(partition), |value| FetchedOffset {
                partition,
                offset: value.offset,
                leader_epoch: value.leader_epoch,
                metadata: value.metadata.clone(),
            })
    };
    Ok(match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let fetched = partitions
                    .iter()
                    .map(|&partition| found(&topic, partition))
                    .collect();
                (topic, fetched)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<FetchedOffset>> = BTreeMap::new();
            for (topic, partition) in offsets.into_iter().flat_map(BTreeMap::keys) {
                by_topic
                    .entry(topic.clone())
                    .or_default()
                    .push(found(topic, *partition));
            }
            by_topic.into_iter().collect()
        }
    })
}

/// OffsetDelete: per topic, per partition, the error if any. Offsets of
/// topics a non-empty consumer group subscribes to stay
/// (GROUP_SUBSCRIBED_TO_TOPIC); other non-empty groups: NON_EMPTY_GROUP.
pub async fn delete_offsets(
    shard: Rc<Shard>,
    group_id: String,
    topics: Vec<(String, Vec<i32>)>,
) -> Result<Vec<Vec<Option<ResponseError>>>, ResponseError> {
    let log = shard.coordinator.loaded_log(&group_id)?;
    let (outcome, records) = {
        let mut groups = shard.coordinator.groups.borrow_mut();
        let group = groups
            .get_mut(&group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        let subscribed = match group.state {
            GroupState::Empty => None,
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            _ if group.protocol_type.as_deref() == Some("consumer") => {
                Some(group.subscribed_topics())
            }
            _ => return Err(ResponseError::NonEmptyGroup),
        };
        let mut records = Vec::new();
        let outcome = topics
            .iter()
            .map(|(topic, partitions)| {
                // An unreadable subscription counts as subscribed to everything.
                let consumed = subscribed
                    .as_ref()
                    .is_some_and(|topics| topics.as_ref().is_none_or(|set| set.contains(topic)));
                partitions
                    .iter()
                    .map(|&partition| {
                        if consumed {
                            return Some(ResponseError::GroupSubscribedToTopic);
                        }
                        if group.offsets.remove(&(topic.clone(), partition)).is_some() {
                            records.push(tombstone(&group_id, topic, partition));
                        }
                        None
                    })
                    .collect()
            })
            .collect();
        (outcome, records)
    };
    if !records.is_empty() {
        let written = match store::append(&shard, &log, &records) {
            Ok(pending) => pending.durable().await,
            Err(error) => Err(error),
        };
        written.map_err(|error| commit_error(&error))?;
    }
    Ok(outcome)
}

fn tombstone(group_id: &str, topic: &str, partition: i32) -> LogRecord {
    LogRecord::Offset {
        group_id: group_id.to_string(),
        topic: topic.to_string(),
        partition,
        value: None,
    }
}

/// After DeleteTopics: every shard drops the committed offsets of topics
/// that no longer exist and stores tombstones for them before this returns.
pub async fn purge_deleted_topics(shard: &Rc<Shard>) {
    for target in 0..shard.count {
        if shard
            .call(target, |owner| async move { purge_here(&owner).await })
            .await
            .is_err()
        {
            tracing::warn!("shard {target} is gone: its offsets of deleted topics stay");
        }
    }
}

/// Drops this shard's offsets of topics not in its topic table.
pub async fn purge_here(shard: &Rc<Shard>) {
    let logs: Vec<Rc<OffsetsLog>> = shard
        .coordinator
        .logs
        .borrow()
        .values()
        .filter(|log| log.is_loaded())
        .cloned()
        .collect();
    let mut pending = Vec::new();
    for log in logs {
        let records = {
            let mut groups = shard.coordinator.groups.borrow_mut();
            let mut records = Vec::new();
            for (group_id, group) in groups.iter_mut() {
                if super::partition_for(group_id) != log.partition {
                    continue;
                }
                let gone: Vec<(String, i32)> = group
                    .offsets
                    .keys()
                    .filter(|(topic, _)| shard.topic(topic).is_none())
                    .cloned()
                    .collect();
                for key in gone {
                    group.offsets.remove(&key);
                    records.push(tombstone(group_id, &key.0, key.1));
                }
            }
            groups.retain(|_, group| !group.is_vacant());
            records
        };
        if records.is_empty() {
            continue;
        }
        match store::append(shard, &log, &records) {
            Ok(written) => pending.push(written),
            Err(error) => tracing::warn!("dropping offsets of deleted topics: {error}"),
        }
    }
    for written in pending {
        if let Err(error) = written.durable().await {
            tracing::warn!("dropping offsets of deleted topics: {error}");
        }
    }
}
