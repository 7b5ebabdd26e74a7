//! A stress test of `preemptive` (the thread pool): many `detach`ed jobs of random short
//! durations, some panicking, some calling `run_in_main` (whose promise is fulfilled at once,
//! after a pause or a sleep, rejected, or whose function panics), some detached from inside
//! callbacks of other jobs' promises, while `set_bounds` changes the pool's bounds from the loop
//! and from the workers; two threads each run their own loop through several `main::run` calls in
//! sequence, and some jobs started in one `run` are only awaited in the next; short-lived threads
//! detach jobs (some calling `run_in_main`) and exit without waiting for them.
//!
//! Checked: every job runs once and its promise resolves exactly once, with its own result (its
//! id, what its `run_in_main` gave, or a `Panicked` rejection with its own message); a failing
//! `run_in_main` gives the job a `MainError` naming the failure; no more jobs run at once than the
//! largest `max` the bounds had; the jobs of exited threads end (their `run_in_main` fails rather
//! than blocking a worker for good); `main::run` never reports being stuck, and never hangs (a
//! watchdog thread aborts the process with a report after a generous deadline). No timing is
//! asserted.
//!
//! `PREEMPTIVE_STRESS_SEED` (default 1) and `PREEMPTIVE_STRESS_ROUNDS` (default 40, about a
//! second: `main::run` calls per loop thread, 40 to 100 jobs each) set the run;
//! `PREEMPTIVE_STRESS_DEADLINE_SECS` (default 120) the watchdog's deadline. Without the fix of
//! e8a5adc (work posted to an exited loop's thread was queued forever) it hangs at seed 1: the
//! orphans' `run_in_main` calls block their workers and the watchdog fires.

#[path = "support/fuzz.rs"]
mod fuzz;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lwt_core::preemptive::{self, MainError};
use lwt_core::{all, main, unix, Panicked, Promise};

use fuzz::{env, Rng};

/// How long the whole test may take before the watchdog calls it a hang, by default.
const DEADLINE_SECS: u64 = 120;

/// What a job's `run_in_main` runs on the loop.
#[derive(Clone, Copy, Debug)]
enum InMain {
    Ret,
    Pause,
    Sleep,
    Fail,
    Panic,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ret,
    Panic,
    Main(InMain),
    /// Calls `set_bounds(min, max)` from the worker, then returns.
    Bounds(usize, usize),
}

/// What a job's promise should give: its value, or a rejection's message.
type Expect = Result<u64, String>;

/// The value of a job whose `run_in_main` failed: its id and the `MainError`'s message.
fn main_error_value(id: u64) -> u64 {
    id * 10 + 7
}

/// Shared by the workers: how many times each job ran, how many run at once.
struct Counts {
    ran: Mutex<HashMap<u64, usize>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
    /// The largest `max` the pool's bounds ever had.
    largest_max: AtomicUsize,
    /// `run_in_main` errors whose message did not name the failure.
    bad_main_errors: Mutex<Vec<String>>,
    /// Jobs started by threads that exit at once, and how many of them have ended.
    orphans: AtomicUsize,
    orphans_done: AtomicUsize,
}

fn set_bounds(counts: &Counts, min: usize, max: usize) {
    // Raise the recorded largest bound first, so that a job counted under the new bound never
    // finds a smaller record.
    counts.largest_max.fetch_max(max, Ordering::SeqCst);
    preemptive::set_bounds(min, max).unwrap();
}

/// The body of job `id`, on a worker.
fn job_body(id: u64, kind: Kind, micros: u64, counts: Arc<Counts>) -> u64 {
    let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
    counts.most_running.fetch_max(now, Ordering::SeqCst);
    *counts.ran.lock().unwrap().entry(id).or_insert(0) += 1;
    std::thread::sleep(Duration::from_micros(micros));
    let out = match kind {
        Kind::Ret => id * 3,
        Kind::Panic => {
            counts.running.fetch_sub(1, Ordering::SeqCst);
            panic!("job-panic {id}")
        }
        Kind::Bounds(min, max) => {
            set_bounds(&counts, min, max);
            id * 3
        }
        Kind::Main(how) => {
            let r = preemptive::run_in_main(move || match how {
                InMain::Ret => Promise::ret(id * 5),
                InMain::Pause => main::pause().map(move |()| id * 5),
                InMain::Sleep => unix::sleep(Duration::from_micros(200)).map(move |()| id * 5),
                InMain::Fail => Promise::fail_with(format!("main-fail {id}")),
                InMain::Panic => panic!("main-panic {id}"),
            });
            match r {
                Ok(v) => v,
                Err(MainError::Rejected(rejection)) => {
                    let message = rejection.to_string();
                    let want = match how {
                        InMain::Fail => format!("main-fail {id}"),
                        _ => format!("main-panic {id}"),
                    };
                    if !message.contains(&want) {
                        counts
                            .bad_main_errors
                            .lock()
                            .unwrap()
                            .push(format!("job {id}: {message:?}, expected {want:?}"));
                    }
                    main_error_value(id)
                }
                Err(other) => {
                    counts
                        .bad_main_errors
                        .lock()
                        .unwrap()
                        .push(format!("job {id}: {other:?}, expected a rejection"));
                    main_error_value(id)
                }
            }
        }
    };
    counts.running.fetch_sub(1, Ordering::SeqCst);
    out
}

/// The body of a job whose loop's thread is gone (or going): no answer to check.
fn orphan_body(id: u64, kind: Kind, micros: u64, counts: &Counts) {
    let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
    counts.most_running.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_micros(micros));
    counts.running.fetch_sub(1, Ordering::SeqCst);
    match kind {
        Kind::Panic => panic!("job-panic {id}"),
        Kind::Main(_) => {
            let _ = preemptive::run_in_main(move || Promise::ret(id));
        }
        _ => {}
    }
}

fn expect(id: u64, kind: Kind) -> Expect {
    match kind {
        Kind::Ret | Kind::Bounds(..) => Ok(id * 3),
        Kind::Panic => Err(format!("job-panic {id}")),
        Kind::Main(InMain::Ret | InMain::Pause | InMain::Sleep) => Ok(id * 5),
        Kind::Main(InMain::Fail | InMain::Panic) => Ok(main_error_value(id)),
    }
}

/// One loop thread's record of its jobs' promises: how often each resolved and with what.
#[derive(Default)]
struct Seen {
    expected: HashMap<u64, Expect>,
    resolved: HashMap<u64, Vec<Expect>>,
}

struct Loop {
    rng: RefCell<Rng>,
    counts: Arc<Counts>,
    seen: Rc<RefCell<Seen>>,
    next_id: RefCell<u64>,
    base: u64,
}

impl Loop {
    fn gen_kind(&self) -> Kind {
        let mut r = self.rng.borrow_mut();
        match r.below(20) {
            0..=7 => Kind::Ret,
            8..=10 => Kind::Panic,
            11..=17 => Kind::Main(
                [
                    InMain::Ret,
                    InMain::Pause,
                    InMain::Sleep,
                    InMain::Fail,
                    InMain::Panic,
                ][r.below(5) as usize],
            ),
            _ => {
                let max = 1 + r.below(6) as usize;
                Kind::Bounds(r.below(max as u64 + 1) as usize, max)
            }
        }
    }

    /// Detaches a new job; the promise resolves (to unit) once its outcome was recorded.
    fn detach(self: &Rc<Self>) -> Promise<()> {
        let id = {
            let mut n = self.next_id.borrow_mut();
            *n += 1;
            self.base + *n
        };
        let kind = self.gen_kind();
        let micros = self.rng.borrow_mut().below(1500);
        self.seen.borrow_mut().expected.insert(id, expect(id, kind));
        let counts = self.counts.clone();
        let p = preemptive::detach(move || job_body(id, kind, micros, counts));
        let (s1, s2) = (self.seen.clone(), self.seen.clone());
        p.on_any(
            move |v| {
                s1.borrow_mut().resolved.entry(id).or_default().push(Ok(*v));
            },
            move |e| {
                let got = match e.downcast_ref::<Panicked>() {
                    Some(p) => p.message().to_string(),
                    None => format!("not a Panicked rejection: {e}"),
                };
                s2.borrow_mut()
                    .resolved
                    .entry(id)
                    .or_default()
                    .push(Err(got));
            },
        );
        p.catch(|_| Promise::ret(0)).map(drop)
    }

    /// A job, and in one case out of four another detached from the callback of its promise.
    fn job_or_chain(self: &Rc<Self>) -> Promise<()> {
        let p = self.detach();
        if self.rng.borrow_mut().below(4) == 0 {
            let me = self.clone();
            p.bind(move |()| me.detach())
        } else {
            p
        }
    }

    /// A thread that detaches a few jobs (some calling `run_in_main`) and exits without running
    /// its loop: the jobs must still end (`run_in_main` fails), never hold their workers.
    fn orphans(&self) {
        let k = self.rng.borrow_mut().below(4) as usize;
        let kinds: Vec<(Kind, u64)> = (0..k)
            .map(|_| (self.gen_kind(), self.rng.borrow_mut().below(1500)))
            .collect();
        let counts = self.counts.clone();
        counts.orphans.fetch_add(k, Ordering::SeqCst);
        std::thread::spawn(move || {
            for (i, (kind, micros)) in kinds.into_iter().enumerate() {
                let c = counts.clone();
                drop(preemptive::detach(move || {
                    let id = 9_000_000 + i as u64;
                    let c2 = c.clone();
                    // Counted as it ends, even by a panic.
                    struct Done(Arc<Counts>);
                    impl Drop for Done {
                        fn drop(&mut self) {
                            self.0.orphans_done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    let _done = Done(c);
                    let kind = match kind {
                        Kind::Bounds(..) => Kind::Ret, // keeps the bound records simple
                        k => k,
                    };
                    orphan_body(id, kind, micros, &c2);
                }));
            }
        });
    }

    /// One `main::run`: a burst of jobs, more from a loop callback, bound changes from the loop;
    /// `carry` (jobs left from the previous run) is awaited too, and some of this run's jobs are
    /// left for the next.
    fn round(self: &Rc<Self>, carry: Vec<Promise<()>>) -> Vec<Promise<()>> {
        let n = 40 + self.rng.borrow_mut().below(60) as usize;
        let mut now: Vec<Promise<()>> = carry;
        let mut later = Vec::new();
        for _ in 0..n / 2 {
            let p = self.job_or_chain();
            if self.rng.borrow_mut().below(6) == 0 {
                later.push(p);
            } else {
                now.push(p);
            }
        }
        // The rest are detached from a callback of the loop, after a pause, with a bound change.
        let me = self.clone();
        let rest = main::pause().bind(move |()| {
            let (min, max) = {
                let mut r = me.rng.borrow_mut();
                let max = 1 + r.below(6) as usize;
                (r.below(max as u64 + 1) as usize, max)
            };
            set_bounds(&me.counts, min, max);
            all((0..n - n / 2)
                .map(|_| me.job_or_chain())
                .collect::<Vec<_>>())
            .map(drop)
        });
        now.push(rest);
        self.orphans();
        if let Err(e) = main::run(all(now)) {
            panic!("main::run failed: {e}");
        }
        later
    }
}

fn loop_thread(seed: u64, rounds: u64, base: u64, counts: Arc<Counts>) -> Result<usize, String> {
    let l = Rc::new(Loop {
        rng: RefCell::new(Rng::for_case(seed, base)),
        counts,
        seen: Rc::default(),
        next_id: RefCell::new(0),
        base: base * 1_000_000,
    });
    let mut carry = Vec::new();
    for _ in 0..rounds {
        carry = l.round(carry);
    }
    if !carry.is_empty() {
        if let Err(e) = main::run(all(carry)) {
            return Err(format!("the last main::run failed: {e}"));
        }
    }
    let seen = l.seen.borrow();
    let ran = l.counts.ran.lock().unwrap();
    for (id, want) in &seen.expected {
        match seen.resolved.get(id).map(Vec::as_slice) {
            Some([got]) if got == want => {}
            Some([got]) => {
                return Err(format!(
                    "job {id}: resolved with {got:?}, expected {want:?}"
                ))
            }
            None | Some([]) => return Err(format!("job {id}: its promise never resolved")),
            Some(many) => return Err(format!("job {id}: resolved {} times: {many:?}", many.len())),
        }
        if ran.get(id) != Some(&1) {
            return Err(format!("job {id} ran {:?} times", ran.get(id)));
        }
    }
    Ok(seen.expected.len())
}

#[test]
fn detached_jobs_resolve_once_with_their_own_results() {
    let seed = env("PREEMPTIVE_STRESS_SEED", 1);
    let rounds = env("PREEMPTIVE_STRESS_ROUNDS", 40);
    // The jobs panic on purpose: keep those panics off the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let quiet = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("job-panic") || m.starts_with("main-panic"));
        if !quiet {
            default_hook(info);
        }
    }));
    let deadline = Duration::from_secs(env("PREEMPTIVE_STRESS_DEADLINE_SECS", DEADLINE_SECS));
    let finished = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let watch = finished.clone();
    std::thread::spawn(move || {
        while !watch.load(Ordering::SeqCst) {
            if started.elapsed() > deadline {
                eprintln!(
                    "preemptive_stress: not finished after {deadline:?} (seed {seed}): a hang; bounds {:?}",
                    preemptive::get_bounds()
                );
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let counts = Arc::new(Counts {
        ran: Mutex::default(),
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
        largest_max: AtomicUsize::new(0),
        bad_main_errors: Mutex::default(),
        orphans: AtomicUsize::new(0),
        orphans_done: AtomicUsize::new(0),
    });
    // Start below the default bound of 8 (this process has no pool thread yet), so that the
    // check on the bound means something.
    set_bounds(&counts, 0, 3);
    let c2 = counts.clone();
    let other = std::thread::spawn(move || loop_thread(seed, rounds, 2, c2));
    let here = loop_thread(seed, rounds, 1, counts.clone());
    let there = other.join().expect("the second loop thread panicked");
    // The orphans' jobs end too (a hang here is the watchdog's).
    while counts.orphans_done.load(Ordering::SeqCst) < counts.orphans.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    finished.store(true, Ordering::SeqCst);
    let jobs = here.unwrap() + there.unwrap();
    let bad = counts.bad_main_errors.lock().unwrap();
    assert!(bad.is_empty(), "run_in_main errors: {bad:?}");
    let (most, largest) = (
        counts.most_running.load(Ordering::SeqCst),
        counts.largest_max.load(Ordering::SeqCst),
    );
    assert!(
        most <= largest,
        "{most} jobs ran at once, the largest max was {largest}"
    );
    eprintln!("preemptive_stress: {jobs} jobs, seed {seed}, at most {most} at once");
}
