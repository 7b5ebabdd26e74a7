//! Cancellation: `cancel`, `on_cancel`, `protected`, `no_cancel`, `wrap_in_cancelable`.
//!
//! Canceling a promise walks *backwards*: from a bind's result to the promise it waits on (or,
//! once its callback ran, to the promise the callback returned), and so on, until it finds
//! pending [`task`](crate::task)s; those are rejected with [`Canceled`](crate::Canceled), and the
//! rejection then flows forwards through the ordinary callbacks. A [`wait`](crate::wait) promise
//! is not cancelable: `cancel` leaves it pending.
//!
//! ```
//! use lwt_core::{task, Promise, State};
//!
//! let (t, _r) = task::<u32>();
//! let p = t.bind(|x| Promise::ret(x + 1)).map(|x| x * 2);
//! p.cancel();
//! assert!(p.rejection().unwrap().is_canceled());
//! ```
//!
//! What the wrappers do, for a wrapper `q` around `p` (Lwt's table):
//!
//! | | `cancel(q)` | `cancel(p)` (`p` a task) |
//! |---|---|---|
//! | `q = p.protected()` | `q` canceled, `p` untouched | `p` canceled, then `q` too |
//! | `q = p.no_cancel()` | nothing | `p` canceled, then `q` too |
//! | `q = p.wrap_in_cancelable()` | `q` canceled, and `p` if it is cancelable | `p` canceled, then `q` too |
//!
//! The walk is a loop with an explicit work list, so canceling the end of a chain of ten million
//! binds is fine; all the states change before any callback runs, so a promise reached twice is
//! canceled once. The callbacks of the tasks one cancel reached then run task by task in the
//! order the walk reached them (Lwt 5.6.1 runs them in the reverse order). The order can decide
//! an outcome: when one reached task is a `wrap_in_cancelable` wrapper whose `on_cancel` cancels
//! its source again, that second cancel reaches a `catch` handler's fresh task only if the
//! handler ran first.
//!
//! Those callbacks have run when `cancel` returns, called from inside a callback too, as in Lwt,
//! whose cancel never defers; but only up to 64 nested levels of callbacks (a cancel in an
//! `on_cancel` handler that cancels the next task, and so on), which keeps the stack bounded:
//! deeper, a cancel queues the callbacks it reached, and they run once the callback that called
//! it returns.
//!
//! # A step handed over but not yet run
//!
//! A cancel reaches only what is still pending. Inside a callback, `wakeup_later` resolves a
//! promise at once but runs its callbacks only when the outer callback returns; the library
//! modules hand things over that way ([`Pool`](crate::pool::Pool) an element,
//! [`Mvar`](crate::sync::Mvar) a value, [`Mutex`](crate::sync::Mutex) the lock,
//! [`Condition`](crate::sync::Condition) a signal). A cancel made between the two finds the
//! hand-over fulfilled and stops there, and the step waiting on it starts later as if nothing
//! happened. So a deadline that cancels two pool users from one callback leaves the second
//! running when the first one's cancel gave it the element, as in Lwt 5.6.1. Cancel from outside
//! any callback (once [`main::run`](crate::main::run) has returned), or let each step check a
//! flag such as [`Switch::is_on`](crate::switch::Switch::is_on) before it starts.
//!
//! ```
//! use lwt_core::{pool::Pool, wait, Promise};
//!
//! let pool = Pool::new(1, || Promise::ret(()));
//! let (work_a, _ra) = wait::<()>();
//! let (work_b, _rb) = wait::<()>();
//! let a = pool.use_(move |_| work_a.wrap_in_cancelable());
//! let b = pool.use_(move |_| work_b.wrap_in_cancelable()); // waits for the one element
//! let (deadline, fire) = wait::<()>();
//! let (a2, b2) = (a.clone(), b.clone());
//! let _ = deadline.map(move |()| {
//!     a2.cancel(); // gives the element to `b`, with `wakeup_later`
//!     b2.cancel(); // finds `b`'s acquire fulfilled: nothing to cancel
//! });
//! fire.wakeup(());
//! assert!(a.rejection().unwrap().is_canceled());
//! assert!(b.is_pending()); // `b`'s work has started, and nothing cancels it
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::callbacks::{Callback, Waiter};
use crate::node::{HowToCancel, Mode, Node};
use crate::promise::Promise;

impl<T: 'static> Promise<T> {
    /// Lwt's `cancel` (see the [module docs](mod@crate::cancel)). No effect on a resolved promise.
    ///
    /// ```
    /// let (p, _r) = lwt_core::wait::<()>();
    /// p.cancel(); // a wait() promise is not cancelable
    /// assert!(p.is_pending());
    /// ```
    pub fn cancel(&self) {
        if let Some(node) = self.node() {
            node.cancel();
        }
    }

    /// Lwt's `on_cancel`: calls `f` if the promise is canceled (rejected with `Canceled`, by any
    /// means), before the promise's other callbacks. On an already-canceled promise `f` runs at
    /// once, unless the promise's callbacks are still running (`on_cancel` called from one of
    /// them): then it runs after them, in registration order, as any callback registered there
    /// does, where Lwt runs it at once. A panic in `f` goes to the
    /// [async exception hook](crate::hook).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let (p, _r) = lwt_core::task::<()>();
    /// let l = log.clone();
    /// p.on_failure(move |_| l.borrow_mut().push("on_failure"));
    /// let l = log.clone();
    /// p.on_cancel(move || l.borrow_mut().push("on_cancel"));
    /// p.cancel();
    /// assert_eq!(*log.borrow(), ["on_cancel", "on_failure"]);
    /// ```
    pub fn on_cancel(&self, f: impl FnOnce() + 'static) {
        match self.node() {
            Some(node) => {
                // As every callback, it runs with the key storage of its registration (Lwt's
                // `on_cancel` saves and restores it too).
                let storage = crate::key::snapshot();
                node.add_callback(Callback::OnCancel(Box::new(move || {
                    crate::key::with_storage(storage, || crate::hook::guard(f))
                })))
            }
            None => {
                if self.rejection().is_some_and(|e| e.is_canceled()) {
                    crate::hook::guard(f)
                }
            }
        }
    }
}

/// Lwt's `cancel p`, as a free function.
///
/// ```
/// let (p, _r) = lwt_core::task::<()>();
/// lwt_core::cancel(&p);
/// assert!(p.is_rejected());
/// ```
pub fn cancel<T: 'static>(promise: &Promise<T>) {
    promise.cancel()
}

// ---- protected / no_cancel / wrap_in_cancelable ---------------------------------------------------

/// Forwards the outcome of `source` to `target`, unless `target` was resolved first.
struct Forward<T: 'static> {
    source: RefCell<Option<Promise<T>>>,
    target: Rc<Node<T>>,
    done: Cell<bool>,
}

impl<T: 'static> Waiter for Forward<T> {
    fn wake(self: Rc<Self>, _index: usize) {
        self.done.set(true);
        if let Some(mut source) = self.source.borrow_mut().take() {
            let _ = self.target.resolve(source.take_outcome(), Mode::Later);
        }
    }

    fn is_done(&self) -> bool {
        self.done.get()
    }
}

/// What canceling the wrapper does to the wrapped promise.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrap {
    /// `protected`: the wrapper is canceled, the source is not.
    Protect,
    /// `no_cancel`: nothing is canceled.
    Ignore,
    /// `wrap_in_cancelable`: the wrapper is canceled, and so is the source.
    Both,
}

fn wrap<T: 'static>(mut source: Promise<T>, how: Wrap) -> Promise<T> {
    let Some(source_node) = source.node() else {
        // Created resolved: nothing can be canceled any more.
        return Promise::from_outcome(source.take_outcome());
    };
    if source.is_settled() {
        return Promise::from_outcome(source.take_outcome());
    }
    // Resolved but its callbacks still queued (inside one of them, say): Lwt returns the promise
    // itself, so canceling the wrapper changes nothing. The wrapper waits for its turn to be
    // delivered the value, but nothing can cancel it any more.
    let how = if source.is_resolved() {
        Wrap::Ignore
    } else {
        how
    };
    let cancel = match how {
        Wrap::Ignore => HowToCancel::NotCancelable,
        Wrap::Protect | Wrap::Both => HowToCancel::CancelThis,
    };
    let target = Node::pending(cancel);
    let forward = Rc::new(Forward {
        source: RefCell::new(None),
        target: target.clone(),
        done: Cell::new(false),
    });
    // The source first: making room on the source's list may drop a dead waiter whose drop
    // resolves the source, and so wakes `forward`, which must find the source to forward.
    *forward.source.borrow_mut() = Some(source);
    source_node.add_callback(Callback::Waiter(forward.clone(), 0));
    if how != Wrap::Ignore {
        // When the wrapper is canceled, the forwarding callback on the source is dead: mark it,
        // so a long-lived source does not collect the callbacks of a million canceled wrappers.
        target.add_callback(Callback::OnCancel(Box::new(move || {
            forward.done.set(true);
            if let Some(source) = forward.source.borrow_mut().take() {
                if how == Wrap::Both {
                    source.cancel();
                }
                if let Some(node) = source.node() {
                    node.note_dead_waiter();
                }
            }
        })));
    }
    Promise::from_node(target)
}

impl<T: 'static> Promise<T> {
    /// Lwt's `protected`: a promise that resolves as this one does, but whose cancellation does
    /// not reach this one.
    ///
    /// ```
    /// use lwt_core::task;
    /// let (p, r) = task::<u8>();
    /// let p2 = p.clone();
    /// let guarded = p.protected();
    /// guarded.cancel();
    /// assert!(guarded.rejection().unwrap().is_canceled());
    /// assert!(p2.is_pending());
    /// r.wakeup(1);
    /// assert!(p2.is_fulfilled());
    /// ```
    pub fn protected(self) -> Promise<T> {
        wrap(self, Wrap::Protect)
    }

    /// Lwt's `no_cancel`: a promise that resolves as this one does and ignores `cancel`.
    ///
    /// ```
    /// use lwt_core::task;
    /// let (p, r) = task::<u8>();
    /// let q = p.no_cancel();
    /// q.cancel();
    /// assert!(q.is_pending());
    /// r.wakeup(1);
    /// assert!(q.is_fulfilled());
    /// ```
    pub fn no_cancel(self) -> Promise<T> {
        wrap(self, Wrap::Ignore)
    }

    /// Lwt's `wrap_in_cancelable`: a cancelable promise that resolves as this one does;
    /// canceling it also cancels this one (if it is cancelable).
    ///
    /// ```
    /// use lwt_core::wait;
    /// let (p, _r) = wait::<u8>(); // not cancelable itself
    /// let p2 = p.clone();
    /// let q = p.wrap_in_cancelable();
    /// q.cancel();
    /// assert!(q.rejection().unwrap().is_canceled());
    /// assert!(p2.is_pending());
    /// ```
    pub fn wrap_in_cancelable(self) -> Promise<T> {
        wrap(self, Wrap::Both)
    }
}

/// Lwt's `protected p`, as a free function.
///
/// ```
/// let (p, _r) = lwt_core::task::<()>();
/// let q = lwt_core::protected(p);
/// q.cancel();
/// assert!(q.is_rejected());
/// ```
pub fn protected<T: 'static>(promise: Promise<T>) -> Promise<T> {
    promise.protected()
}

/// Lwt's `no_cancel p`, as a free function.
///
/// ```
/// let (p, _r) = lwt_core::task::<()>();
/// let q = lwt_core::no_cancel(p);
/// q.cancel();
/// assert!(q.is_pending());
/// ```
pub fn no_cancel<T: 'static>(promise: Promise<T>) -> Promise<T> {
    promise.no_cancel()
}

/// Lwt's `wrap_in_cancelable p`, as a free function.
///
/// ```
/// let (p, _r) = lwt_core::task::<()>();
/// let p2 = p.clone();
/// let q = lwt_core::wrap_in_cancelable(p);
/// q.cancel();
/// assert!(p2.rejection().unwrap().is_canceled());
/// ```
pub fn wrap_in_cancelable<T: 'static>(promise: Promise<T>) -> Promise<T> {
    promise.wrap_in_cancelable()
}
