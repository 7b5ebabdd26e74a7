//! The callback list a pending promise keeps, and the kinds of callback.
//!
//! Most promises have exactly one callback (the `bind` that waits on them), so the list stores one
//! callback inline and only allocates a queue from the second on. The queue is a `VecDeque` because
//! the loop runs callbacks from the front while callbacks registered meanwhile go to the back.

use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

use crate::exn::Exn;
use crate::node::Node;

/// What a promise ends with.
pub(crate) type Outcome<T> = Result<T, Exn>;

/// A callback that looks at an outcome without taking it.
pub(crate) type ObserveFn<T> = Box<dyn FnOnce(&Outcome<T>)>;

/// One registration on a promise.
pub(crate) enum Callback<T> {
    /// Takes the outcome by value: `bind`, `map`, `catch`... For a promise whose value is not
    /// `Clone` there is at most one of these (the handle is consumed to register it), so it can
    /// be given the value itself; otherwise each one gets a clone.
    Consume(Box<dyn FnOnce(Outcome<T>)>),
    /// Resolves another promise with this one's outcome: a bind whose callback returned a
    /// promise that is resolved but still has callbacks queued (no closure to allocate).
    Forward(Rc<Node<T>>),
    /// Looks at the outcome: `on_success`, `on_failure`, `on_any`...
    Observe(ObserveFn<T>),
    /// Runs only if the promise is canceled, before every other callback (`on_cancel`).
    OnCancel(Box<dyn FnOnce()>),
    /// An async task awaiting the promise.
    Wake(Waker),
    /// A combinator (choose, join, protected...) waiting on this promise as its input `usize`.
    /// It does not take the value: the combinator owns the input's handle and reads it itself.
    /// Once the combinator is done, the callback is dead and may be purged unrun.
    Waiter(Rc<dyn Waiter>, usize),
}

/// The state of a combinator that waits on several promises.
pub(crate) trait Waiter {
    /// Input `index` has resolved.
    fn wake(self: Rc<Self>, index: usize);
    /// Has the combinator finished, so that its remaining callbacks are dead?
    fn is_done(&self) -> bool;
}

impl<T> Callback<T> {
    fn is_on_cancel(&self) -> bool {
        matches!(self, Callback::OnCancel(_))
    }

    fn is_dead(&self) -> bool {
        matches!(self, Callback::Waiter(w, _) if w.is_done())
    }
}

/// An ordered list of callbacks, allocation-free for zero or one entry.
#[derive(Default)]
pub(crate) enum Callbacks<T> {
    #[default]
    Empty,
    One(Callback<T>),
    /// The queue, and how many of its waiters were reported dead since the last purge.
    Many(VecDeque<Callback<T>>, usize),
}

impl<T> Callbacks<T> {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Callbacks::Empty => true,
            Callbacks::One(_) => false,
            Callbacks::Many(q, _) => q.is_empty(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Callbacks::Empty => 0,
            Callbacks::One(_) => 1,
            Callbacks::Many(q, _) => q.len(),
        }
    }

    pub(crate) fn push(&mut self, callback: Callback<T>) {
        match std::mem::take(self) {
            Callbacks::Empty => *self = Callbacks::One(callback),
            Callbacks::One(first) => {
                let mut q = VecDeque::with_capacity(4);
                q.push_back(first);
                q.push_back(callback);
                *self = Callbacks::Many(q, 0);
            }
            Callbacks::Many(mut q, dead) => {
                q.push_back(callback);
                *self = Callbacks::Many(q, dead);
            }
        }
    }

    pub(crate) fn push_front(&mut self, callback: Callback<T>) {
        match std::mem::take(self) {
            Callbacks::Empty => *self = Callbacks::One(callback),
            Callbacks::One(second) => {
                let mut q = VecDeque::with_capacity(4);
                q.push_back(callback);
                q.push_back(second);
                *self = Callbacks::Many(q, 0);
            }
            Callbacks::Many(mut q, dead) => {
                q.push_front(callback);
                *self = Callbacks::Many(q, dead);
            }
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Callback<T>> {
        match std::mem::take(self) {
            Callbacks::Empty => None,
            Callbacks::One(only) => Some(only),
            Callbacks::Many(mut q, dead) => {
                let first = q.pop_front();
                if !q.is_empty() {
                    *self = Callbacks::Many(q, dead);
                }
                first
            }
        }
    }

    /// Appends `later` after `self`, keeping both orders.
    pub(crate) fn append(&mut self, mut later: Callbacks<T>) {
        if self.is_empty() {
            *self = later;
            return;
        }
        while let Some(callback) = later.pop_front() {
            self.push(callback);
        }
    }

    /// Keeps the `on_cancel` callbacks first (in their order), then the rest (in theirs): Lwt
    /// runs cancel handlers before the regular callbacks of a canceled promise.
    pub(crate) fn on_cancel_first(self) -> Callbacks<T> {
        match self {
            Callbacks::Many(q, dead) if q.iter().any(Callback::is_on_cancel) => {
                let (mut first, rest): (VecDeque<_>, VecDeque<_>) =
                    q.into_iter().partition(Callback::is_on_cancel);
                first.extend(rest);
                Callbacks::Many(first, dead)
            }
            other => other,
        }
    }

    /// Is there already a waker in the list that wakes the same task as `waker`?
    pub(crate) fn has_waker_like(&self, waker: &Waker) -> bool {
        let same = |c: &Callback<T>| matches!(c, Callback::Wake(w) if w.will_wake(waker));
        match self {
            Callbacks::Empty => false,
            Callbacks::One(c) => same(c),
            Callbacks::Many(q, _) => q.iter().any(same),
        }
    }

    /// A combinator waiting here finished. Dead waiters are purged once they are at least half
    /// of the list (so the purge costs O(1) per death, amortized), and as soon as all are dead:
    /// a promise that outlives a million `choose`s or `protected`s does not keep their callbacks.
    pub(crate) fn note_dead_waiter(&mut self) {
        match self {
            Callbacks::Empty => {}
            Callbacks::One(c) => {
                if c.is_dead() {
                    *self = Callbacks::Empty;
                }
            }
            Callbacks::Many(q, dead) => {
                *dead += 1;
                if *dead * 2 >= q.len() {
                    q.retain(|c| !c.is_dead());
                    *dead = 0;
                    if q.is_empty() {
                        *self = Callbacks::Empty;
                    }
                }
            }
        }
    }
}
