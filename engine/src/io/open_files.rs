//! The shard's budget of open segment files: at most `open_max` segments
//! hold descriptors at once, whatever the number of partitions, and the
//! least recently used one is closed to make room for the next.
//!
//! ```text
//!  FileSlot (one per segment, partition_log/segment_state.rs)
//!    get() ──open?── yes ─▶ touch: most recently used
//!            │
//!            no ─▶ make_room: close the least recently used slots until
//!                  fewer than open_max are open; open; admit
//! ```
//!
//! A segment file costs three descriptors (the direct-I/O file, its
//! duplicate for reads on the blocking pool, and the plain descriptor
//! sendfile reads), so a partition that keeps its files open for ever
//! makes the descriptor limit a partition limit: 10,000 partitions went
//! offline with EMFILE at `ulimit -n` 20000 before this (issue 15).
//!
//! Closing a slot drops only the slot's own handle: a write, scan or
//! fetch that holds the open file keeps its descriptors until it is done,
//! so the budget can be exceeded by what is in flight, never by what is
//! idle. A descriptor limit met anyway (sockets took the rest) closes
//! more slots and tries once more; if that fails too the caller gets the
//! error (backpressure), and nothing goes offline for it.
//!
//! Contract: one budget per shard (it lives in the shard's `Storage`);
//! nothing here is `Send`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Something the budget can close: a segment's slot.
pub(crate) trait Evictable {
    /// Drops the slot's own handle to its open files.
    fn evict(&self);
}

/// How long an opener waits for an open file to be let go when every one
/// is in use, before it opens one over the budget.
const HOLD_WAIT_MAX: Duration = Duration::from_secs(1);

/// One open segment file counted in the budget; dropped with the file.
pub(crate) struct HeldFile(Rc<OpenFiles>);

impl Drop for HeldFile {
    fn drop(&mut self) {
        self.0.held.set(self.0.held.get() - 1);
    }
}

/// Slots kept open when nobody sets a budget (tests, tools, benches).
pub const OPEN_SEGMENTS_DEFAULT: usize = 4096;

pub(crate) struct OpenFiles {
    open_max: Cell<usize>,
    /// Segment files open now, idle in a slot or held by a write, scan or
    /// fetch in flight (each has a [`HeldFile`]).
    held: Cell<usize>,
    lru: RefCell<lru::LruCache<u64, Weak<dyn Evictable>>>,
    next_id: Cell<u64>,
    evictions: Cell<u64>,
}

impl OpenFiles {
    pub(crate) fn new(open_max: usize) -> OpenFiles {
        OpenFiles {
            open_max: Cell::new(open_max.max(1)),
            held: Cell::new(0),
            lru: RefCell::new(lru::LruCache::unbounded()),
            next_id: Cell::new(0),
            evictions: Cell::new(0),
        }
    }

    pub(crate) fn set_open_max(&self, open_max: usize) {
        self.open_max.set(open_max.max(1));
        let excess = self.open_count().saturating_sub(self.open_max.get());
        self.close_oldest(excess);
    }

    pub(crate) fn open_max(&self) -> usize {
        self.open_max.get()
    }

    /// Slots open now.
    pub(crate) fn open_count(&self) -> usize {
        self.lru.borrow().len()
    }

    /// Waits for room for one more open segment file and counts it: idle
    /// slots close first, least recently used first; when every open file
    /// is in use (a burst of appends to many partitions), it waits for one
    /// to be let go, up to `HOLD_WAIT_MAX` (then goes over the budget
    /// rather than stall: a task that holds one file while it opens
    /// another must not wait for itself).
    pub(crate) async fn hold(self: &Rc<Self>) -> HeldFile {
        let waited_since = std::time::Instant::now();
        while self.held.get() >= self.open_max.get() {
            if !self.lru.borrow().is_empty() {
                self.close_oldest(1);
                continue;
            }
            if waited_since.elapsed() >= HOLD_WAIT_MAX {
                break;
            }
            crate::io::pause(Duration::from_millis(1)).await;
        }
        self.held.set(self.held.get() + 1);
        HeldFile(self.clone())
    }

    /// Slots closed to make room so far.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.get()
    }

    /// An id for a new slot.
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Marks an open slot as the most recently used.
    pub(crate) fn touch(&self, id: u64) {
        self.lru.borrow_mut().promote(&id);
    }

    /// Records a slot that just opened its files.
    pub(crate) fn admit(&self, id: u64, slot: Weak<dyn Evictable>) {
        self.lru.borrow_mut().put(id, slot);
        let excess = self.open_count().saturating_sub(self.open_max.get());
        self.close_oldest(excess);
    }

    /// A slot closed or went away: it no longer counts.
    pub(crate) fn forget(&self, id: u64) {
        self.lru.borrow_mut().pop(&id);
    }

    /// Closes the least recently used slots while the budget is exceeded,
    /// keeping room for one more.
    pub(crate) fn make_room(&self) {
        let excess = (self.open_count() + 1).saturating_sub(self.open_max.get());
        self.close_oldest(excess);
    }

    /// The process ran out of descriptors: close a quarter of the open
    /// slots (at least one), so the retry that follows has room.
    pub(crate) fn shed(&self) {
        let count = (self.open_count() / 4).max(1);
        self.close_oldest(count);
    }

    fn close_oldest(&self, count: usize) {
        if count == 0 {
            return;
        }
        // Collected first and closed after: closing must not find the
        // list borrowed.
        let victims: Vec<Weak<dyn Evictable>> = {
            let mut lru = self.lru.borrow_mut();
            (0..count)
                .map_while(|_| lru.pop_lru().map(|(_, slot)| slot))
                .collect()
        };
        for victim in victims {
            if let Some(slot) = victim.upgrade() {
                slot.evict();
                self.evictions.set(self.evictions.get() + 1);
            }
        }
    }
}

impl Default for OpenFiles {
    fn default() -> OpenFiles {
        OpenFiles::new(OPEN_SEGMENTS_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slot(Cell<bool>);

    impl Evictable for Slot {
        fn evict(&self) {
            self.0.set(false);
        }
    }

    fn open(files: &OpenFiles, slot: &Rc<Slot>, id: u64) {
        files.make_room();
        slot.0.set(true);
        let weak: Weak<dyn Evictable> = Rc::downgrade(slot) as Weak<dyn Evictable>;
        files.admit(id, weak);
    }

    #[test]
    fn the_least_recently_used_slot_closes_first() {
        let files = OpenFiles::new(2);
        let slots: Vec<Rc<Slot>> = (0..3).map(|_| Rc::new(Slot(Cell::new(false)))).collect();
        open(&files, &slots[0], 0);
        open(&files, &slots[1], 1);
        files.touch(0);
        open(&files, &slots[2], 2);
        assert!(slots[0].0.get(), "touched last, kept");
        assert!(!slots[1].0.get(), "least recently used, closed");
        assert!(slots[2].0.get());
        assert_eq!(files.open_count(), 2);
        assert_eq!(files.evictions(), 1);
    }

    #[test]
    fn a_forgotten_slot_frees_its_place_and_dead_slots_cost_nothing() {
        let files = OpenFiles::new(2);
        let kept = Rc::new(Slot(Cell::new(false)));
        open(&files, &kept, 0);
        {
            let gone = Rc::new(Slot(Cell::new(false)));
            open(&files, &gone, 1);
        }
        files.forget(1);
        assert_eq!(files.open_count(), 1);
        let next = Rc::new(Slot(Cell::new(false)));
        open(&files, &next, 2);
        assert!(kept.0.get() && next.0.get());
        files.shed();
        assert_eq!(files.open_count(), 1, "a quarter, at least one, closed");
    }
}
