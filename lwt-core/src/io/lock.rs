//! The per-channel lock that serializes operations (Lwt_io's channel lock).
//!
//! Every operation on a channel runs under its lock: an operation started while another one is
//! in progress waits in a FIFO queue, so two `read_line`s never interleave their bytes and
//! writes keep their order. A free lock costs nothing: the operation starts at once, and if it
//! completes at once (the data was buffered) no promise is allocated for the lock.
//!
//! Waiters are [`task`]s in a [`WaitQueue`]: a canceled operation's resolver is skipped when the
//! lock passes on, and swept out once the queue has doubled since the last sweep, so queuing n
//! operations behind a busy channel is O(n) (a sweep at every acquire past a fixed length made
//! it quadratic: 80,000 queued writes took 11.5 s).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::bind::guarded;
use crate::engine::PausedWork;
use crate::main::{pause, pause_then};
use crate::promise::Promise;
use crate::resolver::{task, Resolver};
use crate::wait_queue::WaitQueue;

#[derive(Default)]
pub(crate) struct Lock {
    busy: Cell<bool>,
    waiters: RefCell<WaitQueue<Resolver<()>>>,
}

impl Lock {
    fn acquire(&self) -> Promise<()> {
        if !self.busy.replace(true) {
            return Promise::ret(());
        }
        let (p, r) = task();
        let swept = self.waiters.borrow_mut().push(r);
        drop(swept);
        p
    }

    /// Passes the lock to the first operation still waiting, or frees it. The next operation
    /// is woken with `wakeup_later`, as Lwt_io's lock does: it starts once the callbacks running
    /// now are over, so the operation that just ended resolves, and its caller's callbacks run,
    /// before the next one (with `wakeup`, queued operations resolved in reverse order).
    fn release(&self) {
        loop {
            let next = self.waiters.borrow_mut().pop_front();
            match next {
                Some(r) if r.is_pending() => return r.wakeup_later(()),
                Some(_) => continue,
                None => return self.busy.set(false),
            }
        }
    }

    /// Is an operation in progress?
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.get()
    }
}

/// A lock dropped while a panic unwound is released at the next turn (see [`Held`]).
impl PausedWork for Lock {
    fn run_paused(self: Rc<Self>) {
        self.release();
    }
}

/// How many channel operations in a row may complete at once (on buffered data) before one is
/// made to wait for the next turn of the loop.
pub(crate) const MAX_STREAK: u32 = 128;

thread_local! {
    /// Channel operations completed at once since the last one that had to wait.
    static STREAK: Cell<u32> = const { Cell::new(0) };
}

/// May an operation that completes at once (a write that fits in the buffer) run right now,
/// without [`serialized`]'s promises? Yes when the lock is free and the streak of operations
/// completed at once is below [`MAX_STREAK`]: then `serialized` would run it at once too, and
/// the streak counts it as `serialized` would.
pub(crate) fn may_run_at_once(lock: &Lock) -> bool {
    if lock.is_busy() {
        return false;
    }
    STREAK.with(|s| {
        let n = s.get();
        n < MAX_STREAK && {
            s.set(n + 1);
            true
        }
    })
}

/// The channel's lock, held by an operation in progress: released when dropped, that is when the
/// operation's last continuation returns (or is dropped unrun). Dropped while a panic unwinds
/// (an internal bug in a step), it releases the lock at the next turn of the loop instead, so
/// that the next operation never runs in the middle of the unwinding.
pub(crate) struct Held(Rc<Lock>);

impl Drop for Held {
    fn drop(&mut self) {
        if std::thread::panicking() {
            pause_then(self.0.clone());
        } else {
            self.0.release();
        }
    }
}

/// Runs `op` under `lock` (after the operations queued before it), releasing the lock when its
/// promise resolves, however it resolves (a panic in `op` is a rejection).
///
/// Rust has no tail calls: a loop written as `read_line(ic).bind(|l| ...; again())` recurses on
/// the stack for as long as the reads complete at once, as they do on buffered data (OCaml's
/// `>>=` on a resolved promise is a tail call, so Lwt does not have this problem). So after
/// [`MAX_STREAK`] operations in a row that completed at once, the next one starts at the next
/// turn of the loop (holding the lock, so the order of operations is kept), which unwinds such a
/// loop: it runs in constant stack.
pub(crate) fn serialized<T: 'static>(
    lock: &Rc<Lock>,
    op: impl FnOnce() -> Promise<T> + 'static,
) -> Promise<T> {
    in_turn(lock, move |lock| {
        let done = guarded(|()| op(), ());
        if done.is_resolved() {
            lock.release();
        } else {
            // Registered before the caller gets `done`, so the lock passes on (is free, or the
            // first queued operation is woken, to start once these callbacks are over) before
            // the caller's own callbacks run. An observer, not a `finalize`: no promise of its
            // own, and the caller gets the operation's promise itself.
            done.on_termination(move || lock.release());
        }
        done
    })
}

/// [`serialized`] for an operation that carries the lock ([`Held`]) through its continuations
/// to its end and releases it by dropping it there, once its outcome is decided and before its
/// promise resolves (so before the caller's callbacks run, as with `serialized`): no observer on
/// its promise.
#[inline]
pub(crate) fn serialized_held<T: 'static>(
    lock: &Rc<Lock>,
    op: impl FnOnce(Held) -> Promise<T> + 'static,
) -> Promise<T> {
    in_turn(lock, move |lock| guarded(op, Held(lock)))
}

/// Runs `run` with the lock once it is this operation's turn (after a pause first if the streak
/// of operations completed at once is at [`MAX_STREAK`]), and counts the streak. `run` must see
/// to the lock's release.
fn in_turn<T: 'static>(
    lock: &Rc<Lock>,
    run: impl FnOnce(Rc<Lock>) -> Promise<T> + 'static,
) -> Promise<T> {
    let lock = lock.clone();
    lock.acquire().bind(move |()| {
        let run = move |lock| {
            let done = run(lock);
            STREAK.with(|s| s.set(if done.is_resolved() { s.get() + 1 } else { 0 }));
            done
        };
        if STREAK.with(Cell::get) >= MAX_STREAK {
            STREAK.with(|s| s.set(0));
            // The lock is held across the pause: an operation canceled during it gives the lock
            // back without running.
            pause().then(move |paused| match paused {
                Ok(()) => run(lock),
                Err(e) => {
                    lock.release();
                    Promise::fail(e)
                }
            })
        } else {
            run(lock)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::{serialized, serialized_held, Lock};
    use crate::promise::Promise;

    /// An operation that records whether it ran while a panic was unwinding.
    fn next_op(seen: &Rc<Cell<Option<bool>>>) -> impl FnOnce() -> Promise<()> + 'static {
        let seen = seen.clone();
        move || {
            seen.set(Some(std::thread::panicking()));
            Promise::ret(())
        }
    }

    #[test]
    fn after_a_panicking_operation_the_next_one_runs_once_the_unwinding_is_over() {
        let lock = Rc::new(Lock::default());
        let (p0, r0) = crate::wait::<()>();
        let first = serialized(&lock, move || p0);
        let failing: Promise<()> = serialized(&lock, || panic!("a bug in an operation"));
        let seen = Rc::new(Cell::new(None));
        let next = serialized(&lock, next_op(&seen));
        r0.wakeup(());
        assert!(first.is_fulfilled() && failing.is_rejected() && next.is_fulfilled());
        assert_eq!(seen.get(), Some(false));
    }

    #[test]
    fn a_held_lock_dropped_by_a_panic_is_released_at_the_next_turn() {
        let lock = Rc::new(Lock::default());
        let failing: Promise<()> = serialized_held(&lock, |_held| panic!("a bug in a step"));
        assert!(failing.is_rejected());
        assert!(lock.is_busy(), "released later, not during the unwinding");
        let seen = Rc::new(Cell::new(None));
        let next = serialized(&lock, next_op(&seen));
        crate::main::run(next).unwrap();
        assert_eq!(seen.get(), Some(false));
        assert!(!lock.is_busy());
    }

    /// Queuing n operations behind a busy channel looks at O(n) entries in all, canceled or not
    /// (a sweep of the whole queue at every acquire past 64 entries made it O(n²)).
    #[test]
    fn queuing_behind_a_busy_lock_is_linear() {
        let lock = Lock::default();
        assert!(lock.acquire().is_fulfilled());
        let n = 100_000;
        let waits: Vec<_> = (0..n).map(|_| lock.acquire()).collect();
        assert!(waits.iter().all(Promise::is_pending));
        let visited = lock.waiters.borrow().visited();
        assert!(
            visited <= 2 * n,
            "{visited} entries looked at for {n} waiters"
        );
        // Canceled ones are swept (and skipped), the others served in order.
        for (i, w) in waits.iter().enumerate() {
            if i % 2 == 0 {
                w.cancel();
            }
        }
        let more: Vec<_> = (0..n).map(|_| lock.acquire()).collect();
        assert!(lock.waiters.borrow().visited() <= 6 * n);
        lock.release();
        crate::main::run(crate::main::pause()).unwrap();
        assert!(waits[1].is_fulfilled() && waits[3].is_pending());
        drop(more);
    }
}
