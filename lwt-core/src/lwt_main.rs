//! The run loop (Lwt's `Lwt_main`): [`run`], [`pause`], iteration hooks, exit hooks.
//!
//! `run(p)` turns the loop until `p` is resolved. Each iteration:
//!
//! 1. checks `p`;
//! 2. runs the enter hooks;
//! 3. fires the timers that are due;
//! 4. polls the OS reactor for I/O and for work finished by other threads, blocking only when no
//!    pause waits (a canceled one does not count, as a canceled `Lwt_main.yield` leaves Lwt's
//!    queue), no timer fired in step 3 (it may have resolved `p`) and no timer is due, and not
//!    calling the OS at all when promises are paused and nothing else could be waited on (so a
//!    loop that only pauses costs no syscall per pause; Lwt issue #622);
//! 5. wakes the I/O waiters the poll found ready, runs the work posted by other threads, fires
//!    the timers due by now, and polls the async tasks woken on this thread. A timer made since
//!    step 3 (a zero sleep made by a timer's callback, say) waits for the next iteration, as on
//!    Lwt, whose libev looks at its timers once per iteration;
//! 6. resolves the promises paused *before* this iteration (a pause made now waits for the next);
//! 7. runs the leave hooks.
//!
//! If `p` is pending and nothing could ever resolve it (no timer, no I/O wait, no background
//! job, nothing paused, no live [`spawn_local`](crate::future::spawn_local) task, also once the
//! leave hooks have run), `run` returns an error saying so instead of hanging. A pending
//! `spawn_local` task whose waker something holds counts as something that can: the waker may
//! be woken from any thread (a tokio channel, say), which the loop cannot see, so `run` waits
//! while such a task lives, as it waits for a [`preemptive`](crate::preemptive) job. A task
//! whose waker nothing holds (`std::future::pending()`) is not waited for; one that awaits an
//! lwt promise nothing resolves is (the promise holds its waker): cancel its promise to drop it.
//! The loop counts the holders when it is about to block, and again every second while those
//! tasks are all it waits for: if the last holder other than the task is another thread, which
//! drops the waker without waking it (it panicked, say), `run` reports that nothing can resolve
//! its promise within a second of the drop. A live [`MainHandle`](crate::preemptive::MainHandle)
//! counts the same way: the thread that holds it may still resolve the promise through
//! `run_in_main`, so `run` waits, and reports within a second of the last handle's drop. The
//! loop cannot see which thread holds a handle, so one kept on the loop's own thread (where
//! `run_in_main` refuses to run) or parked for good on another keeps a stuck `run` waiting for
//! ever too: drop a handle once its thread is done with the loop.
//!
//! ```
//! use lwt_core::{main, Promise};
//!
//! let answer = main::run(main::pause().bind(|()| Promise::ret(42)));
//! assert_eq!(answer.unwrap(), 42);
//!
//! let (stuck, _resolver) = lwt_core::wait::<()>();
//! let err = main::run(stuck).unwrap_err();
//! assert!(err.to_string().contains("nothing can resolve it"));
//! ```
//!
//! # Where this differs from Lwt, on purpose
//!
//! `tests/ocaml_diff_loop.rs` compares this loop with Lwt 5.6.1's and pins each of these:
//!
//! * A pause resolves once per iteration, in step 6. Lwt resolves its pauses twice per
//!   iteration: also at the top of its loop, before it looks at `p` and before the enter hooks,
//!   so a chain of pauses advances two per iteration there and `Lwt_main.run (Lwt.pause ())`
//!   runs no hook. Here each iteration has one well-defined point for pauses, and the hooks see
//!   every pause. A consequence for ported code: a timer already due when the loop turns (a
//!   zero or negative `with_timeout`, a `sleep` of zero or less) fires in step 3, before the
//!   pauses, so `with_timeout(Duration::ZERO, || pause())` fails with `Timeout` here, where
//!   Lwt's `with_timeout 0. Lwt.pause` is fulfilled.
//! * [`yield_`] is [`pause`]. Lwt's `Lwt_main.yield` (deprecated in Lwt 5 in favour of
//!   `Lwt.pause`) is a queue of its own there, resolved after the pauses of the same iteration.
//! * A hook added while hooks of its kind run runs from the next pass: a pass runs the hooks
//!   there were when it began. Lwt walks its hook sequence by links and runs a hook appended
//!   during the walk in the same pass, so a hook that adds a hook at each run never lets the pass
//!   end there.
//! * `run` reports that nothing can resolve its promise even while iteration hooks are
//!   installed: a hook is not something the loop can wait on. Lwt's loop keeps turning, without
//!   blocking, as long as nothing else is registered, so an enter hook that resolves the promise
//!   at its third run resolves it there; here `run` fails at the first iteration that finds
//!   nothing to wait for, rather than spin for ever when no hook ever will. A hook that stands
//!   for another source of events keeps the loop going while it waits for them with a pause
//!   (or a timer) of its own at each run; what the leave hooks make is seen before `run` fails.
//! * `run` returns as soon as its promise is resolved; the pauses still pending wait for the next
//!   `run`. Lwt wakes the paused promises at the top of each turn of its loop, before it checks
//!   the promise, so they are resolved before its `run` returns (even a `run` of a promise
//!   already resolved resolves them).
//! * [`exit`] (or [`run_exit_hooks`]) from a hook turns the loop for the exit hooks without the
//!   hooks of the list that is running: they are taken out while they run, and a hook cannot
//!   run while it runs. Lwt's exit runs a nested `Lwt_main.run` that walks the whole sequence
//!   again, the hook that called `exit` included.
//! * [`exit`] from a pause's callback: the other pauses woken in that iteration resolve while the
//!   exit hooks run (as the timers due with it fire, and the I/O waiters ready with it wake). Lwt
//!   wakes an iteration's pauses and yields from a list local to that iteration, which its
//!   nested `Lwt_main.run` never sees: they never resolve, the process ends first.
//! * [`exit`] from a timer's callback: the other timers due with it fire in the first iteration
//!   the exit hooks turn. Lwt's libev had queued them with the one whose callback exits, in the
//!   iteration that runs that callback; the nested `Lwt_main.run` of its exit blocks until the
//!   next timer is due, and runs them after that timer's callbacks (or never, if none comes).
//! * `wakeup_later` while the exit hooks run from a callback ([`exit`] from a callback): the
//!   iterations the exit hooks turn run as at the top of the loop, so its callbacks run once the
//!   outermost callback of that turn returns; the callback that called `exit` does not count.
//!   Lwt defers them while any callback runs, until the outermost one returns, and the one that
//!   called `exit` never does: they never run. Anywhere else, `wakeup_later` waits for the
//!   outermost running callback here as on Lwt.
//! * [`paused_count`] counts the pauses still waiting: a canceled pause leaves the count at
//!   once. Lwt's counts the pauses made since its last wake-up, canceled or not (two pauses and
//!   one canceled: 2 there, 1 here). Pinned in `tests/run_loop.rs` rather than against OCaml.
//! * A nested `run` (from a callback or a hook of a running loop) is refused with an
//!   [`InvalidArgument`](crate::InvalidArgument), this crate's error for a misuse, where Lwt
//!   raises `Failure "Nested calls to Lwt_main.run are not allowed"`: ported code that matched
//!   on `Failure` matches on the type here. Each thread has its own loop, so a `run` on
//!   another thread is not nested (Lwt has one loop per process).
//! * `Lwt_main.abandon_yielded_and_paused` (and `Lwt.abandon_paused`) are not provided. Lwt
//!   uses them in a forked child, to leave the parent's pauses pending for ever. Here, dropping
//!   the waiting pauses would reject their promises (a dropped resolver rejects with
//!   `Abandoned`), not leave them pending, and would drop the runtime's own pause-driven work
//!   (a new signal handler's first read, say) with them. A forked child that must not run the
//!   parent's work does not turn the loop it inherited (the usual case: it `exec`s).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::engine::{self, HookKey, Stuck};
use crate::exn::Exn;
use crate::promise::Promise;

/// A hook run at exit.
type ExitHook = Box<dyn FnOnce() -> Promise<()>>;

thread_local! {
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// The exit hooks, in the order they run (Lwt's `Exit_hooks` sequence), with their ids.
    static AT_EXIT: ExitHooks = const { ExitHooks(RefCell::new(BTreeMap::new())) };
    /// The number in the next exit hook's id. Exit hooks live outside the engine (a program that
    /// only registers one must not make an epoll instance), so they count on their own, and
    /// their ids carry [`EXIT_HOOK`] to keep them apart from the engine's.
    static NEXT_EXIT_HOOK: Cell<u64> = const { Cell::new(0) };
    /// How many [`run_exit_hooks`] are running: an [`exit`] made meanwhile ends the process at
    /// once.
    static EXITING: Cell<u32> = const { Cell::new(0) };
}

/// The exit hooks of a thread.
struct ExitHooks(RefCell<BTreeMap<HookKey, ExitHook>>);

impl std::ops::Deref for ExitHooks {
    type Target = RefCell<BTreeMap<HookKey, ExitHook>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for ExitHooks {
    /// The thread ends (or `main` returns) with exit hooks that never ran: they are forgotten,
    /// not dropped, as the engine forgets its pending work (`Engine`'s `Drop`). A hook's captures
    /// (a resolver, say) would otherwise resolve promises and run their callbacks while the
    /// thread's other thread-locals are being destroyed, and a callback that uses the loop there
    /// aborts the process.
    fn drop(&mut self) {
        std::mem::forget(std::mem::take(self.0.get_mut()));
    }
}

struct Exiting;

impl Drop for Exiting {
    fn drop(&mut self) {
        EXITING.with(|r| r.set(r.get() - 1));
    }
}

/// The bit that marks an exit hook's [`HookId`].
const EXIT_HOOK: u64 = 1 << 63;

struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(false));
    }
}

/// Lwt's `Lwt_main.run`: runs the loop until `promise` is resolved, and returns its outcome.
///
/// If nothing can ever resolve `promise`, `run` fails saying so instead of hanging (see the
/// [module docs](self) for what counts, a live [`MainHandle`](crate::preemptive::MainHandle)
/// among it).
///
/// Calling `run` from inside a running loop (from a callback) is an error: the promise is not run
/// and the result is an [`InvalidArgument`](crate::InvalidArgument). `run` can be called again
/// once it returned. While the exit hooks run (from an [`exit`] in a callback, say), a `run` made
/// by a hook, or by a callback run in the iterations they take, turns the loop instead, as on
/// Lwt, whose exit handler marks its loop finished before it calls the hooks. Each thread has a loop of its own (promises, timers, descriptors and hooks
/// are thread-local, as `Promise` is not `Send`), so threads may each `run` at the same time;
/// the check is per thread.
///
/// ```
/// use lwt_core::main;
/// let nested = main::run(main::pause().map(|()| main::run(lwt_core::return_unit())));
/// assert!(nested.unwrap().unwrap_err().to_string().contains("nested"));
/// assert!(main::run(lwt_core::return_unit()).is_ok()); // and run works again afterwards
/// ```
///
/// # Panics
///
/// A thread's loop makes its OS event reactor (an epoll instance and an eventfd) when the
/// thread first uses the loop (this function, [`pause`], a timer, an I/O wait...), and panics if
/// the OS refuses them, as when the process is out of file descriptors. Polling panics on an
/// error other than `EINTR`, which Linux gives only for a broken reactor.
#[doc(alias = "block_on")]
pub fn run<T: 'static>(promise: Promise<T>) -> Result<T, Exn> {
    if RUNNING.with(|r| r.replace(true)) {
        if EXITING.with(Cell::get) > 0 {
            // An exit hook's own `run`, while the hooks run from inside the loop (an `exit` in
            // a callback): Lwt's exit handler marks its loop finished before it calls the
            // hooks, so there a hook may `run`. The loop turns here, as for the hooks' chain.
            return turn_until_resolved(promise);
        }
        return Err(Exn::invalid_argument(
            "main::run: nested call (run was called from inside a running loop)",
        ));
    }
    let _running = Running;
    turn_until_resolved(promise)
}

/// Turns the loop until `promise` is resolved. Called from inside a callback (an [`exit`] from a
/// callback of a running loop, or a `run` from a callback outside the loop), each turn runs as
/// if no callback were running: the resolutions its hooks, timers and pauses make run their
/// callbacks at once, as at the top of the loop, since the callback we are in returns only once
/// the turn is over (or never, on `exit`).
fn turn_until_resolved<T: 'static>(mut promise: Promise<T>) -> Result<T, Exn> {
    while !promise.is_resolved() {
        let progressed = engine::with(|e| {
            crate::schedule::as_outermost(|| {
                run_hooks(e, &e.enter_hooks);
                let progressed = e.iteration();
                run_hooks(e, &e.leave_hooks);
                progressed
            })
        });
        if let Err(Stuck) = progressed {
            if promise.is_resolved() {
                break;
            }
            // The leave hooks ran after the iteration found nothing to wait for: what they made
            // (a pause, a timer, a wait) keeps the loop going.
            if engine::with(|e| e.has_work()) {
                continue;
            }
            return Err(Exn::invalid_argument(
                "main::run: the promise is pending and nothing can resolve it \
                 (no timer, no I/O wait, no background job, nothing paused)",
            ));
        }
    }
    promise.take_outcome()
}

/// Is the loop running on this thread (are we inside [`run`])?
///
/// ```
/// assert!(!lwt_core::main::is_running());
/// ```
pub fn is_running() -> bool {
    RUNNING.with(Cell::get)
}

/// Lwt's `Lwt.pause`: a promise fulfilled at the next iteration of the loop, after I/O has been
/// polled. Lets other work run during a long computation. Cancelable, as in Lwt: canceling it
/// rejects it with `Canceled` at once.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{join, main};
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b) = (order.clone(), order.clone());
/// let first = main::pause().map(move |()| a.borrow_mut().push("resumed"));
/// b.borrow_mut().push("before the loop");
/// main::run(first).unwrap();
/// assert_eq!(*order.borrow(), ["before the loop", "resumed"]);
/// ```
// Inlined into the caller's crate, with `Engine::pause` (see there).
#[inline]
pub fn pause() -> Promise<()> {
    engine::with(|e| e.pause())
}

/// `pause().bind(f)` for the runtime's own work that nobody waits for: see
/// `Engine::pause_then`.
pub(crate) fn pause_then(work: Rc<dyn engine::PausedWork>) {
    engine::with(|e| e.pause_then(work))
}

/// Lwt's `Lwt_main.yield` (deprecated there in favour of `pause`): the same as [`pause`] (on
/// Lwt, a queue of its own, resolved after the pauses: a difference on purpose, see the module
/// docs).
///
/// ```
/// assert!(lwt_core::main::run(lwt_core::main::yield_()).is_ok());
/// ```
pub fn yield_() -> Promise<()> {
    pause()
}

/// How many promises are paused, waiting for the next iteration (Lwt's `paused_count`).
///
/// ```
/// let p = lwt_core::main::pause();
/// assert_eq!(lwt_core::main::paused_count(), 1);
/// lwt_core::main::run(p).unwrap();
/// assert_eq!(lwt_core::main::paused_count(), 0);
/// ```
pub fn paused_count() -> usize {
    engine::with(|e| e.paused_count())
}

/// Identifies a hook added with [`add_enter_hook`], [`add_leave_hook`],
/// [`add_exit_hook_first`], [`add_exit_hook_last`] or their `_first` forms, to remove it with
/// [`remove_hook`].
///
/// Hooks belong to the thread that added them, and their ids are numbered per thread, so an id
/// is neither `Send` nor `Sync`: one taken to another thread would remove whichever hook of
/// that thread has the same number.
///
/// ```compile_fail
/// let id = lwt_core::main::add_enter_hook(|| {});
/// std::thread::spawn(move || lwt_core::main::remove_hook(id)); // `HookId` is not `Send`
/// ```
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// shared(&lwt_core::main::add_enter_hook(|| {})); // `HookId` is not `Sync`
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HookId(u64, PhantomData<*const ()>);

fn add_hook(
    which: impl FnOnce(&engine::Engine) -> &engine::Hooks,
    first: bool,
    f: impl FnMut() + 'static,
) -> HookId {
    engine::with(|e| {
        let id = e.next_hook_id.get();
        e.next_hook_id.set(id + 1);
        let hooks = which(e);
        hooks
            .list
            .borrow_mut()
            .insert(HookKey::new(id, first), Box::new(f));
        HookId(id, PhantomData)
    })
}

/// Removes every hook of a list, those running included; the hooks are dropped once the engine
/// is no longer borrowed.
fn remove_all_hooks(which: impl FnOnce(&engine::Engine) -> &engine::Hooks) {
    let dropped = engine::with(|e| {
        let hooks = which(e);
        hooks.cleared_below.set(e.next_hook_id.get());
        std::mem::take(&mut *hooks.list.borrow_mut())
    });
    drop(dropped);
}

// Inlined up to the emptiness test: the common case, twice per iteration, is a look at an empty
// list, with no call.
#[inline]
fn run_hooks(e: &engine::Engine, hooks: &engine::Hooks) {
    if !hooks.list.borrow().is_empty() {
        run_some_hooks(e, hooks);
    }
}

#[inline(never)]
fn run_some_hooks(e: &engine::Engine, hooks: &engine::Hooks) {
    // Taken out while they run, so that a hook may add or remove hooks (itself included); put
    // back by the guard's drop, even if a hook panics.
    let mut running = RunningHooks {
        engine: e,
        list: hooks,
        hooks: std::mem::take(&mut *hooks.list.borrow_mut()),
        nested: e.hooks_running.replace(true),
    };
    for (key, hook) in &mut running.hooks {
        // (Removed by an earlier hook of this pass, alone or with the whole list.)
        let id = key.id();
        if id >= hooks.cleared_below.get() && !e.removed_hooks.borrow().contains(&id) {
            hook();
        }
    }
}

/// A list of hooks taken out of the engine to run.
struct RunningHooks<'a> {
    engine: &'a engine::Engine,
    list: &'a engine::Hooks,
    hooks: BTreeMap<HookKey, engine::Hook>,
    /// Another list of hooks was running already: a hook turned the loop itself (by running the
    /// exit hooks), whose iterations run hooks too.
    nested: bool,
}

impl Drop for RunningHooks<'_> {
    /// Puts the hooks back, minus those removed meanwhile, among any added meanwhile: their keys
    /// put those added first in front of them, those added last after them.
    fn drop(&mut self) {
        // A nested run leaves the flag set and the removed ids in place: the outer run's hooks
        // are still taken out, and a hook removed now, or before the nested turn, must not be
        // run or put back by it (clearing both here lost such a removal: the hook ran on).
        self.engine.hooks_running.set(self.nested);
        let removed = if self.nested {
            self.engine.removed_hooks.borrow().clone()
        } else {
            std::mem::take(&mut *self.engine.removed_hooks.borrow_mut())
        };
        let below = self.list.cleared_below.get();
        let mut hooks = std::mem::take(&mut self.hooks);
        let mut gone = BTreeMap::new();
        if below > 0 || !removed.is_empty() {
            (hooks, gone) = hooks
                .into_iter()
                .partition(|(key, _)| key.id() >= below && !removed.contains(&key.id()));
        }
        let mut current = self.list.list.borrow_mut();
        hooks.append(&mut current);
        *current = hooks;
        drop(current);
        // Dropped once the others are back in the list: a removed hook's captures may remove
        // another hook of this list as they drop (a guard), and must find it there.
        drop(gone);
    }
}

/// Lwt's `Lwt_main.Enter_iter_hooks`: runs `f` at the start of every iteration. Added by a hook
/// while enter hooks run, it runs from the next iteration (a difference on purpose, see the
/// module docs).
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::main;
/// let n = Rc::new(Cell::new(0));
/// let c = n.clone();
/// let id = main::add_enter_hook(move || c.set(c.get() + 1));
/// main::run(main::pause()).unwrap();
/// main::remove_hook(id);
/// assert_eq!(n.get(), 1);
/// ```
pub fn add_enter_hook(f: impl FnMut() + 'static) -> HookId {
    add_hook(|e| &e.enter_hooks, false, f)
}

/// Lwt's `Enter_iter_hooks.add_first`: like [`add_enter_hook`], but `f` runs before the enter
/// hooks already there (the newest of those added first runs first). Added while enter hooks
/// run, it runs from the next iteration, before them.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::main;
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b) = (order.clone(), order.clone());
/// let last = main::add_enter_hook(move || a.borrow_mut().push("added last"));
/// let first = main::add_enter_hook_first(move || b.borrow_mut().push("added first"));
/// main::run(main::pause()).unwrap();
/// main::remove_hook(last);
/// main::remove_hook(first);
/// assert_eq!(*order.borrow(), ["added first", "added last"]);
/// ```
pub fn add_enter_hook_first(f: impl FnMut() + 'static) -> HookId {
    add_hook(|e| &e.enter_hooks, true, f)
}

/// Lwt's `Enter_iter_hooks.remove_all`: removes every enter hook. Called by a hook, the enter
/// hooks after it in that pass do not run.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::main;
/// let runs = Rc::new(Cell::new(0));
/// let r = runs.clone();
/// main::add_enter_hook(move || r.set(r.get() + 1));
/// main::remove_all_enter_hooks();
/// main::run(main::pause()).unwrap();
/// assert_eq!(runs.get(), 0);
/// ```
pub fn remove_all_enter_hooks() {
    remove_all_hooks(|e| &e.enter_hooks)
}

/// Lwt's `Lwt_main.Leave_iter_hooks`: runs `f` at the end of every iteration.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::main;
/// let turns = Rc::new(Cell::new(0));
/// let id = main::add_leave_hook({ let turns = turns.clone(); move || turns.set(turns.get() + 1) });
/// main::run(main::pause()).unwrap(); // one iteration resumes the paused promise
/// assert_eq!(turns.get(), 1);
/// main::remove_hook(id);
/// main::run(main::pause()).unwrap();
/// assert_eq!(turns.get(), 1);
/// ```
pub fn add_leave_hook(f: impl FnMut() + 'static) -> HookId {
    add_hook(|e| &e.leave_hooks, false, f)
}

/// Lwt's `Leave_iter_hooks.add_first`: like [`add_leave_hook`], but `f` runs before the leave
/// hooks already there (see [`add_enter_hook_first`]).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::main;
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let o = order.clone();
/// let last = main::add_leave_hook(move || o.borrow_mut().push("added first"));
/// let o = order.clone();
/// let first = main::add_leave_hook_first(move || o.borrow_mut().push("added second, runs first"));
/// main::run(main::pause()).unwrap();
/// assert_eq!(*order.borrow(), ["added second, runs first", "added first"]);
/// main::remove_hook(first);
/// main::remove_hook(last);
/// ```
pub fn add_leave_hook_first(f: impl FnMut() + 'static) -> HookId {
    add_hook(|e| &e.leave_hooks, true, f)
}

/// Lwt's `Leave_iter_hooks.remove_all`: removes every leave hook (see
/// [`remove_all_enter_hooks`]).
///
/// ```
/// lwt_core::main::add_leave_hook(|| unreachable!("removed"));
/// lwt_core::main::remove_all_leave_hooks();
/// lwt_core::main::run(lwt_core::main::pause()).unwrap();
/// ```
pub fn remove_all_leave_hooks() {
    remove_all_hooks(|e| &e.leave_hooks)
}

/// Removes an enter, leave or exit hook (Lwt's `remove` of its `Enter_iter_hooks`,
/// `Leave_iter_hooks` and `Exit_hooks`). Removing it twice, or an exit hook that ran, does
/// nothing.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::main;
/// let runs = Rc::new(Cell::new(0));
/// let id = main::add_enter_hook({ let runs = runs.clone(); move || runs.set(runs.get() + 1) });
/// main::remove_hook(id);
/// main::remove_hook(id); // a second time: nothing
/// main::run(main::pause()).unwrap();
/// assert_eq!(runs.get(), 0);
/// ```
pub fn remove_hook(id: HookId) {
    if id.0 & EXIT_HOOK != 0 {
        // Dropped once the list is no longer borrowed: a hook's captures may add or remove
        // exit hooks when they drop.
        let removed = AT_EXIT.with(|h| {
            let mut hooks = h.borrow_mut();
            let [last, first] = HookKey::both(id.0 & !EXIT_HOOK);
            hooks.remove(&last).or_else(|| hooks.remove(&first))
        });
        drop(removed);
        return;
    }
    // Dropped once the lists are no longer borrowed, as above: the hook's captures may add or
    // remove hooks when they drop.
    let removed = engine::with(|e| {
        let mut removed = Vec::new();
        for hooks in [&e.enter_hooks, &e.leave_hooks] {
            let mut list = hooks.list.borrow_mut();
            for key in HookKey::both(id.0) {
                removed.extend(list.remove(&key));
            }
        }
        if e.hooks_running.get() {
            // It may be in the list that is running (taken out): `run_hooks` drops it after.
            e.removed_hooks.borrow_mut().push(id.0);
        }
        removed
    });
    drop(removed);
}

/// Lwt's `Lwt_main.at_exit`: registers `f` to run (and be waited for) by [`exit`] or
/// [`run_exit_hooks`]. Hooks run in reverse order of registration, like `Stdlib.at_exit`: this
/// is [`add_exit_hook_first`] (whose id can remove the hook); [`add_exit_hook_last`] adds one to
/// run after them.
///
/// Rust runs nothing when `main` returns, so call [`exit`] (or `run_exit_hooks`) to end a program
/// that registered exit hooks: returning from `main` skips them, silently (OCaml runs Lwt's
/// from its own `at_exit` when the program ends).
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::main;
/// let flushed = Rc::new(Cell::new(false));
/// let f = flushed.clone();
/// main::at_exit(move || { f.set(true); lwt_core::return_unit() });
/// main::run_exit_hooks();
/// assert!(flushed.get());
/// ```
pub fn at_exit(f: impl FnOnce() -> Promise<()> + 'static) {
    add_exit_hook_first(f);
}

/// Lwt's `Exit_hooks.add_first`: registers `f` to run first of the exit hooks registered so far
/// ([`at_exit`] is this, without the id). Added while the exit hooks run, it runs next.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::main;
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b, c) = (order.clone(), order.clone(), order.clone());
/// main::add_exit_hook_first(move || { a.borrow_mut().push("a"); lwt_core::return_unit() });
/// main::add_exit_hook_last(move || { b.borrow_mut().push("b"); lwt_core::return_unit() });
/// let id = main::add_exit_hook_first(move || { c.borrow_mut().push("c"); lwt_core::return_unit() });
/// main::remove_hook(id);
/// main::run_exit_hooks();
/// assert_eq!(*order.borrow(), ["a", "b"]);
/// ```
pub fn add_exit_hook_first(f: impl FnOnce() -> Promise<()> + 'static) -> HookId {
    add_exit_hook(true, Box::new(f))
}

/// Lwt's `Exit_hooks.add_last`: registers `f` to run after the exit hooks registered so far.
/// Added while the exit hooks run, it runs after those left.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::main;
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b) = (order.clone(), order.clone());
/// main::add_exit_hook_last(move || { a.borrow_mut().push(1); lwt_core::return_unit() });
/// main::add_exit_hook_last(move || { b.borrow_mut().push(2); lwt_core::return_unit() });
/// main::run_exit_hooks();
/// assert_eq!(*order.borrow(), [1, 2]);
/// ```
pub fn add_exit_hook_last(f: impl FnOnce() -> Promise<()> + 'static) -> HookId {
    add_exit_hook(false, Box::new(f))
}

fn add_exit_hook(first: bool, f: ExitHook) -> HookId {
    let n = NEXT_EXIT_HOOK.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    AT_EXIT.with(|h| h.borrow_mut().insert(HookKey::new(n, first), f));
    HookId(n | EXIT_HOOK, PhantomData)
}

/// Lwt's `Exit_hooks.remove_all`: unregisters every exit hook. Called from an exit hook, it
/// ends the run of the hooks after that one.
///
/// ```
/// use lwt_core::main;
/// main::at_exit(|| panic!("never runs"));
/// main::remove_all_exit_hooks();
/// main::run_exit_hooks();
/// ```
pub fn remove_all_exit_hooks() {
    // Dropped once the list is no longer borrowed (see `remove_hook`).
    let removed = AT_EXIT.with(|h| std::mem::take(&mut *h.borrow_mut()));
    drop(removed);
}

/// Runs the exit hooks (in order: the newest added first, then those added last), each to
/// completion, in one [`run`] of a chain, as Lwt's
/// exit does (`call_hooks` in `lwt_main.ml`): each hook is taken out when the previous one ends,
/// and called in the callback where it ended, so the next hook starts in the same iteration.
/// A failure (a rejected promise, or a panic of the hook itself) does not stop the others, as on
/// Lwt, which ignores them: it goes to the [async exception hook](crate::hook) if one is
/// installed, and with the default hook (which would end the process at once) it is printed to
/// standard error; the next hook runs either way. Hooks registered meanwhile run
/// too (next if added first, after the others if added last). Called from inside [`run`] (a callback deciding to [`exit`]),
/// it turns the loop itself, as Lwt's exit does. If the loop finds that nothing can resolve a
/// hook's promise, that error is reported the same way, and the hooks left run in
/// a new chain (the stuck one is given up: should its promise resolve later, the chain goes no
/// further).
pub fn run_exit_hooks() {
    EXITING.with(|r| r.set(r.get() + 1));
    let _exiting = Exiting;
    while AT_EXIT.with(|h| !h.borrow().is_empty()) {
        let chain = Rc::new(Chain::default());
        let done = if is_running() {
            turn_until_resolved(call_exit_hooks(chain.clone()))
        } else {
            run(call_exit_hooks(chain.clone()))
        };
        chain.live.set(false);
        if let Some(panic) = chain.hook_panic.take() {
            std::panic::resume_unwind(panic);
        }
        if let Err(e) = done {
            crate::hook::report_not_fatal(&e, "an exit hook");
        }
    }
}

/// One chain of exit hooks, as [`run_exit_hooks`] and the chain's callbacks share it.
struct Chain {
    /// Cleared when the chain's `run` gives it up: the chain goes no further.
    live: Cell<bool>,
    /// A panic of the async exception hook while it was given a hook's failure. The chain stops
    /// and `run_exit_hooks` raises it once the chain's `run` is over. Raised from the chain's
    /// callback, it would reject the chain, and that rejection would go to the hook again.
    hook_panic: Cell<Option<Box<dyn std::any::Any + Send>>>,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain {
            live: Cell::new(true),
            hook_panic: Cell::new(None),
        }
    }
}

impl Chain {
    /// Sends a hook's failure to the async exception hook (see [`run_exit_hooks`]); should that
    /// panic, ends the chain.
    fn report(&self, error: &Exn) {
        let reported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::hook::report_not_fatal(error, "an exit hook")
        }));
        if let Err(panic) = reported {
            self.hook_panic.set(Some(panic));
            self.live.set(false);
        }
    }
}

/// Lwt's `call_hooks`: the exit hooks, taken out one by one, each called when the previous one
/// ended. Hooks that end at once are run in a loop here (Lwt recurses through `>>=`); the chain
/// stops when it is no longer live (its `run` gave it up, or the async exception hook
/// panicked).
fn call_exit_hooks(chain: Rc<Chain>) -> Promise<()> {
    loop {
        if !chain.live.get() {
            return Promise::ret(());
        }
        let Some((_, hook)) = AT_EXIT.with(|h| h.borrow_mut().pop_first()) else {
            return Promise::ret(());
        };
        let mut done = crate::bind::catch(hook, Promise::fail);
        if done.is_resolved() {
            if let Err(e) = done.take_outcome() {
                chain.report(&e);
            }
            continue;
        }
        return done.then(move |outcome| {
            if let Err(e) = outcome {
                chain.report(&e);
            }
            call_exit_hooks(chain)
        });
    }
}

/// Runs the exit hooks, then exits the process with `code`. May be called from a callback of a
/// running loop: the hooks (which may need the loop, to flush a channel say) still run.
///
/// The exit hooks are per thread: called from a [`detach`](crate::preemptive::detach)ed job, it
/// runs the job thread's (usually none) and ends the process from there, skipping the loop's,
/// among them the standard channels' last flush. Have the loop exit instead: return the
/// decision from the job, `detach(work).map(|code| main::exit(code))`. (Lwt's hooks are
/// global; sending the exit to the loop from the job was tried, and left the process waiting
/// for ever when a hook needed the pool that the waiting job held, or exiting 0 when the loop
/// was not running.)
///
/// Called while the exit hooks run (from an exit hook, or from a callback run in the iterations
/// they take), it exits at once, the hooks left not run, as on Lwt: OCaml runs Lwt's exit
/// handler once, and a `Stdlib.exit` made while it runs only ends the process. (Running the
/// hooks left then would run them alongside the hook still running.)
pub fn exit(code: i32) -> ! {
    if EXITING.with(Cell::get) == 0 {
        run_exit_hooks();
    }
    std::process::exit(code)
}
