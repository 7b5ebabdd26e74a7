//! The FIFO of waiters under `sync` (`Mutex`, `Condition`, `Mvar`), `pool` and the `io`
//! channels' lock.
//!
//! A waiter is a resolver (with, for a waiting `Mvar::put`, its value). A canceled waiter is not
//! removed when it is canceled (that would need a cancel hook per wait); it is skipped when the
//! queue is served. Skipping alone lets a queue that nobody serves grow without bound: a program
//! that keeps racing `take` against a timeout on an empty mailbox would keep every canceled
//! take. So `push` also sweeps: once the queue has doubled since the last sweep, the canceled
//! waiters go. A queue then holds at most about twice its live waiters (plus a small constant),
//! for O(1) amortized work per wait. The sweep threshold follows the queue down as it is served,
//! so the bound tracks the waiters of now, not the most there ever were.

use std::collections::VecDeque;

use crate::resolver::Resolver;

/// The queue length below which no sweep happens.
const FIRST_SWEEP: usize = 16;

/// Something in a wait queue that may have been canceled.
pub(crate) trait Waiting {
    /// Does it still wait (its promise is pending)?
    fn is_waiting(&self) -> bool;
}

impl<T: 'static> Waiting for Resolver<T> {
    fn is_waiting(&self) -> bool {
        self.is_pending()
    }
}

impl<V, T: 'static> Waiting for (V, Resolver<T>) {
    fn is_waiting(&self) -> bool {
        self.1.is_pending()
    }
}

/// A FIFO of waiters that forgets the canceled ones (see the module docs).
pub(crate) struct WaitQueue<E> {
    queue: VecDeque<E>,
    sweep_at: usize,
    /// Entries the sweeps and `skip_canceled` have looked at, for the tests that pin their cost.
    #[cfg(test)]
    visited: usize,
}

impl<E> Default for WaitQueue<E> {
    fn default() -> Self {
        WaitQueue {
            queue: VecDeque::new(),
            sweep_at: FIRST_SWEEP,
            #[cfg(test)]
            visited: 0,
        }
    }
}

impl<E: Waiting> WaitQueue<E> {
    /// Appends a waiter. Returns the canceled waiters swept out on the way, if a sweep ran, for
    /// the caller to drop once it has released its borrow of the queue (a waiter can hold a user
    /// value, whose `drop` may use the structure again).
    #[must_use = "drop the swept waiters after releasing the borrow"]
    // Inlined (the sweep is out of line): a mailbox's or mutex's wait runs through here. An
    // `Option`, not an empty `Vec` when no sweep ran: the caller's drop of an always-empty
    // `Vec` still called the drop of its elements' slice, out of line (37 instructions of a
    // ping-pong round trip, whose two `take`s wait).
    #[inline]
    pub(crate) fn push(&mut self, waiter: E) -> Option<Vec<E>> {
        let swept = if self.queue.len() >= self.sweep_at {
            Some(self.sweep())
        } else {
            None
        };
        self.queue.push_back(waiter);
        swept
    }

    /// Removes the canceled waiters and returns them.
    #[cold]
    fn sweep(&mut self) -> Vec<E> {
        #[cfg(test)]
        {
            self.visited += self.queue.len();
        }
        let mut swept = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for w in self.queue.drain(..) {
            if w.is_waiting() {
                kept.push_back(w);
            } else {
                swept.push(w);
            }
        }
        self.queue = kept;
        self.sweep_at = FIRST_SWEEP.max(2 * self.queue.len());
        swept
    }

    /// The first waiter, canceled or not.
    pub(crate) fn pop_front(&mut self) -> Option<E> {
        let first = self.queue.pop_front();
        // Follow the queue down as it is served, so that the bound tracks the current number
        // of waiters, not the largest it ever had.
        if self.sweep_at > FIRST_SWEEP && 4 * self.queue.len() < self.sweep_at {
            self.sweep_at = FIRST_SWEEP.max(2 * self.queue.len());
        }
        first
    }

    /// Every waiter, canceled or not, leaving the queue empty.
    pub(crate) fn take_all(&mut self) -> VecDeque<E> {
        self.sweep_at = FIRST_SWEEP;
        std::mem::take(&mut self.queue)
    }

    /// Removes the canceled entries at the front and returns them (for the caller to drop once
    /// it has released its borrow of the queue), so that the front entry, if any, still waits.
    /// Each entry is removed once, so asking this before every look at the front is O(1)
    /// amortized, which `Mutex::is_empty` (O(1) in Lwt) relies on.
    #[must_use = "drop the removed waiters after releasing the borrow"]
    pub(crate) fn skip_canceled(&mut self) -> Vec<E> {
        let mut skipped = Vec::new();
        while self.queue.front().is_some_and(|w| !w.is_waiting()) {
            skipped.extend(self.pop_front());
        }
        #[cfg(test)]
        {
            let looked_at = skipped.len() + usize::from(!self.queue.is_empty());
            self.visited += looked_at;
        }
        skipped
    }

    /// Is the queue empty, canceled entries included?
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many still wait. O(length).
    pub(crate) fn waiting(&self) -> usize {
        self.queue.iter().filter(|w| w.is_waiting()).count()
    }

    /// How many entries the queue holds, canceled ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }

    /// Entries the sweeps and `skip_canceled` have looked at so far.
    #[cfg(test)]
    pub(crate) fn visited(&self) -> usize {
        self.visited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::task;

    #[test]
    fn canceled_waiters_are_swept_so_entries_stay_within_twice_the_live_ones() {
        let mut q = WaitQueue::default();
        let mut live = Vec::new();
        for i in 0..10_000 {
            let (p, r) = task::<()>();
            drop(q.push(r));
            if i % 10 == 0 {
                live.push(p); // one in ten stays
            } else {
                p.cancel();
            }
        }
        assert_eq!(q.waiting(), 1_000);
        assert!(q.len() <= 2 * 1_000 + FIRST_SWEEP, "{} entries", q.len());
        // FIFO order of the live ones is kept.
        let mut served = 0;
        while let Some(r) = q.pop_front() {
            if r.is_pending() {
                r.wakeup(());
                assert!(live[served].is_fulfilled());
                served += 1;
            }
        }
        assert_eq!(served, 1_000);
    }

    #[test]
    fn the_bound_follows_the_queue_down_once_it_is_served() {
        let mut q = WaitQueue::default();
        let live: Vec<_> = (0..1_000)
            .map(|_| {
                let (p, r) = task::<()>();
                drop(q.push(r));
                p
            })
            .collect();
        while let Some(r) = q.pop_front() {
            r.wakeup(());
        }
        assert!(live.iter().all(|p| p.is_fulfilled()));
        for _ in 0..10_000 {
            let (p, r) = task::<()>();
            drop(q.push(r));
            p.cancel();
        }
        assert!(q.len() <= FIRST_SWEEP + 1, "{} entries", q.len());
    }

    /// Found in review (rev60, session 36): `Mutex::is_empty` counted every waiter, so asking
    /// it once per lock with 20,000 waiters took 0.68 s (quadratic). It now looks at the front,
    /// and (rev62) drops the canceled entries it finds there, which a search alone walked again
    /// on every call (0.9 s for 20,000 calls behind 19,999 canceled waiters).
    #[test]
    fn skip_canceled_looks_at_each_canceled_entry_once() {
        let mut q = WaitQueue::default();
        let waiters: Vec<_> = (0..1_000)
            .map(|_| {
                let (p, r) = task::<()>();
                drop(q.push(r));
                p
            })
            .collect();
        let before = q.visited();
        assert!(q.skip_canceled().is_empty() && !q.is_empty());
        assert_eq!(q.visited() - before, 1);
        for w in &waiters[..999] {
            w.cancel();
        }
        let before = q.visited();
        assert_eq!(q.skip_canceled().len(), 999);
        assert!(!q.is_empty());
        assert_eq!(q.visited() - before, 1_000);
        let before = q.visited();
        assert!(q.skip_canceled().is_empty());
        assert_eq!(q.visited() - before, 1, "the canceled ones are gone");
        waiters[999].cancel();
        assert_eq!(q.skip_canceled().len(), 1);
        assert!(q.is_empty());
    }
}
