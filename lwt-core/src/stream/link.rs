//! The link under a stream made by a synchronous [`map`](super::Stream::map),
//! [`filter`](super::Stream::filter) or [`filter_map`](super::Stream::filter_map).
//!
//! Lwt builds these as `from (fun () -> get s >|= f)`: every element the derived stream waits for
//! costs a read promise on the source, a `map` promise over it and a continuation. Here the
//! derived stream's generator is a `Link` that holds the source's cursor and talks to both streams
//! directly:
//!
//! * asked for an element ([`Upstream::request`]), it takes one from the source at once if the
//!   source has it, and applies `f` there;
//! * otherwise it files itself in the source cursor's queue of reads ([`Feed`]), in turn with the
//!   other reads. The source hands it the element under its own borrow, so the link only stores
//!   it and schedules itself as a job; the job applies `f` with no borrow held and gives the
//!   result to the derived stream ([`Shared::answer`]).
//!
//! A waiting element thus costs no allocation at all between the two streams. The behaviour is
//! Lwt's: `f` runs once per element, in order, when a reader of the derived stream needs one; a
//! panic in `f` fails the derived stream like a failing generator; the end of the source ends it.
//!
//! Ownership: the derived stream owns the link (as its generator), the link holds the source's
//! cursor, which the source's own handles share (`map` borrows the stream, as Lwt's leaves it
//! readable: the link's requests take turns with the other reads of that cursor). While a
//! request is filed the link also holds the derived stream, so that a read still
//! pending on it gets its element even if every handle on it is gone (as a `from` stream is kept
//! by its generator's pending promise); the answer breaks that cycle. The source keeps only a weak
//! reference in its queue: a request it drops is never the last owner of the link.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::key;
use crate::schedule::{self, Job};

use super::core::{Fed, Feed, Handle, Shared, Upstream};
use super::drive::call;

/// A derived stream's generator: `f` over the elements of the source cursor `src`.
pub(crate) struct Link<T: 'static, U: 'static, F> {
    src: Rc<Handle<T>>,
    /// The derived stream, while a request is filed with the source.
    waiting: RefCell<Option<Rc<Shared<U>>>>,
    /// `Some(y)` to pass `y` on, `None` to drop the element.
    f: RefCell<F>,
    /// The source's answer to the filed request, until the job runs.
    arrived: RefCell<Option<Outcome<Option<T>>>>,
    /// The key storage of the read that filed the request: `f` sees it when the job applies it,
    /// as in Lwt, where `f` is a callback on the source's `get` made by that read.
    storage: Cell<key::Storage>,
}

impl<T: 'static, U: 'static, F: FnMut(T) -> Option<U> + 'static> Link<T, U, F> {
    pub(crate) fn new(src: Rc<Handle<T>>, f: F) -> Rc<Link<T, U, F>> {
        Rc::new(Link {
            src,
            waiting: RefCell::new(None),
            f: RefCell::new(f),
            arrived: RefCell::new(None),
            storage: Cell::new(None),
        })
    }

    /// What the derived stream gets for the source's `outcome`: `None` if `f` dropped it.
    fn step(&self, outcome: Outcome<Option<T>>) -> Option<Outcome<Option<U>>> {
        match outcome {
            Ok(Some(x)) => match call(|| (self.f.borrow_mut())(x)) {
                Ok(Some(y)) => Some(Ok(Some(y))),
                Ok(None) => None,
                Err(panic) => Some(Err(panic)),
            },
            Ok(None) => Some(Ok(None)),
            Err(e) => Some(Err(e)),
        }
    }
}

impl<T: 'static, U: 'static, F: FnMut(T) -> Option<U> + 'static> Link<T, U, F> {
    /// Reads the source until an element passes `f` (Lwt's `filter_map` reads on in the same
    /// generator call) or the source must wait, in which case the request is filed for `dst`.
    fn pull(self: &Rc<Self>, dst: &Rc<Shared<U>>) -> Fed<U> {
        loop {
            let me = Rc::downgrade(self);
            let filed = || {
                *self.waiting.borrow_mut() = Some(dst.clone());
                self.storage.set(key::snapshot());
                me as Weak<dyn Feed<T>>
            };
            // The element matched here, by value (see `Fed`).
            match self.src.feed(filed) {
                Fed::Element(x) => match call(|| (self.f.borrow_mut())(x)) {
                    Ok(Some(y)) => return Fed::Element(y),
                    Ok(None) => {}
                    Err(panic) => return Fed::Outcome(Err(panic)),
                },
                Fed::Outcome(outcome) => {
                    if let Some(answer) = self.step(outcome) {
                        return Fed::Outcome(answer);
                    }
                }
                Fed::Filed => return Fed::Filed,
            }
        }
    }
}

impl<T: 'static, U: 'static, F: FnMut(T) -> Option<U> + 'static> Upstream<U> for Link<T, U, F> {
    fn request(self: Rc<Self>, dst: &Rc<Shared<U>>) -> Fed<U> {
        self.pull(dst)
    }

    fn source_generates(&self) -> bool {
        self.src.shared.generates()
    }
}

impl<T: 'static, U: 'static, F: FnMut(T) -> Option<U> + 'static> Feed<T> for Link<T, U, F> {
    fn alive(&self) -> bool {
        self.waiting.borrow().is_some()
    }

    // Inlined into `arrive_read`, which a cursor's queue calls (see `Feed::arrive_read`).
    #[inline(always)]
    fn arrive(self: Rc<Self>, outcome: Outcome<Option<T>>, _served_at: u64) -> bool {
        // Stored before the old value (`None`: the job took the last one) is dropped: with the
        // drop glue's call in between, the outcome was spilled as two 8-byte words and copied
        // in by one 16-byte load, which waited for them to commit (see `Feed::arrive_read`).
        let old = self.arrived.replace(Some(outcome));
        drop(old);
        // Queued: the source that calls this holds its borrow, and `f` may read it.
        schedule::run_later(self);
        false
    }
}

impl<T: 'static, U: 'static, F: FnMut(T) -> Option<U> + 'static> Job for Link<T, U, F> {
    fn run(self: Rc<Self>) {
        let Some(outcome) = self.arrived.borrow_mut().take() else {
            return;
        };
        let Some(dst) = self.waiting.borrow_mut().take() else {
            return;
        };
        let answer = {
            let _storage = key::enter(self.storage.take());
            match self.step(outcome) {
                Some(answer) => Some(answer),
                None => self.pull(&dst).into_outcome(), // filtered out: the request goes on
            }
        };
        if let Some(answer) = answer {
            dst.answer(answer);
        }
    }
}
