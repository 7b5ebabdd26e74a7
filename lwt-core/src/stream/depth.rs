//! A bound on how deep streams built on streams ask each other for elements on one stack.
//!
//! A stream made from another (`map`, `filter`, `append`, a `from` whose generator reads another
//! stream...) asks its source for an element from inside its own request: a chain of 30,000
//! nested `append`s (see `append` for those it keeps flat), or 10,000 `map`s, answers one read
//! with 30,000 or 10,000 nested calls, and
//! overflowed the stack (a test thread's 2 MiB went at about 5,000 levels). Lwt recurses the same
//! way, on OCaml's smaller frames.
//!
//! Every request to a generator or a link that may ask another one goes through [`nested`],
//! which counts the requests in progress on this thread. Past [`MAX_DEPTH`] of them
//! ([`too_deep`]), a stream does not ask its source: it [`postpone`]s the request (its generator
//! counts as in flight, so nothing asks it twice), and the outermost request, once its own call
//! has returned, [`Resume`]s the postponed ones one by one, each from that shallow point of the
//! stack, under one request of its own (so that a resumed request does not start a loop of its
//! own). A resumed request that goes deep again is postponed again, and so on: the stack holds
//! at most `MAX_DEPTH` nested requests, whatever the depth of the chain, and the work is the same.
//!
//! The count is kept off the common path: a `map` over a pushed stream (a pipeline's usual
//! first stage) cannot ask another generator, so its requests are not counted (see
//! `Shared::nests`). Where they are, the count is one `Cell<u32>` with no drop glue, the depth in
//! the low bits and, in the top bit, "some request is postponed", so that leaving the outermost
//! request is one comparison when nothing was postponed. (stream-batch, a `map` and a `fold`
//! over pushed elements, went from 420 to 428 instructions an element, and stream-pipeline from
//! 1679 to 1687, most of it code layout: the requests of these rows are not counted.)
//!
//! What a user can see is only at a depth nobody reaches by accident: a generator more than
//! `MAX_DEPTH` streams down the chain is called once the requests above it have returned,
//! instead of inside them. Its elements come in the same order, none lost or repeated, and a
//! read made outside the loop is still answered before it returns when every generator answers
//! at once. Inside a callback, the answers of the resumed requests travel up the chain through
//! the loop's queue (the streams resolve their reads with `wakeup_later`), so such a read is
//! answered once the callback has returned, and `get_available` there finds nothing yet; where
//! several readers take turns at one cursor, which reader gets which element can then differ
//! from a shallow chain's.
//!
//! A panicking async exception hook (the only way a request unwinds) does not leave a request
//! postponed: the outermost request catches the unwind, resumes what is postponed, each to the
//! end, and then lets the first panic go on. When the panic comes from a generator that was
//! postponed, it goes on from the read that was being made, where at a shallow depth it fails
//! that generator's stream (the generator's own call is where it is caught then).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// How many requests to generators and links may nest on one stack. Each level costs a few
/// hundred bytes: the chains of `tests/stream_depth.rs` read on a 64 KiB stack in a debug
/// build. A postponement, once every 64 levels, is a push and a pop of the queue below.
pub(crate) const MAX_DEPTH: u32 = 64;

/// A stream whose request was postponed.
pub(crate) trait Resume {
    /// Makes the postponed request now: the generator is no longer in flight, and the stream
    /// serves its readers (asking the generator again if they still wait).
    fn resume(self: Rc<Self>);
}

/// The top bit of [`DEPTH`]: some request is postponed.
const POSTPONED: u32 = 1 << 31;

thread_local! {
    /// The requests in progress on this thread's stack, and [`POSTPONED`].
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The postponed requests, oldest first.
    static QUEUE: RefCell<VecDeque<Rc<dyn Resume>>> = const { RefCell::new(VecDeque::new()) };
}

/// Would a request made now nest too deep? Then it must be [`postpone`]d.
// Not inlined, like `Entered`'s functions: their callers are generic, compiled in the user's
// crate, where this thread-local is reached through `LocalKey`'s accessor calls (11 to 18
// instructions each); here a call costs about 6 and `DEPTH` is reached directly.
#[inline(never)]
pub(crate) fn too_deep() -> bool {
    DEPTH.with(Cell::get) & !POSTPONED >= MAX_DEPTH
}

/// Runs `f`, a request to a generator or a link (made after [`too_deep`] said no), counted as
/// in progress. If it is the outermost one, what was postponed meanwhile is resumed after it.
#[inline]
pub(crate) fn nested<R>(f: impl FnOnce() -> R) -> R {
    let request = Entered::new();
    if request.outermost {
        return outermost(request, f);
    }
    f()
}

/// The outermost request: `f`, then the requests postponed under it, each to the end, whether
/// `f` or one of them unwinds or not (only a panicking async exception hook makes one unwind):
/// a request left postponed would leave its stream in flight for good, its readers waiting.
/// The first panic goes on afterwards.
#[inline(never)]
fn outermost<R>(request: Entered, f: impl FnOnce() -> R) -> R {
    let result = catch_unwind(AssertUnwindSafe(f));
    drop(request);
    let resumed = if DEPTH.with(Cell::get) == POSTPONED {
        resume_postponed()
    } else {
        Ok(())
    };
    match (result, resumed) {
        (Ok(r), Ok(())) => r,
        (Err(panic), _) | (Ok(_), Err(panic)) => resume_unwind(panic),
    }
}

/// Counts a request while it is in progress (a guard, so that an unwind counts it out too).
struct Entered {
    /// No other request was in progress when this one started.
    outermost: bool,
}

impl Entered {
    #[inline(never)] // see `too_deep`
    fn new() -> Entered {
        DEPTH.with(|d| {
            let depth = d.get();
            d.set(depth + 1);
            Entered {
                outermost: depth & !POSTPONED == 0,
            }
        })
    }
}

impl Drop for Entered {
    #[inline(never)] // see `too_deep`
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Files a request that would nest too deep, for the outermost request to make.
pub(crate) fn postpone(stream: Rc<dyn Resume>) {
    QUEUE.with(|q| q.borrow_mut().push_back(stream));
    DEPTH.set(DEPTH.get() | POSTPONED);
}

/// Resumes the postponed requests, those they postpone in turn included, from the outermost
/// request's exit (the depth is 0). A panic of one does not stop the others; the first is
/// returned.
#[cold]
fn resume_postponed() -> std::thread::Result<()> {
    // The loop runs as one request: a resumed request is not the outermost, and does not come
    // back here.
    let request = Entered::new();
    let mut first_panic = None;
    while let Some(next) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| next.resume())) {
            first_panic.get_or_insert(panic);
        }
    }
    // The queue is empty: nothing is postponed any more.
    DEPTH.set(DEPTH.get() & !POSTPONED);
    drop(request);
    first_panic.map_or(Ok(()), Err)
}
