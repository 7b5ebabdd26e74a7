//! The engine's stack and memory guarantees (issue 2), each pinned by a measurement.
//!
//! This is a `harness = false` test: it runs on the process's main thread, with the default
//! main-thread stack (8 MiB here), which is what "without stack overflow" is promised for. It
//! measures memory with a counting global allocator, never time. Run it alone with
//! `cargo test -p lwt-core --test guarantees`; it prints the figures it checks.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::cell::RefCell;
use std::time::Duration;

use counting_alloc::Counting;
use lwt_core::{wait, Exn, Failure, Promise, Resolver, State};

#[global_allocator]
static ALLOC: Counting = Counting;

// ---- a promise resolved from outside the recursion ----------------------------------------------

thread_local! {
    static NEXT: RefCell<Option<Resolver<()>>> = const { RefCell::new(None) };
}

/// A fresh pending promise whose resolver the driver will find in `NEXT`.
fn next_wait() -> Promise<()> {
    let (p, r) = wait();
    NEXT.with(|n| assert!(n.borrow_mut().replace(r).is_none(), "one wait at a time"));
    p
}

/// Wakes the waiting iteration until the loop stops waiting; returns how many wakeups it made.
fn drive() -> usize {
    let mut wakeups = 0;
    while let Some(r) = NEXT.with(|n| n.borrow_mut().take()) {
        r.wakeup(());
        wakeups += 1;
    }
    wakeups
}

// ---- guarantee 1: long chains of pending binds --------------------------------------------------

fn chain_of_pending(n: u64, use_map: bool) {
    let (p0, r) = wait::<u64>();
    let mut p = p0;
    for _ in 0..n {
        p = if use_map {
            p.map(|x| x + 1)
        } else {
            p.bind(|x| Promise::ret(x + 1))
        };
    }
    assert!(p.is_pending());
    r.wakeup(0);
    assert_eq!(p.state(), State::Fulfilled(n));
    println!(
        "chain of {n} pending {}: resolved to {n}, no stack overflow",
        if use_map { "maps" } else { "binds" }
    );
}

// ---- guarantee 2: recursive loops ----------------------------------------------------------------

fn bind_loop(n: u64) -> Promise<()> {
    if n == 0 {
        return Promise::ret(());
    }
    next_wait().bind(move |()| bind_loop(n - 1))
}

fn map_loop(n: u64) -> Promise<()> {
    if n == 0 {
        return Promise::ret(());
    }
    // The body maps before recursing: the map's node must not survive the iteration either.
    next_wait().map(move |()| n - 1).bind(map_loop)
}

/// Peak live bytes above the starting point while a loop of `n` iterations runs to completion.
fn peak_of_loop(n: u64, lp: fn(u64) -> Promise<()>) -> usize {
    let base = counting_alloc::live();
    counting_alloc::reset_peak();
    let p = lp(n);
    assert_eq!(drive() as u64, n);
    assert_eq!(p.state(), State::Fulfilled(()));
    drop(p);
    counting_alloc::peak() - base
}

fn flat_loop(name: &str, lp: fn(u64) -> Promise<()>) {
    let small = peak_of_loop(1_000_000, lp);
    let large = peak_of_loop(10_000_000, lp);
    println!("{name} loop: peak live memory {small} B at 1M iterations, {large} B at 10M");
    assert!(
        large <= small + 4096,
        "{name} loop is not flat: {small} B at 1M, {large} B at 10M"
    );
    assert!(small < 4096, "{name} loop keeps {small} B alive");
}

// Where the nested loops end: a pending promise the test resolves to unwind the whole chain.
thread_local! {
    static DEEPEST: RefCell<Option<Promise<()>>> = const { RefCell::new(None) };
}

fn deepest() -> Promise<()> {
    DEEPEST.with(|d| d.borrow_mut().take().expect("set by the test"))
}

fn catch_loop(n: u64) -> Promise<()> {
    if n == 0 {
        return deepest();
    }
    next_wait()
        .bind(move |()| catch_loop(n - 1))
        .catch(Promise::fail)
}

fn finalize_loop(n: u64) -> Promise<()> {
    if n == 0 {
        return deepest();
    }
    next_wait()
        .bind(move |()| finalize_loop(n - 1))
        .finalize(|| Promise::ret(()))
}

/// Builds `n` nested levels, measures the bytes they keep, then unwinds them by resolving the
/// deepest promise (with a value or with a rejection).
fn nested_levels(n: u64, lp: fn(u64) -> Promise<()>, reject: bool) -> f64 {
    let (deep, deep_r) = wait::<()>();
    DEEPEST.with(|d| *d.borrow_mut() = Some(deep));
    let base = counting_alloc::live();
    let p = lp(n);
    assert_eq!(drive() as u64, n);
    assert!(p.is_pending());
    let per_level = (counting_alloc::live() - base) as f64 / n as f64;
    if reject {
        deep_r.wakeup_exn(Exn::failure("deep"));
        let e = p.rejection().expect("the rejection reached the top");
        assert_eq!(e.downcast_ref::<Failure>().unwrap().0, "deep");
    } else {
        deep_r.wakeup(());
        assert_eq!(p.state(), State::Fulfilled(()));
    }
    per_level
}

fn handler_chains(name: &str, lp: fn(u64) -> Promise<()>) {
    let at_100k = nested_levels(100_000, lp, false);
    let at_1m = nested_levels(1_000_000, lp, false);
    let at_1m_rejected = nested_levels(1_000_000, lp, true);
    println!(
        "{name} loop: {at_100k:.1} B/level at 100k levels, {at_1m:.1} B/level at 1M; \
         1M levels unwound on fulfilment and on rejection"
    );
    // One handler per level is the point; a few hundred bytes each is the budget (Lwt 5.6.1
    // keeps 184 B for catch and 256 B for finalize, measured).
    assert!(
        at_1m < 400.0 && at_1m_rejected < 400.0,
        "{name}: {at_1m} B per level"
    );
    assert!(
        (at_1m - at_100k).abs() < 8.0,
        "{name}: per-level cost drifts with depth"
    );
}

// ---- guarantee 3: binds on resolved promises ------------------------------------------------------

fn resolved_binds() {
    let calls_before = counting_alloc::calls();
    let mut p = Promise::ret(0_u64);
    for _ in 0..10_000_000 {
        p = p.bind(|x| Promise::ret(x + 1));
    }
    let mut q = Promise::ret(0_u64);
    for _ in 0..10_000_000 {
        q = q.map(|x| x + 1);
    }
    let calls = counting_alloc::calls() - calls_before;
    assert_eq!(p.state(), State::Fulfilled(10_000_000));
    assert_eq!(q.state(), State::Fulfilled(10_000_000));
    println!("20M binds/maps on resolved promises: {calls} allocations");
    assert_eq!(calls, 0, "binds on resolved promises must not allocate");
}

/// A bind on a pending promise allocates its result's node, and its closure too only when that
/// captures more than three words (the continuation stored inline holds the closure and the
/// result node, four words in all: see `once_fn`), or more than two for a bind made inside
/// `key::with_value` (the continuation also holds the key storage to restore). `wait`
/// allocates the source's node.
fn pending_bind_allocations(captured_words: usize, keyed: bool, allocations: f64) {
    let n = 100_000_u64;
    let steps = || {
        for i in 0..n {
            let (p, r) = wait::<u64>();
            let (a, b, c, d) = (i, 2 * i, 3 * i, 4 * i);
            let (q, expected) = match captured_words {
                2 => (p.bind(move |x| Promise::ret(x + a + b)), 1 + 3 * i),
                3 => (p.bind(move |x| Promise::ret(x + a + b + c)), 1 + 6 * i),
                4 => (p.bind(move |x| Promise::ret(x + a + b + c + d)), 1 + 10 * i),
                _ => unreachable!("2, 3 or 4 words"),
            };
            r.wakeup(1);
            assert_eq!(q.state(), State::Fulfilled(expected));
        }
    };
    let calls_before = counting_alloc::calls();
    if keyed {
        let key = lwt_core::key::new_key::<u8>();
        lwt_core::key::with_value(&key, Some(1), steps);
    } else {
        steps();
    }
    // `with_value`'s own allocations, made once, weigh 0.00002 per step.
    let per_step = (counting_alloc::calls() - calls_before) as f64 / n as f64;
    let under = if keyed { " under a key" } else { "" };
    println!(
        "wait, bind{under} with a closure of {captured_words} words, wakeup: {per_step:.2} \
         allocations"
    );
    assert!(
        (per_step - allocations).abs() < 0.01,
        "{captured_words} words{under}: {per_step} allocations per step, expected {allocations}"
    );
}

// ---- guarantee 4: the loops of `control` (and `lwt!`) over pending bodies -----------------------------

/// A `for` loop of `n` iterations whose every body waits on a fresh pending promise.
fn for_loop(n: u64) -> Promise<()> {
    lwt_core::control::for_each(0..n, |_| next_wait())
}

/// A `while` loop of `n` iterations whose every body waits on a fresh pending promise.
fn while_loop(n: u64) -> Promise<()> {
    use lwt_core::control::{Next, Step};
    let mut left = n;
    lwt_core::control::while_loop(move |step| match step {
        Step::Cond => Next::cond(left > 0),
        Step::Body => {
            left -= 1;
            Next::body(next_wait())
        }
    })
}

/// A `while let` loop over `n` values, each body waiting on a fresh pending promise.
fn while_let_loop(n: u64) -> Promise<()> {
    use lwt_core::control::{LetNext, LetStep};
    let mut left = n;
    lwt_core::control::while_let(move |step| match step {
        LetStep::Next => {
            let value = left.checked_sub(1);
            left = left.saturating_sub(1);
            LetNext::value(Promise::ret(value))
        }
        LetStep::Body(Some(_)) => LetNext::body(next_wait()),
        LetStep::Body(None) => LetNext::stop(),
    })
}

/// `list::iter_s` over `n` elements whose every step waits on a fresh pending promise.
fn list_iter_s(n: u64) -> Promise<()> {
    lwt_core::list::iter_s(|_| next_wait(), 0..n)
}

/// The loop stays flat over 10M pending bodies, and a pending iteration allocates the body's
/// promise and, when the loop's continuation is too large to be stored inline (`once_fn`), the
/// continuation: `allocations` per iteration, nothing more (no result promise per iteration).
fn loop_over_pending_bodies(name: &str, lp: fn(u64) -> Promise<()>, allocations: f64) {
    flat_loop(name, lp);
    let n = 1_000_000;
    let calls_before = counting_alloc::calls();
    let p = lp(n);
    assert_eq!(drive() as u64, n);
    assert_eq!(p.state(), State::Fulfilled(()));
    let per_iteration = (counting_alloc::calls() - calls_before) as f64 / n as f64;
    println!(
        "{name} over {n} pending bodies: {per_iteration:.2} allocations per iteration \
         (the body's promise, and the loop's continuation unless it is stored inline)"
    );
    assert!(
        per_iteration < allocations + 0.01,
        "{name}: {per_iteration} allocations per iteration, expected {allocations}"
    );
}

// ---- guarantee 5: a loop that pauses or sleeps --------------------------------------------------

fn wait_loop(wait: fn() -> Promise<()>, n: u64, i: u64) -> Promise<u64> {
    if i == n {
        Promise::ret(i)
    } else {
        wait().bind(move |()| wait_loop(wait, n, i + 1))
    }
}

/// A loop that pauses allocates one node per iteration, its bind's result: each pause reuses
/// the node of the one woken before it, which nothing holds any more. A loop of zero sleeps
/// allocates its sleep's node too, and nothing else (the timers keep their buffers).
fn pausing_loop(name: &str, wait: fn() -> Promise<()>, n: u64, allocations: f64) {
    assert_eq!(
        lwt_core::main::run(wait_loop(wait, 1_000, 0)).unwrap(),
        1_000
    ); // warm-up
    let calls_before = counting_alloc::calls();
    assert_eq!(lwt_core::main::run(wait_loop(wait, n, 0)).unwrap(), n);
    let per_iteration = (counting_alloc::calls() - calls_before) as f64 / n as f64;
    println!("a loop of {n} {name}: {per_iteration:.2} allocations per iteration");
    assert!(
        per_iteration < allocations + 0.01,
        "{name}: {per_iteration} allocations per iteration, expected {allocations}"
    );
}

fn main() {
    // `cargo test` passes filter arguments; this binary runs everything regardless.
    chain_of_pending(10_000_000, false);
    chain_of_pending(10_000_000, true);
    flat_loop("bind", bind_loop);
    flat_loop("map-then-bind", map_loop);
    handler_chains("catch", catch_loop);
    handler_chains("finalize", finalize_loop);
    resolved_binds();
    pending_bind_allocations(3, false, 2.0);
    pending_bind_allocations(4, false, 3.0);
    // `for_each` and `iter_s` carry more state than four words; the while loops' continuations
    // fit inline.
    loop_over_pending_bodies("control::for_each", for_loop, 2.0);
    loop_over_pending_bodies("control::while_loop", while_loop, 1.0);
    loop_over_pending_bodies("control::while_let", while_let_loop, 1.0);
    loop_over_pending_bodies("list::iter_s", list_iter_s, 2.0);
    pausing_loop("pauses", lwt_core::main::pause, 1_000_000, 1.0);
    pausing_loop(
        "zero sleeps",
        || lwt_core::unix::sleep(Duration::ZERO),
        100_000,
        2.0,
    );
    // Last: the first `with_value` turns on the key-storage checks for the rest of the process.
    pending_bind_allocations(2, true, 2.0);
    pending_bind_allocations(3, true, 3.0);
    println!("test result: ok. 17 passed; 0 failed");
}
