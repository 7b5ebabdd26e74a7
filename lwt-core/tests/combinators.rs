//! Combinators, cancellation wrappers and detached promises (issue 3).

#[path = "support/log.rs"]
mod log_support;

use log_support::{log, push, taken};

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{
    all, all_fail_fast, async_, both, both_fail_fast, choose, dont_wait, hook, ignore_result, join,
    join_fail_fast, nchoose, nchoose_split, npick, pick, task, wait, Exn, InvalidArgument, Promise,
    State,
};

fn message(p: &Promise<impl Clone + 'static>) -> String {
    p.rejection().expect("rejected").to_string()
}

#[test]
fn join_waits_for_every_input_and_the_first_rejection_in_input_order_wins() {
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<()>();
    let (c, rc) = wait::<()>();
    let j = join(vec![a, b, c]);
    rc.wakeup_exn(Exn::failure("C")); // first in time
    assert_eq!(j.state(), State::Pending);
    rb.wakeup_exn(Exn::failure("B")); // first in input order among the rejections
    assert_eq!(j.state(), State::Pending);
    ra.wakeup(());
    assert_eq!(message(&j), "B");
}

#[test]
fn join_and_all_of_nothing_are_fulfilled_at_once() {
    assert_eq!(join(Vec::new()).state(), State::Fulfilled(()));
    assert_eq!(
        all(Vec::<Promise<u8>>::new()).state(),
        State::Fulfilled(vec![])
    );
}

#[test]
fn all_keeps_input_order_whatever_the_resolution_order() {
    let (ps, rs): (Vec<_>, Vec<_>) = (0..5).map(|_| wait::<usize>()).unzip();
    let a = all(ps);
    for (i, r) in rs.into_iter().enumerate().rev() {
        r.wakeup(i * 10);
    }
    assert_eq!(a.state(), State::Fulfilled(vec![0, 10, 20, 30, 40]));
}

#[test]
fn duplicated_inputs_are_allowed() {
    let (p, r) = wait::<u8>();
    let a = all(vec![p.clone(), p.clone(), Promise::ret(3)]);
    let j = join(vec![p.clone().map(drop), p.map(drop)]);
    r.wakeup(7);
    assert_eq!(a.state(), State::Fulfilled(vec![7, 7, 3]));
    assert_eq!(j.state(), State::Fulfilled(()));
}

#[test]
fn both_pairs_values_of_different_types() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<&str>();
    let p = both(a, b);
    rb.wakeup("x");
    ra.wakeup(1);
    assert_eq!(p.state(), State::Fulfilled((1, "x")));
    let bad = both(
        Promise::<u8>::fail_with("left"),
        Promise::<u8>::fail_with("right"),
    );
    assert_eq!(message(&bad), "left");
}

#[test]
fn fail_fast_forms_reject_at_once_and_cancel_the_rest() {
    let l = log();
    let (slow, _rs) = task::<()>();
    let a = l.clone();
    slow.on_cancel(move || push(&a, "slow canceled"));
    let (failing, rf) = wait::<()>();
    let j = join_fail_fast(vec![slow, failing]);
    rf.wakeup_exn(Exn::failure("boom"));
    assert_eq!(taken(&l), ["slow canceled"]);
    assert_eq!(message(&j), "boom");

    let (t, _r) = task::<u8>();
    let t2 = t.clone();
    let p = all_fail_fast(vec![t, Promise::fail_with("already")]);
    assert_eq!(message(&p), "already");
    assert!(t2.rejection().unwrap().is_canceled());

    let (t, _r) = task::<u8>();
    let (u, ru) = wait::<&str>();
    let p = both_fail_fast(t, u);
    ru.wakeup_exn(Exn::failure("right failed"));
    assert_eq!(message(&p), "right failed");

    let (x, rx) = wait::<u8>();
    let (y, ry) = wait::<u8>();
    let ok = all_fail_fast(vec![x, y]);
    ry.wakeup(2);
    rx.wakeup(1);
    assert_eq!(ok.state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn choose_prefers_a_rejected_input_among_resolved_ones_then_input_order() {
    let p = choose(vec![
        Promise::ret(1),
        Promise::fail_with("bad"),
        Promise::ret(3),
    ]);
    assert_eq!(message(&p), "bad");
    let q = choose(vec![Promise::ret(1), Promise::ret(2)]);
    assert_eq!(q.state(), State::Fulfilled(1));
    let (pending, _r) = wait::<u8>();
    assert_eq!(
        choose(vec![pending, Promise::ret(9)]).state(),
        State::Fulfilled(9)
    );
}

#[test]
fn choose_takes_the_first_to_resolve_and_leaves_the_others() {
    let (a, ra) = task::<u8>();
    let (b, rb) = task::<u8>();
    let a2 = a.clone();
    let c = choose(vec![a, b]);
    rb.wakeup(2);
    assert_eq!(c.state(), State::Fulfilled(2));
    assert!(a2.is_pending());
    ra.wakeup(1);
    assert_eq!(c.state(), State::Fulfilled(2));
}

#[test]
fn empty_inputs_are_rejected_with_invalid_argument() {
    let none = || Vec::<Promise<u8>>::new();
    let results = [
        choose(none()).rejection(),
        pick(none()).rejection(),
        nchoose(none()).map(|_| 0).rejection(),
        npick(none()).map(|_| 0).rejection(),
        nchoose_split(none()).map(|_| 0).rejection(),
    ];
    for (e, name) in
        results
            .into_iter()
            .zip(["choose", "pick", "nchoose", "npick", "nchoose_split"])
    {
        let e = e.expect("rejected, not pending forever");
        let e = e.downcast_ref::<InvalidArgument>().unwrap();
        assert!(e.0.starts_with(name), "{}", e.0);
        assert!(e.0.contains("pending forever"));
    }
}

#[test]
fn pick_cancels_the_losers_before_its_result_continues() {
    let l = log();
    let (a, _ra) = task::<u8>();
    let (b, rb) = task::<u8>();
    let a1 = l.clone();
    a.on_failure(move |e| push(&a1, format!("loser: {e}")));
    let winner = pick(vec![a, b]);
    let a2 = l.clone();
    let after = winner.map(move |v| push(&a2, format!("continuation: {v}")));
    rb.wakeup(5);
    assert_eq!(taken(&l), ["loser: canceled", "continuation: 5"]);
    assert!(after.is_fulfilled());
}

#[test]
fn nchoose_npick_and_nchoose_split() {
    let (a, ra) = task::<u8>();
    let (b, _rb) = task::<u8>();
    let b2 = b.clone();
    let n = nchoose(vec![a, b]);
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1]));
    assert!(b2.is_pending());

    let (c, _rc) = task::<u8>();
    let c2 = c.clone();
    let p = npick(vec![Promise::ret(1), c, Promise::ret(2)]);
    assert_eq!(p.state(), State::Fulfilled(vec![1, 2]));
    assert!(c2.rejection().unwrap().is_canceled());

    let (d, rd) = wait::<u8>();
    let (e, re) = wait::<u8>();
    let s = nchoose_split(vec![d, e]);
    re.wakeup(4);
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    drop(s.map(move |(done, rest)| *o.borrow_mut() = Some((done, rest))));
    let (done, rest) = out.take().unwrap();
    assert_eq!(done, vec![4]);
    assert_eq!(rest.len(), 1);
    rd.wakeup(3);
    assert_eq!(rest[0].state(), State::Fulfilled(3));

    let rejected = nchoose(vec![Promise::ret(1), Promise::fail_with("r")]);
    assert_eq!(message(&rejected.map(|v| v.len())), "r");
}

#[test]
fn canceling_a_combinator_cancels_its_inputs_and_a_diamond_once() {
    let l = log();
    let (t, _r) = task::<()>();
    let a = l.clone();
    t.on_cancel(move || push(&a, "t canceled"));
    let j = join(vec![t.clone(), t.clone(), t.map(|()| ())]);
    j.cancel();
    assert_eq!(taken(&l), ["t canceled"]);
    assert!(j.rejection().unwrap().is_canceled());

    let (x, _rx) = task::<u8>();
    let (y, _ry) = task::<u8>();
    let (x2, y2) = (x.clone(), y.clone());
    let c = choose(vec![x, y]);
    c.cancel();
    assert!(x2.rejection().unwrap().is_canceled() && y2.rejection().unwrap().is_canceled());
    assert!(c.rejection().unwrap().is_canceled());
}

/// A wrapper under test: the function, its name, whether p is cancelable, whether q (else p) is
/// canceled, and the expected states of p and q.
type WrapperCase<'a> = (
    fn(Promise<u8>) -> Promise<u8>,
    &'a str,
    bool,
    bool,
    (&'a String, &'a String),
);

/// One row of Lwt's table for the cancel wrappers: returns (p's state, q's state) as strings.
fn wrapper_case(
    wrapper: fn(Promise<u8>) -> Promise<u8>,
    cancelable: bool,
    cancel_q: bool,
) -> (String, String) {
    let (p, _r) = if cancelable {
        task::<u8>()
    } else {
        wait::<u8>()
    };
    let p2 = p.clone();
    let q = wrapper(p);
    if cancel_q {
        q.cancel()
    } else {
        p2.cancel()
    }
    let show = |s: State<u8>| match s {
        State::Pending => "pending".to_string(),
        State::Fulfilled(v) => format!("fulfilled {v}"),
        State::Rejected(e) => format!("rejected: {e}"),
    };
    (show(p2.state()), show(q.state()))
}

#[test]
fn protected_no_cancel_and_wrap_in_cancelable_follow_lwts_table() {
    let c = "rejected: canceled".to_string();
    let pend = "pending".to_string();
    // (wrapper, p cancelable, cancel q?) -> (p, q)
    let cases: [WrapperCase<'_>; 12] = [
        (Promise::protected, "protected", true, true, (&pend, &c)),
        (Promise::protected, "protected", true, false, (&c, &c)),
        (Promise::protected, "protected", false, true, (&pend, &c)),
        (
            Promise::protected,
            "protected",
            false,
            false,
            (&pend, &pend),
        ),
        (Promise::no_cancel, "no_cancel", true, true, (&pend, &pend)),
        (Promise::no_cancel, "no_cancel", true, false, (&c, &c)),
        (Promise::no_cancel, "no_cancel", false, true, (&pend, &pend)),
        (
            Promise::no_cancel,
            "no_cancel",
            false,
            false,
            (&pend, &pend),
        ),
        (
            Promise::wrap_in_cancelable,
            "wrap_in_cancelable",
            true,
            true,
            (&c, &c),
        ),
        (
            Promise::wrap_in_cancelable,
            "wrap_in_cancelable",
            true,
            false,
            (&c, &c),
        ),
        (
            Promise::wrap_in_cancelable,
            "wrap_in_cancelable",
            false,
            true,
            (&pend, &c),
        ),
        (
            Promise::wrap_in_cancelable,
            "wrap_in_cancelable",
            false,
            false,
            (&pend, &pend),
        ),
    ];
    for (wrapper, name, cancelable, cancel_q, (p_expected, q_expected)) in cases {
        let (p, q) = wrapper_case(wrapper, cancelable, cancel_q);
        let case = format!(
            "{name}, p cancelable: {cancelable}, cancel {}",
            if cancel_q { "q" } else { "p" }
        );
        assert_eq!((&p, &q), (p_expected, q_expected), "{case}");
    }
}

#[test]
fn a_protected_promise_still_delivers_the_value() {
    let (p, r) = task::<u8>();
    let q = p.protected();
    r.wakeup(4);
    assert_eq!(q.state(), State::Fulfilled(4));
}

#[test]
fn catch_may_intercept_canceled_or_let_it_through() {
    let (t, _r) = task::<u8>();
    let recovered = t.catch(|e| {
        if e.is_canceled() {
            Promise::ret(0)
        } else {
            Promise::fail(e)
        }
    });
    recovered.cancel();
    // Canceling `recovered` reached the task; its handler turned Canceled into a value.
    assert_eq!(recovered.state(), State::Fulfilled(0));

    let (t, _r) = task::<u8>();
    let passed = t.catch(|e| {
        if e.is::<InvalidArgument>() {
            Promise::ret(0)
        } else {
            Promise::fail(e)
        }
    });
    passed.cancel();
    assert!(passed.rejection().unwrap().is_canceled());
}

#[test]
fn finalize_runs_its_cleanup_on_cancellation() {
    let l = log();
    let (t, _r) = task::<u8>();
    let a = l.clone();
    let f = t.finalize(move || {
        push(&a, "cleanup");
        Promise::ret(())
    });
    f.cancel();
    assert_eq!(taken(&l), ["cleanup"]);
    assert!(f.rejection().unwrap().is_canceled());
}

#[test]
fn dont_wait_handles_locally_and_async_and_ignore_result_use_the_hook() {
    let hooked = log();
    let h = hooked.clone();
    let previous = hook::set_async_exception_hook(move |e| push(&h, e.to_string()));

    let local = log();
    let a = local.clone();
    let (p, r) = wait::<()>();
    dont_wait(move || p, move |e| push(&a, format!("handled {e}")));
    let b = local.clone();
    dont_wait(
        || panic!("while starting"),
        move |e| push(&b, format!("handled {e}")),
    );
    r.wakeup_exn(Exn::failure("one connection"));
    assert_eq!(
        taken(&local),
        ["handled panicked: while starting", "handled one connection"]
    );

    async_(|| Promise::fail_with("async failure"));
    let (q, rq) = wait::<u8>();
    ignore_result(q);
    rq.wakeup_exn(Exn::failure("ignored failure"));
    ignore_result(Promise::ret(1));
    assert_eq!(taken(&hooked), ["async failure", "ignored failure"]);
    hook::restore_async_exception_hook(previous);
}

/// Found in review (session 21): `ignore_result` of a promise already rejected sent it to the
/// hook. Lwt 5.6.1's raises it at the call site (`Rejected exn -> reraise exn`); only a later
/// rejection goes to the hook. Inside a callback, the raise rejects that callback's promise.
#[test]
fn ignore_result_of_an_already_rejected_promise_raises() {
    let hooked = log();
    let h = hooked.clone();
    let previous = hook::set_async_exception_hook(move |e| push(&h, e.to_string()));
    let raised = std::panic::catch_unwind(|| {
        ignore_result(Promise::<()>::fail(Exn::failure("already rejected")))
    });
    let payload = raised.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().unwrap(),
        "ignore_result of a rejected promise: already rejected"
    );
    let inside = Promise::ret(()).bind(|()| {
        ignore_result(Promise::<u8>::fail_with("inner"));
        Promise::ret(1)
    });
    assert_eq!(
        inside
            .rejection()
            .unwrap()
            .downcast_ref::<lwt_core::Panicked>()
            .unwrap()
            .message(),
        "ignore_result of a rejected promise: inner"
    );
    hook::restore_async_exception_hook(previous);
    assert!(taken(&hooked).is_empty());
}

#[test]
fn and_and_xor_operators_are_join_and_choose() {
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<()>();
    let j = a & b;
    rb.wakeup(());
    assert!(j.is_pending());
    ra.wakeup(());
    assert!(j.is_fulfilled());
    let (c, _rc) = wait::<u8>();
    assert_eq!((c ^ Promise::ret(1)).state(), State::Fulfilled(1));
}

/// A loser whose cancel runs a `catch` handler that makes it wait on a fresh task, and then a
/// callback that cancels the combinator's result, which is still pending at that moment (the
/// losers are canceled before the result resolves). That cancel must reach the inputs, as it
/// does while the combinator waits: the loser, and through it the fresh task. The reference model
/// (`tests/model.rs`) found this when a finished combinator had already let go of its inputs.
fn loser_repended_then_result_canceled<U: Clone + 'static>(
    combine: impl FnOnce(Vec<Promise<u8>>) -> Promise<U>,
    finish: impl FnOnce(lwt_core::Resolver<u8>),
) -> (Promise<U>, Promise<u8>) {
    let (first, r_first) = task::<u8>();
    let (loser, _r_loser) = task::<u8>();
    let fresh: Rc<RefCell<Option<Promise<u8>>>> = Rc::default();
    let keep: Rc<RefCell<Vec<lwt_core::Resolver<u8>>>> = Rc::default();
    let (f, k) = (fresh.clone(), keep.clone());
    let repended = loser.clone().catch(move |_| {
        let (t, r) = task::<u8>();
        k.borrow_mut().push(r);
        *f.borrow_mut() = Some(t.clone());
        t
    });
    let result_slot: Rc<RefCell<Option<Promise<U>>>> = Rc::default();
    let slot = result_slot.clone();
    loser.on_failure(move |_| {
        let result = slot.borrow_mut().take().expect("the result exists");
        assert!(
            result.is_pending(),
            "the losers are canceled before the result resolves"
        );
        result.cancel();
    });
    let result = combine(vec![first, repended]);
    *result_slot.borrow_mut() = Some(result.clone());
    finish(r_first);
    let fresh = fresh.borrow_mut().take().expect("the catch handler ran");
    (result, fresh)
}

#[test]
fn canceling_pick_s_pending_result_after_it_finished_still_reaches_its_inputs() {
    let (result, fresh) = loser_repended_then_result_canceled(pick, |r| r.wakeup(1));
    assert!(fresh.rejection().unwrap().is_canceled());
    assert_eq!(result.state(), State::Fulfilled(1));
}

#[test]
fn canceling_npick_s_pending_result_after_it_finished_still_reaches_its_inputs() {
    let (result, fresh) = loser_repended_then_result_canceled(npick, |r| r.wakeup(1));
    assert!(fresh.rejection().unwrap().is_canceled());
    assert_eq!(result.state(), State::Fulfilled(vec![1]));
}

#[test]
fn canceling_all_fail_fast_s_pending_result_after_it_failed_still_reaches_its_inputs() {
    let (result, fresh) =
        loser_repended_then_result_canceled(all_fail_fast, |r| r.wakeup_exn(Exn::failure("first")));
    assert!(fresh.rejection().unwrap().is_canceled());
    assert_eq!(message(&result), "first");
}

thread_local! {
    /// What cloning a `Noisy` value does besides cloning (see below).
    static ON_CLONE: RefCell<Option<Box<dyn Fn()>>> = RefCell::new(None);
}

/// A value whose `clone` runs user code: handing it to a combinator's result clones it (its
/// input's handle was cloned), and that code may touch the combinator.
#[derive(Debug, PartialEq)]
struct Noisy(u8);

impl Clone for Noisy {
    fn clone(&self) -> Noisy {
        ON_CLONE.with(|f| {
            if let Some(f) = f.borrow().as_ref() {
                f()
            }
        });
        Noisy(self.0)
    }
}

#[test]
fn a_value_whose_clone_cancels_the_result_does_not_find_the_combinator_borrowed() {
    type Combine = fn(Vec<Promise<Noisy>>) -> Promise<Noisy>;
    let npick_first: Combine = |ps| npick(ps).map(|mut v| v.remove(0));
    for (name, combine) in [
        ("pick", pick as Combine),
        ("choose", choose as Combine),
        ("npick", npick_first),
    ] {
        let (a, ra) = task::<Noisy>();
        let (b, _rb) = task::<Noisy>();
        let _keep = a.clone(); // from now on consumers of `a` get clones
        let result = combine(vec![a, b]);
        let r2 = result.clone();
        ON_CLONE.with(|f| *f.borrow_mut() = Some(Box::new(move || r2.cancel())));
        ra.wakeup(Noisy(1));
        ON_CLONE.with(|f| *f.borrow_mut() = None);
        assert!(!result.is_pending(), "{name}: the result is resolved");
    }
}

/// Found in review (session 21): `on_cancel` ran `f` with the key storage of the `cancel` call;
/// Lwt's (as every callback) restores the storage of its registration.
#[test]
fn on_cancel_sees_the_key_storage_of_its_registration() {
    let k = lwt_core::key::new_key::<i32>();
    let l = log();
    let (p, _r) = task::<()>();
    lwt_core::key::with_value(&k, Some(7), || {
        let (l1, l2) = (l.clone(), l.clone());
        p.on_cancel(move || push(&l1, format!("on_cancel {:?}", lwt_core::key::get(&k))));
        p.on_failure(move |_| push(&l2, format!("on_failure {:?}", lwt_core::key::get(&k))));
    });
    lwt_core::key::with_value(&k, Some(99), || p.cancel());
    assert_eq!(taken(&l), ["on_cancel Some(7)", "on_failure Some(7)"]);
}

/// Found in review (session 21): inside a callback, a promise resolved by `wakeup_later` (its
/// callbacks still queued) was wrapped as if pending, so canceling `protected`'s or
/// `wrap_in_cancelable`'s wrapper rejected it, though the promise was already fulfilled. Lwt
/// returns the resolved promise itself: the wrappers are fulfilled.
#[test]
fn wrappers_of_a_promise_resolved_with_callbacks_queued_cannot_be_canceled() {
    let (p0, r0) = wait::<()>();
    let (p, r) = task::<i32>();
    p.on_success(|_| ());
    let wrappers = Rc::new(RefCell::new(Vec::new()));
    let (w, p2, r) = (wrappers.clone(), p.clone(), RefCell::new(Some(r)));
    p0.on_success(move |()| {
        r.borrow_mut().take().unwrap().wakeup_later(1);
        let q = p2.clone().protected();
        q.cancel();
        let c = p2.clone().wrap_in_cancelable();
        c.cancel();
        w.borrow_mut().extend([q, c]);
    });
    r0.wakeup(());
    for q in wrappers.borrow().iter() {
        assert_eq!(q.state(), State::Fulfilled(1));
    }
    assert_eq!(p.state(), State::Fulfilled(1));
}

/// Found in review (session 21): a cancel made inside a callback only queued what it reached, so
/// the promises derived from the canceled one were still pending right after `cancel`. Lwt's
/// cancel never defers: its callbacks have run when it returns, as a `wakeup`'s do here.
#[test]
fn cancel_inside_a_callback_runs_what_it_reaches_before_returning() {
    let l = log();
    let (p0, r0) = wait::<()>();
    let l2 = l.clone();
    p0.on_success(move |()| {
        let (t, _r) = task::<i32>();
        let d = t.clone().map(|x| x + 1);
        let l3 = l2.clone();
        t.on_cancel(move || push(&l3, "on_cancel ran"));
        let c = pick(vec![task::<i32>().0, d.clone()]);
        t.cancel();
        push(
            &l2,
            format!("after cancel: d {}, pick {}", state(&d), state(&c)),
        );
    });
    r0.wakeup(());
    assert_eq!(
        taken(&l),
        ["on_cancel ran", "after cancel: d canceled, pick canceled"]
    );
}

fn state(p: &Promise<i32>) -> &'static str {
    match p.rejection() {
        Some(e) if e.is_canceled() => "canceled",
        Some(_) => "rejected",
        None if p.is_pending() => "pending",
        None => "fulfilled",
    }
}

/// Found in review (session 21): a bind made on a promise resolved with its callbacks still
/// queued (here: inside one of them) took a cancel link to that resolved promise, so a cancel of
/// the bind's result reached nothing, the result then became the continuation's task, and hung.
/// In Lwt the bind runs its function at once, and the cancel reaches the task: the result ends
/// canceled, as here now, where the cancel waits for the continuation's turn.
#[test]
fn cancel_of_a_bind_made_on_a_busy_promise_reaches_the_continuations_promise() {
    let (p, r) = wait::<i32>();
    let out = Rc::new(RefCell::new(None));
    let (o, p2) = (out.clone(), p.clone());
    p.on_success(move |_| {
        let (t, rt) = task::<i32>();
        let t2 = t.clone();
        let q = p2.clone().bind(move |_| t);
        q.cancel();
        *o.borrow_mut() = Some((q, t2, rt));
    });
    r.wakeup(1);
    let (q, t, _rt) = out.borrow_mut().take().unwrap();
    assert!(q.rejection().is_some_and(|e| e.is_canceled()));
    assert!(t.rejection().is_some_and(|e| e.is_canceled()));
    // A continuation that returns a resolved promise: nothing left to cancel, the value stays.
    let (p, r) = wait::<i32>();
    let (o, p2) = (out.clone(), p.clone());
    let kept = Rc::new(RefCell::new(None));
    let k2 = kept.clone();
    p.on_success(move |_| {
        let q = p2.clone().map(|x| x * 2);
        q.cancel();
        *k2.borrow_mut() = Some(q);
        drop(o);
    });
    r.wakeup(4);
    assert_eq!(kept.borrow().as_ref().unwrap().state(), State::Fulfilled(8));
}

/// Found in session 21's review: an input resolved by a callback that ran just before the
/// combinator's (so resolved, with its own callbacks still queued) was counted as pending, and
/// its value dropped with the handle. Lwt 5.6.1 gives `[1; 2]` in each case (its callbacks run
/// newest first, so there the observer is registered after the combinator).
#[test]
fn nchoose_takes_an_input_resolved_with_callbacks_still_queued() {
    fn busy_pair() -> (Promise<u8>, Promise<u8>, lwt_core::Resolver<u8>) {
        let (a, ra) = wait::<u8>();
        let (b, rb) = wait::<u8>();
        a.on_success(move |_| rb.wakeup_later(2));
        (a, b, ra)
    }
    let (a, b, ra) = busy_pair();
    let n = nchoose(vec![a, b]);
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));

    let (a, b, ra) = busy_pair();
    let (c, _rc) = task::<u8>();
    let c2 = c.clone();
    let n = npick(vec![a, b, c]);
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
    assert!(c2.rejection().unwrap().is_canceled());

    let (a, b, ra) = busy_pair();
    let (c, _rc) = wait::<u8>();
    let n = nchoose_split(vec![a, b, c]).map(|(done, rest)| (done, rest.len()));
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled((vec![1, 2], 1)));
}

/// Found in review of the fix above: the inputs the result takes are those resolved when its
/// first callback runs, as in Lwt; one resolved while it waits for its callback on a busy input
/// (here `c`, by a nested `wakeup` in a later callback of `a`) is not. Lwt 5.6.1: `[1; 2]`.
#[test]
fn nchoose_takes_only_the_inputs_resolved_when_it_first_sees_one() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let (c, rc) = wait::<u8>();
    a.on_success(move |_| rb.wakeup_later(2));
    let n = nchoose(vec![a.clone(), b, c]);
    a.on_success(move |_| rc.wakeup(3));
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
}

/// Found in the same review: canceling the result while it waits for its callback on a busy
/// input canceled the pending inputs, and took their `Canceled`. The result is as good as
/// resolved by then (Lwt's is: there the cancel does nothing): it keeps the values, and the
/// pending task is not canceled by `nchoose` (`npick` cancels it as it finishes). Lwt 5.6.1:
/// `Fulfilled [1;2]` for all three.
#[test]
fn canceling_nchoose_while_it_waits_for_a_busy_input_keeps_its_values() {
    for name in ["nchoose", "npick", "nchoose_split"] {
        let (a, ra) = wait::<u8>();
        let (b, rb) = wait::<u8>();
        let (k, _rk) = task::<u8>();
        let k2 = k.clone();
        a.on_success(move |_| rb.wakeup_later(2));
        let inputs = vec![a.clone(), b, k];
        let n: Promise<Vec<u8>> = match name {
            "nchoose" => nchoose(inputs),
            "npick" => npick(inputs),
            _ => nchoose_split(inputs).map(|(done, _rest)| done),
        };
        let n2 = n.clone();
        a.on_success(move |_| n2.cancel());
        ra.wakeup(1);
        assert_eq!(n.state(), State::Fulfilled(vec![1, 2]), "{name}");
        assert_eq!(k2.is_rejected(), name == "npick", "{name}");
    }
}

/// Called with a settled input, an `nchoose` takes the settled inputs at once, and one resolved
/// with callbacks still queued counts as pending (as in `choose`; Lwt takes it: `[0; 2]`).
/// Waiting for it instead made `main::run` called from the callback that queued it fail, since
/// that `run` does not run the callback's queued jobs (found in the same review).
#[test]
fn nchoose_called_with_a_settled_input_takes_the_settled_ones_at_once() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let seen_b = Rc::new(RefCell::new(None));
    let s = seen_b.clone();
    b.on_success(move |v| *s.borrow_mut() = Some(*v));
    type Got = Option<Result<Vec<u8>, Exn>>;
    let out: Rc<RefCell<Got>> = Rc::default();
    let o = out.clone();
    a.on_success(move |_| {
        rb.wakeup_later(2);
        *o.borrow_mut() = Some(lwt_core::main::run(nchoose(vec![Promise::ret(0), b])));
    });
    ra.wakeup(1);
    let got = out.borrow_mut().take().expect("the callback ran");
    assert_eq!(got.map_err(|e| e.to_string()), Ok(vec![0]));
    // b's own callbacks still saw its value.
    assert_eq!(*seen_b.borrow(), Some(2));
}

/// Drops a resolver's promise into being fulfilled (a value whose `Drop` does something).
struct WakeOnDrop(Option<lwt_core::Resolver<Rc<WakeOnDrop>>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.wakeup(Rc::new(WakeOnDrop(None)));
        }
    }
}

/// Found in session 21's review. Registering on an input whose callback list is full first
/// purges the dead callbacks of finished combinators; dropping one can be the last reference
/// to such a combinator, and so drop its result's value, whose `Drop` may resolve an input of
/// the combinator being registered. That woke it half-built: `choose` indexed its still empty
/// inputs and panicked.
type Keep = lwt_core::Resolver<Rc<WakeOnDrop>>;

/// A promise `x` whose callback list is full, with the dead waiter of a finished `choose` between
/// live callbacks, and the promise that the drop of that choose's value resolves. (Until session
/// 25 the dead waiter was the last thing holding the combinator and its value; now the value goes
/// with the result.) And x's resolver: dropped, it would reject x.
fn full_list_with_a_dead_waiter() -> (Promise<Rc<WakeOnDrop>>, Promise<Rc<WakeOnDrop>>, Keep) {
    let (x, rx) = wait::<Rc<WakeOnDrop>>();
    x.on_success(|_| {});
    let (y, ry) = wait::<Rc<WakeOnDrop>>();
    let earlier = choose(vec![x.clone(), y]);
    x.on_success(|_| {});
    x.on_success(|_| {});
    // x's list is full: [observer, earlier's waiter, observer, observer].
    assert_eq!(x.callback_count(), 4);
    let (input, r_input) = wait::<Rc<WakeOnDrop>>();
    // `earlier` finishes; its waiter on x, between live callbacks, stays there dead.
    ry.wakeup(Rc::new(WakeOnDrop(Some(r_input))));
    drop(earlier);
    (x, input, rx)
}

/// Since session 25 a finished combinator lets go of its result (see
/// `a_finished_combinator_lets_go_of_its_result`), so its dead waiter no longer holds the value:
/// the value is dropped with the last handle on the result, and the purge runs no user code. The
/// registration still keeps the purged callbacks until the state is complete (and `protected`
/// stores its source before it registers), in case a waiter ever holds user data again.
#[test]
fn a_dead_waiter_of_a_finished_combinator_holds_no_value() {
    let (x, input, _rx) = full_list_with_a_dead_waiter();
    assert_eq!(x.callback_count(), 4, "the dead waiter is still on x");
    assert!(
        input.is_fulfilled(),
        "the value was dropped with the result"
    );
}

#[test]
fn a_combinator_woken_by_a_purge_during_its_registration_is_complete() {
    let (x, input, _rx) = full_list_with_a_dead_waiter();
    let chosen = choose(vec![input, x.clone()]);
    assert!(matches!(chosen.state(), State::Fulfilled(v) if v.0.is_none()));

    // The same through nchoose_split, whose result must say the input was taken.
    let (x, input, _rx) = full_list_with_a_dead_waiter();
    let split = nchoose_split(vec![input, x.clone()]).map(|(done, rest)| (done.len(), rest.len()));
    assert_eq!(split.state(), State::Fulfilled((1, 1)));
}

/// Found in review (session 25). `npick` fixes the inputs it takes at its first callback, but when
/// one of them still has callbacks queued it waits for its own callback there, and it canceled
/// the losers only then: a loser resolved in between (here by a later callback of the input
/// being waited for) was neither canceled nor returned, and its value was dropped. Lwt 5.6.1's
/// `npick` cancels the losers in its first callback: `c: canceled`, and the value put in the
/// mailbox stays there (`mailbox: 7`).
#[test]
fn npick_cancels_its_losers_when_it_decides() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let (c, rc) = task::<u8>();
    let c2 = c.clone();
    a.on_success(move |_| rb.wakeup_later(2));
    let n = npick(vec![a.clone(), b, c]);
    a.on_success(move |_| rc.wakeup(3));
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
    assert!(
        c2.rejection().is_some_and(|e| e.is_canceled()),
        "loser c: {:?}",
        c2.state()
    );

    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let m = Rc::new(lwt_core::sync::Mvar::create_empty());
    a.on_success(move |_| rb.wakeup_later(2));
    let n = npick(vec![a.clone(), b, m.take()]);
    let m2 = m.clone();
    a.on_success(move |_| drop(m2.put(7)));
    ra.wakeup(1);
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(
        m.take_available(),
        Some(7),
        "the value put in the mailbox was lost"
    );
}

/// Found in review (session 25). A finished combinator's dead waiter can stay on a long-lived
/// input between live callbacks until that list is next purged; it held the combinator's state,
/// which held the result node for ever, and with it the value the node keeps for its consumers.
#[test]
fn a_finished_combinator_lets_go_of_its_result() {
    type Big = Rc<Vec<u8>>;
    let check = |name: &str, make: &dyn Fn(Vec<Promise<Big>>) -> Promise<usize>| {
        let (long, _rl) = wait::<Big>();
        let (fast, rf) = wait::<Big>();
        long.on_success(|_| {});
        let result = make(vec![long.clone(), fast]);
        long.on_success(|_| {}); // the combinator's waiter is now between live callbacks
        let big = Rc::new(vec![0u8; 1 << 20]);
        let weak = Rc::downgrade(&big);
        rf.wakeup(big);
        assert_eq!(result.state(), State::Fulfilled(1 << 20), "{name}");
        drop(result);
        assert_eq!(
            long.callback_count(),
            3,
            "{name}: the dead waiter is still there"
        );
        assert!(
            weak.upgrade().is_none(),
            "{name}: the result's value is still alive"
        );
    };
    check("choose", &|inputs| {
        let chosen = choose(inputs);
        chosen.clone().map(|v| v.len())
    });
    check("nchoose", &|inputs| {
        let chosen = nchoose(inputs);
        chosen.clone().map(|v| v[0].len())
    });
    check("nchoose_split", &|inputs| {
        let chosen = nchoose_split(inputs);
        chosen.clone().map(|(done, _rest)| done[0].len())
    });
}

/// rev78: a panic of the input's iterator escaped every combinator, where `list`'s functions
/// reject with it. It now rejects the result, whatever the combinator.
#[test]
fn a_panicking_input_iterator_rejects_the_result() {
    use lwt_core::combinators::{
        all, all_fail_fast, choose, join, join_fail_fast, nchoose, nchoose_split, npick, pick,
    };
    use lwt_core::{Panicked, Promise};
    fn inputs<T: Default + 'static>() -> impl Iterator<Item = Promise<T>> {
        (0..3).map(|i| {
            assert!(i < 2, "iterator panicked at {i}");
            lwt_core::task::<T>().0
        })
    }
    fn check<T: 'static>(p: Promise<T>) {
        let e = p.rejection().expect("rejected at once");
        assert!(e.is::<Panicked>(), "{e}");
        assert!(e.to_string().contains("iterator panicked at 2"), "{e}");
    }
    check(all(inputs::<u8>()));
    check(all_fail_fast(inputs::<u8>()));
    check(join(inputs::<()>()));
    check(join_fail_fast(inputs::<()>()));
    check(choose(inputs::<u8>()));
    check(pick(inputs::<u8>()));
    check(nchoose(inputs::<u8>()));
    check(npick(inputs::<u8>()));
    check(nchoose_split(inputs::<u8>()));
}

/// Pinned from review (rev91, session 40), a documented difference (module docs): a callback
/// registered on an input before the combinator runs before the combinator's own, so an input
/// it resolves reaches the combinator first; registered after, the combinator sees the input
/// that resolved first, as Lwt's does whatever the order (it runs the newest callback first).
#[test]
fn an_input_resolved_by_an_earlier_callback_of_another_reaches_pick_first() {
    for callback_first in [true, false] {
        let (a, ra) = lwt_core::task::<u32>();
        let (b, rb) = lwt_core::task::<u32>();
        let rb = RefCell::new(Some(rb));
        let chain = move |_: &u32| {
            if let Some(rb) = rb.borrow_mut().take() {
                rb.wakeup(2);
            }
        };
        let (a2, b2) = (a.clone(), b.clone());
        let picked = if callback_first {
            a2.on_success(chain);
            lwt_core::pick(vec![a, b])
        } else {
            let picked = lwt_core::pick(vec![a, b]);
            a2.on_success(chain);
            picked
        };
        ra.wakeup(1);
        if callback_first {
            assert_eq!(picked.state(), lwt_core::State::Fulfilled(2));
            assert_eq!(b2.state(), lwt_core::State::Fulfilled(2));
        } else {
            assert_eq!(picked.state(), lwt_core::State::Fulfilled(1));
            assert!(b2.rejection().is_some_and(|e| e.is_canceled()));
        }
    }
}

/// Pins the proxy case of `ignores_cancel` and `note_dead_waiter` (rev133 made both look at the
/// handle's node first, and go to the root only for a proxy): a pick's losers held through
/// proxies (promises a bind's callback returned, merged into the bind's result) are canceled
/// through the root when they are tasks, and lose their dead waiter when they are `wait()`
/// promises.
#[test]
fn a_pick_reaches_losers_held_through_proxies() {
    let (src, rs) = wait::<()>();
    let (t, _rt) = task::<i32>();
    let (w, _rw) = wait::<i32>();
    let (t2, w2) = (t.clone(), w.clone());
    let bound_t = src.clone().bind(move |()| t2);
    let bound_w = src.bind(move |()| w2);
    rs.wakeup(());
    // `t` and `w` are proxies now; their roots are the binds' results.
    let (winner, rwin) = wait::<i32>();
    let p = pick(vec![t.clone(), w.clone(), winner]);
    assert_eq!(bound_w.callback_count(), 1, "the pick waits on w's root");
    rwin.wakeup(5);
    assert_eq!(p.state(), State::Fulfilled(5));
    assert!(t.rejection().unwrap().is_canceled());
    assert!(bound_t.rejection().unwrap().is_canceled());
    assert!(w.is_pending());
    assert_eq!(bound_w.callback_count(), 0, "the dead waiter left w's root");
}
