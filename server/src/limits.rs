//! Bounds on what the request layer accepts, with units.

/// Partitions one topic may have.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// How long a Fetch waits between looks at its partitions while it long-polls.
pub const FETCH_POLL_INTERVAL_MS: u64 = 2;
