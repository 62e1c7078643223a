//! Partition-log benchmarks, through the engine's public API:
//!
//! - `append/<batch>`: bytes/s of `PartitionLog::append` of 1 KB-record
//!   batches (16 KiB, 256 KiB, 1 MiB) into a fresh log (segment.bytes =
//!   1 GiB) with `RINGLOG_BENCH_APPENDERS` (default 8) appenders in flight,
//!   as concurrent tasks on one glommio executor. A sample runs inside one
//!   `block_on`; it times from the first timed append until every append
//!   returned (the bytes are in the file: O_DIRECT writes completed). Open,
//!   a first untimed append (which creates the segment file) and close
//!   (flush, seal) are not timed.
//! - `read_lookup/<batch>`: latency of `PartitionLog::read(offset, 1 MiB)` at
//!   random offsets of a ~200 MB log of sealed segments (the index lookup
//!   plus the O_DIRECT pread of batch headers); the result's file ranges are
//!   not read.
//!
//! Logs live under `$RINGLOG_BENCH_DIR` (default: the temp dir).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::runtime::block_on;
use engine::{Offset, PartitionLog};
use ringlog_bench::{
    batch_of_1k_records, env_usize, log_config, single_record_batch, temp_dir, XorShift,
    BATCH_SIZES, SEGMENT_BYTES_1GIB,
};

/// Appends `iters` copies of `batch` into a fresh log with `appenders`
/// concurrent tasks; returns the time from the first append to the last
/// completion.
fn run_appends(batch: &[u8], iters: u64, appenders: usize) -> Duration {
    let dir = temp_dir();
    let path = dir.path().join("append-0");
    let batch = batch.to_vec();
    block_on(async move {
        let log = Rc::new(
            PartitionLog::open(&path, log_config(SEGMENT_BYTES_1GIB))
                .await
                .expect("open"),
        );
        // The first append creates the segment file (open + directory
        // fsync): a one-off cost kept out of the timing.
        let first = batch.clone();
        log.append(&first).await.expect("first append");
        let remaining = Rc::new(Cell::new(iters));
        let start = Instant::now();
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let log = log.clone();
                let remaining = remaining.clone();
                let buffer = batch.clone();
                glommio::spawn_local(async move {
                    while remaining.get() > 0 {
                        remaining.set(remaining.get() - 1);
                        log.append(&buffer).await.expect("append");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let elapsed = start.elapsed();
        let log = Rc::try_unwrap(log).unwrap_or_else(|_| panic!("appenders still hold the log"));
        log.close().await.expect("close");
        elapsed
    })
}

fn append(c: &mut Criterion) {
    let appenders = env_usize("RINGLOG_BENCH_APPENDERS", 8);
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (label, nominal) in BATCH_SIZES {
        let batch = batch_of_1k_records(nominal);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| run_appends(&batch, iters, appenders))
        });
    }
    group.finish();
}

/// A closed log of about `total_bytes` of `batch`es in segments of
/// `segment_bytes`, and the first offset of its active segment (every
/// offset below it is in a sealed segment).
struct ReadLog {
    _dir: tempfile::TempDir,
    path: PathBuf,
    sealed_end: Offset,
}

fn build_read_log(batch: &[u8], total_bytes: u64, segment_bytes: u64) -> ReadLog {
    let dir = temp_dir();
    let path = dir.path().join("read-0");
    let owned_path = path.clone();
    let buffer = batch.to_vec();
    let sealed_end = block_on(async move {
        let log = PartitionLog::open(&owned_path, log_config(segment_bytes))
            .await
            .expect("open");
        let mut appended = 0u64;
        let mut unwaited = 0u64;
        while appended < total_bytes {
            let info = log.append_nowait(&buffer).expect("append");
            appended += buffer.len() as u64;
            unwaited += buffer.len() as u64;
            if unwaited >= 8 * 1024 * 1024 {
                log.wait_written(info.next_offset()).await.expect("written");
                unwaited = 0;
            }
        }
        let sealed_end = *log.segment_base_offsets().last().expect("a segment");
        assert!(log.segment_count() >= 4, "expected several segments");
        log.close().await.expect("close");
        sealed_end
    });
    ReadLog {
        _dir: dir,
        path,
        sealed_end,
    }
}

/// Times `iters` reads of 1 MiB at random offsets below `sealed_end`.
fn run_reads(
    path: &Path,
    sealed_end: Offset,
    segment_bytes: u64,
    iters: u64,
    seed: u64,
) -> Duration {
    let path = path.to_path_buf();
    block_on(async move {
        let log = PartitionLog::open(&path, log_config(segment_bytes))
            .await
            .expect("open");
        let mut random = XorShift::new(seed);
        let first = log.log_start_offset().0;
        let span = (sealed_end.0 - first) as u64;
        let start = Instant::now();
        for _ in 0..iters {
            let offset = Offset(first + random.below(span) as i64);
            let result = log.read(offset, 1024 * 1024).await.expect("read");
            assert!(!result.is_empty());
            std::hint::black_box(result);
        }
        let elapsed = start.elapsed();
        log.close().await.expect("close");
        elapsed
    })
}

fn read_lookup(c: &mut Criterion) {
    const TOTAL_BYTES: u64 = 210 * 1000 * 1000;
    const SEGMENT_BYTES: u64 = 50 * 1024 * 1024;
    let mut group = c.benchmark_group("read_lookup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (label, batch) in [
        ("16KiB-batches", batch_of_1k_records(16 * 1024)),
        ("1KiB-batches", single_record_batch(1024)),
    ] {
        let log = build_read_log(&batch, TOTAL_BYTES, SEGMENT_BYTES);
        let mut seed = 0x5eed;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_custom(|iters| {
                seed += 1;
                run_reads(&log.path, log.sealed_end, SEGMENT_BYTES, iters, seed)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append, read_lookup);
criterion_main!(benches);
