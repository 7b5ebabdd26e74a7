//! Promises nobody waits on: `dont_wait`, `async_` and `ignore_result` (Lwt's `dont_wait`,
//! `async`, `ignore_result`).
//!
//! A detached promise has no consumer to pass its rejection to. `dont_wait` takes a handler for
//! it, so that a library can start background work whose failure it handles locally (one failed
//! connection must not take a server down: Lwt issue #13). `async_` and `ignore_result` send it to
//! the [async exception hook](crate::hook), whose default reports it and exits; as in Lwt,
//! `ignore_result` of a promise that is already rejected raises (panics) at once instead.
//!
//! The handler, or the hook, runs with the [keys](crate::key) current at the call, as an
//! observer registered there would. Lwt's runs with whatever storage the callback before it
//! left behind, usually that of the bind whose continuation failed.

use crate::bind::catch as catch_thunk;
use crate::exn::Exn;
use crate::promise::Promise;

/// Lwt's `dont_wait f handler`: runs `f`, and if it panics or its promise is rejected, calls
/// `handler` with the rejection. A panic in `handler` goes to the [hook](crate::hook), wherever
/// the rejection came from; in Lwt 5.6.1 an exception the handler raises escapes to whoever
/// resolved the promise (or from `dont_wait` itself, if `f` failed at once).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{dont_wait, wait};
///
/// let errors = Rc::new(RefCell::new(Vec::new()));
/// let e = errors.clone();
/// let (p, r) = wait::<()>();
/// dont_wait(move || p, move |exn| e.borrow_mut().push(exn.to_string()));
/// r.wakeup_exn(lwt_core::Exn::failure("connection reset"));
/// assert_eq!(*errors.borrow(), ["connection reset"]);
/// ```
pub fn dont_wait(f: impl FnOnce() -> Promise<()>, handler: impl FnOnce(Exn) + 'static) {
    let detached = catch_thunk(f, Promise::fail);
    detached.on_failure(move |e| handler(e.clone()));
}

/// Lwt's `async`: runs `f` and forgets its promise; a rejection goes to the
/// [async exception hook](crate::hook). (`async` is a Rust keyword, hence the underscore.)
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// lwt_core::async_(move || { r.set(true); lwt_core::return_unit() });
/// assert!(ran.get());
/// ```
pub fn async_(f: impl FnOnce() -> Promise<()>) {
    catch_thunk(f, Promise::fail).on_failure_report();
}

/// Lwt's `ignore_result`: forgets `promise`; if it becomes rejected later, the rejection goes to
/// the [async exception hook](crate::hook).
///
/// # Panics
///
/// If `promise` is already rejected, as Lwt's raises the exception at once (`Rejected exn ->
/// reraise exn`): the panic carries the rejection's message, and inside a callback it rejects
/// that callback's promise (with [`Panicked`](crate::Panicked)). [`async_`] and [`dont_wait`]
/// never raise.
///
/// ```
/// let (p, r) = lwt_core::wait::<u8>();
/// lwt_core::ignore_result(p);
/// r.wakeup(1); // fulfilled: nothing to report
///
/// let raised = std::panic::catch_unwind(|| {
///     lwt_core::ignore_result(lwt_core::Promise::<u8>::fail_with("already"))
/// });
/// assert!(raised.is_err());
/// ```
#[track_caller]
pub fn ignore_result<T: 'static>(promise: Promise<T>) {
    if let Some(e) = promise.rejection() {
        panic!("ignore_result of a rejected promise: {e}");
    }
    promise.on_failure_report();
}
