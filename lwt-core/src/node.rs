//! The shared cell behind every pending promise, and its state machine.
//!
//! A [`Node`] is what Lwt calls a promise record. It is in one of three states:
//!
//! ```text
//!            resolve                      (callbacks run by the loop)
//!  Pending ───────────▶ Done { to_run, scheduled } ───▶ Done { [], idle }
//!     │
//!     │ the promise a bind callback returned is merged into the bind's result
//!     ▼
//!  Proxy(root)      every operation follows proxies to the root first
//! ```
//!
//! The outcome lives in its own `RefCell` (`value`), apart from the state, so that an observer
//! callback can look at `&Outcome` while another callback is registered on the same node.
//!
//! Invariants:
//! * Only a root (a node that is not a `Proxy`) holds callbacks, a cancel link or an outcome.
//! * A proxy's link is `Some`, except inside `Node`'s `drop`, which takes it out.
//! * `value` is `Some` from the moment the node is `Done`, until the single consumer of a
//!   non-`Clone` value takes it out (see `take_or_clone`).
//! * `Done { scheduled: true }` means a job for this node is queued or running: callbacks
//!   registered meanwhile are appended to `to_run`, so every callback of one promise runs in
//!   registration order, whenever it was registered.
//! * A node never points (through proxies) at itself: `resolve_with` refuses to merge a root into
//!   itself.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::task::Waker;

use crate::callbacks::{Callback, Callbacks, Outcome};
use crate::exn::Exn;
use crate::once_fn::OnceFn;
use crate::promise::{Promise, Repr};
use crate::schedule::{self, Job};

thread_local! {
    /// The root whose `Wake` callback is being delivered on this thread (null if none), only
    /// compared, never dereferenced; and how many callbacks were queued after that waker when
    /// its delivery began (see [`Node::delivering_a_wake`]).
    static WAKING: Cell<(*const (), usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Wakes a task that awaits the resolved root at `root`. A foreign executor's waker is user
/// code: its panic goes to the hook, as every callback's does (see `schedule`). The waker may
/// poll its future at once, inside this call: that poll is handed the value (see
/// [`Node::delivering_a_wake`]). Not generic and out of line: in each `Node<T>`'s delivery it is
/// one call, which keeps the common callbacks' code as it was (inlined, the guard cost the
/// stream rows 17 instructions per element).
#[cold]
#[inline(never)]
fn deliver_wake(root: *const (), queued_after: usize, waker: Waker) {
    /// Puts the outer delivery back, even if the hook unwinds.
    struct Restore((*const (), usize));
    impl Drop for Restore {
        fn drop(&mut self) {
            WAKING.set(self.0);
        }
    }
    let _restore = Restore(WAKING.replace((root, queued_after)));
    crate::hook::guard(|| waker.wake());
}

/// How the callbacks of a resolution are started (see `schedule`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `wakeup`: run before returning, even inside a callback.
    Now,
    /// The runtime's own resolutions: queued when inside a callback.
    Later,
    /// `wakeup_later`: queued when inside a callback, and inside a nested drain (a `wakeup` made
    /// by a callback) queued for the outermost drain.
    Deferred,
}

/// What `cancel` does with a pending promise (Lwt's `how_to_cancel`).
pub(crate) enum HowToCancel {
    /// A `wait()` promise: cancel does nothing.
    NotCancelable,
    /// A `task()` promise: cancel rejects it with `Canceled`.
    CancelThis,
    /// A `task()` promise filed with a runtime structure (a read on a stream's cursor): cancel
    /// rejects it and then, before any other callback of the promise, tells the structure's
    /// listener (the cursor's). The link is weak and costs no allocation until a cancel happens,
    /// which is why it is used instead of an `on_cancel` callback on every read.
    CancelThisAndTell(Weak<dyn CancelListener>),
    /// The result of a bind-like operation, a wrapper or a combinator: cancel what it waits on
    /// (a promise, or a combinator's state, which names its inputs).
    Propagate(Rc<dyn Cancelable>),
}

/// A runtime structure that files task promises and must hear of their cancellation (see
/// [`HowToCancel::CancelThisAndTell`]).
pub(crate) trait CancelListener {
    /// A promise filed with this listener was canceled.
    fn canceled(self: Rc<Self>);
}

/// The roots a cancel walk has propagated from (by address).
pub(crate) type Visited = HashSet<*const ()>;

/// The type-erased view of a node that `cancel` walks.
pub(crate) trait Cancelable {
    /// Cancels this node if it is a pending task, and pushes whatever it propagates to, unless
    /// this node was already propagated from in this walk (`visited` holds those roots).
    fn cancel_step(self: Rc<Self>, next: &mut Vec<Rc<dyn Cancelable>>, visited: &mut Visited);
}

enum State<T> {
    Pending {
        callbacks: Callbacks<T>,
        cancel: HowToCancel,
    },
    Done {
        to_run: Callbacks<T>,
        scheduled: bool,
    },
    /// `None` only while the node is being freed (`Node`'s `drop` takes the link out, one word,
    /// rather than swapping out the whole state): never seen by any other code.
    Proxy(Option<Rc<Node<T>>>),
}

/// Clones a value; present once a handle was cloned (`T: Clone` is known there).
type Cloner<T> = fn(&T) -> T;

impl<T> Drop for Node<T> {
    /// Drops the state by hand (it is in a `ManuallyDrop`): a resolved node with nothing left to
    /// run, most nodes as they go, owns nothing there, and skipping the drop glue of the whole
    /// state enum (every kind of callback, every kind of link) saves about 20 instructions per
    /// node. A proxy gives up its link, one word.
    ///
    /// A chain of proxies is freed in a loop, as long as each link is held only by the one
    /// before it: dropped the default way, each link dropped the next from inside its own drop,
    /// and a chain of a million links (binds on promises resolved one after the other, each
    /// returning the previous bind's promise) overflowed an 8 MiB stack when it was first looked
    /// up or dropped. (Lwt 5.6.1 overflows there too, in its recursive `underlying`.)
    #[inline]
    fn drop(&mut self) {
        match self.state.get_mut() {
            State::Done {
                to_run: Callbacks::Empty,
                ..
            } => {}
            State::Proxy(next) => {
                // Inlined up to this test: a proxy usually points at a root something else
                // holds, which this drop does not free.
                if let Some(next) = next.take() {
                    if Rc::strong_count(&next) == 1 {
                        Self::drop_proxy_chain(next);
                    }
                }
            }
            _ => self.drop_state(),
        }
    }
}

impl<T> Node<T> {
    /// Drops what a state owns, leaving one that owns nothing. Field by field and inline, not
    /// the whole state moved out in a call of its own: this code is on the stack at each level
    /// of a chain of nodes freed one inside the other (a callback owning the next promise), and
    /// that first version made each level 1.7 times as deep (rev110; now 1.3 times the 112
    /// bytes of a release build's level before the state was freed by hand).
    #[inline]
    fn drop_state(&mut self) {
        match self.state.get_mut() {
            State::Pending { callbacks, cancel } => {
                drop(std::mem::take(callbacks));
                drop(std::mem::replace(cancel, HowToCancel::NotCancelable));
            }
            State::Done { to_run, .. } => drop(std::mem::take(to_run)),
            // Handled by `drop` before it gets here; kept so that no state is left out.
            State::Proxy(next) => drop(next.take()),
        }
    }

    /// Frees `next`, the last link to it, and each following proxy held only by the one before.
    #[cold]
    #[inline(never)]
    fn drop_proxy_chain(mut next: Rc<Node<T>>) {
        loop {
            // The last strong link, whatever weak ones there are (`Rc::get_mut` would also ask
            // for no weak one, and a link with one would be freed by its own drop, recursing).
            let following = if Rc::strong_count(&next) == 1 {
                match &mut *next.state.borrow_mut() {
                    State::Proxy(following) => following.take(),
                    _ => None,
                }
            } else {
                None
            };
            // `next` is freed here if this was its last link: a proxy no longer, as its link was
            // taken out, so its own drop does not recurse.
            drop(next);
            match following {
                Some(following) => next = following,
                None => return,
            }
        }
    }
}

/// The shared cell of a promise.
pub(crate) struct Node<T> {
    /// Dropped by `Node`'s `drop`, which skips the drop glue of a state that owns nothing.
    state: ManuallyDrop<RefCell<State<T>>>,
    value: RefCell<Option<Outcome<T>>>,
    /// Set when a handle to this promise has been cloned (which requires `T: Clone`): from then on
    /// consumers get clones and the value stays in the node.
    cloner: Cell<Option<Cloner<T>>>,
}

/// A pending node that ignores `cancel` (see [`Node::pending_in_place`], which builds nodes
/// from this one in place).
impl<T> Default for Node<T> {
    #[inline]
    fn default() -> Self {
        Node {
            state: ManuallyDrop::new(RefCell::new(State::Pending {
                callbacks: Callbacks::Empty,
                cancel: HowToCancel::NotCancelable,
            })),
            value: RefCell::new(None),
            cloner: Cell::new(None),
        }
    }
}

/// Where a promise stands, without its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    Pending,
    /// Resolved, with callbacks still queued to run.
    Busy,
    /// Resolved and every callback has run.
    Idle,
}

fn value_moved() -> Exn {
    Exn::invalid_argument("the value of this promise was already moved out to its only consumer")
}

impl<T: 'static> Node<T> {
    // Inlined: every `wait`, `task` and pending bind makes one, and as a call from the user's
    // crate (where generic code is compiled) it cost more than its own work.
    #[inline]
    pub(crate) fn pending(cancel: HowToCancel) -> Rc<Node<T>> {
        Rc::new(Node {
            state: ManuallyDrop::new(RefCell::new(State::Pending {
                callbacks: Callbacks::Empty,
                cancel,
            })),
            value: RefCell::new(None),
            cloner: Cell::new(None),
        })
    }

    /// [`pending`](Self::pending) built in place: `Rc::default` allocates first and writes the
    /// node straight into the allocation, where `Rc::new` builds it on the stack and copies its
    /// 16 words over (the allocation call comes in between); the cancel link is then set in the
    /// fresh node (about 15 instructions a node). For the result of a bind on a pending promise
    /// and for `wait`, `task` and the runtime's relays (`resolver::pending`), and for the result
    /// of `choose`/`pick` (whose copy from the stack stalled on store forwarding: pick-long-lived
    /// 1931 -> 1912 instructions, about 2 % faster; rev145). Not for every node: used by all the
    /// combinators', `protected`'s and the loop's pause nodes too, it made the stream's pull
    /// loop, which makes nodes only on its slow paths, compile 4 instructions an element slower
    /// (stream-batch 424 -> 428: register allocation in `pull_through`, whose own code did not
    /// change; rev111, rev115).
    ///
    /// The link is made by `cancel`, called once the node is allocated: a link made before was
    /// kept on the stack across the allocation, written as 8-byte words and copied into the node
    /// with a 16-byte load that could not be forwarded from them (a third of `then_node`'s
    /// samples in a recursive-loop profile).
    #[inline]
    pub(crate) fn pending_in_place(cancel: impl FnOnce() -> HowToCancel) -> Rc<Node<T>> {
        let mut node = Rc::<Node<T>>::default();
        if let Some(fresh) = Rc::get_mut(&mut node) {
            if let State::Pending { cancel: slot, .. } = fresh.state.get_mut() {
                // Over `NotCancelable`, which owns nothing: no drop glue.
                std::mem::forget(std::mem::replace(slot, cancel()));
                return node;
            }
        }
        // Not reached (a fresh `Rc` is unique, and its node pending); if it were, the node
        // built the usual way is the same.
        Node::pending(cancel())
    }

    /// Follows proxies to the root, and points `self` straight at it (path compression).
    pub(crate) fn root(self: &Rc<Self>) -> Rc<Node<T>> {
        let current = match &*self.state.borrow() {
            State::Proxy(Some(next)) => next.clone(),
            _ => return self.clone(),
        };
        // One hop, the usual case (a bind's result merged into the loop's root): no loop.
        if current.is_root() {
            return current;
        }
        self.root_far(current)
    }

    /// [`root`](Self::root) when `first`, the node `self` points at, is a proxy too: follows the
    /// chain, then points `self` straight at the root, so that the next lookup is one hop.
    #[inline(never)]
    fn root_far(self: &Rc<Self>, first: Rc<Node<T>>) -> Rc<Node<T>> {
        let mut current = first;
        loop {
            let next = match &*current.state.borrow() {
                State::Proxy(Some(next)) => next.clone(),
                _ => break,
            };
            current = next;
        }
        *self.state.borrow_mut() = State::Proxy(Some(current.clone()));
        current
    }

    /// Is this node a root (not a proxy)?
    pub(crate) fn is_root(&self) -> bool {
        !matches!(&*self.state.borrow(), State::Proxy(_))
    }

    /// The root, like [`root`](Self::root), but borrowed when this node is the root already (the
    /// common case), which saves a reference-count round trip on the hot paths.
    pub(crate) fn root_cow(self: &Rc<Self>) -> Cow<'_, Rc<Node<T>>> {
        if matches!(&*self.state.borrow(), State::Proxy(_)) {
            Cow::Owned(self.root())
        } else {
            Cow::Borrowed(self)
        }
    }

    /// The phase of this node's root, with one borrow when the node is the root (the usual
    /// case) instead of one for the lookup and one for the phase.
    pub(crate) fn root_phase(self: &Rc<Self>) -> Phase {
        match &*self.state.borrow() {
            State::Pending { .. } => return Phase::Pending,
            State::Done {
                scheduled: true, ..
            } => return Phase::Busy,
            State::Done { .. } => return Phase::Idle,
            State::Proxy(_) => {}
        }
        self.root().phase()
    }

    /// The phase of this root.
    pub(crate) fn phase(&self) -> Phase {
        match &*self.state.borrow() {
            State::Pending { .. } => Phase::Pending,
            State::Done {
                scheduled: true, ..
            } => Phase::Busy,
            State::Done { .. } => Phase::Idle,
            State::Proxy(_) => unreachable!("phase() is only asked of roots"),
        }
    }

    /// Looks at the outcome of this (resolved) root. `None` while pending, or once the value was
    /// moved to its only consumer.
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(Option<&Outcome<T>>) -> R) -> R {
        f(self.value.borrow().as_ref())
    }

    /// [`with_value`](Self::with_value) of this node's root: on the node itself when it is the
    /// root (the usual case), without the `Cow` of [`root_cow`](Self::root_cow) (built, tested
    /// and dropped: about 10 instructions of each `Promise::state`).
    #[inline]
    pub(crate) fn with_root_value<R>(
        self: &Rc<Self>,
        f: impl FnOnce(Option<&Outcome<T>>) -> R,
    ) -> R {
        if self.is_root() {
            self.with_value(f)
        } else {
            self.root().with_value(f)
        }
    }

    pub(crate) fn callback_count(&self) -> usize {
        match &*self.state.borrow() {
            State::Pending { callbacks, .. } => callbacks.len(),
            State::Done { to_run, .. } => to_run.len(),
            State::Proxy(_) => 0,
        }
    }

    pub(crate) fn set_cloner(&self, cloner: Cloner<T>) {
        self.cloner.set(Some(cloner));
    }

    /// Gives a consumer its outcome: a clone when the handle was ever cloned, else the value itself.
    ///
    /// `T::clone` is user code: a panic in it rejects this consumer's outcome with
    /// [`Panicked`](crate::Panicked), as a panic in the consumer's callback would, instead of
    /// unwinding out of the `wakeup` (or `bind`) that delivers it and leaving the consumer's
    /// promise pending.
    // Inlined up to the usual case, a value never cloned handed to its only consumer (a call
    // per delivery otherwise); the rest is out of line in `take_or_clone_slow`.
    #[inline]
    pub(crate) fn take_or_clone(&self) -> Outcome<T> {
        if self.cloner.get().is_none() {
            let mut slot = self.value.borrow_mut();
            if let Some(Ok(_)) = &*slot {
                return slot.take().expect("checked above");
            }
        }
        self.take_or_clone_slow()
    }

    /// [`take_or_clone`](Self::take_or_clone) when that runs no user code (no handle was ever
    /// cloned, so no `T::clone`); `None` otherwise, with the value left in place. For a caller
    /// that holds a borrow which user code must not find.
    #[inline]
    pub(crate) fn take_unless_cloned(&self) -> Option<Outcome<T>> {
        if self.cloner.get().is_some() {
            return None;
        }
        Some(self.take_or_clone())
    }

    /// [`take_or_clone`](Self::take_or_clone) for a rejection, a cloned handle or a value moved
    /// out already.
    #[inline(never)]
    fn take_or_clone_slow(&self) -> Outcome<T> {
        if let Some(clone) = self.cloner.get() {
            return match &*self.value.borrow() {
                Some(Ok(v)) => catch_unwind(AssertUnwindSafe(|| clone(v))).map_err(Exn::from_panic),
                Some(Err(e)) => Err(e.clone()),
                None => Err(value_moved()),
            };
        }
        let mut slot = self.value.borrow_mut();
        match &*slot {
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(_)) => slot.take().expect("checked above"),
            None => Err(value_moved()),
        }
    }

    /// Registers a callback on this promise. On a resolved promise whose callbacks have all run,
    /// the callback runs at once; otherwise it runs in registration order.
    pub(crate) fn add_callback(self: &Rc<Self>, callback: Callback<T>) {
        self.add_callback_then(callback, drop);
    }

    /// [`add_callback`](Self::add_callback) of the callback `make` returns, made where it is
    /// stored when this is a pending root without callbacks (a bind's source, the usual case).
    /// Made by the caller and passed in, the callback was written to the stack as 8-byte words
    /// and read back by 16-byte loads that could not be forwarded from them (three quarters of
    /// `add_callback_then`'s samples in a ping-pong profile). `make` runs with the node's state
    /// borrowed, so it must not reach this node (it only builds the callback).
    #[inline(always)]
    pub(crate) fn add_callback_made(self: &Rc<Self>, make: impl FnOnce() -> Callback<T>) {
        let mut state = self.state.borrow_mut();
        if let State::Pending {
            callbacks: list @ Callbacks::Empty,
            ..
        } = &mut *state
        {
            // Over `Empty`, which owns nothing: no drop glue.
            std::mem::forget(std::mem::replace(list, Callbacks::One(make())));
            return;
        }
        drop(state);
        self.add_callback(make());
    }

    /// [`add_callback`](Self::add_callback) for a combinator that registers on several inputs
    /// before its state is complete: the dead callbacks a purge takes out go to `dead`, for the
    /// caller to drop once its state is built. Dropped here, a dead combinator's last reference
    /// could run user code (a value's `Drop` resolving one of the inputs) that wakes this
    /// combinator half-registered.
    pub(crate) fn add_callback_keeping_dead(
        self: &Rc<Self>,
        callback: Callback<T>,
        dead: &mut Vec<Callback<T>>,
    ) {
        self.add_callback_then(callback, |more| dead.extend(more));
    }

    /// Registers `callback`; if making room purged dead callbacks, gives them to `purged` once
    /// the node is no longer borrowed.
    #[inline(always)]
    fn add_callback_then(
        self: &Rc<Self>,
        callback: Callback<T>,
        purged: impl FnOnce(Vec<Callback<T>>),
    ) {
        // This node is usually the root: one borrow, and the root's only for a proxy.
        let mut state = self.state.borrow_mut();
        let list = match &mut *state {
            State::Pending { callbacks, .. } => callbacks,
            State::Done {
                to_run,
                scheduled: true,
            } => to_run,
            State::Done { .. } => {
                drop(state);
                return self.deliver(callback);
            }
            State::Proxy(_) => {
                drop(state);
                return self.root().add_callback_then(callback, purged);
            }
        };
        // A fresh list (a pending promise's first callback, the usual one): written in place,
        // without the call to `push` and the callback's move through it.
        if let Callbacks::Empty = list {
            *list = Callbacks::One(callback);
            return;
        }
        if !list.is_full() {
            return list.push(callback);
        }
        let dead = list.take_dead();
        list.push(callback);
        // Outside the borrow: a dead waiter's combinator may run code as it goes.
        drop(state);
        purged(dead);
    }

    /// Puts a callback before every other one of this pending root.
    fn prepend_callback(&self, callback: Callback<T>) {
        if let State::Pending { callbacks, .. } = &mut *self.state.borrow_mut() {
            callbacks.push_front(callback);
        }
    }

    /// Registers `waker` unless a waker for the same task is there already, so that polling a
    /// pending promise again and again does not grow its list.
    pub(crate) fn add_waker(self: &Rc<Self>, waker: &Waker) {
        let root = self.root_cow();
        let known = match &*root.state.borrow() {
            State::Pending { callbacks, .. }
            | State::Done {
                to_run: callbacks,
                scheduled: true,
            } => Some(callbacks.has_waker_like(waker)),
            _ => None,
        };
        match known {
            Some(true) => return,
            Some(false) => {}
            None => return waker.wake_by_ref(),
        }
        // Cloned (and woken, below) outside the borrow: a foreign waker's `clone` and `wake` are
        // its executor's code, which may look at this promise.
        let waker = waker.clone();
        let mut state = root.state.borrow_mut();
        let dead = match &mut *state {
            State::Pending { callbacks, .. }
            | State::Done {
                to_run: callbacks,
                scheduled: true,
            } => {
                let dead = if callbacks.is_full() {
                    callbacks.take_dead()
                } else {
                    Vec::new()
                };
                callbacks.push(Callback::Wake(waker));
                dead
            }
            _ => {
                // (Resolved and delivered by the clone's code meanwhile.)
                drop(state);
                return waker.wake();
            }
        };
        drop(state);
        drop(dead);
    }

    fn is_canceled(&self) -> bool {
        matches!(&*self.value.borrow(), Some(Err(e)) if e.is_canceled())
    }

    /// Runs one callback of this resolved root.
    fn deliver(self: &Rc<Self>, callback: Callback<T>) {
        self.deliver_here(callback);
    }

    /// [`deliver`](Self::deliver), inlined into the loop that runs a resolved root's callbacks.
    #[inline(always)]
    fn deliver_here(self: &Rc<Self>, callback: Callback<T>) {
        match callback {
            Callback::Consume(f) => f.call_with(|| self.take_or_clone()),
            Callback::Forward(target) => {
                let _ = target.resolve(self.take_or_clone(), Mode::Later);
            }
            // Called even with the value moved out: an inline poll inside a waker's delivery
            // takes it before an observer its own code queued just then (see
            // `delivering_a_wake`), and `on_termination` was then never called.
            Callback::Observe(f) => f(self.value.borrow().as_ref()),
            Callback::OnCancel(f) => {
                if self.is_canceled() {
                    f();
                }
            }
            Callback::Wake(waker) => {
                // Counted before the wake, for the poll inside it to look at those only: that
                // poll's own code may queue a reader first (a wrapper that observes the promise
                // at each poll), and counted, it deferred the task behind it at every delivery,
                // for ever. (A count, not a look for a reader here: that scanned the rest of the
                // queue at each waker delivered, quadratic in the wakers of one promise.)
                let queued_after = match &*self.state.borrow() {
                    State::Done { to_run, .. } => to_run.len(),
                    _ => 0,
                };
                deliver_wake(Rc::as_ptr(self).cast(), queued_after, waker)
            }
            Callback::Waiter(waiter, index) => {
                if !waiter.is_done() {
                    waiter.wake(index)
                }
            }
        }
    }

    /// While this resolved root delivers a waker: is the value still wanted by one of the first
    /// `queued_after` callbacks queued after it, which a poll that moved it out (no handle was
    /// cloned, so it is not copied) would leave with nothing? An `on_success` registered after a
    /// task's waker was then never called.
    fn value_wanted_later(&self, queued_after: usize) -> bool {
        self.cloner.get().is_none()
            && matches!(&*self.state.borrow(),
                State::Done { to_run, .. } if to_run.has_reader_among_first(queued_after))
    }

    /// Is this root delivering one of its `Wake` callbacks ([`deliver_wake`]), on this thread,
    /// right now? Every callback queued before that waker has run then, so a poll made from
    /// inside the wake (an executor that polls at once) is handed the value: read as pending, it
    /// queued the waker again, whose delivery polled again, for ever. Not while a callback that
    /// reads the value, queued after that waker when its delivery began, is still to run (see
    /// [`value_wanted_later`](Self::value_wanted_later)): the poll then reads as pending, and
    /// the waker is queued again after it.
    pub(crate) fn delivering_a_wake(&self) -> bool {
        let (root, queued_after) = WAKING.get();
        root == std::ptr::from_ref(self).cast() && !self.value_wanted_later(queued_after)
    }

    /// A combinator that waited on this promise finished (see `Callbacks::note_dead_waiter`).
    // One borrow when this node is the root (the usual case), as in `ignores_cancel`.
    pub(crate) fn note_dead_waiter(self: &Rc<Self>) {
        let last_references = match &mut *self.state.borrow_mut() {
            State::Pending { callbacks, .. } => Some(callbacks.note_dead_waiter()),
            State::Done { .. } => return,
            State::Proxy(_) => None,
        };
        match last_references {
            // Outside the borrow: a combinator's last reference may run code as it goes.
            Some(last_references) => drop(last_references),
            None => self.root().note_dead_waiter(),
        }
    }

    /// Resolves this promise (that is, its root). Gives the outcome back if it was resolved already.
    // Inlined, with the proxy's case out of line: as a call of its own around `resolve_root`,
    // its frame cost every `wakeup`, every mailbox hand-over and every bind resolved with a
    // ready promise about 18 instructions.
    #[inline]
    pub(crate) fn resolve(
        self: &Rc<Self>,
        outcome: Outcome<T>,
        mode: Mode,
    ) -> Result<(), Outcome<T>> {
        // This node is usually the root: `resolve_root` refuses a proxy as it refuses a resolved
        // root, and only then is the root looked up.
        match self.resolve_root(outcome, mode) {
            Err(outcome) => self.resolve_refused(outcome, mode),
            done => done,
        }
    }

    /// [`resolve`](Self::resolve) once `resolve_root` refused: through the root if this node is
    /// a proxy, else the outcome is given back (the root was resolved already).
    #[inline(never)]
    fn resolve_refused(self: &Rc<Self>, outcome: Outcome<T>, mode: Mode) -> Result<(), Outcome<T>> {
        if self.is_root() {
            Err(outcome)
        } else {
            self.root().resolve_root(outcome, mode)
        }
    }

    fn resolve_root(self: &Rc<Self>, outcome: Outcome<T>, mode: Mode) -> Result<(), Outcome<T>> {
        let canceled = matches!(&outcome, Err(e) if e.is_canceled());
        // The cancel link taken out of the state is dropped where its binding goes out of
        // scope, at the end of this block: moved on into `drop`, its three words were copied
        // once more through the stack (callgrind: pending-bind, 2 instructions a resolution).
        let scheduled = {
            let (scheduled, _cancel) = {
                let mut state = self.state.borrow_mut();
                let State::Pending { callbacks, cancel } = &mut *state else {
                    return Err(outcome);
                };
                // The list is reordered where it stands and then moved once, straight into
                // `Done`: a reordered copy, chosen by `canceled`, was one more move of it (and of
                // the cancel link) through the stack.
                if canceled {
                    callbacks.put_on_cancel_first();
                }
                let scheduled = !callbacks.is_empty();
                let callbacks = std::mem::take(callbacks);
                let cancel = std::mem::replace(cancel, HowToCancel::NotCancelable);
                let emptied = std::mem::replace(
                    &mut *state,
                    State::Done {
                        to_run: callbacks,
                        scheduled,
                    },
                );
                // `emptied` is `Pending { callbacks: Empty, cancel: NotCancelable }`, which owns
                // nothing: forgetting it skips the drop glue of the whole state enum (every kind
                // of callback, every kind of link), which cost more than the rest of this
                // function.
                std::mem::forget(emptied);
                (scheduled, cancel)
            };
            // Over `None` (a pending root has no outcome yet): forgetting what `replace` takes
            // out skips its drop glue, a test of the outcome's tag and of a rejection's reference.
            let before = self.value.borrow_mut().replace(outcome);
            debug_assert!(before.is_none(), "a pending root holds no outcome");
            std::mem::forget(before);
            // The cancel link is dropped here, outside the borrow, and after the outcome is
            // stored: it is what kept the promise this one waited on alive (a bind's result and
            // its source form a cycle until now), and dropping it may free that promise and a
            // value whose `drop` looks at this one, which must then find it resolved with its
            // outcome.
            scheduled
        };
        if !scheduled {
            return Ok(());
        }
        let queued = || -> Rc<dyn Job> { self.clone() };
        schedule::run_job_with(mode, || self.run_callbacks(), queued);
        Ok(())
    }

    /// Makes this promise (the result of a bind-like operation) the same promise as `promise`
    /// (what its callback returned). Resolved: copy the outcome. Pending: merge the two roots.
    ///
    /// Always inlined, into a bind continuation's `call_or_drop`: as a call its frame cost 13
    /// instructions (callgrind: pending-bind 911 → 892 instructions per bind inlined).
    #[inline(always)]
    pub(crate) fn resolve_with(self: &Rc<Self>, promise: Promise<T>) {
        let inner = match promise.0 {
            Repr::Ready(outcome) => {
                let _ = self.resolve(outcome, Mode::Later);
                return;
            }
            Repr::Node(node) if node.is_root() => node,
            Repr::Node(node) => node.root(),
        };
        let outer = self.root_cow();
        if Rc::ptr_eq(&inner, &outer) {
            // A promise resolved with itself stays pending, as in Lwt.
            return;
        }
        // Both pending (the usual case): merged. (`absorb` checks, with the borrows it takes
        // anyway: asking each node's phase first was two more borrows.)
        if outer.absorb(&inner) {
            return;
        }
        // Copy the outcome over when it is there, in registration order with inner's own
        // callbacks. (`outer` can only be resolved already if it was canceled: then this
        // resolution is a silent no-op, like a wakeup on a canceled promise.)
        let outer = outer.into_owned();
        inner.add_callback(Callback::Forward(outer));
    }

    /// Merges the pending root `inner` into the pending root `self`: `inner` becomes a proxy, its
    /// callbacks run first (usually registered before it was returned; not always, when it existed
    /// before the bind and got callbacks later: see `resolver`'s docs), its cancel link replaces
    /// ours (once a bind's callback has run, canceling the bind reaches what the callback returned).
    ///
    /// The direction matters for memory: in a recursive loop the outermost promise stays the root
    /// and each iteration's promise is absorbed into it and then freed, so the loop runs in
    /// constant memory without anyone following the proxies.
    ///
    /// Does nothing and answers `false` unless both roots are pending.
    fn absorb(self: &Rc<Self>, inner: &Rc<Self>) -> bool {
        // Both states borrowed at once (two distinct nodes: `resolve_with` checked), so that the
        // fields move from one to the other where they stand: the whole of inner's state moved
        // out through the stack and then split cost more than the merge itself.
        // The old link is dropped where its binding goes out of scope, at the end of this
        // function, outside the borrows: it may be the last reference to a node. (Moved on into
        // `drop`, its three words were copied once more through the stack.)
        let _old_cancel = {
            let mut inner_state = inner.state.borrow_mut();
            let mut outer_state = self.state.borrow_mut();
            let (
                State::Pending {
                    callbacks: inner_callbacks,
                    cancel: inner_cancel,
                },
                State::Pending { callbacks, cancel },
            ) = (&mut *inner_state, &mut *outer_state)
            else {
                return false;
            };
            // Usually the returned promise is fresh, with no callback of its own: then the list
            // stays as it is, with no move of either list. Otherwise the shorter list moves: in
            // a recursive loop whose every level's promise has a callback of its own, the outer
            // list grows by one per level, and moving it behind each level's made the loop
            // quadratic. (Any list, even an emptied one, is taken out: what is left owns
            // nothing.)
            if !matches!(inner_callbacks, Callbacks::Empty) {
                let inner_callbacks = std::mem::take(inner_callbacks);
                if inner_callbacks.len() <= callbacks.len() {
                    callbacks.prepend(inner_callbacks);
                } else {
                    let outer_callbacks = std::mem::replace(callbacks, inner_callbacks);
                    callbacks.append(outer_callbacks);
                }
            }
            let inner_cancel = std::mem::replace(inner_cancel, HowToCancel::NotCancelable);
            let old_cancel = std::mem::replace(cancel, inner_cancel);
            // `Pending { callbacks: Empty, cancel: NotCancelable }` owns nothing: as in
            // `resolve_root`, its drop glue is skipped.
            std::mem::forget(std::mem::replace(
                &mut *inner_state,
                State::Proxy(Some(self.clone())),
            ));
            old_cancel
        };
        if self.cloner.get().is_none() {
            self.cloner.set(inner.cloner.get());
        }
        true
    }

    /// Cancels this promise: walks the cancel links backwards (iteratively, so a chain of any
    /// length is fine) and rejects every pending task found with `Canceled`. All states change
    /// before any callback runs, so a promise reached twice (a diamond) is canceled once.
    pub(crate) fn cancel(self: &Rc<Self>) {
        if !self.ignores_cancel() {
            cancel_from(self.clone());
        }
    }

    /// Does a cancel of this promise do nothing at all? A resolved promise or a pending `wait()`
    /// promise ignores it and propagates it nowhere: the walk and its setup are skipped (a
    /// `pick` whose loser is a `wait()` promise does this on every call).
    ///
    /// One borrow when this node is the root (the usual case): through `root_cow`, its `Cow`
    /// and a second borrow cost every loser of every `pick`.
    pub(crate) fn ignores_cancel(self: &Rc<Self>) -> bool {
        match &*self.state.borrow() {
            State::Done { .. }
            | State::Pending {
                cancel: HowToCancel::NotCancelable,
                ..
            } => return true,
            State::Pending { .. } => return false,
            State::Proxy(_) => {}
        }
        // Outside the borrow: the lookup compresses this proxy's path.
        self.root().ignores_cancel()
    }

    /// Makes `node` a fresh pending node again, if it is resolved, every callback of it has run,
    /// and `node` is its only handle (no promise, resolver, proxy, cancel link or weak link
    /// names it): then nobody can tell it from a new node. The loop reuses a woken pause's node
    /// for the next pause this way, which saves a `malloc` and a `free` per pause. `None` if the
    /// node is still shared or not idle: this handle on it is then dropped, and the node left as
    /// it is.
    // Inlined into its one caller, the loop's wake-up of a pause.
    #[inline]
    pub(crate) fn renew(mut node: Rc<Self>, cancel: HowToCancel) -> Option<Rc<Self>> {
        let fresh = Rc::get_mut(&mut node)?;
        let state = fresh.state.get_mut();
        match state {
            State::Done {
                to_run,
                scheduled: false,
            } if to_run.is_empty() => {}
            _ => return None,
        }
        let done = std::mem::replace(
            state,
            State::Pending {
                callbacks: Callbacks::Empty,
                cancel,
            },
        );
        // `Done` with nothing to run owns nothing: as in `resolve_root`, skip its drop glue.
        std::mem::forget(done);
        *fresh.value.get_mut() = None;
        fresh.cloner.set(None);
        Some(node)
    }

    /// Replaces the cancel behaviour of this pending root (a relay moving on to its next wait).
    pub(crate) fn set_cancel(&self, how: HowToCancel) {
        let old = match &mut *self.state.borrow_mut() {
            State::Pending { cancel, .. } => std::mem::replace(cancel, how),
            _ => return,
        };
        drop(old);
    }
}

/// Cancels what `start` stands for (a promise's root, or a runtime structure that waits on
/// promises): the walk of [`Node::cancel`], for a caller that only kept the type-erased link.
pub(crate) fn cancel_from(start: Rc<dyn Cancelable>) {
    // `settle`, not `batch`: inside a callback too, every callback the cancel reaches has run
    // when `cancel` returns, as Lwt's cancel never defers (`allow_deferring:false`), and as a
    // `wakeup` made there runs its callbacks nested.
    schedule::settle(move || {
        // A merge can make a pending promise wait on itself (a bind whose callback returns a
        // promise derived from the bind's own result): its cancel links then form a cycle,
        // which the walk must not follow forever. No node is created during the walk, so an
        // address names one root.
        let mut visited = Visited::new();
        // The start is visited before the work list exists: canceling a task or a `wait`
        // promise (a leaf, the common case in `pick`) allocates nothing.
        let mut work = Vec::new();
        start.cancel_step(&mut work, &mut visited);
        while let Some(node) = work.pop() {
            node.cancel_step(&mut work, &mut visited);
        }
    });
}

impl<T: 'static> Cancelable for Node<T> {
    fn cancel_step(self: Rc<Self>, next: &mut Vec<Rc<dyn Cancelable>>, visited: &mut Visited) {
        let root = self.root_cow();
        let mut tell = None;
        let cancel_this = match &*root.state.borrow() {
            State::Pending { cancel, .. } => match cancel {
                HowToCancel::NotCancelable => false,
                HowToCancel::CancelThis => true,
                HowToCancel::CancelThisAndTell(listener) => {
                    tell = Some(listener.clone());
                    true
                }
                _ if !visited.insert(Rc::as_ptr(&root).cast::<()>()) => false,
                HowToCancel::Propagate(to) => {
                    next.push(to.clone());
                    false
                }
            },
            _ => false,
        };
        if cancel_this {
            if let Some(listener) = tell {
                // First in line, as an `on_cancel` registered at creation would have been.
                root.prepend_callback(Callback::OnCancel(Box::new(move || {
                    if let Some(listener) = listener.upgrade() {
                        crate::hook::guard(|| listener.canceled());
                    }
                })));
            }
            let _ = root.resolve_root(Err(Exn::canceled()), Mode::Later);
        }
    }
}

impl<T: 'static> Job for Node<T> {
    fn run(self: Rc<Self>) {
        self.run_callbacks();
    }
}

impl<T: 'static> Node<T> {
    /// Runs the queued callbacks of this resolved root, in order, including those registered
    /// while they run; then marks the root idle.
    fn run_callbacks(self: &Rc<Self>) {
        let requeue = Requeue(self);
        loop {
            let next = match &mut *self.state.borrow_mut() {
                State::Done { to_run, scheduled } => {
                    let next = to_run.pop_front();
                    if next.is_none() {
                        *scheduled = false;
                    }
                    next
                }
                _ => unreachable!("only resolved roots are scheduled"),
            };
            match next {
                // Delivered here (`deliver_here`, always inlined): through a call of `deliver`
                // the callback was moved into that call's frame and again out of it (callgrind:
                // a continuation's six words copied twice more per callback).
                Some(callback) => self.deliver_here(callback),
                None => {
                    std::mem::forget(requeue);
                    return;
                }
            }
        }
    }
}

/// Only a panicking async exception hook can unwind out of a callback's delivery (see
/// `schedule`). Then the node goes back to the head of the queue, still scheduled, and the
/// callbacks after the one that panicked run when the loop goes on, instead of never.
struct Requeue<'a, T: 'static>(&'a Rc<Node<T>>);

impl<T: 'static> Drop for Requeue<'_, T> {
    fn drop(&mut self) {
        schedule::requeue_first(self.0.clone());
    }
}

impl Node<()> {
    /// `resolve(Ok(()), Mode::Now)` for a woken pause. When its only callback is a consumer
    /// (`pause().bind(f)`, the usual yield), the handle never cloned and the cancel link owning
    /// nothing, that callback is taken out and called with the value at once, instead of being
    /// moved into `Done`'s list, popped out of it and handed the value stored and taken again:
    /// every state a callback could see is the same as the general path's.
    #[inline]
    pub(crate) fn wake_pause(self: &Rc<Self>) {
        if self.lone_consumer_waits()
            && schedule::run_now_in_place(|| self.deliver_to_lone_consumer())
        {
            return;
        }
        let _ = self.resolve(Ok(()), Mode::Now);
    }

    /// Is this a pending root, never cloned, whose one callback consumes the value and whose
    /// cancel link owns nothing?
    #[inline]
    fn lone_consumer_waits(&self) -> bool {
        self.cloner.get().is_none()
            && matches!(
                &*self.state.borrow(),
                State::Pending {
                    callbacks: Callbacks::One(Callback::Consume(_)),
                    cancel: HowToCancel::CancelThis,
                }
            )
    }

    /// [`wake_pause`](Self::wake_pause)'s job, run in place: resolved, then the consumer called.
    /// No code runs between the two (the cancel link owns nothing), and the value that consumer
    /// would take out at once is never stored.
    // Out of line: inlined into `wake_pause`'s callers, its placeholder's code moved LLVM's
    // inlining choices elsewhere (`schedule::settle`, `Node::pending_in_place`: line-echo +0.65 %
    // instructions). Out of line, yield-loop still gains (937 -> 927 instructions).
    #[inline(never)]
    fn deliver_to_lone_consumer(self: &Rc<Self>) {
        let f = {
            let mut state = self.state.borrow_mut();
            let State::Pending {
                callbacks: Callbacks::One(Callback::Consume(f)),
                ..
            } = &mut *state
            else {
                unreachable!("checked by lone_consumer_waits");
            };
            // The closure is taken out of its slot in the node, not with the whole list: moved by
            // value, the list went through a stack copy written in 16-byte pieces and read back
            // from its 8th byte, and each such read waited for those stores to reach the cache
            // (a failed store-to-load forward: 38 % of this job's samples in a yield-loop
            // profile, for no extra instruction). The no-op placeholder owns nothing, so
            // `Pending { callbacks: One(placeholder), cancel: CancelThis }` owns nothing.
            let f = std::mem::replace(f, OnceFn::new(|_| {}));
            std::mem::forget(std::mem::replace(
                &mut *state,
                State::Done {
                    to_run: Callbacks::Empty,
                    scheduled: true,
                },
            ));
            f
        };
        let requeue = Requeue(self);
        f.call_with(|| Ok(()));
        std::mem::forget(requeue);
        // The callbacks the consumer added meanwhile, if any, and the end of the delivery.
        self.run_callbacks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// Every pending promise pays for these: the memory figures of `tests/guarantees.rs` (bytes
    /// per level of a catch loop, per pending timer...) follow them. The first callback's
    /// continuation is stored inline (`once_fn`) within these 14 words.
    #[test]
    fn the_cancel_link_and_the_node_stay_small() {
        assert_eq!(size_of::<HowToCancel>(), 3 * size_of::<usize>());
        assert_eq!(size_of::<Node<u64>>(), 14 * size_of::<usize>());
    }
}
