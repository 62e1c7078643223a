//! `ringlog get-offsets` (kafka-get-offsets.sh) end to end: latest,
//! earliest and by-time offsets as `topic:partition:offset`, sorted as
//! Kafka sorts them, checked against what was produced.

mod support;
mod tools_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::kafka::{producer, send_all, Sent};

fn to_partition(partition: i32, value: String) -> Sent {
    Sent {
        partition,
        key: None,
        value: value.into_bytes(),
        headers: Vec::new(),
        timestamp: None,
    }
}
use support::Broker;
use tools_support::{create_topic_with_tool, ringlog};

#[test]
fn offsets_latest_earliest_and_by_time() {
    let broker = Broker::start(2);
    let b = broker.bootstrap();
    create_topic_with_tool(&b, "counted", 12);
    create_topic_with_tool(&b, "other", 1);
    // Partition p gets p + 1 records; the second half after `middle`.
    let client = producer(&b, &[]);
    let records: Vec<Sent> = (0..12)
        .flat_map(|p| (0..=p).map(move |i| to_partition(p, format!("r{i}"))))
        .collect();
    for delivered in send_all(&client, "counted", &records) {
        assert!(delivered.error.is_none(), "{delivered:?}");
    }
    std::thread::sleep(Duration::from_millis(30));
    let middle = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    std::thread::sleep(Duration::from_millis(30));
    for delivered in send_all(&client, "counted", &[to_partition(3, "late".into())]) {
        assert!(delivered.error.is_none(), "{delivered:?}");
    }

    let latest = ringlog(&[
        "get-offsets",
        "--bootstrap-server",
        &b,
        "--topic",
        "counted",
    ]);
    // Sorted as text, "counted-10" before "counted-2", as Kafka's TreeMap does.
    let mut expected: Vec<(String, String)> = (0..12)
        .map(|p| {
            let end = p + 1 + i32::from(p == 3);
            (format!("counted-{p}"), format!("counted:{p}:{end}"))
        })
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, line)| line).collect();
    assert_eq!(latest.ok(), expected);
    let earliest = ringlog(&[
        "get-offsets",
        "--bootstrap-server",
        &b,
        "--topic",
        "counted",
        "--time",
        "-2",
        "--partitions",
        "0,3",
    ]);
    assert_eq!(earliest.ok(), ["counted:0:0", "counted:3:0"]);
    // By time: only partition 3 has a record after `middle`, at offset 4.
    let by_time = ringlog(&[
        "get-offsets",
        "--bootstrap-server",
        &b,
        "--topic",
        "count.*",
        "--time",
        &middle.to_string(),
    ]);
    assert_eq!(by_time.ok(), ["counted:3:4"]);
    let all = ringlog(&["get-offsets", "--bootstrap-server", &b, "--partitions", "0"]);
    assert_eq!(all.ok(), ["counted:0:1", "other:0:0"]);
    let none = ringlog(&[
        "get-offsets",
        "--bootstrap-server",
        &b,
        "--topic",
        "nothing",
    ]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        none.stderr.contains("Could not match any topic-partitions"),
        "{}",
        none.stderr
    );
    let bad = ringlog(&["get-offsets", "--bootstrap-server", &b, "--time", "-9"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stderr.contains("--time -9"), "{}", bad.stderr);
}
