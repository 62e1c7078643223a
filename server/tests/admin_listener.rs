//! The admin HTTP listener of the real broker: `/metrics` counts exactly
//! what was produced and fetched, per partition and shard; `/v1/status`
//! lists the partitions each shard owns; `/v1/ready` is 503 while the
//! shards open their partitions and while the broker stops, 200 between.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path`: (status, body); `None` if nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))?
        .parse()
        .ok()?;
    assert_eq!(body.len(), length, "Content-Length matches the body");
    Some((status, body.to_string()))
}

/// The samples of a scrape: (name, labels) → value.
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap();
                (key.to_string(), value.trim_matches('"').to_string())
            })
            .collect();
        let value = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap_or_else(|_| panic!("value of {line}"))
        };
        out.insert((name.to_string(), labels), value);
    }
    out
}

/// The value of the one series of `name` whose labels include `wanted`,
/// and its full labels; panics if there is not exactly one.
fn series(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    wanted: &[(&str, &str)],
) -> (BTreeMap<String, String>, f64) {
    let found: Vec<_> = samples
        .iter()
        .filter(|((series, labels), _)| {
            series == name
                && wanted
                    .iter()
                    .all(|(key, value)| labels.get(*key).map(String::as_str) == Some(*value))
        })
        .collect();
    assert_eq!(found.len(), 1, "one {name} {wanted:?}, found {found:?}");
    (found[0].0 .1.clone(), *found[0].1)
}

/// The sum of every series of `name` whose labels include `wanted`.
fn sum(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    wanted: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|((series, labels), _)| {
            series == name
                && wanted
                    .iter()
                    .all(|(key, value)| labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|(_, value)| value)
        .sum()
}

/// Which shard owns a partition: FNV-1a of the topic plus the partition,
/// as docs/broker.md states the placement.
fn shard_of(topic: &str, partition: i32, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    (hash.wrapping_add(partition as u64) % shards as u64) as usize
}

/// A batch of `records` records, each value `value_bytes` long.
fn batch(first: usize, records: usize, value_bytes: usize) -> Bytes {
    let mut builder = BatchBuilder::new();
    for index in first..first + records {
        let mut value = format!("{index}:").into_bytes();
        value.resize(value_bytes, b'v');
        builder = builder.record(Record::value(value, TimestampMs(1_700_000_000_000)));
    }
    Bytes::from(builder.build())
}

fn produce(raw: &mut Raw, topic: &str, partition: i32, acks: i16, records: Bytes) {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 9, &request);
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, 0);
}

fn fetch_all(raw: &mut Raw, topic: &str, partition: i32) -> Bytes {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(16 << 20)])]);
    let response: FetchResponse = raw.call(ApiKey::Fetch, 12, &request);
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0);
    data.records.clone().unwrap_or_default()
}

const SHARDS: usize = 2;

#[test]
fn metrics_count_the_records_and_bytes_produced_and_fetched() {
    let admin = free_port();
    let broker = Broker::start_with(SHARDS, &[&format!("admin.listener=127.0.0.1:{admin}")]);
    create_topic(&broker, "metered", 4);
    create_topic(&broker, "quiet", 3);
    let mut raw = Raw::connect(&broker);
    // N = 40 records of B = 100 bytes, in 8 batches, to partition 2; the
    // last batch with acks=all, so one fdatasync at least is timed.
    const BATCHES: usize = 8;
    const PER_BATCH: usize = 5;
    const VALUE_BYTES: usize = 100;
    let mut sent = Vec::new();
    for index in 0..BATCHES {
        let records = batch(index * PER_BATCH, PER_BATCH, VALUE_BYTES);
        sent.extend_from_slice(&records);
        let acks = if index + 1 == BATCHES { -1 } else { 1 };
        produce(&mut raw, "metered", 2, acks, records);
    }
    let fetched = fetch_all(&mut raw, "metered", 2);
    // Every batch comes back whole (the broker set the base offsets).
    assert_eq!(fetched.len(), sent.len(), "the fetch returns every batch");
    let values = record_values(&fetched);
    assert_eq!(values.len(), BATCHES * PER_BATCH);
    for (index, value) in values.iter().enumerate() {
        assert!(value.starts_with(&format!("{index}:")), "record {index}");
        assert_eq!(value.len(), VALUE_BYTES);
    }

    let (status, text) = get(admin, "/metrics").expect("the admin listener answers");
    assert_eq!(status, 200);
    let samples = samples(&text);
    let owner = shard_of("metered", 2, SHARDS).to_string();
    let partition = [("topic", "metered"), ("partition", "2")];
    let records = (BATCHES * PER_BATCH) as f64;
    let bytes = sent.len() as f64;
    for (name, expected) in [
        ("ringlog_partition_records_in_total", records),
        ("ringlog_partition_bytes_in_total", bytes),
        ("ringlog_partition_records_out_total", records),
        ("ringlog_partition_bytes_out_total", bytes),
        ("ringlog_partition_log_end_offset", records),
        ("ringlog_partition_high_watermark", records),
    ] {
        let (labels, value) = series(&samples, name, &partition);
        assert_eq!(value, expected, "{name}");
        assert_eq!(labels["shard"], owner, "{name} is labelled with the owner");
    }
    let (_, flushed) = series(&samples, "ringlog_partition_flushed_offset", &partition);
    assert_eq!(flushed, records, "acks=all flushed everything before it");
    let (_, size) = series(&samples, "ringlog_partition_size_bytes", &partition);
    assert_eq!(size, bytes, "the segment holds the batches exactly");
    let (_, segments) = series(&samples, "ringlog_partition_segments", &partition);
    assert_eq!(segments, 1.0);
    // Every other partition of both topics has its series, at zero.
    for (topic, partitions) in [("metered", 4), ("quiet", 3)] {
        for index in 0..partitions {
            if topic == "metered" && index == 2 {
                continue;
            }
            let index = index.to_string();
            let labels = [("topic", topic), ("partition", index.as_str())];
            let (_, value) = series(&samples, "ringlog_partition_bytes_in_total", &labels);
            assert_eq!(value, 0.0, "{topic}-{index}");
        }
    }
    // The shard totals agree with the partition counts.
    assert_eq!(
        sum(&samples, "ringlog_shard_records_in_total", &[]),
        records
    );
    assert_eq!(sum(&samples, "ringlog_shard_bytes_out_total", &[]), bytes);
    // Requests by API and version, with one latency sample each.
    let produce = [("api", "Produce"), ("version", "9")];
    assert_eq!(
        sum(&samples, "ringlog_requests_total", &produce),
        BATCHES as f64
    );
    assert_eq!(
        sum(&samples, "ringlog_request_latency_seconds_count", &produce),
        BATCHES as f64
    );
    let le_inf = [("api", "Produce"), ("version", "9"), ("le", "+Inf")];
    assert_eq!(
        sum(&samples, "ringlog_request_latency_seconds_bucket", &le_inf),
        BATCHES as f64
    );
    let fetch = [("api", "Fetch"), ("version", "12")];
    assert_eq!(sum(&samples, "ringlog_requests_total", &fetch), 1.0);
    // Each produce's partition work was queued once on its owner.
    assert_eq!(
        sum(&samples, "ringlog_produce_queue_time_seconds_count", &[]),
        BATCHES as f64
    );
    assert!(sum(&samples, "ringlog_fetch_queue_time_seconds_count", &[]) >= 1.0);
    assert!(sum(&samples, "ringlog_fdatasync_latency_seconds_count", &[]) >= 1.0);
    // The fetched bytes went out by sendfile or from memory.
    let sent_somehow = sum(&samples, "ringlog_fetch_sendfile_bytes_total", &[])
        + sum(&samples, "ringlog_fetch_copied_bytes_total", &[]);
    assert!(sent_somehow >= bytes, "{sent_somehow} < {bytes}");
    assert_eq!(sum(&samples, "ringlog_open_connections", &[]), 1.0);
    assert_eq!(sum(&samples, "ringlog_shard_serving", &[]), SHARDS as f64);
    assert!(sum(&samples, "ringlog_timer_lateness_seconds_count", &[]) > 0.0);
    // No error was answered yet; an unknown partition is counted by code.
    assert_eq!(sum(&samples, "ringlog_errors_total", &[]), 0.0);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("metered")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(9)
                .with_records(Some(batch(0, 1, 10)))])]);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 9, &request);
    assert_eq!(response.responses[0].partition_responses[0].error_code, 3);
    let (_, text) = get(admin, "/metrics").unwrap();
    let samples = self::samples(&text);
    let (labels, count) = series(
        &samples,
        "ringlog_errors_total",
        &[("api", "Produce"), ("code", "3")],
    );
    assert_eq!(count, 1.0);
    assert_eq!(labels["error"], "UnknownTopicOrPartition");
    // Other APIs count theirs too: deleting two topics that do not exist.
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
    let request = DeleteTopicsRequest::default()
        .with_topics(
            ["ghost-1", "ghost-2"]
                .iter()
                .map(|name| {
                    DeleteTopicState::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(name))))
                })
                .collect(),
        )
        .with_timeout_ms(5000);
    let response: DeleteTopicsResponse = raw.call(ApiKey::DeleteTopics, 6, &request);
    assert!(response.responses.iter().all(|topic| topic.error_code == 3));
    let (_, text) = get(admin, "/metrics").unwrap();
    let samples = self::samples(&text);
    let (_, count) = series(
        &samples,
        "ringlog_errors_total",
        &[("api", "DeleteTopics"), ("code", "3")],
    );
    assert_eq!(count, 2.0);
}

#[test]
fn status_lists_the_partitions_each_shard_owns() {
    let admin = free_port();
    let broker = Broker::start_with(
        SHARDS,
        &[&format!("admin.listener=127.0.0.1:{admin}"), "node.id=7"],
    );
    let topics = [("alpha", 5), ("beta", 3), ("gamma", 8)];
    for (topic, partitions) in topics {
        create_topic(&broker, topic, partitions);
    }
    let mut expected = vec![0u64; SHARDS];
    for (topic, partitions) in topics {
        for partition in 0..partitions {
            expected[shard_of(topic, partition, SHARDS)] += 1;
        }
    }
    let (status, body) = get(admin, "/v1/status").unwrap();
    assert_eq!(status, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["node_id"], 7);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["shards"], SHARDS);
    assert_eq!(status["ready"], true);
    assert_eq!(status["topics"], topics.len());
    let per_shard: Vec<u64> = status["partitions_per_shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|count| count.as_u64().unwrap())
        .collect();
    assert_eq!(per_shard, expected, "{body}");
    assert!(status["uptime_seconds"].as_f64().unwrap() > 0.0);
    // Unknown paths and other methods get their own answers.
    assert_eq!(get(admin, "/nope").unwrap().0, 404);
    let mut stream = TcpStream::connect(("127.0.0.1", admin)).unwrap();
    stream.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    // A garbage request head is a 400, not a hang or a crash.
    let mut stream = TcpStream::connect(("127.0.0.1", admin)).unwrap();
    stream.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(get(admin, "/v1/ready").unwrap().0, 200);
}

/// Partitions enough that opening them takes a while after a restart.
const SLOW_START_PARTITIONS: i32 = 100;

#[test]
fn ready_is_503_while_partitions_open_and_while_stopping() {
    let mut broker = Broker::start(1);
    create_topic(&broker, "many", SLOW_START_PARTITIONS);
    broker.stop();
    let admin = free_port();
    let kafka = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .arg("serve")
        .args([
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{kafka}"),
        ])
        .args(["--override", &format!("log.dirs={}", broker.data.display())])
        .args(["--override", "num.shards=1"])
        .args(["--override", &format!("admin.listener=127.0.0.1:{admin}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "never ready: {seen:?}");
        assert!(child.try_wait().unwrap().is_none(), "the broker exited");
        match get(admin, "/v1/ready") {
            Some((200, _)) => break,
            Some((503, body)) => {
                assert!(body.contains("not serving yet"), "{body}");
                seen.push(503);
                std::thread::sleep(Duration::from_millis(2));
            }
            Some(other) => panic!("unexpected answer {other:?}"),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(
        !seen.is_empty(),
        "the admin listener answered 503 while {SLOW_START_PARTITIONS} partitions opened"
    );
    // Ready means the Kafka listener answers too.
    assert!(TcpStream::connect(("127.0.0.1", kafka)).is_ok());
    let (_, body) = get(admin, "/v1/status").unwrap();
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["partitions_per_shard"][0], SLOW_START_PARTITIONS);
    // Stopping: once the broker has taken the signal (the main thread sets
    // the stop flag moments after SIGTERM) it answers 503, never 200 again.
    let _client = TcpStream::connect(("127.0.0.1", kafka)).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut stopping = 0;
    while child.try_wait().unwrap().is_none() {
        match get(admin, "/v1/ready") {
            Some((503, body)) => {
                assert!(body.contains("stopping"), "{body}");
                stopping += 1;
            }
            Some((200, _)) if stopping == 0 => {} // the signal not taken yet
            Some(other) => panic!("answered {other:?} while stopping"),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(stopping > 0, "a 503 was seen while the broker stopped");
}

#[test]
fn a_bad_admin_listener_stops_serve_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .arg("serve")
        .args(["--override", &format!("log.dirs={}", dir.path().display())])
        .args([
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{}", free_port()),
        ])
        .args(["--override", "admin.listener=127.0.0.1:notaport"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("admin.listener"), "{stderr}");
}

#[test]
fn consumer_group_lag_is_the_high_watermark_less_the_committed_offset() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetCommitResponse};
    let admin = free_port();
    let broker = Broker::start_with(SHARDS, &[&format!("admin.listener=127.0.0.1:{admin}")]);
    create_topic(&broker, "lagged", 2);
    let mut raw = Raw::connect(&broker);
    produce(&mut raw, "lagged", 1, 1, batch(0, 10, 20));
    // A group that only stores offsets: generation -1, no member.
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("lag-group")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("lagged")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(4)])]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response: OffsetCommitResponse = raw.call(ApiKey::OffsetCommit, 8, &request);
        match response.topics[0].partitions[0].error_code {
            0 => break,
            // COORDINATOR_LOAD_IN_PROGRESS while the offsets log loads.
            14 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            code => panic!("commit answered {code}"),
        }
    }
    let (_, text) = get(admin, "/metrics").unwrap();
    let samples = samples(&text);
    let wanted = [
        ("group", "lag-group"),
        ("topic", "lagged"),
        ("partition", "1"),
    ];
    let (_, committed) = series(&samples, "ringlog_consumer_group_committed_offset", &wanted);
    assert_eq!(committed, 4.0);
    let (_, lag) = series(&samples, "ringlog_consumer_group_lag", &wanted);
    assert_eq!(lag, 6.0, "10 records, committed up to 4");
}
