//! `lwt!`: `let` (let%lwt), `and`, `#[fail_fast]`, let-else, `do`, sequencing, the block's value.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use lwt::{lwt, ret, return_unit, task, wait, Exn, Failure, Panicked, Promise, State};

#[derive(Debug, Clone, PartialEq)]
struct NotFound(&'static str);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not found: {}", self.0)
    }
}

impl std::error::Error for NotFound {}

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, entry: impl Into<String>) {
    log.borrow_mut().push(entry.into());
}

/// A promise that records when it is created (started).
fn started<T: 'static>(log: &Log, name: &str, p: Promise<T>) -> Promise<T> {
    push(log, format!("start {name}"));
    p
}

#[test]
fn let_binds_the_value_of_a_pending_promise() {
    let (a, ra) = wait::<u32>();
    let (b, rb) = wait::<u32>();
    let sum: Promise<u32> = lwt! {
        let x = a;
        let y = b;
        ret(x * 10 + y)
    };
    assert_eq!(sum.state(), State::Pending);
    ra.wakeup(4);
    assert_eq!(sum.state(), State::Pending);
    rb.wakeup(2);
    assert_eq!(sum.state(), State::Fulfilled(42));
}

#[test]
fn let_with_type_annotation_and_patterns() {
    struct Point {
        x: i64,
        y: i64,
    }
    let p = lwt! {
        let n: u64 = ret(7);
        let (a, b) = ret((1_i64, 2_i64));
        let Point { x, y } = ret(Point { x: 10, y: 20 });
        let mut v: Vec<u64> = ret(vec![n]);
        do v.push(8);
        let _ = ret("ignored");
        ret((a + b + x + y, v))
    };
    assert_eq!(p.state(), State::Fulfilled((33, vec![7, 8])));
}

#[test]
fn let_with_the_variant_of_a_single_variant_enum() {
    // Irrefutable, as in Rust: no `else` needed.
    enum Msg {
        Hello(u8),
    }
    enum Named {
        Point { x: u8, y: u8 },
    }
    enum Unit {
        Only,
    }
    let p: Promise<u8> = lwt! {
        let Msg::Hello(a) = ret(Msg::Hello(1));
        let Named::Point { x, y } = ret(Named::Point { x: 2, y: 3 });
        let Unit::Only = ret(Unit::Only);
        do a + x + y
    };
    assert_eq!(p.state(), State::Fulfilled(6));
}

/// Found in review (session 21): `let Ok(x)` was refused as refutable, but with an error type
/// that cannot exist Rust accepts it, and so does `lwt!` now (it leaves `Ok`/`Err` to the
/// compiler: `tests/ui/refutable_result_variant.rs`).
#[test]
fn let_ok_of_a_result_that_cannot_fail() {
    use std::convert::Infallible;
    let p: Promise<u8> = lwt! {
        let Ok(a) = ret(Ok::<u8, Infallible>(4));
        let Result::Ok(b) = ret(Ok::<u8, Infallible>(5));
        do a + b
    };
    assert_eq!(p.state(), State::Fulfilled(9));
}

#[test]
fn let_moves_non_clone_values() {
    struct Token(u8);
    let (p, r) = wait::<Token>();
    let q: Promise<u8> = lwt! {
        let Token(t) = p;
        ret(t + 1)
    };
    r.wakeup(Token(1));
    assert_eq!(q.state(), State::Fulfilled(2));
}

#[test]
fn a_rejection_skips_the_rest_and_keeps_its_type() {
    let ran = Rc::new(Cell::new(false));
    let r2 = ran.clone();
    let p: Promise<u8> = lwt! {
        let x: u8 = Promise::fail(NotFound("key"));
        do r2.set(true);
        ret(x)
    };
    assert!(!ran.get());
    let e = p.rejection().unwrap();
    assert_eq!(e.downcast_ref::<NotFound>(), Some(&NotFound("key")));
}

#[test]
fn let_else_continues_on_match_and_uses_else_otherwise() {
    fn lookup(key: &'static str) -> Promise<Option<u32>> {
        ret(if key == "a" { Some(1) } else { None })
    }
    fn get(key: &'static str) -> Promise<u32> {
        lwt! {
            let Some(v) = lookup(key) else {
                Promise::fail(NotFound(key))
            };
            ret(v + 100)
        }
    }
    assert_eq!(get("a").state(), State::Fulfilled(101));
    let e = get("b").rejection().unwrap();
    assert_eq!(e.downcast_ref::<NotFound>(), Some(&NotFound("b")));
}

#[test]
fn let_else_may_diverge_with_a_panic_which_rejects() {
    let (p, r) = wait::<Option<u8>>();
    let q: Promise<u8> = lwt! {
        let Some(v) = p else {
            panic!("nothing there")
        };
        ret(v)
    };
    r.wakeup(None);
    let e = q.rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<Panicked>().unwrap().message(),
        "nothing there"
    );
}

/// Found in review (session 118): an `else` block that is a call of a function that never
/// returns compiles warning-free, with no "unreachable expression" (rustc) or
/// "sub-expression diverges" (clippy's `diverging_sub_expression`) at the `let`.
#[test]
fn let_else_may_diverge_with_a_call_that_never_returns() {
    fn missing(what: &str) -> ! {
        panic!("no {what}")
    }
    let find = |v: Option<u8>| -> Promise<u8> {
        lwt! {
            let Some(v) = ret(v) else { missing("value") };
            ret(v)
        }
    };
    assert_eq!(find(Some(3)).state(), State::Fulfilled(3));
    let e = find(None).rejection().unwrap();
    assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), "no value");
}

#[test]
fn let_else_block_is_an_lwt_block() {
    let p: Promise<&str> = lwt! {
        let Ok(v) = ret(Err::<&str, u8>(3)) else {
            let fallback = ret("fallback");
            ret(fallback)
        };
        ret(v)
    };
    assert_eq!(p.state(), State::Fulfilled("fallback"));
}

/// Found in review (session 118): the rest of a let-else may end with a temporary that borrows
/// a binding of the pattern (`cell.borrow()`), as after a plain `let`. Its temporaries are
/// dropped before the pattern's bindings, as in a `match` arm: as the tail of a Rust block in
/// edition 2021, they outlived them (E0597, "`cell` does not live long enough").
#[test]
fn let_else_rest_may_borrow_a_binding_in_a_temporary() {
    let p: Promise<usize> = lwt! {
        let Some(cell) = ret(Some(RefCell::new(vec![1, 2]))) else { ret(0) };
        ret(cell.borrow().len())
    };
    assert_eq!(p.state(), State::Fulfilled(2));
    let q: Promise<usize> = lwt! {
        let Some(cell): Option<RefCell<Vec<u8>>> = ret(Some(RefCell::new(vec![3]))) else {
            ret(0)
        };
        ret(cell.borrow().len())
    };
    assert_eq!(q.state(), State::Fulfilled(1));
}

#[test]
fn and_starts_every_expression_before_awaiting_any() {
    let log = log();
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let l = log.clone();
    let p: Promise<u8> = lwt! {
        let x = started(&log, "a", a) and y = started(&log, "b", b);
        do push(&l, format!("got {x} {y}"));
        ret(x + y)
    };
    // Both expressions ran before anything was awaited.
    assert_eq!(*log.borrow(), ["start a", "start b"]);
    rb.wakeup(2);
    assert!(p.is_pending());
    ra.wakeup(1);
    assert_eq!(p.state(), State::Fulfilled(3));
    assert_eq!(log.borrow().last().unwrap(), "got 1 2");
}

#[test]
fn and_the_leftmost_rejection_wins_whatever_the_timing() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<u8>();
    let p: Promise<u8> = lwt! {
        let x = a and y = b;
        ret(x + y)
    };
    rb.wakeup_exn(Exn::failure("right"));
    // Still waiting for the left one, as lwt_ppx does (it awaits in order).
    assert!(p.is_pending());
    ra.wakeup_exn(Exn::failure("left"));
    assert_eq!(p.rejection().unwrap().to_string(), "left");

    let (a, ra) = wait::<u8>();
    let p: Promise<u8> = lwt! {
        let x = a and y: u8 = Promise::fail_with("right");
        ret(x + y)
    };
    ra.wakeup(1);
    assert_eq!(p.rejection().unwrap().to_string(), "right");
}

/// The annotation is the one thing that fixes these promises' types (`Default::default()`,
/// `parse`, `fail`): it must reach them from the `let` the expansion starts the rest with, in
/// every form of binding.
#[test]
fn annotations_drive_inference_in_every_form() {
    let p = lwt! {
        let v: Vec<u8> = ret(Default::default());
        let n: u32 = ret("7".parse().unwrap());
        let Some(m): Option<u64> = ret("8".parse().ok()) else { lwt::fail_with("not a number") };
        #[fail_fast]
        let a: u16 = ret("9".parse().unwrap()) and b = ret(1_u8);
        let c: i8 = ret(2) and d: String = ret(Default::default());
        ret((v.len() as u64) + u64::from(n) + m + u64::from(a) + u64::from(b) + c as u64 + d.len() as u64)
    };
    assert_eq!(p.state(), State::Fulfilled(27));
    let failed: Promise<u8> = lwt! {
        let x: u8 = Promise::fail(lwt::Exn::failure("typed by the annotation"));
        ret(x)
    };
    assert_eq!(
        failed.rejection().unwrap().to_string(),
        "typed by the annotation"
    );
}

#[test]
fn and_with_three_bindings_and_annotations() {
    let p = lwt! {
        let a: u8 = ret(1) and (b, c) = ret((2_u8, 3_u8)) and d: u8 = ret(4);
        ret(a + b + c + d)
    };
    assert_eq!(p.state(), State::Fulfilled(10));
}

#[test]
fn fail_fast_rejects_as_soon_as_one_rejects() {
    let (a, ra) = task::<u8>();
    let (b, rb) = wait::<u8>();
    let a_canceled = Rc::new(Cell::new(false));
    let c = a_canceled.clone();
    a.on_cancel(move || c.set(true));
    let p: Promise<u8> = lwt! {
        #[fail_fast]
        let x = a and y = b;
        ret(x + y)
    };
    assert!(p.is_pending());
    rb.wakeup_exn(Exn::failure("right first"));
    // `a` was still pending, but the block is already rejected, and `a` canceled.
    assert_eq!(p.rejection().unwrap().to_string(), "right first");
    assert!(a_canceled.get());
    assert!(!ra.is_pending());
}

#[test]
fn fail_fast_fulfils_with_every_value() {
    let (a, ra) = wait::<u8>();
    let (b, rb) = wait::<&str>();
    let (c, rc) = wait::<u8>();
    let p: Promise<String> = lwt! {
        #[fail_fast]
        let x: u8 = a and y = b and z = c;
        ret(format!("{x}{y}{z}"))
    };
    rc.wakeup(3);
    ra.wakeup(1);
    assert!(p.is_pending());
    rb.wakeup("-");
    assert_eq!(p.state(), State::Fulfilled("1-3".to_string()));
}

#[test]
fn do_statements_are_plain_rust() {
    let p = lwt! {
        do let mut total = 0;
        do total += 1;
        do {
            total += 10;
            total *= 2;
        }
        do let doubled = total * 2;
        let x = ret(doubled);
        do if x > 10 { total = 0; }
        do total + x
    };
    assert_eq!(p.state(), State::Fulfilled(44));
}

#[test]
fn attributes_on_plain_statements() {
    // `#[allow(unused_mut)]` must reach the `let`: without it, the test build (with
    // `-D warnings` under clippy) fails on the unused `mut`.
    let p: Promise<u8> = lwt! {
        let a = ret(1_u8);
        do #[allow(unused_mut)] let mut b = a;
        do #[allow(dead_code)] fn unused() {}
        do b + 1
    };
    assert_eq!(p.state(), State::Fulfilled(2));
}

#[test]
fn items_inside_a_block() {
    let p = lwt! {
        fn helper(x: u8) -> Promise<u8> {
            ret(x + 1)
        }
        const BASE: u8 = 40;
        let x = helper(BASE);
        helper(x)
    };
    assert_eq!(p.state(), State::Fulfilled(42));
}

#[test]
fn items_are_visible_in_their_whole_block() {
    // As in a Rust block, an item may come after its first use, even with a `let` between.
    let p: Promise<u8> = lwt! {
        do let y = helper(1);
        let x = ret(y);
        fn helper(v: u8) -> u8 {
            v + 1
        }
        for i in 0..1_u8 {
            do let z = twice(i);
            let _ = ret(z);
            do fn twice(v: u8) -> u8 { v * 2 }
        }
        ret(x)
    };
    assert_eq!(p.state(), State::Fulfilled(2));
}

#[test]
fn sequencing_waits_for_each_unit_promise_in_turn() {
    let log = log();
    let (a, ra) = wait::<()>();
    let (b, rb) = wait::<()>();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let b = Rc::new(RefCell::new(Some(b)));
    let p: Promise<&str> = lwt! {
        a;
        do push(&l1, "after a");
        b.borrow_mut().take().unwrap();
        do push(&l2, "after b");
        return_unit();
        do push(&l3, "after return_unit");
        ret("done")
    };
    assert!(log.borrow().is_empty());
    ra.wakeup(());
    assert_eq!(*log.borrow(), ["after a"]);
    rb.wakeup(());
    assert_eq!(*log.borrow(), ["after a", "after b", "after return_unit"]);
    assert_eq!(p.state(), State::Fulfilled("done"));
}

#[test]
fn a_block_ending_with_a_statement_is_a_unit_promise() {
    let (a, ra) = wait::<()>();
    let p: Promise<()> = lwt! { a; };
    assert!(p.is_pending());
    ra.wakeup(());
    assert_eq!(p.state(), State::Fulfilled(()));

    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let p: Promise<()> = lwt! {
        let x = ret(5);
        do s.set(x);
    };
    assert_eq!(p.state(), State::Fulfilled(()));
    assert_eq!(seen.get(), 5);

    let p: Promise<()> = lwt! { let _x = ret(5); };
    assert_eq!(p.state(), State::Fulfilled(()));
}

#[test]
fn the_last_expression_is_the_blocks_promise() {
    let (p, r) = wait::<u8>();
    // No bind at all: the block is `p` itself.
    let q: Promise<u8> = lwt! { p };
    r.wakeup(9);
    assert_eq!(q.state(), State::Fulfilled(9));

    let v = lwt! { do "plain value" };
    assert_eq!(v.state(), State::Fulfilled("plain value"));
}

#[test]
fn nested_blocks_scope_their_bindings() {
    let p = lwt! {
        let x = ret(1);
        {
            let x = ret(x + 100);
            do assert_eq!(x, 101);
        }
        ret(x)
    };
    assert_eq!(p.state(), State::Fulfilled(1));
}

#[test]
fn let_initializer_may_be_a_form() {
    let (c, rc) = wait::<bool>();
    let p: Promise<u8> = lwt! {
        let x = if c { ret(1) } else { ret(2) };
        let y = match ret(Some(x)) {
            Some(v) => ret(v * 10),
            None => ret(0),
        };
        let z = try { Promise::<u8>::fail_with("no") } catch { _ => ret(5) };
        let w = { let a = ret(1000_u32); ret(a > 1) };
        do assert!(w);
        ret(x + y + z)
    };
    rc.wakeup(true);
    assert_eq!(p.state(), State::Fulfilled(16));
}

#[test]
fn a_panic_in_a_continuation_rejects_the_block() {
    let p: Promise<u8> = lwt! {
        let x = ret(0_u8);
        do let y = 10 / x;
        ret(y)
    };
    assert!(p.rejection().unwrap().is::<Panicked>());
}

#[test]
fn failures_from_fail_with_pass_through() {
    let p: Promise<u8> = lwt! {
        let _ = ret(());
        let x = Promise::fail_with("plain failure");
        ret(x)
    };
    let e = p.rejection().unwrap();
    assert_eq!(e.downcast_ref::<Failure>().unwrap().0, "plain failure");
}

/// Found in review (session 20): an or-pattern was always called refutable, even one that covers
/// its type (`Ok(x) | Err(x)`); such a `let` needs no `else`.
#[test]
fn an_or_pattern_that_covers_its_type_needs_no_else() {
    let p: Promise<u8> = lwt! {
        let (Ok(x) | Err(x)) = ret(Err::<u8, u8>(7));
        let (true | false) = ret(true);
        ret(x)
    };
    assert_eq!(p.state(), State::Fulfilled(7));
}

/// Found in review (session 20): `dbg!` returns its argument, so `dbg!(promise);` waits for a
/// `Promise<()>` like any other statement; it was refused as a plain statement.
#[test]
fn dbg_of_a_promise_is_a_statement() {
    let (p, r) = wait::<()>();
    let done: Promise<u8> = lwt! {
        dbg!(p);
        ret(1)
    };
    assert!(done.is_pending());
    r.wakeup(());
    assert_eq!(done.state(), State::Fulfilled(1));
}

/// Found in review (session 20): `do m! { .. }` needed a `;`, though a macro called with braces
/// ends its statement in Rust.
#[test]
fn a_braced_macro_after_do_needs_no_semicolon() {
    let log = log();
    let l = log.clone();
    macro_rules! note {
        ($($t:tt)*) => { push(&l, stringify!($($t)*)); };
    }
    let p: Promise<()> = lwt! {
        do note! { first }
        do note! { second }
        return_unit()
    };
    assert!(p.is_fulfilled());
    assert_eq!(*log.borrow(), ["first", "second"]);
}

/// Found in review (session 21): `panic!(..);` (or `do panic!(..);`) ending a block was refused
/// as a plain statement, and the advice (`do`) then gave a type error. As in Rust, a block that
/// ends in a diverging statement takes any type: it is the block's value, and rejects.
#[test]
fn a_block_may_end_with_a_panic_and_its_semicolon() {
    let first = |p: Promise<Option<u8>>| -> Promise<u8> {
        lwt! {
            let Some(v) = p else { panic!("nothing there"); };
            ret(v)
        }
    };
    let second = |p: Promise<Option<u8>>| -> Promise<u8> {
        lwt! {
            let Some(v) = p else { do unreachable!("none at {}", 1); };
            ret(v)
        }
    };
    assert_eq!(first(ret(Some(2))).state(), State::Fulfilled(2));
    let e = first(ret(None)).rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<Panicked>().unwrap().message(),
        "nothing there"
    );
    assert_eq!(second(ret(Some(4))).state(), State::Fulfilled(4));
    let e = second(ret(None)).rejection().unwrap();
    assert!(e
        .downcast_ref::<Panicked>()
        .unwrap()
        .message()
        .contains("none at 1"));
}

/// A value that logs its drop, by name.
struct Guard(Log, &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        push(&self.0, format!("drop {}", self.1));
    }
}

/// Pins what `docs/lwt-macro.md` ("When values are dropped") says: a value the rest of the block
/// never uses is dropped before the block resumes, and `do drop(..)` where it should end keeps it
/// alive until then.
#[test]
fn guards_live_until_they_are_used() {
    let l = log();
    let (p, r) = wait::<u32>();
    let (l1, l2) = (l.clone(), l.clone());
    let unused: Promise<()> = lwt! {
        do let _guard = Guard(l1.clone(), "unused");
        let x = p;
        do push(&l1, format!("resumed {x}"));
    };
    let (q, rq) = wait::<u32>();
    let kept: Promise<()> = lwt! {
        do let guard = Guard(l2.clone(), "kept");
        let x = q;
        do push(&l2, format!("resumed {x}"));
        do drop(guard);
    };
    push(&l, "woken");
    r.wakeup(1);
    rq.wakeup(2);
    assert!(unused.is_fulfilled() && kept.is_fulfilled());
    assert_eq!(
        *l.borrow(),
        [
            "drop unused",
            "woken",
            "resumed 1",
            "resumed 2",
            "drop kept"
        ]
    );
}

/// Found in review (session 25): the temporaries of the expression a form waits on (a `let`'s
/// value, a statement's promise, an `if`'s condition, an `if let`'s promise) lived until the
/// form's call returned, and that call runs the continuation at once when the promise is
/// resolved: a `RefCell` borrow in the expression was still held there, and code that is fine
/// in Rust (a statement's temporaries are dropped at its end) panicked with "already borrowed".
#[test]
fn temporaries_of_a_waited_expression_are_dropped_before_the_rest_runs() {
    fn seen(_: &Option<u32>) -> Promise<()> {
        return_unit()
    }
    let cell = Rc::new(RefCell::new(Some(1_u32)));
    let (c1, c2, c3) = (cell.clone(), cell.clone(), cell.clone());
    let p: Promise<u32> = lwt! {
        let v = ret(cell.borrow().unwrap());
        do *cell.borrow_mut() = Some(v + 1);
        seen(&cell.borrow());
        do *cell.borrow_mut() = Some(v + 2);
        if c1.borrow().is_some() {
            do *c1.borrow_mut() = None;
        }
        if let None = ret(*c2.borrow()) {
            do *c2.borrow_mut() = Some(10);
        }
        do c3.borrow().unwrap()
    };
    assert_eq!(p.state(), State::Fulfilled(10));
}

/// Found in review (session 25): the same through a `{ .. }` block, whose last expression's
/// temporaries a block's tail keeps to the end of the enclosing statement.
#[test]
fn temporaries_of_a_nested_block_are_dropped_before_the_rest_runs() {
    fn seen(_: &Option<u32>) -> Promise<()> {
        return_unit()
    }
    let cell = Rc::new(RefCell::new(Some(1_u32)));
    let c2 = cell.clone();
    let p: Promise<u32> = lwt! {
        let v = { ret(cell.borrow().unwrap()) };
        do *c2.borrow_mut() = Some(v + 1);
        {
            seen(&cell.borrow());
        }
        do *c2.borrow_mut() = Some(v + 2);
        do c2.borrow().unwrap()
    };
    assert_eq!(p.state(), State::Fulfilled(3));
}

/// Found in review (rev104): a binding by `ref mut` with a type (`let ref mut e: T = p;`, also
/// under `and` and `#[fail_fast]`), and any let-else binding by `ref mut`, failed to compile
/// (E0596, "cannot borrow as mutable"): the pattern borrowed the closure's parameter, which was
/// not `mut`. Each form mutates the value it borrows and returns its length.
#[test]
fn bindings_by_ref_mut_borrow_the_value_mutably() {
    fn v() -> Promise<Vec<u8>> {
        ret(vec![7])
    }
    let forms: Vec<Promise<usize>> = vec![
        lwt! { let ref mut e = v(); do e.push(1); ret(e.len()) },
        lwt! { let ref mut e: Vec<u8> = v(); do e.push(1); ret(e.len()) },
        lwt! { let (ref mut e, b): (Vec<u8>, u8) = ret((vec![7], 1)); do e.push(b); ret(e.len()) },
        lwt! { let b: u8 = ret(1) and ref mut e: Vec<u8> = v(); do e.push(b); ret(e.len()) },
        lwt! { #[fail_fast] let ref mut e: Vec<u8> = v() and b: u8 = ret(1); do e.push(b); ret(e.len()) },
        lwt! { #[fail_fast] let ref mut e = v() and b = ret(1_u8); do e.push(b); ret(e.len()) },
        lwt! { let Some(ref mut e) = ret(Some(vec![7])) else { ret(0) }; do e.push(1); ret(e.len()) },
        lwt! {
            let Some(ref mut e): Option<Vec<u8>> = ret(Some(vec![7])) else { ret(0) };
            do e.push(1);
            ret(e.len())
        },
    ];
    let lengths: Vec<State<usize>> = forms.iter().map(Promise::state).collect();
    assert_eq!(lengths, vec![State::Fulfilled(2); 8]);
}

/// The `mut` that a `ref mut` binding needs is not added to other typed bindings: a value bound
/// to `_` with a type lives, as without one, until the rest of the block has run.
#[test]
fn a_typed_wildcard_binding_keeps_its_value_until_the_rest_has_run() {
    let l = log();
    let l1 = l.clone();
    let p: Promise<()> = lwt! {
        let _: Guard = ret(Guard(l1.clone(), "typed"));
        do push(&l1, "rest");
    };
    assert!(p.is_fulfilled());
    assert_eq!(*l.borrow(), ["rest", "drop typed"]);
}
