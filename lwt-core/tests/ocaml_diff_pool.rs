//! A differential test of [`Pool`] against real OCaml Lwt 5.6.1's `Lwt_pool`, built like
//! `ocaml_diff_sync.rs`: random straight-line programs over one pool of `i64` elements and a
//! pool of `i64` promises run on `lwt-core` (interpreted here, in process) and on Lwt
//! (`tests/ocaml/lwt_diff_pool.ml`, compiled once per test process), and must agree on the state
//! of every promise after every operation (pending, fulfilled with which value, rejected with
//! `Canceled` or which numbered failure), on what every `wait_queue_length` saw, and on which
//! callbacks of the pool ran in each operation, with which element, in which order.
//!
//! The vocabulary (the program format is described in `lwt_diff_pool.ml`): `create` with a
//! bound of 1 to 3 and `validate`, `check` and `dispose` callbacks; `use` (whose body returns
//! its element's number, fails, or returns a `wait()` promise woken up later); `clear`;
//! `wait_queue_length`; `wait`, `wakeup`, `wakeup_exn` and `cancel` of any promise. How the
//! callbacks behave changes during a program: `create` returns the next number, fails, or
//! returns a *callback promise* that a later operation resolves (with an element, or a
//! failure); so do `validate` (true, false, failing) and `dispose`; `check` says yes or no at
//! once, fails, or answers later through a callback promise (yes, no, or a rejection).
//!
//! A late `check` is compared with what Lwt can do. [`Pool::with_check`]'s callback returns a
//! promise, which the pool waits for; Lwt's `check` gets a continuation and reads it as soon as
//! `check` returns, so one called later is ignored and the element disposed of at once (a
//! difference in the `pool` module docs, pinned by
//! `a_late_check_is_ignored_and_its_element_disposed_in_lwt`). The OCaml side holds the use's
//! failure back instead, until the operation that answers the check here, and then gives Lwt's
//! `check` that answer at once (`lwt_diff_pool.ml`, "A late check"): the crate must treat a late
//! answer as Lwt treats the same answer to a use that fails at that moment.
//!
//! Not compared, because the crate differs there on purpose (the `pool` module docs): see
//! [`cuts`] for what each difference may decide.
//!
//! When `ocamlfind` or the `lwt` package is missing, the test prints a skip message and passes.
//! `OCAML_DIFF_POOL_CASES` (default 6000, a second or two), `OCAML_DIFF_POOL_SEED` (default 1)
//! and `OCAML_DIFF_POOL_MAX_OPS` (the longest program, default 30 operations) set the run;
//! `OCAML_DIFF_POOL_KEEP_GOING=1` reports every failing case (shrunk) instead of stopping at the
//! first; `OCAML_DIFF_POOL_CASE=<n>` only prints case `n`. A failure prints the shrunk program
//! in `lwt_diff_pool.ml`'s format, which can be fed to the compiled interpreter
//! (`target/tmp/lwt_diff_pool/lwt_diff_pool`) by hand.
//! Run: `cargo test -p lwt-core --test ocaml_diff_pool -- --nocapture`.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;
#[path = "support/slot_state.rs"]
mod slot_state;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use fuzz::{env, Rng};
use lwt_core::pool::Pool;
use lwt_core::{wait, Exn, Failure, Promise, Resolver, State};
use slot_state::{parse_st, st_text, St};

// ------------------------------------------------------------------------------------------------
// Programs
// ------------------------------------------------------------------------------------------------

/// How `create` behaves: the next number, a failure, or a callback promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Make {
    Ready,
    Fail(u32),
    Wait,
}

/// How `validate` behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Valid {
    Yes,
    No,
    Fail(u32),
    Wait,
}

/// How `check` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checks {
    /// At once.
    Now(bool),
    /// Later: a callback promise (keep the element if resolved with an even number).
    Wait,
    /// `check` itself fails (raises, in Lwt): cut, see [`cuts`].
    Fail(u32),
}

/// What a `use` body returns: its element's number `* 100 + x`, a failure, or a fresh `wait()`
/// promise stored in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Val(i64),
    Fail(u32),
    Fresh(usize),
}

/// One operation; `d` is the slot the result goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    NewPool(usize),
    ModeCreate(Make),
    ModeValidate(Valid),
    ModeCheck(Checks),
    /// `dispose`: `Ready` returns `()`, `Fail` fails, `Wait` a callback promise.
    ModeDispose(Make),
    Use(usize, u32, Body),
    Clear(usize),
    WaitQueue,
    /// Resolves the `j`-th oldest callback promise still pending: with the value (`create`: the
    /// element; `validate`: valid if even; `dispose`: `()`), or with that failure.
    CbWake(usize, Result<i64, u32>),
    Wait(usize),
    Wakeup(usize, i64),
    WakeupExn(usize, u32),
    Cancel(usize),
}

#[derive(Clone, Debug)]
struct Prog {
    slots: usize,
    ops: Vec<Op>,
}

fn op_text(op: &Op) -> String {
    let make = |m: Make| match m {
        Make::Ready => "r".to_string(),
        Make::Fail(n) => format!("x {n}"),
        Make::Wait => "w".to_string(),
    };
    match *op {
        Op::NewPool(m) => format!("NP {m}"),
        Op::ModeCreate(Make::Fail(n)) => format!("MC f {n}"),
        Op::ModeCreate(m) => format!("MC {}", make(m)),
        Op::ModeValidate(Valid::Yes) => "MV t".into(),
        Op::ModeValidate(Valid::No) => "MV f".into(),
        Op::ModeValidate(Valid::Fail(n)) => format!("MV x {n}"),
        Op::ModeValidate(Valid::Wait) => "MV w".into(),
        Op::ModeCheck(Checks::Now(b)) => format!("MK {}", if b { "t" } else { "f" }),
        Op::ModeCheck(Checks::Wait) => "MK w".into(),
        Op::ModeCheck(Checks::Fail(n)) => format!("MK x {n}"),
        Op::ModeDispose(m) => format!("MD {}", make(m)),
        Op::Use(d, l, Body::Val(x)) => format!("US {d} {l} v {x}"),
        Op::Use(d, l, Body::Fail(n)) => format!("US {d} {l} f {n}"),
        Op::Use(d, l, Body::Fresh(e)) => format!("US {d} {l} w {e}"),
        Op::Clear(d) => format!("CL {d}"),
        Op::WaitQueue => "WQ".into(),
        Op::CbWake(j, Ok(v)) => format!("CR {j} {v}"),
        Op::CbWake(j, Err(n)) => format!("CF {j} {n}"),
        Op::Wait(d) => format!("W {d}"),
        Op::Wakeup(s, v) => format!("WU {s} {v}"),
        Op::WakeupExn(s, n) => format!("WE {s} {n}"),
        Op::Cancel(s) => format!("X {s}"),
    }
}

fn prog_text(p: &Prog) -> String {
    let mut s = format!("prog {}\n", p.slots);
    for op in &p.ops {
        s.push_str(&op_text(op));
        s.push('\n');
    }
    s.push_str("end\n");
    s
}

// ------------------------------------------------------------------------------------------------
// The generator
// ------------------------------------------------------------------------------------------------

struct Gen<'a> {
    rng: &'a mut Rng,
    slots: usize,
    /// `wait()` slots not woken yet.
    resolvable: Vec<usize>,
    label: u32,
}

impl Gen<'_> {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn value(&mut self) -> i64 {
        self.below(100) as i64
    }

    fn exn(&mut self) -> u32 {
        1 + self.below(9) as u32
    }

    fn new_slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    fn make(&mut self) -> Make {
        match self.below(4) {
            0 => Make::Fail(self.exn()),
            1 => Make::Wait,
            _ => Make::Ready,
        }
    }

    fn checks(&mut self) -> Checks {
        match self.below(8) {
            0..=2 => Checks::Wait,
            3 => Checks::Fail(self.exn()),
            k => Checks::Now(k % 2 == 0),
        }
    }

    fn op(&mut self) -> Op {
        let k = self.below(100);
        if k < 10 && !self.resolvable.is_empty() {
            let i = self.below(self.resolvable.len() as u64) as usize;
            let s = self.resolvable.remove(i);
            return if self.below(4) == 0 {
                Op::WakeupExn(s, self.exn())
            } else {
                Op::Wakeup(s, self.value())
            };
        }
        if k < 16 && self.slots > 0 {
            let n = self.slots as u64;
            return Op::Cancel((n - 1 - self.below(n.min(4))) as usize);
        }
        match k {
            16..=25 => match self.below(4) {
                0 => Op::ModeCreate(self.make()),
                1 => Op::ModeValidate(match self.below(5) {
                    0 => Valid::No,
                    1 => Valid::Fail(self.exn()),
                    2 => Valid::Wait,
                    _ => Valid::Yes,
                }),
                2 => Op::ModeCheck(self.checks()),
                _ => Op::ModeDispose(self.make()),
            },
            26..=55 => {
                self.label += 1;
                let body = match self.below(5) {
                    0..=1 => Body::Val(self.value()),
                    2 => Body::Fail(self.exn()),
                    _ => {
                        let e = self.new_slot();
                        self.resolvable.push(e);
                        Body::Fresh(e)
                    }
                };
                Op::Use(self.new_slot(), self.label, body)
            }
            56..=60 => Op::Clear(self.new_slot()),
            61..=66 => Op::WaitQueue,
            67..=95 => {
                let j = usize::from(self.below(4) == 0);
                if self.below(5) == 0 {
                    Op::CbWake(j, Err(self.exn()))
                } else {
                    Op::CbWake(j, Ok(self.value()))
                }
            }
            _ => {
                let d = self.new_slot();
                self.resolvable.push(d);
                Op::Wait(d)
            }
        }
    }
}

/// A program: the pool, then 3 to `max_ops` operations.
fn generate(rng: &mut Rng, max_ops: u64) -> Prog {
    let len = 3 + rng.below(max_ops.max(3) - 2) as usize;
    let mut g = Gen {
        rng,
        slots: 0,
        resolvable: Vec::new(),
        label: 0,
    };
    let mut ops = vec![Op::NewPool(1 + g.below(3) as usize)];
    // `check` is only asked after a use that failed: half the programs start with a mode.
    if g.below(2) == 0 {
        ops.push(Op::ModeCheck(g.checks()));
    }
    for _ in 0..len {
        let op = g.op();
        ops.push(op);
    }
    Prog {
        slots: g.slots,
        ops,
    }
}

// ------------------------------------------------------------------------------------------------
// Outcomes
// ------------------------------------------------------------------------------------------------

fn exn_text(e: &Exn) -> String {
    if e.is_canceled() {
        "C".into()
    } else if let Some(n) = e
        .downcast_ref::<Failure>()
        .and_then(|f| f.0.parse::<u32>().ok())
    {
        n.to_string()
    } else {
        format!("?{}", e.to_string().replace([' ', '\n'], "_"))
    }
}

/// What one side reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Report {
    /// The states of every slot after each operation.
    steps: Vec<Vec<St>>,
    /// What each `wait_queue_length` saw.
    queries: Vec<(usize, String)>,
    /// The callbacks of the pool that ran: operation, what.
    calls: Vec<(usize, String)>,
    escaped: Option<String>,
    /// How many uses wait for an element before and after each operation (the crate's side).
    waiting: Vec<(usize, usize)>,
    /// The operations in which a `dispose` failed, or a `clear` came while a `create` or a
    /// `validate` waited (the crate's side; see [`cuts`]).
    cut_at: Vec<usize>,
    /// The operations that answered a late `check` (the crate's side), for the figures.
    answered: Vec<usize>,
}

// ------------------------------------------------------------------------------------------------
// The crate's side
// ------------------------------------------------------------------------------------------------

/// A callback promise, with how its value is read.
enum Cb {
    Create(Resolver<i64>),
    Validate(Resolver<bool>),
    Dispose(Resolver<()>),
    Check(Resolver<bool>),
}

struct World {
    slots: Vec<Option<Promise<i64>>>,
    resolvers: Vec<Option<Resolver<i64>>>,
    pool: Option<Pool<i64>>,
    cur: usize,
    queries: Vec<(usize, String)>,
    calls: Vec<(usize, String)>,
    cbs: Vec<Option<Cb>>,
    create: Make,
    validate: Valid,
    check: Checks,
    dispose: Make,
    created: i64,
    cut_at: Vec<usize>,
    answered: Vec<usize>,
}

/// The world, shared with the pool's callbacks. No borrow of it is held while the crate runs.
#[derive(Clone)]
struct Real(Rc<RefCell<World>>);

impl Real {
    fn call(&self, what: String) {
        let mut w = self.0.borrow_mut();
        let k = w.cur;
        w.calls.push((k, what));
    }

    fn fresh(&self, d: usize) -> Promise<i64> {
        let (p, r) = wait();
        let mut w = self.0.borrow_mut();
        if d < w.resolvers.len() {
            w.slots[d] = Some(p.clone());
            w.resolvers[d] = Some(r);
        }
        p
    }

    fn create(&self) -> Promise<i64> {
        self.call("create".into());
        let mut w = self.0.borrow_mut();
        match w.create {
            Make::Ready => {
                w.created += 1;
                Promise::ret(w.created)
            }
            Make::Fail(n) => Promise::fail_with(n.to_string()),
            Make::Wait => {
                let (p, r) = wait();
                w.cbs.push(Some(Cb::Create(r)));
                p
            }
        }
    }

    fn validate(&self, e: i64) -> Promise<bool> {
        self.call(format!("validate {e}"));
        let mut w = self.0.borrow_mut();
        match w.validate {
            Valid::Yes => Promise::ret(true),
            Valid::No => Promise::ret(false),
            Valid::Fail(n) => Promise::fail_with(n.to_string()),
            Valid::Wait => {
                let (p, r) = wait();
                w.cbs.push(Some(Cb::Validate(r)));
                p
            }
        }
    }

    fn check(&self, e: i64) -> Promise<bool> {
        self.call(format!("check {e}"));
        let mut w = self.0.borrow_mut();
        match w.check {
            Checks::Now(b) => Promise::ret(b),
            Checks::Wait => {
                let (p, r) = wait();
                w.cbs.push(Some(Cb::Check(r)));
                p
            }
            Checks::Fail(n) => {
                let k = w.cur;
                w.cut_at.push(k);
                Promise::fail_with(n.to_string())
            }
        }
    }

    fn dispose(&self, e: i64) -> Promise<()> {
        self.call(format!("dispose {e}"));
        let mut w = self.0.borrow_mut();
        match w.dispose {
            Make::Ready => Promise::ret(()),
            Make::Fail(n) => {
                let k = w.cur;
                w.cut_at.push(k);
                Promise::fail_with(n.to_string())
            }
            Make::Wait => {
                let (p, r) = wait();
                w.cbs.push(Some(Cb::Dispose(r)));
                p
            }
        }
    }

    fn body(&self, l: u32, b: Body, e: i64) -> Promise<i64> {
        self.call(format!("use {l} {e}"));
        match b {
            Body::Val(x) => Promise::ret(e * 100 + x),
            Body::Fail(n) => Promise::fail_with(n.to_string()),
            Body::Fresh(d) => self.fresh(d),
        }
    }

    fn op(&self, k: usize, op: &Op) {
        let pool = self.0.borrow().pool.clone();
        match *op {
            Op::NewPool(m) => {
                let (a, b, c, d) = (self.clone(), self.clone(), self.clone(), self.clone());
                let pool = Pool::new(m, move || a.create())
                    .with_validate(move |e| b.validate(*e))
                    .with_check(move |e, _| c.check(*e))
                    .with_dispose(move |e| d.dispose(*e));
                self.0.borrow_mut().pool = Some(pool);
            }
            Op::ModeCreate(m) => self.0.borrow_mut().create = m,
            Op::ModeValidate(v) => self.0.borrow_mut().validate = v,
            Op::ModeCheck(c) => self.0.borrow_mut().check = c,
            Op::ModeDispose(m) => self.0.borrow_mut().dispose = m,
            Op::Use(d, l, b) => {
                if let Some(pool) = pool {
                    let me = self.clone();
                    let p = pool.use_(move |e| me.body(l, b, *e));
                    self.0.borrow_mut().slots[d] = Some(p);
                }
            }
            Op::Clear(d) => {
                let mut w = self.0.borrow_mut();
                let busy = w
                    .cbs
                    .iter()
                    .any(|c| matches!(c, Some(Cb::Create(_) | Cb::Validate(_))));
                if busy {
                    w.cut_at.push(k);
                }
                drop(w);
                if let Some(pool) = pool {
                    let p = pool.clear().map(|()| 0);
                    self.0.borrow_mut().slots[d] = Some(p);
                }
            }
            Op::WaitQueue => {
                if let Some(pool) = pool {
                    let n = pool.wait_queue_length();
                    self.0.borrow_mut().queries.push((k, n.to_string()));
                }
            }
            Op::CbWake(j, r) => {
                let cb = {
                    let mut w = self.0.borrow_mut();
                    w.cbs
                        .iter_mut()
                        .filter(|c| c.is_some())
                        .nth(j)
                        .and_then(Option::take)
                };
                let fail = |n: u32| Exn::failure(n.to_string());
                match (cb, r) {
                    (None, _) => {}
                    (Some(Cb::Create(u)), Ok(v)) => u.wakeup(v),
                    (Some(Cb::Validate(u)), Ok(v)) => u.wakeup(v % 2 == 0),
                    (Some(Cb::Dispose(u)), Ok(_)) => u.wakeup(()),
                    (Some(Cb::Check(u)), r) => {
                        self.0.borrow_mut().answered.push(k);
                        match r {
                            Ok(v) => u.wakeup(v % 2 == 0),
                            Err(n) => u.wakeup_exn(fail(n)),
                        }
                    }
                    (Some(Cb::Create(u)), Err(n)) => u.wakeup_exn(fail(n)),
                    (Some(Cb::Validate(u)), Err(n)) => u.wakeup_exn(fail(n)),
                    (Some(Cb::Dispose(u)), Err(n)) => {
                        self.0.borrow_mut().cut_at.push(k);
                        u.wakeup_exn(fail(n))
                    }
                }
            }
            Op::Wait(d) => drop(self.fresh(d)),
            Op::Wakeup(s, v) => {
                let r = self.0.borrow_mut().resolvers[s].take();
                if let Some(r) = r {
                    r.wakeup(v);
                }
            }
            Op::WakeupExn(s, n) => {
                let r = self.0.borrow_mut().resolvers[s].take();
                if let Some(r) = r {
                    r.wakeup_exn(Exn::failure(n.to_string()));
                }
            }
            Op::Cancel(s) => {
                let p = self.0.borrow().slots[s].clone();
                if let Some(p) = p {
                    p.cancel();
                }
            }
        }
    }

    fn states(&self) -> Vec<St> {
        let w = self.0.borrow();
        w.slots
            .iter()
            .map(|p| match p.as_ref().map(Promise::state) {
                None => St::Absent,
                Some(State::Pending) => St::Pending,
                Some(State::Fulfilled(v)) => St::Ful(v),
                Some(State::Rejected(e)) => St::Rej(exn_text(&e)),
            })
            .collect()
    }
}

/// Runs a program on the crate.
fn run_crate(p: &Prog) -> Report {
    let real = Real(Rc::new(RefCell::new(World {
        slots: vec![None; p.slots],
        resolvers: (0..p.slots).map(|_| None).collect(),
        pool: None,
        cur: 0,
        queries: Vec::new(),
        calls: Vec::new(),
        cbs: Vec::new(),
        create: Make::Ready,
        validate: Valid::Yes,
        check: Checks::Now(true),
        dispose: Make::Ready,
        created: 0,
        cut_at: Vec::new(),
        answered: Vec::new(),
    })));
    let mut steps = Vec::new();
    let mut waiting = Vec::new();
    let queue = |real: &Real| {
        let pool = real.0.borrow().pool.clone();
        pool.map_or(0, |p| p.wait_queue_length())
    };
    for (k, op) in p.ops.iter().enumerate() {
        real.0.borrow_mut().cur = k;
        let before = queue(&real);
        real.op(k, op);
        steps.push(real.states());
        waiting.push((before, queue(&real)));
    }
    let report = {
        let w = real.0.borrow();
        Report {
            steps,
            queries: w.queries.clone(),
            calls: w.calls.clone(),
            escaped: None,
            waiting,
            cut_at: w.cut_at.clone(),
            answered: w.answered.clone(),
        }
    };
    // Resolvers are dropped only now, after the states were read (dropping one rejects with
    // `Abandoned`, a deliberate difference from Lwt). Dropping the pool and the resolvers breaks
    // the cycles through the callbacks; what they run then is not recorded.
    let (pool, resolvers, cbs) = {
        let mut w = real.0.borrow_mut();
        w.cur = usize::MAX;
        (
            w.pool.take(),
            std::mem::take(&mut w.resolvers),
            std::mem::take(&mut w.cbs),
        )
    };
    drop((pool, resolvers, cbs));
    real.0.borrow_mut().slots.clear();
    report
}

// ------------------------------------------------------------------------------------------------
// Cuts: what a deliberate difference may decide
// ------------------------------------------------------------------------------------------------

/// From which operation on the comparison stops (`usize::MAX`: never); see the module docs.
///
/// * A slot freed by a disposed element or a failed creation goes to the first waiting use
///   here (a new element is made for it); Lwt leaves that use waiting (the `pool` module
///   docs): cut from an operation that made an element while the queue of waiting uses got
///   shorter (which also cuts some operations where Lwt did the same: a use whose `validate`
///   said no gets a new element on both sides);
/// * `clear` disposes of the idle elements all at once here, oldest first; Lwt one after
///   another (the next once the previous `dispose` resolved, none after one that failed),
///   most recently released first (`clear_disposes_one_by_one_newest_first_in_lwt`). The
///   callbacks of a `clear` are compared as a set; when it disposes of two elements or more
///   while `dispose` fails or waits, the program is cut from the `clear` on;
/// * a failed `dispose` frees its element's slot here; in Lwt the slot stays taken for ever
///   (`a_failed_dispose_keeps_its_slot_in_lwt`): cut from the failure on;
/// * an element whose `create` or `validate` was running when `clear` came is disposed of
///   after its use here; Lwt keeps it (`an_element_made_during_a_clear_is_kept_in_lwt`): cut
///   from the `clear` on;
/// * a `check` that fails disposes of its element here, and the use is rejected with its own
///   error; in Lwt the exception escapes `use` (or rejects it with the check's exception, when
///   the use failed later) and the element's slot stays taken for ever
///   (`a_raising_check_keeps_its_slot_in_lwt`): cut from the call of that `check` on.
fn cuts(p: &Prog, ours: &Report) -> usize {
    let mut dispose = Make::Ready;
    for (k, op) in p.ops.iter().enumerate() {
        if ours.cut_at.contains(&k) {
            return k;
        }
        let made = ours.calls.iter().any(|(j, c)| *j == k && c == "create");
        let (before, after) = ours.waiting[k];
        if made && after < before {
            return k;
        }
        match *op {
            Op::ModeDispose(m) => dispose = m,
            Op::Clear(_) if dispose != Make::Ready => {
                let n = ours
                    .calls
                    .iter()
                    .filter(|(j, c)| *j == k && c.starts_with("dispose"))
                    .count();
                if n >= 2 {
                    return k;
                }
            }
            _ => {}
        }
    }
    usize::MAX
}

// ------------------------------------------------------------------------------------------------
// The OCaml side
// ------------------------------------------------------------------------------------------------

/// Runs programs on Lwt, one process for all of them.
fn run_ocaml(exe: &Path, progs: &[&Prog]) -> Vec<Report> {
    let input: String = progs.iter().map(|p| prog_text(p)).collect();
    let text = ocaml::run(exe, input).unwrap_or_else(|failed| panic!("lwt_diff_pool: {failed}"));
    let mut reports = Vec::new();
    let mut r = Report::default();
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        match w[0] {
            "T" => r.steps.push(
                w[1..]
                    .iter()
                    .map(|s| {
                        let mut parts = s.split(':');
                        parse_st(parts.next().unwrap(), parts.next())
                    })
                    .collect(),
            ),
            "Q" => r.queries.push((w[1].parse().unwrap(), w[2..].join(" "))),
            "K" => r.calls.push((w[1].parse().unwrap(), w[2..].join(" "))),
            "E" => r.escaped = Some(w[1..].join(" ")),
            "done" => reports.push(std::mem::take(&mut r)),
            _ => panic!("lwt_diff_pool: unexpected line {line:?}"),
        }
    }
    assert_eq!(
        reports.len(),
        progs.len(),
        "lwt_diff_pool: a report per program"
    );
    reports
}

// ------------------------------------------------------------------------------------------------
// The comparison
// ------------------------------------------------------------------------------------------------

fn compare(p: &Prog, ours: &Report, lwt: &Report) -> Result<(), String> {
    let cut = cuts(p, ours);
    let mut diffs = String::new();
    // The operation an exception escaped from is the one after the last state Lwt printed. A
    // `check` that raises escapes `use` in Lwt, past the cut (see [`cuts`]).
    let escaped_at = lwt.steps.len();
    if let Some(e) = lwt.escaped.as_ref().filter(|_| escaped_at < cut) {
        writeln!(
            diffs,
            "an exception escaped on Lwt at operation {escaped_at}: {e}"
        )
        .unwrap();
    }
    for i in 0..p.slots {
        let first = ours
            .steps
            .iter()
            .zip(&lwt.steps)
            .enumerate()
            .find(|(k, (a, b))| *k < cut && a[i] != b[i]);
        if let Some((k, (a, b))) = first {
            writeln!(
                diffs,
                "slot {i} after operation {k} ({}): lwt-core {}, Lwt {}",
                op_text(&p.ops[k]),
                st_text(&a[i]),
                st_text(&b[i])
            )
            .unwrap();
        }
    }
    let before = |v: &[(usize, String)]| -> Vec<(usize, String)> {
        v.iter().filter(|(k, _)| *k < cut).cloned().collect()
    };
    // The callbacks a `clear` runs, as a set (see [`cuts`]).
    let calls = |r: &Report| -> Vec<(usize, String)> {
        let mut v = before(&r.calls);
        v.sort_by_key(|(k, c)| (*k, matches!(p.ops[*k], Op::Clear(_)).then(|| c.clone())));
        v
    };
    for (what, a, b) in [
        ("query", before(&ours.queries), before(&lwt.queries)),
        ("callback", calls(ours), calls(lwt)),
    ] {
        if a != b {
            let k = a.iter().zip(&b).position(|(x, y)| x != y);
            let k = k.unwrap_or(a.len().min(b.len()));
            let (x, y) = (a.get(k), b.get(k));
            let at = x.or(y).map_or(0, |c| c.0);
            writeln!(
                diffs,
                "{what} at operation {at} ({}): lwt-core {:?}, Lwt {:?}",
                op_text(&p.ops[at]),
                x.map(|c| &c.1),
                y.map(|c| &c.1)
            )
            .unwrap();
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

fn check_one(exe: &Path, p: &Prog) -> Result<(), String> {
    let ours = run_crate(p);
    let lwt = run_ocaml(exe, &[p]).pop().unwrap();
    compare(p, &ours, &lwt)
}

fn shrink(exe: &Path, p: Prog) -> (Prog, String) {
    let slots = p.slots;
    let rebuild = |ops: &[Op]| Prog {
        slots,
        ops: ops.to_vec(),
    };
    let (ops, why) = ocaml::shrink_explained(p.ops, |ops| check_one(exe, &rebuild(ops)));
    (rebuild(&ops), why)
}

#[test]
fn pool_programs_agree_with_ocaml_lwt() {
    let Some(exe) = ocaml::interpreter("lwt_diff_pool", "lwt") else {
        eprintln!(
            "ocaml_diff_pool: SKIPPED: `ocamlfind query lwt` failed (OCaml and Lwt are needed)"
        );
        return;
    };
    let cases = env("OCAML_DIFF_POOL_CASES", 6000);
    let seed = env("OCAML_DIFF_POOL_SEED", 1);
    let max_ops = env("OCAML_DIFF_POOL_MAX_OPS", 30);
    let keep_going = env("OCAML_DIFF_POOL_KEEP_GOING", 0) != 0;
    if let Ok(case) = std::env::var("OCAML_DIFF_POOL_CASE") {
        let p = generate(&mut Rng::for_case(seed, case.parse().unwrap()), max_ops);
        eprint!("{}", prog_text(&p));
        return;
    }
    let mut failures = Vec::new();
    let (mut steps, mut cut_steps, mut calls, mut late) = (0usize, 0usize, 0usize, 0usize);
    let chunk = 500;
    'chunks: for start in (0..cases).step_by(chunk as usize) {
        let progs: Vec<Prog> = (start..cases.min(start + chunk))
            .map(|c| generate(&mut Rng::for_case(seed, c), max_ops))
            .collect();
        let refs: Vec<&Prog> = progs.iter().collect();
        let lwt = run_ocaml(&exe, &refs);
        for (j, (p, lwt)) in progs.iter().zip(&lwt).enumerate() {
            let case = start + j as u64;
            let ours = run_crate(p);
            let cut = cuts(p, &ours).min(p.ops.len());
            steps += cut;
            cut_steps += p.ops.len() - cut;
            calls += ours.calls.iter().filter(|(k, _)| *k < cut).count();
            late += ours.answered.iter().filter(|k| **k < cut).count();
            if let Err(e) = compare(p, &ours, lwt) {
                let (small, why) = shrink(&exe, p.clone());
                failures.push(ocaml::differing_case(
                    "ocaml_diff_pool",
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
        "ocaml_diff_pool: {cases} cases from seed {seed}: {steps} operations compared, \
         {cut_steps} cut, {calls} callback calls compared ({late} late checks answered), \
         {} differing",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// What the comparison found
// ------------------------------------------------------------------------------------------------
//
// Besides the slot a disposed element or a failed creation frees, which goes to a waiting use
// here (already in the `pool` module docs), five differences the `pool` module keeps on purpose
// (its docs): four cut by [`cuts`], and the late `check`, which the OCaml side turns into what
// Lwt can do (the module docs above). These tests assert what Lwt 5.6.1 does (checked with
// `lwt_diff_pool.ml` and `pool_check_raises.ml`), so they fail here: run them with `--ignored`
// to see the difference.

/// `NP 2; US 0 1 v 1; US 1 2 w 2` then ... `CL`: with elements 1 and 2 idle (2 released last),
/// Lwt's `clear` disposes of 2 first, and of 1 only once that `dispose` resolved; here both at
/// once, oldest first.
#[test]
#[ignore = "differs from Lwt on purpose: clear disposes of the idle elements at once"]
fn clear_disposes_one_by_one_newest_first_in_lwt() {
    let seen: Rc<RefCell<Vec<i64>>> = Rc::default();
    let s = seen.clone();
    let next = Rc::new(std::cell::Cell::new(0));
    let pool = Pool::new(2, move || {
        next.set(next.get() + 1);
        Promise::ret(next.get())
    })
    .with_dispose(move |e| {
        s.borrow_mut().push(*e);
        wait().0
    });
    let (held, r) = wait::<i64>();
    let a = pool.use_(move |_| held);
    let b = pool.use_(|e| Promise::ret(*e));
    r.wakeup(0);
    assert!(a.is_fulfilled() && b.is_fulfilled());
    drop(pool.clear());
    assert_eq!(
        *seen.borrow(),
        [1],
        "Lwt: element 1 (released last) alone, 2 after it"
    );
}

/// `NP 1; MD x 3; US 0 1 v 1; CL 1; US 2 2 v 1`: the failed `dispose` of the idle element
/// keeps its slot taken for ever in Lwt (its count goes down only after a `dispose` that
/// succeeded), so the next use waits for ever; here the slot is freed and the use gets a new
/// element.
#[test]
#[ignore = "differs from Lwt on purpose: a failed dispose frees its slot"]
fn a_failed_dispose_keeps_its_slot_in_lwt() {
    let pool = Pool::new(1, || Promise::ret(1_i64)).with_dispose(|_| Promise::fail_with("3"));
    assert!(pool.use_(|e| Promise::ret(*e)).is_fulfilled());
    assert!(pool.clear().is_rejected());
    let next = pool.use_(|e| Promise::ret(*e));
    assert_eq!(next.state(), State::Pending, "Lwt: the use waits for ever");
}

/// `NP 2; MC w; US 0 1 v 56; CL 1; CR 0 32`: an element whose `create` was running when
/// `clear` came is kept by Lwt after its use (its `use` reads the cleared state once it has
/// the element); here it belongs to the cleared generation and is disposed of.
#[test]
#[ignore = "differs from Lwt on purpose: an element made during a clear is disposed of"]
fn an_element_made_during_a_clear_is_kept_in_lwt() {
    let disposed = Rc::new(std::cell::Cell::new(false));
    let d = disposed.clone();
    let (made, r) = wait::<i64>();
    let made = RefCell::new(Some(made));
    let pool = Pool::new(2, move || made.borrow_mut().take().unwrap()).with_dispose(move |_| {
        d.set(true);
        Promise::ret(())
    });
    let used = pool.use_(|e| Promise::ret(*e));
    assert!(pool.clear().is_fulfilled());
    r.wakeup(32);
    assert_eq!(used.state(), State::Fulfilled(32));
    assert!(!disposed.get(), "Lwt: element 32 goes back to the pool");
}

/// `NP 1; MK w; US 0 1 f 8`, then the check answers yes: Lwt's `check` gets a continuation and
/// reads it as soon as `check` returns, so one called later is ignored; the element is disposed
/// of at once and the use rejected. Here the pool waits for the answer, and keeps the element.
#[test]
#[ignore = "differs from Lwt on purpose: the pool waits for a late check's answer"]
fn a_late_check_is_ignored_and_its_element_disposed_in_lwt() {
    let disposed = Rc::new(std::cell::Cell::new(false));
    let d = disposed.clone();
    let answers: Rc<RefCell<Vec<Resolver<bool>>>> = Rc::default();
    let a = answers.clone();
    let pool = Pool::new(1, || Promise::ret(1_i64))
        .with_check(move |_, _| {
            let (p, r) = wait();
            a.borrow_mut().push(r);
            p
        })
        .with_dispose(move |_| {
            d.set(true);
            Promise::ret(())
        });
    let used = pool.use_(|_| Promise::<i64>::fail_with("8"));
    assert!(
        used.is_rejected() && disposed.get(),
        "Lwt: disposed of at once"
    );
    answers.borrow_mut().remove(0).wakeup(true);
}

/// `NP 1; MK x 7; US 0 1 w 1; WE 1 3; US 2 2 v 0`: the exception of a `check` leaves Lwt's
/// `use` with the element neither given back nor disposed of. The use is rejected with the
/// check's exception (when its body failed at once, the exception escapes `use` itself:
/// `ocaml/pool_check_raises.ml`), and the element's slot stays taken for ever: the next use of
/// a pool of 1 waits for ever. Here the element is disposed of, the use rejected with its own
/// error, and the next use gets a new element.
#[test]
#[ignore = "differs from Lwt on purpose: a failing check disposes of its element"]
fn a_raising_check_keeps_its_slot_in_lwt() {
    let pool = Pool::new(1, || Promise::ret(1_i64)).with_check(|_, _| panic!("7"));
    let (body, r) = wait::<i64>();
    let used = pool.use_(move |_| body);
    r.wakeup_exn(Exn::failure("3"));
    let text = match used.state() {
        State::Rejected(e) => e.to_string(),
        _ => String::new(),
    };
    assert!(
        text.contains('7'),
        "Lwt: the check's exception, not {text:?}"
    );
    let next = pool.use_(|e| Promise::ret(*e));
    assert_eq!(next.state(), State::Pending, "Lwt: the use waits for ever");
}
