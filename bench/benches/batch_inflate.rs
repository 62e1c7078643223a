//! Validation throughput of compressed batches from a producer
//! (`record_batch::validate_records`: bounded inflate plus the record walk),
//! per codec, in MB/s of *inflated* records, for a batch that inflates to
//! about 1 MiB of 1 KB records whose values are JSON-like text (4-8x
//! compressible, as logs with request ids are). `none` walks the same records uncompressed:
//! the walk's own cost. `gzip_steps_64KiB` runs the cooperative form
//! (`BatchValidator::step` in 64 KiB pieces) to show what the pieces cost.
//! `legacy_conversion` measures what Fetch v0-v3 and Produce v0-v2 cost:
//! `down_convert` of the same stored batch to magic 1, and `up_convert` of
//! the message set that gives, in MB/s of inflated records.
//! One core; see docs/storage.md for the figures.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::limits::{
    batch_inflated_bytes_max, BATCH_HEADER_BYTES, INFLATE_PIECE_BYTES, MESSAGE_BYTES_DEFAULT,
};
use engine::record_batch::legacy::{down_convert, up_convert};
use engine::record_batch::{
    stamp, validate_records, AppendStamp, BatchBuilder, BatchValidator, Compression, Record,
    RecordBatch, Step, Validation,
};
use engine::{Offset, TimestampMs};
use ringlog_bench::{RECORD_VALUE_BYTES, TIMESTAMP};

const BOUND: usize = batch_inflated_bytes_max(MESSAGE_BYTES_DEFAULT);

/// About 1 MiB of records once inflated.
fn batch(compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new().compression(compression);
    // xorshift64: reproducible ids that do not compress, as request ids
    // and trace ids in real logs do not.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for index in 0..1024u64 {
        let mut value = Vec::with_capacity(RECORD_VALUE_BYTES);
        while value.len() < RECORD_VALUE_BYTES {
            let line = format!(
                "{{\"seq\":{index},\"trace\":\"{:016x}{:016x}\",\"user\":\"u{}\",\"path\":\"/api/v1/items/{}\",\"status\":{},\"ms\":{}}}",
                random(),
                random(),
                random() % 100_000,
                random() % 10_000,
                200 + (index % 5) * 100,
                random() % 2_000
            );
            value.extend_from_slice(line.as_bytes());
        }
        value.truncate(RECORD_VALUE_BYTES);
        builder.push(Record::value(
            value,
            TimestampMs(TIMESTAMP.0 + index as i64),
        ));
    }
    builder.build()
}

fn inflated_bytes(bytes: &[u8]) -> usize {
    let batch = RecordBatch::parse(bytes, Validation::Client).expect("valid");
    validate_records(&batch, BOUND)
        .expect("valid")
        .inflated_bytes
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_inflate_validate");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, compression) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let bytes = batch(compression);
        let inflated = inflated_bytes(&bytes);
        eprintln!(
            "{name}: {} bytes on the wire, {inflated} inflated ({:.1}x)",
            bytes.len(),
            inflated as f64 / (bytes.len() - BATCH_HEADER_BYTES) as f64
        );
        group.throughput(Throughput::Bytes(inflated as u64));
        group.bench_with_input(BenchmarkId::new("one_shot", name), &bytes, |b, bytes| {
            b.iter(|| {
                let batch = RecordBatch::parse(black_box(bytes), Validation::Client).unwrap();
                black_box(validate_records(&batch, BOUND).unwrap())
            })
        });
        if compression == Compression::Gzip {
            group.bench_with_input(BenchmarkId::new("steps_64KiB", name), &bytes, |b, bytes| {
                b.iter(|| {
                    let batch = RecordBatch::parse(black_box(bytes), Validation::Client).unwrap();
                    let mut validator = BatchValidator::new(batch, BOUND).unwrap();
                    loop {
                        if let Step::Done(summary) = validator.step(INFLATE_PIECE_BYTES).unwrap() {
                            break black_box(summary);
                        }
                    }
                })
            });
        }
    }
    group.finish();
}

fn legacy_conversion(c: &mut Criterion) {
    let mut group = c.benchmark_group("legacy_conversion");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, compression) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("lz4", Compression::Lz4),
    ] {
        let mut stored = batch(compression);
        let inflated = inflated_bytes(&stored);
        stamp(
            &mut stored,
            AppendStamp {
                base_offset: Offset(1_000_000),
                partition_leader_epoch: 0,
                log_append_time: None,
            },
        )
        .expect("stamp");
        group.throughput(Throughput::Bytes(inflated as u64));
        group.bench_with_input(
            BenchmarkId::new("down_to_v1", name),
            &stored,
            |b, stored| {
                b.iter(|| {
                    black_box(down_convert(black_box(stored), 1, BOUND, &[], usize::MAX).unwrap())
                })
            },
        );
        let set = down_convert(&stored, 1, BOUND, &[], usize::MAX)
            .unwrap()
            .message_set;
        group.bench_with_input(BenchmarkId::new("up_from_v1", name), &set, |b, set| {
            b.iter(|| black_box(up_convert(black_box(set), BOUND).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, validation, legacy_conversion);
criterion_main!(benches);
