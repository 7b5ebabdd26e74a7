//! `main::run` and a `MainHandle` held by another thread (found by review, rev54, session 35):
//! a detached job that hands `preemptive::main_handle()` to a thread of its own, then returns,
//! left nothing the stuck check counted, so `run` failed at once with "nothing can resolve it",
//! and the thread's `run_in_main` was never answered. Lwt's `run` waits, and the thread's
//! request resolves the promise 300 ms later.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::cell::RefCell;

use lwt_core::{main, preemptive, wait, Promise, Resolver};

thread_local! {
    /// The resolver of the promise `run` waits for, on the loop's thread, where the request
    /// posted through the handle runs.
    static RESOLVER: RefCell<Option<Resolver<u32>>> = const { RefCell::new(None) };
}

#[test]
fn run_waits_for_a_thread_that_holds_a_main_handle() {
    let (p, r) = wait::<u32>();
    RESOLVER.with(|slot| *slot.borrow_mut() = Some(r));
    let (answered, answer) = mpsc::channel();
    let job = preemptive::detach(move || {
        let handle = preemptive::main_handle().expect("a handle on a worker");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let done = handle.run_in_main(|| {
                if let Some(r) = RESOLVER.with(|slot| slot.borrow_mut().take()) {
                    r.wakeup(7);
                }
                Promise::ret(())
            });
            let _ = answered.send(done.is_ok());
        });
    });
    main::run(job).unwrap();
    assert_eq!(main::run(p).unwrap(), 7);
    assert_eq!(answer.recv_timeout(Duration::from_secs(5)), Ok(true));
}

#[test]
fn run_reports_once_the_last_handle_is_dropped_unused() {
    let (p, _r) = wait::<()>();
    let job = preemptive::detach(|| {
        let handle = preemptive::main_handle().expect("a handle on a worker");
        let copy = handle.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(handle);
            std::thread::sleep(Duration::from_millis(100));
            drop(copy);
        });
    });
    main::run(job).unwrap();
    let start = Instant::now();
    let e = main::run(p).unwrap_err();
    assert!(e.to_string().contains("nothing can resolve it"), "{e}");
    // The handles go after 200 ms; the loop looks again every second.
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
