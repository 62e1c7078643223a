//! Who reads a segment file ahead of the sendfile that sends it: the
//! kernel, or the sender itself in bounded windows.
//!
//! The kernel's readahead reads the file into large folios (up to the
//! readahead size), and a cold catch-up's broker CPU is mostly the page
//! cache taking pages in: with order-0 pages (what `POSIX_FADV_WILLNEED`
//! allocates) `posix_fadvise` was 38% of the broker's samples. But the
//! kernel reads ahead as far as the device's `read_ahead_kb`, which on some
//! machines is megabytes (8 MiB on this machine kind, twice the virtio
//! disk's optimal I/O size): requests that large, several at once, put the
//! small direct writes of producers behind them (produce p99 ~100 ms during
//! a cold catch-up). So the kernel reads ahead only where its window is at
//! most the sender's own; elsewhere segment descriptors have readahead off
//! (`POSIX_FADV_RANDOM`) and the sender reads ahead in windows
//! (`server/src/sendfile_pool.rs`). docs/operations.md tells operators how
//! to lower `read_ahead_kb`. Large folios without the large reads were
//! looked for and not found: a `MADV_HUGEPAGE` mapping's fault fills 2 MiB
//! folios (a sixth of WILLNEED's CPU in a micro-benchmark, 0.63 of a cold
//! consume's broker CPU) but reads 4 MiB at a time, which doubled a
//! neighbouring producer's median latency here (docs/benchmarks.md, "Cold
//! reads in 2 MiB folios").

use std::path::Path;

/// How the page cache is filled ahead of sendfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAhead {
    /// The kernel's readahead, on segment descriptors as opened.
    Kernel,
    /// Readahead off on segment descriptors; the sender asks for bounded
    /// windows itself.
    Windows,
}

impl ReadAhead {
    /// The kernel when the device that holds `dir` reads ahead at most
    /// `window_bytes_max` (and at all); the sender's windows otherwise, or
    /// when the device's readahead cannot be read. Also returns the
    /// device's readahead in bytes, if known.
    pub fn choose(dir: &Path, window_bytes_max: u64) -> (ReadAhead, Option<u64>) {
        let device = device_read_ahead_bytes(dir);
        let choice = match device {
            Some(bytes) if bytes > 0 && bytes <= window_bytes_max => ReadAhead::Kernel,
            _ => ReadAhead::Windows,
        };
        (choice, device)
    }
}

/// The readahead of the block device that holds `path`, from sysfs
/// (`/sys/dev/block/MAJ:MIN/queue/read_ahead_kb`; a partition's queue is
/// its disk's). `None` for filesystems without a block device of their own
/// (tmpfs, overlay, btrfs's anonymous devices) or without sysfs.
pub fn device_read_ahead_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (nix::sys::stat::major(device), nix::sys::stat::minor(device));
    let block = Path::new("/sys/dev/block").join(format!("{major}:{minor}"));
    [
        block.join("queue/read_ahead_kb"),
        block.join("../queue/read_ahead_kb"),
    ]
    .iter()
    .find_map(|file| std::fs::read_to_string(file).ok())
    .and_then(|text| text.trim().parse::<u64>().ok())
    .map(|kib| kib.saturating_mul(1024))
}

/// `server/tests/read_ahead.rs` and `server/tests/doctor.rs` read a loop
/// device's readahead through the broker and the doctor at two settings.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_reads_ahead_only_within_the_senders_window() {
        let dir = tempfile::tempdir().unwrap();
        let (choice, device) = ReadAhead::choose(dir.path(), 256 * 1024);
        match device {
            Some(bytes) if bytes > 0 && bytes <= 256 * 1024 => {
                assert_eq!(choice, ReadAhead::Kernel)
            }
            _ => assert_eq!(choice, ReadAhead::Windows),
        }
        // No window at all: never the kernel's.
        assert_eq!(ReadAhead::choose(dir.path(), 0).0, ReadAhead::Windows);
        let missing = dir.path().join("missing");
        assert_eq!(
            ReadAhead::choose(&missing, u64::MAX),
            (ReadAhead::Windows, None)
        );
    }
}
