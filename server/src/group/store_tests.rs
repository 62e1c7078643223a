//! The offsets log against an in-memory oracle: commits, group records and
//! tombstones go in, snapshots move the log start, and reading the log
//! back gives exactly the oracle's state.

use std::collections::BTreeMap;

use super::*;
use crate::group::record::{GroupValue, OffsetValue};
use engine::LogConfig;

const PARTITION: i32 = 3;

/// Small segments, so snapshots free whole segments in a short test.
fn test_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        ..log_config(LogConfig::default())
    }
}

/// Group ids that hash to `PARTITION`.
fn group_ids(count: usize) -> Vec<String> {
    (0..)
        .map(|index| format!("group-{index}"))
        .filter(|id| partition_for(id) == PARTITION)
        .take(count)
        .collect()
}

/// What each group's offsets and stored metadata should be.
type Oracle = BTreeMap<String, (BTreeMap<(String, i32), OffsetValue>, Option<GroupValue>)>;

fn oracle_of(groups: &Groups) -> Oracle {
    groups
        .iter()
        .map(|(id, group)| {
            (
                id.clone(),
                (group.offsets.clone(), group.stored_metadata.clone()),
            )
        })
        .collect()
}

fn commit(groups: &RefCell<Groups>, group_id: &str, partition: i32, offset: i64) -> LogRecord {
    let value = OffsetValue {
        offset,
        leader_epoch: 0,
        metadata: format!("m{offset}"),
        commit_timestamp_ms: offset,
    };
    groups
        .borrow_mut()
        .entry(group_id.to_string())
        .or_insert_with(|| Group::new(group_id.to_string()))
        .offsets
        .insert(("topic".to_string(), partition), value.clone());
    LogRecord::Offset {
        group_id: group_id.to_string(),
        topic: "topic".into(),
        partition,
        value: Some(value),
    }
}

fn metadata(groups: &RefCell<Groups>, group_id: &str, generation_id: i32) -> LogRecord {
    let value = GroupValue {
        protocol_type: "consumer".into(),
        generation_id,
        protocol_name: None,
        leader_id: None,
        state_timestamp_ms: 0,
        members: Vec::new(),
    };
    let mut groups = groups.borrow_mut();
    let group = groups
        .entry(group_id.to_string())
        .or_insert_with(|| Group::new(group_id.to_string()));
    group.restore(value.clone(), Instant::now());
    LogRecord::Group {
        group_id: group_id.to_string(),
        value: Some(value),
    }
}

#[test]
fn snapshots_bound_the_log_and_loading_gives_the_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("__consumer_offsets-3");
    engine::runtime::block_on(async move {
        let log = Rc::new(
            OffsetsLog::open(&path, test_config(), PARTITION)
                .await
                .unwrap(),
        );
        log.set_loaded(LoadStats::default());
        log.set_snapshot_after_bytes_min(16 * 1024);
        let groups = RefCell::new(Groups::new());
        let ids = group_ids(12);
        let mut last = None;
        for step in 0..6000i64 {
            let group_id = &ids[step as usize % ids.len()];
            let record = match step % 500 {
                // Now and then: a rebalance stored, a group deleted.
                7 => metadata(&groups, group_id, step as i32),
                13 => {
                    groups.borrow_mut().remove(group_id);
                    LogRecord::Group {
                        group_id: group_id.clone(),
                        value: None,
                    }
                }
                _ => commit(&groups, group_id, (step % 8) as i32, step),
            };
            let pending = append_to(&groups, &log, &[record]).unwrap();
            // Commits wait for durability; meanwhile snapshots complete.
            if step % 50 == 0 {
                pending.durable().await.unwrap();
                glommio::yield_if_needed().await;
            } else {
                last = Some(pending);
            }
        }
        last.unwrap().durable().await.unwrap();
        // Let the last snapshot's compaction finish (generously: on a
        // loaded 2-core machine one second was not always enough). A slow
        // snapshot lets many records pile up behind it, and only the next
        // append starts another: keep committing, as a busy coordinator
        // would, until a snapshot has caught up with the tail.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut step = 6000i64;
        loop {
            while log.snapshot_running() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the snapshot never finished"
                );
                glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            }
            if !log.wants_snapshot() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no snapshot caught up"
            );
            let record = commit(&groups, &ids[0], 0, step);
            step += 1;
            append_to(&groups, &log, &[record])
                .unwrap()
                .durable()
                .await
                .unwrap();
        }
        let start = log.log_start_offset();
        assert!(start.0 > 5000, "snapshots moved the start: {start:?}");
        assert!(
            log.segment_count() <= 4,
            "old segments went: {}",
            log.segment_count()
        );
        let segments = std::fs::read_dir(&path)
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".log")
            })
            .count();
        assert!(segments <= 4, "{segments} segment files");
        let expected = oracle_of(&groups.borrow());
        // Read back while open, then after a clean reopen.
        let (loaded, stats) = read_back(&log).await.unwrap();
        assert_eq!(oracle_of(&loaded), expected);
        assert!(stats.snapshot_bytes > 0, "{stats:?}");
        Rc::try_unwrap(log).ok().unwrap().close().await.unwrap();
        let reopened = OffsetsLog::open(&path, test_config(), PARTITION)
            .await
            .unwrap();
        let (loaded, stats) = read_back(&reopened).await.unwrap();
        assert_eq!(oracle_of(&loaded), expected);
        assert_eq!(stats.log_start_offset, start.0);
        assert!(
            stats.records < 200,
            "loading reads a snapshot and a tail: {stats:?}"
        );
    });
}

#[test]
fn a_snapshot_replayed_over_the_history_it_repeats_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("__consumer_offsets-3");
    engine::runtime::block_on(async move {
        let log = Rc::new(
            OffsetsLog::open(&path, test_config(), PARTITION)
                .await
                .unwrap(),
        );
        log.set_loaded(LoadStats::default());
        let groups = RefCell::new(Groups::new());
        let ids = group_ids(3);
        for step in 0..30 {
            let record = commit(&groups, &ids[step % 3], step as i32 % 2, step as i64);
            append_to(&groups, &log, &[record]).unwrap();
        }
        let record = metadata(&groups, &ids[0], 4);
        append_to(&groups, &log, &[record]).unwrap();
        // A snapshot whose start never moved (a crash right after it) ...
        let snapshot = snapshot_records(&groups.borrow(), PARTITION);
        log.append(&snapshot).unwrap();
        // ... then more history, a deleted offset and a deleted group.
        let record = commit(&groups, &ids[1], 5, 500);
        append_to(&groups, &log, &[record]).unwrap();
        groups
            .borrow_mut()
            .get_mut(&ids[1])
            .unwrap()
            .offsets
            .remove(&("topic".to_string(), 0));
        let tombstone = LogRecord::Offset {
            group_id: ids[1].clone(),
            topic: "topic".into(),
            partition: 0,
            value: None,
        };
        append_to(&groups, &log, &[tombstone]).unwrap();
        groups.borrow_mut().remove(&ids[2]);
        let pending = append_to(
            &groups,
            &log,
            &[LogRecord::Group {
                group_id: ids[2].clone(),
                value: None,
            }],
        )
        .unwrap();
        pending.durable().await.unwrap();
        let (loaded, _) = read_back(&log).await.unwrap();
        assert_eq!(oracle_of(&loaded), oracle_of(&groups.borrow()));
        assert!(!loaded.contains_key(&ids[2]));
        let restored = &loaded[&ids[0]];
        assert_eq!(restored.generation_id, 4);
        assert_eq!(restored.state, crate::group::GroupState::Empty);
    });
}
