//! Idempotent produce over raw frames: InitProducerId hands out ids that
//! never repeat across restarts; a retried batch gets its original offset,
//! a gap gets OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer state survives
//! kill -9.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

fn init_producer_id(raw: &mut Raw) -> (i64, i16) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    raw.send(ApiKey::InitProducerId, 4, &request);
    let (_, response): (_, InitProducerIdResponse) =
        raw.receive(ApiKey::InitProducerId, 4).unwrap();
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

/// Produces one idempotent batch; returns (error code, base offset).
fn produce(raw: &mut Raw, producer: (i64, i16), sequence: i32, records: usize) -> (i16, i64) {
    let mut builder = BatchBuilder::new().producer(producer.0, producer.1, sequence);
    for index in 0..records {
        builder.push(Record::value(
            format!("seq {}", sequence as usize + index),
            TimestampMs(1_700_000_000_000),
        ));
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("idem")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(builder.build())))])]);
    raw.send(ApiKey::Produce, 9, &request);
    let (_, response): (_, ProduceResponse) = raw.receive(ApiKey::Produce, 9).unwrap();
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

#[test]
fn retries_are_answered_with_the_original_offset_across_kill9() {
    let mut broker = Broker::start(2);
    let mut raw = Raw::connect(&broker);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("idem")))
        .with_num_partitions(1)
        .with_replication_factor(1);
    raw.send(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default().with_topics(vec![topic]),
    );
    let (_, created): (_, CreateTopicsResponse) = raw.receive(ApiKey::CreateTopics, 5).unwrap();
    assert_eq!(created.topics[0].error_code, 0);

    let first = init_producer_id(&mut raw);
    let second = init_producer_id(&mut raw);
    assert_ne!(first.0, second.0);
    assert_eq!(produce(&mut raw, first, 0, 3), (0, 0));
    assert_eq!(produce(&mut raw, first, 3, 2), (0, 3));
    assert_eq!(
        produce(&mut raw, first, 3, 2),
        (0, 3),
        "a retry gets its original offset"
    );
    assert_eq!(
        produce(&mut raw, first, 9, 1).0,
        45,
        "a gap is OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(
        produce(&mut raw, second, 4, 1).0,
        59,
        "an unknown producer must start at 0"
    );

    broker.restart_after_kill9();
    let mut raw = Raw::connect(&broker);
    assert_eq!(
        produce(&mut raw, first, 3, 2),
        (0, 3),
        "still a duplicate after kill -9"
    );
    assert_eq!(produce(&mut raw, first, 5, 1), (0, 5));
    let third = init_producer_id(&mut raw);
    assert!(
        third.0 > second.0,
        "producer ids never repeat across restarts"
    );
}
