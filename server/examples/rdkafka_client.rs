//! The compatibility matrix's driver for librdkafka through the rdkafka
//! crate (server/tests/clients/run.py runs it): one scenario per run, used
//! as the crate's documentation shows (FutureProducer with delivery
//! results, BaseConsumer in a group with synchronous commits, AdminClient).
//! It only reports what the client observed, as JSON lines on stdout;
//! run.py makes every assertion.
//!
//! Usage: rdkafka_client '{"scenario": ..., "bootstrap": ..., "topic": ...,
//! "group": ..., "records": N}'

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

struct Args {
    scenario: String,
    bootstrap: String,
    topic: String,
    group: String,
    records: usize,
}

/// Reads one string or number field of the flat JSON object run.py passes.
fn field(json: &str, name: &str) -> String {
    let start = json
        .find(&format!("\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} in {json}"));
    let rest = json[start + name.len() + 2..].trim_start_matches([':', ' ']);
    if let Some(text) = rest.strip_prefix('"') {
        text[..text.find('"').unwrap()].to_string()
    } else {
        rest.chars().take_while(char::is_ascii_digit).collect()
    }
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or("null".into(), |b| quote(&String::from_utf8_lossy(b)))
}

fn fact(name: &str, value: &str) {
    println!(
        "{{\"ev\": \"fact\", \"name\": {}, \"value\": {value}}}",
        quote(name)
    );
}

fn fail(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

impl Args {
    fn codec(&self) -> &str {
        match self.scenario.as_str() {
            codec @ ("gzip" | "snappy" | "lz4" | "zstd") => codec,
            _ => "none",
        }
    }

    fn produce(&self, range: std::ops::Range<usize>) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "10000")
            .set("compression.type", self.codec())
            .create()
            .unwrap_or_else(|error| fail(format!("producer: {error}")));
        let sent: Vec<_> = range
            .map(|i| {
                let (key, value) = (format!("key-{}", i % 4), format!("{}:{i}", self.topic));
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "seq",
                        value: Some(i.to_string().as_bytes()),
                    })
                    .insert(Header {
                        key: "client",
                        value: Some(b"ringlog-matrix".as_slice()),
                    });
                let record = FutureRecord::to(&self.topic)
                    .key(&key)
                    .payload(&value)
                    .headers(headers);
                let delivery = producer.send_result(record).map_err(|(error, _)| error);
                (key, value, delivery)
            })
            .collect();
        block_on(async {
            for (key, value, delivery) in sent {
                let result = match delivery {
                    Ok(future) => future.await.expect("delivery future"),
                    Err(error) => fail(format!("send: {error}")),
                };
                let (partition, offset, error) = match result {
                    Ok(delivery) => (delivery.partition, delivery.offset, "null".into()),
                    Err((error, _)) => (-1, -1, quote(&error.to_string())),
                };
                println!(
                    "{{\"ev\": \"produced\", \"partition\": {partition}, \"offset\": {offset}, \"key\": {}, \"value\": {}, \"error\": {error}}}",
                    quote(&key),
                    quote(&value)
                );
            }
        });
    }

    fn consumer(&self, group: &str) -> BaseConsumer {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap_or_else(|error| fail(format!("consumer: {error}")));
        consumer
            .subscribe(&[&self.topic])
            .unwrap_or_else(|error| fail(format!("subscribe: {error}")));
        consumer
    }

    /// Polls until `want` records arrived; returns the next offset per partition.
    fn drain(&self, consumer: &BaseConsumer, want: usize, phase: &str) -> BTreeMap<i32, i64> {
        let mut positions = BTreeMap::new();
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(15);
        while got < want && Instant::now() < deadline {
            let Some(result) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let message = result.unwrap_or_else(|error| fail(format!("consume: {error}")));
            let headers: Vec<String> = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| format!("[{}, {}]", quote(h.key), text(h.value)))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "{{\"ev\": \"consumed\", \"phase\": {phase}, \"partition\": {}, \"offset\": {}, \"key\": {}, \"value\": {}, \"headers\": [{}]}}",
                message.partition(),
                message.offset(),
                text(message.key()),
                text(message.payload()),
                headers.join(", ")
            );
            positions.insert(message.partition(), message.offset() + 1);
            got += 1;
        }
        positions
    }

    fn commit(&self, consumer: &BaseConsumer, positions: &BTreeMap<i32, i64>) {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in positions {
            list.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset))
                .unwrap();
        }
        consumer
            .commit(&list, CommitMode::Sync)
            .unwrap_or_else(|error| fail(format!("commit: {error}")));
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap_or_else(|error| fail(format!("admin: {error}")))
    }

    fn partitions(&self, consumer: &BaseConsumer) -> usize {
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
            .unwrap_or_else(|error| fail(format!("metadata: {error}")));
        metadata.topics()[0].partitions().len()
    }
}

fn produce_consume(args: &Args) {
    args.produce(0..args.records);
    let consumer = args.consumer(&format!("{}-reader", args.group));
    args.drain(&consumer, args.records, "null");
}

fn group_resume(args: &Args) {
    let half = args.records / 2;
    args.produce(0..half);
    let first = args.consumer(&args.group);
    let positions = args.drain(&first, half, "\"a\"");
    args.commit(&first, &positions);
    for (partition, offset) in &positions {
        println!("{{\"ev\": \"committed\", \"phase\": \"a\", \"partition\": {partition}, \"offset\": {offset}}}");
    }
    drop(first);
    args.produce(half..args.records);
    let second = args.consumer(&args.group);
    args.drain(&second, args.records - half, "\"b\"");
    let mut list = TopicPartitionList::new();
    for partition in positions.keys() {
        list.add_partition(&args.topic, *partition);
    }
    let committed = second
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap_or_else(|error| fail(format!("committed: {error}")));
    for element in committed.elements() {
        if let Offset::Offset(offset) = element.offset() {
            println!(
                "{{\"ev\": \"fetched_commit\", \"partition\": {}, \"offset\": {offset}}}",
                element.partition()
            );
        }
    }
}

fn group_admin(args: &Args) {
    args.produce(0..args.records);
    let consumer = args.consumer(&args.group);
    let positions = args.drain(&consumer, args.records, "null");
    args.commit(&consumer, &positions);
    let mut list = TopicPartitionList::new();
    for partition in 0..3 {
        list.add_partition(&args.topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap_or_else(|error| fail(format!("committed: {error}")));
    drop(consumer);
    let probe = args.consumer(&format!("{}-probe", args.group));
    let group = |name: &str| -> Option<String> {
        let groups = probe
            .fetch_group_list(Some(name), Duration::from_secs(10))
            .unwrap_or_else(|error| fail(format!("list groups: {error}")));
        groups.groups().first().map(|g| g.state().to_string())
    };
    let state = group(&args.group);
    fact("listed", &state.is_some().to_string());
    fact("state", &state.map_or("null".into(), |s| quote(&s)));
    let sum: i64 = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        })
        .sum();
    fact("committed", &sum.to_string());
    let admin = args.admin();
    let deleted = block_on(admin.delete_groups(&[&args.group], &AdminOptions::new()))
        .unwrap_or_else(|error| fail(format!("delete groups: {error}")));
    if let Err((_, code)) = &deleted[0] {
        fail(format!("delete group: {code:?}"));
    }
    fact("deleted", "true");
    fact(
        "listed_after_delete",
        &group(&args.group)
            .is_some_and(|state| state != "Dead")
            .to_string(),
    );
}

fn admin(args: &Args) {
    let admin = args.admin();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic =
        NewTopic::new(&args.topic, 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let created = block_on(admin.create_topics(&[topic], &options))
        .unwrap_or_else(|error| fail(format!("create topics: {error}")));
    if let Err((_, code)) = &created[0] {
        fail(format!("create topic: {code:?}"));
    }
    fact("created", "true");
    let probe = args.consumer(&format!("{}-probe", args.group));
    fact("partitions", &args.partitions(&probe).to_string());
    let grown = block_on(admin.create_partitions(&[NewPartitions::new(&args.topic, 4)], &options))
        .unwrap_or_else(|error| fail(format!("create partitions: {error}")));
    if let Err((_, code)) = &grown[0] {
        fail(format!("create partitions: {code:?}"));
    }
    fact("grown_partitions", &args.partitions(&probe).to_string());
    let described =
        block_on(admin.describe_configs(&[ResourceSpecifier::Topic(&args.topic)], &options))
            .unwrap_or_else(|error| fail(format!("describe configs: {error}")));
    let resource = described[0]
        .as_ref()
        .unwrap_or_else(|error| fail(format!("describe configs: {error:?}")));
    let retention = resource
        .get("retention.ms")
        .and_then(|entry| entry.value.clone());
    fact(
        "retention_ms",
        &retention.map_or("null".into(), |v| quote(&v)),
    );
    let deleted = block_on(admin.delete_topics(&[&args.topic], &options))
        .unwrap_or_else(|error| fail(format!("delete topics: {error}")));
    if let Err((_, code)) = &deleted[0] {
        fail(format!("delete topic: {code:?}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let metadata = probe
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap_or_else(|error| fail(format!("metadata: {error}")));
    let exists = metadata.topics().iter().any(|t| t.name() == args.topic);
    fact("deleted", &(!exists).to_string());
}

fn main() {
    let json = std::env::args()
        .next_back()
        .expect("the scenario arguments");
    let args = Args {
        scenario: field(&json, "scenario"),
        bootstrap: field(&json, "bootstrap"),
        topic: field(&json, "topic"),
        group: field(&json, "group"),
        records: field(&json, "records").parse().expect("records"),
    };
    match args.scenario.as_str() {
        "produce_consume" | "gzip" | "snappy" | "lz4" | "zstd" => produce_consume(&args),
        "group_resume" => group_resume(&args),
        "group_admin" => group_admin(&args),
        "admin" => admin(&args),
        other => fail(format!("unknown scenario {other}")),
    }
}
