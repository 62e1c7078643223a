//! `ReadResult::next_offset`: how far a read's bytes go in offsets. Exact
//! when the read reaches the readable end; when `max_bytes` cuts it, a
//! lower bound that never names an offset the bytes do not hold whole.

mod support;

use engine::record_batch::{RecordBatch, Validation};
use engine::{Offset, PartitionLog};
use support::*;

/// The offset after the last batch `bytes` holds whole.
fn whole_batches_end(mut bytes: &[u8]) -> Offset {
    let mut end = Offset(0);
    while let Ok(batch) = RecordBatch::parse(bytes, Validation::Stored) {
        end = Offset(batch.base_offset().0 + i64::from(batch.records_count()));
        bytes = &bytes[batch.size()..];
    }
    end
}

#[test]
fn next_offset_is_exact_at_the_end_and_a_lower_bound_when_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    run(async move {
        // One big segment: every read stays in it; batches of 3 records.
        let log = PartitionLog::open(&path, small_config(64 * 1024 * 1024))
            .await
            .unwrap();
        for tag in 0..400u64 {
            log.append(&batch(tag, 3, 200, 1_700_000_000_000))
                .await
                .unwrap();
        }
        let end = log.high_watermark();
        assert_eq!(end, Offset(1200));
        // Reaching the end: exact, from any start (mid-batch too).
        for start in [0, 1, 599, 1199] {
            let result = log.read(Offset(start), 64 * 1024 * 1024).await.unwrap();
            assert_eq!(result.next_offset, end, "start {start}");
        }
        // At the end: nothing read, next_offset is the start.
        let result = log.read(end, 1024).await.unwrap();
        assert!(result.is_empty());
        assert_eq!(result.next_offset, end);
        // Cut by max_bytes: at most the whole batches the bytes hold, and
        // at least the first batch; within one index interval of exact.
        for (start, max_bytes) in [(0, 5_000), (7, 20_000), (300, 100_000), (0, 1)] {
            let result = log.read(Offset(start), max_bytes).await.unwrap();
            let bytes = result.to_vec_blocking().unwrap();
            let exact = whole_batches_end(&bytes);
            assert!(result.next_offset <= exact, "start {start} max {max_bytes}");
            assert!(result.next_offset > Offset(start), "the first batch counts");
            // A batch of 3 records is ~700 bytes; the index has an entry
            // every 4096 bytes, so the bound lags by at most ~6 batches.
            assert!(
                exact.0 - result.next_offset.0 <= 3 * 7,
                "start {start} max {max_bytes}: {} vs {}",
                result.next_offset.0,
                exact.0
            );
        }
    });
}
