//! One client connection: read size-prefixed frames, answer each in order,
//! write the answer, and close the connection with a logged reason when the
//! client breaks a rule.
//!
//! Fetch answers carry file ranges that go to the socket with sendfile on
//! the shard's sendfile pool (`sendfile_pool`), so a cold read from disk
//! stalls a helper thread, not the shard (KAFKA-7504). The socket is
//! non-blocking: a pool thread never waits for a client to read; the
//! connection waits for room in the socket on the shard's ring.
//!
//! Deadlines (both from `config.rs`):
//! * `connections.max.idle.ms`: a connection with nothing in flight that
//!   sends no whole request for this long is closed, as Kafka closes idle
//!   connections. A request in progress counts as idle time too, so a
//!   client cannot hold a connection by trickling a frame.
//! * `socket.send.timeout.ms`: a write (an answer, or a wait for room in
//!   the socket during a sendfile) that makes no progress for this long
//!   closes the connection: a consumer that stops reading costs its
//!   connection until then, and nothing else.
//!
//! A close by the broker is logged at info with why, and with the API key,
//! version, correlation id and client id of the request at fault.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use futures_util::future::{select, Either};
use glommio::net::TcpStream;

use crate::api;
use crate::api::reply::{Part, Reply};
use crate::connection_quota::Admitted;
use crate::frame_reader::{Frame, FrameError, FrameReader};
use crate::limits::IN_FLIGHT_MAX;
use crate::listeners::Endpoint;
use crate::sendfile_pool;
use crate::shard::{until, Shard};

/// Lists the connection on its shard while it is open (graceful shutdown).
/// Dropped before the stream, so the socket is open while listed.
struct OpenGuard(Rc<Shard>, u64);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connection_closed(self.1);
    }
}

/// The socket of one connection and what writing to it needs.
struct Socket {
    stream: TcpStream,
    /// A duplicate of the socket for the sendfile pool, made on the first
    /// file range sent: a job holds the socket open even if the
    /// connection ends while it runs, so it never writes into a
    /// descriptor number reused by another connection.
    for_sendfile: Option<Arc<OwnedFd>>,
    send_timeout: Option<Duration>,
}

/// Serves one connection until it ends; `_admitted` is its place in the
/// broker's connection counts, given back when it closes, and `advertised`
/// what its listener's clients are told to connect to.
pub async fn serve(
    shard: Rc<Shard>,
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    _admitted: Admitted,
    advertised: Rc<Endpoint>,
) {
    let _guard = OpenGuard(shard.clone(), shard.connection_opened(stream.as_raw_fd()));
    let peer_address = stream.peer_addr().ok();
    let peer = peer_address
        .map(|address| address.to_string())
        .unwrap_or_default();
    let origin = api::Origin::new((*advertised).clone(), peer_address);
    let send_timeout = shard.config.socket_send_timeout();
    if let Err(error) = prepare(&stream, send_timeout) {
        tracing::warn!(%peer, "cannot set up the connection's socket: {error}");
        return;
    }
    let mut socket = Socket {
        stream,
        for_sendfile: None,
        send_timeout,
    };
    let idle_max = shard.config.connections_max_idle();
    let mut frames = FrameReader::new(
        shard.config.socket_request_max_bytes(),
        shard.request_budget.clone(),
    );
    // Answers still to come, oldest first (only `Reply::Later` ones). Each
    // runs as its own task: a produce may be carrying a write round that an
    // earlier one waits for, so all must make progress, not just the oldest.
    let mut in_flight: InFlight = VecDeque::new();
    let ended = loop {
        if stop.load(Ordering::SeqCst) {
            break finish(&mut socket, &mut in_flight).await;
        }
        if in_flight.len() >= IN_FLIGHT_MAX {
            match answer_oldest(&mut socket, &mut in_flight).await {
                Ok(()) => continue,
                Err(ended) => break Err(ended),
            }
        }
        let frame = match next_frame(&mut socket, &mut frames, &mut in_flight, idle_max).await {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(ended) => break Err(ended),
        };
        if let Err(ended) = answer(&shard, &mut socket, &mut in_flight, frame, &origin).await {
            break Err(ended);
        }
    };
    log_end(&peer, ended);
}

/// The next request frame; `None` when, while waiting for it, the oldest
/// answer in flight came and was written. With nothing in flight the wait
/// is bounded by `connections.max.idle.ms`.
async fn next_frame(
    socket: &mut Socket,
    frames: &mut FrameReader,
    in_flight: &mut InFlight,
    idle_max: Option<Duration>,
) -> Result<Option<Frame>, Ended> {
    let next = match in_flight.front_mut() {
        None => {
            let reading = frames.next(&mut socket.stream);
            match idle_max {
                None => reading.await,
                Some(idle) => until(Instant::now() + idle, reading).await.ok_or_else(|| {
                    Ended::closed(format!(
                        "idle for {} ms (connections.max.idle.ms)",
                        idle.as_millis()
                    ))
                })?,
            }
        }
        Some(Pending { answer: oldest, .. }) => {
            let waited = {
                let reading = std::pin::pin!(frames.next(&mut socket.stream));
                match select(reading, oldest).await {
                    Either::Left((next, _)) => Ok(next),
                    Either::Right((reply, _)) => Err(reply.unwrap_or_else(lost)),
                }
            };
            match waited {
                Ok(next) => next,
                Err(reply) => {
                    let oldest = in_flight.pop_front().expect("the oldest answered");
                    write_ready(socket, reply, oldest, in_flight).await?;
                    return Ok(None);
                }
            }
        }
    };
    match next {
        Ok(Some(frame)) => Ok(Some(frame)),
        // The input ended (the client half-closed, or the shard is
        // stopping and shut the read side): answer what was started.
        Ok(None) | Err(FrameError::EndInsideFrame) => {
            let _ = finish(socket, in_flight).await;
            Err(Ended::Quietly("input ended".into()))
        }
        Err(FrameError::SizeOutOfBounds(size)) => Err(Ended::closed(format!(
            "request size {size} out of bounds (socket.request.max.bytes)"
        ))),
        Err(FrameError::Io(error)) => Err(Ended::Quietly(error)),
    }
}

/// Handles one request: an answer to come later takes its place in
/// flight; any other is written once every earlier answer is.
async fn answer(
    shard: &Rc<Shard>,
    socket: &mut Socket,
    in_flight: &mut InFlight,
    frame: Frame,
    origin: &api::Origin,
) -> Result<(), Ended> {
    let request = RequestSummary::of(&frame.bytes);
    // The frame's share of the request budget is held until the request
    // is answered.
    let permit = frame.permit;
    match api::handle_on(shard, frame.bytes, origin).await {
        Reply::Later(answer) => {
            in_flight.push_back(Pending {
                request,
                _permit: permit,
                answer: glommio::spawn_local(answer).detach(),
            });
            Ok(())
        }
        reply => {
            finish(socket, in_flight).await?;
            write_reply(socket, reply, request).await?;
            drop(permit);
            Ok(())
        }
    }
}

fn log_end(peer: &str, ended: Result<(), Ended>) {
    match ended {
        Ok(()) => {}
        Err(Ended::Quietly(reason)) => tracing::debug!(%peer, "connection ends: {reason}"),
        Err(Ended::Closed { reason, request }) => match request {
            Some(request) => tracing::info!(
                %peer,
                api_key = request.api_key_name(),
                api_version = request.api_version,
                correlation_id = request.correlation_id,
                client_id = %request.client_id(),
                "closing connection: {reason}"
            ),
            None => tracing::info!(%peer, "closing connection: {reason}"),
        },
    }
}

/// No delay for small answers; non-blocking, so sendfile returns at a full
/// socket instead of holding its thread; the send deadline for every write.
fn prepare(stream: &TcpStream, send_timeout: Option<Duration>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    // SAFETY: the stream owns the descriptor for the duration of the call.
    let socket = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let flags = nix::fcntl::fcntl(socket.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(socket.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    stream.set_write_timeout(send_timeout)?;
    Ok(())
}

/// Requests answered later, each running as its own task, oldest first.
type InFlight = VecDeque<Pending>;

/// A request whose answer is still to come.
struct Pending {
    request: RequestSummary,
    /// Its share of the request budget, given back once it is answered.
    _permit: Option<crate::request_budget::Permit>,
    answer: glommio::task::JoinHandle<Reply>,
}

/// The answer of a request whose task was cancelled (the shard stopping).
fn lost() -> Reply {
    Reply::Close("the request's task was cancelled".into())
}

/// Why a connection ends.
enum Ended {
    /// The peer went away or a write failed.
    Quietly(String),
    /// The broker closes it: bad input or a deadline.
    Closed {
        reason: String,
        /// The request at fault, if one is.
        request: Option<RequestSummary>,
    },
}

impl Ended {
    fn closed(reason: String) -> Ended {
        Ended::Closed {
            reason,
            request: None,
        }
    }
}

/// What the log says of the request a connection is closed for: its
/// header's fixed fields and client id, read from the frame as sent
/// (a malformed header still shows what it has).
#[derive(Debug, Clone, Copy)]
struct RequestSummary {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    /// The client id's first bytes (at most `CLIENT_ID_LOGGED_BYTES`).
    client_id: [u8; CLIENT_ID_LOGGED_BYTES],
    client_id_len: u8,
    /// None: a null client id, or a header too short to hold one.
    has_client_id: bool,
}

/// How much of a client id the log shows.
const CLIENT_ID_LOGGED_BYTES: usize = 48;

impl RequestSummary {
    /// The frame's header fields; the frame reader only returns frames of
    /// at least 8 bytes.
    fn of(frame: &Bytes) -> RequestSummary {
        let field = |at: usize, len: usize| frame.get(at..at + len);
        let i16_at = |at| field(at, 2).map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]));
        let mut summary = RequestSummary {
            api_key: i16_at(0),
            api_version: i16_at(2),
            correlation_id: field(4, 4)
                .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            client_id: [0; CLIENT_ID_LOGGED_BYTES],
            client_id_len: 0,
            has_client_id: false,
        };
        // Every request header version but v0 (ControlledShutdown v0 only)
        // carries a nullable client id (int16 length) right after.
        let length = i16_at(8);
        if length >= 0 {
            let available = frame.len().saturating_sub(10).min(length as usize);
            let shown = available.min(CLIENT_ID_LOGGED_BYTES);
            summary.client_id[..shown].copy_from_slice(&frame[10..10 + shown]);
            summary.client_id_len = shown as u8;
            summary.has_client_id = true;
        }
        summary
    }

    fn api_key_name(&self) -> String {
        match kafka_protocol::messages::ApiKey::try_from(self.api_key) {
            Ok(key) => format!("{key:?}"),
            Err(_) => format!("unknown ({})", self.api_key),
        }
    }

    fn client_id(&self) -> String {
        if !self.has_client_id {
            return "(null)".into();
        }
        String::from_utf8_lossy(&self.client_id[..self.client_id_len as usize]).into_owned()
    }
}

/// Writes every answer still to come, in order.
async fn finish(socket: &mut Socket, in_flight: &mut InFlight) -> Result<(), Ended> {
    while !in_flight.is_empty() {
        answer_oldest(socket, in_flight).await?;
    }
    Ok(())
}

async fn answer_oldest(socket: &mut Socket, in_flight: &mut InFlight) -> Result<(), Ended> {
    if let Some(mut oldest) = in_flight.pop_front() {
        let reply = (&mut oldest.answer).await.unwrap_or_else(lost);
        write_ready(socket, reply, oldest, in_flight).await?;
    }
    Ok(())
}

/// Writes the oldest answer (`reply`, of `oldest`) together with every
/// later one already done, in order, in as few sends as their parts allow:
/// librdkafka sends a produce request per partition, so with small
/// batches a connection has several in flight, answered by the same
/// round of completions; with 16 KiB batches a send per answer was 15% of
/// the broker's samples. Each answer's budget permit is held until it is
/// written.
async fn write_ready(
    socket: &mut Socket,
    reply: Reply,
    oldest: Pending,
    in_flight: &mut InFlight,
) -> Result<(), Ended> {
    let mut written: Vec<Pending> = vec![oldest];
    let mut parts: Vec<Part> = Vec::new();
    let mut next = Some(reply);
    while let Some(reply) = next.take() {
        let request = written.last().expect("the answer's request").request;
        match reply {
            Reply::Nothing => {}
            Reply::Frame(bytes) => parts.push(Part::Bytes(bytes)),
            Reply::Parts(more) => parts.extend(more),
            // A close or an answer still to come is written after what
            // came before it, on its own.
            other => {
                write_reply(socket, Reply::Parts(std::mem::take(&mut parts)), request).await?;
                write_reply(socket, other, request).await?;
            }
        }
        if parts.len() >= PARTS_PER_WRITE_MAX {
            break;
        }
        if let Some(pending) = in_flight.front_mut() {
            if let Some(done) = futures_lite::future::poll_once(&mut pending.answer).await {
                next = Some(done.unwrap_or_else(lost));
                written.push(in_flight.pop_front().expect("the answer polled"));
            }
        }
    }
    let request = written.last().expect("an answer").request;
    write_reply(socket, Reply::Parts(parts), request).await
}

/// How many parts one `write_ready` gathers before it writes them.
const PARTS_PER_WRITE_MAX: usize = 256;

async fn write_reply(
    socket: &mut Socket,
    reply: Reply,
    request: RequestSummary,
) -> Result<(), Ended> {
    let written = match reply {
        Reply::Nothing => Ok(()),
        Reply::Frame(bytes) => write_bytes(socket, &[bytes]).await,
        Reply::Parts(parts) => write_parts(socket, parts).await,
        Reply::Close(reason) => {
            return Err(Ended::Closed {
                reason,
                request: Some(request),
            })
        }
        Reply::Later(answer) => {
            return Box::pin(write_reply(socket, answer.await, request)).await;
        }
    };
    written.map_err(|error| match (error.kind(), socket.send_timeout) {
        (std::io::ErrorKind::TimedOut, Some(timeout)) => Ended::Closed {
            reason: format!(
                "the client took nothing of the answer for {} ms (socket.send.timeout.ms)",
                timeout.as_millis()
            ),
            request: Some(request),
        },
        _ => Ended::Quietly(format!("while writing: {error}")),
    })
}

/// Writes answers' parts in order: each run of byte parts with gathering
/// sends (`write_bytes`), file ranges with sendfile on the pool; when the
/// socket is full, the range's next byte goes through glommio, which waits
/// for room (under the send timeout), and sendfile resumes after it.
async fn write_parts(socket: &mut Socket, parts: Vec<Part>) -> std::io::Result<()> {
    let mut bytes_run: Vec<Bytes> = Vec::new();
    for part in parts {
        match part {
            Part::Bytes(bytes) => bytes_run.push(bytes),
            Part::File { fd, position, len } => {
                write_bytes(socket, &bytes_run).await?;
                bytes_run.clear();
                let for_sendfile = match &socket.for_sendfile {
                    Some(duplicate) => duplicate.clone(),
                    None => {
                        // SAFETY: the stream owns the descriptor while borrowed.
                        let borrowed = unsafe { BorrowedFd::borrow_raw(socket.stream.as_raw_fd()) };
                        let duplicate = Arc::new(borrowed.try_clone_to_owned()?);
                        socket.for_sendfile = Some(duplicate.clone());
                        duplicate
                    }
                };
                let end = position + len;
                let mut at = position;
                while at < end {
                    let progress =
                        sendfile_pool::send(for_sendfile.clone(), fd.clone(), at, end).await?;
                    at += progress.sent;
                    crate::metrics::add_sendfile_bytes(progress.sent);
                    if let Some(byte) = progress.next_byte {
                        socket.stream.write_all(&[byte]).await?;
                        at += 1;
                        crate::metrics::add_memory_record_bytes(1);
                    }
                }
            }
        }
    }
    write_bytes(socket, &bytes_run).await
}

/// Writes a run of byte parts with one gathering send per socket's worth
/// (`sendmsg`, at most `IOVECS_PER_SEND` parts each) instead of a send per
/// part: with TCP_NODELAY each send was a segment of its own, so a fetch
/// answer's 4-byte size prefix went out alone. When the socket is full,
/// the next byte goes through glommio, which waits for room (under the
/// send timeout), as in the sendfile path.
async fn write_bytes(socket: &mut Socket, run: &[Bytes]) -> std::io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    loop {
        while index < run.len() && offset == run[index].len() {
            index += 1;
            offset = 0;
        }
        if index == run.len() {
            return Ok(());
        }
        let slices: Vec<std::io::IoSlice> = std::iter::once(&run[index][offset..])
            .chain(run[index + 1..].iter().map(|bytes| &bytes[..]))
            .take(IOVECS_PER_SEND)
            .map(std::io::IoSlice::new)
            .collect();
        let sent = nix::sys::socket::sendmsg::<()>(
            socket.stream.as_raw_fd(),
            &slices,
            &[],
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            None,
        );
        let mut advance = match sent {
            Ok(sent) => sent,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(nix::errno::Errno::EAGAIN) => {
                socket
                    .stream
                    .write_all(&run[index][offset..offset + 1])
                    .await?;
                1
            }
            Err(error) => return Err(error.into()),
        };
        while advance > 0 {
            let step = advance.min(run[index].len() - offset);
            offset += step;
            advance -= step;
            if offset == run[index].len() {
                index += 1;
                offset = 0;
            }
        }
    }
}

/// At most this many parts go to one `sendmsg` (Linux's IOV_MAX is 1024).
const IOVECS_PER_SEND: usize = 64;
