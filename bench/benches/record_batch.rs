//! Record-batch validation throughput: `RecordBatch::parse` with
//! `Validation::Client` (CRC-32C + a walk of every record) and
//! `Validation::Stored` (header + CRC-32C only), one core, batches of
//! 16 KiB, 256 KiB and 1 MiB made of 1 KB records.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::record_batch::{RecordBatch, Validation};
use ringlog_bench::{batch_of_1k_records, BATCH_SIZES};

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_batch_parse");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, nominal) in BATCH_SIZES {
        let batch = batch_of_1k_records(nominal);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        for (name, mode) in [
            ("client", Validation::Client),
            ("stored", Validation::Stored),
        ] {
            group.bench_with_input(BenchmarkId::new(name, label), &batch, |b, batch| {
                b.iter(|| {
                    let parsed = RecordBatch::parse(black_box(batch), mode).expect("valid batch");
                    black_box(parsed.records_count())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
