//! Liveness of streams under random programs whose `map` and `filter_map` steps act on the
//! streams themselves: once the source is closed (and a `from` source's pending calls answered with
//! the end), no read of any handle may still be pending.
//!
//! A source (`create`, `create_bounded` of size 0 to 2, or `from` with hand-resolved calls) feeds a
//! `filter_map`, and sometimes a `map` over it. Random operations read every way a stream can be
//! read (`get`, `find`, `fold`, `nget`, `peek`, `get_while`, `parse`, `get_available`,
//! `is_empty`), clone, drop, cancel, push and close; some are scripted to run *inside* a link's
//! step, while it computes an element, and a step may panic. Two reads that waited for ever were
//! found this way (a read filed by a step during `get_available`, and a read filed while the link's
//! answer was already buffered for it); both are fixed, and each also has its own test in
//! `stream_link.rs`.
//!
//! `LIVENESS_CASES` (default 3000) and `LIVENESS_SEED` (default 1) set the run; a failure is
//! shrunk and names its case, which `LIVENESS_CASE=<n>` replays alone with a trace.

#[path = "support/fuzz.rs"]
mod fuzz;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use lwt_core::stream::{self, BoundedPush, Push, Stream};
use lwt_core::{wait, Promise, Resolver, State};

use fuzz::{run_cases, Rng};

/// One thing the program does, at top level or inside a step. Handle and read indices wrap
/// around the handles and reads that exist.
#[derive(Clone, Debug)]
enum Act {
    Clone(usize),
    Drop(usize),
    Get(usize),
    Find(usize),
    Fold(usize),
    NGet(usize, usize),
    Peek(usize),
    GetWhile(usize, i64),
    Parse(usize, bool),
    Avail(usize),
    IsEmpty(usize),
    Cancel(usize),
    CancelLast,
    Push(i64),
    Close,
    Panic,
    GetSource,
}

/// One step of a case.
#[derive(Clone, Debug)]
enum Op {
    Act(Act),
    /// Script an action for the step of link level `.0` (0: the filter_map, 1: the map over it).
    Script(usize, Act),
    ResolveFrom(Option<i64>),
    FailFrom,
    Nop,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SrcKind {
    Push,
    Bounded(usize),
    From,
}

enum Read {
    One(Promise<Option<i64>>),
    Many(Promise<Vec<i64>>),
    Sum(Promise<i64>),
    Unit(Promise<()>),
    Bool(Promise<bool>),
    Now(Vec<i64>),
}

fn st<T: Clone + std::fmt::Debug + 'static>(p: &Promise<T>) -> String {
    match p.state() {
        State::Pending => "P".into(),
        State::Fulfilled(v) => format!("{v:?}"),
        State::Rejected(e) => format!("E({e})"),
    }
}

impl Read {
    fn show(&self) -> String {
        match self {
            Read::One(p) => st(p),
            Read::Many(p) => st(p),
            Read::Sum(p) => st(p),
            Read::Unit(p) => st(p),
            Read::Bool(p) => st(p),
            Read::Now(v) => format!("now{v:?}"),
        }
    }
    fn pending(&self) -> bool {
        match self {
            Read::One(p) => p.is_pending(),
            Read::Many(p) => p.is_pending(),
            Read::Sum(p) => p.is_pending(),
            Read::Unit(p) => p.is_pending(),
            Read::Bool(p) => p.is_pending(),
            Read::Now(_) => false,
        }
    }
    fn cancel(&self) {
        match self {
            Read::One(p) => p.cancel(),
            Read::Many(p) => p.cancel(),
            Read::Sum(p) => p.cancel(),
            Read::Unit(p) => p.cancel(),
            Read::Bool(p) => p.cancel(),
            Read::Now(_) => {}
        }
    }
}

/// Everything a case made: producers, handles, reads (with the action that made each), the
/// steps' log, and the actions scripted for each link's step.
#[derive(Default)]
struct World {
    push: Option<Push<i64>>,
    bpush: Option<BoundedPush<i64>>,
    from_rs: VecDeque<Resolver<Option<i64>>>,
    source: Option<Rc<Stream<i64>>>,
    handles: Vec<Option<Rc<Stream<i64>>>>,
    reads: Vec<Read>,
    log: Vec<String>,
    scripts: [VecDeque<Act>; 2],
    labels: Vec<String>,
    cur: String,
}

type W = Rc<RefCell<World>>;

fn handle(w: &W, i: usize) -> Option<Rc<Stream<i64>>> {
    let w = w.borrow();
    let n = w.handles.len();
    if n == 0 {
        return None;
    }
    w.handles[i % n].clone()
}

fn add(w: &W, r: Read) {
    let mut w = w.borrow_mut();
    let l = w.cur.clone();
    w.labels.push(l);
    w.reads.push(r);
}

/// Runs `a`; returns true if the step must panic.
fn act(w: &W, a: &Act) -> bool {
    let prev = std::mem::replace(&mut w.borrow_mut().cur, format!("{a:?}"));
    let r = act_(w, a);
    w.borrow_mut().cur = prev;
    r
}
fn act_(w: &W, a: &Act) -> bool {
    match *a {
        Act::Clone(i) => {
            if let Some(h) = handle(w, i) {
                let c = (*h).clone();
                w.borrow_mut().handles.push(Some(Rc::new(c)));
            }
        }
        Act::Drop(i) => {
            let h = {
                let mut w = w.borrow_mut();
                let n = w.handles.len();
                if n == 0 {
                    None
                } else {
                    w.handles[i % n].take()
                }
            };
            drop(h);
        }
        Act::Get(i) => {
            if let Some(h) = handle(w, i) {
                let p = h.get();
                add(w, Read::One(p));
            }
        }
        Act::Find(i) => {
            if let Some(h) = handle(w, i) {
                let p = h.find(|x| x % 3 == 0);
                add(w, Read::One(p));
            }
        }
        Act::Fold(i) => {
            if let Some(h) = handle(w, i) {
                let p = h.fold(0, |a, x| a * 3 + x);
                add(w, Read::Sum(p));
            }
        }
        Act::NGet(i, n) => {
            if let Some(h) = handle(w, i) {
                let p = h.nget(n);
                add(w, Read::Many(p));
            }
        }
        Act::Peek(i) => {
            if let Some(h) = handle(w, i) {
                let p = h.peek();
                add(w, Read::One(p));
            }
        }
        Act::GetWhile(i, t) => {
            if let Some(h) = handle(w, i) {
                let p = h.get_while(move |x| *x < t);
                add(w, Read::Many(p));
            }
        }
        Act::Parse(i, ok) => {
            if let Some(h) = handle(w, i) {
                let p = h.parse(move |s| {
                    s.nget(1).bind(move |v| {
                        if ok {
                            Promise::ret(v)
                        } else {
                            Promise::fail_with("parse fails")
                        }
                    })
                });
                add(w, Read::Many(p));
            }
        }
        Act::Avail(i) => {
            if let Some(h) = handle(w, i) {
                let v = h.get_available();
                add(w, Read::Now(v));
            }
        }
        Act::IsEmpty(i) => {
            if let Some(h) = handle(w, i) {
                let p = h.is_empty();
                add(w, Read::Bool(p));
            }
        }
        Act::Cancel(k) => {
            // Cancel without holding the borrow: take the promise out temporarily.
            let r = {
                let w = w.borrow();
                let n = w.reads.len();
                if n == 0 {
                    None
                } else {
                    Some(k % n)
                }
            };
            if let Some(k) = r {
                let p = clone_read(&w.borrow().reads[k]);
                if let Some(p) = p {
                    p.cancel();
                }
            }
        }
        Act::CancelLast => {
            let p = w.borrow().reads.last().and_then(clone_read);
            if let Some(p) = p {
                p.cancel();
            }
        }
        Act::Push(x) => {
            let (p, b) = {
                let w = w.borrow();
                (w.push.clone(), w.bpush.is_some())
            };
            if let Some(p) = p {
                let _ = p.push(x);
            } else if b {
                // BoundedPush is not Clone: take it out while pushing.
                let bp = w.borrow_mut().bpush.take();
                if let Some(bp) = bp {
                    let pr = bp.push(x);
                    w.borrow_mut().bpush = Some(bp);
                    add(w, Read::Unit(pr));
                }
            } else {
                let r = w.borrow_mut().from_rs.pop_front();
                if let Some(r) = r {
                    r.wakeup(Some(x));
                }
            }
        }
        Act::Close => {
            let p = w.borrow_mut().push.take();
            if let Some(p) = p {
                p.close();
            }
            let bp = w.borrow_mut().bpush.take();
            if let Some(bp) = bp {
                bp.close();
            }
        }
        Act::Panic => return true,
        Act::GetSource => {
            let s = w.borrow().source.clone();
            if let Some(s) = s {
                let p = s.get();
                add(w, Read::One(p));
            }
        }
    }
    false
}

fn clone_read(r: &Read) -> Option<Read> {
    Some(match r {
        Read::One(p) => Read::One(p.clone()),
        Read::Many(p) => Read::Many(p.clone()),
        Read::Sum(p) => Read::Sum(p.clone()),
        Read::Unit(p) => Read::Unit(p.clone()),
        Read::Bool(p) => Read::Bool(p.clone()),
        Read::Now(_) => return None,
    })
}

fn step(w: &W, level: usize, x: i64) -> bool {
    let a = w.borrow_mut().scripts[level].pop_front();
    w.borrow_mut().log.push(format!("f{level}({x}) {a:?}"));
    match a {
        Some(a) => act(w, &a),
        None => false,
    }
}

fn build(kind: SrcKind, depth: usize) -> W {
    let w: W = Rc::new(RefCell::new(World::default()));
    let s = match kind {
        SrcKind::Push => {
            let (s, p) = stream::create::<i64>();
            w.borrow_mut().push = Some(p);
            s
        }
        SrcKind::Bounded(n) => {
            let (s, p) = stream::create_bounded::<i64>(n);
            w.borrow_mut().bpush = Some(p);
            s
        }
        SrcKind::From => {
            let w2 = Rc::downgrade(&w);
            stream::from(move || {
                let (p, r) = wait();
                if let Some(w) = w2.upgrade() {
                    w.borrow_mut().from_rs.push_back(r);
                }
                p
            })
        }
    };
    w.borrow_mut().source = Some(Rc::new(s.clone()));
    let w1 = w.clone();
    let d1 = s.filter_map(move |x| {
        if step(&w1, 0, x) {
            panic!("scripted panic");
        }
        (x % 5 != 4).then_some(x * 2)
    });
    let mut handles = vec![];
    if depth >= 2 {
        let w2 = w.clone();
        let d2 = d1.clone().map(move |x| {
            if step(&w2, 1, x) {
                panic!("scripted panic");
            }
            x + 1
        });
        handles.push(Some(Rc::new(d1)));
        handles.push(Some(Rc::new(d2)));
    } else {
        handles.push(Some(Rc::new(d1)));
    }
    w.borrow_mut().handles = handles;
    w
}

fn gen_act(r: &mut Rng) -> Act {
    let i = r.below(4) as usize;
    match r.below(24) {
        0 | 1 => Act::Clone(i),
        2 => Act::Drop(i),
        3..=5 => Act::Get(i),
        6..=8 => Act::Find(i),
        9 => Act::Fold(i),
        10 => Act::NGet(i, r.below(4) as usize),
        11 => Act::Peek(i),
        12 | 13 => Act::GetWhile(i, r.below(40) as i64),
        14 => Act::Parse(i, r.below(2) == 0),
        15 => Act::Avail(i),
        16 => Act::IsEmpty(i),
        17 => Act::Cancel(r.below(64) as usize),
        18 => Act::CancelLast,
        19 | 20 => Act::Push(r.below(30) as i64),
        21 => Act::Close,
        22 => Act::Panic,
        _ => Act::GetSource,
    }
}

fn gen_op(r: &mut Rng, kind: SrcKind) -> Op {
    match r.below(20) {
        0..=9 => Op::Act(gen_act(r)),
        10..=14 => Op::Script(r.below(2) as usize, gen_act(r)),
        15..=17 if kind == SrcKind::From => Op::ResolveFrom(Some(r.below(30) as i64)),
        18 if kind == SrcKind::From => {
            if r.below(4) == 0 {
                Op::FailFrom
            } else {
                Op::ResolveFrom(None)
            }
        }
        15..=18 => Op::Act(Act::Push(r.below(30) as i64)),
        _ => Op::Nop,
    }
}

fn observe(w: &W, out: &mut Vec<String>) {
    let w = w.borrow();
    let reads: Vec<String> = w.reads.iter().map(Read::show).collect();
    let hs: Vec<String> = w
        .handles
        .iter()
        .map(|h| match h {
            Some(h) => format!("{}/{}/{}", h.is_closed(), h.buffered(), h.waiting_reads()),
            None => "-".into(),
        })
        .collect();
    let reads: Vec<String> = reads
        .iter()
        .zip(&w.labels)
        .enumerate()
        .map(|(i, (r, l))| format!("{i}:{l}={r}"))
        .collect();
    out.push(format!("reads={reads:?} hs={hs:?} log={:?}", w.log));
}

fn apply(w: &W, op: &Op) {
    match op {
        Op::Act(a) => {
            act(w, a);
        }
        Op::Script(l, a) => w.borrow_mut().scripts[*l].push_back(a.clone()),
        Op::ResolveFrom(v) => {
            let r = w.borrow_mut().from_rs.pop_front();
            if let Some(r) = r {
                r.wakeup(*v);
            }
        }
        Op::FailFrom => {
            let r = w.borrow_mut().from_rs.pop_front();
            if let Some(r) = r {
                r.wakeup_exn(lwt_core::Failure("from fails".into()));
            }
        }
        Op::Nop => {}
    }
}

/// Closes the source for good, then checks liveness: returns the reads still pending.
fn finish(w: &W, out: &mut Vec<String>) -> Vec<usize> {
    w.borrow_mut().scripts = Default::default();
    act(w, &Act::Close);
    for _ in 0..50 {
        let r = w.borrow_mut().from_rs.pop_front();
        match r {
            Some(r) => r.wakeup(None),
            None => break,
        }
    }
    observe(w, out);
    let w = w.borrow();
    w.reads
        .iter()
        .enumerate()
        .filter(|(_, r)| r.pending())
        .map(|(i, _)| i)
        .collect()
}

/// Runs a case: `Err` names the reads still pending once the source is closed.
fn run(&(kind, depth): &(SrcKind, usize), ops: &[Op], trace: bool) -> Result<usize, String> {
    let w = build(kind, depth);
    let mut out = Vec::new();
    for op in ops {
        apply(&w, op);
        observe(&w, &mut out);
        if trace {
            eprintln!("{op:?}\n    {}", out.last().unwrap());
        }
    }
    let pending = finish(&w, &mut out);
    // The world holds the handles, and the steps hold the world: break the cycle.
    {
        let mut w = w.borrow_mut();
        w.handles.clear();
        w.source = None;
    }
    if !pending.is_empty() {
        return Err(format!(
            "reads {pending:?} still pending after the source closed\nlast = {}",
            out.last().unwrap()
        ));
    }
    Ok(ops.len())
}

/// A case: the source, how many links over it, and the operations.
fn gen(r: &mut Rng) -> ((SrcKind, usize), Vec<Op>) {
    let kind = match r.below(4) {
        0 | 1 => SrcKind::Push,
        2 => SrcKind::Bounded(r.below(3) as usize),
        _ => SrcKind::From,
    };
    let depth = 1 + r.below(2) as usize;
    let n = 1 + r.below(60) as usize;
    ((kind, depth), (0..n).map(|_| gen_op(r, kind)).collect())
}

#[test]
fn every_read_resolves_once_the_source_is_closed() {
    run_cases("LIVENESS", 3000, gen, run);
}
