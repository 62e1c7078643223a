//! Memory and open files per partition, measured on the real broker: the
//! figures of docs/operations.md ("Sizing"). Ignored in the suite (it
//! creates a thousand partitions); run it with
//!
//! ```sh
//! cargo test -p ringlog --test sizing -- --ignored --nocapture
//! ```
//!
//! For each partition count it starts a one-shard broker, creates a topic
//! with that many partitions, produces one small batch to each (so every
//! partition has an active segment with its files open), lets the broker
//! settle, and reads the process's resident memory and open descriptors
//! from /proc.

mod support;

use bytes::Bytes;
use engine::record_batch::{BatchBuilder, Record};
use engine::TimestampMs;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::*;

/// The broker's process id: the `ringlog serve` whose command line names
/// its data dir.
fn pid_of(broker: &Broker) -> u32 {
    let wanted = format!("log.dirs={}", broker.data.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| {
                    cmdline
                        .split(|byte| *byte == 0)
                        .any(|arg| arg == wanted.as_bytes())
                })
                .unwrap_or(false)
        })
        .expect("the broker's process")
}

/// (resident KiB, open descriptors) of the broker process.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    (rss_kib, fds)
}

fn one_batch_each(raw: &mut Raw, topic: &str, partitions: i32) {
    let records = Bytes::from(
        BatchBuilder::new()
            .record(Record::value(
                vec![b'x'; 100],
                TimestampMs(1_700_000_000_000),
            ))
            .build(),
    );
    let data = (0..partitions)
        .map(|partition| {
            PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records.clone()))
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(data)]);
    let response: ProduceResponse = raw.call(ApiKey::Produce, 9, &request);
    for partition in &response.responses[0].partition_responses {
        assert_eq!(partition.error_code, 0);
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn memory_and_files_per_partition() {
    println!("| partitions | RSS (MiB) | open fds | RSS per partition (KiB) | fds per partition |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    let baseline = {
        let broker = Broker::start(1);
        std::thread::sleep(std::time::Duration::from_secs(1));
        usage(pid_of(&broker))
    };
    println!(
        "| 0 | {:.1} | {} | | |",
        baseline.0 as f64 / 1024.0,
        baseline.1
    );
    for partitions in [1, 100, 1000] {
        let broker = Broker::start(1);
        create_topic(&broker, "sized", partitions);
        let mut raw = Raw::connect(&broker);
        one_batch_each(&mut raw, "sized", partitions);
        std::thread::sleep(std::time::Duration::from_secs(2));
        let (rss, fds) = usage(pid_of(&broker));
        println!(
            "| {partitions} | {:.1} | {fds} | {:.0} | {:.2} |",
            rss as f64 / 1024.0,
            rss.saturating_sub(baseline.0) as f64 / partitions as f64,
            fds.saturating_sub(baseline.1 + 1) as f64 / partitions as f64,
        );
    }
}
