//! One partition of the offsets log, `<log.dirs>/__consumer_offsets-<p>`:
//! an engine `PartitionLog` the coordinator appends group records to and
//! reads back at startup.
//!
//! Appends are split in two, like the engine's own: [`OffsetsLog::append`]
//! assigns offsets synchronously (so records land in the order the state
//! machine changed, even with many requests in flight) and returns the end
//! offset; [`OffsetsLog::wait_durable`] returns once an fdatasync covers it.
//! Concurrent commits share one fdatasync (the engine's group commit).
//!
//! The log has no time or size retention: it shrinks only by snapshots
//! (see `store.rs`), which move its start offset past records they make
//! obsolete with `delete_records_before`.
//!
//! Shard contract: owned by the shard that owns the partition
//! (`shard_of("__consumer_offsets", p)`), like any partition.

use std::cell::Cell;
use std::path::Path;

use engine::record_batch::{BatchBuilder, Record, RecordBatch, Validation};
use engine::{LogConfig, Offset, PartitionLog, ReadChunk, TimestampMs};

use super::limits::{
    LOAD_READ_BYTES, OFFSETS_RECORD_BYTES_MAX, OFFSETS_SEGMENT_BYTES, SNAPSHOT_AFTER_BYTES_MIN,
    SNAPSHOT_BATCH_BYTES,
};
use super::record::{LogRecord, RecordError};

/// Why loading a partition failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading the offsets log: {0}")]
    Engine(#[from] engine::Error),
    #[error("reading a segment file: {0}")]
    Io(#[from] std::io::Error),
    #[error("batch at offset {offset}: {reason}")]
    Batch { offset: i64, reason: String },
    #[error("record at offset {offset}: {error}")]
    Record { offset: i64, error: RecordError },
}

/// What an append did: offsets `[begin, end)` hold the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub begin: Offset,
    pub end: Offset,
    pub bytes: u64,
}

/// What loading found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub records: u64,
    pub bytes: u64,
    /// Bytes of the last complete snapshot read.
    pub snapshot_bytes: u64,
    pub log_start_offset: i64,
}

pub struct OffsetsLog {
    pub partition: i32,
    log: PartitionLog,
    /// Requests for the partition's groups wait until the log is read.
    loaded: Cell<bool>,
    /// Bytes appended since the last snapshot began.
    since_snapshot_bytes: Cell<u64>,
    /// The last snapshot's size.
    snapshot_bytes: Cell<u64>,
    /// A snapshot is being made durable and the log start moved past it.
    snapshot_running: Cell<bool>,
    /// The threshold for the next snapshot (tests lower it).
    snapshot_after_bytes_min: Cell<u64>,
}

/// The engine settings of the offsets log: the broker's, without retention.
pub fn log_config(broker: LogConfig) -> LogConfig {
    LogConfig {
        segment_bytes: OFFSETS_SEGMENT_BYTES,
        segment_ms: None,
        retention_ms: None,
        retention_bytes: None,
        max_message_bytes: OFFSETS_RECORD_BYTES_MAX,
        timestamp_type: engine::TimestampType::CreateTime,
        // Nobody tails this log: keep little of it in memory.
        tail_cache_bytes: 64 * 1024,
        ..broker
    }
}

impl OffsetsLog {
    #[cfg(test)]
    pub async fn open(dir: &Path, config: LogConfig, partition: i32) -> engine::Result<OffsetsLog> {
        OffsetsLog::open_in(&engine::Storage::os(), dir, config, partition).await
    }

    /// [`OffsetsLog::open`] on the shard's storage, whose events (offline,
    /// disk full, recovery truncation) the broker logs and counts.
    pub async fn open_in(
        storage: &engine::Storage,
        dir: &Path,
        config: LogConfig,
        partition: i32,
    ) -> engine::Result<OffsetsLog> {
        let log = PartitionLog::open_in(storage, dir, config).await?;
        Ok(OffsetsLog {
            partition,
            log,
            loaded: Cell::new(false),
            since_snapshot_bytes: Cell::new(0),
            snapshot_bytes: Cell::new(0),
            snapshot_running: Cell::new(false),
            snapshot_after_bytes_min: Cell::new(SNAPSHOT_AFTER_BYTES_MIN),
        })
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.get()
    }

    pub fn set_loaded(&self, stats: LoadStats) {
        self.since_snapshot_bytes.set(stats.bytes);
        self.snapshot_bytes.set(stats.snapshot_bytes);
        self.loaded.set(true);
    }

    #[cfg(test)]
    pub fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log.log_end_offset()
    }

    #[cfg(test)]
    pub fn segment_count(&self) -> usize {
        self.log.segment_count()
    }

    #[cfg(test)]
    pub fn snapshot_running(&self) -> bool {
        self.snapshot_running.get()
    }

    #[cfg(test)]
    pub fn set_snapshot_after_bytes_min(&self, bytes: u64) {
        self.snapshot_after_bytes_min.set(bytes);
    }

    /// Encodes `records` into batches of about `SNAPSHOT_BATCH_BYTES` and
    /// appends them now: they get offsets `[begin, end)` before this returns.
    pub fn append(&self, records: &[LogRecord]) -> engine::Result<Appended> {
        assert!(!records.is_empty(), "an append carries records");
        let timestamp = TimestampMs::now();
        let mut bytes = Vec::new();
        let mut batch = BatchBuilder::new();
        let mut batch_bytes = 0;
        for record in records {
            let (key, value) = record.encode();
            batch_bytes += key.len() + value.as_ref().map_or(0, Vec::len);
            batch.push(Record {
                key: Some(key),
                value,
                headers: Vec::new(),
                timestamp,
            });
            if batch_bytes >= SNAPSHOT_BATCH_BYTES {
                bytes.extend_from_slice(&batch.build());
                batch = BatchBuilder::new();
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            bytes.extend_from_slice(&batch.build());
        }
        let begin = self.log.log_end_offset();
        let info = self.log.append_nowait(&bytes)?;
        assert_eq!(info.base_offset, begin, "appends are contiguous");
        assert_eq!(
            info.records,
            records.len() as u64,
            "every record got an offset"
        );
        let appended = Appended {
            begin,
            end: info.next_offset(),
            bytes: bytes.len() as u64,
        };
        self.since_snapshot_bytes
            .set(self.since_snapshot_bytes.get() + appended.bytes);
        Ok(appended)
    }

    /// Returns once every record below `end` is fdatasync'ed.
    pub async fn wait_durable(&self, end: Offset) -> engine::Result<()> {
        self.log.wait_flushed(end).await
    }

    /// Whether enough was appended since the last snapshot to write one.
    pub fn wants_snapshot(&self) -> bool {
        let threshold = self
            .snapshot_after_bytes_min
            .get()
            .max(2 * self.snapshot_bytes.get());
        self.loaded.get()
            && !self.snapshot_running.get()
            && self.since_snapshot_bytes.get() >= threshold
    }

    /// A snapshot of `bytes` was appended; the caller makes it durable and
    /// then calls [`Self::snapshot_done`].
    pub fn snapshot_started(&self, bytes: u64) {
        self.snapshot_running.set(true);
        self.snapshot_bytes.set(bytes);
        self.since_snapshot_bytes.set(0);
    }

    /// The snapshot starting at `begin` is durable: nothing before it is
    /// needed any more.
    pub async fn snapshot_done(&self, begin: Offset) -> engine::Result<Offset> {
        let moved = self.log.delete_records_before(begin).await;
        self.snapshot_running.set(false);
        moved
    }

    /// Reads every record from the log start to the high watermark, in order.
    pub async fn read_all(
        &self,
        mut visit: impl FnMut(Offset, LogRecord),
    ) -> Result<LoadStats, LoadError> {
        let mut stats = LoadStats {
            log_start_offset: self.log.log_start_offset().0,
            ..LoadStats::default()
        };
        let mut next = self.log.log_start_offset();
        let end = self.log.high_watermark();
        let mut snapshot_begin: Option<(i64, u64)> = None;
        while next < end {
            let read = self.log.read(next, LOAD_READ_BYTES).await?;
            if read.is_empty() {
                break;
            }
            let bytes = gather(&read.chunks).await?;
            let mut rest = bytes.as_slice();
            let before = next;
            while !rest.is_empty() {
                let Some(Ok(size)) = engine::record_batch::peek_batch_size(rest) else {
                    break;
                };
                if size > rest.len() {
                    break; // cut by the read: the next read starts here
                }
                let batch =
                    RecordBatch::parse(&rest[..size], Validation::Stored).map_err(|error| {
                        LoadError::Batch {
                            offset: next.0,
                            reason: error.to_string(),
                        }
                    })?;
                let records = batch.records().ok_or_else(|| LoadError::Batch {
                    offset: batch.base_offset().0,
                    reason: "compressed: the offsets log is written uncompressed".into(),
                })?;
                for record in records {
                    let record = record.map_err(|error| LoadError::Batch {
                        offset: batch.base_offset().0,
                        reason: error.to_string(),
                    })?;
                    if record.offset < next {
                        continue;
                    }
                    let key = record.key.ok_or(LoadError::Record {
                        offset: record.offset.0,
                        error: RecordError::Null { what: "key" },
                    })?;
                    let decoded = LogRecord::decode(key, record.value).map_err(|error| {
                        LoadError::Record {
                            offset: record.offset.0,
                            error,
                        }
                    })?;
                    match &decoded {
                        LogRecord::SnapshotBegin { .. } => {
                            snapshot_begin = Some((record.offset.0, stats.bytes));
                        }
                        LogRecord::SnapshotEnd { begin_offset } => {
                            if let Some((begin, bytes_at_begin)) = snapshot_begin {
                                if begin == *begin_offset {
                                    stats.snapshot_bytes =
                                        stats.bytes + size as u64 - bytes_at_begin;
                                }
                            }
                        }
                        _ => {}
                    }
                    stats.records += 1;
                    visit(record.offset, decoded);
                }
                stats.bytes += size as u64;
                next = batch.next_offset();
                rest = &rest[size..];
            }
            if next == before {
                return Err(LoadError::Batch {
                    offset: next.0,
                    reason: "no whole batch where one should start".into(),
                });
            }
        }
        Ok(stats)
    }

    /// Flushes and closes the log cleanly.
    pub async fn close(self) -> engine::Result<()> {
        self.log.close().await
    }

    pub async fn flush(&self) -> engine::Result<()> {
        self.log.flush().await
    }
}

/// The bytes of a read: file ranges are read on the blocking pool (only
/// loading reads this log, once, at startup).
async fn gather(chunks: &[ReadChunk]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for chunk in chunks {
        match chunk {
            ReadChunk::Memory(bytes) => out.extend_from_slice(bytes),
            ReadChunk::File {
                file,
                position,
                len,
            } => {
                let path = file.path().to_path_buf();
                let (position, len) = (position.0, *len as usize);
                let bytes = glommio::executor()
                    .spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                        use std::os::unix::fs::FileExt;
                        let file = std::fs::File::open(path)?;
                        let mut bytes = vec![0u8; len];
                        file.read_exact_at(&mut bytes, position)?;
                        Ok(bytes)
                    })
                    .await?;
                out.extend_from_slice(&bytes);
            }
        }
    }
    Ok(out)
}
