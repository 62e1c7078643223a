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
//! Chunks are aligned for direct I/O. Only the last chunk is open for
//! appends; the others are frozen (shared, immutable), and any page range
//! of them is written straight from memory. A round that writes at least
//! `SPLIT_PAGES_BYTES_MIN` of whole pages to the end of the open chunk
//! splits it at its last whole page: the part before is frozen and written
//! in place, the part from that page on (the partial page's bytes already
//! in it) stays open, in the same buffer, and only the partial page is
//! copied, into a write of its own (under 4 KiB). A smaller round copies
//! its part of the open chunk into one write instead (a split would make
//! it two, and a write costs more than the copy). Either way a page is
//! never in two writes at once, and the bytes a write reads never change
//! under it.
//!
//! ```text
//!  one 1 MiB buffer:  [ frozen part | frozen part |partial page... open part ]
//!                       round n       round n+1    ^ next round splits here
//! ```

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

    /// Takes no more appends: frozen, or its buffer (or part of one) full.
    fn is_sealed(&self) -> bool {
        match &self.buf {
            ChunkBuf::Open(buf) => self.filled == buf.len(),
            ChunkBuf::Frozen(_) => true,
        }
    }

    /// Freezes the chunk so a write and readers can share it; it takes no
    /// more appends. Its end must be page aligned.
    fn freeze(&mut self) -> SharedBuf {
        assert_eq!(
            align_down(self.end()),
            self.end(),
            "frozen chunks end on a page"
        );
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
    /// `len` bytes of a frozen chunk from `offset`, to file `position`.
    Shared {
        buf: SharedBuf,
        offset: usize,
        len: usize,
        position: u64,
    },
    Owned(AlignedBuf, u64),
}

/// A round splits the open chunk only when it writes at least this many
/// bytes of whole pages from it; a smaller part is copied, so that the
/// round stays one write (with its partial page) instead of two: a write
/// costs the shard more than copying this much (16 KiB batches: three
/// writes a round cost 15% more broker CPU than two and a copy).
const SPLIT_PAGES_BYTES_MIN: u64 = 128 * 1024;

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

    /// Where the last sealed (full or frozen) chunk ends: up to there,
    /// writes need no copy.
    pub fn full_chunks_end(&self) -> Option<u64> {
        self.chunks
            .iter()
            .rev()
            .find(|chunk| chunk.is_sealed())
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
                Some(chunk) => chunk.is_sealed(),
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
                unreachable!("a frozen chunk is sealed");
            };
            let take = bytes.len().min(buf.len() - chunk.filled);
            buf.as_bytes_mut()[chunk.filled..chunk.filled + take].copy_from_slice(&bytes[..take]);
            chunk.filled += take;
            bytes = &bytes[take..];
        }
    }

    /// The writes that put `[from, size)` on disk; `from` is page aligned.
    /// With `split_at` (page aligned, inside the range), no write crosses
    /// it: see `writer::take_round` for why.
    pub fn write_ops(&mut self, from: u64, size: u64, split_at: Option<u64>) -> Vec<WriteOp> {
        assert_eq!(align_down(from), from, "writes start on a page");
        match split_at {
            Some(split) if from < split && split < size => {
                assert_eq!(align_down(split), split, "writes split on a page");
                let mut ops = self.write_ops(from, split, None);
                ops.extend(self.write_ops(split, size, None));
                ops
            }
            _ => self.write_ops_within(from, size),
        }
    }

    fn write_ops_within(&mut self, from: u64, size: u64) -> Vec<WriteOp> {
        self.split_open_chunk_for(from, size);
        let mut ops = Vec::new();
        for chunk in self.chunks.iter_mut() {
            if chunk.end() <= from || chunk.start >= size {
                continue;
            }
            let low = from.max(chunk.start);
            let high = chunk.end().min(size);
            if chunk.is_sealed() && align_down(high) == high {
                ops.push(WriteOp::Shared {
                    buf: chunk.freeze(),
                    offset: (low - chunk.start) as usize,
                    len: (high - low) as usize,
                    position: low,
                });
                continue;
            }
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

    /// Before a round writes `[from, size)` to the end of the open chunk:
    /// splits it at its last whole page, freezing the part before (which
    /// the round then writes in place) and leaving the part from that page
    /// on open, the partial page's bytes already in it.
    fn split_open_chunk_for(&mut self, from: u64, size: u64) {
        let Some(last) = self.chunks.back_mut() else {
            return;
        };
        let page_end = align_down(last.end());
        if last.is_sealed()
            || last.end() != size
            || page_end < from.max(last.start) + SPLIT_PAGES_BYTES_MIN
        {
            return;
        }
        let ChunkBuf::Open(buf) = &mut last.buf else {
            unreachable!("an open chunk is not sealed");
        };
        let rest = buf.split_off((page_end - last.start) as usize);
        let next = Chunk {
            start: page_end,
            filled: (last.end() - page_end) as usize,
            buf: ChunkBuf::Open(rest),
        };
        last.filled = (page_end - last.start) as usize;
        last.freeze();
        self.chunks.push_back(next);
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
            let fully_final = front.is_sealed() && front.end() <= final_end;
            if !fully_final || retained <= keep_bytes {
                break;
            }
            self.chunks.pop_front();
        }
    }

    /// Bytes `evict` could drop: sealed chunks of pages that are final on
    /// disk (below `align_down(written)`). The rest is needed to write.
    pub fn cached_bytes(&self, written: u64) -> u64 {
        let final_end = align_down(written);
        self.chunks
            .iter()
            .take_while(|chunk| chunk.is_sealed() && chunk.end() <= final_end)
            .map(|chunk| chunk.filled as u64)
            .sum()
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(from: u64, len: usize) -> Vec<u8> {
        (from..from + len as u64).map(|i| (i % 251) as u8).collect()
    }

    /// Each op as (file position, length, copied?), after checking that its
    /// bytes are the file's: the pattern up to `data_end`, zeros after.
    fn written(ops: Vec<WriteOp>, data_end: u64) -> Vec<(u64, usize, bool)> {
        ops.into_iter()
            .map(|op| {
                let (position, bytes, copied) = match op {
                    WriteOp::Shared {
                        buf,
                        offset,
                        len,
                        position,
                    } => (
                        position,
                        buf.as_bytes()[offset..offset + len].to_vec(),
                        false,
                    ),
                    WriteOp::Owned(buf, position) => (position, buf.as_bytes().to_vec(), true),
                };
                let data = data_end.saturating_sub(position).min(bytes.len() as u64) as usize;
                assert!(
                    bytes[..data] == pattern(position, data)[..]
                        && bytes[data..].iter().all(|byte| *byte == 0),
                    "the op at {position} ({} bytes) holds other bytes than the file's",
                    bytes.len()
                );
                (position, bytes.len(), copied)
            })
            .collect()
    }

    /// A round to the end of the open chunk writes its whole pages from the
    /// chunk itself and copies only the partial page, which stays in the
    /// open part of the same buffer; the next round rewrites that page from
    /// a copy (it splits there, see `writer::take_round`) and the rest in
    /// place again. Readers see every byte across the parts.
    #[test]
    fn rounds_write_the_open_chunk_in_place_but_its_partial_page() {
        crate::runtime::block_on(async {
            let mut tail = Tail::default();
            let first = 600 * 1024 + 100;
            tail.append(0, &pattern(0, first));
            let ops = written(tail.write_ops(0, first as u64, None), first as u64);
            let page_end = align_down(first as u64);
            assert_eq!(
                ops,
                vec![(0, page_end as usize, false), (page_end, 4096, true)]
            );
            assert_eq!(tail.full_chunks_end(), Some(page_end));

            let second = 300 * 1024;
            tail.append(first as u64, &pattern(first as u64, second));
            let size = (first + second) as u64;
            let split = page_end + 4096;
            let ops = written(tail.write_ops(page_end, size, Some(split)), size);
            let last_page = align_down(size);
            assert_eq!(
                ops,
                vec![
                    (page_end, 4096, true),
                    (split, (last_page - split) as usize, false),
                    (last_page, 4096, true),
                ]
            );
            assert_eq!(tail.copy_range(0, size), Some(pattern(0, size as usize)));
        });
    }

    /// The open part of a split buffer fills to the buffer's end, is
    /// written whole without a copy, and the next bytes go to a new chunk;
    /// rounds with few whole pages in the open chunk copy them instead, so
    /// that they stay one write.
    #[test]
    fn the_open_part_of_a_split_chunk_fills_to_the_buffer_end() {
        crate::runtime::block_on(async {
            let mut tail = Tail::default();
            let first = 200 * 1024 + 10;
            tail.append(0, &pattern(0, first));
            let from = align_down(first as u64);
            let ops = written(tail.write_ops(0, first as u64, None), first as u64);
            assert_eq!(ops, vec![(0, from as usize, false), (from, 4096, true)]);

            let size = (WRITE_CHUNK_BYTES + 5000) as u64;
            tail.append(first as u64, &pattern(first as u64, size as usize - first));
            let ops = written(tail.write_ops(from, size, None), size);
            let chunk_end = WRITE_CHUNK_BYTES as u64;
            assert_eq!(
                ops,
                vec![
                    (from, (chunk_end - from) as usize, false),
                    (chunk_end, 8192, true),
                ]
            );
            assert_eq!(tail.cached_bytes(chunk_end), chunk_end);

            let more = 16 * 1024;
            tail.append(size, &pattern(size, more));
            let from = align_down(size);
            let end = size + more as u64;
            let ops = written(tail.write_ops(from, end, None), end);
            assert_eq!(ops, vec![(from, (align_up(end) - from) as usize, true)]);
            assert_eq!(tail.full_chunks_end(), Some(chunk_end));
            assert_eq!(tail.copy_range(0, end), Some(pattern(0, end as usize)));
        });
    }

    /// Frozen parts are cache once their pages are final, and evict then.
    #[test]
    fn frozen_parts_evict_when_final() {
        crate::runtime::block_on(async {
            let mut tail = Tail::default();
            let first = 700 * 1024 + 1;
            tail.append(0, &pattern(0, first));
            assert_eq!(tail.write_ops(0, first as u64, None).len(), 2);
            let page_end = align_down(first as u64);
            assert_eq!(tail.cached_bytes(page_end - 1), 0, "not final yet");
            assert_eq!(tail.cached_bytes(first as u64), page_end);
            tail.evict(first as u64, 0);
            assert_eq!(tail.start(), Some(page_end));
            assert_eq!(tail.copy_range(page_end, 1), Some(pattern(page_end, 1)));
            assert_eq!(tail.copy_range(0, 1), None);
        });
    }
}
