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

use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::segment_state::{Phase, Round, Segment, SegmentFile};
use super::tail::WriteOp;
use super::{Shared, PRODUCER_STATE_FILE, RECOVERY_POINT_FILE};
use crate::error::IoError;
use crate::io::{self, DirectFile, Signal};
use crate::limits::{
    align_down, align_up, DIRECT_IO_ALIGN_BYTES, PREALLOCATE_STEP_MAX_BYTES,
    PREALLOCATE_STEP_MIN_BYTES,
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
        file: Rc<SegmentFile>,
        size: u64,
        next_offset: Offset,
        offset_index: Vec<u8>,
        time_index: Vec<u8>,
        producer_snapshot: Vec<u8>,
    },
    Flush {
        files: Vec<Rc<SegmentFile>>,
        target: Offset,
    },
    Idle {
        timeout: Option<Duration>,
    },
    Exit,
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
                if let Err(error) = execute(&shared, job).await {
                    shared.state.borrow_mut().fail(error);
                    return;
                }
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
    for segment in state.segments.iter_mut() {
        if segment.phase == Phase::Sealed {
            continue;
        }
        let Some(file) = segment.file.clone() else {
            if segment.size == 0 && segment.phase == Phase::Active {
                break;
            }
            return Job::Create {
                base_offset: segment.base_offset,
            };
        };
        if let Some(round) = take_round(&shared.alloc, segment, &mut state.next_round_id, &file) {
            return Job::Write(round);
        }
        if segment.rounds_in_flight() > 0 || segment.durable_bytes < segment.size {
            break;
        }
        if segment.phase == Phase::Sealing {
            return Job::Seal {
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
            };
        }
        break;
    }
    let dirty_files: Vec<Rc<SegmentFile>> = state
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
    Job::Idle {
        timeout: due_in.filter(|_| unflushed),
    }
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
fn next_round(segment: &mut Segment) -> Option<(u64, u64)> {
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
    file: Rc<SegmentFile>,
    ops: Vec<WriteOp>,
    preallocate_to: Option<u64>,
    round_id: u64,
}

/// Plans the next round of `segment`, if `next_round` allows one.
fn take_round(
    alloc: &DirectFile,
    segment: &mut Segment,
    next_round_id: &mut u64,
    file: &Rc<SegmentFile>,
) -> Option<RoundJob> {
    let (from, to) = next_round(segment)?;
    let ops = segment.tail.write_ops(alloc, from, to);
    let needed = align_up(to);
    let preallocate_to = (needed > segment.allocated).then(|| {
        let step = segment
            .allocated
            .clamp(PREALLOCATE_STEP_MIN_BYTES, PREALLOCATE_STEP_MAX_BYTES);
        needed.div_ceil(step) * step
    });
    if let Some(size) = preallocate_to {
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
        preallocate_to,
        round_id,
    })
}

/// A round for the oldest unsealed segment, if one can go now. Appenders
/// call this right after their append, so their bytes go to the disk from
/// their own task at once instead of waiting for the writer task's turn
/// behind every other appender: the disk stays busy while they copy.
pub(super) fn plan_round(shared: &Shared) -> Option<RoundJob> {
    let mut guard = shared.state.borrow_mut();
    if guard.failure.is_some() {
        return None;
    }
    let state = &mut *guard;
    let segment = state
        .segments
        .iter_mut()
        .find(|segment| segment.phase != Phase::Sealed)?;
    let file = segment.file.clone()?;
    take_round(&shared.alloc, segment, &mut state.next_round_id, &file)
}

/// Issues a round's writes, waits for them and folds the result in.
pub(super) async fn execute_round(weak: Weak<Shared>, signal: Rc<Signal>, round: RoundJob) {
    let RoundJob {
        base_offset,
        file,
        ops,
        preallocate_to,
        round_id,
    } = round;
    let mut result = Ok(());
    if let Some(size) = preallocate_to {
        result = file.direct.pre_allocate(size).await;
    }
    if result.is_ok() {
        result = write_round(&file.direct, ops).await;
    }
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let keep = shared.config.borrow().tail_cache_bytes;
    let mut state = shared.state.borrow_mut();
    match result {
        Err(error) => state.fail(error),
        Ok(()) => {
            if let Some(segment) = state.segment_mut(base_offset) {
                let readable = segment.complete_round(round_id);
                segment.dirty = true;
                segment.tail.evict(segment.durable_bytes, keep);
                state.written_offset = state.written_offset.max(readable);
            }
            state.complete_waiters();
        }
    }
    drop(state);
    signal.raise();
}

async fn execute(shared: &Shared, job: Job) -> Result<(), IoError> {
    match job {
        Job::Create { base_offset } => create(shared, base_offset).await,
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
            seal(shared, &file, base_offset, size, offset_index, time_index).await?;
            // The snapshot first: a recovery point is only ever paired with
            // a producer snapshot at or after it.
            io::write_file_atomic(&shared.dir.join(PRODUCER_STATE_FILE), producer_snapshot).await?;
            io::write_file_atomic(
                &shared.dir.join(RECOVERY_POINT_FILE),
                next_offset.0.to_string().into_bytes(),
            )
            .await?;
            let mut state = shared.state.borrow_mut();
            if let Some(segment) = state.segment_mut(base_offset) {
                segment.phase = Phase::Sealed;
                segment.dirty = false;
                segment.tail.clear();
            }
            state.flushed_offset = state.flushed_offset.max(next_offset);
            state.complete_waiters();
            Ok(())
        }
        Job::Flush { files, target } => {
            for file in &files {
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
        Job::Idle { .. } | Job::Exit => Ok(()),
    }
}

/// Issues every write of a round at once and waits for all of them. The
/// writes cover disjoint pages, so their completion order does not matter.
async fn write_round(file: &DirectFile, ops: Vec<WriteOp>) -> Result<(), IoError> {
    let writes = ops.into_iter().map(|op| async move {
        match op {
            WriteOp::Shared(buf, position) => file.write_shared(buf, position).await,
            WriteOp::Owned(buf, position) => file.write(buf, position).await,
        }
    });
    for result in futures_util::future::join_all(writes).await {
        result?;
    }
    Ok(())
}

async fn create(shared: &Shared, base_offset: Offset) -> Result<(), IoError> {
    let path = segment::file_path(&shared.dir, base_offset, "log");
    let direct = DirectFile::open_read_write(&path).await?;
    let plain = io::open_plain(&path).await?;
    io::sync_dir(&shared.dir).await?;
    let mut state = shared.state.borrow_mut();
    if let Some(segment) = state.segment_mut(base_offset) {
        segment.file = Some(Rc::new(SegmentFile::new(direct, plain, path)));
    }
    Ok(())
}

/// Makes a rolled segment final: data synced, file cut to its logical size
/// (byte for byte a Kafka segment, ready for sendfile), indexes on disk.
pub(super) async fn seal(
    shared: &Shared,
    file: &SegmentFile,
    base_offset: Offset,
    size: u64,
    offset_index: Vec<u8>,
    time_index: Vec<u8>,
) -> Result<(), IoError> {
    crate::latency::timed_fdatasync(file.direct.fdatasync()).await?;
    file.direct.truncate(size).await?;
    crate::latency::timed_fdatasync(file.direct.fdatasync()).await?;
    io::write_file_atomic(
        &segment::file_path(&shared.dir, base_offset, "index"),
        offset_index,
    )
    .await?;
    io::write_file_atomic(
        &segment::file_path(&shared.dir, base_offset, "timeindex"),
        time_index,
    )
    .await
}
