//! The in-memory tail of the active segment: the bytes that are not yet on
//! disk, the partial last page that will be written again, and a window of
//! recently written bytes kept to serve tailing readers without touching
//! the disk (a cold sendfile would stall the shard, KAFKA-7504).
//!
//! ```text
//!  file:  | final pages (sendfile) | tail page | not yet written |
//!                      ^ chunks[0].start         ^ written_size  ^ size
//!  memory:          [ chunk 0 (1 MiB) ][ chunk 1 ][ chunk 2 ... ]
//! ```
//! Chunks are aligned for direct I/O. A full chunk is frozen and written as
//! is (no copy); a partial one has its unwritten pages copied into a fresh
//! buffer, so a page is never in two writes at once.

use std::collections::VecDeque;

use crate::io::{alloc, AlignedBuf, SharedBuf};
use crate::limits::{align_down, align_up, WRITE_CHUNK_BYTES};

enum ChunkBuf {
    Open(AlignedBuf),
    Frozen(SharedBuf),
}

struct Chunk {
    start: u64,
    filled: usize,
    buf: ChunkBuf,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match &self.buf {
            ChunkBuf::Open(buf) => &buf.as_bytes()[..self.filled],
            ChunkBuf::Frozen(buf) => &buf.as_bytes()[..self.filled],
        }
    }

    fn end(&self) -> u64 {
        self.start + self.filled as u64
    }

    fn is_full(&self) -> bool {
        self.filled == WRITE_CHUNK_BYTES
    }

    /// Freezes a full chunk so a write and readers can share it.
    fn freeze(&mut self) -> SharedBuf {
        assert!(self.is_full());
        let placeholder = ChunkBuf::Frozen(SharedBuf::empty_marker());
        match std::mem::replace(&mut self.buf, placeholder) {
            ChunkBuf::Open(buf) => {
                let shared = SharedBuf::freeze(buf);
                self.buf = ChunkBuf::Frozen(shared.clone());
                shared
            }
            ChunkBuf::Frozen(shared) => {
                self.buf = ChunkBuf::Frozen(shared.clone());
                shared
            }
        }
    }
}

/// One write the writer issues; positions and lengths are aligned.
pub enum WriteOp {
    Shared(SharedBuf, u64),
    Owned(AlignedBuf, u64),
}

#[derive(Default)]
pub struct Tail {
    chunks: VecDeque<Chunk>,
}

impl Tail {
    /// A tail for a segment whose file already holds `size` bytes, of which
    /// the partial last page (`page_bytes`) is given.
    pub fn resume(size: u64, page_bytes: &[u8]) -> Tail {
        let start = align_down(size);
        assert_eq!(start + page_bytes.len() as u64, size);
        let mut tail = Tail::default();
        let mut buf = alloc(WRITE_CHUNK_BYTES);
        buf.as_bytes_mut()[..page_bytes.len()].copy_from_slice(page_bytes);
        tail.chunks.push_back(Chunk {
            start,
            filled: page_bytes.len(),
            buf: ChunkBuf::Open(buf),
        });
        tail
    }

    /// Where the last full chunk ends: up to there, writes need no copy.
    pub fn full_chunks_end(&self) -> Option<u64> {
        self.chunks
            .iter()
            .rev()
            .find(|chunk| chunk.is_full())
            .map(Chunk::end)
    }

    /// First file position held in memory, if any.
    pub fn start(&self) -> Option<u64> {
        self.chunks.front().map(|chunk| chunk.start)
    }

    /// Appends bytes that belong at file position `position` (the segment's size).
    pub fn append(&mut self, position: u64, mut bytes: &[u8]) {
        if let Some(last) = self.chunks.back() {
            assert_eq!(last.end(), position, "tail must be contiguous");
        } else {
            assert_eq!(
                align_down(position),
                position,
                "a fresh tail starts aligned"
            );
        }
        while !bytes.is_empty() {
            let needs_chunk = match self.chunks.back() {
                None => true,
                Some(chunk) => chunk.is_full(),
            };
            if needs_chunk {
                let start = self.chunks.back().map_or(position, Chunk::end);
                self.chunks.push_back(Chunk {
                    start,
                    filled: 0,
                    buf: ChunkBuf::Open(alloc(WRITE_CHUNK_BYTES)),
                });
            }
            let chunk = self.chunks.back_mut().expect("pushed above");
            let ChunkBuf::Open(buf) = &mut chunk.buf else {
                unreachable!("only full chunks are frozen");
            };
            let take = bytes.len().min(WRITE_CHUNK_BYTES - chunk.filled);
            buf.as_bytes_mut()[chunk.filled..chunk.filled + take].copy_from_slice(&bytes[..take]);
            chunk.filled += take;
            bytes = &bytes[take..];
        }
    }

    /// The writes that put `[from, size)` on disk; `from` is page aligned.
    pub fn write_ops(&mut self, from: u64, size: u64) -> Vec<WriteOp> {
        assert_eq!(align_down(from), from, "writes start on a page");
        let mut ops = Vec::new();
        for chunk in self.chunks.iter_mut() {
            if chunk.end() <= from || chunk.start >= size {
                continue;
            }
            if chunk.is_full() && chunk.start >= from {
                ops.push(WriteOp::Shared(chunk.freeze(), chunk.start));
                continue;
            }
            let low = from.max(chunk.start);
            let high = chunk.end().min(size);
            let mut buf = alloc((align_up(high) - low) as usize);
            let source =
                &chunk.bytes()[(low - chunk.start) as usize..(high - chunk.start) as usize];
            let target = buf.as_bytes_mut();
            target[..source.len()].copy_from_slice(source);
            target[source.len()..].fill(0);
            ops.push(WriteOp::Owned(buf, low));
        }
        ops
    }

    /// Copies `[position, position + len)` out of memory, if all of it is here.
    pub fn copy_range(&self, position: u64, len: u64) -> Option<Vec<u8>> {
        let start = self.start()?;
        if position < start {
            return None;
        }
        let end = position + len;
        let mut out = Vec::with_capacity(len as usize);
        for chunk in &self.chunks {
            if chunk.end() <= position || chunk.start >= end {
                continue;
            }
            let low = position.max(chunk.start);
            let high = end.min(chunk.end());
            out.extend_from_slice(
                &chunk.bytes()[(low - chunk.start) as usize..(high - chunk.start) as usize],
            );
        }
        (out.len() as u64 == len).then_some(out)
    }

    /// Drops written chunks from the front while more than `keep_bytes` of
    /// written data stays in memory. A chunk holding any page at or past
    /// `align_down(written)` is never dropped: that page is still to be rewritten.
    pub fn evict(&mut self, written: u64, keep_bytes: u64) {
        let final_end = align_down(written);
        while let Some(front) = self.chunks.front() {
            let retained = written.saturating_sub(front.start);
            let fully_final = front.is_full() && front.end() <= final_end;
            if !fully_final || retained <= keep_bytes {
                break;
            }
            self.chunks.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}
