//! Many more partitions than the descriptor limit could hold open at once
//! (issue 15): a broker limited to 600 open files (soft and hard, so it
//! cannot raise them) serves 600 partitions, each of which would keep
//! three descriptors for its active segment if it held them for ever.
//! Every record produced reads back byte for byte, before and after a
//! restart; no partition goes offline; the process stays under its limit.
//!
//! The budget comes from `server/src/capacity.rs`: a quarter of the limit
//! (at least 256) is kept for sockets and the rest, three descriptors per
//! segment file, split between the shards; the least recently used segment
//! file closes to make room (`engine/src/io/open_files.rs`).

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

const OPEN_FILES_LIMIT: u64 = 600;
const TOPICS: usize = 6;
const PARTITIONS: i32 = 100;

fn value(topic: usize, partition: i32, round: u32) -> String {
    format!("t{topic}/p{partition}/r{round}")
}

/// One record in every partition of topic `topic`, acks=all, each stored at
/// `offset`.
fn produce_round(broker: &Broker, raw: &mut Raw, topic: usize, round: u32, offset: i64) {
    let data = (0..PARTITIONS)
        .map(|partition| {
            let batch = BatchBuilder::new()
                .record(Record::value(
                    value(topic, partition, round).into_bytes(),
                    TimestampMs(1_700_000_000_000),
                ))
                .build();
            PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch)))
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(format!("dense-{topic}"))))
            .with_partition_data(data)]);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 9, &request);
    let partitions = &response.responses[0].partition_responses;
    assert_eq!(partitions.len(), PARTITIONS as usize);
    for partition in partitions {
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (0, offset),
            "dense-{topic}-{}; the broker's log:\n{}",
            partition.index,
            broker.log_text()
        );
    }
}

/// Every partition holds exactly the records of rounds `0..rounds`, in order.
fn check_all(raw: &mut Raw, rounds: u32) {
    for topic in 0..TOPICS {
        for partition in 0..PARTITIONS {
            // A fetch answers from one segment, and a restart starts a new
            // one: fetch on from where the last answer ended.
            let mut values = Vec::new();
            while values.len() < rounds as usize {
                let offset = values.len() as i64;
                let records = raw.fetch(&format!("dense-{topic}"), partition, offset, 1 << 20);
                let more = record_values(&records);
                assert!(
                    !more.is_empty(),
                    "dense-{topic}-{partition}: nothing at {offset}"
                );
                values.extend(more);
            }
            let expected: Vec<String> = (0..rounds)
                .map(|round| value(topic, partition, round))
                .collect();
            assert_eq!(values, expected, "dense-{topic}-{partition}");
        }
    }
}

/// Descriptors the broker process holds now.
fn open_descriptors(broker: &Broker) -> u64 {
    std::fs::read_dir(format!("/proc/{}/fd", broker.pid()))
        .unwrap()
        .count() as u64
}

#[test]
fn six_hundred_partitions_under_a_limit_of_six_hundred_files() {
    let mut broker = Broker::start_with_open_files_limit(2, &[], OPEN_FILES_LIMIT);
    for topic in 0..TOPICS {
        create_topic(&broker, &format!("dense-{topic}"), PARTITIONS);
    }
    let mut raw = Raw::connect(&broker);
    for topic in 0..TOPICS {
        produce_round(&broker, &mut raw, topic, 0, 0);
    }
    check_all(&mut raw, 1);
    let held = open_descriptors(&broker);
    assert!(
        held < OPEN_FILES_LIMIT,
        "{held} descriptors open, limit {OPEN_FILES_LIMIT}"
    );
    drop(raw);

    // Recovery opens every partition's segments again, a budget's worth at
    // a time.
    broker.restart();
    let mut raw = Raw::connect(&broker);
    check_all(&mut raw, 1);
    for topic in 0..TOPICS {
        produce_round(&broker, &mut raw, topic, 1, 1);
    }
    check_all(&mut raw, 2);
    assert!(open_descriptors(&broker) < OPEN_FILES_LIMIT);

    let log = broker.log_text();
    assert!(
        log.contains("capacity: about"),
        "the broker says what it can hold:\n{log}"
    );
    for bad in [
        "partition offline",
        "Too many open files",
        "out of file descriptors",
    ] {
        assert!(!log.contains(bad), "{bad:?} in the broker's log:\n{log}");
    }
}
