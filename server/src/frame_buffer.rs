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
    /// Each buffer's every byte has been written (`len() == capacity()`
    /// is not required, but all of `..len()` is initialized).
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A buffer of at least `len` initialized bytes: the smallest pooled one
/// that fits, or a new one (sized to a power of two so that it fits later
/// frames of a similar size).
pub fn take(len: usize) -> Vec<u8> {
    let pooled = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let best = pool
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.len() >= len)
            .min_by_key(|(_, buffer)| buffer.len())
            .map(|(index, _)| index)?;
        let buffer = pool.buffers.swap_remove(best);
        pool.bytes -= buffer.len();
        Some(buffer)
    });
    pooled.unwrap_or_else(|| {
        let size = if len <= FRAME_POOL_BUFFER_BYTES_MAX {
            len.next_power_of_two().max(POOLED_BUFFER_BYTES_MIN)
        } else {
            len
        };
        // vec! of zeros is calloc: fresh pages come zeroed from the
        // kernel, so nothing is written twice.
        vec![0u8; size]
    })
}

/// Returns a buffer to this thread's pool, or frees it if the pool is full
/// or the buffer too large to keep.
fn give_back(buffer: Vec<u8>) {
    if buffer.len() > FRAME_POOL_BUFFER_BYTES_MAX || buffer.len() < POOLED_BUFFER_BYTES_MIN {
        return;
    }
    // During thread teardown the pool may be gone: the buffer is freed.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + buffer.len() <= FRAME_POOL_BYTES_MAX {
            pool.bytes += buffer.len();
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

/// Freezes the first `len` bytes of `buffer` (from [`take`]) into `Bytes`
/// that return the buffer to a pool when dropped.
pub fn freeze(buffer: Vec<u8>, len: usize) -> Bytes {
    assert!(len <= buffer.len(), "a frame fits its buffer");
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
        let buffer = take(1_000_000);
        assert_eq!(buffer.len(), 1 << 20, "rounded up to a power of two");
        let address = buffer.as_ptr();
        let frame = freeze(buffer, 1_000_000);
        let records = frame.slice(100..200);
        drop(frame);
        assert_eq!(pooled_bytes(), 0, "a slice still holds the buffer");
        drop(records);
        assert_eq!(pooled_bytes(), 1 << 20);
        let again = take(900_000);
        assert_eq!(again.as_ptr(), address, "the same buffer, not a new one");
        assert_eq!(pooled_bytes(), 0);
    }

    #[test]
    fn the_pool_is_bounded() {
        let huge = take(FRAME_POOL_BUFFER_BYTES_MAX + 1);
        assert_eq!(
            huge.len(),
            FRAME_POOL_BUFFER_BYTES_MAX + 1,
            "exact, not rounded"
        );
        drop(freeze(huge, 10));
        assert_eq!(pooled_bytes(), 0, "too large to keep");
        let count = FRAME_POOL_BYTES_MAX / FRAME_POOL_BUFFER_BYTES_MAX + 2;
        let buffers: Vec<Vec<u8>> = (0..count)
            .map(|_| take(FRAME_POOL_BUFFER_BYTES_MAX))
            .collect();
        for buffer in buffers {
            drop(freeze(buffer, 1));
        }
        assert!(pooled_bytes() <= FRAME_POOL_BYTES_MAX);
        assert!(pooled_bytes() >= FRAME_POOL_BYTES_MAX - FRAME_POOL_BUFFER_BYTES_MAX);
    }

    #[test]
    fn a_frame_dropped_on_another_thread_goes_to_that_threads_pool() {
        let frame = freeze(take(100_000), 100_000);
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
