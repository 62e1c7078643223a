//! The shard's budget for tail caches: the written bytes partitions keep in
//! memory for tailing readers (`tail_cache_bytes`, 4 MiB each by default;
//! see `partition_log/tail.rs`). Each log may keep up to its own bound, and
//! all the logs of a shard together at most `bytes_max`: when they hold
//! more, the caches of the logs written least recently are dropped first.
//!
//! ```text
//!  round completes ─▶ log evicts down to its own bound ─▶ report(held)
//!                                                            │ held by all > bytes_max?
//!                      least recently written log ◀── shrink ┘ (until within)
//! ```
//!
//! Without it, 10,000 partitions that each took 4 MiB would keep 40 GiB.
//! A dropped cache costs only speed: those readers are served from the
//! file (sendfile) instead, which is where cold readers go anyway. What a
//! log must keep to write (the chunk holding the partial last page, bytes
//! not yet on disk) is not cache and is never counted or dropped here.
//!
//! Contract: one budget per shard (in the shard's `Storage`); nothing here
//! is `Send`.

use std::cell::{Cell, RefCell};
use std::rc::Weak;

/// What the budget can shrink: a log's tail cache.
pub(crate) trait Shrinkable {
    /// Drops every cached byte the log holds (what it needs to write is
    /// not cache, and stays).
    fn shrink(&self);
}

/// Bytes of tail cache a shard keeps when nobody sets a budget.
pub const TAIL_CACHE_SHARD_BYTES_DEFAULT: u64 = 512 * 1024 * 1024;

/// What one log holds, and how to shrink it.
type Held = (u64, Weak<dyn Shrinkable>);

pub(crate) struct CacheBudget {
    bytes_max: Cell<u64>,
    held: Cell<u64>,
    /// Per log (by id): the bytes it holds and how to shrink it, least
    /// recently written first.
    logs: RefCell<lru::LruCache<u64, Held>>,
    next_id: Cell<u64>,
    shrunk: Cell<u64>,
}

impl CacheBudget {
    pub(crate) fn new(bytes_max: u64) -> CacheBudget {
        CacheBudget {
            bytes_max: Cell::new(bytes_max),
            held: Cell::new(0),
            logs: RefCell::new(lru::LruCache::unbounded()),
            next_id: Cell::new(0),
            shrunk: Cell::new(0),
        }
    }

    pub(crate) fn set_bytes_max(&self, bytes_max: u64) {
        self.bytes_max.set(bytes_max);
    }

    pub(crate) fn bytes_max(&self) -> u64 {
        self.bytes_max.get()
    }

    /// Bytes held by all the logs now.
    pub(crate) fn held(&self) -> u64 {
        self.held.get()
    }

    /// Caches dropped to stay within the budget so far.
    pub(crate) fn shrunk(&self) -> u64 {
        self.shrunk.get()
    }

    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Log `id` was just written and holds `bytes` of cache now. Must not
    /// be called while any log's state is borrowed: it may shrink others.
    pub(crate) fn report(&self, id: u64, bytes: u64, log: Weak<dyn Shrinkable>) {
        self.set(id, bytes, Some(log));
        self.enforce();
    }

    /// Log `id` went away (or holds nothing now).
    pub(crate) fn forget(&self, id: u64) {
        self.set(id, 0, None);
    }

    fn set(&self, id: u64, bytes: u64, log: Option<Weak<dyn Shrinkable>>) {
        let mut logs = self.logs.borrow_mut();
        let before = match (bytes, log) {
            (0, _) | (_, None) => logs.pop(&id).map_or(0, |(held, _)| held),
            (bytes, Some(log)) => logs.put(id, (bytes, log)).map_or(0, |(held, _)| held),
        };
        self.held.set(self.held.get() - before + bytes);
    }

    fn enforce(&self) {
        while self.held.get() > self.bytes_max.get() {
            let Some((_, (held, log))) = self.logs.borrow_mut().pop_lru() else {
                return;
            };
            self.held.set(self.held.get() - held);
            if let Some(log) = log.upgrade() {
                self.shrunk.set(self.shrunk.get() + 1);
                log.shrink();
            }
        }
    }
}

impl Default for CacheBudget {
    fn default() -> CacheBudget {
        CacheBudget::new(TAIL_CACHE_SHARD_BYTES_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    struct Log(Cell<u64>);

    impl Shrinkable for Log {
        fn shrink(&self) {
            self.0.set(0);
        }
    }

    fn weak(log: &Rc<Log>) -> Weak<dyn Shrinkable> {
        Rc::downgrade(log) as Weak<dyn Shrinkable>
    }

    #[test]
    fn the_least_recently_written_cache_goes_first() {
        let budget = CacheBudget::new(10);
        let logs: Vec<Rc<Log>> = (0..3).map(|_| Rc::new(Log(Cell::new(4)))).collect();
        budget.report(0, 4, weak(&logs[0]));
        budget.report(1, 4, weak(&logs[1]));
        budget.report(0, 4, weak(&logs[0]));
        assert_eq!(budget.held(), 8);
        budget.report(2, 4, weak(&logs[2]));
        assert_eq!(logs[1].0.get(), 0, "written least recently: dropped");
        assert_eq!(logs[0].0.get(), 4);
        assert_eq!(budget.held(), 8);
        assert_eq!(budget.shrunk(), 1);
        budget.forget(2);
        assert_eq!(budget.held(), 4);
    }
}
