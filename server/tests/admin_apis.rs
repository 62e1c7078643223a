//! The admin APIs against the real broker (2 shards, so partitions of one
//! topic live on different shards): CreatePartitions, DescribeConfigs,
//! AlterConfigs, IncrementalAlterConfigs, DeleteRecords through librdkafka's
//! AdminClient; DescribeCluster, DescribeLogDirs, OffsetForLeaderEpoch and
//! the error answers through raw frames.

mod support;

use std::time::Duration;

use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DescribeClusterRequest, DescribeClusterResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use support::kafka::*;
use support::*;

const TIMEOUT: Duration = Duration::from_secs(10);

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

fn create(admin: &AdminClient<DefaultClientContext>, name: &str, partitions: i32) {
    let results = block_on(admin.create_topics(
        &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))
    .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    let consumer = consumer(bootstrap);
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).unwrap();
    metadata.topics()[0].partitions().len()
}

fn grow(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    count: usize,
    validate_only: bool,
) -> Result<String, (String, RDKafkaErrorCode)> {
    let options = AdminOptions::new().validate_only(validate_only);
    let mut results =
        block_on(admin.create_partitions(&[NewPartitions::new(topic, count)], &options)).unwrap();
    results.remove(0)
}

fn records(
    partitions: std::ops::Range<i32>,
    per_partition: usize,
    value_bytes: usize,
) -> Vec<Sent> {
    partitions
        .flat_map(|partition| {
            (0..per_partition).map(move |index| Sent {
                partition,
                key: Some(format!("key-{partition}-{index}").into_bytes()),
                value: vec![b'a' + (index % 26) as u8; value_bytes],
                headers: vec![],
                timestamp: Some(1_700_000_000_000 + index as i64),
            })
        })
        .collect()
}

#[test]
fn create_partitions_grows_a_topic_and_the_new_partitions_take_records() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    create(&admin, "grow", 2);

    assert_eq!(grow(&admin, "grow", 5, true), Ok("grow".into()));
    assert_eq!(
        partition_count(&bootstrap, "grow"),
        2,
        "validate_only grows nothing"
    );
    assert_eq!(grow(&admin, "grow", 5, false), Ok("grow".into()));
    assert_eq!(partition_count(&bootstrap, "grow"), 5);

    for (count, expected) in [
        (5, RDKafkaErrorCode::InvalidPartitions),
        (3, RDKafkaErrorCode::InvalidPartitions),
    ] {
        let (_, error) = grow(&admin, "grow", count, false).unwrap_err();
        assert_eq!(error, expected, "growing to {count}");
    }
    let (_, error) = grow(&admin, "no-such-topic", 3, false).unwrap_err();
    assert_eq!(error, RDKafkaErrorCode::UnknownTopicOrPartition);
    assert_eq!(partition_count(&bootstrap, "grow"), 5);

    // A fresh producer learns the five partitions; the three new ones take
    // records on whichever shard owns them, and they read back in order.
    let sent = records(0..5, 20, 50);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    for report in send_all(&producer, "grow", &sent) {
        assert_eq!(report.error, None);
    }
    let read = read_from_beginning(&bootstrap, "grow", 5, sent.len());
    let by_partition = group_by_partition(&read);
    for partition in 0..5 {
        let got = &by_partition[&partition];
        assert_eq!(got.len(), 20, "partition {partition}");
        let offsets: Vec<i64> = got.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(offsets, (0..20).collect::<Vec<i64>>());
        let expected: Vec<&Sent> = sent.iter().filter(|s| s.partition == partition).collect();
        let values: Vec<&Sent> = got.iter().map(|(_, record)| record).collect();
        assert_eq!(values, expected, "partition {partition}");
    }
}

fn describe_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> rdkafka::admin::ConfigResource {
    let mut results =
        block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
            .unwrap();
    results.remove(0).expect("described")
}

fn alter(admin: &AdminClient<DefaultClientContext>, topic: &str, settings: &[(&str, &str)]) {
    let mut config = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (key, value) in settings {
        config = config.set(key, value);
    }
    let mut results = block_on(admin.alter_configs(&[config], &AdminOptions::new())).unwrap();
    assert!(results.remove(0).is_ok());
}

fn incremental_alter(
    raw: &mut Raw,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let configs = ops
        .iter()
        .map(|(key, op, value)| {
            incremental::AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_config_operation(*op)
                .with_value(value.map(|value| StrBytes::from_string(value.to_string())))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![incremental::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs)]);
    raw.send(ApiKey::IncrementalAlterConfigs, 1, &request);
    let (_, response): (_, IncrementalAlterConfigsResponse) = raw
        .receive(ApiKey::IncrementalAlterConfigs, 1)
        .expect("answered, not closed");
    let answer = &response.responses[0];
    (
        answer.error_code,
        answer
            .error_message
            .as_ref()
            .map(|message| message.to_string()),
    )
}

fn legacy_alter(
    raw: &mut Raw,
    resource_type: i8,
    name: &str,
    settings: &[(&str, &str)],
) -> (i16, Option<String>) {
    let configs = settings
        .iter()
        .map(|(key, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_value(Some(StrBytes::from_string(value.to_string())))
        })
        .collect();
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configs(configs)]);
    raw.send(ApiKey::AlterConfigs, 2, &request);
    let (_, response): (_, AlterConfigsResponse) = raw
        .receive(ApiKey::AlterConfigs, 2)
        .expect("answered, not closed");
    let answer = &response.responses[0];
    (
        answer.error_code,
        answer
            .error_message
            .as_ref()
            .map(|message| message.to_string()),
    )
}

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

#[test]
fn configs_are_described_altered_applied_and_reset() {
    // The broker sets retention itself: topics inherit it as a static broker config.
    let mut broker = Broker::start_with(2, &["log.retention.hours=24"]);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    create(&admin, "conf", 2);

    let described = describe_topic(&admin, "conf");
    let names: Vec<&str> = described.entries.iter().map(|e| e.name.as_str()).collect();
    for key in [
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "segment.ms",
        "cleanup.policy",
        "max.message.bytes",
        "message.timestamp.type",
        "flush.messages",
        "flush.ms",
    ] {
        assert!(names.contains(&key), "{key} missing from {names:?}");
    }
    let retention = described.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("86400000"));
    assert_eq!(retention.source, ConfigSource::StaticBroker);
    let segment = described.get("segment.bytes").unwrap();
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.source, ConfigSource::Default);

    // AlterConfigs replaces the override set, and the shards apply it:
    // 16 KiB segments roll while 200 KiB arrive.
    alter(
        &admin,
        "conf",
        &[("retention.ms", "3600000"), ("segment.bytes", "16384")],
    );
    let described = describe_topic(&admin, "conf");
    let retention = described.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_read_only);
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("linger.ms", "0"),
            ("batch.num.messages", "5"),
        ],
    );
    for report in send_all(&producer, "conf", &records(0..2, 100, 1000)) {
        assert_eq!(report.error, None);
    }
    for partition in 0..2 {
        let segments = std::fs::read_dir(broker.data.join(format!("conf-{partition}")))
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|ext| ext == "log")
            })
            .count();
        assert!(
            segments > 3,
            "partition {partition} has {segments} segment(s)"
        );
    }

    // A bad value is INVALID_CONFIG and changes nothing. (rdkafka 0.39's
    // alter_configs drops per-resource errors, so these go as raw frames.)
    let mut raw = Raw::connect(&broker);
    let (code, message) = legacy_alter(&mut raw, TOPIC, "conf", &[("retention.ms", "soon")]);
    assert_eq!(code, INVALID_CONFIG);
    assert!(message.unwrap().contains("retention.ms"));
    let (code, message) = legacy_alter(&mut raw, TOPIC, "conf", &[("no.such.key", "1")]);
    assert_eq!(code, INVALID_CONFIG);
    assert!(message.unwrap().contains("no.such.key"));
    let (code, message) = incremental_alter(
        &mut raw,
        TOPIC,
        "conf",
        &[("retention.ms", SET, Some("soon"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    assert!(message.unwrap().contains("retention.ms"));
    let (code, _) = incremental_alter(
        &mut raw,
        TOPIC,
        "conf",
        &[("retention.ms", APPEND, Some("1"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG, "APPEND on a number");
    let (code, _) = incremental_alter(
        &mut raw,
        TOPIC,
        "nope",
        &[("retention.ms", DELETE, None)],
        false,
    );
    assert_eq!(code, 3, "unknown topic");
    assert_eq!(
        describe_topic(&admin, "conf")
            .get("retention.ms")
            .unwrap()
            .value
            .as_deref(),
        Some("3600000")
    );

    // IncrementalAlterConfigs: validate_only changes nothing; DELETE goes
    // back to the broker's value; SET leaves the other overrides alone.
    let (code, _) = incremental_alter(
        &mut raw,
        TOPIC,
        "conf",
        &[("retention.ms", DELETE, None)],
        true,
    );
    assert_eq!(code, 0);
    assert_eq!(
        describe_topic(&admin, "conf")
            .get("retention.ms")
            .unwrap()
            .value
            .as_deref(),
        Some("3600000")
    );
    let (code, _) = incremental_alter(
        &mut raw,
        TOPIC,
        "conf",
        &[
            ("retention.ms", DELETE, None),
            ("flush.ms", SET, Some("500")),
        ],
        false,
    );
    assert_eq!(code, 0);
    let described = describe_topic(&admin, "conf");
    let retention = described.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("86400000"));
    assert_eq!(retention.source, ConfigSource::StaticBroker);
    assert_eq!(
        described.get("segment.bytes").unwrap().value.as_deref(),
        Some("16384")
    );
    assert_eq!(
        described.get("flush.ms").unwrap().value.as_deref(),
        Some("500")
    );

    // Broker configs are described (read-only) but not altered; the
    // connection stays open.
    let mut results =
        block_on(admin.describe_configs(&[ResourceSpecifier::Broker(1)], &AdminOptions::new()))
            .unwrap();
    let broker_configs = results.remove(0).expect("broker described");
    let hours = broker_configs.get("log.retention.hours").unwrap();
    assert_eq!(hours.value.as_deref(), Some("24"));
    assert_eq!(hours.source, ConfigSource::StaticBroker);
    assert!(hours.is_read_only);
    let segment = broker_configs.get("log.segment.bytes").unwrap();
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.source, ConfigSource::Default);
    let (code, message) = incremental_alter(
        &mut raw,
        BROKER,
        "1",
        &[("log.retention.hours", SET, Some("1"))],
        false,
    );
    assert_eq!(code, INVALID_REQUEST);
    assert!(message.unwrap().contains("not supported"));
    let (code, _) = legacy_alter(&mut raw, BROKER, "1", &[("log.retention.hours", "1")]);
    assert_eq!(code, INVALID_REQUEST);

    // DescribeConfigs v4 by raw frame: named keys only, with synonyms and docs.
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(StrBytes::from_static_str("conf"))
                .with_configuration_keys(Some(vec![StrBytes::from_static_str("segment.bytes")])),
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(StrBytes::from_static_str("nope")),
        ]);
    raw.send(ApiKey::DescribeConfigs, 4, &request);
    let (_, response): (_, DescribeConfigsResponse) =
        raw.receive(ApiKey::DescribeConfigs, 4).unwrap();
    let conf = &response.results[0];
    assert_eq!(conf.error_code, 0);
    assert_eq!(conf.configs.len(), 1);
    let segment = &conf.configs[0];
    assert_eq!(segment.value.as_deref(), Some("16384"));
    assert_eq!(segment.config_source, 1, "TOPIC_CONFIG");
    assert_eq!(segment.config_type, 3, "INT");
    assert!(segment.documentation.is_some());
    let synonyms: Vec<(String, i8)> = segment
        .synonyms
        .iter()
        .map(|synonym| (synonym.name.to_string(), synonym.source))
        .collect();
    assert_eq!(
        synonyms,
        [
            ("segment.bytes".to_string(), 1),
            ("log.segment.bytes".to_string(), 5)
        ]
    );
    assert_eq!(response.results[1].error_code, 3, "unknown topic");

    // The overrides are stored: they survive a restart.
    broker.restart();
    let admin = self::admin(&broker.bootstrap());
    let described = describe_topic(&admin, "conf");
    assert_eq!(
        described.get("segment.bytes").unwrap().value.as_deref(),
        Some("16384")
    );
    assert_eq!(
        described.get("flush.ms").unwrap().value.as_deref(),
        Some("500")
    );
}

/// Every topic key Kafka 4.x knows is accepted at creation and described
/// with its value; the keys the engine applies take effect; a value Kafka
/// refuses is INVALID_CONFIG naming the key.
#[test]
fn every_kafka_topic_key_is_accepted_described_and_checked() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    let overrides = [
        ("cleanup.policy", "compact,delete"),
        ("compression.type", "zstd"),
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "true"),
        ("min.cleanable.dirty.ratio", "0.2"),
        ("message.downconversion.enable", "false"),
        ("leader.replication.throttled.replicas", "0:1"),
        ("message.timestamp.before.max.ms", "60000"),
    ];
    let mut topic = NewTopic::new("every-key", 1, TopicReplication::Fixed(1));
    for (key, value) in overrides {
        topic = topic.set(key, value);
    }
    let created = block_on(admin.create_topics(&[topic], &AdminOptions::new())).unwrap();
    assert!(created[0].is_ok(), "{:?}", created[0]);

    let described = describe_topic(&admin, "every-key");
    for (key, value) in overrides {
        let entry = described
            .get(key)
            .unwrap_or_else(|| panic!("{key} not described"));
        assert_eq!(entry.value.as_deref(), Some(value), "{key}");
        assert_eq!(entry.source, ConfigSource::DynamicTopic, "{key}");
    }
    for (key, default) in [
        ("segment.index.bytes", "10485760"),
        ("compression.zstd.level", "3"),
        ("message.timestamp.after.max.ms", "3600000"),
        ("remote.storage.enable", "false"),
        ("local.retention.ms", "-2"),
    ] {
        let entry = described
            .get(key)
            .unwrap_or_else(|| panic!("{key} not described"));
        assert_eq!(entry.value.as_deref(), Some(default), "{key}");
        assert_eq!(entry.source, ConfigSource::Default, "{key}");
    }
    assert!(
        described.entries.len() >= 35,
        "{} keys",
        described.entries.len()
    );

    // message.timestamp.before.max.ms is applied: a CreateTime an hour old is refused.
    let producer = producer(&bootstrap, &[("acks", "all"), ("retries", "0")]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let sent = |timestamp| Sent {
        partition: 0,
        key: None,
        value: b"v".to_vec(),
        headers: vec![],
        timestamp: Some(timestamp),
    };
    // Two sends, so the old record starts its own batch (the bound is
    // checked against a batch's first timestamp).
    assert_eq!(
        send_all(&producer, "every-key", &[sent(now)])[0].error,
        None
    );
    let reports = send_all(&producer, "every-key", &[sent(now - 3_600_000)]);
    let refused = reports[0].error.as_deref().unwrap_or("accepted");
    assert!(refused.contains("imestamp"), "{refused}");

    let mut raw = Raw::connect(&broker);
    for (key, value) in [
        ("compression.type", "brotli"),
        ("min.insync.replicas", "0"),
        ("cleanup.policy", "forever"),
        ("message.format.version", "latest"),
    ] {
        let (code, message) = legacy_alter(&mut raw, TOPIC, "every-key", &[(key, value)]);
        assert_eq!(code, INVALID_CONFIG, "{key}={value}");
        assert!(message.unwrap().contains(key), "{key}");
    }
}

#[test]
fn delete_records_moves_the_log_start_and_consumers_begin_there() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    create(&admin, "trim", 2);
    let sent = records(0..2, 50, 100);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    for report in send_all(&producer, "trim", &sent) {
        assert_eq!(report.error, None);
    }

    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("trim", 0, rdkafka::Offset::Offset(20))
        .unwrap();
    offsets
        .add_partition_offset("trim", 1, rdkafka::Offset::End)
        .unwrap();
    let result = block_on(admin.delete_records(&offsets, &AdminOptions::new())).unwrap();
    let low = |partition| {
        let element = result.find_partition("trim", partition).unwrap();
        assert!(element.error().is_ok(), "{:?}", element.error());
        element.offset()
    };
    assert_eq!(low(0), rdkafka::Offset::Offset(20));
    assert_eq!(low(1), rdkafka::Offset::Offset(50));

    // ListOffsets earliest (-2) and latest (-1).
    let consumer = consumer(&bootstrap);
    assert_eq!(
        consumer.fetch_watermarks("trim", 0, TIMEOUT).unwrap(),
        (20, 50)
    );
    assert_eq!(
        consumer.fetch_watermarks("trim", 1, TIMEOUT).unwrap(),
        (50, 50)
    );

    // A consumer from the beginning starts at 20 on partition 0 and finds
    // nothing on partition 1.
    let read = read_from_beginning(&bootstrap, "trim", 2, 30);
    let offsets: Vec<(i32, i64)> = read.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(
        offsets,
        (20..50).map(|offset| (0, offset)).collect::<Vec<_>>()
    );
    let expected: Vec<&Sent> = sent.iter().filter(|s| s.partition == 0).skip(20).collect();
    assert_eq!(read.iter().map(|(_, _, s)| s).collect::<Vec<_>>(), expected);

    // Raw: below the start is a no-op, past the high watermark is
    // OFFSET_OUT_OF_RANGE, an unknown partition UNKNOWN_TOPIC_OR_PARTITION.
    let mut raw = Raw::connect(&broker);
    let partition = |index, offset| {
        DeleteRecordsPartition::default()
            .with_partition_index(index)
            .with_offset(offset)
    };
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("trim")))
            .with_partitions(vec![
                partition(0, 10),
                partition(0, 51),
                partition(7, 0),
            ])]);
    raw.send(ApiKey::DeleteRecords, 2, &request);
    let (_, response): (_, DeleteRecordsResponse) = raw.receive(ApiKey::DeleteRecords, 2).unwrap();
    let answers: Vec<(i32, i16, i64)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.low_watermark))
        .collect();
    assert_eq!(answers, [(0, 0, 20), (0, 1, -1), (7, 3, -1)]);
}

#[test]
fn cluster_log_dirs_and_leader_epochs_are_described() {
    let broker = Broker::start(2);
    let bootstrap = broker.bootstrap();
    let admin = admin(&bootstrap);
    create(&admin, "dirs", 3);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    for report in send_all(&producer, "dirs", &records(0..2, 10, 100)) {
        assert_eq!(report.error, None);
    }
    let mut raw = Raw::connect(&broker);

    // Every new API is advertised.
    raw.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let (_, versions): (_, ApiVersionsResponse) = raw.receive(ApiKey::ApiVersions, 3).unwrap();
    // As the one table says (server/src/api/versions.rs).
    for key in [
        ApiKey::CreatePartitions,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::DeleteRecords,
        ApiKey::DescribeCluster,
        ApiKey::DescribeLogDirs,
        ApiKey::OffsetForLeaderEpoch,
    ] {
        let range = ringlog::api::versions::supported(key).expect("in the table");
        let (min, max) = (*range.start(), *range.end());
        let entry = versions
            .api_keys
            .iter()
            .find(|entry| entry.api_key == key as i16)
            .unwrap_or_else(|| panic!("{key:?} not advertised"));
        assert_eq!(
            (entry.min_version, entry.max_version),
            (min, max),
            "{key:?}"
        );
    }

    // DescribeCluster: this broker, the cluster id, itself as controller.
    raw.send(
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default(),
    );
    let (_, cluster): (_, DescribeClusterResponse) =
        raw.receive(ApiKey::DescribeCluster, 1).unwrap();
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.cluster_id.as_str(), "ringlog-cluster");
    assert_eq!(cluster.controller_id.0, 1);
    assert_eq!(cluster.brokers.len(), 1);
    let this = &cluster.brokers[0];
    assert_eq!(
        (this.broker_id.0, this.host.as_str(), this.port),
        (1, "127.0.0.1", i32::from(broker.port))
    );

    // DescribeLogDirs, every partition: sizes from both shards.
    raw.send(
        ApiKey::DescribeLogDirs,
        4,
        &DescribeLogDirsRequest::default().with_topics(None),
    );
    let (_, dirs): (_, DescribeLogDirsResponse) = raw.receive(ApiKey::DescribeLogDirs, 4).unwrap();
    assert_eq!(dirs.error_code, 0);
    assert_eq!(dirs.results.len(), 1);
    let dir = &dirs.results[0];
    assert_eq!(dir.log_dir.as_str(), broker.data.display().to_string());
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0);
    let topic = dir
        .topics
        .iter()
        .find(|t| t.name.as_str() == "dirs")
        .unwrap();
    let mut sizes: Vec<(i32, i64)> = topic
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    sizes.sort();
    assert_eq!(sizes.len(), 3);
    assert!(sizes[0].1 > 1000 && sizes[1].1 > 1000, "{sizes:?}");
    assert_eq!(sizes[2], (2, 0), "no data in partition 2");
    // Only the partitions asked for.
    let request =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("dirs")))
                .with_partitions(vec![1])]));
    raw.send(ApiKey::DescribeLogDirs, 1, &request);
    let (_, dirs): (_, DescribeLogDirsResponse) = raw.receive(ApiKey::DescribeLogDirs, 1).unwrap();
    let topics = &dirs.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_index, 1);
    assert_eq!(topics[0].partitions[0].partition_size, sizes[1].1);

    // OffsetForLeaderEpoch: epoch 0 ends at the high watermark; a later
    // epoch is undefined; a newer current epoch is UNKNOWN_LEADER_EPOCH.
    let ask = |partition, current, epoch| {
        OffsetForLeaderPartition::default()
            .with_partition(partition)
            .with_current_leader_epoch(current)
            .with_leader_epoch(epoch)
    };
    let request =
        OffsetForLeaderEpochRequest::default().with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("dirs")))
            .with_partitions(vec![
                ask(0, 0, 0),
                ask(1, -1, 0),
                ask(2, 0, 0),
                ask(0, 0, 3),
                ask(0, 1, 0),
                ask(9, 0, 0),
            ])]);
    raw.send(ApiKey::OffsetForLeaderEpoch, 4, &request);
    let (_, epochs): (_, OffsetForLeaderEpochResponse) =
        raw.receive(ApiKey::OffsetForLeaderEpoch, 4).unwrap();
    let answers: Vec<(i32, i16, i32, i64)> = epochs.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition, p.error_code, p.leader_epoch, p.end_offset))
        .collect();
    assert_eq!(
        answers,
        [
            (0, 0, 0, 10),
            (1, 0, 0, 10),
            (2, 0, 0, 0),
            (0, 0, -1, -1),
            (0, 75, -1, -1),
            (9, 3, -1, -1),
        ]
    );
}
