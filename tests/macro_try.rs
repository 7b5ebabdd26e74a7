//! `lwt!`: `try`/`catch` (try%lwt), `finally` ([%finally]), `if` (if%lwt), `assert!` (assert%lwt).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use lwt::control::AssertionFailed;
use lwt::{lwt, ret, return_unit, wait, Exn, Failure, Panicked, Promise, State};

#[derive(Debug)]
struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse {:?}", self.0)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug)]
struct Io;

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("io")
    }
}

impl std::error::Error for Io {}

fn parse(s: &str) -> Promise<i64> {
    match s.parse() {
        Ok(n) => ret(n),
        Err(_) => Promise::fail(ParseError(s.to_string())),
    }
}

fn parse_or(s: &'static str, default: i64) -> Promise<i64> {
    lwt! {
        try {
            let n = parse(s);
            ret(n * 2)
        } catch {
            e: ParseError if e.0.is_empty() => ret(-1),
            ParseError => ret(default),
        }
    }
}

#[test]
fn try_fulfils_when_the_body_does() {
    assert_eq!(parse_or("21", 0).state(), State::Fulfilled(42));
}

#[test]
fn typed_handlers_in_order_with_guards() {
    assert_eq!(parse_or("", 0).state(), State::Fulfilled(-1));
    assert_eq!(parse_or("x", 7).state(), State::Fulfilled(7));
}

#[test]
fn unmatched_rejections_pass_through() {
    let p: Promise<i64> = lwt! {
        try {
            Promise::fail(Io)
        } catch {
            ParseError => ret(0),
        }
    };
    let e = p.rejection().unwrap();
    assert!(e.is::<Io>());
    assert_eq!(e.locations().count(), 1);
}

#[test]
fn handlers_get_the_error_by_type_or_any_rejection() {
    let p: Promise<String> = lwt! {
        try {
            Promise::fail(ParseError("abc".into()))
        } catch {
            e: Io => ret(format!("io {e}")),
            e => ret(format!("other: {e}")),
        }
    };
    assert_eq!(
        p.state(),
        State::Fulfilled("other: cannot parse \"abc\"".into())
    );
}

#[test]
fn try_catches_a_rejection_of_a_pending_body() {
    let (p, r) = wait::<i64>();
    let q: Promise<i64> = lwt! {
        try {
            let x = p;
            ret(x + 1)
        } catch {
            _ => ret(0),
        }
    };
    assert!(q.is_pending());
    r.wakeup_exn(Exn::failure("late"));
    assert_eq!(q.state(), State::Fulfilled(0));
}

#[test]
fn try_catches_a_panic_in_the_body() {
    fn explode() -> Promise<String> {
        panic!("synchronous")
    }
    let p: Promise<String> = lwt! {
        try {
            explode()
        } catch {
            e: Panicked => ret(e.message().to_string()),
        }
    };
    assert_eq!(p.state(), State::Fulfilled("synchronous".into()));
}

#[test]
fn finally_runs_on_fulfilment_and_on_rejection() {
    for fail in [false, true] {
        let cleaned = Rc::new(Cell::new(0));
        let c = cleaned.clone();
        let (p, r) = wait::<u8>();
        let q: Promise<u8> = lwt! {
            try {
                let x = p;
                ret(x + 1)
            } finally {
                do c.set(c.get() + 1);
            }
        };
        assert_eq!(cleaned.get(), 0);
        if fail {
            r.wakeup_exn(Exn::failure("body failed"));
            assert_eq!(q.rejection().unwrap().to_string(), "body failed");
        } else {
            r.wakeup(1);
            assert_eq!(q.state(), State::Fulfilled(2));
        }
        assert_eq!(cleaned.get(), 1);
    }
}

#[test]
fn finally_waits_for_an_asynchronous_cleanup() {
    let (cleanup, rc) = wait::<()>();
    let cleanup = Rc::new(RefCell::new(Some(cleanup)));
    let c = cleanup.clone();
    let q: Promise<u8> = lwt! {
        try { ret(5) } finally { c.borrow_mut().take().unwrap(); }
    };
    assert!(q.is_pending());
    rc.wakeup(());
    assert_eq!(q.state(), State::Fulfilled(5));
}

#[test]
fn catch_then_finally_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let p: Promise<u8> = lwt! {
        try {
            Promise::fail(Io)
        } catch {
            Io => {
                do l1.borrow_mut().push("catch");
                ret(1)
            }
        } finally {
            do l2.borrow_mut().push("finally");
        }
    };
    assert_eq!(p.state(), State::Fulfilled(1));
    assert_eq!(*log.borrow(), ["catch", "finally"]);
}

#[test]
fn a_failing_cleanup_rejects() {
    let p: Promise<u8> = lwt! {
        try { ret(1) } finally { Promise::fail(Io) }
    };
    assert!(p.rejection().unwrap().is::<Io>());
}

#[test]
fn if_on_a_pending_promise_of_bool() {
    let (c, rc) = wait::<bool>();
    let p: Promise<&str> = lwt! {
        if c { ret("yes") } else { ret("no") }
    };
    assert!(p.is_pending());
    rc.wakeup(false);
    assert_eq!(p.state(), State::Fulfilled("no"));
}

/// `if !ready() { .. }` on a `Promise<bool>` (rev122: rustc's "cannot apply unary operator `!`"
/// before `Not for Promise<T>`): the branch taken is the negation's, once the promise is fulfilled.
#[test]
fn if_on_a_negated_promise_of_bool() {
    let (c, rc) = wait::<bool>();
    let p: Promise<&str> = lwt! {
        if !c { ret("not ready") } else { ret("ready") }
    };
    assert!(p.is_pending());
    rc.wakeup(true);
    assert_eq!(p.state(), State::Fulfilled("ready"));

    let q: Promise<&str> = lwt! {
        if !Promise::<bool>::fail(Exn::failure("no answer")) { ret("taken") } else { ret("other") }
    };
    assert!(q.rejection().unwrap().is::<Failure>());
}

#[test]
fn if_on_a_plain_bool_and_without_else() {
    let hits = Rc::new(Cell::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let p: Promise<u8> = lwt! {
        let x = ret(3);
        if x > 2 {
            do h1.set(h1.get() + 1);
        }
        if ret(x > 5) {
            do h2.set(h2.get() + 10);
        }
        ret(x)
    };
    assert_eq!(p.state(), State::Fulfilled(3));
    assert_eq!(hits.get(), 1);
}

#[test]
fn else_if_chains_evaluate_conditions_lazily() {
    let asked = Rc::new(Cell::new(0));
    let ask = |answer: bool| {
        let asked = asked.clone();
        move || {
            asked.set(asked.get() + 1);
            ret(answer)
        }
    };
    let (first, second, third) = (ask(false), ask(true), ask(true));
    let p: Promise<u8> = lwt! {
        if first() { ret(1) } else if second() { ret(2) } else if third() { ret(3) } else { ret(4) }
    };
    assert_eq!(p.state(), State::Fulfilled(2));
    assert_eq!(asked.get(), 2);
}

/// A chain without a final `else` runs the first branch whose condition holds, and none when
/// none does; each branch is checked as a `Promise<()>` (session 42), which changes no value.
#[test]
fn else_if_chains_without_a_final_else_run_at_most_one_branch() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let run = |n: u32| {
        let log = log.clone();
        let p: Promise<()> = lwt! {
            if n > 10 {
                do log.borrow_mut().push(format!("{n}: big"));
            } else if ret(n > 5) {
                let m = ret(n * 2);
                do log.borrow_mut().push(format!("{n}: middle {m}"));
            } else if n > 0 {
                do log.borrow_mut().push(format!("{n}: small"));
            }
        };
        assert_eq!(p.state(), State::Fulfilled(()));
    };
    for n in [0, 3, 7, 20] {
        run(n);
    }
    assert_eq!(*log.borrow(), ["3: small", "7: middle 14", "20: big"]);
}

#[test]
fn a_rejected_condition_rejects_the_if() {
    let p: Promise<u8> = lwt! {
        if Promise::<bool>::fail(Io) { ret(1) } else { ret(2) }
    };
    assert!(p.rejection().unwrap().is::<Io>());
}

#[test]
fn assert_rejects_instead_of_panicking() {
    let line = line!() + 3;
    let p: Promise<u8> = lwt! {
        let x = ret(1);
        assert!(x > 1);
        ret(x)
    };
    let e = p.rejection().unwrap();
    let failed = e.downcast_ref::<AssertionFailed>().unwrap();
    assert_eq!(failed.message(), "assertion failed: x > 1");
    assert_eq!(failed.location().line(), line);
    assert!(failed.location().file().ends_with("macro_try.rs"));
}

#[test]
fn assert_at_the_top_of_a_block_rejects_too() {
    // Not inside any callback: still no panic, a rejected promise.
    let p: Promise<()> = lwt! { assert!(1 + 1 == 3, "math is {}", "broken") };
    let e = p.rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<AssertionFailed>().unwrap().message(),
        "math is broken"
    );
}

#[test]
fn a_panic_in_an_assertion_rejects_too() {
    let v: Vec<u8> = Vec::new();
    let p: Promise<()> = lwt! { assert!(v[3] == 1) };
    let e = p.rejection().unwrap();
    assert!(e
        .downcast_ref::<Panicked>()
        .unwrap()
        .message()
        .contains("index out of bounds"));
}

#[test]
fn assert_eq_and_assert_ne() {
    let p: Promise<u8> = lwt! {
        let x = ret(2);
        assert_ne!(x, 3);
        assert_eq!(x + 1, 4, "x was {}", x);
        ret(x)
    };
    let e = p.rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<AssertionFailed>().unwrap().message(),
        "assertion `left == right` failed: x was 2\n  left: 3\n right: 4"
    );

    let ok: Promise<()> = lwt! {
        assert_eq!(ret(1).state(), State::Fulfilled(1));
        assert!(true);
        return_unit()
    };
    assert!(ok.is_fulfilled());
}

#[test]
fn assertion_messages_are_evaluated_only_on_failure() {
    // As with std's assertions: the message's arguments may assume the assertion failed.
    thread_local!(static CALLS: Cell<u32> = const { Cell::new(0) });
    fn context() -> &'static str {
        CALLS.with(|c| c.set(c.get() + 1));
        "context"
    }
    let calls = || CALLS.with(Cell::get);
    let none: Option<u8> = std::hint::black_box(None);
    let held: Promise<()> = lwt! {
        assert!(none.is_none(), "{}", context());
        assert_eq!(none, None, "unexpected {}", none.unwrap());
        assert_eq!(1, 1, "{}", context());
        assert_ne!(1, 2, "{}", context());
    };
    assert!(held.is_fulfilled());
    assert_eq!(calls(), 0);

    let failed = |p: Promise<()>| {
        let e = p.rejection().unwrap();
        e.downcast_ref::<AssertionFailed>()
            .unwrap()
            .message()
            .to_string()
    };
    assert!(failed(lwt! { assert_eq!(1, 2, "{}", context()); }).contains(": context"));
    assert_eq!(calls(), 1);
    assert!(failed(lwt! { assert_ne!(1, 1, "{}", context()); }).contains(": context"));
    assert_eq!(calls(), 2);
    assert!(failed(lwt! { assert!(false, "{}", context()); }).contains("context"));
    assert_eq!(calls(), 3);
}

#[test]
fn failure_messages_stay_readable() {
    let p: Promise<()> = lwt! { Promise::fail_with("plain") };
    assert_eq!(
        p.rejection().unwrap().downcast_ref::<Failure>().unwrap().0,
        "plain"
    );
}

/// Found in review (session 20): the guard of a typed arm without a binding was joined to the
/// type test without parentheses, so `Io if a || b` caught every rejection whenever `b` held.
#[test]
fn a_typed_arm_s_guard_with_or_applies_to_that_type_only() {
    let (strict, retry) = (false, true);
    let caught: Promise<u8> = lwt! {
        try { lwt::fail_with("not an Io") } catch {
            Io if strict || retry => ret(1),
            _ => ret(2),
        }
    };
    assert_eq!(caught.state(), State::Fulfilled(2));
    let matched: Promise<u8> = lwt! {
        match lwt::fail_with::<u8>("not an Io") {
            v => ret(v),
            exception _: Io if strict || retry => ret(1),
            exception _ => ret(2),
        }
    };
    assert_eq!(matched.state(), State::Fulfilled(2));
    // The arm still takes its own type when the guard holds.
    let own: Promise<u8> = lwt! {
        try { lwt::fail(Io) } catch {
            Io if strict || retry => ret(1),
            _ => ret(2),
        }
    };
    assert_eq!(own.state(), State::Fulfilled(1));
}

/// Found in review (session 20): an assertion called by its path in the standard library was
/// taken for a promise statement. It is the same assertion: a failure rejects the block.
#[test]
fn assertions_by_their_std_path_reject_too() {
    let p: Promise<u8> = lwt! {
        let x = ret(2);
        std::assert_ne!(x, 3);
        core::assert!(x > 5, "x is {}", x);
        ret(x)
    };
    let e = p.rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<AssertionFailed>().unwrap().message(),
        "x is 2"
    );
}

/// Found in review (session 20): `mut` on a rejection arm's binding was refused with the message
/// about matching by type. As in any Rust pattern, the binding may be `mut`.
#[test]
fn a_rejection_arm_may_bind_mutably() {
    let typed: Promise<String> = lwt! {
        try { lwt::fail(Io) } catch {
            mut e: Io => {
                do let first = e.to_string();
                do e = lwt::control::Caught::new(Exn::new(Io));
                ret(format!("{first}, then {}", *e))
            }
        }
    };
    assert_eq!(typed.state(), State::Fulfilled("io, then io".to_string()));
    let any: Promise<String> = lwt! {
        try { lwt::fail_with("first") } catch {
            mut e => {
                do e = Exn::failure(format!("retried after: {e}"));
                ret(e.to_string())
            }
        }
    };
    assert_eq!(
        any.state(),
        State::Fulfilled("retried after: first".to_string())
    );
}

#[derive(Debug)]
struct Wrap<T>(T);

impl<T: fmt::Debug> fmt::Display for Wrap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrapped {:?}", self.0)
    }
}

impl<T: fmt::Debug> std::error::Error for Wrap<T> {}

/// Found in review (session 21): a catch arm whose type has generic arguments (`Wrap<u8> =>`,
/// as the grammar's `Type` allows) failed with a bare "expected `=>`".
#[test]
fn a_catch_arm_may_name_a_generic_type() {
    let caught: Promise<u8> = lwt! {
        try { lwt::fail(Wrap(3_u8)) } catch {
            Wrap<u16> => ret(16),
            Wrap<u8> if true => ret(8),
        }
    };
    assert_eq!(caught.state(), State::Fulfilled(8));
    let matched: Promise<u8> = lwt! {
        match Promise::<u8>::fail(Wrap(1_u16)) {
            v => ret(v),
            exception Wrap<u16> => ret(16),
        }
    };
    assert_eq!(matched.state(), State::Fulfilled(16));
}

/// The docs' `try`/`finally` over a connection's channels (Lwt's `Lwt.finalize (fun () -> serve
/// ic oc) (fun () -> Lwt_io.close oc)`), with the clone the cleanup needs: it compiles, echoes
/// every line, and closes the output when the input ends.
#[test]
fn try_finally_closes_a_clone_of_the_channel_the_body_uses() {
    use lwt::io;
    let (ic, to_server) = io::pipe().unwrap();
    let (from_server, oc) = io::pipe().unwrap();
    let served = lwt! {
        do let closing = oc.clone();
        try {
            while let Some(line) = ic.read_line_opt() { oc.write_line(line); }
        } finally {
            closing.close()
        }
    };
    let sent = lwt! {
        to_server.write_line("one");
        to_server.write_line("two");
        to_server.close()
    };
    lwt::main::run(sent).unwrap();
    lwt::main::run(served).unwrap();
    let echoed = lwt::main::run(from_server.read_to_end()).unwrap();
    assert_eq!(echoed, b"one\ntwo\n");
}

/// lwt_ppx's `match%lwt (e) [%finally f] with`, as the error for `match try { .. }` says to
/// write it: a nested block as the scrutinee, whose rejection the `exception` arms see after
/// the cleanup ran (rev87).
#[test]
fn match_on_a_nested_try_finally_block() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let p: Promise<u8> = lwt! {
        match lwt! { try { lwt::fail_with::<u8>("boom") } finally { do l1.borrow_mut().push("cleanup"); } } {
            n => ret(n),
            exception e => {
                do l2.borrow_mut().push("caught");
                do assert_eq!(e.to_string(), "boom");
                ret(0)
            }
        }
    };
    assert_eq!(p.state(), State::Fulfilled(0));
    assert_eq!(*log.borrow(), ["cleanup", "caught"]);
}
