//! The callback list a pending promise keeps, and the kinds of callback.
//!
//! Most promises have exactly one callback (the `bind` that waits on them), so the list stores one
//! callback inline and only allocates a queue from the second on. The queue is a `VecDeque` because
//! the loop runs callbacks from the front while callbacks registered meanwhile go to the back. A
//! `bind`'s continuation is an [`OnceFn`], which keeps a closure of up to four words inline: the
//! usual pending bind allocates its result node and nothing else.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::task::Waker;

use crate::exn::Exn;
use crate::node::Node;
use crate::once_fn::OnceFn;

/// How many of a list's last entries [`Callbacks::has_waker_like`] compares with a new waker.
const RECENT_WAKERS: usize = 8;

/// What a promise ends with.
pub(crate) type Outcome<T> = Result<T, Exn>;

/// A callback that looks at an outcome without taking it. `None` once a value was moved out (a
/// handle never cloned, whose only consumer took it first): the promise was fulfilled, and an
/// observer that needs no value (`on_termination`) must still run.
pub(crate) type ObserveFn<T> = Box<dyn FnOnce(Option<&Outcome<T>>)>;

/// One registration on a promise.
pub(crate) enum Callback<T> {
    /// Takes the outcome by value: `bind`, `map`, `catch`... For a promise whose value is not
    /// `Clone` there is at most one of these (the handle is consumed to register it), so it can
    /// be given the value itself; otherwise each one gets a clone.
    Consume(OnceFn<Outcome<T>>),
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
        match self {
            Callback::Waiter(w, _) => w.is_done(),
            Callback::Wake(w) => crate::future::is_finished_task_waker(w),
            _ => false,
        }
    }
}

/// An ordered list of callbacks, allocation-free for zero or one entry.
#[derive(Default)]
pub(crate) enum Callbacks<T> {
    #[default]
    Empty,
    One(Callback<T>),
    /// The queue. (No count of dead waiters is kept beside it: at four words, the queue fits
    /// beside a callback's tag, so a list takes no more room than one callback, and a node
    /// stays at 14 words with its first continuation stored inline.)
    Many(VecDeque<Callback<T>>),
}

impl<T> Callbacks<T> {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Callbacks::Empty => true,
            Callbacks::One(_) => false,
            Callbacks::Many(q) => q.is_empty(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Callbacks::Empty => 0,
            Callbacks::One(_) => 1,
            Callbacks::Many(q) => q.len(),
        }
    }

    /// Appends a callback. (A caller that finds the list [`full`](Self::is_full) takes its dead
    /// waiters out first, with [`take_dead`](Self::take_dead).)
    pub(crate) fn push(&mut self, callback: Callback<T>) {
        match self {
            Callbacks::Empty => *self = Callbacks::One(callback),
            Callbacks::Many(q) => q.push_back(callback),
            Callbacks::One(_) => {
                let Callbacks::One(first) = std::mem::take(self) else {
                    unreachable!("matched One")
                };
                let mut q = VecDeque::with_capacity(4);
                q.push_back(first);
                q.push_back(callback);
                *self = Callbacks::Many(q);
            }
        }
    }

    /// Would the next `push` grow the queue? Then the dead waiters that `note_dead_waiter`
    /// could not reach (between live callbacks) should go first.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        matches!(self, Callbacks::Many(q) if q.len() == q.capacity())
    }

    /// Takes the dead waiters out (and the duplicate wakers), keeping the order of the rest, and gives them to the caller
    /// to drop once it no longer borrows the node: dropping a combinator's last reference can
    /// run code (an abandoned resolver resolving its promise) that uses the node. If that leaves
    /// the queue more than half full, it grows anyway, so that the next purge is at least as
    /// many pushes away as this one scanned: O(1) amortized work per push. The capacity thus
    /// stays within about twice the most callbacks the list had live at once.
    #[cold]
    pub(crate) fn take_dead(&mut self) -> Vec<Callback<T>> {
        let Callbacks::Many(q) = self else {
            return Vec::new();
        };
        let mut dead = Vec::new();
        let mut live = VecDeque::with_capacity(q.capacity());
        // The wakers kept so far, by what they wake (data and vtable, as `Waker::will_wake`
        // compares them): a later one waking the same task is a duplicate, and the first
        // keeps its place.
        let mut wakers = HashSet::new();
        for c in q.drain(..) {
            let duplicate = match &c {
                Callback::Wake(w) => {
                    !wakers.insert((w.data() as usize, std::ptr::from_ref(w.vtable()) as usize))
                }
                _ => false,
            };
            if duplicate || c.is_dead() {
                dead.push(c);
            } else {
                live.push_back(c);
            }
        }
        if live.len() * 2 > live.capacity() {
            live.reserve(live.len());
        }
        *q = live;
        dead
    }

    pub(crate) fn push_front(&mut self, callback: Callback<T>) {
        match std::mem::take(self) {
            Callbacks::Empty => *self = Callbacks::One(callback),
            Callbacks::One(second) => {
                let mut q = VecDeque::with_capacity(4);
                q.push_back(callback);
                q.push_back(second);
                *self = Callbacks::Many(q);
            }
            Callbacks::Many(mut q) => {
                q.push_front(callback);
                *self = Callbacks::Many(q);
            }
        }
    }

    // Inlined (as the other small steps of a resolution): without link-time optimization a
    // generic helper of this crate often stays a call in the user's crate, and this one runs
    // twice per resolution (see `benches/peers.rs`, bench/HISTORY.md "Changes", session 19).
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Callback<T>> {
        match std::mem::take(self) {
            Callbacks::Empty => None,
            Callbacks::One(only) => Some(only),
            Callbacks::Many(mut q) => {
                let first = q.pop_front();
                if !q.is_empty() {
                    *self = Callbacks::Many(q);
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

    /// Puts `earlier` in front of this list, in its order: O(length of `earlier`), where
    /// [`append`](Self::append) costs the length of what it appends.
    pub(crate) fn prepend(&mut self, earlier: Callbacks<T>) {
        if earlier.is_empty() {
            return;
        }
        let mut q = match std::mem::take(self) {
            Callbacks::Empty => {
                *self = earlier;
                return;
            }
            Callbacks::One(only) => {
                let mut q = VecDeque::with_capacity(earlier.len() + 1);
                q.push_back(only);
                q
            }
            Callbacks::Many(q) => q,
        };
        match earlier {
            Callbacks::Empty => {}
            Callbacks::One(c) => q.push_front(c),
            Callbacks::Many(e) => {
                for c in e.into_iter().rev() {
                    q.push_front(c);
                }
            }
        }
        *self = Callbacks::Many(q);
    }

    /// Keeps the `on_cancel` callbacks first (in their order), then the rest (in theirs): Lwt
    /// runs cancel handlers before the regular callbacks of a canceled promise.
    /// In place, and out of line: the list stays where it is in the node's state, which is then
    /// moved once, canceled or not (see `Node::resolve_root`).
    #[cold]
    #[inline(never)]
    pub(crate) fn put_on_cancel_first(&mut self) {
        if let Callbacks::Many(q) = self {
            if q.iter().any(Callback::is_on_cancel) {
                let (mut first, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(q)
                    .into_iter()
                    .partition(Callback::is_on_cancel);
                first.extend(rest);
                *q = first;
            }
        }
    }

    /// Is a callback that reads the outcome (not a waker, not an `on_cancel` handler) among the
    /// first `n` queued?
    pub(crate) fn has_reader_among_first(&self, n: usize) -> bool {
        let reads = |c: &Callback<T>| !matches!(c, Callback::Wake(_) | Callback::OnCancel(_));
        match self {
            Callbacks::Empty => false,
            Callbacks::One(c) => n > 0 && reads(c),
            Callbacks::Many(q) => q.iter().take(n).any(reads),
        }
    }

    /// Is there already a waker among the list's last [`RECENT_WAKERS`] entries that wakes the
    /// same task as `waker`? Only the last few are looked at: a task polling the promise again
    /// with nothing registered since finds its waker at the end, and the whole list scanned at
    /// every poll made N tasks awaiting one promise cost O(N²) (80,000 tasks: 2 s). A waker
    /// registered again further back is a duplicate that [`take_dead`](Self::take_dead) drops.
    pub(crate) fn has_waker_like(&self, waker: &Waker) -> bool {
        let same = |c: &Callback<T>| matches!(c, Callback::Wake(w) if w.will_wake(waker));
        match self {
            Callbacks::Empty => false,
            Callbacks::One(c) => same(c),
            Callbacks::Many(q) => q.iter().rev().take(RECENT_WAKERS).any(same),
        }
    }

    /// A combinator waiting here finished: dead waiters leave from both ends of the list. Each
    /// entry leaves once, so this is O(1) amortized; dead waiters between live callbacks leave
    /// when the queue would grow (`take_dead`). So a promise that outlives a million `choose`s
    /// or `protected`s keeps none of their callbacks if they finish newest first or oldest
    /// first, and in any order keeps at most about twice the most it had live at once.
    ///
    /// A waiter is dropped here, under the node's borrow, only if it is not the last reference
    /// to its combinator (the usual case: the combinator is the one calling, and holds itself).
    /// A last reference is given back, to be dropped once the borrow ends (see `take_dead`);
    /// `None` when there is none.
    pub(crate) fn note_dead_waiter(&mut self) -> Option<Vec<Callback<T>>> {
        match self {
            Callbacks::Empty => None,
            // The usual case (a `pick` over a long-lived promise): the one callback, a waiter,
            // taken out by its variant, so that its drop is the `Rc`'s and not the out-of-line
            // drop of a whole callback; and nothing to give back, without building an empty
            // vector whose drop the caller would call.
            Callbacks::One(c) => {
                if !c.is_dead() {
                    return None;
                }
                match std::mem::take(self) {
                    Callbacks::One(Callback::Waiter(w, index)) => {
                        if Rc::strong_count(&w) == 1 {
                            Some(vec![Callback::Waiter(w, index)])
                        } else {
                            drop(w);
                            None
                        }
                    }
                    // A finished task's waker: dropped here, as it runs no code of ours.
                    other => {
                        drop(other);
                        None
                    }
                }
            }
            Callbacks::Many(q) => {
                let mut last_references = Vec::new();
                let mut release = |c: Callback<T>| {
                    if matches!(&c, Callback::Waiter(w, _) if Rc::strong_count(w) == 1) {
                        last_references.push(c);
                    }
                };
                while let Some(c) = q.pop_back_if(|c| c.is_dead()) {
                    release(c);
                }
                while let Some(c) = q.pop_front_if(|c| c.is_dead()) {
                    release(c);
                }
                if q.is_empty() {
                    *self = Callbacks::Empty;
                }
                (!last_references.is_empty()).then_some(last_references)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A combinator stand-in that counts how often its liveness is asked.
    struct Probe {
        done: Cell<bool>,
        asked: Rc<Cell<usize>>,
    }

    impl Waiter for Probe {
        fn wake(self: Rc<Self>, _index: usize) {}
        fn is_done(&self) -> bool {
            self.asked.set(self.asked.get() + 1);
            self.done.get()
        }
    }

    fn probe(asked: &Rc<Cell<usize>>) -> Rc<Probe> {
        Rc::new(Probe {
            done: Cell::new(false),
            asked: asked.clone(),
        })
    }

    /// `Node::add_callback`'s way of pushing: the dead waiters go first when the list is full.
    fn push(list: &mut Callbacks<u32>, callback: Callback<u32>) -> usize {
        let dead = if list.is_full() {
            list.take_dead()
        } else {
            Vec::new()
        };
        list.push(callback);
        dead.len()
    }

    /// How many dead waiters `note_dead_waiter` takes out.
    fn pop_dead(list: &mut Callbacks<u32>) -> usize {
        let before = list.len();
        drop(list.note_dead_waiter());
        before - list.len()
    }

    /// `prepend` keeps both lists' orders, the earlier one first, from every shape of either.
    #[test]
    fn prepend_puts_the_earlier_list_first_in_order() {
        let asked = Rc::new(Cell::new(0));
        // Each entry's input index names it.
        let list = |ids: &[usize]| {
            let mut l = Callbacks::<u32>::Empty;
            for &id in ids {
                l.push(Callback::Waiter(probe(&asked), id));
            }
            l
        };
        let ids = |mut l: Callbacks<u32>| {
            let mut out = Vec::new();
            while let Some(c) = l.pop_front() {
                match c {
                    Callback::Waiter(_, id) => out.push(id),
                    _ => unreachable!("only waiters here"),
                }
            }
            out
        };
        for earlier in [&[][..], &[1], &[1, 2, 3]] {
            for later in [&[][..], &[7], &[7, 8, 9]] {
                let mut l = list(later);
                l.prepend(list(earlier));
                let want: Vec<usize> = earlier.iter().chain(later).copied().collect();
                assert_eq!(ids(l), want, "{earlier:?} before {later:?}");
            }
        }
    }

    /// Many live callbacks, and one dead waiter between live ones per push: the purge before a
    /// full queue grows must not rescan the whole queue on every push.
    #[test]
    fn purging_dead_waiters_is_amortized_constant_work_per_push() {
        let asked = Rc::new(Cell::new(0));
        let mut list = Callbacks::<u32>::Empty;
        let mut dropped = 0;
        for _ in 0..1000 {
            dropped += push(&mut list, Callback::Waiter(probe(&asked), 0));
        }
        let mut previous = probe(&asked);
        dropped += push(&mut list, Callback::Waiter(previous.clone(), 0));
        let rounds = 5000;
        for _ in 0..rounds {
            let next = probe(&asked);
            dropped += push(&mut list, Callback::Waiter(next.clone(), 0));
            previous.done.set(true);
            dropped += pop_dead(&mut list);
            previous = next;
        }
        assert_eq!(
            dropped + list.len(),
            1001 + rounds,
            "every callback is kept or given back"
        );
        assert!(
            list.len() <= 2 * 1002 + 4,
            "{} entries for 1002 live",
            list.len()
        );
        let per_push = asked.get() as f64 / (1001 + rounds) as f64;
        assert!(per_push < 8.0, "{per_push:.1} liveness checks per push");
    }

    /// The single-callback path of `note_dead_waiter` (rev131): a live waiter stays, a dead one
    /// that is not the last reference to its combinator is dropped in place, and a last
    /// reference is given back.
    #[test]
    fn a_lone_dead_waiter_leaves_and_only_a_last_reference_is_given_back() {
        let asked = Rc::new(Cell::new(0));
        let p = probe(&asked);
        let mut list = Callbacks::<u32>::Empty;
        list.push(Callback::Waiter(p.clone(), 0));
        assert!(list.note_dead_waiter().is_none());
        assert_eq!(list.len(), 1, "a live waiter stays");
        p.done.set(true);
        assert!(list.note_dead_waiter().is_none(), "not the last reference");
        assert!(matches!(list, Callbacks::Empty));
        assert_eq!(Rc::strong_count(&p), 1, "dropped in place");
        let mut list = Callbacks::<u32>::Empty;
        list.push(Callback::Waiter(p, 7));
        let given_back = list.note_dead_waiter().expect("the last reference");
        assert!(matches!(list, Callbacks::Empty));
        assert!(matches!(given_back.as_slice(), [Callback::Waiter(_, 7)]));
    }

    #[test]
    fn dead_waiters_leave_from_the_ends_and_only_last_references_are_given_back() {
        let asked = Rc::new(Cell::new(0));
        let probes: Vec<Rc<Probe>> = (0..4).map(|_| probe(&asked)).collect();
        let mut list = Callbacks::<u32>::Empty;
        for (i, p) in probes.iter().enumerate() {
            assert_eq!(push(&mut list, Callback::Waiter(p.clone(), i)), 0);
        }
        probes[1].done.set(true);
        assert_eq!(pop_dead(&mut list), 0, "between live ones: stays for now");
        probes[0].done.set(true);
        assert!(
            list.note_dead_waiter().is_none(),
            "not last references: dropped in place"
        );
        assert_eq!(Rc::strong_count(&probes[0]), 1);
        assert_eq!(list.len(), 2);
        probes[2].done.set(true);
        probes[3].done.set(true);
        let [_, _, p2, p3] = <[Rc<Probe>; 4]>::try_from(probes).ok().unwrap();
        drop(p3); // the list now holds the last reference to this one
        let given_back = list.note_dead_waiter().unwrap_or_default();
        assert_eq!(given_back.len(), 1, "the last reference is given back");
        assert_eq!(Rc::strong_count(&p2), 1);
        assert!(matches!(list, Callbacks::Empty));
    }
}
