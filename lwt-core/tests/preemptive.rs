//! The thread pool of `preemptive::detach`, in a process of its own: these tests count on the
//! pool's threads, which other test files' jobs would share. They take turns (`one_at_a_time`)
//! for the same reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use lwt_core::preemptive::MainError;
use lwt_core::{both, main, preemptive};

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn two_jobs_submitted_to_one_idle_worker_run_at_the_same_time() {
    // Found in review: a worker counted as idle until it woke up, so the second job was queued
    // behind the first on the same thread instead of starting another one. Jobs that wait on
    // each other then deadlocked (here, `a` would give up after its timeout).
    let _turn = one_at_a_time();
    main::run(preemptive::detach(|| ())).unwrap();
    // Let the worker go back to waiting: the pool now has exactly one idle thread.
    std::thread::sleep(Duration::from_millis(50));
    let (tx, rx) = mpsc::channel::<()>();
    let a = preemptive::detach(move || rx.recv_timeout(Duration::from_secs(10)).is_ok());
    let b = preemptive::detach(move || tx.send(()).is_ok());
    let (a_heard_b, b_sent) = main::run(both(a, b)).unwrap();
    assert!(b_sent);
    assert!(
        a_heard_b,
        "job b only ran after job a gave up waiting for it"
    );
}

#[test]
fn more_dependent_jobs_than_idle_workers_all_run() {
    // Job i tells job i - 1 it runs, then waits to hear from job i + 1: the jobs only all finish
    // if they are all running at once (5 jobs, fewer than the pool's 8 threads).
    let _turn = one_at_a_time();
    main::run(preemptive::detach(|| ())).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let n = 5;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<()>()).unzip();
    let mut previous = None;
    let mut jobs = Vec::new();
    for (i, rx) in receivers.into_iter().enumerate() {
        let tell = previous.take();
        previous = Some(senders[i].clone());
        let last = i == n - 1;
        jobs.push(preemptive::detach(move || {
            if let Some(tx) = tell {
                let _ = tx.send(());
            }
            last || rx.recv_timeout(Duration::from_secs(10)).is_ok()
        }));
    }
    let heard: Vec<bool> = main::run(lwt_core::all(jobs)).unwrap();
    assert_eq!(
        heard, [true; 5],
        "some job waited for a job that was not running"
    );
}

#[test]
fn run_in_main_fails_once_the_loop_thread_that_started_the_job_has_exited() {
    // Found while writing preemptive_stress: a job whose loop's thread exited before the job
    // called `run_in_main` blocked its worker forever (the request waited in a queue nobody would
    // ever run or drop), and the blocked worker counted against the pool's bound, which every
    // thread's loop shares. It now gets an error. (The timeout only keeps a failure from hanging
    // the test.)
    let _turn = one_at_a_time();
    let (tx, rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _job = preemptive::detach(move || {
            // Wait until the loop's thread is gone.
            let _ = started_rx.recv();
            let answer = preemptive::run_in_main(|| lwt_core::Promise::ret(1));
            let _ = tx.send(answer);
        });
        // The job goes on as this thread exits (its request may be posted before the loop's
        // engine is dropped, or after).
        drop(started_tx);
    })
    .join()
    .unwrap();
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(answer) => assert_eq!(answer, Err(MainError::LoopGone)),
        Err(_) => panic!("the worker is still blocked in run_in_main, its loop's thread gone"),
    }
}

#[test]
fn run_in_main_fails_when_the_loop_thread_exits_with_its_promise_pending() {
    // Found in review (session 23): the request reached the loop and its promise was pending
    // (a long sleep) when the loop's thread exited. A pending promise's callbacks are neither
    // run nor dropped at thread exit, so the answer never came, and the worker waited for ever.
    let _turn = one_at_a_time();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _job = preemptive::detach(move || {
            let answer =
                preemptive::run_in_main(|| lwt_core::unix::sleep(Duration::from_secs(3600)));
            let _ = done_tx.send(answer);
        });
        // Turn the loop until the request has made its sleep.
        while lwt_core::unix::timer_count() == 0 {
            main::run(lwt_core::unix::sleep(Duration::from_millis(5))).unwrap();
        }
    })
    .join()
    .unwrap();
    match done_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(answer) => assert_eq!(answer, Err(MainError::LoopGone)),
        Err(_) => panic!("the worker is still blocked in run_in_main, its loop's thread gone"),
    }
}

#[test]
fn panics_in_jobs_and_in_run_in_main_are_errors() {
    let _turn = one_at_a_time();
    let job = preemptive::detach(|| -> u8 { std::panic::panic_any(42u32) });
    let e = main::run(job).unwrap_err();
    assert!(e.is::<lwt_core::Panicked>(), "{e}");
    let job = preemptive::detach(|| {
        preemptive::run_in_main(|| -> lwt_core::Promise<u8> { panic!("in main") })
    });
    let answer = main::run(job).unwrap();
    assert!(matches!(answer, Err(MainError::Rejected(m)) if m.to_string().contains("in main")));
    let job = preemptive::detach(|| {
        preemptive::run_in_main(|| {
            let (p, r) = lwt_core::wait::<u8>();
            drop(r);
            p
        })
    });
    assert!(main::run(job).unwrap().is_err());
    assert_eq!(main::run(preemptive::detach(|| 5)).unwrap(), 5);
}

#[test]
fn a_loop_thread_that_exits_with_jobs_out_leaves_their_promises_pending() {
    // Found while writing preemptive_stress: the resolvers of the jobs still out were dropped
    // with the thread's locals, rejecting the promises `Abandoned` and running their callbacks
    // during the thread's teardown (a callback that used the loop, `main::pause()` say, then
    // panicked and the default async exception hook ended the process). The engine leaves its
    // own pending promises pending at thread exit; the jobs' promises now do too.
    let _turn = one_at_a_time();
    let ran = Arc::new(AtomicBool::new(false));
    let (r1, r2) = (ran.clone(), ran.clone());
    let (release, hold) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let job = preemptive::detach(move || {
            let _ = hold.recv(); // still running when the thread exits
        });
        job.on_any(
            move |_| r1.store(true, Ordering::SeqCst),
            move |_| r2.store(true, Ordering::SeqCst),
        );
    })
    .join()
    .unwrap();
    drop(release);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a callback of the job's promise ran during the thread's teardown"
    );
}

/// Lwt serves `run_in_main` from any thread; here a thread the job starts reaches the job's
/// loop through a `MainHandle` (review, session 33: it got an error), while the job waits.
#[test]
fn a_thread_a_job_starts_reaches_the_loop_through_a_main_handle() {
    let _turn = one_at_a_time();
    let p = preemptive::detach(|| {
        let handle = preemptive::main_handle().expect("inside a job");
        let helper = std::thread::spawn(move || {
            (
                preemptive::run_in_main(|| lwt_core::Promise::ret(0)) == Err(MainError::NotInJob),
                handle.run_in_main(|| main::pause().map(|()| 41)),
            )
        });
        helper.join().unwrap()
    });
    let (plain_call_failed, answer) = main::run(p).unwrap();
    assert!(plain_call_failed); // the helper thread is not a worker
    assert_eq!(answer, Ok(41));
}

/// A handle kept past its loop's thread fails instead of blocking.
#[test]
fn a_main_handle_fails_once_its_loop_thread_has_exited() {
    let _turn = one_at_a_time();
    let handle = std::thread::spawn(|| {
        main::run(preemptive::detach(|| preemptive::main_handle().unwrap())).unwrap()
    })
    .join()
    .unwrap();
    let answer = handle.run_in_main(|| lwt_core::Promise::ret(1));
    assert_eq!(answer, Err(MainError::LoopGone));
}

/// Found in review (rev61, session 36): every `MainError` began "rejected in the main loop:",
/// also when nothing ran on the loop at all.
#[test]
fn a_run_in_main_that_ran_nothing_does_not_say_rejected() {
    let _turn = one_at_a_time();
    let e = preemptive::run_in_main(|| lwt_core::Promise::ret(1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "run_in_main called outside a job started by preemptive::detach"
    );
    let handle = main::run(preemptive::detach(|| preemptive::main_handle().unwrap())).unwrap();
    let e = handle
        .run_in_main(|| lwt_core::Promise::ret(1))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "run_in_main called on the main loop's own thread, which it would block"
    );
}

/// Found in review (rev72, session 37): `MainError::Rejected` held the rejection's message
/// only, so a worker could not tell a cancellation from a failure, nor read an I/O error's
/// kind, number or cause. It holds an `ExnSnapshot`.
#[test]
fn a_rejection_in_main_keeps_its_cancellation_kind_and_sources() {
    use std::error::Error;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("opening the log")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    let _turn = one_at_a_time();
    let job = preemptive::detach(|| {
        let canceled = preemptive::run_in_main(|| {
            let (p, _r) = lwt_core::task::<u8>();
            p.cancel();
            p
        });
        let failed = preemptive::run_in_main(|| {
            lwt_core::Promise::<u8>::fail(Outer(std::io::Error::from_raw_os_error(2)))
        });
        (canceled, failed)
    });
    let (canceled, failed) = main::run(job).unwrap();
    let Err(MainError::Rejected(canceled)) = canceled else {
        panic!("{canceled:?}")
    };
    assert!(canceled.is_canceled());
    let e = failed.unwrap_err();
    let MainError::Rejected(rejection) = &e else {
        panic!("{e:?}")
    };
    assert!(!rejection.is_canceled());
    // The rejection's message is in the error's own; its cause is the error's source.
    assert_eq!(e.to_string(), "rejected in the main loop: opening the log");
    let cause = e.source().expect("the OS error as the source");
    let cause = cause.downcast_ref::<lwt_core::ExnSnapshot>().unwrap();
    assert_eq!(cause.raw_os_error(), Some(2));
    assert_eq!(cause.kind(), Some(std::io::ErrorKind::NotFound));
}
