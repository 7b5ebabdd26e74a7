//! Side-by-side benchmark: lwt-core against `futures` and `tokio` on the same workloads.
//!
//! Run with `cargo bench --bench peers` (add `-- --quick` for a short run, or `-- NAME` to run
//! only the rows whose name contains `NAME`). See `bench/README.md` for how to read the table.
//!
//! Every workload computes a checksum of its work; the harness checks that all implementations
//! agree with each other and with a plain-Rust computation of the same sum, so no optimizer can
//! delete work and no implementation does less than the others. Repetitions are interleaved
//! (lwt, futures, tokio, lwt, futures, tokio, ...) and the table reports medians, because the
//! machines this runs on are shared and noisy.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use futures::FutureExt;
use lwt::{Promise, Resolver, State};

// ---------------------------------------------------------------------------------------------
// A counting allocator. Counting is off while timing (so that it costs every implementation one
// relaxed load per allocation, nothing more) and on during the separate allocation/peak passes.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn grow(bytes: usize) {
    let now = LIVE.fetch_add(bytes as i64, Relaxed) + bytes as i64;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if COUNTING.load(Relaxed) && !ptr.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as i64, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if COUNTING.load(Relaxed) && !new.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            LIVE.fetch_sub(layout.size() as i64, Relaxed);
            grow(new_size);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the counting pass saw: allocations, and the peak of live bytes above the level at start
/// (blocks allocated before the pass and freed during it count negatively, so this is the peak
/// *net growth* of the heap).
static LAST_HEAP: Mutex<Option<HeapUse>> = Mutex::new(None);

struct HeapUse {
    allocs: u64,
    peak_bytes: i64,
}

/// Set during the counting pass: `timed` then counts what the timed part allocates.
static COUNT_PASS: AtomicBool = AtomicBool::new(false);

fn counted<R>(f: impl FnOnce() -> R) -> (R, HeapUse) {
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ALLOCS.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let r = f();
    COUNTING.store(false, Relaxed);
    let heap = HeapUse {
        allocs: ALLOCS.load(Relaxed),
        peak_bytes: PEAK.load(Relaxed),
    };
    (r, heap)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// One step of every checksum: cheap, but not foldable into a closed form (`black_box`).
#[inline(always)]
fn step(acc: u64, i: u64) -> u64 {
    black_box(acc)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(i)
}

/// The checksum every implementation of a row must reproduce.
fn expected_fold(n: u64) -> u64 {
    (0..n).fold(0, step)
}

fn lwt_value(p: &Promise<u64>) -> u64 {
    match p.state() {
        State::Fulfilled(v) => v,
        other => panic!("lwt promise not fulfilled: {other:?}"),
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime")
}

/// Times `f`, which returns its checksum. Executor setup happens before, outside the timing and
/// outside the counting pass.
fn timed(f: impl FnOnce() -> u64) -> (u64, Duration) {
    if COUNT_PASS.load(Relaxed) {
        let (sum, heap) = counted(f);
        *LAST_HEAP.lock().unwrap() = Some(heap);
        return (sum, Duration::ZERO);
    }
    let start = Instant::now();
    let sum = f();
    (sum, start.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Row 1: binds on already-resolved promises. lwt: `p = p.bind(|x| ret(..))`; the peers: the
// same continuation written with `ready(x).then(..)` awaited in a loop inside one async block,
// which is how a futures user chains on a value that is already there.

fn resolved_bind_lwt(n: u64) -> u64 {
    let mut p = Promise::ret(0u64);
    for i in 0..n {
        p = p.bind(move |x| Promise::ret(step(x, i)));
    }
    lwt_value(&p)
}

async fn resolved_bind_async(n: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..n {
        x = futures::future::ready(x)
            .then(move |x| futures::future::ready(step(x, i)))
            .await;
    }
    x
}

fn resolved_map_lwt(n: u64) -> u64 {
    let mut p = Promise::ret(0u64);
    for i in 0..n {
        p = p.map(move |x| step(x, i));
    }
    lwt_value(&p)
}

async fn resolved_map_async(n: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..n {
        x = futures::future::ready(x).map(move |x| step(x, i)).await;
    }
    x
}

// ---------------------------------------------------------------------------------------------
// Row 2: create a pending promise, bind on it, resolve it, read the bound result.
//
// lwt: `let (p, r) = wait(); let q = p.bind(|x| ret(x+1)); r.wakeup(i); q's value`.
//
// The peers have no "callback on a pending value" without a task, so the honest equivalent of
// one bind is one spawned task that awaits a oneshot receiver and computes the continuation:
// * futures: `oneshot::channel`, `spawn_local` a task on a `LocalPool` that awaits the receiver
//   and stores its result in an `Rc<Cell>`; `run_until_stalled` (the task polls and parks on the
//   receiver, as the bind registers on the pending promise); `send`; `run_until_stalled` (the
//   task runs its continuation, as `wakeup` runs the bind's callback); read the cell.
// * tokio: inside a `LocalSet` on a current-thread runtime, a driver task does
//   `spawn_local(async { rx.await + .. })`, `yield_now` (the task parks on the receiver),
//   `send`, then awaits the task's `JoinHandle` (tokio's own "promise of the result").

fn pending_bind_lwt(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        let (p, r) = lwt::wait::<u64>();
        let q = p.bind(move |x| Promise::ret(step(acc, x)));
        r.wakeup(i);
        acc = lwt_value(&q);
    }
    acc
}

fn pending_bind_futures(pool: &mut LocalPool, n: u64) -> u64 {
    let spawner = pool.spawner();
    let out = Rc::new(Cell::new(0u64));
    for i in 0..n {
        let (tx, rx) = futures::channel::oneshot::channel::<u64>();
        let acc = out.get();
        let cell = out.clone();
        spawner
            .spawn_local(async move { cell.set(step(acc, rx.await.unwrap())) })
            .unwrap();
        pool.run_until_stalled();
        tx.send(i).unwrap();
        pool.run_until_stalled();
    }
    out.get()
}

async fn pending_bind_tokio(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
        let task = tokio::task::spawn_local(async move { step(acc, rx.await.unwrap()) });
        tokio::task::yield_now().await;
        tx.send(i).unwrap();
        acc = task.await.unwrap();
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// Row 3: a recursive loop, each iteration waiting on a promise resolved from outside.
//
// lwt: `lp(n, acc) = next_wait().bind(move |x| lp(n-1, step(acc, x)))`, where `next_wait` puts a
// fresh resolver in a shared slot and a driver takes it and wakes it `n` times.
//
// Peers: the Rust-idiomatic loop, an `async` block awaiting a fresh oneshot receiver each
// iteration (a recursive `async fn` would need a `Box::pin` per level, which is not how anyone
// writes it), whose sender it puts in the shared slot; the driver, in the same executor, takes
// the sender and sends, then lets the loop task run.

type LwtSlot = Rc<RefCell<Option<Resolver<u64>>>>;

fn lwt_next_wait(slot: &LwtSlot) -> Promise<u64> {
    let (p, r) = lwt::wait();
    *slot.borrow_mut() = Some(r);
    p
}

fn lwt_loop(slot: LwtSlot, n: u64, acc: u64) -> Promise<u64> {
    if n == 0 {
        Promise::ret(acc)
    } else {
        lwt_next_wait(&slot).bind(move |x| lwt_loop(slot, n - 1, step(acc, x)))
    }
}

fn recursive_loop_lwt(n: u64) -> u64 {
    let slot: LwtSlot = Rc::new(RefCell::new(None));
    let done = lwt_loop(slot.clone(), n, 0);
    for i in 0..n {
        let r = slot.borrow_mut().take().expect("the loop waits");
        r.wakeup(i);
    }
    lwt_value(&done)
}

type FutSlot = Rc<RefCell<Option<futures::channel::oneshot::Sender<u64>>>>;

fn recursive_loop_futures(pool: &mut LocalPool, n: u64) -> u64 {
    let slot: FutSlot = Rc::new(RefCell::new(None));
    let out = Rc::new(Cell::new(None));
    let (s, o) = (slot.clone(), out.clone());
    pool.spawner()
        .spawn_local(async move {
            let mut acc = 0u64;
            for _ in 0..n {
                let (tx, rx) = futures::channel::oneshot::channel();
                *s.borrow_mut() = Some(tx);
                acc = step(acc, rx.await.unwrap());
            }
            o.set(Some(acc));
        })
        .unwrap();
    pool.run_until_stalled();
    for i in 0..n {
        let tx = slot.borrow_mut().take().expect("the loop waits");
        tx.send(i).unwrap();
        pool.run_until_stalled();
    }
    out.get().expect("the loop finished")
}

type TokioSlot = Rc<RefCell<Option<tokio::sync::oneshot::Sender<u64>>>>;

async fn recursive_loop_tokio(n: u64) -> u64 {
    let slot: TokioSlot = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let task = tokio::task::spawn_local(async move {
        let mut acc = 0u64;
        for _ in 0..n {
            let (tx, rx) = tokio::sync::oneshot::channel();
            *s.borrow_mut() = Some(tx);
            acc = step(acc, rx.await.unwrap());
        }
        acc
    });
    for i in 0..n {
        let tx = loop {
            if let Some(tx) = slot.borrow_mut().take() {
                break tx;
            }
            tokio::task::yield_now().await;
        };
        tx.send(i).unwrap();
    }
    task.await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Row 4: join N pending promises, resolved one by one (in input order); the result is folded.
//
// lwt: `combinators::all` on N `wait()` promises (Lwt's `join`, keeping the values so that the
// checksum covers them; `join` is `all(..).map(drop)`), mapped through the fold, then N wakeups.
// Peers: `futures::future::join_all` over N oneshot receivers (futures' or tokio's), in one task,
// then N sends; after every send the executor runs the woken task (`run_until_stalled`; tokio:
// `yield_now`), as each lwt `wakeup` runs the join's callback before returning.

fn fold_values(values: Vec<u64>) -> u64 {
    values.into_iter().fold(0, step)
}

fn join_lwt(n: u64) -> u64 {
    let (promises, resolvers): (Vec<_>, Vec<_>) = (0..n).map(|_| lwt::wait::<u64>()).unzip();
    let sum = lwt::combinators::all(promises).map(fold_values);
    for (i, r) in resolvers.into_iter().enumerate() {
        r.wakeup(i as u64);
    }
    lwt_value(&sum)
}

fn join_futures(pool: &mut LocalPool, n: u64) -> u64 {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| futures::channel::oneshot::channel::<u64>())
        .unzip();
    let out = Rc::new(Cell::new(None));
    let o = out.clone();
    pool.spawner()
        .spawn_local(async move {
            let values = futures::future::join_all(receivers).await;
            o.set(Some(fold_values(
                values.into_iter().map(Result::unwrap).collect(),
            )));
        })
        .unwrap();
    pool.run_until_stalled();
    for (i, tx) in senders.into_iter().enumerate() {
        tx.send(i as u64).unwrap();
        pool.run_until_stalled();
    }
    out.get().expect("the join finished")
}

async fn join_tokio(n: u64) -> u64 {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| tokio::sync::oneshot::channel::<u64>())
        .unzip();
    let task = tokio::task::spawn_local(async move {
        let values = futures::future::join_all(receivers).await;
        fold_values(values.into_iter().map(Result::unwrap).collect())
    });
    tokio::task::yield_now().await;
    for (i, tx) in senders.into_iter().enumerate() {
        tx.send(i as u64).unwrap();
        tokio::task::yield_now().await;
    }
    task.await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// The harness.

const IMPLS: [&str; 3] = ["lwt", "futures", "tokio"];

/// Runs implementation `which` of a row on `n` operations, giving its checksum and elapsed time.
type RunFn = fn(usize, u64) -> (u64, Duration);

struct Row {
    name: &'static str,
    what: &'static str,
    n: u64,
    run: RunFn,
    expected: fn(u64) -> u64,
    /// Print the peak heap of this row.
    peak: bool,
}

fn run_futures(f: impl FnOnce(&mut LocalPool) -> u64) -> (u64, Duration) {
    let mut pool = LocalPool::new();
    timed(|| f(&mut pool))
}

fn run_tokio<F: Future<Output = u64>>(fut: F) -> (u64, Duration) {
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    timed(|| local.block_on(&rt, fut))
}

fn resolved_bind(which: usize, n: u64) -> (u64, Duration) {
    match which {
        0 => timed(|| resolved_bind_lwt(n)),
        1 => run_futures(|pool| pool.run_until(resolved_bind_async(n))),
        _ => run_tokio(resolved_bind_async(n)),
    }
}

fn resolved_map(which: usize, n: u64) -> (u64, Duration) {
    match which {
        0 => timed(|| resolved_map_lwt(n)),
        1 => run_futures(|pool| pool.run_until(resolved_map_async(n))),
        _ => run_tokio(resolved_map_async(n)),
    }
}

fn pending_bind(which: usize, n: u64) -> (u64, Duration) {
    match which {
        0 => timed(|| pending_bind_lwt(n)),
        1 => run_futures(|pool| pending_bind_futures(pool, n)),
        _ => run_tokio(pending_bind_tokio(n)),
    }
}

fn recursive_loop(which: usize, n: u64) -> (u64, Duration) {
    match which {
        0 => timed(|| recursive_loop_lwt(n)),
        1 => run_futures(|pool| recursive_loop_futures(pool, n)),
        _ => run_tokio(recursive_loop_tokio(n)),
    }
}

fn join(which: usize, n: u64) -> (u64, Duration) {
    match which {
        0 => timed(|| join_lwt(n)),
        1 => run_futures(|pool| join_futures(pool, n)),
        _ => run_tokio(join_tokio(n)),
    }
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(mut xs: Vec<f64>) -> Stats {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    let median = if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    };
    Stats {
        median,
        min: xs[0],
        max: xs[xs.len() - 1],
    }
}

fn fmt_bytes(b: i64) -> String {
    let abs = b.unsigned_abs() as f64;
    let sign = if b < 0 { "-" } else { "" };
    if abs >= 1024.0 * 1024.0 {
        format!("{sign}{:.1} MiB", abs / (1024.0 * 1024.0))
    } else if abs >= 1024.0 {
        format!("{sign}{:.1} KiB", abs / 1024.0)
    } else {
        format!("{sign}{abs} B")
    }
}

fn main() {
    let mut quick = false;
    let mut filters = Vec::new();
    let mut impls: Vec<usize> = Vec::new();
    let mut reps_override = None;
    let mut n_override = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            a if a.starts_with("--impl=") => {
                let name = &a["--impl=".len()..];
                match IMPLS.iter().position(|i| *i == name) {
                    Some(which) => impls.push(which),
                    None => {
                        eprintln!("unknown implementation {name:?}; known: {IMPLS:?}");
                        std::process::exit(2);
                    }
                }
            }
            a if a.starts_with("--reps=") => reps_override = a["--reps=".len()..].parse().ok(),
            a if a.starts_with("--n=") => n_override = a["--n=".len()..].parse().ok(),
            // `cargo bench` passes `--bench` to every bench binary; ignore it and other flags.
            a if a.starts_with('-') => {}
            a => filters.push(a.to_string()),
        }
    }
    if impls.is_empty() {
        impls = (0..IMPLS.len()).collect();
    }
    let (reps, scale) = if quick { (3, 10) } else { (7, 1) };
    let reps: usize = reps_override.unwrap_or(reps).max(1);

    let rows = [
        Row {
            name: "resolved-bind",
            what: "`p = p.bind(|x| ret(f(x)))` on a resolved promise",
            n: 10_000_000 / scale,
            run: resolved_bind,
            expected: expected_fold,
            peak: false,
        },
        Row {
            name: "resolved-map",
            what: "`p = p.map(f)` on a resolved promise",
            n: 10_000_000 / scale,
            run: resolved_map,
            expected: expected_fold,
            peak: false,
        },
        Row {
            name: "pending-bind",
            what: "`wait()`, bind, `wakeup`, read the result",
            n: 1_000_000 / scale,
            run: pending_bind,
            expected: expected_fold,
            peak: false,
        },
        Row {
            name: "recursive-loop",
            what: "loop of N iterations, each awaiting a promise woken from outside",
            n: 1_000_000 / scale,
            run: recursive_loop,
            expected: expected_fold,
            peak: true,
        },
        Row {
            name: "join-all",
            what: "`all` of N pending promises, woken one by one in input order",
            n: 1_000_000 / scale,
            run: join,
            expected: expected_fold,
            peak: true,
        },
    ];

    let selected: Vec<&Row> = rows
        .iter()
        .filter(|r| filters.is_empty() || filters.iter().any(|f| r.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        let names: Vec<_> = rows.iter().map(|r| r.name).collect();
        eprintln!("no row matches {filters:?}; rows: {names:?}");
        std::process::exit(2);
    }

    let mut table = String::new();
    table.push_str(&format!(
        "{reps} interleaved repetitions per implementation{}; ns/op: median (min–max); \
         lwt/impl = lwt median / that implementation's median (< 1: lwt faster)\n\n",
        if quick { " (--quick)" } else { "" }
    ));
    table.push_str(
        "| row | N | impl | ns/op median | min–max | lwt/impl | allocs/op | peak heap |\n",
    );
    table.push_str("|---|---:|---|---:|---|---:|---:|---:|\n");
    let mut notes = Vec::new();

    for row in &selected {
        let n: u64 = n_override.unwrap_or(row.n);
        let expected = (row.expected)(n);
        let mut samples: [Vec<f64>; 3] = Default::default();
        // One untimed warm-up of each, then interleaved repetitions.
        for &which in &impls {
            let (sum, _) = (row.run)(which, n / 10);
            black_box(sum);
        }
        for _ in 0..reps {
            for &which in &impls {
                let (sum, elapsed) = (row.run)(which, n);
                assert_eq!(
                    sum, expected,
                    "{}: {} computed a different checksum",
                    row.name, IMPLS[which]
                );
                samples[which].push(elapsed.as_nanos() as f64 / n as f64);
            }
        }
        // The counting pass: allocations per op and the peak heap, once per implementation.
        let mut heap: [Option<HeapUse>; 3] = Default::default();
        for &which in &impls {
            COUNT_PASS.store(true, Relaxed);
            let (sum, _) = (row.run)(which, n);
            COUNT_PASS.store(false, Relaxed);
            assert_eq!(sum, expected, "{}: counting pass checksum", row.name);
            heap[which] = LAST_HEAP.lock().unwrap().take();
        }
        let lwt_median = (!samples[0].is_empty()).then(|| stats(samples[0].clone()).median);
        for (pos, &which) in impls.iter().enumerate() {
            let s = stats(samples[which].clone());
            let ratio = match lwt_median {
                Some(m) if which != 0 => format!("{:.2}", m / s.median),
                _ => "—".to_string(),
            };
            let heap = heap[which].as_ref().expect("counted");
            let peak = if row.peak {
                fmt_bytes(heap.peak_bytes)
            } else {
                String::new()
            };
            let (name, count) = if pos == 0 {
                (row.name, n.to_string())
            } else {
                ("", String::new())
            };
            table.push_str(&format!(
                "| {name} | {count} | {} | {:.1} | {:.1}–{:.1} | {ratio} | {:.2} | {peak} |\n",
                IMPLS[which],
                s.median,
                s.min,
                s.max,
                heap.allocs as f64 / n as f64,
            ));
        }
        notes.push(format!("* `{}`: {}", row.name, row.what));
        eprintln!("done: {}", row.name);
    }
    println!("{table}");
    println!("{}", notes.join("\n"));
    println!(
        "\nallocs/op and peak heap come from a separate counting pass (peak heap: the highest net \
         growth of live heap bytes during the run; executor setup excluded)."
    );
}
