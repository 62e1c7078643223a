//! I/O errors and a full disk, injected through the engine's I/O seam (the
//! simulated filesystem of the `fault-injection` feature):
//!
//! - EIO on a write, fallocate or fdatasync, and any fdatasync error, take
//!   the partition offline: its waiters and later calls get `Offline`, it is
//!   reported once, and a partition next to it carries on;
//! - no room (ENOSPC on a write, a new segment file or a seal's metadata)
//!   is a disk-full episode: appends get `DiskFull` promptly, reads and
//!   DeleteRecords go on, and once space returns the queued writes go
//!   through and appends are taken again, with nothing acknowledged lost;
//! - preallocation failing for want of space is no failure at all.

mod support;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::fault::{Fault, FaultOp};
use engine::sim::SimFs;
use engine::{AppendInfo, Error, LogConfig, Offset, PartitionLog, Storage, StorageEvent};
use support::*;

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// The storage events a test saw, as `(kind, partition directory)`.
type Events = Rc<RefCell<Vec<(&'static str, PathBuf)>>>;

fn storage(fs: &Rc<SimFs>) -> (Storage, Events) {
    let events: Events = Rc::default();
    let sink = events.clone();
    let storage = Storage::simulated(fs.clone()).with_events(move |event| {
        let (kind, dir) = match event {
            StorageEvent::Offline { dir, .. } => ("offline", dir),
            StorageEvent::DiskFull { dir, .. } => ("disk-full", dir),
            StorageEvent::DiskFullEnded {
                dir,
                space_returned: true,
                ..
            } => ("space-returned", dir),
            StorageEvent::DiskFullEnded { dir, .. } => ("disk-full-ended", dir),
            StorageEvent::PreallocationFailed { dir, .. } => ("preallocation-failed", dir),
            StorageEvent::RecoveryTruncated { dir, .. } => ("recovery-truncated", dir),
        };
        sink.borrow_mut().push((kind, dir.to_path_buf()));
    });
    (storage, events)
}

fn kinds(events: &Events, dir: &Path) -> Vec<&'static str> {
    events
        .borrow()
        .iter()
        .filter(|(_, at)| at == dir)
        .map(|(kind, _)| *kind)
        .collect()
}

fn config() -> LogConfig {
    small_config(64 * 1024)
}

fn new_fs(seed: u64) -> Rc<SimFs> {
    let fs = SimFs::new(seed);
    fs.create_dir_all_synced(Path::new("/log"));
    fs
}

/// Polls `condition` (a timer-driven retry) for up to five seconds.
async fn eventually(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition never held");
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// Every `(info, bytes)` must be in `log` at its offsets, stamped.
async fn assert_stored(log: &PartitionLog, acknowledged: &[(AppendInfo, Vec<u8>)]) {
    use engine::record_batch::{RecordBatch, Validation};
    let stored: std::collections::HashMap<Offset, Vec<u8>> = read_all(log, log.log_start_offset())
        .await
        .into_iter()
        .map(|batch| {
            let base = RecordBatch::parse(&batch, Validation::Stored)
                .unwrap()
                .base_offset();
            (base, batch)
        })
        .collect();
    for (info, bytes) in acknowledged {
        assert_eq!(
            stored.get(&info.base_offset).map(Vec::as_slice),
            Some(stamped(bytes, info).as_slice()),
            "batch at {}",
            info.base_offset
        );
    }
}

#[test]
fn an_io_error_takes_one_partition_offline_and_its_neighbour_carries_on() {
    let cases = [
        (FaultOp::Write, EIO),
        (FaultOp::Fdatasync, EIO),
        (FaultOp::Fdatasync, ENOSPC),
        (FaultOp::Fallocate, EIO),
        (FaultOp::Truncate, EIO),
    ];
    for (op, errno) in cases {
        run(async move {
            let fs = new_fs(1);
            let (storage, events) = storage(&fs);
            let bad_dir = PathBuf::from("/log/bad-0");
            let good_dir = PathBuf::from("/log/good-0");
            let bad = PartitionLog::open_in(&storage, &bad_dir, config())
                .await
                .unwrap();
            let good = PartitionLog::open_in(&storage, &good_dir, config())
                .await
                .unwrap();
            let first = batch(0, 3, 100, 1_000);
            let before = bad.append_durable(&first).await.unwrap();
            fs.faults().inject(Fault::always(op, "/bad-0/", errno));
            // A truncate only happens when a segment is sealed: roll one.
            let big = batch(1, 40, 2_000, 1_000);
            let mut outcome = Ok(before);
            for _ in 0..4 {
                outcome = bad.append_durable(&big).await;
                if outcome.is_err() {
                    break;
                }
            }
            let error = outcome.expect_err("the injected fault must surface");
            assert!(
                matches!(error, Error::Offline(_)),
                "{op:?}/{errno}: {error:?}"
            );
            assert!(bad.is_offline());
            assert!(matches!(bad.append(&first).await, Err(Error::Offline(_))));
            assert!(matches!(bad.flush().await, Err(Error::Offline(_))));
            assert!(matches!(
                bad.read(Offset::ZERO, 1024).await,
                Err(Error::Offline(_))
            ));
            assert_eq!(kinds(&events, &bad_dir), ["offline"], "{op:?}/{errno}");
            // The partition next to it, on the same disk, carries on.
            let mut acknowledged = Vec::new();
            for tag in 0..20 {
                let bytes = batch(tag, 2, 500, 1_000);
                acknowledged.push((good.append_durable(&bytes).await.unwrap(), bytes));
            }
            assert_stored(&good, &acknowledged).await;
            assert!(kinds(&events, &good_dir).is_empty());
            // Reopened (the broker restarting), the offline partition
            // recovers what was durable.
            fs.faults().clear();
            drop(bad);
            let reopened = PartitionLog::open_in(&storage, &bad_dir, config())
                .await
                .unwrap();
            assert_stored(&reopened, &[(before, first.clone())]).await;
            reopened.append_durable(&first).await.unwrap();
        });
    }
}

#[test]
fn failed_preallocation_for_want_of_space_is_not_a_failure() {
    run(async {
        let fs = new_fs(2);
        let (storage, events) = storage(&fs);
        let dir = PathBuf::from("/log/p-0");
        let log = PartitionLog::open_in(&storage, &dir, config())
            .await
            .unwrap();
        fs.faults()
            .inject(Fault::always(FaultOp::Fallocate, "/p-0/", ENOSPC));
        let mut acknowledged = Vec::new();
        for tag in 0..60 {
            let bytes = batch(tag, 4, 400, 1_000);
            let info = if tag % 2 == 0 {
                log.append_durable(&bytes).await.unwrap()
            } else {
                log.append(&bytes).await.unwrap()
            };
            acknowledged.push((info, bytes));
        }
        assert!(!log.is_offline() && !log.is_disk_full());
        assert!(
            log.segment_count() > 1,
            "rolled and sealed without preallocation"
        );
        assert_eq!(kinds(&events, &dir), ["preallocation-failed"]);
        assert_stored(&log, &acknowledged).await;
        log.close().await.unwrap();
        let reopened = PartitionLog::open_in(&storage, &dir, config())
            .await
            .unwrap();
        assert_stored(&reopened, &acknowledged).await;
    });
}

/// Fills a simulated disk of `capacity` bytes; returns what was
/// acknowledged and the first error.
async fn fill(log: &PartitionLog, tag_base: u64) -> (Vec<(AppendInfo, Vec<u8>)>, Error) {
    let mut acknowledged = Vec::new();
    for tag in tag_base.. {
        let bytes = batch(tag, 4, 500, 1_000);
        let outcome = if tag % 3 == 0 {
            log.append(&bytes).await
        } else {
            log.append_durable(&bytes).await
        };
        match outcome {
            Ok(info) => acknowledged.push((info, bytes)),
            Err(error) => return (acknowledged, error),
        }
    }
    unreachable!()
}

#[test]
fn a_full_disk_refuses_appends_at_once_and_takes_them_again_when_space_returns() {
    run(async {
        let fs = new_fs(3);
        let (storage, events) = storage(&fs);
        let dir = PathBuf::from("/log/p-0");
        // Retention will free more than the 1 MiB margin the writer wants
        // to see before it writes again.
        let mut config = small_config(256 * 1024);
        config.retention_bytes = Some(256 * 1024);
        let log = Rc::new(
            PartitionLog::open_in(&storage, &dir, config.clone())
                .await
                .unwrap(),
        );
        fs.set_capacity(Some(3 * 1024 * 1024));
        let (mut acknowledged, error) = fill(&log, 0).await;
        assert!(matches!(error, Error::DiskFull(_)), "{error:?}");
        assert!(log.is_disk_full() && !log.is_offline());
        assert!(
            acknowledged.len() > 20,
            "filled {} batches",
            acknowledged.len()
        );

        // Appends are refused at once, without waiting on the disk.
        let started = Instant::now();
        for tag in 0..50 {
            let refused = log.append_durable(&batch(1_000 + tag, 1, 10, 1_000)).await;
            assert!(matches!(refused, Err(Error::DiskFull(_))));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        // Reads of what is written go on.
        assert_stored(&log, &acknowledged).await;
        // Concurrent durable appends started before the disk filled get
        // DiskFull too (none hangs).
        let waiting: Vec<_> = (0..4)
            .map(|tag| {
                let log = log.clone();
                glommio::spawn_local(async move {
                    log.append_durable(&batch(2_000 + tag, 1, 10, 1_000)).await
                })
            })
            .collect();
        for task in waiting {
            assert!(matches!(task.await, Err(Error::DiskFull(_))));
        }

        // Retention (and DeleteRecords) work on the full disk and free space.
        let before = fs.used_bytes();
        let outcome = log
            .enforce_retention(engine::TimestampMs::now())
            .await
            .unwrap();
        assert!(outcome.segments_deleted > 0);
        assert!(fs.used_bytes() < before);
        acknowledged.retain(|(info, _)| info.base_offset >= outcome.log_start_offset);

        // Space returned: the writer finds out by itself and appends resume.
        eventually(|| !log.is_disk_full()).await;
        let (more, _) = {
            let mut more = Vec::new();
            for tag in 3_000..3_010 {
                let bytes = batch(tag, 2, 100, 1_000);
                more.push((log.append_durable(&bytes).await.unwrap(), bytes));
            }
            (more, ())
        };
        acknowledged.extend(more);
        assert_stored(&log, &acknowledged).await;
        assert_eq!(
            kinds(&events, &dir)
                .into_iter()
                .filter(|kind| *kind != "preallocation-failed")
                .collect::<Vec<_>>(),
            ["disk-full", "space-returned"]
        );

        // After a power loss, every acknowledged batch is there.
        let image = fs.durable_image();
        drop(log);
        let (storage, _) = self::storage(&image);
        let recovered = PartitionLog::open_in(&storage, &dir, config).await.unwrap();
        assert_stored(&recovered, &acknowledged).await;
    });
}

#[test]
fn no_room_for_a_new_segment_or_a_seal_is_a_disk_full_episode_too() {
    for op in [FaultOp::Create, FaultOp::AtomicWrite] {
        run(async move {
            let fs = new_fs(4);
            let (storage, events) = storage(&fs);
            let dir = PathBuf::from("/log/p-0");
            let log = PartitionLog::open_in(&storage, &dir, config())
                .await
                .unwrap();
            let mut acknowledged = Vec::new();
            let first = batch(0, 2, 100, 1_000);
            acknowledged.push((log.append_durable(&first).await.unwrap(), first));
            fs.faults().inject(Fault::always(op, "/p-0/", ENOSPC));
            let (filled, error) = fill(&log, 1).await;
            acknowledged.extend(filled);
            assert!(matches!(error, Error::DiskFull(_)), "{op:?}: {error:?}");
            assert!(!log.is_offline());
            fs.faults().clear();
            eventually(|| !log.is_disk_full()).await;
            for tag in 500..520 {
                let bytes = batch(tag, 3, 700, 1_000);
                acknowledged.push((log.append_durable(&bytes).await.unwrap(), bytes));
            }
            assert_stored(&log, &acknowledged).await;
            assert_eq!(
                kinds(&events, &dir),
                ["disk-full", "space-returned"],
                "{op:?}"
            );
            log.close().await.unwrap();
            let reopened = PartitionLog::open_in(&storage, &dir, config())
                .await
                .unwrap();
            assert_stored(&reopened, &acknowledged).await;
            assert_eq!(reopened.log_start_offset(), Offset::ZERO);
        });
    }
}

#[test]
fn a_backlog_larger_than_the_space_that_returned_goes_out_in_pieces() {
    run(async {
        let fs = new_fs(5);
        let (storage, events) = storage(&fs);
        let dir = PathBuf::from("/log/p-0");
        let log = PartitionLog::open_in(&storage, &dir, small_config(64 << 20))
            .await
            .unwrap();
        let mib = 1024 * 1024;
        fs.set_capacity(Some(fs.used_bytes() + mib));
        // Six MiB taken in memory at once (a pipelining producer) while
        // one MiB is free: the writer cannot put it all down.
        let mut appended = Vec::new();
        for tag in 0..96 {
            let bytes = batch(tag, 16, 4_000, 1_000);
            appended.push((log.append_nowait(&bytes).unwrap(), bytes));
        }
        eventually(|| log.is_disk_full()).await;
        let stuck = log.high_watermark();
        // Four MiB come back: less than the backlog, but it moves.
        fs.set_capacity(Some(fs.used_bytes() + 4 * mib));
        eventually(|| log.high_watermark() > stuck).await;
        assert!(log.is_disk_full(), "the backlog is not all written yet");
        assert!(matches!(
            log.append(&batch(999, 1, 10, 1_000)).await,
            Err(Error::DiskFull(_))
        ));
        // Then plenty: all of it goes out and appends are taken again.
        fs.set_capacity(None);
        eventually(|| !log.is_disk_full()).await;
        assert_eq!(
            log.high_watermark(),
            appended.last().unwrap().0.next_offset()
        );
        let more = batch(1_000, 2, 100, 1_000);
        appended.push((log.append_durable(&more).await.unwrap(), more));
        assert_stored(&log, &appended).await;
        assert_eq!(
            kinds(&events, &dir)
                .into_iter()
                .filter(|kind| *kind != "preallocation-failed")
                .collect::<Vec<_>>(),
            ["disk-full", "space-returned"]
        );
    });
}

#[test]
fn a_log_dropped_on_a_full_disk_ends_its_episode() {
    run(async {
        let fs = new_fs(6);
        let (storage, events) = storage(&fs);
        let dir = PathBuf::from("/log/p-0");
        let log = PartitionLog::open_in(&storage, &dir, config())
            .await
            .unwrap();
        fs.set_capacity(Some(fs.used_bytes() + 64 * 1024));
        let (_, error) = fill(&log, 0).await;
        assert!(matches!(error, Error::DiskFull(_)), "{error:?}");
        // A topic deleted while its partition waits for space.
        drop(log);
        let seen: Vec<_> = kinds(&events, &dir)
            .into_iter()
            .filter(|kind| *kind != "preallocation-failed")
            .collect();
        assert_eq!(seen, ["disk-full", "disk-full-ended"]);
    });
}
