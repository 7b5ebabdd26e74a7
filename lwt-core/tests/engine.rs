//! Behaviour of the promise engine: ordering, wakeup vs wakeup_later, proxies, values, panics,
//! keys, cancellation basics and the `Future` impl.

#[path = "support/log.rs"]
mod log_support;

use log_support::{log, push, taken, Log};

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{hook, key, task, wait, Abandoned, Exn, Failure, Panicked, Promise, State};

/// Installs a hook that records failures instead of exiting, for the test's duration.
fn recording_hook() -> (Log, impl Drop) {
    struct Restore(Option<hook::Hook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            hook::restore_async_exception_hook(self.0.take());
        }
    }
    let seen = log();
    let s = seen.clone();
    let previous = hook::set_async_exception_hook(move |e| push(&s, e.to_string()));
    (seen, Restore(previous))
}

#[test]
fn callbacks_of_one_promise_run_in_registration_order() {
    let l = log();
    let (p, r) = wait::<i32>();
    let p2 = p.clone();
    let (a, b, c, d) = (l.clone(), l.clone(), l.clone(), l.clone());
    let q1 = p.clone().bind(move |_| {
        push(&a, "bind");
        Promise::ret(())
    });
    p.on_success(move |_| push(&b, "on_success"));
    let q2 = p2.map(move |_| push(&c, "map"));
    p.on_any(move |_| push(&d, "on_any"), |_| {});
    r.wakeup(1);
    assert_eq!(taken(&l), ["bind", "on_success", "map", "on_any"]);
    assert!(q1.is_fulfilled() && q2.is_fulfilled());
}

#[test]
fn resolution_is_breadth_first_across_promises() {
    // p has two callbacks; the first resolves a bind result q that has its own callback. The
    // second callback of p runs before q's callback (a FIFO queue, not nested calls).
    let l = log();
    let (p, r) = wait::<()>();
    let (a, b, c) = (l.clone(), l.clone(), l.clone());
    let q = p.clone().bind(move |()| {
        push(&a, "p: bind");
        Promise::ret(())
    });
    q.on_success(move |_| push(&b, "q: on_success"));
    p.on_success(move |_| push(&c, "p: on_success"));
    r.wakeup(());
    assert_eq!(taken(&l), ["p: bind", "p: on_success", "q: on_success"]);
}

#[test]
fn wakeup_and_wakeup_later_at_top_level_run_everything_before_returning() {
    for later in [false, true] {
        let l = log();
        let (p, r) = wait::<i32>();
        let a = l.clone();
        let q = p.map(|x| x + 1).map(move |x| push(&a, format!("got {x}")));
        if later {
            r.wakeup_later(1)
        } else {
            r.wakeup(1)
        }
        assert_eq!(taken(&l), ["got 2"]);
        assert!(q.is_fulfilled());
    }
}

#[test]
fn wakeup_inside_a_callback_runs_callbacks_before_returning() {
    let l = log();
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<()>();
    let l1 = l.clone();
    b.on_success(move |_| push(&l1, "B"));
    let l2 = l.clone();
    let rb = RefCell::new(Some(rb));
    a.on_success(move |_| {
        push(&l2, "A start");
        rb.borrow_mut().take().unwrap().wakeup(());
        push(&l2, "after wakeup");
    });
    ra.wakeup(());
    assert_eq!(taken(&l), ["A start", "B", "after wakeup"]);
}

#[test]
fn wakeup_later_inside_a_callback_defers_callbacks() {
    let l = log();
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<i32>();
    let b2 = b.clone();
    let l1 = l.clone();
    b.on_success(move |_| push(&l1, "B"));
    let l2 = l.clone();
    let rb = RefCell::new(Some(rb));
    a.on_success(move |_| {
        push(&l2, "A start");
        rb.borrow_mut().take().unwrap().wakeup_later(7);
        // The state changed at once; only the callbacks wait.
        assert_eq!(b2.state(), State::Fulfilled(7));
        push(&l2, "after wakeup_later");
    });
    ra.wakeup(());
    assert_eq!(taken(&l), ["A start", "after wakeup_later", "B"]);
}

/// Found in session 21's review: a `wakeup_later` made inside a nested drain (by a callback of a
/// promise that another callback resolved with `wakeup`) ran its callbacks before that `wakeup`
/// returned. Lwt 5.6.1 defers it to the outermost callback, in one queue with the
/// `wakeup_later`s made there before: this is its order, from the same program in OCaml. The
/// runtime's own resolutions (a `map`'s result) still run at once, nested, as in Lwt.
#[test]
fn wakeup_later_inside_a_nested_wakeup_waits_for_the_outermost_callback() {
    let l = log();
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let (c, rc) = wait::<u8>();
    let (d, rd) = wait::<u8>();
    let on = |s: &'static str| {
        let l = l.clone();
        move |_: &u8| push(&l, s)
    };
    c.on_success(on("c callback"));
    d.on_success(on("d callback"));
    let l1 = l.clone();
    b.on_success(move |_| {
        push(&l1, "b callback: wakeup_later c");
        rc.wakeup_later(3);
    });
    let l2 = l.clone();
    a.on_success(move |_| {
        rd.wakeup_later(4);
        push(&l2, "a callback: wakeup b");
        rb.wakeup(2);
        push(&l2, "a callback: after wakeup b");
    });
    ra.wakeup(1);
    push(&l, "top: after wakeup a");
    assert_eq!(
        taken(&l),
        [
            "a callback: wakeup b",
            "b callback: wakeup_later c",
            "a callback: after wakeup b",
            "d callback",
            "c callback",
            "top: after wakeup a",
        ]
    );

    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    b.map(|x| x + 1).on_success(on("m callback"));
    let l3 = l.clone();
    a.on_success(move |_| {
        rb.wakeup(2);
        push(&l3, "a: after wakeup b");
    });
    ra.wakeup(1);
    assert_eq!(taken(&l), ["m callback", "a: after wakeup b"]);
}

/// Two levels of nesting: a `wakeup_later` made two `wakeup`s deep waits for the outermost
/// callback, not for the callback that made it nor the one just outside it. Lwt 5.6.1 keeps one
/// deferred queue for the whole nesting, and the module docs of `resolver` once said otherwise.
#[test]
fn wakeup_later_two_wakeups_deep_waits_for_the_outermost_callback() {
    let l = log();
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<()>();
    let (c, rc) = wait::<()>();
    let (d, rd) = wait::<()>();
    let ld = l.clone();
    d.on_success(move |_| push(&ld, "D"));
    let lc = l.clone();
    c.on_success(move |_| {
        push(&lc, "C start");
        rd.wakeup_later(());
        push(&lc, "C end");
    });
    let lb = l.clone();
    b.on_success(move |_| {
        push(&lb, "B start");
        rc.wakeup(());
        push(&lb, "B end");
    });
    let la = l.clone();
    a.on_success(move |_| {
        push(&la, "A start");
        rb.wakeup(());
        push(&la, "A end");
    });
    ra.wakeup(());
    assert_eq!(
        taken(&l),
        ["A start", "B start", "C start", "C end", "B end", "A end", "D"]
    );
}

#[test]
fn deeply_nested_wakeups_degrade_to_queued_without_overflow() {
    // Each callback wakes the next promise with `wakeup`; 100,000 levels would overflow if every
    // level nested. Past 64 levels they are queued instead, and everything still runs.
    let n = 100_000;
    let mut resolvers = Vec::new();
    let mut promises = Vec::new();
    for _ in 0..n {
        let (p, r) = wait::<()>();
        promises.push(p);
        resolvers.push(Some(r));
    }
    let resolvers = Rc::new(RefCell::new(resolvers));
    let count = Rc::new(RefCell::new(0));
    for (i, p) in promises.iter().enumerate() {
        let rs = resolvers.clone();
        let c = count.clone();
        p.on_success(move |_| {
            *c.borrow_mut() += 1;
            if i + 1 < n {
                let next = rs.borrow_mut()[i + 1].take().unwrap();
                next.wakeup(());
            }
        });
    }
    let first = resolvers.borrow_mut()[0].take().unwrap();
    first.wakeup(());
    assert_eq!(*count.borrow(), n);
}

#[test]
fn bind_result_becomes_the_returned_promise() {
    let l = log();
    let (s, rs) = wait::<()>();
    let (p2, r2) = wait::<u32>();
    let a = l.clone();
    p2.on_success(move |_| push(&a, "p2"));
    let p3 = s.bind(move |()| p2);
    let b = l.clone();
    p3.on_success(move |_| push(&b, "p3"));
    rs.wakeup(());
    assert!(p3.is_pending());
    r2.wakeup(5);
    assert_eq!(p3.state(), State::Fulfilled(5));
    // The returned promise's callbacks run first, then the bind result's: exactly Lwt's order
    // reversed, as everywhere on one promise (Lwt runs newest first).
    assert_eq!(taken(&l), ["p2", "p3"]);
}

#[test]
fn state_is_seen_through_proxies_from_both_handles() {
    let (s, rs) = wait::<()>();
    let (inner, ri) = wait::<&str>();
    let inner2 = inner.clone();
    let outer = s.bind(move |()| inner);
    rs.wakeup(());
    assert_eq!(outer.state(), State::Pending);
    ri.wakeup("v");
    assert_eq!(outer.state(), State::Fulfilled("v"));
    assert_eq!(inner2.state(), State::Fulfilled("v"));
}

#[test]
fn a_promise_resolved_with_itself_stays_pending() {
    let (s, rs) = wait::<()>();
    let cell: Rc<RefCell<Option<Promise<()>>>> = Rc::new(RefCell::new(None));
    let c = cell.clone();
    let p = s.bind(move |()| c.borrow_mut().take().unwrap());
    *cell.borrow_mut() = Some(p.clone());
    rs.wakeup(());
    assert_eq!(p.state(), State::Pending);
}

#[test]
fn non_clone_values_are_moved_to_their_only_consumer() {
    struct Token(u32); // neither Clone nor Copy
    let (p, r) = wait::<Token>();
    let q = p.map(|t| t.0 + 1);
    r.wakeup(Token(1));
    assert_eq!(q.state(), State::Fulfilled(2));
    let ready = Promise::ret(Token(5)).map(|t| t.0);
    assert_eq!(ready.state(), State::Fulfilled(5));
}

#[test]
fn clone_values_reach_every_consumer() {
    let (p, r) = wait::<String>();
    let a = p.clone().map(|s| s + "-a");
    let b = p.clone().map(|s| s + "-b");
    r.wakeup("v".into());
    assert_eq!(a.state(), State::Fulfilled("v-a".into()));
    assert_eq!(b.state(), State::Fulfilled("v-b".into()));
    assert_eq!(p.state(), State::Fulfilled("v".into()));
    // And after resolution, late consumers still get it.
    assert_eq!(p.map(|s| s.len()).state(), State::Fulfilled(1));
}

#[test]
fn rejections_skip_bind_and_map_and_reach_catch() {
    let (p, r) = wait::<i32>();
    let q = p
        .bind(|x| Promise::ret(x + 1))
        .map(|x| x * 2)
        .catch(|e| Promise::ret(e.downcast_ref::<Failure>().unwrap().0.len() as i32));
    r.wakeup_exn(Exn::failure("four"));
    assert_eq!(q.state(), State::Fulfilled(4));
}

#[test]
fn try_bind_and_finalize_on_both_outcomes() {
    for fail in [false, true] {
        let l = log();
        let (p, r) = wait::<i32>();
        let a = l.clone();
        let q = p
            .finalize(move || {
                push(&a, "cleanup");
                Promise::ret(())
            })
            .try_bind(
                |v| Promise::ret(format!("ok {v}")),
                |e| Promise::ret(format!("err {e}")),
            );
        if fail {
            r.wakeup_exn(Exn::failure("x"))
        } else {
            r.wakeup(3)
        }
        assert_eq!(taken(&l), ["cleanup"]);
        let expected = if fail { "err x" } else { "ok 3" };
        assert_eq!(q.state(), State::Fulfilled(expected.to_string()));
    }
}

#[test]
fn a_failing_cleanup_replaces_the_outcome() {
    let q = Promise::ret(1).finalize(|| Promise::fail_with("cleanup failed"));
    assert_eq!(q.rejection().unwrap().to_string(), "cleanup failed");
}

#[test]
fn panics_reject_the_dependent_promise_whatever_the_timing() {
    let (p, r) = wait::<i32>();
    let pending = p.map(|_| -> i32 { panic!("late") });
    r.wakeup(0);
    let resolved = Promise::ret(0).map(|_| -> i32 { panic!("early") });
    let handler = Promise::<i32>::fail_with("x").catch(|_| panic!("in handler"));
    for (p, msg) in [
        (pending, "late"),
        (resolved, "early"),
        (handler, "in handler"),
    ] {
        let e = p.rejection().unwrap();
        assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), msg);
    }
}

#[test]
fn observer_panics_go_to_the_hook_and_the_loop_goes_on() {
    let (seen, _restore) = recording_hook();
    let l = log();
    let (p, r) = wait::<()>();
    p.on_success(|_| panic!("first observer"));
    let a = l.clone();
    p.on_success(move |_| push(&a, "second observer ran"));
    r.wakeup(());
    assert_eq!(taken(&seen), ["panicked: first observer"]);
    assert_eq!(taken(&l), ["second observer ran"]);
}

#[test]
fn a_dropped_resolver_rejects_with_abandoned() {
    let (p, r) = wait::<u8>();
    let q = p.map(|x| x + 1);
    drop(r);
    assert!(q.rejection().unwrap().is::<Abandoned>());
}

#[test]
fn keys_are_seen_as_they_were_at_registration() {
    let k = key::new_key::<&'static str>();
    let (p, r) = wait::<()>();
    let l = log();
    let (a, b) = (l.clone(), l.clone());
    let k2 = key::new_key::<&'static str>();
    let q = key::with_value(&k, Some("request-1"), || {
        p.clone()
            .map(move |()| push(&a, format!("map sees {:?}", key::get(&k))))
    });
    key::with_value(&k2, Some("other"), || {
        p.on_success(move |_| push(&b, format!("observer sees {:?}", key::get(&k))));
    });
    key::with_value(&k, Some("at wakeup"), || r.wakeup(()));
    assert!(q.is_fulfilled());
    assert_eq!(
        taken(&l),
        ["map sees Some(\"request-1\")", "observer sees None"]
    );
    assert_eq!(key::get(&k), None);
    assert_eq!(key::get(&k2), None);
}

/// Found in review (session 31): `dont_wait`'s handler saw the keys of its call, but the hook
/// that `async_` and `ignore_result` report to saw those of whoever resolved the promise (Lwt's
/// both see what the last callback left behind: an accident of its storage, not a rule). Both
/// now follow the observers' rule, the storage of the call.
#[test]
fn detached_failures_are_reported_with_the_keys_of_the_call() {
    let k = key::new_key::<i32>();
    let seen = log();
    let s = seen.clone();
    let previous =
        hook::set_async_exception_hook(move |_| push(&s, format!("hook {:?}", key::get(&k))));
    let failing = |p: Promise<()>| {
        key::with_value(&k, Some(5), || p.bind(|()| Promise::<()>::fail_with("x")))
    };
    let (p, r) = wait::<()>();
    let q = failing(p);
    let s = seen.clone();
    key::with_value(&k, Some(7), || {
        lwt_core::dont_wait(
            || q,
            move |_| push(&s, format!("dont_wait {:?}", key::get(&k))),
        )
    });
    key::with_value(&k, Some(6), || r.wakeup(()));
    let (p, r) = wait::<()>();
    let q = failing(p);
    key::with_value(&k, Some(7), || lwt_core::async_(|| q));
    key::with_value(&k, Some(6), || r.wakeup(()));
    let (p, r) = wait::<()>();
    let q = failing(p);
    key::with_value(&k, Some(7), || lwt_core::ignore_result(q));
    key::with_value(&k, Some(6), || r.wakeup(()));
    hook::restore_async_exception_hook(previous);
    assert_eq!(
        taken(&seen),
        ["dont_wait Some(7)", "hook Some(7)", "hook Some(7)"]
    );
}

/// A value whose `drop` reads a key, and records what it saw.
struct ReadsKeyOnDrop(key::Key<u8>, Rc<std::cell::Cell<Option<u8>>>);

impl Drop for ReadsKeyOnDrop {
    fn drop(&mut self) {
        self.1.set(key::get(&self.0));
    }
}

#[test]
fn a_key_value_whose_drop_reads_a_key_is_dropped_after_the_storage_is_restored() {
    // Found in review (session 23): the storage put aside was dropped while the cell holding
    // the current storage was still borrowed, so `key::get` in the value's `drop` panicked.
    let k = key::new_key::<u8>();
    let holder = key::new_key::<ReadsKeyOnDrop>();
    let seen = Rc::new(std::cell::Cell::new(Some(99)));
    key::with_value(&k, Some(5), || {
        key::with_value(&holder, Some(ReadsKeyOnDrop(k, seen.clone())), || ());
    });
    // Dropped as the inner `with_value` restored the storage, in which `k` is 5.
    assert_eq!(seen.get(), Some(5));
}

#[test]
fn a_key_value_dropped_with_a_callback_snapshot_may_read_a_key() {
    // The same through a callback: its snapshot holds the last reference to the value, dropped
    // as the storage is restored after the callback ran. The panic there used to leave `q`
    // pending for ever.
    let k = key::new_key::<u8>();
    let holder = key::new_key::<ReadsKeyOnDrop>();
    let seen = Rc::new(std::cell::Cell::new(Some(99)));
    let (p, r) = wait::<()>();
    let q = key::with_value(&holder, Some(ReadsKeyOnDrop(k, seen.clone())), || {
        p.map(|()| 1)
    });
    r.wakeup(());
    assert_eq!(q.state(), State::Fulfilled(1));
    assert_eq!(seen.get(), None);
}

#[test]
fn keys_made_on_different_threads_are_distinct() {
    // Found in review (session 23): ids were counted per thread, so the first key of each
    // thread had id 0, and one read the other's value.
    let a = std::thread::spawn(key::new_key::<u32>).join().unwrap();
    let b = std::thread::spawn(key::new_key::<u32>).join().unwrap();
    key::with_value(&a, Some(1), || assert_eq!(key::get(&b), None));
}

#[test]
fn a_loop_that_sets_a_key_at_every_step_keeps_one_binding() {
    // Found in review (session 23): every `with_value` pushed a frame onto the storage it was
    // called in, so a loop that set a key (a request id, say) at every step grew the storage by
    // one frame per step, `get` walked them all, and dropping the 300,000-frame list at the end
    // overflowed the stack. Lwt's storage is a map: setting a key replaces its binding.
    fn step(k: key::Key<u64>, i: u64, n: u64) -> Promise<u64> {
        if i == n {
            return Promise::ret(key::get(&k).unwrap());
        }
        key::with_value(&k, Some(i), || {
            lwt_core::main::pause().bind(move |()| step(k, i + 1, n))
        })
    }
    let k = key::new_key::<u64>();
    let n = 300_000;
    assert_eq!(lwt_core::main::run(step(k, 0, n)).unwrap(), n - 1);
}

#[test]
fn replacing_or_unsetting_a_key_keeps_the_other_bindings() {
    let (a, b, c) = (
        key::new_key::<u8>(),
        key::new_key::<u8>(),
        key::new_key::<u8>(),
    );
    let all = || (key::get(&a), key::get(&b), key::get(&c));
    key::with_value(&a, Some(1), || {
        key::with_value(&b, Some(2), || {
            key::with_value(&c, Some(3), || {
                key::with_value(&a, Some(4), || {
                    assert_eq!(all(), (Some(4), Some(2), Some(3)));
                    key::with_value(&b, None, || {
                        assert_eq!(all(), (Some(4), None, Some(3)));
                    });
                    assert_eq!(all(), (Some(4), Some(2), Some(3)));
                });
                assert_eq!(all(), (Some(1), Some(2), Some(3)));
            });
        });
    });
    assert_eq!(all(), (None, None, None));
}

#[test]
fn cancel_reaches_the_task_behind_a_chain_and_on_cancel_runs_first() {
    let l = log();
    let (t, _r) = task::<i32>();
    let a = l.clone();
    t.on_failure(move |_| push(&a, "on_failure"));
    let b = l.clone();
    t.on_cancel(move || push(&b, "on_cancel"));
    let end = t.clone().bind(|x| Promise::ret(x + 1)).map(|x| x * 2);
    end.cancel();
    assert_eq!(taken(&l), ["on_cancel", "on_failure"]);
    assert!(t.rejection().unwrap().is_canceled());
    assert!(end.rejection().unwrap().is_canceled());
}

#[test]
fn cancel_after_the_callback_ran_reaches_what_it_returned() {
    let (s, rs) = wait::<()>();
    let (inner, _ri) = task::<()>();
    let inner2 = inner.clone();
    let outer = s.bind(move |()| inner);
    rs.wakeup(());
    outer.cancel();
    assert!(inner2.rejection().unwrap().is_canceled());
    assert!(outer.rejection().unwrap().is_canceled());
}

#[test]
fn cancel_on_wait_does_nothing_and_wakeup_after_cancel_is_a_no_op() {
    let (w, rw) = wait::<i32>();
    w.cancel();
    assert!(w.is_pending());
    rw.wakeup(1);
    assert_eq!(w.state(), State::Fulfilled(1));

    let (t, rt) = task::<i32>();
    t.cancel();
    rt.wakeup(1);
    assert!(t.rejection().unwrap().is_canceled());
}

#[test]
fn canceling_a_long_chain_is_stack_safe() {
    let (t, _r) = task::<u64>();
    let mut p = t;
    for _ in 0..1_000_000 {
        p = p.map(|x| x + 1);
    }
    p.cancel();
    assert!(p.rejection().unwrap().is_canceled());
}

#[test]
fn promises_are_futures() {
    use futures::task::LocalSpawnExt;
    let mut pool = futures::executor::LocalPool::new();
    let (p, r) = wait::<u32>();
    let (q, rq) = wait::<u32>();
    let q2 = q.clone();
    let h = pool
        .spawner()
        .spawn_local_with_handle(async move {
            let a = p.await.unwrap();
            let b = q2.await.unwrap();
            a + b
        })
        .unwrap();
    for _ in 0..3 {
        pool.run_until_stalled(); // repeated polls must not pile up wakers
    }
    assert_eq!(q.callback_count(), 0);
    r.wakeup(1);
    pool.run_until_stalled();
    assert_eq!(q.callback_count(), 1);
    rq.wakeup(41);
    assert_eq!(pool.run_until(h), 42);

    let rejected = futures::executor::block_on(Promise::<()>::fail_with("no"));
    assert_eq!(rejected.unwrap_err().to_string(), "no");
}

#[test]
fn operators_are_bind_and_map() {
    let (p, r) = wait::<i32>();
    let q = p >> (|x| Promise::ret(x + 1)) | (|x| x * 2);
    r.wakeup(20);
    assert_eq!(q.state(), State::Fulfilled(42));
}

// ---- dead waiters on a long-lived promise (`protected` wrappers that were canceled) ----

#[test]
fn a_finished_waiter_leaves_from_either_end_of_the_list_at_once() {
    let (p, _r) = task::<u32>();
    let w: Vec<Promise<u32>> = (0..5).map(|_| p.clone().protected()).collect();
    assert_eq!(p.callback_count(), 5);
    w[0].cancel(); // the oldest: at the front
    assert_eq!(p.callback_count(), 4);
    w[4].cancel(); // the newest: at the back
    assert_eq!(p.callback_count(), 3);
    w[2].cancel(); // in the middle: stays until an end reaches it
    assert_eq!(p.callback_count(), 3);
    w[1].cancel(); // now the front, and the dead one behind it goes too
    assert_eq!(p.callback_count(), 1);
    w[3].cancel();
    assert_eq!(p.callback_count(), 0);
}

#[test]
fn dead_waiters_between_live_ones_do_not_pile_up() {
    // The first and the newest wrapper stay live, so every dead waiter is between two live
    // ones, out of reach of the ends: they go when the queue would grow.
    let (p, _r) = task::<u32>();
    let _first = p.clone().protected();
    let mut previous = p.clone().protected();
    let mut most = 0;
    for _ in 0..10_000 {
        let next = p.clone().protected();
        previous.cancel();
        previous = next;
        most = most.max(p.callback_count());
    }
    assert!(most <= 8, "{most} callbacks kept for 3 live wrappers");
}

#[test]
fn dropping_a_dead_waiter_that_runs_code_does_not_reenter_the_borrowed_node() {
    // A dead `choose` waiter sits between two live callbacks of `p`; the choose's result holds
    // the last reference to an armed resolver, whose `Abandoned` rejection runs a callback that
    // registers on `p`. The pushes that fill `p`'s queue drop that waiter, and must do it when
    // `p` is no longer borrowed. (Found in review: it panicked with "already borrowed".)
    use lwt_core::{combinators::choose, Resolver};
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = seen.clone();
    let previous = hook::set_async_exception_hook(move |e| s.borrow_mut().push(e.to_string()));
    type V = Rc<Resolver<()>>;
    let (p, _rp) = wait::<V>();
    let _a = p.clone().map(|_| ());
    let (q, rq) = wait::<V>();
    drop(choose(vec![p.clone(), q]));
    let _b = p.clone().map(|_| ());
    let (x, rx) = wait::<()>();
    let p2 = p.clone();
    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    x.on_failure(move |_| {
        *r.borrow_mut() = true;
        drop(p2.clone().map(|_| ()));
    });
    drop(x);
    rq.wakeup(Rc::new(rx));
    let mut keep = Vec::new();
    for _ in 0..64 {
        keep.push(p.clone().map(|_| ()));
    }
    hook::restore_async_exception_hook(previous);
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
    assert!(*ran.borrow(), "the abandoned resolver's callback ran");
}

/// A value whose `clone` panics.
#[derive(Debug, PartialEq)]
struct CloneBomb(u32);

impl Clone for CloneBomb {
    fn clone(&self) -> CloneBomb {
        panic!("CloneBomb::clone")
    }
}

/// Found by review (session 24): once a handle was cloned, each consumer got `T::clone` of the
/// value, outside the `catch_unwind` that guards callbacks. A panicking clone unwound out of
/// `wakeup` (or out of `bind` on a resolved promise) and dropped the consumer's continuation, so
/// its promise stayed pending for ever. It now rejects that consumer with `Panicked`, as a panic
/// in its callback would.
#[test]
fn a_panicking_clone_rejects_its_consumer_instead_of_unwinding_out_of_wakeup() {
    let (p, r) = wait::<CloneBomb>();
    let p2 = p.clone(); // from now on, consumers get clones
    let q1 = p.map(|b| b.0);
    let q2 = p2.clone().map(|b| b.0 + 1);
    let woke = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.wakeup(CloneBomb(1))));
    assert!(woke.is_ok(), "the panic unwound out of wakeup");
    for q in [q1, q2] {
        let e = q.rejection().expect("the consumer is rejected");
        assert_eq!(
            e.downcast_ref::<Panicked>().unwrap().message(),
            "CloneBomb::clone"
        );
    }
    // The same on a promise resolved already: the panic does not escape `bind`.
    let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p2.bind(|b| Promise::ret(b.0))
    }));
    assert!(late.expect("bind did not unwind").is_rejected());
}

/// Pins the documented difference of `on_cancel` on a canceled promise whose callbacks are still
/// running: `f` waits for its turn after them (Lwt runs it at once, before the rest of the
/// callback that registered it).
#[test]
fn on_cancel_registered_by_a_callback_of_the_canceled_promise_runs_after_that_callback() {
    let log = log();
    let (t, _r) = task::<()>();
    let t2 = t.clone();
    let l = log.clone();
    t.on_failure(move |_| {
        let l2 = l.clone();
        t2.on_cancel(move || push(&l2, "on_cancel"));
        push(&l, "after on_cancel returned");
    });
    t.cancel();
    assert_eq!(taken(&log), ["after on_cancel returned", "on_cancel"]);
}

/// Found by review (session 24): `N_k = s_k.bind(|()| N_{k-1})` with `s_1..s_n` resolved in turn
/// makes a chain of proxies `N_0 → N_1 → … → N_n`, each held only by the one before it. The first
/// lookup of the root from `N_0` compresses the path, which dropped the chain one nested `drop`
/// at a time: a million links overflowed an 8 MiB stack. (Lwt 5.6.1 overflows here too, in
/// `Lwt.state p0`.) Runs on a thread with an 8 MiB stack, the main thread's usual size.
#[test]
fn a_long_chain_of_proxies_is_freed_without_overflowing_the_stack() {
    let ran = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let n = 1_000_000;
            let (p0, r0) = wait::<u32>();
            let first = p0.clone();
            let mut acc = p0;
            let mut resolvers = Vec::with_capacity(n);
            for _ in 0..n {
                let (s, rs) = wait::<()>();
                let prev = acc;
                acc = s.bind(move |()| prev);
                resolvers.push(rs);
            }
            for rs in resolvers {
                rs.wakeup(());
            }
            assert_eq!(first.state(), State::Pending); // the lookup that compressed the path
            r0.wakeup(7);
            assert_eq!(acc.state(), State::Fulfilled(7));
            drop(first);
            drop(acc);
        })
        .unwrap()
        .join();
    assert!(ran.is_ok());
}

/// Session 42 frees a node's state by hand (it is in a `ManuallyDrop`, and the drop glue is
/// skipped for a resolved state with nothing left to run): whatever each kind of state owns is
/// still dropped with the node. A captured `Rc` counts the owners that are left.
#[test]
fn a_freed_node_drops_what_its_state_owns() {
    let held = Rc::new(());
    // A pending root: its callbacks (a map's closure, an `on_cancel`) and its cancel link.
    {
        let (p, r) = task::<u8>();
        let (h1, h2) = (held.clone(), held.clone());
        p.on_cancel(move || drop(h1));
        let mapped = p.map(move |x| {
            let _ = &h2;
            x
        });
        assert_eq!(Rc::strong_count(&held), 3);
        drop((mapped, r));
    }
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "an abandoned node's callbacks were kept"
    );
    // A resolved node: its value.
    {
        let (p, r) = wait::<Rc<()>>();
        r.wakeup(held.clone());
        assert_eq!(Rc::strong_count(&held), 2);
        drop(p);
    }
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "a resolved node's value was kept"
    );
    // A proxy (a bind's result merged into the promise its callback returned) and its root.
    {
        let (outer, ro) = wait::<()>();
        let (inner, ri) = wait::<Rc<()>>();
        let h = held.clone();
        let bound = outer.bind(move |()| inner.map(move |v| (v, h)));
        ro.wakeup(());
        assert!(bound.is_pending());
        drop((bound, ri));
    }
    assert_eq!(Rc::strong_count(&held), 1, "a proxy's root was kept");
    // A node freed while pending (a bind's result resolved with itself stays pending, with
    // no resolver left), with its cancel link to the promise it was bound on, whose value
    // that promise keeps (its handle was cloned).
    {
        let (s, rs) = wait::<Rc<()>>();
        drop(s.clone());
        let cell: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
        let c = cell.clone();
        let p = s.bind(move |_| c.borrow_mut().take().unwrap());
        *cell.borrow_mut() = Some(p.clone());
        rs.wakeup(held.clone());
        assert!(p.is_pending());
        drop(p);
    }
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "a pending node's cancel link was kept"
    );
}

/// rev110: a node freed while pending, with no resolution to use its callbacks up (its
/// resolver forgotten: an armed resolver's drop rejects the promise, and the callbacks run):
/// one callback, and several with a waker among them, are dropped with the node.
#[test]
fn a_freed_pending_node_drops_its_callbacks() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    struct NoWake;
    impl Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }
    let held = Rc::new(());
    {
        let (p, r) = task::<u8>();
        r.forget();
        let h = held.clone();
        p.on_cancel(move || drop(h));
        assert_eq!(Rc::strong_count(&held), 2);
        drop(p);
    }
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "a freed pending node's callback was kept"
    );
    let waker_owner = Arc::new(NoWake);
    {
        let (mut p, r) = wait::<u8>();
        r.forget();
        let (h1, h2) = (held.clone(), held.clone());
        p.on_cancel(move || drop(h1));
        p.on_success(move |_| {
            let _ = &h2;
        });
        let waker = Waker::from(waker_owner.clone());
        assert!(Pin::new(&mut p)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(waker);
        assert_eq!(
            (Rc::strong_count(&held), Arc::strong_count(&waker_owner)),
            (3, 2)
        );
        drop(p);
    }
    assert_eq!(
        Rc::strong_count(&held),
        1,
        "a freed pending node's callbacks were kept"
    );
    assert_eq!(
        Arc::strong_count(&waker_owner),
        1,
        "a freed pending node's waker was kept"
    );
}

/// rev110: a chain of pending nodes, each owning the next in a callback, is freed one node
/// inside the other, so its depth is bounded by the stack. Each level took 96 bytes in the
/// test profile before session 42's hand-made free of a node's state, 208 with its first
/// version (which moved the whole state into the frame of an out-of-line call), and 144 now
/// (fields taken out one by one, inline): 6000 levels on a 1 MiB stack overflowed with the
/// first version and fit before and now.
#[test]
fn a_chain_of_nodes_owning_each_other_is_freed_on_a_small_stack() {
    let freed = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let (first, r) = wait::<u8>();
            r.forget();
            let mut prev = first;
            for _ in 0..6000 {
                let (p, r) = wait::<u8>();
                r.forget();
                let held = prev;
                p.on_cancel(move || drop(held));
                prev = p;
            }
            drop(prev);
        })
        .unwrap()
        .join();
    assert!(freed.is_ok());
}

// The promise a `RegistersOnDrop` registers on when it is dropped.
thread_local! {
    static WATCHED: RefCell<Option<Promise<i64>>> = const { RefCell::new(None) };
}

/// A value whose `drop` (of the original, not of its clones) registers callbacks on the
/// promise in [`WATCHED`].
struct RegistersOnDrop(Option<Log>);

impl Clone for RegistersOnDrop {
    fn clone(&self) -> Self {
        RegistersOnDrop(None)
    }
}

impl Drop for RegistersOnDrop {
    fn drop(&mut self) {
        let (Some(l), Some(x)) = (self.0.take(), WATCHED.with(|w| w.borrow().clone())) else {
            return;
        };
        push(&l, format!("in drop: pending = {}", x.is_pending()));
        let (a, b) = (l.clone(), l.clone());
        x.on_success(move |v| push(&a, format!("on_success {v}")));
        x.clone()
            .map(move |v| push(&b, format!("map {v}")))
            .on_failure({
                let l = l.clone();
                move |e| push(&l, format!("map rejected: {e}"))
            });
    }
}

#[test]
fn callbacks_added_while_a_resolution_drops_the_old_cancel_link_run() {
    // Found in review (session 28): resolving `x` dropped its cancel link, which freed the
    // promise `x` had waited on and a value in it, before storing `x`'s outcome. A `drop` of
    // that value found `x` neither pending nor holding a value: its `on_success` never ran, and
    // its `map` was rejected with "already moved out". Lwt gives a resolved promise its state
    // before anything else runs.
    let l = log();
    let (n, rn) = wait::<i64>();
    let (s, rs) = wait::<RegistersOnDrop>();
    drop(s.clone()); // two handles once: from now on `s`'s value stays in its node
    let rs = RefCell::new(Some(rs));
    let n2 = n.clone();
    // `x` waits on `s`, then on `n`; only `x`'s cancel link keeps `s` alive once it is done.
    let x = s.bind(move |_| n2);
    WATCHED.with(|w| *w.borrow_mut() = Some(x.clone()));
    let value = RegistersOnDrop(Some(l.clone()));
    // `n`'s first callback resolves `s`, so `x` goes on to wait on `n` while `n` is busy, and
    // is resolved from `n`'s callbacks, dropping its link to `s`.
    n.on_success(move |_| rs.borrow_mut().take().unwrap().wakeup(value));
    rn.wakeup(5);
    WATCHED.with(|w| w.borrow_mut().take());
    assert_eq!(x.state(), State::Fulfilled(5));
    assert_eq!(
        taken(&l),
        ["in drop: pending = false", "on_success 5", "map 5"]
    );
}

/// Pinned from review (rev93, session 40), documented in `resolver`'s docs: once a bind's result
/// and the pending promise its callback returned are one, the returned promise's callbacks run
/// first, whenever they were registered (Lwt 5.6.1 prints `C A B`).
#[test]
fn after_a_merge_the_returned_promises_callbacks_run_first() {
    let order = Rc::new(RefCell::new(String::new()));
    let push = |s: &'static str| {
        let order = order.clone();
        move |_: &()| order.borrow_mut().push_str(s)
    };
    let (p, r) = wait::<()>();
    let (t2, r2) = wait::<()>();
    let returned = t2.clone();
    let q = p.bind(move |()| t2);
    q.on_success(push("A"));
    returned.on_success(push("B"));
    r.wakeup(());
    q.on_success(push("C"));
    r2.wakeup(());
    assert_eq!(*order.borrow(), "BAC");
}
