//! `ringlog serve` stays inside the CPU set it is started with: shard *i*
//! is pinned to the *i*-th CPU of the process's affinity mask (`cpus.rs`),
//! so `taskset -c N ringlog serve` runs its one shard on CPU N, not CPU 0.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The CPUs this test process may run on.
fn allowed_cpus() -> Vec<usize> {
    cpus_allowed(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap()
}

/// The `Cpus_allowed_list` of a `/proc/.../status` text.
fn cpus_allowed(status: &str) -> Option<Vec<usize>> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|list| cpu_list(list.trim()))
}

/// "0-2,5" -> [0, 1, 2, 5]
fn cpu_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((low, high)) => {
                cpus.extend(low.parse::<usize>().unwrap()..=high.parse::<usize>().unwrap())
            }
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// (thread name, the CPUs it may run on) for each thread of `pid`.
fn threads(pid: u32) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(path.join("status")) else {
            continue;
        };
        let Some(cpus) = cpus_allowed(&status) else {
            continue;
        };
        out.push((comm.trim().to_string(), cpus));
    }
    out
}

#[test]
fn the_shard_runs_on_the_cpu_it_was_given() {
    let cpu = *allowed_cpus().last().unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command
        .arg("serve")
        .args([
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
        ])
        .args(["--override", &format!("log.dirs={}", data.path().display())])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: sched_setaffinity is async-signal-safe; nothing else runs
    // between fork and exec. It is `taskset -c CPU`.
    unsafe {
        command.pre_exec(move || {
            let mut set: nix::libc::cpu_set_t = std::mem::zeroed();
            nix::libc::CPU_SET(cpu, &mut set);
            match nix::libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let mut child = KillOnDrop(command.spawn().unwrap());
    let child = &mut child.0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let shards = loop {
        assert!(child.try_wait().unwrap().is_none(), "broker exited");
        assert!(Instant::now() < deadline, "broker did not listen");
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let shards: Vec<_> = threads(child.id())
                .into_iter()
                .filter(|(name, _)| name.starts_with("shard-"))
                .collect();
            if !shards.is_empty() {
                break shards;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // One CPU in the set: one shard (num.shards defaults to the set's
    // size). Its executor and its file-operation threads share the name
    // shard-0-1; the sendfile pool's are shard-0-1-sendf... (15 bytes).
    let mut names: Vec<&str> = shards
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !name.contains("sendf"))
        .collect();
    names.dedup();
    assert_eq!(names, ["shard-0-1"], "{shards:?}");
    // Every thread (the shard, the sendfile and file-operation pools, the
    // io_uring workers) stays on the CPU it was given: before, the shard
    // was pinned to CPU 0 and the sendfile threads to CPUs 0..cores.
    for (name, cpus) in threads(child.id()) {
        assert_eq!(cpus, vec![cpu], "thread {name}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}
