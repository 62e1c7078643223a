//! Ringlog's broker: the Kafka request layer, shards, connections,
//! coordination, the command line (`cli`) and Kafka's shell tools as its
//! subcommands (`tools`). The `ringlog` binary is a
//! thin `main` over `cli::main`; the library exists so that fuzz targets and
//! benchmarks can drive the request path through a public API.

mod api;
mod broker;
pub mod cli;
mod config;
mod connection;
mod controller;
mod error_code;
mod frame_buffer;
mod frame_reader;
mod group;
mod limits;
mod metrics;
mod shard;
#[cfg(feature = "tools")]
mod tools;
mod topic_config;
mod topics;
