//! [`SharedResolver`]: a resolver several owners hold, the first to use it resolving the promise.
//!
//! A [`Resolver`] is consumed when it resolves its promise, which is what makes a second
//! `wakeup` a compile error. But Lwt programs often give one resolver to several parties, any
//! of which may end the wait: a stop signal, a timeout, a `/quit` command, the end of a
//! session; each writes `if Lwt.is_sleeping p then Lwt.wakeup r ()`. In Rust each of them needs
//! the resolver, and only one can have it: without this type, every such program writes its own
//! `Rc<RefCell<Option<Resolver<T>>>>` and its own `take()`.
//!
//! A `SharedResolver` is that cell, cheap to clone: each `wakeup` says whether it was the one
//! that resolved the promise (`true`) or came too late (`false`: already resolved through
//! another clone, or the promise was canceled). The resolver is taken out of the cell before the
//! promise's callbacks run, so a callback may use another clone (it gets `false`). When the
//! last clone is dropped unused, the resolver is dropped with it and the promise is rejected
//! with [`Abandoned`](crate::Abandoned), as a plain resolver's is.

use std::cell::RefCell;
use std::rc::Rc;

use crate::exn::Exn;

use super::Resolver;

/// A clonable handle on a [`Resolver`]: the first [`wakeup`](Self::wakeup) through any clone
/// resolves the promise, later ones do nothing and return `false`. Made by
/// [`Resolver::share`].
///
/// ```
/// use lwt_core::{wait, State};
///
/// let (stopped, r) = wait::<&str>();
/// let r = r.share();
/// let (on_signal, on_quit) = (r.clone(), r);
/// assert!(on_quit.wakeup("quit")); // this one resolved the promise
/// assert!(!on_signal.wakeup("signal")); // too late: nothing happens
/// assert_eq!(stopped.state(), State::Fulfilled("quit"));
/// ```
pub struct SharedResolver<T: 'static>(Rc<RefCell<Option<Resolver<T>>>>);

impl<T: 'static> Resolver<T> {
    /// This resolver as a [`SharedResolver`], for several owners that may each resolve the
    /// promise, the first one winning.
    #[must_use = "`share` consumes the resolver: dropping the `SharedResolver` it returns rejects the promise with `Abandoned`"]
    pub fn share(self) -> SharedResolver<T> {
        SharedResolver(Rc::new(RefCell::new(Some(self))))
    }
}

impl<T: 'static> SharedResolver<T> {
    /// The resolver, if no clone used it yet and its promise is still pending: taken out of the
    /// cell, so that the callbacks its use runs find the cell empty.
    fn take(&self) -> Option<Resolver<T>> {
        let resolver = self.0.borrow_mut().take()?;
        if resolver.is_pending() {
            Some(resolver)
        } else {
            // Canceled: the resolver can no longer do anything, and dropping it does nothing.
            None
        }
    }

    /// [`Resolver::wakeup`], if no clone resolved the promise yet and it was not canceled: then
    /// `true`. Otherwise `false`, and `value` is dropped.
    ///
    /// ```
    /// use lwt_core::task;
    ///
    /// let (p, r) = task::<u8>();
    /// let r = r.share();
    /// p.cancel();
    /// assert!(!r.wakeup(1), "the promise was canceled");
    /// ```
    pub fn wakeup(&self, value: T) -> bool {
        self.take().map(|r| r.wakeup(value)).is_some()
    }

    /// [`Resolver::wakeup_exn`], under the same rule as [`wakeup`](Self::wakeup).
    pub fn wakeup_exn(&self, error: impl Into<Exn>) -> bool {
        self.take().map(|r| r.wakeup_exn(error)).is_some()
    }

    /// [`Resolver::wakeup_result`], under the same rule as [`wakeup`](Self::wakeup).
    pub fn wakeup_result(&self, result: Result<T, Exn>) -> bool {
        self.take().map(|r| r.wakeup_result(result)).is_some()
    }

    /// [`Resolver::wakeup_later`], under the same rule as [`wakeup`](Self::wakeup).
    pub fn wakeup_later(&self, value: T) -> bool {
        self.take().map(|r| r.wakeup_later(value)).is_some()
    }

    /// [`Resolver::wakeup_later_exn`], under the same rule as [`wakeup`](Self::wakeup).
    pub fn wakeup_later_exn(&self, error: impl Into<Exn>) -> bool {
        self.take().map(|r| r.wakeup_later_exn(error)).is_some()
    }

    /// [`Resolver::wakeup_later_result`], under the same rule as [`wakeup`](Self::wakeup).
    pub fn wakeup_later_result(&self, result: Result<T, Exn>) -> bool {
        self.take().map(|r| r.wakeup_later_result(result)).is_some()
    }

    /// Would a [`wakeup`](Self::wakeup) resolve the promise now? (Lwt's `is_sleeping` of the
    /// promise, seen from the resolver.)
    pub fn is_pending(&self) -> bool {
        self.0.borrow().as_ref().is_some_and(Resolver::is_pending)
    }

    /// [`Resolver::forget`] for every clone: the promise stays pending when the last clone is
    /// dropped, instead of being rejected with [`Abandoned`](crate::Abandoned). Later wakeups
    /// through any clone do nothing and return `false`.
    pub fn forget(&self) {
        let resolver = self.0.borrow_mut().take();
        if let Some(r) = resolver {
            r.forget();
        }
    }
}

impl<T: 'static> Clone for SharedResolver<T> {
    fn clone(&self) -> Self {
        SharedResolver(self.0.clone())
    }
}

impl<T: 'static> std::fmt::Debug for SharedResolver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedResolver")
            .field("pending", &self.is_pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use crate::exn::Abandoned;
    use crate::resolver::wait;

    #[test]
    fn a_callback_of_the_resolution_may_use_another_clone() {
        let (p, r) = wait::<u8>();
        let r = r.share();
        let inner = r.clone();
        let seen = std::rc::Rc::new(Cell::new(None));
        let s = seen.clone();
        p.on_success(move |v| s.set(Some((*v, inner.wakeup(9)))));
        assert!(r.wakeup(1));
        assert_eq!(seen.get(), Some((1, false)));
        assert!(!r.is_pending());
    }

    #[test]
    fn dropping_the_last_clone_unused_abandons_the_promise() {
        let (p, r) = wait::<u8>();
        let r = r.share();
        let r2 = r.clone();
        drop(r);
        assert!(p.is_pending(), "a clone is left");
        assert!(r2.is_pending());
        drop(r2);
        assert!(p.rejection().unwrap().is::<Abandoned>());
    }

    #[test]
    fn forget_keeps_the_promise_pending_for_every_clone() {
        let (p, r) = wait::<u8>();
        let r = r.share();
        let r2 = r.clone();
        r.forget();
        assert!(!r2.wakeup(1));
        drop((r, r2));
        assert!(p.is_pending());
    }

    #[test]
    fn the_exn_and_later_forms_follow_the_same_rule() {
        let (p, r) = wait::<u8>();
        let r = r.share();
        assert!(r.wakeup_later_exn(crate::Exn::failure("first")));
        assert!(!r.wakeup_exn(crate::Exn::failure("second")));
        assert!(!r.wakeup_result(Ok(1)));
        assert!(!r.wakeup_later(1));
        assert!(!r.wakeup_later_result(Ok(1)));
        assert_eq!(p.rejection().unwrap().to_string(), "first");
    }
}
