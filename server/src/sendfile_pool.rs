//! The threads that send segment files to sockets with sendfile, kept apart
//! from glommio's blocking pool.
//!
//! A cold sendfile reads the disk synchronously (O_DIRECT data is not in
//! the page cache, KAFKA-7504), so it cannot run on the shard thread. It
//! used to run on glommio's blocking pool, with the socket in blocking
//! mode: a consumer that stopped reading held a pool thread in sendfile for
//! ever, and the same pool creates segment files and syncs directories, so
//! four stalled consumers stopped every segment roll of their shard and
//! every producer behind it.
//!
//! Now each shard has pool threads of its own for sendfile, and a job never
//! waits for the client:
//!
//! ```text
//!  connection (shard)                 sendfile pool thread
//!   ──job: socket, file, range──▶    sendfile until the range is sent, the
//!                                    job's byte bound is reached, or the
//!                                    socket is full (EAGAIN: non-blocking)
//!   ◀──Progress { sent, next_byte }── on a full socket: also the range's
//!                                    next byte, read here (it may be cold)
//!   write next_byte through glommio: waits for room in the socket on the
//!   shard's ring, under the connection's send timeout; then the next job
//! ```
//!
//! A job costs a pool thread for the disk reads of at most
//! `SENDFILE_JOB_BYTES_MAX` bytes; a client that does not read costs its
//! connection a wait on the shard's ring and nothing else. The one byte
//! written through glommio is glommio's only public way to wait for a
//! socket to take more (its `poll_write`), and costs one small segment per
//! socket-full wait; everything else of the range still goes file to socket.
//!
//! The threads run `SENDFILE_NICE` below the priority they started with, so
//! when the cores are busy the shards come first; they are not pinned
//! (a shard's core must not run its catch-up readers' copies).
//!
//! Shard contract: the pool is thread-local to its shard; its threads
//! share nothing with the shard but the job queue.

use std::cell::OnceCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use engine::ReadAhead;

use futures_channel::oneshot;

use crate::limits::{
    READ_AHEAD_WINDOW_BYTES, SENDFILE_JOB_BYTES_MAX, SENDFILE_NICE, SENDFILE_SOCKET_WAIT,
    SENDFILE_THREADS,
};

/// What one job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes that went file to socket.
    pub sent: u64,
    /// Set when the socket was full before the range was sent: the byte at
    /// `position + sent`, for the caller to write once the socket has room.
    pub next_byte: Option<u8>,
}

struct Job {
    socket: Arc<OwnedFd>,
    file: Arc<OwnedFd>,
    position: u64,
    end: u64,
    done: oneshot::Sender<std::io::Result<Progress>>,
}

thread_local! {
    static POOL: OnceCell<crossbeam_channel::Sender<Job>> = const { OnceCell::new() };
}

/// Who reads segment files ahead of sendfile, chosen once at start for
/// the log directory's device ([`choose_read_ahead`]).
static READ_AHEAD: OnceLock<ReadAhead> = OnceLock::new();

/// Chooses, once, who reads ahead of sendfile for segments in `log_dir`
/// (`engine/src/io/read_ahead.rs`): the kernel where the device reads
/// ahead at most `READ_AHEAD_WINDOW_BYTES`, the sending threads' windows
/// otherwise; and says which at start.
pub fn choose_read_ahead(log_dir: &Path) -> ReadAhead {
    *READ_AHEAD.get_or_init(|| {
        let (choice, device) = ReadAhead::choose(log_dir, READ_AHEAD_WINDOW_BYTES);
        let device = device.map_or("unknown".to_string(), |bytes| format!("{} KiB", bytes >> 10));
        match choice {
            ReadAhead::Kernel => tracing::info!(
                "cold reads: the kernel reads segment files ahead (the device's read_ahead_kb: {device})"
            ),
            ReadAhead::Windows => tracing::info!(
                "cold reads: sendfile threads read ahead in {} KiB windows, the kernel's readahead off \
                 (the device's read_ahead_kb: {device}; at most {} lets the kernel's large pages \
                 serve cold reads for less CPU, docs/operations.md)",
                READ_AHEAD_WINDOW_BYTES >> 10,
                READ_AHEAD_WINDOW_BYTES >> 10
            ),
        }
        choice
    })
}

/// The choice [`choose_read_ahead`] made; the sender's windows before it.
pub fn read_ahead() -> ReadAhead {
    READ_AHEAD.get().copied().unwrap_or(ReadAhead::Windows)
}

/// Sends some of `file[position..end)` to `socket` (non-blocking) on this
/// shard's pool; see [`Progress`]. The pool starts on first use.
pub async fn send(
    socket: Arc<OwnedFd>,
    file: Arc<OwnedFd>,
    position: u64,
    end: u64,
) -> std::io::Result<Progress> {
    assert!(position < end, "an empty range is not sent");
    let (done, progress) = oneshot::channel();
    let job = Job {
        socket,
        file,
        position,
        end,
        done,
    };
    POOL.with(|pool| pool.get_or_init(start).send(job))
        .map_err(|_| std::io::Error::other("the sendfile pool is gone"))?;
    progress
        .await
        .map_err(|_| std::io::Error::other("a sendfile job was dropped"))?
}

/// Starts this shard's pool threads; they end when the shard's queue does.
fn start() -> crossbeam_channel::Sender<Job> {
    let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
    for index in 0..SENDFILE_THREADS {
        let receiver = receiver.clone();
        let name = format!(
            "{}-sendfile-{index}",
            std::thread::current().name().unwrap_or("shard")
        );
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                unpin_and_lower_priority();
                for job in receiver {
                    let sent = send_some(&job.socket, &job.file, job.position, job.end);
                    let _ = job.done.send(sent);
                }
            })
            .expect("starting a sendfile thread");
    }
    sender
}

/// A new thread inherits its shard's pinning: let it run on any CPU the
/// broker may use (`cpus.rs`), at `SENDFILE_NICE` below the priority it
/// started with.
fn unpin_and_lower_priority() {
    crate::cpus::unpin_current_thread();
    let thread = nix::unistd::gettid().as_raw() as nix::libc::id_t;
    if let Some(nice) = current_nice(thread) {
        set_nice(thread, (nice + SENDFILE_NICE).min(NICE_LOWEST));
    }
}

/// The lowest priority a nice value can give.
const NICE_LOWEST: i32 = 19;

/// A thread's nice value, if it can be read.
fn current_nice(thread: nix::libc::id_t) -> Option<i32> {
    // getpriority may return -1 as a value: errno tells an error apart.
    nix::errno::Errno::clear();
    // SAFETY: getpriority has no memory effects.
    let nice = unsafe { nix::libc::getpriority(nix::libc::PRIO_PROCESS, thread) };
    (nice != -1 || nix::errno::Errno::last_raw() == 0).then_some(nice)
}

fn set_nice(thread: nix::libc::id_t, nice: i32) {
    // SAFETY: setpriority has no memory effects; it sets a thread's nice value.
    let result = unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, thread, nice) };
    if result != 0 {
        tracing::debug!(
            "could not set a sendfile thread's nice value to {nice}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Sends `file[position..end)` to the non-blocking `socket`, at most
/// `SENDFILE_JOB_BYTES_MAX` of it, a window of `READ_AHEAD_WINDOW_BYTES` at
/// a time. With [`ReadAhead::Windows`] the next window is read ahead
/// (`POSIX_FADV_WILLNEED`, which only starts the reads) while this one goes
/// out: segment descriptors have the kernel's readahead off, so a cold range
/// reaches the disk as at most two window-sized reads per sending thread
/// instead of several 4 MiB readahead requests, and the direct writes of
/// producers wait behind little. With [`ReadAhead::Kernel`] the device's
/// readahead is no larger than a window and the kernel's own reads ahead
/// (into large pages) do it. Stops at a full socket (see [`Progress`]).
fn send_some(
    socket: &OwnedFd,
    file: &OwnedFd,
    position: u64,
    end: u64,
) -> std::io::Result<Progress> {
    let end = end.min(position + SENDFILE_JOB_BYTES_MAX);
    read_ahead_window(file, position, end);
    let mut offset = position;
    let mut waited = std::time::Duration::ZERO;
    while offset < end {
        let window_end = end.min(offset + READ_AHEAD_WINDOW_BYTES);
        read_ahead_window(file, window_end, end);
        match send_window(socket.as_fd(), file, &mut offset, window_end)? {
            Window::Sent => {}
            // A reading client drains a full socket within a moment: wait
            // here a little, up to SENDFILE_SOCKET_WAIT per job, rather
            // than hand the range back to the shard for every socket-full
            // (a round trip and a one-byte write each, 10-20% of a warm
            // catch-up's broker CPU). A client that does not read costs
            // the thread that wait once, then waits on the shard's ring.
            Window::SocketFull if waited < SENDFILE_SOCKET_WAIT => {
                let started = std::time::Instant::now();
                wait_writable(socket.as_fd(), SENDFILE_SOCKET_WAIT - waited);
                waited += started.elapsed();
            }
            Window::SocketFull => {
                let next_byte = byte_at(file, offset)?;
                return Ok(Progress {
                    sent: offset - position,
                    next_byte: Some(next_byte),
                });
            }
        }
    }
    Ok(Progress {
        sent: offset - position,
        next_byte: None,
    })
}

/// Starts reading `[from, min(from + window, end))` into the page cache,
/// unless the kernel's own readahead does ([`ReadAhead::Kernel`]). Advice
/// only: a failure costs speed, not correctness.
fn read_ahead_window(file: &OwnedFd, from: u64, end: u64) {
    if from >= end || read_ahead() == ReadAhead::Kernel {
        return;
    }
    let len = (end - from).min(READ_AHEAD_WINDOW_BYTES);
    let _ = nix::fcntl::posix_fadvise(
        file.as_raw_fd(),
        from as i64,
        len as i64,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
    );
}

enum Window {
    Sent,
    SocketFull,
}

/// Sends `[*offset, end)`, advancing `*offset`, until it is all sent or the
/// socket is full.
fn send_window(
    socket: BorrowedFd<'_>,
    file: &OwnedFd,
    offset: &mut u64,
    end: u64,
) -> std::io::Result<Window> {
    while *offset < end {
        let mut at = *offset as i64;
        let count = (end - *offset) as usize;
        match nix::sys::sendfile::sendfile64(socket, file, Some(&mut at), count) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment ended early",
                ))
            }
            Ok(_) => *offset = at as u64,
            Err(nix::errno::Errno::EAGAIN) => return Ok(Window::SocketFull),
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Window::Sent)
}

/// Waits until `socket` can take more, or `timeout` passes (either way the
/// caller tries again and sees which).
fn wait_writable(socket: BorrowedFd<'_>, timeout: std::time::Duration) {
    let mut poll = [nix::poll::PollFd::new(
        socket,
        nix::poll::PollFlags::POLLOUT,
    )];
    let millis = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
    let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(millis));
}

/// The byte of `file` at `offset`.
fn byte_at(file: &OwnedFd, offset: u64) -> std::io::Result<u8> {
    let mut byte = 0u8;
    loop {
        // SAFETY: pread writes at most one byte into `byte`.
        let read = unsafe {
            nix::libc::pread(
                file.as_raw_fd(),
                std::ptr::addr_of_mut!(byte).cast(),
                1,
                offset as nix::libc::off_t,
            )
        };
        match read {
            1 => return Ok(byte),
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment ended early",
                ))
            }
            _ => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn segment(len: usize) -> (Vec<u8>, OwnedFd) {
        let contents: Vec<u8> = (0..len).map(|index| (index % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&contents).unwrap();
        (contents, OwnedFd::from(file))
    }

    /// Sends the whole range as the connection does: jobs, and the next
    /// byte written by the caller when the socket is full.
    fn send_range(socket: &mut UnixStream, file: &OwnedFd, position: u64, end: u64) {
        let owned = OwnedFd::from(socket.try_clone().unwrap());
        let mut at = position;
        while at < end {
            let progress = send_some(&owned, file, at, end).unwrap();
            assert!(progress.sent <= SENDFILE_JOB_BYTES_MAX);
            at += progress.sent;
            if let Some(byte) = progress.next_byte {
                socket.set_nonblocking(false).unwrap();
                socket.write_all(&[byte]).unwrap();
                socket.set_nonblocking(true).unwrap();
                at += 1;
            }
        }
    }

    /// Ranges that start mid-window, span several windows and jobs, and end
    /// short of a window arrive whole and in order, through a socket that
    /// fills up again and again.
    #[test]
    fn ranges_arrive_whole_across_windows_jobs_and_full_sockets() {
        let window = READ_AHEAD_WINDOW_BYTES as usize;
        let job = SENDFILE_JOB_BYTES_MAX as usize;
        let (contents, file) = segment(job + 3 * window + 5_000);
        for (position, len) in [
            (0, contents.len()),
            (17, window),
            (window - 3, 2 * window + 9),
            (contents.len() - 1, 1),
        ] {
            let (mut sender, mut receiver) = UnixStream::pair().unwrap();
            sender.set_nonblocking(true).unwrap();
            let reader = std::thread::spawn(move || {
                let mut received = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // A slow reader: the socket fills while it sleeps.
                    std::thread::sleep(std::time::Duration::from_micros(50));
                    match receiver.read(&mut chunk).unwrap() {
                        0 => return received,
                        count => received.extend_from_slice(&chunk[..count]),
                    }
                }
            });
            send_range(&mut sender, &file, position as u64, (position + len) as u64);
            drop(sender);
            let received = reader.join().unwrap();
            assert_eq!(received.len(), len, "range {position}+{len}");
            assert!(received == contents[position..position + len]);
        }
    }

    /// A reader that never reads: the job comes back with the next byte
    /// once the socket is full, instead of waiting.
    #[test]
    fn a_full_socket_ends_the_job_instead_of_waiting() {
        let (contents, file) = segment(4 * READ_AHEAD_WINDOW_BYTES as usize);
        let (sender, _receiver) = UnixStream::pair().unwrap();
        sender.set_nonblocking(true).unwrap();
        let sender = OwnedFd::from(sender);
        let end = contents.len() as u64;
        let first = send_some(&sender, &file, 0, end).unwrap();
        assert!(first.sent < end, "a unix socket buffer holds less");
        assert_eq!(first.next_byte, Some(contents[first.sent as usize]));
        let again = send_some(&sender, &file, first.sent, end).unwrap();
        assert_eq!(again.sent, 0, "still full");
        assert_eq!(again.next_byte, first.next_byte);
    }

    #[test]
    fn past_the_end_of_the_file_is_an_error_not_a_hang() {
        let (_, file) = segment(1000);
        let (sender, _receiver) = UnixStream::pair().unwrap();
        let sender = OwnedFd::from(sender);
        let error = send_some(&sender, &file, 900, 1100).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    /// Pool threads run SENDFILE_NICE below the thread that started them.
    #[test]
    fn pool_threads_run_at_a_lower_priority() {
        std::thread::spawn(|| {
            let thread = nix::unistd::gettid().as_raw() as nix::libc::id_t;
            set_nice(thread, 3);
            let pooled = std::thread::spawn(|| {
                unpin_and_lower_priority();
                let thread = nix::unistd::gettid().as_raw() as nix::libc::id_t;
                current_nice(thread).unwrap()
            })
            .join()
            .unwrap();
            assert_eq!(pooled, (3 + SENDFILE_NICE).min(NICE_LOWEST));
            assert_eq!(
                current_nice(thread).unwrap(),
                3,
                "the starter keeps its own"
            );
        })
        .join()
        .unwrap();
    }
}
