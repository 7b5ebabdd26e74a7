//! The consumers of a stream (`fold`, `iter`, `iter_s`, `to_list`, `find`...) when they wait.
//!
//! The generic loop (`drive::drive`) reads with `get`: a read that must wait is a promise, and the
//! loop registers a continuation on it, so every element that arrives while the consumer waits
//! costs a promise node and a boxed continuation. Over a stream's own cursor there is a cheaper
//! way, the one a derived stream already uses (see `link`): the consumer files *itself* in the
//! cursor's queue of reads ([`Feed`]), in turn with the other reads. The stream hands it the
//! element under its borrow; the consumer stores it and schedules itself as a job, which runs the
//! step with no borrow held and goes on reading. A waiting element then costs no allocation.
//!
//! The consumer's result is one promise for the whole run (made the first time it waits). Its
//! cancel link points at the consumer itself while a request is filed ([`Cancelable`]): a cancel
//! withdraws the request (the element stays in the stream, as with a canceled read) and rejects
//! the result with `Canceled`. While a step's promise is pending (`iter_s`, `fold_s`), the link
//! points at that promise instead, exactly as for a bind.
//!
//! Ownership: while a request is filed the consumer holds itself (the stream keeps only a weak
//! reference, so dropping a dead request never drops a consumer under the stream's borrow); the
//! answer, or a cancel, ends that.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::key;
use crate::node::{Cancelable, Visited};
use crate::promise::Promise;
use crate::resolver::{relay, Resolver};
use crate::schedule::{self, Job};

use super::core::{Feed, Handle};
use super::drive::{after_step, step_once, Stepped};

/// A consumer that waits as a request in its cursor's queue.
struct Consumer<T: 'static, A, R: 'static, F> {
    src: Rc<Handle<T>>,
    step: RefCell<F>,
    /// The accumulator while a request is filed.
    acc: RefCell<Option<A>>,
    /// The result promise, made at the first wait, until `consume` hands it out.
    result: RefCell<Option<Promise<R>>>,
    /// Its resolver, from the first wait until the result is known.
    resolver: RefCell<Option<Resolver<R>>>,
    /// This consumer, while a request is filed.
    filed: RefCell<Option<Rc<Self>>>,
    /// The stream's answer, until the job runs.
    arrived: RefCell<Option<Outcome<Option<T>>>>,
    /// A cancel withdrew the request: the job tells the stream.
    canceled: Cell<bool>,
    /// The result was canceled after the stream served the request and before the job ran: the
    /// job puts the element back instead of stepping on.
    late: Cell<bool>,
    /// Where the cursor was after the element that arrived (see `Handle::unread`).
    served_at: Cell<u64>,
    /// Does the result's cancel link point at this consumer already? (Set once, and again only
    /// after a pending step pointed it elsewhere: a consumer filing itself for every element
    /// would otherwise replace the link with an equal one each time.)
    linked_here: Cell<bool>,
    /// The key storage of the call: the steps the job runs see it, as a bind's callback sees
    /// the storage of its registration (Lwt's `iter` and `fold` are binds on `get`).
    storage: key::Storage,
}

/// Reads `src` and gives each element (then `None` at the end) to `step`, as `drive::drive` does,
/// waiting as a request in the cursor's queue when the stream has nothing.
pub(crate) fn consume<T, A, R, F>(src: Rc<Handle<T>>, acc: A, step: F) -> Promise<R>
where
    T: 'static,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>> + 'static,
{
    let c = Rc::new(Consumer {
        src,
        step: RefCell::new(step),
        acc: RefCell::new(None),
        result: RefCell::new(None),
        resolver: RefCell::new(None),
        filed: RefCell::new(None),
        arrived: RefCell::new(None),
        canceled: Cell::new(false),
        late: Cell::new(false),
        served_at: Cell::new(0),
        linked_here: Cell::new(false),
        storage: key::snapshot(),
    });
    let done = c.advance(acc, None);
    let result = c.result.borrow_mut().take();
    match (result, done) {
        (None, Some(outcome)) => Promise::from_outcome(outcome),
        (Some(result), done) => {
            if let Some(outcome) = done {
                c.finish(outcome);
            }
            result
        }
        (None, None) => unreachable!("a consumer makes its result before it waits"),
    }
}

impl<T, A, R, F> Consumer<T, A, R, F>
where
    T: 'static,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>> + 'static,
{
    /// The job's work, under the storage of the call.
    #[inline]
    fn resume(self: Rc<Self>) {
        if self.canceled.replace(false) {
            drop(self.acc.borrow_mut().take());
            self.src.shared.read_canceled(self.src.cursor);
            return;
        }
        if self.late.replace(false) {
            // Canceled (the result rejected) after the element was handed over: it went back
            // at the cancel (see `cancel_step`), unless the stream was borrowed then.
            drop(self.acc.borrow_mut().take());
            let outcome = self.arrived.borrow_mut().take();
            match outcome {
                Some(Ok(Some(x))) => self.src.unread(x, self.served_at.get()),
                _ => self.src.continued_and_process(),
            }
            return;
        }
        let Some(outcome) = self.arrived.borrow_mut().take() else {
            return;
        };
        self.src.continued();
        let Some(acc) = self.acc.borrow_mut().take() else {
            return; // canceled meanwhile: the run is over
        };
        if let Some(outcome) = self.advance(acc, Some(outcome)) {
            self.finish(outcome);
        }
    }

    /// Reads and steps while everything answers at once. `Some(outcome)`: the run is over;
    /// `None`: it waits (its state is stored in `self`).
    fn advance(
        self: &Rc<Self>,
        mut acc: A,
        mut pulled: Option<Outcome<Option<T>>>,
    ) -> Option<Outcome<R>> {
        loop {
            let item = match pulled.take() {
                Some(outcome) => outcome,
                None => {
                    let mut slot = Some(acc);
                    let now = self.src.feed(|| self.file(&mut slot)).into_outcome()?;
                    acc = slot
                        .take()
                        .expect("the accumulator stays when nothing is filed");
                    now
                }
            };
            let stepped = step_once(&mut *self.step.borrow_mut(), acc, item);
            match stepped {
                Stepped::More(next) => acc = next,
                Stepped::Done(outcome) => return Some(outcome),
                Stepped::Pending(p) => {
                    self.wait_step(p);
                    return None;
                }
            }
        }
    }

    /// The result promise and its resolver, made once.
    // Inlined up to the test: every filed request asks, and only the first makes them.
    #[inline]
    fn ensure_result(&self) {
        if self.resolver.borrow().is_none() && self.result.borrow().is_none() {
            self.make_result();
        }
    }

    #[cold]
    fn make_result(&self) {
        let (result, resolver) = relay();
        *self.result.borrow_mut() = Some(result);
        *self.resolver.borrow_mut() = Some(resolver);
    }

    /// Called by the cursor as it files this consumer's request: stores the state and points the
    /// result's cancel link here.
    fn file(self: &Rc<Self>, slot: &mut Option<A>) -> Weak<dyn Feed<T>> {
        *self.acc.borrow_mut() = slot.take();
        self.ensure_result();
        *self.filed.borrow_mut() = Some(self.clone());
        if !self.linked_here.get() {
            if let Some(r) = &*self.resolver.borrow() {
                r.propagate_to(self.clone());
                self.linked_here.set(true);
            }
        }
        Rc::downgrade(self) as Weak<dyn Feed<T>>
    }

    /// Waits for a pending step's promise (its cancel link is the result's meanwhile).
    fn wait_step(self: &Rc<Self>, p: Promise<ControlFlow<R, A>>) {
        self.ensure_result();
        if let (Some(r), Some(node)) = (&*self.resolver.borrow(), p.node()) {
            r.propagate_to(node);
            self.linked_here.set(false);
        }
        let me = self.clone();
        p.upon(move |outcome| {
            let done = match after_step(outcome) {
                ControlFlow::Continue(next) => me.advance(next, None),
                ControlFlow::Break(outcome) => Some(outcome),
            };
            if let Some(outcome) = done {
                me.finish(outcome);
            }
        });
    }

    fn finish(&self, outcome: Outcome<R>) {
        let resolver = self.resolver.borrow_mut().take();
        if let Some(r) = resolver {
            r.resolve_like_bind(outcome);
        }
    }
}

impl<T, A, R, F> Feed<T> for Consumer<T, A, R, F>
where
    T: 'static,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>> + 'static,
{
    fn alive(&self) -> bool {
        self.filed.borrow().is_some()
    }

    // Inlined into `arrive_read`, which a cursor's queue calls (see `Feed::arrive_read`).
    #[inline(always)]
    fn arrive(self: Rc<Self>, outcome: Outcome<Option<T>>, served_at: u64) -> bool {
        self.served_at.set(served_at);
        // No longer filed: a cancel from now on finds nothing to withdraw; it rejects the
        // result, and the job puts the element back (see `late`). The job keeps the consumer
        // alive.
        let filed = self.filed.borrow_mut().take();
        // Stored before the old value (`None`: the job took the last one) is dropped: with the
        // drop glue's call in between, the outcome was spilled as two 8-byte words and copied
        // in by one 16-byte load, which waited for them to commit (see `Feed::arrive_read`).
        let old = self.arrived.replace(Some(outcome));
        drop(old);
        drop(filed);
        // Queued: the stream that calls this holds its borrow.
        schedule::run_later(self);
        // The reads behind wait for the job (a cancel before it puts the element back).
        true
    }
}

impl<T, A, R, F> Job for Consumer<T, A, R, F>
where
    T: 'static,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>> + 'static,
{
    fn run(self: Rc<Self>) {
        let _storage = key::enter(self.storage.clone());
        self.resume();
    }
}

impl<T, A, R, F> Cancelable for Consumer<T, A, R, F>
where
    T: 'static,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>> + 'static,
{
    fn cancel_step(self: Rc<Self>, _next: &mut Vec<Rc<dyn Cancelable>>, _visited: &mut Visited) {
        if self.arrived.borrow().is_some() {
            // Served, its job not run yet (no request is filed to withdraw): the result is
            // canceled now, and the job gives the element back (see `late`).
            if let Some(r) = self.resolver.borrow_mut().take() {
                self.late.set(true);
                // The element goes back now, not in the job: a read of the cursor made before
                // the job runs (by a callback of this cancel, say) must find it there.
                // (If the stream is busy, the element stays in `arrived`, for the job.)
                let take = || {
                    let mut arrived = self.arrived.borrow_mut();
                    match arrived.take() {
                        Some(Ok(Some(x))) => Some(x),
                        other => {
                            *arrived = other;
                            None
                        }
                    }
                };
                self.src.unread_quiet(take, self.served_at.get());
                r.wakeup_later_exn(Exn::canceled());
            }
            return;
        }
        // Only a filed request is withdrawn; otherwise the consumer is running or waits on a
        // step (and the result's cancel link points there, not here).
        withdraw(&self.filed, &self.canceled, &self.resolver);
    }
}

/// A cancel reached a reader that files itself as its cursor's request (a consumer, a
/// `get_while` run): if it is filed, its result is rejected with `Canceled` and its job is
/// queued, which sees `canceled` and gives the request (or the cursor) back. Otherwise the
/// reader is running or waits on a promise of its own, which the cancel reaches instead.
pub(super) fn withdraw<J: Job + 'static, R: 'static>(
    filed: &RefCell<Option<Rc<J>>>,
    canceled: &Cell<bool>,
    resolver: &RefCell<Option<Resolver<R>>>,
) {
    let Some(filed) = filed.borrow_mut().take() else {
        return;
    };
    canceled.set(true);
    let resolver = resolver.borrow_mut().take();
    if let Some(r) = resolver {
        r.wakeup_later_exn(Exn::canceled());
    }
    // Inside the cancel walk's batch: the job runs after every state has changed.
    schedule::run_later(filed);
}
