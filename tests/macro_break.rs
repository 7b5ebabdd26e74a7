//! `lwt!`: `break` and `continue` in `for`, `while`, `while let` and `loop`, through `if`,
//! `match`, `try`, nested blocks and `let .. else`, with bodies resolved at once and bodies that
//! wait.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt::{lwt, ret, wait, Exn, Promise, Resolver, State};

type Seen = Rc<RefCell<Vec<i64>>>;

fn seen() -> Seen {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn break_ends_a_for_loop() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=10 {
            if i == 4 {
                break;
            }
            do s2.borrow_mut().push(i);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 2, 3]);
}

#[test]
fn continue_skips_the_rest_of_the_body() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=6 {
            let x = ret(i);
            if x % 2 == 0 {
                continue;
            }
            do s2.borrow_mut().push(x);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 3, 5]);
}

#[test]
fn the_statements_after_a_loop_run_after_break() {
    let s = seen();
    let (s2, s3) = (s.clone(), s.clone());
    let p: Promise<i64> = lwt! {
        for i in 1.. {
            if i > 2 {
                break;
            }
            do s2.borrow_mut().push(i);
        }
        do s3.borrow_mut().push(100);
        ret(7)
    };
    assert_eq!(p.state(), State::Fulfilled(7));
    assert_eq!(*s.borrow(), [1, 2, 100]);
}

/// A pending promise, whose resolver goes to `resolvers`.
fn pending(resolvers: &Rc<RefCell<Vec<Resolver<i64>>>>) -> Promise<i64> {
    let (p, r) = wait();
    resolvers.borrow_mut().push(r);
    p
}

/// A body that waits, then breaks: the loop ends when the pending promise is fulfilled, and
/// asks for no further iteration.
#[test]
fn break_after_a_pending_bind() {
    let resolvers: Rc<RefCell<Vec<Resolver<i64>>>> = Rc::default();
    let s = seen();
    let (r2, s2) = (resolvers.clone(), s.clone());
    let p: Promise<()> = lwt! {
        loop {
            let x = pending(&r2);
            if x < 0 {
                break;
            }
            do s2.borrow_mut().push(x);
        }
    };
    for x in [5, 6, -1] {
        assert_eq!(p.state(), State::Pending);
        let r = resolvers
            .borrow_mut()
            .pop()
            .expect("the loop asked for a value");
        r.wakeup(x);
    }
    assert_eq!(p.state(), State::Fulfilled(()));
    assert!(resolvers.borrow().is_empty(), "no iteration after break");
    assert_eq!(*s.borrow(), [5, 6]);
}

#[test]
fn continue_after_a_pending_bind_in_a_while_loop() {
    let n = Rc::new(Cell::new(0));
    let s = seen();
    let (n2, s2) = (n.clone(), s.clone());
    let (gate, open) = wait::<()>();
    let p: Promise<()> = lwt! {
        while n2.get() < 5 {
            do n2.set(n2.get() + 1);
            if n2.get() == 2 {
                gate.clone();
                continue;
            }
            do s2.borrow_mut().push(n2.get());
        }
    };
    assert_eq!(p.state(), State::Pending);
    assert_eq!(*s.borrow(), [1]);
    open.wakeup(());
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 3, 4, 5]);
}

#[test]
fn break_in_a_match_arm_and_in_let_else() {
    let queue = Rc::new(RefCell::new(vec![3, 2, 1]));
    let s = seen();
    let (q, s2) = (queue.clone(), s.clone());
    let p: Promise<()> = lwt! {
        loop {
            match ret(q.borrow_mut().pop()) {
                Some(x) if x == 2 => continue,
                Some(x) => do s2.borrow_mut().push(x),
                None => break,
            }
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 3]);

    let queue = Rc::new(RefCell::new(vec![Some(9), None, Some(8), Some(7)]));
    let s = seen();
    let (q, s2) = (queue.clone(), s.clone());
    let p: Promise<()> = lwt! {
        loop {
            let Some(x) = ret(q.borrow_mut().pop().flatten()) else {
                break;
            };
            do s2.borrow_mut().push(x);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [7, 8]);
    assert_eq!(queue.borrow().len(), 1, "the loop stopped at `None`");
}

#[test]
fn break_in_while_let() {
    let s = seen();
    let s2 = s.clone();
    let items = Rc::new(RefCell::new(vec![4, 3, 2, 1]));
    let it = items.clone();
    let p: Promise<()> = lwt! {
        while let Some(x) = ret(it.borrow_mut().pop()) {
            if x == 3 {
                break;
            }
            do s2.borrow_mut().push(x);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 2]);
    assert_eq!(*items.borrow(), [4]);
}

#[test]
fn break_leaves_only_the_innermost_loop() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=3 {
            do let s3 = s2.clone();
            for j in 1..=3 {
                if j > i {
                    break;
                }
                do s3.borrow_mut().push(i * 10 + j);
            }
            if i == 2 {
                continue;
            }
            do s2.borrow_mut().push(i * 100);
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [11, 100, 21, 22, 31, 32, 33, 300]);
}

#[test]
fn finally_runs_when_the_body_breaks() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=3 {
            do let s3 = s2.clone();
            try {
                if i == 2 {
                    break;
                }
                do s3.borrow_mut().push(i);
            } finally {
                do s2.borrow_mut().push(-i);
            }
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, -1, -2]);
}

#[test]
fn break_in_a_catch_arm() {
    let s = seen();
    let s2 = s.clone();
    let p: Promise<()> = lwt! {
        for i in 1..=5 {
            try {
                if i == 3 {
                    lwt::fail_with("three");
                }
                do s2.borrow_mut().push(i);
            } catch {
                e: lwt::Failure if e.message() == "three" => break,
            }
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(*s.borrow(), [1, 2]);
}

#[test]
fn a_rejection_still_ends_the_loop_rejected() {
    let p: Promise<()> = lwt! {
        for i in 1..=5 {
            if i == 5 {
                break;
            }
            if i == 2 {
                lwt::fail_with("two");
            }
        }
    };
    let e: Exn = p.rejection().expect("rejected");
    assert_eq!(e.to_string(), "two");
}

#[test]
fn break_as_the_last_statement_without_semicolon_and_in_a_nested_block() {
    let n = Rc::new(Cell::new(0));
    let n2 = n.clone();
    let p: Promise<()> = lwt! {
        loop {
            do n2.set(n2.get() + 1);
            {
                if n2.get() < 3 {
                    continue;
                }
                break
            }
        }
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(n.get(), 3);
}

/// A million iterations that `continue` at once run in the driver's plain loop, on a small stack.
#[test]
fn continue_is_stack_safe() {
    let total = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let sum = Rc::new(Cell::new(0_u64));
            let s = sum.clone();
            let p: Promise<()> = lwt! {
                for i in 0..1_000_000_u64 {
                    if i % 2 == 1 {
                        continue;
                    }
                    do s.set(s.get() + i);
                }
            };
            assert!(p.is_fulfilled());
            sum.get()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(total, (0..1_000_000_u64).step_by(2).sum::<u64>());
}

/// Canceling a loop that waits in a body with `break` in it cancels the pending wait.
#[test]
fn cancel_reaches_a_pending_body_with_break() {
    let (gate, _resolver) = lwt::task::<bool>();
    let g = gate.clone();
    let p: Promise<()> = lwt! {
        loop {
            let stop = g.clone();
            if stop {
                break;
            }
        }
    };
    assert_eq!(p.state(), State::Pending);
    p.cancel();
    assert!(gate.rejection().unwrap().is_canceled());
    assert!(p.rejection().unwrap().is_canceled());
}
