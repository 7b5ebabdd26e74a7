//! The bind family: `bind`, `map`, `catch`, `try_bind`, `finalize`, and the `on_*` observers.
//!
//! Every member is built on one primitive, `then`: wait for the outcome, give it (by value) to a
//! continuation that returns a promise, and make the result *the same promise* as the one the
//! continuation returned (a proxy, in Lwt's words).
//!
//! # One behaviour, whatever the timing
//!
//! Lwt's `bind` on an already-fulfilled promise lets an exception from the callback escape
//! `bind` itself, while on a pending promise the same exception rejects the result (Lwt issue
//! #329). Here every member of the family always returns a promise, and a panic in the callback
//! always rejects it with a [`Panicked`](crate::Panicked) carrying the panic message:
//!
//! ```
//! use lwt_core::{wait, Panicked, Promise};
//!
//! let now = Promise::ret(1).bind(|_| -> Promise<i32> { panic!("boom") });
//! let (p, r) = wait::<i32>();
//! let later = p.bind(|_| -> Promise<i32> { panic!("boom") });
//! r.wakeup(1);
//! for result in [now, later] {
//!     assert_eq!(result.rejection().unwrap().downcast_ref::<Panicked>().unwrap().message(), "boom");
//! }
//! ```
//!
//! Observers (`on_success`, `on_failure`, `on_termination`, `on_any`) have no result promise, so a
//! panic in one goes to the [async exception hook](crate::hook).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::callbacks::{Callback, Outcome};
use crate::exn::Exn;
use crate::hook;
use crate::key;
use crate::node::{Cancelable, HowToCancel, Node, Phase, Visited};
use crate::once_fn::OnceFn;
use crate::promise::{Promise, Repr};

/// Calls a continuation, turning a panic into a rejected promise.
pub(crate) fn guarded<A, U: 'static>(k: impl FnOnce(A) -> Promise<U>, arg: A) -> Promise<U> {
    match catch_unwind(AssertUnwindSafe(move || k(arg))) {
        Ok(promise) => promise,
        Err(payload) => Promise::fail(Exn::from_panic(payload)),
    }
}

/// The cancel link of a result whose continuation has not run yet though its source is resolved
/// (see [`Promise::then_busy`]): a cancel only sets the flag, for the continuation to act on.
#[derive(Default)]
pub(crate) struct CancelRequest(Cell<bool>);

impl CancelRequest {
    /// Did a cancel come?
    pub(crate) fn requested(&self) -> bool {
        self.0.get()
    }
}

impl Cancelable for CancelRequest {
    fn cancel_step(self: Rc<Self>, _: &mut Vec<Rc<dyn Cancelable>>, _: &mut Visited) {
        self.0.set(true);
    }
}

impl<T: 'static> Promise<T> {
    /// The primitive under the whole family.
    ///
    /// Inlined, so that a chain of binds on already-resolved promises keeps each promise in
    /// registers; the pending path is out of line in `then_node`.
    #[inline]
    pub(crate) fn then<U: 'static>(
        self,
        k: impl FnOnce(Outcome<T>) -> Promise<U> + 'static,
    ) -> Promise<U> {
        match self.0 {
            Repr::Ready(outcome) => guarded(k, outcome),
            Repr::Node(node) => Self::then_node(node, k),
        }
    }

    /// `then` on a promise that has a node (pending, or resolved through a node).
    #[inline(never)]
    fn then_node<U: 'static>(
        node: Rc<Node<T>>,
        k: impl FnOnce(Outcome<T>) -> Promise<U> + 'static,
    ) -> Promise<U> {
        // The handle is consumed: reuse it when it is the root already (the usual case).
        let source = if node.is_root() { node } else { node.root() };
        match source.phase() {
            // Resolved and quiet: nothing to wait for, and no earlier callback to run first.
            Phase::Idle => return guarded(k, source.take_or_clone()),
            Phase::Busy => return Self::then_busy(source, k),
            Phase::Pending => {}
        }
        let target = Node::<U>::pending_in_place(|| HowToCancel::Propagate(source.clone()));
        let result = target.clone();
        // Without key storage to restore (the usual case) the continuation is a word smaller,
        // which lets more of them be stored inline (see `once_fn`).
        // The key storage is looked at before the callback is made under the source's borrow.
        let storage = key::snapshot();
        // Inlined, so that the callback is built where it is stored, not returned through the
        // stack.
        source.add_callback_made(
            #[inline(always)]
            move || {
                Callback::Consume(match storage {
                    // The guard is entered in place, not through `with_storage`'s closure: moving
                    // `k` and the outcome into that closure spilled the outcome's two registers as
                    // two 8-byte stores that the closure's call read back as one 16-byte load, a
                    // failed store-to-load forward (a third of this continuation's samples in a
                    // recursive-loop profile).
                    None => OnceFn::new(move |outcome| {
                        let next = {
                            let _restore = key::enter(None);
                            guarded(k, outcome)
                        };
                        target.resolve_with(next);
                    }),
                    storage => OnceFn::new(move |outcome| {
                        let next = key::with_storage(storage, || guarded(k, outcome));
                        target.resolve_with(next);
                    }),
                })
            },
        );
        Promise::from_node(result)
    }

    /// [`then_node`](Self::then_node) on a source that is resolved but has callbacks still
    /// queued (a bind made inside one of its callbacks, or after a `wakeup_later`). Lwt would
    /// call `k` at once, so a cancel of the result reaches the promise `k` returns; here `k` waits
    /// for its turn, and the source can no longer be canceled, so the result remembers a cancel
    /// that comes meanwhile and passes it on once it has become `k`'s promise.
    #[cold]
    fn then_busy<U: 'static>(
        source: Rc<Node<T>>,
        k: impl FnOnce(Outcome<T>) -> Promise<U> + 'static,
    ) -> Promise<U> {
        let request = Rc::new(CancelRequest::default());
        let target = Node::<U>::pending(HowToCancel::Propagate(request.clone()));
        let result = target.clone();
        let storage = key::snapshot();
        source.add_callback(Callback::Consume(OnceFn::new(move |outcome| {
            let next = key::with_storage(storage, || guarded(k, outcome));
            target.resolve_with(next);
            if request.0.get() {
                crate::node::cancel_from(target);
            }
        })));
        Promise::from_node(result)
    }

    /// Gives the outcome, by value, to `k` once there is one: `then` without a result promise,
    /// for the runtime's own continuations that nobody waits on or cancels (one allocation fewer
    /// than `then` on a pending promise). A panic in `k` goes to the async exception hook.
    pub(crate) fn upon(self, k: impl FnOnce(Outcome<T>) + 'static) {
        match self.0 {
            Repr::Ready(outcome) => hook::guard(move || k(outcome)),
            Repr::Node(node) => {
                let source = if node.is_root() { node } else { node.root() };
                if source.phase() == Phase::Idle {
                    let outcome = source.take_or_clone();
                    return hook::guard(move || k(outcome));
                }
                let continuation = match key::snapshot() {
                    None => OnceFn::new(move |outcome| {
                        key::with_storage(None, || hook::guard(move || k(outcome)))
                    }),
                    storage => OnceFn::new(move |outcome| {
                        key::with_storage(storage, || hook::guard(move || k(outcome)))
                    }),
                };
                source.add_callback(Callback::Consume(continuation));
            }
        }
    }

    /// Lwt's `bind` (`>>=`): when this promise is fulfilled, call `f` with its value; the result
    /// becomes the promise `f` returns. A rejection skips `f` and is passed on.
    ///
    /// ```
    /// use lwt_core::{wait, Promise, State};
    ///
    /// let (p, r) = wait::<u32>();
    /// let q = p.bind(|x| Promise::ret(x + 1));
    /// r.wakeup(41);
    /// assert_eq!(q.state(), State::Fulfilled(42));
    /// ```
    pub fn bind<U: 'static>(self, f: impl FnOnce(T) -> Promise<U> + 'static) -> Promise<U> {
        match self.0 {
            Repr::Ready(Ok(value)) => guarded(f, value),
            repr => Promise(repr).then(move |outcome| match outcome {
                Ok(value) => f(value),
                Err(e) => Promise::fail(e),
            }),
        }
    }

    /// Lwt's `map` (`>|=`): when this promise is fulfilled, its value through `f`.
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    /// assert_eq!(Promise::ret("12").map(|s| s.len()).state(), State::Fulfilled(2));
    /// ```
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Promise<U> {
        match self.0 {
            // The common case of a chain over resolved values, without the outcome's round trip.
            Repr::Ready(Ok(value)) => match catch_unwind(AssertUnwindSafe(move || f(value))) {
                Ok(mapped) => Promise::ret(mapped),
                Err(payload) => Promise::fail(Exn::from_panic(payload)),
            },
            repr => Promise(repr).then(move |outcome| Promise::from_outcome(outcome.map(f))),
        }
    }

    /// Lwt's `catch`, as a method: when this promise is rejected, the result becomes the promise
    /// `handler` returns. A fulfilment is passed on. (The free function [`catch`] takes a closure
    /// instead of a promise, so that a panic while *creating* the promise is caught too.)
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    /// let p: Promise<i32> = Promise::fail_with("no");
    /// assert_eq!(p.catch(|_| Promise::ret(0)).state(), State::Fulfilled(0));
    /// ```
    pub fn catch(self, handler: impl FnOnce(Exn) -> Promise<T> + 'static) -> Promise<T> {
        self.then(move |outcome| match outcome {
            Ok(value) => Promise::ret(value),
            Err(e) => handler(e),
        })
    }

    /// Lwt's `try_bind`, as a method: `on_ok` on fulfilment, `on_err` on rejection.
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    /// let p: Promise<i32> = Promise::fail_with("no");
    /// let q = p.try_bind(|v| Promise::ret(v.to_string()), |e| Promise::ret(e.to_string()));
    /// assert_eq!(q.state(), State::Fulfilled("no".to_string()));
    /// ```
    pub fn try_bind<U: 'static>(
        self,
        on_ok: impl FnOnce(T) -> Promise<U> + 'static,
        on_err: impl FnOnce(Exn) -> Promise<U> + 'static,
    ) -> Promise<U> {
        self.then(move |outcome| match outcome {
            Ok(value) => on_ok(value),
            Err(e) => on_err(e),
        })
    }

    /// Lwt's `finalize`, as a method: when this promise resolves either way, run `cleanup`, wait
    /// for the promise it returns, then pass the original outcome on (or the cleanup's rejection,
    /// if it fails).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use lwt_core::{Promise, return_unit};
    ///
    /// let cleaned = Rc::new(Cell::new(false));
    /// let c = cleaned.clone();
    /// let p: Promise<i32> = Promise::fail_with("no");
    /// let q = p.finalize(move || { c.set(true); return_unit() });
    /// assert!(cleaned.get() && q.is_rejected());
    /// ```
    pub fn finalize(self, cleanup: impl FnOnce() -> Promise<()> + 'static) -> Promise<T> {
        self.then(move |outcome| {
            cleanup().then(move |done| match done {
                Ok(()) => Promise::from_outcome(outcome),
                Err(e) => Promise::fail(e),
            })
        })
    }

    /// Registers an observer, guarded so a panic goes to the hook, with the current key storage.
    /// `f` gets `None` for a value moved out already (see `ObserveFn`).
    pub(crate) fn observe(&self, f: impl FnOnce(Option<&Outcome<T>>) + 'static) {
        match &self.0 {
            Repr::Ready(outcome) => hook::guard(|| f(Some(outcome))),
            Repr::Node(node) => {
                let storage = key::snapshot();
                node.add_callback(Callback::Observe(Box::new(move |outcome| {
                    key::with_storage(storage, || hook::guard(|| f(outcome)))
                })));
            }
        }
    }

    /// Sends a rejection of this promise to the async exception hook ([`async_`] and
    /// [`ignore_result`]). Not under [`hook::guard`], as Lwt's `async` calls the hook straight
    /// from its callback: a panic of the hook goes on to whoever resolved the promise, once.
    /// Under the guard, the hook's own panic was reported to the hook a second time. The hook
    /// sees the key storage of the call, as [`dont_wait`]'s handler does (an observer's rule).
    ///
    /// [`async_`]: crate::async_
    /// [`ignore_result`]: crate::ignore_result
    /// [`dont_wait`]: crate::dont_wait
    pub(crate) fn on_failure_report(&self) {
        match &self.0 {
            Repr::Ready(Ok(_)) => {}
            Repr::Ready(Err(e)) => hook::report(e),
            Repr::Node(node) => {
                let storage = key::snapshot();
                node.add_callback(Callback::Observe(Box::new(move |outcome| {
                    if let Some(Err(e)) = outcome {
                        key::with_storage(storage, || hook::report(e))
                    }
                })))
            }
        }
    }

    /// Lwt's `on_success`: calls `f` with a reference to the value if the promise is fulfilled.
    /// A panic in `f` goes to the [async exception hook](crate::hook).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// lwt_core::Promise::ret(3).on_success(move |v| s.set(*v));
    /// assert_eq!(seen.get(), 3);
    /// ```
    pub fn on_success(&self, f: impl FnOnce(&T) + 'static) {
        self.observe(move |outcome| {
            if let Some(Ok(value)) = outcome {
                f(value)
            }
        })
    }

    /// Lwt's `on_failure`: calls `f` with the rejection if the promise is rejected.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(String::new()));
    /// let s = seen.clone();
    /// lwt_core::Promise::<()>::fail_with("bad").on_failure(move |e| *s.borrow_mut() = e.to_string());
    /// assert_eq!(*seen.borrow(), "bad");
    /// ```
    pub fn on_failure(&self, f: impl FnOnce(&Exn) + 'static) {
        self.observe(move |outcome| {
            if let Some(Err(e)) = outcome {
                f(e)
            }
        })
    }

    /// Lwt's `on_termination`: calls `f` when the promise resolves, either way.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// let (p, r) = lwt_core::wait::<()>();
    /// p.on_termination(move || d.set(true));
    /// r.wakeup_exn(lwt_core::Exn::failure("x"));
    /// assert!(done.get());
    /// ```
    pub fn on_termination(&self, f: impl FnOnce() + 'static) {
        self.observe(move |_| f())
    }

    /// Lwt's `on_any`: `on_ok` with the value, or `on_err` with the rejection.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let which = Rc::new(Cell::new(""));
    /// let (a, b) = (which.clone(), which.clone());
    /// lwt_core::Promise::ret(1).on_any(move |_| a.set("ok"), move |_| b.set("err"));
    /// assert_eq!(which.get(), "ok");
    /// ```
    pub fn on_any(&self, on_ok: impl FnOnce(&T) + 'static, on_err: impl FnOnce(&Exn) + 'static) {
        self.observe(move |outcome| match outcome {
            Some(Ok(value)) => on_ok(value),
            Some(Err(e)) => on_err(e),
            None => {}
        })
    }
}

/// Lwt's `bind p f`, as a free function.
///
/// ```
/// let q = lwt_core::bind(lwt_core::ret(1), |x| lwt_core::ret(x + 1));
/// assert_eq!(q.state(), lwt_core::State::Fulfilled(2));
/// ```
pub fn bind<T: 'static, U: 'static>(
    promise: Promise<T>,
    f: impl FnOnce(T) -> Promise<U> + 'static,
) -> Promise<U> {
    promise.bind(f)
}

/// Lwt's `map f p`, as a free function (note Lwt's argument order).
///
/// ```
/// let q = lwt_core::map(|x: i32| x * 2, lwt_core::ret(4));
/// assert_eq!(q.state(), lwt_core::State::Fulfilled(8));
/// ```
pub fn map<T: 'static, U: 'static>(
    f: impl FnOnce(T) -> U + 'static,
    promise: Promise<T>,
) -> Promise<U> {
    promise.map(f)
}

/// Lwt's `catch f handler`: runs `f`, and if it panics or its promise is rejected, the result
/// becomes `handler`'s promise.
///
/// ```
/// use lwt_core::{catch, Promise, State};
/// let p = catch(|| -> Promise<i32> { panic!("early") }, |e| Promise::ret(e.to_string().len() as i32));
/// assert_eq!(p.state(), State::Fulfilled("panicked: early".len() as i32));
/// ```
pub fn catch<T: 'static>(
    f: impl FnOnce() -> Promise<T>,
    handler: impl FnOnce(Exn) -> Promise<T> + 'static,
) -> Promise<T> {
    guarded(|()| f(), ()).catch(handler)
}

/// Lwt's `try_bind f on_ok on_err`.
///
/// ```
/// use lwt_core::{try_bind, Promise, State};
/// let p = try_bind(|| Promise::ret(2), |v| Promise::ret(v * 10), |_| Promise::ret(0));
/// assert_eq!(p.state(), State::Fulfilled(20));
/// ```
pub fn try_bind<T: 'static, U: 'static>(
    f: impl FnOnce() -> Promise<T>,
    on_ok: impl FnOnce(T) -> Promise<U> + 'static,
    on_err: impl FnOnce(Exn) -> Promise<U> + 'static,
) -> Promise<U> {
    guarded(|()| f(), ()).try_bind(on_ok, on_err)
}

/// Lwt's `finalize f cleanup`.
///
/// ```
/// use lwt_core::{finalize, return_unit, Promise, State};
/// let p = finalize(|| Promise::ret(1), return_unit);
/// assert_eq!(p.state(), State::Fulfilled(1));
/// ```
pub fn finalize<T: 'static>(
    f: impl FnOnce() -> Promise<T>,
    cleanup: impl FnOnce() -> Promise<()> + 'static,
) -> Promise<T> {
    guarded(|()| f(), ()).finalize(cleanup)
}

/// Lwt's `wrap f`: calls `f`, fulfilled with its result, or rejected if it panics. Lwt's
/// `wrap1` ... `wrap7` (`wrap2 f a b`) are this with a closure: `wrap(|| f(a, b))`. Lwt's
/// `apply f x`, for an `f` that returns a promise, is [`catch`]`(|| f(x), Promise::fail)`.
///
/// ```
/// let p = lwt_core::wrap(|| "42".parse::<i32>().unwrap());
/// assert_eq!(p.state(), lwt_core::State::Fulfilled(42));
/// let q = lwt_core::wrap(|| "x".parse::<i32>().unwrap());
/// assert!(q.is_rejected());
/// ```
pub fn wrap<T: 'static>(f: impl FnOnce() -> T) -> Promise<T> {
    guarded(|()| Promise::ret(f()), ())
}
