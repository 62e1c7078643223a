//! Bad input over raw frames: the broker answers with a precise error or
//! closes that one connection, and keeps serving everyone else.

mod support;

use std::io::Write;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

fn healthy(broker: &Broker) {
    let mut raw = Raw::connect(broker);
    raw.send(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(None),
    );
    let (_, response): (_, MetadataResponse) =
        raw.receive(ApiKey::Metadata, 9).expect("metadata answered");
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].port, i32::from(broker.port));
}

fn produce(raw: &mut Raw, topic: &str, records: Bytes) -> i16 {
    raw.produce(topic, 0, records).error_code
}

fn good_batch() -> Vec<u8> {
    BatchBuilder::new()
        .record(Record::value(
            b"fine".to_vec(),
            TimestampMs(1_700_000_000_000),
        ))
        .record(Record::value(
            b"also fine".to_vec(),
            TimestampMs(1_700_000_000_001),
        ))
        .build()
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let broker = Broker::start(2);

    // A frame that promises 100 bytes and delivers 10, then hangs up.
    let mut raw = Raw::connect(&broker);
    raw.stream.write_all(&100i32.to_be_bytes()).unwrap();
    raw.stream.write_all(&[0u8; 10]).unwrap();
    drop(raw);
    healthy(&broker);

    // A size of 2^31-1: refused before any allocation, connection closed.
    let mut raw = Raw::connect(&broker);
    raw.stream.write_all(&i32::MAX.to_be_bytes()).unwrap();
    assert!(raw.is_closed());
    healthy(&broker);

    // A negative size.
    let mut raw = Raw::connect(&broker);
    raw.stream.write_all(&(-1i32).to_be_bytes()).unwrap();
    assert!(raw.is_closed());

    // An unknown API key.
    let mut raw = Raw::connect(&broker);
    raw.send_bytes(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(raw.is_closed());

    // A known API that is not advertised (ConsumerGroupHeartbeat, KIP-848):
    // closed, as Kafka does.
    let mut raw = Raw::connect(&broker);
    raw.send_bytes(&[0, 68, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 1, 2, 3]);
    assert!(raw.is_closed());

    // Garbage after a valid header.
    let mut raw = Raw::connect(&broker);
    raw.send_bytes(&[0, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert!(raw.is_closed());
    healthy(&broker);
}

#[test]
fn unsupported_api_versions_version_gets_the_table_in_v0() {
    let broker = Broker::start(1);
    let mut raw = Raw::connect(&broker);
    raw.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let (_, supported): (_, ApiVersionsResponse) = raw.receive(ApiKey::ApiVersions, 3).unwrap();
    assert_eq!(supported.error_code, 0);
    let produce = supported
        .api_keys
        .iter()
        .find(|key| key.api_key == ApiKey::Produce as i16)
        .unwrap();
    let table = ringlog::api::versions::supported(ApiKey::Produce).unwrap();
    assert_eq!(
        (produce.min_version, produce.max_version),
        (*table.start(), *table.end()),
        "ApiVersions advertises exactly the versions table"
    );
    assert!(
        supported
            .api_keys
            .iter()
            .all(|key| key.api_key != ApiKey::ConsumerGroupHeartbeat as i16),
        "only what is built is advertised"
    );

    // v9 does not exist: the answer comes in v0 with UNSUPPORTED_VERSION and the table.
    let mut frame = Vec::new();
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&9i16.to_be_bytes());
    frame.extend_from_slice(&42i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    raw.send_bytes(&frame);
    let (correlation, answer): (_, ApiVersionsResponse) =
        raw.receive(ApiKey::ApiVersions, 0).unwrap();
    assert_eq!(correlation, 42);
    assert_eq!(answer.error_code, 35);
    assert_eq!(answer.api_keys.len(), supported.api_keys.len());
}

#[test]
fn bad_batches_get_precise_errors_and_harm_nothing() {
    let broker = Broker::start(2);
    create_topic(&broker, "victim", 1);
    let mut raw = Raw::connect(&broker);
    assert_eq!(produce(&mut raw, "victim", Bytes::from(good_batch())), 0);

    // Bad CRC → CORRUPT_MESSAGE (2).
    let mut corrupt = good_batch();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(produce(&mut raw, "victim", Bytes::from(corrupt)), 2);

    // A lying record count with a correct CRC → INVALID_RECORD (87).
    let mut lying = good_batch();
    lying[57..61].copy_from_slice(&3i32.to_be_bytes());
    lying[23..27].copy_from_slice(&2i32.to_be_bytes());
    let crc = crc32c::crc32c(&lying[21..]);
    lying[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(produce(&mut raw, "victim", Bytes::from(lying)), 87);

    // A batchLength past the end → CORRUPT_MESSAGE.
    let mut truncated = good_batch();
    truncated.truncate(truncated.len() - 5);
    assert_eq!(produce(&mut raw, "victim", Bytes::from(truncated)), 2);

    // An oversize batch → MESSAGE_TOO_LARGE (10).
    let big = BatchBuilder::new()
        .record(Record::value(vec![7u8; 1_200_000], TimestampMs(1)))
        .build();
    assert_eq!(produce(&mut raw, "victim", Bytes::from(big)), 10);

    // A timestamp two hours ahead → INVALID_TIMESTAMP (32).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let future = BatchBuilder::new()
        .record(Record::value(
            b"later".to_vec(),
            TimestampMs(now + 7_200_000),
        ))
        .build();
    assert_eq!(produce(&mut raw, "victim", Bytes::from(future)), 32);

    // Unknown topic → UNKNOWN_TOPIC_OR_PARTITION (3).
    assert_eq!(
        produce(&mut raw, "nobody-here", Bytes::from(good_batch())),
        3
    );

    // What was stored first is intact and next offsets are unharmed.
    let mut second = Raw::connect(&broker);
    assert_eq!(produce(&mut second, "victim", Bytes::from(good_batch())), 0);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("victim")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(good_batch())))])]);
    second.send(ApiKey::Produce, 8, &request);
    let (_, response): (_, ProduceResponse) = second.receive(ApiKey::Produce, 8).unwrap();
    assert_eq!(
        response.responses[0].partition_responses[0].base_offset, 4,
        "two good batches of two records came before"
    );
}

/// A close names the request at fault: API key, version, correlation id
/// and client id (issue 13), so an operator can tell which client sent it.
#[test]
fn a_close_is_logged_with_the_request_at_fault() {
    let broker = Broker::start_logged(1, &[]);
    let mut raw = Raw::connect(&broker);
    // Produce v99 from client "who-did-it", correlation id 4242.
    let mut frame = vec![0, 0, 0, 99];
    frame.extend_from_slice(&4242i32.to_be_bytes());
    frame.extend_from_slice(&10i16.to_be_bytes());
    frame.extend_from_slice(b"who-did-it");
    raw.send_bytes(&frame);
    assert!(raw.is_closed());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let log = broker.log_text();
        if let Some(line) = log.lines().find(|line| line.contains("closing connection")) {
            break line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no close logged:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for field in [
        "api_key=\"Produce\"",
        "api_version=99",
        "correlation_id=4242",
        "client_id=who-did-it",
        "v99",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
}
