//! [`OnceFn`]: a `Box<dyn FnOnce(A)>` that keeps small closures inline, without a heap
//! allocation.
//!
//! Every `bind`, `map` or `catch` on a pending promise registers one continuation. As a
//! `Box<dyn FnOnce>`, that continuation cost a `malloc` and a `free`: about 140 instructions of
//! the 1400 a pending bind cost with glibc's per-thread cache, and about 350 when so many
//! promises are pending that the cache is empty (100,000 timers). Most continuations are a few
//! words (the result promise, the user's closure and what it captured), so an `OnceFn` stores a
//! closure of up to [`WORDS`] words in place, and boxes only larger ones.
//!
//! Why four words: the usual continuation is the result node (one word) and the user's
//! closure, and a loop's closure typically carries three words of state (a counter, a bound,
//! an accumulator; two handles and a count). At three words those continuations were boxed. At
//! four a node is 14 words instead of 13, so every node moves up one malloc size class (128 to
//! 144 bytes a chunk). Measured with callgrind on `benches/peers.rs` (instructions per op, three
//! words → four): yield-loop 1795 → 1656, recursive-loop 1457 → 1322, ping-pong 3423 → 3299,
//! tcp-echo 7529 → 7424, timers 3075 → 3054; against that join-all 1064 → 1126 and
//! pending-bind 1227 → 1236, and join-all's peak heap at 1M promises 160 → 168 MiB. Five
//! words would grow the node again for closures that are rarer still.
//!
//! This is the only module of the crate with `unsafe` code. What it relies on:
//!
//! * `buf` holds a valid, initialized `F` from [`OnceFn::new`] until it is read out exactly once:
//!   by [`OnceFn::call_with`] (which then forgets `self`; if computing the argument unwinds,
//!   before the closure is read, it drops `self` instead) or by `Drop` (which drops it in place).
//!   Both go through the function pointer made for that same `F` in `new`, so the type read is
//!   the type written.
//! * `F` fits: `size_of::<F>() <= size_of::<Buf>()` and `align_of::<F>() <= align_of::<Buf>()`,
//!   checked by `fits` before anything is written; a closure that does not fit is boxed, and
//!   the box (one pointer) is what is stored.
//! * Moving an `OnceFn` moves the bytes of `F`, as moving `F` itself would: closures are never
//!   pinned.
//! * An `OnceFn` is neither `Send` nor `Sync` (`PhantomData<*mut ()>`), whatever `F` is: the
//!   bytes in `buf` do not tell the compiler what they hold.
//!
//! The unit tests below run under Valgrind's memcheck (`scripts/test.sh` runs them so when
//! `valgrind` is installed), which reports any invalid read, write or free and any branch on
//! uninitialized bytes, and under Miri (`cargo +nightly miri test -p lwt-core --lib once_fn`),
//! which checks every read, write and drop of the buffer for undefined behaviour.

#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};

/// How many machine words a closure may take and still be stored inline.
pub(crate) const WORDS: usize = 4;

/// The inline storage: word-aligned, possibly uninitialized (a closure may have padding).
type Buf = [MaybeUninit<usize>; WORDS];

/// Calls (`Some(arg)`) or drops (`None`) the closure of one type `F`, stored in `buf`: one
/// function pointer per closure type does both, so an `OnceFn` is the buffer and one word.
///
/// # Safety
/// `buf` holds a valid `F` written by [`OnceFn::new`], and is not read again afterwards.
unsafe fn call_or_drop<A, F: FnOnce(A)>(buf: *mut Buf, arg: Option<A>) {
    match arg {
        Some(arg) => {
            // SAFETY: `buf` holds a valid `F`, suitably aligned (`fits` was checked when it was
            // written), and the caller forgets the buffer after this read, so `F` is moved out
            // once. If `f` panics, `f` (now a local) is dropped by the unwinding, and nobody
            // drops `buf`.
            let f = unsafe { buf.cast::<F>().read() };
            f(arg)
        }
        // SAFETY: as above: a valid, aligned `F`, dropped once.
        None => unsafe { buf.cast::<F>().drop_in_place() },
    }
}

/// Can an `F` be stored in a `Buf`?
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Buf>() && align_of::<F>() <= align_of::<Buf>()
}

/// A closure called at most once with an `A`: `Box<dyn FnOnce(A)>` without the allocation when
/// the closure takes at most [`WORDS`] words.
pub(crate) struct OnceFn<A> {
    buf: Buf,
    /// `call_or_drop::<A, F>` for the `F` in `buf`.
    call_or_drop: unsafe fn(*mut Buf, Option<A>),
    /// Not `Send` or `Sync`: the closure in `buf` may hold an `Rc`.
    _not_send: PhantomData<*mut ()>,
}

impl<A> OnceFn<A> {
    /// Stores `f`, inline if it fits, boxed otherwise.
    #[inline]
    pub(crate) fn new<F: FnOnce(A) + 'static>(f: F) -> OnceFn<A> {
        if fits::<F>() {
            OnceFn::inline(f)
        } else {
            // A `Box<F>` is one pointer, so it always fits.
            OnceFn::inline(Box::new(f))
        }
    }

    #[inline]
    fn inline<F: FnOnce(A) + 'static>(f: F) -> OnceFn<A> {
        assert!(fits::<F>(), "OnceFn::inline takes closures that fit");
        let mut buf: Buf = [MaybeUninit::uninit(); WORDS];
        // SAFETY: `F` fits in `buf` (size and alignment, asserted above; the assertion is
        // decided at compile time); `buf` is then owned by the `OnceFn`, whose function is
        // `F`'s.
        unsafe { buf.as_mut_ptr().cast::<F>().write(f) };
        OnceFn {
            buf,
            call_or_drop: call_or_drop::<A, F>,
            _not_send: PhantomData,
        }
    }

    /// Calls the closure (consuming it).
    #[cfg(test)]
    pub(crate) fn call(self, arg: A) {
        self.call_with(|| arg);
    }

    /// Calls the closure (consuming it) with the argument `arg` gives, computed once the
    /// closure is in the frame it is called from. A caller that computes the argument first
    /// (a call in between) kept the closure in a place of its own across that call and then
    /// copied it to this function's: six words copied once more per call (callgrind, the
    /// delivery of a bind's continuation). If `arg` panics, the closure is dropped.
    #[inline(always)]
    pub(crate) fn call_with(self, arg: impl FnOnce() -> A) {
        /// Drops the closure if `arg` unwinds.
        struct DropOnUnwind<'a, A>(&'a mut ManuallyDrop<OnceFn<A>>);
        impl<A> Drop for DropOnUnwind<'_, A> {
            fn drop(&mut self) {
                // SAFETY: only reached while `arg` unwinds, before the closure was called or
                // dropped: the `OnceFn` is whole, and is dropped once, here (the `forget` below
                // is then never reached).
                unsafe { ManuallyDrop::drop(self.0) }
            }
        }
        let mut this = ManuallyDrop::new(self);
        let guard = DropOnUnwind(&mut this);
        let arg = arg();
        std::mem::forget(guard);
        // SAFETY: `buf` holds the closure `new` wrote, of the type `call_or_drop` was made for;
        // `this` is never dropped (the guard was forgotten), so the closure is moved out exactly
        // once, here.
        unsafe { (this.call_or_drop)(&mut this.buf, Some(arg)) }
    }
}

impl<A> Drop for OnceFn<A> {
    fn drop(&mut self) {
        // SAFETY: not called (`call` forgets `self`), so `buf` still holds the closure `new`
        // wrote, of the type `call_or_drop` was made for; it is dropped once, here.
        unsafe { (self.call_or_drop)(&mut self.buf, None) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    /// Counts its drops.
    struct Tracked(Rc<Cell<usize>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn is_inline<F>(_: &F) -> bool {
        fits::<F>()
    }

    #[test]
    fn a_small_closure_is_inline_and_gets_its_argument_and_captures() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (s, base) = (seen.clone(), 40u64);
        let f = move |x: u64| s.borrow_mut().push(base + x);
        assert!(is_inline(&f));
        OnceFn::new(f).call(2);
        assert_eq!(*seen.borrow(), [42]);
        assert_eq!(
            Rc::strong_count(&seen),
            1,
            "the capture was dropped after the call"
        );
    }

    #[test]
    fn a_closure_of_exactly_the_inline_size_fills_the_buffer_and_one_word_more_is_boxed() {
        let out = Rc::new(Cell::new(0usize));
        // Word-sized captures, so that the sizes hold on 32-bit targets too.
        let (a, b, c, d) = (1usize, 2usize, 3usize, 4usize);
        let o = out.clone();
        // A handle and three words of loop state: the shape of a loop's continuation.
        let fill = move |x: usize| o.set(a + b + c + x);
        assert_eq!(std::mem::size_of_val(&fill), WORDS * size_of::<usize>());
        assert!(is_inline(&fill));
        OnceFn::new(fill).call(10);
        assert_eq!(out.get(), 16);
        let o = out.clone();
        let over = move |x: usize| o.set(a + b + c + d + x);
        assert!(!is_inline(&over));
        OnceFn::new(over).call(10);
        assert_eq!(out.get(), 20);
        assert_eq!(Rc::strong_count(&out), 1, "both captures were dropped");
    }

    #[test]
    fn a_large_closure_is_boxed_and_works_the_same() {
        let drops = Rc::new(Cell::new(0));
        let big = [7u64; 9];
        let tracked = Tracked(drops.clone());
        let out = Rc::new(Cell::new(0));
        let o = out.clone();
        let f = move |x: u64| {
            let _keep = &tracked;
            o.set(big.iter().sum::<u64>() + x);
        };
        assert!(!is_inline(&f));
        OnceFn::new(f).call(1);
        assert_eq!((out.get(), drops.get()), (64, 1));
    }

    #[test]
    fn dropping_without_calling_drops_the_captures_once() {
        for boxed in [false, true] {
            let drops = Rc::new(Cell::new(0));
            let tracked = Tracked(drops.clone());
            let pad = [0u64; 8];
            let f: OnceFn<()> = if boxed {
                OnceFn::new(move |()| {
                    let _keep = (&tracked, pad);
                })
            } else {
                OnceFn::new(move |()| {
                    let _keep = &tracked;
                })
            };
            assert_eq!(drops.get(), 0);
            drop(f);
            assert_eq!(drops.get(), 1, "boxed: {boxed}");
        }
    }

    #[test]
    fn a_panicking_closure_drops_its_captures_once() {
        for boxed in [false, true] {
            let drops = Rc::new(Cell::new(0));
            let tracked = Tracked(drops.clone());
            let pad = [0u64; 8];
            let f: OnceFn<u8> = if boxed {
                OnceFn::new(move |_| {
                    let _keep = (&tracked, pad);
                    panic!("boom")
                })
            } else {
                OnceFn::new(move |_| {
                    let _keep = &tracked;
                    panic!("boom")
                })
            };
            assert!(catch_unwind(AssertUnwindSafe(|| f.call(0))).is_err());
            assert_eq!(drops.get(), 1, "boxed: {boxed}");
        }
    }

    #[test]
    fn an_argument_that_panics_drops_the_closure_once_uncalled() {
        for boxed in [false, true] {
            let drops = Rc::new(Cell::new(0));
            let called = Rc::new(Cell::new(false));
            let (tracked, c) = (Tracked(drops.clone()), called.clone());
            let pad = [0u64; 8];
            let f: OnceFn<u8> = if boxed {
                OnceFn::new(move |_| {
                    let _keep = (&tracked, pad);
                    c.set(true)
                })
            } else {
                OnceFn::new(move |_| {
                    let _keep = &tracked;
                    c.set(true)
                })
            };
            let unwound = catch_unwind(AssertUnwindSafe(|| f.call_with(|| panic!("no argument"))));
            assert!(unwound.is_err());
            assert!(!called.get(), "boxed: {boxed}");
            assert_eq!(drops.get(), 1, "boxed: {boxed}");
        }
    }

    #[test]
    fn moving_an_inline_closure_moves_its_captures() {
        let s = String::from("moved");
        let out = Rc::new(RefCell::new(String::new()));
        let o = out.clone();
        let f: OnceFn<&'static str> = OnceFn::new(move |tail| *o.borrow_mut() = s + tail);
        // Moved through a vector (a reallocation moves the bytes again), then called.
        let mut v = vec![f];
        v.reserve(100);
        let f = v.pop().unwrap();
        f.call("!");
        assert_eq!(*out.borrow(), "moved!");
    }

    #[test]
    fn zero_sized_and_over_aligned_closures() {
        let zst: OnceFn<u32> = OnceFn::new(|x| assert_eq!(x, 5));
        zst.call(5);

        #[repr(align(32))]
        struct Wide(u8);
        let wide = Wide(9);
        let out = Rc::new(Cell::new(0u8));
        let o = out.clone();
        let f = move |()| {
            let wide = wide; // the whole struct, not only the field
            o.set(wide.0)
        };
        assert!(!is_inline(&f), "an alignment above a word's is boxed");
        OnceFn::new(f).call(());
        assert_eq!(out.get(), 9);
    }

    /// The same, through the promise engine (this also runs under Miri: no I/O, no loop).
    #[test]
    fn pending_binds_with_inline_boxed_dropped_and_panicking_continuations() {
        use crate::{task, wait, Promise, State};

        let drops = Rc::new(Cell::new(0));
        let (p, r) = wait::<u64>();
        let small = p.clone().bind(|x| Promise::ret(x + 1));
        let big = [1u64; 8];
        let large = p.clone().map(move |x| x + big.iter().sum::<u64>());
        let tracked = Tracked(drops.clone());
        let panicking = p.bind(move |_| -> Promise<u64> {
            let _keep = &tracked;
            panic!("boom")
        });
        r.wakeup(1);
        assert_eq!(small.state(), State::Fulfilled(2));
        assert_eq!(large.state(), State::Fulfilled(9));
        assert!(panicking.is_rejected());
        assert_eq!(drops.get(), 1);

        // A continuation that owns a `Tracked` and passes its argument on.
        let keeping = |tracked: Tracked| {
            move |x| {
                let _keep = &tracked;
                Promise::ret(x)
            }
        };

        // Never called: the continuation is dropped with the promise it waits on.
        let (never, r2) = wait::<u64>();
        let unrun = never.bind(keeping(Tracked(drops.clone())));
        drop((unrun, r2));
        assert_eq!(drops.get(), 2);

        // Canceled: `bind` passes the rejection on without calling `f`, and drops it.
        let (t, _rt) = task::<u64>();
        let canceled = t.bind(keeping(Tracked(drops.clone())));
        canceled.cancel();
        assert!(canceled.rejection().unwrap().is_canceled());
        assert_eq!(drops.get(), 3);
    }

    #[test]
    fn an_argument_that_owns_memory_reaches_the_closure() {
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        let f: OnceFn<Result<Vec<u8>, String>> =
            OnceFn::new(move |r: Result<Vec<u8>, String>| *g.borrow_mut() = r.unwrap());
        f.call(Ok(vec![1, 2, 3]));
        assert_eq!(*got.borrow(), [1, 2, 3]);
    }
}
