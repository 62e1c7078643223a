//! One client connection: read size-prefixed frames, answer each in order,
//! write the answer. Fetch answers carry file ranges that go to the socket
//! with sendfile on glommio's blocking pool, so a cold read from disk stalls
//! a helper thread, not the shard (KAFKA-7504).

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_lite::AsyncWriteExt;
use futures_util::future::{select, Either};
use glommio::net::TcpStream;

use crate::api;
use crate::api::reply::{Part, Reply};
use crate::frame_reader::{FrameError, FrameReader};
use crate::limits::{IN_FLIGHT_MAX, READ_AHEAD_WINDOW_BYTES, SENDFILE_NICE};
use crate::shard::Shard;

/// Lists the connection on its shard while it is open (graceful shutdown).
/// Dropped before the stream, so the socket is open while listed.
struct OpenGuard(Rc<Shard>, u64);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connection_closed(self.1);
    }
}

pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream, stop: Arc<AtomicBool>) {
    let _guard = OpenGuard(shard.clone(), shard.connection_opened(stream.as_raw_fd()));
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    let mut frames = FrameReader::new(shard.config.socket_request_max_bytes());
    // Answers still to come, oldest first (only `Reply::Later` ones). Each
    // runs as its own task: a produce may be carrying a write round that an
    // earlier one waits for, so all must make progress, not just the oldest.
    let mut in_flight: InFlight = VecDeque::new();
    let ended = loop {
        if stop.load(Ordering::SeqCst) {
            break finish(&mut stream, &mut in_flight).await;
        }
        if in_flight.len() >= IN_FLIGHT_MAX {
            match answer_oldest(&mut stream, &mut in_flight).await {
                Ok(()) => continue,
                Err(ended) => break Err(ended),
            }
        }
        let next = match in_flight.front_mut() {
            None => frames.next(&mut stream).await,
            Some(oldest) => {
                let waited = {
                    let reading = std::pin::pin!(frames.next(&mut stream));
                    match select(reading, oldest).await {
                        Either::Left((next, _)) => Ok(next),
                        Either::Right((reply, _)) => Err(reply.unwrap_or_else(lost)),
                    }
                };
                match waited {
                    Ok(next) => next,
                    Err(reply) => {
                        in_flight.pop_front();
                        match write_reply(&mut stream, reply).await {
                            Ok(()) => continue,
                            Err(ended) => break Err(ended),
                        }
                    }
                }
            }
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            // The input ended (the client half-closed, or the shard is
            // stopping and shut the read side): answer what was started.
            Ok(None) | Err(FrameError::EndInsideFrame) => {
                let _ = finish(&mut stream, &mut in_flight).await;
                break Err(Ended::Quietly("input ended".into()));
            }
            Err(FrameError::SizeOutOfBounds(size)) => {
                break Err(Ended::Closed(format!("request size {size} out of bounds")))
            }
            Err(FrameError::Io(error)) => break Err(Ended::Quietly(error)),
        };
        match api::handle(&shard, frame).await {
            Reply::Later(answer) => in_flight.push_back(glommio::spawn_local(answer).detach()),
            reply => {
                if let Err(ended) = finish(&mut stream, &mut in_flight).await {
                    break Err(ended);
                }
                if let Err(ended) = write_reply(&mut stream, reply).await {
                    break Err(ended);
                }
            }
        }
    };
    match ended {
        Ok(()) => {}
        Err(Ended::Quietly(reason)) => tracing::debug!(%peer, "connection ends: {reason}"),
        Err(Ended::Closed(reason)) => tracing::info!(%peer, "closing connection: {reason}"),
    }
}

/// Requests answered later, each running as its own task, oldest first.
type InFlight = VecDeque<glommio::task::JoinHandle<Reply>>;

/// The answer of a request whose task was cancelled (the shard stopping).
fn lost() -> Reply {
    Reply::Close("the request's task was cancelled".into())
}

/// Why a connection ends.
enum Ended {
    /// The peer went away or a write failed.
    Quietly(String),
    /// The broker closes it: bad input.
    Closed(String),
}

/// Writes every answer still to come, in order.
async fn finish(stream: &mut TcpStream, in_flight: &mut InFlight) -> Result<(), Ended> {
    while !in_flight.is_empty() {
        answer_oldest(stream, in_flight).await?;
    }
    Ok(())
}

async fn answer_oldest(stream: &mut TcpStream, in_flight: &mut InFlight) -> Result<(), Ended> {
    if let Some(oldest) = in_flight.pop_front() {
        let reply = oldest.await.unwrap_or_else(lost);
        write_reply(stream, reply).await?;
    }
    Ok(())
}

async fn write_reply(stream: &mut TcpStream, reply: Reply) -> Result<(), Ended> {
    let written = match reply {
        Reply::Nothing => Ok(()),
        Reply::Frame(bytes) => stream.write_all(&bytes).await,
        Reply::Parts(parts) => write_parts(stream, parts).await,
        Reply::Close(reason) => return Err(Ended::Closed(reason)),
        Reply::Later(answer) => return Box::pin(write_reply(stream, answer.await)).await,
    };
    written.map_err(|error| Ended::Quietly(format!("while writing: {error}")))
}

async fn write_parts(stream: &mut TcpStream, parts: Vec<Part>) -> std::io::Result<()> {
    for part in parts {
        match part {
            Part::Bytes(bytes) => stream.write_all(&bytes).await?,
            Part::File { fd, position, len } => {
                stream.flush().await?;
                let socket = stream.as_raw_fd();
                glommio::executor()
                    .spawn_blocking(move || {
                        at_low_priority(|| send_file(socket, &fd, position, len))
                    })
                    .await?;
                crate::metrics::add_sendfile_bytes(len);
            }
        }
    }
    stream.flush().await
}

/// Runs `send` at a lower CPU priority than the shards (`SENDFILE_NICE`
/// above the nice value the thread started with) and restores that value
/// after: when the cores are busy, a catch-up reader gets the CPU the
/// shards leave instead of delaying their answers to producers, while the
/// other work of the blocking pool (file creation, directory syncs) keeps
/// the shards' priority. Where raising a priority back is not allowed (no
/// CAP_SYS_NICE) the thread stays lowered, never lower.
fn at_low_priority<R>(send: impl FnOnce() -> R) -> R {
    thread_local! {
        static STARTING_NICE: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
    }
    let thread = nix::unistd::gettid().as_raw() as nix::libc::id_t;
    let Some(base) = STARTING_NICE.with(|cell| {
        cell.get().or_else(|| {
            let nice = current_nice(thread)?;
            cell.set(Some(nice));
            Some(nice)
        })
    }) else {
        return send();
    };
    set_nice(thread, (base + SENDFILE_NICE).min(NICE_LOWEST));
    let result = send();
    set_nice(thread, base);
    result
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

/// Sends `len` bytes of `file` from `position` with sendfile, a window of
/// `READ_AHEAD_WINDOW_BYTES` at a time: the next window is read ahead
/// (`POSIX_FADV_WILLNEED`, which only starts the reads) while this one goes
/// out. Segment descriptors have the kernel's readahead off, so a cold
/// range reaches the disk as at most two window-sized reads per sending
/// thread instead of several 4 MiB readahead requests, and the direct
/// writes of producers wait behind little. Warm pages cost one page-cache
/// lookup per window. Runs on the blocking pool; waits with poll if the
/// socket is non-blocking and its buffer is full.
fn send_file(socket: RawFd, file: &OwnedFd, position: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::BorrowedFd;
    // SAFETY: the connection task holds the stream open until this returns.
    let socket = unsafe { BorrowedFd::borrow_raw(socket) };
    let end = position + len;
    read_ahead(file, position, end);
    let mut window_start = position;
    while window_start < end {
        let window_end = end.min(window_start + READ_AHEAD_WINDOW_BYTES);
        read_ahead(file, window_end, end);
        send_window(socket, file, window_start, window_end)?;
        window_start = window_end;
    }
    Ok(())
}

/// Starts reading `[from, min(from + window, end))` into the page cache.
/// Advice only: a failure costs speed, not correctness.
fn read_ahead(file: &OwnedFd, from: u64, end: u64) {
    if from >= end {
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

fn send_window(
    socket: std::os::fd::BorrowedFd<'_>,
    file: &OwnedFd,
    start: u64,
    end: u64,
) -> std::io::Result<()> {
    let mut offset = start as i64;
    let end = end as i64;
    while offset < end {
        let count = (end - offset) as usize;
        match nix::sys::sendfile::sendfile64(socket, file, Some(&mut offset), count) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment ended early",
                ))
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                let mut poll = [nix::poll::PollFd::new(
                    socket,
                    nix::poll::PollFlags::POLLOUT,
                )];
                nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(100u16))?;
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// Ranges that start mid-window, span several windows and end short
    /// of a window arrive whole and in order.
    #[test]
    fn send_file_sends_exactly_the_range_across_windows() {
        let window = READ_AHEAD_WINDOW_BYTES as usize;
        let contents: Vec<u8> = (0..3 * window + 5_000)
            .map(|index| (index % 251) as u8)
            .collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&contents).unwrap();
        let file = OwnedFd::from(file);
        for (position, len) in [
            (0, contents.len()),
            (17, window),
            (window - 3, 2 * window + 9),
            (contents.len() - 1, 1),
        ] {
            let (sender, mut receiver) = UnixStream::pair().unwrap();
            let reader = std::thread::spawn(move || {
                let mut received = Vec::new();
                receiver.read_to_end(&mut received).unwrap();
                received
            });
            send_file(sender.as_raw_fd(), &file, position as u64, len as u64).unwrap();
            drop(sender);
            let received = reader.join().unwrap();
            assert_eq!(received.len(), len, "range {position}+{len}");
            assert!(received == contents[position..position + len]);
        }
    }

    /// The send runs SENDFILE_NICE below the thread's own priority, and the
    /// thread gets its own priority back after, however often it sends.
    #[test]
    fn sending_lowers_the_priority_only_while_it_sends() {
        std::thread::spawn(|| {
            let thread = nix::unistd::gettid().as_raw() as nix::libc::id_t;
            // A broker started under `nice`: its threads are not at 0.
            set_nice(thread, 3);
            let before = current_nice(thread).unwrap();
            assert_eq!(before, 3);
            for _ in 0..3 {
                let during = at_low_priority(|| current_nice(thread).unwrap());
                assert_eq!(during, (before + SENDFILE_NICE).min(NICE_LOWEST));
                assert_eq!(current_nice(thread).unwrap(), before, "restored");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn send_file_past_the_end_is_an_error_not_a_hang() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 1000]).unwrap();
        let file = OwnedFd::from(file);
        let (sender, _receiver) = UnixStream::pair().unwrap();
        let error = send_file(sender.as_raw_fd(), &file, 900, 200).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
