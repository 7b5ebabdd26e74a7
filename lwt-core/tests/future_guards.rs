//! The guards of the futures interop (`future.rs`, and the `Wake` callback of `node.rs`). Found
//! by review, rev53:
//!
//! * A [`spawn_local`] task that canceled its own promise during a poll had its future dropped
//!   (and its output, or the panic of that poll) outside every guard: a panic in the future's or
//!   the output's `drop` unwound out of `main::run`, a panic of the poll itself vanished, and the
//!   drop did not run in the task's key storage (FINDINGS 1a, 1b, 1c).
//! * A `CancelOnDrop` of a `spawn_local` promise dropped while the thread's thread-locals were
//!   being destroyed panicked in `TASKS.with`, and the default hook ended the process (2).
//! * A waker whose `wake` polls its future at once livelocked on the promise that woke it: the
//!   promise, still running its callbacks, read as pending and queued the waker again, for ever
//!   (3). Handed the value there, a poll on a handle never cloned moved it out from under an
//!   observer queued after the waker, which was never called (session 47); the fix deferred a
//!   poll that queued an observer itself at every delivery, for ever (rev134).
//! * A panicking foreign waker unwound out of `Resolver::wakeup` instead of going to the async
//!   exception hook, as every other callback's panic does (4).
//! * `Promise` was no `FusedFuture` with the `futures-stream` feature (6).
//! * A pending promise cloned the waker it registers under its state's mutable borrow: a waker
//!   whose `clone` looked at that promise panicked out of `poll` (session 47).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::LocalKey;

use lwt_core::future::{spawn_local, CancelOnDrop};
use lwt_core::{hook, key, main, wait, Promise, Resolver};

struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0)
    }
}

/// Installs a hook that records what it is given (the hook is per thread, as is each test).
fn record_hook() -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    hook::set_async_exception_hook(move |e| s.borrow_mut().push(e.to_string()));
    seen
}

type Slot<T> = Rc<RefCell<Option<Promise<T>>>>;

/// The hook saw one failure, whose message contains `needle`.
fn assert_reported_once(seen: &Rc<RefCell<Vec<String>>>, needle: &str) {
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains(needle), "{seen:?}");
}

/// 1a: the future's `drop` panics after the task canceled its own promise.
#[test]
fn a_self_canceled_futures_drop_panic_goes_to_the_hook() {
    let seen = record_hook();
    let slot: Slot<()> = Rc::default();
    let s = slot.clone();
    let p = spawn_local(async move {
        let _guard = PanicOnDrop("drop of a self-canceled future");
        main::pause().await.unwrap();
        s.borrow_mut().take().unwrap().cancel();
        std::future::pending::<()>().await
    });
    *slot.borrow_mut() = Some(p.clone());
    let run = catch_unwind(AssertUnwindSafe(|| main::run(p)));
    let run = run.expect("the drop's panic unwound out of main::run");
    assert!(run.unwrap_err().is_canceled());
    assert_reported_once(&seen, "drop of a self-canceled future");
}

/// 1b: the task cancels (a `map` over) its own promise, then finishes with a value whose `drop`
/// panics.
#[test]
fn a_self_canceled_tasks_output_is_dropped_under_the_guard() {
    let seen = record_hook();
    let slot: Slot<()> = Rc::default();
    let s = slot.clone();
    let p = spawn_local(async move {
        main::pause().await.unwrap();
        s.borrow_mut().take().unwrap().cancel();
        PanicOnDrop("drop of a self-canceled task's output")
    });
    let q = p.map(|_| ());
    *slot.borrow_mut() = Some(q.clone());
    let run = catch_unwind(AssertUnwindSafe(|| main::run(q)));
    let run = run.expect("the output's drop panic unwound out of main::run");
    assert!(run.unwrap_err().is_canceled());
    assert_reported_once(&seen, "output");
}

/// 1c: the task cancels its own promise, then panics in the same poll: no promise is left to
/// carry the panic, so the hook gets it.
#[test]
fn a_poll_panic_after_a_self_cancel_goes_to_the_hook() {
    let seen = record_hook();
    let slot: Slot<()> = Rc::default();
    let s = slot.clone();
    let p = spawn_local(async move {
        main::pause().await.unwrap();
        s.borrow_mut().take().unwrap().cancel();
        panic!("poll panic after a self-cancel");
    });
    *slot.borrow_mut() = Some(p.clone());
    let run = catch_unwind(AssertUnwindSafe(|| main::run(p))).unwrap();
    assert!(run.unwrap_err().is_canceled());
    assert_reported_once(&seen, "poll panic after a self-cancel");
}

/// 1, key storage: the future of a self-canceled task is dropped in the task's storage, as it
/// is after a cancel from outside (and as its polls run).
#[test]
fn a_self_canceled_future_is_dropped_in_the_tasks_key_storage() {
    struct Probe(key::Key<u32>, Rc<Cell<Option<Option<u32>>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.1.set(Some(key::get(&self.0)));
        }
    }
    let k = key::new_key::<u32>();
    let seen = Rc::new(Cell::new(None));
    let slot: Slot<()> = Rc::default();
    let (s, k2, sn) = (slot.clone(), k, seen.clone());
    let p = key::with_value(&k, Some(7), || {
        spawn_local(async move {
            let _probe = Probe(k2, sn);
            main::pause().await.unwrap();
            s.borrow_mut().take().unwrap().cancel();
            std::future::pending::<()>().await
        })
    });
    *slot.borrow_mut() = Some(p.clone());
    assert!(main::run(p).unwrap_err().is_canceled());
    assert_eq!(seen.get(), Some(Some(7)));
}

const CHILD: &str = "LWT_CORE_FUTURE_GUARDS_CHILD";

thread_local! {
    static HELD: RefCell<Option<CancelOnDrop<()>>> = const { RefCell::new(None) };
}

/// 2: a thread-local first used before the runtime's own (so destroyed after them) holds a
/// `CancelOnDrop` of a pending task when the thread exits. In a child process: the default
/// hook, which a failure there reaches, ends the process.
#[test]
fn a_cancel_on_drop_of_a_task_dropped_at_thread_exit() {
    if std::env::var_os(CHILD).is_some() {
        let thread = std::thread::spawn(|| {
            HELD.with(|h| drop(h.borrow_mut().take()));
            let p = spawn_local(std::future::pending::<()>());
            HELD.with(|h| *h.borrow_mut() = Some(p.cancel_on_drop()));
        });
        assert!(thread.join().is_ok(), "the thread panicked as it exited");
        println!("child: joined");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_cancel_on_drop_of_a_task_dropped_at_thread_exit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child: joined"),
        "status {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

thread_local! {
    static INLINE: RefCell<Option<Task>> = RefCell::new(None);
    static WAKES: Cell<usize> = const { Cell::new(0) };
}

/// An executor of one future, whose waker polls it at once, on the waking thread (the `Waker`
/// contract allows it). It gives up after 1000 wakes, which a livelock reaches.
struct InlineWaker;

impl Wake for InlineWaker {
    fn wake(self: Arc<Self>) {
        if counted_wake(&WAKES) {
            poll_slot(&INLINE, Waker::from(self));
        }
    }
}

/// Counts a wake in `wakes`: false past the 1000th, a livelock's, when the executor gives up.
fn counted_wake(wakes: &'static LocalKey<Cell<usize>>) -> bool {
    wakes.with(|n| n.set(n.get() + 1));
    wakes.with(Cell::get) <= 1000
}

/// 3: woken by the promise it awaits, the future is polled inside the promise's delivery of
/// that very waker, and gets the value.
#[test]
fn a_waker_that_polls_at_once_gets_the_value() {
    let (p, r) = wait::<u32>();
    let after = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Cell::new(None));
    let d = done.clone();
    let q = p.clone();
    INLINE.with(|f| {
        *f.borrow_mut() = Some(Box::pin(async move {
            d.set(Some(q.await.unwrap()));
        }))
    });
    Arc::new(InlineWaker).wake(); // pending: registers the waker on `p`
    let a = after.clone();
    p.on_success(move |v| a.borrow_mut().push(*v)); // registered after the waker
    WAKES.with(|n| n.set(0));
    r.wakeup(7);
    assert_eq!(
        WAKES.with(Cell::get),
        1,
        "the waker was delivered again and again"
    );
    assert_eq!(done.get(), Some(7));
    assert_eq!(
        *after.borrow(),
        [7],
        "the callback after the waker still ran"
    );
}

/// 3, found in review (session 47): on a handle never cloned, the value is not copied, and the
/// poll inside the waker's delivery moved it out while an observer registered after the waker
/// was still queued: that observer was never called. The task is now woken again once the
/// callbacks queued after its waker have run, and takes the value then.
#[test]
fn an_inline_poll_leaves_the_value_to_an_observer_queued_after_its_waker() {
    let (p, r) = wait::<u32>();
    // One handle, shared by the future and the code that observes it (a hand-written future
    // wrapper would hold it the same way): never cloned.
    let shared = Rc::new(RefCell::new(p));
    let done = Rc::new(Cell::new(None));
    INLINE.with(|f| *f.borrow_mut() = Some(awaiting(shared.clone(), done.clone())));
    Arc::new(InlineWaker).wake(); // pending: registers the waker on `p`
    let after = Rc::new(RefCell::new(Vec::new()));
    let a = after.clone();
    shared.borrow().on_success(move |v| a.borrow_mut().push(*v)); // after the waker
    WAKES.with(|n| n.set(0));
    r.wakeup(7);
    assert_eq!(
        *after.borrow(),
        [7],
        "the observer after the waker was not called"
    );
    assert_eq!(done.get(), Some(7));
    assert_eq!(
        WAKES.with(Cell::get),
        2,
        "woken again once, after the observer"
    );
}

/// 3, the rule the fix keeps: polled from inside another of its own callbacks (not its waker's
/// delivery), a promise still reads as pending until the callbacks queued before have run.
#[test]
fn a_promise_polled_from_its_own_observer_reads_as_pending() {
    let (p, r) = wait::<u32>();
    let seen = Rc::new(Cell::new(None));
    let (s, q) = (seen.clone(), RefCell::new(Some(p.clone())));
    p.on_success(move |_| {
        let mut q = q.borrow_mut().take().unwrap();
        let noop = Waker::noop();
        s.set(Some(
            Pin::new(&mut q)
                .poll(&mut Context::from_waker(noop))
                .is_pending(),
        ));
    });
    r.wakeup(1);
    assert_eq!(seen.get(), Some(true));
}

struct PanicWaker;

impl Wake for PanicWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics")
    }
}

/// A task of `AllWaker`'s executor.
type Task = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// The tasks of `AllWaker`'s executor.
    static ALL_TASKS: RefCell<Vec<Option<Task>>> = const { RefCell::new(Vec::new()) };
}

/// An executor whose wake polls every one of its tasks at once.
struct AllWaker;

fn poll_one(i: usize) {
    let waker = Waker::from(Arc::new(AllWaker));
    let mut cx = Context::from_waker(&waker);
    let task = ALL_TASKS.with(|t| t.borrow_mut()[i].take());
    if let Some(mut f) = task {
        if f.as_mut().poll(&mut cx).is_pending() {
            ALL_TASKS.with(|t| t.borrow_mut()[i] = Some(f));
        }
    }
}

impl Wake for AllWaker {
    fn wake(self: Arc<Self>) {
        let n = ALL_TASKS.with(|t| t.borrow().len());
        for i in 0..n {
            poll_one(i);
        }
    }
}

/// Checked in review (rev55) of the fix above: an executor whose wake polls every one of its
/// tasks, each with a waker of its own made for that poll (so that no poll's waker is the one
/// being delivered), finishes them all, with no livelock. Inside the wake of A's waker, B, which
/// awaits the same promise, is handed the value too: before a callback queued ahead of B's own
/// waker has run (documented in `future`'s module docs).
#[test]
fn an_executor_that_polls_all_its_tasks_at_each_wake_finishes_them() {
    let (p, r) = wait::<u32>();
    let flag = Rc::new(Cell::new(false));
    let b_saw_flag = Rc::new(Cell::new(None));
    let (qa, qb) = (p.clone(), p.clone());
    let (f2, s2) = (flag.clone(), b_saw_flag.clone());
    ALL_TASKS.with(|t| {
        t.borrow_mut().push(Some(Box::pin(async move {
            qa.await.unwrap();
        })));
        t.borrow_mut().push(Some(Box::pin(async move {
            qb.await.unwrap();
            s2.set(Some(f2.get()));
        })));
    });
    poll_one(0); // A's waker: the first callback on p
    let f = flag.clone();
    p.on_success(move |_| f.set(true)); // the second
    poll_one(1); // B's waker: the third
    r.wakeup(1);
    assert!(ALL_TASKS.with(|t| t.borrow().iter().all(Option::is_none)));
    assert_eq!(b_saw_flag.get(), Some(false));
    assert!(flag.get());
}

/// 4: a foreign waker's panic goes to the hook, and the callbacks after it run.
#[test]
fn a_panicking_foreign_waker_goes_to_the_hook() {
    let seen = record_hook();
    let (p, r) = wait::<u32>();
    let waker = Waker::from(Arc::new(PanicWaker));
    let mut q = p.clone();
    assert!(Pin::new(&mut q)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let after = Rc::new(Cell::new(false));
    let a = after.clone();
    p.on_success(move |_| a.set(true));
    let out = catch_unwind(AssertUnwindSafe(|| r.wakeup(1)));
    assert!(out.is_ok(), "the waker's panic unwound out of wakeup");
    assert!(after.get());
    assert_reported_once(&seen, "a waker that panics");
}

/// 6: with the `futures-stream` feature, a promise is a `FusedFuture`, terminated once its
/// outcome was taken.
#[cfg(feature = "futures-stream")]
#[test]
fn a_promise_is_a_fused_future() {
    use futures::future::FusedFuture;
    let (mut p, r) = wait::<u32>();
    let noop = Waker::noop();
    let mut cx = Context::from_waker(noop);
    assert!(!p.is_terminated());
    assert!(Pin::new(&mut p).poll(&mut cx).is_pending());
    assert!(!p.is_terminated());
    r.wakeup(3);
    assert!(
        !p.is_terminated(),
        "resolved, but its outcome is not taken yet"
    );
    assert_eq!(Pin::new(&mut p).poll(&mut cx).map(Result::unwrap), 3.into());
    assert!(p.is_terminated());
    let mut ready = Promise::ret(1);
    assert!(!ready.is_terminated());
    let _ = Pin::new(&mut ready).poll(&mut cx);
    assert!(ready.is_terminated());
}

thread_local! {
    /// The promise that [`LOOKING_VTABLE`]'s `clone` looks at, and how many wakes it got.
    static LOOKED_AT: RefCell<Option<Promise<u8>>> = const { RefCell::new(None) };
    static LOOKING_WAKES: Cell<usize> = const { Cell::new(0) };
}

fn looking_clone(_: *const ()) -> RawWaker {
    LOOKED_AT.with(|p| {
        let _ = p.borrow().as_ref().map(Promise::is_fulfilled);
    });
    RawWaker::new(std::ptr::null(), &LOOKING_VTABLE)
}

fn looking_wake(_: *const ()) {
    LOOKING_WAKES.with(|n| n.set(n.get() + 1));
}

fn looking_drop(_: *const ()) {}

/// A foreign executor's waker whose `clone` looks at the promise it is registered on (a
/// tracing executor, say): no state behind the null data pointer.
static LOOKING_VTABLE: RawWakerVTable =
    RawWakerVTable::new(looking_clone, looking_wake, looking_wake, looking_drop);

/// Found in review (session 47): a pending promise cloned the waker it registers while it held
/// its state mutably borrowed, so a waker whose `clone` (its executor's code) looked at that
/// promise panicked with "already mutably borrowed" out of `poll`.
#[test]
fn a_wakers_clone_may_look_at_the_promise_it_registers_on() {
    let (p, r) = wait::<u8>();
    LOOKED_AT.with(|s| *s.borrow_mut() = Some(p.clone()));
    // SAFETY: the vtable's functions ignore the data pointer, which is null.
    #[allow(unsafe_code)]
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &LOOKING_VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut q = p.clone();
    let polled = catch_unwind(AssertUnwindSafe(|| {
        Pin::new(&mut q).poll(&mut cx).is_pending()
    }));
    assert!(matches!(polled, Ok(true)), "the poll panicked");
    r.wakeup(1);
    assert_eq!(LOOKING_WAKES.with(Cell::get), 1);
    assert!(matches!(Pin::new(&mut q).poll(&mut cx), Poll::Ready(Ok(1))));
    LOOKED_AT.with(|s| s.borrow_mut().take());
}

/// 3, found in review (rev134) of the fix above: a future that registers an observer on the
/// promise at each poll (a wrapper that logs when it ends, say) before polling it. Inside its
/// waker's delivery, the observer its poll had just queued made the poll read as pending, and
/// the waker was queued again after it, whose delivery polled, queued another observer, and so
/// on for ever. Only the callbacks queued before the poll began now keep the value from it.
///
/// Found in review (rev135) of that count: the observer the inline poll queues itself, just
/// before it takes the value (which the count lets it do), was skipped when its turn came, the
/// value being gone: an `on_termination`, which needs no value, was never called, though the
/// promise had resolved. It is now called.
#[test]
fn an_inline_poll_that_queues_an_observer_each_time_still_takes_the_value() {
    let (p, r) = wait::<u32>();
    let shared = Rc::new(RefCell::new(p));
    let s = shared.clone();
    let ended = Rc::new(Cell::new(0));
    let e = ended.clone();
    let done = Rc::new(Cell::new(None));
    let d = done.clone();
    INLINE.with(|f| {
        *f.borrow_mut() = Some(Box::pin(async move {
            let v = std::future::poll_fn(|cx| {
                let e = e.clone();
                s.borrow().on_termination(move || e.set(e.get() + 1));
                Pin::new(&mut *s.borrow_mut()).poll(cx)
            })
            .await;
            d.set(Some(v.unwrap()));
        }))
    });
    Arc::new(InlineWaker).wake(); // pending: an observer, then the waker
    WAKES.with(|n| n.set(0));
    r.wakeup(7);
    assert_eq!(done.get(), Some(7));
    assert_eq!(WAKES.with(Cell::get), 1, "woken again and again");
    assert_eq!(
        ended.get(),
        2,
        "an on_termination of a resolved promise was not called"
    );
}

thread_local! {
    /// The resolver that [`RESOLVING_VTABLE`]'s `clone` fulfils, and the wakes its waker got.
    static RESOLVED_BY_CLONE: RefCell<Option<lwt_core::Resolver<u8>>> = const { RefCell::new(None) };
    static RESOLVING_WAKES: Cell<usize> = const { Cell::new(0) };
}

fn resolving_clone(_: *const ()) -> RawWaker {
    if let Some(r) = RESOLVED_BY_CLONE.with(|r| r.borrow_mut().take()) {
        r.wakeup(5);
    }
    RawWaker::new(std::ptr::null(), &RESOLVING_VTABLE)
}

fn resolving_wake(_: *const ()) {
    RESOLVING_WAKES.with(|n| n.set(n.get() + 1));
}

/// A waker whose `clone` resolves the promise being polled (its executor's code, run between
/// the promise's check for a known waker and its registration).
static RESOLVING_VTABLE: RawWakerVTable = RawWakerVTable::new(
    resolving_clone,
    resolving_wake,
    resolving_wake,
    looking_drop,
);

/// Checked in review (rev134) of the fix above: the clone, now made outside the borrow, may
/// resolve the promise (and its callbacks run) before the waker is registered. The waker is then
/// woken at once, never lost, and woken once.
#[test]
fn a_wakers_clone_that_resolves_the_promise_gets_the_task_woken_once() {
    let (mut p, r) = wait::<u8>();
    RESOLVED_BY_CLONE.with(|s| *s.borrow_mut() = Some(r));
    // SAFETY: the vtable's functions ignore the data pointer, which is null.
    #[allow(unsafe_code)]
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &RESOLVING_VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut p).poll(&mut cx).is_pending());
    assert_eq!(RESOLVING_WAKES.with(Cell::get), 1, "the waker was lost");
    assert!(matches!(Pin::new(&mut p).poll(&mut cx), Poll::Ready(Ok(5))));
    assert_eq!(RESOLVING_WAKES.with(Cell::get), 1);
}

thread_local! {
    /// The tasks of the nested-delivery tests: the outer one's waker resolves `NESTED` (whose
    /// waker is the inner one's) before it polls, so that the inner delivery nests in its own.
    static OUTER_TASK: RefCell<Option<Task>> = const { RefCell::new(None) };
    static INNER_TASK: RefCell<Option<Task>> = const { RefCell::new(None) };
    static NESTED: RefCell<Option<Resolver<u32>>> = const { RefCell::new(None) };
    static OUTER_WAKES: Cell<usize> = const { Cell::new(0) };
}

/// Polls the task in `slot` once with `waker`, and puts it back unless it finished.
fn poll_slot(slot: &'static LocalKey<RefCell<Option<Task>>>, waker: Waker) {
    let mut cx = Context::from_waker(&waker);
    let task = slot.with(|t| t.borrow_mut().take());
    if let Some(mut f) = task {
        if f.as_mut().poll(&mut cx).is_pending() {
            slot.with(|t| *t.borrow_mut() = Some(f));
        }
    }
}

/// Resolves `NESTED` (the first time) and then polls `OUTER_TASK`, both at once.
struct OuterWaker;

impl Wake for OuterWaker {
    fn wake(self: Arc<Self>) {
        OUTER_WAKES.with(|n| n.set(n.get() + 1));
        if let Some(r) = NESTED.with(|n| n.borrow_mut().take()) {
            r.wakeup(5);
        }
        poll_slot(&OUTER_TASK, Waker::from(self));
    }
}

/// Polls `INNER_TASK` at once.
struct InnerWaker;

impl Wake for InnerWaker {
    fn wake(self: Arc<Self>) {
        poll_slot(&INNER_TASK, Waker::from(self));
    }
}

/// A task that awaits the never-cloned handle in `shared` (shared with the test, which observes
/// it) and records the value.
fn awaiting(shared: Rc<RefCell<Promise<u32>>>, done: Rc<Cell<Option<u32>>>) -> Task {
    Box::pin(async move {
        let v = std::future::poll_fn(|cx| Pin::new(&mut *shared.borrow_mut()).poll(cx)).await;
        done.set(Some(v.unwrap()));
    })
}

/// `a`'s waker (the outer task's) resolves `b`, whose waker (the inner task's) is delivered,
/// nested, before the outer task polls `a`; with an observer on `a` after its waker or not.
/// Gives the outer and inner tasks' values, what the observer saw, and the outer wakes.
fn nested_delivery(observer_after_the_waker: bool) -> (Option<u32>, Option<u32>, Vec<u32>, usize) {
    let (a, ra) = wait::<u32>();
    let (b, rb) = wait::<u32>();
    let (sa, sb) = (Rc::new(RefCell::new(a)), Rc::new(RefCell::new(b)));
    let (da, db) = (Rc::new(Cell::new(None)), Rc::new(Cell::new(None)));
    OUTER_TASK.with(|t| *t.borrow_mut() = Some(awaiting(sa.clone(), da.clone())));
    INNER_TASK.with(|t| *t.borrow_mut() = Some(awaiting(sb, db.clone())));
    poll_slot(&OUTER_TASK, Waker::from(Arc::new(OuterWaker))); // its waker on `a`
    poll_slot(&INNER_TASK, Waker::from(Arc::new(InnerWaker))); // its waker on `b`
    let seen = Rc::new(RefCell::new(Vec::new()));
    if observer_after_the_waker {
        let s = seen.clone();
        sa.borrow().on_success(move |v| s.borrow_mut().push(*v));
    }
    NESTED.with(|n| *n.borrow_mut() = Some(rb));
    OUTER_WAKES.with(|n| n.set(0));
    ra.wakeup(7);
    let seen = seen.take();
    (da.get(), db.get(), seen, OUTER_WAKES.with(Cell::get))
}

/// 3, checked in review (rev135) of the count in `WAKING`: a waker's delivery nested in another
/// promise's puts the outer one back, so that the outer task, polled after it, still takes its
/// value at once (read as pending there, it would be woken a second time).
#[test]
fn a_nested_wake_delivery_gives_the_outer_one_back() {
    assert_eq!(nested_delivery(false), (Some(7), Some(5), vec![], 1));
}

/// 3, as above, with an observer after the outer waker: the count put back is the outer
/// delivery's (one reader after it), not the inner one's (none), so the outer task leaves the
/// value to the observer and takes it when woken again.
#[test]
fn a_nested_wake_delivery_gives_the_outer_count_back() {
    assert_eq!(nested_delivery(true), (Some(7), Some(5), vec![7], 2));
}

thread_local! {
    static TWICE_TASK: RefCell<Option<Task>> = const { RefCell::new(None) };
    static TWICE_WAKES: Cell<usize> = const { Cell::new(0) };
}

/// An executor that polls its task twice at each wake (a spurious second poll, which the
/// `Future` contract allows).
struct TwiceWaker;

impl Wake for TwiceWaker {
    fn wake(self: Arc<Self>) {
        if counted_wake(&TWICE_WAKES) {
            poll_slot(&TWICE_TASK, Waker::from(self.clone()));
            poll_slot(&TWICE_TASK, Waker::from(self));
        }
    }
}

/// 3, checked in review (rev135): polled twice inside its waker's delivery while an observer
/// queued after that waker still reads the value, the task is deferred by both polls and its
/// waker queued again once (the second poll finds it there), not twice: woken twice in all, and
/// the observer is called.
#[test]
fn two_inline_polls_in_one_delivery_queue_the_waker_again_once() {
    let (p, r) = wait::<u32>();
    let shared = Rc::new(RefCell::new(p));
    let done = Rc::new(Cell::new(None));
    TWICE_TASK.with(|t| *t.borrow_mut() = Some(awaiting(shared.clone(), done.clone())));
    poll_slot(&TWICE_TASK, Waker::from(Arc::new(TwiceWaker)));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    shared.borrow().on_success(move |v| s.borrow_mut().push(*v));
    TWICE_WAKES.with(|n| n.set(0));
    r.wakeup(7);
    assert_eq!(*seen.borrow(), [7]);
    assert_eq!(done.get(), Some(7));
    assert_eq!(TWICE_WAKES.with(Cell::get), 2);
}

thread_local! {
    static DROP_TASK: RefCell<Option<Task>> = const { RefCell::new(None) };
}

/// Polls `DROP_TASK` (with a no-op waker) when dropped.
struct PollsOnDrop;

impl Drop for PollsOnDrop {
    fn drop(&mut self) {
        poll_slot(&DROP_TASK, Waker::noop().clone());
    }
}

/// 3, checked in review (rev135): a poll made from a `Drop` that runs during the promise's
/// callbacks but outside any waker's delivery (an observer queued before the task's waker,
/// dropped once called) reads as pending, so the observer queued after the waker still gets the
/// value, and the task takes it at its waker's delivery.
#[test]
fn a_poll_from_a_drop_during_the_callbacks_reads_as_pending() {
    let (p, r) = wait::<u32>();
    let shared = Rc::new(RefCell::new(p));
    let guard = PollsOnDrop;
    shared.borrow().on_success(move |_| drop(guard)); // before the waker
    let done = Rc::new(Cell::new(None));
    DROP_TASK.with(|t| *t.borrow_mut() = Some(awaiting(shared.clone(), done.clone())));
    let woken = Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    poll_slot(&DROP_TASK, Waker::from(woken.clone()));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    shared.borrow().on_success(move |v| s.borrow_mut().push(*v)); // after it
    r.wakeup(7);
    assert_eq!(*seen.borrow(), [7], "the poll from the drop took the value");
    assert_eq!(done.get(), None);
    assert_eq!(woken.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    poll_slot(&DROP_TASK, Waker::from(woken));
    assert_eq!(done.get(), Some(7));
}

/// Counts its wakes.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
