//! Memory and scale of the combinators (issue 3), measured with a counting allocator on the main
//! thread (`harness = false`). Prints the figures it checks.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::Counting;
use lwt_core::sync::{Condition, Mutex, Mvar};
use lwt_core::{all, choose, join, pick, task, wait, Promise, State};

#[global_allocator]
static ALLOC: Counting = Counting;

/// `rounds` choose (or pick) calls, each between the long-lived promise and a fresh one that wins.
fn race_against(long: &Promise<u32>, rounds: u32, use_pick: bool) {
    for i in 0..rounds {
        let (short, r) = wait::<u32>();
        let inputs = vec![long.clone(), short];
        let c = if use_pick {
            pick(inputs)
        } else {
            choose(inputs)
        };
        r.wakeup(i);
        assert_eq!(c.state(), State::Fulfilled(i));
    }
}

fn waiters_do_not_accumulate(use_pick: bool) {
    let name = if use_pick { "pick" } else { "choose" };
    let (long, _r) = wait::<u32>();
    race_against(&long, 1_000, use_pick); // warm up
    let base = counting_alloc::live();
    counting_alloc::reset_peak();
    race_against(&long, 100_000, use_pick);
    let after_100k = counting_alloc::live() - base;
    race_against(&long, 900_000, use_pick);
    let after_1m = counting_alloc::live() - base;
    let peak = counting_alloc::peak() - base;
    let waiters = long.callback_count();
    println!(
        "1M {name}s against one pending promise: {waiters} callbacks left on it, \
         live +{after_100k} B after 100k, +{after_1m} B after 1M, peak +{peak} B"
    );
    assert_eq!(waiters, 0, "{name}: waiters accumulated");
    assert!(
        after_1m <= after_100k + 1024 && peak < 64 * 1024,
        "{name}: memory grows"
    );
}

fn canceled_protected_leave_nothing() {
    let (p, r) = task::<u32>();
    let wrappers: Vec<Promise<u32>> = (0..1_000_000).map(|_| p.clone().protected()).collect();
    assert_eq!(p.callback_count(), 1_000_000);
    for w in &wrappers {
        w.cancel();
    }
    let left = p.callback_count();
    println!("1M protected(p) canceled: {left} callbacks left on p");
    assert_eq!(left, 0);
    assert!(wrappers
        .iter()
        .all(|w| w.rejection().unwrap().is_canceled()));
    assert!(p.is_pending());
    r.wakeup(1);
    assert_eq!(p.state(), State::Fulfilled(1));
}

fn join_and_all_of_a_million() {
    let n = 1_000_000;
    let (ps, rs): (Vec<_>, Vec<_>) = (0..n).map(|_| wait::<u64>()).unzip();
    let total = all(ps).map(|v| v.iter().sum::<u64>());
    for (i, r) in rs.into_iter().enumerate() {
        r.wakeup(i as u64);
    }
    assert_eq!(
        total.state(),
        State::Fulfilled((n as u64 - 1) * n as u64 / 2)
    );

    let (ps, rs): (Vec<_>, Vec<_>) = (0..n).map(|_| wait::<()>()).unzip();
    let j = join(ps);
    for r in rs.into_iter().rev() {
        r.wakeup(());
    }
    assert_eq!(j.state(), State::Fulfilled(()));
    println!("join and all of 1M promises resolved one by one: done, no stack overflow");
}

/// 1M concurrent sleeps with pseudo-random deadlines fire in deadline order; memory per timer.
fn a_million_timers() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;
    let n = 1_000_000u64;
    let fired = Rc::new(RefCell::new(Vec::with_capacity(n as usize)));
    let base = counting_alloc::live();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let start = std::time::Instant::now();
    let mut sleeps = Vec::with_capacity(n as usize);
    for i in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let micros = seed % 50_000;
        let f = fired.clone();
        sleeps.push(
            lwt_core::unix::sleep_until(start + Duration::from_micros(micros))
                .map(move |()| f.borrow_mut().push((micros, i))),
        );
    }
    let vec_bytes = sleeps.capacity() * std::mem::size_of::<Promise<()>>() + n as usize * 16;
    let per_timer = (counting_alloc::live() - base - vec_bytes) as f64 / n as f64;
    lwt_core::main::run(lwt_core::join(sleeps)).unwrap();
    let fired = fired.borrow();
    assert_eq!(fired.len(), n as usize);
    // Deadline order, and creation order among equal deadlines.
    let disorder = fired.windows(2).filter(|w| w[1] < w[0]).count();
    println!("1M concurrent sleeps: {per_timer:.0} B per pending timer (promise, map callback and timer entry); fired in deadline order ({disorder} inversions)");
    assert_eq!(disorder, 0);
    assert!(per_timer < 600.0);
    assert_eq!(lwt_core::unix::timer_count(), 0);
}

/// Found by review (session 24): canceled timers were swept only by an `add` that found the heap
/// doubled, so a burst of canceled timers behind a live earlier one (a periodic tick) kept their
/// memory until their own deadline: 100,000 canceled 60 s timeouts held 20.8 MB (208 B each).
/// Lwt frees a canceled timer's watcher at once (the same program keeps 40 B).
fn canceled_timers_give_their_memory_back_at_once() {
    use std::time::Duration;
    const N: usize = 100_000;
    // Grows the timers' heap and slab to N first (an emptied slab gives its memory back since
    // session 37, so the burst below must give back its own: the sweeps move the live timer to
    // a small slab).
    let warm: Vec<_> = (0..N).map(|_| lwt_core::unix::sleep_secs(0.0)).collect();
    lwt_core::main::run(join(warm)).unwrap();
    let tick = lwt_core::unix::sleep(Duration::from_secs(10));
    let base = counting_alloc::live();
    let timeouts: Vec<_> = (0..N)
        .map(|_| lwt_core::unix::sleep(Duration::from_secs(60)))
        .collect();
    for t in &timeouts {
        t.cancel();
    }
    drop(timeouts);
    let kept = counting_alloc::live().saturating_sub(base);
    println!(
        "{N} canceled timers behind a live one: {kept} B kept ({} B per timer)",
        kept / N
    );
    assert_eq!(lwt_core::unix::timer_count(), 1);
    assert!(kept < N * 8, "{kept} B kept by {N} canceled timers");
    tick.cancel();
}

/// Lwt_list's forms over 10M elements: no stack overflow (Lwt issues #347, #538).
fn lists_of_ten_million() {
    use lwt_core::list;
    let n = 10_000_000u64;
    let sum = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let s = sum.clone();
    let p = list::iter_s(
        move |x| {
            s.set(s.get() + x);
            Promise::ret(())
        },
        0..n,
    );
    assert!(p.is_fulfilled());
    let s = sum.clone();
    let p = list::iter_p(
        move |x| {
            s.set(s.get() + x);
            Promise::ret(())
        },
        0..n,
    );
    assert!(p.is_fulfilled());
    assert_eq!(sum.get(), 2 * (n - 1) * n / 2);
    let mapped = list::map_p(|x| Promise::ret(x * 2), 0..n).map(|v| v.len());
    assert_eq!(mapped.state(), State::Fulfilled(n as usize));
    // With pending steps too: each step waits on a promise resolved by the loop.
    let s = sum.clone();
    let p = list::iter_s(
        move |x| {
            let s = s.clone();
            lwt_core::main::pause().map(move |()| s.set(s.get() + x))
        },
        0..1_000_000u64,
    );
    lwt_core::main::run(p).unwrap();
    println!("list iter_s, iter_p and map_p over 10M elements (and iter_s over 1M pending steps): done, no stack overflow");
}

/// `rounds` waits on `wait_once` that are canceled before anything can serve them.
fn cancel_waits(rounds: u32, wait_once: &dyn Fn() -> Promise<()>) {
    for _ in 0..rounds {
        let p = wait_once();
        p.cancel();
        assert!(p.rejection().unwrap().is_canceled());
    }
}

/// Starts one wait.
type WaitOnce = Box<dyn Fn() -> Promise<()>>;

/// A program that keeps giving up on a wait (a take raced against a timeout, say) must not grow
/// the waiter queue of a mailbox, lock or condition that nobody serves meanwhile.
fn canceled_sync_waiters_do_not_accumulate() {
    let empty = Mvar::<u32>::create_empty();
    let full = Mvar::create(0u32);
    let mutex = Mutex::new();
    let held = mutex.lock(); // held for the whole test: every lock below waits
    assert!(held.is_fulfilled());
    let cond = Condition::<()>::new();
    let cases: [(&str, WaitOnce); 4] = [
        ("Mvar::take", Box::new(move || empty.take().map(|_| ()))),
        ("Mvar::put", Box::new(move || full.put(1))),
        ("Mutex::lock", Box::new(move || mutex.lock())),
        ("Condition::wait", Box::new(move || cond.wait(None))),
    ];
    for (name, wait_once) in &cases {
        cancel_waits(1_000, wait_once.as_ref());
        let base = counting_alloc::live();
        cancel_waits(100_000, wait_once.as_ref());
        let after_100k = counting_alloc::live() - base;
        cancel_waits(900_000, wait_once.as_ref());
        let after_1m = counting_alloc::live() - base;
        println!("1M canceled {name}: live +{after_100k} B after 100k, +{after_1m} B after 1M");
        assert!(
            after_1m <= after_100k + 1024,
            "{name}: canceled waiters accumulate"
        );
    }
}

/// Reads canceled one after the other on a silent channel, and pauses canceled within one
/// iteration, leave nothing behind (found in review: the channel kept each canceled read's view
/// of its pending fill until the fill ended; the loop kept each canceled pause until the next
/// iteration).
fn canceled_reads_and_pauses_do_not_accumulate() {
    let (ic, _oc) = lwt_core::io::pipe().unwrap();
    let reads = |n: u32| {
        for _ in 0..n {
            let r = ic.read_char();
            assert!(r.is_pending());
            r.cancel();
            assert!(r.rejection().unwrap().is_canceled());
        }
    };
    reads(1_000);
    let base = counting_alloc::live();
    reads(100_000);
    let reads_left = counting_alloc::live().saturating_sub(base);
    let pauses = |n: u32| {
        for _ in 0..n {
            let p = lwt_core::main::pause();
            p.cancel();
        }
    };
    pauses(1_000);
    let base = counting_alloc::live();
    pauses(100_000);
    let pauses_left = counting_alloc::live().saturating_sub(base);
    println!(
        "100k canceled reads on a silent channel: +{reads_left} B; 100k canceled pauses in one iteration: +{pauses_left} B; paused_count {}",
        lwt_core::main::paused_count()
    );
    assert!(reads_left < 64 * 1024, "canceled reads left {reads_left} B");
    assert!(
        pauses_left < 64 * 1024,
        "canceled pauses left {pauses_left} B"
    );
    assert_eq!(lwt_core::main::paused_count(), 0);
}

/// Found in review (session 31): a recursive loop whose promises each carry a callback of their
/// own, registered before the promise is returned, merged each level into the outermost promise
/// by moving the outer's whole list behind the level's: O(n²) moves, and a new queue grown to
/// the outer's length at every level (1.43 MB allocated per level at 20,000 levels, about
/// 28.5 GB in all). The shorter list moves now.
fn merging_levels_with_callbacks_of_their_own_is_linear() {
    use std::cell::Cell;
    use std::rc::Rc;
    fn level(n: u32, hits: Rc<Cell<u32>>) -> Promise<()> {
        if n == 0 {
            return Promise::ret(());
        }
        let h = hits.clone();
        let q = lwt_core::main::pause().bind(move |()| level(n - 1, h));
        q.on_success(move |()| hits.set(hits.get() + 1));
        q
    }
    const N: u32 = 20_000;
    let hits = Rc::new(Cell::new(0));
    let before = counting_alloc::allocated();
    lwt_core::main::run(level(N, hits.clone())).unwrap();
    let per_level = (counting_alloc::allocated() - before) / N as usize;
    println!("{N} levels, each with a callback of its own: {per_level} B allocated per level");
    assert_eq!(hits.get(), N);
    assert!(
        per_level < 2_000,
        "{per_level} B per level: the merges copy"
    );
}

fn main() {
    waiters_do_not_accumulate(false);
    waiters_do_not_accumulate(true);
    canceled_protected_leave_nothing();
    join_and_all_of_a_million();
    a_million_timers();
    lists_of_ten_million();
    canceled_sync_waiters_do_not_accumulate();
    canceled_reads_and_pauses_do_not_accumulate();
    canceled_timers_give_their_memory_back_at_once();
    merging_levels_with_callbacks_of_their_own_is_linear();
    println!("test result: ok. 10 passed; 0 failed");
}
