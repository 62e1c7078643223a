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

/// One rebalance: "assign" | "revoke" | "error", and the partitions.
pub type RebalanceEvent = (&'static str, Vec<i32>);

/// Every rebalance a group consumer went through, in order.
#[derive(Clone, Default)]
pub struct RebalanceLog(pub Arc<Mutex<Vec<RebalanceEvent>>>);

impl RebalanceLog {
    pub fn events(&self) -> Vec<RebalanceEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn assigns(&self) -> usize {
        self.events()
            .iter()
            .filter(|(kind, _)| *kind == "assign")
            .count()
    }
}

impl ClientContext for RebalanceLog {}

impl rdkafka::consumer::ConsumerContext for RebalanceLog {
    fn post_rebalance(
        &self,
        _consumer: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        let partitions = |list: &TopicPartitionList| {
            let mut partitions: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
            partitions.sort_unstable();
            partitions
        };
        let event = match rebalance {
            rdkafka::consumer::Rebalance::Assign(list) => ("assign", partitions(list)),
            rdkafka::consumer::Rebalance::Revoke(list) => ("revoke", partitions(list)),
            rdkafka::consumer::Rebalance::Error(_) => ("error", Vec::new()),
        };
        self.0.lock().unwrap().push(event);
    }
}

/// A consumer in `group` that subscribes to `topics`: manual commits,
/// reading from the earliest offset when the group has none, short
/// session and heartbeat intervals so rebalances are quick in tests.
pub fn group_consumer(
    bootstrap: &str,
    group: &str,
    topics: &[&str],
    settings: &[(&str, &str)],
) -> BaseConsumer<RebalanceLog> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer<RebalanceLog> = config
        .create_with_context(RebalanceLog::default())
        .expect("group consumer");
    consumer.subscribe(topics).expect("subscribe");
    consumer
}

/// The partitions a consumer holds now.
pub fn assigned(consumer: &BaseConsumer<RebalanceLog>) -> Vec<i32> {
    let mut partitions: Vec<i32> = consumer
        .assignment()
        .map(|list| list.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default();
    partitions.sort_unstable();
    partitions
}

/// The group's committed offsets of `topic`'s partitions (-1001 when none).
pub fn committed(consumer: &BaseConsumer<RebalanceLog>, topic: &str, partitions: i32) -> Vec<i64> {
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|partition| {
            match committed
                .find_partition(topic, partition)
                .map(|element| element.offset())
            {
                Some(Offset::Offset(offset)) => offset,
                _ => -1001,
            }
        })
        .collect()
}
