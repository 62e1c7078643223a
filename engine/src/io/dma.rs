//! The operating-system backend of the I/O seam: segment files opened with
//! O_DIRECT through glommio's DMA files (io_uring), and the small metadata
//! files and directories through `std::fs` on glommio's blocking pool.
//!
//! With the `fault-injection` feature every operation first asks the
//! shard's fault plan (`fault.rs`, armed from `RINGLOG_FAULTS`); without it
//! the check is an empty inline function.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaFile, OpenOptions};

use super::buffer::{AlignedBuf, SharedBuf};
use super::read_ahead::ReadAhead;
use super::task::blocking;
use crate::error::IoError;
use crate::limits::{align_down, align_up, DIRECT_IO_ALIGN_BYTES};

type IoResult<T> = std::result::Result<T, IoError>;

/// Which operation a fault-injection check is for.
#[cfg(feature = "fault-injection")]
pub(super) use super::fault::FaultOp;

#[cfg(not(feature = "fault-injection"))]
#[derive(Clone, Copy)]
pub(super) enum FaultOp {
    Create,
    Write,
    Fallocate,
    Fdatasync,
    Truncate,
    AtomicWrite,
    Unlink,
}

#[cfg(feature = "fault-injection")]
#[inline]
fn injected(op: FaultOp, what: &'static str, path: &Path) -> IoResult<()> {
    super::fault::os_check(op, path).map_err(|error| IoError::new(what, path, &error))
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn injected(_op: FaultOp, _what: &'static str, _path: &Path) -> IoResult<()> {
    Ok(())
}

/// glommio's "enhanced" I/O errors turn into a `std::io::Error` without
/// their errno (only the kind and a message survive), and the writer needs
/// it to tell a full disk (ENOSPC) from a failing one (EIO): take the
/// source error itself.
fn glommio_error(op: &'static str, path: &Path, error: glommio::GlommioError<()>) -> IoError {
    match error {
        glommio::GlommioError::EnhancedIoError { source, .. }
        | glommio::GlommioError::IoError(source) => IoError::new(op, path, &source),
        other => IoError::new(op, path, &std::io::Error::from(other)),
    }
}

/// A file opened with O_DIRECT through io_uring.
///
/// Reads run as aligned O_DIRECT preads on glommio's blocking pool, through
/// a duplicate of the descriptor. They are rare (recovery, header scans),
/// and this keeps them working whatever glommio concluded about polled I/O
/// for the device (see [`settle_iopoll_probe`]).
pub struct DmaDirect {
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

impl DmaDirect {
    /// Opens for reads and writes, never truncating; with `create`, a
    /// missing file is created.
    pub async fn open_read_write(path: &Path, create: bool) -> IoResult<DmaDirect> {
        if create && !path.exists() {
            injected(FaultOp::Create, "opening", path)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(path)
            .await
            .map_err(|error| glommio_error("opening", path, error))?;
        let reader = duplicate(&file, path)?;
        Ok(DmaDirect {
            file,
            reader,
            path: path.to_path_buf(),
        })
    }

    /// Writes the whole buffer at an aligned position; a short write is an error.
    pub async fn write(&self, buf: AlignedBuf, position: u64) -> IoResult<()> {
        injected(FaultOp::Write, "writing", &self.path)?;
        let len = buf.len();
        let written = self
            .file
            .write_at(buf.0, position)
            .await
            .map_err(|error| glommio_error("writing", &self.path, error))?;
        self.check_full_write(written, len, position)
    }

    /// Writes `len` bytes of a shared (frozen) buffer from `offset` at an
    /// aligned position; a short write is an error.
    pub async fn write_shared(
        &self,
        buf: SharedBuf,
        offset: usize,
        len: usize,
        position: u64,
    ) -> IoResult<()> {
        injected(FaultOp::Write, "writing", &self.path)?;
        // glommio gets a clone; `buf` is dropped after the write, so the
        // last holder (this write or the tail) recycles the chunk.
        let Some(shared) = buf.0.clone() else {
            return Ok(());
        };
        let written = self
            .file
            .write_rc_range_at(shared, offset, len, position)
            .await
            .map_err(|error| glommio_error("writing", &self.path, error))?;
        drop(buf);
        self.check_full_write(written, len, position)
    }

    /// Writes `len` bytes of a shared (frozen) buffer from `offset`, then
    /// `last`, at an aligned position with one vectored write (vendored
    /// glommio patch 7); a short write is an error.
    pub async fn write_gathered(
        &self,
        pages: SharedBuf,
        offset: usize,
        len: usize,
        last: AlignedBuf,
        position: u64,
    ) -> IoResult<()> {
        injected(FaultOp::Write, "writing", &self.path)?;
        let mut ranges = Vec::with_capacity(2);
        // As in `write_shared`: glommio gets a clone, the last holder recycles.
        if let Some(shared) = pages.0.clone() {
            ranges.push((shared, offset, len));
        }
        let last_len = last.len();
        ranges.push((Rc::new(last.0), 0, last_len));
        let total = ranges.iter().map(|(_, _, len)| len).sum();
        let written = self
            .file
            .write_rc_ranges_at(ranges, position)
            .await
            .map_err(|error| glommio_error("writing", &self.path, error))?;
        drop(pages);
        self.check_full_write(written, total, position)
    }

    /// A short write to a regular file means the filesystem ran out of
    /// room: it is reported as ENOSPC, so the writer treats it as a full disk.
    fn check_full_write(&self, written: usize, len: usize, position: u64) -> IoResult<()> {
        if written == len {
            return Ok(());
        }
        let mut error = IoError::new(
            "writing",
            &self.path,
            &std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
        );
        error.message = format!("short write at {position}: {written} of {len} bytes");
        Err(error)
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
        injected(FaultOp::Fdatasync, "fdatasync", &self.path)?;
        self.file
            .fdatasync()
            .await
            .map_err(|error| glommio_error("fdatasync", &self.path, error))
    }

    pub async fn truncate(&self, size: u64) -> IoResult<()> {
        injected(FaultOp::Truncate, "truncating", &self.path)?;
        self.file
            .truncate(size)
            .await
            .map_err(|error| glommio_error("truncating", &self.path, error))
    }

    /// Reserves blocks up to `size` and extends the file to it.
    pub async fn pre_allocate(&self, size: u64) -> IoResult<()> {
        injected(FaultOp::Fallocate, "preallocating", &self.path)?;
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
/// empty file (a new segment) reads as end-of-file, which passes the test,
/// and glommio then sends every read and write of the device to the poll
/// ring: reads fail with EOPNOTSUPP on a device without poll queues (virtio
/// here), writes are serialised through one kernel worker, and the shard
/// busy-polls. So the first DMA file a shard opens is one with data in it:
/// a probe file written for the purpose or, when the disk is too full to
/// write one (a restart on a full disk must still start), a segment that
/// already holds 4 KiB.
pub async fn settle_iopoll_probe(dir: &Path) -> IoResult<()> {
    if PROBED.with(std::cell::Cell::get) {
        return Ok(());
    }
    let path = dir.join(".iopoll-probe");
    let owned = path.clone();
    let written =
        blocking(move || std::fs::write(owned, vec![0u8; DIRECT_IO_ALIGN_BYTES as usize])).await;
    let probe = match written {
        Ok(()) => Some(path.clone()),
        Err(error) if is_out_of_space(&error) => {
            let _ = std::fs::remove_file(&path);
            find_file_with_data(dir).await
        }
        Err(error) => return Err(IoError::new("writing", &path, &error)),
    };
    if let Some(probe) = probe {
        let file = DmaDirect::open_read_write(&probe, true).await?;
        drop(file);
    }
    remove_file(&path).await?;
    PROBED.with(|probed| probed.set(true));
    Ok(())
}

fn is_out_of_space(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT)
    )
}

/// A file of at least one page in `dir` or in a sibling directory (other
/// partitions of the same log directory), looking at a bounded number.
async fn find_file_with_data(dir: &Path) -> Option<PathBuf> {
    let dir = dir.to_path_buf();
    blocking(move || {
        const LOOKED_AT_MAX: usize = 256;
        let mut places = vec![dir.clone()];
        if let Some(parent) = dir.parent() {
            if let Ok(entries) = std::fs::read_dir(parent) {
                places.extend(
                    entries
                        .flatten()
                        .take(LOOKED_AT_MAX)
                        .map(|entry| entry.path()),
                );
            }
        }
        for place in places.iter().take(LOOKED_AT_MAX) {
            let Ok(entries) = std::fs::read_dir(place) else {
                continue;
            };
            for entry in entries.flatten().take(LOOKED_AT_MAX) {
                let path = entry.path();
                let large = entry
                    .metadata()
                    .is_ok_and(|meta| meta.is_file() && meta.len() >= DIRECT_IO_ALIGN_BYTES);
                if large && path.extension().is_some_and(|extension| extension == "log") {
                    return Some(path);
                }
            }
        }
        None
    })
    .await
}

/// Makes a directory's entries (new or removed files) durable.
pub async fn sync_dir(dir: &Path) -> IoResult<()> {
    let owned = dir.to_path_buf();
    blocking(move || std::fs::File::open(&owned).and_then(|file| file.sync_all()))
        .await
        .map_err(|error| IoError::new("syncing directory", dir, &error))
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary
/// file, fsync it, rename it over the target, fsync the directory. A
/// failure before the rename leaves the target as it was and removes the
/// temporary file.
pub async fn write_file_atomic(path: &Path, bytes: Vec<u8>) -> IoResult<()> {
    injected(FaultOp::AtomicWrite, "writing", path)?;
    let owned = path.to_path_buf();
    blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let temporary = owned.with_extension("tmp-write");
        let written = std::fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
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
    injected(FaultOp::Unlink, "removing", path)?;
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

/// Creates `dir` (and missing parents). Returns whether `dir` itself was
/// created, so the caller can make its entry durable.
pub async fn create_dir_all(dir: &Path) -> IoResult<bool> {
    let owned = dir.to_path_buf();
    blocking(move || {
        if owned.is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(owned).map(|()| true)
    })
    .await
    .map_err(|error| IoError::new("creating directory", dir, &error))
}

/// Opens a plain read-only descriptor, the one sendfile reads from. With
/// [`ReadAhead::Windows`] the kernel's readahead is off on it
/// (`POSIX_FADV_RANDOM`): readahead on a cold catch-up read issues requests
/// of up to `read_ahead_kb` (4 MiB here), several at once; the disk serves
/// them before the small direct writes queued behind them (device time p99
/// 79 ms), and produce p99 rose to ~100 ms. The reader then reads ahead
/// itself, in bounded windows (the server's `sendfile_pool`). With
/// [`ReadAhead::Kernel`] the device's readahead is within those windows and
/// the descriptor keeps it (see `read_ahead.rs`).
pub async fn open_plain(path: &Path, read_ahead: ReadAhead) -> IoResult<std::fs::File> {
    let owned = path.to_path_buf();
    blocking(move || {
        let file = std::fs::File::open(owned)?;
        if read_ahead == ReadAhead::Windows {
            nix::fcntl::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM,
            )?;
        }
        Ok(file)
    })
    .await
    .map_err(|error| IoError::new("opening", path, &error))
}

/// `len` bytes at `position` from the page cache alone, or `None` (some
/// not cached, a short read, or a kernel without `RWF_NOWAIT` for
/// buffered reads). Costs two syscalls on the calling thread, no I/O:
/// [`fully_cached`] first, since a `RWF_NOWAIT` read of a page that is not
/// cached still starts reading it in (and, on a descriptor with the
/// kernel's readahead on, a whole readahead window) before it answers
/// EAGAIN, and sometimes that read is done in time to be returned.
pub fn read_cached(file: &std::fs::File, position: u64, len: usize) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    if fully_cached(file, position, len) == Some(false) {
        return None;
    }
    let mut out = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let iov = nix::libc::iovec {
            iov_base: out[filled..].as_mut_ptr().cast(),
            iov_len: len - filled,
        };
        // SAFETY: the iovec points into `out`, alive and long enough; the
        // descriptor is open while `file` is borrowed.
        let read = unsafe {
            nix::libc::preadv2(
                file.as_raw_fd(),
                &iov,
                1,
                (position + filled as u64) as nix::libc::off_t,
                nix::libc::RWF_NOWAIT,
            )
        };
        match read {
            read if read > 0 => filled += read as usize,
            -1 if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            _ => return None, // the end of the file, EAGAIN (not cached), or an error
        }
    }
    Some(out)
}

/// Whether every page of `[position, position + len)` is in the page
/// cache (pages past the end of the file are not), asked with
/// cachestat(2), which starts no I/O; `None` on a kernel without it
/// (before 6.5).
fn fully_cached(file: &std::fs::File, position: u64, len: usize) -> Option<bool> {
    use std::os::fd::AsRawFd;
    /// cachestat's number, the same on every architecture.
    const SYS_CACHESTAT: nix::libc::c_long = 451;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    if len == 0 {
        return Some(true);
    }
    // SAFETY: sysconf has no memory effects.
    let page = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) }.max(4096) as u64;
    let first = position / page * page;
    let end = (position + len as u64).div_ceil(page) * page;
    let range = Range {
        off: first,
        len: end - first,
    };
    let mut stat = Stat::default();
    // SAFETY: both pointers are to live structs of the kernel's layout; the
    // descriptor is open while `file` is borrowed.
    let result = unsafe {
        nix::libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0u32,
        )
    };
    (result == 0).then_some(stat.nr_cache >= range.len / page)
}

/// Bytes an unprivileged writer may still use on the filesystem of `dir`.
pub async fn available_bytes(dir: &Path) -> IoResult<u64> {
    let owned = dir.to_path_buf();
    blocking(move || nix::sys::statvfs::statvfs(&owned))
        .await
        .map(|stat| stat.blocks_available() * stat.fragment_size())
        .map_err(|errno| IoError::new("statvfs", dir, &std::io::Error::from(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glommio_errors_keep_their_errno() {
        let enhanced = glommio::GlommioError::<()>::EnhancedIoError {
            source: std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
            op: "Pre-allocate space",
            path: None,
            fd: Some(3),
        };
        let error = glommio_error("preallocating", Path::new("/d/0.log"), enhanced);
        assert!(error.is_out_of_space(), "{error:?}");
        let plain =
            glommio::GlommioError::<()>::IoError(std::io::Error::from_raw_os_error(nix::libc::EIO));
        let error = glommio_error("writing", Path::new("/d/0.log"), plain);
        assert_eq!(error.raw_os_error, Some(nix::libc::EIO));
    }

    #[test]
    fn cached_reads_return_cached_bytes_and_nothing_else() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cached");
        let bytes: Vec<u8> = (0..64 * 1024u32).map(|at| (at * 7 % 251) as u8).collect();
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&bytes).unwrap();
        file.sync_all().unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // Just written through the cache: every byte is there.
        assert_eq!(read_cached(&file, 0, bytes.len()), Some(bytes.clone()));
        assert_eq!(read_cached(&file, 5000, 3000).unwrap(), bytes[5000..8000]);
        // Past the end is not "cached": a short read.
        assert_eq!(read_cached(&file, 60 * 1024, 8192), None);
        // A page written with O_DIRECT, as the broker writes, is not in the
        // cache (POSIX_FADV_DONTNEED is only advice, and a hole reads as
        // zeros without I/O): nothing, and no wait.
        let far = 3 << 20;
        {
            use std::os::unix::fs::OpenOptionsExt;
            let direct = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::libc::O_DIRECT)
                .open(&path)
                .unwrap();
            let mut page = AlignedHeap::new(4096).unwrap();
            page.as_mut().fill(7);
            std::os::unix::fs::FileExt::write_all_at(&direct, page.as_mut(), far).unwrap();
            direct.sync_all().unwrap();
        }
        assert_eq!(read_cached(&file, far, 3000), None);
        // Asking read nothing in: a moment later the page is still not
        // cached (a bare RWF_NOWAIT read would have started reading it).
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_ne!(fully_cached(&file, far, 3000), Some(true));
        assert_eq!(read_cached(&file, far, 3000), None);
        // A buffered read brings the page in; the cached read sees it.
        let mut page = vec![0u8; 4096];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut page, far).unwrap();
        assert_eq!(read_cached(&file, far, 100).unwrap(), vec![7u8; 100]);
    }
}
