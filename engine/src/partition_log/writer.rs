//! The per-partition writer task: the only code that writes segment files.
//!
//! It plans one job at a time, oldest segment first: create the file of a
//! new segment → write pending bytes → seal a rolled segment (fdatasync,
//! truncate to its logical size, write its indexes) → fdatasync for waiting
//! durable appends or the flush policy. Appends made while an fdatasync runs
//! are taken by the next one (group commit).
//!
//! Writes go out in rounds that run as their own tasks, so the disk stays
//! busy while appenders copy the next batches in. No page is ever in two
//! writes at once:
//! ```text
//!  rounds in flight: write whole pages only, from the end of the last round
//!     [round 1: 0 .. 1 MiB)[round 2: 1 .. 2 MiB)[round 3 ...)
//!  nothing in flight: write from the last partial page to the end,
//!     padding the tail page (it is written again, whole, later)
//! ```
//! Completed rounds fold into `durable_bytes` in issue order; readers and
//! appenders see batches once every byte of them is on disk.
//!
//! Failures (see `health.rs`): an fdatasync error, or EIO anywhere, takes
//! the log offline and ends this task. No room (ENOSPC, EDQUOT, a short
//! write) starts a disk-full episode instead: the failed round's bytes stay
//! in memory, and the writer waits out a backoff, looks at the free space
//! and tries again, until a write goes through. A failed preallocation is
//! neither: the round's writes go ahead without it.

use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::segment_state::{open_with_room, FileSlot, Phase, Round, Segment, SegmentFile};
use super::tail::WriteOp;
use super::{Shared, LOG_START_OFFSET_FILE, PRODUCER_STATE_FILE, RECOVERY_POINT_FILE};
use crate::error::IoError;
use crate::io::{self, DirectFile, Signal};
use crate::limits::{
    align_down, align_up, DIRECT_IO_ALIGN_BYTES, DISK_FULL_RESUME_MARGIN_BYTES,
    DISK_FULL_RETRY_ROUND_BYTES, PREALLOCATE_STEP_MAX_BYTES, PREALLOCATE_STEP_MIN_BYTES,
};
use crate::offset::Offset;
use crate::segment;

enum Job {
    Create {
        base_offset: Offset,
    },
    Write(RoundJob),
    Seal {
        base_offset: Offset,
        file: Rc<FileSlot>,
        size: u64,
        next_offset: Offset,
        offset_index: Vec<u8>,
        time_index: Vec<u8>,
        producer_snapshot: Vec<u8>,
    },
    Flush {
        files: Vec<Rc<FileSlot>>,
        target: Offset,
    },
    /// The log start moved while the disk was full: write it now.
    PersistLogStart {
        offset: Offset,
    },
    /// A disk-full episode's backoff passed: see whether there is room for
    /// `bytes` before writing again.
    Retry {
        bytes: u64,
    },
    Idle {
        timeout: Option<Duration>,
    },
    Exit,
}

/// How a job failed: the log goes offline, or its disk is full.
pub(super) enum Failure {
    Offline(IoError),
    DiskFull(IoError),
}

impl Failure {
    /// For writes of data and metadata, and for opening the files they go
    /// to: out of space is a full disk, out of descriptors the same kind of
    /// episode (backpressure until a retry finds room), any other error
    /// (EIO) an offline log.
    pub(super) fn of_write(error: IoError) -> Failure {
        if error.is_out_of_space() || error.is_descriptor_limit() {
            Failure::DiskFull(error)
        } else {
            Failure::Offline(error)
        }
    }
}

impl From<Failure> for crate::error::Error {
    fn from(failure: Failure) -> crate::error::Error {
        match failure {
            Failure::Offline(error) => crate::error::Error::Io(error),
            Failure::DiskFull(error) => crate::error::Error::DiskFull(error),
        }
    }
}

impl From<IoError> for Failure {
    /// fdatasync, truncate and the like: every error takes the log offline,
    /// but for running out of descriptors (opening a directory to sync it,
    /// a checkpoint's temporary file): nothing written is in doubt, so it
    /// is backpressure, retried like a full disk.
    fn from(error: IoError) -> Failure {
        if error.is_descriptor_limit() {
            Failure::DiskFull(error)
        } else {
            Failure::Offline(error)
        }
    }
}

impl Shared {
    /// A round's writes (or the opening of its file) failed: its bytes are
    /// written again once the log can; the failure decides how it waits.
    fn round_failed(&self, base_offset: Offset, round_id: u64, error: IoError) {
        if let Some(segment) = self.state.borrow_mut().segment_mut(base_offset) {
            segment.rounds.retain(|round| round.id != round_id);
            segment.replan = true;
        }
        self.failed(Failure::of_write(error));
    }

    pub(super) fn failed(&self, failure: Failure) {
        match failure {
            Failure::Offline(error) => self.go_offline(error),
            Failure::DiskFull(error) => self.disk_full(error),
        }
    }
}

pub(super) fn spawn(shared: &Rc<Shared>) {
    let (exited_sender, exited_receiver) = oneshot::channel();
    *shared.writer_exited.borrow_mut() = Some(exited_receiver);
    let weak = Rc::downgrade(shared);
    let signal = shared.signal.clone();
    io::spawn_detached(async move {
        run(weak, signal).await;
        let _ = exited_sender.send(());
    });
}

async fn run(weak: Weak<Shared>, signal: Rc<Signal>) {
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let job = plan(&shared);
        let timeout = match job {
            Job::Exit => return,
            Job::Idle { timeout } => timeout,
            job => {
                if let Err(failure) = execute(&shared, job).await {
                    shared.failed(failure);
                }
                shared.state.borrow().debug_check();
                continue;
            }
        };
        drop(shared);
        match timeout {
            Some(timeout) => signal.wait_timeout(timeout).await,
            None => signal.wait().await,
        }
    }
}

fn plan(shared: &Shared) -> Job {
    let config = shared.config.borrow();
    let mut state = shared.state.borrow_mut();
    if state.failure.is_some() {
        return Job::Exit;
    }
    let state = &mut *state;
    // During a disk-full episode nothing that needs space goes before the
    // backoff has passed and the filesystem showed room.
    let mut space_wait = None;
    if let Some(episode) = &state.disk_full {
        if !episode.retrying {
            let now = Instant::now();
            if now < episode.retry_at {
                space_wait = Some(episode.retry_at - now);
            } else {
                let bytes = state.pending_bytes();
                return Job::Retry { bytes };
            }
        }
    }
    if space_wait.is_none() {
        if let Some(job) = plan_space_job(state) {
            return job;
        }
    }
    let dirty_files: Vec<Rc<FileSlot>> = state
        .segments
        .iter()
        .filter(|segment| segment.dirty && segment.phase != Phase::Sealed)
        .filter_map(|segment| segment.file.clone())
        .collect();
    let in_flight = state
        .segments
        .iter()
        .any(|segment| segment.rounds_in_flight() > 0);
    let unflushed = state.written_offset > state.flushed_offset;
    // What is asked for is written, or will not be by any write in flight:
    // sync now. Otherwise the rounds in flight finish first, and one
    // fdatasync covers them all.
    let requested = state.flush_requested > state.flushed_offset
        && (state.flush_requested <= state.written_offset || !in_flight);
    let due_in = config
        .flush_ms
        .map(|flush_ms| Duration::from_millis(flush_ms).saturating_sub(state.last_flush.elapsed()));
    if unflushed && (requested || due_in == Some(Duration::ZERO)) {
        return Job::Flush {
            files: dirty_files,
            target: state.written_offset,
        };
    }
    if state.closing && !in_flight {
        return Job::Exit;
    }
    let flush_wait = due_in.filter(|_| unflushed);
    Job::Idle {
        timeout: match (flush_wait, space_wait) {
            (Some(flush), Some(space)) => Some(flush.min(space)),
            (flush, space) => flush.or(space),
        },
    }
}

/// The next job that needs room on the disk, oldest segment first: a new
/// segment's file, a write round, a seal, the log start checkpoint.
fn plan_space_job(state: &mut super::State) -> Option<Job> {
    let preallocate = state.preallocation.allowed();
    // In a disk-full episode: one bounded round at a time.
    let bound = state
        .disk_full
        .is_some()
        .then_some(DISK_FULL_RETRY_ROUND_BYTES);
    for segment in state.segments.iter_mut() {
        if segment.phase == Phase::Sealed {
            continue;
        }
        if bound.is_some() && segment.rounds_in_flight() > 0 {
            break;
        }
        let Some(file) = segment.file.clone() else {
            if segment.size == 0 && segment.phase == Phase::Active {
                break;
            }
            return Some(Job::Create {
                base_offset: segment.base_offset,
            });
        };
        let round = take_round(segment, &mut state.next_round_id, &file, preallocate, bound);
        if let Some(round) = round {
            return Some(Job::Write(round));
        }
        if segment.rounds_in_flight() > 0 || segment.durable_bytes < segment.size {
            break;
        }
        if segment.phase == Phase::Sealing {
            return Some(Job::Seal {
                base_offset: segment.base_offset,
                file,
                size: segment.size,
                next_offset: segment.next_offset,
                offset_index: segment.offset_index.encode(),
                time_index: segment.time_index.encode(),
                producer_snapshot: {
                    // The state as of this segment's end: later batches may
                    // still be in memory only.
                    let mut at_end = state.producers.clone();
                    at_end.truncate_to(segment.next_offset);
                    at_end.encode(segment.next_offset)
                },
            });
        }
        break;
    }
    if state.log_start_unpersisted {
        return Some(Job::PersistLogStart {
            offset: state.log_start_offset,
        });
    }
    None
}

/// The least a round behind others in flight writes.
const ROUND_BYTES_MIN: u64 = 256 * 1024;

/// Rounds a segment may have in flight at once.
const ROUNDS_IN_FLIGHT_MAX: usize = 16;

/// The byte range the next write round of `segment` should cover, if any;
/// records it as issued.
///
/// Rounds write whole pages while others are in flight, so the disk stays
/// busy, and no page is ever in two writes at once. A partial last page is
/// written, padded, when nothing else is in flight. If a round is writing
/// such a page when more data arrives, the next round skips it and the page
/// is written again, whole, after that round is done (`pending_page`).
fn next_round(segment: &mut Segment, bound: Option<u64>) -> Option<(u64, u64)> {
    if segment.replan {
        // A round failed for want of space: once the others are done, plan
        // again from the durable prefix (the bytes are all still in memory).
        if segment.rounds_in_flight() > 0 {
            return None;
        }
        segment.rounds.clear();
        segment.issued_bytes = segment.durable_bytes;
        segment.pending_page = None;
        segment.replan = false;
    }
    if let Some(bound) = bound {
        // Alone (the caller saw nothing in flight), and at most `bound`
        // bytes: the next piece of what is held back.
        if segment.rounds_in_flight() > 0 || segment.durable_bytes >= segment.size {
            return None;
        }
        let from = align_down(segment.durable_bytes);
        let to = if segment.size - from > bound {
            align_down(from + bound)
        } else {
            segment.size
        };
        segment.pending_page = None;
        segment.issued_bytes = to;
        return Some((from, to));
    }
    let page_bytes = DIRECT_IO_ALIGN_BYTES;
    if let Some(page) = segment.pending_page {
        let busy = segment
            .rounds
            .iter()
            .any(|round| !round.done && round.start < page + page_bytes && round.end > page);
        if !busy {
            segment.pending_page = None;
            let to = (page + page_bytes).min(segment.size);
            segment.issued_bytes = segment.issued_bytes.max(to);
            return Some((page, to));
        }
    }
    if segment.issued_bytes >= segment.size {
        return None;
    }
    let whole_pages_end = align_down(segment.size);
    let in_flight = segment.rounds_in_flight();
    if in_flight == 0 && segment.pending_page.is_none() {
        segment.issued_bytes = segment.size;
        return Some((align_down(segment.durable_bytes), segment.size));
    }
    if in_flight >= ROUNDS_IN_FLIGHT_MAX {
        return None;
    }
    let issued = segment.issued_bytes;
    // A round writing the partial page at `issued` makes the next one skip it.
    let skipped_page = (align_down(issued) != issued).then(|| align_down(issued));
    let from = skipped_page.map_or(issued, |page| page + page_bytes);
    if skipped_page.is_some() && segment.pending_page.is_some() {
        return None;
    }
    // Behind rounds in flight, write whole chunks only (no copy), and wait
    // until a sizable write has gathered: small writes cost as much per
    // call as large ones.
    let to = segment
        .tail
        .full_chunks_end()
        .unwrap_or(0)
        .min(whole_pages_end);
    if to < from + ROUND_BYTES_MIN {
        return None;
    }
    if skipped_page.is_some() {
        segment.pending_page = skipped_page;
    }
    segment.issued_bytes = to;
    Some((from, to))
}

/// One round of writes, planned and not yet issued.
pub(super) struct RoundJob {
    base_offset: Offset,
    file: Rc<FileSlot>,
    ops: Vec<WriteOp>,
    /// Grow the file to this first, and the allocation it replaces.
    preallocate: Option<(u64, u64)>,
    round_id: u64,
}

/// Plans the next round of `segment`, if `next_round` allows one;
/// `preallocate` says whether it may reserve space first, `bound` caps
/// its bytes (a disk-full episode).
fn take_round(
    segment: &mut Segment,
    next_round_id: &mut u64,
    file: &Rc<FileSlot>,
    preallocate: bool,
    bound: Option<u64>,
) -> Option<RoundJob> {
    let (from, to) = next_round(segment, bound)?;
    // A round that starts by rewriting the partial last page covers pages
    // already written (a written extent) and pages only fallocated (an
    // unwritten one). ext4 takes a direct write that spans both for a
    // non-overwrite, which io_uring cannot issue without blocking: it
    // hands it to an io-wq worker thread. Split there, and each write
    // completes inline.
    let written_extent_end = align_up(segment.durable_bytes);
    let ops = segment.tail.write_ops(from, to, Some(written_extent_end));
    let needed = align_up(to);
    let preallocate = (preallocate && needed > segment.allocated).then(|| {
        let step = segment
            .allocated
            .clamp(PREALLOCATE_STEP_MIN_BYTES, PREALLOCATE_STEP_MAX_BYTES);
        (needed.div_ceil(step) * step, segment.allocated)
    });
    if let Some((size, _)) = preallocate {
        segment.allocated = size;
    }
    let round_id = *next_round_id;
    *next_round_id += 1;
    segment.rounds.push_back(Round {
        id: round_id,
        start: from,
        end: to,
        done: false,
    });
    Some(RoundJob {
        base_offset: segment.base_offset,
        file: file.clone(),
        ops,
        preallocate,
        round_id,
    })
}

/// A round for the oldest unsealed segment, if one can go now. Appenders
/// call this right after their append, so their bytes go to the disk from
/// their own task at once instead of waiting for the writer task's turn
/// behind every other appender: the disk stays busy while they copy.
pub(super) fn plan_round(shared: &Shared) -> Option<RoundJob> {
    let mut guard = shared.state.borrow_mut();
    if guard.failure.is_some() || guard.disk_full.is_some() {
        return None;
    }
    let state = &mut *guard;
    let preallocate = state.preallocation.allowed();
    let segment = state
        .segments
        .iter_mut()
        .find(|segment| segment.phase != Phase::Sealed)?;
    let file = segment.file.clone()?;
    take_round(segment, &mut state.next_round_id, &file, preallocate, None)
}

/// Issues a round's writes, waits for them and folds the result in.
pub(super) async fn execute_round(weak: Weak<Shared>, signal: Rc<Signal>, round: RoundJob) {
    let RoundJob {
        base_offset,
        file,
        ops,
        preallocate,
        round_id,
    } = round;
    let file = match file.get().await {
        Ok(file) => file,
        Err(error) => {
            if let Some(shared) = weak.upgrade() {
                shared.round_failed(base_offset, round_id, error);
            }
            signal.raise();
            return;
        }
    };
    let mut preallocation = None;
    if let Some((size, _)) = preallocate {
        preallocation = Some(file.direct.pre_allocate(size).await);
    }
    let result = write_round(&file.direct, ops).await;
    let Some(shared) = weak.upgrade() else {
        return;
    };
    match preallocation {
        Some(Ok(())) => shared.preallocation_succeeded(),
        Some(Err(error)) if error.is_out_of_space() || error.is_unsupported() => {
            if let Some((_, previous)) = preallocate {
                if let Some(segment) = shared.state.borrow_mut().segment_mut(base_offset) {
                    segment.allocated = segment.allocated.min(previous);
                }
            }
            shared.preallocation_failed(error);
        }
        Some(Err(error)) => {
            shared.go_offline(error);
            return;
        }
        None => {}
    }
    match result {
        Err(error) => shared.round_failed(base_offset, round_id, error),
        Ok(()) => {
            {
                let keep = shared.config.borrow().tail_cache_bytes;
                let mut state = shared.state.borrow_mut();
                if let Some(segment) = state.segment_mut(base_offset) {
                    let readable = segment.complete_round(round_id);
                    segment.dirty = true;
                    segment.tail.evict(segment.durable_bytes, keep);
                    state.written_offset = state.written_offset.max(readable);
                }
                state.complete_waiters();
                state.debug_check();
            }
            shared.report_tail_cache();
            shared.space_returned(Some(round_id));
        }
    }
    signal.raise();
}

async fn execute(shared: &Shared, job: Job) -> Result<(), Failure> {
    match job {
        Job::Create { base_offset } => {
            create(shared, base_offset).await?;
            shared.space_returned(None);
            Ok(())
        }
        Job::Write(round) => {
            let weak = shared.weak_self.borrow().clone();
            io::spawn_detached(execute_round(weak, shared.signal.clone(), round));
            Ok(())
        }
        Job::Seal {
            base_offset,
            file,
            size,
            next_offset,
            offset_index,
            time_index,
            producer_snapshot,
        } => {
            let file = file.get().await.map_err(Failure::of_write)?;
            seal(shared, &file, base_offset, size, offset_index, time_index).await?;
            // The snapshot first: a recovery point is only ever paired with
            // a producer snapshot at or after it.
            let storage = &shared.storage;
            storage
                .write_file_atomic(&shared.dir.join(PRODUCER_STATE_FILE), producer_snapshot)
                .await
                .map_err(Failure::of_write)?;
            storage
                .write_file_atomic(
                    &shared.dir.join(RECOVERY_POINT_FILE),
                    next_offset.0.to_string().into_bytes(),
                )
                .await
                .map_err(Failure::of_write)?;
            {
                let mut state = shared.state.borrow_mut();
                if let Some(segment) = state.segment_mut(base_offset) {
                    segment.phase = Phase::Sealed;
                    segment.dirty = false;
                    segment.tail.clear();
                }
                state.flushed_offset = state.flushed_offset.max(next_offset);
                state.complete_waiters();
            }
            shared.report_tail_cache();
            shared.space_returned(None);
            Ok(())
        }
        Job::Flush { files, target } => {
            for file in &files {
                let file = file.get().await.map_err(Failure::of_write)?;
                crate::latency::timed_fdatasync(file.direct.fdatasync()).await?;
            }
            let mut state = shared.state.borrow_mut();
            for segment in state.segments.iter_mut() {
                if files.iter().any(|file| {
                    segment
                        .file
                        .as_ref()
                        .is_some_and(|own| Rc::ptr_eq(own, file))
                }) && segment.written_next_offset <= target
                {
                    segment.dirty = false;
                }
            }
            state.flushed_offset = state.flushed_offset.max(target);
            state.fdatasyncs += files.len() as u64;
            state.unflushed_records = 0;
            state.last_flush = Instant::now();
            state.complete_waiters();
            Ok(())
        }
        Job::PersistLogStart { offset } => {
            shared.state.borrow_mut().log_start_unpersisted = false;
            let written = shared
                .storage
                .write_file_atomic(
                    &shared.dir.join(LOG_START_OFFSET_FILE),
                    offset.0.to_string().into_bytes(),
                )
                .await;
            if let Err(error) = written {
                shared.state.borrow_mut().log_start_unpersisted = true;
                return Err(Failure::of_write(error));
            }
            shared.space_returned(None);
            Ok(())
        }
        Job::Retry { bytes } => {
            let bytes = bytes.min(DISK_FULL_RETRY_ROUND_BYTES);
            let room = shared.storage.available_bytes(&shared.dir).await;
            let mut state = shared.state.borrow_mut();
            if let Some(episode) = &mut state.disk_full {
                let enough = room.is_none_or(|room| {
                    room >= align_up(bytes) + DIRECT_IO_ALIGN_BYTES + DISK_FULL_RESUME_MARGIN_BYTES
                });
                if enough {
                    episode.retrying = true;
                } else {
                    episode.postpone();
                }
            }
            Ok(())
        }
        Job::Idle { .. } | Job::Exit => Ok(()),
    }
}

/// Issues every write of a round at once and waits for all of them. The
/// writes cover disjoint pages, so their completion order does not matter.
async fn write_round(file: &DirectFile, ops: Vec<WriteOp>) -> Result<(), IoError> {
    let writes = ops.into_iter().map(|op| async move {
        match op {
            WriteOp::Shared {
                buf,
                offset,
                len,
                position,
            } => file.write_shared(buf, offset, len, position).await,
            WriteOp::Owned(buf, position) => file.write(buf, position).await,
            WriteOp::Gathered {
                pages,
                offset,
                len,
                last_page,
                position,
            } => {
                file.write_gathered(pages, offset, len, last_page, position)
                    .await
            }
        }
    });
    let mut failure = None;
    for result in futures_util::future::join_all(writes).await {
        if let Err(error) = result {
            // An I/O error outranks a full disk: report the worse one.
            if failure.as_ref().is_none_or(IoError::is_out_of_space) {
                failure = Some(error);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

async fn create(shared: &Shared, base_offset: Offset) -> Result<(), Failure> {
    let path = segment::file_path(&shared.dir, base_offset, "log");
    let storage = &shared.storage;
    let ((direct, plain), held) = open_with_room(storage, || async {
        let direct = storage.open_direct(&path, true).await?;
        let plain = storage.open_plain(&path, &direct).await?;
        Ok((direct, plain))
    })
    .await
    .map_err(Failure::of_write)?;
    storage.sync_dir(&shared.dir).await?;
    let mut state = shared.state.borrow_mut();
    if let Some(segment) = state.segment_mut(base_offset) {
        segment.file = Some(FileSlot::opened(
            storage,
            SegmentFile::new(direct, plain, path, held),
        ));
    }
    Ok(())
}

/// Makes a rolled segment final: data synced, file cut to its logical size
/// (byte for byte a Kafka segment, ready for sendfile), indexes on disk.
/// Every step may run again after a disk-full failure.
pub(super) async fn seal(
    shared: &Shared,
    file: &SegmentFile,
    base_offset: Offset,
    size: u64,
    offset_index: Vec<u8>,
    time_index: Vec<u8>,
) -> Result<(), Failure> {
    crate::latency::timed_fdatasync(file.direct.fdatasync()).await?;
    file.direct.truncate(size).await?;
    crate::latency::timed_fdatasync(file.direct.fdatasync()).await?;
    let storage = &shared.storage;
    storage
        .write_file_atomic(
            &segment::file_path(&shared.dir, base_offset, "index"),
            offset_index,
        )
        .await
        .map_err(Failure::of_write)?;
    storage
        .write_file_atomic(
            &segment::file_path(&shared.dir, base_offset, "timeindex"),
            time_index,
        )
        .await
        .map_err(Failure::of_write)
}
