//! Shared builders for the engine's scenario tests.
#![allow(dead_code)]

use engine::record_batch::{BatchBuilder, Record, RecordBatch, Validation};
use engine::{LogConfig, Offset, PartitionLog, TimestampMs};

pub fn run<T: 'static>(future: impl std::future::Future<Output = T> + 'static) -> T {
    engine::runtime::block_on(future)
}

/// A batch of `count` records whose values name `tag` and their index.
pub fn batch(tag: u64, count: usize, value_bytes: usize, timestamp: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    for index in 0..count {
        let mut value = format!("{tag}:{index}:").into_bytes();
        value.resize(value_bytes.max(value.len()), b'x');
        builder.push(Record {
            key: Some(format!("key-{tag}").into_bytes()),
            value: Some(value),
            headers: Vec::new(),
            timestamp: TimestampMs(timestamp + index as i64),
        });
    }
    builder.build()
}

pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: None,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Reads the whole log from `start` to the high watermark and returns the
/// batches' bytes, checking that offsets are contiguous and every batch valid.
pub async fn read_all(log: &PartitionLog, start: Offset) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut next = start;
    let high_watermark = log.high_watermark();
    while next < high_watermark {
        let result = log.read(next, 64 * 1024).await.expect("read");
        let bytes = result.to_vec_blocking().expect("bytes");
        assert!(
            !bytes.is_empty(),
            "empty read at {next} below {high_watermark}"
        );
        let mut rest = &bytes[..];
        let mut progressed = false;
        while !rest.is_empty() {
            let Ok(batch) = RecordBatch::parse(rest, Validation::Stored) else {
                break; // a batch cut at max_bytes: read again from it
            };
            if batch.next_offset() <= next {
                rest = &rest[batch.size()..];
                continue;
            }
            assert!(batch.base_offset() <= next, "gap before {next}");
            out.push(batch.as_bytes().to_vec());
            next = batch.next_offset();
            rest = &rest[batch.size()..];
            progressed = true;
        }
        assert!(progressed, "no progress at {next}");
    }
    out
}

/// The `value`s of every record in a batch.
pub fn values(batch: &[u8]) -> Vec<Vec<u8>> {
    let batch = RecordBatch::parse(batch, Validation::Stored).expect("valid batch");
    batch
        .records()
        .expect("uncompressed")
        .map(|record| record.expect("record").value.expect("value").to_vec())
        .collect()
}

/// What the log stores for `bytes` appended with the answer `info`: each
/// batch with its offsets (and any LogAppendTime) stamped. The appended
/// buffer itself is left as it was.
pub fn stamped(bytes: &[u8], info: &engine::AppendInfo) -> Vec<u8> {
    use engine::record_batch::{peek_batch_size, stamp, AppendStamp};
    let mut out = bytes.to_vec();
    let mut base = info.base_offset;
    let mut position = 0;
    while position < out.len() {
        let size = peek_batch_size(&out[position..]).unwrap().unwrap();
        let batch = &mut out[position..position + size];
        let records = RecordBatch::parse(batch, Validation::Client)
            .unwrap()
            .header()
            .last_offset_delta
            .get();
        stamp(
            batch,
            AppendStamp {
                base_offset: base,
                partition_leader_epoch: 0,
                log_append_time: info.log_append_time,
            },
        )
        .unwrap();
        base = Offset(base.0 + i64::from(records) + 1);
        position += size;
    }
    out
}
