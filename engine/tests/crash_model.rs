//! Power loss at thousands of random points, through the simulated
//! filesystem's crash model (`engine/src/io/sim.rs`): each file keeps a
//! random prefix of its writes since its last fdatasync, the last one maybe
//! torn at 512-byte granularity, and each directory a random prefix of its
//! creates, renames and unlinks since its last fsync.
//!
//! Each case runs a random workload on one log — appends with acks=1 and
//! acks=all, several at once (a third of the workloads mostly acks=1, so
//! unsynced writes pile up); rolls (small segments); retention;
//! DeleteRecords; truncation; the offsets log's pattern (append without
//! waiting, wait for the fdatasync, move the log start past a snapshot);
//! clean restarts — and cuts the power after a random number of storage
//! operations. Then recovery opens what survived, and:
//!
//! - it always opens;
//! - every batch whose durable answer returned is there, byte for byte at
//!   its offset, unless the workload itself removed it;
//! - every batch there is one that was appended at that offset (nothing
//!   invented, nothing from before a completed truncation);
//! - offsets are contiguous from the log start to the log end, and the log
//!   start never passes what the workload asked for;
//! - the recovered log takes appends and opens again.
//!
//! `RINGLOG_CRASH_POINTS` sets the number of cases (default 2000, well
//! under a minute on a 2-core machine in a debug build);
//! `RINGLOG_CRASH_SEED` runs the one case a failure names, and
//! `RINGLOG_CRASH_VERBOSE` prints every step and what the crash lost.
//! The summary line (on stderr) counts the writes the crashes dropped and
//! tore, so a change that makes crashes toothless shows.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use engine::sim::{SimFs, XorShift};
use engine::{AppendInfo, Durability, LogConfig, Offset, PartitionLog, Storage, TimestampMs};
use support::*;

const CRASH_POINTS_DEFAULT: u64 = 2000;

/// Crash points are drawn from `[1, CRASH_AFTER_MAX]` storage operations,
/// about what a whole workload takes: most cases crash inside it, the rest
/// at its end (with whatever was not yet synced still up for grabs).
const CRASH_AFTER_MAX: u64 = 700;

/// What the workload did, as recovery must find it.
#[derive(Default)]
struct Oracle {
    /// Every batch that got offsets, as the log stores it, by base offset.
    appended: BTreeMap<Offset, (Offset, Vec<u8>)>,
    /// Every batch ending at or below this got a durable answer.
    durable_end: Offset,
    /// The highest log start the workload moved to.
    start_bound: Offset,
}

impl Oracle {
    fn appended(&mut self, info: &AppendInfo, bytes: &[u8]) {
        self.appended
            .insert(info.base_offset, (info.next_offset(), stamped(bytes, info)));
    }

    fn durable(&mut self, end: Offset) {
        self.durable_end = self.durable_end.max(end);
    }
}

struct Case {
    seed: u64,
    crash_after: u64,
    config: LogConfig,
}

thread_local! {
    static CURRENT: RefCell<String> = const { RefCell::new(String::new()) };
}

fn dir() -> PathBuf {
    PathBuf::from("/log/crash-0")
}

fn config_for(random: &mut XorShift) -> LogConfig {
    let mut config = small_config([8192, 65536, 262_144, 1 << 20][random.below(4) as usize]);
    config.index_interval_bytes = [256, 1024, 4096][random.below(3) as usize];
    if random.chance(1, 2) {
        config.retention_bytes = Some(8192 + random.below(32768));
    }
    if random.chance(1, 4) {
        config.flush_messages = Some(1 + random.below(20));
    }
    config
}

fn random_batch(random: &mut XorShift, tag: u64) -> Vec<u8> {
    let records = 1 + random.below(6) as usize;
    // Now and then a batch of 50-300 KB, so that some rounds write 128 KiB
    // or more of the open tail chunk and split it in place (`tail.rs`).
    let value_bytes = if random.chance(1, 30) {
        50_000
    } else {
        [8, 100, 700, 1500, 3000][random.below(5) as usize]
    };
    batch(tag, records, value_bytes, 1_700_000_000_000)
}

/// Appends one batch and waits as `durability` says; records what happened.
async fn append(
    log: &PartitionLog,
    oracle: &RefCell<Oracle>,
    bytes: Vec<u8>,
    durability: Durability,
) -> bool {
    let Ok(info) = log.append_queued(&bytes).await else {
        return false;
    };
    oracle.borrow_mut().appended(&info, &bytes);
    match log.append_done(info, durability).await {
        Ok(info) => {
            if durability == Durability::Flushed {
                oracle.borrow_mut().durable(info.next_offset());
            }
            true
        }
        Err(_) => false,
    }
}

/// Runs the workload until it ends or the power goes.
async fn workload(
    storage: &Storage,
    fs: &Rc<SimFs>,
    random: &mut XorShift,
    case: &Case,
    oracle: &Rc<RefCell<Oracle>>,
) {
    let Ok(opened) = PartitionLog::open_in(storage, dir(), case.config.clone()).await else {
        return;
    };
    let mut log = Rc::new(opened);
    let mut tag = 0u64;
    // A third of the workloads are mostly acks=1 appends with little that
    // syncs, so a crash finds many unsynced writes to lose and tear.
    let unsynced_heavy = random.chance(1, 3);
    for _step in 0..60 {
        if fs.is_crashed() {
            break;
        }
        let choice = if unsynced_heavy {
            [random.below(60), 70 + random.below(8)][usize::from(random.chance(1, 10))]
        } else {
            random.below(100)
        };
        let ok = match choice {
            // Several appends at once, acks=1 and acks=all mixed: rounds in
            // flight together, fdatasyncs shared.
            0..=59 => {
                let count = 1 + random.below(6);
                // Often acks=1 only: unsynced writes pile up between
                // fdatasyncs, and the crash has them to lose.
                let durable_in_4 = if unsynced_heavy && !random.chance(1, 8) {
                    0
                } else {
                    [0, 0, 1, 4][random.below(4) as usize]
                };
                let tasks: Vec<_> = (0..count)
                    .map(|_| {
                        tag += 1;
                        let bytes = random_batch(random, tag);
                        let durability = if random.chance(durable_in_4, 4) {
                            Durability::Flushed
                        } else {
                            Durability::Written
                        };
                        let log = log.clone();
                        let oracle = oracle.clone();
                        glommio::spawn_local(async move {
                            append(&log, &oracle, bytes, durability).await
                        })
                    })
                    .collect();
                let mut all = true;
                for task in tasks {
                    all &= task.await;
                }
                all
            }
            // The offsets log's commit: offsets now, durability after.
            60..=69 => {
                tag += 1;
                let bytes = random_batch(random, tag);
                match log.append_nowait(&bytes) {
                    Ok(info) => {
                        oracle.borrow_mut().appended(&info, &bytes);
                        let end = info.next_offset();
                        let flushed = log.wait_flushed(end).await.is_ok();
                        if flushed {
                            oracle.borrow_mut().durable(end);
                        }
                        // Now and then a snapshot: the log start moves to it.
                        if flushed && random.chance(1, 4) {
                            let moved = log.delete_records_before(info.base_offset).await;
                            let start = log.log_start_offset();
                            let mut oracle = oracle.borrow_mut();
                            oracle.start_bound = oracle.start_bound.max(start);
                            moved.is_ok()
                        } else {
                            flushed
                        }
                    }
                    Err(_) => false,
                }
            }
            70..=77 => {
                let outcome = log.enforce_retention(TimestampMs::now()).await;
                let start = log.log_start_offset();
                let mut oracle = oracle.borrow_mut();
                oracle.start_bound = oracle.start_bound.max(start);
                outcome.is_ok()
            }
            78..=82 => {
                let (start, end) = (log.log_start_offset(), log.high_watermark());
                let offset = Offset(start.0 + random.below((end.0 - start.0 + 1) as u64) as i64);
                let outcome = log.delete_records_before(offset).await;
                let start = log.log_start_offset();
                let mut oracle = oracle.borrow_mut();
                oracle.start_bound = oracle.start_bound.max(start);
                outcome.is_ok()
            }
            83..=87 => {
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                let offset = Offset(start.0 + random.below((end.0 - start.0 + 1) as u64) as i64);
                // Batches from `offset` on may go from here on.
                {
                    let mut oracle = oracle.borrow_mut();
                    oracle.durable_end = oracle.durable_end.min(offset);
                }
                match log.truncate_to(offset).await {
                    Ok(new_end) => {
                        let mut oracle = oracle.borrow_mut();
                        oracle.appended.retain(|base, _| *base < new_end);
                        oracle.durable_end = oracle.durable_end.min(new_end);
                        true
                    }
                    Err(_) => false,
                }
            }
            88..=94 => {
                let end = log.log_end_offset();
                let flushed = log.flush().await.is_ok();
                if flushed {
                    oracle.borrow_mut().durable(end);
                }
                flushed
            }
            // A clean restart: close flushes and seals, open trusts that.
            _ => {
                let end = log.log_end_offset();
                let owned = Rc::try_unwrap(log).unwrap_or_else(|_| panic!("no task holds the log"));
                if owned.close().await.is_err() {
                    return;
                }
                oracle.borrow_mut().durable(end);
                match PartitionLog::open_in(storage, dir(), case.config.clone()).await {
                    Ok(reopened) => {
                        log = Rc::new(reopened);
                        true
                    }
                    Err(_) => return,
                }
            }
        };
        if std::env::var("RINGLOG_CRASH_VERBOSE").is_ok() {
            eprintln!(
                "  step {choice}: ok {ok}, ops {}, pending {:?}",
                fs.ops(),
                fs.durable_image().losses()
            );
        }
        // Without the crash every step succeeds.
        assert!(ok || fs.is_crashed(), "step {choice} failed with no crash");
    }
}

/// Opens what survived the crash and checks it against the oracle.
async fn verify(image: &Rc<SimFs>, case: &Case, oracle: &Oracle) {
    let storage = Storage::simulated(image.clone()).with_open_segments_max(1);
    let log = PartitionLog::open_in(&storage, dir(), case.config.clone())
        .await
        .expect("recovery always opens");
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    assert_eq!(log.high_watermark(), end, "recovered data is all written");
    assert!(
        start <= oracle.start_bound.max(Offset::ZERO),
        "log start {start} passed what was asked ({})",
        oracle.start_bound
    );
    // Contiguous, valid batches (read_all checks), each one appended there.
    let stored = read_all(&log, start).await;
    let mut present = BTreeMap::new();
    for bytes in &stored {
        let batch = engine::record_batch::RecordBatch::parse(
            bytes,
            engine::record_batch::Validation::Stored,
        )
        .unwrap();
        let base = batch.base_offset();
        let expected = oracle.appended.get(&base);
        assert_eq!(
            expected.map(|(_, bytes)| bytes.as_slice()),
            Some(bytes.as_slice()),
            "the batch at {base} is not the one appended there"
        );
        present.insert(base, batch.next_offset());
    }
    // Every durable batch the workload did not remove is there.
    for (base, (next, _)) in &oracle.appended {
        if *next <= oracle.durable_end && *next > oracle.start_bound && *next > start {
            assert!(
                present.contains_key(base),
                "durable batch [{base}, {next}) lost (log [{start}, {end}), durable end {})",
                oracle.durable_end
            );
        }
    }
    // The recovered log works: it takes an append and opens again.
    let bytes = batch(u64::MAX, 2, 50, 1_700_000_000_000);
    let info = log
        .append_durable(&bytes)
        .await
        .expect("append after recovery");
    assert_eq!(info.base_offset, end);
    log.close().await.expect("close after recovery");
    let again = PartitionLog::open_in(&storage, dir(), case.config.clone())
        .await
        .expect("reopen after recovery");
    assert_eq!(again.log_end_offset(), info.next_offset());
}

/// Runs one case; returns the operations it took, whether it crashed, and
/// what the crash lost.
async fn run_case(case: Case) -> (u64, bool, engine::sim::CrashLosses) {
    let mut random = XorShift::new(case.seed);
    let fs = SimFs::new(case.seed);
    fs.create_dir_all_synced(Path::new("/log"));
    fs.crash_after(case.crash_after);
    // A third of the cases keep one segment file open, a third two: the
    // others close and open again (the shard's open-file budget).
    let open_segments_max = [1, 2, 4096][(case.seed % 3) as usize];
    let storage = Storage::simulated(fs.clone()).with_open_segments_max(open_segments_max);
    let oracle = Rc::new(RefCell::new(Oracle::default()));
    workload(&storage, &fs, &mut random, &case, &oracle).await;
    let (ops, crashed) = (fs.ops(), fs.is_crashed());
    // Let the writer task of the dropped log see the crash and stop.
    glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    let image = fs.crash_image(case.seed ^ 0xc0ff_ee00);
    let losses = image.losses();
    if std::env::var("RINGLOG_CRASH_VERBOSE").is_ok() {
        eprintln!(
            "pending at the crash: {:?}; image lost {losses:?}",
            fs.durable_image().losses()
        );
    }
    // Every task that held the oracle has finished: take it out.
    let oracle = Rc::try_unwrap(oracle)
        .unwrap_or_else(|_| panic!("no task holds the oracle"))
        .into_inner();
    verify(&image, &case, &oracle).await;
    (ops, crashed, losses)
}

#[test]
fn every_durable_append_survives_a_power_loss_at_any_point() {
    let points: u64 = std::env::var("RINGLOG_CRASH_POINTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(CRASH_POINTS_DEFAULT);
    let only: Option<u64> = std::env::var("RINGLOG_CRASH_SEED")
        .ok()
        .and_then(|value| value.parse().ok());
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        CURRENT.with(|current| eprintln!("crash case: {}", current.borrow()));
        default_hook(info);
    }));
    run(async move {
        let seeds: Vec<u64> = match only {
            Some(seed) => vec![seed],
            None => (1..=points).collect(),
        };
        let mut crashed_mid_workload = 0;
        let mut lost = engine::sim::CrashLosses::default();
        for seed in seeds {
            let mut random = XorShift::new(seed.wrapping_mul(31));
            let crash_after = 1 + random.below(CRASH_AFTER_MAX);
            let config = config_for(&mut random);
            CURRENT.with(|current| {
                *current.borrow_mut() = format!(
                    "RINGLOG_CRASH_SEED={seed} (crash after {crash_after} operations, {config:?})"
                )
            });
            let started = std::time::Instant::now();
            let (ops, crashed, losses) = run_case(Case {
                seed,
                crash_after,
                config,
            })
            .await;
            crashed_mid_workload += u64::from(crashed);
            lost.file_ops_dropped += losses.file_ops_dropped;
            lost.writes_torn += losses.writes_torn;
            lost.dir_ops_dropped += losses.dir_ops_dropped;
            if std::env::var("RINGLOG_CRASH_VERBOSE").is_ok() {
                eprintln!(
                    "seed {seed}: {ops} operations, crashed {crashed}, {:?}",
                    started.elapsed()
                );
            }
        }
        eprintln!(
            "{crashed_mid_workload} of {points} cases crashed inside the workload; lost {lost:?}"
        );
        if only.is_none() {
            assert!(
                crashed_mid_workload * 2 > points,
                "most cases must crash inside the workload ({crashed_mid_workload} of {points})"
            );
        }
    });
}
