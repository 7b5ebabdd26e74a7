//! A panicking async exception hook that unwinds out of the middle of the runtime's own work
//! (found in review, session 26). `hook.rs` promises that such a panic reaches the caller only
//! once every other callback the resolution reached has run, and that the promises stay usable:
//!
//! * a combinator canceling its losers still resolves its result (it stayed pending for ever);
//! * a loop over several resolvers (`Condition::broadcast`) still resolves the ones after the
//!   panic (they were dropped, their promises rejected `Abandoned`);
//! * a job cut short goes back to the head of the queue even after an earlier panic was caught
//!   (a stale count put it behind jobs queued after it).
//!
//! Lwt 5.6.1 leaves a pending `pick` result and an unwoken `broadcast` waiter in the first two
//! cases: an exception from its hook escapes halfway.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use lwt_core::combinators::{all_fail_fast, npick, pick};
use lwt_core::io::OutputChannel;
use lwt_core::sync::Condition;
use lwt_core::{hook, main, task, unix, wait, Promise, State};

/// Runs `f` with a hook that panics; returns whether a panic reached the caller.
fn with_panicking_hook(f: impl FnOnce()) -> bool {
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
    let caught = catch_unwind(AssertUnwindSafe(f));
    hook::restore_async_exception_hook(previous);
    caught.is_err()
}

type Log = Rc<RefCell<Vec<&'static str>>>;

fn push(l: &Log, s: &'static str) -> impl FnOnce(&u8) + 'static {
    let l = l.clone();
    move |_| l.borrow_mut().push(s)
}

/// A loser whose rejection observer panics (so its cancellation reaches the hook).
fn touchy_loser() -> (Promise<u8>, lwt_core::Resolver<u8>) {
    let (p, r) = task::<u8>();
    p.on_failure(|_| panic!("loser observer"));
    (p, r)
}

#[test]
fn pick_resolves_its_result_when_the_hook_panics_while_losers_are_canceled() {
    let (winner, rw) = task::<u8>();
    let (loser, _rl) = touchy_loser();
    let result = pick(vec![winner, loser.clone()]);
    let after = result.clone().map(|v| v + 1);
    assert!(
        with_panicking_hook(|| rw.wakeup(1)),
        "the hook's panic reaches wakeup's caller"
    );
    assert!(loser.rejection().unwrap().is_canceled());
    assert_eq!(result.state(), State::Fulfilled(1), "pick's result");
    assert_eq!(after.state(), State::Fulfilled(2));
}

#[test]
fn npick_resolves_its_result_when_the_hook_panics_while_losers_are_canceled() {
    let (winner, rw) = task::<u8>();
    let (loser, _rl) = touchy_loser();
    let result = npick(vec![winner, loser.clone()]);
    assert!(with_panicking_hook(|| rw.wakeup(1)));
    assert!(loser.rejection().unwrap().is_canceled());
    assert_eq!(result.state(), State::Fulfilled(vec![1]), "npick's result");
}

#[test]
fn all_fail_fast_resolves_its_result_when_the_hook_panics_while_the_rest_is_canceled() {
    let (failing, rf) = task::<u8>();
    let (other, _ro) = touchy_loser();
    let result = all_fail_fast(vec![failing, other.clone()]);
    assert!(with_panicking_hook(
        || rf.wakeup_exn(lwt_core::Exn::failure("first"))
    ));
    assert!(other.rejection().unwrap().is_canceled());
    assert_eq!(
        result.rejection().map(|e| e.to_string()).as_deref(),
        Some("first"),
        "all_fail_fast's result: {:?}",
        result.is_pending()
    );
}

/// The same inside `main::run`: the run's promise is the pick's continuation. The panic goes
/// to `run`'s caller; a second `run` of the result must then find it resolved (it reports
/// that nothing can make progress instead).
#[test]
fn a_run_on_pick_after_the_hook_panicked_in_the_loop() {
    let (loser, _rl) = touchy_loser();
    let winner = lwt_core::unix::sleep_secs(0.0).map(|()| 7u8);
    let result = pick(vec![winner, loser]);
    let r2 = result.clone();
    assert!(with_panicking_hook(|| {
        let _ = lwt_core::main::run(r2);
    }));
    let again = catch_unwind(AssertUnwindSafe(|| lwt_core::main::run(result)));
    assert!(
        matches!(again, Ok(Ok(7))),
        "second run: {:?}",
        again.map(|r| r.map_err(|e| e.to_string()))
    );
}

#[test]
fn broadcast_wakes_every_waiter_even_if_the_hook_panics_for_the_first() {
    let c = Condition::<u8>::new();
    let first = c.wait(None);
    let second = c.wait(None);
    first.on_success(|_| panic!("first observer"));
    assert!(with_panicking_hook(|| c.broadcast(3)));
    assert_eq!(first.state(), State::Fulfilled(3));
    assert_eq!(
        second.state(),
        State::Fulfilled(3),
        "second waiter: {:?}",
        second.rejection().map(|e| e.to_string())
    );
}

#[test]
fn a_job_cut_short_goes_back_to_the_head_of_the_queue_after_an_earlier_caught_panic() {
    let l: Log = Rc::default();
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let (y, ry) = wait::<u8>();
    let (z, rz) = wait::<u8>();
    b.on_success(|_| panic!("b observer"));
    b.on_success(push(&l, "b after"));
    y.on_success(|_| panic!("y observer"));
    y.on_success(push(&l, "y after"));
    z.on_success(push(&l, "z"));
    // a's first callback wakes b nested; the hook's panic there is caught by `map`'s guard.
    let caught = a.clone().map(move |_| {
        rb.wakeup(1);
        0u8
    });
    // a's second callback queues y, then z.
    a.on_success(move |_| {
        ry.wakeup_later(1);
        rz.wakeup_later(1);
    });
    assert!(with_panicking_hook(|| ra.wakeup(1)));
    assert!(caught.is_rejected());
    // y was cut short before z ran: the rest of y comes first (as in
    // `the_callbacks_after_a_panicking_one_run_before_the_panic_goes_on`).
    assert_eq!(*l.borrow(), ["b after", "y after", "z"]);
}

// ---- The same for other loops over resolvers, and for several panicking losers (review of
// the fix above).

/// Fd::close rejects every wait pending on the descriptor; a panicking hook for the first
/// must not leave the second `Abandoned` (the pattern `broadcast` was fixed for).
#[test]
fn fd_close_rejects_every_waiter_even_if_the_hook_panics_for_the_first() {
    let (r, _w) = unix::pipe().unwrap();
    let first = r.wait_read();
    let second = r.wait_read();
    main::run(main::pause()).unwrap();
    assert!(first.is_pending() && second.is_pending());
    first.on_failure(|_| panic!("first observer"));
    assert!(with_panicking_hook(|| {
        let _ = r.close();
    }));
    let e = second.rejection().expect("second rejected");
    assert_eq!(
        e.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(ErrorKind::NotConnected),
        "second waiter: {e}"
    );
}

/// OutputChannel::abort rejects every `flushed` waiter with ChannelClosed; same pattern.
#[test]
fn output_abort_rejects_every_flushed_waiter_even_if_the_hook_panics_for_the_first() {
    let (_r, w) = unix::pipe().unwrap();
    let oc = OutputChannel::with_buffer_size(w.clone(), 16);
    let writing = oc.write(vec![b'x'; 200_000]);
    main::run(main::pause()).unwrap();
    assert!(writing.is_pending(), "the pipe holds less");
    let first = oc.flushed();
    let second = oc.flushed();
    assert!(first.is_pending() && second.is_pending());
    first.on_failure(|_| panic!("first observer"));
    assert!(with_panicking_hook(|| drop(oc.abort())));
    let e = second.rejection().expect("second rejected");
    assert!(e.is::<lwt_core::io::ChannelClosed>(), "second waiter: {e}");
}

/// pick with two touchy losers: the rest of each loser's callbacks run in the order the
/// losers were canceled (as without the panic).
#[test]
fn pick_two_touchy_losers_order() {
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let (winner, rw) = task::<u8>();
    let (l1, _r1) = task::<u8>();
    let (l2, _r2) = task::<u8>();
    l1.on_failure(|_| panic!("l1 observer"));
    let lg = log.clone();
    l1.on_failure(move |_| lg.borrow_mut().push("l1 after"));
    l2.on_failure(|_| panic!("l2 observer"));
    let lg = log.clone();
    l2.on_failure(move |_| lg.borrow_mut().push("l2 after"));
    let result = pick(vec![winner, l1, l2]);
    assert!(with_panicking_hook(|| rw.wakeup(1)));
    assert_eq!(result.state(), State::Fulfilled(1));
    assert_eq!(*log.borrow(), ["l1 after", "l2 after"]);
}
