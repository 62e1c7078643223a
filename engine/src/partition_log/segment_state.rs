//! The in-memory state of one segment: sizes, the tail, the indexes being
//! built and the open files.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::tail::Tail;
use crate::io::DirectFile;
use crate::offset::{FilePosition, Offset, TimestampMs};
use crate::segment::{OffsetIndex, TimeIndex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Takes appends.
    Active,
    /// Rolled: takes no appends; the writer finishes, syncs and seals it.
    Sealing,
    /// Fully written, fdatasync'ed, truncated to its logical size, indexes on disk.
    Sealed,
}

/// A segment's open files: the direct-I/O handle the writer and scans use,
/// and a plain descriptor for sendfile. Shared with readers by `Rc`, so a
/// segment deleted while a reader holds it stays readable until dropped.
pub struct SegmentFile {
    pub(crate) direct: DirectFile,
    plain: std::fs::File,
    path: PathBuf,
}

impl SegmentFile {
    pub(crate) fn new(direct: DirectFile, plain: std::fs::File, path: PathBuf) -> SegmentFile {
        SegmentFile {
            direct,
            plain,
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads a range with pread through the page cache. Blocking: for tests
    /// and tools, never for a shard's data path (which uses sendfile).
    pub fn read_range_blocking(
        &self,
        position: FilePosition,
        len: usize,
    ) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = vec![0u8; len];
        self.plain.read_exact_at(&mut out, position.0)?;
        Ok(out)
    }
}

impl AsRawFd for SegmentFile {
    /// The plain (page-cache) descriptor, for sendfile.
    fn as_raw_fd(&self) -> RawFd {
        self.plain.as_raw_fd()
    }
}

pub struct Segment {
    pub base_offset: Offset,
    /// One past the last offset assigned in this segment.
    pub next_offset: Offset,
    /// Logical bytes appended.
    pub size: u64,
    /// Bytes whose writes completed, a contiguous prefix at a batch boundary.
    pub written_size: u64,
    /// One past the last offset inside `written_size`.
    pub written_next_offset: Offset,
    pub tail: Tail,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    pub bytes_since_index_entry: u64,
    pub max_timestamp: TimestampMs,
    pub offset_of_max_timestamp: Offset,
    /// Wall-clock start for `segment.ms`.
    pub roll_base_ms: i64,
    pub phase: Phase,
    pub file: Option<Rc<SegmentFile>>,
    /// Bytes reserved by fallocate.
    pub allocated: u64,
    /// Written since the last fdatasync.
    pub dirty: bool,
}

impl Segment {
    pub fn new_active(base_offset: Offset, now: TimestampMs) -> Segment {
        Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            written_size: 0,
            written_next_offset: base_offset,
            tail: Tail::default(),
            offset_index: OffsetIndex::new(base_offset),
            time_index: TimeIndex::new(base_offset),
            bytes_since_index_entry: 0,
            max_timestamp: TimestampMs::NONE,
            offset_of_max_timestamp: base_offset,
            roll_base_ms: now.0,
            phase: Phase::Active,
            file: None,
            allocated: 0,
            dirty: false,
        }
    }

    /// Notes a batch that starts at `position` in the indexes. Called on
    /// append and again by recovery for every batch it reads back, so both
    /// build the same indexes.
    pub fn index_batch(
        &mut self,
        position: u64,
        base_offset: Offset,
        next_offset: Offset,
        size: u64,
        max_timestamp: TimestampMs,
        index_interval_bytes: u64,
    ) {
        if max_timestamp > self.max_timestamp || self.max_timestamp == TimestampMs::NONE {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = Offset(next_offset.0 - 1);
        }
        if position == 0 || self.bytes_since_index_entry >= index_interval_bytes {
            self.offset_index.push(base_offset, FilePosition(position));
            self.time_index.push(self.max_timestamp, base_offset);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += size;
        self.next_offset = next_offset;
    }

    /// Bytes appended but not yet written.
    pub fn pending_bytes(&self) -> u64 {
        self.size - self.written_size
    }

    /// The first position readers must take from memory rather than the
    /// file: everything below it is on disk in pages that are never rewritten.
    pub fn memory_start(&self) -> u64 {
        match self.phase {
            Phase::Sealed => u64::MAX,
            Phase::Active | Phase::Sealing => self
                .tail
                .start()
                .unwrap_or(crate::limits::align_down(self.written_size)),
        }
    }
}
