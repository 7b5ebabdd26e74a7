//! [`Promise<T>`]: the handle, its already-resolved constructors, and its state.
//!
//! A promise is either *ready* (created resolved, by [`Promise::ret`] or [`Promise::fail`]) or a
//! handle on a shared node. Ready promises cost no allocation: `Promise::ret(1).bind(f)` calls `f`
//! at once, and a loop of such binds allocates nothing of its own.
//!
//! # Who gets the value
//!
//! The bind family (`bind`, `map`, `catch`, `try_bind`, `finalize`) takes the promise by value.
//! `Promise<T>` is `Clone` only when `T: Clone`, so:
//!
//! * a promise of a non-`Clone` value has one handle, hence one consumer, which receives the value
//!   itself (moved, never copied);
//! * a promise of a `Clone` value can be cloned, and every consumer receives its own clone.
//!
//! Giving a non-`Clone` value to two consumers is therefore a compile error:
//!
//! ```compile_fail
//! use lwt_core::{wait, Promise};
//!
//! struct Token; // not Clone
//! let (p, _r) = wait::<Token>();
//! let q = p.clone(); // error: Promise<Token> is not Clone
//! ```
//!
//! Observers (`on_success`, `on_any`...) and [`Promise::state`] borrow the promise instead.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::node::{Node, Phase};

/// A promise of a `T`: a value that is fulfilled, rejected with an [`Exn`], or still pending.
///
/// Create pending ones with [`wait`](crate::wait) or [`task`](crate::task); resolved ones with
/// [`Promise::ret`] and [`Promise::fail`]; chain them with [`bind`](Promise::bind) and friends.
///
/// ```
/// use lwt_core::{wait, State};
///
/// let (p, r) = wait::<i32>();
/// let q = p.map(|x| x * 2);
/// assert_eq!(q.state(), State::Pending);
/// r.wakeup(21);
/// assert_eq!(q.state(), State::Fulfilled(42));
/// ```
#[must_use = "a dropped promise still runs, but its value and any rejection are lost: bind it (in `lwt!`, `p;` and `let v = p;` wait for it, `do p;` does not), or hand it to dont_wait or async_"]
pub struct Promise<T>(pub(crate) Repr<T>);

pub(crate) enum Repr<T> {
    Ready(Outcome<T>),
    Node(Rc<Node<T>>),
}

// A promise is a handle; it never pins its value in place, so moving it while polled is fine.
impl<T> Unpin for Promise<T> {}

/// The state of a promise, as Lwt's `Lwt.state`: `Return`, `Fail` and `Sleep` there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State<T> {
    /// Fulfilled with a value (`Return v`).
    Fulfilled(T),
    /// Rejected with an exception (`Fail exn`).
    Rejected(Exn),
    /// Not resolved yet (`Sleep`).
    Pending,
}

impl<T> State<T> {
    /// Is it [`Fulfilled`](State::Fulfilled)?
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    ///
    /// let s = Promise::ret(1).state();
    /// assert!(s.is_fulfilled() && !s.is_rejected() && !s.is_pending());
    /// assert!(Promise::<u8>::fail_with("no").state().is_rejected());
    /// assert!(lwt_core::wait::<u8>().0.state().is_pending());
    /// ```
    pub fn is_fulfilled(&self) -> bool {
        matches!(self, State::Fulfilled(_))
    }

    /// Is it [`Rejected`](State::Rejected)?
    pub fn is_rejected(&self) -> bool {
        matches!(self, State::Rejected(_))
    }

    /// Is it [`Pending`](State::Pending)?
    pub fn is_pending(&self) -> bool {
        matches!(self, State::Pending)
    }
}

impl<T: 'static> Promise<T> {
    pub(crate) fn from_node(node: Rc<Node<T>>) -> Promise<T> {
        Promise(Repr::Node(node))
    }

    /// A promise already resolved with `outcome` (no allocation).
    ///
    /// ```
    /// use lwt_core::{Exn, Promise, State};
    /// assert_eq!(Promise::from_outcome(Ok(1)).state(), State::Fulfilled(1));
    /// let failed = Promise::<u8>::from_outcome(Err(Exn::failure("no")));
    /// assert_eq!(failed.rejection().unwrap().to_string(), "no");
    /// ```
    pub fn from_outcome(outcome: Result<T, Exn>) -> Promise<T> {
        Promise(Repr::Ready(outcome))
    }

    /// Lwt's `return`: a promise already fulfilled with `value` (no allocation).
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    /// assert_eq!(Promise::ret(3).state(), State::Fulfilled(3));
    /// ```
    pub fn ret(value: T) -> Promise<T> {
        Promise(Repr::Ready(Ok(value)))
    }

    /// Lwt's `fail`: a promise already rejected with `error`.
    ///
    /// ```
    /// use lwt_core::Promise;
    /// let p: Promise<()> = Promise::fail(std::fmt::Error);
    /// assert!(p.is_rejected());
    /// ```
    pub fn fail(error: impl Into<Exn>) -> Promise<T> {
        Promise(Repr::Ready(Err(error.into())))
    }

    /// Lwt's `fail_with`: rejected with a [`Failure`](crate::Failure) carrying `message`.
    ///
    /// ```
    /// use lwt_core::{Failure, Promise};
    /// let p: Promise<u8> = Promise::fail_with("no such user");
    /// assert_eq!(p.rejection().unwrap().downcast_ref::<Failure>().unwrap().0, "no such user");
    /// ```
    pub fn fail_with(message: impl Into<String>) -> Promise<T> {
        Promise::fail(Exn::failure(message))
    }

    /// Lwt's `fail_invalid_arg`: rejected with an [`InvalidArgument`](crate::InvalidArgument).
    ///
    /// ```
    /// use lwt_core::{InvalidArgument, Promise};
    /// let p: Promise<u8> = Promise::fail_invalid_arg("negative size");
    /// assert!(p.rejection().unwrap().is::<InvalidArgument>());
    /// ```
    pub fn fail_invalid_arg(message: impl Into<String>) -> Promise<T> {
        Promise::fail(Exn::invalid_argument(message))
    }

    /// Lwt's `of_result`: fulfilled with `Ok`, rejected with `Err` (converted to [`Exn`]).
    ///
    /// ```
    /// use lwt_core::{Promise, State};
    /// let ok: Promise<u8> = Promise::of_result("7".parse::<u8>());
    /// assert_eq!(ok.state(), State::Fulfilled(7));
    /// let bad: Promise<u8> = Promise::of_result("x".parse::<u8>());
    /// assert!(bad.is_rejected());
    /// ```
    pub fn of_result<E: Into<Exn>>(result: Result<T, E>) -> Promise<T> {
        Promise(Repr::Ready(result.map_err(Into::into)))
    }

    /// Is the promise still pending (Lwt's `is_sleeping`)? Follows proxies.
    ///
    /// ```
    /// use lwt_core::wait;
    /// let (p, r) = wait::<()>();
    /// assert!(p.is_pending());
    /// r.wakeup(());
    /// assert!(!p.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        self.phase() == Phase::Pending
    }

    /// Is the promise fulfilled?
    ///
    /// ```
    /// use lwt_core::Promise;
    /// assert!(Promise::ret(()).is_fulfilled());
    /// ```
    pub fn is_fulfilled(&self) -> bool {
        match &self.0 {
            Repr::Ready(outcome) => outcome.is_ok(),
            Repr::Node(node) => {
                let root = node.root_cow();
                root.phase() != Phase::Pending && root.with_value(|v| !matches!(v, Some(Err(_))))
            }
        }
    }

    /// Is the promise rejected?
    ///
    /// ```
    /// use lwt_core::Promise;
    /// assert!(Promise::<()>::fail_with("x").is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        self.rejection().is_some()
    }

    /// The rejection, if the promise is rejected.
    ///
    /// ```
    /// use lwt_core::{task, Promise};
    /// let (p, _r) = task::<()>();
    /// p.cancel();
    /// assert!(p.rejection().unwrap().is_canceled());
    /// ```
    pub fn rejection(&self) -> Option<Exn> {
        match &self.0 {
            Repr::Ready(outcome) => outcome.as_ref().err().cloned(),
            Repr::Node(node) => node.root_cow().with_value(|v| match v {
                Some(Err(e)) => Some(e.clone()),
                _ => None,
            }),
        }
    }

    fn phase(&self) -> Phase {
        match &self.0 {
            Repr::Ready(_) => Phase::Idle,
            Repr::Node(node) => node.root_phase(),
        }
    }

    /// The root node of this promise, if it has one.
    pub(crate) fn node(&self) -> Option<Rc<Node<T>>> {
        match &self.0 {
            Repr::Ready(_) => None,
            Repr::Node(node) => Some(node.root()),
        }
    }

    /// The root node, borrowed when the handle's node is the root (the usual case): a caller
    /// that only calls the node pays no reference-count round trip, as [`node`](Self::node)'s
    /// owned root does.
    pub(crate) fn root_node(&self) -> Option<Cow<'_, Rc<Node<T>>>> {
        match &self.0 {
            Repr::Ready(_) => None,
            Repr::Node(node) => Some(node.root_cow()),
        }
    }

    /// The node this handle holds, root or proxy, for a node method that finds the root and
    /// checks the phase itself (no lookup and no borrow here).
    pub(crate) fn handle_node(&self) -> Option<&Rc<Node<T>>> {
        match &self.0 {
            Repr::Ready(_) => None,
            Repr::Node(node) => Some(node),
        }
    }

    /// The root node while the promise is pending (one root lookup for the check and the node).
    pub(crate) fn pending_node(&self) -> Option<Cow<'_, Rc<Node<T>>>> {
        self.root_node()
            .filter(|root| root.phase() == Phase::Pending)
    }

    /// Resolved, with every callback that was registered before now already run?
    pub(crate) fn is_settled(&self) -> bool {
        self.phase() == Phase::Idle
    }

    /// Resolved, with callbacks still queued to run?
    pub(crate) fn is_busy(&self) -> bool {
        self.phase() == Phase::Busy
    }

    /// Is it resolved at all (callbacks may still be queued)?
    pub(crate) fn is_resolved(&self) -> bool {
        self.phase() != Phase::Pending
    }

    /// The outcome of a resolved promise, moved out (or cloned, if the handle was ever cloned).
    /// The handle is spent afterwards.
    pub(crate) fn take_outcome(&mut self) -> Outcome<T> {
        match &self.0 {
            // The node hands its value out; the handle, now spent, is dropped by the caller.
            Repr::Node(node) => node.root_cow().take_or_clone(),
            Repr::Ready(_) => {
                // One shared placeholder per thread: no allocation per call.
                thread_local! {
                    static SPENT: Exn = Exn::invalid_argument("promise already consumed");
                }
                let spent = Repr::Ready(Err(SPENT.with(Exn::clone)));
                match std::mem::replace(&mut self.0, spent) {
                    Repr::Ready(outcome) => outcome,
                    Repr::Node(_) => unreachable!("matched Ready above"),
                }
            }
        }
    }

    /// [`take_outcome`](Self::take_outcome) of a promise with a node, when it runs no user code
    /// (see [`Node::take_unless_cloned`]); `None`, the handle untouched, otherwise. Inlined into
    /// `Choose::wake`, where its frame was a fifth of its cost.
    #[inline]
    pub(crate) fn take_outcome_unless_cloned(&self) -> Option<Outcome<T>> {
        match &self.0 {
            Repr::Node(node) => node.root_cow().take_unless_cloned(),
            Repr::Ready(_) => None,
        }
    }

    /// How many callbacks wait on this promise (for the tests that check nothing accumulates).
    #[doc(hidden)]
    pub fn callback_count(&self) -> usize {
        self.node().map_or(0, |n| n.callback_count())
    }
}

impl<T: Clone + 'static> Promise<T> {
    /// Lwt's `state`: the current state, with a clone of the value. Follows proxies.
    ///
    /// The value is cloned because the promise keeps it for everything else that waits on it;
    /// this is why `state` needs `T: Clone + 'static` (a generic helper needs both bounds). For
    /// a value that is not `Clone`, [`is_pending`](Self::is_pending),
    /// [`is_fulfilled`](Self::is_fulfilled) and [`rejection`](Self::rejection) inspect the
    /// promise, and [`map`](Self::map) or [`bind`](Self::bind) consume the handle and take
    /// the value.
    ///
    /// ```
    /// use lwt_core::{wait, State};
    /// let (p, r) = wait::<&str>();
    /// assert_eq!(p.state(), State::Pending);
    /// r.wakeup("done");
    /// assert_eq!(p.state(), State::Fulfilled("done"));
    /// ```
    pub fn state(&self) -> State<T> {
        match &self.0 {
            Repr::Ready(Ok(v)) => State::Fulfilled(v.clone()),
            Repr::Ready(Err(e)) => State::Rejected(e.clone()),
            Repr::Node(node) => node.with_root_value(|v| match v {
                None => State::Pending,
                Some(Ok(v)) => State::Fulfilled(v.clone()),
                Some(Err(e)) => State::Rejected(e.clone()),
            }),
        }
    }
}

impl<T: Clone + 'static> Clone for Promise<T> {
    /// Another handle on the same promise. From now on each consumer of the promise gets a clone
    /// of its value.
    fn clone(&self) -> Promise<T> {
        match &self.0 {
            Repr::Ready(outcome) => Promise(Repr::Ready(outcome.clone())),
            Repr::Node(node) => {
                node.root_cow().set_cloner(T::clone);
                Promise(Repr::Node(node.clone()))
            }
        }
    }
}

impl<T: 'static> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.phase(), self.rejection()) {
            (Phase::Pending, _) => f.write_str("Promise(pending)"),
            (_, Some(e)) => write!(f, "Promise(rejected: {e})"),
            _ => f.write_str("Promise(fulfilled)"),
        }
    }
}

/// Lwt's `return`, as a free function.
///
/// ```
/// assert!(lwt_core::ret(1).is_fulfilled());
/// ```
pub fn ret<T: 'static>(value: T) -> Promise<T> {
    Promise::ret(value)
}

/// Lwt's `fail`, as a free function.
///
/// ```
/// assert!(lwt_core::fail::<()>(std::fmt::Error).is_rejected());
/// ```
pub fn fail<T: 'static>(error: impl Into<Exn>) -> Promise<T> {
    Promise::fail(error)
}

/// Lwt's `return_unit`.
///
/// ```
/// assert!(lwt_core::return_unit().is_fulfilled());
/// ```
pub fn return_unit() -> Promise<()> {
    Promise::ret(())
}

/// Lwt's `return_none`.
///
/// ```
/// assert_eq!(lwt_core::return_none::<u8>().state(), lwt_core::State::Fulfilled(None));
/// ```
pub fn return_none<T: 'static>() -> Promise<Option<T>> {
    Promise::ret(None)
}

/// Lwt's `return_some`.
///
/// ```
/// assert_eq!(lwt_core::return_some(1).state(), lwt_core::State::Fulfilled(Some(1)));
/// ```
pub fn return_some<T: 'static>(value: T) -> Promise<Option<T>> {
    Promise::ret(Some(value))
}

/// Lwt's `return_nil` (an empty `Vec`).
///
/// ```
/// assert_eq!(lwt_core::return_nil::<u8>().state(), lwt_core::State::Fulfilled(vec![]));
/// ```
pub fn return_nil<T: 'static>() -> Promise<Vec<T>> {
    Promise::ret(Vec::new())
}

/// Lwt's `return_true`.
///
/// ```
/// assert_eq!(lwt_core::return_true().state(), lwt_core::State::Fulfilled(true));
/// ```
pub fn return_true() -> Promise<bool> {
    Promise::ret(true)
}

/// Lwt's `return_false`.
///
/// ```
/// assert_eq!(lwt_core::return_false().state(), lwt_core::State::Fulfilled(false));
/// ```
pub fn return_false() -> Promise<bool> {
    Promise::ret(false)
}

/// Lwt's `return_ok`: a promise of `Ok(value)`.
///
/// ```
/// assert_eq!(lwt_core::return_ok::<u8, ()>(1).state(), lwt_core::State::Fulfilled(Ok(1)));
/// ```
pub fn return_ok<T: 'static, E: 'static>(value: T) -> Promise<Result<T, E>> {
    Promise::ret(Ok(value))
}

/// Lwt's `return_error`: a promise of `Err(error)` (fulfilled: the error is a value here).
///
/// ```
/// assert_eq!(lwt_core::return_error::<u8, &str>("no").state(), lwt_core::State::Fulfilled(Err("no")));
/// ```
pub fn return_error<T: 'static, E: 'static>(error: E) -> Promise<Result<T, E>> {
    Promise::ret(Err(error))
}

/// Lwt's `fail_with`, as a free function.
///
/// ```
/// assert!(lwt_core::fail_with::<()>("x").is_rejected());
/// ```
pub fn fail_with<T: 'static>(message: impl Into<String>) -> Promise<T> {
    Promise::fail_with(message)
}

/// Lwt's `fail_invalid_arg`, as a free function.
///
/// ```
/// assert!(lwt_core::fail_invalid_arg::<()>("x").is_rejected());
/// ```
pub fn fail_invalid_arg<T: 'static>(message: impl Into<String>) -> Promise<T> {
    Promise::fail_invalid_arg(message)
}

/// Lwt's `of_result`, as a free function.
///
/// ```
/// assert!(lwt_core::of_result::<u8, std::num::ParseIntError>("1".parse()).is_fulfilled());
/// ```
pub fn of_result<T: 'static, E: Into<Exn>>(result: Result<T, E>) -> Promise<T> {
    Promise::of_result(result)
}
