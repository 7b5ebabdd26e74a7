//! `lwt!` against lwt_ppx: behaviours checked with Lwt 5.6.1 and lwt_ppx in session 23's macro
//! review, all agreeing (finally under cancel and panics, `and`'s order of evaluation, the
//! cancellation of `match`, `try` and `if`, the expansion's names against user names, nested
//! blocks, macros inside a block), kept here so they stay so.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt::{cancel, lwt, ret, task, wait, Canceled, Exn, Promise, State};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, s: &str) {
    log.borrow_mut().push(s.to_string());
}

#[test]
fn finally_runs_once_when_the_body_is_canceled() {
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let (p, _r) = task::<u8>();
    let q: Promise<u8> = lwt! {
        try {
            let x = p;
            ret(x)
        } finally {
            do c.set(c.get() + 1);
        }
    };
    cancel(&q);
    assert_eq!(n.get(), 1);
    assert!(q.rejection().unwrap().is::<Canceled>());
}

#[test]
fn finally_runs_once_when_canceled_during_cleanup() {
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let (p, r) = task::<u8>();
    let (cl, _rc) = task::<()>();
    let cl = Rc::new(RefCell::new(Some(cl)));
    let q: Promise<u8> = lwt! {
        try { p } finally {
            do c.set(c.get() + 1);
            cl.borrow_mut().take().unwrap()
        }
    };
    r.wakeup(5);
    assert_eq!(n.get(), 1);
    cancel(&q);
    assert_eq!(n.get(), 1);
    assert!(q.rejection().unwrap().is::<Canceled>(), "{:?}", q.state());
}

#[test]
fn finally_runs_once_on_a_synchronous_panic() {
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let q: Promise<u8> = lwt! {
        try {
            do panic!("boom");
        } finally {
            do c.set(c.get() + 1);
        }
    };
    assert_eq!(n.get(), 1);
    assert!(q.is_rejected());
}

#[test]
fn a_panicking_catch_handler_rejects() {
    let q: Promise<u8> = lwt! {
        try { Promise::fail_with("x") } catch {
            _ => { do panic!("handler"); }
        }
    };
    assert!(q.is_rejected());
}

#[test]
fn a_panicking_exception_arm_rejects() {
    let q: Promise<u8> = lwt! {
        match Promise::<u8>::fail_with("x") {
            v => ret(v),
            exception _ => { do panic!("arm"); }
        }
    };
    assert!(q.is_rejected());
}

#[test]
fn and_evaluates_each_once_in_order() {
    let l = log();
    let (a, b, c) = (l.clone(), l.clone(), l.clone());
    let q: Promise<u8> = lwt! {
        let x = { do push(&a, "a"); ret(1u8) } and y = { do push(&b, "b"); ret(2u8) };
        do push(&c, "bound");
        do x + y
    };
    assert_eq!(q.state(), State::Fulfilled(3));
    assert_eq!(*l.borrow(), ["a", "b", "bound"]);
}

#[test]
fn hygiene_user_names_like_internals() {
    let __value = 1u8;
    let __exn = 2u8;
    let __cond = 3u8;
    let __outcome = 4u8;
    let __step = 5u8;
    let __and0 = 6u8;
    let q: Promise<u8> = lwt! {
        let a = ret(__and0) and b = ret(__value);
        let c = match ret(__exn) { v => ret(v + __outcome), exception _ => ret(0) };
        if __cond > 0 { do let _ = __step; }
        let d = try { ret(__value) } catch { __exn => ret(__exn.to_string().len() as u8) };
        do a + b + c + d
    };
    assert_eq!(q.state(), State::Fulfilled(6 + 1 + 6 + 1));
}

#[derive(Debug, PartialEq)]
struct NoClone(u8);

#[test]
fn non_clone_values_move_through_binds() {
    let v = NoClone(7);
    let q: Promise<u8> = lwt! {
        let x = ret(1u8);
        let y = ret(2u8);
        do v.0 + x + y
    };
    assert_eq!(q.state(), State::Fulfilled(10));
}

#[test]
fn nested_lwt_blocks() {
    let q: Promise<u8> = lwt! {
        let x = lwt! { let y = ret(1u8); do y + 1 };
        let z = lwt! { let w = ret(x); do w * 10 };
        do z
    };
    assert_eq!(q.state(), State::Fulfilled(20));
}

#[test]
#[allow(clippy::useless_vec)] // `vec!` inside the block is the point
fn macros_in_a_block() {
    let q: Promise<usize> = lwt! {
        do let v = vec![1, 2, 3];
        let n = ret(v.len());
        do println!("{n}");
        do n + vec![0; 2].len()
    };
    assert_eq!(q.state(), State::Fulfilled(5));
}

#[test]
fn while_with_a_pending_promise_condition_reevaluates() {
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let resolvers = Rc::new(RefCell::new(Vec::new()));
    let rs = resolvers.clone();
    let q: Promise<()> = lwt! {
        while { let (p, r) = wait::<bool>(); rs.borrow_mut().push(r); p } {
            do m.set(m.get() + 1);
        }
    };
    // Each wakeup outside the `borrow_mut`: the loop's next condition pushes a new resolver.
    for go_on in [true, true, false] {
        let r = resolvers.borrow_mut().remove(0);
        r.wakeup(go_on);
    }
    assert!(q.is_fulfilled());
    assert_eq!(n.get(), 2);
}

#[test]
fn for_range_bounds_evaluated_once() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let bound = move || {
        c.set(c.get() + 1);
        3
    };
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let q: Promise<()> = lwt! {
        for i in 1..=bound() {
            let x = ret(i);
            do s.borrow_mut().push(x);
        }
    };
    assert!(q.is_fulfilled());
    assert_eq!(calls.get(), 1);
    assert_eq!(*seen.borrow(), [1, 2, 3]);
}

#[test]
fn let_else_on_pending() {
    let (p, r) = wait::<Option<u8>>();
    let q: Promise<u8> = lwt! {
        let Some(x) = p else { ret(0) };
        do x
    };
    r.wakeup(None);
    assert_eq!(q.state(), State::Fulfilled(0));
}

#[test]
fn an_exception_arm_binds_the_rejection() {
    let q: Promise<String> = lwt! {
        match Promise::<u8>::fail_with("x") {
            v => ret(v.to_string()),
            exception e => ret(e.to_string()),
        }
    };
    assert_eq!(q.state(), State::Fulfilled("x".to_string()));
}

fn st(p: &Promise<&'static str>) -> String {
    match p.state() {
        State::Fulfilled(s) => format!("ret {s}"),
        State::Rejected(e) => format!(
            "fail {}",
            if e.is::<Canceled>() {
                "Canceled".to_string()
            } else {
                e.to_string()
            }
        ),
        State::Pending => "sleep".into(),
    }
}

#[test]
fn cancel_reaches_match_try_and_if_as_in_lwt() {
    let (p, _r) = task::<&'static str>();
    let r: Promise<&'static str> = lwt! {
        match p { x => ret(x), exception Canceled => ret("canceled") }
    };
    cancel(&r);
    assert_eq!(st(&r), "ret canceled");

    let (p, _r) = task::<&'static str>();
    let r: Promise<&'static str> = lwt! {
        try { p } catch { Canceled => ret("canceled") }
    };
    cancel(&r);
    assert_eq!(st(&r), "ret canceled");

    let (p, rp) = task::<&'static str>();
    let (h, _rh) = task::<&'static str>();
    let r: Promise<&'static str> = lwt! {
        try { p } catch { _ => h }
    };
    rp.wakeup_exn(Exn::failure("x"));
    cancel(&r);
    assert_eq!(st(&r), "fail Canceled");

    let (c, _rc) = task::<bool>();
    let r: Promise<&'static str> = lwt! {
        if c { ret("t") } else { ret("f") }
    };
    cancel(&r);
    assert_eq!(st(&r), "fail Canceled");
}
