//! A failing device, through the engine's fault injection (the tests build
//! the broker with the `fault-injection` feature; `RINGLOG_FAULTS` arms it):
//! EIO on every write of one partition, then on its fdatasync. That
//! partition goes offline: its producers and fetchers get
//! KAFKA_STORAGE_ERROR, the broker logs it once and counts it; the other
//! partitions, on the same disk and the same shards, carry on; a restart
//! without the fault brings it back with what it had made durable.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

const STORAGE_ERROR: i16 = 56;

fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_string()))
}

fn batch(tag: &str, records: usize) -> Bytes {
    let mut builder = BatchBuilder::new();
    for index in 0..records {
        let value = format!("{tag}:{index}").into_bytes();
        builder = builder.record(Record::value(value, TimestampMs::now()));
    }
    Bytes::from(builder.build())
}

/// One produce; the partition's `(error code, base offset)`.
fn produce(raw: &mut Raw, topic: &str, partition: i32, acks: i16, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 8, &request);
    let answer = &response.responses[0].partition_responses[0];
    (answer.error_code, answer.base_offset)
}

/// One fetch from offset 0; the partition's error code and record values.
fn fetch(raw: &mut Raw, topic: &str, partition: i32) -> (i16, Vec<String>) {
    long_poll(raw, topic, partition, 0, 0)
}

/// A fetch that waits up to `max_wait_ms` for `min_bytes`.
fn long_poll(
    raw: &mut Raw,
    topic: &str,
    partition: i32,
    max_wait_ms: i32,
    min_bytes: i32,
) -> (i16, Vec<String>) {
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = raw.call(ApiKey::Fetch, 12, &request);
    let answer = &response.responses[0].partitions[0];
    let values = record_values(answer.records.as_deref().unwrap_or_default());
    (answer.error_code, values)
}

fn offline_lines(log: &str, partition: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("partition offline") && line.contains(partition))
        .count()
}

fn counted_offline(log: &str) -> u64 {
    log.lines()
        .filter(|line| line.contains("storage counters"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("partitions_offline="))
                .and_then(|value| value.parse::<u64>().ok())
        })
        .sum()
}

/// The sum over shards of a counter in the admin listener's /metrics.
fn scraped_sum(admin: u16, name: &str) -> f64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", admin)).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|value| value.parse::<f64>().ok())
                .expect("a sample value")
        })
        .sum()
}

/// Runs the scenario with `fault` armed on `bad-0`; `durable_first` is
/// what the bad partition had acknowledged before the fault fired.
fn scenario(fault: &str, acknowledged_before: &[&str]) {
    // Each test file is its own process, and this one runs its scenarios
    // one after the other: the broker child inherits the variable.
    std::env::set_var("RINGLOG_FAULTS", fault);
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = Broker::start_logged(2, &[&format!("admin.listener=127.0.0.1:{admin}")]);
    create_topic(&broker, "bad", 1);
    create_topic(&broker, "good", 2);
    let mut raw = Raw::connect(&broker);

    let mut bad_acknowledged = Vec::new();
    for (index, tag) in acknowledged_before.iter().enumerate() {
        assert_eq!(
            produce(&mut raw, "bad", 0, 1, batch(tag, 1)),
            (0, index as i64)
        );
        bad_acknowledged.push(format!("{tag}:0"));
    }
    // The fault fires: acks=-1 and acks=1 alike get KAFKA_STORAGE_ERROR,
    // and so does every later produce and fetch of the partition.
    assert_eq!(
        produce(&mut raw, "bad", 0, -1, batch("lost", 2)).0,
        STORAGE_ERROR
    );
    assert_eq!(
        produce(&mut raw, "bad", 0, 1, batch("later", 1)).0,
        STORAGE_ERROR
    );
    assert_eq!(
        produce(&mut raw, "bad", 0, -1, batch("later", 1)).0,
        STORAGE_ERROR
    );
    assert_eq!(fetch(&mut raw, "bad", 0).0, STORAGE_ERROR);
    // A consumer long-polling the offline partition is answered at once.
    // (It used to get an empty answer after max_wait_ms, and meanwhile the
    // fetch spun on the partition's shard: a failed log's high-watermark
    // wait ends at once, so the long poll never waited on anything, and
    // that shard answered nothing else, new connections included.)
    let polled = std::time::Instant::now();
    assert_eq!(long_poll(&mut raw, "bad", 0, 5000, 1).0, STORAGE_ERROR);
    assert!(polled.elapsed() < std::time::Duration::from_secs(2));

    // Its neighbours carry on, on both shards.
    for partition in 0..2 {
        for round in 0..3 {
            let tag = format!("good-{partition}-{round}");
            let (code, offset) = produce(&mut raw, "good", partition, -1, batch(&tag, 2));
            assert_eq!((code, offset), (0, round * 2), "good-{partition}");
        }
        let (code, values) = fetch(&mut raw, "good", partition);
        assert_eq!(code, 0);
        let expected: Vec<String> = (0..3)
            .flat_map(|round| (0..2).map(move |index| format!("good-{partition}-{round}:{index}")))
            .collect();
        assert_eq!(values, expected);
    }
    // Exported too: one offline partition in /metrics.
    assert_eq!(scraped_sum(admin, "ringlog_partitions_offline_total"), 1.0);
    broker.stop();
    let log = broker.log_text();
    assert_eq!(offline_lines(&log, "bad-0"), 1, "{log}");
    assert_eq!(offline_lines(&log, "good-"), 0, "{log}");
    assert_eq!(counted_offline(&log), 1, "{log}");

    // Restarted without the fault, the partition is back with what it had.
    std::env::remove_var("RINGLOG_FAULTS");
    broker.restart();
    let mut raw = Raw::connect(&broker);
    let (code, values) = fetch(&mut raw, "bad", 0);
    assert_eq!(code, 0);
    // What was acknowledged, in order; after it at most the batch whose
    // write went through before its fdatasync failed (its producer was
    // told KAFKA_STORAGE_ERROR: an error does not say nothing was written).
    assert_eq!(
        values[..bad_acknowledged.len()],
        bad_acknowledged[..],
        "{fault}"
    );
    let rest = &values[bad_acknowledged.len()..];
    assert!(
        rest.is_empty() || rest == ["lost:0", "lost:1"],
        "{fault}: {rest:?}"
    );
    let next = values.len() as i64;
    assert_eq!(
        produce(&mut raw, "bad", 0, -1, batch("again", 1)),
        (0, next)
    );
}

#[test]
fn a_failing_device_takes_one_partition_offline_and_the_others_carry_on() {
    // Every write of the partition fails: nothing of it is ever acknowledged.
    scenario("write:EIO:/bad-0/", &[]);
    // Its writes work and its fdatasyncs fail: acks=1 batches were
    // acknowledged (and are on disk) before the first durable produce.
    scenario("fdatasync:EIO:/bad-0/", &["before-0", "before-1"]);
}
