//! Reads: where the bytes for an offset are, as file ranges for sendfile
//! plus in-memory bytes for what is not final on disk; and the offset for a
//! timestamp.
//!
//! A read never holds a borrow of the log state across an await: each step
//! borrows, looks and lets go. Memory only shrinks from the front, and what
//! leaves memory is final on disk, so a position found in the file stays valid.

use std::rc::Rc;

use bytes::Bytes;

use super::segment_state::{FileSlot, SegmentFile};
use super::PartitionLog;
use crate::error::{Error, Result};
use crate::limits::{BATCH_HEADER_BYTES, SCAN_WINDOW_BYTES};
use crate::offset::{FilePosition, Offset, TimestampMs};
use crate::record_batch::{
    peek_batch_size, RecordBatch, RecordBatchHeader, TimestampType, Validation,
};

/// The `(offset, timestamp)` of each record of an inflated batch.
pub type InflatedRecords = Vec<(Offset, TimestampMs)>;

/// One piece of a read, in order.
#[derive(Clone)]
pub enum ReadChunk {
    /// Bytes in a segment file whose pages are final: send them with sendfile.
    File {
        file: Rc<SegmentFile>,
        position: FilePosition,
        len: u64,
    },
    /// Bytes served from memory (not yet final on disk, or cached).
    Memory(Bytes),
}

impl ReadChunk {
    pub fn len(&self) -> u64 {
        match self {
            ReadChunk::File { len, .. } => *len,
            ReadChunk::Memory(bytes) => bytes.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct ReadResult {
    pub chunks: Vec<ReadChunk>,
    pub high_watermark: Offset,
    pub log_start_offset: Offset,
    pub last_stable_offset: Offset,
    /// The offset after the last batch the chunks hold whole, so a fetcher
    /// that started at `start` got `next_offset - start` offsets: exact when
    /// the read reached the readable end; when `max_bytes` cut it, the start
    /// of the last indexed batch before the cut (or the end of the first
    /// batch), a lower bound found without reading more. `start` when empty.
    pub next_offset: Offset,
}

impl ReadResult {
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(ReadChunk::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gathers the bytes (blocking reads of the file parts): for tests and
    /// tools. A broker sends the file parts with sendfile instead.
    pub fn to_vec_blocking(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for chunk in &self.chunks {
            match chunk {
                ReadChunk::File {
                    file,
                    position,
                    len,
                } => out.extend_from_slice(&file.read_range_blocking(*position, *len as usize)?),
                ReadChunk::Memory(bytes) => out.extend_from_slice(bytes),
            }
        }
        Ok(out)
    }
}

/// The facts about a batch a scan needs, read from its header.
#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    position: u64,
    size: u64,
    base_offset: Offset,
    next_offset: Offset,
    max_timestamp: TimestampMs,
}

/// Where a segment's bytes are and how far readers may go.
struct SegmentView {
    base_offset: Offset,
    file: Option<Rc<FileSlot>>,
    readable_size: u64,
    readable_next_offset: Offset,
}

impl PartitionLog {
    /// Reads from `start` up to about `max_bytes`, within one segment. The
    /// first batch is returned whole even when larger than `max_bytes`
    /// (KIP-74); the last may be cut, as Kafka does. An offline log serves
    /// no reads: what its files hold is no longer known.
    pub async fn read(&self, start: Offset, max_bytes: u64) -> Result<ReadResult> {
        let (view, scan_from, high_watermark, log_start_offset) = {
            let state = self.shared.state.borrow();
            if let Some(failure) = &state.failure {
                return Err(Error::Offline(failure.clone()));
            }
            let high_watermark = state.written_offset;
            if start < state.log_start_offset || start > high_watermark {
                return Err(Error::OffsetOutOfRange {
                    requested: start,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: high_watermark,
                });
            }
            let mut result = ReadResult {
                chunks: Vec::new(),
                high_watermark,
                log_start_offset: state.log_start_offset,
                last_stable_offset: high_watermark,
                next_offset: start,
            };
            if start == high_watermark {
                return Ok(result);
            }
            let Some(segment) = state.segments.iter().rev().find(|segment| {
                segment.base_offset <= start && start < segment.written_next_offset
            }) else {
                result.high_watermark = high_watermark;
                return Ok(result);
            };
            let (_, position) = segment.offset_index.lookup(start);
            let view = SegmentView {
                base_offset: segment.base_offset,
                file: segment.file.clone(),
                readable_size: segment.written_size,
                readable_next_offset: segment.written_next_offset,
            };
            (view, position.0, high_watermark, state.log_start_offset)
        };
        let first = self
            .scan(&view, scan_from, |meta| meta.next_offset > start)
            .await?;
        let Some(first) = first else {
            return Err(Error::Corrupt {
                what: "segment",
                path: self.shared.dir.clone(),
                reason: format!("offset {start} not found in segment {}", view.base_offset),
            });
        };
        let wanted = max_bytes.max(first.size);
        let end = view.readable_size.min(first.position + wanted);
        let chunks = self.chunks_for(&view, first.position, end).await?;
        let next_offset = if end == view.readable_size {
            view.readable_next_offset
        } else {
            self.indexed_batch_start_at_or_before(&view, end)
                .max(first.next_offset)
        };
        Ok(ReadResult {
            chunks,
            high_watermark,
            log_start_offset,
            last_stable_offset: high_watermark,
            next_offset,
        })
    }

    /// The base offset of the last indexed batch starting at or before
    /// `position` in the segment: every batch before it ends by `position`.
    fn indexed_batch_start_at_or_before(&self, view: &SegmentView, position: u64) -> Offset {
        let state = self.shared.state.borrow();
        let Some(segment) = state
            .segments
            .iter()
            .find(|segment| segment.base_offset == view.base_offset)
        else {
            return view.base_offset;
        };
        let index = &segment.offset_index;
        let entries = index.entries();
        let found = entries.partition_point(|entry| u64::from(entry.position) <= position);
        found.checked_sub(1).map_or(view.base_offset, |at| {
            index
                .base_offset()
                .plus(i64::from(entries[at].relative_offset))
        })
    }

    /// Where readers of `view`'s segment must take bytes from memory.
    fn memory_start(&self, view: &SegmentView) -> u64 {
        let state = self.shared.state.borrow();
        state
            .segments
            .iter()
            .find(|segment| segment.base_offset == view.base_offset)
            .map_or(u64::MAX, |segment| segment.memory_start())
    }

    /// The segment's open files (opening them if the shard closed them).
    async fn open_file(&self, view: &SegmentView) -> Result<Rc<SegmentFile>> {
        let slot = view.file.clone().ok_or_else(|| Error::Corrupt {
            what: "segment",
            path: self.shared.dir.clone(),
            reason: "written bytes without a file".into(),
        })?;
        Ok(slot.get().await?)
    }

    /// Splits `[position, end)` of a segment into final file ranges and
    /// memory, preferring memory where the tail still holds the bytes.
    async fn chunks_for(
        &self,
        view: &SegmentView,
        position: u64,
        end: u64,
    ) -> Result<Vec<ReadChunk>> {
        // Opening the file may wait; the split is made after, in one
        // borrow. Memory only shrinks from the front meanwhile, so a part
        // that needed the file still does.
        let needs_file = end.min(self.memory_start(view).max(position)) > position;
        let open = match needs_file {
            true => Some(self.open_file(view).await?),
            false => None,
        };
        let state = self.shared.state.borrow();
        let memory_start = state
            .segments
            .iter()
            .find(|segment| segment.base_offset == view.base_offset)
            .map_or(u64::MAX, |segment| segment.memory_start());
        let mut chunks = Vec::new();
        let file_end = end.min(memory_start.max(position));
        if file_end > position {
            let file = open.expect("a file part was needed before the open, so it was opened");
            chunks.push(ReadChunk::File {
                file,
                position: FilePosition(position),
                len: file_end - position,
            });
        }
        if end > file_end {
            let segment = state
                .segments
                .iter()
                .find(|segment| segment.base_offset == view.base_offset)
                .expect("memory_start came from this segment");
            let bytes = segment
                .tail
                .copy_range(file_end, end - file_end)
                .expect("the tail holds everything from memory_start to size");
            chunks.push(ReadChunk::Memory(Bytes::from(bytes)));
        }
        Ok(chunks)
    }

    /// Reads `len` bytes at `position` from memory if the tail holds them,
    /// else from the page cache if it holds them (on the shard: a catch-up
    /// reader's sendfile just read them there, so each fetch's header scan
    /// would otherwise read the disk again on the blocking pool: 10% of a
    /// warm consume's broker samples), else from the file with direct I/O.
    async fn bytes_at(&self, view: &SegmentView, position: u64, len: u64) -> Result<Vec<u8>> {
        let memory_start = {
            let state = self.shared.state.borrow();
            let segment = state
                .segments
                .iter()
                .find(|segment| segment.base_offset == view.base_offset);
            let memory_start = segment.map_or(u64::MAX, |segment| segment.memory_start());
            if let Some(segment) = segment.filter(|_| position >= memory_start) {
                if let Some(bytes) = segment.tail.copy_range(position, len) {
                    return Ok(bytes);
                }
            }
            memory_start
        };
        let file = self.open_file(view).await?;
        // Pages below the tail are final, so a cached copy of them is
        // current; the tail's pages may be rewritten, so they come from
        // memory. Memory only shrinks from the front meanwhile: what was
        // below it still is.
        if position + len <= memory_start {
            if let Some(bytes) = file.read_cached(position, len as usize) {
                return Ok(bytes);
            }
        }
        Ok(file.direct.read(position, len as usize).await?)
    }

    /// Walks batch headers from `position` (a batch start) until `found`
    /// accepts one or the readable end is reached.
    async fn scan(
        &self,
        view: &SegmentView,
        mut position: u64,
        found: impl Fn(&BatchMeta) -> bool,
    ) -> Result<Option<BatchMeta>> {
        // Headers are read a window at a time: one pread serves every
        // header that falls inside it (small batches share a window).
        let mut window: Vec<u8> = Vec::new();
        let mut window_start = 0u64;
        while position < view.readable_size {
            let len = (BATCH_HEADER_BYTES as u64).min(view.readable_size - position);
            let in_window =
                position >= window_start && position + len <= window_start + window.len() as u64;
            if !in_window {
                let window_len = (SCAN_WINDOW_BYTES as u64)
                    .max(len)
                    .min(view.readable_size - position);
                window = self.bytes_at(view, position, window_len).await?;
                window_start = position;
            }
            let at = (position - window_start) as usize;
            let header_bytes = &window[at..at + len as usize];
            let meta = parse_meta(header_bytes, position).ok_or_else(|| Error::Corrupt {
                what: "batch header",
                path: self.shared.dir.clone(),
                reason: format!("at position {position} of segment {}", view.base_offset),
            })?;
            if meta.next_offset > view.readable_next_offset {
                return Ok(None);
            }
            if found(&meta) {
                return Ok(Some(meta));
            }
            position += meta.size;
        }
        Ok(None)
    }

    /// The position of the first batch in segment `base` (scanning from
    /// `from`) that holds `offset` or later offsets; the readable end if none.
    pub(super) async fn batch_position_reaching(
        &self,
        base: Offset,
        from: u64,
        offset: Offset,
    ) -> Result<u64> {
        let view = {
            let state = self.shared.state.borrow();
            let Some(segment) = state
                .segments
                .iter()
                .find(|segment| segment.base_offset == base)
            else {
                return Ok(0);
            };
            SegmentView {
                base_offset: segment.base_offset,
                file: segment.file.clone(),
                readable_size: segment.written_size,
                readable_next_offset: segment.written_next_offset,
            }
        };
        let found = self
            .scan(&view, from, |meta| meta.next_offset > offset)
            .await?;
        Ok(found.map_or(view.readable_size, |meta| meta.position))
    }

    /// The first record whose timestamp is at or after `timestamp`, with its
    /// timestamp (ListOffsets by time). The engine does not inflate
    /// compressed batches: inside one, the batch's base offset and max
    /// timestamp stand for its records. See [`Self::offset_for_timestamp_with`].
    pub async fn offset_for_timestamp(
        &self,
        timestamp: TimestampMs,
    ) -> Result<Option<(Offset, TimestampMs)>> {
        self.offset_for_timestamp_with(timestamp, &|_| None).await
    }

    /// As [`Self::offset_for_timestamp`], with `inflate` to list the
    /// `(offset, timestamp)` of each record of a compressed batch (the server
    /// has the codecs); `None` from it falls back to the batch.
    pub async fn offset_for_timestamp_with(
        &self,
        timestamp: TimestampMs,
        inflate: &dyn Fn(&[u8]) -> Option<InflatedRecords>,
    ) -> Result<Option<(Offset, TimestampMs)>> {
        let (view, position) = {
            let state = self.shared.state.borrow();
            let log_start_offset = state.log_start_offset;
            let Some(segment) = state.segments.iter().find(|segment| {
                segment.written_next_offset > log_start_offset
                    && segment.written_size > 0
                    && segment.max_timestamp >= timestamp
            }) else {
                return Ok(None);
            };
            let from = segment.time_index.lookup(timestamp).max(log_start_offset);
            let (_, position) = segment.offset_index.lookup(from);
            let view = SegmentView {
                base_offset: segment.base_offset,
                file: segment.file.clone(),
                readable_size: segment.written_size,
                readable_next_offset: segment.written_next_offset,
            };
            (view, position.0)
        };
        let log_start_offset = self.log_start_offset();
        let Some(meta) = self
            .scan(&view, position, |meta| {
                meta.max_timestamp >= timestamp && meta.next_offset > log_start_offset
            })
            .await?
        else {
            return Ok(None);
        };
        let batch_answer = Some((meta.base_offset.max(log_start_offset), meta.max_timestamp));
        let bytes = self.bytes_at(&view, meta.position, meta.size).await?;
        let batch = RecordBatch::parse(&bytes, Validation::Stored)?;
        if batch.timestamp_type() == TimestampType::LogAppendTime {
            // Every record carries the batch's append time.
            return Ok(batch_answer);
        }
        let records: Vec<(Offset, TimestampMs)> = match batch.records() {
            Some(records) => records
                .filter_map(|record| record.ok())
                .map(|record| (record.offset, record.timestamp))
                .collect(),
            None => match inflate(&bytes) {
                Some(records) => records,
                None => return Ok(batch_answer),
            },
        };
        let found = records.into_iter().find(|(offset, record_timestamp)| {
            *record_timestamp >= timestamp && *offset >= log_start_offset
        });
        Ok(found.or(batch_answer))
    }

    /// The largest timestamp in the log and the offset that carries it
    /// (ListOffsets MAX_TIMESTAMP; batch granularity).
    pub fn max_timestamp(&self) -> Option<(TimestampMs, Offset)> {
        let state = self.shared.state.borrow();
        state
            .segments
            .iter()
            .filter(|segment| segment.written_size > 0)
            .map(|segment| (segment.max_timestamp, segment.offset_of_max_timestamp))
            .max_by_key(|(timestamp, _)| *timestamp)
    }
}

fn parse_meta(bytes: &[u8], position: u64) -> Option<BatchMeta> {
    let size = peek_batch_size(bytes)?.ok()? as u64;
    let (header, _) = <RecordBatchHeader as zerocopy::FromBytes>::ref_from_prefix(bytes).ok()?;
    let base_offset = Offset(header.base_offset.get());
    let last_offset_delta = header.last_offset_delta.get();
    if last_offset_delta < 0 {
        return None;
    }
    Some(BatchMeta {
        position,
        size,
        base_offset,
        next_offset: base_offset.plus(i64::from(last_offset_delta) + 1),
        max_timestamp: TimestampMs(header.max_timestamp.get()),
    })
}
