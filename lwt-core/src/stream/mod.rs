//! Streams of values that arrive over time (Lwt's `Lwt_stream`).
//!
//! A [`Stream<T>`] is read with promises: [`get`](Stream::get) gives the next element, or `None`
//! once the stream is closed and every element was read. Elements come from a producer
//! ([`create`], [`create_bounded`]), a generator ([`from`], [`from_direct`]), a collection
//! ([`of_list`], [`of_iter`]), or another stream ([`Stream::map`], [`Stream::filter`], ...).
//!
//! ```
//! use lwt_core::{stream, State};
//!
//! let (s, push) = stream::create::<u32>();
//! let first = s.get();
//! assert_eq!(first.state(), State::Pending);
//! push.push(1).unwrap();
//! push.push(2).unwrap();
//! push.close();
//! assert_eq!(first.state(), State::Fulfilled(Some(1)));
//! let rest = s.map(|x| x * 10).to_list();
//! assert_eq!(rest.state(), State::Fulfilled(vec![20]));
//! ```
//!
//! # Lwt → here
//!
//! | Lwt_stream | here | notes |
//! |---|---|---|
//! | `create` | [`create`] → ([`Stream`], [`Push`]) | `push (Some x)` is [`Push::push`], `push None` is [`Push::close`]; dropping every `Push` closes too |
//! | `create_bounded` | [`create_bounded`] → ([`Stream`], [`BoundedPush`]) | `push` waits while full; [`Closed`] / [`Full`] rejections |
//! | `from`, `from_direct` | [`from`], [`from_direct`] | the generator is called once per element needed, never twice at once |
//! | `return`, `return_lwt` | [`ret`], [`ret_lwt`] | |
//! | `of_list`, `of_array`, `of_string` | [`of_list`], [`of_string`] | closed at once |
//! | `of_iter`, `of_seq`, `of_lwt_seq` | [`of_iter`], [`of_seq`] | lazy: elements are drawn when read |
//! | `clone` | [`Stream::clone`] (`T: Clone`) | the clone reads the same elements from the current point; a method, not the `Clone` trait, so that no clone is made implicitly (share one reader as an `Rc<Stream<T>>`) |
//! | `get`, `next`, `peek`, `npeek`, `junk`, `njunk`, `nget` | methods of the same names | `next` on an empty stream rejects with [`Empty`] |
//! | `get_available`, `get_available_up_to`, `last_new`, `junk_old` | methods of the same names | |
//! | `is_empty`, `is_closed`, `closed`, `on_terminate`, `on_termination` | methods of the same names | Lwt 5.6 deprecates both (in favour of binding on `closed`); `on_termination` is its main name, `on_terminate` the same function |
//! | `map`, `filter`, `filter_map`, `map_list` (+ `_s`) | methods of the same names | read through this stream's own cursor, as Lwt's do: reads of the stream itself and of the derived one take turns at its elements |
//! | `append`, `combine`, `flatten`, `wrap_exn` | methods of the same names | `wrap_exn` gives `Result<T, Exn>` elements and, like `map`, borrows the stream |
//! | `concat`, `choose` | [`concat()`], [`choose`] | |
//! | `fold`, `fold_s` | [`Stream::fold`], [`Stream::fold_s`] | Rust's argument order: `fold(init, \|acc, x\| ..)` |
//! | `iter`, `iter_s`, `iter_p`, `iter_n` | methods of the same names | stack-safe on millions of ready elements |
//! | `find`, `find_s`, `find_map`, `find_map_s` | methods of the same names | |
//! | `get_while`, `get_while_s`, `junk_while`, `junk_while_s` | methods of the same names | `get_while` gives a `Vec`; the run is one read of its handle (see below); a failed or canceled `get_while` puts back what it took |
//! | `to_list`, `to_string` | [`Stream::to_list`], [`Stream::to_string`] (for `Stream<char>`) | `to_list` gives a `Vec` |
//! | `Empty`, `Closed`, `Full` | [`Empty`], [`Closed`], [`Full`] | match with `e.is::<stream::Empty>()` |
//! | (Rust) | `futures_core::Stream` for [`Stream`] | with the `futures-stream` feature; items are `Result<T, Exn>` |
//! | `parse` | [`Stream::parse`] (`T: Clone`) | the parser gets `&Stream`; the start is kept by a hidden clone; on a bounded stream the result is rejected with [`InvalidArgument`](crate::InvalidArgument) (Lwt raises `Invalid_argument`) |
//! | `hexdump` | [`Stream::hexdump`] (on `Stream<u8>`) | Lwt's layout, checked against Lwt 5.6 |
//! | `create_with_reference`, `set_reference` | not provided | Rust owns the reference itself |
//! | `map_exn` | [`Stream::wrap_exn`] | Lwt's deprecated name of `wrap_exn` |
//!
//! # Differences from Lwt, on purpose
//!
//! * **Concurrent reads of one stream are served in order.** Two `get`s waiting on the same
//!   stream receive successive elements (Lwt gives both the same element). A read whose promise
//!   is canceled (by [`cancel`](crate::Promise::cancel), [`pick`](crate::pick), a timeout...)
//!   is skipped: it never takes an element, so nothing is lost. A read whose promise is merely
//!   dropped still takes its element, as in Lwt: cancel it to give up.
//! * **`nget` and `npeek` are all-or-nothing**: they wait until `n` elements (or the end) are
//!   there, then take them at once, so canceling one loses nothing. On a bounded stream, a
//!   reader that already holds a full bound and asks for more lets the pushes it needs in beyond
//!   the bound (Lwt's `npeek` of more than the bound waits forever); a reader holding less waits
//!   for the slowest clone, as any read does.
//! * **`get_while` & co. are one read of their handle.** While one runs (its predicate is
//!   called, its predicate's promise is pending, or it waits for elements), other reads of the
//!   same handle, made by the predicate or by anyone, wait and are then served in order, so its
//!   result is always a run of consecutive elements; in Lwt a `get` made inside the predicate
//!   returns the element under test. The element under test stays logically in the stream: a
//!   clone made meanwhile starts at it (but, when no other reader keeps it buffered, the
//!   clone's reads wait for the run to end, where Lwt's clone reads at once), and it still
//!   counts in a bounded stream's bound. A
//!   `get_while` that fails (a panicking or rejected predicate, a failed read) or is canceled
//!   puts back every element it took (Lwt keeps those it removed before the failure).
//! * **`choose` reads its inputs when it is read**, as the other derived streams do. Lwt's
//!   starts a read on every input when it is made, and another on the input it took an element
//!   from as soon as it gives that element: an input's generator (a [`from`], a
//!   [`map_s`](Stream::map_s) callback...) runs before anyone reads the result, and the elements
//!   those reads took are lost if the result is dropped. Among inputs that have an element at
//!   the same time, `choose` takes them in turn; Lwt picks one at random. An input whose read
//!   fails (its generator rejects) rejects one read of the result, and is read again by the
//!   next: Lwt's `choose` keeps the failed read and rejects every later read with it, so the
//!   other inputs' elements never come out.
//! * **A stream handle lives as long as a read on it is pending**: `fn first(s: Stream<T>) ->
//!   Promise<Option<T>> { s.get() }` works.
//! * **Clones of a bounded stream are allowed** (Lwt raises `Invalid_argument`): the bound then
//!   counts the elements the slowest clone has not read.
//! * **A bound of 0 is a rendezvous**: a push on `create_bounded(0)` waits until a reader asks
//!   for an element (a `get` waiting, or made later, a `get_available`...). A read that only
//!   looks (`peek`, `is_empty`) asks too: the push's element comes into the stream and the push
//!   is fulfilled, though nothing has taken the element yet (as with a clone that has not read
//!   it). In Lwt such a push waits until a `resize`, and a read that was waiting meanwhile is
//!   never woken: it deadlocks.
//! * **A bound that `resize` lowered below the count holds**: a waiting push comes in once the
//!   count is under the new bound (a bound of 0: once a reader waits on the emptied stream,
//!   as above). Lwt lets it in at the next read whatever the count (its
//!   `consume` assumes a push waits only while the count equals the bound), so its stream stays
//!   over the bound: after `resize 1` on a stream holding two elements, a `get` lets a waiting
//!   push in there, and leaves it waiting here until a second read.
//! * **Dropping every producer closes the stream** ([`Push`], [`BoundedPush`]); in Lwt a stream
//!   whose push function is garbage-collected stays open forever. A push still waiting on a
//!   bounded stream then comes in first (over the bound, its promise fulfilled), so its element
//!   is read before the end, as Lwt's next read would take it. (An explicit `close` rejects
//!   that push with [`Closed`], as Lwt's does.) When the end matters to the program (a logger
//!   that must finish), close the stream explicitly where the producing ends: when the last
//!   `Push` is dropped depends on what still holds it, and a closure of Rust 2021 captures only
//!   the fields of a struct it names, so one more mention of a struct that holds the `Push`, in
//!   code after a wait, can keep it alive and the stream open (rev136's trial: a deadlock,
//!   which `main::run` reports).
//! * **Dropping every reader closes the stream to its producers**: once every handle, clone and
//!   derived stream is dropped and no read is pending, nothing can read the stream again, so a
//!   push fails with [`Closed`] (a push waiting for room is rejected with it) and the producers'
//!   `is_closed` is true, as a send on a Rust channel whose receiver is gone. In Lwt the
//!   elements pile up in a stream nobody reads, and a bounded push waits forever. One read
//!   outlives its reader: a derived stream (`map`, `filter`, `filter_map`, or one made with
//!   [`from`] that reads this stream) given up while its request for an element was filed here
//!   (a canceled `get` of it, a `get_available` on it that found nothing) still takes the next
//!   element, as Lwt's would; pushes are refused from the one after.
//! * **A generator failure is never lost**: it rejects the reads waiting for that element, or,
//!   if none was waiting, the next read that needs one. A panicking generator or callback rejects
//!   with [`Panicked`](crate::Panicked).
//! * `iter_p` and `iter_n` stop reading at the first rejected callback or failed read, and
//!   reject (with the first rejection in stream order) once the callbacks already running are
//!   done. (Lwt's `iter_p` reads on after a rejected callback and calls the callback on every
//!   element; its `iter_n` rejects at once, after a rejected callback or a failed read, and
//!   leaves the running callbacks unobserved, and so does its `iter_p` when the generator
//!   raises rather than rejects: `tests/ocaml_diff_stream.rs` pins both.) Canceling their
//!   result cancels the running callbacks and withdraws the pending read, before `cancel`
//!   returns even from inside a callback (in `f`, say): no element is read and `f` is not
//!   called after it. (Lwt's `iter_p`, canceled while a callback's promise is pending, goes on
//!   reading and calling `f` on the elements pushed later; canceled while it waits for an
//!   element, it stops. A cancel from inside `f` does nothing to Lwt's `iter_p` and `iter_n`.)
//!
//! # Memory and cost
//!
//! Consumers and the generators of derived streams loop while elements and callback promises
//! are already resolved, and register one continuation only when something is pending: ten
//! million ready elements through `map`, `filter` and `iter_s` run in constant stack and memory.
//! When they must wait for an element, consumers (`fold`, `iter`, `iter_s`, `to_list`, `find`...)
//! and the synchronous `map`, `filter` and `filter_map` do not make a promise per element, as
//! Lwt's `from (fun () -> get s >|= f)` does: each files itself as a request in the stream's
//! queue of reads and runs as a job of the resolution loop when its element arrives. An element
//! pushed through `map` into a waiting `fold` costs no allocation (see `bench/RESULTS.md`).
//! `iter_p` never holds a list of the promises it started: it keeps one observer and one cancel
//! link (in a slot reused afterwards) per callback promise still pending, and nothing for those
//! that resolved at once. Elements are buffered only
//! while some clone has not read them; a canceled read leaves nothing behind once half of the
//! reads waiting on a cursor are dead.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::ops::ControlFlow::{Break, Continue};
use std::rc::{Rc, Weak};

use crate::exn::Exn;
use crate::node::CancelListener;
use crate::promise::Promise;
use crate::resolver::{task_telling, wait, Resolver};
use crate::seq::Seq;

mod append;
mod consume;
mod core;
mod depth;
pub(crate) mod drive;
mod hold;
mod link;

use self::core::{Gen, Handle, Kind, Shared};
use self::drive::{drive, guard, more, par, settle, stop, Source};
use self::hold::run_while;
use self::link::Link;

// ---- errors ---------------------------------------------------------------------------------------

/// Lwt's `Lwt_stream.Empty`: [`Stream::next`] on a stream that is closed and fully read.
///
/// ```
/// use lwt_core::stream;
/// let s = stream::of_list(Vec::<u8>::new());
/// assert!(s.next().rejection().unwrap().is::<stream::Empty>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stream is empty")
    }
}

impl Error for Empty {}

/// Lwt's `Lwt_stream.Closed`: pushing to a closed stream, or to one whose readers are all gone
/// (nothing could ever read the element; Lwt would keep it).
///
/// ```
/// use lwt_core::stream;
/// let (_s, push) = stream::create::<u8>();
/// push.close();
/// assert_eq!(push.push(1), Err(stream::Closed));
///
/// let (s, push) = stream::create::<u8>();
/// drop(s);
/// assert_eq!(push.push(1), Err(stream::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stream is closed")
    }
}

impl Error for Closed {}

/// Lwt's `Lwt_stream.Full`: a push on a bounded stream while another push already waits.
///
/// ```
/// use lwt_core::stream;
/// let (_s, push) = stream::create_bounded::<u8>(0);
/// let waiting = push.push(1);
/// assert!(waiting.is_pending());
/// assert!(push.push(2).rejection().unwrap().is::<stream::Full>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a push is already waiting on this bounded stream")
    }
}

impl Error for Full {}

// ---- the stream -----------------------------------------------------------------------------------

/// A stream of `T`s (Lwt's `'a Lwt_stream.t`): read with promises, closed by its producer.
///
/// Reading consumes: an element is given to one read. [`Stream::clone`] (for `T: Clone`) makes
/// another reader that sees the same elements from the current point on (Lwt's
/// `Lwt_stream.clone`), not a second handle on this reader; `Stream` does not implement the
/// `Clone` trait, so that no such reader is made implicitly. An OCaml value of type
/// `'a Lwt_stream.t` used in several places is one reader: share it as an `Rc<Stream<T>>`
/// (reads take `&self`), which is also what a loop of `lwt!` whose body binds needs.
///
/// ```
/// use lwt_core::{stream, State};
///
/// let s = stream::of_list(vec![1, 2, 3]);
/// let other = s.clone();
/// assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
/// assert_eq!(other.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
/// ```
#[must_use = "streams are lazy: a `Stream` (a `map` or `filter` of one, say) does nothing unless it is read"]
pub struct Stream<T: 'static> {
    h: Rc<Handle<T>>,
    /// The sources of the stream `append` made this one, which an `append` to it extends.
    appended: Option<append::Sources<T>>,
    #[cfg(feature = "futures-stream")]
    polling: Option<PollRead<T>>,
}

/// The read a `futures_core::Stream` poll started, with where it took its element.
#[cfg(feature = "futures-stream")]
type PollRead<T> = (Promise<Option<T>>, Rc<Cell<u64>>);

/// Reads a stream as a [`Source`] for the drivers.
struct Reader<T: 'static>(Rc<Handle<T>>);

impl<T: 'static> Source for Reader<T> {
    type Item = T;
    fn pull(&mut self) -> Promise<Option<T>> {
        self.0.get()
    }

    fn cursor(&self) -> Option<Rc<Handle<T>>> {
        Some(self.0.clone())
    }
}

impl<T: 'static> Stream<T> {
    fn from_handle(h: Rc<Handle<T>>) -> Stream<T> {
        Stream {
            h,
            appended: None,
            #[cfg(feature = "futures-stream")]
            polling: None,
        }
    }

    fn with_kind(kind: Kind<T>, producers: usize) -> (Stream<T>, Rc<Shared<T>>) {
        let shared = Shared::new(kind, producers);
        let h = Rc::new(Handle::new(shared.clone()));
        (Stream::from_handle(h), shared)
    }

    /// Another reference to this stream's cursor (not a clone: it reads the same elements).
    fn handle(&self) -> Rc<Handle<T>> {
        self.h.clone()
    }

    fn reader(&self) -> Reader<T> {
        Reader(self.handle())
    }

    // ---- reading -----------------------------------------------------------------------------------

    /// Lwt's `get`: the next element, removed from the stream; `None` once the stream is closed
    /// and every element was read. Resolved at once when an element is buffered (no allocation).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create();
    /// let p = s.get();
    /// push.push("a").unwrap();
    /// assert_eq!(p.state(), State::Fulfilled(Some("a")));
    /// push.close();
    /// assert_eq!(s.get().state(), State::Fulfilled(None));
    /// ```
    pub fn get(&self) -> Promise<Option<T>> {
        self.h.get()
    }

    /// Lwt's `next`: like [`get`](Stream::get), but rejected with [`Empty`] at the end.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![7]);
    /// assert_eq!(s.next().state(), State::Fulfilled(7));
    /// assert!(s.next().rejection().unwrap().is::<stream::Empty>());
    /// ```
    pub fn next(&self) -> Promise<T> {
        self.h.next()
    }

    /// Lwt's `junk`: removes the next element (waiting for it if needed).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2]);
    /// assert!(s.junk().is_fulfilled());
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
    /// ```
    pub fn junk(&self) -> Promise<()> {
        self.h.njunk(1)
    }

    /// Lwt's `njunk`: removes the next `n` elements (fewer if the stream ends first), as they
    /// arrive.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// assert!(s.njunk(2).is_fulfilled());
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
    /// ```
    pub fn njunk(&self, n: usize) -> Promise<()> {
        self.h.njunk(n)
    }

    /// Lwt's `nget`: the next `n` elements (fewer if the stream ends first). Waits until they are
    /// all there, then takes them at once (so canceling it loses nothing).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// assert_eq!(s.nget(2).state(), State::Fulfilled(vec![1, 2]));
    /// assert_eq!(s.nget(5).state(), State::Fulfilled(vec![3]));
    /// ```
    pub fn nget(&self, n: usize) -> Promise<Vec<T>> {
        self.h.nget(n)
    }

    /// Lwt's `get_while`: the elements at the head of the stream that satisfy `f`, up to the
    /// first one that does not (which stays in the stream: the next read gets it) or the end.
    /// Waits for elements as they arrive.
    ///
    /// `f` sees each element while it is still in the stream, with nothing of the stream
    /// borrowed: it may read, clone, push to or close the stream. The run is one read of this
    /// handle: reads made on it meanwhile (by `f` or by anyone) wait, and are served in order once
    /// it is over, so its result is always a run of elements in a row (`get_available` meanwhile
    /// gives nothing). (In Lwt a `get` made inside `f` returns the element being tested.) A clone
    /// made inside `f` starts at the element `f` is testing, as in Lwt; but when no other reader
    /// keeps that element buffered (one reader, as of an `of_list`), the clone's reads wait for
    /// the run to end too, where Lwt's clone reads at once.
    ///
    /// If `f` panics (rejected with [`Panicked`](crate::Panicked)) or a read fails (a generator's
    /// rejection), or if the result is canceled, every element taken goes back to the stream,
    /// which is then as before the call. (Lwt keeps the elements it removed before the failure.)
    /// On a bounded stream the element under test still counts in the bound; elements put back
    /// may leave the stream over its bound (as a rejected element does on a bound of 0, where it
    /// was handed over): pushes then wait until readers bring it back under.
    ///
    /// Stack-safe however many elements are ready.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 7, 3]);
    /// assert_eq!(s.get_while(|x| *x < 5).state(), State::Fulfilled(vec![1, 2]));
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(7)));
    ///
    /// let (s, push) = stream::create();
    /// let small = s.get_while(|x| *x < 5);
    /// push.push(1).unwrap();
    /// assert!(small.is_pending()); // waits for an element that ends the run
    /// push.push(9).unwrap();
    /// assert_eq!(small.state(), State::Fulfilled(vec![1]));
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(9)));
    /// ```
    pub fn get_while(&self, mut f: impl FnMut(&T) -> bool + 'static) -> Promise<Vec<T>> {
        run_while(self.handle(), true, move |x| Promise::ret(f(x)))
    }

    /// Lwt's `get_while_s`: [`get_while`](Stream::get_while) with a predicate that returns a
    /// promise. While it is pending, the element stays in the stream and other reads of this
    /// handle wait (they are served in order after the run). A rejected predicate rejects the
    /// result and puts the elements taken back. Canceling the result while a predicate promise is
    /// pending cancels that promise.
    ///
    /// ```
    /// use lwt_core::{stream, wait, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// let (verdict, r) = wait();
    /// let mut verdicts = vec![verdict];
    /// let run = s.get_while_s(move |x| {
    ///     if *x == 1 { verdicts.pop().unwrap() } else { lwt_core::Promise::ret(false) }
    /// });
    /// let next = s.get(); // waits for the run
    /// assert!(run.is_pending() && next.is_pending());
    /// r.wakeup(true); // 1 is taken; 2 stops the run
    /// assert_eq!(run.state(), State::Fulfilled(vec![1]));
    /// assert_eq!(next.state(), State::Fulfilled(Some(2)));
    /// ```
    pub fn get_while_s(&self, f: impl FnMut(&T) -> Promise<bool> + 'static) -> Promise<Vec<T>> {
        run_while(self.handle(), true, f)
    }

    /// Lwt's `junk_while`: removes the elements at the head of the stream that satisfy `f`, up
    /// to the first one that does not (which stays in the stream) or the end. As
    /// [`get_while`](Stream::get_while), but each element removed is dropped at once, so a long
    /// run takes constant memory; if it fails or is canceled, the elements already removed stay
    /// removed (only the one under test goes back).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![' ', ' ', 'a', ' ']);
    /// assert!(s.junk_while(|c| c.is_whitespace()).is_fulfilled());
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec!['a', ' ']));
    /// ```
    pub fn junk_while(&self, mut f: impl FnMut(&T) -> bool + 'static) -> Promise<()> {
        run_while(self.handle(), false, move |x| Promise::ret(f(x))).map(drop)
    }

    /// Lwt's `junk_while_s`: [`junk_while`](Stream::junk_while) with a predicate that returns a
    /// promise (see [`get_while_s`](Stream::get_while_s)).
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![0, 0, 5, 0]);
    /// assert!(s.junk_while_s(|x| Promise::ret(*x == 0)).is_fulfilled());
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![5, 0]));
    /// ```
    pub fn junk_while_s(&self, f: impl FnMut(&T) -> Promise<bool> + 'static) -> Promise<()> {
        run_while(self.handle(), false, f).map(drop)
    }

    /// Lwt's `get_available`: every element available now, without waiting. On a [`from`]
    /// stream the generator is asked again while it answers at once. On a bounded stream, the
    /// room its reads make lets a waiting push in, whose element it takes too (as Lwt does).
    ///
    /// ```
    /// use lwt_core::stream;
    /// let (s, push) = stream::create();
    /// push.push(1).unwrap();
    /// push.push(2).unwrap();
    /// assert_eq!(s.get_available(), vec![1, 2]);
    /// assert!(s.get_available().is_empty());
    ///
    /// let (s, push) = stream::create_bounded(1);
    /// assert!(push.push(1).is_fulfilled());
    /// let waiting = push.push(2);
    /// assert_eq!(s.get_available(), vec![1, 2]);
    /// assert!(waiting.is_fulfilled());
    /// ```
    ///
    /// On a stream made by [`from`], the generator is called while its promise is resolved at
    /// once. A failure of the generator ends the list there and is kept for the next read,
    /// which it rejects (see "A generator failure is never lost" in the [module docs](self)):
    /// Lwt's `get_available` raises it at once, and the elements it had taken are lost. The
    /// same holds for [`get_available_up_to`](Self::get_available_up_to),
    /// [`last_new`](Self::last_new) and [`junk_old`](Self::junk_old).
    ///
    /// ```
    /// use lwt_core::{stream, Exn, Promise, State};
    /// let mut n = 0;
    /// let s = stream::from(move || {
    ///     n += 1;
    ///     match n {
    ///         2 => Promise::fail(Exn::failure("broken")),
    ///         1 | 3 => Promise::ret(Some(n)),
    ///         _ => Promise::ret(None),
    ///     }
    /// });
    /// assert_eq!(s.get_available(), vec![1]);
    /// assert_eq!(s.get().rejection().unwrap().to_string(), "broken");
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
    /// ```
    pub fn get_available(&self) -> Vec<T> {
        self.h.get_available(usize::MAX)
    }

    /// Lwt's `get_available_up_to`: at most `n` of the elements available now (a waiting push of
    /// a bounded stream included, as in [`get_available`](Self::get_available)).
    ///
    /// ```
    /// use lwt_core::stream;
    /// let s = stream::of_iter(0..);
    /// assert_eq!(s.get_available_up_to(3), vec![0, 1, 2]);
    /// ```
    pub fn get_available_up_to(&self, n: usize) -> Vec<T> {
        self.h.get_available(n)
    }

    /// Lwt's `last_new`: the last of the elements available now (dropping the others), or, if
    /// none is, the next one to arrive (rejected with [`Empty`] at the end).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create();
    /// push.push(1).unwrap();
    /// push.push(2).unwrap();
    /// assert_eq!(s.last_new().state(), State::Fulfilled(2));
    /// let next = s.last_new();
    /// push.push(3).unwrap();
    /// assert_eq!(next.state(), State::Fulfilled(3));
    /// ```
    pub fn last_new(&self) -> Promise<T> {
        match self.get_available().pop() {
            Some(x) => Promise::ret(x),
            None => self.next(),
        }
    }

    /// Lwt's `junk_old`: drops the elements available now.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create();
    /// push.push(1).unwrap();
    /// assert!(s.junk_old().is_fulfilled());
    /// push.push(2).unwrap();
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
    /// ```
    pub fn junk_old(&self) -> Promise<()> {
        drop(self.get_available());
        Promise::ret(())
    }

    /// Lwt's `is_empty`: waits until an element is available (`false`) or the stream is closed
    /// and fully read (`true`). Removes nothing.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create::<u8>();
    /// let empty = s.is_empty();
    /// assert!(empty.is_pending());
    /// push.close();
    /// assert_eq!(empty.state(), State::Fulfilled(true));
    /// ```
    pub fn is_empty(&self) -> Promise<bool> {
        self.h.is_empty()
    }

    /// Lwt's `is_closed`: has the producer closed the stream? (Elements may still be buffered.)
    ///
    /// ```
    /// use lwt_core::stream;
    /// let s = stream::of_list(vec![1]);
    /// assert!(s.is_closed()); // closed, though 1 is still to be read
    /// ```
    pub fn is_closed(&self) -> bool {
        self.h.shared.state.borrow().is_closed()
    }

    /// Lwt's `closed`: a promise fulfilled when the stream is closed (rejected with
    /// [`Abandoned`](crate::Abandoned) if the stream is dropped while open). As in Lwt, closing
    /// a pushed stream answers its waiting reads (with `None`) and rejects a waiting bounded
    /// push before it fulfils `closed`, so their callbacks run first. What those answers cause
    /// in turn (a `map`ped stream's end, a `to_list` consumer's result) comes after `closed`'s
    /// callbacks here, where Lwt runs it first, nested: resolution is breadth-first (see the
    /// README's differences from Lwt).
    ///
    /// ```
    /// use lwt_core::stream;
    /// let (s, push) = stream::create::<u8>();
    /// let closed = s.closed();
    /// assert!(closed.is_pending());
    /// drop(push); // the last producer: closes the stream
    /// assert!(closed.is_fulfilled());
    /// ```
    pub fn closed(&self) -> Promise<()> {
        self.h.shared.state.borrow_mut().closed_promise()
    }

    /// Lwt's `on_terminate` (`on_termination`): calls `f` when the stream is closed (at once if
    /// it is already). A panic in `f` goes to the [async exception hook](crate::hook).
    ///
    /// A stream closed from top-level code calls `f` before `close` returns. Closed from inside
    /// a callback, `f` runs once that callback has returned, after what the callback does next:
    /// here every resolution made in a callback waits in the one queue (see the README's
    /// differences from Lwt), where Lwt's `close` calls `f` at once, nested.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use lwt_core::stream;
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// let (s, push) = stream::create::<u8>();
    /// s.on_terminate(move || d.set(true));
    /// push.close();
    /// assert!(done.get());
    /// ```
    pub fn on_terminate(&self, f: impl FnOnce() + 'static) {
        self.closed().on_success(move |()| f());
    }

    /// Lwt's `on_termination`: the same as [`on_terminate`](Stream::on_terminate).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let (s, push) = lwt_core::stream::create::<u8>();
    /// let ended = Rc::new(Cell::new(false));
    /// s.on_termination({ let ended = ended.clone(); move || ended.set(true) });
    /// assert!(!ended.get());
    /// push.close();
    /// assert!(ended.get());
    /// ```
    pub fn on_termination(&self, f: impl FnOnce() + 'static) {
        self.on_terminate(f)
    }

    /// How many reads wait on this stream's cursor, canceled ones not yet purged included (for
    /// the tests that check nothing accumulates).
    #[doc(hidden)]
    pub fn waiting_reads(&self) -> usize {
        self.h.shared.state.borrow().ops_len(self.h.cursor)
    }

    /// How many elements the stream buffers for its readers (for the memory tests).
    #[doc(hidden)]
    pub fn buffered(&self) -> usize {
        self.h.shared.state.borrow().buffered()
    }

    // ---- consuming ---------------------------------------------------------------------------------

    /// Lwt's `fold`: combines every element into an accumulator, in order. The arguments are in
    /// the order of Rust's [`Iterator::fold`], not Lwt's: Lwt's `fold f s init`, whose `f`
    /// takes the element first (`f x acc`), is `s.fold(init, |acc, x| f(x, acc))` here.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let sum = stream::of_list(vec![1, 2, 3]).fold(0, |acc, x| acc + x);
    /// assert_eq!(sum.state(), State::Fulfilled(6));
    /// ```
    pub fn fold<A: 'static>(&self, init: A, mut f: impl FnMut(A, T) -> A + 'static) -> Promise<A> {
        drive(self.reader(), init, move |acc, item| match item {
            Some(x) => more(f(acc, x)),
            None => stop(acc),
        })
    }

    /// Lwt's `fold_s`: [`fold`](Stream::fold) with a callback that returns a promise, each one
    /// waited for before the next element is read.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let sum = stream::of_list(vec![1, 2, 3]).fold_s(0, |acc, x| Promise::ret(acc + x));
    /// assert_eq!(sum.state(), State::Fulfilled(6));
    /// ```
    pub fn fold_s<A: 'static>(
        &self,
        init: A,
        mut f: impl FnMut(A, T) -> Promise<A> + 'static,
    ) -> Promise<A> {
        drive(self.reader(), init, move |acc, item| match item {
            Some(x) => f(acc, x).map(Continue),
            None => stop(acc),
        })
    }

    /// Lwt's `iter`: calls `f` on every element, until the stream ends.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use lwt_core::stream;
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// let done = stream::of_list(vec![1, 2]).iter(move |x| s.borrow_mut().push(x));
    /// assert!(done.is_fulfilled());
    /// assert_eq!(*seen.borrow(), [1, 2]);
    /// ```
    pub fn iter(&self, mut f: impl FnMut(T) + 'static) -> Promise<()> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) => {
                f(x);
                more(())
            }
            None => stop(()),
        })
    }

    /// Lwt's `iter_s`: calls `f` on every element, waiting for its promise before reading the
    /// next. Stack-safe however many elements and callbacks are already resolved.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use lwt_core::{stream, Promise};
    /// let n = Rc::new(Cell::new(0_u64));
    /// let m = n.clone();
    /// let done = stream::of_iter(0..1_000_000_u64).iter_s(move |x| {
    ///     m.set(m.get() + x);
    ///     Promise::ret(())
    /// });
    /// assert!(done.is_fulfilled());
    /// assert_eq!(n.get(), 499_999_500_000);
    /// ```
    pub fn iter_s(&self, mut f: impl FnMut(T) -> Promise<()> + 'static) -> Promise<()> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) => f(x).map(Continue),
            None => stop(()),
        })
    }

    /// Lwt's `iter_p`: calls `f` on every element as soon as it is read, without waiting for the
    /// previous callbacks; resolved once the stream ended and every callback promise resolved.
    ///
    /// A rejected callback stops the reading; the result is then rejected with the first
    /// rejection in stream order, once the callbacks already running are done. Canceling the
    /// result cancels the running callbacks and withdraws the pending read (its element stays in
    /// the stream), before `cancel` returns, even from inside a callback: `f` is not called
    /// after it (see the [module docs](self)). Memory: nothing for callbacks that resolve at once, an observer and a cancel
    /// link per callback promise still pending.
    ///
    /// ```
    /// use lwt_core::{stream, wait, State};
    /// use std::{cell::Cell, rc::Rc};
    /// let (a, ra) = wait::<()>();
    /// let (b, rb) = wait::<()>();
    /// let mut waits = vec![b, a];
    /// let calls = Rc::new(Cell::new(0));
    /// let counted = calls.clone();
    /// let done = stream::of_list(vec![1, 2]).iter_p(move |_| {
    ///     counted.set(counted.get() + 1);
    ///     waits.pop().unwrap()
    /// });
    /// // Both callbacks are running: the second was called before the first's promise resolved.
    /// assert_eq!(calls.get(), 2);
    /// assert_eq!(done.state(), State::Pending);
    /// rb.wakeup(());
    /// ra.wakeup(());
    /// assert!(done.is_fulfilled());
    /// ```
    pub fn iter_p(&self, f: impl FnMut(T) -> Promise<()> + 'static) -> Promise<()> {
        par(self.reader(), usize::MAX, f, "Stream::iter_p")
    }

    /// Lwt's `iter_n`: like [`iter_p`](Stream::iter_p), with at most `max_concurrency`
    /// callback promises pending at once (the next element is read when one resolves).
    /// `max_concurrency == 0` gives a promise rejected with
    /// [`InvalidArgument`](crate::InvalidArgument).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use lwt_core::{stream, wait, Resolver, State};
    /// let resolvers: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    /// let r = resolvers.clone();
    /// let done = stream::of_list(vec![1, 2, 3]).iter_n(2, move |_| {
    ///     let (p, resolver) = wait();
    ///     r.borrow_mut().push(resolver);
    ///     p
    /// });
    /// assert_eq!(resolvers.borrow().len(), 2); // the third waits for room
    /// let first = resolvers.borrow_mut().remove(0);
    /// first.wakeup(());
    /// assert_eq!(resolvers.borrow().len(), 2);
    /// for r in resolvers.borrow_mut().drain(..) {
    ///     r.wakeup(());
    /// }
    /// assert_eq!(done.state(), State::Fulfilled(()));
    /// ```
    pub fn iter_n(
        &self,
        max_concurrency: usize,
        f: impl FnMut(T) -> Promise<()> + 'static,
    ) -> Promise<()> {
        par(self.reader(), max_concurrency, f, "Stream::iter_n")
    }

    /// Lwt's `find`: the first element that satisfies `f` (the elements before it, and it, are
    /// removed); `None` if the stream ends first.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 4, 5, 8]);
    /// assert_eq!(s.find(|x| x % 2 == 0).state(), State::Fulfilled(Some(4)));
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(5)));
    /// ```
    pub fn find(&self, mut f: impl FnMut(&T) -> bool + 'static) -> Promise<Option<T>> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) if f(&x) => stop(Some(x)),
            Some(_) => more(()),
            None => stop(None),
        })
    }

    /// Lwt's `find_s`: [`find`](Stream::find) with a predicate that returns a promise.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![1, 4, 5]);
    /// assert_eq!(s.find_s(|x| Promise::ret(*x > 3)).state(), State::Fulfilled(Some(4)));
    /// ```
    pub fn find_s(&self, mut f: impl FnMut(&T) -> Promise<bool> + 'static) -> Promise<Option<T>> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) => f(&x).map(move |found| if found { Break(Some(x)) } else { Continue(()) }),
            None => stop(None),
        })
    }

    /// Lwt's `find_map`: the first `Some` that `f` returns for an element.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec!["a", "12", "b"]);
    /// assert_eq!(s.find_map(|x| x.parse::<u8>().ok()).state(), State::Fulfilled(Some(12)));
    /// ```
    pub fn find_map<U: 'static>(
        &self,
        mut f: impl FnMut(T) -> Option<U> + 'static,
    ) -> Promise<Option<U>> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) => match f(x) {
                Some(y) => stop(Some(y)),
                None => more(()),
            },
            None => stop(None),
        })
    }

    /// Lwt's `find_map_s`: [`find_map`](Stream::find_map) with a callback that returns a
    /// promise.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// let p = s.find_map_s(|x| Promise::ret((x > 1).then_some(x * 100)));
    /// assert_eq!(p.state(), State::Fulfilled(Some(200)));
    /// ```
    pub fn find_map_s<U: 'static>(
        &self,
        mut f: impl FnMut(T) -> Promise<Option<U>> + 'static,
    ) -> Promise<Option<U>> {
        drive(self.reader(), (), move |(), item| match item {
            Some(x) => f(x).map(|found| match found {
                Some(y) => Break(Some(y)),
                None => Continue(()),
            }),
            None => stop(None),
        })
    }

    /// Lwt's `to_list`: every remaining element, once the stream is closed.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create();
    /// let all = s.to_list();
    /// push.push(1).unwrap();
    /// push.push(2).unwrap();
    /// push.close();
    /// assert_eq!(all.state(), State::Fulfilled(vec![1, 2]));
    /// ```
    pub fn to_list(&self) -> Promise<Vec<T>> {
        drive(self.reader(), Vec::new(), |mut acc, item| match item {
            Some(x) => {
                acc.push(x);
                more(acc)
            }
            None => stop(acc),
        })
    }

    // ---- transforming ------------------------------------------------------------------------------

    /// Lwt's `map`: a stream of `f` applied to each element, computed as they are read.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2]).map(|x| x * 10);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![10, 20]));
    /// ```
    pub fn map<U: 'static>(&self, mut f: impl FnMut(T) -> U + 'static) -> Stream<U> {
        self.linked(move |x| Some(f(x)))
    }

    /// A stream of `f` over this one's elements, through a [`Link`] (no promise per element).
    fn linked<U: 'static>(&self, f: impl FnMut(T) -> Option<U> + 'static) -> Stream<U> {
        let link = Link::new(self.handle(), f);
        Stream::with_kind(
            Kind::From {
                gen: Some(Gen::Link(link)),
                in_flight: false,
            },
            0,
        )
        .0
    }

    /// Lwt's `map_s`: [`map`](Stream::map) with a callback that returns a promise.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![1, 2]).map_s(|x| Promise::ret(x + 1));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
    /// ```
    pub fn map_s<U: 'static>(&self, f: impl FnMut(T) -> Promise<U> + 'static) -> Stream<U> {
        let src = self.handle();
        let f = Rc::new(RefCell::new(f));
        from(move || {
            let f = f.clone();
            src.get().bind(move |item| match item {
                Some(x) => {
                    let p = (f.borrow_mut())(x);
                    p.map(Some)
                }
                None => Promise::ret(None),
            })
        })
    }

    /// Lwt's `filter`: the elements that satisfy `f`.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 3, 4]).filter(|x| x % 2 == 0);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 4]));
    /// ```
    pub fn filter(&self, mut f: impl FnMut(&T) -> bool + 'static) -> Stream<T> {
        self.linked(move |x| f(&x).then_some(x))
    }

    /// Lwt's `filter_s`: [`filter`](Stream::filter) with a predicate that returns a promise.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![1, 2, 3]).filter_s(|x| Promise::ret(*x != 2));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 3]));
    /// ```
    pub fn filter_s(&self, mut f: impl FnMut(&T) -> Promise<bool> + 'static) -> Stream<T> {
        self.filter_map_s(move |x| f(&x).map(move |keep| keep.then_some(x)))
    }

    /// Lwt's `filter_map`: the `Some`s that `f` returns.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec!["1", "x", "3"]).filter_map(|x| x.parse::<u8>().ok());
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 3]));
    /// ```
    pub fn filter_map<U: 'static>(&self, f: impl FnMut(T) -> Option<U> + 'static) -> Stream<U> {
        self.linked(f)
    }

    /// Lwt's `filter_map_s`: [`filter_map`](Stream::filter_map) with a callback that returns a
    /// promise. Elements that `f` drops are skipped in a loop, not by recursion.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_iter(0..1_000_000).filter_map_s(|x| Promise::ret((x > 999_997).then_some(x)));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![999_998, 999_999]));
    /// ```
    pub fn filter_map_s<U: 'static>(
        &self,
        f: impl FnMut(T) -> Promise<Option<U>> + 'static,
    ) -> Stream<U> {
        let src = self.handle();
        let f = Rc::new(RefCell::new(f));
        from(move || {
            let f = f.clone();
            drive(Reader(src.clone()), (), move |(), item| match item {
                Some(x) => {
                    let p = (f.borrow_mut())(x);
                    p.map(|found| match found {
                        Some(y) => Break(Some(y)),
                        None => Continue(()),
                    })
                }
                None => stop(None),
            })
        })
    }

    /// Lwt's `map_list`: each element becomes the elements of the collection `f` returns.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2]).map_list(|x| vec![x; x]);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 2]));
    /// ```
    pub fn map_list<I>(&self, mut f: impl FnMut(T) -> I + 'static) -> Stream<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
    {
        self.map_list_s(move |x| Promise::ret(f(x)))
    }

    /// Lwt's `map_list_s`: [`map_list`](Stream::map_list) with a callback that returns a promise.
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec!["a b", "", "c"])
    ///     .map_list_s(|line| Promise::ret(line.split_whitespace().collect::<Vec<_>>()));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec!["a", "b", "c"]));
    /// ```
    pub fn map_list_s<I>(&self, f: impl FnMut(T) -> Promise<I> + 'static) -> Stream<I::Item>
    where
        I: IntoIterator + 'static,
        I::Item: 'static,
    {
        let src = self.handle();
        let f = Rc::new(RefCell::new(f));
        let buffer: Rc<RefCell<VecDeque<I::Item>>> = Rc::default();
        from(move || {
            if let Some(x) = buffer.borrow_mut().pop_front() {
                return Promise::ret(Some(x));
            }
            let (f, buffer) = (f.clone(), buffer.clone());
            drive(Reader(src.clone()), (), move |(), item| match item {
                Some(x) => {
                    let buffer = buffer.clone();
                    let p = (f.borrow_mut())(x);
                    p.map(move |items| {
                        let mut items = items.into_iter();
                        match items.next() {
                            Some(first) => {
                                buffer.borrow_mut().extend(items);
                                Break(Some(first))
                            }
                            None => Continue(()),
                        }
                    })
                }
                None => stop(None),
            })
        })
    }

    /// Lwt's `wrap_exn`: a stream whose failed reads become `Err` elements instead of
    /// rejections (the stream then goes on: a [`from`] generator is asked again).
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let mut n = 0;
    /// let s = stream::from(move || {
    ///     n += 1;
    ///     match n {
    ///         1 => Promise::fail_with("flaky"),
    ///         2 => Promise::ret(Some(2)),
    ///         _ => Promise::ret(None),
    ///     }
    /// });
    /// let items = s.wrap_exn().map(|r| r.map_err(|e| e.to_string())).to_list();
    /// assert_eq!(items.state(), State::Fulfilled(vec![Err("flaky".to_string()), Ok(2)]));
    /// ```
    pub fn wrap_exn(&self) -> Stream<Result<T, Exn>> {
        let src = self.handle();
        from(move || {
            src.get().then(|outcome| {
                Promise::ret(match outcome {
                    Ok(item) => item.map(Ok),
                    Err(e) => Some(Err(e)),
                })
            })
        })
    }

    /// Lwt's `append`: the elements of this stream, then those of `other`.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1]).append(stream::of_list(vec![2, 3]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
    /// ```
    ///
    /// Appending in a loop costs time linear in the number of streams (Lwt's chain of appends is
    /// quadratic): an append to a stream that `append` made, and that nothing else reads, adds to
    /// that stream's list of sources instead of wrapping it.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let mut all = stream::of_list(vec![0]);
    /// for i in 1..100_000 {
    ///     all = all.append(stream::of_list(vec![i]));
    /// }
    /// assert_eq!(all.fold(0u64, |acc, x| acc + x).state(), State::Fulfilled(4_999_950_000));
    /// ```
    pub fn append(mut self, mut other: Stream<T>) -> Stream<T> {
        let more = match other.sources_to_give() {
            Some(sources) => sources,
            None => VecDeque::from([other.handle()]),
        };
        if let Some(sources) = self.sources_to_extend() {
            sources.borrow_mut().extend(more);
            return self;
        }
        let mut list = VecDeque::from([self.handle()]);
        list.extend(more);
        let sources: append::Sources<T> = Rc::new(RefCell::new(list));
        let read = sources.clone();
        let mut s = from(move || append::next(&read));
        s.appended = Some(sources);
        s
    }

    /// The sources of this appended stream, if an append may add to them: nothing but this
    /// `Stream` can read it or see it end (no consumer or derived stream holds its handle, and
    /// see `State::extensible`).
    fn sources_to_extend(&mut self) -> Option<&append::Sources<T>> {
        let sources = self.appended.as_ref()?;
        #[cfg(feature = "futures-stream")]
        if self.polling.is_some() {
            return None;
        }
        let st = self.h.shared.state.borrow();
        (Rc::strong_count(&self.h) == 1 && st.extensible(self.h.cursor)).then_some(sources)
    }

    /// The sources of this appended stream, taken out of it, if it may give them to another
    /// append instead of being read by it: as for [`sources_to_extend`](Self::sources_to_extend),
    /// and nothing read ahead (no element buffered, no generator call in flight), which would
    /// be lost with the stream.
    fn sources_to_give(&mut self) -> Option<VecDeque<Rc<Handle<T>>>> {
        self.sources_to_extend()?;
        if !self.h.shared.state.borrow().untouched_generator() {
            return None;
        }
        let sources = self.appended.take()?;
        let taken = std::mem::take(&mut *sources.borrow_mut());
        Some(taken)
    }

    /// Lwt's `combine`: pairs of elements, one from each stream. Each read reads both streams
    /// and ends the combined stream when either read finds its end; so when one stream has
    /// ended and the other is open but empty, the read waits for the other's next element,
    /// which it then takes and drops (as Lwt's does).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 3]).combine(stream::of_list(vec!["a", "b"]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![(1, "a"), (2, "b")]));
    /// ```
    pub fn combine<U: 'static>(self, other: Stream<U>) -> Stream<(T, U)> {
        let a = self.handle();
        let b = other.handle();
        from(move || match (settle(a.get()), settle(b.get())) {
            (Ok(x), Ok(y)) => Promise::from_outcome(zip(x, y)),
            // Both reads are made; the first is waited for first, as Lwt's
            // `t1 >>= fun n1 -> t2 >>= ...`: its failure is the pair's at once.
            (x, y) => {
                let y = unsettle(y);
                unsettle(x).bind(move |x| y.map(move |y| x.zip(y)))
            }
        })
    }
}

fn zip<A, B>(a: Result<Option<A>, Exn>, b: Result<Option<B>, Exn>) -> Result<Option<(A, B)>, Exn> {
    Ok(a?.zip(b?))
}

fn unsettle<T: 'static>(r: Result<Result<T, Exn>, Promise<T>>) -> Promise<T> {
    match r {
        Ok(outcome) => Promise::from_outcome(outcome),
        Err(p) => p,
    }
}

impl<T: 'static> Stream<T> {
    /// Lwt's `peek`: the next element, left in the stream (a clone).
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2]);
    /// assert_eq!(s.peek().state(), State::Fulfilled(Some(1)));
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    /// ```
    pub fn peek(&self) -> Promise<Option<T>>
    where
        T: Clone,
    {
        self.h.peek(T::clone)
    }

    /// Lwt's `npeek`: clones of the next `n` elements (fewer if the stream ends first), left in
    /// the stream. Waits until they are all there.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// assert_eq!(s.npeek(2).state(), State::Fulfilled(vec![1, 2]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
    /// ```
    pub fn npeek(&self, n: usize) -> Promise<Vec<T>>
    where
        T: Clone,
    {
        self.h.npeek(n, T::clone)
    }
}

impl<T: Clone + 'static> Stream<T> {
    /// Lwt's `parse`: runs the parser `f` on this stream; if the promise it returns is rejected
    /// (or `f` panics: [`Panicked`](crate::Panicked)), this handle goes back to where it was
    /// before `f` started, so the elements `f` read can be read again, and the rejection is
    /// passed on. If it is fulfilled, what `f` read stays read.
    ///
    /// The start is where `f`'s first read starts: after the reads already pending on this
    /// handle when `parse` is called (and after a [`get_while`](Stream::get_while) run that owns
    /// it), since reads of one handle are served in order. It is kept by a hidden clone of the
    /// handle while `f` runs: the elements read meanwhile stay buffered, and each read of this
    /// handle takes a clone of its element. Reads left pending on this handle when `f` fails are
    /// served after the rewind, from the start again: as in Lwt for reads made before `parse`
    /// was called, where Lwt serves a read made while `f` ran from the place it was made at
    /// (leaving the stream where the rewind put it, so that element comes out twice). If a `get_while` run still owns
    /// the handle then, the rewind (and the rejection) waits for it to end; rewinds of nested
    /// parsers that failed meanwhile apply in the order they failed, so the last to fail wins (as
    /// in Lwt, where the last assignment of the stream's position wins: an outer parser that
    /// fails before the inner parse it started has its rewind undone by the inner one's). While
    /// the reads pending ahead of `f`'s are not served, `f`'s own reads wait behind them
    /// (`get_available` gives nothing). Clones of the handle made by `f` are not rewound.
    ///
    /// On a stream made by [`create_bounded`] the result is rejected with
    /// [`InvalidArgument`](crate::InvalidArgument) and `f` is not called (as in Lwt: the
    /// elements kept for the rewind would count in the bound, and a parser reading more than the
    /// bound would wait forever).
    ///
    /// ```
    /// use lwt_core::{stream, Promise, State};
    /// let s = stream::of_list(vec![1, 2, 3]);
    /// // A parser that wants two even numbers: it fails, and the stream is as before.
    /// let evens = s.parse(|s| {
    ///     s.nget(2).bind(|v| {
    ///         if v.iter().all(|x| x % 2 == 0) {
    ///             Promise::ret(v)
    ///         } else {
    ///             Promise::fail_with("not two even numbers")
    ///         }
    ///     })
    /// });
    /// assert!(evens.is_rejected());
    /// assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    /// // One that succeeds consumes what it read.
    /// let two = s.parse(|s| s.nget(1));
    /// assert_eq!(two.state(), State::Fulfilled(vec![2]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
    /// ```
    pub fn parse<U: 'static>(&self, f: impl FnOnce(&Stream<T>) -> Promise<U>) -> Promise<U> {
        if self.h.bounded() {
            return Promise::fail_invalid_arg("Stream::parse on a bounded stream");
        }
        // The mark: a clone where the parser's first read starts (behind the reads already
        // pending on this handle, or the run that owns it: `mark_behind` moves it there when
        // their turn is over), dropped once the outcome is known (and the handle is back at the
        // start, on a failure).
        let mark = self.clone().handle();
        self.h.mark_behind(&mark);
        let (h, h2, start) = (self.handle(), self.handle(), mark.clone());
        guard(|| f(self)).try_bind(
            move |v| {
                h2.withdraw_mark(&mark);
                drop(mark);
                Promise::ret(v)
            },
            move |e| {
                if h.withdraw_mark(&start) {
                    // None of the parser's reads was served: nothing to rewind.
                    return Promise::fail(e);
                }
                h.seek_to(&start).bind(move |()| {
                    drop(start);
                    Promise::fail(e)
                })
            },
        )
    }
}

impl<I> Stream<I>
where
    I: IntoIterator + 'static,
    I::Item: 'static,
{
    /// Lwt's `flatten`: the elements of each collection in turn.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_list(vec![vec![1, 2], vec![], vec![3]]).flatten();
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
    /// ```
    pub fn flatten(self) -> Stream<I::Item> {
        self.map_list(|x| x)
    }
}

impl Stream<u8> {
    /// Lwt's `hexdump`: the bytes of this stream as the lines of a hex dump, 16 bytes a line, in
    /// Lwt's layout (the offset, the bytes in hex in two groups of eight, then the printable
    /// ASCII ones, `.` for the others). A line is made once its 16 bytes are there, or at the end
    /// of the stream; an empty stream gives no line. (An OCaml `char` is a byte: for a
    /// `Stream<char>`, hexdump its UTF-8, e.g. `s.map_list(|c| c.to_string().into_bytes())`.)
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let lines = stream::of_iter("Back off, man, I'm a scientist.".bytes()).hexdump();
    /// assert_eq!(
    ///     lines.to_list().state(),
    ///     State::Fulfilled(vec![
    ///         "00000000|  42 61 63 6b 20 6f 66 66  2c 20 6d 61 6e 2c 20 49  |Back off, man, I|"
    ///             .to_string(),
    ///         "00000010|  27 6d 20 61 20 73 63 69  65 6e 74 69 73 74 2e     |'m a scientist.|"
    ///             .to_string(),
    ///     ])
    /// );
    /// ```
    pub fn hexdump(self) -> Stream<String> {
        let mut offset = 0u64;
        from(move || {
            // Every line but the last has 16 bytes, so a line's offset is known when it is asked.
            let at = offset;
            offset += 16;
            self.nget(16)
                .map(move |bytes| (!bytes.is_empty()).then(|| hexdump_line(at, &bytes)))
        })
    }
}

/// One line of [`Stream::hexdump`]: `bytes` (at most 16) at `offset`.
fn hexdump_line(offset: u64, bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut line = format!("{offset:08x}|  ");
    for i in 0..16 {
        match bytes.get(i) {
            Some(b) => {
                let _ = write!(line, "{b:02x} ");
            }
            None => line.push_str("   "),
        }
        if i == 7 {
            line.push(' ');
        }
    }
    line.push_str(" |");
    line.extend(bytes.iter().map(|&b| {
        if (0x20..0x7f).contains(&b) {
            char::from(b)
        } else {
            '.'
        }
    }));
    line.push('|');
    line
}

impl Stream<char> {
    /// Lwt's `to_string`: every remaining character, once the stream is closed.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let s = stream::of_string("hello").map(|c| c.to_ascii_uppercase());
    /// assert_eq!(s.to_string().state(), State::Fulfilled("HELLO".to_string()));
    /// ```
    #[allow(clippy::inherent_to_string_shadow_display)]
    pub fn to_string(&self) -> Promise<String> {
        self.fold(String::new(), |mut acc, c| {
            acc.push(c);
            acc
        })
    }
}

impl<T: Clone + 'static> Stream<T> {
    /// Lwt's `clone`: another reader that sees the same elements as this one from the current
    /// point on. Each element is then cloned for every reader but the last.
    ///
    /// This is a method, not the `Clone` trait, on purpose: a stream is a reader with a
    /// position, and a clone made implicitly (by `#[derive(Clone)]`, or by a loop of `lwt!`
    /// whose body binds, which runs each iteration on a clone of what it captured) would be a
    /// new reader starting where the original stands, so a loop reading it would read its first
    /// element for ever. To share one reader, as OCaml shares a stream value, put it in an `Rc`.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create::<u8>();
    /// push.push(1).unwrap();
    /// let c = s.clone();
    /// push.push(2).unwrap();
    /// drop(push);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    /// assert_eq!(c.to_list().state(), State::Fulfilled(vec![1, 2]));
    /// ```
    #[allow(clippy::should_implement_trait)] // not `Clone` on purpose: see above
    pub fn clone(&self) -> Stream<T> {
        self.h.shared.state.borrow_mut().set_cloner(T::clone);
        Stream::from_handle(Rc::new(self.h.clone_handle()))
    }
}

impl<T: 'static> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.h.shared.state.borrow();
        f.debug_struct("Stream")
            .field("available", &st.avail(self.h.cursor))
            .field("closed", &st.is_closed())
            .finish()
    }
}

// ---- creation -------------------------------------------------------------------------------------

/// Lwt's `create`: a stream and the [`Push`] handle that feeds it.
///
/// ```
/// use lwt_core::{stream, State};
/// let (s, push) = stream::create();
/// push.push(1).unwrap();
/// drop(push); // dropping the last producer closes the stream
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1]));
/// ```
#[doc(alias = "unbounded_channel")]
pub fn create<T: 'static>() -> (Stream<T>, Push<T>) {
    let (s, shared) = Stream::with_kind(Kind::Push, 1);
    (s, Push { shared })
}

/// Lwt's `create_bounded`: a stream that buffers at most `size` unread elements, and the
/// [`BoundedPush`] that feeds it: a push waits while the buffer is full. With `size == 0` a push
/// waits until a reader asks for an element (a rendezvous; a `peek` or `is_empty` asks too, and
/// lets the element in untaken; Lwt's waits for a `resize`: see "Differences from Lwt, on
/// purpose" in the module docs).
///
/// ```
/// use lwt_core::{stream, State};
/// let (s, push) = stream::create_bounded(1);
/// assert!(push.push(1).is_fulfilled());
/// let second = push.push(2);
/// assert!(second.is_pending()); // full
/// assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
/// assert!(second.is_fulfilled()); // room again: 2 is in
/// ```
#[doc(alias = "channel")]
pub fn create_bounded<T: 'static>(size: usize) -> (Stream<T>, BoundedPush<T>) {
    let (s, shared) = Stream::with_kind(
        Kind::Bounded {
            size,
            pending: None,
        },
        1,
    );
    (s, BoundedPush { shared })
}

/// Lwt's `from`: a stream whose elements `f` makes on demand; `f` answers `None` to end the
/// stream. `f` is called when a reader needs an element, never while its previous promise is
/// pending (clones share the answers). A rejection rejects the reads waiting for that element;
/// the next read calls `f` again.
///
/// This is what `io::read_lines` builds on: any `FnMut() -> Promise<Option<T>>` is a stream.
///
/// ```
/// use lwt_core::{stream, Promise, State};
/// let mut n = 0;
/// let s = stream::from(move || {
///     n += 1;
///     Promise::ret(if n <= 3 { Some(n) } else { None })
/// });
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
/// ```
pub fn from<T: 'static>(f: impl FnMut() -> Promise<Option<T>> + 'static) -> Stream<T> {
    let gen = Gen::Call(Box::new(f));
    Stream::with_kind(
        Kind::From {
            gen: Some(gen),
            in_flight: false,
        },
        0,
    )
    .0
}

/// Lwt's `from_direct`: [`from`] with a generator that answers at once.
///
/// ```
/// use lwt_core::{stream, State};
/// let mut words = "to be or".split(' ');
/// let s = stream::from_direct(move || words.next());
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec!["to", "be", "or"]));
/// ```
pub fn from_direct<T: 'static>(mut f: impl FnMut() -> Option<T> + 'static) -> Stream<T> {
    from(move || Promise::ret(f()))
}

/// Lwt's `of_list` (and `of_array`): a closed stream of the given elements.
///
/// ```
/// use lwt_core::{stream, State};
/// let s = stream::of_list(vec![1, 2]);
/// assert!(s.is_closed());
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
/// ```
pub fn of_list<T: 'static>(items: Vec<T>) -> Stream<T> {
    let (s, shared) = Stream::with_kind(Kind::Push, 0);
    {
        let mut st = shared.state.borrow_mut();
        for x in items {
            let _ = st.append(x); // `s` reads it
        }
    }
    shared.close();
    s
}

/// Lwt's `of_seq` / `of_iter`: a stream of the items of `items`, drawn lazily as they are read
/// (so an endless iterator is fine for reads that take what they ask for: `get`, `nget`,
/// `get_while`... Those that take everything available, `get_available`, `last_new`,
/// `junk_old`, draw an endless iterator for ever, as Lwt's do). A panic of the iterator fails the read that meets it: in
/// `next`, as a failing [`from`] generator does; in `into_iter`, the first read, and the
/// stream then ends.
///
/// ```
/// use lwt_core::{stream, State};
/// let s = stream::of_iter((1..).map(|x| x * x));
/// assert_eq!(s.nget(3).state(), State::Fulfilled(vec![1, 4, 9]));
/// ```
pub fn of_iter<I>(items: I) -> Stream<I::Item>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: 'static,
{
    match self::drive::call(|| items.into_iter()) {
        Ok(mut items) => from_direct(move || items.next()),
        // As a panic in `next` (see `from`): the read that meets it fails, and the stream ends.
        Err(panicked) => {
            let mut panicked = Some(panicked);
            from(move || panicked.take().map_or(Promise::ret(None), Promise::fail))
        }
    }
}

/// Lwt's `of_string`: a closed stream of the characters of `s`.
///
/// ```
/// use lwt_core::{stream, State};
/// assert_eq!(stream::of_string("ab").to_list().state(), State::Fulfilled(vec!['a', 'b']));
/// ```
pub fn of_string(s: &str) -> Stream<char> {
    of_list(s.chars().collect())
}

/// Lwt's `of_lwt_seq`: a stream of the elements of a [`Seq`], forced as they are read.
///
/// ```
/// use lwt_core::{seq, stream, State};
/// let s = stream::of_seq(seq::of_list(vec![1, 2]).map(|x| x + 1));
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
/// ```
pub fn of_seq<T: 'static>(seq: Seq<T>) -> Stream<T> {
    let mut source = crate::seq::SeqSource::new(seq);
    from(move || source.pull())
}

/// Lwt's `return`: a closed stream of one element.
///
/// ```
/// use lwt_core::{stream, State};
/// assert_eq!(stream::ret(5).to_list().state(), State::Fulfilled(vec![5]));
/// ```
pub fn ret<T: 'static>(x: T) -> Stream<T> {
    of_list(vec![x])
}

/// Lwt's `return_lwt`: a stream of the value of `p`, once it is fulfilled. If `p` is rejected,
/// the first read is rejected the same way and the stream ends (Lwt just ends it).
///
/// ```
/// use lwt_core::{stream, wait, State};
/// let (p, r) = wait();
/// let s = stream::ret_lwt(p);
/// let all = s.to_list();
/// r.wakeup("late");
/// assert_eq!(all.state(), State::Fulfilled(vec!["late"]));
/// ```
pub fn ret_lwt<T: 'static>(p: Promise<T>) -> Stream<T> {
    let mut p = Some(p);
    from(move || match p.take() {
        Some(p) => p.map(Some),
        None => Promise::ret(None),
    })
}

// ---- combining streams ----------------------------------------------------------------------------

/// Lwt's `concat`: the elements of each stream of `streams` in turn.
///
/// ```
/// use lwt_core::{stream, State};
/// let parts = stream::of_list(vec![stream::of_list(vec![1, 2]), stream::of_list(vec![3])]);
/// assert_eq!(stream::concat(parts).to_list().state(), State::Fulfilled(vec![1, 2, 3]));
/// ```
pub fn concat<T: 'static>(streams: Stream<Stream<T>>) -> Stream<T> {
    let state = Rc::new(Concat {
        top: streams.handle(),
        current: RefCell::new(None),
    });
    from(move || concat_next(state.clone()))
}

struct Concat<T: 'static> {
    top: Rc<Handle<Stream<T>>>,
    current: RefCell<Option<Rc<Handle<T>>>>,
}

fn concat_next<T: 'static>(st: Rc<Concat<T>>) -> Promise<Option<T>> {
    loop {
        let current = st.current.borrow().clone();
        match current {
            Some(h) => match settle(h.get()) {
                Ok(Ok(Some(x))) => return Promise::ret(Some(x)),
                Ok(Ok(None)) => *st.current.borrow_mut() = None,
                Ok(Err(e)) => return Promise::fail(e),
                Err(p) => {
                    return p.bind(move |item| match item {
                        Some(x) => Promise::ret(Some(x)),
                        None => {
                            *st.current.borrow_mut() = None;
                            concat_next(st)
                        }
                    })
                }
            },
            None => match settle(st.top.get()) {
                Ok(Ok(Some(s))) => *st.current.borrow_mut() = Some(s.handle()),
                Ok(Ok(None)) => return Promise::ret(None),
                Ok(Err(e)) => return Promise::fail(e),
                Err(p) => {
                    return p.bind(move |item| match item {
                        Some(s) => {
                            *st.current.borrow_mut() = Some(s.handle());
                            concat_next(st)
                        }
                        None => Promise::ret(None),
                    })
                }
            },
        }
    }
}

/// Lwt's `choose`: the elements of all the streams, each taken from whichever stream has one
/// first; ends when they all have ended. Among streams that have an element at the same time,
/// they take turns (Lwt picks at random).
///
/// ```
/// use lwt_core::{stream, State};
/// let (a, push_a) = stream::create();
/// let (b, push_b) = stream::create();
/// let both = stream::choose(vec![a, b]);
/// let first = both.get();
/// push_b.push("from b").unwrap();
/// assert_eq!(first.state(), State::Fulfilled(Some("from b")));
/// push_a.push("from a").unwrap();
/// assert_eq!(both.get().state(), State::Fulfilled(Some("from a")));
/// ```
///
/// A failed read of one of them rejects one read of the result, and `choose` goes on reading
/// them all. Lwt's keeps the failed read and rejects every later read with its failure, so the
/// other streams' elements never come out.
///
/// ```
/// use lwt_core::{stream, Exn, Promise, State};
/// let mut n = 0;
/// let failing_once = stream::from(move || {
///     n += 1;
///     Promise::of_result(match n {
///         1 => Err(Exn::failure("boom")),
///         2 => Ok(Some(2)),
///         _ => Ok(None),
///     })
/// });
/// let both = stream::choose(vec![failing_once, stream::of_list(vec![100])]);
/// assert_eq!(both.get().rejection().unwrap().to_string(), "boom");
/// assert_eq!(both.to_list().state(), State::Fulfilled(vec![2, 100]));
/// ```
pub fn choose<T: 'static>(streams: Vec<Stream<T>>) -> Stream<T> {
    let state = Rc::new(Choose {
        slots: RefCell::new(streams.iter().map(|s| (s.handle(), None)).collect()),
        waiter: RefCell::new(None),
        turn: Cell::new(0),
    });
    from(move || choose_next(state.clone()))
}

type Slot<T> = (Rc<Handle<T>>, Option<Promise<Option<T>>>);

struct Choose<T: 'static> {
    /// Each stream, and the read pending on it.
    slots: RefCell<Vec<Slot<T>>>,
    /// The generator waits for any read to resolve.
    waiter: RefCell<Option<Resolver<()>>>,
    /// Where the next scan starts (round robin).
    turn: Cell<usize>,
}

impl<T: 'static> Drop for Choose<T> {
    fn drop(&mut self) {
        // The reads still pending would take elements nobody will see: cancel them.
        for (_, read) in self.slots.get_mut().drain(..) {
            if let Some(read) = read {
                read.cancel();
            }
        }
    }
}

fn choose_next<T: 'static>(st: Rc<Choose<T>>) -> Promise<Option<T>> {
    loop {
        // Start a read on every stream that has none.
        let idle: Vec<(usize, Rc<Handle<T>>)> = st
            .slots
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, (_, read))| read.is_none())
            .map(|(i, (h, _))| (i, h.clone()))
            .collect();
        for (i, h) in idle {
            let read = h.get();
            if read.is_pending() {
                let weak: Weak<Choose<T>> = Rc::downgrade(&st);
                read.on_termination(move || {
                    if let Some(st) = weak.upgrade() {
                        let waiter = st.waiter.borrow_mut().take();
                        if let Some(r) = waiter {
                            r.wakeup_later(());
                        }
                    }
                });
            }
            st.slots.borrow_mut()[i].1 = Some(read);
        }
        let n = st.slots.borrow().len();
        if n == 0 {
            return Promise::ret(None);
        }
        let ready = (0..n).map(|k| (st.turn.get() + k) % n).find(|&i| {
            st.slots.borrow()[i]
                .1
                .as_ref()
                .is_some_and(|read| read.is_settled())
        });
        let Some(i) = ready else {
            let (p, r) = wait::<()>();
            *st.waiter.borrow_mut() = Some(r);
            return p.then(move |_| choose_next(st));
        };
        let read = st.slots.borrow_mut()[i].1.take().expect("a settled read");
        let outcome = settle(read).unwrap_or_else(|_| unreachable!("checked settled"));
        match outcome {
            Ok(Some(x)) => {
                st.turn.set(i + 1);
                return Promise::ret(Some(x));
            }
            Ok(None) => {
                let (h, _) = st.slots.borrow_mut().remove(i);
                drop(h);
            }
            Err(e) => return Promise::fail(e),
        }
    }
}

// ---- producers ------------------------------------------------------------------------------------

/// The producer side of [`create`] (Lwt's push function). Cloning it makes another producer;
/// when the last one is dropped, the stream is closed, as by [`close`](Push::close).
///
/// ```
/// use lwt_core::{stream, State};
/// let (s, push) = stream::create();
/// let other = push.clone();
/// push.push(1).unwrap();
/// other.push(2).unwrap();
/// drop(push);
/// assert!(!s.is_closed());
/// drop(other);
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
/// ```
pub struct Push<T: 'static> {
    shared: Rc<Shared<T>>,
}

impl<T: 'static> Push<T> {
    /// Lwt's `push (Some x)`: appends `x`; the first waiting reader gets it. `Err(Closed)` (and
    /// `x` is dropped) if the stream is closed, or if its readers are all gone (see
    /// [`is_closed`](Push::is_closed)).
    ///
    /// ```
    /// use lwt_core::stream;
    /// let (s, push) = stream::create();
    /// assert_eq!(push.push('x'), Ok(()));
    /// assert!(s.get().is_fulfilled());
    /// ```
    pub fn push(&self, x: T) -> Result<(), Closed> {
        let waiting = {
            let mut st = self.shared.state.borrow_mut();
            if st.is_closed() {
                return Err(Closed);
            }
            // Refused (`Err(Closed)`) when nobody can read it: `append` tests that anyway.
            st.append(x).then(|| st.waiting())
        };
        match waiting {
            Some(true) => self.shared.process(),
            Some(false) => self.shared.drop_garbage(),
            None => {
                self.shared.drop_garbage(); // the refused element
                return Err(Closed);
            }
        }
        Ok(())
    }

    /// Lwt's `push None`: closes the stream. Buffered elements can still be read; readers at the
    /// end get `None`. Closing twice does nothing.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create::<u8>();
    /// let end = s.get();
    /// push.close();
    /// assert_eq!(end.state(), State::Fulfilled(None));
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Is the stream closed to this producer? True once it is closed, and once its readers are
    /// all gone: every handle, clone and derived stream dropped, and no read pending. Nothing
    /// can read the stream then (a reader is only made from another), so a push would be lost;
    /// it fails with [`Closed`] instead, and a producer loop can stop. (Lwt keeps such a stream
    /// open, and its elements pile up.)
    ///
    /// ```
    /// let (s, push) = lwt_core::stream::create::<u8>();
    /// assert!(!push.is_closed());
    /// drop(s);
    /// assert!(push.is_closed());
    ///
    /// let (_s, push) = lwt_core::stream::create::<u8>();
    /// push.close();
    /// assert!(push.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().refuses_pushes()
    }
}

impl<T: 'static> Clone for Push<T> {
    fn clone(&self) -> Push<T> {
        self.shared.state.borrow_mut().producers += 1;
        Push {
            shared: self.shared.clone(),
        }
    }
}

impl<T: 'static> Drop for Push<T> {
    fn drop(&mut self) {
        self.shared.producer_dropped();
    }
}

impl<T: 'static> fmt::Debug for Push<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Push")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The producer side of [`create_bounded`] (Lwt's `bounded_push` object). Cloning it makes
/// another producer; when the last one is dropped, the stream is closed, except that a push
/// still waiting for room comes in first (over the bound) where
/// [`close`](BoundedPush::close) rejects it: dropping loses no element.
///
/// ```
/// use lwt_core::{stream, State};
/// let (s, push) = stream::create_bounded(2);
/// assert!(push.push(1).is_fulfilled());
/// assert_eq!(push.count(), 1);
/// push.close();
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1]));
/// ```
pub struct BoundedPush<T: 'static> {
    shared: Rc<Shared<T>>,
}

impl<T: 'static> BoundedPush<T> {
    /// Appends `x`: fulfilled at once if there is room, otherwise once a reader made room (the
    /// element waits outside the buffer meanwhile). Rejected with [`Closed`] if the stream is (or
    /// gets) closed first, or if its readers are all gone (or go while the push waits: see
    /// [`is_closed`](BoundedPush::is_closed)); with [`Full`] if another push is already waiting.
    /// Canceling a waiting push withdraws its element.
    ///
    /// ```
    /// use lwt_core::{stream, State};
    /// let (s, push) = stream::create_bounded(0);
    /// let p = push.push("hand-over");
    /// assert!(p.is_pending());
    /// assert_eq!(s.get().state(), State::Fulfilled(Some("hand-over")));
    /// assert!(p.is_fulfilled());
    /// ```
    ///
    /// There is no `try_push` (tokio's `try_send`): push, and cancel the push if it is pending,
    /// which withdraws its element. Unlike comparing [`count`](BoundedPush::count) with
    /// [`size`](BoundedPush::size) first, this also lets the element in where the bound does not
    /// hold it back: to a reader waiting on a rendezvous stream (a bound of 0), or to an `nget`
    /// asking for more than the bound.
    ///
    /// ```
    /// use lwt_core::stream;
    /// fn try_push<T>(push: &stream::BoundedPush<T>, x: T) -> bool {
    ///     let p = push.push(x);
    ///     if p.is_pending() {
    ///         p.cancel(); // full: the element is withdrawn
    ///     }
    ///     p.is_fulfilled() // false when full, closed, or another push waits (`Full`)
    /// }
    /// let (s, push) = stream::create_bounded(1);
    /// assert!(try_push(&push, 1));
    /// assert!(!try_push(&push, 2));
    /// assert_eq!(s.get_available(), [1]);
    ///
    /// let (s, push) = stream::create_bounded(0);
    /// let read = s.get();
    /// assert!(try_push(&push, 3)); // a reader waits: handed over
    /// assert_eq!(read.state(), lwt_core::State::Fulfilled(Some(3)));
    /// ```
    pub fn push(&self, x: T) -> Promise<()> {
        let shared = &self.shared;
        let (promise, waiting) = {
            let mut st = shared.state.borrow_mut();
            if st.refuses_pushes() {
                return Promise::fail(Closed);
            }
            let waiting = st.waiting();
            // A reader waiting for more than the bound (`nget`) lets the element in anyway.
            let wanted = st.wants_more_than_held();
            let len = st.buffered();
            let Kind::Bounded { size, pending } = &mut st.kind else {
                unreachable!("a BoundedPush feeds a bounded stream");
            };
            if matches!(pending, Some((_, r)) if r.is_pending()) {
                return Promise::fail(Full);
            }
            if len < *size || (len == 0 && waiting) || wanted {
                let _ = st.append(x); // not deserted: checked above
                (Promise::ret(()), waiting)
            } else {
                // The stream hears of a cancel through a weak link on the promise (it then drops
                // the element), with no `on_cancel` closure per waiting push.
                let (p, r) = task_telling(Rc::downgrade(shared) as Weak<dyn CancelListener>);
                let old = pending.replace((x, r));
                drop(st);
                drop(old);
                (p, false)
            }
        };
        if waiting {
            shared.process();
        } else {
            shared.drop_garbage();
        }
        promise
    }

    /// Closes the stream (Lwt's `close`); a waiting push is rejected with [`Closed`].
    ///
    /// ```
    /// use lwt_core::stream;
    /// let (_s, push) = stream::create_bounded(0);
    /// let p = push.push(1);
    /// push.close();
    /// assert!(p.rejection().unwrap().is::<stream::Closed>());
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Is the stream closed to this producer? True once it is closed, and once its readers are
    /// all gone (as for [`Push::is_closed`]); a push waiting for room when the last reader goes
    /// is rejected with [`Closed`].
    ///
    /// ```
    /// use lwt_core::stream::{self, Closed};
    /// let (s, push) = stream::create_bounded::<u8>(1);
    /// let _ = push.push(1);
    /// let waiting = push.push(2);
    /// drop(s);
    /// assert!(push.is_closed());
    /// assert!(waiting.rejection().unwrap().is::<Closed>());
    ///
    /// let (_s, push) = stream::create_bounded::<u8>(1);
    /// push.close();
    /// assert!(push.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.state.borrow().refuses_pushes()
    }

    /// The bound.
    ///
    /// ```
    /// let (_s, push) = lwt_core::stream::create_bounded::<u8>(3);
    /// assert_eq!(push.size(), 3);
    /// ```
    pub fn size(&self) -> usize {
        match &self.shared.state.borrow().kind {
            Kind::Bounded { size, .. } => *size,
            _ => unreachable!("a BoundedPush feeds a bounded stream"),
        }
    }

    /// Changes the bound; a waiting push gets in if there is room now. A bound lowered below the
    /// count holds: a waiting push comes in once the count is under it (Lwt lets it in at the next
    /// read: see "Differences from Lwt, on purpose" in the module docs).
    ///
    /// ```
    /// let (_s, push) = lwt_core::stream::create_bounded(0);
    /// let p = push.push(1);
    /// push.resize(1);
    /// assert!(p.is_fulfilled());
    /// ```
    pub fn resize(&self, size: usize) {
        if let Kind::Bounded { size: s, .. } = &mut self.shared.state.borrow_mut().kind {
            *s = size;
        }
        self.shared.process();
    }

    /// How many elements are buffered (not yet read by every reader).
    ///
    /// ```
    /// let (s, push) = lwt_core::stream::create_bounded(5);
    /// let _ = push.push(1);
    /// let _ = push.push(2);
    /// assert_eq!(push.count(), 2);
    /// let _ = s.get();
    /// assert_eq!(push.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.shared.state.borrow().buffered()
    }

    /// Is a push waiting for room?
    ///
    /// ```
    /// let (_s, push) = lwt_core::stream::create_bounded(0);
    /// let p = push.push(1);
    /// assert!(push.blocked());
    /// p.cancel();
    /// assert!(!push.blocked());
    /// ```
    pub fn blocked(&self) -> bool {
        matches!(
            &self.shared.state.borrow().kind,
            Kind::Bounded { pending: Some((_, r)), .. } if r.is_pending()
        )
    }
}

impl<T: 'static> Clone for BoundedPush<T> {
    fn clone(&self) -> BoundedPush<T> {
        self.shared.state.borrow_mut().producers += 1;
        BoundedPush {
            shared: self.shared.clone(),
        }
    }
}

impl<T: 'static> Drop for BoundedPush<T> {
    fn drop(&mut self) {
        self.shared.producer_dropped();
    }
}

impl<T: 'static> fmt::Debug for BoundedPush<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedPush")
            .field("size", &self.size())
            .field("count", &self.count())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// ---- futures::Stream ------------------------------------------------------------------------------

#[cfg(feature = "futures-stream")]
mod futures_impl {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use super::Stream;
    use crate::exn::Exn;

    /// With the `futures-stream` feature, a [`Stream`] is a `futures_core::Stream` of
    /// `Result<T, Exn>` (an `Err` item is a failed read: a generator's rejection).
    ///
    /// A stream dropped while the read its `poll_next` started holds an element puts the element
    /// back for the other readers of its place (a `map` of it). With `futures::StreamExt` in
    /// scope, `s.map(f)`, `s.filter(f)`... are `StreamExt`'s, which take the stream by value
    /// (a method call tries by-value receivers before `&self` ones); this crate's are then
    /// called as `Stream::map(&s, f)`. `s.next()` stays this crate's (`StreamExt::next` takes
    /// `&mut self`): write `StreamExt::next(&mut s)` for the other.
    ///
    /// ```
    /// # #[cfg(feature = "futures-stream")] {
    /// use futures::{executor::block_on, StreamExt};
    /// let s = lwt_core::stream::of_list(vec![1, 2, 3]);
    /// let items: Vec<Result<i32, lwt_core::Exn>> = block_on(StreamExt::collect(s));
    /// assert_eq!(items.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
    /// # }
    /// ```
    impl<T: 'static> futures_core::Stream for Stream<T> {
        type Item = Result<T, Exn>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            // A read that records where it took its element, so that a drop can put it back.
            // Served, it holds its cursor as a consumer's read does, until its promise's
            // callbacks run: then, not at the next poll, which may never come (a `select` that
            // dropped its `next` future and kept the stream for reads of its own).
            let (mut read, at) = this.polling.take().unwrap_or_else(|| {
                let at = Rc::new(Cell::new(0));
                let read = this.h.get_at(&at);
                let h = Rc::downgrade(&this.h);
                read.observe(move |_| {
                    if let Some(h) = h.upgrade() {
                        h.continued();
                    }
                });
                (read, at)
            });
            match Pin::new(&mut read).poll(cx) {
                Poll::Ready(Ok(Some(x))) => Poll::Ready(Some(Ok(x))),
                Poll::Ready(Ok(None)) => Poll::Ready(None),
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                Poll::Pending => {
                    this.polling = Some((read, at));
                    Poll::Pending
                }
            }
        }
    }

    impl<T: 'static> Drop for Stream<T> {
        fn drop(&mut self) {
            // A read started by `poll_next` and not given out: withdraw it if it still waits, so
            // that it takes no element nobody will see; put back the element it took if it has
            // one, for the other readers of this cursor (a `map` of it, say).
            if let Some((mut read, at)) = self.polling.take() {
                if read.is_pending() {
                    read.cancel();
                } else if let Ok(Some(x)) = read.take_outcome() {
                    self.h.unread(x, at.get());
                } else {
                    self.h.continued();
                }
            }
        }
    }
}
