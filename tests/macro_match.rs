//! `lwt!`: `match` on a promise (match%lwt) with value arms and `exception` arms, `if let`.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use lwt::control::Caught;
use lwt::{lwt, ret, wait, Exn, Failure, Panicked, Promise, State};

#[derive(Debug, Clone, PartialEq)]
enum DbError {
    NotFound(u32),
    Locked,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NotFound(id) => write!(f, "no row {id}"),
            DbError::Locked => f.write_str("locked"),
        }
    }
}

impl std::error::Error for DbError {}

#[derive(Debug)]
struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timeout")
    }
}

impl std::error::Error for Timeout {}

fn fetch(id: u32) -> Promise<Option<String>> {
    match id {
        0 => Promise::fail(DbError::Locked),
        1 => ret(Some("one".to_string())),
        2 => ret(None),
        3 => Promise::fail(Timeout),
        4 => Promise::fail_with("disk on fire"),
        _ => Promise::fail(DbError::NotFound(id)),
    }
}

/// Every kind of arm, in one `match`.
fn describe(id: u32) -> Promise<String> {
    lwt! {
        match fetch(id) {
            Some(name) if name.len() > 10 => ret("long".to_string()),
            Some(name) => ret(format!("row {name}")),
            None => ret("empty".to_string()),
            exception e: DbError if matches!(*e, DbError::NotFound(_)) => ret(format!("missing: {e}")),
            exception Timeout => ret("timed out".to_string()),
            exception e: DbError => {
                let again = ret(format!("retry after {e}"));
                ret(again)
            }
        }
    }
}

#[test]
fn value_arms_with_guards() {
    assert_eq!(describe(1).state(), State::Fulfilled("row one".into()));
    assert_eq!(describe(2).state(), State::Fulfilled("empty".into()));
}

#[test]
fn exception_arms_match_by_type_in_order() {
    assert_eq!(
        describe(7).state(),
        State::Fulfilled("missing: no row 7".into())
    );
    assert_eq!(describe(3).state(), State::Fulfilled("timed out".into()));
    // The typed binding survives a bind inside the arm (it owns the rejection).
    assert_eq!(
        describe(0).state(),
        State::Fulfilled("retry after locked".into())
    );
}

#[test]
fn unmatched_rejections_pass_through_with_their_type() {
    let p = describe(4);
    let e = p.rejection().unwrap();
    assert_eq!(e.downcast_ref::<Failure>().unwrap().0, "disk on fire");
    // ...and with the `match` recorded.
    let lines: Vec<u32> = e.locations().map(|l| l.line()).collect();
    assert_eq!(lines.len(), 1);
    assert!(e.locations().all(|l| l.file().ends_with("macro_match.rs")));
}

#[test]
fn match_on_a_pending_promise() {
    let (p, r) = wait::<Result<u8, String>>();
    let q: Promise<u8> = lwt! {
        match p {
            Ok(v) => ret(v),
            Err(msg) => Promise::fail_with(msg),
        }
    };
    assert!(q.is_pending());
    r.wakeup(Ok(8));
    assert_eq!(q.state(), State::Fulfilled(8));
}

#[test]
fn exception_arms_see_rejections_of_a_pending_promise() {
    let (p, r) = wait::<u8>();
    let q: Promise<String> = lwt! {
        match p {
            v => ret(v.to_string()),
            exception e => ret(format!("any: {e}")),
        }
    };
    r.wakeup_exn(Exn::failure("late"));
    assert_eq!(q.state(), State::Fulfilled("any: late".into()));
}

#[test]
fn catch_all_exception_arm_gets_the_exn() {
    let p: Promise<bool> = lwt! {
        match Promise::<u8>::fail(DbError::Locked) {
            _ => ret(false),
            exception e => ret(e.is::<DbError>()),
        }
    };
    assert_eq!(p.state(), State::Fulfilled(true));

    let p: Promise<u8> = lwt! {
        match Promise::<u8>::fail(Timeout) {
            v => ret(v),
            exception _ => ret(0),
        }
    };
    assert_eq!(p.state(), State::Fulfilled(0));
}

#[test]
fn exception_arms_do_not_catch_failures_of_value_arms() {
    // As match%lwt (Lwt.try_bind): the exception cases handle the scrutinee only.
    let p: Promise<u8> = lwt! {
        match ret(1_u8) {
            _ => Promise::fail(Timeout),
            exception Timeout => ret(99),
        }
    };
    assert!(p.rejection().unwrap().is::<Timeout>());
}

#[test]
fn a_panic_while_creating_the_promise_is_a_rejection() {
    fn explode() -> Promise<u8> {
        panic!("creating the promise")
    }
    let p: Promise<String> = lwt! {
        match explode() {
            v => ret(v.to_string()),
            exception e: Panicked => ret(e.message().to_string()),
        }
    };
    assert_eq!(p.state(), State::Fulfilled("creating the promise".into()));
}

/// Found in review (session 25): without exception arms, the panic escaped the block, so adding
/// an arm changed whether a panic escapes. lwt_ppx makes every `match%lwt` a `Lwt.try_bind (fun
/// () -> e) ..`: Lwt 5.6.1 rejects (`rejected: Failure("scrutinee")`).
#[test]
fn a_panic_while_creating_the_promise_is_a_rejection_without_exception_arms() {
    fn explode() -> Promise<u8> {
        panic!("creating the promise")
    }
    let p: Promise<String> = lwt! {
        match explode() {
            v => ret(v.to_string()),
        }
    };
    let e = p.rejection().expect("a rejection, not an escaping panic");
    assert_eq!(
        e.downcast_ref::<Panicked>().unwrap().message(),
        "creating the promise"
    );
}

#[test]
fn caught_errors_can_be_passed_on_unchanged() {
    let original = Exn::new(DbError::Locked);
    let p: Promise<u8> = lwt! {
        match Promise::<u8>::fail(original.clone()) {
            v => ret(v),
            exception e: DbError => {
                do let keep: Caught<DbError> = e.clone();
                Promise::fail(keep)
            }
        }
    };
    assert!(p.rejection().unwrap().ptr_eq(&original));
}

#[test]
fn match_without_exception_arms_passes_rejections_on() {
    let p: Promise<u8> = lwt! {
        match Promise::<Option<u8>>::fail(Timeout) {
            Some(v) => ret(v),
            None => ret(0),
        }
    };
    let e = p.rejection().unwrap();
    assert!(e.is::<Timeout>());
    assert_eq!(e.locations().count(), 1);
}

#[test]
fn arms_share_captured_variables() {
    let name = String::from("shared");
    let p: Promise<String> = lwt! {
        match Promise::<u8>::fail(Timeout) {
            v => ret(format!("{name}: {v}")),
            exception Timeout => ret(format!("{name}: timeout")),
        }
    };
    assert_eq!(p.state(), State::Fulfilled("shared: timeout".into()));
}

#[test]
fn match_as_a_statement_sequences_unit_arms() {
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let p: Promise<u8> = lwt! {
        match ret(2_u8) {
            2 => { do h.set(h.get() + 1); }
            _ => lwt::return_unit(),
        }
        ret(hits.get())
    };
    assert_eq!(p.state(), State::Fulfilled(1));
}

#[test]
fn if_let_on_a_promise() {
    let (p, r) = wait::<Option<u8>>();
    let q: Promise<u8> = lwt! {
        if let Some(v) = p {
            ret(v)
        } else {
            ret(0)
        }
    };
    r.wakeup(Some(5));
    assert_eq!(q.state(), State::Fulfilled(5));

    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let q: Promise<()> = lwt! {
        if let Some(v) = ret(Some(3)) {
            do s.set(v);
        }
    };
    assert!(q.is_fulfilled());
    assert_eq!(seen.get(), 3);
}

/// Found in review (session 20): as in Rust, an arm whose body is block-like (`if .. else ..`,
/// `match`, a block) needs no comma after it. `lwt!` required one, and its recovery then took the
/// next arm with it and added a false "needs at least one arm" error.
#[test]
fn a_block_like_arm_body_needs_no_comma() {
    let pick = |v: Option<u8>| -> Promise<u8> {
        lwt! {
            match ret(v) {
                Some(x) => if x > 1 { ret(1) } else { ret(2) }
                None => match v.is_none() { true => ret(0), false => ret(9) }
            }
        }
    };
    assert_eq!(pick(Some(3)).state(), State::Fulfilled(1));
    assert_eq!(pick(Some(1)).state(), State::Fulfilled(2));
    assert_eq!(pick(None).state(), State::Fulfilled(0));
}

/// Found in review (session 20): a missing comma between two arms was reported, but its recovery
/// skipped the next arm; the match then looked armless and got a second, false error. The UI
/// test `match_missing_comma` pins the single error; this one pins that splitting the value arms
/// from the rejection arms in the expansion kept each kind's order.
#[test]
fn value_and_rejection_arms_keep_their_order_when_interleaved() {
    let classify = |p: Promise<u8>| -> Promise<&'static str> {
        lwt! {
            match p {
                exception _: Timeout => ret("timeout"),
                0 => ret("zero"),
                exception e: DbError if *e == DbError::Locked => ret("locked"),
                n if n < 10 => ret("small"),
                exception _: DbError => ret("other db"),
                _ => ret("large"),
            }
        }
    };
    assert_eq!(classify(ret(0)).state(), State::Fulfilled("zero"));
    assert_eq!(classify(ret(3)).state(), State::Fulfilled("small"));
    assert_eq!(classify(ret(30)).state(), State::Fulfilled("large"));
    assert_eq!(
        classify(Promise::fail(Timeout)).state(),
        State::Fulfilled("timeout")
    );
    assert_eq!(
        classify(Promise::fail(DbError::Locked)).state(),
        State::Fulfilled("locked")
    );
    assert_eq!(
        classify(Promise::fail(DbError::NotFound(1))).state(),
        State::Fulfilled("other db")
    );
    let passed = classify(lwt::fail_with("elsewhere"));
    assert_eq!(passed.rejection().unwrap().to_string(), "elsewhere");
}

/// Found in review (session 21): the pass-through arm that a `match` with exception arms adds was
/// spanned at the user's `match`, so `unused_qualifications` flagged its `Err` path there.
#[deny(unused_qualifications)]
fn classify_strictly(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        match p {
            v => ret(v),
            exception _: Timeout => ret(1),
        }
    }
}

#[test]
fn generated_paths_do_not_trip_unused_qualifications() {
    assert_eq!(classify_strictly(ret(7)).state(), State::Fulfilled(7));
    assert_eq!(
        classify_strictly(Promise::fail(Timeout)).state(),
        State::Fulfilled(1)
    );
    assert!(classify_strictly(lwt::fail_with("other")).is_rejected());
}

/// Found in review (session 21): attributes on match arms were refused; as in Rust, a value arm
/// may carry `#[cfg(..)]` (and any other arm attribute).
#[test]
fn a_value_arm_may_carry_cfg() {
    let p: Promise<&'static str> = lwt! {
        match ret(1_u8) {
            #[cfg(any())]
            1 => ret("compiled out"),
            #[cfg(all())]
            1 => ret("kept"),
            _ => ret("other"),
        }
    };
    assert_eq!(p.state(), State::Fulfilled("kept"));
}

/// `arm => do expr,`: the arm's value is the plain value, as in `arm => { do expr }`, in value
/// arms, exception arms and `catch` arms alike; a diverging macro stays the arm's value.
#[test]
fn an_arm_body_may_be_a_plain_value_after_do() {
    let log = Rc::new(Cell::new(0));
    let l = log.clone();
    let p: Promise<u32> = lwt! {
        match ret(None::<u32>) {
            Some(n) => do n,
            None => do { l.set(l.get() + 1); 7 },
        }
    };
    assert_eq!(p.state(), State::Fulfilled(7));
    assert_eq!(log.get(), 1);
    let q: Promise<String> = lwt! {
        match Promise::<u8>::fail_with("gone") {
            n => do n.to_string(),
            exception e: Failure => do format!("caught {e}"),
        }
    };
    assert_eq!(q.state(), State::Fulfilled("caught gone".to_owned()));
    let r: Promise<u8> = lwt! {
        try { Promise::fail_with("x") } catch { _ => do 3 }
    };
    assert_eq!(r.state(), State::Fulfilled(3));
    let s: Promise<u8> = lwt! {
        match ret(1_u8) {
            0 => do unreachable!("never zero"),
            n => do n + 1,
        }
    };
    assert_eq!(s.state(), State::Fulfilled(2));
}

/// The form the `match` error suggests for a plain value that borrows (found by a dogfood,
/// session 31: `match lwt::ret(line.as_str())` does not compile, the arms running later): an
/// ordinary `match` in parentheses, whose arms are promises, waited on as a statement or as the
/// block's value.
#[test]
fn a_plain_match_in_parentheses_picks_the_promise_to_wait_on() {
    let replies = Rc::new(std::cell::RefCell::new(Vec::new()));
    let (r1, r2) = (replies.clone(), replies.clone());
    let reply = move |s: &str| {
        r1.borrow_mut().push(s.to_string());
        ret(())
    };
    let (line, resolver) = wait::<String>();
    let done = lwt! {
        let line = line;
        (match line.as_str() {
            "PING" => reply("PONG"),
            _ => reply("ERR"),
        });
        (match line.len() {
            4 => ret("four"),
            _ => ret("other"),
        })
    };
    assert_eq!(done.state(), State::Pending);
    resolver.wakeup("PING".to_string());
    assert_eq!(done.state(), State::Fulfilled("four"));
    assert_eq!(*r2.borrow(), ["PONG"]);
}

/// The fix the "is a promise, but this is a `()`" note gives for an arm: `do value` as its body.
#[test]
fn an_arm_whose_body_is_do_value() {
    let count = |v: Option<u32>| -> Promise<u32> {
        lwt! {
            match ret(v) {
                Some(n) => do n * 2,
                None => do 0,
            }
        }
    };
    assert_eq!(count(Some(4)).state(), State::Fulfilled(8));
    assert_eq!(count(None).state(), State::Fulfilled(0));
    let unit: Promise<()> = lwt! {
        match ret(None::<u8>) {
            Some(_) => lwt::return_unit(),
            None => do (),
        }
    };
    assert_eq!(unit.state(), State::Fulfilled(()));
}

lwt::exception! {
    /// A retry loop's failure, as OCaml's `exception Transient of int`.
    Transient(u32);
    Fatal { reason: &'static str }
}

/// `exception!`'s types are matched by type in rejection arms, as OCaml's exceptions are by
/// constructor (rev87: declaring one by hand was the heaviest line of a port).
#[test]
fn exception_types_are_matched_by_rejection_arms() {
    let attempt = |n: u32| -> Promise<u32> {
        match n {
            0 | 1 => Promise::fail(Transient(n)),
            2 => Promise::fail(Fatal { reason: "disk" }),
            _ => ret(n),
        }
    };
    let classify = move |n: u32| -> Promise<String> {
        lwt! {
            match attempt(n) {
                v => do format!("ok {v}"),
                exception t: Transient if t.0 == 0 => do format!("first try: {t}"),
                exception t: Transient => do format!("again: {}", t.0),
                exception f: Fatal => do format!("fatal: {}", f.reason),
            }
        }
    };
    let got: Vec<_> = (0..4).map(|n| classify(n).state()).collect();
    assert_eq!(
        got,
        [
            State::Fulfilled("first try: Transient(0)".to_string()),
            State::Fulfilled("again: 1".to_string()),
            State::Fulfilled("fatal: disk".to_string()),
            State::Fulfilled("ok 3".to_string()),
        ]
    );
}

/// Review of the tokio-user trial (rev143): the brace advice an arm's unbraced `match`/`if`/loop
/// gets when it fails to parse left the parse of valid arms alone. Each kind of plain-Rust body a
/// Rust `match` arm can have still compiles and gives its value: unbraced `match`, `if`, `if let`,
/// `loop` (and a labeled one), a plain `for`/`while` inside an unbraced `match`, `unsafe`, a
/// closure and an `async` block (through `future::spawn_local`).
#[test]
// The arms are the plain-Rust forms under test, written as small as they come.
#[allow(
    unused_unsafe,
    clippy::never_loop,
    clippy::redundant_closure_call,
    clippy::match_single_binding
)]
fn unbraced_plain_rust_arm_bodies_still_compile() {
    let pick = |v: Option<u8>, k: u8| -> Promise<u32> {
        lwt! {
            match ret(v) {
                Some(0) => match k { 0 => ret(10), _ => ret(11) },
                Some(1) => if k > 1 { ret(20) } else { ret(21) },
                Some(2) => if let Some(x) = v.filter(|_| k > 0) { ret(30 + u32::from(x)) } else { ret(39) },
                Some(3) => loop { break ret(40 + u32::from(k)); },
                Some(4) => 'outer: loop { loop { break 'outer ret(50); } },
                Some(5) => unsafe { ret(60) },
                Some(6) => (|| ret(70 + u32::from(k)))(),
                Some(7) => lwt::future::spawn_local(async move { 80 + u32::from(k) }),
                Some(8) => match k {
                    _ => {
                        let mut sum = 0;
                        for i in 0..k {
                            sum += u32::from(i);
                        }
                        while sum > 5 {
                            sum -= 5;
                        }
                        ret(sum)
                    }
                },
                Some(_) => ret(1),
                None => ret(90),
            }
        }
    };
    let cases = [
        ((Some(0), 0), 10),
        ((Some(0), 1), 11),
        ((Some(1), 2), 20),
        ((Some(1), 0), 21),
        ((Some(2), 1), 32),
        ((Some(2), 0), 39),
        ((Some(3), 4), 44),
        ((Some(4), 0), 50),
        ((Some(5), 0), 60),
        ((Some(6), 3), 73),
        ((Some(7), 2), 82),
        ((Some(8), 5), 5),
        ((Some(9), 3), 1),
        ((None, 0), 90),
    ];
    for ((v, k), want) in cases {
        assert_eq!(lwt::main::run(pick(v, k)).unwrap(), want, "{v:?} {k}");
    }
}
