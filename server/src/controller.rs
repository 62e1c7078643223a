//! Topic administration. Shard 0 is the controller: it alone changes the
//! topic table, one change at a time, stores it durably and hands every
//! shard its new copy before answering, so a topic is usable on every shard
//! once CreateTopics returns.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::ResponseError;

use crate::shard::Shard;
use crate::topics::{new_topic_id, valid_topic_name, TopicMeta, TopicTable};

pub const CONTROLLER_SHARD: usize = 0;

/// Brokers in the cluster: one until replication arrives.
const BROKERS: i16 = 1;

/// A topic to create, already defaulted.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

pub type AdminResult = Result<(), (ResponseError, String)>;

pub async fn create_topics(
    shard: &Rc<Shard>,
    topics: Vec<NewTopic>,
    validate_only: bool,
) -> Vec<AdminResult> {
    let count = topics.len();
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, broker| {
                topics
                    .iter()
                    .map(|topic| add(table, broker, topic, validate_only))
                    .collect()
            })
            .await
        })
        .await;
    answer.unwrap_or_else(|_| unavailable(count))
}

pub async fn delete_topics(shard: &Rc<Shard>, names: Vec<String>) -> Vec<AdminResult> {
    let count = names.len();
    if !shard.config.delete_topic_enable() {
        return vec![
            Err((
                ResponseError::TopicDeletionDisabled,
                "delete.topic.enable is false".into()
            ));
            count
        ];
    }
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, _| {
                names
                    .iter()
                    .map(|name| match table.topics.remove(name) {
                        Some(_) => Ok(()),
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("no topic {name}"),
                        )),
                    })
                    .collect()
            })
            .await
        })
        .await;
    // Committed offsets of the deleted topics go too, durably, on every shard.
    crate::group::purge_deleted_topics(shard).await;
    answer.unwrap_or_else(|_| unavailable(count))
}

/// Applies `edit` to a copy of the table; if anything changed, stores it
/// and installs it on every shard.
async fn change<F>(controller: Rc<Shard>, edit: F) -> Vec<AdminResult>
where
    F: FnOnce(&mut TopicTable, &crate::config::BrokerConfig) -> Vec<AdminResult>,
{
    let changes = controller.controller_changes.clone();
    let _permit = changes.acquire_static_permit(1).await;
    let mut table = controller.topics.borrow().clone();
    let before = table.clone();
    let results = edit(&mut table, &controller.config);
    if table == before {
        return results;
    }
    let mut stored = store(&controller, &table).await;
    let only_deletes = table
        .topics
        .keys()
        .all(|name| before.topics.contains_key(name));
    let mut installed = false;
    if let Err(error) = &stored {
        if only_deletes && is_out_of_space(error) {
            // Deleting topics is how space is freed, so it must work on a
            // full disk: delete the topics' data first, then store the
            // table. A crash in between brings the topics back, empty.
            tracing::warn!(
                "storing the topic table: {error}; deleting the topics' data first to make room"
            );
            install(&controller, &table).await;
            installed = true;
            stored = store(&controller, &table).await;
        }
    }
    if let Err(error) = stored {
        let message = format!("storing the topic table: {error}");
        tracing::error!("{message}");
        return results
            .into_iter()
            .map(|result| result.and(Err((ResponseError::KafkaStorageError, message.clone()))))
            .collect();
    }
    if !installed {
        install(&controller, &table).await;
    }
    log_topic_changes(&before, &table);
    results
}

fn is_out_of_space(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT)
    )
}

/// Writes the topic table durably (on the blocking pool).
async fn store(controller: &Rc<Shard>, table: &TopicTable) -> std::io::Result<()> {
    let log_dir = controller.log_dir.clone();
    let to_store = table.clone();
    glommio::executor()
        .spawn_blocking(move || to_store.store_blocking(&log_dir))
        .await
}

/// Hands every shard its copy of `table` (it opens, reconfigures and
/// deletes its partitions to match).
async fn install(controller: &Rc<Shard>, table: &TopicTable) {
    for target in 0..controller.count {
        let copy = table.clone();
        let applied = controller
            .call(target, move |shard| async move {
                shard.apply_topics(copy).await
            })
            .await;
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!("shard {target} could not apply the topic table: {error}")
            }
            Err(_) => tracing::error!("shard {target} is gone"),
        }
    }
}

/// One log line per topic created, deleted or given more partitions.
fn log_topic_changes(before: &TopicTable, after: &TopicTable) {
    for (name, meta) in &after.topics {
        match before.topics.get(name) {
            None => tracing::info!(
                topic = %name,
                partitions = meta.partitions,
                topic_id = %uuid::Uuid::from_u128(meta.topic_id),
                "topic created"
            ),
            Some(old) if old.partitions != meta.partitions => tracing::info!(
                topic = %name,
                from = old.partitions,
                to = meta.partitions,
                "topic partitions added"
            ),
            Some(_) => {}
        }
    }
    for (name, meta) in &before.topics {
        if !after.topics.contains_key(name) {
            tracing::info!(topic = %name, partitions = meta.partitions, "topic deleted");
        }
    }
}

fn add(
    table: &mut TopicTable,
    broker: &crate::config::BrokerConfig,
    topic: &NewTopic,
    validate_only: bool,
) -> AdminResult {
    if !valid_topic_name(&topic.name) {
        return Err((
            ResponseError::InvalidTopicException,
            format!("{:?} is not a legal topic name", topic.name),
        ));
    }
    if topic.name == crate::group::OFFSETS_TOPIC {
        return Err((
            ResponseError::TopicAlreadyExists,
            format!("{} is the broker's internal offsets topic", topic.name),
        ));
    }
    if table.topics.contains_key(&topic.name) {
        return Err((
            ResponseError::TopicAlreadyExists,
            format!("topic {} already exists", topic.name),
        ));
    }
    if topic.partitions < 1 || topic.partitions > crate::limits::PARTITIONS_PER_TOPIC_MAX {
        return Err((
            ResponseError::InvalidPartitions,
            format!("{} partitions is out of range", topic.partitions),
        ));
    }
    if topic.replication_factor < 1 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            "replication factor must be at least 1".into(),
        ));
    }
    if topic.replication_factor > BROKERS {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "replication factor {} is larger than the {BROKERS} available broker(s)",
                topic.replication_factor
            ),
        ));
    }
    crate::topic_config::validate(broker, &topic.configs)?;
    if !validate_only {
        table.topics.insert(
            topic.name.clone(),
            TopicMeta {
                partitions: topic.partitions,
                topic_id: new_topic_id(&topic.name),
                configs: topic.configs.clone(),
            },
        );
    }
    Ok(())
}

/// File holding the end of the last block of producer ids handed out.
pub const PRODUCER_IDS_FILE: &str = "__ringlog_producer_ids";
/// Producer ids reserved per write of that file.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// Hands out a producer id never given before, across restarts: ids come
/// from blocks whose end is made durable before the first id is used.
pub async fn allocate_producer_id(shard: &Rc<Shard>) -> Result<i64, (ResponseError, String)> {
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            let changes = controller.controller_changes.clone();
            let _permit = changes.acquire_static_permit(1).await;
            let (mut next, mut block_end) = controller.producer_ids.get();
            if next >= block_end {
                let path = controller.log_dir.join(PRODUCER_IDS_FILE);
                let stored = glommio::executor()
                    .spawn_blocking(move || -> std::io::Result<(i64, i64)> {
                        let start = match std::fs::read_to_string(&path) {
                            Ok(text) => text.trim().parse::<i64>().map_err(|error| {
                                std::io::Error::new(std::io::ErrorKind::InvalidData, error)
                            })?,
                            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
                            Err(error) => return Err(error),
                        };
                        let end = start + PRODUCER_ID_BLOCK;
                        let temporary = path.with_extension("tmp");
                        std::fs::write(&temporary, end.to_string())?;
                        std::fs::File::open(&temporary)?.sync_all()?;
                        std::fs::rename(&temporary, &path)?;
                        if let Some(dir) = path.parent() {
                            std::fs::File::open(dir)?.sync_all()?;
                        }
                        Ok((start, end))
                    })
                    .await
                    .map_err(|error| {
                        (
                            ResponseError::KafkaStorageError,
                            format!("storing producer ids: {error}"),
                        )
                    })?;
                (next, block_end) = stored;
            }
            controller.producer_ids.set((next + 1, block_end));
            Ok(next)
        })
        .await;
    answer.unwrap_or_else(|_| {
        Err((
            ResponseError::NotController,
            "controller unavailable".into(),
        ))
    })
}

/// A topic to grow to `count` partitions. `assignments` is how many replica
/// assignments the request listed (None: the broker places the replicas).
#[derive(Debug, Clone)]
pub struct PartitionGrowth {
    pub topic: String,
    pub count: i32,
    pub assignments: Option<usize>,
}

/// CreatePartitions: raises partition counts; every shard opens the new
/// partitions it owns before the answer. Counts never shrink.
pub async fn create_partitions(
    shard: &Rc<Shard>,
    growths: Vec<PartitionGrowth>,
    validate_only: bool,
) -> Vec<AdminResult> {
    let count = growths.len();
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, _| {
                growths
                    .iter()
                    .map(|growth| grow(table, growth, validate_only))
                    .collect()
            })
            .await
        })
        .await;
    answer.unwrap_or_else(|_| unavailable(count))
}

/// A topic's override set to change (AlterConfigs, IncrementalAlterConfigs).
#[derive(Debug, Clone)]
pub struct TopicConfigEdit {
    pub topic: String,
    pub change: crate::topic_config::ConfigChange,
}

/// Edits topic overrides; every shard applies the new settings to its
/// partitions (PartitionLog::set_config) before the answer.
pub async fn alter_topic_configs(
    shard: &Rc<Shard>,
    edits: Vec<TopicConfigEdit>,
    validate_only: bool,
) -> Vec<AdminResult> {
    let count = edits.len();
    let answer = shard
        .call(CONTROLLER_SHARD, move |controller| async move {
            change(controller, |table, broker| {
                edits
                    .iter()
                    .map(|edit| alter_configs_of(table, broker, edit, validate_only))
                    .collect()
            })
            .await
        })
        .await;
    answer.unwrap_or_else(|_| unavailable(count))
}

fn unavailable(count: usize) -> Vec<AdminResult> {
    vec![
        Err((
            ResponseError::NotController,
            "controller unavailable".into()
        ));
        count
    ]
}

fn grow(table: &mut TopicTable, growth: &PartitionGrowth, validate_only: bool) -> AdminResult {
    let Some(meta) = table.topics.get_mut(&growth.topic) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("topic {} does not exist", growth.topic),
        ));
    };
    if growth.count == meta.partitions {
        return Err((
            ResponseError::InvalidPartitions,
            format!("topic already has {} partitions", meta.partitions),
        ));
    }
    if growth.count < meta.partitions {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "topic has {} partitions, more than the requested {}: partitions cannot be removed",
                meta.partitions, growth.count
            ),
        ));
    }
    if growth.count > crate::limits::PARTITIONS_PER_TOPIC_MAX {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "{} partitions is more than the {} a topic may have",
                growth.count,
                crate::limits::PARTITIONS_PER_TOPIC_MAX
            ),
        ));
    }
    let added = (growth.count - meta.partitions) as usize;
    if let Some(assignments) = growth.assignments.filter(|&listed| listed != added) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            format!("adding {added} partitions but {assignments} assignments were given"),
        ));
    }
    if !validate_only {
        meta.partitions = growth.count;
    }
    Ok(())
}

fn alter_configs_of(
    table: &mut TopicTable,
    broker: &crate::config::BrokerConfig,
    edit: &TopicConfigEdit,
    validate_only: bool,
) -> AdminResult {
    let Some(meta) = table.topics.get_mut(&edit.topic) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("topic {} does not exist", edit.topic),
        ));
    };
    let configs = crate::topic_config::apply(&meta.configs, &edit.change, broker)?;
    crate::topic_config::validate(broker, &configs)?;
    if !validate_only {
        meta.configs = configs;
    }
    Ok(())
}
