//! Randomized runs of every `list` function and of the `seq` consumers, checked against a plain
//! model of what their docs promise.
//!
//! A case picks one function and a list of 0 to 12 elements. Each call of the step function `f`
//! answers as the case says: resolved, rejected, panicking, resolved with `wakeup_later` before it
//! is returned (its callbacks not run yet), or with a `wait()` / `task()` promise that a later
//! action resolves (`wakeup`, `wakeup_later`, `wakeup_exn`, `wakeup_later_exn`, with a
//! value of the action's choosing) or cancels. For the `seq` functions each node of the sequence is
//! likewise ready, rejected, panicking when forced, or pending and resolved later; the input of a
//! `list` function sometimes panics, in `into_iter` or in `next` at a drawn element (then stands
//! for the rejection of that element, after the earlier ones). Actions run at
//! top level and, scripted, from inside `f` and inside the forcing of a node; the function's result
//! is sometimes canceled. Once every action ran, every promise still pending is resolved.
//!
//! Checked, against the outcomes the step promises and nodes actually had:
//!
//! * serial (`*_s`, and the `seq` consumers but `iter_p`/`iter_n`, also through `map`,
//!   `map_s`, `filter_s`, `filter_map_s` and `flat_map`): `f` is called on the elements
//!   in order (`fold_right_s`: from the last), once each, only after the previous step's promise
//!   resolved, never after a rejection or after `find_s`/`for_all_s`/`exists_s` stopped; a node is
//!   forced only after the previous element's step resolved; the result is the model's (values
//!   in input order, or the rejection that stopped the walk, the input's panic included:
//!   `fold_right_s` reads its whole input first);
//! * parallel (`*_p`): `f` is called on every element before the input's panic, if any, in input
//!   order, during the call itself; the result is the values in input order, or the first
//!   rejection in input order;
//! * `Seq::iter_p` / `iter_n`: calls in sequence order, never more than `n` step promises pending,
//!   no call and no forcing after a step's rejection was seen or after the result was canceled
//!   (also from inside `f` or the forcing of a node: the result is rejected, and the reads
//!   stopped, before `cancel` returns), and the result is the first rejection in sequence order
//!   (steps, and a rejected node read before the stop), `Canceled` if it was canceled, else
//!   fulfilled after every element was called;
//! * nothing stays pending once everything the function waits on is resolved (no hang), the
//!   result resolves once, no panic reaches the async exception hook, and every element made is
//!   dropped at the end (none lost or kept alive).
//!
//! `LIST_FUZZ_CASES` (default 200000, one to two seconds) and `LIST_FUZZ_SEED` (default 1) set the
//! run; a failure is shrunk and names its case, which `LIST_FUZZ_CASE=<n>` replays with a trace.
//! It found two bugs in `iter_p`/`iter_n` (the driver in `stream/drive.rs`), fixed since, each with
//! a test in `seq.rs`: a callback that completed an earlier one re-entered `f` (case 7861 of seed
//! 1 fails without the fix), and `f` was called on the element of a node whose forcing failed a
//! running callback (case 38411). With panicking inputs it found that the parallel `list`
//! functions and `fold_right_s` let a panic of the input's iterator reach the caller (case 12,
//! `fold_right_s`; tests in `library.rs`). Checked from the moment of the cancel, it fails on
//! `iter_p`/`iter_n` going on after a cancel made inside a callback (case 1673; tests in
//! `seq.rs` and `stream.rs`).

#[path = "support/fuzz.rs"]
mod fuzz;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use lwt_core::seq::{self, Node, Seq};
use lwt_core::{cancel, list, task, wait, Exn, Promise};

use fuzz::{first_async_error, run_cases, run_script, Rng};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fun {
    FoldLeftS,
    FoldRightS,
    IterS,
    IteriS,
    MapS,
    MapiS,
    RevMapS,
    FilterS,
    FilterMapS,
    PartitionS,
    FindS,
    ForAllS,
    ExistsS,
    IterP,
    IteriP,
    MapP,
    MapiP,
    RevMapP,
    FilterP,
    FilterMapP,
    PartitionP,
    ForAllP,
    ExistsP,
    SeqToList,
    SeqIter,
    SeqMap,
    /// `flat_map` to `of_list(vec![v; v % 3])` (`f` synchronous), then `to_list`.
    SeqFlatMap,
    SeqFoldLeftS,
    SeqIterS,
    SeqMapS,
    SeqFilterS,
    SeqFilterMapS,
    SeqIterP,
    SeqIterN(usize),
}

const FUNS: [Fun; 34] = [
    Fun::FoldLeftS,
    Fun::FoldRightS,
    Fun::IterS,
    Fun::IteriS,
    Fun::MapS,
    Fun::MapiS,
    Fun::RevMapS,
    Fun::FilterS,
    Fun::FilterMapS,
    Fun::PartitionS,
    Fun::FindS,
    Fun::ForAllS,
    Fun::ExistsS,
    Fun::IterP,
    Fun::IteriP,
    Fun::MapP,
    Fun::MapiP,
    Fun::RevMapP,
    Fun::FilterP,
    Fun::FilterMapP,
    Fun::PartitionP,
    Fun::ForAllP,
    Fun::ExistsP,
    Fun::SeqToList,
    Fun::SeqIter,
    Fun::SeqMap,
    Fun::SeqFlatMap,
    Fun::SeqFoldLeftS,
    Fun::SeqIterS,
    Fun::SeqMapS,
    Fun::SeqFilterS,
    Fun::SeqFilterMapS,
    Fun::SeqIterP,
    Fun::SeqIterN(0), // the bound is drawn
];

/// How the functions call `f` and force nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    ListSerial,
    ListPar,
    SeqSerial,
    /// `iter_p` (no bound) and `iter_n`.
    SeqPar(usize),
}

impl Fun {
    fn mode(self) -> Mode {
        match self {
            Fun::IterP
            | Fun::IteriP
            | Fun::MapP
            | Fun::MapiP
            | Fun::RevMapP
            | Fun::FilterP
            | Fun::FilterMapP
            | Fun::PartitionP
            | Fun::ForAllP
            | Fun::ExistsP => Mode::ListPar,
            Fun::SeqIterP => Mode::SeqPar(usize::MAX),
            Fun::SeqIterN(n) => Mode::SeqPar(n),
            Fun::SeqToList
            | Fun::SeqIter
            | Fun::SeqMap
            | Fun::SeqFlatMap
            | Fun::SeqFoldLeftS
            | Fun::SeqIterS
            | Fun::SeqMapS
            | Fun::SeqFilterS
            | Fun::SeqFilterMapS => Mode::SeqSerial,
            _ => Mode::ListSerial,
        }
    }

    fn is_seq(self) -> bool {
        matches!(self.mode(), Mode::SeqSerial | Mode::SeqPar(_))
    }
}

/// How a call of `f` answers. `f`'s value is made from a number `v`: itself, `v % 2 == 0` for a
/// predicate, `Some(v)` unless `v % 3 == 0` for `filter_map`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    Ret(u32),
    Fail,
    Panic,
    Wait,
    Task,
    /// A `wait()` promise resolved with `wakeup_later` before it is returned: resolved, its
    /// callbacks not run yet when the function gets it (inside a callback).
    Soon(u32),
}

/// How a node of the sequence answers when forced.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NodeKind {
    Ready,
    Fail,
    Panic,
    Wait,
    Task,
}

#[derive(Clone, Copy, Debug)]
enum How {
    Now,
    Later,
    Exn,
    LaterExn,
}

#[derive(Clone, Debug)]
enum Act {
    /// Resolve the `k`-th (modulo) promise still open.
    Resolve(usize, How, u32),
    /// Cancel the `k`-th (modulo) open step promise made by `task()`.
    CancelStep(usize),
    CancelResult,
}

#[derive(Clone, Debug)]
enum Op {
    Act(Act),
    /// Run this action inside the next call of `f` or forcing of a node.
    Script(Act),
}

/// The input of a `list` function: a plain list, or one whose iterator panics.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Input {
    Plain,
    /// `into_iter` panics.
    IntoIterPanics,
    /// `next` panics when asked for element `k` (`k == n`: instead of answering `None`).
    NextPanics(usize),
}

impl Input {
    /// The rejection a panic of the input gives, if it reaches element `k` (or makes the
    /// iterator, `None`).
    fn panics_at(self, k: Option<usize>) -> Option<String> {
        let message = match (self, k) {
            (Input::IntoIterPanics, None) => "into_iter".to_string(),
            (Input::NextPanics(at), Some(k)) if at == k => format!("it{k}"),
            _ => return None,
        };
        Some(tag(&Exn::from_panic(Box::new(message))))
    }
}

/// The elements `0..n` as a list function's input, panicking as `Input` says.
struct Faulty {
    toks: Vec<Tok>,
    input: Input,
}

struct FaultyIter {
    toks: std::vec::IntoIter<Tok>,
    at: usize,
    panic_at: Option<usize>,
}

impl IntoIterator for Faulty {
    type Item = Tok;
    type IntoIter = FaultyIter;
    fn into_iter(self) -> FaultyIter {
        let panic_at = match self.input {
            Input::Plain => None,
            Input::IntoIterPanics => panic!("into_iter"),
            Input::NextPanics(k) => Some(k),
        };
        FaultyIter {
            toks: self.toks.into_iter(),
            at: 0,
            panic_at,
        }
    }
}

impl Iterator for FaultyIter {
    type Item = Tok;
    fn next(&mut self) -> Option<Tok> {
        let k = self.at;
        assert!(self.panic_at != Some(k), "it{k}");
        self.at += 1;
        self.toks.next()
    }
}

#[derive(Debug)]
struct Setting {
    fun: Fun,
    n: usize,
    /// How the input of a `list` function behaves (a sequence's nodes say it for `seq`).
    input: Input,
    replies: Vec<Reply>,
    /// `n + 1` nodes (the last is `Nil`).
    nodes: Vec<NodeKind>,
    /// Scripted actions queued before the call (for the calls made during it).
    pre: Vec<Act>,
}

fn pred(v: u32) -> bool {
    v.is_multiple_of(2)
}

fn fm(v: u32) -> Option<u32> {
    (!v.is_multiple_of(3)).then_some(v)
}

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

/// An element: not `Clone`, and counted, so that a duplicated or leaked one shows.
#[derive(Debug)]
struct Tok(u32);

impl Tok {
    fn new(i: u32) -> Tok {
        LIVE.with(|l| l.set(l.get() + 1));
        Tok(i)
    }
}

impl Drop for Tok {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get() - 1));
    }
}

/// What a result is, for comparison.
#[derive(Clone, Debug, PartialEq)]
enum Res {
    Unit,
    Vals(Vec<u32>),
    Bool(bool),
    Elem(Option<u32>),
    Elems(Vec<u32>),
    Pair(Vec<u32>, Vec<u32>),
}

type Outcome = Result<u32, String>;

struct Call {
    elem: u32,
    /// Resolved and seen by this test's observer (or made resolved).
    settled: bool,
    outcome: Option<Outcome>,
    v: Option<u32>,
}

struct Forced {
    outcome: Option<Result<(), String>>,
    settled_at: Option<u64>,
}

struct Open {
    resolve: Box<dyn FnOnce(How, u32)>,
    cancel: Option<Box<dyn Fn()>>,
    what: String,
}

trait ResultHandle {
    fn cancel(&self);
    fn pending(&self) -> bool;
}

struct Handle<X: 'static>(Promise<X>);

impl<X: 'static> ResultHandle for Handle<X> {
    fn cancel(&self) {
        cancel(&self.0)
    }
    fn pending(&self) -> bool {
        self.0.is_pending()
    }
}

struct World {
    fun: Fun,
    n: usize,
    input: Input,
    replies: Vec<Reply>,
    nodes: Vec<NodeKind>,
    calls: Vec<Call>,
    forced: Vec<Option<Forced>>,
    open: Vec<Option<Open>>,
    scripts: VecDeque<Act>,
    depth: usize,
    result: Option<Box<dyn ResultHandle>>,
    result_outcome: Option<Result<Res, String>>,
    result_count: usize,
    /// The result was canceled while pending.
    cancel_requested: bool,
    /// The clock when the result was canceled while pending: `iter_p`/`iter_n` hear of it before
    /// `cancel` returns, even inside a callback (they used to hear of it only when the queue
    /// reached the result's callbacks, and went on meanwhile).
    canceled_at: Option<u64>,
    /// The clock when this test's observer first saw a step rejected.
    first_fail_seen: Option<u64>,
    in_start: bool,
    clock: u64,
    errors: Vec<String>,
    log: Vec<String>,
}

type W = Rc<RefCell<World>>;

fn err(w: &W, e: String) {
    let mut ww = w.borrow_mut();
    ww.log.push(format!("ERROR {e}"));
    ww.errors.push(e);
}

fn note(w: &W, s: String) {
    w.borrow_mut().log.push(s);
}

fn tick(w: &W) -> u64 {
    let mut ww = w.borrow_mut();
    ww.clock += 1;
    ww.clock
}

fn tag(e: &Exn) -> String {
    e.to_string()
}

fn script(w: &W) {
    run_script(w, |ww| (&mut ww.scripts, &mut ww.depth), act);
}

fn act(w: &W, a: &Act) {
    note(w, format!("act {a:?}"));
    match *a {
        Act::Resolve(k, how, v) => {
            let open = {
                let mut ww = w.borrow_mut();
                let live: Vec<usize> = (0..ww.open.len())
                    .filter(|&i| ww.open[i].is_some())
                    .collect();
                if live.is_empty() {
                    return;
                }
                ww.open[live[k % live.len()]].take().unwrap()
            };
            note(w, format!("  resolve {} {how:?} {v}", open.what));
            (open.resolve)(how, v);
        }
        Act::CancelStep(k) => {
            let c = {
                let ww = w.borrow();
                let live: Vec<usize> = (0..ww.open.len())
                    .filter(|&i| ww.open[i].as_ref().is_some_and(|o| o.cancel.is_some()))
                    .collect();
                if live.is_empty() {
                    return;
                }
                live[k % live.len()]
            };
            // Take the entry out while canceling (its cancel runs callbacks that may act).
            let open = w.borrow_mut().open[c].take().unwrap();
            note(w, format!("  cancel {}", open.what));
            (open.cancel.as_ref().unwrap())();
            w.borrow_mut().open[c] = Some(open);
        }
        Act::CancelResult => {
            let Some(h) = w.borrow_mut().result.take() else {
                return;
            };
            let pending = h.pending();
            if pending {
                let t = tick(w);
                let mut ww = w.borrow_mut();
                ww.cancel_requested = true;
                ww.canceled_at.get_or_insert(t);
            }
            h.cancel();
            // `iter_p`/`iter_n` are rejected by the cancel itself (the others only once the
            // step they wait on is, which a `wait()` step never is).
            let par = matches!(w.borrow().fun.mode(), Mode::SeqPar(_));
            if pending && par && h.pending() {
                err(w, "the result still pending when `cancel` returned".into());
            }
            w.borrow_mut().result = Some(h);
        }
    }
}

/// Records a call of `f` on `elem` and checks it is allowed now.
fn enter_call(w: &W, elem: u32) -> usize {
    let t = tick(w);
    let mut ww = w.borrow_mut();
    let j = ww.calls.len();
    ww.log.push(format!("f({elem}) = call {j} at {t}"));
    let mode = ww.fun.mode();
    let mut problems = Vec::new();
    match mode {
        Mode::ListSerial | Mode::SeqSerial => {
            if let Some(prev) = ww.calls.last() {
                if !prev.settled {
                    problems.push(format!("call {j} made before call {} resolved", j - 1));
                } else if let Some(Err(e)) = &prev.outcome {
                    problems.push(format!("call {j} made after call {} failed ({e})", j - 1));
                }
            }
        }
        Mode::ListPar => {
            if !ww.in_start {
                problems.push(format!(
                    "parallel call {j} made after the function returned"
                ));
            }
        }
        Mode::SeqPar(limit) => {
            seq_par_problems(&ww, limit, &format!("call {j} made"), &mut problems);
        }
    }
    ww.calls.push(Call {
        elem,
        settled: false,
        outcome: None,
        v: None,
    });
    for p in problems {
        ww.log.push(format!("ERROR {p}"));
        ww.errors.push(p);
    }
    j
}

/// What `iter_p`/`iter_n` must not do when they start a step (`what`: a call of `f`, or the
/// forcing of a node): exceed their limit of pending steps, or go on after a failure or a cancel.
fn seq_par_problems(ww: &World, limit: usize, what: &str, problems: &mut Vec<String>) {
    let running = ww.calls.iter().filter(|c| !c.settled).count();
    if running >= limit {
        problems.push(format!(
            "{what} with {running} steps pending (limit {limit})"
        ));
    }
    if let Some(at) = ww.first_fail_seen {
        problems.push(format!("{what} after a step failed (at {at})"));
    }
    if let Some(at) = ww.canceled_at {
        problems.push(format!("{what} after the result was canceled (at {at})"));
    }
}

fn settle_call(w: &W, j: usize, outcome: Outcome) {
    let mut ww = w.borrow_mut();
    let t = ww.clock;
    let c = &mut ww.calls[j];
    if c.settled {
        let e = format!("call {j} settled twice");
        ww.errors.push(e);
        return;
    }
    c.settled = true;
    let failed = outcome.is_err();
    c.outcome = Some(outcome);
    if failed && ww.first_fail_seen.is_none() {
        ww.first_fail_seen = Some(t);
    }
}

/// The step function: answers call `j` as the case says, making `f`'s value with `conv`.
fn step<X: Clone + 'static>(
    wk: &Weak<RefCell<World>>,
    elem: u32,
    conv: impl FnOnce(u32) -> X + 'static,
) -> Promise<X> {
    let Some(w) = wk.upgrade() else {
        return Promise::fail(Exn::failure("world gone"));
    };
    let j = enter_call(&w, elem);
    script(&w);
    let reply = w
        .borrow()
        .replies
        .get(j)
        .copied()
        .unwrap_or(Reply::Ret(j as u32 * 7 + 1));
    note(&w, format!("  call {j} answers {reply:?}"));
    match reply {
        Reply::Ret(v) => {
            w.borrow_mut().calls[j].v = Some(v);
            settle_call(&w, j, Ok(v));
            Promise::ret(conv(v))
        }
        Reply::Fail => {
            let e = Exn::failure(format!("c{j}"));
            settle_call(&w, j, Err(tag(&e)));
            Promise::fail(e)
        }
        Reply::Panic => {
            let e = Exn::from_panic(Box::new(format!("c{j}")));
            settle_call(&w, j, Err(tag(&e)));
            drop(w);
            panic!("c{j}")
        }
        Reply::Soon(v) => {
            let (p, r) = wait();
            let wk1 = wk.clone();
            p.on_any(
                move |_| {
                    if let Some(w) = wk1.upgrade() {
                        settle_call(&w, j, Ok(v));
                    }
                },
                |_| {},
            );
            w.borrow_mut().calls[j].v = Some(v);
            r.wakeup_later(conv(v));
            p
        }
        Reply::Wait | Reply::Task => {
            let (p, r) = if reply == Reply::Wait { wait() } else { task() };
            let cancel: Option<Box<dyn Fn()>> = if reply == Reply::Task {
                let pc = p.clone();
                Some(Box::new(move || cancel(&pc)))
            } else {
                None
            };
            let wk1 = wk.clone();
            let resolve = Box::new(move |how: How, v: u32| {
                if let Some(w) = wk1.upgrade() {
                    w.borrow_mut().calls[j].v = Some(v);
                }
                let e = || Exn::failure(format!("r{j}"));
                match how {
                    How::Now => r.wakeup(conv(v)),
                    How::Later => r.wakeup_later(conv(v)),
                    How::Exn => r.wakeup_exn(e()),
                    How::LaterExn => r.wakeup_later_exn(e()),
                }
            });
            let (wk2, wk3) = (wk.clone(), wk.clone());
            p.on_any(
                move |_| {
                    if let Some(w) = wk2.upgrade() {
                        let v = w.borrow().calls[j].v.unwrap_or(u32::MAX);
                        settle_call(&w, j, Ok(v));
                    }
                },
                move |e| {
                    if let Some(w) = wk3.upgrade() {
                        settle_call(&w, j, Err(tag(e)));
                    }
                },
            );
            w.borrow_mut().open.push(Some(Open {
                resolve,
                cancel,
                what: format!("step {j}"),
            }));
            p
        }
    }
}

/// A synchronous step (`Seq::iter`, `Seq::map`): returns, or panics if the case says so.
fn sync_step(wk: &Weak<RefCell<World>>, elem: u32) -> u32 {
    let Some(w) = wk.upgrade() else {
        return 0;
    };
    let j = enter_call(&w, elem);
    script(&w);
    let reply = w.borrow().replies.get(j).copied();
    if reply == Some(Reply::Panic) {
        let e = Exn::from_panic(Box::new(format!("c{j}")));
        settle_call(&w, j, Err(tag(&e)));
        drop(w);
        panic!("c{j}");
    }
    let v = match reply {
        Some(Reply::Ret(v)) => v,
        _ => j as u32,
    };
    w.borrow_mut().calls[j].v = Some(v);
    settle_call(&w, j, Ok(v));
    v
}

/// The sequence from node `i` on.
fn seq_from(wk: Weak<RefCell<World>>, i: usize) -> Seq<Tok> {
    Seq::new(move || force_node(&wk, i))
}

fn make_node(wk: &Weak<RefCell<World>>, i: usize, n: usize) -> Node<Tok> {
    if i < n {
        Node::Cons(Tok::new(i as u32), seq_from(wk.clone(), i + 1))
    } else {
        Node::Nil
    }
}

fn settle_node(w: &W, i: usize, outcome: Result<(), String>) {
    let mut ww = w.borrow_mut();
    let t = ww.clock;
    let Some(f) = ww.forced[i].as_mut() else {
        return;
    };
    if f.outcome.is_some() {
        ww.errors.push(format!("node {i} settled twice"));
        return;
    }
    f.outcome = Some(outcome);
    f.settled_at = Some(t);
}

fn force_node(wk: &Weak<RefCell<World>>, i: usize) -> Promise<Node<Tok>> {
    let Some(w) = wk.upgrade() else {
        return Promise::fail(Exn::failure("world gone"));
    };
    let t = tick(&w);
    {
        let mut ww = w.borrow_mut();
        ww.log.push(format!("force node {i} at {t}"));
        let mut problems = Vec::new();
        if ww.forced[i].is_some() {
            problems.push(format!("node {i} forced twice"));
        }
        match ww.fun.mode() {
            Mode::SeqSerial if i > 0 && ww.fun != Fun::SeqToList => match ww.calls.get(i - 1) {
                None => problems.push(format!(
                    "node {i} forced before f was called on element {}",
                    i - 1
                )),
                Some(c) if !c.settled => {
                    problems.push(format!("node {i} forced before call {} resolved", i - 1))
                }
                Some(_) => {}
            },
            Mode::SeqPar(limit) => {
                seq_par_problems(&ww, limit, &format!("node {i} forced"), &mut problems);
            }
            _ => {}
        }
        ww.forced[i] = Some(Forced {
            outcome: None,
            settled_at: None,
        });
        for p in problems {
            ww.log.push(format!("ERROR {p}"));
            ww.errors.push(p);
        }
    }
    script(&w);
    let (kind, n) = {
        let ww = w.borrow();
        (ww.nodes[i], ww.n)
    };
    note(&w, format!("  node {i} answers {kind:?}"));
    match kind {
        NodeKind::Ready => {
            settle_node(&w, i, Ok(()));
            Promise::ret(make_node(wk, i, n))
        }
        NodeKind::Fail => {
            let e = Exn::failure(format!("n{i}"));
            settle_node(&w, i, Err(tag(&e)));
            Promise::fail(e)
        }
        NodeKind::Panic => {
            let e = Exn::from_panic(Box::new(format!("n{i}")));
            settle_node(&w, i, Err(tag(&e)));
            drop(w);
            panic!("n{i}")
        }
        NodeKind::Wait | NodeKind::Task => {
            let (p, r) = if kind == NodeKind::Wait {
                wait()
            } else {
                task()
            };
            let wk1 = wk.clone();
            let resolve = Box::new(move |how: How, _v: u32| {
                let e = || Exn::failure(format!("rn{i}"));
                match how {
                    How::Now => r.wakeup(make_node(&wk1, i, n)),
                    How::Later => r.wakeup_later(make_node(&wk1, i, n)),
                    How::Exn => r.wakeup_exn(e()),
                    How::LaterExn => r.wakeup_later_exn(e()),
                }
            });
            let (wk2, wk3) = (wk.clone(), wk.clone());
            p.on_any(
                move |_| {
                    if let Some(w) = wk2.upgrade() {
                        settle_node(&w, i, Ok(()));
                    }
                },
                move |e| {
                    if let Some(w) = wk3.upgrade() {
                        settle_node(&w, i, Err(tag(e)));
                    }
                },
            );
            w.borrow_mut().open.push(Some(Open {
                resolve,
                cancel: None,
                what: format!("node {i}"),
            }));
            p
        }
    }
}

/// The result resolves only once every call's promise has (parallel forms, and serial ones, which
/// wait for the step they stop at); but a canceled `iter_p` is rejected at once.
fn early(w: &W) {
    let ww = w.borrow();
    if ww.cancel_requested && matches!(ww.fun.mode(), Mode::SeqPar(_)) {
        return;
    }
    if let Some(j) = ww.calls.iter().position(|c| !c.settled) {
        drop(ww);
        err(w, format!("the result resolved while call {j} was pending"));
    }
}

fn handle<X: 'static>(
    w: &W,
    p: Promise<X>,
    conv: impl FnOnce(&X) -> Res + 'static,
) -> Box<dyn ResultHandle> {
    let (wk1, wk2) = (Rc::downgrade(w), Rc::downgrade(w));
    p.on_any(
        move |x| {
            if let Some(w) = wk1.upgrade() {
                early(&w);
                let mut ww = w.borrow_mut();
                ww.result_count += 1;
                ww.result_outcome = Some(Ok(conv(x)));
            }
        },
        move |e| {
            if let Some(w) = wk2.upgrade() {
                early(&w);
                let mut ww = w.borrow_mut();
                ww.result_count += 1;
                ww.result_outcome = Some(Err(tag(e)));
            }
        },
    );
    Box::new(Handle(p))
}

fn elems(v: &[Tok]) -> Vec<u32> {
    v.iter().map(|t| t.0).collect()
}

/// Checks `f`'s index argument.
fn check_index(wk: &Weak<RefCell<World>>, i: usize, x: &Tok) {
    if i != x.0 as usize {
        if let Some(w) = wk.upgrade() {
            err(&w, format!("f given index {i} for element {}", x.0));
        }
    }
}

/// Calls the case's function.
fn start(w: &W) -> Box<dyn ResultHandle> {
    let (fun, n, input) = {
        let ww = w.borrow();
        (ww.fun, ww.n, ww.input)
    };
    let wk = Rc::downgrade(w);
    let toks = move || Faulty {
        toks: (0..n as u32).map(Tok::new).collect(),
        input,
    };
    let sq = || seq_from(wk.clone(), 0);
    let wk = wk.clone();
    // The serial and the parallel form of each `list` function take the same arguments and give
    // the same result: one arm per family, given the function.
    macro_rules! list_fn {
        (iter $f:path) => {
            handle(w, $f(move |x: Tok| step(&wk, x.0, |_| ()), toks()), |_| {
                Res::Unit
            })
        };
        (iteri $f:path) => {{
            let f = move |i, x: Tok| {
                check_index(&wk, i, &x);
                step(&wk, x.0, |_| ())
            };
            handle(w, $f(f, toks()), |_| Res::Unit)
        }};
        (map $f:path) => {{
            let p = $f(move |x: Tok| step(&wk, x.0, |v| v), toks());
            handle(w, p, |v| Res::Vals(v.clone()))
        }};
        (mapi $f:path) => {{
            let f = move |i, x: Tok| {
                check_index(&wk, i, &x);
                step(&wk, x.0, |v| v)
            };
            handle(w, $f(f, toks()), |v| Res::Vals(v.clone()))
        }};
        (filter $f:path) => {{
            let p = $f(move |x: &Tok| step(&wk, x.0, pred), toks());
            handle(w, p, |v| Res::Elems(elems(v)))
        }};
        (filter_map $f:path) => {{
            let p = $f(move |x: Tok| step(&wk, x.0, fm), toks());
            handle(w, p, |v| Res::Vals(v.clone()))
        }};
        (partition $f:path) => {{
            let p = $f(move |x: &Tok| step(&wk, x.0, pred), toks());
            handle(w, p, |(a, b)| Res::Pair(elems(a), elems(b)))
        }};
        (find $f:path) => {{
            let p = $f(move |x: &Tok| step(&wk, x.0, pred), toks());
            handle(w, p, |x| Res::Elem(x.as_ref().map(|t| t.0)))
        }};
        (test $f:path) => {{
            let p = $f(move |x: &Tok| step(&wk, x.0, pred), toks());
            handle(w, p, |b| Res::Bool(*b))
        }};
    }
    match fun {
        Fun::FoldLeftS => {
            let p = list::fold_left_s(
                move |acc: Vec<u32>, x: Tok| {
                    step(&wk, x.0, move |v| {
                        let mut a = acc;
                        a.push(v);
                        a
                    })
                },
                Vec::new(),
                toks(),
            );
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::FoldRightS => {
            let p = list::fold_right_s(
                move |x: Tok, acc: Vec<u32>| {
                    step(&wk, x.0, move |v| {
                        let mut a = acc;
                        a.push(v);
                        a
                    })
                },
                toks(),
                Vec::new(),
            );
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::IterS => list_fn!(iter list::iter_s),
        Fun::IteriS => list_fn!(iteri list::iteri_s),
        Fun::MapS => list_fn!(map list::map_s),
        Fun::MapiS => list_fn!(mapi list::mapi_s),
        Fun::RevMapS => list_fn!(map list::rev_map_s),
        Fun::FilterS => list_fn!(filter list::filter_s),
        Fun::FilterMapS => list_fn!(filter_map list::filter_map_s),
        Fun::PartitionS => list_fn!(partition list::partition_s),
        Fun::FindS => list_fn!(find list::find_s),
        Fun::ForAllS => list_fn!(test list::for_all_s),
        Fun::ExistsS => list_fn!(test list::exists_s),
        Fun::IterP => list_fn!(iter list::iter_p),
        Fun::IteriP => list_fn!(iteri list::iteri_p),
        Fun::MapP => list_fn!(map list::map_p),
        Fun::MapiP => list_fn!(mapi list::mapi_p),
        Fun::RevMapP => list_fn!(map list::rev_map_p),
        Fun::FilterP => list_fn!(filter list::filter_p),
        Fun::FilterMapP => list_fn!(filter_map list::filter_map_p),
        Fun::PartitionP => list_fn!(partition list::partition_p),
        Fun::ForAllP => list_fn!(test list::for_all_p),
        Fun::ExistsP => list_fn!(test list::exists_p),
        Fun::SeqToList => handle(w, sq().to_list(), |v| Res::Elems(elems(v))),
        Fun::SeqIter => {
            let p = sq().iter(move |x| {
                sync_step(&wk, x.0);
            });
            handle(w, p, |_| Res::Unit)
        }
        Fun::SeqFlatMap => {
            let p = sq()
                .flat_map(move |x| {
                    let v = sync_step(&wk, x.0);
                    seq::of_list(vec![v; v as usize % 3])
                })
                .to_list();
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::SeqMap => {
            let p = sq().map(move |x| sync_step(&wk, x.0)).to_list();
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::SeqFoldLeftS => {
            let p = sq().fold_left_s(Vec::new(), move |acc: Vec<u32>, x| {
                step(&wk, x.0, move |v| {
                    let mut a = acc;
                    a.push(v);
                    a
                })
            });
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::SeqIterS => handle(w, sq().iter_s(move |x| step(&wk, x.0, |_| ())), |_| {
            Res::Unit
        }),
        Fun::SeqMapS => {
            let p = sq().map_s(move |x| step(&wk, x.0, |v| v)).to_list();
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::SeqFilterS => {
            let p = sq().filter_s(move |x| step(&wk, x.0, pred)).to_list();
            handle(w, p, |v| Res::Elems(elems(v)))
        }
        Fun::SeqFilterMapS => {
            let p = sq().filter_map_s(move |x| step(&wk, x.0, fm)).to_list();
            handle(w, p, |v| Res::Vals(v.clone()))
        }
        Fun::SeqIterP => handle(w, sq().iter_p(move |x| step(&wk, x.0, |_| ())), |_| {
            Res::Unit
        }),
        Fun::SeqIterN(k) => handle(w, sq().iter_n(k, move |x| step(&wk, x.0, |_| ())), |_| {
            Res::Unit
        }),
    }
}

/// The outcome of call `j`, which must exist and be settled.
fn call_outcome(ww: &World, j: usize, elem: u32) -> Result<Outcome, String> {
    let c = ww
        .calls
        .get(j)
        .ok_or_else(|| format!("f never called on element {elem} (call {j})"))?;
    if c.elem != elem {
        return Err(format!("call {j} on element {}, expected {elem}", c.elem));
    }
    c.outcome
        .clone()
        .ok_or_else(|| format!("call {j} never settled"))
}

/// What a serial walk over `order` gives, from the calls' outcomes; the nodes' outcomes too for a
/// sequence (`nodes`).
fn model_serial(ww: &World, order: &[u32], seq: bool) -> Result<Result<Res, String>, String> {
    let fun = ww.fun;
    let mut vals = Vec::new();
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    let has_f = fun != Fun::SeqToList;
    let only = |count: usize, what: &str| -> Result<(), String> {
        if ww.calls.len() > count {
            return Err(format!(
                "f called {} times, {count} expected ({what})",
                ww.calls.len()
            ));
        }
        if seq {
            let forced = ww.forced.iter().filter(|f| f.is_some()).count();
            let expect = if what == "node failed" {
                count + 1
            } else {
                count + usize::from(what == "end")
            };
            if forced > expect {
                return Err(format!("{forced} nodes forced, {expect} expected ({what})"));
            }
        }
        Ok(())
    };
    // `fold_right_s` reads its whole input before the first step.
    let reads_first = fun == Fun::FoldRightS;
    let input_panic = |k: Option<usize>| -> Option<String> {
        if reads_first {
            (0..=ww.n)
                .map(Some)
                .chain([None])
                .find_map(|k| ww.input.panics_at(k))
        } else {
            ww.input.panics_at(k)
        }
    };
    if let Some(t) = input_panic(None) {
        only(0, "the input panicked")?;
        return Ok(Err(t));
    }
    for (j, &e) in order.iter().enumerate() {
        if let Some(t) = input_panic(Some(j)) {
            only(j, "the input panicked")?;
            return Ok(Err(t));
        }
        if seq {
            let f = ww.forced[j]
                .as_ref()
                .ok_or_else(|| format!("node {j} never forced"))?;
            let outcome = f.outcome.clone();
            if let Err(t) = outcome.ok_or_else(|| format!("node {j} never settled"))? {
                only(j, "node failed")?;
                return Ok(Err(t));
            }
        }
        if !has_f {
            yes.push(e);
            continue;
        }
        let v = match call_outcome(ww, j, e)? {
            Err(t) => {
                only(j + 1, "step failed")?;
                return Ok(Err(t));
            }
            Ok(v) => v,
        };
        let found = match fun {
            Fun::FindS | Fun::ExistsS => pred(v),
            Fun::ForAllS => !pred(v),
            _ => false,
        };
        if found {
            only(j + 1, "stopped")?;
            return Ok(Ok(match fun {
                Fun::FindS => Res::Elem(Some(e)),
                Fun::ExistsS => Res::Bool(true),
                _ => Res::Bool(false),
            }));
        }
        match fun {
            Fun::FilterS | Fun::SeqFilterS => {
                if pred(v) {
                    yes.push(e)
                }
            }
            Fun::PartitionS => {
                if pred(v) {
                    yes.push(e)
                } else {
                    no.push(e)
                }
            }
            Fun::FilterMapS | Fun::SeqFilterMapS => vals.extend(fm(v)),
            Fun::SeqFlatMap => vals.extend(std::iter::repeat_n(v, v as usize % 3)),
            _ => vals.push(v),
        }
    }
    if let Some(t) = input_panic(Some(order.len())) {
        only(order.len(), "the input panicked")?;
        return Ok(Err(t));
    }
    if seq {
        let n = order.len();
        let f = ww.forced[n]
            .as_ref()
            .ok_or_else(|| format!("the last node ({n}) never forced"))?;
        if let Err(t) = f.outcome.clone().ok_or("the last node never settled")? {
            only(n, "node failed")?;
            return Ok(Err(t));
        }
    }
    only(order.len(), "end")?;
    Ok(Ok(match fun {
        Fun::IterS | Fun::IteriS | Fun::SeqIter | Fun::SeqIterS => Res::Unit,
        Fun::RevMapS => {
            vals.reverse();
            Res::Vals(vals)
        }
        Fun::FilterS | Fun::SeqFilterS | Fun::SeqToList => Res::Elems(yes),
        Fun::PartitionS => Res::Pair(yes, no),
        Fun::FindS => Res::Elem(None),
        Fun::ExistsS => Res::Bool(false),
        Fun::ForAllS => Res::Bool(true),
        _ => Res::Vals(vals),
    }))
}

fn model_par(ww: &World) -> Result<Result<Res, String>, String> {
    // `f` is called on the elements before the input's panic, whose rejection then comes after
    // theirs in input order.
    let (n, input_panic) = match ww.input {
        Input::Plain => (ww.n, None),
        Input::IntoIterPanics => (0, ww.input.panics_at(None)),
        Input::NextPanics(k) => (k.min(ww.n), ww.input.panics_at(Some(k))),
    };
    if ww.calls.len() != n {
        return Err(format!("f called {} times on {n} elements", ww.calls.len()));
    }
    let mut vs = Vec::new();
    for j in 0..n {
        vs.push(call_outcome(ww, j, j as u32)?);
    }
    if let Some(Err(t)) = vs.iter().find(|o| o.is_err()) {
        return Ok(Err(t.clone()));
    }
    if let Some(t) = input_panic {
        return Ok(Err(t));
    }
    let vs: Vec<u32> = vs.into_iter().map(Result::unwrap).collect();
    let idx = |keep: &dyn Fn(u32) -> bool| -> Vec<u32> {
        (0..n as u32).filter(|&i| keep(vs[i as usize])).collect()
    };
    Ok(Ok(match ww.fun {
        Fun::IterP | Fun::IteriP => Res::Unit,
        Fun::MapP | Fun::MapiP => Res::Vals(vs.clone()),
        Fun::RevMapP => Res::Vals(vs.iter().rev().copied().collect()),
        Fun::FilterP => Res::Elems(idx(&|v| pred(v))),
        Fun::FilterMapP => Res::Vals(vs.iter().filter_map(|&v| fm(v)).collect()),
        Fun::PartitionP => Res::Pair(idx(&|v| pred(v)), idx(&|v| !pred(v))),
        Fun::ForAllP => Res::Bool(vs.iter().all(|&v| pred(v))),
        Fun::ExistsP => Res::Bool(vs.iter().any(|&v| pred(v))),
        f => unreachable!("{f:?}"),
    }))
}

fn model_seq_par(ww: &World) -> Result<Result<Res, String>, String> {
    // The calls are on elements 0, 1, ... in order, each on a node forced and fulfilled.
    for (j, c) in ww.calls.iter().enumerate() {
        if c.elem != j as u32 {
            return Err(format!("call {j} on element {}", c.elem));
        }
        if ww.forced[j].as_ref().and_then(|f| f.outcome.clone()) != Some(Ok(())) {
            return Err(format!("call {j} on a node not fulfilled"));
        }
        if c.outcome.is_none() {
            return Err(format!("call {j} never settled"));
        }
    }
    if ww.cancel_requested {
        return Ok(Err(tag(&Exn::canceled())));
    }
    // The stop: the first step failure seen.
    let stop = ww.first_fail_seen.unwrap_or(u64::MAX);
    let mut first: Option<(usize, String)> = ww
        .calls
        .iter()
        .enumerate()
        .find_map(|(j, c)| c.outcome.clone().unwrap().err().map(|t| (j, t)));
    for (i, f) in ww.forced.iter().enumerate() {
        let Some(f) = f else { continue };
        if let (Some(Err(t)), Some(at)) = (&f.outcome, f.settled_at) {
            if at < stop && first.as_ref().is_none_or(|(j, _)| i < *j) {
                first = Some((i, t.clone()));
            }
        }
    }
    if let Some((_, t)) = first {
        return Ok(Err(t));
    }
    // No failure: every element was called, up to the end.
    if ww.calls.len() != ww.n {
        return Err(format!(
            "f called on {} of {} elements, with no failure",
            ww.calls.len(),
            ww.n
        ));
    }
    Ok(Ok(Res::Unit))
}

fn model(ww: &World) -> Result<Result<Res, String>, String> {
    let n = ww.n as u32;
    match ww.fun.mode() {
        Mode::ListSerial => {
            let order: Vec<u32> = if ww.fun == Fun::FoldRightS {
                (0..n).rev().collect()
            } else {
                (0..n).collect()
            };
            model_serial(ww, &order, false)
        }
        Mode::SeqSerial => model_serial(ww, &(0..n).collect::<Vec<_>>(), true),
        Mode::ListPar => model_par(ww),
        Mode::SeqPar(_) => model_seq_par(ww),
    }
}

/// Resolves every open promise (with values), until none is left.
fn drain(w: &W) -> Result<(), String> {
    for round in 0..1000 {
        let open: Vec<Open> = w.borrow_mut().open.drain(..).flatten().collect();
        if open.is_empty() {
            return Ok(());
        }
        for (k, o) in open.into_iter().enumerate() {
            note(w, format!("drain: resolve {}", o.what));
            (o.resolve)(How::Now, (round + k) as u32);
        }
    }
    Err("draining does not end".into())
}

fn gen_act(r: &mut Rng) -> Act {
    match r.below(20) {
        0..=13 => Act::Resolve(
            r.below(8) as usize,
            [
                How::Now,
                How::Later,
                How::Exn,
                How::LaterExn,
                How::Now,
                How::Later,
            ][r.below(6) as usize],
            r.below(10) as u32,
        ),
        14..=17 => Act::CancelStep(r.below(8) as usize),
        _ => Act::CancelResult,
    }
}

fn gen(r: &mut Rng) -> (Setting, Vec<Op>) {
    let mut fun = FUNS[r.below(FUNS.len() as u64) as usize];
    if let Fun::SeqIterN(_) = fun {
        fun = Fun::SeqIterN(1 + r.below(3) as usize);
    }
    let n = if r.below(8) == 0 {
        r.below(13)
    } else {
        r.below(6)
    } as usize;
    let fails = r.below(3); // some cases have no failures at all
    let replies = (0..n)
        .map(|_| match r.below(20) {
            0..=6 => Reply::Ret(r.below(10) as u32),
            7 => Reply::Soon(r.below(10) as u32),
            8 if fails > 0 => Reply::Fail,
            9 if fails > 1 => Reply::Panic,
            8..=14 => Reply::Wait,
            _ => Reply::Task,
        })
        .collect();
    let nodes = (0..=n)
        .map(|_| {
            if !fun.is_seq() {
                return NodeKind::Ready;
            }
            match r.below(20) {
                0..=10 => NodeKind::Ready,
                11 if fails > 0 => NodeKind::Fail,
                12 if fails > 1 => NodeKind::Panic,
                11..=16 => NodeKind::Wait,
                _ => NodeKind::Task,
            }
        })
        .collect();
    let pre = (0..r.below(3)).map(|_| gen_act(r)).collect();
    let ops = (0..r.below(16))
        .map(|_| {
            if r.below(4) == 0 {
                Op::Script(gen_act(r))
            } else {
                Op::Act(gen_act(r))
            }
        })
        .collect();
    // Drawn last: the other draws of each case stay what they were before inputs could panic.
    let input = if fun.is_seq() {
        Input::Plain
    } else {
        match r.below(10) {
            0 => Input::IntoIterPanics,
            1..=2 => Input::NextPanics(r.below(n as u64 + 1) as usize),
            _ => Input::Plain,
        }
    };
    (
        Setting {
            fun,
            n,
            input,
            replies,
            nodes,
            pre,
        },
        ops,
    )
}

fn run(s: &Setting, ops: &[Op], trace: bool) -> Result<usize, String> {
    LIVE.with(|l| l.set(0));
    let w: W = Rc::new(RefCell::new(World {
        fun: s.fun,
        n: s.n,
        input: s.input,
        replies: s.replies.clone(),
        nodes: s.nodes.clone(),
        calls: Vec::new(),
        forced: (0..=s.n).map(|_| None).collect(),
        open: Vec::new(),
        scripts: s.pre.iter().cloned().collect(),
        depth: 0,
        result: None,
        result_outcome: None,
        result_count: 0,
        cancel_requested: false,
        canceled_at: None,
        first_fail_seen: None,
        in_start: true,
        clock: 0,
        errors: Vec::new(),
        log: Vec::new(),
    }));
    let h = start(&w);
    {
        let mut ww = w.borrow_mut();
        ww.in_start = false;
        ww.result = Some(h);
    }
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Act(a) => act(&w, a),
                Op::Script(a) => w.borrow_mut().scripts.push_back(a.clone()),
            }
            if trace {
                eprintln!("{i}: {op:?}");
            }
            if let Some(e) = w.borrow().errors.first() {
                return Err(format!("after op {i}: {e}"));
            }
        }
        w.borrow_mut().scripts.clear();
        drain(&w)?;
        let ww = w.borrow();
        if let Some(e) = ww.errors.first() {
            return Err(e.clone());
        }
        if ww.result.as_ref().unwrap().pending() {
            return Err("the result is still pending once everything it waits on resolved".into());
        }
        if ww.result_count != 1 {
            return Err(format!(
                "the result's observer ran {} times",
                ww.result_count
            ));
        }
        let expected = model(&ww)?;
        let got = ww.result_outcome.clone().unwrap();
        if got != expected {
            return Err(format!("result {got:?}, the model says {expected:?}"));
        }
        if let Some(e) = first_async_error() {
            return Err(format!("a panic reached the async exception hook: {e}"));
        }
        Ok(())
    })();
    let log = std::mem::take(&mut w.borrow_mut().log);
    drop(w);
    let result = result.and_then(|()| {
        let live = LIVE.with(Cell::get);
        if live != 0 {
            return Err(format!(
                "{live} element(s) still alive at the end (kept or lost)"
            ));
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(ops.len() + 1),
        Err(e) => Err(format!("{e}\nlog = {log:#?}")),
    }
}

#[test]
fn list_and_seq_functions_against_a_model() {
    run_cases("LIST_FUZZ", 200_000, gen, run);
}
