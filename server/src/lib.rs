//! Ringlog's broker: the Kafka request layer, shards, connections,
//! coordination, the command line (`cli`) and Kafka's shell tools as its
//! subcommands (`tools`). The `ringlog` binary is a
//! thin `main` over `cli::main`; the library exists so that fuzz targets and
//! benchmarks can drive the request path through a public API.

mod admin;
pub mod api;
mod broker;
mod capacity;
pub mod cli;
mod config;
mod connection;
mod connection_quota;
mod controller;
mod cpus;
mod doctor;
mod error_code;
mod frame_buffer;
mod frame_reader;
mod group;
pub mod harness;
mod limits;
mod listeners;
mod logging;
mod metrics;
#[cfg(test)]
mod ops_doc;
mod request_budget;
mod sendfile_pool;
mod shard;
mod stats;
#[cfg(feature = "tools")]
mod tools;
mod topic_config;
mod topics;
