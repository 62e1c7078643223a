//! Many partitions on one broker, with librdkafka (the `rdkafka` crate) as
//! the client, for bench/partition-density.sh:
//!
//! ```text
//! partition_density HOST:PORT create  TOPICS PARTITIONS      topics d-0 .. d-(TOPICS-1)
//! partition_density HOST:PORT produce TOPICS PARTITIONS BYTES one record to every partition
//! partition_density HOST:PORT verify  TOPICS PARTITIONS BYTES read each record back, byte for byte
//! partition_density HOST:PORT led     TOPICS PARTITIONS SECS  until Metadata shows every
//!                                                             partition with a leader
//! ```
//! Each prints one line with what it did and how long it took; a failure
//! (a record not acknowledged, not read back, a partition without a
//! leader in time) exits non-zero with the reason.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

fn topic(index: usize) -> String {
    format!("d-{index}")
}

/// The record stored in `topic`-`partition`: its name, padded to `bytes`.
fn value(topic: &str, partition: i32, bytes: usize) -> Vec<u8> {
    let mut value = format!("{topic}/{partition}/").into_bytes();
    value.resize(bytes.max(value.len()), b'.');
    value
}

fn fail(message: String) -> ! {
    eprintln!("partition_density: {message}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        fail(
            "usage: partition_density HOST:PORT create|produce|verify|led TOPICS PARTITIONS [ARG]"
                .into(),
        );
    }
    let bootstrap = &args[1];
    let topics: usize = args[3].parse().expect("TOPICS");
    let partitions: i32 = args[4].parse().expect("PARTITIONS");
    let arg: u64 = args
        .get(5)
        .map_or(1000, |value| value.parse().expect("a number"));
    let started = Instant::now();
    match args[2].as_str() {
        "create" => block_on(create(bootstrap, topics, partitions)),
        "produce" => produce(bootstrap, topics, partitions, arg as usize),
        "verify" => verify(bootstrap, topics, partitions, arg as usize),
        "led" => led(bootstrap, topics, partitions, Duration::from_secs(arg)),
        other => fail(format!("unknown command {other}")),
    }
    println!(
        "{} {} partitions: {:.2} s",
        args[2],
        topics * partitions as usize,
        started.elapsed().as_secs_f64()
    );
}

/// Polls `future` on this thread, parking between wake-ups (rdkafka's
/// futures complete from its own threads, whatever runs them).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

async fn create(bootstrap: &str, topics: usize, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let names: Vec<String> = (0..topics).map(topic).collect();
    for group in names.chunks(10) {
        let new: Vec<NewTopic> = group
            .iter()
            .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = admin
            .create_topics(&new, &options)
            .await
            .unwrap_or_else(|error| fail(format!("CreateTopics: {error}")));
        for result in results {
            if let Err((name, code)) = result {
                fail(format!("creating {name}: {code}"));
            }
        }
    }
}

/// One delivery report: topic, partition, and the offset or the error.
type Report = (String, i32, Result<i64, String>);

/// The producer's delivery reports.
struct Deliveries(std::sync::Mutex<Vec<Report>>);

impl rdkafka::ClientContext for Deliveries {}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        let report = match result {
            Ok(message) => (
                message.topic().to_string(),
                message.partition(),
                Ok(message.offset()),
            ),
            Err((error, message)) => (
                message.topic().to_string(),
                message.partition(),
                Err(error.to_string()),
            ),
        };
        self.0.lock().unwrap().push(report);
    }
}

fn produce(bootstrap: &str, topics: usize, partitions: i32, bytes: usize) {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries(Default::default()))
        .expect("producer");
    for index in 0..topics {
        let name = topic(index);
        for partition in 0..partitions {
            let payload = value(&name, partition, bytes);
            let record = BaseRecord::<(), [u8]>::to(&name)
                .partition(partition)
                .payload(&payload);
            if let Err((error, _)) = producer.send(record) {
                fail(format!("queueing for {name}-{partition}: {error}"));
            }
            producer.poll(Duration::ZERO);
        }
    }
    if let Err(error) = producer.flush(Duration::from_secs(120)) {
        fail(format!("flushing: {error}"));
    }
    let reports = std::mem::take(&mut *producer.context().0.lock().unwrap());
    if reports.len() != topics * partitions as usize {
        fail(format!(
            "{} delivery reports for {} records",
            reports.len(),
            topics * partitions as usize
        ));
    }
    for (name, partition, result) in reports {
        match result {
            Ok(0) => {}
            Ok(offset) => fail(format!(
                "{name}-{partition}: stored at offset {offset}, expected 0 (produced twice?)"
            )),
            Err(error) => fail(format!("{name}-{partition}: {error}")),
        }
    }
}

fn verify(bootstrap: &str, topics: usize, partitions: i32, bytes: usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "partition-density-verify")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    let mut missing = HashSet::new();
    for index in 0..topics {
        let name = topic(index);
        for partition in 0..partitions {
            assignment
                .add_partition_offset(&name, partition, Offset::Beginning)
                .expect("assignment");
            missing.insert((name.clone(), partition));
        }
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !missing.is_empty() {
        if Instant::now() > deadline {
            fail(format!(
                "{} partitions not read back in 120 s",
                missing.len()
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap_or_else(|error| fail(format!("consuming: {error}")));
        let key = (message.topic().to_string(), message.partition());
        let expected = value(&key.0, key.1, bytes);
        if message.offset() != 0 || message.payload() != Some(&expected[..]) {
            fail(format!(
                "{}-{} offset {}: not the record produced there",
                key.0,
                key.1,
                message.offset()
            ));
        }
        missing.remove(&key);
    }
}

fn led(bootstrap: &str, topics: usize, partitions: i32, within: Duration) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("topic.metadata.refresh.interval.ms", "-1")
        .create()
        .expect("metadata client");
    let deadline = Instant::now() + within;
    let wanted = topics * partitions as usize;
    let mut led = 0;
    while Instant::now() < deadline {
        if let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(5)) {
            led = metadata
                .topics()
                .iter()
                .filter(|topic| topic.name().starts_with("d-") && topic.error().is_none())
                .flat_map(|topic| topic.partitions())
                .filter(|partition| partition.leader() >= 0 && partition.error().is_none())
                .count();
            if led >= wanted {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    fail(format!("{led} of {wanted} partitions led after {within:?}"));
}
