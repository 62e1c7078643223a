//! Ringlog's storage engine: record batches, direct-I/O segments, indexes,
//! partition logs, recovery and retention. It knows nothing of sockets or
//! of the Kafka request layer; the server drives it from its shards.
//!
//! On disk (see `docs/storage.md`), per partition directory
//! `<topic>-<partition>/`:
//! ```text
//! 00000000000000000000.log        record batches exactly as on the wire
//! 00000000000000000000.index      sparse offset -> position (8-byte entries)
//! 00000000000000000000.timeindex  timestamp -> offset (12-byte entries)
//! recovery-point                  segments below this offset are sealed and synced
//! log-start-offset                set by retention and DeleteRecords
//! clean-shutdown                  present only while the log is closed cleanly
//! ```
//! Invariants: batches in a `.log` are contiguous, valid (CRC-32C) and their
//! offsets increase; a sealed segment's file is exactly its logical size;
//! every acknowledged durable append was covered by an fdatasync.

mod cache_budget;
pub mod config;
mod copy;
pub mod error;
mod io;
pub mod latency;
pub mod limits;
pub mod offset;
pub mod partition_log;
pub mod producer_state;
pub mod record_batch;
pub mod segment;

pub use config::LogConfig;
pub use error::{BatchError, Error, IoError, Result};
#[cfg(feature = "fault-injection")]
pub use io::{fault, sim};
pub use io::{EventSink, ReadAhead, Storage, StorageEvent};
pub use offset::{FilePosition, Offset, TimestampMs};
pub use partition_log::RetentionOutcome;
pub use partition_log::{AppendInfo, Durability, PartitionLog, ReadChunk, ReadResult, SegmentFile};
pub use producer_state::ProducerError;
pub use record_batch::TimestampType;

/// Runtime helpers for callers that host the engine (tests, benches, the
/// server's shards): build an executor sized for this machine's memlock.
pub mod runtime;
