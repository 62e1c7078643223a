//! librdkafka against the real broker: keys, headers, timestamps, every
//! compression codec and acks level; 100k records over 8 partitions on 2
//! shards, in order per partition, and all of it again after a clean
//! restart and after kill -9.

mod support;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use support::kafka::*;
use support::*;

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn create(bootstrap: &str, name: &str, partitions: i32) {
    let admin = admin(bootstrap);
    let results = block_on(admin.create_topics(
        &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))
    .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

fn records(partitions: i32, count: usize, value_bytes: usize) -> Vec<Sent> {
    (0..count)
        .map(|index| {
            let mut value = format!("value-{index}-").into_bytes();
            value.resize(value_bytes.max(value.len()), b'a' + (index % 26) as u8);
            Sent {
                partition: (index % partitions as usize) as i32,
                key: if index % 5 == 0 {
                    None
                } else {
                    Some(format!("key-{index}").into_bytes())
                },
                value,
                headers: if index % 3 == 0 {
                    vec![
                        ("trace".into(), index.to_string().into_bytes()),
                        ("empty".into(), Vec::new()),
                    ]
                } else {
                    vec![]
                },
                timestamp: Some(1_700_000_000_000 + index as i64),
            }
        })
        .collect()
}

#[test]
fn every_codec_and_acks_level_round_trips_keys_headers_and_timestamps() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    for (codec, acks) in [
        ("none", "0"),
        ("gzip", "1"),
        ("snappy", "all"),
        ("lz4", "1"),
        ("zstd", "all"),
    ] {
        let topic = format!("codec-{codec}");
        create(&bootstrap, &topic, 2);
        let sent = records(2, 500, 100);
        let producer = producer(&bootstrap, &[("compression.type", codec), ("acks", acks)]);
        let reports = send_all(&producer, &topic, &sent);
        assert!(
            reports.iter().all(|report| report.error.is_none()),
            "{codec}: {:?}",
            reports.iter().find(|r| r.error.is_some())
        );
        let received = read_from_beginning(&bootstrap, &topic, 2, sent.len());
        let by_partition = group_by_partition(&received);
        for partition in 0..2 {
            let expected: Vec<&Sent> = sent
                .iter()
                .filter(|record| record.partition == partition)
                .collect();
            let got = &by_partition[&partition];
            assert_eq!(got.len(), expected.len(), "{codec} partition {partition}");
            for (position, ((offset, record), want)) in got.iter().zip(expected).enumerate() {
                assert_eq!(
                    *offset, position as i64,
                    "{codec}: offsets are dense and in order"
                );
                assert_eq!(
                    record, want,
                    "{codec}: record {position} of partition {partition}"
                );
            }
        }
        if acks != "0" {
            // Delivery reports carry the offsets the consumer saw.
            for (report, record) in reports.iter().zip(&sent) {
                let position = by_partition[&record.partition]
                    .iter()
                    .position(|(offset, _)| *offset == report.offset)
                    .unwrap();
                assert_eq!(&by_partition[&record.partition][position].1, record);
            }
        }
    }
}

#[test]
fn hundred_thousand_records_over_eight_partitions_survive_restarts() {
    let mut broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    create(&bootstrap, "bulk", 8);
    let sent = records(8, 100_000, 64);
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("compression.type", "lz4"),
            ("batch.size", "65536"),
        ],
    );
    let reports = send_all(&producer, "bulk", &sent);
    drop(producer);
    assert!(reports.iter().all(|report| report.error.is_none()));
    let check = |bootstrap: &str| {
        let received = read_from_beginning(bootstrap, "bulk", 8, sent.len());
        let by_partition = group_by_partition(&received);
        for partition in 0..8 {
            let expected: Vec<&Sent> = sent
                .iter()
                .filter(|record| record.partition == partition)
                .collect();
            let got = &by_partition[&partition];
            assert_eq!(got.len(), expected.len());
            for (position, ((offset, record), want)) in got.iter().zip(expected).enumerate() {
                assert_eq!(*offset, position as i64);
                assert_eq!(&record.value, &want.value);
            }
        }
    };
    check(&bootstrap);
    broker.restart();
    check(&broker.bootstrap());
    broker.restart_after_kill9();
    check(&broker.bootstrap());
}

#[test]
fn admin_create_and_delete_topics() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    let options = AdminOptions::new();
    let created = block_on(admin.create_topics(
        &[
            NewTopic::new("admin-a", 3, TopicReplication::Fixed(1)).set("retention.ms", "60000"),
            NewTopic::new("admin-b", 1, TopicReplication::Fixed(3)),
            NewTopic::new("bad/name", 1, TopicReplication::Fixed(1)),
            NewTopic::new("admin-c", 1, TopicReplication::Fixed(1)).set("no.such.config", "1"),
        ],
        &options,
    ))
    .unwrap();
    assert!(created[0].is_ok());
    assert_eq!(
        created[1].as_ref().unwrap_err().1,
        rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor
    );
    assert_eq!(
        created[2].as_ref().unwrap_err().1,
        rdkafka::types::RDKafkaErrorCode::InvalidTopic
    );
    assert_eq!(
        created[3].as_ref().unwrap_err().1,
        rdkafka::types::RDKafkaErrorCode::InvalidConfig
    );
    let again = block_on(admin.create_topics(
        &[NewTopic::new("admin-a", 3, TopicReplication::Fixed(1))],
        &options,
    ))
    .unwrap();
    assert_eq!(
        again[0].as_ref().unwrap_err().1,
        rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
    );

    let consumer = consumer(&bootstrap);
    let metadata = rdkafka::consumer::Consumer::fetch_metadata(
        &consumer,
        Some("admin-a"),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 3);
    assert!(broker.data.join("admin-a-2").is_dir());

    let deleted = block_on(admin.delete_topics(&["admin-a", "never-was"], &options)).unwrap();
    assert!(deleted[0].is_ok());
    assert_eq!(
        deleted[1].as_ref().unwrap_err().1,
        rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
    );
    assert!(
        !broker.data.join("admin-a-2").exists(),
        "partition directories removed"
    );
}
