//! Randomized programs over `pool::Pool`, checked after every top-level step.
//!
//! A case makes a pool of 1 to 3 elements whose `create`, `validate`, `check` and `dispose`
//! answer as the program says: at once (true or false), with a rejection, with a panic, or with a
//! `wait()`/`task()` promise that a later step resolves (`wakeup`, `wakeup_later` or
//! `wakeup_exn`). Uses run bodies that return, fail, panic or wait on a promise resolved later;
//! uses are canceled at top level and from inside callbacks; `clear` is called at any time; and
//! some actions are scripted to run *inside* the pool's callbacks (`create`, `validate`, `check`,
//! `dispose`) and inside the bodies.
//!
//! Checked: no more than `max` elements exist at once (counted by the test from the calls of
//! `create` and the resolutions of `dispose`), and `size()` agrees; an element is never in two
//! uses at once, never used, validated or disposed after its `dispose` was called, never
//! disposed while in use, and never used again once a use of it ended after a `clear`; at top
//! level, a use waits in the queue only while the pool is full; once every promise the pool waits
//! on has resolved, no use is pending; and after a final `clear`, every element made was
//! disposed of (none lost).
//!
//! `POOL_FUZZ_CASES` (default 20000) and `POOL_FUZZ_SEED` (default 1) set the run; a failure is
//! shrunk and names its case, which `POOL_FUZZ_CASE=<n>` replays with a trace.
//! It found three bugs, fixed since (each has a test in `sync_pool_bugs.rs`): a failed (or
//! canceled) creation, and the disposes a `clear` starts, lowered the count without serving the
//! uses that waited; and a use that started between a dispose's resolution and the replacement it
//! triggered made an element too, so the pool held more than `max`.

#[path = "support/fuzz.rs"]
mod fuzz;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use lwt_core::pool::Pool;
use lwt_core::{task, wait, Exn, Promise, Resolver};

use fuzz::{first_async_error, run_cases, run_script, Rng};

/// How a user callback answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    Now(bool),
    Fail,
    Panic,
    Wait,
    Task,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Create,
    Validate,
    Check,
    Dispose,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Ret,
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
}

#[derive(Clone, Debug)]
enum Act {
    Use(Body),
    Cancel(usize),
    CancelLast,
    ResolveBody(usize, How),
    /// Resolve a pending answer of a callback (for `validate`/`check`: with the bool).
    Resolve(usize, bool, How),
    Clear,
    /// `n` uses that return at once, all canceled at once but every `keep`-th.
    Burst(usize, usize),
}

#[derive(Clone, Debug)]
enum Op {
    Act(Act),
    /// Run this action inside the next callback or body.
    Script(Act),
    /// How the next call of that callback answers.
    Answer(Kind, Reply),
}

struct Elem {
    id: usize,
}

enum PendingAnswer {
    Create(Resolver<Elem>, usize),
    Bool(Resolver<bool>),
    Unit(Resolver<()>),
}

#[derive(Default)]
struct ElemRec {
    gen: u64,
    in_use: Option<usize>,
    disposing: bool,
    must_dispose: bool,
}

struct UseRec {
    promise: Option<Promise<usize>>,
    entered: bool,
    body_res: Option<Resolver<()>>,
}

struct World {
    pool: Option<Pool<Elem>>,
    max: usize,
    gen: u64,
    existing: usize,
    elems: Vec<ElemRec>,
    uses: Vec<UseRec>,
    answers: [VecDeque<Reply>; 4],
    pending: Vec<PendingAnswer>,
    clears: Vec<Promise<()>>,
    scripts: VecDeque<Act>,
    depth: usize,
    in_clear: bool,
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

fn script(w: &W) {
    run_script(w, |ww| (&mut ww.scripts, &mut ww.depth), act);
}

fn next_answer(w: &W, k: Kind) -> Reply {
    let mut ww = w.borrow_mut();
    let i = k as usize;
    ww.answers[i].pop_front().unwrap_or(Reply::Now(true))
}

fn create_cb(wk: &Weak<RefCell<World>>) -> Promise<Elem> {
    let Some(w) = wk.upgrade() else {
        return Promise::fail(Exn::failure("world gone"));
    };
    let id = {
        let mut ww = w.borrow_mut();
        ww.existing += 1;
        if ww.existing > ww.max {
            let e = format!(
                "create called with {} elements already in existence (max {})",
                ww.existing - 1,
                ww.max
            );
            ww.errors.push(e);
        }
        let id = ww.elems.len();
        let gen = ww.gen;
        ww.elems.push(ElemRec {
            gen,
            ..ElemRec::default()
        });
        id
    };
    let reply = next_answer(&w, Kind::Create);
    note(&w, format!("create -> elem {id}: {reply:?}"));
    script(&w);
    let p = match reply {
        Reply::Now(_) => Promise::ret(Elem { id }),
        Reply::Fail => Promise::fail(Exn::failure("create fails")),
        Reply::Panic => {
            w.borrow_mut().existing -= 1;
            drop(w);
            panic!("create panics")
        }
        Reply::Wait | Reply::Task => {
            let (p, r) = if reply == Reply::Wait { wait() } else { task() };
            w.borrow_mut().pending.push(PendingAnswer::Create(r, id));
            p
        }
    };
    let wk = wk.clone();
    p.on_failure(move |_| {
        if let Some(w) = wk.upgrade() {
            w.borrow_mut().existing -= 1;
            note(&w, format!("creation of {id} failed"));
        }
    });
    p
}

/// An element given to `validate`, `check` or a use must still be in the pool.
fn live(w: &W, id: usize, what: &str, after_use: bool) {
    let (disposing, must) = {
        let ww = w.borrow();
        (ww.elems[id].disposing, ww.elems[id].must_dispose)
    };
    if disposing {
        err(
            w,
            format!("{what} of element {id} after its dispose was called"),
        );
    }
    if must && !after_use {
        err(
            w,
            format!("{what} of element {id}, which a clear should have disposed of"),
        );
    }
}

fn bool_cb(w: &W, kind: Kind, id: usize) -> Promise<bool> {
    let reply = next_answer(w, kind);
    note(w, format!("{kind:?}({id}) -> {reply:?}"));
    script(w);
    match reply {
        Reply::Now(b) => Promise::ret(b),
        Reply::Fail => Promise::fail(Exn::failure("callback fails")),
        Reply::Panic => panic!("callback panics"),
        Reply::Wait | Reply::Task => {
            let (p, r) = if reply == Reply::Wait { wait() } else { task() };
            w.borrow_mut().pending.push(PendingAnswer::Bool(r));
            p
        }
    }
}

fn validate_cb(wk: &Weak<RefCell<World>>, e: &Elem) -> Promise<bool> {
    let Some(w) = wk.upgrade() else {
        return Promise::ret(true);
    };
    live(&w, e.id, "validate", false);
    let user = w.borrow().elems[e.id].in_use;
    if let Some(u) = user {
        err(
            &w,
            format!("validate of element {} while use {u} has it", e.id),
        );
    }
    bool_cb(&w, Kind::Validate, e.id)
}

fn check_cb(wk: &Weak<RefCell<World>>, e: &Elem) -> Promise<bool> {
    let Some(w) = wk.upgrade() else {
        return Promise::ret(true);
    };
    live(&w, e.id, "check", true);
    bool_cb(&w, Kind::Check, e.id)
}

fn dispose_cb(wk: &Weak<RefCell<World>>, e: Rc<Elem>) -> Promise<()> {
    let Some(w) = wk.upgrade() else {
        return Promise::ret(());
    };
    let id = e.id;
    drop(e);
    {
        let mut ww = w.borrow_mut();
        if ww.elems[id].disposing {
            ww.errors.push(format!("element {id} disposed of twice"));
        }
        if let Some(u) = ww.elems[id].in_use {
            ww.errors
                .push(format!("element {id} disposed of while use {u} has it"));
        }
        ww.elems[id].disposing = true;
    }
    let reply = next_answer(&w, Kind::Dispose);
    note(&w, format!("dispose({id}) -> {reply:?}"));
    script(&w);
    let p = match reply {
        Reply::Now(_) => Promise::ret(()),
        Reply::Fail => Promise::fail(Exn::failure("dispose fails")),
        Reply::Panic => {
            w.borrow_mut().existing -= 1;
            drop(w);
            panic!("dispose panics")
        }
        Reply::Wait | Reply::Task => {
            let (p, r) = if reply == Reply::Wait { wait() } else { task() };
            w.borrow_mut().pending.push(PendingAnswer::Unit(r));
            p
        }
    };
    let wk = wk.clone();
    p.on_termination(move || {
        if let Some(w) = wk.upgrade() {
            w.borrow_mut().existing -= 1;
            note(&w, format!("element {id} disposed of"));
        }
    });
    p
}

fn end_use(w: &W, u: usize, id: usize) {
    let mut ww = w.borrow_mut();
    ww.log.push(format!("use {u} lets go of {id}"));
    if ww.elems[id].in_use != Some(u) {
        let e = format!(
            "use {u} ends, but element {id} is with {:?}",
            ww.elems[id].in_use
        );
        ww.errors.push(e);
    }
    ww.elems[id].in_use = None;
    if ww.gen > ww.elems[id].gen {
        ww.elems[id].must_dispose = true;
    }
}

fn use_body(wk: &Weak<RefCell<World>>, u: usize, e: Rc<Elem>, body: Body) -> Promise<usize> {
    let id = e.id;
    drop(e);
    let w = wk.upgrade().expect("world");
    live(&w, id, "use", false);
    {
        let mut ww = w.borrow_mut();
        ww.log.push(format!("use {u} gets {id}"));
        if let Some(o) = ww.elems[id].in_use {
            ww.errors.push(format!(
                "element {id} given to use {u} while use {o} has it"
            ));
        }
        ww.elems[id].in_use = Some(u);
        ww.uses[u].entered = true;
        if ww.existing > ww.max {
            let e = format!("{} elements exist (max {})", ww.existing, ww.max);
            ww.errors.push(e);
        }
    }
    script(&w);
    match body {
        Body::Ret => {
            end_use(&w, u, id);
            Promise::ret(id)
        }
        Body::Fail => {
            end_use(&w, u, id);
            Promise::fail(Exn::failure("use fails"))
        }
        Body::Panic => {
            end_use(&w, u, id);
            drop(w);
            panic!("use panics")
        }
        Body::Wait | Body::Task => {
            let (p, r) = if body == Body::Wait { wait() } else { task() };
            w.borrow_mut().uses[u].body_res = Some(r);
            let wk = wk.clone();
            p.on_termination(move || {
                if let Some(w) = wk.upgrade() {
                    end_use(&w, u, id);
                }
            });
            p.map(move |()| id)
        }
    }
}

fn act(w: &W, a: &Act) {
    let depth = w.borrow().depth;
    note(w, format!("{}{a:?}", "  ".repeat(depth)));
    let wk = Rc::downgrade(w);
    match *a {
        Act::Use(body) => {
            let (pool, u) = {
                let mut ww = w.borrow_mut();
                let u = ww.uses.len();
                ww.uses.push(UseRec {
                    promise: None,
                    entered: false,
                    body_res: None,
                });
                (ww.pool.clone().unwrap(), u)
            };
            let wk2 = wk.clone();
            let p = pool.use_(move |e| use_body(&wk2, u, e, body));
            w.borrow_mut().uses[u].promise = Some(p.clone());
            let wk2 = wk.clone();
            p.on_termination(move || {
                if let Some(w) = wk2.upgrade() {
                    note(&w, format!("use {u} resolved"));
                    script(&w);
                }
            });
        }
        Act::Cancel(_) | Act::CancelLast => {
            let p = {
                let ww = w.borrow();
                let n = ww.uses.len();
                if n == 0 {
                    return;
                }
                let i = if let Act::Cancel(k) = a { k % n } else { n - 1 };
                ww.uses[i].promise.clone()
            };
            if let Some(p) = p {
                p.cancel();
            }
        }
        Act::ResolveBody(k, how) => {
            let r = {
                let mut ww = w.borrow_mut();
                let open: Vec<usize> = (0..ww.uses.len())
                    .filter(|&i| ww.uses[i].body_res.is_some())
                    .collect();
                if open.is_empty() {
                    return;
                }
                ww.uses[open[k % open.len()]].body_res.take().unwrap()
            };
            match how {
                How::Now => r.wakeup(()),
                How::Later => r.wakeup_later(()),
                How::Exn => r.wakeup_exn(Exn::failure("body rejected")),
            }
        }
        Act::Resolve(k, b, how) => {
            let pa = {
                let mut ww = w.borrow_mut();
                let n = ww.pending.len();
                if n == 0 {
                    return;
                }
                ww.pending.remove(k % n)
            };
            match (pa, how) {
                (PendingAnswer::Create(r, _), How::Exn) => {
                    r.wakeup_exn(Exn::failure("create rejected"))
                }
                (PendingAnswer::Create(r, id), How::Now) => r.wakeup(Elem { id }),
                (PendingAnswer::Create(r, id), How::Later) => r.wakeup_later(Elem { id }),
                (PendingAnswer::Bool(r), How::Exn) => r.wakeup_exn(Exn::failure("answer rejected")),
                (PendingAnswer::Bool(r), How::Now) => r.wakeup(b),
                (PendingAnswer::Bool(r), How::Later) => r.wakeup_later(b),
                (PendingAnswer::Unit(r), How::Exn) => {
                    r.wakeup_exn(Exn::failure("dispose rejected"))
                }
                (PendingAnswer::Unit(r), How::Now) => r.wakeup(()),
                (PendingAnswer::Unit(r), How::Later) => r.wakeup_later(()),
            }
        }
        Act::Burst(n, keep) => {
            for i in 0..n {
                act(w, &Act::Use(Body::Ret));
                if i % keep != 0 {
                    act(w, &Act::CancelLast);
                }
            }
        }
        Act::Clear => {
            let pool = {
                let mut ww = w.borrow_mut();
                ww.gen += 1;
                ww.pool.clone().unwrap()
            };
            w.borrow_mut().in_clear = true;
            let p = pool.clear();
            let mut ww = w.borrow_mut();
            ww.in_clear = false;
            ww.clears.push(p);
        }
    }
}

/// Checks made at top level, when no callback is left to run.
fn check(w: &W) -> Result<(), String> {
    if let Some(e) = first_async_error() {
        return Err(format!("a callback of the test panicked: {e}"));
    }
    let ww = w.borrow();
    if let Some(e) = ww.errors.first() {
        return Err(e.clone());
    }
    let pool = ww.pool.as_ref().unwrap();
    let (size, waiting) = (pool.size(), pool.wait_queue_length());
    if size != ww.existing {
        return Err(format!(
            "size() = {size}, but {} elements exist or are being made",
            ww.existing
        ));
    }
    if size > ww.max {
        return Err(format!("size() = {size} > max {}", ww.max));
    }
    if waiting > 0 && size < ww.max {
        return Err(format!(
            "{waiting} use(s) wait for an element, but the pool has {size} of {} (it could make one)",
            ww.max
        ));
    }
    Ok(())
}

fn gen_act(r: &mut Rng) -> Act {
    let k = r.below(16) as usize;
    let how = match r.below(5) {
        0 | 1 => How::Now,
        2 | 3 => How::Later,
        _ => How::Exn,
    };
    match r.below(100) {
        0..=29 => Act::Use(match r.below(10) {
            0..=3 => Body::Ret,
            4 => Body::Fail,
            5 => Body::Panic,
            6..=7 => Body::Wait,
            _ => Body::Task,
        }),
        30..=39 => Act::Cancel(k),
        40..=44 => Act::CancelLast,
        45..=59 => Act::ResolveBody(k, how),
        60..=87 => Act::Resolve(k, r.below(3) != 0, how),
        88..=89 => Act::Burst(8 + r.below(40) as usize, 1 + r.below(6) as usize),
        _ => Act::Clear,
    }
}

fn gen_reply(r: &mut Rng) -> Reply {
    match r.below(12) {
        0..=3 => Reply::Now(true),
        4 | 5 => Reply::Now(false),
        6 => Reply::Fail,
        7 => Reply::Panic,
        8..=9 => Reply::Wait,
        _ => Reply::Task,
    }
}

fn gen(r: &mut Rng) -> (usize, Vec<Op>) {
    let max = 1 + r.below(3) as usize;
    let n = 1 + r.below(60) as usize;
    let ops = (0..n)
        .map(|_| match r.below(100) {
            0..=54 => Op::Act(gen_act(r)),
            55..=74 => Op::Script(gen_act(r)),
            _ => Op::Answer(
                match r.below(4) {
                    0 => Kind::Create,
                    1 => Kind::Validate,
                    2 => Kind::Check,
                    _ => Kind::Dispose,
                },
                gen_reply(r),
            ),
        })
        .collect();
    (max, ops)
}

/// Resolves every promise the pool waits on (and every body) until nothing is left.
fn drain(w: &W) -> Result<(), String> {
    for _ in 0..1000 {
        let (pending, bodies) = {
            let mut ww = w.borrow_mut();
            let p: Vec<PendingAnswer> = ww.pending.drain(..).collect();
            let b: Vec<Resolver<()>> = ww
                .uses
                .iter_mut()
                .filter_map(|u| u.body_res.take())
                .collect();
            (p, b)
        };
        if pending.is_empty() && bodies.is_empty() {
            return Ok(());
        }
        for pa in pending {
            match pa {
                PendingAnswer::Create(r, id) => r.wakeup(Elem { id }),
                PendingAnswer::Bool(r) => r.wakeup(true),
                PendingAnswer::Unit(r) => r.wakeup(()),
            }
            check(w).map_err(|e| format!("while draining: {e}"))?;
        }
        for r in bodies {
            r.wakeup(());
            check(w).map_err(|e| format!("while draining: {e}"))?;
        }
    }
    Err("draining does not end".into())
}

fn run(max: &usize, ops: &[Op], trace: bool) -> Result<usize, String> {
    let max = *max;
    let w: W = Rc::new(RefCell::new(World {
        pool: None,
        max,
        gen: 0,
        existing: 0,
        elems: vec![],
        uses: vec![],
        answers: Default::default(),
        pending: vec![],
        clears: vec![],
        scripts: VecDeque::new(),
        depth: 0,
        in_clear: false,
        errors: vec![],
        log: vec![],
    }));
    let (w1, w2, w3, w4) = (
        Rc::downgrade(&w),
        Rc::downgrade(&w),
        Rc::downgrade(&w),
        Rc::downgrade(&w),
    );
    let pool = Pool::new(max, move || create_cb(&w1))
        .with_validate(move |e| validate_cb(&w2, e))
        .with_check(move |e, _| check_cb(&w3, e))
        .with_dispose(move |e| dispose_cb(&w4, e));
    w.borrow_mut().pool = Some(pool);
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Act(a) => act(&w, a),
                Op::Script(a) => w.borrow_mut().scripts.push_back(a.clone()),
                Op::Answer(k, r) => w.borrow_mut().answers[*k as usize].push_back(*r),
            }
            if trace {
                let ww = w.borrow();
                let p = ww.pool.as_ref().unwrap();
                eprintln!(
                    "{i}: {op:?}: size {} waiting {} existing {}",
                    p.size(),
                    p.wait_queue_length(),
                    ww.existing
                );
            }
            check(&w).map_err(|e| format!("after op {i}: {e}"))?;
        }
        {
            let mut ww = w.borrow_mut();
            ww.scripts.clear();
            ww.answers = Default::default();
        }
        drain(&w)?;
        {
            let ww = w.borrow();
            let stuck: Vec<usize> = (0..ww.uses.len())
                .filter(|&i| ww.uses[i].promise.as_ref().is_some_and(|p| p.is_pending()))
                .collect();
            if !stuck.is_empty() {
                return Err(format!(
                    "uses {stuck:?} still pending once everything the pool waits on resolved \
                     (size {}, waiting {})",
                    ww.pool.as_ref().unwrap().size(),
                    ww.pool.as_ref().unwrap().wait_queue_length()
                ));
            }
            if ww.clears.iter().any(|c| c.is_pending()) {
                return Err("a clear still pending at the end".into());
            }
        }
        act(&w, &Act::Clear);
        drain(&w)?;
        check(&w).map_err(|e| format!("after the final clear: {e}"))?;
        let ww = w.borrow();
        if ww.existing != 0 {
            let kept: Vec<usize> = (0..ww.elems.len())
                .filter(|&i| !ww.elems[i].disposing)
                .collect();
            return Err(format!(
                "after every use ended and a clear, {} element(s) are not disposed of (lost): \
                 never disposed: {kept:?} (some may have failed creation)",
                ww.existing
            ));
        }
        Ok(())
    })();
    let out = match result {
        Ok(()) => Ok(ops.len()),
        Err(e) => Err(format!("{e}\nlog = {:#?}", w.borrow().log)),
    };
    // The callbacks hold the world weakly: dropping it frees the case, and the promises its
    // unresolved resolvers reject find no world to report to.
    drop(w);
    out
}

#[test]
fn pool_against_its_invariants() {
    run_cases("POOL_FUZZ", 20000, gen, run);
}
