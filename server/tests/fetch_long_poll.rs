//! Fetch long polls over raw frames, with partitions spread over two shards:
//! a waiting fetch wakes when data lands on any shard, `min_bytes` gathers
//! across shards, `max_wait_ms` ends an empty wait, `max_bytes` is shared in
//! request order, and waits left behind do not hold up a clean shutdown.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

const TOPIC: &str = "long-poll";
const PARTITIONS: i32 = 4;

fn batch(tag: &str, records: usize, value_bytes: usize) -> Bytes {
    let mut builder = BatchBuilder::new();
    for index in 0..records {
        let mut value = format!("{tag}:{index}:").into_bytes();
        value.resize(value_bytes.max(value.len()), b'.');
        builder = builder.record(Record::value(value, TimestampMs(1_700_000_000_000)));
    }
    Bytes::from(builder.build())
}

fn fetch_request(max_wait_ms: i32, min_bytes: i32, max_bytes: i32) -> FetchRequest {
    let partitions = (0..PARTITIONS)
        .map(|partition| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(partitions)])
}

/// Each partition's record bytes in the answer, by partition index.
fn records_by_partition(response: &FetchResponse) -> Vec<Bytes> {
    assert_eq!(response.error_code, 0);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions.len(), PARTITIONS as usize);
    partitions
        .iter()
        .enumerate()
        .map(|(index, partition)| {
            assert_eq!(partition.partition_index, index as i32);
            assert_eq!(partition.error_code, 0, "partition {index}");
            partition.records.clone().unwrap_or_default()
        })
        .collect()
}

fn produce_later(broker: &Broker, delay: Duration, partition: i32, records: Bytes) {
    let mut raw = Raw::connect(broker);
    thread::spawn(move || {
        thread::sleep(delay);
        assert_eq!(raw.produce(TOPIC, partition, records).error_code, 0);
    });
}

#[test]
fn long_polls_across_shards() {
    let mut broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let mut consumer = Raw::connect(&broker);

    // Nothing there: the wait runs out and the answer is empty.
    let started = Instant::now();
    let response: FetchResponse = consumer.call(ApiKey::Fetch, 12, &fetch_request(300, 1, 1 << 20));
    let waited = started.elapsed();
    assert!(records_by_partition(&response).iter().all(Bytes::is_empty));
    assert!(
        waited >= Duration::from_millis(290),
        "answered after {waited:?}, before max_wait_ms"
    );

    // A long wait ends when a record lands, whichever shard owns it.
    for partition in 0..PARTITIONS {
        produce_later(
            &broker,
            Duration::from_millis(100),
            partition,
            batch(&format!("wake-{partition}"), 1, 0),
        );
        let mut request = fetch_request(30_000, 1, 1 << 20);
        for (index, wanted) in request.topics[0].partitions.iter_mut().enumerate() {
            // Start each partition after what it already holds.
            wanted.fetch_offset = i64::from((index as i32) < partition);
        }
        let started = Instant::now();
        let response: FetchResponse = consumer.call(ApiKey::Fetch, 12, &request);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "partition {partition}: woke only after {:?}",
            started.elapsed()
        );
        let records = records_by_partition(&response);
        for (index, bytes) in records.iter().enumerate() {
            if index as i32 == partition {
                assert_eq!(record_values(bytes), [format!("wake-{partition}:0:")]);
            } else {
                assert!(bytes.is_empty(), "partition {index} had nothing new");
            }
        }
    }

    // min_bytes: two batches on different partitions must both be there.
    let one = batch("min-a", 1, 400).len();
    produce_later(
        &broker,
        Duration::from_millis(100),
        0,
        batch("min-a", 1, 400),
    );
    produce_later(
        &broker,
        Duration::from_millis(400),
        3,
        batch("min-b", 1, 400),
    );
    let mut request = fetch_request(30_000, (2 * one) as i32, 1 << 20);
    for wanted in request.topics[0].partitions.iter_mut() {
        wanted.fetch_offset = 1;
    }
    let started = Instant::now();
    let response: FetchResponse = consumer.call(ApiKey::Fetch, 12, &request);
    assert!(started.elapsed() >= Duration::from_millis(390));
    let records = records_by_partition(&response);
    assert_eq!(
        record_values(&records[0]),
        ["min-a:0:".to_string() + &".".repeat(392)]
    );
    assert_eq!(
        record_values(&records[3]),
        ["min-b:0:".to_string() + &".".repeat(392)]
    );

    // The waits this left on the other shard do not hold up shutdown: every
    // partition closes cleanly.
    drop(consumer);
    let stopping = Instant::now();
    broker.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    for partition in 0..PARTITIONS {
        let marker = broker
            .data
            .join(format!("{TOPIC}-{partition}/clean-shutdown"));
        assert!(marker.exists(), "{} missing", marker.display());
    }
}

#[test]
fn max_bytes_is_shared_in_request_order() {
    let broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let mut producer = Raw::connect(&broker);
    let mut size = 0;
    for partition in 0..PARTITIONS {
        for index in 0..3 {
            let records = batch(&format!("p{partition}-b{index}"), 4, 250);
            size = records.len();
            assert_eq!(producer.produce(TOPIC, partition, records).error_code, 0);
        }
    }
    // Room for partition 0's three batches and half of partition 1's data:
    // partition 1 is cut to what is left, partitions 2 and 3 get nothing,
    // wherever each is owned.
    let max_bytes = 4 * size + size / 2;
    let mut consumer = Raw::connect(&broker);
    let response: FetchResponse =
        consumer.call(ApiKey::Fetch, 12, &fetch_request(0, 1, max_bytes as i32));
    let records = records_by_partition(&response);
    assert_eq!(records[0].len(), 3 * size);
    assert_eq!(
        record_values(&records[0]).first().map(String::as_str),
        Some("p0-b0:0:".to_string() + &".".repeat(242)).as_deref()
    );
    assert_eq!(record_values(&records[0]).len(), 12);
    assert_eq!(records[1].len(), max_bytes - 3 * size);
    assert_eq!(
        record_values(&records[1]).len(),
        4,
        "one whole batch, then a cut one"
    );
    assert!(records[2].is_empty() && records[3].is_empty());

    // The first batch comes whole even when larger than max_bytes (KIP-74).
    let response: FetchResponse = consumer.call(ApiKey::Fetch, 12, &fetch_request(0, 1, 10));
    let records = records_by_partition(&response);
    assert_eq!(records[0].len(), size);
    assert!(records[1..].iter().all(Bytes::is_empty));
}
