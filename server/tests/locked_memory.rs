//! The io_uring buffers `serve` registers, against RLIMIT_MEMLOCK: with
//! CAP_IPC_LOCK the kernel does not charge them to the limit and each shard
//! registers 64 MiB; without it, a shard registers 2 MiB, which the limit
//! must allow, and a lower limit is refused at start with what to raise.
//! Either way the broker stores and serves records.

mod support;

use std::process::Command;

use support::*;

/// Produces a record to each of two partitions (both shards) and reads it back.
fn stores_and_serves(broker: &Broker) {
    create_topic(broker, "locked", 2);
    let mut raw = Raw::connect(broker);
    for partition in 0..2 {
        let value = format!("under the limit {partition}");
        let answer = raw.produce("locked", partition, one_record_batch(&value));
        assert_eq!((answer.error_code, answer.base_offset), (0, 0));
        let records = raw.fetch("locked", partition, 0, 1 << 20);
        assert_eq!(record_values(&records), vec![value]);
    }
}

#[test]
fn without_cap_ipc_lock_shards_register_what_the_limit_allows() {
    let limit = LockedMemory {
        bytes: 8 << 20,
        ipc_lock: false,
    };
    let mut broker = Broker::start_with_locked_memory(2, limit);
    stores_and_serves(&broker);
    broker.stop();
    let log = broker.log_text();
    assert!(
        log.contains("io_uring registered buffers: 2 MiB per shard (within RLIMIT_MEMLOCK)"),
        "{log}"
    );
}

#[test]
fn without_cap_ipc_lock_a_limit_below_the_shards_need_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    command.arg("serve").args([
        "--override",
        &format!("log.dirs={}", dir.path().join("data").display()),
        "--override",
        &format!("listeners=PLAINTEXT://127.0.0.1:{}", free_port()),
        "--override",
        "num.shards=2",
    ]);
    LockedMemory {
        bytes: 1 << 20,
        ipc_lock: false,
    }
    .apply(&mut command);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "RLIMIT_MEMLOCK is 1048576 bytes; io_uring needs 4194304 for 2 shards. Raise it"
        ),
        "{stderr}"
    );
}

#[test]
fn with_cap_ipc_lock_shards_register_more_than_the_limit() {
    if !engine::runtime::may_lock_memory_unbounded() {
        eprintln!("skipped: this process has no CAP_IPC_LOCK to pass on");
        return;
    }
    let limit = LockedMemory {
        bytes: 1 << 20,
        ipc_lock: true,
    };
    let mut broker = Broker::start_with_locked_memory(2, limit);
    stores_and_serves(&broker);
    broker.stop();
    let log = broker.log_text();
    assert!(
        log.contains(
            "io_uring registered buffers: 64 MiB per shard (CAP_IPC_LOCK: not charged to RLIMIT_MEMLOCK)"
        ),
        "{log}"
    );
    // Registered for real: a refused registration is glommio's warning.
    assert!(!log.contains("registering buffers"), "{log}");
}
