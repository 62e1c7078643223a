//! Bounds on what the request layer accepts, with units.

/// Partitions one topic may have.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Requests one connection may have started and not yet answered (produce
/// requests waiting for the disk); the connection reads no further until
/// the oldest is answered.
pub const IN_FLIGHT_MAX: usize = 64;

/// Bytes a connection asks the socket for at a time (more for a large frame).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The nice value of threads that send segment files (shards run at 0).
pub const SENDFILE_NICE: i32 = 10;
