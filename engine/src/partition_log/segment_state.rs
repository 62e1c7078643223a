//! The in-memory state of one segment: sizes, the tail, the indexes being
//! built and its files, opened on demand (`FileSlot`).

use std::cell::RefCell;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::tail::Tail;
use crate::error::IoError;
use crate::io::{DirectFile, Evictable, HeldFile, PlainFile, Storage};
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
    plain: PlainFile,
    path: PathBuf,
    /// Its place in the shard's budget of open files, given back with it.
    _held: HeldFile,
}

impl SegmentFile {
    pub(crate) fn new(
        direct: DirectFile,
        plain: PlainFile,
        path: PathBuf,
        held: HeldFile,
    ) -> SegmentFile {
        SegmentFile {
            direct,
            plain,
            path,
            _held: held,
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
        self.plain.read_range_blocking(position.0, len)
    }

    /// `len` bytes at `position` if the page cache holds them all; see
    /// [`PlainFile::read_cached`].
    pub(crate) fn read_cached(&self, position: u64, len: usize) -> Option<Vec<u8>> {
        self.plain.read_cached(position, len)
    }
}

impl AsRawFd for SegmentFile {
    /// The plain (page-cache) descriptor, for sendfile.
    fn as_raw_fd(&self) -> RawFd {
        self.plain.raw_fd()
    }
}

/// Times a segment's files are tried again after the process ran out of
/// descriptors (each after closing more slots and a pause of 1, 2, ... ms)
/// before the caller gets the error.
const DESCRIPTOR_LIMIT_RETRIES: u64 = 6;

/// Runs `open` (which opens a segment's files) after making room in the
/// shard's budget of open files. Out of descriptors anyway (sockets took
/// the rest, or closed files not yet closed by the ring), it closes more
/// slots, gives the ring a turn to carry out the closes (a dropped direct
/// file is closed asynchronously) and tries again, a few times.
pub(crate) async fn open_with_room<T, F, Opening>(
    storage: &Storage,
    mut open: F,
) -> Result<(T, HeldFile), IoError>
where
    F: FnMut() -> Opening,
    Opening: std::future::Future<Output = Result<T, IoError>>,
{
    let files = storage.open_files();
    files.make_room();
    let held = files.hold().await;
    let mut attempt = 0;
    loop {
        match open().await {
            Err(error) if error.is_descriptor_limit() && attempt < DESCRIPTOR_LIMIT_RETRIES => {
                attempt += 1;
                files.shed();
                crate::io::pause(Duration::from_millis(attempt)).await;
            }
            opened => return opened.map(|opened| (opened, held)),
        }
    }
}

/// A segment's files as the log holds them: opened when first needed and
/// closed again when the shard's budget of open files needs the room
/// (`io/open_files.rs`). Whoever needs the files calls [`FileSlot::get`]
/// and holds the `Rc<SegmentFile>` for as long as it uses them (a write
/// round, a scan, a fetch being sent); closing the slot never takes them
/// from under a holder.
pub(crate) struct FileSlot {
    path: PathBuf,
    storage: Storage,
    id: u64,
    open: RefCell<Option<Rc<SegmentFile>>>,
}

impl FileSlot {
    /// A slot for an existing segment file, not opened yet.
    pub(crate) fn closed(storage: &Storage, path: PathBuf) -> Rc<FileSlot> {
        Rc::new(FileSlot {
            path,
            storage: storage.clone(),
            id: storage.open_files().next_id(),
            open: RefCell::new(None),
        })
    }

    /// A slot for files just opened (a new segment, or recovery's).
    pub(crate) fn opened(storage: &Storage, file: SegmentFile) -> Rc<FileSlot> {
        let slot = FileSlot::closed(storage, file.path.clone());
        slot.admit(Rc::new(file));
        slot
    }

    /// The open files, opening them first if the slot is closed. A segment
    /// deleted meanwhile is an error (NotFound), never a new empty file.
    pub(crate) async fn get(self: &Rc<Self>) -> Result<Rc<SegmentFile>, IoError> {
        if let Some(file) = self.open.borrow().clone() {
            self.storage.open_files().touch(self.id);
            return Ok(file);
        }
        let files = self.storage.open_files().clone();
        let ((direct, plain), held) = open_with_room(&self.storage, || self.open_files()).await?;
        let file = SegmentFile::new(direct, plain, self.path.clone(), held);
        // Another task may have opened the slot while this one waited.
        if let Some(file) = self.open.borrow().clone() {
            files.touch(self.id);
            return Ok(file);
        }
        let file = Rc::new(file);
        self.admit(file.clone());
        Ok(file)
    }

    async fn open_files(&self) -> Result<(DirectFile, PlainFile), IoError> {
        let direct = self.storage.open_direct(&self.path, false).await?;
        let plain = self.storage.open_plain(&self.path, &direct).await?;
        Ok((direct, plain))
    }

    fn admit(self: &Rc<Self>, file: Rc<SegmentFile>) {
        *self.open.borrow_mut() = Some(file);
        let weak: std::rc::Weak<dyn Evictable> =
            Rc::downgrade(self) as std::rc::Weak<dyn Evictable>;
        self.storage.open_files().admit(self.id, weak);
    }
}

impl Evictable for FileSlot {
    fn evict(&self) {
        self.open.borrow_mut().take();
    }
}

impl Drop for FileSlot {
    fn drop(&mut self) {
        self.storage.open_files().forget(self.id);
    }
}

/// A set of writes issued together, covering `[start, end)` of the file.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub id: u64,
    pub start: u64,
    pub end: u64,
    pub done: bool,
}

pub struct Segment {
    pub base_offset: Offset,
    /// One past the last offset assigned in this segment.
    pub next_offset: Offset,
    /// Logical bytes appended.
    pub size: u64,
    /// Readable bytes: a prefix whose writes completed, ending at a batch
    /// boundary. Readers never go past it.
    pub written_size: u64,
    /// One past the last offset inside `written_size`.
    pub written_next_offset: Offset,
    /// Bytes whose writes completed: a contiguous prefix (may end mid-batch).
    pub durable_bytes: u64,
    /// End of the bytes handed to writes so far, in flight or done.
    pub issued_bytes: u64,
    /// Write rounds not yet folded into `durable_bytes`, in issue order.
    pub rounds: std::collections::VecDeque<Round>,
    /// `(end position, next offset)` of appended batches not yet readable.
    pub boundaries: std::collections::VecDeque<(u64, Offset)>,
    /// A partial page a round skipped because an earlier round was writing
    /// it: written again, whole, once that write is done.
    pub pending_page: Option<u64>,
    pub tail: Tail,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    pub bytes_since_index_entry: u64,
    pub max_timestamp: TimestampMs,
    pub offset_of_max_timestamp: Offset,
    /// Wall-clock start for `segment.ms`.
    pub roll_base_ms: i64,
    pub phase: Phase,
    pub(crate) file: Option<Rc<FileSlot>>,
    /// Bytes reserved by fallocate.
    pub allocated: u64,
    /// Written since the last fdatasync.
    pub dirty: bool,
    /// A round failed for want of space: plan the writes again from
    /// `durable_bytes` once no round is in flight.
    pub replan: bool,
}

impl Segment {
    pub fn new_active(base_offset: Offset, now: TimestampMs) -> Segment {
        Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            written_size: 0,
            written_next_offset: base_offset,
            durable_bytes: 0,
            issued_bytes: 0,
            rounds: std::collections::VecDeque::new(),
            boundaries: std::collections::VecDeque::new(),
            pending_page: None,
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
            replan: false,
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
        self.size - self.durable_bytes
    }

    pub fn rounds_in_flight(&self) -> usize {
        self.rounds.iter().filter(|round| !round.done).count()
    }

    /// Marks a round complete and folds completed rounds, in order, into
    /// `durable_bytes`, then moves the readable end over every batch that
    /// is now wholly on disk. Returns the new readable next offset.
    pub fn complete_round(&mut self, id: u64) -> Offset {
        if let Some(round) = self.rounds.iter_mut().find(|round| round.id == id) {
            round.done = true;
        }
        // Rounds may complete out of order, and a skipped page is written
        // after the rounds beyond it: fold every done round that starts
        // within the durable prefix, until none does.
        while let Some(index) = self
            .rounds
            .iter()
            .position(|round| round.done && round.start <= self.durable_bytes)
        {
            let round = self.rounds.remove(index).expect("found above");
            self.durable_bytes = self.durable_bytes.max(round.end);
        }
        while let Some(&(end, next_offset)) = self.boundaries.front() {
            if end > self.durable_bytes {
                break;
            }
            self.boundaries.pop_front();
            self.written_size = end;
            self.written_next_offset = next_offset;
        }
        self.written_next_offset
    }

    /// The first position readers must take from memory rather than the
    /// file: everything below it is on disk in pages that are never rewritten.
    pub fn memory_start(&self) -> u64 {
        match self.phase {
            Phase::Sealed => u64::MAX,
            Phase::Active | Phase::Sealing => self
                .tail
                .start()
                .unwrap_or(crate::limits::align_down(self.durable_bytes)),
        }
    }
}
