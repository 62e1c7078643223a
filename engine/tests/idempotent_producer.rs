//! Idempotent producers: a retried batch gets its original offsets and is
//! not stored twice, a gap is refused, an old epoch is fenced, and all of
//! it holds across clean and unclean restarts and segment rolls.

mod support;

use engine::record_batch::{BatchBuilder, Record};
use engine::{Error, Offset, PartitionLog, ProducerError, TimestampMs};
use support::*;

fn producer_batch(producer_id: i64, epoch: i16, first_sequence: i32, records: usize) -> Vec<u8> {
    let mut builder = BatchBuilder::new().producer(producer_id, epoch, first_sequence);
    for index in 0..records {
        let mut value =
            format!("p{producer_id}-s{}-", first_sequence as usize + index).into_bytes();
        value.resize(120, b'.');
        builder.push(Record::value(value, TimestampMs(1)));
    }
    builder.build()
}

#[test]
fn duplicates_gaps_and_epochs_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idem-0");
    run(async move {
        let log = PartitionLog::open(&path, small_config(4096)).await.unwrap();
        let mut offsets = Vec::new();
        for sequence in (0..60).step_by(3) {
            let info = log
                .append(&producer_batch(42, 0, sequence, 3))
                .await
                .unwrap();
            offsets.push(info.base_offset);
        }
        assert!(
            log.segment_count() > 1,
            "small segments roll, so snapshots are written"
        );
        // A retry of the last batch: the original offsets, nothing stored.
        let end = log.log_end_offset();
        let retry = log.append(&producer_batch(42, 0, 57, 3)).await.unwrap();
        assert_eq!(
            (retry.base_offset, retry.last_offset),
            (offsets[19], Offset(offsets[19].0 + 2))
        );
        assert_eq!(log.log_end_offset(), end);
        // A gap.
        let gap = log.append(&producer_batch(42, 0, 70, 1)).await.unwrap_err();
        assert_eq!(
            gap,
            Error::Producer(ProducerError::OutOfOrderSequence {
                producer_id: 42,
                expected: 60,
                got: 70
            })
        );
        // An unknown producer must start at 0.
        assert!(matches!(
            log.append(&producer_batch(43, 0, 5, 1)).await,
            Err(Error::Producer(ProducerError::UnknownProducerId { .. }))
        ));
        // Plain batches interleave freely.
        log.append(&batch(1, 2, 10, 1)).await.unwrap();
        log.close().await.unwrap();

        // Clean restart: the state comes from the snapshot written on close.
        let log = PartitionLog::open(&path, small_config(4096)).await.unwrap();
        let end = log.log_end_offset();
        let retry = log.append(&producer_batch(42, 0, 57, 3)).await.unwrap();
        assert_eq!(retry.base_offset, offsets[19]);
        assert_eq!(log.log_end_offset(), end);
        let next = log.append(&producer_batch(42, 0, 60, 3)).await.unwrap();
        assert_eq!(next.base_offset, end);
        drop(log);

        // Unclean restart: snapshot of the last seal plus replay of the tail.
        let log = PartitionLog::open(&path, small_config(4096)).await.unwrap();
        let retry = log.append(&producer_batch(42, 0, 60, 3)).await.unwrap();
        assert_eq!(
            retry.base_offset, end,
            "the batch after the clean restart is still known"
        );
        // A new epoch starts again at 0; the old epoch is fenced.
        log.append(&producer_batch(42, 1, 0, 1)).await.unwrap();
        assert!(matches!(
            log.append(&producer_batch(42, 0, 63, 1)).await,
            Err(Error::Producer(ProducerError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            }))
        ));
        let all = read_all(&log, Offset(0)).await;
        assert_eq!(all.len(), 20 + 1 + 1 + 1, "no batch stored twice");
        log.close().await.unwrap();
    });
}
