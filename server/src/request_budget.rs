//! A shard's budget of request bytes in flight (`queued.max.request.bytes`),
//! handed out first come, first served.
//!
//! A connection takes a frame's size from the budget once the frame's size
//! prefix is read and before its body is; the [`Permit`] gives the bytes
//! back when dropped (the request answered). A frame that does not fit
//! waits in line, and so does every frame behind it: a large request is
//! never passed by a stream of small ones, which would starve it.
//!
//! ```text
//!  available 300   queue: [A wants 500] [B wants 10]
//!  a permit of 400 comes back: available 700 -> A granted (200 left) -> B granted (190 left)
//! ```
//!
//! Shard contract: a budget belongs to one shard (`Rc`, not `Send`), like
//! the connections that draw on it. A wait dropped before it is granted
//! leaves the line (and lets those behind it go on); a grant nobody
//! collects is given back.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The bytes left and the line of waits.
pub struct RequestBudget {
    available: Cell<usize>,
    total: usize,
    waiting: RefCell<VecDeque<Rc<Wait>>>,
}

struct Wait {
    bytes: usize,
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Bytes taken from a budget, given back when dropped.
pub struct Permit {
    budget: Rc<RequestBudget>,
    bytes: usize,
}

impl RequestBudget {
    pub fn new(total: usize) -> Rc<RequestBudget> {
        Rc::new(RequestBudget {
            available: Cell::new(total),
            total,
            waiting: RefCell::new(VecDeque::new()),
        })
    }

    /// Takes `bytes`, waiting behind earlier waits until they fit.
    /// `bytes` must not exceed the whole budget (config validation keeps
    /// `socket.request.max.bytes` within it).
    pub fn acquire(self: &Rc<Self>, bytes: usize) -> Acquire {
        assert!(bytes <= self.total, "a frame fits the whole budget");
        Acquire {
            budget: self.clone(),
            bytes,
            wait: None,
        }
    }

    /// Bytes not held by any permit or grant.
    pub fn available(&self) -> usize {
        self.available.get()
    }

    fn give_back(&self, bytes: usize) {
        self.available.set(self.available.get() + bytes);
        debug_assert!(self.available.get() <= self.total);
        self.grant_in_order();
    }

    /// Grants the waits at the front of the line while they fit.
    fn grant_in_order(&self) {
        let mut waiting = self.waiting.borrow_mut();
        while let Some(front) = waiting.front() {
            if front.bytes > self.available.get() {
                break;
            }
            self.available.set(self.available.get() - front.bytes);
            front.granted.set(true);
            if let Some(waker) = front.waker.borrow_mut().take() {
                waker.wake();
            }
            waiting.pop_front();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The wait for a permit (see [`RequestBudget::acquire`]).
pub struct Acquire {
    budget: Rc<RequestBudget>,
    bytes: usize,
    /// Set once this wait is in line.
    wait: Option<Rc<Wait>>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Permit> {
        let budget = self.budget.clone();
        let bytes = self.bytes;
        let granted = match &self.wait {
            Some(wait) if wait.granted.get() => true,
            Some(wait) => {
                *wait.waker.borrow_mut() = Some(context.waker().clone());
                false
            }
            None => {
                let first_in_line = budget.waiting.borrow().is_empty();
                if first_in_line && budget.available.get() >= bytes {
                    budget.available.set(budget.available.get() - bytes);
                    true
                } else {
                    let wait = Rc::new(Wait {
                        bytes,
                        granted: Cell::new(false),
                        waker: RefCell::new(Some(context.waker().clone())),
                    });
                    budget.waiting.borrow_mut().push_back(wait.clone());
                    self.wait = Some(wait);
                    false
                }
            }
        };
        if !granted {
            return Poll::Pending;
        }
        self.wait = None;
        Poll::Ready(Permit { budget, bytes })
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(wait) = self.wait.take() else {
            return;
        };
        if wait.granted.get() {
            // Granted but never collected: the bytes go back.
            self.budget.give_back(wait.bytes);
            return;
        }
        self.budget
            .waiting
            .borrow_mut()
            .retain(|queued| !Rc::ptr_eq(queued, &wait));
        // Those behind it may fit now.
        self.budget.grant_in_order();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn permits_take_and_give_back_bytes() {
        let budget = RequestBudget::new(100);
        let first = block_on(budget.acquire(60));
        let second = block_on(budget.acquire(40));
        assert_eq!(budget.available(), 0);
        drop(first);
        assert_eq!(budget.available(), 60);
        drop(second);
        assert_eq!(budget.available(), 100);
    }

    /// A large wait is not passed by a small one that would fit: first
    /// come, first served.
    #[test]
    fn waits_are_granted_in_order() {
        let budget = RequestBudget::new(100);
        let held = block_on(budget.acquire(70));
        let mut large = Box::pin(budget.acquire(80));
        assert!(block_on(poll_once(large.as_mut())).is_none());
        let mut small = Box::pin(budget.acquire(10));
        assert!(
            block_on(poll_once(small.as_mut())).is_none(),
            "10 bytes would fit, but the large wait came first"
        );
        drop(held);
        let large = block_on(poll_once(large.as_mut())).expect("granted first");
        let small = block_on(poll_once(small.as_mut())).expect("then the next");
        assert_eq!(budget.available(), 10);
        drop((large, small));
        assert_eq!(budget.available(), 100);
    }

    /// A wait dropped in line leaves it, and those behind it go on; a
    /// grant never collected is given back.
    #[test]
    fn dropped_waits_leave_the_line_and_return_their_grants() {
        let budget = RequestBudget::new(100);
        let held = block_on(budget.acquire(50));
        let mut blocked = Box::pin(budget.acquire(90));
        assert!(block_on(poll_once(blocked.as_mut())).is_none());
        let mut behind = Box::pin(budget.acquire(30));
        assert!(block_on(poll_once(behind.as_mut())).is_none());
        drop(blocked);
        let behind = block_on(poll_once(behind.as_mut())).expect("no longer behind anyone");
        assert_eq!(budget.available(), 20);
        drop((held, behind));

        let held = block_on(budget.acquire(100));
        let mut uncollected = Box::pin(budget.acquire(60));
        assert!(block_on(poll_once(uncollected.as_mut())).is_none());
        drop(held);
        assert_eq!(budget.available(), 40, "granted to the wait");
        drop(uncollected);
        assert_eq!(budget.available(), 100, "and given back by it");
    }
}
