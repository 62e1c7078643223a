//! Per-partition log settings, named after Kafka's topic-level keys. The
//! server's config table maps broker and topic keys onto this struct.

use crate::error::{Error, Result};
use crate::limits::{
    BATCH_BYTES_MAX, INDEX_INTERVAL_BYTES_DEFAULT, MESSAGE_BYTES_DEFAULT, SEGMENT_BYTES_DEFAULT,
    SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN, TAIL_CACHE_BYTES_DEFAULT,
};
use crate::record_batch::TimestampType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would pass this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a segment this old on the next append.
    pub segment_ms: Option<u64>,
    /// `retention.ms`: delete sealed segments whose newest record is older.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: delete the oldest sealed segments beyond this size.
    pub retention_bytes: Option<u64>,
    /// `flush.messages`: fdatasync after this many appended records.
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fdatasync data older than this.
    pub flush_ms: Option<u64>,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: log bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime
    /// batch's newest timestamp may be (Kafka's default: one hour).
    pub timestamp_after_max_ms: Option<u64>,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime
    /// batch's first timestamp may be (Kafka's default: unlimited).
    pub timestamp_before_max_ms: Option<u64>,
    /// Written bytes kept in memory for tailing readers (ours).
    pub tail_cache_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            flush_messages: None,
            flush_ms: None,
            max_message_bytes: MESSAGE_BYTES_DEFAULT,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            timestamp_type: TimestampType::CreateTime,
            timestamp_after_max_ms: Some(3_600_000),
            timestamp_before_max_ms: None,
            tail_cache_bytes: TAIL_CACHE_BYTES_DEFAULT,
        }
    }
}

impl LogConfig {
    pub fn validate(&self) -> Result<()> {
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return Err(Error::Config {
                key: "segment.bytes",
                reason: format!(
                    "{} is outside [{SEGMENT_BYTES_MIN}, {SEGMENT_BYTES_MAX}]",
                    self.segment_bytes
                ),
            });
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > BATCH_BYTES_MAX {
            return Err(Error::Config {
                key: "max.message.bytes",
                reason: format!(
                    "{} is outside [1, {BATCH_BYTES_MAX}]",
                    self.max_message_bytes
                ),
            });
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::Config {
                key: "index.interval.bytes",
                reason: "must be positive".into(),
            });
        }
        if self.flush_messages == Some(0) {
            return Err(Error::Config {
                key: "flush.messages",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }
}
