//! The partition log against a simple in-memory oracle under random
//! append / roll / retention / delete-records / truncate / restart
//! sequences (fjall's oracle test, applied to a log).

mod support;

use engine::record_batch::{BatchBuilder, Record, RecordBatch, Validation};
use engine::{LogConfig, Offset, PartitionLog, Storage, TimestampMs};
use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_bytes: usize },
    Restart { clean: bool },
    RetainBytes { limit: u64 },
    DeleteRecords { fraction: f64 },
    TruncateTo { fraction: f64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..6, 0usize..700).prop_map(|(records, value_bytes)| Op::Append { records, value_bytes }),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
        1 => (1024u64..20_000).prop_map(|limit| Op::RetainBytes { limit }),
        1 => (0.0f64..1.0).prop_map(|fraction| Op::DeleteRecords { fraction }),
        1 => (0.0f64..1.0).prop_map(|fraction| Op::TruncateTo { fraction }),
    ]
}

/// The oracle: batches as (base offset, record values), and the log start.
#[derive(Default)]
struct Oracle {
    batches: Vec<(i64, Vec<Vec<u8>>)>,
    log_start: i64,
}

impl Oracle {
    fn end(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start, |(base, values)| base + values.len() as i64)
    }

    fn records_from(&self, start: i64) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        for (base, values) in &self.batches {
            for (index, value) in values.iter().enumerate() {
                let offset = base + index as i64;
                if offset >= start {
                    out.push((offset, value.clone()));
                }
            }
        }
        out
    }
}

fn config() -> LogConfig {
    LogConfig {
        tail_cache_bytes: 0,
        ..small_config(4096)
    }
}

async fn check(log: &PartitionLog, oracle: &Oracle) {
    assert_eq!(log.log_end_offset(), Offset(oracle.end()));
    assert_eq!(log.high_watermark(), Offset(oracle.end()));
    assert_eq!(log.log_start_offset(), Offset(oracle.log_start));
    let batches = read_all(log, Offset(oracle.log_start)).await;
    let mut records = Vec::new();
    for bytes in &batches {
        let batch = RecordBatch::parse(bytes, Validation::Stored).unwrap();
        for record in batch.records().unwrap() {
            let record = record.unwrap();
            if record.offset.0 >= oracle.log_start {
                records.push((record.offset.0, record.value.unwrap().to_vec()));
            }
        }
    }
    assert_eq!(records, oracle.records_from(oracle.log_start));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_oracle(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model-0");
        run(async move {
            // One open segment file per log: every other segment's files
            // close and open again as the model reads and writes them.
            let storage = Storage::os().with_open_segments_max(1);
            let mut log = PartitionLog::open_in(&storage, &path, config()).await.unwrap();
            let mut oracle = Oracle::default();
            let mut tag = 0u64;
            for op in ops {
                match op {
                    Op::Append { records, value_bytes } => {
                        let mut builder = BatchBuilder::new();
                        let mut values = Vec::new();
                        for index in 0..records {
                            let mut value = format!("{tag}/{index}/").into_bytes();
                            value.resize(value.len() + value_bytes, b'a' + (tag % 26) as u8);
                            values.push(value.clone());
                            builder.push(Record::value(value, TimestampMs(1_000 + tag as i64)));
                        }
                        tag += 1;
                        let bytes = builder.build();
                        let info = log.append(&bytes).await.unwrap();
                        assert_eq!(info.base_offset, Offset(oracle.end()));
                        oracle.batches.push((info.base_offset.0, values));
                    }
                    Op::Restart { clean } => {
                        if clean {
                            log.close().await.unwrap();
                        } else {
                            drop(log);
                        }
                        log = PartitionLog::open_in(&storage, &path, config()).await.unwrap();
                    }
                    Op::RetainBytes { limit } => {
                        log.set_config(LogConfig { retention_bytes: Some(limit), ..config() }).unwrap();
                        let outcome = log.enforce_retention(TimestampMs::now()).await.unwrap();
                        log.set_config(config()).unwrap();
                        assert!(outcome.log_start_offset.0 >= oracle.log_start);
                        oracle.log_start = outcome.log_start_offset.0;
                        oracle.batches.retain(|(base, values)| base + values.len() as i64 > outcome.log_start_offset.0);
                    }
                    Op::DeleteRecords { fraction } => {
                        let span = oracle.end() - oracle.log_start;
                        let target = oracle.log_start + (span as f64 * fraction) as i64;
                        let start = log.delete_records_before(Offset(target)).await.unwrap();
                        assert_eq!(start, Offset(target.max(oracle.log_start)));
                        oracle.log_start = start.0;
                        oracle.batches.retain(|(base, values)| base + values.len() as i64 > start.0);
                    }
                    Op::TruncateTo { fraction } => {
                        let span = oracle.end() - oracle.log_start;
                        let target = oracle.log_start + (span as f64 * fraction) as i64;
                        // The batch holding `target` goes whole, unless it
                        // starts below the log start (then truncation stops there).
                        let expected = oracle
                            .batches
                            .iter()
                            .find(|(base, values)| base + values.len() as i64 > target)
                            .map_or(oracle.end(), |(base, _)| *base);
                        if expected < oracle.log_start {
                            continue;
                        }
                        let end = log.truncate_to(Offset(target)).await.unwrap();
                        assert_eq!(end, Offset(expected));
                        oracle.batches.retain(|(base, _)| *base < expected);
                    }
                }
                check(&log, &oracle).await;
                let (open_max, open, _) = storage.open_segments();
                assert!(open <= open_max, "{open} segment files open, budget {open_max}");
            }
            if log.segment_count() > 1 {
                assert!(storage.open_segments().2 > 0, "reads of older segments reopened them");
            }
            log.close().await.unwrap();
        });
    }
}
