//! The only module that touches glommio: direct-I/O files, aligned buffers,
//! task spawning and hand-offs to the blocking pool. Everything else in the
//! engine speaks these small types, so a move to another runtime (compio,
//! monoio) rewrites this file and little else.
//!
//! Contract: every function here must be called on a thread that runs a
//! glommio `LocalExecutor` (a shard). Nothing here is `Send`.

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions};

use crate::error::IoError;
use crate::limits::{
    align_down, align_up, CHUNK_POOL_MAX, DIRECT_IO_ALIGN_BYTES, WRITE_CHUNK_BYTES,
};

type IoResult<T> = std::result::Result<T, IoError>;

fn glommio_error(op: &'static str, path: &Path, error: glommio::GlommioError<()>) -> IoError {
    let error: std::io::Error = error.into();
    IoError::new(op, path, &error)
}

/// A buffer aligned for direct I/O, owned until it is written, with the id
/// of the executor that allocated it (see `CHUNK_POOL`).
pub struct AlignedBuf(DmaBuffer, usize);

impl AlignedBuf {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// An aligned buffer frozen for sharing between a write and readers, with
/// the id of the executor that allocated it.
#[derive(Clone)]
pub struct SharedBuf(Option<Rc<DmaBuffer>>, usize);

impl Drop for SharedBuf {
    fn drop(&mut self) {
        if let Some(Ok(buf)) = self.0.take().map(Rc::try_unwrap) {
            recycle(buf, self.1);
        }
    }
}

/// Recycled tail chunks and the executor they belong to.
#[derive(Default)]
struct ChunkPool {
    executor_id: usize,
    buffers: Vec<DmaBuffer>,
}

thread_local! {
    /// Tail chunks whose data is on disk and out of the cache, kept for the
    /// next chunk: a fresh 1 MiB allocation costs 256 page faults and the
    /// kernel zeroing every page (measured: ~15% of the broker's CPU under
    /// produce load). Their old bytes are never written or read: a chunk
    /// only exposes what it was filled with, and partial writes zero the rest.
    ///
    /// A buffer only serves the executor that allocated it: glommio may
    /// carve it from that executor's io_uring-registered memory and write it
    /// as a fixed buffer of that ring, which another ring (a later executor
    /// on this thread, as in tests and benches) rejects with EFAULT.
    static CHUNK_POOL: std::cell::RefCell<ChunkPool> = std::cell::RefCell::new(ChunkPool::default());
}

fn recycle(buf: DmaBuffer, executor_id: usize) {
    if buf.len() != WRITE_CHUNK_BYTES {
        return;
    }
    // During thread teardown the pool may be gone: the buffer is freed.
    let _ = CHUNK_POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.executor_id == executor_id && pool.buffers.len() < CHUNK_POOL_MAX {
            pool.buffers.push(buf);
        }
    });
}

/// A recycled chunk for the current executor, if the pool has one.
fn reuse(executor_id: usize) -> Option<DmaBuffer> {
    CHUNK_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.executor_id != executor_id {
            pool.buffers.clear();
            pool.executor_id = executor_id;
        }
        pool.buffers.pop()
    })
}

impl SharedBuf {
    pub fn freeze(buf: AlignedBuf) -> SharedBuf {
        SharedBuf(Some(Rc::new(buf.0)), buf.1)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |buf| buf.as_bytes())
    }

    /// A stand-in used only while a chunk changes state.
    pub fn empty_marker() -> SharedBuf {
        SharedBuf(None, 0)
    }
}

/// A file opened with O_DIRECT through io_uring.
///
/// Reads run as aligned O_DIRECT preads on glommio's blocking pool, through
/// a duplicate of the descriptor. They are rare (recovery, header scans),
/// and this keeps them working whatever glommio concluded about polled I/O
/// for the device (see [`settle_iopoll_probe`]).
pub struct DirectFile {
    file: DmaFile,
    reader: std::sync::Arc<std::fs::File>,
    path: PathBuf,
}

fn duplicate(file: &DmaFile, path: &Path) -> IoResult<std::sync::Arc<std::fs::File>> {
    use std::os::fd::BorrowedFd;
    // SAFETY: the descriptor is open for as long as `file` lives; it is only
    // borrowed here to duplicate it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) };
    let owned = borrowed
        .try_clone_to_owned()
        .map_err(|error| IoError::new("duplicating descriptor of", path, &error))?;
    Ok(std::sync::Arc::new(std::fs::File::from(owned)))
}

impl DirectFile {
    /// Opens (creating if needed, never truncating) for reads and writes.
    pub async fn open_read_write(path: &Path) -> IoResult<DirectFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .dma_open(path)
            .await
            .map_err(|error| glommio_error("opening", path, error))?;
        let reader = duplicate(&file, path)?;
        Ok(DirectFile {
            file,
            reader,
            path: path.to_path_buf(),
        })
    }

    /// An anonymous O_TMPFILE in `dir`: a handle for allocating buffers
    /// before any segment file exists.
    pub async fn anonymous(dir: &Path) -> IoResult<DirectFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .tmpfile(true)
            .dma_open(dir)
            .await
            .map_err(|error| glommio_error("creating a temporary file in", dir, error))?;
        let reader = duplicate(&file, dir)?;
        Ok(DirectFile {
            file,
            reader,
            path: dir.to_path_buf(),
        })
    }

    /// An aligned buffer of `len` bytes. A tail-chunk-sized one may come
    /// from the pool of recycled chunks, with old bytes in it.
    pub fn alloc(&self, len: usize) -> AlignedBuf {
        let executor_id = glommio::executor().id();
        if len == WRITE_CHUNK_BYTES {
            if let Some(buf) = reuse(executor_id) {
                return AlignedBuf(buf, executor_id);
            }
        }
        AlignedBuf(self.file.alloc_dma_buffer(len), executor_id)
    }

    /// Writes the whole buffer at an aligned position; a short write is an error.
    pub async fn write(&self, buf: AlignedBuf, position: u64) -> IoResult<()> {
        let len = buf.len();
        let written = self
            .file
            .write_at(buf.0, position)
            .await
            .map_err(|error| glommio_error("writing", &self.path, error))?;
        self.check_full_write(written, len, position)
    }

    pub async fn write_shared(&self, buf: SharedBuf, position: u64) -> IoResult<()> {
        // glommio gets a clone; `buf` is dropped after the write, so the
        // last holder (this write or the tail) recycles the chunk.
        let Some(shared) = buf.0.clone() else {
            return Ok(());
        };
        let len = shared.len();
        let written = self
            .file
            .write_rc_at(shared, position)
            .await
            .map_err(|error| glommio_error("writing", &self.path, error))?;
        drop(buf);
        self.check_full_write(written, len, position)
    }

    fn check_full_write(&self, written: usize, len: usize, position: u64) -> IoResult<()> {
        if written == len {
            return Ok(());
        }
        let error = std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write at {position}: {written} of {len} bytes"),
        );
        Err(IoError::new("writing", &self.path, &error))
    }

    /// Reads up to `len` bytes at any position (the file aligns internally).
    /// Short only at the end of the file.
    pub async fn read(&self, position: u64, len: usize) -> IoResult<Vec<u8>> {
        let reader = self.reader.clone();
        blocking(move || read_direct(&reader, position, len))
            .await
            .map_err(|error| IoError::new("reading", &self.path, &error))
    }

    pub async fn fdatasync(&self) -> IoResult<()> {
        self.file
            .fdatasync()
            .await
            .map_err(|error| glommio_error("fdatasync", &self.path, error))
    }

    pub async fn truncate(&self, size: u64) -> IoResult<()> {
        self.file
            .truncate(size)
            .await
            .map_err(|error| glommio_error("truncating", &self.path, error))
    }

    /// Reserves blocks up to `size` and extends the file to it, so writes
    /// never extend the file: ext4 runs size-extending direct writes
    /// synchronously under an exclusive lock, in-place ones asynchronously.
    /// Recovery cuts the zeroed space after the last batch.
    pub async fn pre_allocate(&self, size: u64) -> IoResult<()> {
        self.file
            .pre_allocate(size, false)
            .await
            .map_err(|error| glommio_error("preallocating", &self.path, error))
    }

    pub async fn size(&self) -> IoResult<u64> {
        self.file
            .file_size()
            .await
            .map_err(|error| glommio_error("stat", &self.path, error))
    }
}

impl AsRawFd for DirectFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// An aligned pread covering `[position, position + len)`, trimmed.
fn read_direct(file: &std::fs::File, position: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let start = align_down(position);
    let end = align_up(position + len as u64);
    let span = (end - start) as usize;
    let mut buffer = AlignedHeap::new(span)?;
    let mut filled = 0;
    while filled < span {
        let read = file.read_at(&mut buffer.as_mut()[filled..], start + filled as u64)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    let skip = (position - start) as usize;
    let available = filled.saturating_sub(skip).min(len);
    Ok(buffer.as_mut()[skip..skip + available].to_vec())
}

/// A heap buffer aligned for O_DIRECT, for reads on the blocking pool.
struct AlignedHeap {
    pointer: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

impl AlignedHeap {
    fn new(len: usize) -> std::io::Result<AlignedHeap> {
        let layout =
            std::alloc::Layout::from_size_align(len.max(1), DIRECT_IO_ALIGN_BYTES as usize)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { std::alloc::alloc_zeroed(layout) };
        let pointer = std::ptr::NonNull::new(pointer)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        Ok(AlignedHeap { pointer, layout })
    }

    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is `layout.size()` bytes, zeroed, owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.pointer.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedHeap {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.pointer.as_ptr(), self.layout) }
    }
}

thread_local! {
    static PROBED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// glommio decides once per device whether it supports polled I/O, by
/// reading the first 4 KiB of the first file it opens there with DMA. An
/// empty file (a new segment, an O_TMPFILE) reads as end-of-file, which
/// passes the test, and glommio then sends every read and write of the
/// device to the poll ring: reads fail with EOPNOTSUPP on a device without
/// poll queues (virtio here), writes are serialised through one kernel
/// worker, and the shard busy-polls. So the first DMA file a shard opens is
/// one with data in it.
pub async fn settle_iopoll_probe(dir: &Path) -> IoResult<()> {
    if PROBED.with(std::cell::Cell::get) {
        return Ok(());
    }
    let path = dir.join(".iopoll-probe");
    let owned = path.clone();
    blocking(move || std::fs::write(owned, vec![0u8; DIRECT_IO_ALIGN_BYTES as usize]))
        .await
        .map_err(|error| IoError::new("writing", &path, &error))?;
    let file = DirectFile::open_read_write(&path).await?;
    drop(file);
    remove_file(&path).await?;
    PROBED.with(|probed| probed.set(true));
    Ok(())
}

/// Runs a blocking closure on glommio's blocking pool, off the shard.
pub async fn blocking<F, R>(function: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(function).await
}

/// Spawns a task on the current shard and lets it run on its own.
pub fn spawn_detached(future: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(future).detach();
}

/// Makes a directory's entries (new or removed files) durable.
pub async fn sync_dir(dir: &Path) -> IoResult<()> {
    let owned = dir.to_path_buf();
    blocking(move || std::fs::File::open(&owned).and_then(|file| file.sync_all()))
        .await
        .map_err(|error| IoError::new("syncing directory", dir, &error))
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary
/// file, fsync it, rename it over the target, fsync the directory.
pub async fn write_file_atomic(path: &Path, bytes: Vec<u8>) -> IoResult<()> {
    let owned = path.to_path_buf();
    blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let temporary = owned.with_extension("tmp-write");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &owned)?;
        if let Some(parent) = owned.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|error| IoError::new("writing", path, &error))
}

/// Reads a whole small file; `Ok(None)` if it does not exist.
pub async fn read_file(path: &Path) -> IoResult<Option<Vec<u8>>> {
    let owned = path.to_path_buf();
    match blocking(move || std::fs::read(owned)).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IoError::new("reading", path, &error)),
    }
}

/// Removes a file; a file already gone is not an error.
pub async fn remove_file(path: &Path) -> IoResult<()> {
    let owned = path.to_path_buf();
    match blocking(move || std::fs::remove_file(owned)).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(IoError::new("removing", path, &error)),
    }
}

/// Lists the file names in a directory.
pub async fn list_dir(dir: &Path) -> IoResult<Vec<String>> {
    let owned = dir.to_path_buf();
    blocking(move || -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(owned)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    })
    .await
    .map_err(|error| IoError::new("listing", dir, &error))
}

pub async fn create_dir_all(dir: &Path) -> IoResult<()> {
    let owned = dir.to_path_buf();
    blocking(move || std::fs::create_dir_all(owned))
        .await
        .map_err(|error| IoError::new("creating directory", dir, &error))
}

/// Opens a plain read-only descriptor, the one sendfile reads from, with
/// the kernel's readahead off (`POSIX_FADV_RANDOM`). Readahead on a cold
/// catch-up read issues requests of up to `read_ahead_kb` (4 MiB here),
/// several at once; the disk serves them before the small direct writes
/// queued behind them (device time p99 79 ms), and produce p99 rose to
/// ~100 ms.
/// The reader reads ahead itself, in bounded windows (see the server's
/// `connection::send_file`).
pub async fn open_plain(path: &Path) -> IoResult<std::fs::File> {
    let owned = path.to_path_buf();
    blocking(move || {
        let file = std::fs::File::open(owned)?;
        nix::fcntl::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM,
        )?;
        Ok(file)
    })
    .await
    .map_err(|error| IoError::new("opening", path, &error))
}

/// A one-shot wake-up for a single waiting task (the partition writer).
#[derive(Default)]
pub struct Signal {
    raised: std::cell::Cell<bool>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

impl Signal {
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|context| {
            if self.raised.replace(false) {
                return std::task::Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(context.waker().clone());
            std::task::Poll::Pending
        })
        .await
    }

    /// Waits for the signal or for `timeout`, whichever comes first.
    pub async fn wait_timeout(&self, timeout: std::time::Duration) {
        let timer = glommio::timer::Timer::new(timeout);
        futures_util::future::select(std::pin::pin!(self.wait()), std::pin::pin!(timer)).await;
    }
}
