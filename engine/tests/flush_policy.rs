//! Kafka's flush policy: `flush.messages` and `flush.ms` fdatasync plain
//! appends without anyone asking; `segment.ms` rolls old segments.

mod support;

use std::time::{Duration, Instant};

use engine::{LogConfig, Offset, PartitionLog};
use support::*;

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn flush_messages_syncs_after_that_many_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fm-0");
    run(async move {
        let config = LogConfig {
            flush_messages: Some(10),
            ..small_config(1 << 30)
        };
        let log = PartitionLog::open(&path, config).await.unwrap();
        for tag in 0..3u64 {
            let bytes = batch(tag, 3, 10, 1);
            log.append(&bytes).await.unwrap();
        }
        // Nine records: written, not yet synced.
        assert_eq!(log.high_watermark(), Offset(9));
        assert_eq!(log.flushed_offset(), Offset(0));
        assert_eq!(log.fdatasync_count(), 0);
        let bytes = batch(3, 1, 10, 1);
        log.append(&bytes).await.unwrap();
        wait_until("flush.messages", || log.flushed_offset() == Offset(10)).await;
        assert_eq!(log.fdatasync_count(), 1);
    });
}

#[test]
fn flush_ms_syncs_data_older_than_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fms-0");
    run(async move {
        let config = LogConfig {
            flush_ms: Some(50),
            ..small_config(1 << 30)
        };
        let log = PartitionLog::open(&path, config).await.unwrap();
        let bytes = batch(0, 2, 10, 1);
        log.append(&bytes).await.unwrap();
        assert_eq!(
            log.flushed_offset(),
            Offset(0),
            "written, not synced at once"
        );
        wait_until("flush.ms", || log.flushed_offset() == Offset(2)).await;
        assert_eq!(log.fdatasync_count(), 1);
    });
}

#[test]
fn segment_ms_rolls_an_old_segment_on_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms-0");
    run(async move {
        let config = LogConfig {
            segment_ms: Some(30),
            ..small_config(1 << 30)
        };
        let log = PartitionLog::open(&path, config).await.unwrap();
        let first = batch(0, 1, 10, 1);
        let first = stamped(&first, &log.append(&first).await.unwrap());
        let second = batch(1, 1, 10, 1);
        let second = stamped(&second, &log.append(&second).await.unwrap());
        assert_eq!(log.segment_count(), 1);
        glommio::timer::sleep(Duration::from_millis(40)).await;
        let third = batch(2, 1, 10, 1);
        let third = stamped(&third, &log.append(&third).await.unwrap());
        assert_eq!(log.segment_base_offsets(), vec![Offset(0), Offset(2)]);
        assert_eq!(read_all(&log, Offset(0)).await, vec![first, second, third]);
        log.close().await.unwrap();
    });
}
