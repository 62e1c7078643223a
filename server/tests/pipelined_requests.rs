//! Pipelined requests on one connection: the broker reads on while produce
//! requests wait for the disk, yet appends keep request order and answers
//! go out in request order, other APIs' answers included.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse, TopicName,
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
    // acks=all alternating; an ApiVersions every 50 requests.
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
        if request % 50 == 25 {
            let versions = ApiVersionsRequest::default();
            sent.push((
                ApiKey::ApiVersions,
                raw.send(ApiKey::ApiVersions, 0, &versions),
            ));
        }
    }
    let mut produced = 0;
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
