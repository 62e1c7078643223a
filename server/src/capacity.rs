//! How many partitions this broker can hold with its descriptor limit and
//! its memory, and the per-shard budgets that follow from them: segment
//! files kept open (the least recently used is closed to make room,
//! `engine/src/io/open_files.rs`) and tail caches (the least recently
//! written log drops its cache first, `engine/src/cache_budget.rs`).
//!
//! ```text
//!  RLIMIT_NOFILE (soft, raised to the hard limit at start)
//!    - reserved: max(256, a quarter) for sockets, rings, pools, index writes
//!    = segment descriptors / 3 per segment file / shards = open segments per shard
//!  memory (cgroup memory.max, else MemTotal)
//!    tail caches: min(512 MiB, an eighth of memory / shards) per shard
//!    partitions: what is left / the measured cost of an idle partition
//! ```
//!
//! Descriptors no longer bound the partition count (a partition holds
//! none while idle); memory does, and the broker says at start how many
//! partitions it has room for. The figures are logged, not enforced: a
//! CreateTopics beyond them is not refused.

use crate::limits::{
    DESCRIPTORS_PER_SEGMENT_FILE, OPEN_FILES_RESERVED_DIVISOR, OPEN_FILES_RESERVED_MIN,
    OPEN_SEGMENTS_PER_SHARD_MIN, PARTITION_IDLE_BYTES, TAIL_CACHE_SHARD_BYTES_MAX,
};

/// The budgets of each shard, and what they were derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub open_files_limit: u64,
    pub open_segments_per_shard: usize,
    pub memory_bytes: u64,
    pub tail_cache_bytes_per_shard: u64,
    /// Idle partitions the memory left after the tail caches holds.
    pub partitions_by_memory: u64,
}

impl Capacity {
    /// The budgets for `shards` shards under the current limits.
    pub fn measure(shards: usize) -> Capacity {
        Capacity::from_limits(
            open_files_limit().unwrap_or(1024),
            memory_limit_bytes().unwrap_or(1 << 30),
            shards,
        )
    }

    pub fn from_limits(open_files_limit: u64, memory_bytes: u64, shards: usize) -> Capacity {
        let shards = shards.max(1) as u64;
        let reserved = OPEN_FILES_RESERVED_MIN.max(open_files_limit / OPEN_FILES_RESERVED_DIVISOR);
        let for_segments = open_files_limit.saturating_sub(reserved);
        let open_segments_per_shard = ((for_segments / DESCRIPTORS_PER_SEGMENT_FILE / shards)
            as usize)
            .max(OPEN_SEGMENTS_PER_SHARD_MIN);
        let tail_cache_bytes_per_shard = TAIL_CACHE_SHARD_BYTES_MAX.min(memory_bytes / 8 / shards);
        let partitions_by_memory =
            memory_bytes.saturating_sub(tail_cache_bytes_per_shard * shards) / PARTITION_IDLE_BYTES;
        Capacity {
            open_files_limit,
            open_segments_per_shard,
            memory_bytes,
            tail_cache_bytes_per_shard,
            partitions_by_memory,
        }
    }

    /// One line at start: what the limits allow.
    pub fn log(&self, shards: usize) {
        tracing::info!(
            open_files_limit = self.open_files_limit,
            open_segment_files_per_shard = self.open_segments_per_shard,
            memory_mib = self.memory_bytes >> 20,
            tail_cache_mib_per_shard = self.tail_cache_bytes_per_shard >> 20,
            "capacity: about {} partitions fit in memory (~{} KiB each when idle); open files \
             bound no partition count: {} segment files stay open ({} per shard, {} descriptors \
             each), the least recently used closes to make room",
            self.partitions_by_memory,
            PARTITION_IDLE_BYTES >> 10,
            self.open_segments_per_shard * shards,
            self.open_segments_per_shard,
            DESCRIPTORS_PER_SEGMENT_FILE,
        );
    }
}

/// The soft limit of open files (already raised to the hard one).
fn open_files_limit() -> Option<u64> {
    let (soft, _) = limit(nix::libc::RLIMIT_NOFILE);
    (soft > 0).then_some(soft)
}

/// (soft, hard) of a resource limit; `u64::MAX` for unlimited.
pub fn limit(resource: nix::libc::__rlimit_resource_t) -> (u64, u64) {
    let mut value = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `value`.
    if unsafe { nix::libc::getrlimit(resource, &mut value) } != 0 {
        return (0, 0);
    }
    let unlimited = |raw: nix::libc::rlim_t| {
        if raw == nix::libc::RLIM_INFINITY {
            u64::MAX
        } else {
            raw
        }
    };
    (unlimited(value.rlim_cur), unlimited(value.rlim_max))
}

/// Raises this process's soft limit of open files to its hard limit: each
/// connection and each open segment file is a descriptor, and the budgets
/// above and `max.connections` are the bounds meant to apply, not a
/// default of 1024.
pub fn raise_open_files_limit() {
    let (soft, hard) = limit(nix::libc::RLIMIT_NOFILE);
    if soft >= hard {
        return;
    }
    let raised = nix::libc::rlimit {
        rlim_cur: raw_limit(hard),
        rlim_max: raw_limit(hard),
    };
    // SAFETY: setrlimit reads the one struct given.
    if unsafe { nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &raised) } != 0 {
        tracing::warn!(
            "cannot raise the open files limit from {soft} to {hard}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// A limit as `limit` reports it, back in the kernel's terms.
fn raw_limit(value: u64) -> nix::libc::rlim_t {
    if value == u64::MAX {
        nix::libc::RLIM_INFINITY
    } else {
        value
    }
}

/// The memory this process may use: its cgroup's `memory.max` when set,
/// else the machine's total.
fn memory_limit_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    match (cgroup, total) {
        (Some(cgroup), Some(total)) => Some(cgroup.min(total)),
        (cgroup, total) => cgroup.or(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_follow_the_limits() {
        let capacity = Capacity::from_limits(20_000, 24 << 30, 2);
        // 20000 - 5000 reserved = 15000 descriptors, 5000 files, 2500 a shard.
        assert_eq!(capacity.open_segments_per_shard, 2_500);
        assert_eq!(
            capacity.tail_cache_bytes_per_shard,
            TAIL_CACHE_SHARD_BYTES_MAX
        );
        let small = Capacity::from_limits(1_024, 1 << 30, 2);
        // 1024 - 256 = 768 descriptors, 256 files, 128 a shard.
        assert_eq!(small.open_segments_per_shard, 128);
        assert_eq!(small.tail_cache_bytes_per_shard, 64 << 20);
        let tiny = Capacity::from_limits(64, 1 << 30, 2);
        assert_eq!(tiny.open_segments_per_shard, OPEN_SEGMENTS_PER_SHARD_MIN);
    }
}
