//! Side-by-side benchmark: lwt-core against `futures` and `tokio` on the same workloads.
//!
//! Run with `cargo bench --bench peers`; after `--`, the options are those of [`USAGE`] (a
//! short run, instruction counts, one implementation, rows by name...). See `bench/README.md`
//! for how to read the table.
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
use lwt::sync::Mvar;
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
        .enable_all()
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
// Issue 3's row: `pick` against a long-lived pending promise. Each iteration races the same
// never-resolved promise with a fresh one, which then wins. What it measures is the cost of the
// race and that the long-lived promise does not accumulate waiters (Lwt issue #211).
//
// lwt: `pick([long.clone(), short])`, then `wakeup(short)`, so the pick really registers on
// `long` and has to clean up after itself. Peers: one task per iteration awaiting
// `futures::future::select(long.clone(), rx)` with `long` a `Shared` oneshot receiver (futures'
// or tokio's), then the send; the executor runs the task as in `pending-bind`. OCaml:
// `Lwt.pick [long; p]`, then `Lwt.wakeup`.

fn pick_lwt(n: u64) -> u64 {
    let (long, _keep_pending) = lwt::wait::<u64>();
    let mut acc = 0u64;
    for i in 0..n {
        let (short, r) = lwt::wait::<u64>();
        let winner = lwt::combinators::pick(vec![long.clone(), short]);
        r.wakeup(i);
        acc = step(acc, lwt_value(&winner));
    }
    assert!(
        long.callback_count() <= 2,
        "waiters accumulated on the long-lived promise"
    );
    acc
}

fn pick_futures(pool: &mut LocalPool, n: u64) -> u64 {
    use futures::FutureExt;
    let (_keep_pending, long_rx) = futures::channel::oneshot::channel::<u64>();
    let long = long_rx.shared();
    let spawner = pool.spawner();
    let out = Rc::new(Cell::new(0u64));
    for i in 0..n {
        let (tx, rx) = futures::channel::oneshot::channel::<u64>();
        let (acc, cell, long) = (out.get(), out.clone(), long.clone());
        spawner
            .spawn_local(async move {
                let v = match futures::future::select(long, rx).await {
                    futures::future::Either::Left((v, _)) => v.unwrap(),
                    futures::future::Either::Right((v, _)) => v.unwrap(),
                };
                cell.set(step(acc, v))
            })
            .unwrap();
        pool.run_until_stalled();
        tx.send(i).unwrap();
        pool.run_until_stalled();
    }
    out.get()
}

async fn pick_tokio(n: u64) -> u64 {
    use futures::FutureExt;
    let (_keep_pending, long_rx) = tokio::sync::oneshot::channel::<u64>();
    let long = long_rx.shared();
    let mut acc = 0u64;
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
        let long = long.clone();
        let task = tokio::task::spawn_local(async move {
            match futures::future::select(long, rx).await {
                futures::future::Either::Left((v, _)) => step(acc, v.unwrap()),
                futures::future::Either::Right((v, _)) => step(acc, v.unwrap()),
            }
        });
        tokio::task::yield_now().await;
        tx.send(i).unwrap();
        acc = task.await.unwrap();
    }
    acc
}

fn pick_row(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| pick_lwt(n))),
        1 => run_futures(|pool| pick_futures(pool, n)),
        _ => run_tokio(pick_tokio(n)),
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 6's rows: a stream pipeline. A consumer folds a mapped stream while a producer pushes N
// elements and closes it. lwt: `stream::create`, `map`, `fold`; futures: an unbounded `mpsc`
// channel, `StreamExt::map` and `fold` in a `LocalPool` task; tokio: an unbounded `mpsc` channel
// and a `recv` loop in a `spawn_local` task. The map is the identity composed with a `black_box`,
// so all of them do the same per-element work. The two rows differ in when the consumer runs, and
// every implementation of a row has it run at the same points:
//
// * `stream-pipeline`, the hand-off: the consumer is woken for every element. lwt and OCaml push
//   from outside their loop, where each push resolves the waiting read at once; futures runs the
//   pool until stalled after each send; tokio's producer yields after each send.
// * `stream-batch`: the producer pushes all N from inside the scheduler, and the consumer drains
//   them afterwards. lwt and OCaml push from a callback under `main::run` (after a `pause`), where
//   a push only queues the waiting read's wake-up; futures and tokio run the consumer task once
//   the producer is done, as their executors do.

fn pipeline_lwt(n: u64) -> u64 {
    let (s, push) = lwt::stream::create::<u64>();
    let sum = s.map(std::hint::black_box).fold(0u64, step);
    for i in 0..n {
        push.push(i).unwrap();
    }
    push.close();
    lwt_value(&sum)
}

fn batch_lwt(n: u64) -> u64 {
    let (s, push) = lwt::stream::create::<u64>();
    let sum = s.map(std::hint::black_box).fold(0u64, step);
    let producer = lwt::main::pause().bind(move |()| {
        for i in 0..n {
            push.push(i).unwrap();
        }
        push.close();
        sum
    });
    lwt::main::run(producer).unwrap()
}

/// The futures consumer: a `LocalPool` task folding the mapped channel into `out`.
fn spawn_fold_futures(
    pool: &LocalPool,
    rx: futures::channel::mpsc::UnboundedReceiver<u64>,
    out: &Rc<Cell<u64>>,
) {
    use futures::StreamExt;
    let o = out.clone();
    pool.spawner()
        .spawn_local(async move {
            let sum = rx
                .map(std::hint::black_box)
                .fold(0u64, |acc, x| async move { step(acc, x) })
                .await;
            o.set(sum);
        })
        .unwrap();
}

fn pipeline_futures(pool: &mut LocalPool, n: u64, hand_off: bool) -> u64 {
    let (tx, rx) = futures::channel::mpsc::unbounded::<u64>();
    let out = Rc::new(Cell::new(0u64));
    spawn_fold_futures(pool, rx, &out);
    for i in 0..n {
        tx.unbounded_send(i).unwrap();
        if hand_off {
            pool.run_until_stalled();
        }
    }
    drop(tx);
    pool.run_until_stalled();
    out.get()
}

async fn pipeline_tokio(n: u64, hand_off: bool) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let consumer = tokio::task::spawn_local(async move {
        let mut acc = 0u64;
        while let Some(x) = rx.recv().await {
            acc = step(acc, std::hint::black_box(x));
        }
        acc
    });
    for i in 0..n {
        tx.send(i).unwrap();
        if hand_off {
            tokio::task::yield_now().await;
        }
    }
    drop(tx);
    consumer.await.unwrap()
}

fn pipeline_row(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| pipeline_lwt(n))),
        1 => run_futures(|pool| pipeline_futures(pool, n, true)),
        _ => run_tokio(pipeline_tokio(n, true)),
    }
}

fn batch_row(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| batch_lwt(n))),
        1 => run_futures(|pool| pipeline_futures(pool, n, false)),
        _ => run_tokio(pipeline_tokio(n, false)),
    }
}

// ---------------------------------------------------------------------------------------------
// Row 3 of the issue: a loop that yields to the scheduler each iteration.
//
// lwt: `go(i, acc) = pause().bind(move |()| go(i + 1, step(acc, i)))` under `main::run`, Lwt's own
// idiom. tokio: `yield_now().await` in a loop in a `LocalSet`. futures 0.3 has no `yield_now`, so
// the peer uses the obvious ten-line one (wake itself, return `Pending` once) on a `LocalPool`.

fn yield_loop_go(n: u64, i: u64, acc: u64) -> Promise<u64> {
    if i == n {
        Promise::ret(acc)
    } else {
        lwt::main::pause().bind(move |()| yield_loop_go(n, i + 1, step(acc, i)))
    }
}

fn yield_loop_lwt(n: u64) -> u64 {
    lwt::main::run(Promise::ret(()).bind(move |()| yield_loop_go(n, 0, 0))).unwrap()
}

struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

async fn yield_loop_futures(n: u64) -> u64 {
    let mut acc = 0;
    for i in 0..n {
        YieldNow(false).await;
        acc = step(acc, i);
    }
    acc
}

async fn yield_loop_tokio(n: u64) -> u64 {
    let mut acc = 0;
    for i in 0..n {
        tokio::task::yield_now().await;
        acc = step(acc, i);
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// Ping-pong through one-slot mailboxes: the pinger puts `i` in mailbox `a` and takes the reply
// from mailbox `b`; the ponger takes from `a` and puts into `b`. lwt: two `sync::Mvar`s under
// `main::run`; futures: `mpsc::channel(0)` (capacity = buffer + 1 per sender = 1) on a
// `LocalPool`; tokio: `mpsc::channel(1)` in a `LocalSet`.

fn pong_lwt(a: Mvar<u64>, b: Mvar<u64>, left: u64) -> Promise<()> {
    if left == 0 {
        return Promise::ret(());
    }
    a.take().bind(move |x| {
        let put = b.put(x);
        put.bind(move |()| pong_lwt(a, b, left - 1))
    })
}

fn ping_lwt(a: Mvar<u64>, b: Mvar<u64>, i: u64, n: u64, acc: u64) -> Promise<u64> {
    if i == n {
        return Promise::ret(acc);
    }
    let b2 = b.clone();
    let a2 = a.clone();
    a.put(i)
        .bind(move |()| b2.take())
        .bind(move |x| ping_lwt(a2, b, i + 1, n, step(acc, x)))
}

fn ping_pong_lwt(n: u64) -> u64 {
    let a = Mvar::create_empty();
    let b = Mvar::create_empty();
    // Both sides start inside the loop, as an Lwt program's do under `Lwt_main.run`: there each
    // hand-over (`wakeup_later`) is queued, so the two recursions alternate through the loop's
    // queue instead of nesting native calls (at top level they would all run at once, nested).
    let game = lwt::main::pause().bind(move |()| {
        let pong = pong_lwt(a.clone(), b.clone(), n);
        ping_lwt(a, b, 0, n, 0).bind(move |sum| pong.map(move |()| sum))
    });
    lwt::main::run(game).unwrap()
}

async fn ping_pong_futures(spawner: futures::executor::LocalSpawner, n: u64) -> u64 {
    use futures::{SinkExt, StreamExt};
    let (mut tx_a, mut rx_a) = futures::channel::mpsc::channel::<u64>(0);
    let (mut tx_b, mut rx_b) = futures::channel::mpsc::channel::<u64>(0);
    spawner
        .spawn_local(async move {
            while let Some(x) = rx_a.next().await {
                tx_b.send(x).await.unwrap();
            }
        })
        .unwrap();
    let mut acc = 0;
    for i in 0..n {
        tx_a.send(i).await.unwrap();
        acc = step(acc, rx_b.next().await.unwrap());
    }
    acc
}

async fn ping_pong_tokio(n: u64) -> u64 {
    let (tx_a, mut rx_a) = tokio::sync::mpsc::channel::<u64>(1);
    let (tx_b, mut rx_b) = tokio::sync::mpsc::channel::<u64>(1);
    tokio::task::spawn_local(async move {
        while let Some(x) = rx_a.recv().await {
            tx_b.send(x).await.unwrap();
        }
    });
    let mut acc = 0;
    for i in 0..n {
        tx_a.send(i).await.unwrap();
        acc = step(acc, rx_b.recv().await.unwrap());
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// N concurrent timers with pseudo-random deadlines up to 50 ms. Each adds `step(i, 1)` to a sum
// when it fires (order-independent, since equal deadlines may fire in any order). lwt:
// `unix::sleep(..).map(..)` joined with `join` under `main::run`; tokio: one `spawn_local` task per
// timer doing `time::sleep(..).await`, awaited in order. futures has no timer: n/a.

fn deadline(i: u64) -> Duration {
    Duration::from_micros(i.wrapping_mul(2_654_435_761) % 50_000)
}

fn expected_timers(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, i| acc.wrapping_add(step(i, 1)))
}

fn timers_lwt(n: u64) -> u64 {
    let acc = Rc::new(Cell::new(0u64));
    let timers: Vec<Promise<()>> = (0..n)
        .map(|i| {
            let acc = acc.clone();
            lwt::unix::sleep(deadline(i)).map(move |()| acc.set(acc.get().wrapping_add(step(i, 1))))
        })
        .collect();
    lwt::main::run(lwt::join(timers)).unwrap();
    acc.get()
}

async fn timers_tokio(n: u64) -> u64 {
    let acc = Rc::new(Cell::new(0u64));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let acc = acc.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(deadline(i)).await;
                acc.set(acc.get().wrapping_add(step(i, 1)));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    acc.get()
}

// ---------------------------------------------------------------------------------------------
// TCP echo on 127.0.0.1: a server and a client in the same thread, N sequential round trips of
// 64 bytes (byte j of message i is `(i + j) mod 256`); the client folds the sum of the bytes it
// gets back. lwt: `unix::Listener`, `connect_tcp`, `Fd::read_into`/`write_from` loops; tokio:
// `TcpListener`, `TcpStream`, `read`/`write_all`/`read_exact`, server in a `spawn_local` task.
// Every implementation reuses its buffers and writes each message into one in place. futures:
// n/a (no reactor).

const MSG: usize = 64;

fn message(i: u64) -> Vec<u8> {
    (0..MSG as u64).map(|j| (i + j) as u8).collect()
}

fn byte_sum(buf: &[u8]) -> u64 {
    buf.iter().map(|&b| u64::from(b)).sum()
}

fn expected_echo(n: u64) -> u64 {
    (0..n).fold(0, |acc, i| step(acc, byte_sum(&message(i))))
}

// The lwt side follows bench/ocaml/peers.ml: `Lwt_unix.read fd buf ofs len` and
// `Lwt_unix.write` (here `Fd::read_into` / `Fd::write_from`, which move the buffer in and give it
// back), one reused buffer per direction, and the message written into its buffer in place.

fn fill_message(buf: &mut [u8], i: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        *b = (i + j as u64) as u8;
    }
}

fn write_all_lwt(fd: lwt::unix::Fd, buf: Vec<u8>, off: usize, len: usize) -> Promise<Vec<u8>> {
    if len == 0 {
        return Promise::ret(buf);
    }
    fd.write_from(buf, off..off + len)
        .bind(move |(buf, put)| write_all_lwt(fd, buf, off + put, len - put))
}

fn read_exact_lwt(fd: lwt::unix::Fd, buf: Vec<u8>, off: usize, len: usize) -> Promise<Vec<u8>> {
    if len == 0 {
        return Promise::ret(buf);
    }
    fd.read_into(buf, off..off + len).bind(move |(buf, got)| {
        assert!(got > 0, "unexpected end of input");
        read_exact_lwt(fd, buf, off + got, len - got)
    })
}

fn echo_lwt(fd: lwt::unix::Fd, buf: Vec<u8>) -> Promise<()> {
    fd.read_into(buf, 0..MSG).bind(move |(buf, got)| {
        if got == 0 {
            Promise::ret(())
        } else {
            write_all_lwt(fd.clone(), buf, 0, got).bind(move |buf| echo_lwt(fd, buf))
        }
    })
}

fn client_lwt(
    fd: lwt::unix::Fd,
    (mut out, inp): (Vec<u8>, Vec<u8>),
    i: u64,
    n: u64,
    acc: u64,
) -> Promise<u64> {
    if i == n {
        fd.shutdown(std::net::Shutdown::Write).unwrap();
        return Promise::ret(acc);
    }
    fill_message(&mut out, i);
    write_all_lwt(fd.clone(), out, 0, MSG).bind(move |out| {
        read_exact_lwt(fd.clone(), inp, 0, MSG).bind(move |inp| {
            let acc = step(acc, byte_sum(&inp));
            client_lwt(fd, (out, inp), i + 1, n, acc)
        })
    })
}

fn tcp_echo_lwt(n: u64) -> u64 {
    let listener = lwt::unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = listener.accept().bind(|(fd, _)| echo_lwt(fd, vec![0; MSG]));
    let client = lwt::unix::connect_tcp(addr)
        .bind(move |fd| client_lwt(fd, (vec![0; MSG], vec![0; MSG]), 0, n, 0));
    let ((), sum) = lwt::main::run(lwt::both(server, client)).unwrap();
    listener.close().unwrap();
    sum
}

async fn tcp_echo_tokio(n: u64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::task::spawn_local(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; MSG];
        loop {
            let got = s.read(&mut buf).await.unwrap();
            if got == 0 {
                break;
            }
            s.write_all(&buf[..got]).await.unwrap();
        }
    });
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut acc = 0;
    let (mut out, mut buf) = ([0u8; MSG], [0u8; MSG]);
    for i in 0..n {
        fill_message(&mut out, i);
        c.write_all(&out).await.unwrap();
        c.read_exact(&mut buf).await.unwrap();
        acc = step(acc, byte_sum(&buf));
    }
    c.shutdown().await.unwrap();
    server.await.unwrap();
    acc
}

// ---------------------------------------------------------------------------------------------
// Line echo through buffered channels (Lwt_io): the client writes a 63-character line and
// flushes, the server reads it with `read_line`, writes it back with `write_line` and flushes,
// and the client reads the reply with `read_line`; N sequential round trips over TCP on
// 127.0.0.1, client and server in one thread. Each side's input channel reads the socket in
// chunks of its buffer (4 KiB in lwt and OCaml's `Lwt_io`, 8 KiB in tokio's `BufReader`), so
// every read of a line is a short read. lwt: `io::socket_channels` / `io::open_connection`;
// tokio: `BufReader::read_line` and `BufWriter` on the halves of a `TcpStream`; OCaml:
// `Lwt_io.of_fd`, `read_line`, `write_line`, `flush`.

const LINE: usize = 63;

fn line(i: u64) -> String {
    (0..LINE as u64)
        .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
        .collect()
}

fn expected_lines(n: u64) -> u64 {
    (0..n).fold(0, |acc, i| step(acc, byte_sum(line(i).as_bytes())))
}

fn line_server_lwt(ic: lwt::io::InputChannel, oc: lwt::io::OutputChannel) -> Promise<()> {
    ic.read_line_opt().bind(move |got| match got {
        None => Promise::ret(()),
        Some(l) => {
            let out = oc.clone();
            oc.write_line(l)
                .bind(move |()| out.flush())
                .bind(move |()| line_server_lwt(ic, oc))
        }
    })
}

fn line_client_lwt(
    ic: lwt::io::InputChannel,
    oc: lwt::io::OutputChannel,
    i: u64,
    n: u64,
    acc: u64,
) -> Promise<u64> {
    if i == n {
        return oc.close().map(move |()| acc);
    }
    let (inp, out) = (ic.clone(), oc.clone());
    oc.write_line(line(i))
        .bind(move |()| out.flush())
        .bind(move |()| inp.read_line())
        .bind(move |reply| {
            let acc = step(acc, byte_sum(reply.as_bytes()));
            line_client_lwt(ic, oc, i + 1, n, acc)
        })
}

fn line_echo_lwt(n: u64) -> u64 {
    let listener = lwt::unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = listener.accept().bind(|(fd, _)| {
        let (ic, oc) = lwt::io::socket_channels(fd);
        line_server_lwt(ic, oc)
    });
    let client =
        lwt::io::open_connection(addr).bind(move |(ic, oc)| line_client_lwt(ic, oc, 0, n, 0));
    let ((), sum) = lwt::main::run(lwt::both(server, client)).unwrap();
    listener.close().unwrap();
    sum
}

async fn line_echo_tokio(n: u64) -> u64 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::task::spawn_local(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (r, w) = s.into_split();
        let (mut r, mut w) = (BufReader::new(r), BufWriter::new(w));
        let mut l = String::new();
        loop {
            l.clear();
            if r.read_line(&mut l).await.unwrap() == 0 {
                break;
            }
            w.write_all(l.as_bytes()).await.unwrap();
            w.flush().await.unwrap();
        }
    });
    let (r, w) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let (mut r, mut w) = (BufReader::new(r), BufWriter::new(w));
    let mut acc = 0;
    let mut reply = String::new();
    for i in 0..n {
        w.write_all(line(i).as_bytes()).await.unwrap();
        w.write_all(b"\n").await.unwrap();
        w.flush().await.unwrap();
        reply.clear();
        r.read_line(&mut reply).await.unwrap();
        acc = step(acc, byte_sum(reply.trim_end_matches('\n').as_bytes()));
    }
    w.shutdown().await.unwrap();
    server.await.unwrap();
    acc
}

// ---------------------------------------------------------------------------------------------
// The harness. The parent process runs every repetition of every implementation as a child
// process (this same binary with `--child ROW IMPL N`, or the OCaml program), interleaved, under
// `/usr/bin/time -f %M` for the peak RSS; the child prints `checksum=<n> ns_per_op=<x>`.

const IMPLS: [&str; 4] = ["lwt", "futures", "tokio", "ocaml"];
const OCAML: usize = 3;

/// Runs implementation `which` (0: lwt, 1: futures, 2: tokio) of a row on `n` operations, giving
/// its checksum and elapsed time; `None` when that implementation cannot do the row.
type RunFn = fn(usize, u64) -> Option<(u64, Duration)>;

struct Row {
    name: &'static str,
    what: &'static str,
    n: u64,
    run: RunFn,
    expected: fn(u64) -> u64,
}

fn run_futures(f: impl FnOnce(&mut LocalPool) -> u64) -> Option<(u64, Duration)> {
    let mut pool = LocalPool::new();
    Some(timed(|| f(&mut pool)))
}

fn run_tokio<F: Future<Output = u64>>(fut: F) -> Option<(u64, Duration)> {
    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    Some(timed(|| local.block_on(&rt, fut)))
}

fn resolved_bind(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| resolved_bind_lwt(n))),
        1 => run_futures(|pool| pool.run_until(resolved_bind_async(n))),
        _ => run_tokio(resolved_bind_async(n)),
    }
}

fn resolved_map(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| resolved_map_lwt(n))),
        1 => run_futures(|pool| pool.run_until(resolved_map_async(n))),
        _ => run_tokio(resolved_map_async(n)),
    }
}

fn pending_bind(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| pending_bind_lwt(n))),
        1 => run_futures(|pool| pending_bind_futures(pool, n)),
        _ => run_tokio(pending_bind_tokio(n)),
    }
}

fn yield_loop(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| yield_loop_lwt(n))),
        1 => run_futures(|pool| pool.run_until(yield_loop_futures(n))),
        _ => run_tokio(yield_loop_tokio(n)),
    }
}

fn recursive_loop(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| recursive_loop_lwt(n))),
        1 => run_futures(|pool| recursive_loop_futures(pool, n)),
        _ => run_tokio(recursive_loop_tokio(n)),
    }
}

fn join(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| join_lwt(n))),
        1 => run_futures(|pool| join_futures(pool, n)),
        _ => run_tokio(join_tokio(n)),
    }
}

fn ping_pong(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| ping_pong_lwt(n))),
        1 => run_futures(|pool| {
            let spawner = pool.spawner();
            pool.run_until(ping_pong_futures(spawner, n))
        }),
        _ => run_tokio(ping_pong_tokio(n)),
    }
}

fn timers(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| timers_lwt(n))),
        1 => None,
        _ => run_tokio(timers_tokio(n)),
    }
}

fn tcp_echo(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| tcp_echo_lwt(n))),
        1 => None,
        _ => run_tokio(tcp_echo_tokio(n)),
    }
}

fn line_echo(which: usize, n: u64) -> Option<(u64, Duration)> {
    match which {
        0 => Some(timed(|| line_echo_lwt(n))),
        1 => None,
        _ => run_tokio(line_echo_tokio(n)),
    }
}

fn rows(scale: u64) -> Vec<Row> {
    vec![
        Row {
            name: "resolved-bind",
            what: "`p = p.bind(|x| ret(f(x)))` on a resolved promise",
            n: 10_000_000 / scale,
            run: resolved_bind,
            expected: expected_fold,
        },
        Row {
            name: "resolved-map",
            what: "`p = p.map(f)` on a resolved promise",
            n: 10_000_000 / scale,
            run: resolved_map,
            expected: expected_fold,
        },
        Row {
            name: "pending-bind",
            what: "`wait()`, bind, `wakeup`, read the result",
            n: 1_000_000 / scale,
            run: pending_bind,
            expected: expected_fold,
        },
        Row {
            name: "yield-loop",
            what: "a loop yielding to the scheduler each iteration (`pause` / `yield_now`)",
            n: 1_000_000 / scale,
            run: yield_loop,
            expected: expected_fold,
        },
        Row {
            name: "recursive-loop-1M",
            what: "recursive loop of N iterations, each awaiting a promise woken from outside",
            n: 1_000_000 / scale,
            run: recursive_loop,
            expected: expected_fold,
        },
        Row {
            name: "recursive-loop-10M",
            what: "the same loop at 10 × N: peak memory must not grow",
            n: 10_000_000 / scale,
            run: recursive_loop,
            expected: expected_fold,
        },
        Row {
            name: "join-all",
            what: "`all` of N pending promises, woken one by one in input order",
            n: 1_000_000 / scale,
            run: join,
            expected: expected_fold,
        },
        Row {
            name: "pick-long-lived",
            what: "`pick` of a long-lived pending promise and a fresh one that wins (issue 3)",
            n: 1_000_000 / scale,
            run: pick_row,
            expected: expected_fold,
        },
        Row {
            name: "stream-pipeline",
            what: "N elements pushed through a stream, mapped and folded, the consumer woken per element (issue 6)",
            n: 1_000_000 / scale,
            run: pipeline_row,
            expected: expected_fold,
        },
        Row {
            name: "stream-batch",
            what: "the same pipeline, all N pushed inside the scheduler before the consumer drains them",
            n: 1_000_000 / scale,
            run: batch_row,
            expected: expected_fold,
        },
        Row {
            name: "ping-pong",
            what: "N messages there and back through one-slot mailboxes (Mvar / capacity-1 channel)",
            n: 1_000_000 / scale,
            run: ping_pong,
            expected: expected_fold,
        },
        Row {
            name: "timers",
            what: "N concurrent timers, pseudo-random deadlines up to 50 ms (wall time includes the 50 ms)",
            n: 100_000 / scale,
            run: timers,
            expected: expected_timers,
        },
        Row {
            name: "tcp-echo",
            what: "N sequential 64-byte round trips over TCP on 127.0.0.1, client and server in one thread",
            n: 100_000 / scale,
            run: tcp_echo,
            expected: expected_echo,
        },
        Row {
            name: "line-echo",
            what: "N sequential round trips of a 63-character line through buffered channels (read_line, write_line, flush) over TCP",
            n: 100_000 / scale,
            run: line_echo,
            expected: expected_lines,
        },
    ]
}

/// Checksums are compared modulo 2^63: OCaml's ints have 63 bits, and the folds are built from
/// ring operations, so the low 63 bits agree.
const MASK63: u64 = u64::MAX >> 1;

/// The child side: one warm-up on N / 10, one timed run, and with `count` a counting pass.
fn child(row: &Row, which: usize, n: u64, count: bool) {
    let Some((warm, _)) = (row.run)(which, (n / 10).max(1)) else {
        println!("n/a");
        return;
    };
    black_box(warm);
    let (sum, elapsed) = (row.run)(which, n).expect("runs");
    println!(
        "checksum={sum} ns_per_op={:.3}",
        elapsed.as_nanos() as f64 / n as f64
    );
    if count {
        COUNT_PASS.store(true, Relaxed);
        let (sum2, _) = (row.run)(which, n).expect("runs");
        COUNT_PASS.store(false, Relaxed);
        assert_eq!(sum, sum2, "counting pass checksum");
        let heap = LAST_HEAP.lock().unwrap().take().expect("counted");
        println!("allocs={} peak_heap={}", heap.allocs, heap.peak_bytes);
    }
}

/// What one child run reported.
#[derive(Default)]
struct Sample {
    checksum: u64,
    ns_per_op: f64,
    allocs: Option<u64>,
    peak_heap: Option<i64>,
    rss_kib: Option<u64>,
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// A child's checksum: OCaml prints its 63-bit ints signed, Rust its `u64`s unsigned.
fn parse_checksum(text: &str) -> Option<u64> {
    let text = field(text, "checksum")?;
    text.parse::<i64>()
        .map(|v| v as u64)
        .or_else(|_| text.parse::<u64>())
        .ok()
}

/// Runs a child under `/usr/bin/time -f %M` when that exists. `None` when the implementation
/// cannot do the row.
fn run_child(cmd: &[String], time_out: &std::path::Path) -> Result<Option<Sample>, String> {
    let use_time = std::path::Path::new("/usr/bin/time").exists();
    let mut command = if use_time {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(time_out).args(cmd);
        c
    } else {
        let mut c = std::process::Command::new(&cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("spawn child");
    if !out.status.success() {
        return Err(format!("FAILED ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() == "n/a" {
        return Ok(None);
    }
    let checksum =
        parse_checksum(&text).unwrap_or_else(|| panic!("no checksum in {text:?} from {cmd:?}"));
    let ns_per_op = field(&text, "ns_per_op")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no ns_per_op in {text:?}"));
    let rss_kib = if use_time {
        std::fs::read_to_string(time_out)
            .ok()
            .and_then(|t| t.lines().last()?.trim().parse().ok())
    } else {
        None
    };
    Ok(Some(Sample {
        checksum: checksum & MASK63,
        ns_per_op,
        allocs: field(&text, "allocs").and_then(|s| s.parse().ok()),
        peak_heap: field(&text, "peak_heap").and_then(|s| s.parse().ok()),
        rss_kib,
    }))
}

/// Builds `bench/ocaml/peers.ml` into `target/<profile>/ocaml-peers/` (a copy of the source is
/// compiled there, so the source tree stays clean). `Err` says why OCaml is skipped.
fn build_ocaml() -> Result<std::path::PathBuf, String> {
    let found = std::process::Command::new("ocamlfind")
        .args(["query", "lwt.unix"])
        .output();
    match found {
        Ok(o) if o.status.success() => {}
        Ok(_) => {
            return Err("ocamlfind finds no lwt.unix package (apt-get install -y \
                        liblwt-ocaml-dev ocaml-findlib ocaml-nox)"
                .into())
        }
        Err(_) => {
            return Err(
                "ocamlfind is not installed (apt-get install -y liblwt-ocaml-dev \
                        ocaml-findlib ocaml-nox)"
                    .into(),
            )
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/ocaml/peers.ml");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/peers-<hash> -> target/<profile>/ocaml-peers
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .ok_or("no target directory")?
        .join("ocaml-peers");
    // Built in a directory of this process's own, then renamed into place: two bench runs at
    // once (or a run while the executable is in use) never see a half-written file.
    let build = dir.join(format!("build-{}", std::process::id()));
    std::fs::create_dir_all(&build).map_err(|e| e.to_string())?;
    std::fs::copy(&src, build.join("peers.ml")).map_err(|e| format!("{}: {e}", src.display()))?;
    let compile = |flags: &[&str]| {
        std::process::Command::new("ocamlfind")
            .current_dir(&build)
            .arg("ocamlopt")
            .args(flags)
            .args([
                "-thread", "-package", "lwt.unix", "-linkpkg", "peers.ml", "-o", "peers",
            ])
            .output()
            .map_err(|e| e.to_string())
    };
    // `-O3` needs a flambda compiler; retry without it.
    let mut out = compile(&["-O3"])?;
    if !out.status.success() {
        out = compile(&[])?;
    }
    if !out.status.success() {
        return Err(format!(
            "ocamlfind ocamlopt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let exe = dir.join(format!("peers-{}", std::process::id()));
    std::fs::rename(build.join("peers"), &exe).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&build);
    Ok(exe)
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

/// The command line of one child: this binary's `--child` mode, or the OCaml program (with an
/// unlimited stack when allowed: Lwt 5.6's `Lwt.all` recurses on its list). `wrap` goes between
/// the shell and the OCaml program (a tool that runs it).
fn child_command(
    row: &Row,
    which: usize,
    n: u64,
    me: &str,
    ocaml: Option<&std::path::Path>,
    wrap: &[String],
) -> Vec<String> {
    if which == OCAML {
        let mut c: Vec<String> = vec![
            "/bin/sh".into(),
            "-c".into(),
            "ulimit -s unlimited 2>/dev/null; exec \"$0\" \"$@\"".into(),
        ];
        c.extend(wrap.iter().cloned());
        c.push(ocaml.expect("OCaml built").to_string_lossy().into_owned());
        c.push(row.name.to_string());
        c.push(n.to_string());
        c
    } else {
        let mut c = wrap.to_vec();
        c.extend([
            me.to_string(),
            "--child".into(),
            row.name.into(),
            which.to_string(),
            n.to_string(),
        ]);
        c
    }
}

/// Runs `cmd` under callgrind: the instructions it executed, once its checksum checked out.
/// `None` when the implementation cannot do the row.
fn instructions_of(cmd: &[String], expected: u64) -> Result<Option<u64>, String> {
    let out = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    if !out.status.success() {
        return Err(format!("FAILED ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() == "n/a" {
        return Ok(None);
    }
    let checksum = parse_checksum(&text).ok_or_else(|| format!("no checksum in {text:?}"))?;
    if checksum & MASK63 != expected {
        return Err(format!("wrong checksum {checksum}"));
    }
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("refs:").nth(1))
        .and_then(|refs| refs.trim().replace(',', "").parse().ok())
        .map(Some)
        .ok_or_else(|| "no instruction count in valgrind's output".to_string())
}

/// `--instructions`: instructions per operation of every implementation, by callgrind. Wall
/// time on a shared machine moves with the neighbours; instruction counts do not, so this is the
/// table to compare commits with. Each cell runs its child at N and at N = 1 and divides the
/// difference by the operations between them (a child runs a warm-up of N / 10, then N).
fn count_instructions(
    selected: &[&Row],
    impls: &[usize],
    ocaml: Option<&std::path::Path>,
    me: &str,
    n_override: Option<u64>,
) {
    let probe = std::process::Command::new("valgrind")
        .arg("--version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("--instructions needs valgrind (apt-get install -y valgrind)");
        std::process::exit(2);
    }
    let wrap: Vec<String> = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
    ]
    .map(String::from)
    .to_vec();
    let ops = |n: u64| n + (n / 10).max(1);
    let mut table = String::from(
        "Instructions per operation (callgrind; (I(N) - I(1)) / operations between, warm-up \
         included)\n\n| row | N |",
    );
    for &which in impls {
        table.push_str(&format!(" {} |", IMPLS[which]));
    }
    table.push_str(" lwt/best Rust | lwt/OCaml |\n|---|---:|");
    table.push_str(&"---:|".repeat(impls.len() + 2));
    table.push('\n');
    for row in selected {
        // A tenth of the timed N: callgrind runs programs about 50 times slower.
        let n = n_override.unwrap_or((row.n / 10).max(2));
        let mut per_op = [None; 4];
        table.push_str(&format!("| {} | {n} |", row.name));
        for &which in impls {
            let count = |n: u64| {
                let cmd = child_command(row, which, n, me, ocaml, &wrap);
                instructions_of(&cmd, (row.expected)(n) & MASK63)
            };
            let cell = match (count(n), count(1)) {
                (Ok(Some(big)), Ok(Some(small))) => {
                    let x = big.saturating_sub(small) as f64 / (ops(n) - ops(1)) as f64;
                    per_op[which] = Some(x);
                    format!("{x:.0}")
                }
                (Ok(None), _) | (_, Ok(None)) => "n/a".to_string(),
                (Err(why), _) | (_, Err(why)) => {
                    eprintln!("{} / {}: {why}", row.name, IMPLS[which]);
                    why
                }
            };
            table.push_str(&format!(" {cell} |"));
        }
        let ratio = |other: Option<f64>| match (per_op[0], other) {
            (Some(l), Some(o)) if o > 0.0 => format!("{:.2}", l / o),
            _ => String::new(),
        };
        let best_rust = [per_op[1], per_op[2]]
            .into_iter()
            .flatten()
            .min_by(f64::total_cmp);
        table.push_str(&format!(
            " {} | {} |\n",
            ratio(best_rust),
            ratio(per_op[OCAML])
        ));
        eprintln!("done: {}", row.name);
    }
    println!("{table}");
}

/// The options, printed by `--help` and after an unknown one.
const USAGE: &str = "\
usage: cargo bench --bench peers -- [OPTIONS] [NAME...]
  NAME            run only the rows whose name contains NAME
  --quick         N / 10 and 3 repetitions
  --instructions  instruction counts under callgrind instead of wall time
  --impl=IMPL     only this implementation (lwt, futures, tokio, ocaml); repeatable
  --reps=R        R repetitions of each row
  --n=N           N operations per row
  --help          this text";

/// The number after `flag` in `arg`; a bad one ends the program with the usage (falling back
/// to the default would start a full run of many minutes).
fn number<N: std::str::FromStr>(arg: &str, flag: &str) -> N {
    arg[flag.len()..].parse().unwrap_or_else(|_| {
        eprintln!("not a whole number in {arg:?}\n{USAGE}");
        std::process::exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let rows = rows(1);
        let row = rows.iter().find(|r| r.name == args[1]).expect("row");
        let which: usize = args[2].parse().expect("impl");
        let n: u64 = args[3].parse().expect("n");
        child(row, which, n, args.iter().any(|a| a == "--count"));
        return;
    }
    let mut quick = false;
    let mut instructions = false;
    let mut filters = Vec::new();
    let mut impls: Vec<usize> = Vec::new();
    let mut reps_override = None;
    let mut n_override = None;
    for arg in &args {
        match arg.as_str() {
            "--quick" => quick = true,
            "--instructions" => instructions = true,
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
            a if a.starts_with("--reps=") => reps_override = Some(number(a, "--reps=")),
            a if a.starts_with("--n=") => n_override = Some(number(a, "--n=")),
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            // A mistyped option would otherwise run a different benchmark, for many minutes.
            a if a.starts_with('-') => {
                eprintln!("unknown option {a:?}\n{USAGE}");
                std::process::exit(2);
            }
            a => filters.push(a.to_string()),
        }
    }
    if impls.is_empty() {
        impls = (0..IMPLS.len()).collect();
    }
    let (reps, scale) = if quick { (3, 10) } else { (5, 1) };
    let reps: usize = reps_override.unwrap_or(reps).max(1);

    let ocaml = if impls.contains(&OCAML) {
        match build_ocaml() {
            Ok(exe) => Some(exe),
            Err(why) => {
                eprintln!("OCaml Lwt skipped: {why}");
                None
            }
        }
    } else {
        None
    };
    if ocaml.is_none() {
        impls.retain(|&w| w != OCAML);
    }

    let all_rows = rows(scale);
    let selected: Vec<&Row> = all_rows
        .iter()
        .filter(|r| filters.is_empty() || filters.iter().any(|f| r.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        let names: Vec<_> = all_rows.iter().map(|r| r.name).collect();
        eprintln!("no row matches {filters:?}; rows: {names:?}");
        std::process::exit(2);
    }

    let me = std::env::current_exe()
        .expect("current_exe")
        .to_string_lossy()
        .into_owned();
    if instructions {
        count_instructions(&selected, &impls, ocaml.as_deref(), &me, n_override);
        if let Some(exe) = &ocaml {
            let _ = std::fs::remove_file(exe);
        }
        return;
    }
    let time_out = std::env::temp_dir().join(format!("lwt-peers-rss-{}", std::process::id()));

    let mut table = String::new();
    table.push_str(&format!(
        "{reps} interleaved repetitions per implementation{}, each a child process; ns/op: \
         median (min–max); lwt/impl = lwt median / that implementation's median (< 1: lwt \
         faster)\n\n",
        if quick { " (--quick)" } else { "" }
    ));
    table.push_str(
        "| row | N | impl | ns/op median | min–max | lwt/impl | peak RSS | allocs/op | peak heap |\n",
    );
    table.push_str("|---|---:|---|---:|---|---:|---:|---:|---:|\n");
    let mut notes = Vec::new();
    let mut verdicts = Vec::new();

    for row in &selected {
        let n: u64 = n_override.unwrap_or(row.n);
        let expected = (row.expected)(n) & MASK63;
        let mut samples: [Vec<Sample>; 4] = Default::default();
        let mut na = [false; 4];
        let mut failed: [Option<String>; 4] = Default::default();
        for rep in 0..reps {
            for &which in &impls {
                if na[which] || failed[which].is_some() {
                    continue;
                }
                let mut cmd = child_command(row, which, n, &me, ocaml.as_deref(), &[]);
                if rep == 0 && which != OCAML {
                    cmd.push("--count".into());
                }
                match run_child(&cmd, &time_out) {
                    Err(why) => {
                        eprintln!("{} / {}: child failed: {why}", row.name, IMPLS[which]);
                        failed[which] = Some(why);
                    }
                    Ok(None) => na[which] = true,
                    Ok(Some(s)) => {
                        assert_eq!(
                            s.checksum, expected,
                            "{}: {} computed a different checksum",
                            row.name, IMPLS[which]
                        );
                        samples[which].push(s);
                    }
                }
            }
        }
        let median_of = |which: usize| {
            (!samples[which].is_empty())
                .then(|| stats(samples[which].iter().map(|s| s.ns_per_op).collect()).median)
        };
        let lwt_median = median_of(0);
        for (pos, &which) in impls.iter().enumerate() {
            let (name, count) = if pos == 0 {
                (row.name, n.to_string())
            } else {
                ("", String::new())
            };
            if let Some(why) = &failed[which] {
                table.push_str(&format!(
                    "| {name} | {count} | {} | {why} | | | | | |\n",
                    IMPLS[which]
                ));
                continue;
            }
            if na[which] {
                table.push_str(&format!(
                    "| {name} | {count} | {} | n/a | | | | | |\n",
                    IMPLS[which]
                ));
                continue;
            }
            let s = stats(samples[which].iter().map(|s| s.ns_per_op).collect());
            let ratio = match lwt_median {
                Some(m) if which != 0 => format!("{:.2}", m / s.median),
                _ => "—".to_string(),
            };
            let rss: Vec<f64> = samples[which]
                .iter()
                .filter_map(|s| s.rss_kib.map(|k| k as f64))
                .collect();
            let rss = if rss.is_empty() {
                "?".to_string()
            } else {
                fmt_bytes(stats(rss).median as i64 * 1024)
            };
            let first = &samples[which][0];
            let allocs = first
                .allocs
                .map(|a| format!("{:.2}", a as f64 / n as f64))
                .unwrap_or_default();
            let heap = first.peak_heap.map(fmt_bytes).unwrap_or_default();
            table.push_str(&format!(
                "| {name} | {count} | {} | {:.1} | {:.1}–{:.1} | {ratio} | {rss} | {allocs} | {heap} |\n",
                IMPLS[which], s.median, s.min, s.max,
            ));
        }
        if let Some(m) = lwt_median {
            let mut v = format!("* `{}`:", row.name);
            // Ratios are judged as printed, to two decimals: a row that prints 1.00 meets a
            // target of 1.00.
            let rounded = |r: f64| (r * 100.0).round() / 100.0;
            if let Some(o) = median_of(OCAML) {
                let r = rounded(m / o);
                v.push_str(&format!(
                    " lwt/OCaml {r:.2} (target ≤ 0.50: {});",
                    if r <= 0.5 { "met" } else { "MISSED" }
                ));
            }
            let best = [1, 2]
                .iter()
                .filter_map(|&w| median_of(w).map(|x| (x, IMPLS[w])))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((b, name)) = best {
                let r = rounded(m / b);
                v.push_str(&format!(
                    " lwt/best Rust ({name}) {r:.2} (target ≤ 1.00: {})",
                    if r <= 1.0 { "met" } else { "MISSED" }
                ));
            }
            verdicts.push(v);
        }
        notes.push(format!("* `{}`: {}", row.name, row.what));
        eprintln!("done: {}", row.name);
    }
    let _ = std::fs::remove_file(&time_out);
    if let Some(exe) = &ocaml {
        let _ = std::fs::remove_file(exe);
    }
    println!("{table}");
    println!("{}", notes.join("\n"));
    println!(
        "\nTargets (lwt at most half of OCaml Lwt's time, and no slower than the best Rust peer):"
    );
    println!("{}", verdicts.join("\n"));
    println!(
        "\npeak RSS: the child process's maximum resident set (`/usr/bin/time -f %M`), median \
         over the repetitions; it includes the warm-up (N / 10) and, for the Rust rows, the \
         runtime's fixed footprint. allocs/op and peak heap (Rust only) come from a counting pass \
         in the first repetition's child (peak heap: the highest net growth of live heap bytes \
         during the run, executor setup excluded)."
    );
}
