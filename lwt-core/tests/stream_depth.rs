//! Streams built on streams, thousands deep: a read asks down the whole chain, which must not
//! take the stack with it (see `stream/depth.rs`). Each test runs on a thread of its own with a
//! small stack, where every chain here overflowed before the requests were bounded.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::main::pause;
use lwt_core::stream::Stream;
use lwt_core::{main, stream, Promise, State};

/// Deep enough to overflow [`STACK`] many times over if each level took a frame.
const DEEP: usize = 20_000;

/// The stack each test runs on: what `docs/ARCHITECTURE.md` says a 20,000-deep chain reads on.
/// (The reads pass on 48 KiB and overflow 32 KiB in the test profile.)
const STACK: usize = 64 * 1024;

/// The stack of the test whose hook panics: an unwind through the resumption takes more.
const UNWIND_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a [`STACK`]-byte stack (an overflow aborts the test binary).
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    on_stack(STACK, f)
}

fn on_stack(size: usize, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(size)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn sum(s: &Stream<usize>) -> Promise<usize> {
    s.fold(0, |acc, x| acc + x)
}

#[test]
fn maps_filters_and_generators_thousands_deep_answer_at_once() {
    on_small_stack(|| {
        let mut s = stream::of_list(vec![1, 2, 3]);
        for i in 0..DEEP {
            s = match i % 3 {
                0 => s.map(|x| x + 1),
                1 => s.filter(|x| x % 1_000_000 != 0),
                _ => {
                    let h = s;
                    stream::from(move || h.get())
                }
            };
        }
        // Every generator answers at once, so the read is answered before it returns, as at any
        // depth below the bound.
        let maps = DEEP.div_ceil(3);
        assert_eq!(s.get().state(), State::Fulfilled(Some(1 + maps)));
        assert_eq!(sum(&s).state(), State::Fulfilled(2 + 3 + 2 * maps));
        assert_eq!(s.get().state(), State::Fulfilled(None));
    });
}

#[test]
fn appends_nested_on_either_side() {
    on_small_stack(|| {
        const N: usize = 2_000; // each element walks the chain: quadratic, as in Lwt
        let mut left = stream::of_list(vec![0]);
        let mut right = stream::of_list(vec![0]);
        for i in 1..N {
            // A `map` between appends: an append of an append would add to its sources (see
            // `Stream::append`), with no nesting to bound.
            left = left.map(|x| x).append(stream::of_list(vec![i]));
            right = stream::of_list(vec![i]).append(right.map(|x| x));
        }
        assert_eq!(left.to_list().state(), State::Fulfilled((0..N).collect()));
        let want: Vec<usize> = (0..N).rev().collect();
        assert_eq!(right.to_list().state(), State::Fulfilled(want));
    });
}

#[test]
fn each_generator_of_a_deep_chain_runs_once_per_element_in_order() {
    on_small_stack(|| {
        // A chain of `from` streams, each logging its calls: the postponed requests must neither
        // call a generator twice at once nor skip one.
        const LEVELS: usize = 5_000;
        let calls = Rc::new(Cell::new(0usize));
        let mut s = stream::of_list((0..5).collect::<Vec<usize>>());
        for _ in 0..LEVELS {
            let h = s;
            let calls = calls.clone();
            s = stream::from(move || {
                calls.set(calls.get() + 1);
                h.get()
            });
        }
        assert_eq!(s.to_list().state(), State::Fulfilled(vec![0, 1, 2, 3, 4]));
        // Five elements and the end, each asked of every level once.
        assert_eq!(calls.get(), 6 * LEVELS);
    });
}

#[test]
fn a_deep_chain_over_a_pending_source_gets_each_push() {
    on_small_stack(|| {
        let (src, push) = stream::create::<usize>();
        let mut s = src.map(|x| x);
        for _ in 0..DEEP {
            s = s.map(|x| x + 1);
        }
        let first = s.get();
        assert_eq!(first.state(), State::Pending);
        push.push(1).unwrap();
        assert_eq!(first.state(), State::Fulfilled(Some(1 + DEEP)));
        push.push(2).unwrap();
        push.close();
        assert_eq!(s.to_list().state(), State::Fulfilled(vec![2 + DEEP]));
    });
}

#[test]
fn a_deep_chain_read_inside_the_loop_with_generators_that_wait() {
    on_small_stack(|| {
        // Generators that answer later (after a pause) at every 1000th level, read from a callback
        // on the real loop: the answers come back up the chain through the loop's queue, and each
        // asks for the next element from there.
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut s = stream::of_list(vec![10usize, 20]);
        for i in 0..DEEP {
            s = if i % 1000 == 0 {
                let h = Rc::new(s);
                stream::from(move || {
                    let h = h.clone();
                    pause().bind(move |()| h.get())
                })
            } else {
                s.map(|x| x + 1)
            };
        }
        let seen = log.clone();
        // Read from a callback: the loop is running when the chain is asked.
        let result = main::run(pause().bind(move |()| s.iter(move |x| seen.borrow_mut().push(x))));
        assert!(result.is_ok(), "{result:?}");
        let maps = DEEP - DEEP / 1000;
        assert_eq!(*log.borrow(), vec![10 + maps, 20 + maps]);
    });
}

/// A chain of `from`s and `map`s over `s`, `levels` deep.
fn padded(mut s: Stream<usize>, levels: usize) -> Stream<usize> {
    for i in 0..levels {
        s = if i % 2 == 0 {
            s.map(|x| x)
        } else {
            let h = s;
            stream::from(move || h.get())
        };
    }
    s
}

/// rev80 F1 (a): a read made while a panic unwinds (from a `Drop`) was left pending when it went
/// deep: the postponed requests were not resumed during an unwind.
#[test]
fn a_deep_read_made_during_an_unwind_is_answered() {
    on_small_stack(|| {
        struct ReadOnDrop(
            Option<Stream<usize>>,
            Rc<RefCell<Option<Promise<Vec<usize>>>>>,
        );
        impl Drop for ReadOnDrop {
            fn drop(&mut self) {
                *self.1.borrow_mut() = Some(self.0.take().unwrap().to_list());
            }
        }
        let read = Rc::new(RefCell::new(None));
        let s = padded(stream::of_list(vec![1, 2, 3]), 300);
        let guard = ReadOnDrop(Some(s), read.clone());
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("unwinding");
        }));
        assert!(unwound.is_err());
        let read = read.borrow_mut().take().unwrap();
        assert_eq!(read.state(), State::Fulfilled(vec![1, 2, 3]));
    });
}

/// rev80 F1 (b): an async exception hook that panicked while the postponed requests were being
/// resumed left the rest postponed, their streams in flight for good: `main::run` on one of them
/// found nothing that could resolve it. The others are resumed now, and the panic goes on.
#[test]
fn a_hook_panicking_during_the_resumption_leaves_no_stream_stuck() {
    on_stack(UNWIND_STACK, || {
        let previous = lwt_core::hook::set_async_exception_hook(|_| panic!("hook panics"));
        let (failing, r) = lwt_core::wait::<()>();
        lwt_core::async_(move || failing);
        let r = RefCell::new(Some(r));
        // A generator at the bottom of a deep chain that makes the hook panic.
        let a = padded(
            stream::from(move || {
                if let Some(r) = r.borrow_mut().take() {
                    r.wakeup_later_exn(lwt_core::Exn::failure("reported"));
                }
                Promise::ret(Some(1usize))
            }),
            300,
        );
        let b = padded(stream::of_list(vec![5usize, 6]), 300);
        let b_too = b.clone();
        let both = a.combine(b);
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| both.get()));
        lwt_core::hook::restore_async_exception_hook(previous);
        assert!(read.is_err(), "the hook's panic goes on");
        assert_eq!(main::run(b_too.get()).unwrap(), Some(5));
    });
}
