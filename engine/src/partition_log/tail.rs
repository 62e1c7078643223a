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
//! of them is written straight from memory. A round that writes whole
//! pages to the end of the open chunk splits it at its last whole page:
//! the part before is frozen and written in place, the part from that page
//! on (the partial page's bytes already in it) stays open, in the same
//! buffer, and only the partial page is copied (under 4 KiB). A round of
//! fewer than `GATHER_PAGES_BYTES_MAX` of whole pages writes them and the
//! copied page with one vectored write; a larger one gives the pages a
//! write of their own, from the registered buffer. Either way a page is
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
    /// `len` bytes of whole pages of a frozen chunk from `offset`, then
    /// the copied partial page after them: one vectored write at `position`.
    Gathered {
        pages: SharedBuf,
        offset: usize,
        len: usize,
        last_page: AlignedBuf,
        position: u64,
    },
}

/// Whole pages of a round written together with its copied partial page
/// (one vectored write) when they are fewer than this; from this many they
/// are a write of their own. A write costs the shard more than a copy of
/// a few pages (16 KiB batches: three writes a round cost 15% more broker
/// CPU than two and a copy), but a vectored write has no fixed-buffer form:
/// the kernel pins its pages each time (`gup_fast_fallback`, 4% of the
/// broker's samples at 1 MiB batches when the pages of every write were pinned).
const GATHER_PAGES_BYTES_MAX: u64 = 128 * 1024;

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
            crate::copy::copy_to_chunk(
                &mut buf.as_bytes_mut()[chunk.filled..chunk.filled + take],
                &bytes[..take],
            );
            chunk.filled += take;
            bytes = &bytes[take..];
        }
    }

    /// The writes that put `[from, size)` on disk; `from` is page aligned.
    /// With `split_at` (page aligned, inside the range), no write crosses
    /// it: see `writer::take_round` for why.
    pub fn write_ops(&mut self, from: u64, size: u64, split_at: Option<u64>) -> Vec<WriteOp> {
        assert_eq!(align_down(from), from, "writes start on a page");
        // First, so that a partial page written again before `split_at` is
        // written from the frozen part when the round goes past it.
        self.split_open_chunk_for(from, size);
        match split_at {
            Some(split) if from < split && split < size => {
                assert_eq!(align_down(split), split, "writes split on a page");
                let mut ops = self.write_ops_within(from, split);
                ops.extend(self.write_ops_within(split, size));
                ops
            }
            _ => self.write_ops_within(from, size),
        }
    }

    fn write_ops_within(&mut self, from: u64, size: u64) -> Vec<WriteOp> {
        let mut ops = Vec::new();
        let first = self.chunks.partition_point(|chunk| chunk.end() <= from);
        for chunk in self.chunks.range_mut(first..) {
            if chunk.start >= size {
                break;
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
        gather_last_page(&mut ops);
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
        if last.is_sealed() || last.end() != size || page_end <= from.max(last.start) {
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
        let first = self.chunks.partition_point(|chunk| chunk.end() <= position);
        for chunk in self.chunks.range(first..) {
            if chunk.start >= end {
                break;
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
        // Sealed chunks come before the open one, in file order: the ones
        // that count are a prefix, and the chunks are contiguous.
        let count = self
            .chunks
            .partition_point(|chunk| chunk.is_sealed() && chunk.end() <= final_end);
        match (self.chunks.front(), count.checked_sub(1)) {
            (Some(front), Some(last)) => self.chunks[last].end() - front.start,
            _ => 0,
        }
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// A round's whole pages of a frozen chunk and the copied partial page
/// right after them go out as one vectored write, unless the pages are
/// many (see `GATHER_PAGES_BYTES_MAX`).
fn gather_last_page(ops: &mut Vec<WriteOp>) {
    let [.., WriteOp::Shared { len, position, .. }, WriteOp::Owned(_, last_position)] =
        ops.as_slice()
    else {
        return;
    };
    if position + *len as u64 != *last_position || *len as u64 >= GATHER_PAGES_BYTES_MAX {
        return;
    }
    let (
        Some(WriteOp::Owned(last_page, _)),
        Some(WriteOp::Shared {
            buf,
            offset,
            len,
            position,
        }),
    ) = (ops.pop(), ops.pop())
    else {
        unreachable!("the last two ops were matched above");
    };
    ops.push(WriteOp::Gathered {
        pages: buf,
        offset,
        len,
        last_page,
        position,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(from: u64, len: usize) -> Vec<u8> {
        (from..from + len as u64).map(|i| (i % 251) as u8).collect()
    }

    /// How an op writes its bytes.
    #[derive(Debug, PartialEq)]
    enum How {
        InPlace,
        Copied,
        /// Whole pages in place and the copied partial page, one write.
        Gathered,
    }
    use How::{Copied, Gathered, InPlace};

    /// Each op as (file position, length, how), after checking that its
    /// bytes are the file's: the pattern up to `data_end`, zeros after.
    fn written(ops: Vec<WriteOp>, data_end: u64) -> Vec<(u64, usize, How)> {
        ops.into_iter()
            .map(|op| {
                let (position, bytes, how) = match op {
                    WriteOp::Shared {
                        buf,
                        offset,
                        len,
                        position,
                    } => (
                        position,
                        buf.as_bytes()[offset..offset + len].to_vec(),
                        InPlace,
                    ),
                    WriteOp::Owned(buf, position) => (position, buf.as_bytes().to_vec(), Copied),
                    WriteOp::Gathered {
                        pages,
                        offset,
                        len,
                        last_page,
                        position,
                    } => {
                        assert_eq!(last_page.len(), 4096, "one copied page");
                        let mut bytes = pages.as_bytes()[offset..offset + len].to_vec();
                        bytes.extend_from_slice(last_page.as_bytes());
                        (position, bytes, Gathered)
                    }
                };
                let data = data_end.saturating_sub(position).min(bytes.len() as u64) as usize;
                assert!(
                    bytes[..data] == pattern(position, data)[..]
                        && bytes[data..].iter().all(|byte| *byte == 0),
                    "the op at {position} ({} bytes) holds other bytes than the file's",
                    bytes.len()
                );
                (position, bytes.len(), how)
            })
            .collect()
    }

    /// A round to the end of the open chunk writes its whole pages from the
    /// chunk itself and copies only the partial page, which stays in the
    /// open part of the same buffer; the next round rewrites that page in
    /// place too, in a write of its own (it splits there, see
    /// `writer::take_round`), and its own pages in place again. Many whole
    /// pages are a write apart from the partial page. Readers see every
    /// byte across the parts.
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
                vec![(0, page_end as usize, InPlace), (page_end, 4096, Copied)]
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
                    (page_end, 4096, InPlace),
                    (split, (last_page - split) as usize, InPlace),
                    (last_page, 4096, Copied),
                ]
            );
            assert_eq!(tail.copy_range(0, size), Some(pattern(0, size as usize)));
        });
    }

    /// The open part of a split buffer fills to the buffer's end, is
    /// written whole without a copy, and the next bytes go to a new chunk;
    /// rounds with few whole pages write them in place and their copied
    /// partial page with one vectored write.
    #[test]
    fn the_open_part_of_a_split_chunk_fills_to_the_buffer_end() {
        crate::runtime::block_on(async {
            let mut tail = Tail::default();
            let first = 200 * 1024 + 10;
            tail.append(0, &pattern(0, first));
            let from = align_down(first as u64);
            let ops = written(tail.write_ops(0, first as u64, None), first as u64);
            assert_eq!(ops, vec![(0, from as usize, InPlace), (from, 4096, Copied)]);

            let size = (WRITE_CHUNK_BYTES + 5000) as u64;
            tail.append(first as u64, &pattern(first as u64, size as usize - first));
            let ops = written(tail.write_ops(from, size, None), size);
            let chunk_end = WRITE_CHUNK_BYTES as u64;
            assert_eq!(
                ops,
                vec![
                    (from, (chunk_end - from) as usize, InPlace),
                    (chunk_end, 8192, Gathered),
                ]
            );
            assert_eq!(tail.cached_bytes(chunk_end), chunk_end);

            let more = 16 * 1024;
            tail.append(size, &pattern(size, more));
            let from = align_down(size);
            let end = size + more as u64;
            let ops = written(tail.write_ops(from, end, None), end);
            assert_eq!(ops, vec![(from, (align_up(end) - from) as usize, Gathered)]);
            assert_eq!(tail.full_chunks_end(), Some(align_down(end)));
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

    /// Rounds of 16 KiB batches, as the writer plans them (a round first
    /// rewrites the last partial page, in a write of its own): every whole
    /// page is written in place, only the partial page is copied, and each
    /// round is two writes. The tail then holds a part per round; reads,
    /// cache accounting and eviction go across the parts.
    #[test]
    fn small_rounds_gather_their_pages_and_copy_only_the_partial_page() {
        crate::runtime::block_on(async {
            let mut tail = Tail::default();
            let batch = 16 * 1024 + 700;
            let mut size = 0u64;
            let mut durable = 0u64;
            for round in 0..40u64 {
                tail.append(size, &pattern(size, batch));
                size += batch as u64;
                let from = align_down(durable);
                let split = align_up(durable);
                let ops = written(tail.write_ops(from, size, Some(split)), size);
                let last_page = align_down(size);
                let mut expected = Vec::new();
                if split > from {
                    expected.push((from, 4096, InPlace));
                }
                expected.push((split, (align_up(size) - split) as usize, Gathered));
                assert_eq!(ops, expected, "round {round}");
                assert_eq!(tail.full_chunks_end(), Some(last_page));
                durable = size;
            }
            assert_eq!(tail.copy_range(0, size), Some(pattern(0, size as usize)));
            let middle = 333 * 1024 + 17;
            assert_eq!(
                tail.copy_range(middle, 50_000),
                Some(pattern(middle, 50_000))
            );
            let final_end = align_down(size);
            assert_eq!(tail.cached_bytes(size), final_end);
            tail.evict(size, 100 * 1024);
            let start = tail.start().expect("a part stays");
            assert!(
                start > 0 && size - start <= 100 * 1024 + 20 * 1024,
                "{start}"
            );
            assert_eq!(tail.cached_bytes(size), final_end - start);
            assert_eq!(
                tail.copy_range(start, size - start),
                Some(pattern(start, (size - start) as usize))
            );
            assert_eq!(tail.copy_range(start - 1, 1), None);
        });
    }
}
