//! Memory and scale of `stream` and `seq`, measured with a counting allocator on the main thread
//! (`harness = false`). Prints the figures it checks.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use counting_alloc::Counting;
use lwt_core::{main, pick, seq, stream, task, wait, Promise, Resolver, State};

#[global_allocator]
static ALLOC: Counting = Counting;

const TEN_MILLION: u64 = 10_000_000;

/// Runs `f` and returns (its result, peak live bytes above the start, allocation calls).
fn measure<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    let base = counting_alloc::live();
    let calls = counting_alloc::calls();
    counting_alloc::reset_peak();
    let r = f();
    let peak = counting_alloc::peak().saturating_sub(base);
    (r, peak, counting_alloc::calls() - calls)
}

fn sum_callback(total: &Rc<Cell<u64>>) -> impl FnMut(u64) -> Promise<()> + 'static {
    let t = total.clone();
    move |x| {
        t.set(t.get() + x);
        Promise::ret(())
    }
}

const EXPECTED: u64 = (TEN_MILLION - 1) * TEN_MILLION / 2;

/// iter_s and iter_p over 10M lazily produced, already-available elements: constant memory,
/// no stack overflow.
fn stream_iter_s_and_iter_p_of_ten_million() {
    for (name, parallel) in [("iter_s", false), ("iter_p", true)] {
        let total = Rc::new(Cell::new(0));
        let f = sum_callback(&total);
        let (done, peak, calls) = measure(|| {
            let s = stream::of_iter(0..TEN_MILLION);
            if parallel {
                s.iter_p(f)
            } else {
                s.iter_s(f)
            }
        });
        assert!(done.is_fulfilled());
        assert_eq!(total.get(), EXPECTED);
        println!(
            "stream {name} over of_iter(0..10M), ready callbacks: peak +{peak} B, {calls} allocations"
        );
        assert!(peak < 4096, "{name}: peak {peak} B");
        assert!(calls < 64, "{name}: {calls} allocations");
    }
}

/// A five-stage pipeline over 10M elements.
fn stream_pipeline_of_ten_million() {
    let total = Rc::new(Cell::new(0));
    let f = sum_callback(&total);
    let (done, peak, calls) = measure(|| {
        stream::of_iter(0..TEN_MILLION)
            .map(|x| x * 2)
            .filter(|x| x % 3 != 0)
            .filter_map(Some)
            .map_s(Promise::ret)
            .iter_s(f)
    });
    assert!(done.is_fulfilled());
    assert_eq!(
        total.get(),
        (0..TEN_MILLION).map(|x| x * 2).filter(|x| x % 3 != 0).sum()
    );
    println!("stream of_iter(10M) |> map |> filter |> filter_map |> map_s |> iter_s: peak +{peak} B, {calls} allocations");
    assert!(peak < 8192, "peak {peak} B");
    assert!(calls < 256, "{calls} allocations");
}

/// of_list(10M) buffers its elements (they are given at once); reading them frees them.
fn stream_of_list_of_ten_million() {
    let items: Vec<u64> = (0..TEN_MILLION).collect();
    let total = Rc::new(Cell::new(0));
    let f = sum_callback(&total);
    let s = stream::of_list(items);
    let (done, peak, _) = measure(|| s.iter_s(f));
    assert!(done.is_fulfilled());
    assert_eq!(total.get(), EXPECTED);
    assert_eq!(s.buffered(), 0);
    println!(
        "stream iter_s over of_list(10M): peak +{peak} B while reading (the list is the buffer)"
    );
    assert!(peak < 4096);
}

/// Elements produced one per loop iteration, callbacks pending for one iteration: iter_p keeps
/// only the callbacks still pending, so memory does not grow with the stream.
fn stream_iter_p_over_a_lazy_stream_with_pending_callbacks() {
    fn run(n: u64) -> (u64, usize) {
        let k = Rc::new(Cell::new(0_u64));
        let s = stream::from(move || {
            let i = k.get();
            k.set(i + 1);
            main::pause().map(move |()| (i < n).then_some(i))
        });
        let total = Rc::new(Cell::new(0));
        let t = total.clone();
        let (r, peak, _) = measure(|| {
            main::run(s.iter_p(move |x| {
                let t = t.clone();
                main::pause().map(move |()| t.set(t.get() + x))
            }))
        });
        r.unwrap();
        assert_eq!(total.get(), (n - 1) * n / 2);
        (n, peak)
    }
    let (_, small) = run(100_000);
    let (n, big) = run(1_000_000);
    println!(
        "stream iter_p over {n} elements produced one per loop iteration, callbacks pending one \
         iteration: peak +{big} B (+{small} B for 100k)"
    );
    assert!(big <= small + 1024, "grows: {small} B -> {big} B");
    assert!(big < 16 * 1024);
}

/// What iter_p keeps per callback promise still pending.
fn stream_iter_p_cost_per_pending_callback() {
    let n = 100_000;
    let (ps, rs): (Vec<Promise<()>>, Vec<Resolver<()>>) = (0..n).map(|_| wait()).unzip();
    let ps = RefCell::new(ps.into_iter());
    let before = counting_alloc::live();
    let s = stream::of_iter(0..n);
    let done = s.iter_p(move |_| ps.borrow_mut().next().unwrap());
    let per = (counting_alloc::live() - before) as f64 / n as f64;
    assert!(done.is_pending());
    for r in rs {
        r.wakeup(());
    }
    assert!(done.is_fulfilled());
    println!("stream iter_p: {per:.0} B kept per callback promise still pending (one observer)");
    assert!(per < 160.0);
}

/// 1M reads lost to pick on a quiet stream leave nothing behind.
fn canceled_reads_leave_nothing() {
    let (s, push) = stream::create::<u32>();
    let round = |rounds: u32| {
        for _ in 0..rounds {
            let (t, fire) = task::<Option<u32>>();
            let p = pick(vec![s.get(), t]);
            fire.wakeup(None);
            assert!(p.is_fulfilled());
        }
    };
    round(1000);
    let base = counting_alloc::live();
    counting_alloc::reset_peak();
    round(100_000);
    let after_100k = counting_alloc::live() - base;
    round(900_000);
    let after_1m = counting_alloc::live() - base;
    let peak = counting_alloc::peak() - base;
    println!(
        "1M reads lost to pick on a quiet stream: {} reads left waiting, live +{after_100k} B \
         after 100k, +{after_1m} B after 1M, peak +{peak} B",
        s.waiting_reads()
    );
    assert!(s.waiting_reads() <= 1);
    assert!(after_1m <= after_100k + 256 && peak < 4096);
    push.push(1).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
}

/// get_while / junk_while (and `_s`) over 10M ready elements: constant stack; junk_while in
/// constant memory; the element that stops the run stays in the stream.
fn stream_while_of_ten_million() {
    let last = TEN_MILLION - 1;
    let s = stream::of_iter(0..TEN_MILLION);
    let (done, peak, calls) = measure(|| s.junk_while(move |x| *x < last));
    assert!(done.is_fulfilled());
    assert_eq!(s.get().state(), State::Fulfilled(Some(last)));
    println!("stream junk_while over of_iter(0..10M): peak +{peak} B, {calls} allocations");
    assert!(peak < 4096, "junk_while: peak {peak} B");
    assert!(calls < 64, "junk_while: {calls} allocations");

    let s = stream::of_iter(0..TEN_MILLION);
    let (done, peak, calls) = measure(|| s.junk_while_s(move |x| Promise::ret(*x < last)));
    assert!(done.is_fulfilled());
    assert_eq!(s.get().state(), State::Fulfilled(Some(last)));
    println!("stream junk_while_s over of_iter(0..10M), ready verdicts: peak +{peak} B, {calls} allocations");
    assert!(peak < 4096, "junk_while_s: peak {peak} B");
    assert!(calls < 64, "junk_while_s: {calls} allocations");

    let s = stream::of_iter(0..TEN_MILLION);
    let got = s.get_while(move |x| *x < last);
    match got.state() {
        State::Fulfilled(v) => {
            assert_eq!(v.len() as u64, last);
            assert_eq!(v.iter().sum::<u64>(), EXPECTED - last);
        }
        other => panic!("get_while over 10M: {other:?}"),
    }
    assert_eq!(s.get().state(), State::Fulfilled(Some(last)));
    println!("stream get_while over of_iter(0..10M): ok");
}

/// junk_while waiting for each of 1M elements produced one per loop iteration: memory does not
/// grow with the stream.
fn stream_junk_while_waiting_for_each_element() {
    fn run(n: u64) -> usize {
        let k = Rc::new(Cell::new(0_u64));
        let s = stream::from(move || {
            let i = k.get();
            k.set(i + 1);
            main::pause().map(move |()| Some(i))
        });
        let (r, peak, _) = measure(|| main::run(s.junk_while(move |x| *x < n)));
        r.unwrap();
        assert_eq!(s.get().state(), State::Fulfilled(Some(n)));
        peak
    }
    let small = run(100_000);
    let big = run(1_000_000);
    println!(
        "stream junk_while over 1M elements produced one per loop iteration: peak +{big} B \
         (+{small} B for 100k)"
    );
    assert!(big <= small + 1024, "grows: {small} B -> {big} B");
    assert!(big < 16 * 1024);
}

/// Lwt_seq: iter_s and iter_p over 10M nodes, filter dropping 10M, flat_map of 10M empties.
fn seqs_of_ten_million() {
    for (name, parallel) in [("iter_s", false), ("iter_p", true)] {
        let total = Rc::new(Cell::new(0));
        let f = sum_callback(&total);
        let (done, peak, _) = measure(|| {
            let s = seq::of_iter(0..TEN_MILLION).map(|x| x + 1).map(|x| x - 1);
            if parallel {
                s.iter_p(f)
            } else {
                s.iter_s(f)
            }
        });
        assert!(done.is_fulfilled());
        assert_eq!(total.get(), EXPECTED);
        println!("seq {name} over of_iter(0..10M) |> map |> map: peak +{peak} B");
        assert!(peak < 4096, "{name}: peak {peak} B");
    }
    let (none, peak, _) = measure(|| {
        seq::of_iter(0..TEN_MILLION)
            .filter(|_| false)
            .flat_map(|_| seq::empty::<u64>())
            .to_list()
    });
    assert_eq!(none.state(), State::Fulfilled(vec![]));
    println!("seq filter dropping 10M, then flat_map: peak +{peak} B");
    assert!(peak < 4096);
    let mut pending = 0;
    let (count, peak, _) = measure(|| {
        let s = seq::unfold_lwt(0_u64, |n| {
            main::pause().map(move |()| (n < 1_000_000).then_some((n, n + 1)))
        });
        main::run(s.fold_left_s(0_u64, |a, _| main::pause().map(move |()| a + 1)))
    });
    pending += count.unwrap();
    println!("seq fold_left_s over 1M pending nodes and pending callbacks: peak +{peak} B");
    assert_eq!(pending, 1_000_000);
    assert!(peak < 8192);
}

fn main() {
    stream_iter_s_and_iter_p_of_ten_million();
    stream_pipeline_of_ten_million();
    stream_of_list_of_ten_million();
    stream_iter_p_over_a_lazy_stream_with_pending_callbacks();
    stream_iter_p_cost_per_pending_callback();
    canceled_reads_leave_nothing();
    stream_while_of_ten_million();
    stream_junk_while_waiting_for_each_element();
    seqs_of_ten_million();
    println!("test result: ok. 9 passed; 0 failed");
}
