//! acks=0: the producer gets no answer, so a produce that fails closes the
//! connection (as Kafka does) and the producer notices; one that succeeds
//! leaves the connection open and stores its records.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use support::*;

#[test]
fn a_failed_acks_zero_produce_closes_the_connection() {
    let broker = Broker::start_logged(2, &["auto.create.topics.enable=false"]);
    create_topic(&broker, "zero", 1);

    // A good acks=0 produce: no answer, the connection stays open (the next
    // request on it is answered), and the record is stored.
    let mut raw = Raw::connect(&broker);
    raw.send(
        ApiKey::Produce,
        8,
        &produce_request("zero", 0, one_record_batch("kept"), 0),
    );
    assert_eq!(raw.api_versions().error_code, 0);
    let stored = raw.fetch("zero", 0, 0, 1 << 20);
    assert_eq!(record_values(&stored), ["kept"]);

    // To a topic that does not exist: closed.
    raw.send(
        ApiKey::Produce,
        8,
        &produce_request("nobody-here", 0, one_record_batch("lost"), 0),
    );
    assert!(raw.is_closed(), "an unknown topic closes the connection");

    // A batch with a bad CRC: closed, and nothing is stored.
    let mut corrupt = one_record_batch("corrupt").to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let mut raw = Raw::connect(&broker);
    raw.send(
        ApiKey::Produce,
        8,
        &produce_request("zero", 0, Bytes::from(corrupt), 0),
    );
    assert!(raw.is_closed(), "a corrupt batch closes the connection");
    let mut reader = Raw::connect(&broker);
    let stored = reader.fetch("zero", 0, 0, 1 << 20);
    assert_eq!(record_values(&stored), ["kept"]);

    let log = broker.log_text();
    assert!(
        log.contains("acks=0 produce to nobody-here-0 failed"),
        "the close is logged with its reason:\n{log}"
    );
}
