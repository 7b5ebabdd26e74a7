//! Found in review (session 30): lowering the pool's maximum with `set_bounds` did not apply
//! while the threads above it existed, since any idle thread took the next job and only 10 idle
//! seconds ended one: under a steady load, 8 jobs still ran at once after `set_bounds(0, 1)`.
//! Lwt's workers above the maximum exit after their job, so the new bound holds from the next
//! batch. Its own process: the pool is global.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lwt_core::{all, main, preemptive};

/// Runs `n` jobs of 30 ms at once and returns how many ran at the same time, at most.
fn batch(n: usize) -> usize {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let jobs = (0..n)
        .map(|_| {
            let (running, most) = (running.clone(), most.clone());
            preemptive::detach(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect::<Vec<_>>();
    main::run(all(jobs)).unwrap();
    most.load(Ordering::SeqCst)
}

#[test]
fn a_lowered_maximum_holds_from_the_next_batch() {
    preemptive::set_bounds(0, 8).unwrap();
    // Eight threads now exist (the peak is a timing matter: not asserted).
    let first = batch(8);
    assert!(first <= 8, "{first} jobs at once under a maximum of 8");
    preemptive::set_bounds(0, 2).unwrap();
    // Without the fix: 8, 8, 8 (all within 10 s of each other).
    for round in 0..3 {
        let most = batch(8);
        assert!(
            most <= 2,
            "round {round}: {most} jobs ran at once after set_bounds(0, 2)"
        );
    }

    // The counts (Lwt's nbthreads, nbthreadsbusy, nbthreadsqueued), with five jobs held at a
    // gate: two run, three wait for a thread. (In this test so that no other test's jobs share
    // the pool meanwhile.)
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let jobs = (0..5)
        .map(|_| {
            let gate = gate.clone();
            preemptive::detach(move || {
                let (open, opened) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = opened.wait(open).unwrap();
                }
            })
        })
        .collect::<Vec<_>>();
    // A thread of the last batch may still be on its way back from its job (busy, and not
    // yet idle for the next one): the counts settle once both threads hold a gated job.
    let counts = || {
        (
            preemptive::thread_count(),
            preemptive::busy_thread_count(),
            preemptive::queued_job_count(),
        )
    };
    let start = std::time::Instant::now();
    while counts() != (2, 2, 3) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(counts(), (2, 2, 3));
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    main::run(all(jobs)).unwrap();
    assert_eq!(preemptive::queued_job_count(), 0);
}
