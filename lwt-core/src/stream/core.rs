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
//! * A consumer's or an `iter_p`'s read that was served holds its cursor (`Cursor::served`)
//!   until the read's continuation runs: the reads queued behind it wait, as in Lwt, where that
//!   continuation runs before the next reader is served. Canceled in between, the consumer or
//!   `iter_p` puts the element back at the cancel (`Handle::unread_quiet`), where the read left
//!   the cursor (`Op::GetAt` records it for `iter_p`), so the next read gets it and nothing is
//!   lost. (If the state is borrowed then, the continuation puts it back.)
//! * A derived stream's request (`Op::Feed`) waits in the queue like a read and is held
//!   weakly, so dropping one never drops the link that owns a handle on this stream.
//! * A run of `get_while` & co. (see `hold`) owns its cursor while it lasts: the cursor's `hold`
//!   is then not `Free`, and no read queued on it is served (nor taken at once) until the run
//!   ends; the run's own request for its next element (`Hold::Busy(Some(_))`) is served first.
//!   While its predicate tests an element (`Hold::Out { at, .. }`) the run holds that element
//!   (taken as a read takes it) and the cursor is at `at + 1`; the element is still logically in
//!   the stream: if it left the queue (`at < base`, then `base == at + 1`) it counts in
//!   `buffered()` (so in a bounded stream's bound) and a clone of the handle made meanwhile is a
//!   `Hold::Follower` at `at + 1`, blocked like the run's cursor. Releasing the element either
//!   keeps it (the cursor stays at `at + 1`) or puts it back (into the queue's front if it left
//!   it; the cursor back at `at`); either way the followers move to `at` and are free again.
//!   `outs` counts the cursors in `Hold::Out`. A run holds its handle, so its cursor is not
//!   removed while it lasts (a follower may be). A run that fails or is canceled puts back every
//!   element it kept (`rewind`): those at positions below `base` go back into the queue's front.
//! * `parse`'s rewind (`Op::Seek`) is filed at the front of its cursor's queue, behind the seeks
//!   already there, and served at once unless a run owns the cursor; its mark cursor keeps the
//!   elements from the target position on buffered (so the position is `>= base`) until it is
//!   served. A mark made while reads were pending on the cursor (or a run owned it) is moved up
//!   to where they end by an `Op::Mark` filed behind them, which keeps the mark's handle alive
//!   while it is filed; a parser that ends before it is served withdraws it.
//! * A follower whose handle is gone and that has no read left is removed as soon as that is so
//!   (it could never read again, and would pin the buffer).
//! * No `RefCell` borrow is held while user code runs (a generator, a callback, an element's
//!   `drop`): resolutions made under a borrow are `wakeup_later`s inside `schedule::batch`, and a
//!   link's answer a job, which run after it; elements nobody can read any more wait in
//!   `discarded` until the borrow is released.

use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::node::CancelListener;
use crate::promise::Promise;
use crate::resolver::{task_telling, wait, Resolver};
use crate::schedule;

use super::depth;
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
    /// The next element for `dst` if the source has one now (or its end or failure); otherwise
    /// files a request with the source, which answers `dst` later with [`Shared::answer`], and
    /// returns `Filed`.
    fn request(self: Rc<Self>, dst: &Rc<Shared<T>>) -> Fed<T>;
    /// Does the source have a generator of its own, which a request may ask in turn?
    fn source_generates(&self) -> bool;
}

/// The derived side of a [`Gen::Link`], as the source stream sees it: a request waiting in a
/// cursor's queue like a read.
pub(crate) trait Feed<T: 'static> {
    /// Is the derived stream still there to take an element?
    fn alive(&self) -> bool;
    /// The source's answer, and where the cursor is after it when it is an element read from
    /// the queue (0 otherwise): a consumer canceled before its job runs puts the element back
    /// there (see [`Handle::unread`]). Called under the source's borrow: it must only store the
    /// answer and schedule its processing. True if the reads behind this one on the cursor must
    /// wait until its continuation ran (a consumer: see `Cursor::served`).
    fn arrive(self: Rc<Self>, outcome: Outcome<Option<T>>, served_at: u64) -> bool;
    /// [`arrive`](Self::arrive) with what a read took from the queue (an element or the end),
    /// the answer a cursor's queue gives. An `Outcome` passed to a virtual call goes through
    /// memory: the caller stored it as 8-byte words and `arrive` read it back with one 16-byte
    /// load, which waited for those stores to commit (session 52: two thirds of each `arrive`'s
    /// samples on stream-pipeline). An `Option<T>` of a small `T` travels in registers, and the
    /// outcome is made here, where `arrive` (inlined into this) stores it.
    fn arrive_read(self: Rc<Self>, v: Option<T>, served_at: u64) -> bool {
        self.arrive(Ok(v), served_at)
    }
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
    /// A `get` that records where the cursor is after it took its element (`iter_p`: an
    /// element it took after it stopped goes back there).
    GetAt(Resolver<Option<T>>, Rc<Cell<u64>>),
    Next(Resolver<T>),
    Peek(Cloner<T>, Resolver<Option<T>>),
    NPeek(usize, Cloner<T>, Resolver<Vec<T>>),
    NGet(usize, Resolver<Vec<T>>),
    NJunk(usize, Resolver<()>),
    IsEmpty(Resolver<bool>),
    /// A derived stream (`map`...) waiting for an element. Weak, so that a dead request dropped
    /// under this stream's borrow never drops the link (which holds a handle on this stream).
    Feed(Weak<dyn Feed<T>>),
    /// A `get_while`-like run waiting for its turn: served, it claims the cursor (see [`Hold`])
    /// and gets its first element (or the end). Weak, as `Feed`.
    Hold(Weak<dyn Feed<T>>),
    /// `parse` gives up: the cursor goes back to where cursor `.0` (its mark, a clone that kept
    /// the elements buffered) is. Filed first in line (after the seeks already there, so that
    /// they apply in the order the parsers failed); served as soon as no run owns the cursor.
    Seek(usize, Resolver<()>),
    /// `parse` started while reads were pending on the cursor, or a run owned it: its parser's
    /// reads start where those end, so its mark (cursor `.0`) moves there when this is served.
    Mark(usize, Resolver<()>),
}

/// Whether a `get_while`-like run (see `hold`) owns a cursor.
pub(crate) enum Hold<T: 'static> {
    /// No run: the cursor's reads are served in order.
    Free,
    /// A run owns the cursor between two elements; `Some` while its request for the next one
    /// waits (served before the reads queued behind it).
    Busy(Option<Weak<dyn Feed<T>>>),
    /// The run took the element at position `at` (the cursor is at `at + 1`) and tests it;
    /// `followers` clones were made meanwhile while the element was out of the queue.
    Out { at: u64, followers: usize },
    /// A clone of the handle of cursor `.0` made while that cursor's element (at its `at`) was
    /// out of the queue: it waits at `at + 1`, blocked, and moves to `at` when the element is
    /// released.
    Follower(usize),
}

impl<T: 'static> Op<T> {
    fn alive(&self) -> bool {
        match self {
            Op::Get(r) | Op::GetAt(r, _) | Op::Peek(_, r) => r.is_pending(),
            Op::Next(r) => r.is_pending(),
            Op::NPeek(_, _, r) | Op::NGet(_, r) => r.is_pending(),
            Op::NJunk(_, r) => r.is_pending(),
            Op::IsEmpty(r) => r.is_pending(),
            Op::Seek(_, r) | Op::Mark(_, r) => r.is_pending(),
            Op::Feed(f) | Op::Hold(f) => f.upgrade().is_some_and(|f| f.alive()),
        }
    }

    fn reject(self, e: Exn) {
        match self {
            Op::Get(r) | Op::GetAt(r, _) | Op::Peek(_, r) => r.wakeup_later_exn(e),
            Op::Next(r) => r.wakeup_later_exn(e),
            Op::NPeek(_, _, r) | Op::NGet(_, r) => r.wakeup_later_exn(e),
            Op::NJunk(_, r) => r.wakeup_later_exn(e),
            Op::IsEmpty(r) => r.wakeup_later_exn(e),
            Op::Seek(_, r) | Op::Mark(_, r) => r.wakeup_later_exn(e),
            Op::Feed(f) | Op::Hold(f) => {
                if let Some(f) = f.upgrade() {
                    let _ = f.arrive(Err(e), 0);
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
                        let k = st.cur_mut(c);
                        // One virtual call: the answer says whether the cursor is held.
                        if f.arrive_read(v, k.pos) {
                            k.served = true;
                        }
                        Ok(())
                    }
                    None => Err(Op::Feed(weak)),
                },
                _ => Ok(()),
            };
        }
        if let Op::Hold(weak) = self {
            // A run's first request: served, it claims the cursor.
            return match weak.upgrade() {
                Some(f) if f.alive() => {
                    if st.give_run(c, f) {
                        Ok(())
                    } else {
                        Err(Op::Hold(weak))
                    }
                }
                _ => Ok(()),
            };
        }
        if !self.alive() {
            return Ok(());
        }
        match self {
            Op::Get(r) => match st.try_get(c) {
                Some(v) => st.hand(r, v),
                None => return Err(Op::Get(r)),
            },
            Op::GetAt(r, at) => match st.try_get(c) {
                Some(v) => {
                    at.set(st.cur(c).pos);
                    st.cur_mut(c).served = true;
                    st.hand(r, v)
                }
                None => return Err(Op::GetAt(r, at)),
            },
            Op::Next(r) => match st.try_get(c) {
                Some(Some(v)) => st.hand(r, v),
                Some(None) => r.wakeup_later_exn(Empty),
                None => return Err(Op::Next(r)),
            },
            Op::Peek(cl, r) => match st.try_peek(c, cl) {
                Some(v) => st.hand(r, v),
                None => return Err(Op::Peek(cl, r)),
            },
            Op::NPeek(n, cl, r) => match st.try_npeek(c, n, cl) {
                Some(v) => st.hand(r, v),
                None => return Err(Op::NPeek(n, cl, r)),
            },
            Op::NGet(n, r) => match st.try_nget(c, n) {
                Some(v) => st.hand(r, v),
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
            Op::Seek(mark, r) => {
                let pos = st.cur(mark).pos;
                st.cur_mut(c).pos = pos;
                r.wakeup_later(());
            }
            Op::Mark(mark, r) => {
                // The mark goes where the reads ahead of this op left the cursor: forward, or
                // back if a run ahead of it failed and put its elements back.
                let pos = st.cur(c).pos;
                st.cur_mut(mark).pos = pos;
                st.trim();
                r.wakeup_later(());
            }
            Op::Feed(_) | Op::Hold(_) => unreachable!("served above"),
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
    /// A `get_while`-like run owns the cursor (see [`Hold`]).
    hold: Hold<T>,
    /// A consumer's (or `iter_p`'s) read was served and its continuation has not run yet: the
    /// reads behind it wait, as in Lwt, where that continuation runs before the next reader is
    /// served (a cancel meanwhile then puts the element back where the next reader finds it).
    served: bool,
}

impl<T: 'static> Cursor<T> {
    /// Does the cursor wait for an element that serving it could give?
    #[inline]
    fn waits(&self) -> bool {
        match &self.hold {
            Hold::Free => !self.served && !self.ops.is_empty(),
            hold => Self::run_waits(hold),
        }
    }

    /// Drops the `Op::Feed` the caller found at the head of the queue (a weak link: the drop
    /// glue of the other kinds of op stays off that path).
    #[inline]
    fn pop_feed(&mut self) {
        match self.ops.pop_front() {
            Some(Op::Feed(weak)) => drop(weak),
            other => drop(other),
        }
    }

    /// [`waits`](Self::waits) for a cursor a run owns: only the run's own request counts.
    #[cold]
    fn run_waits(hold: &Hold<T>) -> bool {
        matches!(hold, Hold::Busy(Some(f)) if f.upgrade().is_some_and(|f| f.alive()))
    }
}

/// What waits in `discarded` for the borrow to be released.
enum Discarded<T> {
    /// An element nobody can read any more.
    Element(T),
    /// The node of a read served while nothing but its resolver held it (its promise was
    /// dropped: such a read still takes its element, as in Lwt), holding what it was given.
    /// Never looked at: it is here to be dropped later.
    Served(#[allow(dead_code)] Rc<dyn Any>),
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
    /// `closed` was handed out (`closed`, `on_terminate`): someone watches this stream's end,
    /// so an `append` may not extend the stream past it (see `stream/append.rs`).
    closed_watched: bool,
    close_resolver: Option<Resolver<()>>,
    /// A generator failure nobody was waiting for: given to the next read that needs an element.
    failure: Option<Exn>,
    /// A generator to drop once no borrow is held.
    garbage: Option<Gen<T>>,
    /// Elements nobody can read any more, to drop once no borrow is held (an element's `drop`
    /// may use this stream).
    discarded: Vec<Discarded<T>>,
    /// How many cursors are in `Hold::Out`.
    outs: usize,
    /// The slot where [`trim`](Self::trim) last found a cursor at the front, looked at first:
    /// that cursor (a reader lagging behind the others) often stays there while others go.
    front_hint: usize,
    /// How many cursors `trim` has looked at, for the tests of its cost.
    #[cfg(test)]
    trim_visits: usize,
}

/// What stream handles and producers share.
pub(crate) struct Shared<T: 'static> {
    pub(crate) state: RefCell<State<T>>,
    /// May asking this stream's generator ask another generator on the same stack? (A `from`
    /// generator is user code, which may; a link may when its source has a generator.) Only
    /// such requests count towards the bound of `depth`: a pipeline over a pushed source, the
    /// common case, pays nothing for it.
    nests: bool,
    /// Was this stream made with a link for its generator (`map`, `filter`, `filter_map`)? Its
    /// generator stays a link for good, so only such a stream can pass an element through
    /// (`pull_through`); a link's read of a pushed source tells that without a borrow or a call.
    linked: bool,
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

    /// May an `append` add to this stream's sources, read through cursor `c` (see
    /// `stream/append.rs`)? Only when nothing else could tell: `c` is the stream's only cursor
    /// and has no read waiting (a read made before the append must get what it would have got
    /// without it: the end, rather than the appended stream's first element), nobody was given
    /// `closed` (it would be fulfilled later), and the stream has not ended.
    pub(crate) fn extensible(&self, c: usize) -> bool {
        self.end.is_none()
            && !self.closed_watched
            && self.idle(c)
            && self
                .cursors
                .iter()
                .enumerate()
                .all(|(i, k)| i == c || k.is_none())
    }

    /// Is nothing buffered, and the generator not being called?
    pub(crate) fn untouched_generator(&self) -> bool {
        self.queue.is_empty()
            && self.failure.is_none()
            && matches!(
                self.kind,
                Kind::From {
                    gen: Some(_),
                    in_flight: false
                }
            )
    }

    pub(crate) fn at_end(&self, c: usize) -> bool {
        self.end.is_some() && self.avail(c) == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.end.is_some()
    }

    /// Is every reader gone? For good: a cursor is only ever made from another one (a clone, a
    /// derived stream), so a stream with none can never be read again, and its producers are
    /// told so (`Closed`) rather than have their elements dropped as they come.
    pub(crate) fn deserted(&self) -> bool {
        self.live == 0
    }

    /// Closed, or deserted: what a producer sees.
    pub(crate) fn refuses_pushes(&self) -> bool {
        self.is_closed() || self.deserted()
    }

    /// The elements buffered, an element out of the queue under a run's test included.
    pub(crate) fn buffered(&self) -> usize {
        self.queue.len() + self.held_out()
    }

    /// 1 if an element under a run's test left the queue (there is at most one such element: at
    /// `base - 1`), else 0.
    fn held_out(&self) -> usize {
        if self.outs == 0 {
            return 0;
        }
        let base = self.base;
        self.cursors
            .iter()
            .flatten()
            .any(|k| matches!(k.hold, Hold::Out { at, .. } if at < base))
            .into()
    }

    pub(crate) fn closed_promise(&mut self) -> Promise<()> {
        self.closed_watched = true;
        self.closed.clone()
    }

    pub(crate) fn set_cloner(&mut self, cloner: Cloner<T>) {
        self.cloner = Some(cloner);
    }

    pub(crate) fn ops_len(&self, c: usize) -> usize {
        self.cur(c).ops.len()
    }

    /// Can a read on cursor `c` be served at once: no read pending on it, no run owning it?
    pub(crate) fn idle(&self, c: usize) -> bool {
        let k = self.cur(c);
        k.ops.is_empty() && matches!(k.hold, Hold::Free) && !k.served
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
            self.discarded.push(Discarded::Element(x));
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
        let c = loop {
            match self.free.pop() {
                Some(c) if matches!(self.cursors.get(c), Some(None)) => break c,
                // A slot dropped from the end since (`shrink`), or taken again since by the
                // vector's growth: not free.
                Some(_) => continue,
                None => break self.cursors.len(),
            }
        };
        let cursor = Cursor {
            listener: Rc::new(CursorListener {
                shared: Rc::downgrade(owner),
                cursor: c,
            }),
            pos,
            ops: VecDeque::new(),
            dead: 0,
            attached: true,
            hold: Hold::Free,
            served: false,
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

    fn remove_cursor(&mut self, c: usize) {
        // A run holds its handle, so only an abandoned one (its handle dropped with it) leaves a
        // held cursor here: its followers are freed where they are.
        let hold = std::mem::replace(&mut self.cur_mut(c).hold, Hold::Free);
        match hold {
            Hold::Out { followers, .. } => {
                self.outs -= 1;
                if followers > 0 {
                    self.free_followers(c, None);
                }
            }
            Hold::Follower(leader) => {
                if let Some(Some(Cursor {
                    hold: Hold::Out { followers, .. },
                    ..
                })) = self.cursors.get_mut(leader)
                {
                    *followers -= 1;
                }
            }
            Hold::Free | Hold::Busy(_) => {}
        }
        self.cursors[c] = None;
        self.free.push(c);
        self.live -= 1;
        self.trim();
    }

    /// Drops the elements no cursor can read any more (after a cursor went or moved forward).
    fn trim(&mut self) {
        // Nothing to drop as soon as a cursor is found at the front: dropping `n` clones must
        // not take `n` full scans, whether the clones are at the front themselves or a
        // laggard in a later slot is.
        if matches!(self.cursors.get(self.front_hint), Some(Some(k)) if k.pos <= self.base) {
            return;
        }
        let mut min = self.top();
        for (c, k) in self.cursors.iter().enumerate() {
            let Some(k) = k else { continue };
            #[cfg(test)]
            {
                self.trim_visits += 1;
            }
            if k.pos <= self.base {
                self.front_hint = c;
                return;
            }
            min = min.min(k.pos);
        }
        let k = min.saturating_sub(self.base) as usize;
        if k > 0 {
            self.discarded
                .extend(self.queue.drain(..k).map(Discarded::Element));
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
        self.shrink();
    }

    /// Drops the free slots at the end of `cursors`, so that a stream which once had many
    /// clones is not scanned over their slots on every push for the rest of its life. Not done
    /// in `remove_cursor`, which the loops over the slots call. The free list keeps the slots
    /// dropped (`add_cursor` skips them) until it is much longer than the slots are.
    fn shrink(&mut self) {
        if !matches!(self.cursors.last(), Some(None)) {
            return;
        }
        while matches!(self.cursors.last(), Some(None)) {
            self.cursors.pop();
        }
        let len = self.cursors.len();
        if self.free.len() > 2 * len + 8 {
            self.free.retain(|&c| c < len);
            self.free.sort_unstable();
            self.free.dedup();
            self.free.retain(|&c| self.cursors[c].is_none());
        }
        if self.cursors.capacity() > 4 * len + 8 {
            self.cursors.shrink_to(2 * len);
            self.free.shrink_to(2 * len);
        }
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

    /// Is some cursor waiting for an element (a cursor owned by a run only for the run's own
    /// request)?
    pub(crate) fn waiting(&self) -> bool {
        self.cursors.iter().flatten().any(Cursor::waits)
    }

    /// May cursor `c` take the next element straight from the generator (see
    /// [`Shared::pull_through`])? Only if the element would be its alone, at once: the only
    /// cursor, idle, with nothing buffered and the stream open.
    fn may_pull_through(&self, c: usize) -> bool {
        self.live == 1 && self.end.is_none() && self.idle(c) && self.avail(c) == 0
    }

    /// Gives a read what it waited for (elements: `drop` is user code), under this state's
    /// borrow. A read whose promise was dropped still takes them; its node, which then holds
    /// them, is kept until the borrow is released, rather than freed with the resolver here.
    fn hand<R: 'static>(&mut self, r: Resolver<R>, v: R) {
        if let Some(node) = r.node_if_alone() {
            self.discarded.push(Discarded::Served(node));
        }
        r.wakeup_later(v);
    }

    /// Appends an element, or, if nobody can read it ([`deserted`](Self::deserted)), discards
    /// it and returns false.
    pub(crate) fn append(&mut self, x: T) -> bool {
        if self.live > 0 {
            self.queue.push_back(x);
            true
        } else {
            self.discarded.push(Discarded::Element(x));
            false
        }
    }

    fn serve_cursor(&mut self, c: usize) {
        if !matches!(self.cur(c).hold, Hold::Free) {
            self.serve_run(c);
            // A clone made during a test whose handle is gone and whose reads were all canceled
            // can never read again: it goes now, or it would pin the buffer from its position.
            let k = self.cur(c);
            if matches!(k.hold, Hold::Follower(_)) && !k.attached && k.ops.is_empty() {
                self.remove_cursor(c);
            }
            return;
        }
        loop {
            let k = self.cur_mut(c);
            if k.served {
                return; // a served read's continuation comes first (see `Cursor::served`)
            }
            // A derived stream's or a consumer's request (the usual head of a pipeline's
            // cursor), served where it lies: it leaves the queue only once it is answered or
            // found dead, with no move of the op out and back (what `Op::complete` does).
            if let Some(Op::Feed(weak)) = k.ops.front() {
                // Not `Some(f) if f.alive() =>`: a guard's binding is moved into the arm after
                // the guard's call, so the fat `Rc` was spilled as two words before the call
                // and copied by one 16-byte load after it, which waited for those stores to
                // commit (session 50: 29 % of this function's samples on stream-pipeline).
                let Some(f) = weak.upgrade() else {
                    k.pop_feed();
                    continue;
                };
                if !f.alive() {
                    k.pop_feed();
                    continue;
                }
                match self.try_get(c) {
                    Some(v) => {
                        let k = self.cur_mut(c);
                        k.pop_feed();
                        if f.arrive_read(v, k.pos) {
                            k.served = true;
                        }
                    }
                    None => break,
                }
                continue;
            }
            let Some(op) = k.ops.pop_front() else {
                break;
            };
            // Only a run's first request claims the cursor.
            let claims = matches!(op, Op::Hold(_));
            if let Err(op) = op.complete(self, c) {
                self.cur_mut(c).ops.push_front(op);
                break;
            }
            if claims && !matches!(self.cur(c).hold, Hold::Free) {
                return; // the run owns the cursor now
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
                if matches!(&self.cursors[c], Some(k) if !k.ops.is_empty()
                    || matches!(k.hold, Hold::Busy(Some(_))))
                {
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
            let first_live = k
                .as_ref()
                .filter(|k| matches!(k.hold, Hold::Free))
                .and_then(|k| k.ops.iter().find(|op| op.alive()));
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
        self.admit(waiting)
    }

    /// [`refill`](Self::refill), told whether a reader waits (`get_available` is a reader that
    /// takes what comes in). Resolves the push with `wakeup_later`: call it inside a batch.
    fn admit(&mut self, waiting: bool) -> bool {
        if !matches!(self.kind, Kind::Bounded { .. }) {
            return false;
        }
        if self.deserted() {
            self.refuse_waiting_push();
            return false;
        }
        let wants_more = self.wants_more_than_held();
        let len = self.buffered();
        let Kind::Bounded { size, pending } = &mut self.kind else {
            return false;
        };
        match pending {
            None => return false,
            Some((_, r)) if !r.is_pending() => {
                if let Some((x, _)) = pending.take() {
                    self.discarded.push(Discarded::Element(x));
                }
                return false;
            }
            Some(_) => {}
        }
        if len < *size || (len == 0 && waiting) || wants_more {
            let (x, r) = pending.take().expect("checked above");
            let _ = self.append(x);
            r.wakeup_later(());
            true
        } else {
            false
        }
    }

    /// Nobody can read the element of the waiting push, if any: it is refused, as a push made
    /// now would be. Resolves it with `wakeup_later`: call it inside a batch.
    // Out of line: `admit` runs on every serve of a bounded stream, and this almost never.
    #[cold]
    #[inline(never)]
    fn refuse_waiting_push(&mut self) {
        if let Kind::Bounded { pending, .. } = &mut self.kind {
            if let Some((x, r)) = pending.take() {
                self.discarded.push(Discarded::Element(x));
                if r.is_pending() {
                    r.wakeup_later_exn(Closed);
                }
            }
        }
    }

    /// The last producer is gone: the waiting push of a bounded stream (if still wanted) comes
    /// in whatever the bound. Resolves it with `wakeup_later`: call it inside a batch.
    fn admit_last_push(&mut self) {
        if self.deserted() {
            // Nobody can read it (the last reader went first, and the drop of one of its elements
            // dropped the last producer): refused, not let in to be dropped.
            return self.refuse_waiting_push();
        }
        if let Kind::Bounded { pending, .. } = &mut self.kind {
            if let Some((x, r)) = pending.take() {
                if r.is_pending() {
                    let _ = self.append(x);
                    r.wakeup_later(());
                } else {
                    self.discarded.push(Discarded::Element(x));
                }
            }
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

    /// Closes the stream: readers at the end get `None` from now on. Returns the resolver of
    /// [`closed`](State::closed_promise), for the caller to wake when Lwt does: a pushed stream
    /// after its waiting push and readers are answered, a `from` stream at once.
    #[must_use]
    pub(crate) fn close(&mut self) -> Option<Resolver<()>> {
        if self.end.is_some() {
            return None;
        }
        self.end = Some(self.top());
        match &mut self.kind {
            Kind::Bounded { pending, .. } => {
                if let Some((x, r)) = pending.take() {
                    // Dropped once the borrow is released: its `drop` may use the stream.
                    self.discarded.push(Discarded::Element(x));
                    r.wakeup_later_exn(Closed);
                }
            }
            Kind::From { gen, .. } => self.garbage = gen.take(),
            Kind::Push => {}
        }
        self.close_resolver.take()
    }

    /// Rejects the first read of every waiting cursor with `e`. False if nobody was waiting.
    fn reject_blocked(&mut self, e: &Exn) -> bool {
        let mut any = false;
        for c in 0..self.cursors.len() {
            // A cursor owned by a run: only the run's own request waits.
            match self.cursors[c].as_mut().map(|k| &mut k.hold) {
                None | Some(Hold::Free) => {}
                Some(hold) => {
                    if let Hold::Busy(Some(f)) = hold {
                        if let Some(f) = f.upgrade().filter(|f| f.alive()) {
                            *hold = Hold::Busy(None);
                            any = true;
                            let _ = f.arrive(Err(e.clone()), 0);
                        }
                    }
                    continue;
                }
            }
            // The first read still waiting: canceled ones (a read, or a consumer's request, whose
            // cancel is not yet processed) are dropped, never handed the failure.
            // A seek at the front (not yet served) is applied, never handed the failure.
            let op = loop {
                let Some(k) = self.cursors[c].as_mut() else {
                    break None;
                };
                match k.ops.pop_front() {
                    Some(op) if !op.alive() => continue,
                    Some(op @ (Op::Seek(..) | Op::Mark(..))) => {
                        let _ = op.complete(self, c);
                        continue;
                    }
                    other => break other,
                }
            };
            if let Some(op) = op {
                any = true;
                if let Op::Hold(_) = op {
                    // A run rejected at once still owns the cursor until it has ended.
                    self.cur_mut(c).hold = Hold::Busy(None);
                }
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
            Ok(Some(x)) => {
                let _ = self.append(x);
            }
            Ok(None) => {
                if let Some(closed) = self.close() {
                    closed.wakeup_later(());
                }
            }
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

/// The runs of `get_while` & co. (see `hold`): a run owns its cursor (see [`Hold`]).
impl<T: 'static> State<T> {
    /// Gives the run `f`, which owns cursor `c` or claims it now, its next element (the cursor
    /// is then `Out`) or the end (the cursor is then `Busy`, until the run ends). False if
    /// there is neither yet.
    fn give_run(&mut self, c: usize, f: Rc<dyn Feed<T>>) -> bool {
        match self.run_take(c) {
            Some(outcome) => {
                if matches!(outcome, Ok(None)) {
                    self.cur_mut(c).hold = Hold::Busy(None);
                }
                let _ = f.arrive(outcome, 0);
                true
            }
            None => false,
        }
    }

    /// The next element of a run on cursor `c` (taken: the cursor is then `Out`), or the end;
    /// `None` if there is neither yet.
    fn run_take(&mut self, c: usize) -> Option<Outcome<Option<T>>> {
        if self.avail(c) > 0 {
            let at = self.cur(c).pos;
            let x = self.take(c);
            self.cur_mut(c).hold = Hold::Out { at, followers: 0 };
            self.outs += 1;
            Some(Ok(Some(x)))
        } else if self.end.is_some() {
            Some(Ok(None))
        } else {
            None
        }
    }

    /// Serves the request of the run that owns cursor `c`, if it waits for an element.
    fn serve_run(&mut self, c: usize) {
        let Hold::Busy(Some(weak)) = &self.cur(c).hold else {
            return;
        };
        // A canceled run's request is left for its job, which gives the cursor back.
        if let Some(f) = weak.upgrade().filter(|f| f.alive()) {
            self.give_run(c, f);
        }
    }

    /// Claims cursor `c` for a run, if no read is pending on it and no run owns it.
    pub(crate) fn claim(&mut self, c: usize) -> bool {
        let idle = self.idle(c);
        if idle {
            self.cur_mut(c).hold = Hold::Busy(None);
        }
        idle
    }

    /// The run on cursor `c` has tested its element `x` (or a copy of it): `keep` gives it to
    /// the run (returned: `x`, or a clone if clones of the handle made meanwhile must read it
    /// too); otherwise it goes back where it was, at the head of `c`'s elements. The cursor is
    /// `Busy` again; clones made meanwhile are free, at the element. True in the second member if
    /// followers were freed.
    pub(crate) fn release(&mut self, c: usize, x: T, keep: bool) -> (Option<T>, bool) {
        let hold = std::mem::replace(&mut self.cur_mut(c).hold, Hold::Busy(None));
        let Hold::Out { at, followers } = hold else {
            unreachable!("a run releases the element it holds");
        };
        self.outs -= 1;
        if followers > 0 {
            self.free_followers(c, Some(at));
        }
        if at < self.base {
            // The element left the queue: `base == at + 1`.
            if keep && followers == 0 {
                return (Some(x), false);
            }
            self.queue.push_front(x);
            self.base = at;
            self.cur_mut(c).pos = at;
            if keep {
                // The followers are at `at` too: this clones.
                return (Some(self.take(c)), true);
            }
        } else {
            // Still in the queue (another cursor was at `at`): `x` is a clone.
            if keep {
                return (Some(x), followers > 0);
            }
            self.discarded.push(Discarded::Element(x));
            self.cur_mut(c).pos = at;
        }
        (None, followers > 0)
    }

    /// Frees the followers of cursor `leader`, moving them to `at` (if given). None needs
    /// removing: one whose handle went with no read left was removed then, or when its last read
    /// was canceled (see `serve_cursor`).
    fn free_followers(&mut self, leader: usize, at: Option<u64>) {
        for k in self.cursors.iter_mut().flatten() {
            if matches!(k.hold, Hold::Follower(l) if l == leader) {
                k.hold = Hold::Free;
                if let Some(at) = at {
                    k.pos = at;
                }
            }
        }
    }

    /// The run on cursor `c` (`Busy`) gives up: `taken`, the elements it took (and kept), in
    /// order, go back where they were, and so does the cursor.
    pub(crate) fn rewind(&mut self, c: usize, taken: Vec<T>) {
        let pos = self.cur(c).pos;
        let from = pos - taken.len() as u64;
        // The elements at `from..base` left the queue; the others are still in it (another
        // cursor has not read them): ours are clones.
        let missing = self.base.saturating_sub(from) as usize;
        let mut taken = taken;
        let rest = taken.split_off(missing);
        self.discarded
            .extend(rest.into_iter().map(Discarded::Element));
        for x in taken.into_iter().rev() {
            self.queue.push_front(x);
        }
        self.base = self.base.min(from);
        self.cur_mut(c).pos = from;
    }

    /// A consumer on cursor `c` was canceled after its read took `x` (the cursor was then at
    /// `pos`) and before it saw it: `x` goes back at the cursor's head, if no other read of the
    /// cursor has moved it since (else it is dropped: the cursor has read on).
    fn unread(&mut self, c: usize, x: T, pos: u64) {
        self.cur_mut(c).served = false;
        if self.cur(c).pos != pos || pos == 0 {
            self.discarded.push(Discarded::Element(x));
            return;
        }
        let at = pos - 1;
        if at < self.base {
            // It left the queue: `base == pos`.
            self.queue.push_front(x);
            self.base = at;
        } else {
            // Still in the queue (another cursor has not read it): `x` is a clone.
            self.discarded.push(Discarded::Element(x));
        }
        self.cur_mut(c).pos = at;
    }

    /// The run on cursor `c` has ended: its reads are served again.
    pub(crate) fn end_run(&mut self, c: usize) {
        self.cur_mut(c).hold = Hold::Free;
    }

    /// Where a clone of cursor `c`'s handle starts, and the run it must wait for, if any: a
    /// clone made while a run tests an element starts at that element.
    pub(crate) fn clone_at(&self, c: usize) -> (u64, Option<usize>) {
        let k = self.cur(c);
        match k.hold {
            Hold::Out { at, .. } if at >= self.base => (at, None),
            Hold::Out { .. } => (k.pos, Some(c)),
            Hold::Follower(leader) => (k.pos, Some(leader)),
            Hold::Free | Hold::Busy(_) => (k.pos, None),
        }
    }

    /// Makes cursor `c` (new) a follower of `leader`'s run.
    fn follow(&mut self, c: usize, leader: usize) {
        self.cur_mut(c).hold = Hold::Follower(leader);
        if let Hold::Out { followers, .. } = &mut self.cur_mut(leader).hold {
            *followers += 1;
        }
    }
}

impl<T: 'static> Shared<T> {
    pub(crate) fn new(kind: Kind<T>, producers: usize) -> Rc<Shared<T>> {
        let (closed, close_resolver) = wait();
        let nests = match &kind {
            Kind::From {
                gen: Some(Gen::Link(link)),
                ..
            } => link.source_generates(),
            Kind::From { .. } => true,
            _ => false,
        };
        let linked = matches!(
            &kind,
            Kind::From {
                gen: Some(Gen::Link(_)),
                ..
            }
        );
        Rc::new(Shared {
            nests,
            linked,
            state: RefCell::new(State {
                queue: VecDeque::new(),
                base: 0,
                end: None,
                cursors: Vec::new(),
                free: Vec::new(),
                #[cfg(test)]
                trim_visits: 0,
                front_hint: 0,
                live: 0,
                cloner: None,
                kind,
                producers,
                closed,
                closed_watched: false,
                close_resolver: Some(close_resolver),
                failure: None,
                garbage: None,
                discarded: Vec::new(),
                outs: 0,
            }),
        })
    }

    /// Drops what was put aside while the state was borrowed: a generator, discarded elements.
    // Inlined up to the test: every read and push ends here, and there is usually nothing to drop.
    #[inline]
    pub(crate) fn drop_garbage(&self) {
        let st = self.state.borrow();
        if st.garbage.is_none() && st.discarded.is_empty() {
            return;
        }
        drop(st);
        self.drop_garbage_now();
    }

    #[inline(never)]
    fn drop_garbage_now(&self) {
        let (garbage, discarded) = {
            let mut st = self.state.borrow_mut();
            (st.garbage.take(), std::mem::take(&mut st.discarded))
        };
        drop(garbage);
        drop(discarded);
    }

    /// Serves waiting reads, refills, and calls the generator while readers wait and it answers
    /// at once.
    pub(crate) fn process(self: &Rc<Self>) {
        self.serve_with(None);
    }

    /// [`process`](Self::process), after applying the generator's `answer` to the request in
    /// flight (which it ends) if there is one, under the same borrow (see [`land`](Self::land)).
    /// False if applying it left garbage (the generator of a stream it ended, an element nobody
    /// can read), before anything was served: the caller drops it and serves, as `land` then
    /// `process` do, so that what the drop does (close a stream whose last `Push` the generator
    /// held) comes before the readers are served.
    #[inline(always)]
    fn serve_with(self: &Rc<Self>, mut answer: Option<Outcome<Option<T>>>) -> bool {
        schedule::batch(|| loop {
            let gen = {
                let mut st = self.state.borrow_mut();
                if let Some(answer) = answer.take() {
                    if let Kind::From { in_flight, .. } = &mut st.kind {
                        *in_flight = false;
                    }
                    st.apply(answer);
                    if st.garbage.is_some() || !st.discarded.is_empty() {
                        return false;
                    }
                }
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
                return true;
            };
            if !self.generate(gen) {
                return true;
            }
        })
    }

    /// Calls the generator (taken out of the state). True if it answered at once (its answer is
    /// applied); false if its promise is pending (a continuation will apply it).
    pub(crate) fn generate(self: &Rc<Self>, gen: Gen<T>) -> bool {
        if self.nests && depth::too_deep() {
            self.postpone(gen);
            return false;
        }
        let mut call_gen = match gen {
            Gen::Call(f) => f,
            Gen::Link(link) => return self.generate_linked(link),
        };
        // A `from` generator always `nests`. If this request is the outermost, the requests
        // postponed under it are made before `nested` returns, and may answer it.
        let p = depth::nested(|| call(&mut call_gen).unwrap_or_else(Promise::fail));
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

    /// Asks the link for an element (see [`Upstream::request`]), counted by `depth` when it may
    /// ask another generator in turn.
    #[inline(always)]
    fn ask(self: &Rc<Self>, link: Rc<dyn Upstream<T>>) -> Fed<T> {
        if self.nests {
            depth::nested(|| link.request(self))
        } else {
            link.request(self)
        }
    }

    /// Does this stream have a generator (`from`, `map`...), which a read may call?
    pub(crate) fn generates(&self) -> bool {
        matches!(self.state.borrow().kind, Kind::From { .. })
    }

    /// Puts the generator back, in flight, for the outermost request to call (see `depth`).
    #[cold]
    fn postpone(self: &Rc<Self>, gen: Gen<T>) {
        if let Kind::From {
            gen: slot,
            in_flight,
        } = &mut self.state.borrow_mut().kind
        {
            *slot = Some(gen);
            *in_flight = true;
        }
        depth::postpone(self.clone());
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
        let Some(answer) = self.ask(link).into_outcome() else {
            // Filed; but the source may have answered already, at top level, through the
            // link's job (`answer`), which applied the answer (an element, the end or a failure)
            // and cleared `in_flight`: then the caller must look again rather than wait. A set
            // `in_flight` does not prove nothing was applied: a clone wanting more may have asked
            // the link again meanwhile (`enqueue` then serves what is at the reader's position).
            return !matches!(
                self.state.borrow().kind,
                Kind::From {
                    in_flight: true,
                    ..
                }
            );
        };
        self.land(answer);
        true
    }

    /// Applies the generator's answer to the request in flight (which it ends), inside a batch:
    /// closing resolves `closed`, whose callbacks may use the stream once the borrow is gone.
    fn land(self: &Rc<Self>, answer: Outcome<Option<T>>) {
        schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            if let Kind::From { in_flight, .. } = &mut st.kind {
                *in_flight = false;
            }
            st.apply(answer);
        });
        self.drop_garbage();
    }

    /// A derived stream's pipeline step without its buffer: when cursor `c` is the stream's only
    /// cursor, waits for nothing else and has read everything buffered, the element its link
    /// answers at once goes straight to the reader. Appending it to the queue only for the same
    /// reader to take it back (what [`generate_linked`](Self::generate_linked) and a read do)
    /// costs a borrow, a `batch` and a queue round trip per element. Positions move as if it had
    /// been appended and taken.
    // The test of `linked` inlined: a pushed source, read by a link once per element of a
    // pipeline, leaves here without a call or a borrow (stream-batch: 419 -> 395 instructions
    // per element, callgrind).
    #[inline(always)]
    fn pull_through(self: &Rc<Self>, c: usize) -> Pulled<T> {
        if !self.linked {
            return Pulled::Other;
        }
        self.pull_through_linked(c)
    }

    /// [`pull_through`](Self::pull_through) for a stream made with a link.
    fn pull_through_linked(self: &Rc<Self>, c: usize) -> Pulled<T> {
        let link = {
            let mut st = self.state.borrow_mut();
            // The kind first: a source stream (`create`) leaves here after one test.
            let link = match &st.kind {
                Kind::From {
                    gen: Some(Gen::Link(link)),
                    in_flight: false,
                } => link.clone(),
                _ => return Pulled::Other,
            };
            if !st.may_pull_through(c) || st.failure.is_some() {
                return Pulled::Other;
            }
            if self.nests && depth::too_deep() {
                return Pulled::Other; // the general path postpones the request
            }
            if let Kind::From { in_flight, .. } = &mut st.kind {
                // In flight while the link asks: see `generate_linked`.
                *in_flight = true;
            }
            link
        };
        let answer = match self.ask(link) {
            Fed::Element(x) => {
                let mut st = self.state.borrow_mut();
                // Checked again: `f` is user code, and may have cloned or read this stream.
                if st.may_pull_through(c) {
                    if let Kind::From { in_flight, .. } = &mut st.kind {
                        *in_flight = false;
                    }
                    st.base += 1;
                    st.cur_mut(c).pos += 1;
                    return Pulled::Element(x);
                }
                Ok(Some(x))
            }
            Fed::Outcome(answer) => answer,
            Fed::Filed => {
                // Filed with the source, unless the source answered already at top level
                // through the link's job, which applied the answer (an element, the end or a
                // failure): then the general path reads it. (See `generate_linked` for a set
                // `in_flight` with an answer applied.)
                return match self.state.borrow().kind {
                    Kind::From {
                        in_flight: true, ..
                    } => Pulled::Filed,
                    _ => Pulled::Other,
                };
            }
        };
        self.land(answer);
        if self.state.borrow().waiting() {
            self.process();
        }
        Pulled::Other
    }

    /// The source's later answer to a request of [`generate_linked`](Self::generate_linked), or
    /// the generator's to a call of [`generate`](Self::generate).
    // Inlined: out of line, the caller (a link's job, once per element of a pipeline) stored
    // the outcome as two words right before the call, and this copied it in one 16-byte load,
    // which waited for those stores to commit (session 50: 88 % of this function's samples).
    #[inline(always)]
    pub(crate) fn answer(self: &Rc<Self>, outcome: Outcome<Option<T>>) {
        // `land` then `process`, in one batch and one borrow, unless the answer left garbage
        // (see `serve_with`): then as they do, the garbage dropped outside the batch.
        if !self.serve_with(Some(outcome)) {
            self.drop_garbage();
            self.process();
        }
    }

    /// Closes the stream and serves the readers waiting at its end.
    pub(crate) fn close(self: &Rc<Self>) {
        schedule::batch(|| {
            let mut st = self.state.borrow_mut();
            // Woken last, as Lwt's `close`: a reader that gets the end, and a push rejected by
            // the close, run their continuations before `closed` (and `on_terminate`) cleanups.
            // By a guard, so that a panic while the reads are served (a user `Clone`) still
            // fulfils it: the stream is closed either way.
            let _closed = WakeOnDrop(st.close());
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
            // No push can follow: a push still waiting on a bounded stream comes in (over the
            // bound) before the end, as Lwt, whose stream stays open, delivers it to the next read
            // (an explicit `close` rejects it with `Closed`, as Lwt's does).
            schedule::batch(|| self.state.borrow_mut().admit_last_push());
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
        st.cur_mut(c).ops.push_back(op);
        self.serve_filed(st, c);
    }

    /// [`enqueue`](Self::enqueue) for a derived stream's or a consumer's request (`Handle::feed`,
    /// once per element a pipeline waits for). It makes the `Op::Feed` itself, once the queue's
    /// room is known, so that the op goes into the queue as it is made.
    // An op passed in, or made before `push_back`'s growth check (a call, kept out of line), was
    // kept on the stack as 8-byte words and copied into the queue by 16-byte loads, which cannot
    // be forwarded from those stores and wait for them to commit: half of `enqueue`'s samples on
    // stream-pipeline (session 50).
    #[inline(never)]
    fn enqueue_feed(self: &Rc<Self>, c: usize, feed: Weak<dyn Feed<T>>) {
        let mut st = self.state.borrow_mut();
        let ops = &mut st.cur_mut(c).ops;
        if ops.len() == ops.capacity() {
            ops.reserve(1);
            ops.push_back(Op::Feed(feed));
        } else {
            ops.push_back(Op::Feed(feed));
        }
        self.serve_filed(st, c);
    }

    /// The end of [`enqueue`](Self::enqueue): serves a filed op if anything can change now.
    // Inlined into both, as it was into `enqueue` before `enqueue_feed` was split off.
    #[inline(always)]
    fn serve_filed(self: &Rc<Self>, st: RefMut<'_, State<T>>, c: usize) {
        // The read that files `op` found nothing to take and no generator answering at once, so
        // only a waiting push of a bounded stream (let in by a reader waiting on an empty queue),
        // a stored failure or a generator free to call can change anything now; or, with the
        // generator busy, an answer that reached the buffer while it was being asked (a link's
        // source answered at top level, and a clone that wants more asked again at once: the
        // reader then finds an element already there for it).
        let more = st.wants_refill() || st.has_failure() || st.can_generate() || {
            matches!(
                st.kind,
                Kind::From {
                    in_flight: true,
                    ..
                }
            ) && st.avail(c) > 0
        };
        drop(st);
        if more {
            self.process();
        }
    }
}

/// A request postponed by [`Shared::postpone`] is made now.
impl<T: 'static> depth::Resume for Shared<T> {
    fn resume(self: Rc<Self>) {
        if let Kind::From { in_flight, .. } = &mut self.state.borrow_mut().kind {
            *in_flight = false;
        }
        self.process();
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

/// Fulfils the resolver it holds when dropped, on a panic's unwinding too.
struct WakeOnDrop(Option<Resolver<()>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.wakeup_later(());
        }
    }
}

/// What [`Shared::pull_through`] did.
pub(crate) enum Pulled<T> {
    /// The link answered at once: the element, which never entered the queue.
    Element(T),
    /// The link filed a request with its source: the reader waits.
    Filed,
    /// Not the case for the fast path (or the answer went into the queue): read as usual.
    Other,
}

/// A read that answers at once or files a request: what [`Handle::feed`] gives its caller, and
/// a link ([`Upstream::request`]) its derived stream. The element travels by value in its own
/// arm, not inside an `Outcome`: matched where it arrives, it is read back at the width it was
/// written (see `Handle::feed`).
pub(crate) enum Fed<T> {
    /// An element, which never entered the derived stream's queue.
    Element(T),
    /// The end or a failure.
    Outcome(Outcome<Option<T>>),
    /// A request was filed with the source: the reader waits.
    Filed,
}

impl<T> Fed<T> {
    /// The answer as an outcome, `None` if filed.
    #[inline]
    pub(crate) fn into_outcome(self) -> Option<Outcome<Option<T>>> {
        match self {
            Fed::Element(x) => Some(Ok(Some(x))),
            Fed::Outcome(outcome) => Some(outcome),
            Fed::Filed => None,
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
        if let Some(outcome) = self.read_now::<false, _>(now, Err) {
            return Promise::from_outcome(outcome);
        }
        // The read learns of its own cancellation through a weak link (no callback to allocate).
        let sh = &self.shared;
        let listener = sh.state.borrow().listener(self.cursor);
        let (promise, resolver) = task_telling(listener);
        sh.enqueue(self.cursor, op(resolver));
        promise
    }

    /// Reads `get`-style for a derived stream: the element or the outcome now, or `Filed` once
    /// `feed` waits in this cursor's queue.
    // Inlined: left to itself the compiler stopped inlining it into the links' request path when
    // `once_fn` changed the callback code around it (pipeline 1806 -> 1834 instructions per
    // element; 1820 with this, callgrind).
    #[inline]
    pub(crate) fn feed(&self, feed: impl FnOnce() -> Weak<dyn Feed<T>>) -> Fed<T> {
        match self.shared.pull_through(self.cursor) {
            Pulled::Element(x) => return Fed::Element(x),
            Pulled::Filed => {
                self.shared.enqueue_feed(self.cursor, feed());
                return Fed::Filed;
            }
            Pulled::Other => {}
        }
        // The element by value, as `Fed::Element`: as an `Option<Outcome<..>>` the answer was
        // kept in memory across the refill checks as two 8-byte words and copied out by a
        // 16-byte load, which waits for the stores to commit (session 49: half of this path's
        // samples on stream-batch).
        let fed = self.read_now::<false, _>(
            |st, c| {
                st.try_get(c).map(|x| match x {
                    Some(x) => Fed::Element(x),
                    None => Fed::Outcome(Ok(None)),
                })
            },
            |e| Fed::Outcome(Err(e)),
        );
        match fed {
            Some(fed) => fed,
            None => {
                self.shared.enqueue_feed(self.cursor, feed());
                Fed::Filed
            }
        }
    }

    /// The outcome of a read if it can be had without waiting: `now` answers from the buffer,
    /// else the generator is asked while it answers at once. `None` if the read must wait:
    /// behind other reads or a run, unless `OWNER` (the run that owns the cursor is reading).
    /// `failed` makes the answer for a stored failure.
    #[inline]
    fn read_now<const OWNER: bool, O>(
        &self,
        mut now: impl FnMut(&mut State<T>, usize) -> Option<O>,
        failed: impl FnOnce(Exn) -> O,
    ) -> Option<O> {
        let sh = &self.shared;
        let c = self.cursor;
        loop {
            let gen = {
                let mut st = sh.state.borrow_mut();
                if !OWNER && !st.idle(c) {
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
                    return Some(failed(e));
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

    /// A new cursor for a clone of this handle (see [`State::clone_at`]).
    pub(crate) fn clone_handle(&self) -> Handle<T> {
        let shared = self.shared.clone();
        let cursor = {
            let mut st = shared.state.borrow_mut();
            let (pos, leader) = st.clone_at(self.cursor);
            let c = st.add_cursor(pos, &shared);
            if let Some(leader) = leader {
                st.follow(c, leader);
            }
            c
        };
        Handle { shared, cursor }
    }

    /// Sends this cursor back to where the cursor of `mark` (a clone that kept the elements
    /// buffered) is, before any read pending on it, as soon as no run owns it. The promise is
    /// fulfilled once done (`mark` must live until then).
    pub(crate) fn seek_to(&self, mark: &Handle<T>) -> Promise<()> {
        let (p, r) = wait();
        {
            let mut st = self.shared.state.borrow_mut();
            let ops = &mut st.cur_mut(self.cursor).ops;
            // Behind the seeks already waiting: nested parsers that failed while a run owned the
            // cursor rewind in the order they failed, the outermost last.
            let at = ops
                .iter()
                .position(|op| !matches!(op, Op::Seek(..)))
                .unwrap_or(ops.len());
            ops.insert(at, Op::Seek(mark.cursor, r));
        }
        self.shared.process();
        p
    }

    /// Files `parse`'s mark (a clone of this handle, made at the cursor's position) behind the
    /// reads pending on this cursor, or behind the run that owns it: the parser's own reads start
    /// there (see `Op::Mark`). Nothing to do when the cursor is idle. The op keeps the mark's
    /// handle alive while it is filed, so the index it names stays the mark's.
    pub(crate) fn mark_behind(&self, mark: &Rc<Handle<T>>) {
        let p = {
            let mut st = self.shared.state.borrow_mut();
            if st.idle(self.cursor) {
                return;
            }
            let (p, r) = wait();
            st.cur_mut(self.cursor)
                .ops
                .push_back(Op::Mark(mark.cursor, r));
            p
        };
        let keep = mark.clone();
        p.upon(move |_| drop(keep));
    }

    /// Withdraws `parse`'s mark if it is still filed: the parser finished before any of its reads
    /// was served, so there is nothing to rewind. True if it was filed.
    pub(crate) fn withdraw_mark(&self, mark: &Handle<T>) -> bool {
        let op = {
            let mut st = self.shared.state.borrow_mut();
            let ops = &mut st.cur_mut(self.cursor).ops;
            ops.iter()
                .position(|op| matches!(op, Op::Mark(m, _) if *m == mark.cursor))
                .and_then(|i| ops.remove(i))
        };
        // Dropped with no borrow held: its resolver lets the mark's handle go.
        op.is_some()
    }

    /// Is this a bounded stream?
    pub(crate) fn bounded(&self) -> bool {
        matches!(self.shared.state.borrow().kind, Kind::Bounded { .. })
    }

    /// Claims this cursor for a run (see `hold`), if nothing is pending on it.
    pub(crate) fn run_claim(&self) -> bool {
        self.shared.state.borrow_mut().claim(self.cursor)
    }

    /// Files a run's first request behind the reads pending on this cursor: served, it claims
    /// the cursor and gets the first element.
    pub(crate) fn run_queue(&self, feed: Weak<dyn Feed<T>>) {
        self.shared.enqueue(self.cursor, Op::Hold(feed));
    }

    /// The next element for the run that owns this cursor (which then holds it), the end, or a
    /// failure, if it can be had without waiting (the generator is asked while it answers at
    /// once); otherwise `feed` is filed as the run's request, served before any other read on
    /// this cursor, and `None` is returned.
    pub(crate) fn run_next(
        &self,
        feed: impl FnOnce() -> Weak<dyn Feed<T>>,
    ) -> Option<Outcome<Option<T>>> {
        if let Some(outcome) = self.read_now::<true, _>(|st, c| st.run_take(c), Err) {
            return Some(outcome);
        }
        let sh = &self.shared;
        let c = self.cursor;
        let feed = feed();
        let mut st = sh.state.borrow_mut();
        st.cur_mut(c).hold = Hold::Busy(Some(feed));
        let more = st.wants_refill() || st.has_failure() || st.can_generate();
        drop(st);
        if more {
            sh.process();
        }
        None
    }

    /// The run that owns this cursor has tested its element: see [`State::release`].
    pub(crate) fn run_release(&self, x: T, keep: bool) -> Option<T> {
        let sh = &self.shared;
        let (kept, more) = {
            let mut st = sh.state.borrow_mut();
            let (kept, freed) = st.release(self.cursor, x, keep);
            (kept, freed || st.wants_refill())
        };
        sh.drop_garbage();
        if more {
            sh.process();
        }
        kept
    }

    /// The run that owns this cursor gives up: see [`State::rewind`].
    pub(crate) fn run_rewind(&self, taken: Vec<T>) {
        self.shared.state.borrow_mut().rewind(self.cursor, taken);
        self.shared.drop_garbage();
    }

    /// Puts back `x`, which a consumer's read took (the cursor then at `pos`) and which it will
    /// not see: see [`State::unread`].
    pub(crate) fn unread(&self, x: T, pos: u64) {
        self.shared.state.borrow_mut().unread(self.cursor, x, pos);
        self.shared.process();
    }

    /// [`unread`](Self::unread) without serving the reads (a cancel's walk calls it; the caller
    /// serves later), of the element `take` hands over. `take` is called only if this stream's
    /// state is free now; otherwise the element stays where `take` would have taken it from, for
    /// the caller to give back later with `unread`.
    pub(crate) fn unread_quiet(&self, take: impl FnOnce() -> Option<T>, pos: u64) {
        if let Ok(mut st) = self.shared.state.try_borrow_mut() {
            if let Some(x) = take() {
                st.unread(self.cursor, x, pos);
            }
        }
    }

    /// Clears the hold of a served read (see `Cursor::served`) without serving.
    pub(crate) fn release_served(&self) {
        self.shared.state.borrow_mut().cur_mut(self.cursor).served = false;
    }

    /// [`continued`](Self::continued), then serves the cursor in any case.
    pub(crate) fn continued_and_process(&self) {
        self.shared.state.borrow_mut().cur_mut(self.cursor).served = false;
        self.shared.process();
    }

    /// The continuation of a served consumer read runs (see `Cursor::served`): the reads behind
    /// it are served.
    #[inline]
    pub(crate) fn continued(&self) {
        let behind = {
            let mut st = self.shared.state.borrow_mut();
            let k = st.cur_mut(self.cursor);
            std::mem::replace(&mut k.served, false) && !k.ops.is_empty()
        };
        if behind {
            self.shared.process();
        }
    }

    /// The run that owns this cursor has ended: the reads queued behind it are served.
    pub(crate) fn run_end(&self) {
        self.shared.state.borrow_mut().end_run(self.cursor);
        self.shared.process();
    }

    pub(crate) fn get(&self) -> Promise<Option<T>> {
        self.read(|st, c| st.try_get(c).map(Ok), Op::Get)
    }

    /// [`get`](Self::get) that sets `at` to where the cursor is once the read took its element.
    pub(crate) fn get_at(&self, at: &Rc<Cell<u64>>) -> Promise<Option<T>> {
        let (a, b) = (at.clone(), at.clone());
        self.read(
            move |st, c| {
                let v = st.try_get(c)?;
                a.set(st.cur(c).pos);
                Some(Ok(v))
            },
            move |r| Op::GetAt(r, b),
        )
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
            // In a batch: a waiting push let in is resolved under the borrow.
            let gen = schedule::batch(|| {
                let mut st = sh.state.borrow_mut();
                if !st.idle(c) {
                    return None;
                }
                loop {
                    while out.len() < limit && st.avail(c) > 0 {
                        out.push(st.take(c));
                    }
                    // Taking elements made room in a bounded stream: its waiting push comes in,
                    // and is available too (as in Lwt, where each read lets it in). This reader
                    // counts as waiting: on an empty buffer it takes the element (a rendezvous).
                    if out.len() >= limit || !st.admit(true) {
                        break;
                    }
                }
                if out.len() >= limit || st.has_failure() {
                    return None;
                }
                st.take_gen()
            });
            let Some(gen) = gen else {
                break;
            };
            if !sh.generate(gen) {
                break;
            }
        }
        // A generator's step may have filed reads (on this cursor, which then stopped the loop,
        // or another): they are served now that its answer is in.
        let more = {
            let st = sh.state.borrow();
            st.wants_refill() || st.waiting()
        };
        if more {
            sh.process();
        } else {
            sh.drop_garbage();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::stream::{self, Stream};
    use crate::State;

    fn slots<T>(s: &Stream<T>) -> usize {
        s.h.shared.state.borrow().cursors.len()
    }

    fn trim_visits<T>(s: &Stream<T>) -> usize {
        s.h.shared.state.borrow().trim_visits
    }

    /// Found in review (rev71, session 37): each dropped clone had `trim` look at every cursor
    /// slot, so dropping 100,000 clones took 30 s; it stops at the first cursor at the front.
    #[test]
    fn dropping_clones_does_not_scan_every_cursor_each_time() {
        let (s, push) = stream::create::<u32>();
        let clones: Vec<_> = (0..1000).map(|_| s.clone()).collect();
        let before = trim_visits(&s);
        drop(clones);
        // One or two cursors looked at per drop (the original, at the front, is in slot 0);
        // without the early stop, about 500,000.
        assert!(
            trim_visits(&s) - before <= 2 * 1000,
            "{}",
            trim_visits(&s) - before
        );
        // In reverse order too.
        let mut clones: Vec<_> = (0..1000).map(|_| s.clone()).collect();
        let before = trim_visits(&s);
        while clones.pop().is_some() {}
        assert!(trim_visits(&s) - before <= 2 * 1000);
        push.push(7).unwrap();
        assert_eq!(s.get().state(), State::Fulfilled(Some(7)));
        // Found in review of that fix (rev73): with the clones ahead and a laggard in the last
        // slot at the front, each drop still scanned up to the laggard.
        let clones: Vec<_> = (0..1000).map(|_| s.clone()).collect();
        let laggard = s.clone();
        push.push(8).unwrap();
        for r in clones.iter().chain([&s]) {
            assert_eq!(r.get().state(), State::Fulfilled(Some(8)));
        }
        let before = trim_visits(&s);
        drop(clones);
        assert!(
            trim_visits(&s) - before <= 3 * 1000,
            "{}",
            trim_visits(&s) - before
        );
        assert_eq!(laggard.get().state(), State::Fulfilled(Some(8)));
    }

    /// Found in review (rev71, session 37): the slots of dropped clones stayed, and every push
    /// looks at every slot (is a cursor waiting?), so a stream that once had 10,000 clones
    /// took 6.5 µs a push for good. The free slots at the end are dropped.
    #[test]
    fn the_slots_of_dropped_clones_are_given_back() {
        let (s, push) = stream::create::<u32>();
        let clones: Vec<_> = (0..1000).map(|_| s.clone()).collect();
        assert_eq!(slots(&s), 1001);
        drop(clones);
        assert_eq!(slots(&s), 1);
        // A clone kept at the end keeps the slots before it; they go with it.
        let mut clones: Vec<_> = (0..100).map(|_| s.clone()).collect();
        let last = clones.pop().unwrap();
        drop(clones);
        assert_eq!(slots(&s), 101);
        drop(last);
        assert_eq!(slots(&s), 1);
        // Slots are reused, none twice: every reader still sees every element.
        let readers: Vec<_> = (0..10).map(|_| s.clone()).collect();
        assert_eq!(slots(&s), 11);
        push.push(1).unwrap();
        for r in readers.iter().chain([&s]) {
            assert_eq!(r.get().state(), State::Fulfilled(Some(1)));
        }
    }
}
