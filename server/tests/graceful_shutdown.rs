//! SIGTERM with clients connected: idle connections are closed at once
//! (they used to hold the shutdown for the 5 s drain deadline), a request
//! already sent is answered before its connection closes, a client that
//! half-closes after its requests still gets their answers, and every
//! partition closes cleanly with its data.

mod support;

use std::io::Read;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

const TOPIC: &str = "shutdown";
const PARTITIONS: i32 = 4;

fn produce_request(partition: i32, tag: &str) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(one_record_batch(tag)))])])
}

#[test]
fn half_closed_clients_get_their_answers() {
    let broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let mut client = Raw::connect(&broker);
    let first = client.send(ApiKey::Produce, 8, &produce_request(0, "before-close-0"));
    let second = client.send(ApiKey::Produce, 8, &produce_request(1, "before-close-1"));
    client.stream.shutdown(Shutdown::Write).unwrap();
    for (expected, partition) in [(first, 0), (second, 1)] {
        let (correlation_id, response) = client
            .receive::<ProduceResponse>(ApiKey::Produce, 8)
            .expect("answered after the half-close");
        assert_eq!(correlation_id, expected);
        let answer = &response.responses[0].partition_responses[0];
        assert_eq!(answer.index, partition);
        assert_eq!(answer.error_code, 0);
        assert_eq!(answer.base_offset, 0);
    }
    assert!(client.is_closed(), "then the broker closes the connection");
}

#[test]
fn sigterm_closes_idle_connections_and_answers_started_requests() {
    let mut broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let mut writer = Raw::connect(&broker);
    for partition in 0..PARTITIONS {
        let answer = writer.produce(
            TOPIC,
            partition,
            one_record_batch(&format!("kept-{partition}")),
        );
        assert_eq!(answer.error_code, 0);
    }
    // Idle connections on both shards (SO_REUSEPORT spreads them).
    let mut idle: Vec<Raw> = (0..8).map(|_| Raw::connect(&broker)).collect();
    // One request in flight as the signal comes.
    let mut busy = Raw::connect(&broker);
    let started = busy.send(ApiKey::Produce, 8, &produce_request(2, "at-shutdown"));

    let stopping = Instant::now();
    broker.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");

    for raw in &mut idle {
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            raw.stream.read(&mut byte).unwrap(),
            0,
            "an idle connection is closed cleanly"
        );
    }
    // The request sent before the signal was answered (or, if the signal
    // won the race to the shard, never started: then nothing was stored).
    let answered = busy.receive::<ProduceResponse>(ApiKey::Produce, 8);
    for partition in 0..PARTITIONS {
        let marker = broker
            .data
            .join(format!("{TOPIC}-{partition}/clean-shutdown"));
        assert!(marker.exists(), "{} missing", marker.display());
    }

    broker.restart();
    let mut reader = Raw::connect(&broker);
    let fetched = fetch_all(&mut reader);
    for (partition, values) in fetched.iter().enumerate() {
        assert_eq!(values[0], format!("kept-{partition}"));
    }
    match answered {
        Some((correlation_id, response)) => {
            assert_eq!(correlation_id, started);
            let answer = &response.responses[0].partition_responses[0];
            assert_eq!(answer.error_code, 0);
            assert_eq!(answer.base_offset, 1);
            assert_eq!(fetched[2], ["kept-2", "at-shutdown"]);
        }
        None => assert_eq!(fetched[2], ["kept-2"]),
    }
}

/// Every record value of every partition, in offset order.
fn fetch_all(raw: &mut Raw) -> Vec<Vec<String>> {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{FetchRequest, FetchResponse};
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(
                (0..PARTITIONS)
                    .map(|partition| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]);
    let response: FetchResponse = raw.call(ApiKey::Fetch, 12, &request);
    response.responses[0]
        .partitions
        .iter()
        .map(|partition| {
            assert_eq!(partition.error_code, 0);
            record_values(partition.records.as_deref().unwrap_or_default())
        })
        .collect()
}
