//! The per-channel lock that serializes operations (Lwt_io's channel lock).
//!
//! Every operation on a channel runs under its lock: an operation started while another one is
//! in progress waits in a FIFO queue, so two `read_line`s never interleave their bytes and
//! writes keep their order. A free lock costs nothing: the operation starts at once, and if it
//! completes at once (the data was buffered) no promise is allocated for the lock.
//!
//! Waiters are [`task`]s: canceling a queued operation takes it out of the queue (its resolver
//! is skipped when the lock passes on).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::bind::guarded;
use crate::main::pause;
use crate::promise::Promise;
use crate::resolver::{task, Resolver};

/// Prune canceled waiters once the queue is this long, so they cannot accumulate.
const PRUNE_AT: usize = 64;

#[derive(Default)]
pub(crate) struct Lock {
    busy: Cell<bool>,
    waiters: RefCell<VecDeque<Resolver<()>>>,
}

impl Lock {
    fn acquire(&self) -> Promise<()> {
        if !self.busy.replace(true) {
            return Promise::ret(());
        }
        let (p, r) = task();
        let mut waiters = self.waiters.borrow_mut();
        if waiters.len() >= PRUNE_AT {
            waiters.retain(Resolver::is_pending);
        }
        waiters.push_back(r);
        p
    }

    fn release(&self) {
        loop {
            let next = self.waiters.borrow_mut().pop_front();
            match next {
                Some(r) if r.is_pending() => return r.wakeup(()),
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
/// operation's last continuation returns (or unwinds, or is dropped unrun).
pub(crate) struct Held(Rc<Lock>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.release();
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
    serialized_held(lock, move |held| {
        let done = op();
        if !done.is_resolved() {
            // Registered before the caller gets `done`, so the lock passes on (to the first
            // queued operation, or is free) before the caller's own callbacks run. An
            // observer, not a `finalize`: no promise of its own, and the caller gets the
            // operation's promise itself.
            done.on_termination(move || drop(held));
        }
        done
    })
}

/// [`serialized`] for an operation that carries the lock ([`Held`]) through its continuations
/// to its end and releases it by dropping it there, before its promise resolves (so before the
/// caller's callbacks run, as with `serialized`): no observer on its promise. A panic drops the
/// lock as it unwinds.
pub(crate) fn serialized_held<T: 'static>(
    lock: &Rc<Lock>,
    op: impl FnOnce(Held) -> Promise<T> + 'static,
) -> Promise<T> {
    let lock = lock.clone();
    lock.acquire().bind(move |()| {
        let run = move |held: Held| {
            let done = guarded(op, held);
            STREAK.with(|s| s.set(if done.is_resolved() { s.get() + 1 } else { 0 }));
            done
        };
        let held = Held(lock);
        if STREAK.with(Cell::get) >= MAX_STREAK {
            STREAK.with(|s| s.set(0));
            // The lock is held across the pause: an operation canceled during it gives the lock
            // back without running.
            pause().then(move |paused| match paused {
                Ok(()) => run(held),
                Err(e) => {
                    drop(held);
                    Promise::fail(e)
                }
            })
        } else {
            run(held)
        }
    })
}
