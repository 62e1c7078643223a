//! Reads size-prefixed request frames from a connection.
//!
//! ```text
//!  socket ──read──▶ head (64 KiB, reused) ──small frame: copied out──▶ Bytes
//!                     │
//!                     └─ large frame: its start moves into a pooled buffer
//!                        of its size; the rest is read straight into it
//! ```
//! Small frames (most requests) are copied out of the head buffer, which
//! costs less than a fresh allocation each; several pipelined ones may
//! arrive in one read. When whole frames fill at least half of the head
//! (`HEAD_SLICE_BYTES_MIN`: a producer's pipelined 16 KiB batches, since
//! librdkafka sends one partition per request), the head itself is frozen
//! and they are slices of it, with no copy and no allocation each (5 % of
//! the broker's samples with 16 KiB batches, and their allocations); the
//! next read
//! goes into another head buffer from `frame_buffer`'s pool, which the
//! frozen one returns to once its last frame is dropped. As frames share a
//! head only when they fill half of it, they never keep more than twice
//! their size alive.
//!
//! A large frame (a produce request) is read into a buffer from
//! `frame_buffer`'s pool, exactly up to its end, so its bytes are copied
//! once, by the socket read, and the buffer is reused. The buffer is
//! initialized at most `LARGE_FRAME_STEP_BYTES` ahead of what has arrived:
//! an announced size commits no memory by itself. After a large frame the
//! next read into the empty head takes only the next size prefix:
//! producers send runs of large frames, and otherwise up to 64 KiB of each
//! would arrive in the head and be copied into its buffer, for one small
//! read more.
//!
//! Request bytes in flight (`queued.max.request.bytes`): with a budget, a
//! frame's size is taken from the shard's budget once its size prefix is
//! read and before any of its body is; a frame that does not fit waits
//! (its connection reads nothing more) until answers of earlier requests
//! give bytes back. The permit travels with the frame, and the connection
//! drops it once the request is answered. Waits are served in the order
//! they came (`request_budget`), so small frames never starve a large one.
//!
//! Cancel-safe: bytes read, and a permit taken, stay in the reader when a
//! `next` is dropped, so a connection can wait for the next request and
//! for an earlier answer at once.

use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use bytes::Bytes;
use futures_lite::AsyncRead;

use crate::frame_buffer;
use crate::limits::READ_CHUNK_BYTES;
use crate::request_budget::{Permit, RequestBudget};

/// Frames above this size are read into a pooled buffer of their own.
const SMALL_FRAME_BYTES_MAX: usize = 16 * 1024;

/// Bytes of whole small frames in the head from which they are sliced
/// out of it instead of copied (see the module's comment).
const HEAD_SLICE_BYTES_MIN: usize = READ_CHUNK_BYTES / 2;

/// How far ahead of the bytes received a large frame's buffer is made
/// ready for the socket to write into.
const LARGE_FRAME_STEP_BYTES: usize = 1024 * 1024;

/// The size prefix of a frame.
const SIZE_BYTES: usize = 4;

/// Why no frame came.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The size prefix is out of bounds: the peer is not speaking Kafka.
    SizeOutOfBounds(i32),
    /// The peer closed the connection inside a frame.
    EndInsideFrame,
    /// The socket failed.
    Io(String),
}

/// A large frame being read into its own buffer.
struct Large {
    buffer: Vec<u8>,
    size: usize,
    filled: usize,
}

/// One request's bytes (without the size prefix) and, with a budget, the
/// share of it they hold until the request is answered.
pub struct Frame {
    pub bytes: Bytes,
    pub permit: Option<Permit>,
}

pub struct FrameReader {
    /// `head[start..end]` has been read and not yet returned; a pooled
    /// buffer of which `..READ_CHUNK_BYTES` is used. Empty while `frozen`.
    head: Vec<u8>,
    /// The head once frames are being sliced out of it: `frozen[start..end]`
    /// is what was read and not yet returned.
    frozen: Option<Bytes>,
    start: usize,
    end: usize,
    large: Option<Large>,
    /// The last frame was large: the next read into an empty head stops at
    /// the size prefix.
    after_large: bool,
    /// Whether to slice frames out of the head has been decided for the
    /// bytes it holds (once per read: the decision walks every whole frame
    /// in it, so deciding per frame would cost a head of tiny frames the
    /// square of their number).
    slice_decided: bool,
    request_max: usize,
    /// The shard's request bytes budget, if bounded.
    budget: Option<Rc<RequestBudget>>,
    /// The budget taken for the frame being read.
    permit: Option<Permit>,
}

impl FrameReader {
    pub fn new(request_max: usize, budget: Option<Rc<RequestBudget>>) -> FrameReader {
        FrameReader {
            // Zeroed by the allocator: an idle connection commits only the
            // pages its reads touch.
            head: vec![0u8; READ_CHUNK_BYTES],
            frozen: None,
            start: 0,
            end: 0,
            large: None,
            after_large: false,
            slice_decided: false,
            request_max,
            budget,
            permit: None,
        }
    }

    /// The next frame without its size prefix; `None` at a clean end.
    pub async fn next<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(large) = &mut self.large {
                if large.filled == large.size {
                    let large = self.large.take().expect("checked above");
                    return Ok(Some(Frame {
                        bytes: frame_buffer::freeze(large.buffer, large.size),
                        permit: self.permit.take(),
                    }));
                }
                let ready = (large.filled + LARGE_FRAME_STEP_BYTES).min(large.size);
                frame_buffer::initialize_to(&mut large.buffer, ready);
                let range = large.filled..large.buffer.len().min(large.size);
                let count = read_into(stream, &mut large.buffer[range]).await?;
                if count == 0 {
                    return Err(FrameError::EndInsideFrame);
                }
                large.filled += count;
                continue;
            }
            if let Some(size) = self.size_in_head()? {
                if let (Some(budget), None) = (&self.budget, &self.permit) {
                    self.permit = Some(budget.acquire(size).await);
                }
                if let Some(bytes) = self.frame_in_head(size) {
                    return Ok(Some(Frame {
                        bytes,
                        permit: self.permit.take(),
                    }));
                }
            }
            if self.large.is_some() {
                continue;
            }
            self.thaw();
            if self.end == READ_CHUNK_BYTES {
                // Room for the rest of a small frame: move what is left to
                // the front (at most one small frame's worth of bytes).
                self.head.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let end = self.end;
            let read_end = if self.after_large && end - self.start < SIZE_BYTES {
                self.start + SIZE_BYTES
            } else {
                READ_CHUNK_BYTES
            };
            let count = read_into(stream, &mut self.head[end..read_end]).await?;
            if count == 0 {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(FrameError::EndInsideFrame)
                };
            }
            self.end += count;
            self.slice_decided = false;
        }
    }

    /// The size of the next frame, once its prefix is in the head buffer.
    fn size_in_head(&self) -> Result<Option<usize>, FrameError> {
        let Some(size) = size_prefix(&self.head_bytes()[self.start..self.end]) else {
            return Ok(None);
        };
        // A request header alone takes 8 bytes (key, version, correlation id).
        if size < 8 || size as usize > self.request_max {
            return Err(FrameError::SizeOutOfBounds(size));
        }
        Ok(Some(size as usize))
    }

    /// The whole small frame of `size` bytes at the front of the head
    /// buffer, or `None` if more bytes are needed; starts a large frame
    /// when the size says so.
    fn frame_in_head(&mut self, size: usize) -> Option<Bytes> {
        let available = &self.head_bytes()[self.start..self.end];
        let body = &available[SIZE_BYTES..];
        if size > SMALL_FRAME_BYTES_MAX {
            let filled = body.len().min(size);
            let mut buffer = frame_buffer::take(size);
            frame_buffer::initialize_to(&mut buffer, filled);
            buffer[..filled].copy_from_slice(&body[..filled]);
            self.consume(SIZE_BYTES + filled);
            self.after_large = true;
            self.large = Some(Large {
                buffer,
                size,
                filled,
            });
            return None;
        }
        if body.len() < size {
            return None;
        }
        if !self.slice_decided {
            let slice = self.frozen.is_none()
                && complete_small_frames_bytes(available) >= HEAD_SLICE_BYTES_MIN;
            self.slice_decided = true;
            if slice {
                let head = std::mem::take(&mut self.head);
                self.frozen = Some(frame_buffer::freeze(head, READ_CHUNK_BYTES));
            }
        }
        let body_start = self.start + SIZE_BYTES;
        let frame = match &self.frozen {
            Some(frozen) => frozen.slice(body_start..body_start + size),
            None => Bytes::copy_from_slice(&self.head[body_start..body_start + size]),
        };
        self.consume(SIZE_BYTES + size);
        self.after_large = false;
        Some(frame)
    }

    /// Drops `count` bytes from the front of the head buffer.
    fn consume(&mut self, count: usize) {
        self.start += count;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn head_bytes(&self) -> &[u8] {
        match &self.frozen {
            Some(frozen) => frozen,
            None => &self.head,
        }
    }

    /// Makes the head writable for the next read: after frames were sliced
    /// out of it, what is left of it (less than one frame) moves into a
    /// fresh head buffer.
    fn thaw(&mut self) {
        let Some(frozen) = self.frozen.take() else {
            return;
        };
        self.head = fresh_head();
        let left = &frozen[self.start..self.end];
        self.head[..left.len()].copy_from_slice(left);
        self.end = left.len();
        self.start = 0;
    }
}

/// The size prefix at the front of `bytes`, if all of it is there.
fn size_prefix(bytes: &[u8]) -> Option<i32> {
    bytes
        .first_chunk::<SIZE_BYTES>()
        .map(|prefix| i32::from_be_bytes(*prefix))
}

/// Bytes of the whole small frames (with their size prefixes) at the
/// front of `available`.
fn complete_small_frames_bytes(mut available: &[u8]) -> usize {
    let mut total = 0;
    while let Some(size) = size_prefix(available) {
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if size > SMALL_FRAME_BYTES_MAX || available.len() < SIZE_BYTES + size {
            break;
        }
        total += SIZE_BYTES + size;
        available = &available[SIZE_BYTES + size..];
    }
    total
}

/// A head buffer, `..READ_CHUNK_BYTES` initialized: from the pool, else
/// zeroed by the allocator (so its pages are committed as reads touch them).
fn fresh_head() -> Vec<u8> {
    let Some(mut head) = frame_buffer::pooled(READ_CHUNK_BYTES) else {
        return vec![0u8; READ_CHUNK_BYTES];
    };
    frame_buffer::initialize_to(&mut head, READ_CHUNK_BYTES);
    head
}

/// One read from the socket into `buffer`.
async fn read_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut [u8],
) -> Result<usize, FrameError> {
    std::future::poll_fn(
        |context| match Pin::new(&mut *stream).poll_read(context, buffer) {
            Poll::Ready(Ok(count)) => Poll::Ready(Ok(count)),
            Poll::Ready(Err(error)) => Poll::Ready(Err(FrameError::Io(error.to_string()))),
            Poll::Pending => Poll::Pending,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out its bytes in the given read sizes; at their
    /// end it closes, or with `stall` has nothing more for now.
    struct Trickle {
        bytes: Vec<u8>,
        position: usize,
        steps: Vec<usize>,
        step: usize,
        stall: bool,
        /// The size of every read asked of it.
        asked: Vec<usize>,
    }

    impl Trickle {
        fn new(bytes: Vec<u8>, steps: Vec<usize>) -> Trickle {
            Trickle {
                bytes,
                position: 0,
                steps,
                step: 0,
                stall: false,
                asked: Vec::new(),
            }
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buffer: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.stall && self.position == self.bytes.len() {
                return Poll::Pending;
            }
            self.asked.push(buffer.len());
            let step = self.steps[self.step % self.steps.len()];
            self.step += 1;
            let count = step.min(buffer.len()).min(self.bytes.len() - self.position);
            let position = self.position;
            buffer[..count].copy_from_slice(&self.bytes[position..position + count]);
            self.position += count;
            Poll::Ready(Ok(count))
        }
    }

    fn frame(size: usize, seed: u8) -> Vec<u8> {
        let mut out = (size as i32).to_be_bytes().to_vec();
        out.extend((0..size).map(|index| seed.wrapping_add(index as u8)));
        out
    }

    fn read_all(bytes: Vec<u8>, steps: Vec<usize>) -> (Vec<Bytes>, Result<(), FrameError>) {
        let mut stream = Trickle::new(bytes, steps);
        let mut reader = FrameReader::new(10 << 20, None);
        let mut frames = Vec::new();
        let ended = futures_lite::future::block_on(async {
            loop {
                match reader.next(&mut stream).await {
                    Ok(Some(frame)) => frames.push(frame.bytes),
                    Ok(None) => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        });
        (frames, ended)
    }

    /// Small, large and in-between frames, back to back, come out whole and
    /// in order however the socket cuts the bytes.
    #[test]
    fn frames_come_out_whole_whatever_the_read_sizes() {
        let sizes = [
            15_000,
            15_000,
            15_000,
            15_000,
            15_000,
            8,
            100,
            SMALL_FRAME_BYTES_MAX,
            SMALL_FRAME_BYTES_MAX + 1,
            READ_CHUNK_BYTES - 4,
            READ_CHUNK_BYTES + 7,
            1_000_000,
            9,
            30_000,
            12,
        ];
        let mut stream = Vec::new();
        for (index, size) in sizes.iter().enumerate() {
            stream.extend(frame(*size, index as u8));
        }
        for steps in [
            vec![1],
            vec![3, 7, 4096],
            vec![READ_CHUNK_BYTES],
            vec![usize::MAX],
        ] {
            let (frames, ended) = read_all(stream.clone(), steps.clone());
            assert_eq!(ended, Ok(()), "steps {steps:?}");
            assert_eq!(frames.len(), sizes.len(), "steps {steps:?}");
            for (index, (got, size)) in frames.iter().zip(sizes).enumerate() {
                assert_eq!(got[..], frame(size, index as u8)[4..], "frame {index}");
            }
        }
    }

    /// Pipelined 15 KB frames that arrive in one read are slices of one
    /// head buffer, which goes back to the pool when they are dropped;
    /// tiny ones are copied out, so they keep no head alive.
    #[test]
    fn frames_that_fill_the_head_are_slices_of_it_and_tiny_ones_copies() {
        let sizes = [15_000; 6];
        let mut bytes = Vec::new();
        for (index, size) in sizes.iter().enumerate() {
            bytes.extend(frame(*size, index as u8));
        }
        let (frames, ended) = read_all(bytes, vec![usize::MAX]);
        assert_eq!(ended, Ok(()));
        assert_eq!(frames.len(), 6);
        for (index, got) in frames.iter().enumerate() {
            assert_eq!(got[..], frame(15_000, index as u8)[4..], "frame {index}");
        }
        // The first four (60 KB of a 64 KiB read) share a buffer, back to
        // back; the fifth was cut by the read and came with the next one.
        for pair in frames[..4].windows(2) {
            assert_eq!(
                pair[0].as_ptr() as usize + 15_000 + 4,
                pair[1].as_ptr() as usize
            );
        }
        let pooled = frame_buffer::pooled_bytes();
        drop(frames);
        assert!(
            frame_buffer::pooled_bytes() >= pooled + READ_CHUNK_BYTES,
            "the frozen heads came back to the pool"
        );

        let mut bytes = Vec::new();
        for index in 0..10 {
            bytes.extend(frame(100, index));
        }
        let (frames, _) = read_all(bytes, vec![usize::MAX]);
        assert_eq!(frames.len(), 10);
        for pair in frames.windows(2) {
            assert_ne!(
                pair[0].as_ptr() as usize + 104,
                pair[1].as_ptr() as usize,
                "copied"
            );
        }
    }

    /// After a large frame, the next read asks for the size prefix only,
    /// so the next large frame's body is read into its own buffer (here:
    /// each 100 KB frame's first read into it brings all of its body).
    #[test]
    fn after_a_large_frame_only_the_next_prefix_goes_through_the_head() {
        let sizes = [100_000, 100_000, 100_000, 50, 100_000];
        let mut bytes = Vec::new();
        for (index, size) in sizes.iter().enumerate() {
            bytes.extend(frame(*size, index as u8));
        }
        let mut stream = Trickle::new(bytes, vec![usize::MAX]);
        let mut reader = FrameReader::new(1 << 20, None);
        for (index, size) in sizes.iter().enumerate() {
            let got = futures_lite::future::block_on(reader.next(&mut stream))
                .unwrap()
                .expect("a frame");
            assert_eq!(
                got.bytes[..],
                frame(*size, index as u8)[4..],
                "frame {index}"
            );
        }
        let head = READ_CHUNK_BYTES;
        assert_eq!(
            stream.asked,
            vec![
                head,                 // frame 0: prefix and the start of its body
                100_000 - (head - 4), // ... its rest, into its own buffer
                4,                    // frame 1: its prefix only
                100_000,              // ... all of its body, into its buffer
                4,                    // frame 2 the same
                100_000,
                4,                             // the small frame's prefix
                head - 4,                      // ... its body (and more) through the head
                100_000 - (head - 4 - 50 - 4), // the last frame's rest
            ]
        );
    }

    /// A client that announces a 100 MB frame and sends 200 KB of it makes
    /// the broker reserve the size, but commit only what arrived plus one
    /// step.
    #[test]
    fn an_announced_size_commits_only_what_arrives() {
        let size = 100_000_000usize;
        let mut bytes = (size as i32).to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(7u8, 200_000));
        let mut stream = Trickle {
            stall: true,
            ..Trickle::new(bytes, vec![usize::MAX])
        };
        let mut reader = FrameReader::new(size, None);
        let pending = futures_lite::future::block_on(futures_lite::future::poll_once(
            reader.next(&mut stream),
        ));
        assert!(pending.is_none(), "the frame is not complete");
        let large = reader.large.as_ref().expect("a large frame in progress");
        assert_eq!(large.filled, 200_000);
        assert!(large.buffer.capacity() >= size);
        assert!(
            large.buffer.len() <= 200_000 + LARGE_FRAME_STEP_BYTES,
            "initialized {} bytes",
            large.buffer.len()
        );
    }

    #[test]
    fn bad_sizes_and_early_ends_are_reported() {
        let (frames, ended) = read_all((7i32).to_be_bytes().to_vec(), vec![64]);
        assert!(frames.is_empty());
        assert_eq!(ended, Err(FrameError::SizeOutOfBounds(7)));
        let (_, ended) = read_all(i32::MAX.to_be_bytes().to_vec(), vec![64]);
        assert_eq!(ended, Err(FrameError::SizeOutOfBounds(i32::MAX)));
        let (_, ended) = read_all((-1i32).to_be_bytes().to_vec(), vec![64]);
        assert_eq!(ended, Err(FrameError::SizeOutOfBounds(-1)));
        for cut in [2, 4, 50, 20_000] {
            let mut bytes = frame(100, 1);
            bytes.extend(frame(30_000, 2));
            bytes.truncate(104 + cut);
            let (frames, ended) = read_all(bytes, vec![1000]);
            assert_eq!(frames.len(), 1, "cut {cut}");
            assert_eq!(ended, Err(FrameError::EndInsideFrame), "cut {cut}");
        }
    }
}
