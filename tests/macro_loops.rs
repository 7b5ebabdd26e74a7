//! `lwt!`: `for` (for%lwt, to/downto and any iterator), `while` (while%lwt), `while let`, `loop`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt::{lwt, ret, return_unit, wait, Exn, Promise, Resolver, State};

type Seen = Rc<RefCell<Vec<i64>>>;

fn seen() -> Seen {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn for_ascending_inclusive_range() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=4 {
            do s2.borrow_mut().push(i);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*s.borrow(), [1, 2, 3, 4]);
}

#[test]
fn for_descending_range() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in (1..=4).rev() {
            do s2.borrow_mut().push(i);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*s.borrow(), [4, 3, 2, 1]);
}

#[test]
fn for_with_an_or_pattern() {
    // Valid Rust `for` patterns; the loop variable becomes a closure parameter, which cannot be
    // an or-pattern without parentheses.
    let s = seen();
    let (s2, s3) = (s.clone(), s.clone());
    let v: Vec<Result<i64, i64>> = vec![Ok(1), Err(2), Ok(3)];
    let w = v.clone();
    let p: Promise<()> = lwt! {
        for Ok(x) | Err(x) in v {
            do s2.borrow_mut().push(x);
        }
        for | Ok(x) | Err(x) in w {
            let y = ret(x * 10);
            do s3.borrow_mut().push(y);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*s.borrow(), [1, 2, 3, 10, 20, 30]);
}

#[test]
fn for_evaluates_its_bound_once() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let bound = move || {
        c.set(c.get() + 1);
        3
    };
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 0..bound() {
            do s2.borrow_mut().push(i);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(calls.get(), 1);
    assert_eq!(*s.borrow(), [0, 1, 2]);
}

/// Rust's order, not lwt_ppx's (which evaluates the upper bound of `for%lwt i = a to b` first):
/// documented in docs/lwt-macro.md, `for`.
#[test]
fn for_evaluates_its_bounds_left_to_right() {
    let s = seen();
    let (s1, s2) = (s.clone(), s.clone());
    let note = move |x: i64| {
        s1.borrow_mut().push(x * 100);
        x
    };
    let p: Promise<()> = lwt! {
        for i in note(1)..=note(2) {
            do s2.borrow_mut().push(i);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*s.borrow(), [100, 200, 1, 2]);
}

#[test]
fn for_over_any_iterator_with_pending_bodies() {
    let resolvers: Rc<RefCell<Vec<Resolver<()>>>> = Rc::new(RefCell::new(Vec::new()));
    let r2 = resolvers.clone();
    let s = Rc::new(RefCell::new(Vec::new()));
    let s2 = s.clone();
    let words = vec!["a".to_string(), "b".to_string()];
    let p: Promise<usize> = lwt! {
        // The loop takes `s2` (its closure captures it): keep a handle for after the loop.
        do let after = s2.clone();
        for w in words {
            do s2.borrow_mut().push(w);
            do let (p, r) = wait::<()>();
            do r2.borrow_mut().push(r);
            p;
        }
        ret(after.borrow().len())
    };
    assert!(p.is_pending());
    assert_eq!(*s.borrow(), ["a"]);
    let next = resolvers.borrow_mut().remove(0);
    next.wakeup(());
    assert_eq!(*s.borrow(), ["a", "b"]);
    let next = resolvers.borrow_mut().remove(0);
    next.wakeup(());
    assert_eq!(p.state(), State::Fulfilled(2));
}

#[test]
fn for_a_million_resolved_iterations_is_stack_safe() {
    let sum = Rc::new(Cell::new(0_u64));
    let s = sum.clone();
    let p: Promise<u64> = lwt! {
        do let after = s.clone();
        for i in 0..1_000_000_u64 {
            // A bind in the body: each iteration runs on its own clone of `s` (an `Rc`).
            let x = ret(i);
            do s.set(s.get() + x);
        }
        ret(after.get())
    };
    assert_eq!(p.state(), State::Fulfilled(499_999_500_000));
    assert_eq!(sum.get(), 499_999_500_000);
}

#[test]
fn a_rejected_body_ends_the_loop() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 0..10 {
            do s2.borrow_mut().push(i);
            if i == 2 {
                Promise::fail_with("stop at 2")
            } else {
                return_unit()
            }
        }
    };
    let e = p.rejection().unwrap();
    assert_eq!(e.to_string(), "stop at 2");
    assert_eq!(*s.borrow(), [0, 1, 2]);
    // The `for` is in the trail (the `if` adds nothing: the branch's own promise is the result).
    assert!(e.locations().count() >= 1);
}

#[test]
fn while_with_a_plain_bool_condition() {
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let p: Promise<u32> = lwt! {
        do let after = m.clone();
        while m.get() < 5 {
            let step = ret(1);
            do m.set(m.get() + step);
        }
        ret(after.get())
    };
    assert_eq!(p.state(), State::Fulfilled(5));
    assert_eq!(n.get(), 5);
}

#[test]
fn while_with_a_promise_condition() {
    let conditions: Rc<RefCell<Vec<Resolver<bool>>>> = Rc::new(RefCell::new(Vec::new()));
    let c2 = conditions.clone();
    let runs = Rc::new(Cell::new(0));
    let r2 = runs.clone();
    let p: Promise<()> = lwt! {
        while {
            let (p, r) = wait::<bool>();
            c2.borrow_mut().push(r);
            p
        } {
            do r2.set(r2.get() + 1);
        }
    };
    for expected_runs in 0..3 {
        assert!(p.is_pending());
        assert_eq!(runs.get(), expected_runs);
        let next = conditions.borrow_mut().remove(0);
        next.wakeup(true);
    }
    let next = conditions.borrow_mut().remove(0);
    next.wakeup(false);
    assert!(p.is_fulfilled());
    assert_eq!(runs.get(), 3);
}

#[test]
fn while_a_million_iterations_is_stack_safe() {
    let n = Rc::new(Cell::new(0_u64));
    let m = n.clone();
    let p: Promise<()> = lwt! {
        while ret(m.get() < 1_000_000) {
            do m.set(m.get() + 1);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(n.get(), 1_000_000);
}

#[test]
fn while_let_drains_a_source_of_promises() {
    let queue = Rc::new(RefCell::new(vec![3, 2, 1]));
    let q = queue.clone();
    let next = move || ret(q.borrow_mut().pop());
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        while let Some(x) = next() {
            do s2.borrow_mut().push(x);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*s.borrow(), [1, 2, 3]);
}

#[test]
fn loop_runs_until_a_rejection() {
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let p: Promise<()> = lwt! {
        loop {
            do m.set(m.get() + 1);
            if m.get() == 100 {
                Promise::fail(std::fmt::Error)
            } else {
                return_unit()
            }
        }
    };
    assert!(p.rejection().unwrap().is::<std::fmt::Error>());
    assert_eq!(n.get(), 100);
}

#[test]
fn a_rejected_condition_ends_a_while() {
    let p: Promise<()> = lwt! {
        while Promise::<bool>::fail(Exn::failure("cond")) {
            return_unit();
        }
    };
    assert_eq!(p.rejection().unwrap().to_string(), "cond");
}

/// Each iteration's body waits on a fresh `task()`; the test keeps them to wake or inspect.
type Bodies = Rc<RefCell<Vec<(Promise<()>, Resolver<()>)>>>;

fn new_task(bodies: &Bodies) -> Promise<()> {
    let (p, r) = lwt::task::<()>();
    bodies.borrow_mut().push((p.clone(), r));
    p
}

fn for_over_tasks(n: i64, bodies: &Bodies) -> Promise<()> {
    let b = bodies.clone();
    lwt! {
        for _i in 0..n {
            let () = new_task(&b);
        }
    }
}

/// Wakes the body of the latest iteration.
fn finish_latest(bodies: &Bodies) {
    let (_, r) = bodies.borrow_mut().pop().expect("an iteration waits");
    r.wakeup(());
}

#[test]
fn canceling_a_for_loop_cancels_the_body_it_waits_on() {
    // The loop's result is one promise for the whole run: its cancel must follow it from body to
    // body, as through a chain of binds.
    let bodies: Bodies = Rc::default();
    let p = for_over_tasks(10, &bodies);
    finish_latest(&bodies);
    finish_latest(&bodies);
    let third = bodies.borrow()[0].0.clone();
    p.cancel();
    assert!(third.rejection().unwrap().is_canceled());
    assert!(p.rejection().unwrap().is_canceled());
}

#[test]
fn a_for_loop_merged_into_a_bind_is_canceled_through_it_after_many_iterations() {
    let bodies: Bodies = Rc::default();
    let (start, go) = wait::<()>();
    let b = bodies.clone();
    let outer = start.bind(move |()| for_over_tasks(10, &b));
    go.wakeup(());
    for _ in 0..3 {
        finish_latest(&bodies);
    }
    let fourth = bodies.borrow()[0].0.clone();
    outer.cancel();
    assert!(fourth.rejection().unwrap().is_canceled());
    assert!(outer.rejection().unwrap().is_canceled());
}

fn new_wait(resolvers: &Rc<RefCell<Vec<Resolver<()>>>>) -> Promise<()> {
    let (p, r) = wait::<()>();
    resolvers.borrow_mut().push(r);
    p
}

#[test]
fn canceling_a_for_loop_whose_body_cannot_be_canceled_lets_it_run_on() {
    // As with a bind on a `wait()` promise: the cancel reaches nothing cancelable.
    let resolvers: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let r2 = resolvers.clone();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let p: Promise<()> = lwt! {
        for _i in 0..3 {
            let () = new_wait(&r2);
            do c.set(c.get() + 1);
        }
    };
    p.cancel();
    assert!(p.is_pending());
    loop {
        let next = resolvers.borrow_mut().pop();
        match next {
            Some(r) => r.wakeup(()),
            None => break,
        }
    }
    assert_eq!(count.get(), 3);
    assert!(p.is_fulfilled());
}

// `while` and `while let` keep one result promise per run too (like `for`): its cancel link must
// follow the loop from one pending condition, value or body to the next.

/// A `while` loop whose condition and body both wait on fresh tasks: the condition holds `n` times.
fn while_over_tasks(n: i64, conds: &Bodies, bodies: &Bodies) -> Promise<()> {
    let (c, b) = (conds.clone(), bodies.clone());
    let left = Rc::new(Cell::new(n));
    lwt! {
        while new_task(&c).map({ let left = left.clone(); move |()| { left.set(left.get() - 1); left.get() >= 0 } }) {
            let () = new_task(&b);
        }
    }
}

#[test]
fn canceling_a_while_loop_cancels_the_body_it_waits_on() {
    let (conds, bodies): (Bodies, Bodies) = Default::default();
    let p = while_over_tasks(10, &conds, &bodies);
    for _ in 0..3 {
        finish_latest(&conds);
        finish_latest(&bodies);
    }
    finish_latest(&conds);
    let body = bodies.borrow()[0].0.clone();
    p.cancel();
    assert!(body.rejection().unwrap().is_canceled());
    assert!(p.rejection().unwrap().is_canceled());
}

#[test]
fn canceling_a_while_loop_cancels_the_condition_it_waits_on() {
    let (conds, bodies): (Bodies, Bodies) = Default::default();
    let (start, go) = wait::<()>();
    let (c, b) = (conds.clone(), bodies.clone());
    let outer = start.bind(move |()| while_over_tasks(10, &c, &b));
    go.wakeup(());
    for _ in 0..3 {
        finish_latest(&conds);
        finish_latest(&bodies);
    }
    let cond = conds.borrow()[0].0.clone();
    outer.cancel();
    assert!(cond.rejection().unwrap().is_canceled());
    assert!(outer.rejection().unwrap().is_canceled());
    assert!(bodies.borrow().is_empty(), "no body ran after the cancel");
}

#[test]
fn a_while_loop_over_pending_steps_runs_to_its_end() {
    let (conds, bodies): (Bodies, Bodies) = Default::default();
    let p = while_over_tasks(3, &conds, &bodies);
    for _ in 0..3 {
        finish_latest(&conds);
        assert!(p.is_pending());
        finish_latest(&bodies);
    }
    finish_latest(&conds);
    assert_eq!(p.state(), State::Fulfilled(()));
    assert!(conds.borrow().is_empty() && bodies.borrow().is_empty());
}

/// A `while let` loop whose values and bodies wait on fresh tasks, over `n` values.
fn while_let_over_tasks(n: i64, values: &Bodies, bodies: &Bodies) -> Promise<()> {
    let (v, b) = (values.clone(), bodies.clone());
    let left = Rc::new(Cell::new(n));
    lwt! {
        while let Some(_x) = new_task(&v).map({ let left = left.clone(); move |()| { left.set(left.get() - 1); (left.get() >= 0).then_some(left.get()) } }) {
            let () = new_task(&b);
        }
    }
}

#[test]
fn canceling_a_while_let_loop_cancels_the_value_then_the_body_it_waits_on() {
    let (values, bodies): (Bodies, Bodies) = Default::default();
    let p = while_let_over_tasks(10, &values, &bodies);
    finish_latest(&values);
    finish_latest(&bodies);
    let value = values.borrow()[0].0.clone();
    p.cancel();
    assert!(value.rejection().unwrap().is_canceled());
    assert!(p.rejection().unwrap().is_canceled());

    let (values, bodies): (Bodies, Bodies) = Default::default();
    let (start, go) = wait::<()>();
    let (v, b) = (values.clone(), bodies.clone());
    let outer = start.bind(move |()| while_let_over_tasks(10, &v, &b));
    go.wakeup(());
    for _ in 0..3 {
        finish_latest(&values);
        finish_latest(&bodies);
    }
    finish_latest(&values);
    let body = bodies.borrow()[0].0.clone();
    outer.cancel();
    assert!(body.rejection().unwrap().is_canceled());
    assert!(outer.rejection().unwrap().is_canceled());
}

#[test]
fn a_while_let_loop_over_pending_steps_runs_to_its_end() {
    let (values, bodies): (Bodies, Bodies) = Default::default();
    let p = while_let_over_tasks(2, &values, &bodies);
    for _ in 0..2 {
        finish_latest(&values);
        finish_latest(&bodies);
        assert!(p.is_pending());
    }
    finish_latest(&values);
    assert_eq!(p.state(), State::Fulfilled(()));
}

/// Found in review (session 21): a panic while evaluating a `for` loop's iterable escaped the
/// block, though a panic in a `while` condition is a rejection (the docs' "Limits": the loops
/// evaluate their code under a guard).
#[test]
fn a_panic_in_a_for_loops_iterable_is_a_rejection() {
    fn numbers(fail: bool) -> Vec<u32> {
        if fail {
            panic!("no numbers");
        }
        vec![1, 2]
    }
    let total = Rc::new(Cell::new(0));
    let run = |fail: bool| -> Promise<()> {
        let t = total.clone();
        lwt! {
            for i in numbers(fail) {
                do t.set(t.get() + i);
            }
        }
    };
    assert!(run(false).is_fulfilled());
    assert_eq!(total.get(), 3);
    let e = run(true).rejection().expect("rejected");
    assert_eq!(
        e.downcast_ref::<lwt::Panicked>().unwrap().message(),
        "no numbers"
    );
}

/// Pins the difference `docs/lwt-macro.md` ("Synchronous panics") states: a panic in the first
/// condition or body of a loop, before anything waited, is a rejection of the block here, where
/// lwt_ppx's `for%lwt`/`while%lwt` raise it to the caller (review, session 32).
#[test]
fn a_panic_in_a_loops_first_iteration_is_a_rejection() {
    fn boom(what: &str) -> bool {
        panic!("{what}")
    }
    let for_body: Promise<()> = lwt! {
        for i in 1..=3 {
            do assert!(i != 1 || boom("body"));
        }
    };
    let while_cond: Promise<()> = lwt! {
        while boom("cond") {
            ret(());
        }
    };
    let while_body: Promise<()> = lwt! {
        while true {
            do boom("body");
        }
    };
    for (p, message) in [
        (for_body, "body"),
        (while_cond, "cond"),
        (while_body, "body"),
    ] {
        let e = p.rejection().expect("rejected, not raised");
        assert_eq!(
            e.downcast_ref::<lwt::Panicked>().unwrap().message(),
            message
        );
    }
}

/// Pins what `docs/lwt-macro.md` (Ownership) says of `&mut` calls on a variable of the
/// enclosing block: a loop body that does not bind works on one copy for the whole loop, a body
/// that binds starts each iteration from the loop's copy.
#[test]
fn mut_calls_in_a_body_that_binds_start_from_the_loops_copy() {
    let log: Rc<RefCell<Vec<Vec<i32>>>> = Rc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let p: Promise<()> = lwt! {
        do let mut v = Vec::new();
        do let mut w = Vec::new();
        for i in 0..3 {
            do v.push(i);
            do l1.borrow_mut().push(v.clone());
        }
        for i in 10..13 {
            let () = ret(());
            do w.push(i);
            do l2.borrow_mut().push(w.clone());
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(
        *log.borrow(),
        [
            vec![0],
            vec![0, 1],
            vec![0, 1, 2],
            vec![10],
            vec![11],
            vec![12]
        ]
    );
}

#[path = "../lwt-core/tests/support/nested_order.rs"]
mod nested_order;

/// A loop that ends inside a continuation run by a nested `wakeup` resolves there, as a `bind`
/// chain and lwt_ppx's `for%lwt`/`while%lwt` do (Lwt 5.6.1 prints "loop done" before "after
/// wakeup"). Found in review (session 27): the loops' results waited for the outermost callback.
#[test]
fn a_loop_ended_by_a_nested_wakeup_resolves_before_it_returns() {
    use nested_order::order;
    let for_loop = order(|p| {
        let body = RefCell::new(Some(p));
        lwt! {
            for _i in 0..1 {
                body.borrow_mut().take().unwrap();
            }
        }
    });
    assert_eq!(for_loop, ["done", "after wakeup"]);
    let while_loop = order(|p| {
        let body = Rc::new(RefCell::new(Some(p)));
        let more = body.clone();
        lwt! {
            while more.borrow().is_some() {
                body.borrow_mut().take().unwrap();
            }
        }
    });
    assert_eq!(while_loop, ["done", "after wakeup"]);
}

#[test]
fn while_let_reads_a_shared_stream_to_its_end() {
    // Found by a newcomer's review (session 28): with a `Clone` stream, a loop whose body
    // binds read its first element for ever (each iteration's clone was a new reader at the
    // start). The stream is no longer `Clone`; through an `Rc` the loop reads each element once,
    // the waits included.
    let (s, push) = lwt::stream::create::<i64>();
    let s = Rc::new(s);
    let got = seen();
    let g = got.clone();
    let (gate, open) = wait::<()>();
    let p: Promise<()> = lwt! {
        while let Some(x) = s.get() {
            let () = if x == 1 { gate.clone() } else { ret(()) };
            do g.borrow_mut().push(x);
        }
    };
    for i in 0..4 {
        push.push(i).unwrap();
    }
    assert_eq!(*got.borrow(), [0]); // waits at 1
    open.wakeup(());
    push.push(4).unwrap();
    drop(push);
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*got.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn a_loop_ends_a_block_of_any_type_through_unreachable() {
    // `loop` is a `Promise<()>` that only ends by rejection; a function of another type ends
    // with it as the docs say (lwt-macro.md, `loop`).
    fn serve(n: Rc<Cell<u32>>) -> Promise<std::convert::Infallible> {
        lwt! {
            let () = loop {
                do n.set(n.get() + 1);
                assert!(n.get() < 3);
            };
            unreachable!("a loop only ends by rejection")
        }
    }
    let n = Rc::new(Cell::new(0));
    let p = serve(n.clone());
    assert!(p.rejection().unwrap().is::<lwt::control::AssertionFailed>());
    assert_eq!(n.get(), 3);
}

/// Found in review (session 30): the iterable's temporaries (here a `Ref`) lived until the
/// loop's driver returned, beside a body that moves the `RefCell`'s handle, which did not
/// compile (E0505), although plain Rust accepts the same loop. The iterable is now evaluated
/// apart, as a waited expression is, and the snapshot is iterated while the body pushes.
#[test]
fn a_for_over_a_borrowed_snapshot_may_mutate_what_it_borrowed() {
    let c = Rc::new(RefCell::new(vec![1_i64, 2]));
    let c2 = c.clone();
    let p: Promise<()> = lwt! {
        for x in c2.borrow().clone() {
            do c2.borrow_mut().push(x * 10);
        }
    };
    assert!(p.is_fulfilled());
    assert_eq!(*c.borrow(), [1, 2, 10, 20]);
}

fn take_u8(_: u8) -> Promise<()> {
    ret(())
}

fn widen(x: u16) -> u64 {
    u64::from(x)
}

/// The iterable passes through `__lwt::iterable`, an opaque `impl IntoIterator` (rev147): an
/// item type the body decides (an integer literal's, an empty `Vec`'s) is still inferred through
/// it, as through Rust's `for`.
#[test]
fn the_body_still_decides_the_item_type() {
    let total = Rc::new(Cell::new(0_u64));
    let (t, t2, t3) = (total.clone(), total.clone(), total.clone());
    let p: Promise<()> = lwt! {
        for i in 0..3 {
            take_u8(i)
        }
        for x in Vec::new() {
            do t.set(t.get() + widen(x));
        }
        for (i, s) in vec!["a", "bc"].into_iter().enumerate() {
            do t2.set(t2.get() + i as u64 + s.len() as u64);
        }
        for x in [1_u64, 2] {
            let y = ret(x);
            do t3.set(t3.get() + y);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(total.get(), (1 + 3) + 3);
}

/// A loop over a generic iterable whose iterator is `'static` but which is not itself.
fn sum_all<I>(items: I, total: Rc<Cell<u64>>) -> Promise<()>
where
    I: IntoIterator<Item = u64>,
    I::IntoIter: 'static,
{
    lwt! {
        for x in items {
            do total.set(total.get() + x);
        }
    }
}

/// A collection whose borrow iterates over a copy: `for x in &bag` borrows `bag` only in
/// `into_iter`.
struct Bag(Vec<u64>);

impl IntoIterator for &Bag {
    type Item = u64;
    type IntoIter = std::vec::IntoIter<u64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.clone().into_iter()
    }
}

/// Found in review (rev148): the first `__lwt::iterable` (rev147) returned an opaque type that
/// captured the iterable's own type, and rustc could not prove its iterator `'static` from the
/// opaque's bound, only from the captured type: a loop over a generic `I` with
/// `I::IntoIter: 'static`, or over a borrow `&bag` whose iterator owns its items, no longer
/// compiled (E0310, E0597), though they did before and Rust's `for` accepts them. `iterable`
/// now names the iterator's type, so the driver's bound is checked on the iterator itself.
#[test]
fn for_over_an_iterable_that_is_not_static_whose_iterator_is() {
    let total = Rc::new(Cell::new(0_u64));
    let (t, t2) = (total.clone(), total.clone());
    let bag = Bag(vec![1, 2]);
    let p: Promise<()> = lwt! {
        let () = sum_all(vec![10_u64, 20], t);
        for x in &bag {
            do t2.set(t2.get() + x);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(total.get(), 33);
}
