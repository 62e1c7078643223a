//! Cross-shard wake-ups are never lost. A request whose partition lives on
//! another shard is a message to that shard, and its answer a wake-up of
//! the connection's shard; either may be asleep when it arrives. The sleep
//! handshake is our patch to glommio (vendor/PATCHES.md, patch 4): a lost
//! wake-up would leave a request unanswered, which this test turns into a
//! failure (the read times out) rather than a slow run.
//!
//! Four connections each produce one record at a time to the partitions in
//! turn (two per shard), pausing between requests for a varying time so
//! that the shards are often idle and asleep when the next request or
//! answer comes; then every partition is read back.

mod support;

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use support::*;

const TOPIC: &str = "wakeups";
const PARTITIONS: i32 = 4;
const CONNECTIONS: usize = 4;
const REQUESTS: usize = 1000;

/// Pauses from none to about 3 ms, varying by request: long enough for a
/// shard with nothing to do to go to sleep, short enough for many rounds.
fn pause(connection: usize, request: usize) -> Duration {
    let step = (connection * 7 + request * 13) % 16;
    Duration::from_micros(if step < 4 { 0 } else { step as u64 * 200 })
}

#[test]
fn requests_to_sleeping_shards_are_all_answered() {
    let broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|connection| {
            let mut raw = Raw::connect(&broker);
            thread::spawn(move || {
                let mut sent: HashMap<i32, Vec<String>> = HashMap::new();
                for request in 0..REQUESTS {
                    let partition = ((connection + request) % PARTITIONS as usize) as i32;
                    let value = format!("c{connection} r{request}");
                    // Raw::call fails the test if no answer comes in 10 s.
                    let answer = raw.produce(TOPIC, partition, one_record_batch(&value));
                    assert_eq!(
                        answer.error_code, 0,
                        "connection {connection} request {request}"
                    );
                    assert!(answer.base_offset >= 0);
                    sent.entry(partition).or_default().push(value);
                    thread::sleep(pause(connection, request));
                }
                sent
            })
        })
        .collect();
    let mut sent: HashMap<i32, Vec<Vec<String>>> = HashMap::new();
    for thread in threads {
        for (partition, values) in thread.join().expect("every request answered") {
            sent.entry(partition).or_default().push(values);
        }
    }

    let mut raw = Raw::connect(&broker);
    for partition in 0..PARTITIONS {
        let expected: usize = sent[&partition].iter().map(Vec::len).sum();
        let mut stored = Vec::new();
        while stored.len() < expected {
            let bytes = raw.fetch(TOPIC, partition, stored.len() as i64, 1 << 20);
            let values = record_values(&bytes);
            assert!(!values.is_empty(), "partition {partition} ends early");
            stored.extend(values);
        }
        assert_eq!(stored.len(), expected, "partition {partition}");
        // Each connection's records are in the partition in its send order.
        for values in &sent[&partition] {
            let prefix = values[0].split(' ').next().unwrap().to_string() + " ";
            let mine: Vec<&String> = stored
                .iter()
                .filter(|value| value.starts_with(&prefix))
                .collect();
            assert_eq!(
                mine,
                values.iter().collect::<Vec<_>>(),
                "partition {partition}"
            );
        }
    }
}
