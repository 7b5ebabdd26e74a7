//! `Promise<T>` is a [`Future`]: await it from any executor's task.
//!
//! The output is `Result<T, Exn>`. A pending promise remembers the task's waker and wakes it
//! when it resolves, whoever resolves it. A task polling it again registers nothing new if its
//! waker is among the last few registered; a copy further back (other tasks registered
//! meanwhile) is dropped when the list of callbacks next grows, so each task keeps one live
//! entry plus the copies not dropped yet (2.5 entries a task at the peak, for 200 tasks
//! re-polling one promise), and N tasks awaiting one promise cost O(N).
//!
//! A promise polled from inside one of its own callbacks (resolved, its callbacks still being
//! run) reads as pending, although [`Promise::state`] shows its value: the value is handed out
//! once the callbacks queued before have run. A `block_on` of the promise there would wait for
//! ever. Inside the wake of a waker it registered, those have run: an executor whose `wake`
//! polls the task at once (the `Waker` contract allows it) is handed the value there, where
//! reading as pending would register the waker again, to be woken again in the same delivery,
//! for ever. The promise cannot tell which task polls (an executor may make a new waker for
//! each poll), so any poll inside that wake is handed the value: an executor whose wake polls
//! all its tasks gives another task awaiting the promise its value before the callbacks queued
//! ahead of that task's own waker have run. A handle that was never cloned holds the value
//! itself, which such a poll moves out: while a callback queued after the waker still reads it
//! (an `on_success`, a combinator), the poll reads as pending and the waker is queued again,
//! after that callback, so the task takes the value once the callbacks have run. Only those
//! queued when the waker's delivery began count: one the poll itself queues first (a wrapper
//! that observes the promise at each poll) would defer the task at every delivery, for ever. Such
//! an observer then finds the value gone: an `on_termination` is still called, an `on_success`
//! is not.
//!
//! A task that gives a pending promise up before it resolves (a `select` whose other branch
//! won) leaves its waker with the promise. For a [`spawn_local`] task that is over, the promise
//! drops it when its list of callbacks next grows, so a long-lived promise raced by many short
//! tasks keeps at most about twice the wakers of the tasks waiting at once. The waker of
//! another executor's task says nothing of whether the task is over, so it stays until the
//! promise resolves: such tasks should await a wrapper of their own, which takes its waker
//! back when dropped, `p.clone().protected().cancel_on_drop()` (canceling the wrapper leaves
//! `p` alone). That includes the wakers that combinators make for the futures they drive
//! (`FuturesUnordered`, `join_all` of many futures, `Shared`, `buffer_unordered`), even inside
//! a `spawn_local` task: a promise raced there in a loop keeps about 220 bytes per race
//! without the wrapper.
//!
//! The examples here use the [`futures`](https://docs.rs/futures) crate for an executor and
//! `select`: add it to your `Cargo.toml` to run them (this crate does not depend on it).
//!
//! ```
//! use lwt_core::wait;
//!
//! let (p, r) = wait::<u32>();
//! let mut pool = futures::executor::LocalPool::new();
//! let handle = {
//!     use futures::task::LocalSpawnExt;
//!     pool.spawner().spawn_local_with_handle(async move { p.await.unwrap() + 1 }).unwrap()
//! };
//! pool.run_until_stalled(); // the task is now waiting on `p`
//! r.wakeup(41);
//! assert_eq!(pool.run_until(handle), 42);
//! ```
//!
//! The other way round, [`spawn_local`] turns any future into a promise driven by the loop.
//!
//! Awaiting from another executor only works for promises that something else resolves, as
//! `r.wakeup(41)` does above. A timer ([`unix::sleep`](crate::unix::sleep)), an I/O operation or
//! a [`preemptive`](crate::preemptive) job resolves only while [`main::run`](crate::main::run)
//! turns the loop, and no other executor turns it: `futures::executor::block_on` on
//! `unix::sleep(d)` never returns. Run such code as a [`spawn_local`] task and hand its promise
//! to `main::run`, as the example below does.
//!
//! Awaiting a promise moves its outcome out, so the handle is spent: a promise awaited by
//! reference (`(&mut p).await`) then reads as rejected with an [`InvalidArgument`] saying so, and
//! polling it again (which the `Future` contract forbids) answers with that rejection. Await a
//! clone (`p.clone().await`, for `T: Clone`) to keep a handle that still reads the value.
//!
//! ```
//! use lwt_core::{main, future::spawn_local, Promise};
//!
//! let mut p = Promise::ret(1);
//! let first = main::run(spawn_local(async move {
//!     let v = (&mut p).await;
//!     (v.unwrap(), p.rejection().unwrap().to_string())
//! }))
//! .unwrap();
//! assert_eq!(first.0, 1);
//! assert!(first.1.contains("already awaited"), "{}", first.1);
//! ```
//!
//! [`InvalidArgument`]: crate::InvalidArgument
//!
//! With the `futures-stream` feature, a promise is a `futures_core::future::FusedFuture`
//! (terminated once its outcome was taken), which `futures::select!` asks of what it polls;
//! without it, give `select!` `p.fuse()` (`futures::FutureExt::fuse`). The inherent
//! [`Promise::map`] is Lwt's (its function takes the value, and it gives a promise): it shadows
//! `FutureExt::map`, whose function would take the `Result`; call that one as
//! `FutureExt::map(p, f)`.
//!
//! A [`spawn_local`] task that waits on something only it holds (a `wait()` promise whose
//! resolver it keeps, a channel whose sender lives in the same future, a waker it stores in
//! itself) keeps [`main::run`](crate::main::run) waiting for ever, where `main::run` of a plain
//! promise that nothing can resolve fails at once, saying so. The loop cannot tell a waker held
//! by the task's own state from one held by another thread or executor that may still wake it,
//! so a task whose waker anything but the task itself holds counts as one that may be woken.
//!
//! # Dropping is not canceling
//!
//! Rust gives a future up by dropping it (a `select` whose other branch won, a canceled
//! [`spawn_local`] task), but dropping a promise, as in Lwt, leaves what it stands for going: a
//! `Mutex::lock` whose promise was dropped still takes the lock when its turn comes, and an
//! `Mvar::take` still takes a value. Await [`Promise::cancel_on_drop`] where a future may be
//! dropped before it is done: dropped early, it cancels its promise, which gives the lock, the
//! value or the place in a queue back.
//!
//! ```
//! use futures::future::{select, Either};
//! use std::time::Duration;
//! use lwt_core::{future::spawn_local, main, sync::Mvar, unix};
//!
//! let mailbox = Mvar::<u32>::create_empty();
//! let m = mailbox.clone();
//! let waited = spawn_local(async move {
//!     let take = m.take().cancel_on_drop();
//!     match select(take, unix::sleep(Duration::from_millis(1))).await {
//!         Either::Left(_) => "took",
//!         Either::Right(_) => "timed out", // the take is dropped, so canceled
//!     }
//! });
//! assert_eq!(main::run(waited).unwrap(), "timed out");
//! main::run(mailbox.put(5)).unwrap();
//! assert_eq!(mailbox.take_available(), Some(5)); // not swallowed by the dropped take
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use crate::engine::{self, Remote};
use crate::key;
use crate::resolver::{task, Resolver};

use crate::exn::Exn;
use crate::node::Phase;
use crate::promise::{Promise, Repr};

/// The message of the rejection a spent promise reads as.
const POLLED_AFTER_COMPLETION: &str = "this promise was already awaited to completion: its \
    outcome was moved out then (await a clone to keep a readable handle)";

fn polled_after_completion() -> Exn {
    Exn::invalid_argument(POLLED_AFTER_COMPLETION)
}

/// With the `futures-stream` feature: a promise whose outcome an `.await` (or a poll) took is
/// terminated, so `futures::select!` takes it without `.fuse()`. The mark is the rejection a
/// spent promise reads as, so a promise rejected with that very error reads as terminated too,
/// though never polled: one made from a spent handle (`spent.bind(f)`, which passes the error
/// on) or rejected by hand with that [`InvalidArgument`](crate::InvalidArgument) message.
/// `select!` skips it, and panics if every branch is terminated and it has no `complete` arm.
#[cfg(feature = "futures-stream")]
impl<T: 'static> futures_core::future::FusedFuture for Promise<T> {
    fn is_terminated(&self) -> bool {
        matches!(&self.0, Repr::Ready(Err(e))
            if e.downcast_ref::<crate::InvalidArgument>()
                .is_some_and(|a| a.message() == POLLED_AFTER_COMPLETION))
    }
}

impl<T: 'static> Future for Promise<T> {
    type Output = Result<T, Exn>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = match &this.0 {
            Repr::Ready(_) => None,
            Repr::Node(node) => {
                let root = node.root();
                match root.phase() {
                    Phase::Idle => {}
                    // Unless a callback queued after this wake (when its delivery began) still
                    // reads the value, which the poll would move out: woken again after it, the
                    // task takes it then.
                    Phase::Busy if root.delivering_a_wake() => {}
                    Phase::Busy | Phase::Pending => {
                        root.add_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Some(root.take_or_clone())
            }
        };
        let spent = Repr::Ready(Err(polled_after_completion()));
        match (outcome, std::mem::replace(&mut this.0, spent)) {
            (Some(outcome), _) | (None, Repr::Ready(outcome)) => Poll::Ready(outcome),
            (None, Repr::Node(_)) => unreachable!("a node always yields an outcome above"),
        }
    }
}

/// A promise awaited as a future that cancels it if it is dropped before it is done (see
/// [`Promise::cancel_on_drop`]).
#[must_use = "futures do nothing unless awaited"]
pub struct CancelOnDrop<T: 'static> {
    /// The promise, until it gave its outcome.
    promise: Option<Promise<T>>,
}

impl<T: 'static> std::fmt::Debug for CancelOnDrop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelOnDrop")
            .field("promise", &self.promise)
            .finish()
    }
}

impl<T: 'static> Promise<T> {
    /// This promise as a future that [cancels](Promise::cancel) it when dropped before it is
    /// done: Rust's way of giving a future up, made Lwt's. Once the outcome is given, dropping
    /// it does nothing. See the [module docs](crate::future#dropping-is-not-canceling) for why
    /// a plain promise does not do this.
    ///
    /// ```
    /// use lwt_core::{sync::Mutex, State};
    ///
    /// let m = Mutex::new();
    /// let first = m.lock(); // taken at once
    /// let waiting = m.lock();
    /// drop(waiting.clone().cancel_on_drop()); // given up before its turn
    /// assert!(waiting.rejection().unwrap().is_canceled());
    /// m.unlock();
    /// assert!(!m.is_locked()); // the lock did not go to the waiter that gave up
    /// # drop(first);
    /// ```
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop {
            promise: Some(self),
        }
    }
}

impl<T: 'static> Future for CancelOnDrop<T> {
    type Output = Result<T, Exn>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(promise) = this.promise.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        let polled = Pin::new(promise).poll(cx);
        if polled.is_ready() {
            this.promise = None;
        }
        polled
    }
}

impl<T: 'static> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(promise) = self.promise.take() {
            promise.cancel();
        }
    }
}

// ---- the other way round: a future driven by the loop ---------------------------------------------

/// Turns any future (it need not be `Send`) into a promise that the loop drives: the future is
/// polled at once, then each time it is woken (from this thread or any other) during
/// [`main::run`](crate::main::run). Any number of wakes before its next poll make one poll, as
/// with futures' `LocalPool` and tokio. Its output fulfills the promise. Lwt has no such thing; Rust
/// users need it to `.await` inside lwt programs and to use async libraries.
///
/// Every poll runs in the [key storage](crate::key) that was current when `spawn_local` was
/// called, as a `bind` callback runs in the storage of the code that registered it: a value
/// set with `with_value` around `spawn_local` is seen after each `.await`, and a value set
/// around a later `main::run` is not.
///
/// Canceling the promise drops the future (Rust's cancellation) and rejects the promise with
/// [`Canceled`](crate::Canceled). A panic while polling, or while dropping the future once it
/// finished, rejects it with [`Panicked`](crate::Panicked). A panic while dropping a canceled
/// future has no promise left to carry it (the promise is rejected with `Canceled` already): it
/// goes to the [async exception hook](crate::hook), as a failing `on_cancel` handler's does in
/// Lwt, whose default ends the process. So does, when the future canceled its own promise
/// during a poll, a panic of that poll or of dropping what it returned; the future is then
/// dropped when the poll returns, in the task's key storage as after any cancel. While the task is pending and something holds its
/// waker, [`main::run`](crate::main::run) waits for it (the waker may be woken from another
/// thread).
///
/// ```
/// use std::time::Duration;
/// use lwt_core::{future::spawn_local, main, unix};
///
/// let p = spawn_local(async {
///     unix::sleep(Duration::from_millis(1)).await?;          // await an lwt promise
///     let n = lwt_core::preemptive::detach(|| 40).await?;    // and another
///     Ok::<_, lwt_core::Exn>(n + 2)
/// });
/// assert_eq!(main::run(p).unwrap().unwrap(), 42);
/// ```
///
/// A future whose output is a `Result` (one that uses `?`, as above) gives a promise of that
/// `Result`, fulfilled even when it is an `Err`. Bind [`Promise::of_result`] on it for a
/// promise rejected with the error instead, which `lwt!`'s `let`, `match`'s `exception` arms
/// and [`main::run`](crate::main::run)'s own `Result` then see:
///
/// ```
/// use lwt_core::{future::spawn_local, main, Exn, Promise};
///
/// let p: Promise<u32> = spawn_local(async {
///     let n: u32 = "x".parse()?; // a `ParseIntError`, into an `Exn`
///     Ok::<_, Exn>(n)
/// })
/// .bind(Promise::of_result);
/// assert!(main::run(p).unwrap_err().is::<std::num::ParseIntError>());
/// ```
///
/// To use lwt from a tokio program, run `main::run` on a thread of its own (promises are not
/// `Send`) and exchange values with tokio through its channels, which work from any thread; a
/// future given to `spawn_local` may await a tokio channel, since wakers cross threads.
#[doc(alias = "spawn")]
pub fn spawn_local<T: 'static>(future: impl Future<Output = T> + 'static) -> Promise<T> {
    let (promise, resolver) = task::<T>();
    let remote = engine::with(|e| {
        e.task_alive(true);
        e.remote()
    });
    let id = TASKS.with(|t| {
        let mut t = t.borrow_mut();
        t.next += 1;
        t.next
    });
    let handle = Arc::new(TaskWaker {
        queued: AtomicBool::new(false),
        id,
        thread: std::thread::current().id(),
        remote,
    });
    let waker = Waker::from(handle.clone());
    TASKS.with(|t| {
        let mut t = t.borrow_mut();
        t.vtable = waker_vtable(&waker);
        t.wakers.insert(waker_key(&waker));
    });
    let task = Rc::new(LocalTask {
        storage: key::snapshot(),
        future: RefCell::new(Some(Box::pin(future))),
        resolver: RefCell::new(Some(resolver)),
        waker,
        handle,
        woken_while_polled: Cell::new(false),
        canceled_while_polled: Cell::new(false),
    });
    TASKS.with(|t| t.borrow_mut().live.insert(id, task as Rc<dyn Pollable>));
    promise.on_cancel(move || {
        // `try_with` (here and in `finish`): a `CancelOnDrop` held by a thread-local may cancel
        // the task while the thread's thread-locals are destroyed, and a task forgotten with
        // them (`Tasks`' `Drop`) has nothing left to do.
        if let Some(task) = finish(id) {
            engine::try_with(|e| e.task_alive(false));
            task.cancel();
        }
    });
    poll_task(id);
    promise
}

/// [`spawn_local`], as a constructor.
impl<T: 'static> Promise<T> {
    /// A promise driven by the loop from `future` (see [`spawn_local`]).
    ///
    /// ```
    /// let p = lwt_core::Promise::from_future(async { 7 });
    /// assert_eq!(lwt_core::main::run(p).unwrap(), 7);
    /// ```
    pub fn from_future(future: impl Future<Output = T> + 'static) -> Promise<T> {
        spawn_local(future)
    }
}

trait Pollable {
    /// Polls once; true when the task is finished.
    fn poll_once(&self) -> bool;

    /// The task's waker.
    fn waker(&self) -> &Waker;

    /// Does anything but the task itself hold its waker (a promise it awaits, a channel,
    /// another thread), so that it may be woken?
    fn may_be_woken(&self) -> bool;

    /// The task's promise was canceled (and the task taken out of the live ones): drops the
    /// future, which is how Rust cancels it, or, if it is being polled (it canceled its own
    /// promise), has the poll under way drop it when it returns.
    fn cancel(&self);
}

struct LocalTask<T: 'static> {
    /// The key storage current when the task was spawned. Every poll runs in it, as each `bind`
    /// callback of Lwt runs in the storage of the code that registered it: the code after an
    /// `.await` is the continuation the poll before registered.
    storage: key::Storage,
    future: RefCell<Option<Pin<Box<dyn Future<Output = T>>>>>,
    resolver: RefCell<Option<Resolver<T>>>,
    waker: Waker,
    /// What `waker` wakes, counted: the task and its `waker` hold one reference each, and every
    /// clone of the waker one more.
    handle: Arc<TaskWaker>,
    /// Woken and polled while it was being polled already: by a loop turned from inside its own
    /// poll (the future ran the exit hooks), which polls the tasks woken meanwhile. It is polled
    /// again once the poll under way returns.
    woken_while_polled: Cell<bool>,
    /// Canceled while it was being polled (the future canceled its own promise, or something
    /// that propagates to it): the poll under way drops the future when it returns, and gives
    /// what it made to the hook, since the promise can no longer carry it.
    canceled_while_polled: Cell<bool>,
}

impl<T: 'static> LocalTask<T> {
    /// Drops what the task made when its promise can no longer carry a panic of that drop (it
    /// was canceled): in the task's key storage, as its polls run, and a panic to the hook.
    fn drop_orphan<X>(&self, orphan: X) {
        key::with_storage(self.storage.clone(), || crate::hook::guard(|| drop(orphan)));
    }

    /// Resolves the task's promise with what the poll made; if the promise was canceled
    /// meanwhile, the value is dropped under the guard and a panic goes to the hook, as nothing
    /// else will see it.
    fn resolve(&self, outcome: Result<T, Exn>) {
        // No borrow is held while the resolution runs callbacks.
        let Some(resolver) = self.resolver.borrow_mut().take() else {
            return;
        };
        match resolver.try_wakeup_result(outcome) {
            Ok(()) => {}
            Err(Ok(value)) => self.drop_orphan(value),
            Err(Err(panicked)) => crate::hook::report(&panicked),
        }
    }
}

impl<T: 'static> Pollable for LocalTask<T> {
    fn waker(&self) -> &Waker {
        &self.waker
    }

    fn may_be_woken(&self) -> bool {
        Arc::strong_count(&self.handle) > 2
    }

    fn cancel(&self) {
        match self.future.try_borrow_mut() {
            Ok(mut slot) => {
                let future = slot.take();
                drop(slot);
                self.drop_orphan(future);
            }
            Err(_) => self.canceled_while_polled.set(true),
        }
    }

    fn poll_once(&self) -> bool {
        // A wake from here on asks for another poll. Acquire: what the waker's thread wrote
        // before the wake that set the flag is seen by the poll below.
        self.handle.queued.swap(false, Ordering::AcqRel);
        let polled = {
            // The future cannot be polled inside its own poll: the wake is kept for after it.
            let Ok(mut slot) = self.future.try_borrow_mut() else {
                self.woken_while_polled.set(true);
                return false;
            };
            let Some(future) = slot.as_mut() else {
                return true;
            };
            let mut cx = Context::from_waker(&self.waker);
            let mut polled = key::with_storage(self.storage.clone(), || {
                catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)))
            });
            if !matches!(polled, Ok(Poll::Pending)) || self.canceled_while_polled.get() {
                // Dropped under the catch too: a panic there must not unwind out of the loop
                // with the task still counted live and its promise pending. It rejects the
                // promise, as a panic of the poll does (the first panic wins); a canceled
                // promise cannot carry it, so then the hook gets it.
                let finished = slot.take();
                drop(slot);
                if self.canceled_while_polled.get() {
                    self.drop_orphan(finished);
                } else {
                    let dropped = key::with_storage(self.storage.clone(), || {
                        catch_unwind(AssertUnwindSafe(|| drop(finished)))
                    });
                    if let (Err(payload), Ok(_)) = (dropped, &polled) {
                        let value = std::mem::replace(&mut polled, Err(payload));
                        // The value's own `drop` is the task's too (a panic there is dropped).
                        let _ = catch_unwind(AssertUnwindSafe(|| drop(value)));
                    }
                }
            }
            polled
        };
        match polled {
            Ok(Poll::Pending) if self.canceled_while_polled.get() => true,
            Ok(Poll::Pending) => {
                // A wake the nested loop could not act on is not lost (the future may wait for
                // nothing else): the task is polled at the next iteration.
                if self.woken_while_polled.take() {
                    self.waker.wake_by_ref();
                }
                false
            }
            Ok(Poll::Ready(value)) => {
                self.resolve(Ok(value));
                true
            }
            Err(payload) => {
                self.resolve(Err(Exn::from_panic(payload)));
                true
            }
        }
    }
}

/// Live tasks of this thread.
#[derive(Default)]
struct Tasks {
    /// The last id given.
    next: u64,
    /// The live tasks, by id.
    live: HashMap<u64, Rc<dyn Pollable>>,
    /// The [`waker_key`]s of the live tasks' wakers.
    wakers: HashSet<usize>,
    /// The [`waker_vtable`] of this module's wakers (0 before the first task).
    vtable: usize,
}

/// Identifies a waker's task: the address of what the waker points at (for this module's
/// wakers, the task's `TaskWaker`, which every clone of the waker keeps alive, so the address
/// is not reused while a clone exists). Compared, never dereferenced.
fn waker_key(waker: &Waker) -> usize {
    waker.data() as usize
}

/// Identifies the kind of a waker (compared, never dereferenced).
fn waker_vtable(waker: &Waker) -> usize {
    std::ptr::from_ref(waker.vtable()) as usize
}

/// Can any live task of this thread ever be polled again? Not if none has its waker held by
/// anything but itself (a future that registered its waker nowhere, as
/// `std::future::pending()`): nothing can wake those, and the loop need not wait for them.
/// A wake already made is queued work, which the loop sees first.
pub(crate) fn any_task_may_be_woken() -> bool {
    TASKS.with(|t| t.borrow().live.values().any(|task| task.may_be_woken()))
}

/// Takes task `id` out of the live tasks.
fn finish(id: u64) -> Option<Rc<dyn Pollable>> {
    TASKS
        .try_with(|t| {
            let mut t = t.borrow_mut();
            let task = t.live.remove(&id)?;
            let key = waker_key(task.waker());
            t.wakers.remove(&key);
            Some(task)
        })
        .ok()
        .flatten()
}

/// Is `waker` the waker of a [`spawn_local`] task of this thread that has finished (or was
/// canceled)? Such a task can never be polled again, so a promise may drop the waker that the
/// task left in its callbacks when it gave the promise up (a `select` whose other branch won):
/// without this, every task that ever awaited a long-lived promise would keep an entry, and its
/// task's memory, until that promise resolved. A waker of another executor is never dead here.
pub(crate) fn is_finished_task_waker(waker: &Waker) -> bool {
    TASKS
        .try_with(|t| match t.try_borrow() {
            Ok(t) => {
                t.vtable != 0
                    && waker_vtable(waker) == t.vtable
                    && !t.wakers.contains(&waker_key(waker))
            }
            Err(_) => false,
        })
        .unwrap_or(false)
}

impl Drop for Tasks {
    /// The thread ends with tasks still pending: they are forgotten, as the engine forgets its
    /// pending work (`Engine`'s `Drop`). Dropping a task drops its resolver, which would reject
    /// the task's promise and run its callbacks while the thread's other thread-locals are being
    /// destroyed; a callback that uses the loop there aborts the process.
    fn drop(&mut self) {
        std::mem::forget(std::mem::take(&mut self.live));
    }
}

thread_local! {
    static TASKS: RefCell<Tasks> = RefCell::default();
}

fn poll_task(id: u64) {
    let Some(task) = TASKS.with(|t| t.borrow().live.get(&id).cloned()) else {
        return; // finished or canceled meanwhile
    };
    if task.poll_once() && finish(id).is_some() {
        engine::with(|e| e.task_alive(false));
    }
}

/// Wakes a task from any thread: on the loop's own thread it is polled at the next iteration;
/// from another thread the poll is posted to the loop, which wakes up for it.
struct TaskWaker {
    /// A poll of the task is queued and has not started: further wakes add nothing (as with
    /// futures' `LocalPool` and tokio, any number of wakes before a poll make one poll). A
    /// poll per wake made a task that woke itself twice per poll double its queued polls at
    /// every turn, and a burst of wakes from another thread queue a poll each.
    queued: AtomicBool,
    id: u64,
    thread: ThreadId,
    remote: Arc<Remote>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let id = self.id;
        if std::thread::current().id() == self.thread {
            engine::try_with(|e| e.soon(Box::new(move || poll_task(id))));
        } else {
            self.remote.post(Box::new(move || poll_task(id)));
        }
    }
}
