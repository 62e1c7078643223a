//! The doctor's checks of a log dir: O_DIRECT writes, the filesystem and
//! its journal, free space, the device's readahead.
//!
//! The filesystem comes from statfs(2) (its magic number) and the mount
//! from /proc/self/mountinfo (the longest mount point holding the dir).
//! Whether ext4 has a journal is read from its superblock (the
//! `has_journal` compat feature), or, when the device cannot be read, from
//! /proc/fs/jbd2, which lists the journals of mounted filesystems. XFS
//! always has its log; btrfs is copy-on-write, with no journal to need.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{human_bytes, Finding};
use crate::limits::READ_AHEAD_WINDOW_BYTES;

/// The block written to test O_DIRECT: one 4 KiB page, aligned.
const DIRECT_BLOCK_BYTES: usize = 4096;

/// Every check of one log dir.
pub fn check_log_dir(dir: &Path, segment_bytes: u64) -> Vec<Finding> {
    let (probe_dir, note) = match existing(dir) {
        Some(existing) if existing == dir => (existing, String::new()),
        Some(existing) => (
            existing.clone(),
            format!(
                " ({} does not exist yet: serve creates it; checked {})",
                dir.display(),
                existing.display()
            ),
        ),
        None => {
            return vec![Finding::fail(
                format!("log dir {}", dir.display()),
                "neither it nor any parent exists",
                "create it, or set log.dirs to a directory on the data disk",
            )]
        }
    };
    vec![
        direct_io(dir, &probe_dir, &note),
        filesystem(dir, &probe_dir),
        free_space(dir, &probe_dir, segment_bytes),
        read_ahead(dir, &probe_dir),
    ]
}

/// Who will read segment files ahead of a cold catch-up (the same choice
/// `serve` makes, `sendfile_pool::choose_read_ahead`).
fn read_ahead(dir: &Path, probe_dir: &Path) -> Finding {
    let check = format!("readahead for {}", dir.display());
    let window_kib = READ_AHEAD_WINDOW_BYTES >> 10;
    match engine::ReadAhead::choose(probe_dir, READ_AHEAD_WINDOW_BYTES) {
        (engine::ReadAhead::Kernel, device) => Finding::ok(
            check,
            format!(
                "the device reads ahead {} KiB: the kernel reads segments ahead for cold catch-ups",
                device.unwrap_or(0) >> 10
            ),
        ),
        (engine::ReadAhead::Windows, None) => Finding::ok(
            check,
            format!(
                "no block device of its own: sendfile threads read ahead in {window_kib} KiB windows"
            ),
        ),
        (engine::ReadAhead::Windows, Some(bytes)) => Finding::warn(
            check,
            format!(
                "the device reads ahead {} KiB, more than {window_kib}: the kernel's readahead stays \
                 off on segments and sendfile threads read ahead in {window_kib} KiB windows, \
                 which costs cold catch-ups about 1.4x the broker CPU",
                bytes >> 10
            ),
            format!(
                "lower the data device's queue/read_ahead_kb to at most {window_kib} \
                 (docs/operations.md, Tuning) and restart the broker"
            ),
        ),
    }
}

/// The dir itself if it exists, else its nearest existing parent.
fn existing(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    absolute
        .ancestors()
        .find(|path| path.is_dir())
        .map(Path::to_path_buf)
}

/// Opens a new file in the dir with O_DIRECT, writes an aligned block,
/// fdatasyncs it and removes it.
fn direct_io(dir: &Path, probe_dir: &Path, note: &str) -> Finding {
    let check = format!("O_DIRECT in {}", dir.display());
    let path = probe_dir.join(format!(".ringlog-doctor-{}", std::process::id()));
    let result = write_direct(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(()) => Finding::ok(
            check,
            format!("an aligned {DIRECT_BLOCK_BYTES}-byte block was written and fdatasync'ed{note}"),
        ),
        Err(error) if error.raw_os_error() == Some(nix::libc::EINVAL) => Finding::fail(
            check,
            format!("the filesystem refuses O_DIRECT ({error}){note}"),
            "put log.dirs on ext4 or xfs on a real disk (ramfs, some FUSE and network filesystems have no direct I/O)",
        ),
        Err(error) => Finding::fail(
            check,
            format!("cannot write a test file: {error}{note}"),
            "make the dir writable by the broker's user (chown), or choose another log.dirs",
        ),
    }
}

/// A page-aligned buffer for a direct write.
struct AlignedBlock {
    pointer: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBlock {
    fn new() -> AlignedBlock {
        let layout = std::alloc::Layout::from_size_align(DIRECT_BLOCK_BYTES, DIRECT_BLOCK_BYTES)
            .expect("a power-of-two alignment");
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!pointer.is_null(), "allocating {DIRECT_BLOCK_BYTES} bytes");
        AlignedBlock { pointer, layout }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `pointer` holds `layout.size()` initialised (zeroed) bytes.
        unsafe { std::slice::from_raw_parts(self.pointer, self.layout.size()) }
    }
}

impl Drop for AlignedBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.pointer, self.layout) };
    }
}

fn write_direct(path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::libc::O_DIRECT)
        .open(path)?;
    let block = AlignedBlock::new();
    file.write_all(block.bytes())?;
    file.sync_data()
}

/// A mount as /proc/self/mountinfo lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    point: PathBuf,
    /// major:minor of the device.
    device: String,
    fstype: String,
    source: String,
}

fn mount_of(path: &Path) -> Option<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    text.lines()
        .filter_map(parse_mountinfo_line)
        .filter(|mount| path.starts_with(&mount.point))
        .max_by_key(|mount| mount.point.as_os_str().len())
}

/// One line of mountinfo: `id parent major:minor root point options ... - fstype source super`.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let mut rest = after.split(' ');
    let fstype = rest.next()?.to_string();
    let source = rest.next().unwrap_or_default().to_string();
    Some(Mount {
        device: fields.get(2)?.to_string(),
        point: PathBuf::from(unescape_octal(fields.get(4)?)),
        fstype,
        source,
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 4)
            .filter(|_| bytes[index] == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(value) => {
                out.push(value);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// statfs magic numbers (linux/magic.h) of the filesystems named here.
const EXT4_MAGIC: i64 = 0xEF53;
const XFS_MAGIC: i64 = 0x5846_5342;
const BTRFS_MAGIC: i64 = 0x9123_683E;
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
const NFS_MAGIC: i64 = 0x6969;

fn filesystem(dir: &Path, probe_dir: &Path) -> Finding {
    let check = format!("filesystem of {}", dir.display());
    let magic = match nix::sys::statfs::statfs(probe_dir) {
        Ok(stat) => stat.filesystem_type().0,
        Err(error) => {
            return Finding::fail(check, format!("statfs failed: {error}"), "check the path")
        }
    };
    let mount = mount_of(probe_dir);
    let on = mount.as_ref().map_or_else(String::new, |mount| {
        format!(" on {} mounted at {}", mount.source, mount.point.display())
    });
    match magic {
        EXT4_MAGIC => match mount.as_ref().and_then(ext4_journal) {
            Some((true, how)) => Finding::ok(check, format!("ext4{on}, with a journal ({how})")),
            Some((false, how)) => Finding::warn(
                check,
                format!("ext4{on}, without a journal ({how})"),
                "a power loss can leave directories and renames half done: \
                 tune2fs -O has_journal on the unmounted device, or use a journaled filesystem",
            ),
            None => Finding::warn(
                check,
                format!("ext4{on}; whether it has a journal could not be read"),
                "check with dumpe2fs -h DEVICE | grep features (has_journal)",
            ),
        },
        XFS_MAGIC => Finding::ok(
            check,
            format!("xfs{on}, journaled (xfs always logs its metadata)"),
        ),
        BTRFS_MAGIC => Finding::ok(
            check,
            format!("btrfs{on}, copy-on-write (consistent without a journal)"),
        ),
        TMPFS_MAGIC | RAMFS_MAGIC => Finding::fail(
            check,
            format!(
                "{}{on}: data lives in memory and is gone at reboot",
                if magic == TMPFS_MAGIC {
                    "tmpfs"
                } else {
                    "ramfs"
                }
            ),
            "put log.dirs on a disk: ext4 or xfs",
        ),
        OVERLAYFS_MAGIC => Finding::warn(
            check,
            format!("overlayfs{on} (a container's writable layer)"),
            "mount a volume for log.dirs: overlayfs is slow for writes and may not keep data",
        ),
        NFS_MAGIC => Finding::fail(
            check,
            format!("nfs{on}"),
            "put log.dirs on a local disk: Kafka-style logs need local fsync and locking semantics",
        ),
        other => Finding::warn(
            check,
            format!(
                "filesystem magic {other:#x} ({}){on}",
                mount.as_ref().map_or("unknown", |m| m.fstype.as_str())
            ),
            "Ringlog is tested on ext4 and xfs",
        ),
    }
}

/// Whether an ext4 mount has a journal, and how that was learned.
fn ext4_journal(mount: &Mount) -> Option<(bool, String)> {
    if let Some(device) = device_node(mount) {
        if let Some(has_journal) = superblock_has_journal(&device) {
            return Some((has_journal, format!("superblock of {}", device.display())));
        }
    }
    // /proc/fs/jbd2 names each journal "<device>-8".
    let name = device_name(mount)?;
    let journals = std::fs::read_dir("/proc/fs/jbd2").ok()?;
    let listed = journals.filter_map(Result::ok).any(|entry| {
        entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{name}-"))
    });
    Some((listed, "/proc/fs/jbd2".into()))
}

/// The kernel's name for the mount's device (`vda`, `loop2`), from sysfs.
fn device_name(mount: &Mount) -> Option<String> {
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{}/uevent", mount.device)).ok()?;
    uevent
        .lines()
        .find_map(|line| line.strip_prefix("DEVNAME="))
        .map(str::to_string)
}

fn device_node(mount: &Mount) -> Option<PathBuf> {
    if mount.source.starts_with("/dev/") && Path::new(&mount.source).exists() {
        return Some(PathBuf::from(&mount.source));
    }
    let node = PathBuf::from("/dev").join(device_name(mount)?);
    node.exists().then_some(node)
}

/// ext2/3/4 superblock: 1024 bytes in, magic at 0x38, s_feature_compat at
/// 0x5C whose bit 0x4 is has_journal.
fn superblock_has_journal(device: &Path) -> Option<bool> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(device).ok()?;
    let mut superblock = [0u8; 1024];
    file.read_exact_at(&mut superblock, 1024).ok()?;
    let magic = u16::from_le_bytes([superblock[0x38], superblock[0x39]]);
    if magic != 0xEF53 {
        return None;
    }
    let compat = u32::from_le_bytes(superblock[0x5C..0x60].try_into().ok()?);
    Some(compat & 0x4 != 0)
}

fn free_space(dir: &Path, probe_dir: &Path, segment_bytes: u64) -> Finding {
    let check = format!("free space in {}", dir.display());
    let stat = match nix::sys::statvfs::statvfs(probe_dir) {
        Ok(stat) => stat,
        Err(error) => {
            return Finding::fail(check, format!("statvfs failed: {error}"), "check the path")
        }
    };
    let fragment = stat.fragment_size() as u64;
    let free = stat.blocks_available() as u64 * fragment;
    let total = stat.blocks() as u64 * fragment;
    let found = format!(
        "{} free of {} ({:.0}%)",
        human_bytes(free),
        human_bytes(total),
        if total == 0 {
            0.0
        } else {
            free as f64 * 100.0 / total as f64
        }
    );
    if free < segment_bytes {
        return Finding::fail(
            check,
            format!(
                "{found}: less than one segment (log.segment.bytes = {})",
                human_bytes(segment_bytes)
            ),
            "free space or move log.dirs: producers get KAFKA_STORAGE_ERROR while the disk is full",
        );
    }
    if total > 0 && free * 10 < total {
        return Finding::warn(
            check,
            found,
            "less than 10% free: lower retention (log.retention.bytes/hours) or add disk",
        );
    }
    Finding::ok(check, found)
}

/// Partition dirs of a log dir, and the segment files (`*.log`) in them.
pub fn partitions_and_segments(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut partitions, mut segments) = (0, 0);
    for entry in entries.filter_map(Result::ok) {
        let Ok(files) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        partitions += 1;
        segments += files
            .filter_map(Result::ok)
            .filter(|file| file.path().extension().is_some_and(|ext| ext == "log"))
            .count() as u64;
    }
    (partitions, segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let line = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard";
        let mount = parse_mountinfo_line(line).unwrap();
        assert_eq!(mount.device, "254:0");
        assert_eq!(mount.point, PathBuf::from("/"));
        assert_eq!(mount.fstype, "ext4");
        assert_eq!(mount.source, "/dev/vda");
        let spaced = "44 27 7:2 / /mnt/my\\040disk rw shared:1 - xfs /dev/loop2 rw";
        assert_eq!(
            parse_mountinfo_line(spaced).unwrap().point,
            PathBuf::from("/mnt/my disk")
        );
    }

    #[test]
    fn a_missing_dir_is_checked_at_its_nearest_parent() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("a/b");
        assert_eq!(existing(&missing).unwrap(), temp.path());
    }
}
