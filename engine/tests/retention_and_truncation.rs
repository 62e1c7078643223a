//! Retention by time and size, DeleteRecords and truncation: whole sealed
//! segments go, the log start offset moves, the rest reads back intact.

mod support;

use engine::{Error, LogConfig, Offset, PartitionLog, TimestampMs};
use support::*;

fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn retention_by_size_deletes_oldest_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("size-0");
    let inner = path.clone();
    run(async move {
        let log = PartitionLog::open(&inner, small_config(8 * 1024))
            .await
            .unwrap();
        let mut all = Vec::new();
        for tag in 0..100u64 {
            let bytes = batch(tag, 2, 400, 1_000);
            let info = log.append(&bytes).await.unwrap();
            all.push(stamped(&bytes, &info));
        }
        let segments_before = log.segment_count();
        let size_before = log.size_bytes();
        assert!(segments_before > 5);
        log.set_config(LogConfig {
            retention_bytes: Some(30 * 1024),
            ..small_config(8 * 1024)
        })
        .unwrap();
        let outcome = log.enforce_retention(TimestampMs::now()).await.unwrap();
        assert!(outcome.segments_deleted > 0);
        assert!(log.size_bytes() <= size_before - outcome.bytes_deleted);
        assert!(
            log.size_bytes() >= 30 * 1024 - 8 * 1024,
            "kept at least retention.bytes minus one segment"
        );
        assert_eq!(log.log_start_offset(), outcome.log_start_offset);
        assert_eq!(log.segment_base_offsets()[0], outcome.log_start_offset);
        // Below the start: out of range. From the start: the same bytes as before.
        assert!(matches!(
            log.read(Offset(0), 100).await,
            Err(Error::OffsetOutOfRange { .. })
        ));
        let kept = read_all(&log, outcome.log_start_offset).await;
        assert_eq!(&kept[..], &all[all.len() - kept.len()..]);
        log.close().await.unwrap();
        // The start survives a restart.
        let log = PartitionLog::open(&inner, small_config(8 * 1024))
            .await
            .unwrap();
        assert_eq!(log.log_start_offset(), outcome.log_start_offset);
        log.close().await.unwrap();
    });
    assert_eq!(
        segment_files(&path)[0],
        format!("{:020}.log", {
            let text = std::fs::read_to_string(path.join("log-start-offset")).unwrap();
            text.trim().parse::<i64>().unwrap()
        })
    );
}

#[test]
fn retention_by_time_uses_the_newest_timestamp_of_each_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("time-0");
    run(async move {
        let config = LogConfig {
            retention_ms: Some(60_000),
            ..small_config(4 * 1024)
        };
        let log = PartitionLog::open(&path, config).await.unwrap();
        let now = TimestampMs::now().0;
        // Old records first (two hours ago), then fresh ones.
        for tag in 0..20u64 {
            let bytes = batch(tag, 1, 900, now - 7_200_000);
            log.append(&bytes).await.unwrap();
        }
        let old_end = log.log_end_offset();
        for tag in 20..40u64 {
            let bytes = batch(tag, 1, 900, now);
            log.append(&bytes).await.unwrap();
        }
        let outcome = log.enforce_retention(TimestampMs(now)).await.unwrap();
        assert!(outcome.segments_deleted > 0);
        assert!(
            outcome.log_start_offset <= old_end,
            "no fresh record deleted"
        );
        // Everything from old_end on is still there.
        let fresh = read_all(&log, outcome.log_start_offset).await;
        let fresh_values: Vec<_> = fresh.iter().flat_map(|bytes| values(bytes)).collect();
        for tag in 20..40u64 {
            assert!(fresh_values
                .iter()
                .any(|value| value.starts_with(format!("{tag}:0:").as_bytes())));
        }
        // A second pass deletes nothing more.
        let again = log.enforce_retention(TimestampMs(now)).await.unwrap();
        assert!(again.log_start_offset <= old_end);
        log.close().await.unwrap();
    });
}

#[test]
fn delete_records_moves_the_start_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dr-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(4 * 1024))
            .await
            .unwrap();
        for tag in 0..40u64 {
            let bytes = batch(tag, 3, 300, 1);
            log.append(&bytes).await.unwrap();
        }
        let segments = log.segment_count();
        assert_eq!(
            log.delete_records_before(Offset(50)).await.unwrap(),
            Offset(50)
        );
        assert_eq!(log.log_start_offset(), Offset(50));
        assert!(log.segment_count() < segments);
        assert!(matches!(
            log.read(Offset(49), 10).await,
            Err(Error::OffsetOutOfRange { .. })
        ));
        let result = log.read(Offset(50), 10).await.unwrap();
        assert!(!result.is_empty());
        assert!(matches!(
            log.delete_records_before(Offset(1000)).await,
            Err(Error::OffsetOutOfRange { .. })
        ));
        log.close().await.unwrap();
    });
}

#[test]
fn truncate_to_removes_the_suffix_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tr-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(4 * 1024))
            .await
            .unwrap();
        let mut all = Vec::new();
        for tag in 0..40u64 {
            let bytes = batch(tag, 2, 300, 1);
            let info = log.append(&bytes).await.unwrap();
            all.push(stamped(&bytes, &info));
        }
        // Offset 31 is inside batch 15 (offsets 30, 31): the batch goes whole.
        let end = log.truncate_to(Offset(31)).await.unwrap();
        assert_eq!(end, Offset(30));
        assert_eq!(log.log_end_offset(), Offset(30));
        assert_eq!(read_all(&log, Offset(0)).await, all[..15].to_vec());
        let next = batch(100, 2, 300, 1);
        let info = log.append(&next).await.unwrap();
        assert_eq!(info.base_offset, Offset(30));
        log.close().await.unwrap();
        let log = PartitionLog::open(&path, small_config(4 * 1024))
            .await
            .unwrap();
        let mut expected = all[..15].to_vec();
        expected.push(stamped(&next, &info));
        assert_eq!(read_all(&log, Offset(0)).await, expected);
        log.close().await.unwrap();
    });
}
