//! Starting a glommio executor with settings that work under a small
//! RLIMIT_MEMLOCK (8 MiB on this machine kind): glommio registers
//! `io_memory` bytes of buffers with io_uring, and asking for more than the
//! limit fails. Callers outside the engine use this instead of glommio.

use std::future::Future;

/// Bytes of io_uring-registered buffers per executor; buffers beyond this
/// come from the heap, which works the same, a little slower.
pub const IO_MEMORY_BYTES: usize = 2 * 1024 * 1024;

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
