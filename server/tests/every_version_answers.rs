//! Every advertised (API, version) is answered by the real broker, never
//! with a closed connection: the sample request of each (`api::samples`)
//! is sent, and the answer must carry its correlation id and decode whole
//! at that version (kafka-protocol 0.18 for the versions it knows, 0.15 for
//! the older ones). The versions table and the samples are walked from the
//! library, so a row added to the table without a sample fails here.
//! `server/tests/python/test_version_matrix.py` checks the answers'
//! content with an independent codec (kafka-python's).

mod support;

use bytes::Buf;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use kafka_protocol_legacy::messages as old;

use support::{Broker, Raw};

/// Decodes a response body at `version` with the codec that knows it, and
/// checks every byte was consumed.
fn decode_whole(key: ApiKey, version: i16, mut body: bytes::Bytes) -> Result<(), String> {
    if version >= key.valid_versions().min {
        ResponseKind::decode(key, &mut body, version).map_err(|error| error.to_string())?;
    } else {
        let old_key = old::ApiKey::try_from(key as i16).map_err(|_| "no legacy key".to_string())?;
        old::ResponseKind::decode(old_key, &mut body, version)
            .map_err(|error| error.to_string())?;
    }
    if body.has_remaining() {
        return Err(format!("{} bytes left over", body.remaining()));
    }
    Ok(())
}

#[test]
fn every_advertised_version_is_answered_and_decodes() {
    let broker = Broker::start(2);
    support::create_topic(&broker, ringlog::api::samples::TOPIC, 2);
    let mut failures = Vec::new();
    let mut answered = 0;
    let samples = ringlog::api::samples::every_advertised();
    let total = samples.len();
    for (key, version, frame) in samples {
        let correlation_id = i32::from_be_bytes(frame[4..8].try_into().unwrap());
        let mut raw = Raw::connect(&broker);
        raw.send_bytes(&frame);
        let Some(mut response) = raw.receive_frame() else {
            failures.push(format!("{key:?} v{version}: connection closed"));
            continue;
        };
        let header =
            match ResponseHeader::decode(&mut response, key.response_header_version(version)) {
                Ok(header) => header,
                Err(error) => {
                    failures.push(format!("{key:?} v{version}: header: {error}"));
                    continue;
                }
            };
        if header.correlation_id != correlation_id {
            failures.push(format!(
                "{key:?} v{version}: correlation id {} for {correlation_id}",
                header.correlation_id
            ));
            continue;
        }
        match decode_whole(key, version, response) {
            Ok(()) => answered += 1,
            Err(error) => failures.push(format!("{key:?} v{version}: {error}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(answered, total);
    assert!(total > 170, "only {total} versions advertised");
}
