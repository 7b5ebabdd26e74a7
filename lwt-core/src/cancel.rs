//! Cancellation: `cancel` and `on_cancel`.
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
//! The walk is a loop with an explicit work list, so canceling the end of a chain of ten million
//! binds is fine; all the states change before any callback runs, so a promise reached twice is
//! canceled once.

use crate::callbacks::Callback;
use crate::promise::Promise;

impl<T: 'static> Promise<T> {
    /// Lwt's `cancel` (see the [module docs](crate::cancel)). No effect on a resolved promise.
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
    /// once. A panic in `f` goes to the [async exception hook](crate::hook).
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
                node.add_callback(Callback::OnCancel(Box::new(move || crate::hook::guard(f))))
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
