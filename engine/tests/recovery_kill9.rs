//! A real child process appends durably from several tasks at once and is
//! killed with SIGKILL mid-stream. Every batch whose durable append
//! returned must be intact at its offset; the log holds nothing partial.
//!
//! The child is this same test binary, re-run with an environment variable
//! that selects the child role.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use engine::record_batch::{RecordBatch, Validation};
use engine::{Offset, PartitionLog};
use support::*;

const CHILD_ENV: &str = "RINGLOG_KILL9_CHILD_DIR";
const TASKS: u64 = 4;

fn child(dir: String) {
    run(async move {
        let log = std::rc::Rc::new(
            PartitionLog::open(&dir, small_config(256 * 1024))
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let log = log.clone();
            tasks.push(glommio::spawn_local(async move {
                for round in 0.. {
                    let tag = round * TASKS + task;
                    let bytes = batch(tag, 1 + (tag % 4) as usize, 300, 1_000);
                    let info = log.append_durable(&bytes).await.unwrap();
                    println!("ACK {tag} {}", info.base_offset.0);
                }
            }));
        }
        for task in tasks {
            task.await;
        }
    });
}

#[test]
fn sigkill_mid_append_loses_no_acknowledged_batch() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(dir);
        return;
    }
    for (round, kill_after) in [50usize, 333, 1200].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join(format!("kill-{round}"));
        // Earlier rounds' data stays: later children append to a log recovered once already.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_mid_append_loses_no_acknowledged_batch",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acknowledged = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        while acknowledged.len() < kill_after {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut parts = rest.split_whitespace();
                let tag: u64 = parts.next().unwrap().parse().unwrap();
                let offset: i64 = parts.next().unwrap().parse().unwrap();
                acknowledged.push((tag, offset));
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // Lines already in the pipe were acknowledged before the kill too.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut parts = rest.split_whitespace();
                let tag: u64 = parts.next().unwrap().parse().unwrap();
                let offset: i64 = parts.next().unwrap().parse().unwrap();
                acknowledged.push((tag, offset));
            }
        }
        child.wait().unwrap();

        let survivors = run(async move {
            let log = PartitionLog::open(&data, small_config(256 * 1024))
                .await
                .unwrap();
            let batches = read_all(&log, Offset(0)).await;
            log.close().await.unwrap();
            batches
        });
        let mut by_offset = std::collections::HashMap::new();
        for bytes in &survivors {
            let parsed =
                RecordBatch::parse(bytes, Validation::Stored).expect("only valid batches survive");
            by_offset.insert(parsed.base_offset().0, bytes.clone());
        }
        for (tag, offset) in &acknowledged {
            let stored = by_offset
                .get(offset)
                .unwrap_or_else(|| panic!("acknowledged batch {tag} at {offset} lost"));
            let expected = batch(*tag, 1 + (tag % 4) as usize, 300, 1_000);
            assert_eq!(values(stored), values(&expected), "batch {tag} altered");
        }
        assert!(survivors.len() >= acknowledged.len());
        eprintln!(
            "round {round}: {} acknowledged, {} batches survived",
            acknowledged.len(),
            survivors.len()
        );
    }
}
