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
//! seconds. Lowering the maximum takes effect as the threads above it finish their jobs: they
//! exit then, as Lwt's do.
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
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::engine::{self, Remote};
use crate::exn::{panic_message, Exn};
use crate::promise::Promise;
use crate::resolver::{wait, Resolver};

type Job = Box<dyn FnOnce() + Send>;

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    min: usize,
    max: usize,
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
            min: 0,
            max: 8,
        }),
        work: Condvar::new(),
    })
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        // A worker counts as idle until it wakes up and takes a job, so `idle > 0` alone would
        // send a second job to a worker already promised to the first, and two jobs that wait on
        // each other would deadlock on one thread. Each queued job needs an idle worker of its own.
        if state.queue.len() <= state.idle {
            self.work.notify_one();
        } else if state.threads < state.max {
            state.threads += 1;
            drop(state);
            let spawned = std::thread::Builder::new()
                .name("lwt-preemptive".into())
                .spawn(move || self.worker());
            if spawned.is_err() {
                // The job stays queued for the threads we have (if any).
                self.lock().threads -= 1;
            }
        }
    }

    fn worker(&self) {
        let mut state = self.lock();
        loop {
            // A lowered `max` holds from the workers' next turn, as Lwt's workers stop being
            // reused after their job: the extra ones exit here, between jobs, rather than after
            // 10 idle seconds, which a steady load never gives them. A queued job this worker
            // was woken for passes the wake on; at least `max` workers stay.
            if state.threads > state.max {
                state.threads -= 1;
                if !state.queue.is_empty() {
                    self.work.notify_one();
                }
                return;
            }
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
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
            if timeout.timed_out() && state.queue.is_empty() && state.threads > state.min {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Sets the pool's bounds: `min` threads kept alive when idle, at most `max` threads at once
/// (Lwt's `Lwt_preemptive.set_bounds`). Fails if `max` is 0 or `min > max`.
///
/// ```
/// use lwt_core::preemptive;
/// assert!(preemptive::set_bounds(0, 0).is_err());
/// preemptive::set_bounds(0, 8).unwrap();
/// assert_eq!(preemptive::get_bounds(), (0, 8));
/// ```
pub fn set_bounds(min: usize, max: usize) -> Result<(), Exn> {
    if max == 0 || min > max {
        return Err(Exn::invalid_argument(format!(
            "preemptive::set_bounds: need 0 < max and min <= max, got min = {min}, max = {max}"
        )));
    }
    let mut state = pool().lock();
    state.min = min;
    state.max = max;
    Ok(())
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

/// How many worker threads are running a job or about to take one (Lwt's
/// `Lwt_preemptive.nbthreadsbusy`).
///
/// ```
/// use lwt_core::{main, preemptive};
/// let busy = preemptive::detach(preemptive::busy_thread_count);
/// assert!(main::run(busy).unwrap() >= 1); // counted by itself
/// ```
#[doc(alias = "nbthreadsbusy")]
pub fn busy_thread_count() -> usize {
    let state = pool().lock();
    state.threads - state.idle
}

/// How many detached jobs wait for a free thread (Lwt's `Lwt_preemptive.nbthreadsqueued`).
///
/// ```
/// assert_eq!(lwt_core::preemptive::queued_job_count(), 0);
/// ```
#[doc(alias = "nbthreadsqueued")]
pub fn queued_job_count() -> usize {
    pool().lock().queue.len()
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
/// `f` runs on another thread, so it must be `Send`: it cannot hold a [`Promise`], a
/// [`Resolver`] or a channel, which belong to the loop's thread (the compiler then names their
/// private insides, `Rc<Node<..>>`, as not `Send`). A job that needs the loop's promises asks
/// for them with [`run_in_main`].
///
/// ```
/// use lwt_core::{main, preemptive, Panicked};
/// let p = preemptive::detach(|| -> u8 { panic!("worker failed") });
/// let e = main::run(p).unwrap_err();
/// assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), "worker failed");
/// ```
pub fn detach<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Promise<T> {
    let (promise, resolver) = wait::<T>();
    let id = PENDING.with(|p| {
        let Pending(next, map) = &mut *p.borrow_mut();
        let id = *next;
        *next += 1;
        map.insert(id, Box::new(resolver) as Box<dyn Any>);
        id
    });
    let remote = engine::with(|e| {
        e.job_started();
        e.remote()
    });
    pool().submit(Box::new(move || {
        ORIGIN.with(|o| *o.borrow_mut() = Some(remote.clone()));
        // The payload may not be safe to send back; its message is.
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(panic_message);
        ORIGIN.with(|o| *o.borrow_mut() = None);
        remote.post(Box::new(move || complete(id, result)));
    }));
    promise
}

fn complete<T: 'static>(id: u64, result: Result<T, String>) {
    engine::with(|e| e.job_finished());
    let resolver = PENDING.with(|p| p.borrow_mut().1.remove(&id));
    let Some(resolver) = resolver.and_then(|r| r.downcast::<Resolver<T>>().ok()) else {
        return;
    };
    match result {
        Ok(value) => resolver.wakeup(value),
        Err(message) => resolver.wakeup_exn(Exn::from_panic(Box::new(message))),
    }
}

/// The error [`run_in_main`] returns when the promise it ran was rejected (the rejection's
/// message: an [`Exn`] cannot cross threads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainError(pub String);

impl fmt::Display for MainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rejected in the main loop: {}", self.0)
    }
}

impl Error for MainError {}

/// Lwt's `Lwt_preemptive.run_in_main`: from inside a [`detach`]ed job, runs the promise `f`
/// builds on the loop that started the job, and blocks this worker until it is resolved.
/// Fails if called outside a detached job, or once the thread of that loop has exited. (While
/// the thread lives but is not inside [`main::run`](crate::main::run), the request waits for its
/// next `run`.)
///
/// ```
/// use lwt_core::{main, preemptive, Promise};
/// let p = preemptive::detach(|| {
///     preemptive::run_in_main(|| main::pause().map(|()| 20)).unwrap() + 1
/// });
/// assert_eq!(main::run(p).unwrap(), 21);
/// assert!(preemptive::run_in_main(|| Promise::ret(1)).is_err()); // not on a worker
/// ```
pub fn run_in_main<T: Send + 'static>(
    f: impl FnOnce() -> Promise<T> + Send + 'static,
) -> Result<T, MainError> {
    let Some(remote) = ORIGIN.with(|o| o.borrow().clone()) else {
        return Err(MainError(
            "run_in_main called outside a job started by preemptive::detach".into(),
        ));
    };
    let (tx, rx) = std::sync::mpsc::channel::<Result<T, MainError>>();
    remote.post(Box::new(move || {
        let failed = tx.clone();
        let gone = tx.clone();
        let id = OPEN_REQUESTS.with(|r| {
            r.borrow_mut().open(move || {
                let _ = gone.send(Err(MainError(
                    "the main loop's thread exited with the request pending".into(),
                )));
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
                let _ = failed.send(Err(MainError(e.to_string())));
            },
        );
    }));
    rx.recv().unwrap_or_else(|_| {
        Err(MainError(
            "the main loop dropped the request (its thread exited)".into(),
        ))
    })
}
