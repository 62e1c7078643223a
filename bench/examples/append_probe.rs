//! Diagnostic for append throughput: for each (batch size, appenders) it
//! appends `RINGLOG_PROBE_MB` (default 2048) MB into a fresh log and prints
//! GB/s, where the time went (inside `append_nowait`, the synchronous CPU
//! part, versus waiting for the writer), and process CPU time.
//!
//! ```text
//! cargo run --release -p ringlog-bench --example append_probe -- [batch-KiB ...] [--appenders 1,8,32]
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::runtime::block_on;
use engine::PartitionLog;
use ringlog_bench::{batch_of_1k_records, env_usize, log_config, temp_dir, SEGMENT_BYTES_1GIB};

fn cpu_times() -> (Duration, Duration) {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields after the command: state is 0, utime is 11, stime is 12.
    let per_tick = Duration::from_secs(1) / 100;
    (per_tick * ticks(11) as u32, per_tick * ticks(12) as u32)
}

struct Probe {
    elapsed: Duration,
    in_append: Duration,
    bytes: u64,
    segments: usize,
}

fn probe(batch: &[u8], total_bytes: u64, appenders: usize) -> Probe {
    let dir = temp_dir();
    let path = dir.path().join("probe-0");
    let batch = batch.to_vec();
    let iters = total_bytes.div_ceil(batch.len() as u64);
    block_on(async move {
        let log = Rc::new(
            PartitionLog::open(&path, log_config(SEGMENT_BYTES_1GIB))
                .await
                .expect("open"),
        );
        let remaining = Rc::new(Cell::new(iters));
        let in_append = Rc::new(Cell::new(Duration::ZERO));
        let start = Instant::now();
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let log = log.clone();
                let remaining = remaining.clone();
                let in_append = in_append.clone();
                let buffer = batch.clone();
                glommio::spawn_local(async move {
                    while remaining.get() > 0 {
                        remaining.set(remaining.get() - 1);
                        let before = Instant::now();
                        let info = log.append_nowait(&buffer).expect("append");
                        in_append.set(in_append.get() + before.elapsed());
                        log.wait_written(info.next_offset()).await.expect("written");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let elapsed = start.elapsed();
        let segments = log.segment_count();
        let log = Rc::try_unwrap(log).unwrap_or_else(|_| panic!("appenders hold the log"));
        log.close().await.expect("close");
        Probe {
            elapsed,
            in_append: in_append.get(),
            bytes: iters * batch.len() as u64,
            segments,
        }
    })
}

fn main() {
    let mut sizes_kib: Vec<usize> = Vec::new();
    let mut appenders: Vec<usize> = vec![1, 2, 8, 32];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--appenders" {
            let list = args.next().expect("--appenders needs a list");
            appenders = list
                .split(',')
                .map(|n| n.parse().expect("a number"))
                .collect();
        } else if let Ok(kib) = arg.parse() {
            sizes_kib.push(kib);
        }
    }
    if sizes_kib.is_empty() {
        sizes_kib = vec![16, 256, 1024];
    }
    let total = env_usize("RINGLOG_PROBE_MB", 2048) as u64 * 1_000_000;
    println!(
        "{:>9} {:>9} {:>8} {:>9} {:>12} {:>10} {:>9} {:>9}",
        "batch", "appenders", "GB/s", "wall ms", "append_nowait", "µs/batch", "user ms", "sys ms"
    );
    for kib in sizes_kib {
        let batch = batch_of_1k_records(kib * 1024);
        for &count in &appenders {
            let (user_before, sys_before) = cpu_times();
            let result = probe(&batch, total, count);
            let (user_after, sys_after) = cpu_times();
            let batches = result.bytes / batch.len() as u64;
            println!(
                "{:>9} {:>9} {:>8.3} {:>9.0} {:>11.0}ms {:>10.1} {:>9} {:>9}   ({} segments)",
                batch.len(),
                count,
                result.bytes as f64 / result.elapsed.as_secs_f64() / 1e9,
                result.elapsed.as_secs_f64() * 1e3,
                result.in_append.as_secs_f64() * 1e3,
                result.in_append.as_secs_f64() * 1e6 / batches as f64,
                (user_after - user_before).as_millis(),
                (sys_after - sys_before).as_millis(),
                result.segments,
            );
        }
    }
}
