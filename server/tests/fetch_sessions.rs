//! Fetch sessions (KIP-227) over raw frames. The broker creates none: a
//! full fetch (epoch 0 asks for a session, -1 for none) is answered with
//! the data and session id 0, so the client keeps sending full fetches; an
//! incremental fetch names a session the broker never created and gets
//! FETCH_SESSION_ID_NOT_FOUND with no partitions, after which the
//! connection still serves full fetches.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

const TOPIC: &str = "sessions";
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

fn fetch(session_id: i32, session_epoch: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(session_epoch)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

#[test]
fn sessions_are_answered_sessionless() {
    let broker = Broker::start(2);
    create_topic(&broker, TOPIC, 1);
    let records = Bytes::from(
        BatchBuilder::new()
            .record(Record::value(
                b"first".to_vec(),
                TimestampMs(1_700_000_000_000),
            ))
            .build(),
    );
    let mut client = Raw::connect(&broker);
    assert_eq!(client.produce(TOPIC, 0, records.clone()).error_code, 0);
    // As stored: the broker stamps partition_leader_epoch (bytes 12..16,
    // outside the CRC) with its epoch, 0.
    let mut stored = records.to_vec();
    stored[12..16].copy_from_slice(&0i32.to_be_bytes());
    let records = Bytes::from(stored);

    for version in [7, 12] {
        // Full fetches, with and without asking for a session.
        for epoch in [0, -1] {
            let response: FetchResponse = client.call(ApiKey::Fetch, version, &fetch(0, epoch));
            assert_eq!(response.error_code, 0, "v{version} epoch {epoch}");
            assert_eq!(response.session_id, 0, "v{version}: no session created");
            let partition = &response.responses[0].partitions[0];
            assert_eq!(partition.error_code, 0);
            assert_eq!(partition.high_watermark, 1);
            assert_eq!(partition.records.as_deref(), Some(&records[..]));
        }
        // A full fetch that closes a session it names: still answered in full.
        let response: FetchResponse = client.call(ApiKey::Fetch, version, &fetch(1234, 0));
        assert_eq!(response.error_code, 0);
        assert_eq!(
            response.responses[0].partitions[0].records.as_deref(),
            Some(&records[..])
        );

        // Incremental fetches: no such session, whatever id and epoch.
        for (id, epoch) in [(1234, 1), (0, 7), (99, i32::MAX)] {
            let response: FetchResponse = client.call(ApiKey::Fetch, version, &fetch(id, epoch));
            assert_eq!(
                response.error_code, FETCH_SESSION_ID_NOT_FOUND,
                "v{version} session {id} epoch {epoch}"
            );
            assert_eq!(response.session_id, 0);
            assert!(
                response.responses.is_empty(),
                "no partition data with the error"
            );
        }
    }
    // Older versions have no sessions (the epoch is implicitly -1).
    let response: FetchResponse = client.call(ApiKey::Fetch, 4, &fetch(0, -1));
    assert_eq!(
        response.responses[0].partitions[0].records.as_deref(),
        Some(&records[..])
    );
}
