//! `ringlog doctor` run as a user runs it: on a good log dir it exits 0;
//! each failing check is made to fail for real (a lowered memlock limit on
//! the child, a log dir on ramfs, which has no O_DIRECT, one on tmpfs,
//! which loses data at reboot) and must exit 1 naming what to fix.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::loop_disk::LoopDisk;
use support::LockedMemory;

fn doctor(log_dir: &Path, overrides: &[&str], memlock: Option<LockedMemory>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .arg("doctor")
        .args(["--override", &format!("log.dirs={}", log_dir.display())]);
    for item in overrides {
        command.args(["--override", item]);
    }
    if let Some(limit) = memlock {
        limit.apply(&mut command);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The line of check `check` (its name starts the text after the tag).
fn line<'a>(text: &'a str, tag: &str, check: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(tag) && line[tag.len()..].trim_start().starts_with(check))
        .unwrap_or_else(|| panic!("no {tag} {check} line in:\n{text}"))
}

/// The fix printed under the first line of `check`.
fn fix_of<'a>(text: &'a str, check: &str) -> &'a str {
    let mut lines = text.lines();
    lines
        .find(|line| line.get(7..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no {check} line in:\n{text}"));
    lines
        .next()
        .and_then(|line| line.trim_start().strip_prefix("fix: "))
        .unwrap_or_else(|| panic!("no fix under {check} in:\n{text}"))
}

#[test]
fn a_good_log_dir_passes_every_check_the_broker_needs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = doctor(&data, &["num.shards=1"], None);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    line(&text, "[ ok ]", "io_uring: a ring was set up");
    line(&text, "[ ok ]", "memlock:");
    line(&text, "[ ok ]", "cores: 1 shard(s)");
    line(&text, "[ ok ]", &format!("O_DIRECT in {}", data.display()));
    let filesystem = text
        .lines()
        .find(|line| line.contains(&format!("filesystem of {}", data.display())))
        .unwrap();
    assert!(
        filesystem.contains("ext4") || filesystem.contains("xfs") || filesystem.contains("btrfs"),
        "{filesystem}"
    );
    assert!(
        text.contains("does not exist yet: serve creates it"),
        "a missing dir is checked at its parent:\n{text}"
    );
    line(&text, "[ ok ]", "clock:");
    assert!(text.contains(" failed"), "a summary line:\n{text}");
    assert!(!data.exists(), "the doctor creates nothing");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "the O_DIRECT probe file is removed");
}

#[test]
fn a_memlock_limit_below_the_shards_needs_fails_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // Two shards need 4 MiB of locked memory; give the child 1 MiB, and
    // no CAP_IPC_LOCK (with it, the limit does not bind: below).
    let limited = LockedMemory {
        bytes: 1024 * 1024,
        ipc_lock: false,
    };
    let output = doctor(dir.path(), &["num.shards=2"], Some(limited));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let failed = line(&text, "[FAIL]", "memlock:");
    assert!(failed.contains("soft limit 1.0 MiB"), "{failed}");
    assert!(failed.contains("2 shard(s) need 4.0 MiB"), "{failed}");
    assert!(fix_of(&text, "memlock").contains("LimitMEMLOCK"), "{text}");
    // Everything else still passes: only memlock failed.
    assert!(text.contains(", 1 failed"), "{text}");
}

#[test]
fn with_cap_ipc_lock_the_memlock_limit_does_not_bind() {
    if !engine::runtime::may_lock_memory_unbounded() {
        eprintln!("skipped: this process has no CAP_IPC_LOCK to pass on");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let limited = LockedMemory {
        bytes: 1024 * 1024,
        ipc_lock: true,
    };
    let output = doctor(dir.path(), &["num.shards=2"], Some(limited));
    let text = stdout(&output);
    let found = line(&text, "[ ok ]", "memlock:");
    assert!(found.contains("soft limit 1.0 MiB"), "{found}");
    assert!(
        found.contains("2 shard(s) register 64.0 MiB each, not charged"),
        "{found}"
    );
}

#[test]
fn more_shards_than_cores_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    let shards = format!("num.shards={}", cores + 1);
    let output = doctor(dir.path(), &[&shards], None);
    let text = stdout(&output);
    let warned = line(&text, "[warn]", "cores:");
    assert!(warned.contains("shards will share cores"), "{warned}");
}

#[test]
fn a_bad_config_value_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = doctor(dir.path(), &["num.shards=lots"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("num.shards"));
}

/// A filesystem of `fstype` mounted on a fresh dir, unmounted on drop.
struct Mounted(tempfile::TempDir);

impl Mounted {
    fn new(fstype: &str) -> Option<Mounted> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", fstype, fstype])
            .arg(dir.path())
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "skipped: cannot mount a {fstype} (root and CAP_SYS_ADMIN needed): {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(Mounted(dir))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_log_dir_on_ramfs_fails_o_direct() {
    let Some(ramfs) = Mounted::new("ramfs") else {
        return;
    };
    let output = doctor(ramfs.0.path(), &["num.shards=1"], None);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let failed = line(&text, "[FAIL]", "O_DIRECT in");
    assert!(failed.contains("refuses O_DIRECT"), "{failed}");
    assert!(fix_of(&text, "O_DIRECT").contains("ext4 or xfs"), "{text}");
    let filesystem = line(&text, "[FAIL]", "filesystem of");
    assert!(filesystem.contains("ramfs"), "{filesystem}");
}

#[test]
fn a_log_dir_on_tmpfs_fails_the_filesystem_check() {
    let Some(tmpfs) = Mounted::new("tmpfs") else {
        return;
    };
    let output = doctor(tmpfs.0.path(), &["num.shards=1"], None);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let failed = line(&text, "[FAIL]", "filesystem of");
    assert!(failed.contains("tmpfs"), "{failed}");
    assert!(failed.contains("gone at reboot"), "{failed}");
}

/// The readahead check reads the device that holds the log dir: a loop
/// device reading ahead 128 KiB is fine (the kernel reads ahead), one
/// reading ahead 8 MiB is a warning with the fix.
#[test]
fn the_devices_readahead_is_reported_with_its_fix() {
    let Some(disk) = LoopDisk::mount("doctor readahead", 64 * 1024 * 1024) else {
        return;
    };
    let file = disk.read_ahead_kb_file();
    let before = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, "128").unwrap();
    let text = stdout(&doctor(disk.path(), &["num.shards=1"], None));
    let ok = line(&text, "[ ok ]", "readahead for");
    assert!(
        ok.contains("reads ahead 128 KiB: the kernel reads segments ahead"),
        "{ok}"
    );
    std::fs::write(&file, "8192").unwrap();
    let text = stdout(&doctor(disk.path(), &["num.shards=1"], None));
    std::fs::write(&file, before.trim()).unwrap();
    let warned = line(&text, "[warn]", "readahead for");
    assert!(
        warned.contains("reads ahead 8192 KiB, more than 256"),
        "{warned}"
    );
    assert!(
        fix_of(&text, "readahead for").contains("read_ahead_kb to at most 256"),
        "{text}"
    );
}
