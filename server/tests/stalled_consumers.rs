//! Consumers that fetch and never read cost their connections, nothing
//! else: a producer on the same shard keeps its latency and its segments
//! keep rolling while eight of them sit on large fetch answers, and the
//! send deadline closes them.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::ApiKey;
use support::*;

const SEGMENT_BYTES: usize = 1 << 20;
const SEND_TIMEOUT_MS: u64 = 15_000;

fn batch(records: usize, value_bytes: usize, tag: u8) -> Bytes {
    let mut builder = BatchBuilder::new();
    for _ in 0..records {
        builder = builder.record(Record::value(
            vec![tag; value_bytes],
            TimestampMs(1_700_000_000_000),
        ));
    }
    Bytes::from(builder.build())
}

/// Produces `count` 16 KiB batches one after the other (acks=1) and
/// returns each round trip's latency, sorted.
fn produce_latencies(raw: &mut Raw, count: usize) -> Vec<Duration> {
    let records = batch(16, 1000, b'p');
    let mut latencies: Vec<Duration> = (0..count)
        .map(|_| {
            let started = Instant::now();
            let answer = raw.produce("live", 0, records.clone());
            assert_eq!(answer.error_code, 0);
            started.elapsed()
        })
        .collect();
    latencies.sort();
    latencies
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

fn create_topic_with(broker: &Broker, name: &str, configs: &[(&str, &str)]) {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let configs = configs
        .iter()
        .map(|(key, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(key.to_string()))
                .with_value(Some(StrBytes::from_string(value.to_string())))
        })
        .collect();
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(configs);
    let mut raw = Raw::connect(broker);
    let response: CreateTopicsResponse = raw.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(5000),
    );
    assert_eq!(response.topics[0].error_code, 0);
}

fn segments(broker: &Broker, partition_dir: &str) -> usize {
    std::fs::read_dir(broker.data.join(partition_dir))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count()
}

#[test]
fn consumers_that_never_read_do_not_stall_the_shard() {
    let segment_bytes = format!("log.segment.bytes={SEGMENT_BYTES}");
    let send_timeout = format!("socket.send.timeout.ms={SEND_TIMEOUT_MS}");
    // One shard: the consumers, the producer and both partitions share it.
    let broker = Broker::start_logged(1, &[&segment_bytes, &send_timeout]);
    // The consumers' topic keeps its 32 MiB in one segment, so one fetch
    // answer carries all of it; the producer's rolls every 1 MiB.
    create_topic_with(&broker, "big", &[("segment.bytes", "67108864")]);
    create_topic(&broker, "live", 1);

    // 32 MiB for the consumers to fetch.
    let mut loader = Raw::connect(&broker);
    for index in 0..40u8 {
        let answer = loader.produce("big", 0, batch(8, 100_000, b'a' + index % 26));
        assert_eq!(answer.error_code, 0);
    }

    let mut producer = Raw::connect(&broker);
    produce_latencies(&mut producer, 50); // warm up
    let before = produce_latencies(&mut producer, 300);

    // Eight consumers each ask for all of it and never read the answer.
    let mut stalled: Vec<Raw> = (0..8).map(|_| Raw::connect(&broker)).collect();
    for raw in &mut stalled {
        raw.send(ApiKey::Fetch, 12, &fetch_request("big", 0, 0, 64 << 20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let rolled_before = segments(&broker, "live-0");
    let stalled_started = Instant::now();
    let during = produce_latencies(&mut producer, 300);
    let during_took = stalled_started.elapsed();
    let rolled_during = segments(&broker, "live-0") - rolled_before;
    let after = produce_latencies(&mut producer, 300);

    let baseline = p99(&before).max(p99(&after));
    eprintln!(
        "produce p99: before {:?}, with 8 stalled consumers {:?}, after {:?}; \
         {rolled_during} segments rolled in {during_took:?}",
        p99(&before),
        p99(&during),
        p99(&after)
    );
    assert!(
        during_took < Duration::from_millis(SEND_TIMEOUT_MS),
        "the stalled phase must end before the send deadline closes the consumers"
    );
    // 300 batches of ~16 KiB fill several 1 MiB segments.
    assert!(
        rolled_during >= 3,
        "{rolled_during} segments rolled beside the stalled consumers"
    );
    // Within 2x of the runs without them; a 5 ms floor keeps a debug
    // build on a loaded 2-core machine from failing on scheduler noise.
    let bound = 2 * baseline.max(Duration::from_millis(5));
    assert!(
        p99(&during) <= bound,
        "p99 {:?} with stalled consumers, bound {bound:?}",
        p99(&during)
    );

    // The send deadline closes them: each one's socket buffers hold part
    // of the answer, then the stream ends.
    let deadline = Instant::now() + Duration::from_millis(SEND_TIMEOUT_MS) * 2;
    loop {
        let closed = broker.log_text().matches("socket.send.timeout.ms").count();
        if closed == stalled.len() {
            break;
        }
        if Instant::now() >= deadline {
            let pid = broker.pid();
            for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
                let task = task.unwrap().path();
                let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
                let wchan = std::fs::read_to_string(task.join("wchan")).unwrap_or_default();
                eprintln!("thread {} waits in {wchan}", comm.trim());
            }
            eprintln!("{}", broker.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "{closed} of {} stalled consumers closed",
            stalled.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = broker.log_text();
    assert!(
        log.contains("api_key=\"Fetch\"") || log.contains("api_key=Fetch"),
        "the close names the request:\n{log}"
    );
    for raw in &mut stalled {
        let mut sink = Vec::new();
        let drained = std::io::Read::read_to_end(&mut raw.stream, &mut sink);
        assert!(drained.is_ok() || raw_is_reset(&drained), "{drained:?}");
        assert!(sink.len() < 64 << 20, "the answer was cut short");
    }
}

fn raw_is_reset(result: &std::io::Result<usize>) -> bool {
    matches!(result, Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset)
}

#[test]
fn a_consumer_that_pauses_gets_every_byte_of_answers_from_memory() {
    let mut broker = Broker::start_logged(1, &[]);
    create_topic(&broker, "recent", 1);
    // 2.4 MB just appended: the active segment's tail (4 MiB in memory)
    // holds it, so the answers' records are byte parts, not file ranges.
    let mut loader = Raw::connect(&broker);
    let batches: Vec<Bytes> = (0..3u8).map(|tag| batch(8, 100_000, b'a' + tag)).collect();
    for batch in &batches {
        assert_eq!(loader.produce("recent", 0, batch.clone()).error_code, 0);
    }
    let stored_bytes: usize = batches.iter().map(|batch| batch.len()).sum();
    let values: Vec<String> = (0..3u8)
        .flat_map(|tag| std::iter::repeat_n(((b'a' + tag) as char).to_string().repeat(100_000), 8))
        .collect();

    // Twelve pipelined fetches of all of it (29 MB of answers) that the
    // consumer does not read for a while: the socket fills, the broker
    // waits for room and resumes where it stopped.
    let mut consumer = Raw::connect(&broker);
    let sent: Vec<i32> = (0..12)
        .map(|_| consumer.send(ApiKey::Fetch, 12, &fetch_request("recent", 0, 0, 8 << 20)))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    for correlation_id in sent {
        let (answered, mut response): (_, kafka_protocol::messages::FetchResponse) = consumer
            .receive(ApiKey::Fetch, 12)
            .expect("the fetch is answered");
        assert_eq!(answered, correlation_id);
        let data = response.responses.remove(0).partitions.remove(0);
        assert_eq!(data.error_code, 0);
        let records = data.records.unwrap_or_default();
        assert_eq!(records.len(), stored_bytes, "every stored byte");
        assert!(record_values(&records) == values, "the records, in order");
    }
    broker.stop();
    let memory = fetch_counter(&broker.log_text(), "memory_record_bytes");
    assert!(
        memory >= 12 * stored_bytes as u64,
        "{memory} record bytes from memory: the answers were not byte parts"
    );
}
