//! `unix::signal` (Lwt_unix's `on_signal`). Each test uses a signal of its own: a signal reaches
//! every handler of the process, and the tests of this file run on parallel threads. The test
//! that needs the default action back runs in a child process.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use lwt_core::unix::{self, signal};
use lwt_core::{hook, main, wait};

#[path = "support/escaped.rs"]
mod escaped;

use escaped::turn_until;

/// Turns the loop until `done`, for at most 5 s.
fn run_until(done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "hang");
        main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    }
}

#[test]
fn handlers_run_in_registration_order_once_per_signal_until_disabled() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    let first = signal::on_signal(signal::SIGUSR1, move |n| a.borrow_mut().push(("a", n))).unwrap();
    let second =
        signal::on_signal(signal::SIGUSR1, move |n| b.borrow_mut().push(("b", n))).unwrap();
    assert_eq!(signal::signal_count(), 2);
    assert_eq!(first.signal(), signal::SIGUSR1);
    signal::raise(signal::SIGUSR1).unwrap();
    run_until(|| log.borrow().len() == 2);
    assert_eq!(
        *log.borrow(),
        [("a", signal::SIGUSR1), ("b", signal::SIGUSR1)]
    );
    first.disable();
    first.disable(); // again: nothing
    assert_eq!(signal::signal_count(), 1);
    signal::raise(signal::SIGUSR1).unwrap();
    run_until(|| log.borrow().len() == 3);
    assert_eq!(log.borrow()[2], ("b", signal::SIGUSR1));
    signal::disable_signal_handler(second);
    assert_eq!(signal::signal_count(), 0);
}

#[test]
fn a_signal_sent_from_another_thread_wakes_a_loop_waiting_for_it() {
    // The graceful stop of a server: the loop sleeps in its poll until the signal comes.
    let (stop, r) = wait::<i32>();
    let mut r = Some(r);
    let handler = signal::on_signal(signal::SIGUSR2, move |n| {
        if let Some(r) = r.take() {
            r.wakeup(n);
        }
    })
    .unwrap();
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        signal::raise(signal::SIGUSR2).unwrap();
    });
    let got = main::run(unix::with_timeout(Duration::from_secs(5), move || stop));
    sender.join().unwrap();
    assert_eq!(got.unwrap(), signal::SIGUSR2);
    handler.disable();
}

#[test]
fn signals_that_cannot_be_handled_are_errors() {
    for signum in [9, 19, 11, 7, 4, 8] {
        // SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE
        let e = signal::on_signal(signum, |_| ()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{signum}: {e}");
        assert!(e.to_string().contains("cannot be handled"), "{e}");
    }
    for not_a_signal in [0, -1, 65, 100_000] {
        let e = signal::on_signal(not_a_signal, |_| ()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            format!("unix::on_signal: {not_a_signal} is not a signal number")
        );
    }
    // One glibc keeps for itself: the system's error, saying which call and signal.
    let e = signal::on_signal(32, |_| ()).unwrap_err();
    assert!(e.to_string().starts_with("unix::on_signal(32): "), "{e}");
    assert_eq!(signal::signal_count(), 0);
}

#[test]
fn a_handler_that_panics_goes_to_the_hook_and_the_next_still_runs() {
    let reported = Rc::new(RefCell::new(Vec::new()));
    let r = reported.clone();
    let previous = hook::set_async_exception_hook(move |e| r.borrow_mut().push(e.to_string()));
    let ran = Rc::new(Cell::new(false));
    let ran2 = ran.clone();
    let panicking = signal::on_signal(signal::SIGALRM, |_| panic!("handler broke")).unwrap();
    let next = signal::on_signal(signal::SIGALRM, move |_| ran2.set(true)).unwrap();
    signal::raise(signal::SIGALRM).unwrap();
    run_until(|| ran.get());
    hook::restore_async_exception_hook(previous);
    assert_eq!(reported.borrow().len(), 1);
    assert!(
        reported.borrow()[0].contains("handler broke"),
        "{reported:?}"
    );
    panicking.disable();
    next.disable();
}

/// Found in review (rev126): a hook that panics (a test's, say) unwound out of the function of
/// the `bind` that reads the signal pipe: the panic became that reading's rejection, which nobody
/// sees, so it never reached the caller of the loop; the functions after the panicking one were
/// skipped; and the reading was over, so no later signal was delivered to any handler of the
/// signal on this thread, though they stayed registered (the default action off). Now the panic
/// goes on to the caller of `run` once the batch is delivered, as a hook's panic in any callback
/// does, and the pipe is read on.
#[test]
fn a_panicking_hook_reaches_the_caller_and_the_signal_is_still_delivered() {
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
    let calls = Rc::new(Cell::new(0));
    let after = Rc::new(Cell::new(0));
    let c = calls.clone();
    let a = after.clone();
    let panicking = signal::on_signal(signal::SIGWINCH, move |_| {
        c.set(c.get() + 1);
        panic!("handler broke");
    })
    .unwrap();
    let next = signal::on_signal(signal::SIGWINCH, move |_| a.set(a.get() + 1)).unwrap();
    let mut escaped = Vec::new();
    for round in 1..=2 {
        signal::raise(signal::SIGWINCH).unwrap();
        escaped.extend(turn_until(&format!("signal {round}"), |_| {
            after.get() >= round
        }));
    }
    hook::restore_async_exception_hook(previous);
    panicking.disable();
    next.disable();
    assert_eq!((calls.get(), after.get()), (2, 2));
    assert_eq!(escaped.len(), 2, "{escaped:?}");
    assert!(escaped[0].contains("handler broke"), "{escaped:?}");
}

#[test]
fn a_handler_may_disable_itself_and_register_others() {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let c = calls.clone();
    signal::on_signal_full(signal::SIGHUP, move |me, _| {
        c.borrow_mut().push("first");
        me.disable();
        let c2 = c.clone();
        // Registered from inside a delivery: called from the next signal on.
        signal::on_signal_full(signal::SIGHUP, move |me, _| {
            c2.borrow_mut().push("second");
            me.disable();
        })
        .unwrap();
    })
    .unwrap();
    signal::raise(signal::SIGHUP).unwrap();
    run_until(|| !calls.borrow().is_empty());
    assert_eq!(signal::signal_count(), 1);
    signal::raise(signal::SIGHUP).unwrap();
    run_until(|| signal::signal_count() == 0);
    assert_eq!(*calls.borrow(), ["first", "second"]);
}

/// Found in review (session 31): ids were numbered per thread, so disabling another thread's
/// handler disabled this thread's handler of the same number.
#[test]
fn disabling_another_threads_handler_does_nothing_here() {
    let theirs = std::thread::spawn(|| signal::on_signal(41, |_| ()).unwrap())
        .join()
        .unwrap();
    let mine = signal::on_signal(41, |_| ()).unwrap();
    assert_eq!(signal::signal_count(), 1);
    signal::disable_signal_handler(theirs);
    assert_eq!(
        signal::signal_count(),
        1,
        "this thread's handler is still there"
    );
    mine.disable();
    assert_eq!(signal::signal_count(), 0);
}

/// Found in review (session 31): a real-time signal, which signal-hook's table of default
/// actions does not name, was refused (`EINVAL`); Lwt handles it.
#[test]
fn a_real_time_signal_is_handled() {
    let rt = 40; // between SIGRTMIN and SIGRTMAX on Linux
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let handler = signal::on_signal(rt, move |n| {
        assert_eq!(n, rt);
        c.set(c.get() + 1);
    })
    .unwrap();
    signal::raise(rt).unwrap();
    run_until(|| calls.get() == 1);
    handler.disable();
}

/// Found in review (session 31): the signals caught before the loop turned were merged into one
/// call; Lwt calls the handler once per signal caught, and so does this crate now.
#[test]
fn each_signal_caught_is_a_call() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let handler = signal::on_signal(signal::SIGQUIT, move |_| c.set(c.get() + 1)).unwrap();
    for _ in 0..3 {
        // Each is caught (a byte written) before the next is sent.
        signal::raise(signal::SIGQUIT).unwrap();
    }
    run_until(|| calls.get() >= 3);
    main::run(unix::sleep(Duration::from_millis(20))).unwrap();
    handler.disable();
    assert_eq!(calls.get(), 3);
}

const CHILD: &str = "LWT_CORE_SIGNALS_CHILD";

#[test]
fn the_default_action_comes_back_with_the_last_handler() {
    const NAME: &str = "the_default_action_comes_back_with_the_last_handler";
    if std::env::var_os(CHILD).is_some() {
        let handled = Rc::new(Cell::new(false));
        let h = handled.clone();
        let handler = signal::on_signal(signal::SIGTERM, move |_| h.set(true)).unwrap();
        signal::raise(signal::SIGTERM).unwrap();
        run_until(|| handled.get());
        println!("@handled");
        handler.disable();
        signal::raise(signal::SIGTERM).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        println!("@survived");
        return;
    }
    let (stdout, signaled) = child(NAME);
    assert!(stdout.contains("@handled"), "{stdout}");
    assert!(!stdout.contains("@survived"), "{stdout}");
    assert_eq!(signaled, Some(signal::SIGTERM));
}

#[test]
fn a_thread_that_ends_with_a_handler_gives_the_default_action_back() {
    const NAME: &str = "a_thread_that_ends_with_a_handler_gives_the_default_action_back";
    if std::env::var_os(CHILD).is_some() {
        std::thread::spawn(|| {
            signal::on_signal(signal::SIGTERM, |_| ()).unwrap();
            main::run(unix::sleep(Duration::from_millis(1))).unwrap();
            println!("@registered");
        })
        .join()
        .unwrap();
        // The thread is gone, and its handler with it.
        signal::raise(signal::SIGTERM).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        println!("@survived");
        return;
    }
    let (stdout, signaled) = child(NAME);
    assert!(stdout.contains("@registered"), "{stdout}");
    assert!(!stdout.contains("@survived"), "{stdout}");
    assert_eq!(signaled, Some(signal::SIGTERM));
}

/// Found in review (rev45, session 34): a handler's panic, with no async exception hook, ended
/// the process saying "unhandled error in a detached callback", which does not tell the user to
/// look at the signal handlers. It names the handler's signal now.
#[test]
fn a_panicking_handler_without_a_hook_exits_naming_its_signal() {
    const NAME: &str = "a_panicking_handler_without_a_hook_exits_naming_its_signal";
    if std::env::var_os(CHILD).is_some() {
        signal::on_signal(signal::SIGTERM, |_| panic!("handler broke")).unwrap();
        signal::raise(signal::SIGTERM).unwrap();
        // Only the default hook ends this.
        let _ = main::run(unix::sleep(Duration::from_secs(10)));
        println!("@not exited");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("@not exited"), "{stdout}");
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("lwt: unhandled error in a signal handler (signal 15, SIGTERM): ")
            && stderr.contains("handler broke"),
        "stderr: {stderr}"
    );
}

/// Runs the test `name` in a child process: its output, and the signal that ended it.
fn child(name: &str) -> (String, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.signal(),
    )
}

/// Found in review (rev45, session 34): a handler that disabled the last handler of its signal
/// and registered a new one, in a delivery with more signals caught, had the new handler called
/// for the old pipe's remaining signals, caught before it existed. Lwt drops them.
#[test]
fn signals_caught_before_a_handler_is_registered_are_not_its_calls() {
    let sig = 39;
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let successor = Rc::new(Cell::new(None));
    let s = successor.clone();
    signal::on_signal_full(sig, move |me, _| {
        l.borrow_mut().push("first");
        me.disable();
        let l2 = l.clone();
        s.set(Some(
            signal::on_signal(sig, move |_| l2.borrow_mut().push("successor")).unwrap(),
        ));
    })
    .unwrap();
    for _ in 0..3 {
        signal::raise(sig).unwrap();
    }
    run_until(|| !log.borrow().is_empty());
    main::run(unix::sleep(Duration::from_millis(20))).unwrap();
    successor.get().unwrap().disable();
    assert_eq!(*log.borrow(), ["first"]);
    assert_eq!(signal::signal_count(), 0);
}
