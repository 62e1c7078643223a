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

pub mod common;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf;
pub mod delete_records;
pub mod get_offsets;
mod group_list;
mod perf_stats;
pub mod producer_perf;
mod progress;
mod report;
pub mod topics;

pub use common::refuse_zookeeper;
