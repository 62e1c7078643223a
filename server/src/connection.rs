//! One client connection: read size-prefixed frames, answer each in order,
//! write the answer. Fetch answers carry file ranges that go to the socket
//! with sendfile on glommio's blocking pool, so a cold read from disk stalls
//! a helper thread, not the shard (KAFKA-7504).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::api;
use crate::shard::Shard;

/// A piece of a response.
pub enum Part {
    Bytes(Bytes),
    /// A range of a segment file, sent with sendfile.
    File {
        fd: Arc<OwnedFd>,
        position: u64,
        len: u64,
    },
}

/// What a request gets back.
pub enum Reply {
    /// acks=0 produce: nothing is sent.
    Nothing,
    /// The whole response frame, size prefix included.
    Frame(Bytes),
    /// A response assembled from parts (size prefix in the first).
    Parts(Vec<Part>),
    /// Malformed or unsupported: close the connection, as Kafka does.
    Close(String),
}

/// Counts open connections on the shard for graceful shutdown.
struct OpenGuard(Rc<Shard>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .open_connections
            .set(self.0.open_connections.get() - 1);
    }
}

pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream, stop: Arc<AtomicBool>) {
    shard.open_connections.set(shard.open_connections.get() + 1);
    let _guard = OpenGuard(shard.clone());
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|address| address.to_string())
        .unwrap_or_default();
    let request_max = shard.config.socket_request_max_bytes();
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut size = [0u8; 4];
        if let Err(error) = stream.read_exact(&mut size).await {
            tracing::debug!(%peer, "connection ends: {error}");
            return;
        }
        let size = i32::from_be_bytes(size);
        if size < 8 || size as usize > request_max {
            tracing::info!(%peer, size, "closing connection: request size out of bounds");
            return;
        }
        let mut frame = vec![0u8; size as usize];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let reply = api::handle(&shard, Bytes::from(frame)).await;
        let written = match reply {
            Reply::Nothing => Ok(()),
            Reply::Frame(bytes) => stream.write_all(&bytes).await,
            Reply::Parts(parts) => write_parts(&mut stream, parts).await,
            Reply::Close(reason) => {
                tracing::info!(%peer, "closing connection: {reason}");
                return;
            }
        };
        if let Err(error) = written {
            tracing::debug!(%peer, "connection ends while writing: {error}");
            return;
        }
    }
}

async fn write_parts(stream: &mut TcpStream, parts: Vec<Part>) -> std::io::Result<()> {
    for part in parts {
        match part {
            Part::Bytes(bytes) => stream.write_all(&bytes).await?,
            Part::File { fd, position, len } => {
                stream.flush().await?;
                let socket = stream.as_raw_fd();
                glommio::executor()
                    .spawn_blocking(move || send_file(socket, &fd, position, len))
                    .await?;
                crate::metrics::add_sendfile_bytes(len);
            }
        }
    }
    stream.flush().await
}

/// sendfile until `len` bytes went out. Runs on the blocking pool; waits
/// with poll if the socket is non-blocking and its buffer is full.
fn send_file(socket: RawFd, file: &OwnedFd, position: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::BorrowedFd;
    // SAFETY: the connection task holds the stream open until this returns.
    let socket = unsafe { BorrowedFd::borrow_raw(socket) };
    let mut offset = position as i64;
    let end = (position + len) as i64;
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
