//! The runs of `get_while`, `get_while_s`, `junk_while` and `junk_while_s`: a predicate tests
//! the elements at the head of the stream, and the first one it rejects stays there.
//!
//! The predicate is user code: it runs with no borrow held, and may read the stream, push to it,
//! clone or drop handles, close it. So a run *owns* its cursor while it lasts (see `core`'s
//! `Hold`): it takes each element out as a read would, marks the cursor so that every other read
//! on it waits behind the run (in order, as reads always do), calls the predicate with `&x`, then
//! keeps the element or puts it back at the cursor's head, and goes on or ends. Only when the run
//! has ended are the reads queued behind it served: a `get_while` is one read, and its result is
//! the elements at the head of the stream, in a row.
//!
//! A run that waits for an element files itself as its cursor's request, first in line, the way
//! a consumer does (see `consume`): no promise per element. Its result is one promise, made the
//! first time it waits; canceling it withdraws a filed request, or cancels the predicate's
//! pending promise (which rejects, and the run ends). A run that fails (a rejected or panicking
//! predicate, a failed read) or is canceled puts every element it took back: the stream is then
//! as it was before the run.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::key;
use crate::node::{Cancelable, Visited};
use crate::promise::Promise;
use crate::resolver::{relay, Resolver};
use crate::schedule::{self, Job};

use super::consume::withdraw;
use super::core::{Feed, Handle};
use super::drive::{guard, settle};

/// A run over the cursor `src`.
struct Run<T: 'static, P> {
    src: Rc<Handle<T>>,
    pred: RefCell<P>,
    /// Keep the elements the predicate accepts (`get_while`), or drop them (`junk_while`).
    collect: bool,
    /// The elements accepted so far (if `collect`), in order.
    taken: RefCell<Vec<T>>,
    /// The element under test while the predicate's promise is pending.
    testing: RefCell<Option<T>>,
    /// The run owns its cursor (it claimed it at once, or its first request was served).
    owns: Cell<bool>,
    /// The result promise, made at the first wait, until `run_while` hands it out.
    result: RefCell<Option<Promise<Vec<T>>>>,
    /// Its resolver, from the first wait until the result is known.
    resolver: RefCell<Option<Resolver<Vec<T>>>>,
    /// This run, while a request is filed.
    filed: RefCell<Option<Rc<Self>>>,
    /// The stream's answer, until the job runs.
    arrived: RefCell<Option<Outcome<Option<T>>>>,
    /// A cancel withdrew the request: the job gives the cursor back.
    canceled: Cell<bool>,
    /// The result was canceled after the stream answered the request and before the job ran:
    /// the job puts the element (and those taken) back and ends the run.
    late: Cell<bool>,
    /// The key storage of the call, which the predicate sees when the job runs it.
    storage: key::Storage,
}

/// Runs `pred` over the head of `src` (see the module docs): the elements it accepts (an empty
/// `Vec` unless `collect`), once it rejected one or the stream ended.
pub(crate) fn run_while<T, P>(src: Rc<Handle<T>>, collect: bool, pred: P) -> Promise<Vec<T>>
where
    T: 'static,
    P: FnMut(&T) -> Promise<bool> + 'static,
{
    let run = Rc::new(Run {
        src,
        pred: RefCell::new(pred),
        collect,
        taken: RefCell::new(Vec::new()),
        testing: RefCell::new(None),
        owns: Cell::new(false),
        result: RefCell::new(None),
        resolver: RefCell::new(None),
        filed: RefCell::new(None),
        arrived: RefCell::new(None),
        canceled: Cell::new(false),
        late: Cell::new(false),
        storage: key::snapshot(),
    });
    let done = if run.src.run_claim() {
        run.owns.set(true);
        run.advance(None)
    } else {
        // Reads are pending on the cursor, or another run owns it: this one waits its turn.
        let feed = run.file();
        run.src.run_queue(feed);
        None
    };
    let result = run.result.borrow_mut().take();
    match (result, done) {
        (None, Some(outcome)) => {
            run.src.run_end();
            Promise::from_outcome(outcome)
        }
        (Some(result), done) => {
            if let Some(outcome) = done {
                run.finish(outcome);
            }
            result
        }
        (None, None) => unreachable!("a run makes its result before it waits"),
    }
}

impl<T, P> Run<T, P>
where
    T: 'static,
    P: FnMut(&T) -> Promise<bool> + 'static,
{
    /// The job's work, under the storage of the call.
    #[inline]
    fn resume(self: Rc<Self>) {
        if self.canceled.replace(false) {
            if self.owns.get() {
                // Withdrawn while waiting for an element: what it took goes back.
                let _ = self.conclude(Err(Exn::canceled()));
                self.src.run_end();
            } else {
                self.src.shared.read_canceled(self.src.cursor);
            }
            return;
        }
        let Some(outcome) = self.arrived.borrow_mut().take() else {
            return;
        };
        if self.late.replace(false) {
            // Canceled (the result rejected) after the answer came: the element goes back, as
            // does what the run took, and the run ends.
            if let Ok(Some(x)) = outcome {
                self.src.run_release(x, false);
            }
            let _ = self.conclude(Err(Exn::canceled()));
            self.src.run_end();
            return;
        }
        if let Some(outcome) = self.advance(Some(outcome)) {
            self.finish(outcome);
        }
    }

    /// Takes and tests elements while everything answers at once. `Some(outcome)`: the run is
    /// over (it still owns the cursor: [`finish`](Self::finish) gives it back); `None`: it waits.
    fn advance(self: &Rc<Self>, mut pulled: Option<Outcome<Option<T>>>) -> Option<Outcome<Vec<T>>> {
        loop {
            let item = match pulled.take() {
                Some(outcome) => outcome,
                None => self.src.run_next(|| self.file())?,
            };
            let x = match item {
                Ok(Some(x)) => x,
                Ok(None) => return Some(self.conclude(Ok(()))),
                Err(e) => return Some(self.conclude(Err(e))),
            };
            let p = {
                let mut pred = self.pred.borrow_mut();
                guard(|| pred(&x))
            };
            match settle(p) {
                Ok(outcome) => {
                    if let Some(done) = self.decided(x, outcome) {
                        return Some(done);
                    }
                }
                Err(p) => {
                    *self.testing.borrow_mut() = Some(x);
                    self.wait_pred(p);
                    return None;
                }
            }
        }
    }

    /// The predicate's verdict on `x`: kept (the run goes on: `None`), or put back (the run is
    /// over).
    fn decided(&self, x: T, verdict: Outcome<bool>) -> Option<Outcome<Vec<T>>> {
        match verdict {
            Ok(true) => {
                let kept = self.src.run_release(x, true).expect("a kept element");
                if self.collect {
                    self.taken.borrow_mut().push(kept);
                } else {
                    drop(kept);
                }
                None
            }
            Ok(false) => {
                self.src.run_release(x, false);
                Some(self.conclude(Ok(())))
            }
            Err(e) => {
                self.src.run_release(x, false);
                Some(self.conclude(Err(e)))
            }
        }
    }

    /// The run's outcome; a failed run puts the elements it took back.
    fn conclude(&self, outcome: Outcome<()>) -> Outcome<Vec<T>> {
        let taken = std::mem::take(&mut *self.taken.borrow_mut());
        match outcome {
            Ok(()) => Ok(taken),
            Err(e) => {
                if !taken.is_empty() {
                    self.src.run_rewind(taken);
                }
                Err(e)
            }
        }
    }

    /// The result promise and its resolver, made once.
    fn ensure_result(&self) {
        if self.resolver.borrow().is_none() && self.result.borrow().is_none() {
            let (result, resolver) = relay();
            *self.result.borrow_mut() = Some(result);
            *self.resolver.borrow_mut() = Some(resolver);
        }
    }

    /// Called as the run files its request: points the result's cancel link here.
    fn file(self: &Rc<Self>) -> Weak<dyn Feed<T>> {
        self.ensure_result();
        *self.filed.borrow_mut() = Some(self.clone());
        if let Some(r) = &*self.resolver.borrow() {
            r.propagate_to(self.clone());
        }
        Rc::downgrade(self) as Weak<dyn Feed<T>>
    }

    /// Waits for the predicate's pending promise (the result's cancel link points at it).
    fn wait_pred(self: &Rc<Self>, p: Promise<bool>) {
        self.ensure_result();
        if let (Some(r), Some(node)) = (&*self.resolver.borrow(), p.node()) {
            r.propagate_to(node);
        }
        let me = self.clone();
        p.upon(move |verdict| {
            let x = me
                .testing
                .borrow_mut()
                .take()
                .expect("the element under test");
            let done = match me.decided(x, verdict) {
                Some(done) => Some(done),
                None => me.advance(None),
            };
            if let Some(outcome) = done {
                me.finish(outcome);
            }
        });
    }

    /// Resolves the result, then gives the cursor back (the reads queued behind the run are
    /// served after it).
    fn finish(&self, outcome: Outcome<Vec<T>>) {
        let resolver = self.resolver.borrow_mut().take();
        if let Some(r) = resolver {
            r.resolve_like_bind(outcome);
        }
        self.src.run_end();
    }
}

impl<T, P> Feed<T> for Run<T, P>
where
    T: 'static,
    P: FnMut(&T) -> Promise<bool> + 'static,
{
    fn alive(&self) -> bool {
        self.filed.borrow().is_some()
    }

    fn arrive(self: Rc<Self>, outcome: Outcome<Option<T>>, _served_at: u64) -> bool {
        // Served: the run owns the cursor now (it holds the element, or waits to end).
        self.owns.set(true);
        let filed = self.filed.borrow_mut().take();
        *self.arrived.borrow_mut() = Some(outcome);
        drop(filed);
        // Queued: the stream that calls this holds its borrow.
        schedule::run_later(self);
        false // the run holds the cursor its own way (`Hold`)
    }
}

impl<T, P> Job for Run<T, P>
where
    T: 'static,
    P: FnMut(&T) -> Promise<bool> + 'static,
{
    fn run(self: Rc<Self>) {
        let _storage = key::enter(self.storage.clone());
        self.resume();
    }
}

impl<T, P> Cancelable for Run<T, P>
where
    T: 'static,
    P: FnMut(&T) -> Promise<bool> + 'static,
{
    fn cancel_step(self: Rc<Self>, _next: &mut Vec<Rc<dyn Cancelable>>, _visited: &mut Visited) {
        if self.arrived.borrow().is_some() {
            // Answered, its job not run yet (no request is filed to withdraw): the result is
            // canceled now, and the job undoes the run (see `late`).
            if let Some(r) = self.resolver.borrow_mut().take() {
                self.late.set(true);
                r.wakeup_later_exn(Exn::canceled());
            }
            return;
        }
        // Only a filed request is withdrawn; otherwise the run is running or waits on its
        // predicate (and the result's cancel link points there, not here).
        withdraw(&self.filed, &self.canceled, &self.resolver);
    }
}
