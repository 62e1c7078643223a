//! A shard: one glommio executor pinned to a core, owning a set of
//! partitions outright. Shards share no mutable state; a request that needs
//! another shard's partition sends it a job over the channel mesh and
//! awaits the answer.
//!
//! ```text
//!  connection on shard 0 ──produce t-3──▶ shard_of("t", 3) = 1
//!        │                                   │ job runs on shard 1,
//!        ◀──────── PartitionResult ──────────┘ touches only shard 1's state
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use engine::PartitionLog;
use futures_channel::oneshot;
use futures_util::StreamExt;
use glommio::channels::channel_mesh::{Receivers, Senders};

use crate::capacity::Capacity;
use crate::config::BrokerConfig;
use crate::topic_config::log_config_for;
use crate::topics::{TopicMeta, TopicTable};

/// A unit of work sent to another shard: it runs there with that shard's state.
pub type Job = Box<dyn FnOnce(Rc<Shard>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The other shard went away (shutting down).
#[derive(Debug, Clone, Copy)]
pub struct ShardGone;

/// Which shard owns a partition: FNV-1a of the topic plus the partition.
pub fn shard_of(topic: &str, partition: i32, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    (hash.wrapping_add(partition as u64) % shards as u64) as usize
}

/// Sleeps until `deadline`.
pub async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        glommio::timer::sleep(deadline - now).await;
    }
}

/// Lets the executor run other tasks if this one has had its share: long
/// CPU work on a shard (inflating a batch to validate it) calls it
/// between pieces.
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// Runs `work` on the shard's blocking pool and waits for it: for work
/// that may block on the disk or costs CPU the shard should not spend.
pub async fn run_blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(work).await
}

/// Runs `future` until `deadline`: `None` if the deadline came first.
pub async fn until<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let timer = std::pin::pin!(sleep_until(deadline));
    match futures_util::future::select(std::pin::pin!(future), timer).await {
        futures_util::future::Either::Left((output, _)) => Some(output),
        futures_util::future::Either::Right(_) => None,
    }
}

pub fn partition_dir(log_dir: &std::path::Path, topic: &str, partition: i32) -> PathBuf {
    log_dir.join(format!("{topic}-{partition}"))
}

pub struct Shard {
    pub id: usize,
    pub count: usize,
    pub config: Arc<BrokerConfig>,
    pub log_dir: PathBuf,
    pub topics: RefCell<TopicTable>,
    partitions: RefCell<HashMap<(String, i32), Rc<PartitionLog>>>,
    senders: Senders<Job>,
    /// The sockets of this shard's open connections, by connection id,
    /// so a stopping shard can end their reads (`stop_reading_connections`).
    open_connections: RefCell<HashMap<u64, std::os::fd::RawFd>>,
    next_connection_id: Cell<u64>,
    /// Request bytes this shard's connections may hold in flight
    /// (`queued.max.request.bytes`), if bounded; see `frame_reader`.
    pub request_budget: Option<Rc<crate::request_budget::RequestBudget>>,
    /// Set once the broker is shutting down: long waits end early.
    pub stopping: Cell<bool>,
    /// Serialises topic-table changes (used on the controller shard).
    pub controller_changes: Rc<glommio::sync::Semaphore>,
    /// Producer ids: the next to hand out and the end of the block
    /// persisted in `__ringlog_producer_ids` (controller shard only).
    pub producer_ids: Cell<(i64, i64)>,
    /// The groups this shard coordinates and their offsets-log partitions.
    pub coordinator: crate::group::Coordinator,
    /// Where this shard's partitions live; its storage events (a partition
    /// offline, a full disk, a recovery truncation) are logged and counted.
    pub storage: engine::Storage,
}

/// The name of the partition a log directory holds (`topic-3`).
fn partition_name(dir: &std::path::Path) -> std::borrow::Cow<'_, str> {
    dir.file_name()
        .map_or_else(|| dir.to_string_lossy(), |name| name.to_string_lossy())
}

/// Logs a storage event: every offline partition and every recovery
/// truncation, and a disk-full episode once per shard (when its first
/// partition finds the disk full and when the last one gets space back);
/// each partition's own episode at debug level. Counted in `metrics`.
fn log_storage_event(shard: usize, event: &engine::StorageEvent<'_>) {
    use crate::metrics::DiskFullTransition;
    use engine::StorageEvent;
    let transition = crate::metrics::count_storage_event(event);
    match event {
        StorageEvent::Offline { dir, error } => tracing::error!(
            shard,
            partition = %partition_name(dir),
            %error,
            "partition offline after an I/O error: it refuses reads and writes \
             (KAFKA_STORAGE_ERROR) until the broker restarts and recovers it"
        ),
        StorageEvent::DiskFull { dir, error } if error.is_descriptor_limit() => tracing::warn!(
            shard,
            partition = %partition_name(dir),
            %error,
            "out of file descriptors: this partition's appends get KAFKA_STORAGE_ERROR until \
             its files can be opened again (it stays online; raise `ulimit -n`)"
        ),
        StorageEvent::DiskFull { dir, error } => {
            if transition == DiskFullTransition::Began {
                tracing::warn!(
                    shard,
                    partition = %partition_name(dir),
                    %error,
                    "disk full: appends get KAFKA_STORAGE_ERROR until space returns \
                     (delete topics or records, or free space on the log directory)"
                );
            } else {
                tracing::debug!(shard, partition = %partition_name(dir), %error, "disk full");
            }
        }
        StorageEvent::DiskFullEnded {
            dir,
            duration,
            refused_appends,
            space_returned,
        } => {
            let what = if *space_returned {
                "disk space returned: appends are accepted again"
            } else {
                "disk-full episode over: the partition waiting for space was closed or deleted"
            };
            if transition == DiskFullTransition::Ended {
                tracing::warn!(
                    shard,
                    partition = %partition_name(dir),
                    duration_ms = duration.as_millis() as u64,
                    refused_appends = crate::metrics::storage_counters().disk_full_refused_appends,
                    "{what}"
                );
            } else {
                tracing::debug!(
                    shard,
                    partition = %partition_name(dir),
                    duration_ms = duration.as_millis() as u64,
                    refused_appends,
                    "{what}"
                );
            }
        }
        StorageEvent::PreallocationFailed { dir, error } => tracing::debug!(
            shard,
            partition = %partition_name(dir),
            %error,
            "preallocation failed; writing without it"
        ),
        StorageEvent::RecoveryTruncated {
            dir,
            segment,
            file_bytes,
            valid_bytes,
            later_segments,
        } => tracing::warn!(
            shard,
            partition = %partition_name(dir),
            segment = segment.0,
            file_bytes,
            valid_bytes,
            later_segments,
            "recovery truncated a torn or invalid tail"
        ),
    }
}

impl Shard {
    pub fn new(
        id: usize,
        count: usize,
        config: Arc<BrokerConfig>,
        senders: Senders<Job>,
        capacity: &Capacity,
    ) -> Shard {
        let request_budget = config
            .queued_max_request_bytes()
            .map(crate::request_budget::RequestBudget::new);
        Shard {
            id,
            count,
            log_dir: config.log_dir(),
            config,
            topics: RefCell::new(TopicTable::default()),
            partitions: RefCell::new(HashMap::new()),
            senders,
            open_connections: RefCell::new(HashMap::new()),
            next_connection_id: Cell::new(0),
            request_budget,
            stopping: Cell::new(false),
            controller_changes: Rc::new(glommio::sync::Semaphore::new(1)),
            producer_ids: Cell::new((0, 0)),
            coordinator: crate::group::Coordinator::default(),
            storage: engine::Storage::os()
                .with_events(move |event| log_storage_event(id, event))
                .with_read_ahead(crate::sendfile_pool::read_ahead())
                .with_open_segments_max(capacity.open_segments_per_shard)
                .with_tail_cache_bytes_max(capacity.tail_cache_bytes_per_shard),
        }
    }

    pub fn owner_of(&self, topic: &str, partition: i32) -> usize {
        shard_of(topic, partition, self.count)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Rc<PartitionLog>> {
        self.partitions
            .borrow()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    pub fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.topics.borrow().topics.get(name).cloned()
    }

    /// The name of the topic with this id, from this shard's copy.
    pub fn topic_name_of(&self, topic_id: uuid::Uuid) -> Option<String> {
        self.topics
            .borrow()
            .name_of(topic_id.as_u128())
            .map(str::to_string)
    }

    /// Registers an open connection's socket; returns its id, which
    /// [`Shard::connection_closed`] takes back before the socket is closed.
    pub fn connection_opened(&self, socket: std::os::fd::RawFd) -> u64 {
        let id = self.next_connection_id.get();
        self.next_connection_id.set(id + 1);
        self.open_connections.borrow_mut().insert(id, socket);
        id
    }

    pub fn connection_closed(&self, id: u64) {
        self.open_connections.borrow_mut().remove(&id);
    }

    pub fn open_connection_count(&self) -> usize {
        self.open_connections.borrow().len()
    }

    /// Shuts the read side of every open connection: a connection waiting
    /// for its next request sees the end of its input at once, answers what
    /// it has started and closes, instead of holding the shutdown until the
    /// client speaks or the drain deadline passes.
    pub fn stop_reading_connections(&self) {
        for socket in self.open_connections.borrow().values() {
            // SAFETY: shutdown has no memory effects; a connection removes
            // its socket here before closing it, so every listed one is open.
            unsafe { nix::libc::shutdown(*socket, nix::libc::SHUT_RD) };
        }
    }

    /// Runs `job` on shard `target` (here, if it is this shard) and returns its result.
    pub async fn call<R, F, Fut>(self: &Rc<Self>, target: usize, job: F) -> Result<R, ShardGone>
    where
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        if target == self.id {
            return Ok(job(self.clone()).await);
        }
        let (sender, receiver) = oneshot::channel();
        let boxed: Job = Box::new(move |shard| {
            Box::pin(async move {
                let _ = sender.send(job(shard).await);
            })
        });
        if self.senders.send_to(target, boxed).await.is_err() {
            return Err(ShardGone);
        }
        receiver.await.map_err(|_| ShardGone)
    }

    /// Serves jobs sent by the other shards, each on its own task.
    pub fn spawn_job_receivers(self: &Rc<Self>, receivers: Receivers<Job>) {
        let receivers = Rc::new(receivers);
        for peer in 0..self.count {
            if peer == self.id {
                continue;
            }
            let shard = self.clone();
            let receivers = receivers.clone();
            glommio::spawn_local(async move {
                while let Ok(Some(job)) = receivers.recv_from(peer).await {
                    glommio::spawn_local(job(shard.clone())).detach();
                }
            })
            .detach();
        }
    }

    /// Takes a new topic table: opens the partitions this shard owns that
    /// are new, applies config changes, and closes (and deletes) the
    /// partitions of topics that are gone.
    pub async fn apply_topics(self: &Rc<Self>, table: TopicTable) -> Result<(), String> {
        let mut wanted = Vec::new();
        for (name, meta) in &table.topics {
            for partition in 0..meta.partitions {
                if self.owner_of(name, partition) == self.id {
                    wanted.push((name.clone(), partition, meta.configs.clone()));
                }
            }
        }
        *self.topics.borrow_mut() = table;
        let mut opening = Vec::new();
        for (name, partition, configs) in wanted {
            let log_config = log_config_for(&self.config, &configs)?;
            if let Some(log) = self.partition(&name, partition) {
                if log.config() != log_config {
                    log.set_config(log_config)
                        .map_err(|error| error.to_string())?;
                }
                continue;
            }
            opening.push((name, partition, log_config));
        }
        // Opened PARTITIONS_OPENING_MAX at a time: each waits on a few small
        // reads and the blocking pool, and one after the other 10,000 took
        // 9 s to start (bench/partition-density.sh).
        let mut opened = futures_util::stream::iter(opening.into_iter().map(
            |(name, partition, log_config)| async move {
                let dir = partition_dir(&self.log_dir, &name, partition);
                let log = PartitionLog::open_in(&self.storage, &dir, log_config)
                    .await
                    .map_err(|error| format!("opening {}: {error}", dir.display()))?;
                Ok::<_, String>((name, partition, log))
            },
        ))
        .buffer_unordered(crate::limits::PARTITIONS_OPENING_MAX);
        while let Some(result) = opened.next().await {
            let (name, partition, log) = result?;
            self.partitions
                .borrow_mut()
                .insert((name, partition), Rc::new(log));
        }
        let gone: Vec<(String, i32)> = {
            let topics = self.topics.borrow();
            self.partitions
                .borrow()
                .keys()
                .filter(|(name, partition)| {
                    topics
                        .topics
                        .get(name)
                        .is_none_or(|meta| *partition >= meta.partitions)
                })
                .cloned()
                .collect()
        };
        for key in gone {
            let log = self.partitions.borrow_mut().remove(&key);
            drop(log);
            let dir = partition_dir(&self.log_dir, &key.0, key.1);
            let removed = glommio::executor()
                .spawn_blocking(move || std::fs::remove_dir_all(dir))
                .await;
            if let Err(error) = removed {
                tracing::warn!("removing partition {}-{}: {error}", key.0, key.1);
            }
        }
        Ok(())
    }

    /// All partitions this shard owns.
    pub fn owned_partitions(&self) -> Vec<((String, i32), Rc<PartitionLog>)> {
        self.partitions
            .borrow()
            .iter()
            .map(|(key, log)| (key.clone(), log.clone()))
            .collect()
    }

    /// Flushes and closes every partition cleanly.
    pub async fn close_partitions(&self) {
        let logs: Vec<_> = self.partitions.borrow_mut().drain().collect();
        for ((topic, partition), log) in logs {
            match Rc::try_unwrap(log) {
                Ok(log) => {
                    if let Err(error) = log.close().await {
                        tracing::error!("closing {topic}-{partition}: {error}");
                    }
                }
                Err(log) => {
                    if let Err(error) = log.flush().await {
                        tracing::error!("flushing {topic}-{partition}: {error}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_over_shards() {
        let mut counts = [0usize; 2];
        for partition in 0..8 {
            counts[shard_of("events", partition, 2)] += 1;
        }
        assert_eq!(counts, [4, 4]);
        assert_eq!(shard_of("events", 3, 1), 0);
    }
}
