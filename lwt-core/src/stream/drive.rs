//! The loops under the consumers of [`stream`](crate::stream) and [`seq`](crate::seq): they read
//! synchronously while reads and callbacks are already resolved, and register one continuation
//! only when something is pending, so ten million ready elements use no more stack than one.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::callbacks::Outcome;
use crate::exn::{Exn, InvalidArgument};
use crate::node::{cancel_from, Cancelable, Node, Visited};
use crate::promise::{Promise, Repr};
use crate::resolver::{relay, Resolver};

use super::consume::consume;
use super::core::Handle;

/// Something that hands out elements one at a time: a stream's cursor, or a sequence.
pub(crate) trait Source: 'static {
    /// The elements.
    type Item: 'static;
    /// The next element, `None` at the end.
    fn pull(&mut self) -> Promise<Option<Self::Item>>;
    /// The stream cursor this source reads, if it is one: a drive over it waits as a request in
    /// the cursor's queue (see `consume`) instead of a read promise per element.
    fn cursor(&self) -> Option<Rc<Handle<Self::Item>>> {
        None
    }
}

/// The outcome of `p` if it is resolved and every earlier callback on it has run; `p` otherwise.
/// (Unlike `Promise::take_outcome`, allocates nothing: the handle is consumed.)
pub(crate) fn settle<T: 'static>(p: Promise<T>) -> Result<Outcome<T>, Promise<T>> {
    if !p.is_settled() {
        return Err(p);
    }
    match p.0 {
        Repr::Ready(outcome) => Ok(outcome),
        Repr::Node(node) => Ok(node.root_cow().take_or_clone()),
    }
}

/// Calls `f`, turning a panic into an [`Exn`].
pub(crate) fn call<R>(f: impl FnOnce() -> R) -> Result<R, Exn> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Exn::from_panic)
}

/// Calls `f`, turning a panic into a rejected promise.
pub(crate) fn guard<T: 'static>(f: impl FnOnce() -> Promise<T>) -> Promise<T> {
    call(f).unwrap_or_else(Promise::fail)
}

struct Drive<S, F> {
    src: S,
    step: F,
}

/// Reads `src` and gives each element (then `None` at the end) to `step` with the accumulator;
/// `step` answers, now or later, with `Continue(acc)` or `Break(result)`. A rejected read or step
/// (or a panicking step) rejects the result. `step` must break when given `None`.
pub(crate) fn drive<S, A, R, F>(src: S, acc: A, step: F) -> Promise<R>
where
    S: Source,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<S::Item>) -> Promise<ControlFlow<R, A>> + 'static,
{
    if let Some(cursor) = src.cursor() {
        return consume(cursor, acc, step);
    }
    run(Drive { src, step }, acc, None)
}

/// Why a drive stopped before its result was known.
enum Blocked<S: Source, A, R> {
    /// The read is pending; `A` is the accumulator to give the next step.
    Read(Promise<Option<S::Item>>, A),
    /// The step's promise is pending.
    Step(Promise<ControlFlow<R, A>>),
}

fn run<S, A, R, F>(
    mut d: Drive<S, F>,
    acc: A,
    pulled: Option<Outcome<Option<S::Item>>>,
) -> Promise<R>
where
    S: Source,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<S::Item>) -> Promise<ControlFlow<R, A>> + 'static,
{
    match advance(&mut d, acc, pulled) {
        Ok(outcome) => Promise::from_outcome(outcome),
        Err(blocked) => {
            // The first wait makes the result promise; every later wait reuses it, only moving
            // its cancel link to what is pending now, so a long drive makes no promise per
            // element beyond the ones it waits on.
            let (result, resolver) = relay();
            park(d, blocked, resolver);
            result
        }
    }
}

impl<S: Source, A: 'static, R: 'static> Blocked<S, A, R> {
    /// What canceling the drive's result must cancel now.
    fn waits_on(&self) -> Rc<dyn Cancelable> {
        match self {
            Blocked::Read(p, _) => p.node().expect("a pending read has a node"),
            Blocked::Step(p) => p.node().expect("a pending step has a node"),
        }
    }
}

/// Waits for what blocked the drive, then goes on; `resolver` is the drive's result.
fn park<S, A, R, F>(d: Drive<S, F>, blocked: Blocked<S, A, R>, resolver: Resolver<R>)
where
    S: Source,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<S::Item>) -> Promise<ControlFlow<R, A>> + 'static,
{
    resolver.propagate_to(blocked.waits_on());
    match blocked {
        Blocked::Read(p, acc) => p.upon(move |outcome| resume(d, acc, Some(outcome), resolver)),
        Blocked::Step(p) => p.upon(move |outcome| match after_step(outcome) {
            ControlFlow::Continue(next) => resume(d, next, None, resolver),
            ControlFlow::Break(outcome) => resolver.resolve_like_bind(outcome),
        }),
    }
}

fn resume<S, A, R, F>(
    mut d: Drive<S, F>,
    acc: A,
    pulled: Option<Outcome<Option<S::Item>>>,
    resolver: Resolver<R>,
) where
    S: Source,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<S::Item>) -> Promise<ControlFlow<R, A>> + 'static,
{
    match advance(&mut d, acc, pulled) {
        Ok(outcome) => resolver.resolve_like_bind(outcome),
        Err(blocked) => park(d, blocked, resolver),
    }
}

/// Reads and steps while everything is resolved at once: the result, or what blocked.
fn advance<S, A, R, F>(
    d: &mut Drive<S, F>,
    mut acc: A,
    mut pulled: Option<Outcome<Option<S::Item>>>,
) -> Result<Outcome<R>, Blocked<S, A, R>>
where
    S: Source,
    A: 'static,
    R: 'static,
    F: FnMut(A, Option<S::Item>) -> Promise<ControlFlow<R, A>> + 'static,
{
    loop {
        let item = match pulled.take() {
            Some(outcome) => outcome,
            None => match settle(d.src.pull()) {
                Ok(outcome) => outcome,
                Err(p) => return Err(Blocked::Read(p, acc)),
            },
        };
        match step_once(&mut d.step, acc, item) {
            Stepped::More(next) => acc = next,
            Stepped::Done(outcome) => return Ok(outcome),
            Stepped::Pending(p) => return Err(Blocked::Step(p)),
        }
    }
}

/// What one step of a drive gave.
pub(crate) enum Stepped<R, A> {
    /// Go on with this accumulator.
    More(A),
    /// The run is over.
    Done(Outcome<R>),
    /// The step's promise is pending.
    Pending(Promise<ControlFlow<R, A>>),
}

/// What the outcome of a step's promise, once it resolved, gives: go on with an accumulator, or
/// the run's outcome.
pub(crate) fn after_step<R, A>(outcome: Outcome<ControlFlow<R, A>>) -> ControlFlow<Outcome<R>, A> {
    match outcome {
        Ok(ControlFlow::Continue(next)) => ControlFlow::Continue(next),
        Ok(ControlFlow::Break(r)) => ControlFlow::Break(Ok(r)),
        Err(e) => ControlFlow::Break(Err(e)),
    }
}

/// Gives the read's outcome to `step` (a rejected read ends the run; a panicking step rejects
/// it), without waiting.
pub(crate) fn step_once<T, A, R>(
    step: &mut impl FnMut(A, Option<T>) -> Promise<ControlFlow<R, A>>,
    acc: A,
    item: Outcome<Option<T>>,
) -> Stepped<R, A>
where
    T: 'static,
    A: 'static,
    R: 'static,
{
    let item = match item {
        Ok(item) => item,
        Err(e) => return Stepped::Done(Err(e)),
    };
    let at_end = item.is_none();
    match settle(guard(|| step(acc, item))) {
        Ok(outcome) => match after_step(outcome) {
            ControlFlow::Continue(next) => {
                debug_assert!(!at_end, "a drive step must break at the end");
                Stepped::More(next)
            }
            ControlFlow::Break(outcome) => Stepped::Done(outcome),
        },
        Err(p) => Stepped::Pending(p),
    }
}

/// A stream cursor's pending read, by cursor and node (see `Par::give_back`).
type GiveBack<T> = RefCell<Option<(Rc<Handle<T>>, Rc<Node<Option<T>>>)>>;

/// The state of an `iter_p` / `iter_n`.
struct Par<S: Source, F> {
    src: RefCell<Option<S>>,
    f: RefCell<F>,
    limit: usize,
    /// The source is a stream's cursor: canceling a pending read only withdraws it (the element
    /// stays in the stream). A sequence's pending node is the user's own promise instead.
    withdrawable: bool,
    /// The cancel links of the callback promises still pending, by slot: canceling the result
    /// cancels them (they are what it waits on). A freed slot is reused.
    running: RefCell<Slots>,
    /// A read is pending.
    reading: Cell<bool>,
    /// Where a stream cursor's read leaves the cursor once it took its element (set then): an
    /// element it took after the reads stopped goes back there. One cell for every read (at most
    /// one is in flight, and none starts once the reads stopped), shared with the read's op.
    read_at: Rc<Cell<u64>>,
    /// The pending read, as its cancel link. Its continuation is a bare `upon` that finds this
    /// empty when the read was withdrawn or abandoned by `stop_reading` or by the result's
    /// cancel, and then does nothing.
    read: RefCell<Option<Rc<dyn Cancelable>>>,
    /// A stream cursor's pending read, by cursor and node: when the reads stop after it was
    /// served but before its continuation ran, its element goes back to the cursor at once, so
    /// that a read of the cursor made before that continuation runs finds it.
    give_back: GiveBack<S::Item>,
    /// The source is exhausted (or failed).
    ended: Cell<bool>,
    /// A callback failed or the result was canceled: no new reads.
    stopped: Cell<bool>,
    /// The result was canceled (what stopped the reads, if `stopped`, or part of it).
    canceled: Cell<bool>,
    /// The first rejection, by element index.
    error: RefCell<Option<(u64, Exn)>>,
    index: Cell<u64>,
    /// `pump` is on the stack (callbacks that complete meanwhile only update the counters).
    pumping: Cell<bool>,
    resolver: RefCell<Option<Resolver<()>>>,
}

/// The cancel links of running callbacks, in reusable slots.
#[derive(Default)]
struct Slots {
    links: Vec<Option<Rc<dyn Cancelable>>>,
    free: Vec<usize>,
    len: usize,
}

impl Slots {
    fn insert(&mut self, link: Rc<dyn Cancelable>) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                self.links[slot] = Some(link);
                slot
            }
            None => {
                self.links.push(Some(link));
                self.links.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if let Some(link) = self.links.get_mut(slot).and_then(Option::take) {
            drop(link);
            self.len -= 1;
            self.free.push(slot);
        }
    }

    fn take_all(&mut self) -> Vec<Rc<dyn Cancelable>> {
        self.len = 0;
        self.free.clear();
        std::mem::take(&mut self.links)
            .into_iter()
            .flatten()
            .collect()
    }
}

impl<S, F> Par<S, F>
where
    S: Source,
    F: FnMut(S::Item) -> Promise<()> + 'static,
{
    fn record(&self, index: u64, e: Exn) {
        {
            let mut error = self.error.borrow_mut();
            if error.as_ref().is_none_or(|(i, _)| index < *i) {
                *error = Some((index, e));
            }
        }
        self.stop_reading();
    }

    /// A callback failed: no new reads. The read in flight is no longer waited for: a pending
    /// stream read is withdrawn, a pending sequence node (the user's promise) is left alone and
    /// its element ignored. (A cancel of the result stops the reads in `cancel_step`.)
    fn stop_reading(&self) {
        self.stopped.set(true);
        let read = self.read.borrow_mut().take();
        if let Some(read) = read {
            self.reading.set(false);
            if self.withdrawable {
                cancel_from(read);
            }
        }
        self.give_back();
    }

    /// See `give_back`.
    fn give_back(&self) {
        let Some((h, node)) = self.give_back.borrow_mut().take() else {
            return;
        };
        let mut read = Promise(Repr::Node(node));
        if !read.is_busy() {
            return; // not served yet (it is withdrawn), or seen already
        }
        // The continuation then finds the value moved, and only serves the cursor (or, if the
        // stream was busy, finds it there and gives it back itself).
        let take = || match read.take_outcome() {
            Ok(Some(x)) => Some(x),
            _ => None,
        };
        h.unread_quiet(take, self.read_at.get());
    }

    fn finished(&self) -> bool {
        (self.ended.get() || self.stopped.get())
            && !self.reading.get()
            && self.running.borrow().len == 0
            && !self.pumping.get()
    }

    fn outcome(&self) -> Outcome<()> {
        match self.error.borrow_mut().take() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    fn check_done(&self) {
        if self.finished() {
            if let Some(r) = self.resolver.borrow_mut().take() {
                r.resolve_like_bind(self.outcome());
            }
        }
    }

    /// Starts the callback on one element.
    fn start(self: &Rc<Self>, x: S::Item) {
        let index = self.index.get();
        self.index.set(index + 1);
        let p = {
            let mut f = self.f.borrow_mut();
            guard(|| f(x))
        };
        match settle(p) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.record(index, e),
            Err(p) => {
                let link = p.node().expect("a pending promise has a node");
                if self.canceled.get() {
                    // `f` canceled the result: its promise comes back after the cancel went to
                    // the running callbacks, and is canceled as they were. The result no longer
                    // waits for anything.
                    cancel_from(link);
                    return;
                }
                let slot = self.running.borrow_mut().insert(link);
                let me = self.clone();
                let done = move |e: Option<&Exn>| {
                    me.running.borrow_mut().remove(slot);
                    if let Some(e) = e {
                        me.record(index, e.clone());
                    }
                    me.pump();
                };
                let done2 = done.clone();
                p.on_any(move |_| done(None), move |e| done2(Some(e)));
            }
        }
    }

    fn pulled(self: &Rc<Self>, outcome: Outcome<Option<S::Item>>) {
        match outcome {
            Ok(Some(x)) => self.start(x),
            Ok(None) => self.ended.set(true),
            Err(e) => {
                let index = self.index.get();
                self.record(index, e);
                self.ended.set(true);
            }
        }
    }

    fn pump(self: &Rc<Self>) {
        if self.pumping.replace(true) {
            return;
        }
        while !(self.ended.get()
            || self.stopped.get()
            || self.reading.get()
            || self.running.borrow().len >= self.limit)
        {
            let Some(mut src) = self.src.borrow_mut().take() else {
                break;
            };
            let cursor = src.cursor();
            let p = match &cursor {
                Some(h) => h.get_at(&self.read_at),
                None => src.pull(),
            };
            *self.src.borrow_mut() = Some(src);
            if self.stopped.get() {
                // Forcing the node ran user code that stopped the reads (it failed a running
                // callback, say): this read was in flight at the stop, so it is treated as
                // `stop_reading` treats one, its element ignored and `f` not called on it (it
                // was called, after the failure). A pending stream read is withdrawn, a pending
                // sequence node (the user's promise) left alone unless the result was canceled.
                if let Some(node) = p.pending_node() {
                    if self.withdrawable || self.canceled.get() {
                        cancel_from(node.into_owned() as Rc<dyn Cancelable>);
                    }
                } else {
                    match settle(p) {
                        // A stream read that took its element at once: the element goes back.
                        Ok(Ok(Some(x))) => unread(cursor, &self.read_at, x),
                        _ => {
                            if let Some(h) = &cursor {
                                h.continued();
                            }
                        }
                    }
                }
                break;
            }
            match settle(p) {
                Ok(outcome) => {
                    // Served at once through the queue (behind other reads): the reads
                    // behind this one wait for nothing more.
                    if let Some(h) = &cursor {
                        h.continued();
                    }
                    self.pulled(outcome)
                }
                Err(p) => {
                    self.reading.set(true);
                    if let (Some(h), Some(node)) = (&cursor, p.node()) {
                        *self.give_back.borrow_mut() = Some((h.clone(), node));
                    }
                    *self.read.borrow_mut() = p.node().map(|n| n as Rc<dyn Cancelable>);
                    let me = self.clone();
                    p.upon(move |outcome| {
                        drop(me.give_back.borrow_mut().take());
                        if me.read.borrow_mut().take().is_none() {
                            if let Some(h) = &cursor {
                                // Un-held here; the branches below serve the reads behind.
                                h.release_served();
                            }
                            // Withdrawn or abandoned by `stop_reading` or a cancel; a stream read
                            // that was served first gave its element back then (it is not `f`'s).
                            match (outcome, cursor) {
                                (Ok(Some(x)), cursor) => unread(cursor, &me.read_at, x),
                                // Serves what the element put back lets in.
                                (_, Some(h)) => h.shared.process(),
                                _ => {}
                            }
                            return;
                        }
                        me.reading.set(false);
                        if let Some(h) = &cursor {
                            h.continued();
                        }
                        // `pulled` calls `f`, which may resolve (with `wakeup`) a running
                        // callback's promise whose observer pumps: hold the pump meanwhile, as
                        // `pump` does around its own `pulled`. Otherwise that nested pump read the
                        // next element and called `f` again while `f` was still borrowed (a
                        // `BorrowMutError` panic in the observer: the rest of the sequence was
                        // never called and the result was rejected `Abandoned`).
                        let outer = me.pumping.replace(true);
                        me.pulled(outcome);
                        me.pumping.set(outer);
                        me.pump();
                    });
                }
            }
        }
        self.pumping.set(false);
        self.check_done();
    }
}

/// Gives `x` back to the stream cursor `cursor` it was read from, the read having left the
/// cursor at `at`, if no other read of the cursor moved it since; drops it otherwise.
fn unread<T: 'static>(cursor: Option<Rc<Handle<T>>>, at: &Cell<u64>, x: T) {
    match cursor {
        Some(h) => h.unread(x, at.get()),
        None => drop(x),
    }
}

/// The result's cancel link points at the state (a relay propagating here), so that a cancel
/// reaches the state within the cancel's own walk, before `cancel` returns. A `task_telling`
/// result would not do: its listener is told as the result's first callback, and a cancel made
/// inside a callback (in `f`, or in the forcing of a node) would reach the state only when the
/// resolution loop got to it, while the callback that canceled went on, and `iter_p` with it,
/// forcing nodes and calling `f` with the result canceled already.
impl<S, F> Cancelable for Par<S, F>
where
    S: Source,
    F: FnMut(S::Item) -> Promise<()> + 'static,
{
    /// The result was canceled: no new reads; the result is rejected with `Canceled` at once,
    /// and the cancel goes on to what it waited on, the pending read (a stream read is
    /// withdrawn, its element left in the stream; a sequence node is canceled) and the running
    /// callbacks.
    fn cancel_step(self: Rc<Self>, next: &mut Vec<Rc<dyn Cancelable>>, _visited: &mut Visited) {
        // Resolved already (the link goes with the resolution): nothing to cancel.
        let Some(resolver) = self.resolver.borrow_mut().take() else {
            return;
        };
        self.stopped.set(true);
        self.canceled.set(true);
        if let Some(read) = self.read.borrow_mut().take() {
            self.reading.set(false);
            next.push(read);
        }
        next.extend(self.running.borrow_mut().take_all());
        self.give_back();
        // Inside the walk's batch: the result's callbacks run after every state has changed.
        resolver.wakeup_later_exn(Exn::canceled());
    }
}

/// Calls `f` on every element of `src`, with at most `limit` callback promises pending at once,
/// reading the next element as soon as there is room. Resolves once the source is exhausted and
/// every callback promise has resolved. The first rejection (by element order) stops the reads
/// and rejects the result once the running callbacks are done. Canceling the result rejects it
/// and cancels the pending read and the running callbacks, within the cancel's own walk. Keeps
/// nothing for callbacks that resolve at once, and an observer and a cancel link per callback
/// promise still pending.
pub(crate) fn par<S, F>(src: S, limit: usize, f: F, name: &str) -> Promise<()>
where
    S: Source,
    F: FnMut(S::Item) -> Promise<()> + 'static,
{
    if limit == 0 {
        return Promise::fail(InvalidArgument(format!(
            "{name}: max_concurrency must be > 0, 0 given"
        )));
    }
    let state = Rc::new(Par {
        withdrawable: src.cursor().is_some(),
        src: RefCell::new(Some(src)),
        f: RefCell::new(f),
        limit,
        running: RefCell::default(),
        reading: Cell::new(false),
        read: RefCell::new(None),
        give_back: RefCell::new(None),
        read_at: Rc::default(),
        ended: Cell::new(false),
        stopped: Cell::new(false),
        canceled: Cell::new(false),
        error: RefCell::new(None),
        index: Cell::new(0),
        pumping: Cell::new(false),
        resolver: RefCell::new(None),
    });
    state.pump();
    if state.finished() {
        return Promise::from_outcome(state.outcome());
    }
    // Canceling the result reaches the state (see `cancel_step`). The link and the resolver
    // the state holds make a cycle until the result resolves, which drops the link.
    let (p, r) = relay();
    r.propagate_to(state.clone());
    *state.resolver.borrow_mut() = Some(r);
    p
}

/// A [`ControlFlow`] promise that continues with `acc`.
pub(crate) fn more<R: 'static, A: 'static>(acc: A) -> Promise<ControlFlow<R, A>> {
    Promise::ret(ControlFlow::Continue(acc))
}

/// A [`ControlFlow`] promise that stops with `r`.
pub(crate) fn stop<R: 'static, A: 'static>(r: R) -> Promise<ControlFlow<R, A>> {
    Promise::ret(ControlFlow::Break(r))
}
