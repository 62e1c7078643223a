//! The two budgets logs of one shard share through their `Storage`: open
//! segment files (the least recently used closes to make room, so
//! descriptors stay bounded whatever the partition count) and tail caches
//! (the least recently written log drops its cache first). Both cost only
//! speed: every byte reads back, across restarts.

mod support;

use engine::{LogConfig, Offset, PartitionLog, Storage};
use support::*;

/// Descriptors this process has open on files under `root`.
fn open_descriptors(root: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(root))
        .count()
}

#[test]
fn forty_logs_with_four_open_segment_files_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(async move {
        let storage = Storage::os().with_open_segments_max(4);
        let mut logs = Vec::new();
        let mut expected: Vec<Vec<Vec<u8>>> = Vec::new();
        for partition in 0..40u64 {
            let path = root.join(format!("t-{partition}"));
            let log = PartitionLog::open_in(&storage, &path, small_config(8 * 1024))
                .await
                .unwrap();
            let mut stored = Vec::new();
            for tag in 0..6u64 {
                let bytes = batch(partition * 100 + tag, 3, 900, 1_700_000_000_000);
                let info = if tag % 2 == 0 {
                    log.append(&bytes).await.unwrap()
                } else {
                    log.append_durable(&bytes).await.unwrap()
                };
                stored.push(stamped(&bytes, &info));
            }
            logs.push(log);
            expected.push(stored);
        }
        let (open_max, open, closed) = storage.open_segments();
        assert_eq!(open_max, 4);
        assert!(open <= 4, "{open} segment files open");
        assert!(closed > 0, "files were closed to make room");
        // Each segment file is three descriptors. glommio closes a
        // dropped file on its ring's next turn: give it one.
        glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
        let held = open_descriptors(&root);
        assert!(held <= 3 * 4, "{held} descriptors held by 40 logs");
        // Reads reopen what was closed, in any order.
        for (partition, log) in logs.iter().enumerate().rev() {
            assert_eq!(read_all(log, Offset(0)).await, expected[partition]);
        }
        for log in logs.drain(..) {
            log.close().await.unwrap();
        }
        // Reopened with the same budget: recovery opens one at a time.
        for (partition, stored) in expected.iter().enumerate() {
            let path = root.join(format!("t-{partition}"));
            let log = PartitionLog::open_in(&storage, &path, small_config(8 * 1024))
                .await
                .unwrap();
            assert_eq!(&read_all(&log, Offset(0)).await, stored);
            let bytes = batch(9_999, 1, 10, 1_700_000_000_000);
            log.append_durable(&bytes).await.unwrap();
            logs.push(log);
        }
        assert!(storage.open_segments().1 <= 4);
    });
}

#[test]
fn tail_caches_stay_within_the_shard_budget() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(async move {
        let budget = 3 * 1024 * 1024;
        let storage = Storage::os().with_tail_cache_bytes_max(budget);
        let config = LogConfig {
            tail_cache_bytes: 4 * 1024 * 1024,
            ..small_config(1 << 30)
        };
        let mut logs = Vec::new();
        let mut expected: Vec<Vec<Vec<u8>>> = Vec::new();
        for partition in 0..4u64 {
            let path = root.join(format!("t-{partition}"));
            logs.push(
                PartitionLog::open_in(&storage, &path, config.clone())
                    .await
                    .unwrap(),
            );
            expected.push(Vec::new());
        }
        // 6 MiB into each, in turn: alone each would keep 4 MiB cached.
        for round in 0..96u64 {
            for (partition, log) in logs.iter().enumerate() {
                let bytes = batch(round * 10 + partition as u64, 64, 1000, 1_700_000_000_000);
                let info = log.append(&bytes).await.unwrap();
                expected[partition].push(stamped(&bytes, &info));
                let (_, held, _) = storage.tail_caches();
                assert!(held <= budget, "{held} bytes cached, budget {budget}");
            }
        }
        let (_, _, shrunk) = storage.tail_caches();
        assert!(shrunk > 0, "caches were dropped to stay within the budget");
        for (partition, log) in logs.iter().enumerate() {
            assert_eq!(read_all(log, Offset(0)).await, expected[partition]);
        }
    });
}
