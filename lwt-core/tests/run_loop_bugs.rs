//! Regression tests for bugs of the run loop and its timers, each shrunk to a small program, all
//! fixed: a hook removed after a nested turn of the loop kept running; `with_timeout` left its
//! timer behind when its function panicked; exit hooks run from a timer's, a pause's or an async
//! task's callback turned the loop without the timers, pauses or task polls due together with it;
//! an iteration whose timers, fired before it polls, resolved `run`'s promise still blocked
//! in the poll until the next timer; and four differences from Lwt 5.6.1 that
//! `ocaml_diff_loop.rs` found: a canceled pause kept the next iteration from blocking, exit hooks
//! ran one `run` each, a zero sleep made by a timer's callback fired in the same iteration, and
//! the exit hooks run from a callback deferred what a hook's `cancel` resolved until the
//! callback's turn (or the callback) was over; and one more it found once its programs added and
//! removed exit hooks: `exit` called while the exit hooks ran ran those left alongside. Also
//! from `timers_fuzz`: after a late poll, older timers fired before a timer due earlier that a
//! callback of the iteration had made. And a hook removed during its pass, dropped when the
//! pass ended, could not remove another hook of its list from its captures' `drop`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use lwt_core::combinators::choose;
use lwt_core::future::spawn_local;
use lwt_core::{hook, join, main, unix, Promise};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(l: &Log, s: &str) {
    l.borrow_mut().push(s.to_string());
}

/// Collects what reaches the async exception hook while `f` runs.
fn with_async_errors<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let errors = log();
    let e = errors.clone();
    let previous = hook::set_async_exception_hook(move |x| e.borrow_mut().push(x.to_string()));
    let r = f();
    hook::restore_async_exception_hook(previous);
    let errors = errors.borrow().clone();
    (r, errors)
}

/// Found by reading `run_some_hooks` while writing `timers_fuzz`. An enter hook runs the exit
/// hooks (`main::exit` from a hook does this), which turns the loop nested, leave hooks
/// included; the nested pass of leave hooks cleared the "hooks are running" flag, so the
/// enter hook's `remove_hook` of a later enter hook, which was taken out to run, was not
/// recorded: that hook ran in the same pass and was put back, to run at every iteration after.
#[test]
fn a_hook_removed_after_a_nested_turn_of_the_loop_does_not_run_again() {
    let l = log();
    let second_id = Rc::new(RefCell::new(None));
    main::at_exit(main::pause);
    let leave = main::add_leave_hook(|| {});
    let (l1, id1) = (l.clone(), second_id.clone());
    let first = main::add_enter_hook(move || {
        push(&l1, "first");
        if l1.borrow().len() == 1 {
            main::run_exit_hooks();
            let id = id1.borrow().unwrap();
            main::remove_hook(id);
        }
    });
    let l2 = l.clone();
    let second = main::add_enter_hook(move || push(&l2, "second"));
    *second_id.borrow_mut() = Some(second);
    let three_iterations = main::pause()
        .bind(|()| main::pause())
        .bind(|()| main::pause());
    main::run(three_iterations).unwrap();
    main::remove_hook(first);
    main::remove_hook(second);
    main::remove_hook(leave);
    // The nested turn woke one of the pauses: the loop turned once more, without `second`
    // (before the fix: ["first", "second", "first", "second"]).
    assert_eq!(*l.borrow(), ["first", "first"]);
}

/// Found by reading `with_timeout` against Lwt's (`pick [timeout d; apply f ()]`, whose list
/// OCaml evaluates right to left). The timeout's sleep was made before `f` was called, so when
/// `f` panicked the timer was left behind: it counted in `timer_count`, kept a loop with
/// nothing else to do waiting for it (an hour here) instead of reporting that nothing can
/// resolve its promise, and fired for nobody.
#[test]
fn with_timeout_whose_function_panics_leaves_no_timer() {
    let before = unix::timer_count();
    let p = unix::with_timeout(Duration::from_secs(3600), || -> Promise<()> {
        panic!("the operation cannot start")
    });
    // Found in review (session 21): the panic unwound out of `with_timeout`; as Lwt's `apply f
    // ()`, it is a rejection.
    let e = p.rejection().expect("rejected at once");
    assert_eq!(
        e.downcast_ref::<lwt_core::Panicked>().unwrap().message(),
        "the operation cannot start"
    );
    assert_eq!(unix::timer_count(), before);
}

/// Found by `timers_fuzz` (`TIMERS_FUZZ_EXIT=1`): a timer's callback that runs the exit hooks
/// (`main::exit` from a callback) turns the loop nested, but the timers that were due in the
/// same pass as that callback waited in the outer pass's local list, out of the heap: the nested
/// loop fired a later timer (`c`) before them, and an exit hook waiting for one of them (`b`) was
/// reported as stuck ("nothing can resolve it") to the async exception hook. Fixed in
/// `engine.rs`: the due timers wait in the engine's list and are woken one at a time from it, so
/// that a nested pass goes on with them.
#[test]
fn exit_hooks_run_from_a_timer_callback_see_the_timers_due_with_it() {
    let l = log();
    let t0 = Instant::now();
    let a = unix::sleep_until(t0 + Duration::from_millis(1));
    let b = unix::sleep_until(t0 + Duration::from_millis(1));
    let c = unix::sleep_until(t0 + Duration::from_millis(2));
    let (la, lb, lc, lh) = (l.clone(), l.clone(), l.clone(), l.clone());
    let b_for_hook = b.clone();
    main::at_exit(move || b_for_hook.map(move |()| push(&lh, "exit hook")));
    let a = a.map(move |()| {
        push(&la, "a");
        main::run_exit_hooks();
    });
    let b = b.map(move |()| push(&lb, "b"));
    let c = c.map(move |()| push(&lc, "c"));
    let (result, errors) = with_async_errors(|| main::run(join(vec![a, b, c])));
    result.unwrap();
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(*l.borrow(), ["a", "b", "exit hook", "c"]);
}

/// As above for pauses: a pause's callback that runs the exit hooks turned the loop nested while
/// the other pauses of its iteration waited in the outer pass's local list; an exit hook waiting
/// for one of them was reported as stuck. Fixed the same way.
#[test]
fn exit_hooks_run_from_a_pause_callback_see_the_pauses_due_with_it() {
    let l = log();
    let a = main::pause();
    let b = main::pause();
    let (la, lb, lh) = (l.clone(), l.clone(), l.clone());
    let b_for_hook = b.clone();
    main::at_exit(move || b_for_hook.map(move |()| push(&lh, "exit hook")));
    let a = a.map(move |()| {
        push(&la, "a");
        main::run_exit_hooks();
    });
    let b = b.map(move |()| push(&lb, "b"));
    let (result, errors) = with_async_errors(|| main::run(join(vec![a, b])));
    result.unwrap();
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(*l.borrow(), ["a", "b", "exit hook"]);
}

/// Found by `timers_fuzz` (a `run` of an exit hook waiting for a sleep already due, with an
/// hour-long sleep pending, hung). An iteration fires the due timers *before* it polls, and then
/// polled blocking until the next deadline (or, with an fd waited on and no timer, forever) even
/// when those timers resolved `run`'s promise: `run` only looks at its promise between
/// iterations. Here `run` returned only when the 10 s timer fired. Fixed in `engine.rs`: an
/// iteration whose first firing of timers woke any does not block in the poll (as with promises
/// paused), so `run` sees its promise resolved at once, as Lwt 5.6.1's does.
#[test]
fn run_returns_when_a_timer_due_before_the_poll_resolves_its_promise() {
    let far = unix::sleep(Duration::from_secs(10));
    let due = unix::sleep(Duration::ZERO);
    main::run(due).unwrap();
    assert!(
        far.is_pending(),
        "run blocked in the poll until the next timer"
    );
    far.cancel();
}

/// As above for async tasks (`spawn_local`) woken on the loop's thread: their polls wait in the
/// engine's `soon` list until the next iteration, which took the whole list into a local one
/// before running it. A task that runs the exit hooks (`main::exit` from async code) turned the
/// loop nested while the tasks woken with it waited in that local list, out of the nested
/// loop's reach: an exit hook waiting for one of them waited until its timeout (and with no
/// timer, for good: a live task keeps the loop polling). Fixed the same way: the polls are run
/// one at a time from the engine's own list.
#[test]
fn exit_hooks_run_from_an_async_task_see_the_tasks_woken_with_it() {
    let l = log();
    let (a_woken, b_woken) = (main::pause(), main::pause());
    let (la, lb) = (l.clone(), l.clone());
    let a = spawn_local(async move {
        a_woken.await.unwrap();
        push(&la, "a");
        main::run_exit_hooks();
    });
    let b = spawn_local(async move {
        b_woken.await.unwrap();
        push(&lb, "b");
    });
    let b_for_hook = b.clone();
    exit_hook_reaches_the_rest_of_the_pass(&l, b_for_hook, "task b was not polled", vec![a, b]);
}

/// Runs `tasks` (one of which logs "a" and runs the exit hooks, and a later one "b") with an exit
/// hook that logs once `b` is resolved, or fails with `missing` after 500 ms; checks that the
/// nested loop the exit hooks turned reached `b` at once, without blocking in its poll.
fn exit_hook_reaches_the_rest_of_the_pass(
    l: &Log,
    b: Promise<()>,
    missing: &'static str,
    tasks: Vec<Promise<()>>,
) {
    let lh = l.clone();
    let timeout = unix::sleep(Duration::from_millis(500));
    let timed_out = timeout.clone().bind(move |()| Promise::fail_with(missing));
    main::at_exit(move || choose(vec![b.map(move |()| push(&lh, "exit hook")), timed_out]));
    let (result, errors) = with_async_errors(|| main::run(join(tasks)));
    let blocked = timeout.is_fulfilled();
    timeout.cancel();
    result.unwrap();
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(*l.borrow(), ["a", "b", "exit hook"]);
    assert!(
        !blocked,
        "the nested loop blocked in its poll until the timeout"
    );
}

/// As above for descriptors: the waiters a poll found ready were taken into a local list before
/// they were woken, so a waiter's callback that runs the exit hooks turned the loop nested while
/// the other waiters of that poll waited in that list, out of the nested loop's reach; and the
/// reactor is edge-triggered, so the nested poll did not report their descriptor again. An exit
/// hook waiting for one of them waited until its timeout (with no timer, the loop found nothing
/// to wait for and reported it stuck). Fixed the same way: the ready waiters are woken one at a
/// time from the engine's own list.
#[test]
fn exit_hooks_run_from_an_io_callback_see_the_waiters_ready_with_it() {
    let l = log();
    let (r, w) = unix::pipe().unwrap();
    // Two waits on one descriptor: one poll finds both ready, in this order.
    let (a, b) = (r.wait_read(), r.wait_read());
    let written = w.write(b"x".to_vec());
    assert!(written.is_fulfilled(), "the pipe takes a byte at once");
    let (la, lb) = (l.clone(), l.clone());
    let b_for_hook = b.clone();
    let a = a.map(move |()| {
        push(&la, "a");
        main::run_exit_hooks();
    });
    let b = b.map(move |()| push(&lb, "b"));
    exit_hook_reaches_the_rest_of_the_pass(
        &l,
        b_for_hook,
        "the second wait was not woken",
        vec![a, b],
    );
}

/// Found while fixing the above: a task woken while it is being polled, from a loop turned
/// inside its own poll (the future runs the exit hooks, and an exit hook resolves a promise the
/// task still has its waker on, as `select` leaves it), was polled again by the nested loop,
/// inside its own poll: its future's `RefCell` was borrowed already, and the task failed with
/// "RefCell already borrowed". The nested loop now leaves it; that wake is kept, and the task
/// is polled again once its poll returns `Pending`, as the `Future` contract asks (a wake during
/// a poll means polling again).
#[test]
fn a_task_woken_by_a_loop_turned_inside_its_own_poll_is_polled_after_that_poll() {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    /// Keeps the task's waker, runs the exit hooks (whose hook wakes it and sets `ready`), then
    /// answers `Pending` once: only a poll after the wake can finish it.
    struct ExitThenWait {
        waker: Rc<RefCell<Option<Waker>>>,
        ready: Rc<Cell<bool>>,
        ran: bool,
    }
    impl Future for ExitThenWait {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.ran {
                return if self.ready.get() {
                    Poll::Ready("polled again")
                } else {
                    Poll::Pending
                };
            }
            self.ran = true;
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            main::run_exit_hooks();
            Poll::Pending
        }
    }

    let (waker, ready) = (
        Rc::new(RefCell::new(None::<Waker>)),
        Rc::new(Cell::new(false)),
    );
    let (w, r) = (waker.clone(), ready.clone());
    main::at_exit(move || {
        r.set(true);
        w.borrow()
            .as_ref()
            .expect("the task kept its waker")
            .wake_by_ref();
        // The nested loop turns once more after the wake.
        main::pause()
    });
    // Started inside the loop (spawn_local polls at once).
    let task = spawn_local(async move {
        main::pause().await.unwrap();
        ExitThenWait {
            waker,
            ready,
            ran: false,
        }
        .await
    });
    let timeout = unix::sleep(Duration::from_millis(500));
    let timed_out = timeout
        .clone()
        .bind(|()| Promise::fail_with("the task was not polled again"));
    let (result, errors) =
        with_async_errors(|| main::run(choose(vec![task, timed_out.map(|()| "")])));
    timeout.cancel();
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(result.unwrap(), "polled again");
}

/// Counts the iterations (enter hook runs) while `f` runs.
fn counting_iterations<R>(f: impl FnOnce(&Rc<Cell<u32>>) -> R) -> (R, u32) {
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let id = main::add_enter_hook(move || c.set(c.get() + 1));
    let r = f(&n);
    main::remove_hook(id);
    (r, n.get())
}

/// Found by `ocaml_diff_loop` (`a_canceled_yield_costs_no_iteration`). A canceled pause stayed in
/// the engine's paused list until the next iteration woke it, and the iteration looked only at
/// whether that list was empty: it did not block in its poll, so a sleep due later fired one
/// iteration later than with no pause at all. Lwt removes a canceled `Lwt_main.yield` from its
/// queue at once. Fixed in `engine.rs`: a canceled pause does not count when the iteration decides
/// whether it may block. (mio rounds its poll's timeout up to the millisecond, so the one
/// iteration that blocks wakes with the sleep due.)
#[test]
fn a_canceled_pause_does_not_keep_the_next_iteration_from_blocking() {
    let (result, iterations) = counting_iterations(|_| {
        let paused = main::pause();
        paused.cancel();
        main::run(unix::sleep(Duration::from_millis(20)))
    });
    result.unwrap();
    // Before the fix: 2 (the first iteration skipped the wait).
    assert_eq!(iterations, 1);
    assert_eq!(main::paused_count(), 0);
}

/// As above, with a live pause behind canceled ones: the iteration still does not block.
#[test]
fn a_live_pause_behind_canceled_ones_still_keeps_the_iteration_from_blocking() {
    let canceled: Vec<_> = (0..3).map(|_| main::pause()).collect();
    let live = main::pause();
    for p in &canceled {
        p.cancel();
    }
    let far = unix::sleep(Duration::from_secs(10));
    let start = Instant::now();
    main::run(live).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the iteration blocked"
    );
    far.cancel();
}

/// Found by `ocaml_diff_loop` (`exit_hooks_run_one_after_the_other_in_one_iteration`).
/// `run_exit_hooks` ran one `main::run` per exit hook, so the next hook started only after the
/// iteration that ended the previous one, its leave hooks included. Lwt runs them in one
/// `Lwt_main.run` of a chain (`call_hooks`): the next hook starts in the callback where the
/// previous one ended. Fixed in `lwt_main.rs` the same way.
#[test]
fn exit_hooks_run_in_one_run_each_starting_where_the_previous_ended() {
    let l = log();
    let (ll, l1, l2) = (l.clone(), l.clone(), l.clone());
    let leave = main::add_leave_hook(move || push(&ll, "leave"));
    main::at_exit(move || {
        push(&l1, "first registered");
        Promise::ret(())
    });
    main::at_exit(move || main::pause().map(move |()| push(&l2, "second registered done")));
    main::run_exit_hooks();
    main::remove_hook(leave);
    // Before the fix: ["second registered done", "leave", "first registered"].
    assert_eq!(
        *l.borrow(),
        ["second registered done", "first registered", "leave"]
    );
}

/// Found by `ocaml_diff_loop` (`a_zero_sleep_made_by_a_timer_fires_in_the_next_iteration`). The
/// loop looks at its timers twice per iteration, before and after the poll, so a zero sleep made
/// by a timer's callback in the first look fired in the second, in the same iteration. On Lwt,
/// libev looks at its timers once per iteration, after the poll: such a sleep fires in the next.
/// Fixed in `engine.rs` / `timers.rs`: an iteration fires only the timers made before it first
/// looked at them.
#[test]
fn a_zero_sleep_made_by_a_timer_fires_in_the_next_iteration() {
    let ((), iterations) = counting_iterations(|n| {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (s1, s2) = (seen.clone(), seen.clone());
        let (n1, n2) = (n.clone(), n.clone());
        let chain = unix::sleep(Duration::ZERO).bind(move |()| {
            s1.borrow_mut().push(n1.get());
            unix::sleep(Duration::ZERO).map(move |()| s2.borrow_mut().push(n2.get()))
        });
        main::run(chain).unwrap();
        // Before the fix: [1, 1].
        assert_eq!(*seen.borrow(), [1, 2]);
    });
    assert_eq!(iterations, 2);
}

/// A timer made during an iteration that is due before older timers due in the same iteration
/// (a `sleep_until` of an instant past) waits for the next iteration, while the older ones still
/// fire in this one, in deadline order: the loop looks under it.
#[test]
fn a_timer_made_by_a_timer_due_first_waits_while_older_due_timers_fire() {
    let l = log();
    let t0 = Instant::now();
    let (la, lc, lz) = (l.clone(), l.clone(), l.clone());
    let ((), iterations) = counting_iterations(|n| {
        let (na, nc) = (n.clone(), n.clone());
        let nz = n.clone();
        let a = unix::sleep_until(t0 - Duration::from_millis(2)).bind(move |()| {
            push(&la, &format!("a {}", na.get()));
            unix::sleep_until(t0 - Duration::from_millis(10))
                .map(move |()| push(&lz, &format!("z {}", nz.get())))
        });
        let c = unix::sleep_until(t0 - Duration::from_millis(1))
            .map(move |()| push(&lc, &format!("c {}", nc.get())));
        main::run(join(vec![a, c])).unwrap();
    });
    // Before the fix: ["a 1", "z 1", "c 1"].
    assert_eq!(*l.borrow(), ["a 1", "c 1", "z 2"]);
    assert_eq!(iterations, 2);
}

/// Found by `timers_fuzz` (seed 1, case 962, once, under load: "timeout 2: sleep 1 won, the
/// timeout was due first"). A timer's callback, in the iteration's first look at its timers, made
/// a timer due before an older one; the loop was late (here the callback itself blocks), so by the
/// second look, after the poll, both were due. The new timer waited for the next iteration, as it
/// must, but the older one, due later, fired in this one: out of deadline order, so a
/// `with_timeout` made there lost to an operation due after it. On Lwt 5.6.1 the two fire in
/// deadline order (`tests/ocaml/timer_order_after_a_late_poll.ml` prints s0, a, b). Now the
/// second look stops at such a timer, and the older ones behind it wait with it.
#[test]
fn a_timer_made_before_a_late_poll_still_fires_before_older_timers_due_after_it() {
    let l = log();
    let t0 = Instant::now();
    let (la, lb, ls) = (l.clone(), l.clone(), l.clone());
    let b = unix::sleep_until(t0 + Duration::from_millis(20)).map(move |()| push(&lb, "b"));
    let a: Rc<RefCell<Option<Promise<()>>>> = Rc::new(RefCell::new(None));
    let a_slot = a.clone();
    let s0 = unix::sleep_until(t0 + Duration::from_millis(5)).map(move |()| {
        push(&ls, "s0");
        let a = unix::sleep_until(t0 + Duration::from_millis(15)).map(move |()| push(&la, "a"));
        *a_slot.borrow_mut() = Some(a);
        // The loop is late: past both deadlines before it looks at its timers again.
        std::thread::sleep(
            (t0 + Duration::from_millis(25)).saturating_duration_since(Instant::now()),
        );
    });
    // s0 is due when the loop first looks at its timers, before it polls.
    std::thread::sleep((t0 + Duration::from_millis(6)).saturating_duration_since(Instant::now()));
    // `run` waits for both, so the iteration goes on to its poll.
    main::run(s0.bind(move |()| {
        let a = a.borrow_mut().take().expect("s0's callback made it");
        join(vec![a, b])
    }))
    .unwrap();
    // Before the fix: ["s0", "b", "a"].
    assert_eq!(*l.borrow(), ["s0", "a", "b"]);
}

/// A victim to cancel: a `with_timeout` of zero around a long sleep (what a `Lwt_unix.
/// with_timeout 0.` step of `ocaml_diff_loop` is), its failure logged by a `try_bind`.
fn victim(l: &Log) -> Promise<()> {
    let victim = unix::with_timeout(Duration::ZERO, || unix::sleep(Duration::from_secs(5)));
    let lv = l.clone();
    let _observed = victim.clone().try_bind(
        |()| lwt_core::return_unit(),
        move |e| {
            push(
                &lv,
                if e.is_canceled() {
                    "victim canceled"
                } else {
                    "victim timed out"
                },
            );
            lwt_core::return_unit()
        },
    );
    victim
}

/// Sets up an enter hook that cancels the victim put in the slot it returns, at its first run
/// after, and an exit hook that waits for a short sleep; `exit` (here `run_exit_hooks`) is then
/// called by the caller from a callback.
type Slot = Rc<RefCell<Option<Promise<()>>>>;

fn cancel_from_a_hook_while_exit_hooks_run() -> (Log, Slot, main::HookId) {
    let l = log();
    let slot: Slot = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let id = main::add_enter_hook(move || {
        let v = s.borrow_mut().take();
        if let Some(v) = v {
            v.cancel();
        }
    });
    let lh = l.clone();
    main::at_exit(move || {
        unix::sleep(Duration::from_millis(20)).map(move |()| push(&lh, "exit hook done"))
    });
    (l, slot, id)
}

/// Found by `ocaml_diff_loop` (`exit` from a step, seed 1 case 941): the exit hooks run from a
/// callback of the loop turned it inside `settle`, which queued what that turn resolved until
/// the whole turn was over: a hook's `cancel` of a `with_timeout` made in that callback ran its
/// callbacks only after the iteration had blocked for the exit hook's sleep and fired it (Lwt
/// runs them in the hook, at once). Fixed in `lwt_main.rs` (`schedule::as_outermost`): such a
/// turn runs as at the top of the loop.
#[test]
fn a_cancel_by_a_hook_while_exit_hooks_run_from_a_callback_runs_its_callbacks_at_once() {
    let (l, slot, id) = cancel_from_a_hook_while_exit_hooks_run();
    let l2 = l.clone();
    main::run(main::pause().map(move |()| {
        *slot.borrow_mut() = Some(victim(&l2));
        main::run_exit_hooks();
    }))
    .unwrap();
    main::remove_hook(id);
    assert_eq!(*l.borrow(), ["victim canceled", "exit hook done"]);
}

/// Found by `ocaml_diff_loop` (`exit` from a step taken before `run`, seed 2): the same from a
/// callback outside the loop (a `wakeup` before `run`), where the exit hooks' `run` turned the
/// loop inside that callback's drain: the hook's `cancel` was queued behind the callback, which
/// returned only once the exit hooks were done.
#[test]
fn a_cancel_by_a_hook_while_exit_hooks_run_from_a_callback_outside_the_loop_runs_at_once() {
    let (l, slot, id) = cancel_from_a_hook_while_exit_hooks_run();
    *slot.borrow_mut() = Some(victim(&l));
    let (p, r) = lwt_core::wait::<()>();
    p.on_success(|()| main::run_exit_hooks());
    r.wakeup(());
    main::remove_hook(id);
    assert_eq!(*l.borrow(), ["victim canceled", "exit hook done"]);
}

/// `exit` called while the exit hooks run (here from a timer's callback in the iterations they
/// take) ran the hooks left, in a chain of its own alongside the hook still running, before it
/// ended the process (`"X0 start", "timer", "X1"`). On Lwt 5.6.1 an `exit` made then ends the
/// process at once, the Lwt exit hooks left not run (OCaml runs Lwt's exit handler once); found
/// by `ocaml_diff_loop.rs` (seed 1, case 65, once more programs had exit hooks). Fixed: such an
/// `exit` exits at once. The program runs in a child process (this test binary again).
#[test]
fn exit_called_while_the_exit_hooks_run_exits_at_once() {
    const NAME: &str = "exit_called_while_the_exit_hooks_run_exits_at_once";
    if std::env::var_os("LWT_CORE_EXIT_CHILD").is_some() {
        main::add_exit_hook_last(|| {
            println!("@X0 start");
            unix::sleep(Duration::from_millis(30)).map(|()| println!("@X0 done"))
        });
        main::add_exit_hook_last(|| {
            println!("@X1");
            lwt_core::return_unit()
        });
        let _timer = unix::sleep(Duration::from_millis(5)).map(|()| {
            println!("@timer");
            main::exit(3)
        });
        main::run_exit_hooks();
        println!("@run_exit_hooks returned");
        std::process::exit(0);
    }
    let (events, _, code) = in_child(NAME, "LWT_CORE_EXIT_CHILD");
    assert_eq!(events, ["X0 start", "timer"]);
    assert_eq!(code, Some(3));
}

/// Found by review (rev54, session 35): `exit` from a callback runs the exit hooks inside the
/// loop, where a hook's own `main::run` failed as a nested call; Lwt's exit handler marks its
/// loop finished before it calls the hooks, and there the hook's `run` works (`h2 nested run
/// ok`). The program runs in a child process (this test binary again).
#[test]
fn an_exit_hooks_own_run_works_after_an_exit_from_a_callback() {
    const NAME: &str = "an_exit_hooks_own_run_works_after_an_exit_from_a_callback";
    if std::env::var_os("LWT_CORE_EXIT_RUN_CHILD").is_some() {
        main::at_exit(|| {
            println!("@h1");
            lwt_core::return_unit()
        });
        main::at_exit(|| {
            let inner = main::run(unix::sleep(Duration::from_millis(5)).map(|()| 7));
            println!("@h2 run {:?}", inner.map_err(|e| e.to_string()));
            lwt_core::return_unit()
        });
        let timer = unix::sleep(Duration::from_millis(5)).map(|()| -> () { main::exit(3) });
        let _ = main::run(timer);
        println!("@not exited");
        std::process::exit(0);
    }
    let (events, _, code) = in_child(NAME, "LWT_CORE_EXIT_RUN_CHILD");
    assert_eq!(events, ["h2 run Ok(7)", "h1"]);
    assert_eq!(code, Some(3));
}

/// Found in review (session 30), by a test of an `exit` sent from a job to its loop, which hung
/// one time in four: a loop turned from inside work another thread posted (here a job's completion,
/// whose callback runs the exit hooks) blocked in its poll with more posted work queued, whose
/// wake the outer iteration had already taken. The hook waits on a second job, finished and
/// posted behind the first: it was never run. Both jobs end while the loop's thread sleeps, so
/// both completions are queued before the loop's first poll.
#[test]
fn a_loop_turned_from_posted_work_runs_the_work_posted_behind_it() {
    let (done, finished) = std::sync::mpsc::channel();
    // On a thread of its own, so that a hang fails the test instead of stopping it.
    std::thread::spawn(move || {
        let first = lwt_core::preemptive::detach(|| 1);
        let second = lwt_core::preemptive::detach(|| {
            std::thread::sleep(Duration::from_millis(20));
            2
        });
        let hook_saw = Rc::new(Cell::new(0));
        let h = hook_saw.clone();
        main::at_exit(move || second.map(move |v| h.set(v)));
        let p = first.map(|v| {
            main::run_exit_hooks(); // turns the loop, from the first completion's callback
            v
        });
        std::thread::sleep(Duration::from_millis(200)); // both jobs end and post meanwhile
        let v = main::run(p).unwrap();
        let _ = done.send((v, hook_saw.get()));
    });
    let outcome = finished.recv_timeout(Duration::from_secs(20));
    assert_eq!(outcome, Ok((1, 2)), "the loop hung beside posted work");
}

/// Runs the test `name` of this binary again in a child process, with `var` set (the test runs
/// its program when it sees it): the events it printed (`@event` lines), its standard error and
/// its exit status.
fn in_child(name: &str, var: &str) -> (Vec<String>, String, Option<i32>) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(var, "1")
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        // (The harness's "test ... " may start the first line.)
        .filter_map(|l| l.split_once('@').map(|(_, e)| e.to_owned()))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (events, stderr, out.status.code())
}

/// Found in review (session 21): `remove_hook` dropped an enter or leave hook while its list was
/// borrowed, so a hook whose captures add or remove a hook when they drop (a guard, say) panicked
/// with "already borrowed". The exit hooks' branch already dropped after the borrow.
#[test]
fn a_removed_hook_may_touch_the_hooks_as_it_drops() {
    struct AddsAndRemovesOnDrop(Log);
    impl Drop for AddsAndRemovesOnDrop {
        fn drop(&mut self) {
            let id = main::add_enter_hook(|| {});
            main::remove_hook(id);
            push(&self.0, "dropped");
        }
    }
    struct RemovesOnDrop(main::HookId);
    impl Drop for RemovesOnDrop {
        fn drop(&mut self) {
            main::remove_hook(self.0);
        }
    }
    let l = log();
    let guard = AddsAndRemovesOnDrop(l.clone());
    let enter = main::add_enter_hook(move || {
        let _ = &guard;
    });
    main::remove_hook(enter);
    assert_eq!(*l.borrow(), ["dropped"]);

    let other = main::add_leave_hook(|| {});
    let guard = RemovesOnDrop(other);
    let leave = main::add_leave_hook(move || {
        let _ = &guard;
    });
    main::remove_hook(leave);
    // Both are gone: a run with no hooks left logs nothing from them.
    let ran = log();
    let r = ran.clone();
    let probe = main::add_leave_hook(move || push(&r, "leave"));
    main::run(main::pause()).unwrap();
    main::remove_hook(probe);
    assert_eq!(*ran.borrow(), ["leave"]);
}

/// Found in review (session 21): `restore_async_exception_hook` dropped the hook it replaced
/// while the hook's cell was borrowed; a hook whose captures read the hook when they drop
/// panicked.
#[test]
fn a_replaced_async_exception_hook_may_report_as_it_drops() {
    struct ReportsOnDrop;
    impl Drop for ReportsOnDrop {
        fn drop(&mut self) {
            hook::report(&lwt_core::Exn::failure("from a drop"));
        }
    }
    let seen = log();
    let s = seen.clone();
    let original = hook::set_async_exception_hook(move |e| push(&s, &e.to_string()));
    let guard = ReportsOnDrop;
    let logger = hook::set_async_exception_hook(move |_| {
        let _ = &guard;
    });
    // Puts the logger back and drops the hook holding the guard, which reports to the logger.
    hook::restore_async_exception_hook(logger);
    hook::restore_async_exception_hook(original);
    assert_eq!(*seen.borrow(), ["from a drop"]);
}

/// A pause canceled before the loop wakes it leaves `paused_count` at once (a difference from
/// Lwt on purpose, listed in `main`'s module docs: Lwt's count keeps it until the wake-up).
#[test]
fn a_canceled_pause_leaves_the_paused_count() {
    let a = main::pause();
    let b = main::pause();
    a.cancel();
    assert_eq!(main::paused_count(), 1);
    main::run(b).unwrap();
    assert_eq!(main::paused_count(), 0);
}

/// Found by review (session 24): a task ran only its first poll in the key storage of its
/// `spawn_local`; the polls after an `.await` ran in whatever storage the loop had then. Lwt's
/// `bind` callbacks, which an `.await` stands for, run in the storage of the code that registered
/// them: the same program written with `>>=` prints `before=Some 7 after=Some 7` and `None`.
#[test]
fn a_task_keeps_the_key_storage_it_was_spawned_with_across_awaits() {
    use lwt_core::key;
    let k = key::new_key::<u32>();
    let task = key::with_value(&k, Some(7), || {
        spawn_local(async move {
            let before = key::get(&k);
            main::pause().await.unwrap();
            (before, key::get(&k))
        })
    });
    assert_eq!(main::run(task).unwrap(), (Some(7), Some(7)));
    let outside = spawn_local(async move {
        main::pause().await.unwrap();
        key::get(&k)
    });
    assert_eq!(
        key::with_value(&k, Some(9), || main::run(outside)).unwrap(),
        None
    );
}

/// Installs an async exception hook that logs each failure and then panics; gives the log and
/// the hook it replaced.
fn panicking_hook() -> (Log, Option<hook::Hook>) {
    let calls = log();
    let c = calls.clone();
    let previous = hook::set_async_exception_hook(move |e| {
        push(&c, &e.to_string());
        panic!("hook saw {e}");
    });
    (calls, previous)
}

/// Found by review (session 24): `async_` and `ignore_result` sent a rejection to the async
/// exception hook from a guarded observer, so a hook that panics was called a second time,
/// with "panicked: hook saw boom". Lwt calls it once and lets its exception go on to
/// the caller of `wakeup_exn` (`hook calls: [Failure("boom"); Failure("boom2");
/// Failure("boom3")]`).
#[test]
fn a_panicking_async_exception_hook_is_called_once_per_failure() {
    use lwt_core::{wait, Exn};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (calls, previous) = panicking_hook();
    let (p, r) = wait::<()>();
    lwt_core::async_(move || p);
    let a = catch_unwind(AssertUnwindSafe(|| r.wakeup_exn(Exn::failure("boom"))));
    let (q, rq) = wait::<()>();
    lwt_core::ignore_result(q);
    let b = catch_unwind(AssertUnwindSafe(|| rq.wakeup_exn(Exn::failure("boom2"))));
    let c3 = catch_unwind(AssertUnwindSafe(|| {
        lwt_core::async_(|| Promise::fail_with("boom3"))
    }));
    hook::restore_async_exception_hook(previous);
    assert!(
        a.is_err() && b.is_err() && c3.is_err(),
        "each hook panic reaches the caller"
    );
    assert_eq!(*calls.borrow(), ["boom", "boom2", "boom3"]);
}

/// The same for an exit hook that fails after a pause: the hook's panic rejected the chain of
/// exit hooks, and `run_exit_hooks` gave that rejection to the hook again.
#[test]
fn a_panicking_async_exception_hook_sees_an_exit_hook_failure_once() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (calls, previous) = panicking_hook();
    main::at_exit(|| main::pause().bind(|()| Promise::fail_with("late")));
    let unwound = catch_unwind(AssertUnwindSafe(main::run_exit_hooks));
    hook::restore_async_exception_hook(previous);
    let message = unwound.expect_err("the hook's panic reaches the caller");
    assert_eq!(
        message.downcast_ref::<String>().map(String::as_str),
        Some("hook saw late")
    );
    assert_eq!(*calls.borrow(), ["late"]);
}

/// Found in review (session 27): an exit hook's failure went to the default async exception
/// hook, which exits with status 2, so `exit(0)` ended with status 2 and the hooks after the
/// failing one never ran. Lwt 5.6.1 ignores the failures of exit hooks ("first hook fails",
/// "second hook", status 0); here the failure is printed and the others run.
#[test]
fn a_failing_exit_hook_does_not_stop_exit() {
    const NAME: &str = "a_failing_exit_hook_does_not_stop_exit";
    if std::env::var_os("LWT_CORE_FAILING_EXIT_HOOK_CHILD").is_some() {
        main::at_exit(|| {
            println!("@second hook");
            lwt_core::return_unit()
        });
        main::at_exit(|| {
            println!("@first hook fails");
            Promise::fail_with("boom")
        });
        main::at_exit(|| panic!("a panicking hook"));
        main::exit(0);
    }
    let (events, stderr, code) = in_child(NAME, "LWT_CORE_FAILING_EXIT_HOOK_CHILD");
    assert_eq!(events, ["first hook fails", "second hook"], "{stderr}");
    assert!(stderr.contains("lwt: an exit hook failed"), "{stderr}");
    assert!(
        stderr.contains("boom") && stderr.contains("a panicking hook"),
        "{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");
}

/// Found in review (session 47): a hook removed while its list runs is dropped when the pass
/// ends, while the other hooks of that list are still out of it; a guard it captured that
/// removes a companion hook of the same list when it drops did not find that hook in the list,
/// so the companion was put back and ran on at every iteration. Removed outside a pass, the same
/// hook's guard removes it (`a_removed_hook_may_touch_the_hooks_as_it_drops`).
#[test]
fn a_hook_removed_during_its_pass_may_remove_another_of_its_list_as_it_drops() {
    struct RemovesOnDrop(Rc<Cell<Option<main::HookId>>>);
    impl Drop for RemovesOnDrop {
        fn drop(&mut self) {
            if let Some(id) = self.0.get() {
                main::remove_hook(id);
            }
        }
    }
    for leave in [false, true] {
        let add: fn(Box<dyn FnMut()>) -> main::HookId = if leave {
            |f| main::add_leave_hook(f)
        } else {
            |f| main::add_enter_hook(f)
        };
        let companion_slot = Rc::new(Cell::new(None));
        let own_slot = Rc::new(Cell::new(None::<main::HookId>));
        let guard = RemovesOnDrop(companion_slot.clone());
        let own = own_slot.clone();
        let first = add(Box::new(move || {
            let _ = &guard;
            // Removes itself at its first run: it is dropped when the pass ends.
            main::remove_hook(own.get().unwrap());
        }));
        own_slot.set(Some(first));
        let runs = Rc::new(Cell::new(0));
        let r = runs.clone();
        let companion = add(Box::new(move || r.set(r.get() + 1)));
        companion_slot.set(Some(companion));
        main::run(main::pause().bind(|()| main::pause())).unwrap();
        // The companion ran in the first pass (after the hook that removed itself), and the
        // guard removed it when that hook was dropped at the end of the pass.
        assert_eq!(runs.get(), 1, "leave hooks: {leave}");
        main::remove_hook(companion);
    }
}
