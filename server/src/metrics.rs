//! Per-shard counters (thread-local: a shard is a thread), logged when the
//! shard stops. They show the zero copy: record bytes a Fetch sends with
//! sendfile versus record bytes it copies out of memory.

use std::cell::Cell;

thread_local! {
    static SENDFILE_BYTES: Cell<u64> = const { Cell::new(0) };
    static MEMORY_RECORD_BYTES: Cell<u64> = const { Cell::new(0) };
}

/// Record bytes that went from a segment file to a socket with sendfile.
pub fn add_sendfile_bytes(bytes: u64) {
    SENDFILE_BYTES.with(|counter| counter.set(counter.get() + bytes));
}

/// Record bytes a Fetch served from memory (the tail cache or unwritten data).
pub fn add_memory_record_bytes(bytes: u64) {
    MEMORY_RECORD_BYTES.with(|counter| counter.set(counter.get() + bytes));
}

/// (sendfile bytes, memory record bytes) of this shard.
pub fn fetch_bytes() -> (u64, u64) {
    (
        SENDFILE_BYTES.with(Cell::get),
        MEMORY_RECORD_BYTES.with(Cell::get),
    )
}
