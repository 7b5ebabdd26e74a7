//! The cost of `lwt!`: the same programs written with the macro and by hand with `bind`, measured
//! in the same run, in interleaved repetitions. Prints the median ns per operation of each and
//! their ratio (macro / hand), which should be about 1.0.
//!
//! Run with `cargo bench --bench macro` (about ten seconds).

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use lwt::{lwt, ret, wait, Promise, State};

/// Repetitions of each measurement (interleaved macro / hand); the median is reported.
const REPS: usize = 21;

// ------------------------------------------------------------------------------------------------
// 1. Sequential binds on resolved promises: the macro's fast path.

/// `ret(black_box(x))`: a resolved promise the optimizer cannot see through.
fn r(x: u64) -> Promise<u64> {
    ret(black_box(x))
}

fn chain_macro(a: u64) -> Promise<u64> {
    lwt! {
        let b = r(a + 1);
        let c = r(b * 2);
        let d = r(c + 3);
        let e = r(d ^ 5);
        let f = r(e + b);
        ret(f)
    }
}

fn chain_hand(a: u64) -> Promise<u64> {
    r(a + 1).bind(move |b| {
        r(b * 2).bind(move |c| r(c + 3).bind(move |d| r(d ^ 5).bind(move |e| r(e + b).bind(ret))))
    })
}

// ------------------------------------------------------------------------------------------------
// 2. Binds on a pending promise, resolved afterwards: nodes, callbacks, the run queue.

fn pending_macro(p: Promise<u64>) -> Promise<u64> {
    lwt! {
        let x = p;
        let y = r(x + 1);
        if y > 10 {
            ret(y)
        } else {
            ret(y * 2)
        }
    }
}

fn pending_hand(p: Promise<u64>) -> Promise<u64> {
    p.bind(move |x| r(x + 1).bind(move |y| if y > 10 { ret(y) } else { ret(y * 2) }))
}

// ------------------------------------------------------------------------------------------------
// 3. A loop of 64 iterations whose body binds (the `lwt!` loop driver vs recursion by hand).

fn loop_macro(n: u64) -> Promise<u64> {
    lwt! {
        do let total = Rc::new(Cell::new(0));
        do let result = total.clone();
        for i in 0..n {
            let x = r(i);
            do total.set(total.get() + x);
        }
        do result.get()
    }
}

/// The same loop by hand, as Lwt code writes it: a recursive function, one bind per iteration.
fn loop_hand(n: u64) -> Promise<u64> {
    fn go(i: u64, n: u64, total: Rc<Cell<u64>>) -> Promise<()> {
        if i == n {
            ret(())
        } else {
            r(i).bind(move |x| {
                total.set(total.get() + x);
                go(i + 1, n, total)
            })
        }
    }
    let total = Rc::new(Cell::new(0));
    let result = total.clone();
    go(0, n, total).map(move |()| result.get())
}

// ------------------------------------------------------------------------------------------------

fn value(p: &Promise<u64>) -> u64 {
    match p.state() {
        State::Fulfilled(v) => v,
        other => panic!("expected a value, got {other:?}"),
    }
}

/// Nanoseconds per call of `op`, over `iters` calls.
fn time(iters: u64, mut op: impl FnMut(u64) -> u64) -> f64 {
    let start = Instant::now();
    let mut acc = 0_u64;
    for i in 0..iters {
        acc = acc.wrapping_add(op(black_box(i)));
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

struct Row {
    name: &'static str,
    macro_ns: f64,
    hand_ns: f64,
}

fn compare(
    name: &'static str,
    iters: u64,
    mut with_macro: impl FnMut(u64) -> u64,
    mut by_hand: impl FnMut(u64) -> u64,
) -> Row {
    // Same results, and a warm-up.
    for i in 0..1000 {
        assert_eq!(with_macro(i), by_hand(i), "{name}: the two programs differ");
    }
    let (mut m, mut h) = (Vec::new(), Vec::new());
    for rep in 0..REPS {
        // Interleave, alternating which goes first.
        if rep % 2 == 0 {
            m.push(time(iters, &mut with_macro));
            h.push(time(iters, &mut by_hand));
        } else {
            h.push(time(iters, &mut by_hand));
            m.push(time(iters, &mut with_macro));
        }
    }
    Row {
        name,
        macro_ns: median(m),
        hand_ns: median(h),
    }
}

fn main() {
    let rows = [
        compare(
            "resolved chain (5 binds)",
            400_000,
            |i| value(&chain_macro(i)),
            |i| value(&chain_hand(i)),
        ),
        compare(
            "pending source (2 binds + if)",
            200_000,
            |i| {
                let (p, r) = wait();
                let q = pending_macro(p);
                r.wakeup(i);
                value(&q)
            },
            |i| {
                let (p, r) = wait();
                let q = pending_hand(p);
                r.wakeup(i);
                value(&q)
            },
        ),
        compare(
            "for loop, 64 iterations",
            20_000,
            |i| value(&loop_macro(64 + i % 2)),
            |i| value(&loop_hand(64 + i % 2)),
        ),
    ];
    println!(
        "{:<32} {:>12} {:>12} {:>8}",
        "program", "lwt! ns/op", "hand ns/op", "ratio"
    );
    let mut product = 1.0;
    for row in &rows {
        let ratio = row.macro_ns / row.hand_ns;
        product *= ratio;
        println!(
            "{:<32} {:>12.1} {:>12.1} {:>8.3}",
            row.name, row.macro_ns, row.hand_ns, ratio
        );
    }
    let geomean = product.powf(1.0 / rows.len() as f64);
    println!("geometric mean of the ratios: {geomean:.3}");
}
