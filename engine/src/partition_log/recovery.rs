//! Opening a log: find the segments, trust what a clean shutdown or the
//! recovery point vouches for, validate the rest batch by batch (CRC-32C),
//! cut the log at the first torn or invalid batch, and rebuild indexes.
//!
//! ```text
//!  segments:   [ 0 ][ 1000 ][ 2000 ][ 3000 (last) ]
//!  recovery-point = 2000: segments below were sealed after an fdatasync
//!  unclean open: [0], [1000] load their indexes; [2000], [3000] are scanned
//!  clean open:   everything loads; the last segment's tail is scanned from
//!                its last index entry to find its end
//! ```

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use super::segment_state::{Phase, Segment, SegmentFile};
use super::tail::Tail;
use super::{
    idempotent, writer, PartitionLog, Shared, State, CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE,
    PRODUCER_STATE_FILE, RECOVERY_POINT_FILE,
};
use crate::config::LogConfig;
use crate::error::{Error, IoError, Result};
use crate::io::{DirectFile, Signal, Storage, StorageEvent};
use crate::limits::{align_down, BATCH_HEADER_BYTES, SCAN_READ_BYTES, SEGMENT_RELATIVE_OFFSET_MAX};
use crate::offset::{Offset, TimestampMs};
use crate::producer_state::{CachedBatch, ProducerState};
use crate::record_batch::{peek_batch_size, RecordBatch, Validation};
use crate::segment::{self, OffsetIndex, TimeIndex};

pub(super) async fn open(storage: &Storage, dir: &Path, config: LogConfig) -> Result<PartitionLog> {
    if storage.create_dir_all(dir).await? {
        // The new directory's own entry must survive a power loss too.
        if let Some(parent) = dir.parent() {
            storage.sync_dir(parent).await?;
        }
    }
    storage.settle(dir).await?;
    let names = storage.list_dir(dir).await?;
    let mut bases: Vec<Offset> = names
        .iter()
        .filter_map(|name| segment::parse_file_name(name))
        .filter(|(_, extension)| *extension == "log")
        .map(|(base, _)| base)
        .collect();
    bases.sort();
    for name in names.iter().filter(|name| name.ends_with(".tmp-write")) {
        storage.remove_file(&dir.join(name)).await?;
    }
    let clean = storage
        .read_file(&dir.join(CLEAN_SHUTDOWN_FILE))
        .await?
        .is_some();
    let recovery_point = read_offset(storage, &dir.join(RECOVERY_POINT_FILE)).await?;
    let stored_log_start = read_offset(storage, &dir.join(LOG_START_OFFSET_FILE)).await?;
    let now = TimestampMs::now();

    let (mut producers, snapshot_offset) =
        match storage.read_file(&dir.join(PRODUCER_STATE_FILE)).await? {
            Some(bytes) => ProducerState::decode(&bytes).unwrap_or_default(),
            None => (ProducerState::default(), Offset::ZERO),
        };
    let mut replay = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    for (number, &base) in bases.iter().enumerate() {
        let next_base = bases.get(number + 1).copied();
        let trusted =
            clean || recovery_point.is_some_and(|point| base < point && next_base.is_some());
        let (segment, cut) =
            recover_segment(storage, dir, base, next_base, trusted, &config, &mut replay).await?;
        // Offsets are contiguous across segments too: a segment that does
        // not start where the previous one ended (a truncation cut short by
        // a crash) goes, with everything after it.
        let gap = segments
            .last()
            .is_some_and(|previous: &Segment| previous.next_offset != segment.base_offset);
        if gap {
            let previous = segments.last().expect("checked above");
            storage.emit(StorageEvent::RecoveryTruncated {
                dir,
                segment: previous.base_offset,
                file_bytes: previous.size,
                valid_bytes: previous.size,
                later_segments: bases.len() - number,
            });
            drop(segment);
            for &later in &bases[number..] {
                remove_segment_files(storage, dir, later).await?;
            }
            break;
        }
        let valid_bytes = segment.size;
        segments.push(segment);
        if let Some(cut) = cut {
            let later = &bases[number + 1..];
            if cut.torn || !later.is_empty() {
                storage.emit(StorageEvent::RecoveryTruncated {
                    dir,
                    segment: base,
                    file_bytes: cut.file_bytes,
                    valid_bytes,
                    later_segments: later.len(),
                });
            }
            // Data after a torn batch cannot be trusted: drop later segments.
            for &later in later {
                remove_segment_files(storage, dir, later).await?;
            }
            break;
        }
    }
    if segments.is_empty() {
        let base = stored_log_start.unwrap_or(Offset::ZERO);
        segments.push(Segment::new_active(base, now));
    }
    let last = segments.last_mut().expect("at least one segment");
    last.phase = Phase::Active;
    if last.size > 0 {
        last.tail = resume_tail(last).await?;
    }
    last.roll_base_ms = if last.max_timestamp.0 > 0 {
        last.max_timestamp.0.min(now.0)
    } else {
        now.0
    };
    for segment in &mut segments[..] {
        if segment.phase != Phase::Active {
            segment.phase = Phase::Sealed;
        }
    }
    let log_end_offset = segments.last().expect("at least one segment").next_offset;
    producers.truncate_to(log_end_offset);
    for (producer_id, epoch, cached) in replay {
        if cached.base_offset >= snapshot_offset {
            producers.record(producer_id, epoch, cached);
        }
    }
    let first_base = segments[0].base_offset;
    let log_start_offset = stored_log_start
        .unwrap_or(first_base)
        .max(first_base)
        .min(log_end_offset);

    storage.remove_file(&dir.join(CLEAN_SHUTDOWN_FILE)).await?;
    storage.sync_dir(dir).await?;

    let shared = Rc::new(Shared {
        dir: dir.to_path_buf(),
        config: RefCell::new(config),
        state: RefCell::new(State {
            segments,
            log_start_offset,
            log_end_offset,
            written_offset: log_end_offset,
            flushed_offset: log_end_offset,
            flush_requested: log_end_offset,
            unflushed_records: 0,
            last_flush: Instant::now(),
            write_waiters: Vec::new(),
            flush_waiters: Vec::new(),
            watchers: Default::default(),
            failure: None,
            disk_full: None,
            preallocation: Default::default(),
            log_start_unpersisted: false,
            closing: false,
            closed: false,
            fdatasyncs: 0,
            producers,
            next_round_id: 0,
        }),
        signal: Rc::new(Signal::default()),
        storage: storage.clone(),
        leader_epoch: Cell::new(0),
        writer_exited: RefCell::new(None),
        weak_self: RefCell::new(std::rc::Weak::new()),
    });
    *shared.weak_self.borrow_mut() = Rc::downgrade(&shared);
    shared.state.borrow().debug_check();
    writer::spawn(&shared);
    Ok(PartitionLog { shared })
}

async fn read_offset(storage: &Storage, path: &Path) -> Result<Option<Offset>> {
    let Some(bytes) = storage.read_file(path).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let value = text.trim().parse::<i64>().map_err(|error| Error::Corrupt {
        what: "checkpoint",
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    Ok(Some(Offset(value)))
}

pub(super) async fn remove_segment_files(
    storage: &Storage,
    dir: &Path,
    base: Offset,
) -> Result<(), IoError> {
    for extension in ["log", "index", "timeindex"] {
        storage
            .remove_file(&segment::file_path(dir, base, extension))
            .await?;
    }
    Ok(())
}

/// Loads one segment. `trusted` segments load their index files (and are
/// scanned without CRC checks from the last index entry to find their end);
/// the others, or any whose index files are missing or inconsistent, are
/// scanned from the start with full validation. Returns how the file was
/// cut, if its valid batches end before the file does.
/// A segment file recovery cut after its last valid batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    /// The file's size before the cut.
    file_bytes: u64,
    /// Data followed the last valid batch (a torn or damaged write), not
    /// only preallocated zeros.
    torn: bool,
}

pub(super) async fn recover_segment(
    storage: &Storage,
    dir: &Path,
    base: Offset,
    next_base: Option<Offset>,
    trusted: bool,
    config: &LogConfig,
    producers: &mut Vec<(i64, i16, CachedBatch)>,
) -> Result<(Segment, Option<Cut>)> {
    let producers_before = producers.len();
    let path = segment::file_path(dir, base, "log");
    let direct = storage.open_direct(&path).await?;
    let file_size = direct.size().await?;
    let mut segment = Segment::new_active(base, TimestampMs::NONE);
    let mut scan_from = 0;
    if trusted {
        if let Some(loaded) = load_indexes(storage, dir, base, file_size, next_base).await? {
            let (offset_index, time_index) = loaded;
            if let Some(last) = offset_index.entries().last() {
                scan_from = u64::from(last.position);
                segment.next_offset = base.plus(i64::from(last.relative_offset));
            }
            if let Some(last) = time_index.entries().last() {
                segment.max_timestamp = last.timestamp;
                segment.offset_of_max_timestamp = base.plus(i64::from(last.relative_offset));
            }
            segment.offset_index = offset_index;
            segment.time_index = time_index;
        }
    }
    let validate = scan_from == 0 || !trusted;
    if scan_from == 0 {
        segment.offset_index = OffsetIndex::new(base);
        segment.time_index = TimeIndex::new(base);
    }
    let mut end = scan(
        &direct,
        &mut segment,
        scan_from,
        file_size,
        validate,
        config,
        producers,
    )
    .await?;
    if !validate && end != file_size {
        // The index files or the clean marker vouched for data that does
        // not hold up: distrust them and validate the whole segment.
        segment = Segment::new_active(base, TimestampMs::NONE);
        producers.truncate(producers_before);
        end = scan(&direct, &mut segment, 0, file_size, true, config, producers).await?;
    }
    let mut cut = None;
    if end < file_size {
        // Zeros after the last batch are preallocated space an unclean
        // shutdown leaves behind, not a torn write.
        let after = direct
            .read(
                end,
                (file_size - end).min(BATCH_HEADER_BYTES as u64) as usize,
            )
            .await?;
        cut = Some(Cut {
            file_bytes: file_size,
            torn: after.iter().any(|&byte| byte != 0),
        });
        direct.truncate(end).await?;
        direct.fdatasync().await?;
    }
    segment.size = end;
    segment.written_size = end;
    segment.written_next_offset = segment.next_offset;
    segment.durable_bytes = end;
    segment.issued_bytes = end;
    segment.allocated = end;
    segment.phase = Phase::Sealed;
    let plain = storage.open_plain(&path, &direct).await?;
    segment.file = Some(Rc::new(SegmentFile::new(direct, plain, path)));
    Ok((segment, cut))
}

async fn load_indexes(
    storage: &Storage,
    dir: &Path,
    base: Offset,
    log_size: u64,
    next_base: Option<Offset>,
) -> Result<Option<(OffsetIndex, TimeIndex)>> {
    let Some(offset_bytes) = storage
        .read_file(&segment::file_path(dir, base, "index"))
        .await?
    else {
        return Ok(None);
    };
    let Some(time_bytes) = storage
        .read_file(&segment::file_path(dir, base, "timeindex"))
        .await?
    else {
        return Ok(None);
    };
    let Ok(offset_index) = OffsetIndex::parse(base, &offset_bytes, log_size) else {
        return Ok(None);
    };
    let bound = next_base.unwrap_or(Offset(i64::MAX));
    let Ok(time_index) = TimeIndex::parse(base, &time_bytes, bound) else {
        return Ok(None);
    };
    Ok(Some((offset_index, time_index)))
}

/// Reads batches from `from` to the end of the file, feeding each to the
/// segment's indexes, and returns where the valid data ends. A batch that
/// is torn, fails its CRC (when `validate`), or does not follow its
/// predecessor's offsets ends the scan.
async fn scan(
    file: &DirectFile,
    segment: &mut Segment,
    from: u64,
    file_size: u64,
    validate: bool,
    config: &LogConfig,
    producers: &mut Vec<(i64, i16, CachedBatch)>,
) -> Result<u64> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut buffer_start = from;
    let mut position = from;
    while position + BATCH_HEADER_BYTES as u64 <= file_size {
        let header_end = position + BATCH_HEADER_BYTES as u64;
        if header_end > buffer_start + buffer.len() as u64 {
            let len = (SCAN_READ_BYTES as u64).min(file_size - position);
            buffer = file.read(position, len as usize).await?;
            buffer_start = position;
        }
        let at = (position - buffer_start) as usize;
        let size = match peek_batch_size(&buffer[at..]) {
            Some(Ok(size)) => size as u64,
            _ => break,
        };
        if position + size > file_size {
            break;
        }
        if position + size > buffer_start + buffer.len() as u64 {
            let len = size.max(SCAN_READ_BYTES as u64).min(file_size - position);
            buffer = file.read(position, len as usize).await?;
            buffer_start = position;
        }
        let at = (position - buffer_start) as usize;
        let bytes = &buffer[at..at + size as usize];
        let batch = if validate {
            match RecordBatch::parse(bytes, Validation::Stored) {
                Ok(batch) => batch,
                Err(_) => break,
            }
        } else {
            match RecordBatch::parse_header_only(bytes) {
                Some(batch) => batch,
                None => break,
            }
        };
        // Offsets are contiguous: each batch starts where the previous one
        // ended (at `from`, where the last index entry says). The base
        // offset is outside the CRC, so this is what catches a damaged one.
        if batch.base_offset() != segment.next_offset
            || batch.next_offset().0 - segment.base_offset.0 > SEGMENT_RELATIVE_OFFSET_MAX
        {
            break;
        }
        if let Some(producer) = idempotent(&batch) {
            producers.push(producer);
        }
        segment.index_batch(
            position,
            batch.base_offset(),
            batch.next_offset(),
            size,
            batch.max_timestamp(),
            config.index_interval_bytes,
        );
        position += size;
    }
    Ok(position)
}

/// Reads the partial last page back into memory so appends can continue it.
pub(super) async fn resume_tail(segment: &Segment) -> Result<Tail> {
    let page_start = align_down(segment.size);
    let page = match &segment.file {
        Some(file) if segment.size > page_start => {
            file.direct
                .read(page_start, (segment.size - page_start) as usize)
                .await?
        }
        _ => Vec::new(),
    };
    Ok(Tail::resume(segment.size, &page))
}

/// The clean-shutdown half: called by `PartitionLog::close` after a flush.
pub(super) async fn close(shared: &Shared) -> Result<()> {
    shared.state.borrow_mut().closing = true;
    shared.signal.raise();
    let exited = shared.writer_exited.borrow_mut().take();
    if let Some(exited) = exited {
        let _ = exited.await;
    }
    let job = {
        let mut state = shared.state.borrow_mut();
        if let Some(failure) = &state.failure {
            return Err(Error::Offline(failure.clone()));
        }
        state.closed = true;
        let untouched = state.segments.len() == 1
            && state.segments[0].file.is_none()
            && state.producers.is_empty()
            && !state.log_start_unpersisted;
        if untouched {
            // Nothing on disk to vouch for (a partition never written, or
            // whose data is all gone): no files to write, which also lets
            // a broker on a full disk close it.
            return Ok(());
        }
        let end = state.log_end_offset;
        let producer_snapshot = state.producers.encode(end);
        let active = state.active_mut();
        let seal = active.file.clone().map(|file| {
            (
                file,
                active.base_offset,
                active.size,
                active.offset_index.encode(),
                active.time_index.encode(),
                end,
            )
        });
        (seal, producer_snapshot)
    };
    let (seal, producer_snapshot) = job;
    let storage = &shared.storage;
    let log_start = {
        let state = shared.state.borrow();
        state
            .log_start_unpersisted
            .then_some(state.log_start_offset)
    };
    if let Some(offset) = log_start {
        storage
            .write_file_atomic(
                &shared.dir.join(LOG_START_OFFSET_FILE),
                offset.0.to_string().into_bytes(),
            )
            .await?;
    }
    storage
        .write_file_atomic(&shared.dir.join(PRODUCER_STATE_FILE), producer_snapshot)
        .await?;
    if let Some((file, base, size, offset_index, time_index, end)) = seal {
        writer::seal(shared, &file, base, size, offset_index, time_index).await?;
        storage
            .write_file_atomic(
                &shared.dir.join(RECOVERY_POINT_FILE),
                end.0.to_string().into_bytes(),
            )
            .await?;
    }
    storage
        .write_file_atomic(&shared.dir.join(CLEAN_SHUTDOWN_FILE), b"1".to_vec())
        .await?;
    Ok(())
}
