//! The shared state of a stream and its clones: one queue of buffered elements, one cursor per
//! handle, and per cursor a FIFO queue of reads waiting for elements.
//!
//! Invariants:
//! * `queue` holds the elements at absolute positions `base..base + queue.len()`; every cursor's
//!   position is in `base..=base + queue.len()`, and some cursor is at `base` (elements no cursor
//!   can read any more are dropped at once). With no cursor left, the queue is empty.
//! * A read takes an element by value when no other cursor is at its position (it is then the
//!   front of the queue), and clones it otherwise (clones exist only for `T: Clone`).
//! * `end` is `Some(base + queue.len())` once the stream is closed: nothing is appended after.
//! * A cursor's pending reads are served in order; a read whose promise was canceled is skipped
//!   (never given an element). A cursor lives while its handle does or reads are pending on it.
//!   A read's promise is a `task_telling` naming its cursor: its cancel reaches this state
//!   through a weak link on the promise itself, not an `on_cancel` closure per read.
//! * A derived stream's request (`Op::Feed`) waits in the queue like a read and is held
//!   weakly, so dropping one never drops the link that owns a handle on this stream.
//! * No `RefCell` borrow is held while user code runs (a generator, a callback, an element's
//!   `drop`): resolutions made under a borrow are `wakeup_later`s inside `schedule::batch`, and a
//!   link's answer a job, which run after it; elements nobody can read any more wait in
//!   `discarded` until the borrow is released.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::node::CancelListener;
use crate::promise::Promise;
use crate::resolver::{task_telling, wait, Resolver};
use crate::schedule;

use super::drive::{call, settle};
use super::{Closed, Empty};

/// Where a `from`-like stream asks for its next element.
pub(crate) enum Gen<T: 'static> {
    /// `from`: a function returning a promise of the next element (`None` ends the stream).
    Call(Box<dyn FnMut() -> Promise<Option<T>>>),
    /// `map`, `filter`, `filter_map`: a synchronous step over another stream (see `link`), which
    /// answers at once or later through [`Shared::answer`], with no promise per element.
    Link(Rc<dyn Upstream<T>>),
}

/// The source side of a [`Gen::Link`], as the derived stream sees it.
pub(crate) trait Upstream<T: 'static> {
    /// The next element for `dst` if the source has one now; otherwise files a request with the
    /// source, which answers `dst` later with [`Shared::answer`], and returns `None`.
    fn request(self: Rc<Self>, dst: &Rc<Shared<T>>) -> Option<Outcome<Option<T>>>;
}

/// The derived side of a [`Gen::Link`], as the source stream sees it: a request waiting in a
/// cursor's queue like a read.
pub(crate) trait Feed<T: 'static> {
    /// Is the derived stream still there to take an element?
    fn alive(&self) -> bool;
    /// The source's answer. Called under the source's borrow: it must only store the answer and
    /// schedule its processing.
    fn arrive(self: Rc<Self>, outcome: Outcome<Option<T>>);
}
/// Clones an element (known once `T: Clone` was seen).
pub(crate) type Cloner<T> = fn(&T) -> T;

/// Where the elements come from.
pub(crate) enum Kind<T: 'static> {
    /// `create`: pushed by a [`Push`](super::Push).
    Push,
    /// `create_bounded`: pushed by a [`BoundedPush`](super::BoundedPush); at most one push waits.
    Bounded {
        size: usize,
        pending: Option<(T, Resolver<()>)>,
    },
    /// `from`: asked of a generator, one call at a time.
    From {
        gen: Option<Gen<T>>,
        in_flight: bool,
    },
}

/// A read waiting for elements.
enum Op<T: 'static> {
    Get(Resolver<Option<T>>),
    Next(Resolver<T>),
    Peek(Cloner<T>, Resolver<Option<T>>),
    NPeek(usize, Cloner<T>, Resolver<Vec<T>>),
    NGet(usize, Resolver<Vec<T>>),
    NJunk(usize, Resolver<()>),
    IsEmpty(Resolver<bool>),
    /// A derived stream (`map`...) waiting for an element. Weak, so that a dead request dropped
    /// under this stream's borrow never drops the link (which holds a handle on this stream).
    Feed(Weak<dyn Feed<T>>),
}

impl<T: 'static> Op<T> {
    fn alive(&self) -> bool {
        match self {
            Op::Get(r) | Op::Peek(_, r) => r.is_pending(),
            Op::Next(r) => r.is_pending(),
            Op::NPeek(_, _, r) | Op::NGet(_, r) => r.is_pending(),
            Op::NJunk(_, r) => r.is_pending(),
            Op::IsEmpty(r) => r.is_pending(),
            Op::Feed(f) => f.upgrade().is_some_and(|f| f.alive()),
        }
    }

    fn reject(self, e: Exn) {
        match self {
            Op::Get(r) | Op::Peek(_, r) => r.wakeup_later_exn(e),
            Op::Next(r) => r.wakeup_later_exn(e),
            Op::NPeek(_, _, r) | Op::NGet(_, r) => r.wakeup_later_exn(e),
            Op::NJunk(_, r) => r.wakeup_later_exn(e),
            Op::IsEmpty(r) => r.wakeup_later_exn(e),
            Op::Feed(f) => {
                if let Some(f) = f.upgrade() {
                    f.arrive(Err(e));
                }
            }
        }
    }

    /// Completes the read if the cursor has what it needs; gives it back otherwise.
    fn complete(self, st: &mut State<T>, c: usize) -> Result<(), Op<T>> {
        if let Op::Feed(weak) = self {
            // The derived stream's request, the one op of a pipeline: upgraded once, for the
            // liveness check and for the answer.
            return match weak.upgrade() {
                Some(f) if f.alive() => match st.try_get(c) {
                    Some(v) => {
                        f.arrive(Ok(v));
                        Ok(())
                    }
                    None => Err(Op::Feed(weak)),
                },
                _ => Ok(()),
            };
        }
        if !self.alive() {
            return Ok(());
        }
        match self {
            Op::Get(r) => match st.try_get(c) {
                Some(v) => r.wakeup_later(v),
                None => return Err(Op::Get(r)),
            },
            Op::Next(r) => match st.try_get(c) {
                Some(Some(v)) => r.wakeup_later(v),
                Some(None) => r.wakeup_later_exn(Empty),
                None => return Err(Op::Next(r)),
            },
            Op::Peek(cl, r) => match st.try_peek(c, cl) {
                Some(v) => r.wakeup_later(v),
                None => return Err(Op::Peek(cl, r)),
            },
            Op::NPeek(n, cl, r) => match st.try_npeek(c, n, cl) {
                Some(v) => r.wakeup_later(v),
                None => return Err(Op::NPeek(n, cl, r)),
            },
            Op::NGet(n, r) => match st.try_nget(c, n) {
                Some(v) => r.wakeup_later(v),
                None => return Err(Op::NGet(n, r)),
            },
            Op::NJunk(n, r) => {
                let left = st.junk_some(c, n);
                if left == 0 || st.at_end(c) {
                    r.wakeup_later(());
                } else {
                    return Err(Op::NJunk(left, r));
                }
            }
            Op::IsEmpty(r) => match st.try_is_empty(c) {
                Some(v) => r.wakeup_later(v),
                None => return Err(Op::IsEmpty(r)),
            },
            Op::Feed(_) => unreachable!("served above"),
        }
        Ok(())
    }
}

/// One reader's position, and its pending reads.
struct Cursor<T: 'static> {
    /// Told when a read on this cursor is canceled (the read promises link to it weakly).
    listener: Rc<CursorListener<T>>,
    pos: u64,
    ops: VecDeque<Op<T>>,
    /// Reads canceled since the last purge (a hint).
    dead: usize,
    /// A handle still refers to this cursor.
    attached: bool,
}

pub(crate) struct State<T: 'static> {
    queue: VecDeque<T>,
    base: u64,
    end: Option<u64>,
    cursors: Vec<Option<Cursor<T>>>,
    free: Vec<usize>,
    live: usize,
    cloner: Option<Cloner<T>>,
    pub(crate) kind: Kind<T>,
    /// Live `Push` / `BoundedPush` handles.
    pub(crate) producers: usize,
    closed: Promise<()>,
    close_resolver: Option<Resolver<()>>,
    /// A generator failure nobody was waiting for: given to the next read that needs an element.
    failure: Option<Exn>,
    /// A generator to drop once no borrow is held.
    garbage: Option<Gen<T>>,
    /// Elements nobody can read any more, to drop once no borrow is held (an element's `drop`
    /// may use this stream).
    discarded: Vec<T>,
}

/// What stream handles and producers share.
pub(crate) struct Shared<T: 'static> {
    pub(crate) state: RefCell<State<T>>,
}

impl<T: 'static> State<T> {
    fn cur(&self, c: usize) -> &Cursor<T> {
        self.cursors[c].as_ref().expect("a live cursor")
    }

    fn cur_mut(&mut self, c: usize) -> &mut Cursor<T> {
        self.cursors[c].as_mut().expect("a live cursor")
    }

    fn top(&self) -> u64 {
        self.base + self.queue.len() as u64
    }

    pub(crate) fn avail(&self, c: usize) -> usize {
        (self.top() - self.cur(c).pos) as usize
    }

    pub(crate) fn at_end(&self, c: usize) -> bool {
        self.end.is_some() && self.avail(c) == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.end.is_some()
    }

    pub(crate) fn buffered(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn closed_promise(&self) -> Promise<()> {
        self.closed.clone()
    }

    pub(crate) fn set_cloner(&mut self, cloner: Cloner<T>) {
        self.cloner = Some(cloner);
    }

    pub(crate) fn ops_len(&self, c: usize) -> usize {
        self.cur(c).ops.len()
    }

    pub(crate) fn ops_empty(&self, c: usize) -> bool {
        self.cur(c).ops.is_empty()
    }

    pub(crate) fn take_failure(&mut self) -> Option<Exn> {
        self.failure.take()
    }

    pub(crate) fn has_failure(&self) -> bool {
        self.failure.is_some()
    }

    /// Is another cursor at `pos`?
    fn shared_position(&self, c: usize, pos: u64) -> bool {
        self.live > 1
            && self
                .cursors
                .iter()
                .enumerate()
                .any(|(i, k)| i != c && matches!(k, Some(k) if k.pos == pos))
    }

    /// The next element for cursor `c` (one must be available), moved out if no other cursor
    /// will read it, cloned otherwise.
    pub(crate) fn take(&mut self, c: usize) -> T {
        let pos = self.cur(c).pos;
        self.cur_mut(c).pos = pos + 1;
        if pos == self.base && !self.shared_position(c, pos) {
            self.base += 1;
            self.queue.pop_front().expect("an element is available")
        } else {
            let clone = self
                .cloner
                .expect("several cursors exist only for cloneable elements");
            clone(&self.queue[(pos - self.base) as usize])
        }
    }

    fn peek_at(&self, c: usize, k: usize, clone: Cloner<T>) -> T {
        let i = (self.cur(c).pos - self.base) as usize + k;
        clone(&self.queue[i])
    }

    pub(crate) fn try_get(&mut self, c: usize) -> Option<Option<T>> {
        if self.avail(c) > 0 {
            Some(Some(self.take(c)))
        } else if self.end.is_some() {
            Some(None)
        } else {
            None
        }
    }

    pub(crate) fn try_peek(&self, c: usize, clone: Cloner<T>) -> Option<Option<T>> {
        if self.avail(c) > 0 {
            Some(Some(self.peek_at(c, 0, clone)))
        } else if self.end.is_some() {
            Some(None)
        } else {
            None
        }
    }

    pub(crate) fn try_npeek(&self, c: usize, n: usize, clone: Cloner<T>) -> Option<Vec<T>> {
        let avail = self.avail(c);
        if avail >= n || self.end.is_some() {
            Some(
                (0..n.min(avail))
                    .map(|k| self.peek_at(c, k, clone))
                    .collect(),
            )
        } else {
            None
        }
    }

    pub(crate) fn try_nget(&mut self, c: usize, n: usize) -> Option<Vec<T>> {
        let avail = self.avail(c);
        if avail >= n || self.end.is_some() {
            Some((0..n.min(avail)).map(|_| self.take(c)).collect())
        } else {
            None
        }
    }

    /// Drops up to `n` available elements; returns how many are still to drop.
    pub(crate) fn junk_some(&mut self, c: usize, n: usize) -> usize {
        let k = n.min(self.avail(c));
        for _ in 0..k {
            let x = self.take(c);
            self.discarded.push(x);
        }
        n - k
    }

    pub(crate) fn try_is_empty(&self, c: usize) -> Option<bool> {
        if self.avail(c) > 0 {
            Some(false)
        } else if self.end.is_some() {
            Some(true)
        } else {
            None
        }
    }

    /// A new cursor at `pos` of the stream `owner` (this state's own `Shared`).
    fn add_cursor(&mut self, pos: u64, owner: &Rc<Shared<T>>) -> usize {
        let c = self.free.pop().unwrap_or(self.cursors.len());
        let cursor = Cursor {
            listener: Rc::new(CursorListener {
                shared: Rc::downgrade(owner),
                cursor: c,
            }),
            pos,
            ops: VecDeque::new(),
            dead: 0,
            attached: true,
        };
        self.live += 1;
        if c == self.cursors.len() {
            self.cursors.push(Some(cursor));
        } else {
            self.cursors[c] = Some(cursor);
        }
        c
    }

    /// The weak link a read on cursor `c` gives its promise, to hear of its cancellation.
    fn listener(&self, c: usize) -> Weak<dyn CancelListener> {
        Rc::downgrade(&self.cur(c).listener) as Weak<CursorListener<T>>
    }

    pub(crate) fn cursor_pos(&self, c: usize) -> u64 {
        self.cur(c).pos
    }

    fn remove_cursor(&mut self, c: usize) {
        self.cursors[c] = None;
        self.free.push(c);
        self.live -= 1;
        let min = self
            .cursors
            .iter()
            .flatten()
            .map(|k| k.pos)
            .min()
            .unwrap_or(self.top());
        let k = (min - self.base) as usize;
        if k > 0 {
            self.discarded.extend(self.queue.drain(..k));
            self.base = min;
        }
    }

    /// The handle of cursor `c` is gone: the cursor goes too, unless reads are pending on it.
    pub(crate) fn detach(&mut self, c: usize) {
        let k = self.cur_mut(c);
        k.attached = false;
        if k.ops.is_empty() {
            self.remove_cursor(c);
        }
    }

    fn push_op(&mut self, c: usize, op: Op<T>) {
        self.cur_mut(c).ops.push_back(op);
    }

    /// A read on cursor `c` was canceled: purge the dead reads once they are half of the queue.
    fn note_canceled(&mut self, c: usize) {
        if let Some(Some(k)) = self.cursors.get_mut(c) {
            k.dead += 1;
            if k.dead * 2 >= k.ops.len() {
                k.ops.retain(Op::alive);
                k.dead = 0;
            }
            // Pops the dead reads at the front; a detached cursor left without reads goes.
            self.serve_cursor(c);
        }
    }

    /// Is some cursor waiting for an element?
    pub(crate) fn waiting(&self) -> bool {
        self.cursors.iter().flatten().any(|k| !k.ops.is_empty())
    }

    /// Appends an element (discarded if nobody can read it).
    pub(crate) fn append(&mut self, x: T) {
        if self.live > 0 {
            self.queue.push_back(x);
        } else {
            self.discarded.push(x);
        }
    }

    fn serve_cursor(&mut self, c: usize) {
        while let Some(op) = self.cur_mut(c).ops.pop_front() {
            if let Err(op) = op.complete(self, c) {
                self.cur_mut(c).ops.push_front(op);
                break;
            }
        }
        let k = self.cur(c);
        if !k.attached && k.ops.is_empty() {
            self.remove_cursor(c);
        }
    }

    /// Serves every cursor's reads as far as the buffer allows (refilling a bounded stream from
    /// its waiting push as room appears).
    fn serve_all(&mut self) {
        loop {
            for c in 0..self.cursors.len() {
                if matches!(&self.cursors[c], Some(k) if !k.ops.is_empty()) {
                    self.serve_cursor(c);
                }
            }
            if !self.refill() {
                break;
            }
        }
    }

    /// Has a bounded stream a push waiting (that room may let in)?
    pub(crate) fn wants_refill(&self) -> bool {
        matches!(
            &self.kind,
            Kind::Bounded {
                pending: Some(_),
                ..
            }
        )
    }

    /// Does a cursor that already holds a full bound of elements wait, at the head of its queue,
    /// for more (an `nget` or `npeek` of more than the bound)? A bounded stream's waiting push
    /// must then come in beyond the bound, or the two would wait for each other forever. (A
    /// cursor holding less than the bound waits for the slowest clone, as any read does.)
    // Out of line: `refill` runs on every serve of every stream, and inlining this loop there
    // cost the unbounded pipeline 18 instructions per element (1808 -> 1826, callgrind).
    #[inline(never)]
    pub(crate) fn wants_more_than_held(&self) -> bool {
        let Kind::Bounded { size, .. } = &self.kind else {
            return false;
        };
        let size = *size;
        self.cursors.iter().enumerate().any(|(c, k)| {
            let first_live = k.as_ref().and_then(|k| k.ops.iter().find(|op| op.alive()));
            match first_live {
                Some(Op::NPeek(n, ..) | Op::NGet(n, _) | Op::NJunk(n, _)) => {
                    let held = self.avail(c);
                    *n > held && held >= size
                }
                _ => false,
            }
        })
    }

    /// Moves the waiting push of a bounded stream into the queue if there is room, if a reader
    /// waits on an empty queue, or if a reader waits for more elements than the bound. True if
    /// it did.
    fn refill(&mut self) -> bool {
        if !matches!(self.kind, Kind::Bounded { .. }) {
            return false;
        }
        let waiting = self.waiting();
        let wants_more = self.wants_more_than_held();
        let len = self.queue.len();
        let Kind::Bounded { size, pending } = &mut self.kind else {
            return false;
        };
        match pending {
            None => return false,
            Some((_, r)) if !r.is_pending() => {
                if let Some((x, _)) = pending.take() {
                    self.discarded.push(x);
                }
                return false;
            }
            Some(_) => {}
        }
        if len < *size || (len == 0 && waiting) || wants_more {
            let (x, r) = pending.take().expect("checked above");
            self.append(x);
            r.wakeup_later(());
            true
        } else {
            false
        }
    }

    /// Forgets a waiting push whose promise was canceled.
    fn drop_dead_push(&mut self) -> Option<T> {
        if let Kind::Bounded { pending, .. } = &mut self.kind {
            if matches!(pending, Some((_, r)) if !r.is_pending()) {
                return pending.take().map(|(x, _)| x);
            }
        }
        None
    }

    /// Closes the stream: readers at the end get `None` from now on.
    pub(crate) fn close(&mut self) {
        if self.end.is_some() {
            return;
        }
        self.end = Some(self.top());
        if let Some(r) = self.close_resolver.take() {
            r.wakeup_later(());
        }
        match &mut self.kind {
            Kind::Bounded { pending, .. } => {
                if let Some((x, r)) = pending.take() {
                    // Dropped once the borrow is released: its `drop` may use the stream.
                    self.discarded.push(x);
                    r.wakeup_later_exn(Closed);
                }
            }
            Kind::From { gen, .. } => self.garbage = gen.take(),
            Kind::Push => {}
        }
    }

    /// Rejects the first read of every waiting cursor with `e`. False if nobody was waiting.
    fn reject_blocked(&mut self, e: &Exn) -> bool {
        let mut any = false;
        for c in 0..self.cursors.len() {
            // The first read still waiting: canceled ones (a read, or a consumer's request, whose
            // cancel is not yet processed) are dropped, never handed the failure.
            let op = match &mut self.cursors[c] {
                Some(k) => loop {
                    match k.ops.pop_front() {
                        Some(op) if !op.alive() => continue,
                        other => break other,
                    }
                },
                None => None,
            };
            if let Some(op) = op {
                any = true;
                op.reject(e.clone());
            }
            if self.cursors[c].is_some() {
                self.serve_cursor(c);
            }
        }
        any
    }

    /// Applies what the generator answered.
    fn apply(&mut self, outcome: Outcome<Option<T>>) {
        match outcome {
            Ok(Some(x)) => self.append(x),
            Ok(None) => self.close(),
            Err(e) => {
                if !self.reject_blocked(&e) {
                    self.failure = Some(e);
                }
            }
        }
    }

    /// Could [`take_gen`](Self::take_gen) give a generator now?
    fn can_generate(&self) -> bool {
        self.end.is_none()
            && matches!(
                self.kind,
                Kind::From {
                    gen: Some(_),
                    in_flight: false
                }
            )
    }

    /// Takes the generator out, if one may be called now.
    pub(crate) fn take_gen(&mut self) -> Option<Gen<T>> {
        if self.end.is_some() {
            return None;
        }
        match &mut self.kind {
            Kind::From {
                gen,
                in_flight: false,
            } => gen.take(),
            _ => None,
        }
    }
}

impl<T: 'static> Shared<T> {
    pub(crate) fn new(kind: Kind<T>, producers: usize) -> Rc<Shared<T>> {
        let (closed, close_resolver) = wait();
        Rc::new(Shared {
            state: RefCell::new(State {
                queue: VecDeque::new(),
                base: 0,
                end: None,
                cursors: Vec::new(),
                free: Vec::new(),
                live: 0,
                cloner: None,
                kind,
                producers,
                closed,
                close_resolver: Some(close_resolver),
                failure: None,
                garbage: None,
                discarded: Vec::new(),
            }),
        })
    }

    /// Drops what was put aside while the state was borrowed: a generator, discarded elements.
    pub(crate) fn drop_garbage(&self) {
        let (garbage, discarded) = {
            let mut st = self.state.borrow_mut();
            if st.garbage.is_none() && st.discarded.is_empty() {
                return;
            }
            (st.garbage.take(), std::mem::take(&mut st.discarded))
        };
        drop(garbage);
        drop(discarded);
    }

    /// Serves waiting reads, refills, and calls the generator while readers wait and it answers
    /// at once.
    pub(crate) fn process(self: &Rc<Self>) {
        schedule::batch(|| loop {
            let gen = {
                let mut st = self.state.borrow_mut();
                st.serve_all();
                if st.waiting() {
                    if let Some(e) = st.failure.take() {
                        st.reject_blocked(&e);
                        continue;
                    }
                    st.take_gen()
                } else {
                    None
                }
            };
            self.drop_garbage();
            let Some(gen) = gen else {
                return;
            };
            if !self.generate(gen) {
                return;
            }
        })
    }

    /// Calls the generator (taken out of the state). True if it answered at once (its answer is
    /// applied); false if its promise is pending (a continuation will apply it).
    pub(crate) fn generate(self: &Rc<Self>, gen: Gen<T>) -> bool {
        let mut call_gen = match gen {
            Gen::Call(f) => f,
            Gen::Link(link) => return self.generate_linked(link),
        };
        let p = call(&mut call_gen).unwrap_or_else(Promise::fail);
        let gen = Gen::Call(call_gen);
        // The borrow ends inside the batch: callbacks made runnable (closing resolves `closed`)
        // run after it, and may use the stream.
        let settled = schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            let st = &mut *st;
            if let Kind::From {
                gen: slot,
                in_flight,
            } = &mut st.kind
            {
                *slot = Some(gen);
                match settle(p) {
                    Ok(outcome) => {
                        st.apply(outcome);
                        Ok(())
                    }
                    Err(p) => {
                        *in_flight = true;
                        Err(p)
                    }
                }
            } else {
                Ok(())
            }
        });
        self.drop_garbage();
        match settled {
            Ok(()) => true,
            Err(p) => {
                let me = self.clone();
                p.upon(move |outcome| me.answer(outcome));
                false
            }
        }
    }

    /// [`generate`](Self::generate) for a derived stream: asks the source, which answers now or
    /// later (through [`answer`](Self::answer)).
    fn generate_linked(self: &Rc<Self>, link: Rc<dyn Upstream<T>>) -> bool {
        // In flight before asking: the source may answer (through `answer`) before `request`
        // returns, and that answer must find the request already recorded.
        if let Kind::From { gen, in_flight } = &mut self.state.borrow_mut().kind {
            *gen = Some(Gen::Link(link.clone()));
            *in_flight = true;
        }
        let Some(answer) = link.request(self) else {
            // Filed; but the source may have answered already, at top level, through the
            // link's job (`answer`): then the caller must look again rather than wait.
            return !matches!(
                self.state.borrow().kind,
                Kind::From {
                    in_flight: true,
                    ..
                }
            );
        };
        schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            if let Kind::From { in_flight, .. } = &mut st.kind {
                *in_flight = false;
            }
            st.apply(answer);
        });
        self.drop_garbage();
        true
    }

    /// The source's later answer to a request of [`generate_linked`](Self::generate_linked), or
    /// the generator's to a call of [`generate`](Self::generate).
    pub(crate) fn answer(self: &Rc<Self>, outcome: Outcome<Option<T>>) {
        schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            if let Kind::From { in_flight, .. } = &mut st.kind {
                *in_flight = false;
            }
            st.apply(outcome);
        });
        self.drop_garbage();
        self.process();
    }

    /// Closes the stream and serves the readers waiting at its end.
    pub(crate) fn close(self: &Rc<Self>) {
        schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            st.close();
            st.serve_all();
        });
        self.drop_garbage();
    }

    /// A producer handle is gone: the last one closes the stream.
    pub(crate) fn producer_dropped(self: &Rc<Self>) {
        let last = {
            let mut st = self.state.borrow_mut();
            st.producers -= 1;
            st.producers == 0
        };
        if last {
            self.close();
        }
    }

    /// A read on cursor `c` was canceled.
    pub(crate) fn read_canceled(self: &Rc<Self>, c: usize) {
        self.state.borrow_mut().note_canceled(c);
        self.process();
    }

    /// A waiting push was canceled.
    fn push_canceled(self: &Rc<Self>) {
        let dropped = self.state.borrow_mut().drop_dead_push();
        drop(dropped);
    }

    /// Registers `op` on cursor `c` and serves it (it may complete at once).
    fn enqueue(self: &Rc<Self>, c: usize, op: Op<T>) {
        let mut st = self.state.borrow_mut();
        st.push_op(c, op);
        // The read that files `op` found nothing to take and no generator answering at once, so
        // only a waiting push of a bounded stream (let in by a reader waiting on an empty queue),
        // a stored failure or a generator free to call can change anything now.
        let more = st.wants_refill() || st.has_failure() || st.can_generate();
        drop(st);
        if more {
            self.process();
        }
    }
}

/// A waiting push of a bounded stream links to the stream itself (weakly): there is at most one.
impl<T: 'static> CancelListener for Shared<T> {
    fn canceled(self: Rc<Self>) {
        self.push_canceled();
    }
}

/// What a cursor's read promises link to (weakly): one per cursor, so that the link in each
/// promise is a single pointer.
pub(crate) struct CursorListener<T: 'static> {
    shared: Weak<Shared<T>>,
    cursor: usize,
}

impl<T: 'static> CancelListener for CursorListener<T> {
    fn canceled(self: Rc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.read_canceled(self.cursor);
        }
    }
}

/// A reader: a cursor of a shared stream. Several `Rc`s to one handle share the cursor (a
/// consumer running in the background keeps it alive); dropping the last one detaches it.
pub(crate) struct Handle<T: 'static> {
    pub(crate) shared: Rc<Shared<T>>,
    pub(crate) cursor: usize,
}

impl<T: 'static> Drop for Handle<T> {
    fn drop(&mut self) {
        let refill = {
            let mut st = self.shared.state.borrow_mut();
            st.detach(self.cursor);
            st.wants_refill()
        };
        self.shared.drop_garbage();
        if refill {
            self.shared.process();
        }
    }
}

impl<T: 'static> Handle<T> {
    /// A new cursor at the start of `shared`.
    pub(crate) fn new(shared: Rc<Shared<T>>) -> Handle<T> {
        Handle::at(shared, 0)
    }

    /// A new cursor at absolute position `pos` of `shared`.
    pub(crate) fn at(shared: Rc<Shared<T>>, pos: u64) -> Handle<T> {
        let cursor = shared.state.borrow_mut().add_cursor(pos, &shared);
        Handle { shared, cursor }
    }

    /// The generic read: `now` answers from the buffer if it can (the fast path: no allocation);
    /// otherwise the generator is asked while it answers at once; otherwise `op` waits in the
    /// cursor's queue.
    fn read<R: 'static>(
        &self,
        now: impl FnMut(&mut State<T>, usize) -> Option<Outcome<R>>,
        op: impl FnOnce(Resolver<R>) -> Op<T>,
    ) -> Promise<R> {
        if let Some(outcome) = self.read_now(now) {
            return Promise::from_outcome(outcome);
        }
        // The read learns of its own cancellation through a weak link (no callback to allocate).
        let sh = &self.shared;
        let listener = sh.state.borrow().listener(self.cursor);
        let (promise, resolver) = task_telling(listener);
        sh.enqueue(self.cursor, op(resolver));
        promise
    }

    /// Reads `get`-style for a derived stream: the outcome now, or `None` once `feed` waits in
    /// this cursor's queue.
    // Inlined: left to itself the compiler stopped inlining it into the links' request path when
    // `once_fn` changed the callback code around it (pipeline 1806 -> 1834 instructions per
    // element; 1820 with this, callgrind).
    #[inline]
    pub(crate) fn feed(
        &self,
        feed: impl FnOnce() -> Weak<dyn Feed<T>>,
    ) -> Option<Outcome<Option<T>>> {
        let outcome = self.read_now(|st, c| st.try_get(c).map(Ok));
        if outcome.is_none() {
            self.shared.enqueue(self.cursor, Op::Feed(feed()));
        }
        outcome
    }

    /// The outcome of a read if it can be had without waiting: `now` answers from the buffer,
    /// else the generator is asked while it answers at once. `None` if the read must wait.
    fn read_now<R: 'static>(
        &self,
        mut now: impl FnMut(&mut State<T>, usize) -> Option<Outcome<R>>,
    ) -> Option<Outcome<R>> {
        let sh = &self.shared;
        let c = self.cursor;
        loop {
            let gen = {
                let mut st = sh.state.borrow_mut();
                if !st.ops_empty(c) {
                    break;
                }
                if let Some(outcome) = now(&mut st, c) {
                    let refill = st.wants_refill();
                    drop(st);
                    sh.drop_garbage();
                    if refill {
                        sh.process();
                    }
                    return Some(outcome);
                }
                if let Some(e) = st.take_failure() {
                    return Some(Err(e));
                }
                match st.take_gen() {
                    Some(gen) => gen,
                    None => break,
                }
            };
            if !sh.generate(gen) {
                break;
            }
            if sh.state.borrow().waiting() {
                sh.process();
            }
        }
        None
    }

    pub(crate) fn get(&self) -> Promise<Option<T>> {
        self.read(|st, c| st.try_get(c).map(Ok), Op::Get)
    }

    pub(crate) fn next(&self) -> Promise<T> {
        self.read(
            |st, c| st.try_get(c).map(|v| v.ok_or_else(|| Exn::new(Empty))),
            Op::Next,
        )
    }

    pub(crate) fn peek(&self, clone: Cloner<T>) -> Promise<Option<T>> {
        self.read(
            |st, c| st.try_peek(c, clone).map(Ok),
            |r| Op::Peek(clone, r),
        )
    }

    pub(crate) fn npeek(&self, n: usize, clone: Cloner<T>) -> Promise<Vec<T>> {
        self.read(
            |st, c| st.try_npeek(c, n, clone).map(Ok),
            |r| Op::NPeek(n, clone, r),
        )
    }

    pub(crate) fn nget(&self, n: usize) -> Promise<Vec<T>> {
        self.read(|st, c| st.try_nget(c, n).map(Ok), |r| Op::NGet(n, r))
    }

    pub(crate) fn njunk(&self, n: usize) -> Promise<()> {
        let left = std::cell::Cell::new(n);
        self.read(
            |st, c| {
                left.set(st.junk_some(c, left.get()));
                (left.get() == 0 || st.at_end(c)).then_some(Ok(()))
            },
            |r| Op::NJunk(left.get(), r),
        )
    }

    pub(crate) fn is_empty(&self) -> Promise<bool> {
        self.read(|st, c| st.try_is_empty(c).map(Ok), Op::IsEmpty)
    }

    /// The elements available now (asking the generator while it answers at once), up to `limit`.
    pub(crate) fn get_available(&self, limit: usize) -> Vec<T> {
        let sh = &self.shared;
        let c = self.cursor;
        let mut out = Vec::new();
        loop {
            let gen = {
                let mut st = sh.state.borrow_mut();
                if !st.ops_empty(c) {
                    break;
                }
                while out.len() < limit && st.avail(c) > 0 {
                    out.push(st.take(c));
                }
                if out.len() >= limit || st.has_failure() {
                    break;
                }
                match st.take_gen() {
                    Some(gen) => gen,
                    None => break,
                }
            };
            if !sh.generate(gen) {
                break;
            }
        }
        if sh.state.borrow().wants_refill() {
            sh.process();
        }
        out
    }
}
