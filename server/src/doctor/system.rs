//! The doctor's checks of the machine: io_uring, locked memory, cores and
//! pinning, open files, the clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{human_bytes, Finding};
use crate::capacity::limit;

/// The open-file limit below which the doctor fails: the broker would keep
/// only a handful of segment files open per shard, and sockets and rings
/// would crowd them out.
pub const FILES_MIN: u64 = 1024;
/// The open-file limit below which the doctor warns, as Kafka's operations
/// guide advises for a broker with many partitions.
pub const FILES_ADVISED: u64 = 100_000;

/// `io_uring_params` as the kernel takes it: 120 bytes, zeroed.
#[repr(C)]
struct IoUringParams([u32; 30]);

/// Sets up (and closes) a small ring with io_uring_setup(2).
pub fn io_uring() -> Finding {
    let check = "io_uring";
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|text| text.trim().parse::<u8>().ok())
        .unwrap_or(0);
    let mut params = IoUringParams([0; 30]);
    // SAFETY: io_uring_setup reads and writes `params`, a buffer of the
    // size the kernel expects; the returned descriptor is closed below.
    let fd = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_io_uring_setup,
            8u32,
            &mut params as *mut IoUringParams,
        )
    };
    if fd < 0 {
        let error = std::io::Error::last_os_error();
        let fix = match (disabled, error.raw_os_error()) {
            (1 | 2, _) => "set the sysctl kernel.io_uring_disabled=0 (it is disabled now)".into(),
            (_, Some(nix::libc::ENOSYS)) => {
                "the kernel lacks io_uring: run Linux 5.8 or later built with CONFIG_IO_URING"
                    .into()
            }
            (_, Some(nix::libc::EPERM)) => {
                "io_uring is refused to this process: allow io_uring_setup in the \
                 container's seccomp profile, or check kernel.io_uring_group"
                    .into()
            }
            _ => format!("io_uring_setup failed with {error}"),
        };
        return Finding::fail(check, format!("no ring could be set up: {error}"), fix);
    }
    // SAFETY: `fd` is the ring descriptor just returned, closed once.
    unsafe { nix::libc::close(fd as i32) };
    let features = params.0[5];
    Finding::ok(
        check,
        format!(
            "a ring was set up (features {features:#x}, kernel {})",
            kernel_release()
        ),
    )
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// RLIMIT_MEMLOCK (soft) against what `serve` registers for `shards`.
pub fn memlock(shards: usize) -> Finding {
    let check = "memlock";
    let io_memory = engine::runtime::io_memory_for(shards);
    let (soft, hard) = limit(nix::libc::RLIMIT_MEMLOCK);
    if !io_memory.charged {
        return Finding::ok(
            check,
            format!(
                "soft limit {}, hard {}; CAP_IPC_LOCK: {shards} shard(s) register {} each, \
                 not charged to the limit",
                limit_text(soft),
                limit_text(hard),
                human_bytes(io_memory.per_shard as u64)
            ),
        );
    }
    let needed = io_memory.per_shard as u64 * shards as u64;
    let found = format!(
        "soft limit {}, hard {}; {shards} shard(s) need {}",
        limit_text(soft),
        limit_text(hard),
        human_bytes(needed)
    );
    if soft >= needed {
        return Finding::ok(check, found);
    }
    let fix = if hard >= needed {
        format!(
            "raise the soft limit: ulimit -l {} (the hard limit allows it)",
            needed.div_ceil(1024)
        )
    } else {
        format!(
            "raise the limit to at least {}: LimitMEMLOCK=infinity in the systemd unit, \
             or memlock in /etc/security/limits.conf; or lower num.shards",
            human_bytes(needed)
        )
    };
    Finding::fail(check, found, fix)
}

fn limit_text(value: u64) -> String {
    if value == u64::MAX {
        "unlimited".into()
    } else {
        human_bytes(value)
    }
}

fn count_text(value: u64) -> String {
    if value == u64::MAX {
        "unlimited".into()
    } else {
        value.to_string()
    }
}

/// The shards against the cores this process may run on. `serve` pins
/// shard i to the i-th CPU of the process's CPU set (`cpus.rs`) when there
/// are no more shards than CPUs.
pub fn cores(shards: usize) -> Finding {
    let check = "cores";
    let cores = crate::cpus::allowed().len().max(1);
    match crate::cpus::for_shards(shards) {
        None => Finding::warn(
            check,
            format!("num.shards is {shards} but this process may use {cores} core(s): shards will share cores, unpinned"),
            format!("set num.shards to {cores} or less (or leave it unset: one shard per core)"),
        ),
        Some(cpus) => Finding::ok(
            check,
            format!("{shards} shard(s) on {cores} core(s), pinned to CPU(s) {cpus:?}"),
        ),
    }
}

/// RLIMIT_NOFILE against the segments on disk. The broker raises its soft
/// limit to the hard one at start and keeps at most a budget of segment
/// files open (`capacity.rs`), closing the least recently used: a limit
/// below the segments on disk costs reopening, not partitions.
pub fn open_files(shards: usize, segment_files: u64) -> Finding {
    let check = "open files";
    let (soft, hard) = limit(nix::libc::RLIMIT_NOFILE);
    let capacity = crate::capacity::Capacity::from_limits(hard, 1 << 30, shards);
    let budget = capacity.open_segments_per_shard as u64 * shards.max(1) as u64;
    let found = format!(
        "soft limit {}, hard {} (the broker raises the soft one to it): {budget} segment \
         file(s) stay open, {segment_files} on disk",
        count_text(soft),
        count_text(hard)
    );
    let fix = format!(
        "LimitNOFILE={} in the systemd unit (or nofile in /etc/security/limits.conf)",
        (segment_files * crate::limits::DESCRIPTORS_PER_SEGMENT_FILE * 2).max(FILES_ADVISED)
    );
    if hard < FILES_MIN {
        Finding::fail(check, format!("{found}; below {FILES_MIN}"), fix)
    } else if budget < segment_files {
        Finding::warn(
            check,
            format!("{found}: segments are closed and opened again as they are read"),
            fix,
        )
    } else if hard < FILES_ADVISED {
        Finding::warn(
            check,
            format!("{found}; each new segment or connection takes more"),
            fix,
        )
    } else {
        Finding::ok(check, found)
    }
}

/// The earliest wall-clock time believed: 2020-01-01T00:00:00Z.
const SANE_EPOCH_SECONDS: u64 = 1_577_836_800;
/// How long the clock is watched, and how far the wall clock may move
/// from the monotonic clock meanwhile (NTP slews by at most 500 ppm).
const CLOCK_WATCH: Duration = Duration::from_millis(200);
const CLOCK_DRIFT_MAX: Duration = Duration::from_millis(20);

/// The wall clock is after 2020 and moves with the monotonic clock.
pub fn clock() -> Finding {
    let check = "clock";
    let wall_start = SystemTime::now();
    let monotonic_start = Instant::now();
    std::thread::sleep(CLOCK_WATCH);
    let monotonic = monotonic_start.elapsed();
    let wall_now = SystemTime::now();
    let since_epoch = wall_now.duration_since(UNIX_EPOCH).unwrap_or_default();
    if since_epoch.as_secs() < SANE_EPOCH_SECONDS {
        return Finding::fail(
            check,
            format!("the wall clock reads {} s after 1970, before 2020", since_epoch.as_secs()),
            "set the clock (timedatectl set-ntp true): record timestamps, retention and LogAppendTime use it",
        );
    }
    let wall = wall_now
        .duration_since(wall_start)
        .unwrap_or(Duration::ZERO);
    let drift = wall.abs_diff(monotonic);
    let found = format!(
        "CLOCK_REALTIME moved {} ms while CLOCK_MONOTONIC moved {} ms; now {} s after the epoch",
        wall.as_millis(),
        monotonic.as_millis(),
        since_epoch.as_secs()
    );
    if drift > CLOCK_DRIFT_MAX {
        return Finding::warn(
            check,
            found,
            "the wall clock jumped: run one time daemon (chrony or systemd-timesyncd) that slews",
        );
    }
    Finding::ok(check, found)
}
