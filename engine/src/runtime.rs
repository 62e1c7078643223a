//! Starting a glommio executor with settings that work under a small
//! RLIMIT_MEMLOCK (8 MiB on this machine kind): glommio registers
//! `io_memory` bytes of buffers with io_uring, and asking for more than the
//! limit fails. Callers outside the engine use this instead of glommio.

use std::future::Future;

/// Bytes of io_uring-registered buffers per executor when they count
/// against RLIMIT_MEMLOCK; buffers beyond this come from the heap, which
/// works the same, a little slower: the kernel pins a heap buffer's pages
/// for each direct write (`gup_fast_fallback`, 5.5% of a broker's samples
/// with 1 MiB produce batches), a registered one's once.
pub const IO_MEMORY_BYTES: usize = 2 * 1024 * 1024;

/// Bytes of registered buffers per shard when locked memory is not bounded
/// by RLIMIT_MEMLOCK (CAP_IPC_LOCK, or the limit allows it): enough for
/// the tail chunks of a shard's busy partitions (4 MiB each) and the rounds
/// in flight, so their writes skip the pinning. Pinned for the life of the
/// process: it counts in the broker's RSS from the start.
pub const IO_MEMORY_BYTES_UNBOUNDED: usize = 64 * 1024 * 1024;

/// How much memory a broker's shards register with io_uring, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoMemory {
    /// Bytes per shard.
    pub per_shard: usize,
    /// True when the bytes count against RLIMIT_MEMLOCK (the process has
    /// no CAP_IPC_LOCK), so the limit must allow `per_shard * shards`.
    pub charged: bool,
}

/// What `shards` shards register: [`IO_MEMORY_BYTES_UNBOUNDED`] each when
/// the kernel does not charge it to RLIMIT_MEMLOCK (CAP_IPC_LOCK) or the
/// limit allows it, else [`IO_MEMORY_BYTES`].
pub fn io_memory_for(shards: usize) -> IoMemory {
    if may_lock_memory_unbounded() {
        return IoMemory {
            per_shard: IO_MEMORY_BYTES_UNBOUNDED,
            charged: false,
        };
    }
    let memlock = memlock_limit_bytes().unwrap_or(0);
    let per_shard = match memlock >= (IO_MEMORY_BYTES_UNBOUNDED * shards.max(1)) as u64 {
        true => IO_MEMORY_BYTES_UNBOUNDED,
        false => IO_MEMORY_BYTES,
    };
    IoMemory {
        per_shard,
        charged: true,
    }
}

/// True if the process has CAP_IPC_LOCK in its effective set: io_uring
/// then does not charge registered buffers to RLIMIT_MEMLOCK.
pub fn may_lock_memory_unbounded() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// The capability's bit number (linux/capability.h).
const CAP_IPC_LOCK: u32 = 14;

/// Reads RLIMIT_MEMLOCK (soft), in bytes.
pub fn memlock_limit_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text
        .lines()
        .find(|line| line.starts_with("Max locked memory"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

/// Runs `future` to completion on a fresh single-thread executor.
pub fn block_on<T: 'static>(future: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(IO_MEMORY_BYTES)
        .make()
        .expect("cannot start a glommio executor: check RLIMIT_MEMLOCK (ulimit -l)")
        .run(future)
}
