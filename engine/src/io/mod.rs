//! The engine's I/O seam: every byte the engine puts on or takes off a disk,
//! and every directory change, goes through the two types here, and nothing
//! else in the engine touches glommio's files or `std::fs`.
//!
//! ```text
//!            partition_log (writer, recovery, retention, reads)
//!                 │ Storage: open, list, read/write small files atomically,
//!                 │          unlink, fsync a directory, free space, events
//!                 │ DirectFile: write, read, fdatasync, fallocate, truncate
//!        ┌────────┴─────────────────────┐
//!   dma.rs (always)               sim.rs (feature `fault-injection`)
//!   glommio DMA files, O_DIRECT,  in-memory files and directories with a
//!   io_uring; std::fs on the      power-loss model (what survives a crash)
//!   blocking pool for metadata    and injected errors; tests only
//! ```
//!
//! Dispatch is static: both types are enums matched at each call, and
//! without the feature the enums have one variant, so the match compiles
//! away (the append benchmark moved by less than its noise when the seam
//! went in; `docs/storage.md`). With the feature, the operating-system
//! backend also consults a fault plan armed from `RINGLOG_FAULTS`
//! (`fault.rs`), which is how tests fail writes of the real broker.
//!
//! What the writer may need from a faster backend later (issue 15: batched
//! submissions, registered buffers) fits behind `DirectFile::write*`: the
//! contract is "write this aligned buffer at this aligned position, whole,
//! or return an error"; completions may come in any order.
//!
//! Errors keep the operation and path (`IoError`). A storage event sink
//! ([`Storage::with_events`]) hears what an operator must know: a partition
//! going offline, a disk-full episode starting and ending, recovery cutting
//! a torn tail. The engine does not log; its host does.
//!
//! Contract: every function here must be called on a thread that runs a
//! glommio `LocalExecutor` (a shard). Nothing here is `Send`.

mod buffer;
mod dma;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod open_files;
pub mod read_ahead;
#[cfg(feature = "fault-injection")]
pub mod sim;
mod task;

use std::os::fd::RawFd;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

pub use buffer::{alloc, AlignedBuf, SharedBuf};
pub use dma::settle_iopoll_probe;
pub(crate) use open_files::{Evictable, HeldFile, OpenFiles};
pub use read_ahead::ReadAhead;
pub use task::{pause, spawn_detached, Signal};

use crate::cache_budget::CacheBudget;
use crate::error::IoError;
use crate::offset::Offset;

type IoResult<T> = std::result::Result<T, IoError>;

/// What the engine tells its host about storage trouble, once per episode.
#[derive(Debug)]
pub enum StorageEvent<'a> {
    /// The partition in `dir` went offline after an I/O error it cannot
    /// recover from (EIO, a failed fdatasync): it refuses reads and writes
    /// until the broker restarts and recovers it.
    Offline { dir: &'a Path, error: &'a IoError },
    /// A write or a metadata update in `dir` failed for want of space.
    /// Appends are refused (KAFKA_STORAGE_ERROR) until space returns; what
    /// was accepted before stays queued and is written then.
    DiskFull { dir: &'a Path, error: &'a IoError },
    /// The disk-full episode of `dir` is over: space returned (the queued
    /// writes went through, appends are accepted again), or the log was
    /// closed or deleted during it (`space_returned` false).
    DiskFullEnded {
        dir: &'a Path,
        duration: Duration,
        refused_appends: u64,
        space_returned: bool,
    },
    /// Preallocation (fallocate) failed; the log writes without it, which
    /// is slower on ext4 but correct.
    PreallocationFailed { dir: &'a Path, error: &'a IoError },
    /// Recovery cut segment `segment` from `file_bytes` to `valid_bytes`
    /// (a torn or invalid tail) and removed `later_segments` after it.
    RecoveryTruncated {
        dir: &'a Path,
        segment: Offset,
        file_bytes: u64,
        valid_bytes: u64,
        later_segments: usize,
    },
}

/// Where the events of a `Storage` go.
pub type EventSink = Rc<dyn Fn(&StorageEvent<'_>)>;

#[derive(Clone)]
enum Backend {
    Os,
    #[cfg(feature = "fault-injection")]
    Sim(Rc<sim::SimFs>),
}

/// Where a log's files live, who hears about storage trouble, and how many
/// segment files may be open at once (`open_files.rs`). Cheap to clone; a
/// shard makes one and opens every partition with it, so its partitions
/// share one budget of open files.
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
    events: Option<EventSink>,
    open_files: Rc<OpenFiles>,
    tail_caches: Rc<CacheBudget>,
    read_ahead: ReadAhead,
}

impl Default for Storage {
    fn default() -> Self {
        Storage::os()
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &self.backend {
            Backend::Os => "os",
            #[cfg(feature = "fault-injection")]
            Backend::Sim(_) => "simulated",
        };
        formatter
            .debug_struct("Storage")
            .field("backend", &backend)
            .finish()
    }
}

#[cfg(feature = "fault-injection")]
fn sim_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |error| IoError::new(op, path, &error)
}

impl Storage {
    /// The operating system's filesystem, segment files through glommio's
    /// DMA files.
    pub fn os() -> Storage {
        Storage {
            backend: Backend::Os,
            events: None,
            open_files: Rc::default(),
            tail_caches: Rc::default(),
            read_ahead: ReadAhead::Windows,
        }
    }

    /// A simulated filesystem (tests; see `sim.rs`).
    #[cfg(feature = "fault-injection")]
    pub fn simulated(fs: Rc<sim::SimFs>) -> Storage {
        Storage {
            backend: Backend::Sim(fs),
            events: None,
            open_files: Rc::default(),
            tail_caches: Rc::default(),
            read_ahead: ReadAhead::Windows,
        }
    }

    /// The same storage, with events going to `sink`.
    pub fn with_events(mut self, sink: impl Fn(&StorageEvent<'_>) + 'static) -> Storage {
        self.events = Some(Rc::new(sink));
        self
    }

    /// At most `open_max` segment files of the logs opened with this
    /// storage (and its clones) stay open; the least recently used one is
    /// closed to make room (default [`OPEN_SEGMENTS_DEFAULT`]). Each costs
    /// three descriptors.
    pub fn with_open_segments_max(self, open_max: usize) -> Storage {
        self.open_files.set_open_max(open_max);
        self
    }

    /// The open-segment budget, the segments open now, and how many were
    /// closed to make room so far.
    pub fn open_segments(&self) -> (usize, usize, u64) {
        let files = &self.open_files;
        (files.open_max(), files.open_count(), files.evictions())
    }

    pub(crate) fn open_files(&self) -> &Rc<OpenFiles> {
        &self.open_files
    }

    /// All the logs opened with this storage keep at most `bytes_max` of
    /// tail cache together (default 512 MiB); the least recently written
    /// ones drop theirs first (`cache_budget.rs`).
    pub fn with_tail_cache_bytes_max(self, bytes_max: u64) -> Storage {
        self.tail_caches.set_bytes_max(bytes_max);
        self
    }

    /// The tail-cache budget, the bytes held now, and how many caches were
    /// dropped to stay within it so far.
    pub fn tail_caches(&self) -> (u64, u64, u64) {
        let caches = &self.tail_caches;
        (caches.bytes_max(), caches.held(), caches.shrunk())
    }

    pub(crate) fn tail_cache_budget(&self) -> &Rc<CacheBudget> {
        &self.tail_caches
    }

    pub(crate) fn emit(&self, event: StorageEvent<'_>) {
        if let Some(sink) = &self.events {
            sink(&event);
        }
    }

    /// Opens a segment file for direct I/O; with `create`, a missing one
    /// is created (the caller makes a new file's directory entry durable),
    /// without, it is an error (a segment deleted meanwhile).
    pub(crate) async fn open_direct(&self, path: &Path, create: bool) -> IoResult<DirectFile> {
        match &self.backend {
            Backend::Os => Ok(DirectFile::Dma(
                dma::DmaDirect::open_read_write(path, create).await?,
            )),
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs
                .open(path, create)
                .await
                .map(DirectFile::Sim)
                .map_err(sim_error("opening", path)),
        }
    }

    /// Who reads segment files ahead of sendfile (`read_ahead.rs`); the
    /// default is the sender's windows, with the kernel's readahead off.
    pub fn with_read_ahead(mut self, read_ahead: ReadAhead) -> Storage {
        self.read_ahead = read_ahead;
        self
    }

    /// The descriptor readers send from (sendfile) for a segment file.
    pub(crate) async fn open_plain(&self, path: &Path, direct: &DirectFile) -> IoResult<PlainFile> {
        match direct {
            DirectFile::Dma(_) => Ok(PlainFile::Os(dma::open_plain(path, self.read_ahead).await?)),
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => Ok(PlainFile::Sim(file.clone())),
        }
    }

    /// Creates `dir` and missing parents; whether `dir` itself was new.
    pub(crate) async fn create_dir_all(&self, dir: &Path) -> IoResult<bool> {
        match &self.backend {
            Backend::Os => dma::create_dir_all(dir).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs
                .create_dir_all(dir)
                .await
                .map_err(sim_error("creating directory", dir)),
        }
    }

    /// Whatever the backend needs before the first file of `dir` opens
    /// (glommio's polled-I/O probe, see `dma::settle_iopoll_probe`).
    pub(crate) async fn settle(&self, dir: &Path) -> IoResult<()> {
        match &self.backend {
            Backend::Os => settle_iopoll_probe(dir).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(_) => Ok(()),
        }
    }

    pub(crate) async fn list_dir(&self, dir: &Path) -> IoResult<Vec<String>> {
        match &self.backend {
            Backend::Os => dma::list_dir(dir).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs.list_dir(dir).await.map_err(sim_error("listing", dir)),
        }
    }

    /// A whole small file; `None` if it does not exist.
    pub(crate) async fn read_file(&self, path: &Path) -> IoResult<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Os => dma::read_file(path).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs.read_file(path).await.map_err(sim_error("reading", path)),
        }
    }

    /// Replaces `path` with `bytes` atomically and durably (temporary file,
    /// fsync, rename, directory fsync).
    pub(crate) async fn write_file_atomic(&self, path: &Path, bytes: Vec<u8>) -> IoResult<()> {
        match &self.backend {
            Backend::Os => dma::write_file_atomic(path, bytes).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs
                .write_file_atomic(path, &bytes)
                .await
                .map_err(sim_error("writing", path)),
        }
    }

    /// Unlinks a file (not durable until the directory is synced); a file
    /// already gone is not an error.
    pub(crate) async fn remove_file(&self, path: &Path) -> IoResult<()> {
        match &self.backend {
            Backend::Os => dma::remove_file(path).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs
                .remove_file(path)
                .await
                .map_err(sim_error("removing", path)),
        }
    }

    /// Makes a directory's entries (new, renamed or removed files) durable.
    pub(crate) async fn sync_dir(&self, dir: &Path) -> IoResult<()> {
        match &self.backend {
            Backend::Os => dma::sync_dir(dir).await,
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs
                .sync_dir(dir)
                .await
                .map_err(sim_error("syncing directory", dir)),
        }
    }

    /// Bytes the filesystem of `dir` still offers; `None` if unknown.
    pub(crate) async fn available_bytes(&self, dir: &Path) -> Option<u64> {
        match &self.backend {
            Backend::Os => dma::available_bytes(dir).await.ok(),
            #[cfg(feature = "fault-injection")]
            Backend::Sim(fs) => fs.available_bytes(),
        }
    }
}

/// A segment file open for direct I/O: aligned positions and lengths.
pub(crate) enum DirectFile {
    Dma(dma::DmaDirect),
    #[cfg(feature = "fault-injection")]
    Sim(sim::SimFile),
}

impl DirectFile {
    /// Writes the whole buffer at an aligned position; a short write is an error.
    pub async fn write(&self, buf: AlignedBuf, position: u64) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => file.write(buf, position).await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .write(position, buf.as_bytes())
                .await
                .map_err(sim_error("writing", file.path())),
        }
    }

    /// Writes `len` bytes of a shared (frozen) chunk from `offset` at an
    /// aligned position; a short write is an error.
    pub async fn write_shared(
        &self,
        buf: SharedBuf,
        offset: usize,
        len: usize,
        position: u64,
    ) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => file.write_shared(buf, offset, len, position).await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .write(position, &buf.as_bytes()[offset..offset + len])
                .await
                .map_err(sim_error("writing", file.path())),
        }
    }

    /// Writes `len` bytes of a shared (frozen) chunk from `offset`, then
    /// `last`, at an aligned position with one vectored write; a short
    /// write is an error.
    pub async fn write_gathered(
        &self,
        pages: SharedBuf,
        offset: usize,
        len: usize,
        last: AlignedBuf,
        position: u64,
    ) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => {
                file.write_gathered(pages, offset, len, last, position)
                    .await
            }
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => {
                let mut bytes = pages.as_bytes()[offset..offset + len].to_vec();
                bytes.extend_from_slice(last.as_bytes());
                file.write(position, &bytes)
                    .await
                    .map_err(sim_error("writing", file.path()))
            }
        }
    }

    /// Reads up to `len` bytes at any position; short only at the end of the file.
    pub async fn read(&self, position: u64, len: usize) -> IoResult<Vec<u8>> {
        match self {
            DirectFile::Dma(file) => file.read(position, len).await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .read(position, len)
                .await
                .map_err(sim_error("reading", file.path())),
        }
    }

    /// Makes every write that completed before this call durable. An error
    /// is never retried: the pages it concerned may be lost for good.
    pub async fn fdatasync(&self) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => file.fdatasync().await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .fdatasync()
                .await
                .map_err(sim_error("fdatasync", file.path())),
        }
    }

    pub async fn truncate(&self, size: u64) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => file.truncate(size).await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .set_len(size)
                .await
                .map_err(sim_error("truncating", file.path())),
        }
    }

    /// Reserves blocks up to `size` and extends the file to it, so writes
    /// never extend the file: ext4 runs size-extending direct writes
    /// synchronously under an exclusive lock, in-place ones asynchronously.
    /// Recovery cuts the zeroed space after the last batch. A failure here
    /// is not a failure of the log: the writes that follow extend the file.
    pub async fn pre_allocate(&self, size: u64) -> IoResult<()> {
        match self {
            DirectFile::Dma(file) => file.pre_allocate(size).await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => file
                .fallocate(size)
                .await
                .map_err(sim_error("preallocating", file.path())),
        }
    }

    pub async fn size(&self) -> IoResult<u64> {
        match self {
            DirectFile::Dma(file) => file.size().await,
            #[cfg(feature = "fault-injection")]
            DirectFile::Sim(file) => Ok(file.size()),
        }
    }
}

/// The descriptor readers use for a segment: sendfile reads it.
pub(crate) enum PlainFile {
    Os(std::fs::File),
    #[cfg(feature = "fault-injection")]
    Sim(sim::SimFile),
}

impl PlainFile {
    /// Reads a range (blocking for the operating-system backend): for tests
    /// and tools, never for a shard's data path.
    pub fn read_range_blocking(&self, position: u64, len: usize) -> std::io::Result<Vec<u8>> {
        match self {
            PlainFile::Os(file) => {
                use std::os::unix::fs::FileExt;
                let mut out = vec![0u8; len];
                file.read_exact_at(&mut out, position)?;
                Ok(out)
            }
            #[cfg(feature = "fault-injection")]
            PlainFile::Sim(file) => {
                let bytes = file.read_now(position, len);
                if bytes.len() < len {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                Ok(bytes)
            }
        }
    }

    /// Reads `len` bytes at `position` if the page cache holds all of them
    /// (`preadv2` with `RWF_NOWAIT`: never waits for the disk, so it may
    /// run on a shard); `None` when any is missing. Only for pages no
    /// write will touch again: the cache may hold a page from before a
    /// direct write that rewrote it. A simulated file has no cache.
    pub fn read_cached(&self, position: u64, len: usize) -> Option<Vec<u8>> {
        match self {
            PlainFile::Os(file) => dma::read_cached(file, position, len),
            #[cfg(feature = "fault-injection")]
            PlainFile::Sim(_) => None,
        }
    }

    /// The descriptor for sendfile; a simulated file has none (-1, which
    /// sendfile refuses with EBADF): only engine tests use those.
    pub fn raw_fd(&self) -> RawFd {
        match self {
            PlainFile::Os(file) => std::os::fd::AsRawFd::as_raw_fd(file),
            #[cfg(feature = "fault-injection")]
            PlainFile::Sim(_) => -1,
        }
    }
}
