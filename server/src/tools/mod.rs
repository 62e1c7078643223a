//! Kafka's shell tools as `ringlog` subcommands: `ringlog topics` is
//! `kafka-topics.sh`, `ringlog console-consumer` is
//! `kafka-console-consumer.sh`, and so on, with the same flags and the same
//! output, so a command from a Kafka tutorial works with the script name
//! swapped (docs/tools.md lists them).
//!
//! The tools are clients: they speak the Kafka protocol through librdkafka
//! (the `rdkafka` crate), never through the broker's own code, so they work
//! against Apache Kafka as well as against Ringlog. Each tool is one file,
//! named by the Kafka script it replaces; what several share (flag values,
//! client properties, time formats, the ZooKeeper answer) is in `common`,
//! the perf tests' latency record and picture in `perf_stats` and `report`.
//!
//! Output follows Kafka's tools line for line where Kafka defines it (the
//! `--describe` layouts, the perf tests' lines); the perf tests add labelled
//! lines of their own after Kafka's (HDR latencies, the settings measured).

mod common;
mod configs;
mod console_consumer;
mod console_producer;
mod consumer_groups;
mod consumer_perf;
mod delete_records;
mod get_offsets;
mod group_list;
mod perf_stats;
mod producer_perf;
mod progress;
mod report;
mod topics;

pub use common::refuse_zookeeper;

use std::process::ExitCode;

/// The tools, as `ringlog` subcommands (flattened into the command line's).
#[derive(clap::Subcommand)]
pub enum Tool {
    /// Create, list, describe, alter or delete topics (kafka-topics.sh).
    Topics(topics::Args),
    /// Send lines of standard input as records (kafka-console-producer.sh).
    ConsoleProducer(console_producer::Args),
    /// Print a topic's records (kafka-console-consumer.sh).
    ConsoleConsumer(console_consumer::Args),
    /// List, describe, reset or delete consumer groups (kafka-consumer-groups.sh).
    ConsumerGroups(consumer_groups::Args),
    /// Describe or change topic and broker configs (kafka-configs.sh).
    Configs(configs::Args),
    /// Print partitions' offsets: latest, earliest, by time (kafka-get-offsets.sh).
    GetOffsets(get_offsets::Args),
    /// Delete records below given offsets (kafka-delete-records.sh).
    DeleteRecords(delete_records::Args),
    /// Measure produce throughput and latency (kafka-producer-perf-test.sh).
    ProducerPerfTest(producer_perf::Args),
    /// Measure consume throughput (kafka-consumer-perf-test.sh).
    ConsumerPerfTest(consumer_perf::Args),
}

/// Runs a tool and turns its result into the exit code.
pub fn run(tool: Tool) -> ExitCode {
    let (name, result) = match tool {
        Tool::Topics(args) => ("topics", topics::run(args)),
        Tool::ConsoleProducer(args) => ("console-producer", console_producer::run(args)),
        Tool::ConsoleConsumer(args) => ("console-consumer", console_consumer::run(args)),
        Tool::ConsumerGroups(args) => ("consumer-groups", consumer_groups::run(args)),
        Tool::Configs(args) => ("configs", configs::run(args)),
        Tool::GetOffsets(args) => ("get-offsets", get_offsets::run(args)),
        Tool::DeleteRecords(args) => ("delete-records", delete_records::run(args)),
        Tool::ProducerPerfTest(args) => ("producer-perf-test", producer_perf::run(args)),
        Tool::ConsumerPerfTest(args) => ("consumer-perf-test", consumer_perf::run(args)),
    };
    common::exit(name, result)
}
