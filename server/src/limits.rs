//! Bounds on what the request layer accepts, with units.

/// Partitions one topic may have.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Requests one connection may have started and not yet answered (produce
/// requests waiting for the disk); the connection reads no further until
/// the oldest is answered.
pub const IN_FLIGHT_MAX: usize = 64;

/// Bytes a connection asks the socket for at a time, and the size of its
/// read buffer (a large frame is read into a buffer of its own).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Bytes of frame buffers a shard keeps for reuse.
pub const FRAME_POOL_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The largest frame buffer a shard keeps; larger frames get one of their
/// own, freed when the request is done.
pub const FRAME_POOL_BUFFER_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How much lower than the shards' a thread sending segment files runs
/// (nice values: the shards' plus this).
pub const SENDFILE_NICE: i32 = 10;

/// How long one sendfile job waits in its thread, in all, for a full
/// socket to take more before it hands the range back to the shard
/// (`sendfile_pool::send_some`): long enough for a reading client to
/// drain it, short enough that stalled clients cannot keep the threads.
pub const SENDFILE_SOCKET_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Threads per shard that send segment files (`sendfile_pool`).
pub const SENDFILE_THREADS: usize = 4;

/// Bytes one sendfile job sends at most before it hands its thread to the
/// next connection's job: a catch-up reader of a large range shares the
/// pool with the others instead of holding a thread for the whole range.
pub const SENDFILE_JOB_BYTES_MAX: u64 = 4 * READ_AHEAD_WINDOW_BYTES;

/// Bytes of a segment file a sending thread reads ahead of what it sends
/// (one window in flight while the previous one is sent). The disk here
/// reads 128 KiB requests four at a time at ~1.4 GB/s with 0.35 ms
/// latency, close to its 1 MiB figure; larger windows only lengthen the
/// queue a producer's write waits behind. Also the most readahead of the
/// data device with which the kernel's own readahead serves cold reads
/// instead (`sendfile_pool::choose_read_ahead`).
pub const READ_AHEAD_WINDOW_BYTES: u64 = 256 * 1024;

/// Descriptors one open segment file holds: the direct-I/O file, its
/// duplicate for reads on the blocking pool, and the plain one sendfile
/// reads (`capacity.rs`).
pub const DESCRIPTORS_PER_SEGMENT_FILE: u64 = 3;

/// Descriptors kept for everything but segment files (sockets, io_uring
/// rings and eventfds, the blocking pools, index and checkpoint writes,
/// fetches in flight): at least this many, or a `1 / DIVISOR` share of the
/// limit if that is more.
pub const OPEN_FILES_RESERVED_MIN: u64 = 256;
pub const OPEN_FILES_RESERVED_DIVISOR: u64 = 4;

/// Segment files a shard may keep open however low the descriptor limit.
pub const OPEN_SEGMENTS_PER_SHARD_MIN: usize = 8;

/// Tail cache (written bytes kept for tailing readers) a shard keeps at
/// most, whatever the memory.
pub const TAIL_CACHE_SHARD_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// What an idle partition with a little data costs in resident memory,
/// for the start-up estimate: a bound with room, not the measurement
/// (bench/partition-density.sh measured 26-35 KiB each: 10,000 partitions
/// of one 1 KB record in 257-349 MiB of RSS).
pub const PARTITION_IDLE_BYTES: u64 = 64 * 1024;

/// Partitions a shard opens (recovers) at once at start and on a topic
/// change: enough to keep its blocking pool and the disk busy.
pub const PARTITIONS_OPENING_MAX: usize = 32;
