//! Pending promises and their resolvers: [`wait`], [`task`], [`Resolver`].
//!
//! A resolver is consumed by the call that resolves its promise, so resolving twice does not
//! compile (Lwt finds out at run time and raises `Invalid_argument`):
//!
//! ```compile_fail
//! let (_p, r) = lwt_core::wait::<i32>();
//! r.wakeup(1);
//! r.wakeup(2); // error: use of moved value `r`
//! ```
//!
//! # When callbacks run
//!
//! | call | outside the loop (top level, or a callback run at once by `bind` on a resolved promise) | inside the loop (a callback run by a resolution) |
//! |---|---|---|
//! | `wakeup*` | every callback the resolution makes runnable has run when it returns | the same: it runs them before returning, up to 64 nested levels of callbacks; deeper, they are queued on the current queue and run after the callback that called it returns |
//! | `wakeup_later*` | same as `wakeup` | the state changes at once; callbacks run after the outermost running callback returns, in FIFO order: from a callback run by a `wakeup` that another callback made, they wait for that other callback too, as in Lwt |
//!
//! In both cases the promise's *state* changes before the call returns, and the callbacks of one
//! promise run in the order they were registered. When a bind's callback returns a promise that
//! is still pending, the two become one, and that promise's callbacks run before the bind
//! result's, whenever either was registered (rev93: `B A C` for `A` on the bind's result,
//! `B` on the returned promise, `C` on the result after the merge; Lwt 5.6.1 runs the result's
//! first, newest first: `C A B`). Code that needs an order between cleanups on the two
//! registers them on one promise.

use std::any::Any;
use std::panic::Location;
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::exn::{Abandoned, Exn};
use crate::node::{CancelListener, Cancelable, HowToCancel, Mode, Node, Phase};
use crate::promise::Promise;

mod shared;

pub use shared::SharedResolver;

/// The write end of a pending promise (Lwt's `'a u`).
///
/// Dropping a resolver without using it rejects its promise with [`Abandoned`], so nothing waits
/// forever on a promise nobody can resolve:
///
/// ```
/// use lwt_core::{wait, Abandoned};
///
/// let (p, r) = wait::<i32>();
/// drop(r);
/// assert!(p.rejection().unwrap().is::<Abandoned>());
/// ```
///
/// So a port of OCaml's `let t, _ = Lwt.task ()` (a promise kept pending for ever, to be
/// canceled) calls [`forget`](Resolver::forget) on the resolver: `let (t, r) = task();
/// r.forget();`. With `_`, Rust drops it at once (and with `_r`, at the end of its scope), and
/// `t` is then rejected with `Abandoned`, which a later `cancel` cannot change and an
/// `on_cancel` never hears of.
pub struct Resolver<T: 'static> {
    node: Rc<Node<T>>,
    /// While the resolver is armed (its drop rejects the promise): where the promise was made,
    /// the caller of [`wait`] or [`task`], or a line of this crate for the runtime's own
    /// promises. One word, as the `bool` it replaces was with padding.
    armed: Option<&'static Location<'static>>,
}

/// Lwt's `wait`: a pending promise and its resolver. `cancel` has no effect on it.
///
/// ```
/// use lwt_core::{wait, State};
///
/// let (p, r) = wait();
/// r.wakeup("hello");
/// assert_eq!(p.state(), State::Fulfilled("hello"));
/// ```
#[inline]
#[track_caller]
#[doc(alias = "oneshot")]
pub fn wait<T: 'static>() -> (Promise<T>, Resolver<T>) {
    pending(HowToCancel::NotCancelable, Location::caller())
}

/// Lwt's `task`: like [`wait`], but [`cancel`](Promise::cancel) rejects the promise with
/// [`Canceled`](crate::Canceled). Resolving it afterwards is a silent no-op.
///
/// ```
/// use lwt_core::task;
///
/// let (p, r) = task::<i32>();
/// p.cancel();
/// assert!(p.rejection().unwrap().is_canceled());
/// r.wakeup(1); // no effect
/// assert!(p.is_rejected());
/// ```
#[inline]
#[track_caller]
pub fn task<T: 'static>() -> (Promise<T>, Resolver<T>) {
    pending(HowToCancel::CancelThis, Location::caller())
}

/// A [`task`] whose cancellation is also told to `listener` (see
/// `HowToCancel::CancelThisAndTell`).
pub(crate) fn task_telling<T: 'static>(
    listener: Weak<dyn CancelListener>,
) -> (Promise<T>, Resolver<T>) {
    pending(HowToCancel::CancelThisAndTell(listener), Location::caller())
}

/// A promise that the runtime resolves itself and that waits on other promises in turn, like
/// the result of a chain of `bind`s: canceling it cancels what it waits on at that moment, which
/// the runtime names with [`Resolver::propagate_to`] before handing it out and at each new wait.
pub(crate) fn relay<T: 'static>() -> (Promise<T>, Resolver<T>) {
    pending(HowToCancel::NotCancelable, Location::caller())
}

// Inlined with `wait` and `task` (see `Node::pending_in_place`); always, because the hint
// alone stopped being taken in `InputChannel::drive` when `Node::wake_pause` was added.
#[inline(always)]
fn pending<T: 'static>(
    cancel: HowToCancel,
    made_at: &'static Location<'static>,
) -> (Promise<T>, Resolver<T>) {
    made(Node::pending_in_place(|| cancel), made_at)
}

/// A promise and its resolver over `node`, a fresh pending node (new, or renewed with
/// [`Node::renew`]).
pub(crate) fn from_node<T: 'static>(node: Rc<Node<T>>) -> (Promise<T>, Resolver<T>) {
    made(node, Location::caller())
}

#[inline]
fn made<T: 'static>(
    node: Rc<Node<T>>,
    made_at: &'static Location<'static>,
) -> (Promise<T>, Resolver<T>) {
    (
        Promise::from_node(node.clone()),
        Resolver {
            node,
            armed: Some(made_at),
        },
    )
}

/// Where a dropped resolver's promise was made, if a user made it: the runtime's own promises
/// (a mailbox's `take`, a stream's read...) are made at lines of this crate, which would only
/// point the user at the library. Told apart by path: `file!()` and the recorded locations come
/// from the same compilation, whatever the crate's path. (A build that remaps this crate's root
/// to nothing, `--remap-path-prefix=<lwt-core>/=`, makes its prefix `src/`, which a user's
/// `src/main.rs` also starts with: such a build names no place.)
fn user_site(site: &'static Location<'static>) -> Option<&'static Location<'static>> {
    let this_file = file!();
    let crate_src = this_file.strip_suffix("resolver.rs").unwrap_or(this_file);
    (!site.file().starts_with(crate_src)).then_some(site)
}

impl<T: 'static> Resolver<T> {
    fn resolve(mut self, outcome: Result<T, Exn>, mode: Mode) {
        self.armed = None;
        // The promise can only have been resolved behind the resolver's back by cancellation:
        // Lwt ignores a wakeup of a canceled promise, and so do we.
        let _ = self.node.resolve(outcome, mode);
    }

    /// Lwt's `wakeup`: fulfills the promise, and runs the callbacks it makes runnable before
    /// returning.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let (p, r) = lwt_core::wait::<u8>();
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// p.on_success(move |v| s.set(*v));
    /// r.wakeup(5);
    /// assert_eq!(seen.get(), 5);
    /// ```
    pub fn wakeup(self, value: T) {
        self.resolve(Ok(value), Mode::Now)
    }

    /// Lwt's `wakeup_exn`: rejects the promise with `error`.
    ///
    /// ```
    /// let (p, r) = lwt_core::wait::<u8>();
    /// r.wakeup_exn(lwt_core::Exn::failure("nope"));
    /// assert!(p.is_rejected());
    /// ```
    pub fn wakeup_exn(self, error: impl Into<Exn>) {
        self.resolve(Err(error.into()), Mode::Now)
    }

    /// Lwt's `wakeup_result`: fulfills or rejects the promise.
    ///
    /// ```
    /// let (p, r) = lwt_core::wait::<u8>();
    /// r.wakeup_result(Ok(1));
    /// assert!(p.is_fulfilled());
    /// ```
    pub fn wakeup_result(self, result: Result<T, Exn>) {
        self.resolve(result, Mode::Now)
    }

    /// Lwt's `wakeup_later`: fulfills the promise now; inside the loop, its callbacks run after
    /// the outermost running callback returns (see the module docs).
    ///
    /// ```
    /// let (p, r) = lwt_core::wait::<u8>();
    /// r.wakeup_later(1);
    /// assert!(p.is_fulfilled());
    /// ```
    pub fn wakeup_later(self, value: T) {
        self.resolve(Ok(value), Mode::Deferred)
    }

    /// [`wakeup_later`](Self::wakeup_later) if the promise is still pending; otherwise (it was
    /// canceled) `value` comes back. One lookup of the root where `is_pending` then
    /// `wakeup_later` make two.
    #[inline]
    pub(crate) fn try_wakeup_later(mut self, value: T) -> Result<(), T> {
        self.armed = None;
        match self.node.resolve(Ok(value), Mode::Deferred) {
            Ok(()) => Ok(()),
            Err(Ok(value)) => Err(value),
            // `resolve` gives back the outcome it was given, which was a value.
            Err(Err(_)) => unreachable!("a resolution refused gives its own outcome back"),
        }
    }

    /// [`wakeup_result`](Self::wakeup_result) if the promise is still pending; otherwise (it
    /// was canceled) `outcome` comes back, for a caller that must not drop it unguarded.
    pub(crate) fn try_wakeup_result(mut self, outcome: Result<T, Exn>) -> Result<(), Outcome<T>> {
        self.armed = None;
        self.node.resolve(outcome, Mode::Now)
    }

    /// Lwt's `wakeup_later_exn`.
    ///
    /// ```
    /// let (p, r) = lwt_core::wait::<u8>();
    /// r.wakeup_later_exn(lwt_core::Exn::failure("nope"));
    /// assert!(p.is_rejected());
    /// ```
    pub fn wakeup_later_exn(self, error: impl Into<Exn>) {
        self.resolve(Err(error.into()), Mode::Deferred)
    }

    /// Lwt's `wakeup_later_result`.
    ///
    /// ```
    /// let (p, r) = lwt_core::wait::<u8>();
    /// r.wakeup_later_result(Ok(2));
    /// assert!(p.is_fulfilled());
    /// ```
    pub fn wakeup_later_result(self, result: Result<T, Exn>) {
        self.resolve(result, Mode::Deferred)
    }

    /// Is the promise still pending? False once it was canceled (or resolved through a proxy).
    ///
    /// ```
    /// let (p, r) = lwt_core::task::<u8>();
    /// assert!(r.is_pending());
    /// p.cancel();
    /// assert!(!r.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        self.node.root_phase() == Phase::Pending
    }

    /// Gives up this resolver without resolving the promise or rejecting it with
    /// [`Abandoned`]: the promise stays pending (a [`task`]'s can still be canceled), as in Lwt,
    /// where dropping the `'a u` does nothing. For Lwt's `let forever, _ = Lwt.wait ()`, a
    /// promise a server's main waits on for ever; dropped instead, the resolver would make that
    /// wait end at once with `Abandoned`. Frees the resolver's hold on the promise (unlike
    /// `std::mem::forget` of the resolver).
    ///
    /// Meant for promises that live as long as the program. A pending promise and what waits on
    /// it hold each other (a bind's result keeps its source for `cancel`, the source keeps the
    /// continuation that resolves the result), and Rust has no collector for such cycles: once
    /// its resolver is forgotten, a promise that nothing resolves or cancels keeps the binds and
    /// callbacks made on it, with what their closures captured, for good (never freed), even when
    /// every handle is dropped (Lwt's GC would collect them). To give up a promise made in a
    /// loop, drop its resolver (the promise is rejected with `Abandoned`) or cancel its task.
    ///
    /// ```
    /// use lwt_core::{main, task, wait};
    ///
    /// let (forever, r) = wait::<()>();
    /// r.forget();
    /// assert!(forever.is_pending());
    /// // With nothing else to wait for, `run` says so rather than hang (a server's open socket
    /// // would keep it running).
    /// assert!(main::run(forever).unwrap_err().to_string().contains("nothing can resolve it"));
    ///
    /// let (t, r) = task::<()>();
    /// r.forget();
    /// t.cancel();
    /// assert!(t.rejection().unwrap().is_canceled());
    /// ```
    pub fn forget(mut self) {
        self.armed = None;
    }
}

impl<T: 'static> Resolver<T> {
    /// A handle on the promise's node if this resolver is the only one left (the promise was
    /// dropped): resolving it would then drop the value with the resolver, at once. A caller
    /// that resolves under a borrow the value's `drop` may need keeps this handle until the
    /// borrow is released.
    pub(crate) fn node_if_alone(&self) -> Option<Rc<dyn Any>> {
        (Rc::strong_count(&self.node) == 1).then(|| self.node.clone() as Rc<dyn Any>)
    }

    /// Resolves the promise as the runtime resolves a bind's result: inside a callback, its
    /// callbacks are queued on the current drain (a nested `wakeup`'s, if that is where this
    /// runs), not held back for the outermost one as [`wakeup_later`](Self::wakeup_later)'s
    /// are. For the results of the runtime's loops and stream consumers, which Lwt builds from
    /// binds and so resolves at once, nested.
    pub(crate) fn resolve_like_bind(self, result: Result<T, Exn>) {
        self.resolve(result, Mode::Later)
    }

    /// Makes the promise the same promise as `promise`, as a bind's result becomes what its
    /// callback returned: its outcome if it has one, else the two are merged.
    pub(crate) fn resolve_with(mut self, promise: Promise<T>) {
        self.armed = None;
        self.node.resolve_with(promise);
    }

    /// Makes this pending promise (its root) ignore `cancel` from now on, until it is merged
    /// with a promise that does not: for an operation past the point where it can stop without
    /// losing what it did.
    #[inline]
    pub(crate) fn ignore_cancel(&self) {
        self.node.root_cow().set_cancel(HowToCancel::NotCancelable);
    }

    /// Points the cancel link of this pending promise (of its root, if it was merged into
    /// another promise since) at `to`.
    pub(crate) fn propagate_to(&self, to: Rc<dyn Cancelable>) {
        self.node.root_cow().set_cancel(HowToCancel::Propagate(to));
    }

    /// The promise this resolves, as a cancel walk starts from it (for a runtime loop that
    /// must pass on a cancel it could only record, see `park::wait_for`).
    pub(crate) fn cancel_handle(&self) -> Rc<dyn Cancelable> {
        self.node.root_cow().into_owned()
    }
}

impl Resolver<()> {
    /// [`wakeup`](Self::wakeup) of a woken pause (its lone consumer called at once, see
    /// [`Node::wake_pause`]), then gives the node back: the loop renews a woken pause's node for
    /// the next pause when nothing else holds it any more (see [`Node::renew`]).
    // Out of line, as the generic `wakeup_giving_node` it replaces was, so that the run loop's
    // phases, which inline the pause wakeup, stay as they were.
    #[inline(never)]
    pub(crate) fn wake_pause_giving_node(mut self) -> Rc<Node<()>> {
        self.armed = None;
        self.node.wake_pause();
        self.node.clone()
    }
}

impl<T: 'static> Drop for Resolver<T> {
    fn drop(&mut self) {
        if let Some(site) = self.armed {
            let abandoned = Abandoned {
                made_at: user_site(site),
            };
            let _ = self.node.resolve(Err(Exn::new(abandoned)), Mode::Later);
        }
    }
}

impl<T: 'static> std::fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("pending", &self.is_pending())
            .finish()
    }
}
