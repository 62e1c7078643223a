//! A full disk, for real: `log.dirs` on a 256 MiB ext4 filesystem in a
//! loop-mounted image, filled by an acks=all and an acks=1 librdkafka
//! producer at once. Needs root and a loop device; without them the test
//! says so and does nothing.
//!
//! While the disk is full: producers get KAFKA_STORAGE_ERROR promptly (no
//! timeouts); new connections get ApiVersions answered; Metadata, Fetch of
//! everything acknowledged, a group commit into the offsets log's reserved
//! space, DeleteRecords and DeleteTopics all work. When space returns (the
//! test deletes a file it put there, then a topic) writes resume without a
//! restart. After a kill -9 and a restart on the full disk, every
//! acknowledged record is at its offset with its bytes.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::TopicPartitionList;
use support::kafka::{consumer, producer, Reports};
use support::loop_disk::LoopDisk;
use support::{create_topic, Broker, Raw};

const IMAGE_BYTES: u64 = 256 * 1024 * 1024;
/// A file the test writes before the broker fills the disk and deletes to
/// give space back (more than ext4's 5% reserved for root, so unprivileged
/// space really returns).
const BALLAST_BYTES: usize = 40 * 1024 * 1024;
const VALUE_BYTES: usize = 1000;
const STORAGE_ERROR: i16 = 56;

fn value(tag: &str, id: usize) -> Vec<u8> {
    let mut value = format!("{tag}-{id:08}-").into_bytes();
    value.resize(VALUE_BYTES, b'.');
    value
}

/// What one producer saw: acknowledged `(offset, value id)` and errors.
#[derive(Default)]
struct Outcome {
    acknowledged: Vec<(i64, usize)>,
    errors: Vec<String>,
}

/// Produces `tag` values to `topic` with `acks` until `errors_wanted`
/// deliveries failed, or `count` were sent when `count` is given.
fn produce(
    bootstrap: &str,
    topic: &str,
    acks: &str,
    tag: &str,
    first_id: usize,
    errors_wanted: usize,
    count: Option<usize>,
) -> Outcome {
    let producer = producer(
        bootstrap,
        &[
            ("acks", acks),
            ("retries", "0"),
            ("message.timeout.ms", "20000"),
            ("queue.buffering.max.messages", "20000"),
        ],
    );
    let take = |producer: &rdkafka::producer::BaseProducer<Reports>, outcome: &mut Outcome| {
        for report in producer.context().0.lock().unwrap().drain(..) {
            match report.error {
                None => outcome.acknowledged.push((report.offset, report.id)),
                Some(error) => outcome.errors.push(error),
            }
        }
    };
    let mut outcome = Outcome::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut id = first_id;
    loop {
        take(&producer, &mut outcome);
        let done = match count {
            Some(count) => id >= first_id + count,
            None => outcome.errors.len() >= errors_wanted,
        };
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "{tag}: the disk never filled");
        let payload = value(tag, id);
        let record = BaseRecord::<(), [u8], Box<usize>>::with_opaque_to(topic, Box::new(id))
            .partition(0)
            .payload(payload.as_slice());
        match producer.send(record) {
            Ok(()) => id += 1,
            Err(_) => {
                producer.poll(Duration::from_millis(5));
            }
        }
        producer.poll(Duration::ZERO);
    }
    // Whatever is still in flight is answered promptly too: well before
    // message.timeout.ms, so it is the broker answering, not a timeout.
    let started = Instant::now();
    producer.flush(Duration::from_secs(15)).expect("flush");
    assert!(started.elapsed() < Duration::from_secs(10));
    take(&producer, &mut outcome);
    outcome
}

/// Every record of `topic`-0 from the log start to the high watermark, by offset.
fn read_partition(bootstrap: &str, topic: &str) -> BTreeMap<i64, Vec<u8>> {
    let consumer = consumer(bootstrap);
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Offset(low))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < (high - low) as usize {
        assert!(
            Instant::now() < deadline,
            "read {} of {}",
            out.len(),
            high - low
        );
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        use rdkafka::Message;
        out.insert(
            message.offset(),
            message.payload().unwrap_or_default().to_vec(),
        );
    }
    out
}

/// Every acknowledged record is at its offset with its bytes; anything
/// else in the log is a record sent to this topic (a batch the broker had
/// taken before the disk filled is written once space returns, even if its
/// producer was told KAFKA_STORAGE_ERROR), and offsets are contiguous.
fn assert_acknowledged_intact(
    stored: &BTreeMap<i64, Vec<u8>>,
    acknowledged: &[(i64, usize)],
    tag: &str,
    from_offset: i64,
) {
    for (offset, id) in acknowledged {
        if *offset < from_offset {
            continue;
        }
        assert_eq!(
            stored.get(offset).map(Vec::as_slice),
            Some(value(tag, *id).as_slice()),
            "{tag}: acknowledged record {id} at offset {offset}"
        );
    }
    let prefix = format!("{tag}-");
    for (offset, bytes) in stored {
        assert!(
            bytes.starts_with(prefix.as_bytes()),
            "{tag}: stranger at {offset}"
        );
    }
    let offsets: Vec<i64> = stored.keys().copied().collect();
    assert!(
        offsets.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{tag}: offsets contiguous"
    );
}

fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_string()))
}

/// One acks=-1 produce over a raw connection: its error code, answered
/// within the connection's read timeout.
fn raw_produce_all(broker: &Broker, topic: &str) -> i16 {
    let records = engine::record_batch::BatchBuilder::new()
        .record(engine::record_batch::Record::value(
            format!("{topic}-probe").into_bytes(),
            engine::TimestampMs::now(),
        ))
        .build();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.into()))])]);
    let mut raw = Raw::connect(broker);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 8, &request);
    response.responses[0].partition_responses[0].error_code
}

fn produce_until_accepted(broker: &Broker, topic: &str) -> Duration {
    let started = Instant::now();
    loop {
        if raw_produce_all(broker, topic) == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "writes did not resume\n{}",
            broker.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fills the disk with the acks=all producer, and the acks=1 one too
/// while its topic is there.
fn fill(broker: &Broker, first_id: usize, with_acks_1: bool) -> (Outcome, Outcome) {
    let bootstrap = &broker.bootstrap();
    let (all, one) = std::thread::scope(|scope| {
        let all = scope.spawn(|| produce(bootstrap, "all", "all", "all", first_id, 300, None));
        let one = with_acks_1
            .then(|| scope.spawn(|| produce(bootstrap, "one", "1", "one", first_id, 300, None)));
        let one = one.map_or_else(Outcome::default, |one| one.join().unwrap());
        (all.join().unwrap(), one)
    });
    for outcome in [&all, &one] {
        let unexpected: HashSet<&String> = outcome
            .errors
            .iter()
            .filter(|error| !error.contains("KAFKA_STORAGE_ERROR") && !error.contains("Disk error"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "errors other than a storage error: {unexpected:?}\n{}",
            broker.log_text()
        );
    }
    (all, one)
}

#[test]
fn a_full_disk_answers_storage_errors_keeps_serving_and_resumes_without_a_restart() {
    let Some(disk) = LoopDisk::mount("disk_full", IMAGE_BYTES) else {
        return;
    };
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0x5a; BALLAST_BYTES]).unwrap();
    // Segments of 16 MiB: preallocation, retried when space returns, then
    // takes at most that much of what the ballast freed, so one partition
    // cannot swallow all of it (which made "writes resume" a race between
    // the two partitions' retries).
    let mut broker =
        Broker::start_logged_in(disk.path().join("data"), 2, &["log.segment.bytes=16777216"]);
    let started = Instant::now();
    let phase = |name: &str| eprintln!("{:>6.1?} {name}", started.elapsed());
    let bootstrap = broker.bootstrap();
    create_topic(&broker, "all", 1);
    create_topic(&broker, "one", 1);

    // A group commits once while there is room: its offsets-log segment
    // (and the space reserved for it) exists before the disk fills.
    let group = consumer(&bootstrap);
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("all", 0, rdkafka::Offset::Offset(0))
        .unwrap();
    group
        .commit(&commit, CommitMode::Sync)
        .expect("first commit");

    phase("fill");
    // Fill it: both producers get storage errors, promptly.
    let (mut all, mut one) = fill(&broker, 0, true);
    assert!(all.acknowledged.len() > 1000 && one.acknowledged.len() > 1000);

    phase("probes");
    // Still serving: new connections, Metadata, Fetch, a group commit that
    // fits, DeleteRecords; and a produce is answered with the error at once.
    for _ in 0..10 {
        let mut raw = Raw::connect(&broker);
        let versions: ApiVersionsResponse =
            raw.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(versions.error_code, 0);
    }
    let mut raw = Raw::connect(&broker);
    let metadata: MetadataResponse = raw.call(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    assert_eq!(metadata.topics.len(), 2);
    let started = Instant::now();
    assert_eq!(raw_produce_all(&broker, "all"), STORAGE_ERROR);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_acknowledged_intact(
        &read_partition(&bootstrap, "all"),
        &all.acknowledged,
        "all",
        0,
    );
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("all", 0, rdkafka::Offset::Offset(7))
        .unwrap();
    group
        .commit(&commit, CommitMode::Sync)
        .expect("a commit that fits");
    let trim_to = one.acknowledged[one.acknowledged.len() / 2].0;
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name("one"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(trim_to)])]);
    let deleted: DeleteRecordsResponse = raw.call(ApiKey::DeleteRecords, 2, &request);
    let partition = &deleted.topics[0].partitions[0];
    assert_eq!(
        (partition.error_code, partition.low_watermark),
        (0, trim_to)
    );

    phase("ballast");
    // Space returns (the test's own file goes): writes resume, no restart.
    std::fs::remove_file(&ballast).unwrap();
    let waited = produce_until_accepted(&broker, "all");
    eprintln!("writes resumed {waited:?} after the ballast went");
    let (again_all, _) = fill(&broker, 1_000_000, true);
    all.acknowledged.extend(again_all.acknowledged);

    phase("delete-topics");
    // Full again: DeleteTopics works and frees the space.
    let deleted: DeleteTopicsResponse = raw.call(
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![name("one")])
            .with_timeout_ms(10000),
    );
    assert_eq!(
        deleted.responses[0].error_code, 0,
        "{:?}",
        deleted.responses[0]
    );
    produce_until_accepted(&broker, "all");
    let more = produce(&bootstrap, "all", "all", "all", 2_000_000, 0, Some(2000));
    assert!(
        more.errors.is_empty(),
        "{:?}",
        &more.errors[..more.errors.len().min(3)]
    );
    all.acknowledged.extend(more.acknowledged);
    one.acknowledged.clear();

    phase("restart");
    // A shutdown (it must not hang on the full disk) and a restart on the
    // disk as it is: every acknowledged record is there, at its offset,
    // byte for byte.
    let (last, _) = fill(&broker, 3_000_000, false);
    all.acknowledged.extend(last.acknowledged);
    broker.restart();
    let stored = read_partition(&bootstrap, "all");
    assert_acknowledged_intact(&stored, &all.acknowledged, "all", 0);
    let mut restarted = Raw::connect(&broker);
    let metadata: MetadataResponse = restarted.call(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    let topics: Vec<String> = metadata
        .topics
        .iter()
        .filter_map(|topic| topic.name.as_ref().map(|name| name.to_string()))
        .collect();
    assert_eq!(topics, ["all"]);
    broker.stop();

    phase("log");
    let log = broker.log_text();
    assert!(
        log.contains("disk full: appends get KAFKA_STORAGE_ERROR"),
        "{log}"
    );
    assert!(log.contains("disk space returned"), "{log}");
    assert!(!log.contains("partition offline"), "{log}");
    let counters: HashMap<&str, u64> = log
        .lines()
        .filter(|line| line.contains("storage counters"))
        .flat_map(|line| line.split_whitespace())
        .filter_map(|field| field.split_once('='))
        .filter_map(|(key, value)| Some((key, value.parse::<u64>().ok()?)))
        .fold(HashMap::new(), |mut sums, (key, value)| {
            *sums.entry(key).or_default() += value;
            sums
        });
    assert!(
        counters.get("disk_full_episodes").copied().unwrap_or(0) >= 1,
        "{counters:?}"
    );
    assert_eq!(
        counters.get("partitions_offline").copied(),
        Some(0),
        "{counters:?}"
    );
}
