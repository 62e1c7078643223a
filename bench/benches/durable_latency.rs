//! Latency percentiles of `PartitionLog::append_durable` (returns after an
//! fdatasync covers the batch; concurrent calls share one fdatasync) for
//! 1 KiB single-record batches, with 1 and 16 concurrent appenders on one
//! glommio executor. Criterion reports means, not tails, so this is a
//! plain harness that prints p50 / p99 / p99.9 / max itself.
//!
//! Each configuration runs for `RINGLOG_BENCH_DURABLE_SECS` seconds
//! (default 4) after a 0.5 s warm-up, in a fresh log (segment.bytes = 1 GiB)
//! under `$RINGLOG_BENCH_DIR` (default: the temp dir).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::runtime::block_on;
use engine::PartitionLog;
use ringlog_bench::{
    env_usize, log_config, micros, percentile, single_record_batch, temp_dir, SEGMENT_BYTES_1GIB,
};

const BATCH_BYTES: usize = 1024;
const WARM_UP: Duration = Duration::from_millis(500);

struct Outcome {
    latencies: Vec<Duration>,
    elapsed: Duration,
    fdatasyncs: u64,
}

fn run(appenders: usize, duration: Duration) -> Outcome {
    let dir = temp_dir();
    let path = dir.path().join("durable-0");
    let batch = single_record_batch(BATCH_BYTES);
    block_on(async move {
        let log = Rc::new(
            PartitionLog::open(&path, log_config(SEGMENT_BYTES_1GIB))
                .await
                .expect("open"),
        );
        let latencies = Rc::new(RefCell::new(Vec::with_capacity(1 << 20)));
        let started = Instant::now();
        let measure_from = started + WARM_UP;
        let stop_at = measure_from + duration;
        let fdatasyncs_at_start = Rc::new(Cell::new(None));
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let log = log.clone();
                let latencies = latencies.clone();
                let fdatasyncs_at_start = fdatasyncs_at_start.clone();
                let buffer = batch.clone();
                glommio::spawn_local(async move {
                    loop {
                        let before = Instant::now();
                        if before >= stop_at {
                            break;
                        }
                        log.append_durable(&buffer).await.expect("append_durable");
                        if before >= measure_from {
                            if fdatasyncs_at_start.get().is_none() {
                                fdatasyncs_at_start.set(Some(log.fdatasync_count()));
                            }
                            latencies.borrow_mut().push(before.elapsed());
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let elapsed = measure_from.elapsed();
        let fdatasyncs = log.fdatasync_count() - fdatasyncs_at_start.get().unwrap_or(0);
        let log = Rc::try_unwrap(log).unwrap_or_else(|_| panic!("appenders still hold the log"));
        log.close().await.expect("close");
        let latencies = Rc::try_unwrap(latencies)
            .expect("appenders are done")
            .into_inner();
        Outcome {
            latencies,
            elapsed,
            fdatasyncs,
        }
    })
}

fn main() {
    // `cargo bench -- <filter>` passes a filter and `--bench`: honour a
    // filter by substring of the configuration name.
    let filter: Option<String> = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let seconds = env_usize("RINGLOG_BENCH_DURABLE_SECS", 4) as u64;
    println!(
        "append_durable latency, {BATCH_BYTES}-byte batches, {seconds} s per configuration (after {} ms warm-up)",
        WARM_UP.as_millis()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11} {:>13}",
        "configuration",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "appends",
        "appends/s",
        "appends/sync"
    );
    for appenders in [1usize, 16] {
        let name = format!(
            "durable_latency/{appenders}-appender{}",
            if appenders == 1 { "" } else { "s" }
        );
        if filter
            .as_deref()
            .is_some_and(|filter| !name.contains(filter))
        {
            continue;
        }
        let mut outcome = run(appenders, Duration::from_secs(seconds));
        outcome.latencies.sort_unstable();
        let samples = &outcome.latencies;
        let count = samples.len();
        println!(
            "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11.0} {:>13.2}",
            name,
            micros(percentile(samples, 0.50)),
            micros(percentile(samples, 0.90)),
            micros(percentile(samples, 0.99)),
            micros(percentile(samples, 0.999)),
            micros(*samples.last().expect("samples")),
            count,
            count as f64 / outcome.elapsed.as_secs_f64(),
            count as f64 / outcome.fdatasyncs.max(1) as f64,
        );
    }
}
