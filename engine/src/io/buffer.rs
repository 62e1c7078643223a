//! Buffers aligned for direct I/O, and the per-executor pool that recycles
//! the 1 MiB tail chunks.
//!
//! Contract: allocation must happen on a thread that runs a glommio
//! `LocalExecutor` (a shard); nothing here is `Send`.

use std::rc::Rc;

use glommio::io::DmaBuffer;

use crate::limits::{CHUNK_POOL_MAX, WRITE_CHUNK_BYTES};

/// A buffer aligned for direct I/O, owned until it is written, with the id
/// of the executor that allocated it (see `CHUNK_POOL`).
pub struct AlignedBuf(pub(super) DmaBuffer, usize);

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

    /// Splits off `[at, len)` into a buffer of its own, the same bytes in
    /// the same memory; `at` must be page aligned. The allocation goes back
    /// to the pool when its last part is (see `recycle`).
    pub fn split_off(&mut self, at: usize) -> AlignedBuf {
        assert_eq!(
            at as u64 % crate::limits::DIRECT_IO_ALIGN_BYTES,
            0,
            "split on a page"
        );
        AlignedBuf(self.0.split_off(at), self.1)
    }
}

/// An aligned buffer frozen for sharing between a write and readers, with
/// the id of the executor that allocated it.
#[derive(Clone)]
pub struct SharedBuf(pub(super) Option<Rc<DmaBuffer>>, usize);

impl Drop for SharedBuf {
    fn drop(&mut self) {
        if let Some(Ok(buf)) = self.0.take().map(Rc::try_unwrap) {
            recycle(buf, self.1);
        }
    }
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
    /// A buffer split into parts comes back when its last frozen part goes;
    /// if the last part alive was an open chunk's, it is freed instead.
    ///
    /// A buffer only serves the executor that allocated it: glommio may
    /// carve it from that executor's io_uring-registered memory and write it
    /// as a fixed buffer of that ring, which another ring (a later executor
    /// on this thread, as in tests and benches) rejects with EFAULT.
    static CHUNK_POOL: std::cell::RefCell<ChunkPool> = std::cell::RefCell::new(ChunkPool::default());
}

/// Keeps a chunk's buffer for reuse once no part of it is alive: a chunk
/// may have been split into parts (`AlignedBuf::split_off`), and the last
/// part to go brings the whole buffer back.
fn recycle(buf: DmaBuffer, executor_id: usize) {
    let Some(buf) = buf.reclaim() else {
        return;
    };
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

/// An aligned buffer of `len` bytes from the current executor. A
/// tail-chunk-sized one may come from the pool of recycled chunks, with
/// old bytes in it.
pub fn alloc(len: usize) -> AlignedBuf {
    let executor_id = glommio::executor().id();
    if len == WRITE_CHUNK_BYTES {
        if let Some(buf) = reuse(executor_id) {
            return AlignedBuf(buf, executor_id);
        }
    }
    AlignedBuf(glommio::allocate_dma_buffer(len), executor_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled() -> usize {
        CHUNK_POOL.with(|pool| pool.borrow().buffers.len())
    }

    /// A chunk split into parts shares one buffer, and the buffer goes
    /// back to the pool, whole and with its bytes, when its last part goes.
    #[test]
    fn a_split_chunk_comes_back_whole_when_its_last_part_goes() {
        crate::runtime::block_on(async {
            let mut first = alloc(WRITE_CHUNK_BYTES);
            first.as_bytes_mut()[0] = 7;
            first.as_bytes_mut()[8192] = 9;
            let rest = first.split_off(8192);
            assert_eq!((first.len(), rest.len()), (8192, WRITE_CHUNK_BYTES - 8192));
            assert_eq!(rest.as_bytes()[0], 9, "the same memory");
            let (first, rest) = (SharedBuf::freeze(first), SharedBuf::freeze(rest));
            let before = pooled();
            drop(rest);
            assert_eq!(pooled(), before, "a part is not the whole buffer");
            drop(first);
            assert_eq!(pooled(), before + 1);
            let again = alloc(WRITE_CHUNK_BYTES);
            assert_eq!(again.len(), WRITE_CHUNK_BYTES);
            assert_eq!((again.as_bytes()[0], again.as_bytes()[8192]), (7, 9));
        });
    }
}
