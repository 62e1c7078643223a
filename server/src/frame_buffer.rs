//! Buffers for request frames, kept for reuse on each shard.
//!
//! A produce request of 1 MB used to cost more CPU around its bytes than
//! the copy into the log: a fresh allocation per frame (for large ones an
//! mmap, 256 page faults and the kernel zeroing each page), zeroing it
//! again in user space before the socket read, reallocations as the frame
//! grew, and an munmap with its TLB shootdown when it was dropped. A frame
//! now goes into a buffer taken from this pool, already written once, and
//! the buffer comes back when the last `Bytes` of the frame is dropped.
//!
//! A buffer's capacity is reserved for the whole frame, but its bytes are
//! initialized (zeroed, once in the buffer's life) only as the frame's
//! bytes arrive ([`initialize_to`]): a client that announces a large frame
//! and sends little commits little memory, not the size it announced.
//!
//! Shard contract: the pool is thread-local. A frame's records may be
//! dropped on the shard that owns their partition, so buffers migrate
//! between shards' pools; each pool stays bounded by
//! `FRAME_POOL_BYTES_MAX`, and buffers above `FRAME_POOL_BUFFER_BYTES_MAX`
//! are never kept.

use std::cell::RefCell;

use bytes::Bytes;

use crate::limits::{FRAME_POOL_BUFFER_BYTES_MAX, FRAME_POOL_BYTES_MAX};

/// The smallest buffer the pool hands out: frames this small are copied
/// out of the connection's read buffer instead (see `frame_reader`).
const POOLED_BUFFER_BYTES_MIN: usize = 64 * 1024;

#[derive(Default)]
struct Pool {
    /// Buffers to reuse; `..len()` of each is initialized.
    buffers: Vec<Vec<u8>>,
    /// Their capacities, summed.
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A buffer with room for `len` bytes: the smallest pooled one that fits,
/// or a new one (sized to a power of two so that it fits later frames of a
/// similar size). Only `..buffer.len()` is initialized: see
/// [`initialize_to`].
pub fn take(len: usize) -> Vec<u8> {
    pooled(len).unwrap_or_else(|| {
        let size = if len <= FRAME_POOL_BUFFER_BYTES_MAX {
            len.next_power_of_two().max(POOLED_BUFFER_BYTES_MIN)
        } else {
            len
        };
        // Reserved, not touched: pages are committed as they are written.
        Vec::with_capacity(size)
    })
}

/// The smallest pooled buffer with room for `len` bytes, if there is one.
pub fn pooled(len: usize) -> Option<Vec<u8>> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let best = pool
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.capacity() >= len)
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(index, _)| index)?;
        let buffer = pool.buffers.swap_remove(best);
        pool.bytes -= buffer.capacity();
        Some(buffer)
    })
}

/// Makes `..len` of `buffer` initialized (zeroing what never was), within
/// the capacity [`take`] gave it.
pub fn initialize_to(buffer: &mut Vec<u8>, len: usize) {
    assert!(len <= buffer.capacity(), "a frame fits its buffer");
    if buffer.len() < len {
        buffer.resize(len, 0);
    }
}

/// Returns a buffer to this thread's pool, or frees it if the pool is full
/// or the buffer too large to keep.
fn give_back(buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if !(POOLED_BUFFER_BYTES_MIN..=FRAME_POOL_BUFFER_BYTES_MAX).contains(&capacity) {
        return;
    }
    // During thread teardown the pool may be gone: the buffer is freed.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + capacity <= FRAME_POOL_BYTES_MAX {
            pool.bytes += capacity;
            pool.buffers.push(buffer);
        }
    });
}

/// The first `len` bytes of a pooled buffer; the buffer goes back to the
/// pool of whichever thread drops the last reference.
struct Frame {
    buffer: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buffer));
    }
}

/// Freezes the first `len` bytes of `buffer` (from [`take`], filled to
/// `len`) into `Bytes` that return the buffer to a pool when dropped.
pub fn freeze(buffer: Vec<u8>, len: usize) -> Bytes {
    assert!(len <= buffer.len(), "a frame's bytes are initialized");
    Bytes::from_owner(Frame { buffer, len })
}

/// Bytes held by this thread's pool (for tests and counters).
#[cfg(test)]
pub fn pooled_bytes() -> usize {
    POOL.with(|pool| pool.borrow().bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_are_reused() {
        let mut buffer = take(1_000_000);
        assert_eq!(buffer.capacity(), 1 << 20, "rounded up to a power of two");
        assert!(buffer.is_empty(), "nothing committed before bytes arrive");
        initialize_to(&mut buffer, 1_000_000);
        let address = buffer.as_ptr();
        let frame = freeze(buffer, 1_000_000);
        let records = frame.slice(100..200);
        drop(frame);
        assert_eq!(pooled_bytes(), 0, "a slice still holds the buffer");
        drop(records);
        assert_eq!(pooled_bytes(), 1 << 20);
        let again = take(900_000);
        assert_eq!(again.as_ptr(), address, "the same buffer, not a new one");
        assert_eq!(
            again.len(),
            1_000_000,
            "already initialized: not zeroed again"
        );
        assert_eq!(pooled_bytes(), 0);
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut huge = take(FRAME_POOL_BUFFER_BYTES_MAX + 1);
        assert_eq!(
            huge.capacity(),
            FRAME_POOL_BUFFER_BYTES_MAX + 1,
            "exact, not rounded"
        );
        initialize_to(&mut huge, 10);
        drop(freeze(huge, 10));
        assert_eq!(pooled_bytes(), 0, "too large to keep");
        let count = FRAME_POOL_BYTES_MAX / FRAME_POOL_BUFFER_BYTES_MAX + 2;
        let buffers: Vec<Vec<u8>> = (0..count)
            .map(|_| take(FRAME_POOL_BUFFER_BYTES_MAX))
            .collect();
        for mut buffer in buffers {
            initialize_to(&mut buffer, 1);
            drop(freeze(buffer, 1));
        }
        assert!(pooled_bytes() <= FRAME_POOL_BYTES_MAX);
        assert!(pooled_bytes() >= FRAME_POOL_BYTES_MAX - FRAME_POOL_BUFFER_BYTES_MAX);
    }

    #[test]
    fn a_frame_dropped_on_another_thread_goes_to_that_threads_pool() {
        let mut buffer = take(100_000);
        initialize_to(&mut buffer, 100_000);
        let frame = freeze(buffer, 100_000);
        let pooled_there = std::thread::spawn(move || {
            drop(frame);
            pooled_bytes()
        })
        .join()
        .unwrap();
        assert_eq!(pooled_there, 128 * 1024);
        assert_eq!(pooled_bytes(), 0);
    }
}
