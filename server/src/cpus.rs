//! The CPUs the broker may run on, and which one each shard is pinned to.
//!
//! Shard *i* runs on the *i*-th CPU of the process's affinity mask
//! (`sched_getaffinity`), not on CPU *i*: `taskset -c 2,3 ringlog serve`
//! (or systemd's `CPUAffinity=`) keeps the broker on CPUs 2 and 3, as
//! Redpanda's `--cpuset` does, and leaves the others to what else runs on
//! the machine. With more shards than CPUs the shards are not pinned (they
//! share the mask). `serve` and `doctor` both read it here.

/// The CPUs this process may run on, in order: its affinity mask as the
/// first call found it. `serve` calls this before any shard pins itself,
/// so threads a shard starts later (the sendfile pool) can return to the
/// whole set rather than to their shard's CPU.
pub fn allowed() -> Vec<usize> {
    static ALLOWED: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    ALLOWED.get_or_init(read_affinity).clone()
}

fn read_affinity() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let mut set: nix::libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the size passed is that of `set`.
    let result = unsafe {
        nix::libc::sched_getaffinity(0, std::mem::size_of::<nix::libc::cpu_set_t>(), &mut set)
    };
    if result != 0 {
        let count = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        // A cpu_set_t holds CPU_SETSIZE CPUs: `unpin_current_thread` sets these.
        return (0..count.min(nix::libc::CPU_SETSIZE as usize)).collect();
    }
    (0..nix::libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's size.
        .filter(|&cpu| unsafe { nix::libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Lets the calling thread run on every CPU of [`allowed`].
pub fn unpin_current_thread() {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it.
    unsafe {
        let mut set: nix::libc::cpu_set_t = std::mem::zeroed();
        for cpu in allowed() {
            nix::libc::CPU_SET(cpu, &mut set);
        }
        let _ = nix::libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

/// The CPU each of `shards` shards is pinned to, or None (unpinned) when
/// there are more shards than CPUs to run on.
pub fn for_shards(shards: usize) -> Option<Vec<usize>> {
    let allowed = allowed();
    (shards <= allowed.len()).then(|| allowed[..shards].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_allowed_cpus_in_order() {
        let allowed = allowed();
        assert!(!allowed.is_empty());
        assert_eq!(for_shards(allowed.len()), Some(allowed.clone()));
        assert_eq!(for_shards(1), Some(vec![allowed[0]]));
        assert_eq!(for_shards(allowed.len() + 1), None);
    }
}
