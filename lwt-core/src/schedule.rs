//! The resolution loop: when the callbacks of a resolved promise run.
//!
//! Resolving a promise changes its state at once; running its callbacks is a *job*. Jobs go through
//! one thread-local FIFO queue, and whoever starts the loop drains it. This is what makes resolution
//! stack-safe: a callback that resolves another promise (a `bind` resolving its result, say) only
//! enqueues that promise's job, so a chain of ten million pending binds runs as ten million loop
//! iterations, not ten million nested calls. (Lwt runs such callbacks nested, up to a fixed depth,
//! and its users hit stack overflows; see `docs/ARCHITECTURE.md`.)
//!
//! The ways to start a job ([`run_job_with`], by the [`Mode`] of the resolution):
//!
//! * `Later`, and [`run_later`]: used by every resolution the runtime does itself. Outside the
//!   loop it starts the loop, so the job and everything it causes have run when it returns.
//!   Inside the loop (from a callback) it only enqueues.
//! * `Deferred`: used by `wakeup_later`. The same, except inside a nested drain, where the job
//!   waits for the outermost drain, as in Lwt.
//! * `Now`: used by `wakeup`. Outside the loop, the same as `Later`. Inside the loop it runs
//!   the job and everything the job causes on a fresh queue before returning, which is what a
//!   caller of `wakeup` inside a callback expects (Lwt's `wakeup` is immediate too). Besides
//!   [`settle`], that nesting is the only one the loop does; past [`MAX_NESTING`] levels it
//!   degrades to `Later`, so even a pathological chain of wakeups inside callbacks cannot
//!   overflow the stack.
//!
//! A job cannot panic on its own: every callback's panic is caught, and becomes a rejection or
//! goes to the async exception hook. A hook that itself panics is the one way out, and the loop
//! stays whole through it: a nested drain hands what it had not run back to the drain it
//! interrupted, at the head of its queue; the job that was cut short puts its node back right
//! after that (see `Node::run_callbacks` and [`requeue_first`]); and the outermost drain runs
//! everything left before it lets the first panic go on to its caller. So no callback is skipped and no promise is left half-resolved.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::node::Mode;

/// How deep `wakeup`s inside callbacks may nest before they are queued instead.
pub(crate) const MAX_NESTING: u32 = 64;

/// Something the loop can run: the callbacks of one resolved promise.
pub(crate) trait Job {
    /// Runs the job. Called exactly once per scheduling.
    fn run(self: Rc<Self>);
}

struct Loop {
    queue: RefCell<VecDeque<Rc<dyn Job>>>,
    /// The `wakeup_later`s made inside nested drains: they belong to the outermost drain, and
    /// join its queue when the nesting ends (see [`Loop::join_deferred`]). Empty whenever the
    /// depth is 1 or less.
    deferred: RefCell<VecDeque<Rc<dyn Job>>>,
    /// 0 outside the loop; n inside n nested drains.
    depth: Cell<u32>,
    /// During an unwind only: how many jobs at the head of the queue a nested drain just handed
    /// back, which the job that made that drain's `wakeup` must run after (see [`requeue_first`]).
    handed_back: Cell<usize>,
}

thread_local! {
    static LOOP: Loop = const {
        Loop {
            queue: RefCell::new(VecDeque::new()),
            deferred: RefCell::new(VecDeque::new()),
            depth: Cell::new(0),
            handed_back: Cell::new(0),
        }
    };
}

/// Restores the depth even if a job unwinds (only the async exception hook can make one unwind).
struct DepthGuard<'a>(&'a Cell<u32>, u32);

impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// A nested drain's way back: puts back the depth and the queue of the drain it interrupted. On
/// the normal path the nested queue is empty by then; after a panic it holds what the nested
/// drain had not run, which goes first, as it would have run before the outer queue went on.
struct Nested<'a> {
    lp: &'a Loop,
    depth: u32,
    outer: VecDeque<Rc<dyn Job>>,
}

impl Nested<'_> {
    /// The way back when the nested drain ended normally, its queue empty: no drop glue runs.
    // Always inlined: as a call it cost `pick` 1 % of its instructions.
    #[inline(always)]
    fn back(mut self) {
        let outer = std::mem::take(&mut self.outer);
        let (lp, depth) = (self.lp, self.depth);
        // Holds nothing now: an empty queue owns no memory.
        std::mem::forget(self);
        lp.depth.set(depth);
        let mut queue = lp.queue.borrow_mut();
        *queue = outer;
        if depth == 1 {
            lp.join_deferred(&mut queue);
        }
    }
}

impl Drop for Nested<'_> {
    /// Only after a panic (see [`Nested::back`]).
    fn drop(&mut self) {
        self.lp.depth.set(self.depth);
        let mut queue = self.lp.queue.borrow_mut();
        self.lp.handed_back.set(queue.len());
        queue.append(&mut self.outer);
        if self.depth == 1 {
            self.lp.join_deferred(&mut queue);
        }
    }
}

impl Loop {
    // Inlined: every resolution run in place ends with a drain, which usually finds the queue
    // empty; the call cost more than that check.
    #[inline]
    fn drain(&self) {
        loop {
            // The borrow ends before the job runs: jobs enqueue more jobs.
            let next = self.queue.borrow_mut().pop_front();
            match next {
                Some(job) => {
                    // A count left by a nested drain whose panic was caught (by a `bind`'s
                    // guard, say) instead of unwinding to the job that made the `wakeup`
                    // concerns that job only: a later job cut short goes back to the head.
                    self.handed_back.set(0);
                    job.run()
                }
                None => return,
            }
        }
    }

    /// The outermost drain, which gives back the memory of a burst: a nested drain's queue is
    /// dropped when it ends, but this one stays for the thread's life.
    #[inline]
    fn drain_outermost(&self) {
        self.drain();
        let mut queue = self.queue.borrow_mut();
        if queue.capacity() > KEEP_QUEUED {
            give_back_queue_memory(&mut queue);
        }
    }

    fn run_outermost(&self, job: Rc<dyn Job>) {
        self.outermost(move || job.run());
    }

    /// Runs `f` and then the queue, at depth 1. If a job panics (see the module docs), the rest
    /// of the queue still runs, and then the first panic goes on.
    #[inline]
    fn outermost<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = DepthGuard(&self.depth, 0);
        self.depth.set(1);
        let done = catch_unwind(AssertUnwindSafe(|| {
            let r = f();
            self.drain_outermost();
            r
        }));
        match done {
            Ok(r) => r,
            Err(panic) => self.finish_after_panic(panic),
        }
    }

    /// [`outermost`](Self::outermost) for runtime code `f` that runs no callback itself, only
    /// resolves promises (a stream operation): only the drain can meet a panicking hook, and
    /// only the drain is guarded, which keeps `f` inlined. Should `f` panic all the same, the
    /// jobs it queued wait for the next outermost drain.
    #[inline]
    fn outermost_resolving<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = DepthGuard(&self.depth, 0);
        self.depth.set(1);
        let r = f();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.drain_outermost())) {
            self.finish_after_panic::<()>(panic);
        }
        r
    }

    #[cold]
    #[inline(never)]
    fn finish_after_panic<R>(&self, panic: Box<dyn std::any::Any + Send>) -> R {
        self.handed_back.set(0);
        // Each later panic is dropped: the caller hears of the first.
        while catch_unwind(AssertUnwindSafe(|| self.drain_outermost())).is_err() {}
        resume_unwind(panic)
    }

    /// Runs `f` and then everything it queued, on a fresh queue, one level deeper.
    #[inline]
    fn nested<R>(&self, f: impl FnOnce() -> R) -> R {
        let depth = self.depth.get();
        let back = Nested {
            lp: self,
            depth,
            outer: self.queue.take(),
        };
        self.depth.set(depth + 1);
        let r = f();
        self.drain();
        back.back();
        r
    }

    /// Back at the outermost drain: the `wakeup_later`s of the nesting join its queue, after
    /// what it had queued before.
    #[inline(always)]
    fn join_deferred(&self, queue: &mut VecDeque<Rc<dyn Job>>) {
        if !self.deferred.borrow().is_empty() {
            join_deferred_now(queue, &mut self.deferred.borrow_mut());
        }
    }
}

/// The capacity an empty queue keeps (16 B an entry), so that a burst (a `broadcast` to a
/// million waiters from a callback queues a million jobs) gives its memory back once it has
/// run, where the queue kept its peak for good (16 MiB after a million). A load that queues more
/// than this between two moments the queue is empty pays for it with reallocations as the queue
/// grows again: a constant cost per job (rev86 counted 2 per turn at 5,000 jobs a turn, 6 at
/// 100,000), which no timing showed.
const KEEP_QUEUED: usize = 4096;

#[cold]
#[inline(never)]
fn give_back_queue_memory(queue: &mut VecDeque<Rc<dyn Job>>) {
    queue.shrink_to(KEEP_QUEUED);
}

#[cold]
#[inline(never)]
fn join_deferred_now(queue: &mut VecDeque<Rc<dyn Job>>, deferred: &mut VecDeque<Rc<dyn Job>>) {
    queue.append(deferred);
    // Emptied, but `append` keeps its capacity: the same burst, made in a nested drain, stayed.
    if deferred.capacity() > KEEP_QUEUED {
        deferred.shrink_to(KEEP_QUEUED);
    }
}

/// Puts `job` at the head of this thread's queue: a job cut short by a panic, whose rest must run
/// before anything queued after it. If the panic came out of a nested drain (a `wakeup` this job
/// made), what that drain handed back goes first: without the panic it would have run before
/// the `wakeup` returned.
pub(crate) fn requeue_first(job: Rc<dyn Job>) {
    let _ = LOOP.try_with(move |l| {
        let mut queue = l.queue.borrow_mut();
        let at = l.handed_back.replace(0).min(queue.len());
        queue.insert(at, job);
    });
}

/// Runs the job of a resolution made with `mode` (see the module docs). The caller can run the
/// job in place: `run` runs it, `queued` makes the `Rc<dyn Job>` that waits in the queue. A
/// resolution that runs its callbacks at once (the common case: a resolution from outside the
/// loop) then pays for no reference count and no virtual call.
///
/// * [`Mode::Now`] (`wakeup`): inside the loop, runs the job on a nested queue, drained before
///   returning; past [`MAX_NESTING`] levels, queues it.
/// * [`Mode::Later`] (the runtime's own resolutions): inside the loop, queues it.
/// * [`Mode::Deferred`] (a user's `wakeup_later`, which Lwt defers to the outermost callback):
///   queues it too, but inside a nested drain (a `wakeup` made by a callback) for the outermost
///   drain, so that it waits until the callback that made that `wakeup` has returned instead of
///   running before the `wakeup` does. The runtime's own resolutions (a bind's result, a
///   stream's reply) stay `Later`: Lwt makes those at once, nested.
// One function for the three modes: the outermost drain, inlined, then appears once in each
// resolution, not three times.
#[inline]
pub(crate) fn run_job_with(mode: Mode, run: impl FnOnce(), queued: impl FnOnce() -> Rc<dyn Job>) {
    let _ = LOOP.try_with(move |l| {
        let depth = l.depth.get();
        if depth == 0 {
            return l.outermost(run);
        }
        match mode {
            Mode::Now if depth < MAX_NESTING => l.nested(run),
            Mode::Deferred if depth > 1 => l.deferred.borrow_mut().push_back(queued()),
            _ => l.queue.borrow_mut().push_back(queued()),
        }
    });
}

/// Runs `run` as [`run_job_with`] runs a job resolved with `Mode::Now` when it can run in
/// place (outside any callback, or nested under [`MAX_NESTING`] levels); `false`, with `run`
/// not called, where that job would be queued instead.
#[inline]
pub(crate) fn run_now_in_place(run: impl FnOnce()) -> bool {
    LOOP.try_with(move |l| {
        let depth = l.depth.get();
        if depth == 0 {
            l.outermost(run);
        } else if depth < MAX_NESTING {
            l.nested(run);
        } else {
            return false;
        }
        true
    })
    .unwrap_or(false)
}

/// Runs `job` with `wakeup_later` semantics (see the module docs).
// Inlined: a non-generic function is a call from every other crate, and streams run two jobs
// per element through this.
#[inline]
pub(crate) fn run_later(job: Rc<dyn Job>) {
    // During thread teardown the loop is gone: the job is dropped unrun, like any callback of a
    // promise that is never resolved.
    let _ = LOOP.try_with(move |l| {
        if l.depth.get() == 0 {
            l.run_outermost(job);
        } else {
            l.queue.borrow_mut().push_back(job);
        }
    });
}

/// Runs `f` as if it were a callback: resolutions it makes are queued, and run (all of them, in
/// order) when `f` returns; inside the loop they join its queue. Used by the streams, whose
/// operations resolve several promises that must all be resolved before any callback runs.
pub(crate) fn batch<R>(f: impl FnOnce() -> R) -> R {
    LOOP.with(|l| {
        if l.depth.get() > 0 {
            return f();
        }
        l.outermost_resolving(f)
    })
}

/// Runs `f`, then every resolution it caused and everything those cause, before returning, even
/// inside the loop (on a fresh nested queue, as `run_now_with` does; past [`MAX_NESTING`] levels it
/// degrades to queuing). Used by `cancel`, which rejects a whole set of promises before running
/// any of their callbacks and returns only when they have run (Lwt's cancel never defers), and by
/// `pick`-like combinators so that the losers' cancellation has reached every callback before the
/// winner's result resolves.
pub(crate) fn settle<R>(f: impl FnOnce() -> R) -> R {
    LOOP.with(|l| match l.depth.get() {
        0 => l.outermost(f),
        d if d < MAX_NESTING => l.nested(f),
        _ => f(),
    })
}

/// Runs `f` as if no callback were running (at depth 0, on an empty queue of its own), then puts
/// back the depth and the queue of the callbacks it interrupted. For a turn of the loop made from
/// inside a callback (the exit hooks run by a callback, or `run` called from one outside the
/// loop): each resolution made during the turn (by a hook's `cancel`, a `wakeup_later`) runs its
/// callbacks as it would at the top of the loop, instead of waiting for the callback the turn
/// interrupted to return, which it does only once the turn is over (or never, on `exit`).
pub(crate) fn as_outermost<R>(f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        lp: &'a Loop,
        queue: VecDeque<Rc<dyn Job>>,
        deferred: VecDeque<Rc<dyn Job>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            // At depth 0 every resolution drained its own queue: these are empty.
            for (slot, saved) in [
                (&self.lp.queue, &mut self.queue),
                (&self.lp.deferred, &mut self.deferred),
            ] {
                let mut slot = slot.borrow_mut();
                let left = std::mem::replace(&mut *slot, std::mem::take(saved));
                slot.extend(left);
            }
        }
    }
    LOOP.with(|l| {
        let depth = l.depth.get();
        if depth == 0 {
            return f();
        }
        let _guard = DepthGuard(&l.depth, depth);
        // The interrupted drains' deferred jobs are theirs: the turn must not run them.
        let _restore = Restore {
            lp: l,
            queue: l.queue.take(),
            deferred: l.deferred.take(),
        };
        l.depth.set(0);
        f()
    })
}

/// A panic [`catching`] caught, with the jobs the nested drain it came out of handed back
/// (taken off the head of the queue), to be let go on with [`Caught::resume`] once the caller has
/// done what it must first.
pub(crate) struct Caught {
    payload: Option<Box<dyn std::any::Any + Send>>,
    /// The jobs the nested drain handed back, taken off the head of the queue so that a later
    /// nested drain (the next loser's cancel) cannot put its own leftovers ahead of them. They
    /// go back to the head when this is resumed, or dropped (if what the caller did first
    /// unwound): no job is lost.
    handed_back: VecDeque<Rc<dyn Job>>,
}

impl Caught {
    #[cold]
    #[inline(never)]
    fn new(payload: Box<dyn std::any::Any + Send>) -> Caught {
        let handed_back = LOOP.with(|l| {
            // Set by the nested drain the panic came out of (`Nested::drop`), for this panic.
            let n = l.handed_back.replace(0);
            let mut queue = l.queue.borrow_mut();
            let n = n.min(queue.len());
            queue.drain(..n).collect()
        });
        Caught {
            payload: Some(payload),
            handed_back,
        }
    }

    /// Adds `later` to what `first` holds (the first panic if there is one, and every drain's
    /// handed-back jobs in order, `later`'s after the ones before).
    pub(crate) fn add(first: &mut Option<Caught>, mut later: Caught) {
        match first {
            Some(c) => c.handed_back.append(&mut later.handed_back),
            None => *first = Some(later),
        }
    }

    /// Lets the panic go on. The jobs handed back go back to the head of the queue, in order,
    /// and the job it unwinds out of is put back after them (see [`requeue_first`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn resume(mut self) -> ! {
        let payload = self.payload.take().expect("a caught panic is resumed once");
        let _ = LOOP.try_with(|l| l.handed_back.set(0));
        drop(self);
        resume_unwind(payload)
    }
}

impl Drop for Caught {
    fn drop(&mut self) {
        if self.handed_back.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.handed_back);
        let _ = LOOP.try_with(|l| {
            l.handed_back.set(jobs.len());
            let mut queue = l.queue.borrow_mut();
            for job in jobs.into_iter().rev() {
                queue.push_front(job);
            }
        });
    }
}

/// Runs `f` (a `settle`, a `cancel`), catching a panic that escapes it (only a panicking async
/// exception hook makes one), for a caller that has more to do before it lets the panic go on:
/// a combinator must still resolve its result. Costs nothing unless `f` panics.
#[inline]
pub(crate) fn catching(f: impl FnOnce()) -> Result<(), Caught> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Caught::new)
}

/// Resolves each of `items` with `resolve`, in order, even if a panicking async exception hook
/// unwinds out of one resolution: the others are still resolved (dropped unresolved, their
/// resolvers would reject their promises `Abandoned`), and then the first panic goes on.
pub(crate) fn each_resolving<I>(items: impl IntoIterator<Item = I>, mut resolve: impl FnMut(I)) {
    let mut caught: Option<Caught> = None;
    for item in items {
        if let Err(c) = catching(|| resolve(item)) {
            Caught::add(&mut caught, c);
        }
    }
    if let Some(c) = caught {
        c.resume();
    }
}

/// Lets a panic of the async exception hook, caught by runtime code that had bookkeeping to
/// finish first (a signal's delivery, a server's connection), go on as a hook's panic in any
/// callback does: through a job, so that the loop runs the rest of its jobs first and then
/// hands the panic to its caller (see the module docs). The job is queued even outside the
/// loop, where it waits for the next outermost drain (the next resolution made outside the
/// loop, the next event of `main::run`): code outside the loop can be a callback run in place
/// (a `bind` on a resolved promise, at a server's start), with bookkeeping of its own left to
/// do, and running the job there let the panic out of that callback at once (rev129: it became
/// the accept loop's rejection, and the server never accepted).
///
/// Should the panic have come out of a nested drain (a `wakeup` the hook made), what that drain
/// handed back stays at the head of the queue, where it runs next: no job is put back after it,
/// so the count [`requeue_first`] reads is cleared.
#[cold]
#[inline(never)]
pub(crate) fn resume_later(payload: Box<dyn std::any::Any + Send>) {
    // During thread teardown the loop is gone: the panic is dropped, as a job would be.
    let _ = LOOP.try_with(move |l| {
        l.handed_back.set(0);
        let job: Rc<dyn Job> = Rc::new(Reraise(RefCell::new(Some(payload))));
        l.queue.borrow_mut().push_back(job);
    });
}

/// The job of [`resume_later`].
struct Reraise(RefCell<Option<Box<dyn std::any::Any + Send>>>);

impl Job for Reraise {
    fn run(self: Rc<Self>) {
        if let Some(payload) = self.0.borrow_mut().take() {
            resume_unwind(payload);
        }
    }
}

/// Is a callback running on this thread right now?
#[allow(dead_code)]
pub(crate) fn in_callback() -> bool {
    LOOP.with(|l| l.depth.get() > 0)
}

#[cfg(test)]
mod tests {
    use super::{KEEP_QUEUED, LOOP};
    use crate::wait;

    /// Left over from session 37's review of memory kept after bursts: the queue kept its peak
    /// capacity for good (16 B a job: 1.6 MiB after the 100,000 queued here).
    #[test]
    fn a_burst_of_jobs_gives_its_memory_back() {
        let (trigger, go) = wait::<()>();
        let (waits, resolvers): (Vec<_>, Vec<_>) = (0..100_000).map(|_| wait::<()>()).unzip();
        let followers: Vec<_> = waits.into_iter().map(|p| p.map(|()| 1_u32)).collect();
        // From a callback, every `wakeup_later` queues its promise's job behind the callback.
        let _burst = trigger.map(move |()| {
            for r in resolvers {
                r.wakeup_later(());
            }
            LOOP.with(|l| assert!(l.queue.borrow().len() >= 100_000, "the jobs were queued"));
        });
        go.wakeup(());
        assert!(followers.iter().all(|f| f.is_fulfilled()));
        let capacity = LOOP.with(|l| l.queue.borrow().capacity());
        assert!(capacity <= KEEP_QUEUED, "{capacity}");
    }

    /// rev86: the same burst made inside a nested drain (a `wakeup` from a callback) goes
    /// through the `deferred` queue, which kept its capacity.
    #[test]
    fn a_burst_of_deferred_jobs_gives_its_memory_back() {
        let (outer, go) = wait::<()>();
        let (inner, go_inner) = wait::<()>();
        let (waits, resolvers): (Vec<_>, Vec<_>) = (0..100_000).map(|_| wait::<()>()).unzip();
        let followers: Vec<_> = waits.into_iter().map(|p| p.map(|()| 1_u32)).collect();
        let _burst = inner.map(move |()| {
            for r in resolvers {
                r.wakeup_later(());
            }
            LOOP.with(|l| {
                assert!(l.depth.get() > 1, "in a nested drain");
                assert!(
                    l.deferred.borrow().len() >= 100_000,
                    "the jobs were deferred"
                );
            });
        });
        let _nest = outer.map(move |()| go_inner.wakeup(()));
        go.wakeup(());
        assert!(followers.iter().all(|f| f.is_fulfilled()));
        let capacity = LOOP.with(|l| l.deferred.borrow().capacity());
        assert!(capacity <= KEEP_QUEUED, "{capacity}");
    }
}
