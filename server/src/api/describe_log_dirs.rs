//! DescribeLogDirs: the one log directory and the size of every partition
//! in it, gathered from every shard (each reports the partitions it owns).
//! A null topic list means every partition; otherwise only the named
//! topics and partitions are listed. There are no future replicas and no
//! followers, so offset_lag is 0 and is_future_key false.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use futures_util::future::join_all;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::reply::Reply;
use super::{encode, Preamble};
use crate::error_code;
use crate::shard::Shard;

/// Partition sizes by topic, then partition.
type Sizes = BTreeMap<String, BTreeMap<i32, u64>>;

pub async fn handle(
    shard: &Rc<Shard>,
    preamble: Preamble,
    request: DescribeLogDirsRequest,
) -> Reply {
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| (topic.topic.to_string(), topic.partitions.clone()))
            .collect()
    });
    let sizes = match gather(shard).await {
        Ok(sizes) => sizes,
        Err(error) => {
            return encode(
                preamble,
                &DescribeLogDirsResponse::default().with_error_code(error.code()),
            )
        }
    };
    let topics = sizes
        .into_iter()
        .filter_map(|(topic, partitions)| {
            let partitions: Vec<DescribeLogDirsPartition> = partitions
                .into_iter()
                .filter(|(partition, _)| is_wanted(&wanted, &topic, *partition))
                .map(|(partition, size)| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(partition)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(0)
                        .with_is_future_key(false)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(partitions)
            })
        })
        .collect();
    let log_dir = std::path::absolute(&shard.log_dir).unwrap_or_else(|_| shard.log_dir.clone());
    let (total_bytes, usable_bytes) = disk_space(&log_dir).await;
    let result = DescribeLogDirsResult::default()
        .with_error_code(error_code::NONE)
        .with_log_dir(StrBytes::from_string(log_dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total_bytes)
        .with_usable_bytes(usable_bytes);
    encode(
        preamble,
        &DescribeLogDirsResponse::default()
            .with_error_code(error_code::NONE)
            .with_results(vec![result]),
    )
}

fn is_wanted(wanted: &Option<BTreeMap<String, Vec<i32>>>, topic: &str, partition: i32) -> bool {
    match wanted {
        None => true,
        Some(wanted) => wanted
            .get(topic)
            .is_some_and(|partitions| partitions.contains(&partition)),
    }
}

/// Asks every shard for the sizes of the partitions it owns.
async fn gather(shard: &Rc<Shard>) -> Result<Sizes, ResponseError> {
    let answers = join_all((0..shard.count).map(|target| {
        shard.call(target, |owner| async move {
            owner
                .owned_partitions()
                .into_iter()
                .map(|((topic, partition), log)| (topic, partition, log.size_bytes()))
                .collect::<Vec<_>>()
        })
    }))
    .await;
    let mut sizes = Sizes::new();
    for answer in answers {
        let owned = answer.map_err(|_| ResponseError::KafkaStorageError)?;
        for (topic, partition, size) in owned {
            sizes.entry(topic).or_default().insert(partition, size);
        }
    }
    Ok(sizes)
}

/// The file system's total and available bytes (-1 when unknown).
async fn disk_space(log_dir: &Path) -> (i64, i64) {
    let dir = log_dir.to_path_buf();
    let stats = glommio::executor()
        .spawn_blocking(move || nix::sys::statvfs::statvfs(&dir))
        .await;
    match stats {
        Ok(stats) => {
            let fragment = stats.fragment_size() as i64;
            (
                (stats.blocks() as i64).saturating_mul(fragment),
                (stats.blocks_available() as i64).saturating_mul(fragment),
            )
        }
        Err(_) => (-1, -1),
    }
}
