//! The engine's errors. Bytes from a client or from disk are operating errors
//! and come back as values; a broken internal invariant is a bug and asserts.
//!
//! `Error` is `Clone` because one failed write or fsync is reported to every
//! append that was waiting on it.

use std::path::PathBuf;

use crate::offset::Offset;
use crate::record_batch::Compression;

/// Why a record batch was refused. Each variant carries what a caller needs to
/// pick a Kafka error code (see `server/src/error_code.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("batchLength {batch_length} is impossible")]
    BatchLengthInvalid { batch_length: i32 },
    #[error("record batch of {bytes} bytes exceeds the limit of {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("unsupported record batch magic {magic}")]
    UnsupportedMagic { magic: i8 },
    #[error("CRC mismatch in batch at base offset {base_offset}: stored {expected:#010x}, computed {actual:#010x}")]
    CrcMismatch {
        base_offset: i64,
        expected: u32,
        actual: u32,
    },
    #[error("record count {count} does not match lastOffsetDelta {last_offset_delta}")]
    RecordCountInvalid { count: i32, last_offset_delta: i32 },
    #[error("unknown compression codec {codec}")]
    CompressionInvalid { codec: u8 },
    #[error("record {index} is malformed: {reason}")]
    RecordMalformed { index: usize, reason: &'static str },
    #[error("base offset {base_offset} is impossible for a stored batch")]
    BaseOffsetInvalid { base_offset: i64 },
    #[error("timestamp {timestamp} is out of the accepted range around now ({now})")]
    TimestampOutOfRange { timestamp: i64, now: i64 },
    #[error("control and transactional batches are not accepted yet")]
    TransactionalUnsupported,
    #[error("no record batch in the request")]
    Empty,
    /// The compressed payload could not be inflated: a broken stream, a
    /// frame of the wrong codec, or a stream cut short.
    #[error("{compression:?} payload cannot be inflated: {reason}")]
    DecompressionFailed {
        compression: Compression,
        reason: String,
    },
    /// Inflating would pass the bound the caller gave
    /// (`limits::batch_inflated_bytes_max`): the batch is refused before
    /// more than `max` bytes were produced.
    #[error("{compression:?} payload inflates to more than {max} bytes")]
    InflatedTooLarge {
        compression: Compression,
        max: usize,
    },
    /// A codec the target message format cannot carry: zstd in magic 0/1.
    #[error("{compression:?} cannot be carried by message format magic {magic}")]
    CompressionUnsupportedForMagic { compression: Compression, magic: i8 },
    /// A v0/v1 message (or message set) that is not well formed.
    #[error("legacy message at offset {offset} is malformed: {reason}")]
    LegacyMessageMalformed { offset: i64, reason: &'static str },
    /// A v0/v1 message whose CRC-32 (IEEE) does not match its bytes.
    #[error(
        "legacy message at offset {offset}: stored CRC {expected:#010x}, computed {actual:#010x}"
    )]
    LegacyCrcMismatch {
        offset: i64,
        expected: u32,
        actual: u32,
    },
    /// A v0/v1 message set that breaks a rule of the format as Kafka's
    /// LogValidator applies it: a wrapper inside a wrapper, a wrapper next to
    /// other messages, mixed magics, inner magic different from its wrapper.
    #[error("legacy message set refused: {reason}")]
    LegacyMessageSetInvalid { reason: &'static str },
}

/// An I/O failure, with the operation and the file it concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {path}: {message}")]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    pub kind: std::io::ErrorKind,
    pub raw_os_error: Option<i32>,
    pub message: String,
}

impl IoError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, error: &std::io::Error) -> IoError {
        IoError {
            op,
            path: path.into(),
            kind: error.kind(),
            raw_os_error: error.raw_os_error(),
            message: error.to_string(),
        }
    }

    /// The filesystem (or the writer's quota) has no room: ENOSPC, EDQUOT.
    /// Short writes are reported as ENOSPC (`io/dma.rs`), which is what a
    /// short write to a regular file means.
    pub fn is_out_of_space(&self) -> bool {
        matches!(
            self.raw_os_error,
            Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT)
        )
    }

    /// The filesystem cannot preallocate (fallocate unsupported here).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.raw_os_error,
            Some(nix::libc::EOPNOTSUPP) | Some(nix::libc::ENOSYS) | Some(nix::libc::EINVAL)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Producer(#[from] crate::producer_state::ProducerError),
    #[error("offset {requested} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        requested: Offset,
        log_start_offset: Offset,
        log_end_offset: Offset,
    },
    #[error("invalid log configuration {key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("corrupt {what} in {path}: {reason}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the log is closed")]
    Closed,
    #[error("the log is offline after an earlier I/O error: {0}")]
    Offline(IoError),
    /// The disk has no room for this append now; the log takes appends
    /// again once space returns (no restart needed).
    #[error("the disk is full: {0}")]
    DiskFull(IoError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
