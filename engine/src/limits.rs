//! Every bound the engine enforces, in one place, named `*_max` / `*_min` with units.
//!
//! A length that arrives from a client or from disk is checked against one of
//! these before it decides how much memory to touch.

/// Size of the fixed record-batch v2 header (baseOffset .. recordsCount).
pub const BATCH_HEADER_BYTES: usize = 61;

/// `batchLength` counts from `partitionLeaderEpoch`: everything after the first 12 bytes.
pub const BATCH_LENGTH_OFFSET_BYTES: usize = 12;

/// Smallest possible encoded record: length, attributes, timestampDelta,
/// offsetDelta, keyLength, valueLength and headerCount, one byte each.
pub const RECORD_BYTES_MIN: usize = 7;

/// Hard ceiling for one record batch, whatever `max.message.bytes` says.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Kafka's default `message.max.bytes` (1 MiB plus the v2 batch overhead).
pub const MESSAGE_BYTES_DEFAULT: usize = 1_048_588;

/// Segment positions are stored as u32 in the offset index, like Kafka's.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

/// A segment must hold at least one maximal batch plus headroom.
pub const SEGMENT_BYTES_MIN: u64 = 4096;

/// Kafka's default `segment.bytes`.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Offsets inside a segment are stored relative to its base as u32.
pub const SEGMENT_RELATIVE_OFFSET_MAX: i64 = i32::MAX as i64;

/// Direct I/O alignment: file positions and lengths of every write.
pub const DIRECT_IO_ALIGN_BYTES: u64 = 4096;

/// One in-memory write chunk; a full chunk is written without a copy.
pub const WRITE_CHUNK_BYTES: usize = 1024 * 1024;

/// Recycled tail chunks a shard keeps for reuse (at most 32 MiB per shard).
pub const CHUNK_POOL_MAX: usize = 32;

/// Segment files grow by fallocate in steps that double from the minimum
/// to the maximum: an idle partition reserves little, a busy one rarely
/// stops its writes (ext4's fallocate waits for direct writes in flight).
pub const PREALLOCATE_STEP_MIN_BYTES: u64 = 4 * 1024 * 1024;
pub const PREALLOCATE_STEP_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A log whose disk is full retries its writes after this backoff,
/// doubling up to the maximum (see `partition_log/health.rs`).
pub const DISK_FULL_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(50);
pub const DISK_FULL_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// During a disk-full episode the writer writes what it holds back in
/// rounds of at most this many bytes, one at a time, so it makes progress
/// in whatever space returned.
pub const DISK_FULL_RETRY_ROUND_BYTES: u64 = WRITE_CHUNK_BYTES as u64;

/// Room the filesystem must show beyond a retried write before the writer
/// tries it (statvfs), so a disk with a few blocks free is not hammered.
pub const DISK_FULL_RESUME_MARGIN_BYTES: u64 = 1024 * 1024;

/// Appended bytes that may wait for the writer before `append` waits too.
pub const PENDING_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Written bytes a partition keeps in memory to serve tailing readers.
pub const TAIL_CACHE_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;

/// Kafka's `index.interval.bytes` default.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u64 = 4096;

/// Size of one `.index` entry: relative offset (u32) + position (u32).
pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;

/// Size of one `.timeindex` entry: timestamp (i64) + relative offset (u32).
pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

/// Bytes a reader reads at once while walking batch headers to an offset.
pub const SCAN_WINDOW_BYTES: usize = 16 * 1024;

/// Bytes read per step when recovery or a reader scans a segment.
pub const SCAN_READ_BYTES: usize = 1024 * 1024;

/// Absolute ceiling on the bytes one compressed batch (or v0/v1 wrapper
/// message) may inflate to, whatever `max.message.bytes` says. Kafka sets
/// none; ours keeps the CPU one batch can cost bounded (about a second of
/// gzip on one core) and turns a decompression bomb into MESSAGE_TOO_LARGE,
/// on which the Java producer splits the batch and retries.
pub const BATCH_INFLATED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Largest inflated/compressed ratio a batch may have relative to the
/// batch size limit in force: 128 covers text and JSON under zstd (5-50x
/// in practice) with margin.
pub const INFLATE_RATIO_MAX: usize = 128;

/// The inflated-size bound for batches under a `max.message.bytes` of
/// `max_message_bytes`: `INFLATE_RATIO_MAX` times it, capped at
/// `BATCH_INFLATED_BYTES_MAX` (128 MiB at Kafka's default 1 MiB).
pub const fn batch_inflated_bytes_max(max_message_bytes: usize) -> usize {
    let derived = max_message_bytes.saturating_mul(INFLATE_RATIO_MAX);
    if derived < BATCH_INFLATED_BYTES_MAX {
        derived
    } else {
        BATCH_INFLATED_BYTES_MAX
    }
}

/// Inflated bytes one step of cooperative validation handles
/// (`record_batch::BatchValidator::step`); the one-shot helpers use it too.
pub const INFLATE_PIECE_BYTES: usize = 64 * 1024;

/// Smallest v0 message: crc, magic, attributes, key length, value length.
pub const LEGACY_MESSAGE_V0_BYTES_MIN: usize = 14;

/// Smallest v1 message: a v0 message plus the 8-byte timestamp.
pub const LEGACY_MESSAGE_V1_BYTES_MIN: usize = 22;

/// A message-set entry's header: offset (i64) and message size (i32).
pub const LEGACY_LOG_OVERHEAD_BYTES: usize = 12;

const _: () = assert!(BATCH_INFLATED_BYTES_MAX >= BATCH_BYTES_MAX);
const _: () = assert!(batch_inflated_bytes_max(MESSAGE_BYTES_DEFAULT) <= BATCH_INFLATED_BYTES_MAX);
const _: () = assert!(INFLATE_PIECE_BYTES >= 16);

const _: () = assert!((WRITE_CHUNK_BYTES as u64).is_multiple_of(DIRECT_IO_ALIGN_BYTES));
const _: () = assert!(PREALLOCATE_STEP_MIN_BYTES.is_multiple_of(DIRECT_IO_ALIGN_BYTES));
const _: () = assert!(BATCH_BYTES_MAX as u64 <= SEGMENT_BYTES_MAX);
const _: () = assert!((SCAN_READ_BYTES as u64).is_multiple_of(DIRECT_IO_ALIGN_BYTES));

/// Rounds `value` down to the direct-I/O alignment.
pub const fn align_down(value: u64) -> u64 {
    value & !(DIRECT_IO_ALIGN_BYTES - 1)
}

/// Rounds `value` up to the direct-I/O alignment.
pub const fn align_up(value: u64) -> u64 {
    align_down(value + DIRECT_IO_ALIGN_BYTES - 1)
}
