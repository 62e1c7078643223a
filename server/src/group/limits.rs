//! Bounds and timings of the group coordinator, with units. The values are
//! Kafka's defaults for the matching broker keys (named in each comment).

use std::time::Duration;

/// Partitions of the offsets log. Fixed: a group's partition is a hash of
/// its id modulo this, so changing it would orphan every stored group.
pub const OFFSETS_PARTITIONS: i32 = 16;

/// `group.min.session.timeout.ms`.
pub const SESSION_TIMEOUT_MIN_MS: i32 = 6_000;

/// `group.max.session.timeout.ms`.
pub const SESSION_TIMEOUT_MAX_MS: i32 = 1_800_000;

/// `group.max.size` (Kafka's default is unbounded). A group whose metadata
/// record outgrows `OFFSETS_RECORD_BYTES_MAX` cannot complete a rebalance:
/// its SyncGroup fails as Kafka's does (UNKNOWN_SERVER_ERROR).
pub const GROUP_MEMBERS_MAX: usize = 1_000;

/// `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_BYTES_MAX: usize = 4_096;

/// Group ids, member ids, instance ids, client ids and protocol names are
/// stored as i16-length strings.
pub const NAME_BYTES_MAX: usize = i16::MAX as usize;

/// One member's protocol metadata, summed over its protocols.
pub const MEMBER_METADATA_BYTES_MAX: usize = 1024 * 1024;

/// Groups one ListGroups or DescribeGroups answer lists.
pub const GROUPS_PER_REQUEST_MAX: usize = 100_000;

/// How often each shard looks for expired sessions, rebalance deadlines
/// and sync deadlines.
pub const TIMER_TICK: Duration = Duration::from_millis(100);

/// The largest batch the offsets log accepts (its `max.message.bytes`).
pub const OFFSETS_RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Records of one snapshot are packed into batches of about this size.
pub const SNAPSHOT_BATCH_BYTES: usize = 1024 * 1024;

/// `offsets.topic.segment.bytes` (Kafka: 100 MiB). Smaller, so the
/// segments a snapshot makes obsolete are sealed and deleted sooner.
pub const OFFSETS_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// A partition writes a snapshot once this many bytes were appended since
/// the last one, or twice the last snapshot's size if that is larger: the
/// log then holds at most about three snapshots' worth of bytes past its
/// start, so loading time follows the live state, not the history.
pub const SNAPSHOT_AFTER_BYTES_MIN: u64 = 8 * 1024 * 1024;

/// Bytes read per step while loading a partition.
pub const LOAD_READ_BYTES: u64 = 1024 * 1024;

const _: () = assert!(SESSION_TIMEOUT_MIN_MS < SESSION_TIMEOUT_MAX_MS);
const _: () = assert!(SNAPSHOT_BATCH_BYTES < OFFSETS_RECORD_BYTES_MAX);
const _: () = assert!(OFFSETS_RECORD_BYTES_MAX as u64 <= OFFSETS_SEGMENT_BYTES);
