//! An ext4 filesystem in a loop-mounted image, for tests that need a
//! device of their own (a full disk, the device's readahead).

use std::path::{Path, PathBuf};
use std::process::Command;

/// An ext4 filesystem in a loop-mounted image; unmounted when dropped.
pub struct LoopDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl LoopDisk {
    /// `None` (and the reason on stderr, naming `test`) where loop mounts
    /// cannot be made: not root, no mkfs.ext4, no loop device.
    pub fn mount(test: &str, bytes: u64) -> Option<LoopDisk> {
        use std::os::unix::fs::MetadataExt;
        let root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        if !root {
            eprintln!("SKIPPED {test}: needs root to loop-mount a small filesystem");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(bytes)
            .unwrap();
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .status();
        if !mkfs.as_ref().is_ok_and(|status| status.success()) {
            eprintln!("SKIPPED {test}: mkfs.ext4 is missing or failed ({mkfs:?})");
            return None;
        }
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mount)
            .output()
            .unwrap();
        if !mounted.status.success() {
            eprintln!(
                "SKIPPED {test}: mount -o loop failed (no loop device here?): {}",
                String::from_utf8_lossy(&mounted.stderr)
            );
            return None;
        }
        Some(LoopDisk { _dir: dir, mount })
    }

    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// The loop device's `queue/read_ahead_kb` in sysfs.
    pub fn read_ahead_kb_file(&self) -> PathBuf {
        use std::os::unix::fs::MetadataExt;
        let device = std::fs::metadata(&self.mount).unwrap().dev();
        let (major, minor) = (nix::sys::stat::major(device), nix::sys::stat::minor(device));
        PathBuf::from(format!(
            "/sys/dev/block/{major}:{minor}/queue/read_ahead_kb"
        ))
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
