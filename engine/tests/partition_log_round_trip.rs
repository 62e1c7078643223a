//! Append, read back, restart (clean and unclean), read again: same bytes,
//! same offsets, in order; segments named and sized as Kafka's.

mod support;

use engine::record_batch::{RecordBatch, Validation};
use engine::{Offset, PartitionLog, TimestampMs};
use support::*;

#[test]
fn appended_batches_read_back_byte_for_byte_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(16 * 1024))
            .await
            .unwrap();
        let mut expected = Vec::new();
        for tag in 0..200u64 {
            let bytes = batch(tag, 1 + (tag as usize % 7), 100, 1_700_000_000_000);
            let info = log.append(&bytes).await.unwrap();
            let stored = stamped(&bytes, &info);
            let parsed = RecordBatch::parse(&stored, Validation::Stored).unwrap();
            assert_eq!(parsed.base_offset(), info.base_offset);
            expected.push(stored);
        }
        let total: i64 = expected
            .iter()
            .map(|bytes| {
                i64::from(
                    RecordBatch::parse(bytes, Validation::Stored)
                        .unwrap()
                        .records_count(),
                )
            })
            .sum();
        assert_eq!(log.log_end_offset(), Offset(total));
        assert_eq!(log.high_watermark(), Offset(total));
        assert!(log.segment_count() > 3, "16 KiB segments must roll");
        assert_eq!(read_all(&log, Offset(0)).await, expected);

        // Clean restart.
        log.close().await.unwrap();
        let log = PartitionLog::open(&path, small_config(16 * 1024))
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), Offset(total));
        assert_eq!(read_all(&log, Offset(0)).await, expected);

        // More appends, then an unclean stop (no close): recovery scans.
        let bytes = batch(999, 3, 10, 1_700_000_000_000);
        let info = log.append_durable(&bytes).await.unwrap();
        expected.push(stamped(&bytes, &info));
        drop(log);
        let log = PartitionLog::open(&path, small_config(16 * 1024))
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), Offset(total + 3));
        assert_eq!(read_all(&log, Offset(0)).await, expected);

        // Reads from the middle of a batch start at that batch.
        let result = log.read(Offset(5), 1).await.unwrap();
        let bytes = result.to_vec_blocking().unwrap();
        let first = RecordBatch::parse(&bytes, Validation::Stored).unwrap();
        assert!(first.base_offset() <= Offset(5) && first.last_offset() >= Offset(5));
        log.close().await.unwrap();
    });
    // Kafka's file layout.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("topic-0"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.contains(&"00000000000000000000.log".to_string()));
    assert!(names.contains(&"00000000000000000000.index".to_string()));
    assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
    // A sealed segment's file is exactly its batches: parse it end to end.
    let log_file = std::fs::read(dir.path().join("topic-0/00000000000000000000.log")).unwrap();
    let mut rest = &log_file[..];
    while !rest.is_empty() {
        let batch = RecordBatch::parse(rest, Validation::Stored).unwrap();
        rest = &rest[batch.size()..];
    }
}

#[test]
fn offsets_are_contiguous_and_out_of_range_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-1");
    run(async move {
        let log = PartitionLog::open(&path, small_config(1 << 20))
            .await
            .unwrap();
        let first = batch(1, 5, 10, 1000);
        let second = batch(2, 3, 10, 2000);
        let a = log.append(&first).await.unwrap();
        let b = log.append(&second).await.unwrap();
        assert_eq!((a.base_offset, a.last_offset), (Offset(0), Offset(4)));
        assert_eq!((b.base_offset, b.last_offset), (Offset(5), Offset(7)));
        let empty = log.read(Offset(8), 1000).await.unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.high_watermark, Offset(8));
        assert!(matches!(
            log.read(Offset(9), 1000).await,
            Err(engine::Error::OffsetOutOfRange { .. })
        ));
        // Invalid input is refused and harms nothing.
        let mut corrupt = batch(3, 2, 10, 3000);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(matches!(
            log.append(&corrupt).await,
            Err(engine::Error::Batch(engine::BatchError::CrcMismatch { .. }))
        ));
        assert_eq!(log.log_end_offset(), Offset(8));
        let all = read_all(&log, Offset(0)).await;
        assert_eq!(all, vec![stamped(&first, &a), stamped(&second, &b)]);
        assert_eq!(values(&all[1])[2], b"2:2:xxxxxx".to_vec());
        log.close().await.unwrap();
    });
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ts-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(8 * 1024))
            .await
            .unwrap();
        // Batch t has records stamped 10_000 * t + i.
        for tag in 0..50u64 {
            let bytes = batch(tag, 4, 200, 10_000 * tag as i64);
            log.append(&bytes).await.unwrap();
        }
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(0)).await.unwrap(),
            Some((Offset(0), TimestampMs(0)))
        );
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(250_002))
                .await
                .unwrap(),
            Some((Offset(102), TimestampMs(250_002)))
        );
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(250_004))
                .await
                .unwrap(),
            Some((Offset(104), TimestampMs(260_000)))
        );
        assert_eq!(
            log.offset_for_timestamp(TimestampMs(10_000_000))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            log.max_timestamp(),
            Some((TimestampMs(490_003), Offset(199)))
        );
        log.close().await.unwrap();
    });
}

#[test]
fn concurrent_durable_appends_share_fdatasyncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gc-0");
    run(async move {
        let log = std::rc::Rc::new(
            PartitionLog::open(&path, small_config(1 << 30))
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for tag in 0..200u64 {
            let log = log.clone();
            tasks.push(glommio::spawn_local(async move {
                let bytes = batch(tag, 1, 100, 1);
                log.append_durable(&bytes).await.unwrap()
            }));
        }
        let mut offsets = Vec::new();
        for task in tasks {
            offsets.push(task.await.base_offset.0);
        }
        offsets.sort();
        assert_eq!(offsets, (0..200).collect::<Vec<_>>());
        assert_eq!(log.flushed_offset(), Offset(200));
        let syncs = log.fdatasync_count();
        assert!(
            (1..50).contains(&syncs),
            "200 durable appends took {syncs} fdatasyncs"
        );
    });
}

/// Many appenders at once keep several write rounds in flight; batch sizes
/// that end mid-page make rounds stop short of the tail page and come back
/// for it. Every byte must still read back, before and after a restart.
#[test]
fn concurrent_appends_of_mixed_sizes_read_back_in_offset_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed-0");
    run(async move {
        let log = std::rc::Rc::new(
            PartitionLog::open(&path, small_config(8 << 20))
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for task in 0..8u64 {
            let log = log.clone();
            tasks.push(glommio::spawn_local(async move {
                let mut appended = Vec::new();
                for round in 0..40u64 {
                    let tag = task * 1000 + round;
                    let value_bytes = 37 + ((tag * 7919) % 97) as usize * 1013;
                    let bytes = batch(tag, 1 + (tag % 3) as usize, value_bytes, 5);
                    let info = log.append(&bytes).await.unwrap();
                    appended.push((info.base_offset, stamped(&bytes, &info)));
                }
                appended
            }));
        }
        let mut expected = Vec::new();
        for task in tasks {
            expected.extend(task.await);
        }
        expected.sort_by_key(|(offset, _)| *offset);
        let expected: Vec<Vec<u8>> = expected.into_iter().map(|(_, bytes)| bytes).collect();
        assert!(log.segment_count() > 2, "8 MiB segments roll");
        assert_eq!(read_all(&log, Offset(0)).await, expected);
        let log = std::rc::Rc::try_unwrap(log).ok().unwrap();
        drop(log);
        let log = PartitionLog::open(&path, small_config(8 << 20))
            .await
            .unwrap();
        assert_eq!(read_all(&log, Offset(0)).await, expected);
        log.close().await.unwrap();
    });
}

/// Kafka's timestamp bounds: a CreateTime batch more than an hour in the
/// future is refused; with a past bound set, one too old is too.
#[test]
fn timestamps_out_of_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ts-bounds-0");
    run(async move {
        let config = engine::LogConfig {
            timestamp_before_max_ms: Some(86_400_000),
            ..small_config(1 << 20)
        };
        let log = PartitionLog::open(&path, config).await.unwrap();
        let now = TimestampMs::now().0;
        let future = batch(1, 2, 10, now + 2 * 3_600_000);
        assert!(matches!(
            log.append(&future).await,
            Err(engine::Error::Batch(
                engine::BatchError::TimestampOutOfRange { .. }
            ))
        ));
        let old = batch(2, 2, 10, now - 2 * 86_400_000);
        assert!(matches!(
            log.append(&old).await,
            Err(engine::Error::Batch(
                engine::BatchError::TimestampOutOfRange { .. }
            ))
        ));
        let fine = batch(3, 2, 10, now - 1000);
        assert_eq!(log.append(&fine).await.unwrap().base_offset, Offset(0));
        // LogAppendTime ignores what the producer stamped.
        let append_time = engine::LogConfig {
            timestamp_type: engine::TimestampType::LogAppendTime,
            ..small_config(1 << 20)
        };
        log.set_config(append_time).unwrap();
        let info = log
            .append(&batch(4, 1, 10, now + 10 * 3_600_000))
            .await
            .unwrap();
        assert!(info.log_append_time.is_some());
        log.close().await.unwrap();
    });
}

/// Appends `count` batches of the sizes given (in turn, plus the batch's
/// tag in bytes), reading the tail back every `read_every` appends; then the
/// segment file must hold exactly the batches, in order, zeros after, and
/// read back after a restart.
fn appends_reach_the_file_byte_for_byte(sizes: &'static [usize], count: u64, read_every: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(64 << 20))
            .await
            .unwrap();
        let mut expected = Vec::new();
        for tag in 0..count {
            let value_bytes = sizes[tag as usize % sizes.len()] + tag as usize;
            let bytes = batch(tag, 1, value_bytes, 1_700_000_000_000);
            let info = log.append(&bytes).await.unwrap();
            expected.push(stamped(&bytes, &info));
            // A reader of the tail between rounds sees the same bytes.
            if tag % read_every == 0 {
                assert_eq!(read_all(&log, Offset(0)).await, expected);
            }
        }
        log.flush().await.unwrap();
        let file = std::fs::read(path.join("00000000000000000000.log")).unwrap();
        let concatenated = expected.concat();
        assert_eq!(&file[..concatenated.len()], &concatenated[..]);
        assert!(
            file[concatenated.len()..].iter().all(|byte| *byte == 0),
            "past the last batch the file holds zeros only"
        );
        drop(log);
        let log = PartitionLog::open(&path, small_config(64 << 20))
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), Offset(count as i64));
        assert_eq!(read_all(&log, Offset(0)).await, expected);
        log.close().await.unwrap();
    });
}

/// Batches of hundreds of KiB leave the open tail chunk part full at each
/// round; rounds then write its whole pages from the chunk itself and move
/// the partial page to a fresh chunk (`tail.rs`).
#[test]
fn large_batches_that_end_mid_chunk_reach_the_file_byte_for_byte() {
    const KIB: usize = 1024;
    appends_reach_the_file_byte_for_byte(
        &[
            300 * KIB,
            450 * KIB,
            700 * KIB,
            123 * KIB,
            900 * KIB,
            610 * KIB,
        ],
        24,
        5,
    );
}

/// Batches of a few to tens of KiB, as Java's default `batch.size` gives:
/// each round writes its whole pages from the tail chunk and its copied
/// partial page with one vectored write (`tail.rs`, glommio patch 7), and
/// the next round writes that page again.
#[test]
fn small_batches_in_vectored_writes_reach_the_file_byte_for_byte() {
    appends_reach_the_file_byte_for_byte(&[16_000, 9_000, 40_000, 3_000, 21_000, 12_345], 300, 37);
}
