//! Executors one after another on the same thread (as in tests and benches,
//! and whenever a tool opens logs more than once): tail chunks recycled by
//! one executor must not be written by the next. glommio may carve a chunk
//! from an executor's io_uring-registered memory and write it as a fixed
//! buffer of that ring; another ring rejects it with EFAULT, and the log
//! would go offline.

mod support;

use std::rc::Rc;

use engine::{LogConfig, Offset, PartitionLog};
use support::*;

const APPENDERS: u64 = 8;
const BATCHES_PER_APPENDER: u64 = 3;

#[test]
fn logs_written_by_executors_in_turn_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..4u64 {
        let path = dir.path().join(format!("topic-{round}"));
        run(async move {
            let log = Rc::new(
                PartitionLog::open(&path, LogConfig::default())
                    .await
                    .unwrap(),
            );
            // ~24 MiB in 1 MiB batches from concurrent appenders: more than
            // the tail keeps, so written chunks leave it and are recycled.
            let tasks: Vec<_> = (0..APPENDERS)
                .map(|appender| {
                    let log = log.clone();
                    glommio::spawn_local(async move {
                        for index in 0..BATCHES_PER_APPENDER {
                            let tag = round * 1000 + appender * 100 + index;
                            let bytes = batch(tag, 1000, 1000, 1_700_000_000_000);
                            log.append(&bytes).await.unwrap_or_else(|error| {
                                panic!("round {round}, batch {tag}: {error}")
                            });
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await;
            }
            let batches = read_all(&log, Offset(0)).await;
            assert_eq!(batches.len() as u64, APPENDERS * BATCHES_PER_APPENDER);
            assert_eq!(log.log_end_offset(), Offset(1000 * batches.len() as i64));
        });
    }
}
