//! A `wait()` or `task()` promise fulfilled by `wakeup` (or `wakeup_later`) whose only callback
//! is a bind's continuation: the shape a lone-consumer shortcut (the value handed to the
//! continuation at once, as `Node::wake_pause` does for a woken pause) would take, and rev139
//! measured (`bench/HISTORY.md`). Each scenario runs twice: with the promise bound once (that
//! shape), and with an `on_cancel` callback registered first, which never runs on a fulfilled
//! promise but keeps the resolution on the general path. The two logs must be the same, and the
//! one Lwt 5.6 gives the same program: the continuation runs before `wakeup` returns, nested in
//! a callback's `wakeup`, and as a job of the loop (a `wakeup_later` it makes waits until it
//! returns); past the nesting limit the job is queued; canceling the bind's result from inside
//! the continuation and a task canceled before its `wakeup` behave alike on both paths.

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{task, wait, Exn, Promise, Resolver, State};

type Log = Rc<RefCell<Vec<String>>>;

fn push(log: &Log, what: impl Into<String>) {
    log.borrow_mut().push(what.into());
}

/// `p.bind(f)`, on the general path when `general` (a second callback, registered first).
fn bind_via<T: 'static, U: 'static>(
    general: bool,
    p: Promise<T>,
    f: impl FnOnce(T) -> Promise<U> + 'static,
) -> Promise<U> {
    if general {
        // Runs only on a canceled promise, where the fast path is never taken either.
        p.on_cancel(|| ());
    }
    p.bind(f)
}

/// Runs `scenario` on both paths and checks that both logs are `expected`.
fn both_paths(expected: &[&str], scenario: impl Fn(bool, &Log)) {
    for general in [false, true] {
        let log: Log = Rc::default();
        scenario(general, &log);
        assert_eq!(*log.borrow(), expected, "general path: {general}");
    }
}

#[test]
fn wakeup_from_outside_runs_the_continuation_and_its_wakeup_later_before_returning() {
    both_paths(
        &[
            "continuation got 7",
            "continuation returns",
            "w's callback",
            "wakeup returned",
            "q = 8",
        ],
        |general, log| {
            let (w, rw) = wait::<()>();
            let l = log.clone();
            w.on_success(move |()| push(&l, "w's callback"));
            let (p, r) = wait::<String>();
            let l = log.clone();
            let q = bind_via(general, p, move |s: String| {
                push(&l, format!("continuation got {s}"));
                rw.wakeup_later(());
                push(&l, "continuation returns");
                Promise::ret(s.len() + 7)
            });
            r.wakeup("7".to_owned());
            push(log, "wakeup returned");
            push(log, format!("q = {}", q.state_value()));
        },
    );
}

trait StateValue {
    fn state_value(&self) -> String;
}

impl<T: std::fmt::Debug + Clone + 'static> StateValue for Promise<T> {
    fn state_value(&self) -> String {
        match self.state() {
            State::Fulfilled(v) => format!("{v:?}"),
            State::Rejected(e) => format!("rejected {e}"),
            State::Pending => "pending".to_owned(),
        }
    }
}

#[test]
fn wakeup_inside_a_callback_nests_and_defers_the_wakeup_later_it_makes() {
    both_paths(
        &[
            "outer starts",
            "inner",
            "outer's wakeup returned",
            "w's callback",
            "after",
        ],
        |general, log| {
            let (outer, router) = wait::<()>();
            let (p, r) = task::<u32>();
            let (w, rw) = wait::<()>();
            let l = log.clone();
            w.on_success(move |()| push(&l, "w's callback"));
            let l = log.clone();
            let _inner = bind_via(general, p, move |_| {
                push(&l, "inner");
                rw.wakeup_later(());
                Promise::ret(())
            });
            let l = log.clone();
            let _outer = outer.bind(move |()| {
                push(&l, "outer starts");
                r.wakeup(1);
                push(&l, "outer's wakeup returned");
                Promise::ret(())
            });
            router.wakeup(());
            push(log, "after");
        },
    );
}

#[test]
fn wakeup_later_runs_at_once_outside_the_loop_and_is_queued_inside_a_callback() {
    both_paths(
        &["top", "outer", "outer returns", "queued", "after"],
        |general, log| {
            let (p, r) = wait::<u8>();
            let l = log.clone();
            let _top = bind_via(general, p, move |_| {
                push(&l, "top");
                Promise::ret(())
            });
            r.wakeup_later(1);
            let (outer, router) = wait::<()>();
            let (p, r) = wait::<u8>();
            let l = log.clone();
            let _queued = bind_via(general, p, move |_| {
                push(&l, "queued");
                Promise::ret(())
            });
            let l = log.clone();
            let _outer = outer.bind(move |()| {
                push(&l, "outer");
                r.wakeup_later(2);
                push(&l, "outer returns");
                Promise::ret(())
            });
            router.wakeup(());
            push(log, "after");
        },
    );
}

/// Each level's continuation wakes the next level's promise: past the nesting limit (64) the
/// job is queued, and runs once the level that made the wakeup has returned.
#[test]
fn wakeups_nested_past_the_limit_are_queued_in_the_same_order() {
    fn level(general: bool, log: &Log, n: usize, max: usize) -> (Promise<()>, Resolver<usize>) {
        let (p, r) = wait::<usize>();
        let l = log.clone();
        let next = if n < max {
            Some(level(general, log, n + 1, max))
        } else {
            None
        };
        let q = bind_via(general, p, move |v| {
            push(&l, format!("in {v}"));
            let kept = next.map(|(q, r)| {
                r.wakeup(v + 1);
                q
            });
            push(&l, format!("out {v}"));
            drop(kept);
            Promise::ret(())
        });
        (q, r)
    }
    let mut expected = Vec::new();
    for general in [false, true] {
        let log: Log = Rc::default();
        let (q, r) = level(general, &log, 0, 70);
        r.wakeup(0);
        assert!(q.is_fulfilled());
        let got = log.borrow().clone();
        if general {
            assert_eq!(got, expected, "general path");
        } else {
            // Nested, each level's continuation runs inside the one before up to the limit.
            assert_eq!(got[..3], ["in 0", "in 1", "in 2"]);
            assert!(got.iter().position(|s| s == "out 0") > got.iter().position(|s| s == "in 64"));
            expected = got;
        }
    }
}

#[test]
fn the_result_canceled_inside_the_continuation_and_a_canceled_task_match() {
    both_paths(
        &["continuation", "q pending", "not woken: rejected canceled"],
        |general, log| {
            let (p, r) = task::<u8>();
            let slot: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
            let s = slot.clone();
            let l = log.clone();
            let (inner, _keep) = task::<()>();
            let q = bind_via(general, p, move |_| {
                push(&l, "continuation");
                if let Some(q) = s.borrow().as_ref() {
                    q.cancel();
                }
                inner
            });
            *slot.borrow_mut() = Some(q.clone());
            r.wakeup(3);
            push(log, format!("q {}", q.state_value()));
            // A task canceled before its wakeup: the wakeup does nothing.
            let (p, r) = task::<u8>();
            let l = log.clone();
            let q = bind_via(general, p, move |_| {
                push(&l, "must not run");
                Promise::ret(())
            });
            q.cancel();
            r.wakeup(4);
            push(log, format!("not woken: {}", q.state_value()));
        },
    );
}

#[test]
fn a_rejection_and_a_cloned_promise_take_the_general_path_with_the_same_outcome() {
    let (p, r) = wait::<u8>();
    let kept = p.clone();
    let q = p.bind(|v| Promise::ret(v + 1));
    r.wakeup(1);
    assert_eq!(q.state_value(), "2");
    assert_eq!(kept.state_value(), "1");
    let (p, r) = wait::<u8>();
    let q = p.bind(|v| Promise::ret(v + 1));
    r.wakeup_exn(Exn::failure("no"));
    assert!(q.is_rejected());
}
