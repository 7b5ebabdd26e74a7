//! A differential test of the `list` and `switch` modules against real OCaml Lwt 5.6.1, built
//! like `ocaml_diff_sync.rs`: random small programs run on `lwt-core` (interpreted here, in
//! process) and on Lwt (`tests/ocaml/lwt_diff_list.ml`, compiled once per test process), whose
//! logs must agree line by line. The program format is described in `lwt_diff_list.ml`.
//!
//! * A *list program* makes one call of a `list` function (`Lwt_list`'s of the same name; all 23
//!   that both have) over up to 6 elements, whose step function `f` answers, per element, with
//!   a resolved promise, a rejected one (`Lwt.fail`), a panic (OCaml `raise`: the `list` module
//!   docs make a panic in `f` a rejection, as Lwt's `Lwt.apply` does a raise), or a pending
//!   `wait()` / `task()` promise that later top-level operations resolve, reject or cancel, in a
//!   random order; an operation may also cancel the result, and so may `f` itself, or resolve
//!   another element's pending promise, before it answers. The log has every call of `f`
//!   (element, index or accumulator, and the operation it happened in, so the order of calls
//!   and whether a step resolved in one operation starts the next are compared), and after every
//!   operation the state of the result (value or exception) and of every step promise (so
//!   whether canceling the result reaches the pending steps is compared). An operation resolves
//!   one step (others only through a cancel), so the states after each operation give the order
//!   of the resolutions; within one, the order callbacks run in differs on purpose (README).
//! * A *switch program* is a straight-line program over up to three switches and a pool of unit
//!   promises: `Switch::new`, `add_hook`, `add_hook_or_exec`, `turn_off` (also repeated, also
//!   from hooks), `is_on`, `check`, `with_switch`; hooks and bodies return at once, fail, panic,
//!   return a pending `task()` that a later operation resolves, rejects or cancels, turn a switch
//!   off or add a hook. The log has every hook call (in order, with its operation), every query,
//!   and the state of every slot after every operation.
//!
//! Not compared, because the crate differs there on purpose (module docs; README, "Where this
//! differs from Lwt, on purpose"):
//!
//! * a parallel function other than `iter_p` / `iteri_p` (Lwt's join theirs) whose step was
//!   rejected: Lwt waits for the steps from the last to the first and stops at the first
//!   rejection met that way (`list` module docs). Its result is left out from the operation
//!   that rejects a step on while a step is pending (once none is, both are rejected); the step
//!   states are still compared;
//! * for the parallel functions, and for `turn_off` and `with_switch`, which join the hooks:
//!   which exception when two or more steps or hooks were rejected (here the first in input
//!   order, in Lwt the first in time: README, `join`). The exception is left out then (`R:~`),
//!   not the rejection nor its time. For a switch, only when one of them was rejected later than
//!   its hook returned (when all were rejected at once Lwt takes the first in its list too), or
//!   when a rejected hook turned off a switch whose join is such a rejection (it passes the
//!   exception on);
//! * canceling the result of those same parallel functions (not `iter_p`): Lwt cancels only the
//!   step it is waiting on, the last pending one. Everything after such a cancel is left out;
//! * a hook given to `add_hook_or_exec` on a switch that is off and panicking: Lwt calls it
//!   without `Lwt.apply`, so its exception escapes `add_hook_or_exec`; here it is the rejection
//!   of the returned promise (README: a panic in a callback rejects its promise). The interpreter
//!   makes Lwt's escaped exception a rejected promise and says so in a query, which is dropped.
//!
//! `find_s` is fulfilled with `None` where Lwt's is rejected with `Not_found` (its docs); the
//! interpreter prints the two alike.
//!
//! Found: no bug (6000 cases by default, 20,000 at seeds 2, 3 and 4 and 100,000 at seed 5 agree).
//! Three of the differences above were new, and are now in the module docs, each pinned by an
//! ignored test at the end of this file that asserts Lwt's behaviour: canceling `map_p` & co.
//! (`canceling_map_p_cancels_only_the_step_it_waits_on_in_lwt`), which of several failures
//! `turn_off` reports (`turn_off_rejects_with_the_first_failure_in_time_in_lwt`; the `iter_p`
//! case, `iter_p_rejects_with_the_first_rejection_in_time_in_lwt`, was in the `list` docs but
//! misdescribed as Lwt taking the last rejection), and a raising hook of `add_hook_or_exec`
//! (`a_raising_hook_escapes_add_hook_or_exec_in_lwt`). Injected bugs it catches: `turn_off`
//! running the hooks first-added first (case 2), `map_p` calling `f` from the last element
//! (case 8), `for_all_s` going on after a `false` (case 30), `with_switch` not turning its
//! switch off when `f` is rejected (case 28).
//!
//! When `ocamlfind` or the `lwt` package is missing, the test prints a skip message and passes.
//! `OCAML_DIFF_LIST_CASES` (default 6000, a few seconds), `OCAML_DIFF_LIST_SEED` (default 1)
//! set the run; `OCAML_DIFF_LIST_KEEP_GOING=1` reports every failing case (shrunk) instead of
//! stopping at the first; `OCAML_DIFF_LIST_CASE=<n>` only prints case `n`. A failure prints the
//! shrunk program in `lwt_diff_list.ml`'s format, which can be fed to the compiled interpreter
//! (`target/tmp/lwt_diff_list/lwt_diff_list`) by hand.
//! Run: `cargo test -p lwt-core --test ocaml_diff_list -- --nocapture`.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use fuzz::{env, Rng};
use lwt_core::switch::{self, Switch};
use lwt_core::{list, task, wait, Exn, Failure, Panicked, Promise, Resolver, State};

/// Values stay below this, on both sides (OCaml's `int` is 63 bits).
const MD: i64 = 1_000_003;

// ------------------------------------------------------------------------------------------------
// Programs
// ------------------------------------------------------------------------------------------------

/// The `list` functions compared, by their name in both.
const FUNCS: [&str; 23] = [
    "iter_s",
    "iter_p",
    "iteri_s",
    "iteri_p",
    "map_s",
    "map_p",
    "mapi_s",
    "mapi_p",
    "rev_map_s",
    "rev_map_p",
    "fold_left_s",
    "fold_right_s",
    "for_all_s",
    "for_all_p",
    "exists_s",
    "exists_p",
    "find_s",
    "filter_s",
    "filter_p",
    "filter_map_s",
    "filter_map_p",
    "partition_s",
    "partition_p",
];

/// The parallel functions that Lwt builds on `map_p`'s wait from the last step to the first (all
/// but the `join`ed `iter_p` / `iteri_p`).
fn waits_backwards(func: &str) -> bool {
    func.ends_with("_p") && !func.starts_with("iter")
}

/// What `f` answers for one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    Val(i64),
    Fail(u32),
    /// A panic here, `raise` in OCaml.
    Raise(u32),
    Wait,
    Task,
    /// Wakes this element's pending promise up with the value, if it has one, then returns the
    /// value: a step resolving another from inside the call.
    Wake(usize, i64),
    /// Cancels the result (once the call has returned it), then returns the value.
    CancelResult(i64),
}

/// A top-level operation of a list program, after the call (operation 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LOp {
    Wake(usize, i64),
    WakeExn(usize, u32),
    /// Cancels a step's promise.
    Cancel(usize),
    CancelResult,
}

#[derive(Clone, Debug)]
struct ListProg {
    func: &'static str,
    elems: Vec<(i64, Reply)>,
    ops: Vec<LOp>,
}

/// What a hook (or a `with_switch` body) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Ret,
    Fail(u32),
    Raise(u32),
    /// A fresh `task()` in this slot.
    Task(usize),
    /// Turns this switch off, returning its promise.
    Off(usize),
    /// Adds a hook to this switch (a query says whether it could), then returns.
    Add(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SOp {
    New(usize),
    AddHook(usize, u32, Hook),
    /// Slot, switch, label, hook.
    AddOrExec(usize, usize, u32, Hook),
    TurnOff(usize, usize),
    IsOn(usize),
    Check(usize),
    /// Slot, the switch's name, the label and hook the body adds, what the body returns.
    With(usize, usize, u32, Hook, Hook),
    Wake(usize),
    WakeExn(usize, u32),
    Cancel(usize),
}

#[derive(Clone, Debug)]
struct SwitchProg {
    slots: usize,
    ops: Vec<SOp>,
}

#[derive(Clone, Debug)]
enum Prog {
    List(ListProg),
    Switch(SwitchProg),
}

fn reply_text(r: Reply) -> String {
    match r {
        Reply::Val(n) => format!("v {n}"),
        Reply::Fail(n) => format!("f {n}"),
        Reply::Raise(n) => format!("x {n}"),
        Reply::Wait => "w".into(),
        Reply::Task => "t".into(),
        Reply::Wake(j, n) => format!("r {j} {n}"),
        Reply::CancelResult(n) => format!("z {n}"),
    }
}

fn hook_text(h: Hook) -> String {
    match h {
        Hook::Ret => "v".into(),
        Hook::Fail(n) => format!("f.{n}"),
        Hook::Raise(n) => format!("x.{n}"),
        Hook::Task(e) => format!("w.{e}"),
        Hook::Off(s) => format!("o.{s}"),
        Hook::Add(s) => format!("a.{s}"),
    }
}

fn prog_text(p: &Prog) -> String {
    let mut t = String::new();
    match p {
        Prog::List(l) => {
            writeln!(t, "list {} {}", l.func, l.elems.len()).unwrap();
            for (x, r) in &l.elems {
                writeln!(t, "e {x} {}", reply_text(*r)).unwrap();
            }
            for op in &l.ops {
                let line = match *op {
                    LOp::Wake(k, v) => format!("WU {k} {v}"),
                    LOp::WakeExn(k, n) => format!("WE {k} {n}"),
                    LOp::Cancel(k) => format!("X {k}"),
                    LOp::CancelResult => "XR".into(),
                };
                writeln!(t, "{line}").unwrap();
            }
        }
        Prog::Switch(s) => {
            writeln!(t, "switch {}", s.slots).unwrap();
            for op in &s.ops {
                let line = match *op {
                    SOp::New(s) => format!("NS {s}"),
                    SOp::AddHook(s, l, h) => format!("AH {s} {l} {}", hook_text(h)),
                    SOp::AddOrExec(d, s, l, h) => format!("AE {d} {s} {l} {}", hook_text(h)),
                    SOp::TurnOff(d, s) => format!("TO {d} {s}"),
                    SOp::IsOn(s) => format!("IO {s}"),
                    SOp::Check(s) => format!("CK {s}"),
                    SOp::With(d, s, l, h, b) => {
                        format!("WS {d} {s} {l} {} {}", hook_text(h), hook_text(b))
                    }
                    SOp::Wake(e) => format!("WU {e}"),
                    SOp::WakeExn(e, n) => format!("WE {e} {n}"),
                    SOp::Cancel(e) => format!("X {e}"),
                };
                writeln!(t, "{line}").unwrap();
            }
        }
    }
    t.push_str("end\n");
    t
}

const SWITCHES: u64 = 3;
const SLOTS: usize = 6;

fn gen_list(rng: &mut Rng) -> ListProg {
    let func = FUNCS[rng.below(FUNCS.len() as u64) as usize];
    let n = rng.below(7) as usize;
    let mut elems: Vec<(i64, Reply)> = Vec::new();
    while elems.len() < n {
        let x = rng.below(100) as i64;
        if elems.iter().any(|(y, _)| *y == x) {
            continue;
        }
        let r = match rng.below(24) {
            0..=7 => Reply::Val(rng.below(100) as i64),
            8..=9 => Reply::Fail(rng.below(10) as u32),
            10..=11 => Reply::Raise(rng.below(10) as u32),
            12..=15 => Reply::Wait,
            16..=19 => Reply::Task,
            20..=22 => Reply::Wake(rng.below(n as u64) as usize, rng.below(100) as i64),
            _ => Reply::CancelResult(rng.below(100) as i64),
        };
        elems.push((x, r));
    }
    let nops = rng.below(10) as usize;
    let ops = (0..nops)
        .map(|_| {
            let k = rng.below(n.max(1) as u64) as usize;
            match rng.below(20) {
                0..=8 => LOp::Wake(k, rng.below(100) as i64),
                9..=12 => LOp::WakeExn(k, rng.below(10) as u32),
                13..=17 => LOp::Cancel(k),
                _ => LOp::CancelResult,
            }
        })
        .collect();
    ListProg { func, elems, ops }
}

fn gen_hook(rng: &mut Rng, body: bool) -> Hook {
    let s = rng.below(SWITCHES) as usize;
    match rng.below(if body { 14 } else { 20 }) {
        0..=5 => Hook::Ret,
        6..=7 => Hook::Fail(rng.below(10) as u32),
        8..=9 => Hook::Raise(rng.below(10) as u32),
        10..=13 => Hook::Task(rng.below(SLOTS as u64) as usize),
        14..=16 => Hook::Off(s),
        _ => Hook::Add(s),
    }
}

fn gen_switch(rng: &mut Rng) -> SwitchProg {
    let mut ops = vec![SOp::New(0)];
    let len = 2 + rng.below(18);
    let mut label = 0u32;
    for _ in 0..len {
        let s = rng.below(SWITCHES) as usize;
        let d = rng.below(SLOTS as u64) as usize;
        label += 1;
        let op = match rng.below(30) {
            0..=1 => SOp::New(s),
            2..=8 => SOp::AddHook(s, label, gen_hook(rng, false)),
            9..=11 => SOp::AddOrExec(d, s, label, gen_hook(rng, false)),
            12..=15 => SOp::TurnOff(d, s),
            16 => SOp::IsOn(s),
            17 => SOp::Check(s),
            18..=20 => SOp::With(d, s, label, gen_hook(rng, false), gen_hook(rng, true)),
            21..=24 => SOp::Wake(d),
            25..=26 => SOp::WakeExn(d, rng.below(10) as u32),
            _ => SOp::Cancel(d),
        };
        ops.push(op);
    }
    SwitchProg { slots: SLOTS, ops }
}

/// One program in three is a switch program.
fn generate(rng: &mut Rng) -> Prog {
    if rng.below(3) == 0 {
        Prog::Switch(gen_switch(rng))
    } else {
        Prog::List(gen_list(rng))
    }
}

// ------------------------------------------------------------------------------------------------
// The crate's side
// ------------------------------------------------------------------------------------------------

fn exn_text(e: &Exn) -> String {
    if e.is_canceled() {
        "C".into()
    } else if e.is::<switch::Off>() {
        "off".into()
    } else if let Some(n) = e
        .downcast_ref::<Failure>()
        .and_then(|f| f.0.parse::<u32>().ok())
    {
        n.to_string()
    } else if let Some(n) = e
        .downcast_ref::<Panicked>()
        .and_then(|p| p.message().strip_prefix("raise ")?.parse::<u32>().ok())
    {
        // A panic of ours is OCaml's `raise (Fail n)`.
        n.to_string()
    } else {
        format!("?{}", e.to_string().replace([' ', '\n'], "_"))
    }
}

fn state_text<T: Clone + 'static>(p: Option<&Promise<T>>, show: impl Fn(&T) -> String) -> String {
    match p.map(Promise::state) {
        None => "X".into(),
        Some(State::Pending) => "P".into(),
        Some(State::Fulfilled(v)) => format!("F:{}", show(&v)),
        Some(State::Rejected(e)) => format!("R:{}", exn_text(&e)),
    }
}

fn ints(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}

/// Panics of the program's own (`raise`) are expected: they keep the panic hook quiet.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            let ours = text.is_some_and(|s| s.starts_with("raise "));
            if !ours {
                default(info);
            }
        }));
    });
}

#[derive(Default)]
struct ListWorld {
    elems: Vec<(i64, Reply)>,
    steps: Vec<Option<Promise<i64>>>,
    resolvers: Vec<Option<Resolver<i64>>>,
    log: Vec<String>,
    cur: usize,
    /// Cancels the result, once the call has returned it.
    cancel: Option<Rc<dyn Fn()>>,
}

type LW = Rc<RefCell<ListWorld>>;

/// `f` called on element `x`: logged, and answered as the program says.
fn step(w: &LW, x: i64, extra: String) -> Promise<i64> {
    let mut ww = w.borrow_mut();
    let k = ww.elems.iter().position(|(y, _)| *y == x).unwrap();
    let line = format!("C {} {k} {extra}", ww.cur);
    ww.log.push(line);
    let p = match ww.elems[k].1 {
        Reply::Val(n) => Promise::ret(n),
        Reply::Fail(n) => Promise::fail(Exn::failure(n.to_string())),
        Reply::Raise(n) => {
            ww.steps[k] = Some(Promise::fail(Exn::failure(n.to_string())));
            drop(ww);
            panic!("raise {n}");
        }
        Reply::Wake(j, n) => {
            let r = ww.resolvers[j].take();
            ww.steps[k] = Some(Promise::ret(n));
            drop(ww);
            if let Some(r) = r {
                r.wakeup(n);
            }
            return Promise::ret(n);
        }
        Reply::CancelResult(n) => {
            ww.steps[k] = Some(Promise::ret(n));
            let cancel = ww.cancel.clone();
            drop(ww);
            if let Some(cancel) = cancel {
                cancel();
            }
            return Promise::ret(n);
        }
        Reply::Wait | Reply::Task => {
            let (p, r) = if ww.elems[k].1 == Reply::Wait {
                wait()
            } else {
                task()
            };
            ww.resolvers[k] = Some(r);
            p
        }
    };
    ww.steps[k] = Some(p.clone());
    p
}

fn odd(n: i64) -> bool {
    n % 2 != 0
}

fn some(n: i64) -> Option<i64> {
    (n % 3 != 0).then_some(n)
}

fn fold(acc: i64, n: i64) -> i64 {
    (acc * 31 + n) % MD
}

/// The result of the call: how to print its state, and how to cancel it.
struct Call {
    text: Box<dyn Fn() -> String>,
    cancel: Rc<dyn Fn()>,
}

fn keep<T: Clone + 'static>(p: Promise<T>, show: fn(&T) -> String) -> Call {
    let q = p.clone();
    Call {
        text: Box::new(move || state_text(Some(&p), show)),
        cancel: Rc::new(move || q.cancel()),
    }
}

fn call(w: &LW, func: &str) -> Call {
    let xs: Vec<i64> = w.borrow().elems.iter().map(|(x, _)| *x).collect();
    let unit = |_: &()| "()".to_string();
    let vals: fn(&Vec<i64>) -> String = |v| ints(v);
    let boolean: fn(&bool) -> String = |b| b.to_string();
    let parts: fn(&(Vec<i64>, Vec<i64>)) -> String = |(a, b)| format!("{}/{}", ints(a), ints(b));
    let found: fn(&Option<i64>) -> String = |o| o.map_or("none".into(), |x| x.to_string());
    let w = w.clone();
    let f = move |x: i64| step(&w, x, extra());
    let fi = {
        let f = f.clone();
        move |i: usize, x: i64| step_i(&f, i, x)
    };
    /// `f` with the index of the call, for its log line.
    fn step_i(f: &impl Fn(i64) -> Promise<i64>, i: usize, x: i64) -> Promise<i64> {
        INDEX.with(|c| c.set(Some(i)));
        f(x)
    }
    let fb = {
        let f = f.clone();
        move |x: &i64| f(*x).map(odd)
    };
    let fo = {
        let f = f.clone();
        move |x: i64| f(x).map(some)
    };
    let u = {
        let f = f.clone();
        move |x: i64| f(x).map(|_| ())
    };
    let ui = {
        let fi = fi.clone();
        move |i: usize, x: i64| fi(i, x).map(|_| ())
    };
    let acc_f = {
        let f = f.clone();
        move |acc: i64, x: i64| {
            ACC.with(|c| c.set(Some(acc)));
            f(x).map(move |n| fold(acc, n))
        }
    };
    match func {
        "iter_s" => keep(list::iter_s(u, xs), unit),
        "iter_p" => keep(list::iter_p(u, xs), unit),
        "iteri_s" => keep(list::iteri_s(ui, xs), unit),
        "iteri_p" => keep(list::iteri_p(ui, xs), unit),
        "map_s" => keep(list::map_s(f, xs), vals),
        "map_p" => keep(list::map_p(f, xs), vals),
        "mapi_s" => keep(list::mapi_s(fi, xs), vals),
        "mapi_p" => keep(list::mapi_p(fi, xs), vals),
        "rev_map_s" => keep(list::rev_map_s(f, xs), vals),
        "rev_map_p" => keep(list::rev_map_p(f, xs), vals),
        "fold_left_s" => keep(list::fold_left_s(acc_f, 1, xs), |n| n.to_string()),
        "fold_right_s" => keep(
            list::fold_right_s(move |x, acc| acc_f(acc, x), xs, 1),
            |n| n.to_string(),
        ),
        "for_all_s" => keep(list::for_all_s(fb, xs), boolean),
        "for_all_p" => keep(list::for_all_p(fb, xs), boolean),
        "exists_s" => keep(list::exists_s(fb, xs), boolean),
        "exists_p" => keep(list::exists_p(fb, xs), boolean),
        "find_s" => keep(list::find_s(fb, xs), found),
        "filter_s" => keep(list::filter_s(fb, xs), vals),
        "filter_p" => keep(list::filter_p(fb, xs), vals),
        "filter_map_s" => keep(list::filter_map_s(fo, xs), vals),
        "filter_map_p" => keep(list::filter_map_p(fo, xs), vals),
        "partition_s" => keep(list::partition_s(fb, xs), parts),
        "partition_p" => keep(list::partition_p(fb, xs), parts),
        _ => unreachable!("{func}"),
    }
}

thread_local! {
    /// The index (`iteri_*`, `mapi_*`) or accumulator (folds) of the call of `f` being made,
    /// for its log line.
    static INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    static ACC: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// The index or accumulator set for this call of `f`, taken (a panicking `f` leaves none behind).
fn extra() -> String {
    match (INDEX.with(|c| c.take()), ACC.with(|c| c.take())) {
        (Some(i), _) => i.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "-".into(),
    }
}

fn list_line(w: &LW, c: &Call) {
    let result = (c.text)();
    let mut ww = w.borrow_mut();
    let mut line = format!("T {result}");
    for s in &ww.steps {
        line.push(' ');
        line.push_str(&state_text(s.as_ref(), |n| n.to_string()));
    }
    ww.log.push(line);
}

fn run_list_crate(p: &ListProg) -> Vec<String> {
    let n = p.elems.len();
    let w: LW = Rc::new(RefCell::new(ListWorld {
        elems: p.elems.clone(),
        steps: vec![None; n],
        resolvers: (0..n).map(|_| None).collect(),
        ..ListWorld::default()
    }));
    let c = call(&w, p.func);
    w.borrow_mut().cancel = Some(c.cancel.clone());
    list_line(&w, &c);
    for (j, op) in p.ops.iter().enumerate() {
        w.borrow_mut().cur = j + 1;
        let take = |k: usize| w.borrow_mut().resolvers.get_mut(k).and_then(Option::take);
        match *op {
            LOp::Wake(k, v) => {
                if let Some(r) = take(k) {
                    r.wakeup(v);
                }
            }
            LOp::WakeExn(k, e) => {
                if let Some(r) = take(k) {
                    r.wakeup_exn(Exn::failure(e.to_string()));
                }
            }
            LOp::Cancel(k) => {
                let s = w.borrow().steps.get(k).cloned().flatten();
                if let Some(s) = s {
                    s.cancel();
                }
            }
            LOp::CancelResult => (c.cancel)(),
        }
        list_line(&w, &c);
    }
    // Resolvers are dropped outside the borrow: an abandoned promise runs callbacks.
    let resolvers = std::mem::take(&mut w.borrow_mut().resolvers);
    let log = std::mem::take(&mut w.borrow_mut().log);
    // The world holds the canceler, which holds the result, whose steps' callbacks hold the
    // world: a cycle to break.
    let cancel = w.borrow_mut().cancel.take();
    drop((resolvers, cancel));
    log
}

/// What a switch program's objects are, and what it saw.
#[derive(Default)]
struct SwitchWorld {
    switches: Vec<Option<(Switch, usize)>>,
    slots: Vec<Option<Promise<()>>>,
    resolvers: Vec<Option<Resolver<()>>>,
    /// The switch whose hooks a slot joins (`turn_off`, `with_switch`), by id.
    joins: Vec<Option<usize>>,
    /// Per switch id, the promises its hooks returned: whether each was already resolved when
    /// the hook returned, and whether it came from a nested `turn_off` (of which switch, by id,
    /// if it is there).
    hook_promises: Vec<Vec<HookPromise>>,
    replaced: Vec<Resolver<()>>,
    log: Vec<String>,
    cur: usize,
}

/// A hook's promise, whether it was resolved when the hook returned, and the switch a
/// `turn_off` hook turned off (`Some(None)`: none was there).
type HookPromise = (Promise<()>, bool, Option<Option<usize>>);

type SW = Rc<RefCell<SwitchWorld>>;

fn new_switch(w: &SW, s: usize) -> Switch {
    let sw = Switch::new();
    let mut ww = w.borrow_mut();
    let id = ww.hook_promises.len();
    ww.hook_promises.push(Vec::new());
    ww.switches[s] = Some((sw.clone(), id));
    sw
}

fn get_switch(w: &SW, s: usize) -> Option<(Switch, usize)> {
    w.borrow().switches.get(s).cloned().flatten()
}

fn query(w: &SW, text: &str) {
    let mut ww = w.borrow_mut();
    let line = format!("Q {} {text}", ww.cur);
    ww.log.push(line);
}

/// What a hook or a body answers.
fn answer(w: &SW, h: Hook) -> Promise<()> {
    match h {
        Hook::Ret => Promise::ret(()),
        Hook::Fail(n) => Promise::fail(Exn::failure(n.to_string())),
        Hook::Raise(n) => panic!("raise {n}"),
        Hook::Task(e) => {
            let (p, r) = task();
            let mut ww = w.borrow_mut();
            // Once the program is over its resolvers are gone (a hook may still run then).
            if e < ww.resolvers.len() {
                ww.slots[e] = Some(p.clone());
                // A resolver dropped unused rejects its promise here, never in Lwt (README): the
                // one replaced is kept to the end.
                if let Some(old) = ww.resolvers[e].replace(r) {
                    ww.replaced.push(old);
                }
                ww.joins[e] = None;
            } else {
                drop(ww);
                drop(r);
            }
            p
        }
        Hook::Off(s) => match get_switch(w, s) {
            Some((sw, _)) => sw.turn_off(),
            None => Promise::ret(()),
        },
        Hook::Add(s) => {
            if let Some((sw, id)) = get_switch(w, s) {
                let w2 = w.clone();
                let added = sw.add_hook(move || hook_body(&w2, id, 1000, Hook::Ret));
                query(w, if added.is_ok() { "a-ok" } else { "a-off" });
            }
            Promise::ret(())
        }
    }
}

/// The hook labelled `l` of switch `id`, running: logged, answered, its promise kept.
fn hook_body(w: &SW, id: usize, l: u32, h: Hook) -> Promise<()> {
    {
        let mut ww = w.borrow_mut();
        let line = format!("H {} {l}", ww.cur);
        ww.log.push(line);
    }
    // A panic is Lwt's raise, which its `Lwt.apply` makes a rejected hook promise: one of the
    // rejections the join chooses from.
    let p = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(w, h))) {
        Ok(p) => p,
        Err(payload) => {
            let failed = Promise::fail(Exn::failure("raised"));
            w.borrow_mut().hook_promises[id].push((failed, true, None));
            std::panic::resume_unwind(payload)
        }
    };
    let at_once = !p.is_pending();
    let off = match h {
        Hook::Off(s) => Some(get_switch(w, s).map(|(_, target)| target)),
        _ => None,
    };
    w.borrow_mut().hook_promises[id].push((p.clone(), at_once, off));
    p
}

/// Is the rejection of the join of switch `id`'s hooks one whose exception is the first in
/// input order here and the first in time in Lwt (README)? When two or more hooks were rejected,
/// one of them later than its hook returned (or by a nested `turn_off`); and when a rejected
/// hook is the `turn_off` of a switch whose join is such a rejection, since it passes that
/// exception on (found by a sweep at seed 43, session 53: `with_switch` over a hook turning off
/// a switch whose two hooks were rejected, one at once, one canceled later).
fn ambiguous_join(ww: &SwitchWorld, id: usize, depth: usize) -> bool {
    let rejected: Vec<_> = ww.hook_promises[id]
        .iter()
        .filter(|(p, _, _)| p.is_rejected())
        .collect();
    if rejected.len() >= 2
        && rejected
            .iter()
            .any(|(_, at_once, off)| !at_once || off.is_some())
    {
        return true;
    }
    // A switch's hook may turn off a switch whose hook turns the first off again: the depth
    // bounds the walk (a join passes on at most one nested join per hook).
    depth < ww.hook_promises.len()
        && rejected.iter().any(|(_, _, off)| match off {
            Some(Some(target)) => ambiguous_join(ww, *target, depth + 1),
            Some(None) => true,
            None => false,
        })
}

fn switch_line(w: &SW) {
    let mut ww = w.borrow_mut();
    let mut line = "T".to_string();
    for (d, s) in ww.slots.iter().enumerate() {
        let mut text = state_text(s.as_ref(), |_| "()".into());
        // Two rejected hooks, one of them later than its hook returned: which is the join's
        // rejection is the first in input order here, the first in time in Lwt (README).
        if let (true, Some(id)) = (text.starts_with("R:"), ww.joins[d]) {
            if ambiguous_join(&ww, id, 0) {
                text = "R:~".into();
            }
        }
        line.push(' ');
        line.push_str(&text);
    }
    ww.log.push(line);
}

fn run_switch_crate(p: &SwitchProg) -> Vec<String> {
    let w: SW = Rc::new(RefCell::new(SwitchWorld {
        switches: vec![None; SWITCHES as usize + 1],
        slots: vec![None; p.slots],
        resolvers: (0..p.slots).map(|_| None).collect(),
        joins: vec![None; p.slots],
        ..SwitchWorld::default()
    }));
    let set = |d: usize, p: Promise<()>, join: Option<usize>| {
        let mut ww = w.borrow_mut();
        ww.slots[d] = Some(p);
        ww.joins[d] = join;
    };
    for (k, op) in p.ops.iter().enumerate() {
        w.borrow_mut().cur = k;
        match *op {
            SOp::New(s) => {
                new_switch(&w, s);
            }
            SOp::AddHook(s, l, h) => {
                if let Some((sw, id)) = get_switch(&w, s) {
                    let w2 = w.clone();
                    let added = sw.add_hook(move || hook_body(&w2, id, l, h));
                    query(&w, if added.is_ok() { "ok" } else { "off" });
                }
            }
            SOp::AddOrExec(d, s, l, h) => {
                if let Some((sw, id)) = get_switch(&w, s) {
                    let w2 = w.clone();
                    let p = sw.add_hook_or_exec(move || hook_body(&w2, id, l, h));
                    // A hook run at once that turns a switch off gives its join.
                    let join = match h {
                        Hook::Off(s2) => get_switch(&w, s2).map(|(_, id)| id),
                        _ => None,
                    };
                    set(d, p, join);
                }
            }
            SOp::TurnOff(d, s) => {
                if let Some((sw, id)) = get_switch(&w, s) {
                    let p = sw.turn_off();
                    set(d, p, Some(id));
                }
            }
            SOp::IsOn(s) => {
                if let Some((sw, _)) = get_switch(&w, s) {
                    query(&w, &sw.is_on().to_string());
                }
            }
            SOp::Check(s) => {
                if let Some((sw, _)) = get_switch(&w, s) {
                    query(&w, if sw.check().is_ok() { "ok" } else { "off" });
                }
            }
            SOp::With(d, s, l, h, b) => {
                let w2 = w.clone();
                let id = Rc::new(std::cell::Cell::new(usize::MAX));
                let id2 = id.clone();
                let p = switch::with_switch(move |sw| {
                    let id = w2.borrow().hook_promises.len();
                    id2.set(id);
                    w2.borrow_mut().hook_promises.push(Vec::new());
                    if s < SWITCHES as usize {
                        w2.borrow_mut().switches[s] = Some((sw.clone(), id));
                    }
                    let w3 = w2.clone();
                    sw.add_hook(move || hook_body(&w3, id, l, h)).unwrap();
                    answer(&w2, b)
                });
                set(d, p, Some(id.get()));
            }
            SOp::Wake(e) => {
                let r = w.borrow_mut().resolvers[e].take();
                if let Some(r) = r {
                    r.wakeup(());
                }
            }
            SOp::WakeExn(e, n) => {
                let r = w.borrow_mut().resolvers[e].take();
                if let Some(r) = r {
                    r.wakeup_exn(Exn::failure(n.to_string()));
                }
            }
            SOp::Cancel(e) => {
                let p = w.borrow().slots[e].clone();
                if let Some(p) = p {
                    p.cancel();
                }
            }
        }
        switch_line(&w);
    }
    let resolvers = std::mem::take(&mut w.borrow_mut().resolvers);
    let replaced = std::mem::take(&mut w.borrow_mut().replaced);
    let log = std::mem::take(&mut w.borrow_mut().log);
    drop((resolvers, replaced));
    log
}

fn run_crate(p: &Prog) -> Vec<String> {
    match p {
        Prog::List(l) => run_list_crate(l),
        Prog::Switch(s) => run_switch_crate(s),
    }
}

// ------------------------------------------------------------------------------------------------
// The OCaml side
// ------------------------------------------------------------------------------------------------

/// Runs programs on Lwt, one process for all of them: each one's log.
fn run_ocaml(exe: &Path, progs: &[&Prog]) -> Vec<Vec<String>> {
    let input: String = progs.iter().map(|p| prog_text(p)).collect();
    let text = ocaml::run(exe, input).unwrap_or_else(|failed| panic!("lwt_diff_list: {failed}"));
    let mut logs = vec![Vec::new()];
    for line in text.lines() {
        if line == "done" {
            logs.push(Vec::new());
        } else {
            logs.last_mut().unwrap().push(line.to_string());
        }
    }
    logs.pop();
    assert_eq!(logs.len(), progs.len(), "lwt_diff_list: a log per program");
    logs
}

// ------------------------------------------------------------------------------------------------
// The comparison
// ------------------------------------------------------------------------------------------------

/// The logs with what is not compared (module docs) taken out, ours read to decide.
fn masked(p: &Prog, ours: &[String], lwt: &[String]) -> (Vec<String>, Vec<String>) {
    let mut a = ours.to_vec();
    let mut b: Vec<String> = lwt
        .iter()
        .filter(|l| !(l.starts_with("Q ") && l.ends_with(" raised")))
        .cloned()
        .collect();
    let Prog::List(lp) = p else {
        // The join of the hooks: the crate's side marks an ambiguous rejection, Lwt's follows.
        for (x, y) in a.iter().zip(b.iter_mut()) {
            if x.starts_with("T ") && y.starts_with("T ") {
                let ys: Vec<String> = x
                    .split(' ')
                    .zip(y.split(' '))
                    .map(|(u, v)| {
                        if u == "R:~" && v.starts_with("R:") {
                            u.to_string()
                        } else {
                            v.to_string()
                        }
                    })
                    .collect();
                *y = ys.join(" ");
            }
        }
        return (a, b);
    };
    let backwards = waits_backwards(lp.func);
    let joined = lp.func.starts_with("iter") && lp.func.ends_with("_p");
    // The T lines are those of operations 0, 1, ...; the result is their second word.
    let mut rejected_step = false;
    let mut canceled = false;
    let mut t = 0;
    for i in 0..a.len().max(b.len()) {
        let is_t = a.get(i).is_some_and(|l| l.starts_with("T "));
        if !is_t {
            continue;
        }
        if t > 0 && lp.ops.get(t - 1) == Some(&LOp::CancelResult) && backwards {
            canceled = true;
        }
        t += 1;
        let words: Vec<&str> = a[i].split(' ').collect();
        let rejections = words[2..].iter().filter(|w| w.starts_with("R:")).count();
        let pending = words[2..].contains(&"P");
        rejected_step |= rejections > 0;
        for l in [a.get_mut(i), b.get_mut(i)].into_iter().flatten() {
            if !l.starts_with("T ") {
                continue;
            }
            let mut ws: Vec<String> = l.split(' ').map(str::to_string).collect();
            if canceled {
                ws = vec!["T".into(), "~".into()];
            } else if backwards && rejected_step && pending {
                ws[1] = "~".into();
            } else if (joined || backwards) && rejections >= 2 && ws[1].starts_with("R:") {
                ws[1] = "R:~".into();
            }
            *l = ws.join(" ");
        }
    }
    (a, b)
}

fn compare(p: &Prog, ours: &[String], lwt: &[String]) -> Result<(), String> {
    let (a, b) = masked(p, ours, lwt);
    if a == b {
        return Ok(());
    }
    let k = a.iter().zip(&b).position(|(x, y)| x != y);
    let k = k.unwrap_or(a.len().min(b.len()));
    let mut why = format!(
        "line {k}: lwt-core {:?}, Lwt {:?}\n",
        a.get(k).map_or("(end)", |s| s.as_str()),
        b.get(k).map_or("(end)", |s| s.as_str())
    );
    writeln!(why, "lwt-core:\n  {}", ours.join("\n  ")).unwrap();
    writeln!(why, "Lwt:\n  {}", lwt.join("\n  ")).unwrap();
    Err(why)
}

fn check_one(exe: &Path, p: &Prog) -> Result<(), String> {
    let ours = run_crate(p);
    let lwt = run_ocaml(exe, &[p]).pop().unwrap();
    compare(p, &ours, &lwt)
}

/// Removes operations one at a time, then (for a list program) elements, renumbering the
/// operations and replies that name the others, then makes replies plain values and hooks
/// return at once, while the program still differs.
fn shrink(exe: &Path, p: Prog) -> (Prog, String) {
    let differs = |q: &Prog| check_one(exe, q).is_err();
    let p = match p {
        Prog::Switch(s) => {
            let slots = s.slots;
            let mut ops = ocaml::shrink(s.ops, |ops| {
                differs(&Prog::Switch(SwitchProg {
                    slots,
                    ops: ops.to_vec(),
                }))
            });
            // Then hooks that return at once, where the difference stays.
            for k in 0..ops.len() {
                let plain = match ops[k] {
                    SOp::AddHook(s, l, h) if h != Hook::Ret => SOp::AddHook(s, l, Hook::Ret),
                    SOp::AddOrExec(d, s, l, h) if h != Hook::Ret => {
                        SOp::AddOrExec(d, s, l, Hook::Ret)
                    }
                    SOp::With(d, s, l, h, b) if h != Hook::Ret => SOp::With(d, s, l, Hook::Ret, b),
                    _ => continue,
                };
                let mut fewer = ops.clone();
                fewer[k] = plain;
                if differs(&Prog::Switch(SwitchProg {
                    slots,
                    ops: fewer.clone(),
                })) {
                    ops = fewer;
                }
            }
            Prog::Switch(SwitchProg { slots, ops })
        }
        Prog::List(l) => {
            let func = l.func;
            let elems = l.elems.clone();
            let ops = ocaml::shrink(l.ops, |ops| {
                differs(&Prog::List(ListProg {
                    func,
                    elems: elems.clone(),
                    ops: ops.to_vec(),
                }))
            });
            let mut l = ListProg { func, elems, ops };
            let mut k = 0;
            while k < l.elems.len() {
                let mut fewer = l.clone();
                fewer.elems.remove(k);
                for e in &mut fewer.elems {
                    if let Reply::Wake(j, n) = e.1 {
                        e.1 = match j.cmp(&k) {
                            std::cmp::Ordering::Less => Reply::Wake(j, n),
                            std::cmp::Ordering::Equal => Reply::Val(n),
                            std::cmp::Ordering::Greater => Reply::Wake(j - 1, n),
                        };
                    }
                }
                fewer.ops = l
                    .ops
                    .iter()
                    .filter_map(|op| {
                        let re = |j: usize| (j != k).then(|| if j > k { j - 1 } else { j });
                        Some(match *op {
                            LOp::Wake(j, v) => LOp::Wake(re(j)?, v),
                            LOp::WakeExn(j, e) => LOp::WakeExn(re(j)?, e),
                            LOp::Cancel(j) => LOp::Cancel(re(j)?),
                            LOp::CancelResult => LOp::CancelResult,
                        })
                    })
                    .collect();
                if differs(&Prog::List(fewer.clone())) {
                    l = fewer;
                } else {
                    k += 1;
                }
            }
            for k in 0..l.elems.len() {
                if !matches!(l.elems[k].1, Reply::Val(_)) {
                    let mut plain = l.clone();
                    plain.elems[k].1 = Reply::Val(0);
                    if differs(&Prog::List(plain.clone())) {
                        l = plain;
                    }
                }
            }
            // Plain replies may leave operations that no longer matter.
            let elems = l.elems.clone();
            l.ops = ocaml::shrink(l.ops, |ops| {
                differs(&Prog::List(ListProg {
                    func,
                    elems: elems.clone(),
                    ops: ops.to_vec(),
                }))
            });
            Prog::List(l)
        }
    };
    let why = check_one(exe, &p).err().unwrap_or_default();
    (p, why)
}

#[test]
fn list_and_switch_programs_agree_with_ocaml_lwt() {
    let Some(exe) = ocaml::interpreter("lwt_diff_list", "lwt") else {
        eprintln!(
            "ocaml_diff_list: SKIPPED: `ocamlfind query lwt` failed (OCaml and Lwt are needed)"
        );
        return;
    };
    quiet_panics();
    let cases = env("OCAML_DIFF_LIST_CASES", 6000);
    let seed = env("OCAML_DIFF_LIST_SEED", 1);
    let keep_going = env("OCAML_DIFF_LIST_KEEP_GOING", 0) != 0;
    if let Ok(case) = std::env::var("OCAML_DIFF_LIST_CASE") {
        let p = generate(&mut Rng::for_case(seed, case.parse().unwrap()));
        eprint!("{}", prog_text(&p));
        return;
    }
    let mut failures = Vec::new();
    let (mut lists, mut switches, mut lines, mut left_out) = (0usize, 0usize, 0usize, 0usize);
    let chunk = 1000;
    'chunks: for start in (0..cases).step_by(chunk as usize) {
        let progs: Vec<Prog> = (start..cases.min(start + chunk))
            .map(|c| generate(&mut Rng::for_case(seed, c)))
            .collect();
        let refs: Vec<&Prog> = progs.iter().collect();
        let lwt = run_ocaml(&exe, &refs);
        for (j, (p, lwt)) in progs.iter().zip(&lwt).enumerate() {
            let case = start + j as u64;
            let ours = run_crate(p);
            match p {
                Prog::List(_) => lists += 1,
                Prog::Switch(_) => switches += 1,
            }
            let (a, _) = masked(p, &ours, lwt);
            lines += a.len();
            left_out += a.iter().filter(|l| l.contains('~')).count();
            if let Err(e) = compare(p, &ours, lwt) {
                let (small, why) = shrink(&exe, p.clone());
                failures.push(ocaml::differing_case(
                    "ocaml_diff_list",
                    case,
                    seed,
                    &e,
                    &prog_text(&small),
                    &why,
                ));
                if !keep_going {
                    break 'chunks;
                }
            }
        }
    }
    eprintln!(
        "ocaml_diff_list: {} cases from seed {seed} ({lists} list, {switches} switch \
         programs): {lines} log lines compared ({left_out} with a part left out), {} differing",
        lists + switches,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// What the comparison found
// ------------------------------------------------------------------------------------------------
//
// No bug: every difference is one the `list` and `switch` modules keep on purpose (their docs),
// left out of the comparison by [`masked`]. These tests assert what Lwt 5.6.1 does (checked with
// `lwt_diff_list.ml`), so they fail here: run them with `--ignored` to see the difference.

/// `list map_p 3; e 1 t; e 2 w; e 3 t; XR`: canceling the result of Lwt's `map_p` cancels only
/// the step it waits on (the last pending one, the third), and the result is rejected at once;
/// the first task goes on. Here the cancel reaches every pending step (both tasks), and the
/// result waits for the `wait()` step, which cancel cannot reach, as `all`'s does.
#[test]
#[ignore = "differs from Lwt on purpose: canceling a parallel function reaches every pending step"]
fn canceling_map_p_cancels_only_the_step_it_waits_on_in_lwt() {
    let (a, _ra) = task::<i64>();
    let (b, _rb) = wait::<i64>();
    let (c, _rc) = task::<i64>();
    let steps = [a.clone(), b, c.clone()];
    let mut i = 0;
    let result = list::map_p(
        move |_: i64| {
            i += 1;
            steps[i - 1].clone()
        },
        [1, 2, 3],
    );
    result.cancel();
    assert_eq!(
        (a.is_pending(), c.is_rejected(), result.is_rejected()),
        (true, true, true),
        "Lwt: the first task pending, the last canceled, the result rejected with Canceled"
    );
}

/// `list iter_p 3; e 1 t; e 2 t; e 3 v 0; WE 1 5; WE 0 6`: Lwt's `iter_p` (a `join`) is rejected
/// with the first rejection in time (5, of the second element); here with the first in input
/// order (6), as `join` (README).
#[test]
#[ignore = "differs from Lwt on purpose: join's rejection is the first in input order"]
fn iter_p_rejects_with_the_first_rejection_in_time_in_lwt() {
    let (a, ra) = task::<()>();
    let (b, rb) = task::<()>();
    let steps = [a, b, Promise::ret(())];
    let mut i = 0;
    let result = list::iter_p(
        move |_: i64| {
            i += 1;
            steps[i - 1].clone()
        },
        [1, 2, 3],
    );
    rb.wakeup_exn(Exn::failure("5"));
    ra.wakeup_exn(Exn::failure("6"));
    assert_eq!(
        result.rejection().map(|e| e.to_string()),
        Some(Exn::failure("5").to_string()),
        "Lwt: rejected with 5"
    );
}

/// `switch 6; NS 0; AH 0 1 f.1; AH 0 2 w.3; TO 0 0; WE 3 2`: the hook added first fails at
/// once, the one added last later; Lwt's `turn_off` is rejected with the first failure in time
/// (1), this one with the failure of the last registered hook (2), as `join` (README).
#[test]
#[ignore = "differs from Lwt on purpose: join's rejection is the first in input order"]
fn turn_off_rejects_with_the_first_failure_in_time_in_lwt() {
    let sw = Switch::new();
    sw.add_hook(|| Promise::fail(Exn::failure("1"))).unwrap();
    let (later, r) = task::<()>();
    sw.add_hook(move || later).unwrap();
    let off = sw.turn_off();
    r.wakeup_exn(Exn::failure("2"));
    assert_eq!(
        off.rejection().map(|e| e.to_string()),
        Some(Exn::failure("1").to_string()),
        "Lwt: rejected with 1"
    );
}

/// `switch 6; NS 0; TO 0 0; AE 1 0 1 x.3`: Lwt's `add_hook_or_exec` on a switch that is off
/// calls the hook without `Lwt.apply`, so its exception escapes the call; here the panic is the
/// rejection of the promise it returns (README: a panic in a callback rejects its promise).
#[test]
#[ignore = "differs from Lwt on purpose: a panicking hook rejects add_hook_or_exec's promise"]
fn a_raising_hook_escapes_add_hook_or_exec_in_lwt() {
    quiet_panics();
    let sw = Switch::new();
    assert!(sw.turn_off().is_fulfilled());
    let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sw.add_hook_or_exec(|| panic!("raise 3"))
    }));
    assert!(call.is_err(), "Lwt: the exception escapes add_hook_or_exec");
}
