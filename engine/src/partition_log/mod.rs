//! A partition's log: an ordered list of segments, the last one active.
//!
//! Concurrency contract: a `PartitionLog` belongs to one shard (one glommio
//! executor thread) and is `!Send`. Appends take `&self` and run their
//! in-memory part without awaiting, so concurrent appends on the shard get
//! offsets in the order they arrive. A per-partition writer task (see
//! `writer.rs`) puts appended bytes on disk with direct I/O and runs the
//! fdatasyncs; appenders wait on it through one-shot channels.
//!
//! Offsets, each with what it guarantees:
//! ```text
//!   log_start_offset <= flushed_offset <= written_offset <= log_end_offset
//!   flushed_offset:  every batch below it is fdatasync'ed (survives power loss)
//!   written_offset:  every batch below it is in the file (survives kill -9);
//!                    this is the high watermark readers see
//!   log_end_offset:  the next offset to assign (appended to memory)
//! ```

mod health;
mod invariants;
mod read;
mod recovery;
mod retention;
pub use retention::RetentionOutcome;
mod segment_state;
mod tail;
mod watch;
pub use watch::HighWatermarkBeyond;
mod writer;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use futures_channel::oneshot;

pub use read::{ReadChunk, ReadResult};
pub use segment_state::SegmentFile;

use crate::config::LogConfig;
use crate::error::{BatchError, Error, IoError, Result};
use crate::io::{Signal, Storage};
use crate::limits::{PENDING_BYTES_MAX, SEGMENT_RELATIVE_OFFSET_MAX};
use crate::offset::{Offset, TimestampMs};
use crate::producer_state::{CachedBatch, ProducerState, Verdict};
use crate::record_batch::{
    peek_batch_size, stamped_header, AppendStamp, Batches, RecordBatch, TimestampType, Validation,
};
use segment_state::{Phase, Segment};

/// File names inside a partition directory besides the segments.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
pub(crate) const LOG_START_OFFSET_FILE: &str = "log-start-offset";
pub(crate) const PRODUCER_STATE_FILE: &str = "producer-state";

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: Offset,
    pub last_offset: Offset,
    /// Set when the log stamps LogAppendTime.
    pub log_append_time: Option<TimestampMs>,
    pub log_start_offset: Offset,
    pub records: u64,
}

/// What an append waits for before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// In the segment file: survives a crash of the process (acks=1).
    Written,
    /// Also fdatasync'ed: survives a power loss (acks=all).
    Flushed,
}

impl AppendInfo {
    pub fn next_offset(&self) -> Offset {
        self.last_offset.next()
    }
}

struct Waiter {
    offset: Offset,
    sender: oneshot::Sender<Result<()>>,
}

pub(crate) struct State {
    segments: Vec<Segment>,
    log_start_offset: Offset,
    log_end_offset: Offset,
    written_offset: Offset,
    flushed_offset: Offset,
    flush_requested: Offset,
    unflushed_records: u64,
    last_flush: Instant,
    write_waiters: Vec<Waiter>,
    flush_waiters: Vec<Waiter>,
    /// Readers long-polling for the high watermark to move.
    watchers: watch::Watchers,
    /// Set once the log went offline (see `health.rs`).
    failure: Option<IoError>,
    /// Set while the disk has no room for this log's writes.
    disk_full: Option<health::DiskFull>,
    preallocation: health::Preallocation,
    /// `log-start-offset` moved in memory but could not be written (no
    /// room): the writer writes it when it can.
    log_start_unpersisted: bool,
    closing: bool,
    closed: bool,
    fdatasyncs: u64,
    producers: ProducerState,
    /// Ids for write rounds.
    next_round_id: u64,
}

impl State {
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    fn segment_mut(&mut self, base_offset: Offset) -> Option<&mut Segment> {
        self.segments
            .iter_mut()
            .find(|segment| segment.base_offset == base_offset)
    }

    fn pending_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::pending_bytes).sum()
    }

    /// Rolls to a new active segment if this batch would not fit, the
    /// segment is older than `segment.ms`, or relative offsets would overflow.
    fn maybe_roll(&mut self, batch_bytes: u64, records: i64, now: TimestampMs, config: &LogConfig) {
        let log_end_offset = self.log_end_offset;
        let active = self.active_mut();
        if active.size == 0 {
            return;
        }
        let full = active.size + batch_bytes > config.segment_bytes;
        let old = config
            .segment_ms
            .is_some_and(|segment_ms| now.0 - active.roll_base_ms >= segment_ms as i64);
        let relative_overflow =
            log_end_offset.0 + records - 1 - active.base_offset.0 > SEGMENT_RELATIVE_OFFSET_MAX;
        if full || old || relative_overflow {
            active.phase = Phase::Sealing;
            self.segments.push(Segment::new_active(log_end_offset, now));
        }
    }

    fn complete_waiters(&mut self) {
        let written = self.written_offset;
        let flushed = self.flushed_offset;
        complete(&mut self.write_waiters, |offset| offset <= written);
        complete(&mut self.flush_waiters, |offset| offset <= flushed);
        self.watchers.wake_all();
    }
}

/// Kafka's timestamp bounds for CreateTime batches (KIP-937), checked at
/// batch granularity: the newest timestamp against the future bound, the
/// first one against the past bound.
fn check_timestamps(batch: &RecordBatch<'_>, config: &LogConfig, now: TimestampMs) -> Result<()> {
    if config.timestamp_type == TimestampType::LogAppendTime {
        return Ok(());
    }
    let newest = batch.max_timestamp().0;
    if let Some(after) = config.timestamp_after_max_ms {
        if newest > now.0.saturating_add(after as i64) {
            return Err(BatchError::TimestampOutOfRange {
                timestamp: newest,
                now: now.0,
            }
            .into());
        }
    }
    let first = batch.base_timestamp().0;
    if let Some(before) = config.timestamp_before_max_ms {
        if first >= 0 && first < now.0.saturating_sub(before as i64) {
            return Err(BatchError::TimestampOutOfRange {
                timestamp: first,
                now: now.0,
            }
            .into());
        }
    }
    Ok(())
}

/// Walks batches that were validated already, reading headers only.
fn validated_batches(mut records: &[u8]) -> impl Iterator<Item = RecordBatch<'_>> {
    std::iter::from_fn(move || {
        let batch = RecordBatch::parse_header_only(records)?;
        records = &records[batch.size()..];
        Some(batch)
    })
}

/// The producer facts of an idempotent batch, if it is one.
pub(crate) fn idempotent(batch: &RecordBatch<'_>) -> Option<(i64, i16, CachedBatch)> {
    let producer_id = batch.producer_id();
    let first_sequence = batch.base_sequence();
    if producer_id < 0 || first_sequence < 0 {
        return None;
    }
    let delta = batch.header().last_offset_delta.get();
    let last_sequence = if first_sequence > i32::MAX - delta {
        delta - (i32::MAX - first_sequence) - 1
    } else {
        first_sequence + delta
    };
    let cached = CachedBatch {
        first_sequence,
        last_sequence,
        base_offset: batch.base_offset(),
        last_offset: batch.last_offset(),
    };
    Some((producer_id, batch.producer_epoch(), cached))
}

/// Checks every idempotent batch of a request against the producer state
/// (and against the request's earlier batches). `Some` if the whole request
/// was appended before (a retry): its original offsets.
fn check_producers(producers: &ProducerState, records: &[u8]) -> Result<Option<CachedBatch>> {
    // The request's own earlier batches count too: they go in an overlay
    // holding only the producers this request touches (not a copy of all).
    let mut overlay = ProducerState::default();
    let mut duplicates: Option<CachedBatch> = None;
    let mut fresh = false;
    for batch in validated_batches(records) {
        let Some((producer_id, epoch, cached)) = idempotent(&batch) else {
            fresh = true;
            continue;
        };
        let state = if overlay.contains(producer_id) {
            &overlay
        } else {
            producers
        };
        match state.check(
            producer_id,
            epoch,
            cached.first_sequence,
            cached.last_sequence,
        )? {
            Verdict::Fresh => {
                fresh = true;
                if !overlay.contains(producer_id) {
                    overlay.adopt(producer_id, producers);
                }
                overlay.record(producer_id, epoch, cached);
            }
            Verdict::Duplicate(original) => {
                duplicates = Some(match duplicates {
                    None => original,
                    Some(first) => CachedBatch {
                        last_offset: original.last_offset,
                        ..first
                    },
                });
            }
        }
    }
    match (duplicates, fresh) {
        (Some(original), false) => Ok(Some(original)),
        (Some(original), true) => Err(crate::producer_state::ProducerError::OutOfOrderSequence {
            producer_id: -1,
            expected: original.last_sequence,
            got: original.first_sequence,
        }
        .into()),
        (None, _) => Ok(None),
    }
}

fn complete(waiters: &mut Vec<Waiter>, done: impl Fn(Offset) -> bool) {
    let mut index = 0;
    while index < waiters.len() {
        if done(waiters[index].offset) {
            let waiter = waiters.swap_remove(index);
            let _ = waiter.sender.send(Ok(()));
        } else {
            index += 1;
        }
    }
}

pub(crate) struct Shared {
    dir: PathBuf,
    config: RefCell<LogConfig>,
    state: RefCell<State>,
    signal: Rc<Signal>,
    storage: Storage,
    leader_epoch: Cell<i32>,
    writer_exited: RefCell<Option<oneshot::Receiver<()>>>,
    /// For tasks that must not keep the log alive (write rounds).
    weak_self: RefCell<std::rc::Weak<Shared>>,
}

/// One partition's log. See the module documentation for the contract.
pub struct PartitionLog {
    shared: Rc<Shared>,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering it if the last
    /// shutdown was not clean, and starts its writer task.
    pub async fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<PartitionLog> {
        PartitionLog::open_in(&Storage::os(), dir, config).await
    }

    /// [`PartitionLog::open`] on `storage` (a simulated filesystem in
    /// tests; the operating system's with an event sink in the broker).
    pub async fn open_in(
        storage: &Storage,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<PartitionLog> {
        config.validate()?;
        recovery::open(storage, dir.as_ref(), config).await
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> LogConfig {
        self.shared.config.borrow().clone()
    }

    /// Changes the settings; they apply from the next append, flush or
    /// retention pass.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        *self.shared.config.borrow_mut() = config;
        self.shared.signal.raise();
        Ok(())
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.shared.leader_epoch.set(epoch);
    }

    pub fn log_start_offset(&self) -> Offset {
        self.shared.state.borrow().log_start_offset
    }

    /// The next offset to be assigned.
    pub fn log_end_offset(&self) -> Offset {
        self.shared.state.borrow().log_end_offset
    }

    /// Readers see offsets below this: every one of them is in the file.
    pub fn high_watermark(&self) -> Offset {
        self.shared.state.borrow().written_offset
    }

    /// Without transactions, the last stable offset is the high watermark.
    pub fn last_stable_offset(&self) -> Offset {
        self.high_watermark()
    }

    /// Every offset below this has been fdatasync'ed.
    pub fn flushed_offset(&self) -> Offset {
        self.shared.state.borrow().flushed_offset
    }

    /// The log went offline after an I/O error (see `health.rs`); only a
    /// restart brings it back.
    pub fn is_offline(&self) -> bool {
        self.shared.state.borrow().failure.is_some()
    }

    /// The disk has no room for this log's writes now; appends are refused
    /// until space returns.
    pub fn is_disk_full(&self) -> bool {
        self.shared.state.borrow().disk_full.is_some()
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        let state = self.shared.state.borrow();
        state.segments.iter().map(|segment| segment.size).sum()
    }

    /// fdatasync calls made by this log since it was opened.
    pub fn fdatasync_count(&self) -> u64 {
        self.shared.state.borrow().fdatasyncs
    }

    pub fn segment_count(&self) -> usize {
        self.shared.state.borrow().segments.len()
    }

    /// The base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<Offset> {
        let state = self.shared.state.borrow();
        state
            .segments
            .iter()
            .map(|segment| segment.base_offset)
            .collect()
    }

    /// Appends and returns once the batches are written to the segment file
    /// (they survive a crash of the process, not yet a power loss).
    pub async fn append(&self, records: &[u8]) -> Result<AppendInfo> {
        let info = self.append_queued(records).await?;
        self.append_done(info, Durability::Written).await
    }

    /// The first half of an append: waits while the writer is too far
    /// behind, then appends in memory (offsets assigned, readers not yet
    /// able to see it). Appends that pass this point in some order keep that
    /// order in the log; finish each with [`PartitionLog::append_done`].
    pub async fn append_queued(&self, records: &[u8]) -> Result<AppendInfo> {
        self.wait_for_room().await?;
        self.append_nowait(records)
    }

    /// The second half of an append: returns `info` once its batches are
    /// written (or also fdatasync'ed, for [`Durability::Flushed`]).
    pub async fn append_done(
        &self,
        info: AppendInfo,
        durability: Durability,
    ) -> Result<AppendInfo> {
        self.write_from_here().await;
        match durability {
            Durability::Written => self.wait_written(info.next_offset()).await?,
            Durability::Flushed => self.wait_flushed(info.next_offset()).await?,
        }
        Ok(info)
    }

    /// Puts pending bytes on the disk from the calling task, if a round can
    /// go now (see `writer::plan_round`).
    async fn write_from_here(&self) {
        if let Some(round) = writer::plan_round(&self.shared) {
            writer::execute_round(
                Rc::downgrade(&self.shared),
                self.shared.signal.clone(),
                round,
            )
            .await;
        }
    }

    /// Appends and returns only after an fdatasync covers the batches.
    /// Concurrent durable appends share one fdatasync (group commit).
    pub async fn append_durable(&self, records: &[u8]) -> Result<AppendInfo> {
        let info = self.append_queued(records).await?;
        self.append_done(info, Durability::Flushed).await
    }

    /// The synchronous part of an append: validates every batch in
    /// `records` (all or nothing), copies them into the tail with their
    /// offsets (and LogAppendTime) stamped, and queues them for the writer.
    /// Returns before any I/O.
    pub fn append_nowait(&self, records: &[u8]) -> Result<AppendInfo> {
        let config = self.shared.config.borrow();
        let mut state = self.shared.state.borrow_mut();
        state.check_appendable()?;
        let now = TimestampMs::now();
        let mut total_records: u64 = 0;
        for batch in Batches::new(records, Validation::Client) {
            let batch = batch?;
            if batch.size() > config.max_message_bytes {
                return Err(BatchError::TooLarge {
                    bytes: batch.size(),
                    max: config.max_message_bytes,
                }
                .into());
            }
            check_timestamps(&batch, &config, now)?;
            total_records += batch.records_count() as u64;
        }
        if total_records == 0 {
            return Err(BatchError::Empty.into());
        }
        if let Some(duplicate) = check_producers(&state.producers, records)? {
            return Ok(AppendInfo {
                base_offset: duplicate.base_offset,
                last_offset: duplicate.last_offset,
                log_append_time: None,
                log_start_offset: state.log_start_offset,
                records: 0,
            });
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let base_offset = state.log_end_offset;
        let mut position = 0;
        while position < records.len() {
            let size = match peek_batch_size(&records[position..]) {
                Some(Ok(size)) => size,
                _ => unreachable!("validated above"),
            };
            let bytes = &records[position..position + size];
            let batch = RecordBatch::parse_header_only(bytes).expect("validated above");
            state.maybe_roll(size as u64, i64::from(batch.records_count()), now, &config);
            let batch_base = state.log_end_offset;
            // The batch is copied once, into the tail, behind its stamped header.
            let header = stamped_header(
                bytes,
                AppendStamp {
                    base_offset: batch_base,
                    partition_leader_epoch: self.shared.leader_epoch.get(),
                    log_append_time,
                },
            )?;
            let next_offset =
                Offset(batch_base.0 + i64::from(batch.header().last_offset_delta.get()) + 1);
            let max_timestamp = log_append_time.unwrap_or_else(|| batch.max_timestamp());
            if let Some((producer_id, epoch, mut cached)) = idempotent(&batch) {
                cached.base_offset = batch_base;
                cached.last_offset = Offset(next_offset.0 - 1);
                state.producers.record(producer_id, epoch, cached);
            }
            let active = state.active_mut();
            let segment_position = active.size;
            active.index_batch(
                segment_position,
                batch_base,
                next_offset,
                size as u64,
                max_timestamp,
                config.index_interval_bytes,
            );
            active.tail.append(segment_position, &header);
            active.tail.append(
                segment_position + header.len() as u64,
                &bytes[header.len()..],
            );
            active.size += size as u64;
            let end = active.size;
            active.boundaries.push_back((end, next_offset));
            state.log_end_offset = next_offset;
            position += size;
        }
        state.unflushed_records += total_records;
        if config
            .flush_messages
            .is_some_and(|limit| state.unflushed_records >= limit)
        {
            state.flush_requested = state.log_end_offset;
        }
        let info = AppendInfo {
            base_offset,
            last_offset: Offset(state.log_end_offset.0 - 1),
            log_append_time,
            log_start_offset: state.log_start_offset,
            records: total_records,
        };
        state.debug_check();
        self.shared.signal.raise();
        Ok(info)
    }

    /// Waits until every offset below `offset` is in the file.
    pub async fn wait_written(&self, offset: Offset) -> Result<()> {
        let receiver = {
            let mut state = self.shared.state.borrow_mut();
            if state.written_offset >= offset {
                return Ok(());
            }
            if let Some(error) = state.wait_error(offset) {
                return Err(error);
            }
            let (sender, receiver) = oneshot::channel();
            state.write_waiters.push(Waiter { offset, sender });
            receiver
        };
        self.shared.signal.raise();
        receiver.await.unwrap_or(Err(Error::Closed))
    }

    /// Waits until every offset below `offset` is fdatasync'ed.
    pub async fn wait_flushed(&self, offset: Offset) -> Result<()> {
        let receiver = {
            let mut state = self.shared.state.borrow_mut();
            if state.flushed_offset >= offset {
                return Ok(());
            }
            if let Some(error) = state.wait_error(offset) {
                return Err(error);
            }
            state.flush_requested = state.flush_requested.max(offset);
            let (sender, receiver) = oneshot::channel();
            state.flush_waiters.push(Waiter { offset, sender });
            receiver
        };
        self.shared.signal.raise();
        receiver.await.unwrap_or(Err(Error::Closed))
    }

    /// Flushes everything appended so far.
    pub async fn flush(&self) -> Result<()> {
        let end = self.log_end_offset();
        self.wait_flushed(end).await
    }

    /// Backpressure: waits while too many appended bytes wait for the writer.
    async fn wait_for_room(&self) -> Result<()> {
        loop {
            let (pending, end) = {
                let mut state = self.shared.state.borrow_mut();
                state.check_appendable()?;
                (state.pending_bytes(), state.log_end_offset)
            };
            if pending <= PENDING_BYTES_MAX {
                return Ok(());
            }
            self.wait_written(end).await?;
        }
    }

    /// Flushes, seals the active segment's files to their logical size,
    /// writes its indexes and leaves a clean-shutdown marker, so the next
    /// open skips recovery.
    pub async fn close(self) -> Result<()> {
        self.flush().await?;
        recovery::close(&self.shared).await
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().closing = true;
        // A log deleted or closed on a full disk ends its episode: the
        // broker's count of partitions waiting for space must go down.
        self.shared.closing_while_disk_full();
        self.shared.signal.raise();
    }
}
