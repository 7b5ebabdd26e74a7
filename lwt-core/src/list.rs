//! Promise-returning functions over lists (Lwt's `Lwt_list`), in serial (`_s`) and parallel
//! (`_p`) forms.
//!
//! * A serial function calls `f` on one element, waits for its promise, then goes on to the next.
//! * A parallel function calls `f` on every element first, in input order (each as the iterator
//!   yields it), then waits for all the promises; results come back in input order whatever the
//!   resolution order.
//!
//! Both work on any `IntoIterator` and are stack-safe on millions of elements: a serial loop
//! whose steps are already resolved runs as a plain loop, and only waits when a step is
//! pending: one continuation on that step, and one result promise for the whole run, so memory
//! stays constant. Lwt's list functions overflowed the stack
//! until they were rewritten (Lwt issues #347, #538).
//!
//! A serial function may stop at a pending step and go on later, so it keeps the iterator and
//! needs it `'static`: pass the list by value (`items.clone()`, an `Rc<[T]>` cloned, a range),
//! not `&items`, which gives "argument requires that `items` is borrowed for `'static`". A
//! parallel function walks the whole input during the call, so `iter_p`, `iteri_p`, `map_p`,
//! `mapi_p`, `rev_map_p` and `filter_map_p`, which keep no item beyond the call of `f`, take
//! `&items` (items `&T`); `filter_p`, `partition_p`, `for_all_p` and `exists_p` keep each item
//! until its verdict comes, so they need owned items too.
//!
//! On a rejection, a serial function stops and is rejected with it; a parallel function still
//! waits for every promise, then is rejected with the first rejection in input order (as
//! [`all`]). A panic in `f` is a rejection too.
//!
//! So is a panic of the input's iterator (in `into_iter` or in `next`); it never reaches the
//! caller. A serial function is rejected with it when its walk gets there (`fold_right_s`, which
//! reads the whole input first, before any call of `f`). A parallel function stops calling `f`
//! there and treats the panic as the rejection of the element the iterator failed to produce, as
//! a panic in `f` is the rejection of that call: the promises already started are neither
//! canceled nor dropped, the result waits for them, then is rejected with the first rejection in
//! input order (the panic, unless an earlier promise was rejected). Lwt has no exact counterpart,
//! its list being built before the call (an exception building it reaches the caller before `f`
//! runs at all); the closest is an exception raised by `f`, which its `Lwt.apply` makes the
//! rejection of that element's promise while the others go on, as here.
//!
//! Lwt is less regular here, and this module does not copy it: its `iter_p` waits for every
//! promise but reports the first rejection in time, and among those already rejected when it is
//! called the *last* in input order (it joins the promises in reverse); its `map_p`, `filter_p`,
//! `for_all_p`... wait for the promises from the last to the first and stop at the first
//! rejection met that way, so `[pending; rejected]` rejects at once while `[rejected; pending]`
//! waits. Here the outcome never depends on the positions nor on the order in time.
//!
//! Canceling the result of a parallel function cancels every pending step, and the result then
//! waits for the steps that cancel cannot reach (a [`wait`](crate::wait) promise), as
//! [`all`]'s does; no step is left running unseen. Lwt's `iter_p` does the same (a `join`), but
//! its `map_p`, `filter_p`, `for_all_p`... cancel only the step they wait on (the last pending
//! one) and are rejected with `Canceled` at once, while the other steps go on.
//! `tests/ocaml_diff_list.rs` runs random calls of every function here on this crate and on Lwt
//! 5.6.1 and compares them, leaving out only what these differences decide.
//!
//! ```
//! use lwt_core::{list, main, unix, Promise};
//! use std::time::Duration;
//!
//! // Parallel: all three sleeps run at once; results in input order.
//! let delays = vec![30u64, 10, 20];
//! let p = list::map_p(|ms| unix::sleep(Duration::from_millis(ms)).map(move |()| ms), delays);
//! assert_eq!(main::run(p).unwrap(), vec![30, 10, 20]);
//!
//! // Serial over ten million elements: no stack overflow.
//! let total = list::fold_left_s(|acc, x: u64| Promise::ret(acc + x), 0, 0..10_000_000u64);
//! assert_eq!(main::run(total).unwrap(), 49_999_995_000_000);
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::combinators::all;
use crate::exn::Exn;
use crate::park::{result_of, wait_for, Halt, Parked};
use crate::promise::Promise;
use crate::resolver::Resolver;

fn call<A, R: 'static>(f: &mut impl FnMut(A) -> Promise<R>, a: A) -> Promise<R> {
    match catch_unwind(AssertUnwindSafe(|| f(a))) {
        Ok(p) => p,
        Err(payload) => Promise::fail(Exn::from_panic(payload)),
    }
}

/// `items.into_iter()`, or the rejection for its panic: making the iterator is user code too
/// (a custom `IntoIterator`), and a panic there must not escape the function any more than one
/// in `next`.
fn iterate<I: IntoIterator>(items: I) -> Result<I::IntoIter, Exn> {
    catch_unwind(AssertUnwindSafe(|| items.into_iter())).map_err(Exn::from_panic)
}

/// The serial driver: `step(acc, item)` for each item in turn, synchronously while steps are
/// already resolved.
fn fold_iter<I, A, F>(items: I, init: A, step: F) -> Promise<A>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    A: 'static,
    F: FnMut(A, I::Item) -> Promise<A> + 'static,
{
    fold_until(items, init, step, |_| false)
}

/// [`fold_iter`] that stops early once `stop(&acc)` holds. A pending step parks the fold until it
/// is resolved, with one result promise for the whole run (see [`crate::park`]).
fn fold_until<I, A, F>(items: I, init: A, step: F, stop: fn(&A) -> bool) -> Promise<A>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    A: 'static,
    F: FnMut(A, I::Item) -> Promise<A> + 'static,
{
    match iterate(items) {
        Ok(items) => result_of(advance(items, init, step, stop), ()),
        Err(e) => Promise::fail(e),
    }
}

/// Counts the calls of `f`, for the `i` forms: the index is counted here rather than with
/// `Iterator::enumerate`, so that the input is turned into an iterator inside the function,
/// where a panic doing so is caught.
fn indexed<T, R>(mut f: impl FnMut(usize, T) -> R) -> impl FnMut(T) -> R {
    let mut i = 0;
    move |x| {
        let index = i;
        i += 1;
        f(index, x)
    }
}

/// A fold waiting on the promise of its next accumulator.
struct FoldWait<I, A: 'static, F> {
    next: Promise<A>,
    items: I,
    step: F,
    stop: fn(&A) -> bool,
}

impl<I, A, F> Parked<A> for FoldWait<I, A, F>
where
    I: Iterator + 'static,
    A: 'static,
    F: FnMut(A, I::Item) -> Promise<A> + 'static,
{
    type Context = ();

    fn park(self, resolver: Resolver<A>, (): ()) {
        let FoldWait {
            next,
            items,
            step,
            stop,
        } = self;
        wait_for(next, resolver, (), move |acc, ()| {
            advance(items, acc, step, stop)
        });
    }
}

/// Runs the steps of a fold, from the accumulator of the previous one, while they are resolved. A
/// panic (in a step or in the iterator) ends the fold with a rejection.
fn advance<I, A, F>(
    mut items: I,
    mut acc: A,
    mut step: F,
    stop: fn(&A) -> bool,
) -> Halt<A, FoldWait<I, A, F>>
where
    I: Iterator + 'static,
    A: 'static,
    F: FnMut(A, I::Item) -> Promise<A> + 'static,
{
    let run = catch_unwind(AssertUnwindSafe(move || loop {
        if stop(&acc) {
            return Halt::Done(Ok(acc));
        }
        let Some(item) = items.next() else {
            return Halt::Done(Ok(acc));
        };
        let mut next = step(acc, item);
        if !next.is_settled() {
            return Halt::Wait(FoldWait {
                next,
                items,
                step,
                stop,
            });
        }
        match next.take_outcome() {
            Ok(a) => acc = a,
            Err(e) => return Halt::Done(Err(e)),
        }
    }));
    run.unwrap_or_else(|payload| Halt::Done(Err(Exn::from_panic(payload))))
}

/// Lwt's `fold_left_s`: `f(f(f(init, x1), x2), ...)`, one step after the other.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::fold_left_s(|acc: String, x: &str| Promise::ret(acc + x), String::new(), ["a", "b"]);
/// assert_eq!(p.state(), State::Fulfilled("ab".to_string()));
/// ```
pub fn fold_left_s<A: 'static, T: 'static, I>(
    f: impl FnMut(A, T) -> Promise<A> + 'static,
    init: A,
    items: I,
) -> Promise<A>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(items, init, f)
}

/// Lwt's `fold_right_s`: `f(x1, f(x2, ... f(xn, init)))`, starting from the last element.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::fold_right_s(|x: &str, acc: String| Promise::ret(acc + x), ["a", "b"], String::new());
/// assert_eq!(p.state(), State::Fulfilled("ba".to_string()));
/// ```
pub fn fold_right_s<A: 'static, T: 'static>(
    mut f: impl FnMut(T, A) -> Promise<A> + 'static,
    items: impl IntoIterator<Item = T>,
    init: A,
) -> Promise<A> {
    // The whole input is read before the first step, as Lwt's list exists before the call; a
    // panic reading it is the rejection, before any call of `f`.
    let reversed: Vec<T> = match catch_unwind(AssertUnwindSafe(|| items.into_iter().collect())) {
        Ok(items) => items,
        Err(payload) => return Promise::fail(Exn::from_panic(payload)),
    };
    fold_iter(reversed.into_iter().rev(), init, move |acc, x| f(x, acc))
}

/// Lwt's `iter_s`.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{list, Promise};
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// list::iter_s(move |x| { s.borrow_mut().push(x); Promise::ret(()) }, vec![1, 2, 3]);
/// assert_eq!(*seen.borrow(), [1, 2, 3]);
/// ```
pub fn iter_s<T: 'static, I>(mut f: impl FnMut(T) -> Promise<()> + 'static, items: I) -> Promise<()>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(items, (), move |(), x| f(x))
}

/// Lwt's `iteri_s`: `f(index, element)`.
///
/// ```
/// use lwt_core::{list, Promise};
/// assert!(list::iteri_s(|i, x: usize| { assert_eq!(i, x); Promise::ret(()) }, 0..3).is_fulfilled());
/// ```
pub fn iteri_s<T: 'static, I>(
    f: impl FnMut(usize, T) -> Promise<()> + 'static,
    items: I,
) -> Promise<()>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    let mut f = indexed(f);
    fold_iter(items, (), move |(), x| f(x))
}

/// Lwt's `map_s`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::map_s(|x: u8| Promise::ret(x * 2), vec![1, 2]).state(), State::Fulfilled(vec![2, 4]));
/// ```
pub fn map_s<T: 'static, U: 'static, I>(
    mut f: impl FnMut(T) -> Promise<U> + 'static,
    items: I,
) -> Promise<Vec<U>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(items, Vec::new(), move |mut acc, x| {
        call(&mut f, x).map(move |u| {
            acc.push(u);
            acc
        })
    })
}

/// Lwt's `mapi_s`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::mapi_s(|i, x: u8| Promise::ret(i as u8 + x), vec![10, 10]);
/// assert_eq!(p.state(), State::Fulfilled(vec![10, 11]));
/// ```
pub fn mapi_s<T: 'static, U: 'static, I>(
    f: impl FnMut(usize, T) -> Promise<U> + 'static,
    items: I,
) -> Promise<Vec<U>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    map_s(indexed(f), items)
}

/// Lwt's `rev_map_s`: like `map_s`, results reversed.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::rev_map_s(|x: u8| Promise::ret(x), vec![1, 2]).state(), State::Fulfilled(vec![2, 1]));
/// ```
pub fn rev_map_s<T: 'static, U: 'static, I>(
    f: impl FnMut(T) -> Promise<U> + 'static,
    items: I,
) -> Promise<Vec<U>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    map_s(f, items).map(|mut v| {
        v.reverse();
        v
    })
}

/// Lwt's `filter_s`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::filter_s(|x: &u8| Promise::ret(x % 2 == 0), vec![1, 2, 3, 4]);
/// assert_eq!(p.state(), State::Fulfilled(vec![2, 4]));
/// ```
pub fn filter_s<T: 'static, I>(
    mut f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
) -> Promise<Vec<T>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(items, Vec::new(), move |mut acc, x| {
        call(&mut f, &x).map(move |keep| {
            if keep {
                acc.push(x);
            }
            acc
        })
    })
}

/// Lwt's `filter_map_s`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::filter_map_s(|x: &str| Promise::ret(x.parse::<u8>().ok()), vec!["1", "x", "3"]);
/// assert_eq!(p.state(), State::Fulfilled(vec![1, 3]));
/// ```
pub fn filter_map_s<T: 'static, U: 'static, I>(
    mut f: impl FnMut(T) -> Promise<Option<U>> + 'static,
    items: I,
) -> Promise<Vec<U>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(items, Vec::new(), move |mut acc, x| {
        call(&mut f, x).map(move |u| {
            acc.extend(u);
            acc
        })
    })
}

/// Lwt's `partition_s`: `(elements satisfying f, the others)`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::partition_s(|x: &u8| Promise::ret(*x > 1), vec![1, 2, 3]);
/// assert_eq!(p.state(), State::Fulfilled((vec![2, 3], vec![1])));
/// ```
pub fn partition_s<T: 'static, I>(
    mut f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
) -> Promise<(Vec<T>, Vec<T>)>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    fold_iter(
        items,
        (Vec::new(), Vec::new()),
        move |(mut yes, mut no), x| {
            call(&mut f, &x).map(move |keep| {
                if keep {
                    yes.push(x)
                } else {
                    no.push(x)
                }
                (yes, no)
            })
        },
    )
}

/// Stops the serial walk at the first element for which `f` says `stop`.
fn first_s<T: 'static, I>(
    mut f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
    stop_on: bool,
) -> Promise<Option<T>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    // The accumulator carries the found element; the walk stops there.
    fold_until(
        items,
        None,
        move |_, x| call(&mut f, &x).map(move |b| if b == stop_on { Some(x) } else { None }),
        Option::is_some,
    )
}

/// Lwt's `find_s`: the first element satisfying `f`, or `None` (Lwt raises `Not_found`).
/// Elements after it are not tested.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::find_s(|x: &u8| Promise::ret(*x > 1), vec![1, 2, 3]);
/// assert_eq!(p.state(), State::Fulfilled(Some(2)));
/// ```
pub fn find_s<T: 'static, I>(
    f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
) -> Promise<Option<T>>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    first_s(f, items, true)
}

/// Lwt's `for_all_s`: does every element satisfy `f`? Stops at the first that does not.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::for_all_s(|x: &u8| Promise::ret(*x > 0), vec![1, 2]).state(), State::Fulfilled(true));
/// ```
pub fn for_all_s<T: 'static, I>(
    f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
) -> Promise<bool>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    first_s(f, items, false).map(|counterexample| counterexample.is_none())
}

/// Lwt's `exists_s`: does some element satisfy `f`? Stops at the first that does.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::exists_s(|x: &u8| Promise::ret(*x > 1), vec![1, 2]).state(), State::Fulfilled(true));
/// ```
pub fn exists_s<T: 'static, I>(
    f: impl FnMut(&T) -> Promise<bool> + 'static,
    items: I,
) -> Promise<bool>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: 'static,
{
    find_s(f, items).map(|found| found.is_some())
}

// ---- parallel forms ----------------------------------------------------------------------------------

/// Starts `f` on every element, in input order, each as the iterator yields it.
///
/// A panic in the iterator (making it, or in `next`) ends the walk, and its rejection takes the
/// place of the element it failed to produce, as a panic in `f` takes the place of that call's
/// promise: the promises already started are neither canceled nor dropped, the result waits for
/// them, and an earlier element's rejection comes first in input order.
fn start_all<T, U: 'static>(
    mut f: impl FnMut(T) -> Promise<U>,
    items: impl IntoIterator<Item = T>,
) -> Vec<Promise<U>> {
    let mut started = Vec::new();
    // `call` catches the panics of `f`; this catches those of the iterator.
    let walk = catch_unwind(AssertUnwindSafe(|| {
        let items = items.into_iter();
        started.reserve(items.size_hint().0);
        for x in items {
            started.push(call(&mut f, x));
        }
    }));
    if let Err(payload) = walk {
        started.push(Promise::fail(Exn::from_panic(payload)));
    }
    started
}

/// Lwt's `iter_p`: `f` on every element at once; fulfilled when all are.
///
/// ```
/// use lwt_core::{list, wait, Resolver};
/// let mut resolvers: Vec<Resolver<()>> = Vec::new();
/// let all = list::iter_p(|_: u8| { let (p, r) = wait(); resolvers.push(r); p }, vec![1, 2, 3]);
/// assert_eq!(resolvers.len(), 3); // all three started at once
/// for r in resolvers.drain(..).rev() {
///     assert!(all.is_pending());
///     r.wakeup(());
/// }
/// assert!(all.is_fulfilled());
/// ```
pub fn iter_p<T>(
    f: impl FnMut(T) -> Promise<()>,
    items: impl IntoIterator<Item = T>,
) -> Promise<()> {
    all(start_all(f, items)).map(drop)
}

/// Lwt's `iteri_p`.
///
/// ```
/// use lwt_core::{list, Promise};
/// assert!(list::iteri_p(|i, x: usize| { assert_eq!(i, x); Promise::ret(()) }, 0..3).is_fulfilled());
/// ```
pub fn iteri_p<T>(
    f: impl FnMut(usize, T) -> Promise<()>,
    items: impl IntoIterator<Item = T>,
) -> Promise<()> {
    iter_p(indexed(f), items)
}

/// Lwt's `map_p`: results in input order.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::map_p(|x: u8| Promise::ret(x + 1), vec![1, 2]).state(), State::Fulfilled(vec![2, 3]));
/// ```
pub fn map_p<T, U: 'static>(
    f: impl FnMut(T) -> Promise<U>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<U>> {
    all(start_all(f, items))
}

/// Lwt's `mapi_p`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::mapi_p(|i, _x: u8| Promise::ret(i), vec![9, 9]).state(), State::Fulfilled(vec![0, 1]));
/// ```
pub fn mapi_p<T, U: 'static>(
    f: impl FnMut(usize, T) -> Promise<U>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<U>> {
    map_p(indexed(f), items)
}

/// Lwt's `rev_map_p`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::rev_map_p(|x: u8| Promise::ret(x), vec![1, 2]).state(), State::Fulfilled(vec![2, 1]));
/// ```
pub fn rev_map_p<T, U: 'static>(
    f: impl FnMut(T) -> Promise<U>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<U>> {
    map_p(f, items).map(|mut v| {
        v.reverse();
        v
    })
}

/// Evaluates `f` on every element at once and pairs each element with its verdict.
fn verdicts_p<T: 'static>(
    mut f: impl FnMut(&T) -> Promise<bool>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<(T, bool)>> {
    let mut kept = Vec::new();
    // The element is kept before `f` sees it, so that the elements and the verdicts stay aligned
    // whatever `f` does (a panic in `f` is caught by `start_all`, as a rejection).
    let tests = start_all(
        |x| {
            kept.push(x);
            f(kept.last().expect("just pushed"))
        },
        items,
    );
    all(tests).map(move |verdicts| kept.into_iter().zip(verdicts).collect())
}

/// Lwt's `filter_p`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::filter_p(|x: &u8| Promise::ret(*x != 2), vec![1, 2, 3]).state(), State::Fulfilled(vec![1, 3]));
/// ```
pub fn filter_p<T: 'static>(
    f: impl FnMut(&T) -> Promise<bool>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<T>> {
    verdicts_p(f, items).map(|v| {
        v.into_iter()
            .filter(|(_, keep)| *keep)
            .map(|(x, _)| x)
            .collect()
    })
}

/// Lwt's `filter_map_p`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::filter_map_p(|x: &str| Promise::ret(x.parse::<u8>().ok()), vec!["1", "x"]);
/// assert_eq!(p.state(), State::Fulfilled(vec![1]));
/// ```
pub fn filter_map_p<T, U: 'static>(
    f: impl FnMut(T) -> Promise<Option<U>>,
    items: impl IntoIterator<Item = T>,
) -> Promise<Vec<U>> {
    map_p(f, items).map(|v| v.into_iter().flatten().collect())
}

/// Lwt's `partition_p`.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// let p = list::partition_p(|x: &u8| Promise::ret(*x > 1), vec![1, 2, 3]);
/// assert_eq!(p.state(), State::Fulfilled((vec![2, 3], vec![1])));
/// ```
pub fn partition_p<T: 'static>(
    f: impl FnMut(&T) -> Promise<bool>,
    items: impl IntoIterator<Item = T>,
) -> Promise<(Vec<T>, Vec<T>)> {
    verdicts_p(f, items).map(|v| {
        let (yes, no): (Vec<_>, Vec<_>) = v.into_iter().partition(|(_, keep)| *keep);
        (
            yes.into_iter().map(|(x, _)| x).collect(),
            no.into_iter().map(|(x, _)| x).collect(),
        )
    })
}

/// Lwt's `for_all_p`: tests every element at once.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::for_all_p(|x: &u8| Promise::ret(*x > 1), vec![1, 2]).state(), State::Fulfilled(false));
/// ```
pub fn for_all_p<T: 'static>(
    f: impl FnMut(&T) -> Promise<bool>,
    items: impl IntoIterator<Item = T>,
) -> Promise<bool> {
    verdicts_p(f, items).map(|v| v.iter().all(|(_, b)| *b))
}

/// Lwt's `exists_p`: tests every element at once.
///
/// ```
/// use lwt_core::{list, Promise, State};
/// assert_eq!(list::exists_p(|x: &u8| Promise::ret(*x > 1), vec![1, 2]).state(), State::Fulfilled(true));
/// ```
pub fn exists_p<T: 'static>(
    f: impl FnMut(&T) -> Promise<bool>,
    items: impl IntoIterator<Item = T>,
) -> Promise<bool> {
    verdicts_p(f, items).map(|v| v.iter().any(|(_, b)| *b))
}
