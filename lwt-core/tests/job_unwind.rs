//! A panic that escapes a callback job (only an async exception hook that itself panics can
//! make one) reaches the caller of `wakeup`, `cancel` or `run`, but only once every callback
//! the resolution reached has run: no callback is skipped, no queued job is lost, and no
//! promise is left resolved with callbacks that never run (which made every later callback of
//! it wait for ever).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use lwt_core::{hook, main, task, wait, Promise};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn push(l: &Log, s: &'static str) -> impl FnOnce(&u8) + 'static {
    let l = l.clone();
    move |_| l.borrow_mut().push(s)
}

/// Runs `f` with an async exception hook that panics; returns that panic's message, if one
/// reached `f`'s caller.
fn with_panicking_hook(f: impl FnOnce()) -> Option<String> {
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
    let caught = catch_unwind(AssertUnwindSafe(f));
    hook::restore_async_exception_hook(previous);
    caught.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "?".into())
    })
}

#[test]
fn the_callbacks_after_a_panicking_one_run_before_the_panic_goes_on() {
    let l: Log = Rc::default();
    let (p, r) = wait::<u8>();
    p.on_success(push(&l, "first"));
    p.on_success(|_| panic!("observer"));
    p.on_success(push(&l, "third"));
    let panic = with_panicking_hook(|| r.wakeup(1));
    assert_eq!(panic.as_deref(), Some("hook: panicked: observer"));
    assert_eq!(*l.borrow(), ["first", "third"]);
    // The promise is idle again: a callback added now runs at once.
    p.on_success(push(&l, "late"));
    assert_eq!(*l.borrow(), ["first", "third", "late"]);
}

#[test]
fn the_caller_hears_of_the_first_panic_and_every_callback_runs() {
    let l: Log = Rc::default();
    let (p, r) = wait::<u8>();
    p.on_success(|_| panic!("one"));
    p.on_success(push(&l, "between"));
    p.on_success(|_| panic!("two"));
    p.on_success(push(&l, "last"));
    let panic = with_panicking_hook(|| r.wakeup(1));
    assert_eq!(panic.as_deref(), Some("hook: panicked: one"));
    assert_eq!(*l.borrow(), ["between", "last"]);
}

/// A `wakeup` inside a callback drains its own nested queue; a panic there used to drop the
/// queue of the callback it interrupted, so the jobs queued before it never ran.
#[test]
fn a_panic_in_a_nested_wakeup_loses_no_job_of_the_outer_queue() {
    let l: Log = Rc::default();
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let (c, rc) = wait::<u8>();
    let (inner, rinner) = wait::<u8>();
    inner.on_success(|_| panic!("inner observer"));
    inner.on_success(push(&l, "inner after"));
    b.on_success(push(&l, "b"));
    c.on_success(push(&l, "c"));
    a.on_success(move |_| {
        // Queued behind this callback: b's and c's jobs.
        rb.wakeup_later(2);
        rc.wakeup_later(3);
        // Runs inner's callbacks nested, now.
        rinner.wakeup(4);
    });
    let panic = with_panicking_hook(|| ra.wakeup(1));
    // The hook's panic left `wakeup` inside a's observer, which is a callback too: the hook
    // heard of that one in turn.
    assert_eq!(
        panic.as_deref(),
        Some("hook: panicked: hook: panicked: inner observer")
    );
    assert_eq!(*l.borrow(), ["inner after", "b", "c"]);
}

#[test]
fn a_bind_after_a_panicking_observer_still_resolves() {
    let (p, r) = wait::<u8>();
    p.on_success(|_| panic!("observer"));
    let doubled: Promise<u8> = p.map(|x| x * 2);
    let panic = with_panicking_hook(|| r.wakeup(21));
    assert!(panic.is_some());
    assert_eq!(main::run(doubled), Ok(42));
}

#[test]
fn a_cancel_whose_callback_reaches_a_panicking_hook_still_cancels_everything() {
    let l: Log = Rc::default();
    let (t, _r) = task::<u8>();
    let l1 = l.clone();
    t.on_cancel(move || l1.borrow_mut().push("first on_cancel"));
    t.on_failure(|_| panic!("observer"));
    let l2 = l.clone();
    t.on_cancel(move || l2.borrow_mut().push("second on_cancel"));
    let after = t.clone().catch(|_| Promise::ret(0));
    let panic = with_panicking_hook(|| t.cancel());
    assert!(panic.is_some());
    assert_eq!(*l.borrow(), ["first on_cancel", "second on_cancel"]);
    assert_eq!(main::run(after), Ok(0));
}

#[test]
fn run_goes_on_after_a_panic_escaped_it() {
    let l: Log = Rc::default();
    let panic = with_panicking_hook(|| {
        let timer = lwt_core::unix::sleep_secs(0.0);
        timer.on_success(|()| panic!("in the loop"));
        let after = timer.map(|()| 1u8);
        let _ = main::run(after);
        unreachable!("the panic comes first");
    });
    assert_eq!(panic.as_deref(), Some("hook: panicked: in the loop"));
    let (p, r) = wait::<u8>();
    p.on_success(push(&l, "next run"));
    r.wakeup_later(1);
    assert_eq!(main::run(p), Ok(1));
    assert_eq!(*l.borrow(), ["next run"]);
}

/// Found in review: after a panic in a nested drain, the rest of the job that made the `wakeup`
/// ran before what the nested drain had not run, though without the panic the `wakeup` runs
/// those before it returns.
#[test]
fn after_a_nested_panic_the_nested_leftovers_run_before_the_outer_jobs_rest() {
    let l: Log = Rc::default();
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    b.on_success(|_| panic!("b observer"));
    b.on_success(push(&l, "b after"));
    a.on_success(move |_| rb.wakeup(2));
    a.on_success(push(&l, "a after"));
    let panic = with_panicking_hook(|| ra.wakeup(1));
    assert!(panic.is_some());
    assert_eq!(*l.borrow(), ["b after", "a after"]);
}
