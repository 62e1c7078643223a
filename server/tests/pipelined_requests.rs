//! Pipelined requests on one connection: the broker reads on while produce
//! requests wait for the disk, yet appends keep request order and answers
//! go out in request order, other APIs' answers included. Answers that are
//! ready together leave in one gathered send: their bytes must still be
//! each answer's own, whole and in order.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

const TOPIC: &str = "pipelined";
const PARTITIONS: i32 = 4;
const REQUESTS: i32 = 200;

fn batch(request: i32, partition: i32) -> Bytes {
    let value = format!("request {request} partition {partition}").into_bytes();
    let builder = BatchBuilder::new()
        .record(Record::value(value.clone(), TimestampMs(1_700_000_000_000)))
        .record(Record::value(value, TimestampMs(1_700_000_000_001)));
    Bytes::from(builder.build())
}

#[test]
fn pipelined_produces_append_and_answer_in_request_order() {
    let broker = Broker::start(2);
    create_topic(&broker, TOPIC, PARTITIONS);
    let mut raw = Raw::connect(&broker);
    // Every request writes to every partition (both shards), acks=1 and
    // acks=all alternating; an ApiVersions every 50 requests, a fetch of
    // partition 0 from its start every 40 (answered at once, after every
    // earlier answer, with bytes from memory or the segment file).
    let mut sent = Vec::new();
    for request in 0..REQUESTS {
        let partitions = (0..PARTITIONS)
            .map(|partition| {
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch(request, partition)))
            })
            .collect();
        let produce = ProduceRequest::default()
            .with_acks(if request % 2 == 0 { 1 } else { -1 })
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(partitions)]);
        sent.push((ApiKey::Produce, raw.send(ApiKey::Produce, 8, &produce)));
        if request % 40 == 39 {
            let fetch = fetch_request(TOPIC, 0, 0, 1 << 20);
            sent.push((ApiKey::Fetch, raw.send(ApiKey::Fetch, 12, &fetch)));
        }
        if request % 50 == 25 {
            let versions = ApiVersionsRequest::default();
            sent.push((
                ApiKey::ApiVersions,
                raw.send(ApiKey::ApiVersions, 0, &versions),
            ));
        }
    }
    let mut produced = 0;
    let mut answered_before_last_fetch = 0;
    for (key, correlation_id) in sent {
        match key {
            ApiKey::Produce => {
                let (answered, response): (_, ProduceResponse) =
                    raw.receive(ApiKey::Produce, 8).expect("produce answered");
                assert_eq!(answered, correlation_id, "answers in request order");
                for partition in &response.responses[0].partition_responses {
                    assert_eq!(partition.error_code, 0);
                    // Two records per request per partition, in request order.
                    assert_eq!(partition.base_offset, 2 * i64::from(produced));
                }
                produced += 1;
            }
            ApiKey::Fetch => {
                let (answered, mut response): (_, FetchResponse) =
                    raw.receive(ApiKey::Fetch, 12).expect("fetch answered");
                assert_eq!(answered, correlation_id, "answers in request order");
                let data = response.responses.remove(0).partitions.remove(0);
                assert_eq!(data.error_code, 0);
                // Partition 0's records in append order, as far as they
                // were stored when the fetch was read: at least those of
                // the produces before the previous fetch, which was
                // answered (after them) before this one was read.
                let values = record_values(&data.records.unwrap_or_default());
                assert!(
                    values.len() >= 2 * answered_before_last_fetch,
                    "fetch after {produced} produces: {} records",
                    values.len()
                );
                answered_before_last_fetch = produced as usize;
                for (at, value) in values.iter().enumerate() {
                    assert_eq!(value, &format!("request {} partition 0", at / 2));
                }
            }
            _ => {
                let (answered, response): (_, ApiVersionsResponse) = raw
                    .receive(ApiKey::ApiVersions, 0)
                    .expect("ApiVersions answered");
                assert_eq!(answered, correlation_id, "answers in request order");
                assert_eq!(response.error_code, 0);
            }
        }
    }
    assert_eq!(produced, REQUESTS);
}

#[test]
fn answers_in_flight_are_written_before_a_close() {
    let broker = Broker::start(1);
    create_topic(&broker, TOPIC, 1);
    let mut raw = Raw::connect(&broker);
    let mut sent = Vec::new();
    for request in 0..30 {
        let produce = produce_request(TOPIC, 0, batch(request, 0), 1);
        sent.push(raw.send(ApiKey::Produce, 8, &produce));
    }
    // A produce request whose body ends inside its topic array: malformed,
    // so the broker closes the connection, once every earlier answer is out.
    raw.send_bytes(&[
        0, 0, 0, 8, 0, 0, 0, 99, 0, 8, b'r', b'a', b'w', b'-', b't', b'e', b's', b't', 0xff,
    ]);
    for (produced, correlation_id) in sent.into_iter().enumerate() {
        let (answered, response): (_, ProduceResponse) = raw
            .receive(ApiKey::Produce, 8)
            .expect("produce answered before the close");
        assert_eq!(answered, correlation_id);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (0, 2 * produced as i64)
        );
    }
    assert!(raw.is_closed(), "closed after the answers");
}
