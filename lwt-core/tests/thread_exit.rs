//! A thread that ends with work still registered on its loop (an exit hook it never ran, a
//! pause, an async task) must not run callbacks while its thread-locals are destroyed: a callback
//! that uses the loop there panics ("cannot access a Thread Local Storage value during or after
//! destruction"), which aborts the process when `main` returns. Each test ends a thread in such a
//! state, with a callback waiting on the leftover work that would use the loop, and checks that
//! the thread ended cleanly and that the callback did not run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lwt_core::future::spawn_local;
use lwt_core::{hook, main, wait, Promise};

/// Runs `body` on a new thread, then checks the thread ended without a panic and that the
/// callback `body` attached (through the counter it is given) never ran.
fn ends_quietly(body: impl FnOnce(Arc<AtomicUsize>) + Send + 'static) {
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    let thread = std::thread::spawn(move || {
        // Makes the engine and the resolution loop before anything else, as a program would,
        // so that they are destroyed after the thread-locals the test leaves work in.
        main::run(main::pause()).unwrap();
        body(seen)
    });
    assert!(thread.join().is_ok(), "the thread panicked while it ended");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a callback ran during the thread's teardown"
    );
}

/// A callback that counts its run and then uses the loop, as most callbacks do.
fn uses_the_loop(p: &Promise<()>, seen: Arc<AtomicUsize>) {
    p.on_termination(move || {
        seen.fetch_add(1, Ordering::SeqCst);
        drop(main::pause()); // dropping a promise does not cancel it: the pause stays
    });
}

#[test]
fn an_exit_hook_never_run_is_left_alone_when_its_thread_ends() {
    ends_quietly(|seen| {
        let (p, r) = wait::<()>();
        uses_the_loop(&p, seen);
        main::at_exit(move || {
            r.wakeup(());
            lwt_core::return_unit()
        });
    });
}

#[test]
fn an_async_task_still_pending_is_left_alone_when_its_thread_ends() {
    ends_quietly(|seen| {
        let (never, _keep) = wait::<()>();
        std::mem::forget(_keep);
        let task = spawn_local(async move {
            let _ = never.await;
        });
        uses_the_loop(&task, seen);
        main::run(main::pause()).unwrap();
        assert!(task.is_pending());
    });
}

#[test]
fn pauses_left_by_a_panicking_hook_are_left_alone_when_their_thread_ends() {
    ends_quietly(|seen| {
        let _previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
        let first = main::pause();
        first.on_success(|_| panic!("observer"));
        let second = main::pause();
        uses_the_loop(&second, seen);
        let third = main::pause();
        assert!(catch_unwind(AssertUnwindSafe(|| main::run(third))).is_err());
        assert!(second.is_pending());
        // `second` and `run`'s own pause, which the panic interrupted before they were woken.
        assert_eq!(
            main::paused_count(),
            2,
            "the pauses left behind still count"
        );
    });
}
