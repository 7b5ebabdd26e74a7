//! Blocking work on a thread pool (Lwt's `Lwt_preemptive`): [`detach`] and [`run_in_main`].
//!
//! The loop runs on one thread and must never block. A blocking call (a DNS lookup, a
//! computation, a read of a file) goes to `detach`, which runs it on a pool of worker threads
//! and returns a promise that the loop resolves with the result when it comes back. While jobs
//! are out, [`main::run`](crate::main::run) waits for them instead of reporting that nothing can
//! make progress.
//!
//! ```
//! use lwt_core::{main, preemptive};
//!
//! let sum = preemptive::detach(|| (1..=100u64).sum::<u64>());
//! assert_eq!(main::run(sum).unwrap(), 5050);
//! ```
//!
//! The pool is shared by every thread that runs a loop. It starts threads lazily, up to the
//! maximum of [`set_bounds`] (default: 0 kept alive, at most 8; Lwt's default is 4), queues
//! jobs beyond that without bound, and lets threads above the minimum exit after 10 idle
//! seconds (Lwt's never exit). Lowering the maximum takes effect at once for idle threads, which
//! exit (Lwt's serve the next jobs first), and as busy threads above it finish their jobs: they
//! exit then, as Lwt's do. Raising it starts threads, up to the new maximum, for the jobs
//! waiting that no idle worker will take (Lwt's go on waiting for the threads there are). Canceling a job's promise while the job waits for a
//! thread means the job never runs (see [`detach`]).
//!
//! [`run_in_main`] reaches the loop that detached the job, from the thread running the job:
//! each thread here may run a loop of its own, so which loop is "main" depends on the job. A
//! thread the job starts itself reaches that loop through a [`MainHandle`] the job gives it
//! ([`main_handle`]); Lwt, with one main loop, serves any thread.
//!
//! Lwt's `nbthreads`, `nbthreadsbusy` and `nbthreadsqueued` are [`thread_count`],
//! [`busy_thread_count`] and [`queued_job_count`].
//!
//! Not provided: `init` and `simple_init` (the pool needs no initialization; [`set_bounds`]
//! sets what they set, and there is no log function: a job's panic rejects its promise), and
//! `set_max_number_of_threads_queued` with its getter, whose limit Lwt 5.6 stores but never
//! applies: its queue of jobs waiting for a thread is unbounded, as this one is.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::engine::{self, Remote};
use crate::exn::{drop_payload, Exn, ExnSnapshot};
use crate::node::{Cancelable, Visited};
use crate::promise::Promise;
use crate::resolver::{relay, task, Resolver};

type Job = Box<dyn FnOnce() + Send>;

/// Who has a queued job: still the queue, a worker (the one that took it, or one promised to
/// it when it was submitted), or the cancel of its promise. The two sides race for it under
/// the pool's lock, and the first wins: a job taken runs to the end (its promise then ignores
/// `cancel`, as Lwt's does once a worker has it), and a job canceled first never runs. A third
/// party, a failed thread start that leaves the pool with no thread at all, refuses the queued
/// jobs of other submitters (`REFUSED`): each is told through the refusal queued with it, and no
/// cancel withdraws it afterwards.
struct Ticket(AtomicU8);

/// How a job's submitter hears that no thread will ever run it (see [`Pool::start_failed_then`]):
/// plain data, kept with the job in its queue entry under the pool's lock (a boxed closure in the
/// ticket behind a lock of its own cost `detach` an allocation and a lock, 8 % of its time).
enum Refusal {
    /// A `detach`: `refuse(id, error)` is posted to the job's loop.
    Loop {
        remote: Arc<Remote>,
        id: u64,
        refuse: fn(u64, std::io::Error),
    },
    /// A test's.
    #[cfg(test)]
    Call(Box<dyn FnOnce(std::io::Error) + Send>),
}

impl Refusal {
    fn tell(self, e: std::io::Error) {
        match self {
            Refusal::Loop { remote, id, refuse } => remote.post(Box::new(move || refuse(id, e))),
            #[cfg(test)]
            Refusal::Call(f) => f(e),
        }
    }
}

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELED: u8 = 2;
const REFUSED: u8 = 3;

impl Ticket {
    fn new() -> Ticket {
        Ticket(AtomicU8::new(QUEUED))
    }

    /// Moves a queued ticket to `to`; false if the other side had it first. Called under the
    /// pool's lock, which orders the two sides; the atomic only makes the ticket `Sync`.
    fn claim(&self, to: u8) -> bool {
        self.0
            .compare_exchange(QUEUED, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    #[cfg(test)]
    fn is_taken(&self) -> bool {
        self.0.load(Ordering::Relaxed) == TAKEN
    }

    fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed) == CANCELED
    }
}

/// A job waiting for a thread.
struct Queued {
    ticket: Arc<Ticket>,
    job: Job,
    /// How to tell the submitter that no thread will run the job; `None`: a job that is never
    /// refused (a test's).
    refusal: Option<Refusal>,
}

struct PoolState {
    queue: VecDeque<Queued>,
    /// How many jobs in `queue` were canceled: a worker that pops one drops it unrun, and a
    /// queue that is more than half canceled jobs is swept (see [`Pool::sweep`]).
    canceled: usize,
    /// Jobs handed to a worker at their submission (an idle one woken for each, or one started
    /// for it), not yet taken: their tickets are `TAKEN` already, so that a cancel right after
    /// `detach` finds the job running, as Lwt, which hands a job to a free worker at once,
    /// does. A worker takes these before anything else, whatever the maximum says (it may have
    /// been lowered since), so that each keeps the worker it was promised.
    handed: VecDeque<Queued>,
    threads: usize,
    /// Threads counted in `threads` whose start is still under way (and may fail): an idle
    /// worker does not count them against `min` when it considers exiting.
    spawning: usize,
    /// Threads counted in `threads` that have not yet reached `worker`'s loop: each will take
    /// a job, handed or queued, so [`Pool::set_bounds`] counts them as free. (`spawning` ends
    /// when the start returns, which may be before the thread runs.)
    starting: usize,
    idle: usize,
    min: usize,
    max: usize,
    /// How many `set_bounds` calls have set the bounds: a call whose thread cannot start puts
    /// back the bounds it found only if no call has set them since (even to the same values).
    bounds_set: u64,
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    /// How many more thread starts succeed before every one fails, for the tests of that path
    /// (`usize::MAX`: none fails).
    #[cfg(test)]
    spawns_left: std::sync::atomic::AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(8))
}

impl PoolState {
    /// The jobs waiting for a thread, canceled ones left out.
    fn waiting(&self) -> usize {
        self.queue.len() - self.canceled
    }

    /// The threads running a job or promised one ([`busy_thread_count`]). The free ones are the
    /// idle threads and those still starting (`set_bounds` starts its minimum's, which Lwt puts
    /// in its free list at once) that no handed job was promised to: an idle thread woken for a
    /// handed job counts as busy before it wakes up, a thread started for a job before it runs.
    fn busy(&self) -> usize {
        self.threads - (self.idle + self.starting).saturating_sub(self.handed.len())
    }
}

impl Pool {
    /// A pool with no thread yet, none kept alive, at most `max`.
    fn new(max: usize) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                canceled: 0,
                handed: VecDeque::new(),
                threads: 0,
                spawning: 0,
                starting: 0,
                idle: 0,
                min: 0,
                max,
                bounds_set: 0,
            }),
            work: Condvar::new(),
            #[cfg(test)]
            spawns_left: std::sync::atomic::AtomicUsize::new(usize::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, or hands it to a worker. Fails, giving the job back, only if the pool has
    /// no thread at all and none can be started: the job would wait for ever.
    fn submit(
        &'static self,
        ticket: Arc<Ticket>,
        job: Job,
        refusal: Option<Refusal>,
    ) -> Result<(), (std::io::Error, Job)> {
        let mut state = self.lock();
        // A worker counts as idle until it wakes up and takes a job, so `idle > 0` alone would
        // send a second job to a worker already promised to the first, and two jobs that wait on
        // each other would deadlock on one thread. Each handed job needs a free worker of its
        // own, within the maximum (idle workers above a lowered maximum are about to exit), and
        // none is handed over while others wait for a thread (they were there first). A thread
        // still starting is free too (one `set_bounds` started for its minimum, say): it takes
        // the handed jobs first when it reaches its loop. Not counted, a job detached right
        // after `set_bounds(1, 1)` was queued, and a cancel dropped it where Lwt's free worker
        // runs it, or had one more thread started for it (rev90).
        let excess = state.threads.saturating_sub(state.max);
        let free = (state.idle + state.starting).saturating_sub(excess);
        if state.waiting() == 0 && state.handed.len() < free {
            ticket.claim(TAKEN);
            state.handed.push_back(Queued {
                ticket,
                job,
                refusal,
            });
            self.work.notify_one();
        } else if state.waiting() == 0 && state.threads < state.max {
            // Handed to the thread started for it, which takes it first.
            ticket.claim(TAKEN);
            state.handed.push_back(Queued {
                ticket: ticket.clone(),
                job,
                refusal,
            });
            if let Err(e) = self.spawn_for(state, Some(&ticket)) {
                // No thread: `spawn` has put the job left without a free worker back in line.
                return self.give_back_if_no_thread(self.lock(), &ticket, e);
            }
        } else {
            state.queue.push_back(Queued {
                ticket: ticket.clone(),
                job,
                refusal,
            });
            if state.threads < state.max {
                // If no thread can be started, the job waits for the threads there are.
                if let Err(e) = self.spawn_for(state, Some(&ticket)) {
                    return self.give_back_if_no_thread(self.lock(), &ticket, e);
                }
            }
        }
        Ok(())
    }

    /// After a failed thread start: with no thread at all (none running, none starting), the
    /// job of `ticket`, still waiting, is taken back out of the queue and given back with the
    /// error, rather than left to wait for ever.
    fn give_back_if_no_thread(
        &self,
        mut state: MutexGuard<'_, PoolState>,
        ticket: &Arc<Ticket>,
        e: std::io::Error,
    ) -> Result<(), (std::io::Error, Job)> {
        if state.threads > 0 {
            return Ok(());
        }
        let at = state
            .queue
            .iter()
            .position(|q| Arc::ptr_eq(&q.ticket, ticket) && !q.ticket.is_canceled());
        match at.and_then(|at| state.queue.remove(at)) {
            Some(queued) => Err((e, queued.job)),
            None => Ok(()),
        }
    }

    /// Starts one more worker.
    fn spawn(&'static self, state: MutexGuard<'_, PoolState>) -> std::io::Result<()> {
        self.spawn_for(state, None)
    }

    /// Starts one more worker for a `submit` of the job of `mine` (which that `submit` gives
    /// back itself if the start fails and leaves no thread).
    fn spawn_for(
        &'static self,
        mut state: MutexGuard<'_, PoolState>,
        mine: Option<&Arc<Ticket>>,
    ) -> std::io::Result<()> {
        state.threads += 1;
        state.spawning += 1;
        state.starting += 1;
        drop(state);
        let spawned = self.start_thread();
        let mut state = self.lock();
        state.spawning -= 1;
        if let Err(e) = spawned {
            self.start_failed_then(state, &e, mine);
            return Err(e);
        }
        Ok(())
    }

    /// [`start_failed`](Pool::start_failed), then, if the pool is left with no thread at all
    /// (none running, none starting), the refusal of every job still waiting, but for `mine` and
    /// the canceled ones: nothing would ever run them, and their loops would wait for them for
    /// ever (a job handed to a starting thread by another loop's `submit` went back in line,
    /// rev95, and stayed there; rev125). Each is dropped unrun and its submitter told, with the
    /// lock released.
    fn start_failed_then(
        &self,
        mut state: MutexGuard<'_, PoolState>,
        e: &std::io::Error,
        mine: Option<&Arc<Ticket>>,
    ) {
        Self::start_failed(&mut state);
        if state.threads > 0 {
            return;
        }
        let mut stranded = Vec::new();
        for queued in std::mem::take(&mut state.queue) {
            let theirs = mine.is_none_or(|mine| !Arc::ptr_eq(mine, &queued.ticket));
            if theirs && queued.refusal.is_some() && queued.ticket.claim(REFUSED) {
                stranded.push(queued);
            } else {
                state.queue.push_back(queued);
            }
        }
        drop(state);
        for Queued { job, refusal, .. } in stranded {
            drop_guarded(job);
            if let Some(refusal) = refusal {
                refusal.tell(copy_error(e));
            }
        }
    }

    /// A thread counted as starting will not come. A starting thread counts as free, so a
    /// `submit` (of another thread, while the start was under way) may have handed it a job:
    /// the jobs left without a free worker go back to waiting for the threads there are, first
    /// in line (handed jobs are older than any job waiting), cancelable again (rev95).
    fn start_failed(state: &mut PoolState) {
        state.threads -= 1;
        state.starting -= 1;
        while state.handed.len() > state.idle + state.starting {
            let Some(queued) = state.handed.pop_back() else {
                break;
            };
            queued.ticket.0.store(QUEUED, Ordering::Relaxed);
            state.queue.push_front(queued);
        }
    }

    fn start_thread(&'static self) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .spawns_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
        {
            return Err(std::io::Error::other("thread start refused by the test"));
        }
        std::thread::Builder::new()
            .name("lwt-preemptive".into())
            .spawn(move || self.worker())
            .map(drop)
    }

    /// [`set_bounds`], checked.
    fn set_bounds(&'static self, min: usize, max: usize) -> std::io::Result<()> {
        let mut state = self.lock();
        let before = (state.min, state.max);
        state.min = min;
        state.max = max;
        state.bounds_set += 1;
        let mine = state.bounds_set;
        if state.threads > max {
            // The idle threads above the new maximum wake up and exit now; busy ones do after
            // their job (see `Pool::worker`).
            self.work.notify_all();
        }
        while state.threads < min {
            if let Err(e) = self.spawn(state) {
                // The bounds go back to what they were, and the threads this call started
                // beyond them exit: a minimum the system cannot give left the process with
                // every thread it could start, and without the memory for the next one (rev78:
                // 16,370 threads of 100,000, then a thread aborted the process). Unless another
                // `set_bounds` has been made meanwhile: those bounds are its own.
                let mut state = self.lock();
                if state.bounds_set == mine {
                    (state.min, state.max) = before;
                    if state.threads > state.max {
                        self.work.notify_all();
                    }
                }
                return Err(e);
            }
            state = self.lock();
        }
        // A raised maximum serves the jobs already waiting (`submit` starts a thread only for
        // the job it submits; Lwt leaves the queued jobs waiting): a thread for each waiting
        // job that no worker not promised a job, idle or still starting (those just started
        // for `min` among them), will take, up to the maximum. The need is weighed under the
        // lock before each start, against the maximum of now, because `spawn` lets the lock go
        // and a `set_bounds` of another thread, a `submit` or a worker may have met it
        // meanwhile. A failed start is not this call's error: the bounds are set, and the
        // jobs wait for the threads there are, as after a failed start in `submit`.
        if state.idle > state.handed.len() && state.waiting() > 0 {
            self.work.notify_all();
        }
        loop {
            let free = (state.idle + state.starting).saturating_sub(state.handed.len());
            if state.waiting() <= free || state.threads >= state.max {
                break;
            }
            if self.spawn(state).is_err() {
                break;
            }
            state = self.lock();
        }
        Ok(())
    }

    /// The cancel of a job's promise: true if the job was still waiting for a thread, and will
    /// now never run.
    fn cancel(&self, ticket: &Ticket) -> bool {
        let mut state = self.lock();
        if !ticket.claim(CANCELED) {
            return false;
        }
        state.canceled += 1;
        true
    }

    /// Canceled jobs leave the queue when a worker reaches them; while every worker is busy, a
    /// program that gives up on jobs (a timeout around each) would pile them up, so they are
    /// swept out once they are most of the queue (amortized O(1) per cancel). Called after a
    /// cancel walk, not in it: dropping a job runs the drops of what it captured.
    fn sweep(&self) {
        let swept = {
            let mut state = self.lock();
            if state.canceled < 32 || state.canceled * 2 <= state.queue.len() {
                return;
            }
            let mut swept = Vec::with_capacity(state.canceled);
            for queued in std::mem::take(&mut state.queue) {
                if queued.ticket.is_canceled() {
                    swept.push(queued.job);
                } else {
                    state.queue.push_back(queued);
                }
            }
            state.canceled = 0;
            swept
        };
        // Outside the lock: a job's captures may detach more work when dropped.
        for job in swept {
            drop_guarded(job);
        }
    }

    fn worker(&self) {
        let mut state = self.lock();
        state.starting -= 1;
        loop {
            // A lowered `max` holds from the workers' next turn, as Lwt's workers stop being
            // reused after their job: the extra ones exit here, between jobs, rather than after
            // 10 idle seconds, which a steady load never gives them. A queued job this worker
            // was woken for passes the wake on; at least `max` workers stay. A handed job is
            // taken first: it was promised a worker, which a lowered maximum does not take back.
            if let Some(Queued { job, .. }) = state.handed.pop_front() {
                drop(state);
                run_guarded(job);
                state = self.lock();
                continue;
            }
            if state.threads > state.max {
                state.threads -= 1;
                if !state.queue.is_empty() {
                    self.work.notify_one();
                }
                return;
            }
            if let Some(Queued { ticket, job, .. }) = state.queue.pop_front() {
                let run = ticket.claim(TAKEN);
                if !run {
                    state.canceled -= 1;
                }
                drop(state);
                if run {
                    run_guarded(job);
                } else {
                    drop_guarded(job);
                }
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, Duration::from_secs(10))
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out()
                && state.queue.is_empty()
                && state.handed.is_empty()
                && state.threads.saturating_sub(state.spawning) > state.min
            {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Runs a job. A job catches its own work's panics; what is left is a panic in a drop (of the
/// payload, or of a value whose loop's thread has exited). Uncaught, it would end the worker's
/// thread still counted as a worker, and its loop would wait for the completion for ever.
fn run_guarded(job: Job) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
        drop_payload(payload);
    }
}

/// Drops a job that will not run; a panic in a drop of what it captured is caught (the job is
/// the user's closure).
fn drop_guarded(job: Job) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(job))) {
        drop_payload(payload);
    }
}

/// `e` again, for each job a failed thread start refuses: its OS error number, or its kind and
/// text.
fn copy_error(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(n) => std::io::Error::from_raw_os_error(n),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// Sets the pool's bounds: `min` threads kept alive when idle, at most `max` threads at once
/// (Lwt's `Lwt_preemptive.set_bounds`), and starts threads until there are `min`, as Lwt does,
/// and, within a raised `max`, one for each job waiting for a thread (Lwt's wait for the
/// threads there are).
///
/// Fails if `max` is 0 or `min > max`, or if a thread needed for `min` cannot be started: the
/// bounds are then put back as they were, and the threads started beyond them exit once idle. A
/// thread for a waiting job that cannot be started is no error: the job waits for the threads
/// there are.
///
/// ```
/// use lwt_core::preemptive;
/// assert!(preemptive::set_bounds(0, 0).is_err());
/// preemptive::set_bounds(2, 8).unwrap();
/// assert_eq!(preemptive::get_bounds(), (2, 8));
/// assert!(preemptive::thread_count() >= 2);
/// preemptive::set_bounds(0, 8).unwrap();
/// ```
pub fn set_bounds(min: usize, max: usize) -> Result<(), Exn> {
    if max == 0 || min > max {
        return Err(Exn::invalid_argument(format!(
            "preemptive::set_bounds: need 0 < max and min <= max, got min = {min}, max = {max}"
        )));
    }
    pool().set_bounds(min, max).map_err(thread_start_failed)
}

/// `set_bounds`' error when a thread cannot be started: the OS error stays inside it, with its
/// number, as a [`NamedError`](crate::unix::NamedError) (a message rebuilt from it would keep
/// only the kind).
fn thread_start_failed(e: std::io::Error) -> Exn {
    Exn::new(crate::unix::naming(
        "preemptive::set_bounds: could not start a thread",
        e,
    ))
}

/// The pool's current `(min, max)` bounds.
pub fn get_bounds() -> (usize, usize) {
    let state = pool().lock();
    (state.min, state.max)
}

/// How many worker threads the pool has now, busy or idle (Lwt's `Lwt_preemptive.nbthreads`).
///
/// ```
/// use lwt_core::{main, preemptive};
/// main::run(preemptive::detach(|| ())).unwrap();
/// let (_, max) = preemptive::get_bounds();
/// assert!((1..=max).contains(&preemptive::thread_count())); // the thread stays a while
/// ```
#[doc(alias = "nbthreads")]
pub fn thread_count() -> usize {
    pool().lock().threads
}

/// How many worker threads are running a job or about to take one, a job handed to an idle
/// or still starting thread counting as soon as it is handed over; a thread [`set_bounds`]
/// started for its minimum is free from the start, as in Lwt (Lwt's
/// `Lwt_preemptive.nbthreadsbusy`).
///
/// ```
/// use lwt_core::{main, preemptive};
/// let busy = preemptive::detach(preemptive::busy_thread_count);
/// assert!(main::run(busy).unwrap() >= 1); // counted by itself
/// ```
#[doc(alias = "nbthreadsbusy")]
pub fn busy_thread_count() -> usize {
    pool().lock().busy()
}

/// How many detached jobs wait for a free thread (Lwt's `Lwt_preemptive.nbthreadsqueued`).
///
/// ```
/// assert_eq!(lwt_core::preemptive::queued_job_count(), 0);
/// ```
#[doc(alias = "nbthreadsqueued")]
pub fn queued_job_count() -> usize {
    pool().lock().waiting()
}

/// Type-erased resolvers of pending jobs, by id, and the next id.
#[derive(Default)]
struct Pending(u64, HashMap<u64, Box<dyn Any>>);

impl Drop for Pending {
    /// The thread exits with jobs still out: their promises stay pending, as the engine leaves
    /// its own (`Engine`'s `Drop`). Dropping the resolvers rejected the promises `Abandoned` and
    /// ran their callbacks while the thread's other thread-locals were being destroyed: a callback
    /// that used the loop (a `pause`, a sleep) panicked, and the default async exception hook
    /// then ended the process.
    fn drop(&mut self) {
        for (_, resolver) in self.1.drain() {
            std::mem::forget(resolver);
        }
    }
}

/// The `run_in_main` requests this loop's thread is serving, by id: how to tell each worker that
/// the thread exited before its promise was resolved. The thread leaves a pending promise
/// pending when it exits (its callbacks, and the sender they hold, are never run or dropped), so
/// without this the worker waited for the answer for ever.
#[derive(Default)]
struct OpenRequests(u64, HashMap<u64, Box<dyn FnOnce()>>);

impl OpenRequests {
    fn open(&mut self, on_exit: impl FnOnce() + 'static) -> u64 {
        let id = self.0;
        self.0 += 1;
        self.1.insert(id, Box::new(on_exit));
        id
    }
}

impl Drop for OpenRequests {
    fn drop(&mut self) {
        for (_, on_exit) in self.1.drain() {
            on_exit();
        }
    }
}

/// The request `id` is answered: the thread's exit no longer concerns it.
fn close_request(id: u64) {
    let closed = OPEN_REQUESTS.try_with(|r| r.borrow_mut().1.remove(&id));
    drop(closed);
}

thread_local! {
    /// The `run_in_main` requests being served on this loop's thread.
    static OPEN_REQUESTS: RefCell<OpenRequests> = RefCell::default();
    /// Resolvers of this loop's jobs, by id, waiting for their completion.
    static PENDING: RefCell<Pending> = RefCell::default();
    /// On a worker: the loop that started the job being run (for `run_in_main`).
    static ORIGIN: RefCell<Option<Arc<Remote>>> = const { RefCell::new(None) };
}

/// Lwt's `Lwt_preemptive.detach`: runs `f` on the pool and resolves the promise with its result,
/// on this thread's loop. A panic in `f` rejects the promise with [`Panicked`](crate::Panicked).
///
/// Canceling the promise while the job waits for a thread rejects it with
/// [`Canceled`](crate::Canceled), and `f` never runs: it is dropped when a thread reaches it in
/// the queue, or when canceled jobs are most of the queue. Once a thread has the job, `cancel`
/// does nothing, as in Lwt (the thread cannot be stopped, and the promise is still resolved
/// with what `f` returns); a job submitted while a thread is idle (or starting, as those
/// [`set_bounds`] starts for its minimum) has that thread at once. If
/// the pool has no thread and cannot start one (the system refuses), the promise is rejected
/// with the system's error rather than left waiting for ever.
///
/// ```
/// use lwt_core::{main, preemptive, unix};
/// use std::sync::{atomic::{AtomicBool, Ordering}, Arc};
///
/// preemptive::set_bounds(0, 1).unwrap(); // one thread: the second job waits for it
/// let busy = preemptive::detach(|| std::thread::sleep(std::time::Duration::from_millis(50)));
/// let ran = Arc::new(AtomicBool::new(false));
/// let r = ran.clone();
/// let queued = preemptive::detach(move || r.store(true, Ordering::SeqCst));
/// queued.cancel();
/// assert!(queued.rejection().unwrap().is_canceled());
/// main::run(busy).unwrap();
/// main::run(unix::sleep_secs(0.05)).unwrap();
/// assert!(!ran.load(Ordering::SeqCst)); // never ran
/// preemptive::set_bounds(0, 8).unwrap();
/// ```
///
/// `f` runs on another thread, so it must be `Send`: it cannot hold a [`Promise`], a
/// [`Resolver`] or a channel, which belong to the loop's thread (the compiler then names their
/// private insides, `Rc<Node<..>>`, as not `Send`). A job that needs the loop's promises asks
/// for them with [`run_in_main`].
///
/// A job may run a loop of its own and detach jobs from it (Lwt, with one main loop, does not
/// allow that), but a job that waits for another job holds its thread meanwhile: with the
/// maximum at 1, `detach(|| main::run(detach(..)))` waits for ever, the inner job queued behind
/// the outer one. Such jobs need a maximum above their nesting depth (the default is 8).
///
/// ```
/// use lwt_core::{main, preemptive, Panicked};
/// let p = preemptive::detach(|| -> u8 { panic!("worker failed") });
/// let e = main::run(p).unwrap_err();
/// assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), "worker failed");
/// ```
#[doc(alias = "spawn_blocking")]
pub fn detach<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Promise<T> {
    let (promise, resolver) = relay::<T>();
    // The promise a cancel reaches only while the job is queued (see `WhileQueued`); its
    // rejection withdraws the job.
    let (queued, queued_resolver) = task::<()>();
    let ticket = Arc::new(Ticket::new());
    resolver.propagate_to(Rc::new(WhileQueued {
        ticket: ticket.clone(),
        queued: queued_resolver.cancel_handle(),
    }));
    let id = PENDING.with(|p| {
        let Pending(next, map) = &mut *p.borrow_mut();
        let id = *next;
        *next += 1;
        let resolvers: Resolvers<T> = (resolver, queued_resolver);
        map.insert(id, Box::new(resolvers) as Box<dyn Any>);
        id
    });
    queued.on_cancel(move || withdraw::<T>(id));
    let remote = engine::with(|e| {
        e.job_started();
        e.remote()
    });
    // A thread start that fails (for another loop's job, say) and leaves the pool with no
    // thread refuses this job if it is still waiting: the promise is rejected with its error.
    let refusal = Refusal::Loop {
        remote: remote.clone(),
        id,
        refuse: refuse::<T>,
    };
    let submitted = pool().submit(
        ticket,
        Box::new(move || {
            ORIGIN.with(|o| *o.borrow_mut() = Some(remote.clone()));
            // A panic's payload goes back to the loop with the result, for `Panicked`: it is
            // `Send`. (Dropped here if the loop is gone, under `run_guarded`.)
            let result = catch_unwind(AssertUnwindSafe(f));
            ORIGIN.with(|o| *o.borrow_mut() = None);
            remote.post(Box::new(move || complete(id, result)));
        }),
        Some(refusal),
    );
    if let Err((e, job)) = submitted {
        drop_guarded(job);
        end_unrun::<T>(id, no_thread(&e));
    }
    promise
}

/// The job `id` was refused by a failed thread start (see [`Refusal`]), on its loop.
fn refuse<T: 'static>(id: u64, e: std::io::Error) {
    end_unrun::<T>(id, no_thread(&e));
}

/// The rejection of a job no thread can run.
fn no_thread(e: &std::io::Error) -> Exn {
    let message = format!("preemptive::detach: no thread can run the job: {e}");
    Exn::new(std::io::Error::new(e.kind(), message))
}

/// A job's promise's resolver, and the resolver of the promise that stands for its place in the
/// queue.
type Resolvers<T> = (Resolver<T>, Resolver<()>);

/// The cancel link of a job's promise: a cancel that finds the job still queued takes it off
/// (the pool decides, under its lock, against a worker taking it) and goes on to the job's
/// `queued` task, whose rejection rejects the promise (`withdraw`); one that finds the job
/// taken stops here.
struct WhileQueued {
    ticket: Arc<Ticket>,
    queued: Rc<dyn Cancelable>,
}

impl Cancelable for WhileQueued {
    fn cancel_step(self: Rc<Self>, next: &mut Vec<Rc<dyn Cancelable>>, _: &mut Visited) {
        // A cancel from a thread-local's destructor, once this thread's jobs were let go
        // (`Pending`'s drop): nothing can be withdrawn any more.
        if PENDING.try_with(|_| ()).is_err() {
            return;
        }
        if pool().cancel(&self.ticket) {
            next.push(self.queued.clone());
        }
    }
}

/// The job `id` was taken off the queue by a cancel: its promise is rejected with `Canceled`,
/// and the loop no longer waits for it.
fn withdraw<T: 'static>(id: u64) {
    end_unrun::<T>(id, Exn::canceled());
    pool().sweep();
}

/// The job `id` will never run: its promise is rejected with `error`, and the loop no longer
/// waits for it.
fn end_unrun<T: 'static>(id: u64, error: Exn) {
    let Some((resolver, queued)) = take_resolvers::<T>(id) else {
        return;
    };
    engine::try_with(|e| e.job_finished());
    queued.wakeup(()); // (a no-op once canceled)
    resolver.wakeup_exn(error);
}

fn take_resolvers<T: 'static>(id: u64) -> Option<Resolvers<T>> {
    let resolvers = PENDING
        .try_with(|p| p.borrow_mut().1.remove(&id))
        .ok()
        .flatten()?;
    resolvers.downcast::<Resolvers<T>>().ok().map(|r| *r)
}

fn complete<T: 'static>(id: u64, result: std::thread::Result<T>) {
    engine::with(|e| e.job_finished());
    let Some((resolver, queued)) = take_resolvers::<T>(id) else {
        // Canceled: nobody takes the panic's payload, whose drop may itself panic.
        if let Err(payload) = result {
            drop_payload(payload);
        }
        return;
    };
    queued.wakeup(()); // the job left the queue by the front: no cancel can withdraw it now
    match result {
        Ok(value) => resolver.wakeup(value),
        Err(payload) => resolver.wakeup_exn(Exn::from_panic(payload)),
    }
}

/// Why [`run_in_main`] (or [`MainHandle::run_in_main`]) has no value to return. Only
/// [`Rejected`](MainError::Rejected) ran anything on the loop; the others say why nothing could.
/// Non-exhaustive, so that a cause found later (a bounded queue of requests, say) can be added
/// without breaking a `match`.
///
/// ```
/// use lwt_core::{main, preemptive::{self, MainError}, Promise};
///
/// // Not on a worker: nothing ran.
/// assert_eq!(preemptive::run_in_main(|| Promise::ret(1)), Err(MainError::NotInJob));
/// let p = preemptive::detach(|| preemptive::run_in_main(|| Promise::<u8>::fail_with("refused")));
/// let e = main::run(p).unwrap().unwrap_err();
/// assert_eq!(e.to_string(), "rejected in the main loop: refused");
/// let MainError::Rejected(rejection) = &e else { panic!("{e}") };
/// assert!(!rejection.is_canceled());
///
/// // What the rejection says (its kind and OS error number, say) crosses the threads.
/// let p = preemptive::detach(|| {
///     preemptive::run_in_main(|| Promise::<u8>::fail(std::io::Error::from_raw_os_error(2)))
/// });
/// let Err(MainError::Rejected(rejection)) = main::run(p).unwrap() else { panic!() };
/// assert_eq!(rejection.kind(), Some(std::io::ErrorKind::NotFound));
/// assert_eq!(rejection.raw_os_error(), Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MainError {
    /// The promise was rejected (or its function panicked) on the loop: what the rejection
    /// says, as an [`ExnSnapshot`] (an [`Exn`] cannot cross threads): its message, sources,
    /// I/O error kind and number, and whether it was a cancellation.
    Rejected(ExnSnapshot),
    /// [`run_in_main`] was called outside a job started by [`detach`]: there is no loop to
    /// ask (a thread the job starts uses a [`MainHandle`]).
    NotInJob,
    /// [`MainHandle::run_in_main`] was called on the loop's own thread, which it would block
    /// waiting for itself.
    LoopThread,
    /// The loop's thread exited before the promise was resolved, or before the request was
    /// even taken.
    LoopGone,
}

impl fmt::Display for MainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MainError::Rejected(rejection) => write!(f, "rejected in the main loop: {rejection}"),
            MainError::NotInJob => {
                f.write_str("run_in_main called outside a job started by preemptive::detach")
            }
            MainError::LoopThread => f.write_str(
                "run_in_main called on the main loop's own thread, which it would block",
            ),
            MainError::LoopGone => {
                f.write_str("the main loop's thread exited before answering run_in_main")
            }
        }
    }
}

/// A rejection's sources are this error's: its own message is already in the `Display`.
impl Error for MainError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            MainError::Rejected(rejection) => rejection.source(),
            _ => None,
        }
    }
}

/// Lwt's `Lwt_preemptive.run_in_main`: from inside a [`detach`]ed job, runs the promise `f`
/// builds on the loop that started the job, and blocks this worker until it is resolved.
/// Fails with [`MainError::Rejected`] if the promise is rejected (or `f` panics: Lwt re-raises
/// the exception in the worker, but an [`Exn`] cannot cross threads, so its message does),
/// [`MainError::NotInJob`] outside a detached job, and [`MainError::LoopGone`] once the thread
/// of that loop has exited. (While the thread lives but is not inside
/// [`main::run`](crate::main::run), the request waits for its next `run`.) A thread the job
/// starts uses a [`MainHandle`] instead.
///
/// The worker stays taken while it waits: a promise that waits in turn for a `detach` needs a
/// second thread of the pool, and with every thread waiting so (one, under
/// [`set_bounds`]`(0, 1)`), the nested job waits for ever, and so does the loop's `run` on the
/// outer one. Keep the pool's maximum above the depth of such nesting, or do the nested work on
/// the worker itself.
///
/// ```
/// use lwt_core::{main, preemptive::{self, MainError}, Promise};
/// let p = preemptive::detach(|| {
///     preemptive::run_in_main(|| main::pause().map(|()| 20)).unwrap() + 1
/// });
/// assert_eq!(main::run(p).unwrap(), 21);
/// // Not on a worker:
/// assert_eq!(preemptive::run_in_main(|| Promise::ret(1)), Err(MainError::NotInJob));
/// ```
pub fn run_in_main<T: Send + 'static>(
    f: impl FnOnce() -> Promise<T> + Send + 'static,
) -> Result<T, MainError> {
    match main_handle() {
        Some(handle) => handle.run_in_main(f),
        None => Err(MainError::NotInJob),
    }
}

/// Inside a [`detach`]ed job, a handle on the loop that started it, for the threads the job
/// starts (a library's callback thread, a scoped thread) to call
/// [`run_in_main`](MainHandle::run_in_main) from; `None` elsewhere.
///
/// ```
/// use lwt_core::{main, preemptive, Promise};
/// let p = preemptive::detach(|| {
///     let handle = preemptive::main_handle().unwrap();
///     std::thread::scope(|s| {
///         s.spawn(|| handle.run_in_main(|| Promise::ret(20)).unwrap() + 1).join().unwrap()
///     })
/// });
/// assert_eq!(main::run(p).unwrap(), 21);
/// assert!(preemptive::main_handle().is_none()); // not on a worker
/// ```
pub fn main_handle() -> Option<MainHandle> {
    ORIGIN.with(|o| o.borrow().clone()).map(MainHandle::new)
}

/// A handle on the loop that started a [`detach`]ed job ([`main_handle`]): any thread can
/// use it to run promises on that loop, while the loop's thread lives. A request is answered
/// while that thread is inside [`main::run`](crate::main::run): one made between two `run`s
/// (after the job is done, say) waits for the next. Used on the thread of another loop, it
/// blocks that loop until the answer comes.
///
/// While a handle is alive, [`main::run`](crate::main::run) waits for what it may post instead
/// of failing with "nothing can resolve it" (it looks again every second), wherever the handle
/// is, the loop's own thread included (the loop cannot see who holds it): drop the handle once
/// the thread that holds it is done with the loop.
pub struct MainHandle(Arc<Remote>);

impl MainHandle {
    fn new(remote: Arc<Remote>) -> MainHandle {
        remote.handle_made();
        MainHandle(remote)
    }
}

impl Clone for MainHandle {
    fn clone(&self) -> MainHandle {
        MainHandle::new(self.0.clone())
    }
}

impl Drop for MainHandle {
    fn drop(&mut self) {
        self.0.handle_dropped();
    }
}

impl fmt::Debug for MainHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainHandle").finish_non_exhaustive()
    }
}

impl MainHandle {
    /// [`run_in_main`](fn@run_in_main), from any thread but the loop's own (which would block
    /// waiting for itself: that is an error).
    ///
    /// ```
    /// use lwt_core::{main, preemptive, Promise};
    /// let handle = main::run(preemptive::detach(|| preemptive::main_handle().unwrap())).unwrap();
    /// // This is the loop's thread:
    /// assert_eq!(handle.run_in_main(|| Promise::ret(1)), Err(preemptive::MainError::LoopThread));
    /// ```
    pub fn run_in_main<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Promise<T> + Send + 'static,
    ) -> Result<T, MainError> {
        if self.0.is_loop_thread() {
            return Err(MainError::LoopThread);
        }
        request(&self.0, f)
    }
}

/// Runs the promise `f` builds on the loop of `remote`, and blocks until it is resolved.
fn request<T: Send + 'static>(
    remote: &Remote,
    f: impl FnOnce() -> Promise<T> + Send + 'static,
) -> Result<T, MainError> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<T, MainError>>();
    remote.post(Box::new(move || {
        let failed = tx.clone();
        let gone = tx.clone();
        let id = OPEN_REQUESTS.with(|r| {
            r.borrow_mut().open(move || {
                let _ = gone.send(Err(MainError::LoopGone));
            })
        });
        crate::detached::dont_wait(
            move || {
                f().map(move |v| {
                    close_request(id);
                    let _ = tx.send(Ok(v));
                })
            },
            move |e| {
                close_request(id);
                let _ = failed.send(Err(MainError::Rejected(e.snapshot())));
            },
        );
    }));
    rx.recv().unwrap_or(Err(MainError::LoopGone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn submit(pool: &'static Pool, ticket: Arc<Ticket>, job: Job) {
        assert!(pool.submit(ticket, job, None).is_ok());
    }

    /// Gives one of the pool's idle workers a job that holds it until the sender returned is
    /// dropped (or 5 s), and waits until that worker has it.
    fn occupy_one(pool: &'static Pool) -> mpsc::Sender<()> {
        let idle = pool.lock().idle;
        let (hold, held) = mpsc::channel::<()>();
        submit(
            pool,
            Arc::new(Ticket::new()),
            Box::new(move || {
                let _ = held.recv_timeout(Duration::from_secs(5));
            }),
        );
        while pool.lock().idle >= idle {
            std::thread::sleep(Duration::from_millis(1));
        }
        hold
    }

    /// A pool of its own (the process-wide one is shared by the other tests), with `threads`
    /// idle workers.
    fn idle_pool(threads: usize) -> &'static Pool {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(threads)));
        for _ in 0..threads {
            pool.spawn(pool.lock()).unwrap();
        }
        while pool.lock().idle < threads {
            std::thread::sleep(Duration::from_millis(1));
        }
        pool
    }

    /// Found in review (rev90, session 40): a thread started for the minimum counted as free
    /// only once it reached its loop. A job detached before that, with no room for another
    /// thread, was queued, and a cancel dropped it (Lwt's `set_bounds` puts its workers in the
    /// free list at once, and a job handed to one runs); with room, one more thread was started
    /// for it (`set_bounds(3, 8)` and 3 jobs: 4 threads).
    #[test]
    fn a_job_submitted_while_a_thread_starts_is_handed_to_it() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(1)));
        {
            // A thread `set_bounds(1, 1)` started, not yet at its loop.
            let mut state = pool.lock();
            state.min = 1;
            state.threads += 1;
            state.starting += 1;
        }
        let ticket = Arc::new(Ticket::new());
        let (done, finished) = mpsc::channel::<()>();
        submit(
            pool,
            ticket.clone(),
            Box::new(move || {
                let _ = done.send(());
            }),
        );
        assert!(ticket.is_taken(), "queued, for a cancel to drop");
        assert!(!pool.cancel(&ticket));
        assert_eq!(pool.lock().threads, 1);
        // The thread reaches its loop and takes the job.
        pool.start_thread().unwrap();
        assert_eq!(finished.recv_timeout(Duration::from_secs(5)), Ok(()));
        pool.set_bounds(0, 1).unwrap();
    }

    /// A pool of at most one thread, being started by another thread's `set_bounds(1, 1)`,
    /// inside `spawn`: counted, its start under way.
    fn pool_spawning_its_one_thread() -> &'static Pool {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(1)));
        let mut state = pool.lock();
        state.min = 1;
        state.threads += 1;
        state.spawning += 1;
        state.starting += 1;
        drop(state);
        pool
    }

    /// Found in review (rev95, session 40), a regression of the test above's fix: a job handed
    /// to a thread still starting was stranded when that start failed, counted as taken, so a
    /// cancel was refused and a `run` waiting for it blocked. It goes back in line instead.
    #[test]
    fn a_job_handed_to_a_thread_whose_start_fails_waits_again_and_can_be_canceled() {
        let pool = pool_spawning_its_one_thread();
        let ticket = Arc::new(Ticket::new());
        submit(pool, ticket.clone(), Box::new(|| {}));
        assert!(ticket.is_taken(), "handed to the starting thread");
        // That start fails, as `spawn` sees it.
        {
            let mut state = pool.lock();
            state.spawning -= 1;
            Pool::start_failed(&mut state);
            assert_eq!(
                (state.threads, state.handed.len(), state.waiting()),
                (0, 0, 1)
            );
        }
        assert!(pool.cancel(&ticket), "a waiting job can be canceled");
    }

    /// Found in review (rev125): the test above's job, handed to a thread whose start then
    /// failed, went back in line; with no other thread (none running, none starting) it
    /// waited for ever and `main::run` with it, though `detach` promises a rejection when no
    /// thread can run a job. The submitter whose start failed gives its own job back; the jobs
    /// of the others (other loops' threads) are refused with the error, through their loops.
    #[test]
    fn jobs_left_with_no_thread_by_a_failed_start_are_refused() {
        let pool = pool_spawning_its_one_thread();
        let (refused, told) = mpsc::channel::<String>();
        let refusal = Refusal::Call(Box::new(move |e: std::io::Error| {
            let _ = refused.send(e.to_string());
        }));
        let ticket = Arc::new(Ticket::new());
        let (ran, run) = mpsc::channel::<()>();
        let job: Job = Box::new(move || {
            let _ = ran.send(());
        });
        assert!(pool.submit(ticket.clone(), job, Some(refusal)).is_ok());
        assert!(ticket.is_taken(), "handed to the starting thread");
        // That start fails, as `spawn` sees it.
        let mut state = pool.lock();
        state.spawning -= 1;
        pool.start_failed_then(state, &std::io::Error::other("no thread for you"), None);
        assert_eq!(told.try_recv().as_deref(), Ok("no thread for you"));
        assert!(run.try_recv().is_err(), "the job never runs");
        let state = pool.lock();
        assert_eq!(
            (state.threads, state.handed.len(), state.queue.len()),
            (0, 0, 0)
        );
        drop(state);
        assert!(
            !pool.cancel(&ticket),
            "refused: no cancel withdraws it again"
        );
    }

    /// Found in review (rev125): a thread `set_bounds` started for its minimum counted as busy
    /// until it reached its loop, with no job (Lwt's `set_bounds` puts its workers in the free
    /// list at once: `nbthreadsbusy` says 0), though the pool hands such a thread a job as a
    /// free one. A thread started for a job counts as busy at once.
    #[test]
    fn a_thread_still_starting_is_busy_only_with_a_job() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(2)));
        {
            // A thread `set_bounds(1, 2)` started, not yet at its loop.
            let mut state = pool.lock();
            state.min = 1;
            state.threads += 1;
            state.starting += 1;
            assert_eq!(state.busy(), 0, "started for the minimum, no job yet");
        }
        let ticket = Arc::new(Ticket::new());
        submit(pool, ticket.clone(), Box::new(|| {}));
        assert!(ticket.is_taken(), "handed to the starting thread");
        assert_eq!(pool.lock().busy(), 1, "promised the job");
        // The thread reaches its loop and runs the job.
        pool.start_thread().unwrap();
        while pool.lock().idle == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.lock().busy(), 0);
        pool.set_bounds(0, 1).unwrap();
    }

    /// Found in review (session 33): a job submitted while idle workers above a lowered
    /// maximum had not exited yet was promised one of them; the worker exited, and the job,
    /// counted as taken, waited for a busy one with its `cancel` ignored and
    /// `queued_job_count` saying 0 (and under a steady load, jobs ran beyond the maximum).
    /// Jobs are promised only to idle workers within the maximum.
    #[test]
    fn idle_workers_above_a_lowered_maximum_are_promised_no_job() {
        let pool = idle_pool(3);
        let hold = occupy_one(pool);
        // One worker busy, room for one more. As `set_bounds` leaves it until the idle workers
        // it woke have exited (the wake left out, so that they stay).
        pool.lock().max = 2;
        let (done, finished) = mpsc::channel::<&str>();
        let (a_done, b_done) = (done.clone(), done);
        let (release_a, a_released) = mpsc::channel::<()>();
        submit(
            pool,
            Arc::new(Ticket::new()),
            Box::new(move || {
                let _ = a_released.recv_timeout(Duration::from_secs(5));
                let _ = a_done.send("a");
            }),
        );
        let b = Arc::new(Ticket::new());
        submit(
            pool,
            b.clone(),
            Box::new(move || {
                let _ = b_done.send("b");
            }),
        );
        {
            let state = pool.lock();
            assert!(!b.is_taken(), "b was promised a worker above the maximum");
            assert_eq!(state.waiting(), 1);
        }
        // b waits for a thread within the maximum, and gets the first one free.
        drop(release_a);
        assert_eq!(finished.recv_timeout(Duration::from_secs(2)), Ok("a"));
        assert_eq!(finished.recv_timeout(Duration::from_secs(2)), Ok("b"));
        drop(hold);
    }

    /// Found in review (session 33): a job handed to an idle worker was stranded when the
    /// maximum was lowered before the worker woke: the worker saw itself above the maximum and
    /// exited, and the job, counted as taken, waited for the busy worker (which here waits
    /// for it: 20 hangs in 20 runs). A handed job is taken before the maximum is looked at.
    #[test]
    fn a_job_handed_to_a_worker_keeps_it_when_the_maximum_is_lowered() {
        let pool = idle_pool(2);
        let (tx, rx) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<bool>();
        submit(
            pool,
            Arc::new(Ticket::new()),
            Box::new(move || {
                let _ = done.send(rx.recv_timeout(Duration::from_secs(2)).is_ok());
            }),
        );
        while pool.lock().idle > 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let p = Arc::new(Ticket::new());
        submit(
            pool,
            p.clone(),
            Box::new(move || {
                let _ = tx.send(());
            }),
        );
        pool.set_bounds(0, 1).unwrap();
        assert!(p.is_taken());
        assert_eq!(finished.recv(), Ok(true), "the handed job never ran");
    }

    /// Found in review (rev64, session 36): a raise of the maximum counted the threads to start
    /// once, up front, and `spawn` lets the lock go; two raises at once each started threads
    /// for the same waiting jobs: up to 14 threads for 8 jobs (1 running, 7 queued).
    #[test]
    fn concurrent_raises_start_one_thread_per_waiting_job() {
        let mut most = 0;
        for _ in 0..20 {
            let pool = idle_pool(1);
            let hold = occupy_one(pool);
            let (open, gate) = mpsc::channel::<()>();
            let gate = Arc::new(std::sync::Mutex::new(gate));
            for _ in 0..7 {
                let gate = gate.clone();
                submit(
                    pool,
                    Arc::new(Ticket::new()),
                    Box::new(move || {
                        let _ = gate.lock().map(|g| g.recv_timeout(Duration::from_secs(5)));
                    }),
                );
            }
            assert_eq!(pool.lock().waiting(), 7);
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let raises: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        pool.set_bounds(0, 100).unwrap();
                    })
                })
                .collect();
            for raise in raises {
                raise.join().unwrap();
            }
            most = most.max(pool.lock().threads);
            drop(open);
            drop(hold);
            // Its 8 threads exit once their jobs are done, rather than idle for 10 s.
            pool.set_bounds(0, 1).unwrap();
        }
        assert_eq!(most, 8, "threads for 1 running and 7 queued jobs");
    }

    /// Found in review (session 33): with no thread at all and none that could be started, a
    /// job was queued for ever (and `main::run` waited for it). It is given back with the error.
    #[test]
    fn a_job_no_thread_can_run_is_given_back() {
        let pool = idle_pool(0);
        pool.lock().max = 2;
        pool.spawns_left.store(0, Ordering::Relaxed);
        let submitted = pool.submit(Arc::new(Ticket::new()), Box::new(|| ()), None);
        let Err((e, _job)) = submitted else {
            panic!("the job was queued with no thread to run it");
        };
        assert_eq!(e.to_string(), "thread start refused by the test");
        let state = pool.lock();
        assert_eq!(
            (state.queue.len(), state.handed.len(), state.threads),
            (0, 0, 0)
        );
    }

    /// Found in review (session 37): `set_bounds`' error for a thread that could not start was
    /// a message rebuilt from the OS error, which lost it (and its number). The OS error is now
    /// kept inside, reached through `NamedError::of` (not as the source: rev83, a chain
    /// printer showed its text twice).
    #[test]
    fn a_failed_thread_start_keeps_the_os_error() {
        let pool = idle_pool(0);
        pool.spawns_left.store(0, Ordering::Relaxed);
        let e = thread_start_failed(pool.set_bounds(1, 2).unwrap_err());
        assert_eq!(
            e.to_string(),
            "preemptive::set_bounds: could not start a thread: thread start refused by the test"
        );
        let io = e.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert!(std::error::Error::source(io).is_none());
        let inner = crate::unix::NamedError::of(io).expect("the OS error inside");
        assert_eq!(
            inner.error().to_string(),
            "thread start refused by the test"
        );
    }

    /// rev78: `set_bounds(100_000, 100_000)` started 16,370 threads, failed, and kept both the
    /// bounds and the threads, until a thread aborted the process for want of memory. A failed
    /// start now puts the bounds back, and the threads started beyond them exit.
    #[test]
    fn a_failed_start_puts_the_bounds_back_and_the_extra_threads_exit() {
        let pool = idle_pool(1);
        pool.lock().max = 2;
        pool.spawns_left.store(3, Ordering::Relaxed);
        let e = pool.set_bounds(10, 10).unwrap_err();
        assert_eq!(e.to_string(), "thread start refused by the test");
        let bounds = {
            let state = pool.lock();
            (state.min, state.max)
        };
        assert_eq!(bounds, (0, 2));
        // Four threads were there (the first and the three this call started); the two above
        // the old maximum exit once they are idle.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while pool.lock().threads > 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "threads stayed above the bound"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.lock().threads, 2);
    }

    /// With a thread busy, a job that cannot have a thread of its own waits for that one, first
    /// in line.
    #[test]
    fn a_job_whose_thread_cannot_start_waits_for_the_busy_one() {
        let pool = idle_pool(1);
        pool.lock().max = 2;
        let hold = occupy_one(pool);
        pool.spawns_left.store(0, Ordering::Relaxed);
        let (done, finished) = mpsc::channel::<()>();
        let ticket = Arc::new(Ticket::new());
        submit(
            pool,
            ticket.clone(),
            Box::new(move || {
                let _ = done.send(());
            }),
        );
        assert!(!ticket.is_taken()); // waiting, so still cancelable
        assert_eq!(pool.lock().waiting(), 1);
        drop(hold);
        assert_eq!(finished.recv_timeout(Duration::from_secs(2)), Ok(()));
    }
}
