//! librdkafka (the `rdkafka` crate) helpers for the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// What a delivery report said.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub error: Option<String>,
    pub id: usize,
}

#[derive(Clone, Default)]
pub struct Reports(pub Arc<Mutex<Vec<Delivered>>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<usize>) {
        let delivered = match result {
            Ok(message) => Delivered {
                partition: message.partition(),
                offset: message.offset(),
                error: None,
                id: *id,
            },
            Err((error, message)) => Delivered {
                partition: message.partition(),
                offset: -1,
                error: Some(error.to_string()),
                id: *id,
            },
        };
        self.0.lock().unwrap().push(delivered);
    }
}

pub fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> BaseProducer<Reports> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config
        .create_with_context(Reports::default())
        .expect("producer")
}

/// A record as the tests send and expect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp: Option<i64>,
}

/// Sends every record, flushes, and returns the delivery reports in send order.
pub fn send_all(producer: &BaseProducer<Reports>, topic: &str, records: &[Sent]) -> Vec<Delivered> {
    for (id, record) in records.iter().enumerate() {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut base = BaseRecord::with_opaque_to(topic, Box::new(id))
            .payload(&record.value)
            .partition(record.partition)
            .headers(headers);
        if let Some(key) = &record.key {
            base = base.key(key);
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        let mut pending = base;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((error, returned)) => {
                    assert!(
                        matches!(
                            error,
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull
                            )
                        ),
                        "{error}"
                    );
                    producer.poll(Duration::from_millis(10));
                    pending = returned;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let mut reports = producer.context().0.lock().unwrap().clone();
    producer.context().0.lock().unwrap().clear();
    reports.sort_by_key(|report| report.id);
    assert_eq!(reports.len(), records.len(), "one report per record");
    reports
}

pub fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "ringlog-tests-assign")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer")
}

/// Reads `expected` records from the start of the given partitions.
pub fn read_from_beginning(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<(i32, i64, Sent)> {
    let consumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::with_capacity(expected);
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < expected {
        assert!(
            Instant::now() < deadline,
            "read {} of {expected}",
            out.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        // Transport errors while the broker restarts are retried by librdkafka.
        let Ok(message) = message else {
            continue;
        };
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| {
                        (
                            header.key.to_string(),
                            header.value.unwrap_or_default().to_vec(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push((
            message.partition(),
            message.offset(),
            Sent {
                partition: message.partition(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().unwrap_or_default().to_vec(),
                headers,
                timestamp: message.timestamp().to_millis(),
            },
        ));
    }
    // Nothing more than expected.
    if let Some(Ok(extra)) = consumer.poll(Duration::from_millis(300)) {
        panic!(
            "unexpected extra record at {}-{}",
            extra.partition(),
            extra.offset()
        );
    }
    out
}

pub fn group_by_partition(records: &[(i32, i64, Sent)]) -> HashMap<i32, Vec<(i64, Sent)>> {
    let mut by_partition: HashMap<i32, Vec<(i64, Sent)>> = HashMap::new();
    for (partition, offset, record) in records {
        by_partition
            .entry(*partition)
            .or_default()
            .push((*offset, record.clone()));
    }
    by_partition
}
