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

use crate::bind::catch;
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

/// Runs `op` under `lock` (after the operations queued before it), releasing the lock when its
/// promise resolves, however it resolves (a panic in `op` is a rejection).
pub(crate) fn serialized<T: 'static>(
    lock: &Rc<Lock>,
    op: impl FnOnce() -> Promise<T> + 'static,
) -> Promise<T> {
    let lock = lock.clone();
    lock.acquire().bind(move |()| {
        catch(op, Promise::fail).finalize(move || {
            lock.release();
            Promise::ret(())
        })
    })
}
