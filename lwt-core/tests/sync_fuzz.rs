//! Randomized programs over `sync::Mutex` + `sync::Condition`, and over `sync::Mvar`, checked
//! against a reference model after every top-level step.
//!
//! Each case is a short random program; some of its actions are scripted to run *inside*
//! callbacks (a granted lock, a `with_lock` body, a served condition waiter, a served take or
//! put, the `drop` of a value a canceled put leaves behind).
//!
//! Mutex + Condition: plain `lock`/`unlock`, `with_lock` bodies that return, fail, panic, wait on
//! a `wait()`/`task()` promise resolved later with `wakeup`/`wakeup_later`/`wakeup_exn`, or wait
//! on the condition with the mutex (`Condition::wait(Some(&m))`), condition waits with and
//! without the mutex, `signal`/`broadcast`/`broadcast_exn`, and cancels of waiting promises.
//! Checked: the mutex is never held by two, `is_locked` says whether someone holds it, waiters
//! are granted in FIFO order, an unlocked mutex has no waiter, `is_empty` is right, each
//! condition waiter gets exactly what the model says (FIFO `signal`, skipping canceled waiters),
//! and once every holder lets go (and the condition is broadcast) nothing is left pending.
//! (A wait with the mutex is canceled only at top level while it still waits for the signal: a
//! cancel during its re-lock leaves it rejected *without* the mutex, as in Lwt, and a
//! `with_lock` around it would then unlock someone else's lock; that is Lwt's behaviour too.)
//!
//! Mvar: `put`, `take`, `take_available`, `is_empty`, cancels of waiting puts and takes, bursts
//! of canceled waiters (long enough for the wait queue to sweep), and values whose `drop` acts on
//! the mailbox (the value of a canceled put is dropped inside `put`/`take`: by a `put` whose wait
//! queue sweeps, or by a refill once the slot is refilled from the first live putter). A model
//! mailbox predicts which take gets which value and which put completes when; checked after every
//! step, plus: no value is dropped while it should still be somewhere (a value may only be
//! dropped by a canceled put), the mailbox is never full with a take waiting nor empty with a put
//! waiting, `is_empty` is right (from such a `drop` too), and at the end every value is dropped
//! exactly once. (A put or take canceled from a `drop` running inside that very call has no
//! promise yet: the cancel does nothing.)
//!
//! This harness found a bug since fixed: `Mvar::refill` dropped the values of the canceled puts
//! it skipped while the slot was still empty, so a put from such a `drop` was overwritten (lost)
//! and a take from it waited beside a full mailbox. `tests/sync_pool_bugs.rs` has its tests.
//!
//! `SYNC_FUZZ_MUTEX_CASES` and `SYNC_FUZZ_MVAR_CASES` (default 10000 each) and `..._SEED`
//! (default 1) set the runs; a failure is shrunk and names its case, which `..._CASE=<n>` replays
//! alone with a trace.

#[path = "support/fuzz.rs"]
mod fuzz;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use lwt_core::sync::{Condition, Mutex, Mvar};
use lwt_core::{task, wait, Exn, Promise, Resolver};

use fuzz::{first_async_error, run_cases, run_script, Rng};

fn async_errors() -> Result<(), String> {
    match first_async_error() {
        Some(e) => Err(format!("a callback of the test panicked: {e}")),
        None => Ok(()),
    }
}

// ================================================================================================
// Mutex + Condition
// ================================================================================================

#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Ret,
    Fail,
    Panic,
    Wait,
    Task,
    CondWait,
}

#[derive(Clone, Copy, Debug)]
enum How {
    Now,
    Later,
    Exn,
}

#[derive(Clone, Debug)]
enum MAct {
    Lock,
    WithLock(Body),
    Unlock,
    Cancel(usize),
    CancelLast,
    ResolveBody(usize, How),
    Wait(bool),
    CancelWait(usize),
    Signal,
    Broadcast,
    BroadcastExn,
    /// `n` locks (or, with `true`, condition waits), all canceled at once but every `keep`-th:
    /// long queues of canceled waiters, which the wait queue sweeps.
    Burst(usize, usize, bool),
}

#[derive(Clone, Debug)]
enum MOp {
    Act(MAct),
    Script(MAct),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Holder {
    Lock(usize),
    Body(usize),
    Waiter(usize),
}

struct Locker {
    with: bool,
    body: Option<Body>,
    promise: Option<Promise<()>>,
    queued: bool,
    entered: bool,
    cancel_requested: bool,
    body_res: Option<Resolver<()>>,
    body_wait: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Cond,
    Relock,
    Done,
}

struct CWaiter {
    /// Given a value by a broadcast that may still be running (its wakeups run callbacks one
    /// waiter at a time, and one of them may cancel a later waiter first, as in Lwt).
    by_broadcast: bool,
    promise: Option<Promise<u64>>,
    mutex: bool,
    stage: Stage,
    expected: Option<Result<u64, ()>>,
    got: Option<Result<u64, ()>>,
}

struct MWorld {
    m: Mutex,
    c: Condition<u64>,
    holder: Option<Holder>,
    lockers: Vec<Locker>,
    waiters: Vec<CWaiter>,
    cond_q: VecDeque<usize>,
    scripts: VecDeque<MAct>,
    depth: usize,
    broadcasting: usize,
    next_val: u64,
    errors: Vec<String>,
    log: Vec<String>,
}

type MW = Rc<RefCell<MWorld>>;

fn merr(w: &MW, e: String) {
    w.borrow_mut().errors.push(e);
}

fn grant(w: &MW, h: Holder, fifo: bool) {
    let mut ww = w.borrow_mut();
    ww.log.push(format!("grant {h:?}"));
    if let Some(o) = ww.holder {
        ww.errors
            .push(format!("{h:?} granted the mutex while {o:?} holds it"));
    }
    ww.holder = Some(h);
    // FIFO: a queued locker is granted only after every earlier queued locker still waiting.
    let i = match h {
        Holder::Lock(i) | Holder::Body(i) => i,
        Holder::Waiter(_) => return,
    };
    if !fifo || !ww.lockers[i].queued {
        return;
    }
    for j in 0..i {
        let l = &ww.lockers[j];
        let waiting = l.queued
            && !l.entered
            && !l.cancel_requested
            && l.promise.as_ref().is_some_and(|p| p.is_pending());
        if waiting {
            let e = format!("locker {i} granted before locker {j}, queued earlier (FIFO)");
            ww.errors.push(e);
        }
    }
}

fn release(w: &MW, h: Holder) {
    let mut ww = w.borrow_mut();
    ww.log.push(format!("release {h:?}"));
    if ww.holder != Some(h) {
        let e = format!(
            "{h:?} releases the mutex, but the holder is {:?}",
            ww.holder
        );
        ww.errors.push(e);
    }
    ww.holder = None;
}

fn mscript(w: &MW) {
    run_script(w, |ww| (&mut ww.scripts, &mut ww.depth), mact);
}

fn body_fn(wk: Weak<RefCell<MWorld>>, idx: usize, body: Body) -> Promise<()> {
    let w = wk.upgrade().expect("world");
    grant(&w, Holder::Body(idx), true);
    w.borrow_mut().lockers[idx].entered = true;
    mscript(&w);
    match body {
        Body::Ret => {
            release(&w, Holder::Body(idx));
            Promise::ret(())
        }
        Body::Fail => {
            release(&w, Holder::Body(idx));
            Promise::fail(Exn::failure("body fails"))
        }
        Body::Panic => {
            release(&w, Holder::Body(idx));
            drop(w);
            panic!("body panics")
        }
        Body::Wait | Body::Task => {
            let (p, r) = if body == Body::Wait { wait() } else { task() };
            w.borrow_mut().lockers[idx].body_res = Some(r);
            let wk2 = wk.clone();
            p.on_termination(move || {
                if let Some(w) = wk2.upgrade() {
                    release(&w, Holder::Body(idx));
                }
            });
            p
        }
        Body::CondWait => {
            // Lwt's `with_lock m (fun () -> Lwt_condition.wait ~mutex:m c)`.
            release(&w, Holder::Body(idx));
            let wi = new_waiter(&w, true);
            w.borrow_mut().lockers[idx].body_wait = Some(wi);
            let (m, c) = {
                let ww = w.borrow();
                (ww.m.clone(), ww.c.clone())
            };
            let p = c.wait(Some(&m));
            w.borrow_mut().waiters[wi].promise = Some(p.clone());
            let wk2 = wk.clone();
            p.on_any(
                {
                    let wk2 = wk2.clone();
                    move |v| {
                        if let Some(w) = wk2.upgrade() {
                            waiter_done(&w, wi, Ok(*v), Some(idx));
                        }
                    }
                },
                move |_| {
                    if let Some(w) = wk2.upgrade() {
                        waiter_done(&w, wi, Err(()), Some(idx));
                    }
                },
            );
            p.map(|_| ())
        }
    }
}

fn new_waiter(w: &MW, mutex: bool) -> usize {
    let mut ww = w.borrow_mut();
    let wi = ww.waiters.len();
    ww.waiters.push(CWaiter {
        by_broadcast: false,
        promise: None,
        mutex,
        stage: Stage::Cond,
        expected: None,
        got: None,
    });
    ww.cond_q.push_back(wi);
    wi
}

/// A condition waiter resolved (for a wait with the mutex: it holds the mutex again).
fn waiter_done(w: &MW, wi: usize, got: Result<u64, ()>, body: Option<usize>) {
    let mutex = {
        let mut ww = w.borrow_mut();
        ww.log.push(format!("waiter {wi} -> {got:?}"));
        let exp = ww.waiters[wi].expected;
        if exp != Some(got) {
            let e = format!("condition waiter {wi} got {got:?}, the model expected {exp:?}");
            ww.errors.push(e);
        }
        ww.waiters[wi].got = Some(got);
        ww.waiters[wi].stage = Stage::Done;
        ww.waiters[wi].mutex
    };
    if mutex {
        match body {
            // Held again; the with_lock around it releases it now.
            Some(b) => {
                grant(w, Holder::Body(b), false);
                release(w, Holder::Body(b));
            }
            None => grant(w, Holder::Waiter(wi), false),
        }
    }
    mscript(w);
}

/// The model's side of canceling a condition waiter that still waits for a signal.
fn model_cancel_waiter(w: &MW, wi: usize) {
    let mut ww = w.borrow_mut();
    if ww.waiters[wi].stage == Stage::Cond {
        ww.waiters[wi].expected = Some(Err(()));
        ww.waiters[wi].stage = if ww.waiters[wi].mutex {
            Stage::Relock
        } else {
            Stage::Done
        };
    }
}

fn mact(w: &MW, a: &MAct) {
    let depth = w.borrow().depth;
    w.borrow_mut()
        .log
        .push(format!("{}{a:?}", "  ".repeat(depth)));
    let wk = Rc::downgrade(w);
    match *a {
        MAct::Lock => {
            let (m, idx) = {
                let mut ww = w.borrow_mut();
                let idx = ww.lockers.len();
                ww.lockers.push(Locker {
                    with: false,
                    body: None,
                    promise: None,
                    queued: false,
                    entered: false,
                    cancel_requested: false,
                    body_res: None,
                    body_wait: None,
                });
                (ww.m.clone(), idx)
            };
            let p = m.lock();
            {
                let mut ww = w.borrow_mut();
                ww.lockers[idx].queued = p.is_pending();
                ww.lockers[idx].promise = Some(p.clone());
            }
            let wk2 = wk.clone();
            p.on_success(move |_| {
                if let Some(w) = wk2.upgrade() {
                    grant(&w, Holder::Lock(idx), true);
                    w.borrow_mut().lockers[idx].entered = true;
                    mscript(&w);
                }
            });
            p.on_failure(move |e| {
                if let Some(w) = wk.upgrade() {
                    if !e.is_canceled() {
                        merr(&w, format!("lock {idx} rejected with {e}"));
                    }
                    mscript(&w);
                }
            });
        }
        MAct::WithLock(body) => {
            let (m, idx) = {
                let mut ww = w.borrow_mut();
                let idx = ww.lockers.len();
                ww.lockers.push(Locker {
                    with: true,
                    body: Some(body),
                    promise: None,
                    queued: false,
                    entered: false,
                    cancel_requested: false,
                    body_res: None,
                    body_wait: None,
                });
                (ww.m.clone(), idx)
            };
            let wk2 = wk.clone();
            let p = m.with_lock(move || body_fn(wk2, idx, body));
            let mut ww = w.borrow_mut();
            ww.lockers[idx].queued = !ww.lockers[idx].entered;
            ww.lockers[idx].promise = Some(p);
        }
        MAct::Unlock => {
            let (m, h) = {
                let ww = w.borrow();
                (ww.m.clone(), ww.holder)
            };
            match h {
                Some(h @ (Holder::Lock(_) | Holder::Waiter(_))) => {
                    release(w, h);
                    m.unlock();
                }
                None if !m.is_locked() => {
                    m.unlock();
                    if m.is_locked() {
                        merr(w, "unlock of an unlocked mutex locked it".into());
                    }
                }
                _ => {}
            }
        }
        MAct::Cancel(k) => {
            let n = w.borrow().lockers.len();
            if n > 0 {
                cancel_locker(w, k % n);
            }
        }
        MAct::CancelLast => {
            let n = w.borrow().lockers.len();
            if n > 0 {
                cancel_locker(w, n - 1);
            }
        }
        MAct::ResolveBody(k, how) => {
            let r = {
                let mut ww = w.borrow_mut();
                let open: Vec<usize> = (0..ww.lockers.len())
                    .filter(|&i| ww.lockers[i].body_res.is_some())
                    .collect();
                if open.is_empty() {
                    None
                } else {
                    ww.lockers[open[k % open.len()]].body_res.take()
                }
            };
            if let Some(r) = r {
                match how {
                    How::Now => r.wakeup(()),
                    How::Later => r.wakeup_later(()),
                    How::Exn => r.wakeup_exn(Exn::failure("body rejected")),
                }
            }
        }
        MAct::Wait(with_mutex) => {
            let (m, c, h) = {
                let ww = w.borrow();
                (ww.m.clone(), ww.c.clone(), ww.holder)
            };
            // Waiting with the mutex needs a holder to wait as.
            let mutex = with_mutex && matches!(h, Some(Holder::Lock(_) | Holder::Waiter(_)));
            if mutex {
                release(w, h.unwrap());
            }
            let wi = new_waiter(w, mutex);
            let p = c.wait(if mutex { Some(&m) } else { None });
            w.borrow_mut().waiters[wi].promise = Some(p.clone());
            let wk2 = wk.clone();
            p.on_any(
                move |v| {
                    if let Some(w) = wk2.upgrade() {
                        waiter_done(&w, wi, Ok(*v), None);
                    }
                },
                move |_| {
                    if let Some(w) = wk.upgrade() {
                        waiter_done(&w, wi, Err(()), None);
                    }
                },
            );
        }
        MAct::CancelWait(k) => {
            let n = w.borrow().waiters.len();
            if n > 0 {
                cancel_waiter(w, k % n);
            }
        }
        MAct::Burst(n, keep, cond) => {
            for i in 0..n {
                if cond {
                    mact(w, &MAct::Wait(false));
                    let wi = w.borrow().waiters.len() - 1;
                    if i % keep != 0 {
                        cancel_waiter(w, wi);
                    }
                } else {
                    mact(w, &MAct::Lock);
                    let li = w.borrow().lockers.len() - 1;
                    if i % keep != 0 {
                        cancel_locker(w, li);
                    }
                }
            }
        }
        MAct::Signal => {
            let (c, v) = {
                let mut ww = w.borrow_mut();
                ww.next_val += 1;
                let v = ww.next_val;
                while let Some(wi) = ww.cond_q.pop_front() {
                    if ww.waiters[wi].stage == Stage::Cond {
                        ww.waiters[wi].expected = Some(Ok(v));
                        ww.waiters[wi].stage = if ww.waiters[wi].mutex {
                            Stage::Relock
                        } else {
                            Stage::Done
                        };
                        break;
                    }
                }
                (ww.c.clone(), v)
            };
            c.signal(v);
        }
        MAct::Broadcast | MAct::BroadcastExn => {
            let exn = matches!(a, MAct::BroadcastExn);
            let (c, v) = {
                let mut ww = w.borrow_mut();
                ww.next_val += 1;
                let v = ww.next_val;
                while let Some(wi) = ww.cond_q.pop_front() {
                    if ww.waiters[wi].stage == Stage::Cond {
                        ww.waiters[wi].expected = Some(if exn { Err(()) } else { Ok(v) });
                        ww.waiters[wi].by_broadcast = true;
                        ww.waiters[wi].stage = if ww.waiters[wi].mutex {
                            Stage::Relock
                        } else {
                            Stage::Done
                        };
                    }
                }
                (ww.c.clone(), v)
            };
            w.borrow_mut().broadcasting += 1;
            if exn {
                c.broadcast_exn(Exn::failure("broadcast_exn"));
            } else {
                c.broadcast(v);
            }
            let mut ww = w.borrow_mut();
            ww.broadcasting -= 1;
            if ww.broadcasting == 0 {
                for cw in &mut ww.waiters {
                    cw.by_broadcast = false;
                }
            }
        }
    }
}

fn cancel_waiter(w: &MW, wi: usize) {
    let (p, ok) = {
        let ww = w.borrow();
        let cw = &ww.waiters[wi];
        // A wait with the mutex: only at top level, while it waits for the signal (see the
        // module docs).
        let ok = !cw.mutex || (ww.depth == 0 && cw.stage == Stage::Cond);
        (cw.promise.clone(), ok)
    };
    if let (Some(p), true) = (p, ok) {
        {
            // A broadcast still running has not reached this waiter yet: the cancel wins.
            let mut ww = w.borrow_mut();
            let cw = &mut ww.waiters[wi];
            if !cw.mutex && cw.by_broadcast && p.is_pending() {
                cw.expected = Some(Err(()));
            }
        }
        model_cancel_waiter(w, wi);
        p.cancel();
    }
}

fn cancel_locker(w: &MW, i: usize) {
    let (p, ok) = {
        let mut ww = w.borrow_mut();
        let depth = ww.depth;
        let l = &ww.lockers[i];
        let mut ok = true;
        let mut cw = None;
        if l.entered && l.body == Some(Body::CondWait) {
            if let Some(wi) = l.body_wait {
                ok = depth == 0 && ww.waiters[wi].stage == Stage::Cond;
                cw = Some(wi);
            } else {
                ok = false;
            }
        }
        if ok && !ww.lockers[i].entered {
            ww.lockers[i].cancel_requested = true;
        }
        let p = ww.lockers[i].promise.clone();
        if ok {
            if let Some(wi) = cw {
                drop(ww);
                model_cancel_waiter(w, wi);
            }
        }
        (p, ok)
    };
    if let (Some(p), true) = (p, ok) {
        p.cancel();
    }
}

/// Checks made at top level, when no callback is left to run.
fn mcheck(w: &MW) -> Result<(), String> {
    async_errors()?;
    let ww = w.borrow();
    if let Some(e) = ww.errors.first() {
        return Err(e.clone());
    }
    let locked = ww.m.is_locked();
    if locked != ww.holder.is_some() {
        return Err(format!(
            "is_locked = {locked} but the holder is {:?} (a lock nobody holds, or held unlocked)",
            ww.holder
        ));
    }
    let mut waiting = vec![];
    for (i, l) in ww.lockers.iter().enumerate() {
        let pending = l.promise.as_ref().is_some_and(|p| p.is_pending());
        if pending && !l.entered {
            waiting.push(format!("locker {i}"));
        }
    }
    for (i, cw) in ww.waiters.iter().enumerate() {
        let pending = cw.promise.as_ref().is_some_and(|p| p.is_pending());
        if cw.mutex && cw.stage == Stage::Relock && pending {
            waiting.push(format!("re-lock of waiter {i}"));
        }
        if cw.stage == Stage::Cond && !pending {
            return Err(format!(
                "condition waiter {i} resolved without being signalled"
            ));
        }
        if !cw.mutex && cw.stage == Stage::Done && pending {
            return Err(format!(
                "condition waiter {i} was signalled but still waits"
            ));
        }
    }
    if !locked && !waiting.is_empty() {
        return Err(format!(
            "the mutex is unlocked but {waiting:?} still wait for it"
        ));
    }
    if ww.m.is_empty() != waiting.is_empty() {
        return Err(format!(
            "is_empty = {} but the waiters are {waiting:?}",
            ww.m.is_empty()
        ));
    }
    Ok(())
}

fn gen_mact(r: &mut Rng) -> MAct {
    let k = r.below(16) as usize;
    match r.below(100) {
        0..=13 => MAct::Lock,
        14..=27 => MAct::WithLock(match r.below(12) {
            0..=2 => Body::Ret,
            3 => Body::Fail,
            4 => Body::Panic,
            5..=7 => Body::Wait,
            8..=9 => Body::Task,
            _ => Body::CondWait,
        }),
        28..=41 => MAct::Unlock,
        42..=49 => MAct::Cancel(k),
        50..=53 => MAct::CancelLast,
        54..=63 => MAct::ResolveBody(
            k,
            match r.below(4) {
                0 | 1 => How::Now,
                2 => How::Later,
                _ => How::Exn,
            },
        ),
        64..=75 => MAct::Wait(r.below(2) == 0),
        76..=80 => MAct::CancelWait(k),
        81..=89 => MAct::Signal,
        90..=94 => MAct::Broadcast,
        95..=96 => MAct::Burst(
            8 + r.below(40) as usize,
            1 + r.below(6) as usize,
            r.below(2) == 0,
        ),
        _ => MAct::BroadcastExn,
    }
}

fn mutex_gen(r: &mut Rng) -> ((), Vec<MOp>) {
    let n = 1 + r.below(50) as usize;
    let ops = (0..n)
        .map(|_| {
            if r.below(100) < 35 {
                MOp::Script(gen_mact(r))
            } else {
                MOp::Act(gen_mact(r))
            }
        })
        .collect();
    ((), ops)
}

fn mutex_case(_: &(), ops: &[MOp], trace: bool) -> Result<usize, String> {
    let n = ops.len();
    let w: MW = Rc::new(RefCell::new(MWorld {
        m: Mutex::new(),
        c: Condition::new(),
        holder: None,
        lockers: vec![],
        waiters: vec![],
        cond_q: VecDeque::new(),
        scripts: VecDeque::new(),
        depth: 0,
        broadcasting: 0,
        next_val: 0,
        errors: vec![],
        log: vec![],
    }));
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            match op {
                MOp::Act(a) => mact(&w, a),
                MOp::Script(a) => w.borrow_mut().scripts.push_back(a.clone()),
            }
            if trace {
                eprintln!("{i}: {op:?} holder={:?}", w.borrow().holder);
            }
            mcheck(&w).map_err(|e| format!("after op {i}: {e}"))?;
        }
        // Everybody lets go: bodies resolve, holders unlock, the condition is broadcast.
        w.borrow_mut().scripts.clear();
        for _ in 0..500 {
            let mut changed = false;
            let res: Vec<Resolver<()>> = w
                .borrow_mut()
                .lockers
                .iter_mut()
                .filter_map(|l| l.body_res.take())
                .collect();
            changed |= !res.is_empty();
            for r in res {
                r.wakeup(());
            }
            if matches!(w.borrow().holder, Some(Holder::Lock(_) | Holder::Waiter(_))) {
                mact(&w, &MAct::Unlock);
                changed = true;
            }
            let live = w.borrow().waiters.iter().any(|cw| cw.stage == Stage::Cond);
            if live {
                mact(&w, &MAct::Broadcast);
                changed = true;
            }
            mcheck(&w).map_err(|e| format!("while draining: {e}"))?;
            if !changed {
                break;
            }
        }
        let ww = w.borrow();
        for (i, l) in ww.lockers.iter().enumerate() {
            if l.promise.as_ref().is_some_and(|p| p.is_pending()) {
                return Err(format!(
                    "locker {i} ({}) still pending after everyone let go",
                    if l.with { "with_lock" } else { "lock" }
                ));
            }
        }
        for (i, cw) in ww.waiters.iter().enumerate() {
            if cw.promise.as_ref().is_some_and(|p| p.is_pending()) {
                return Err(format!("condition waiter {i} still pending at the end"));
            }
        }
        if ww.m.is_locked() {
            return Err("the mutex is still locked at the end".into());
        }
        Ok(())
    })();
    let out = match result {
        Ok(()) => Ok(n),
        Err(e) => Err(format!("{e}\nops = {ops:?}\nlog = {:?}", w.borrow().log)),
    };
    // The callbacks hold the world weakly: dropping it frees the case, and the promises its
    // unresolved resolvers reject find no world to report to.
    drop(w);
    out
}

#[test]
fn mutex_and_condition_against_a_model() {
    run_cases("SYNC_FUZZ_MUTEX", 10000, mutex_gen, mutex_case);
}

// ================================================================================================
// Mvar
// ================================================================================================

#[derive(Clone, Debug)]
enum VAct {
    /// Put a new value; `true`: its `drop` runs the next scripted action.
    Put(bool),
    Take,
    TakeAvail,
    CancelTake(usize),
    CancelPut(usize),
    CancelLastTake,
    CancelLastPut,
    IsEmpty,
    /// `n` takes (or, with `true`, puts), all canceled at once but every `keep`-th.
    Burst(usize, usize, bool),
}

#[derive(Clone, Debug)]
enum VOp {
    Act(VAct),
    Script(VAct),
}

/// A value that tells when it is dropped.
struct Val {
    id: u64,
    drops: Rc<Drops>,
    drop_act: bool,
}

#[derive(Default)]
struct Drops {
    active: Cell<bool>,
    dropped: RefCell<Vec<u64>>,
    /// Ids that may be dropped now (canceled puts, values we took out).
    may_drop: RefCell<Vec<u64>>,
    errors: RefCell<Vec<String>>,
    world: RefCell<Weak<RefCell<VWorld>>>,
}

impl Drop for Val {
    fn drop(&mut self) {
        self.drops.dropped.borrow_mut().push(self.id);
        if self.drops.active.get() {
            if !self.drops.may_drop.borrow().contains(&self.id) {
                self.drops.errors.borrow_mut().push(format!(
                    "value {} dropped (lost) while it should be somewhere",
                    self.id
                ));
            }
            if self.drop_act {
                let w = self.drops.world.borrow().upgrade();
                if let Some(w) = w {
                    vscript(&w);
                }
            }
        }
    }
}

struct TakeRec {
    promise: Option<Rc<Promise<Val>>>,
    expected: Option<u64>,
    canceled: bool,
    got: Option<u64>,
}

struct PutRec {
    promise: Option<Promise<()>>,
    id: u64,
    done: bool,
    canceled: bool,
}

struct VWorld {
    mv: Mvar<Val>,
    drops: Rc<Drops>,
    // The model.
    value: Option<u64>,
    takers: VecDeque<usize>,
    putters: VecDeque<usize>,
    takes: Vec<TakeRec>,
    puts: Vec<PutRec>,
    taken_avail: Vec<u64>,
    next_id: u64,
    scripts: VecDeque<VAct>,
    depth: usize,
    errors: Vec<String>,
    log: Vec<String>,
}

type VW = Rc<RefCell<VWorld>>;

fn vscript(w: &VW) {
    // A value's `drop` may run under the world's own borrow: then nothing is scripted.
    if w.try_borrow_mut().is_err() {
        return;
    }
    run_script(w, |ww| (&mut ww.scripts, &mut ww.depth), vact);
}

/// The model's `take_available`: the value, and the slot refilled from the first live putter.
fn model_take_now(ww: &mut VWorld) -> Option<u64> {
    let v = ww.value.take()?;
    while let Some(pi) = ww.putters.pop_front() {
        if !ww.puts[pi].canceled {
            ww.value = Some(ww.puts[pi].id);
            ww.puts[pi].done = true;
            break;
        }
    }
    Some(v)
}

fn vact(w: &VW, a: &VAct) {
    let depth = w.borrow().depth;
    w.borrow_mut()
        .log
        .push(format!("{}{a:?}", "  ".repeat(depth)));
    let wk = Rc::downgrade(w);
    match *a {
        VAct::Put(drop_act) => {
            let (mv, val, pi) = {
                let mut ww = w.borrow_mut();
                ww.next_id += 1;
                let id = ww.next_id;
                let pi = ww.puts.len();
                ww.puts.push(PutRec {
                    promise: None,
                    id,
                    done: false,
                    canceled: false,
                });
                // The model.
                let mut served = false;
                while let Some(ti) = ww.takers.pop_front() {
                    if !ww.takes[ti].canceled {
                        ww.takes[ti].expected = Some(id);
                        served = true;
                        break;
                    }
                }
                if served {
                    ww.puts[pi].done = true;
                } else if ww.value.is_none() {
                    ww.value = Some(id);
                    ww.puts[pi].done = true;
                } else {
                    ww.putters.push_back(pi);
                }
                let val = Val {
                    id,
                    drops: ww.drops.clone(),
                    drop_act,
                };
                (ww.mv.clone(), val, pi)
            };
            let p = mv.put(val);
            w.borrow_mut().puts[pi].promise = Some(p.clone());
            p.on_any(
                {
                    let wk = wk.clone();
                    move |_| {
                        if let Some(w) = wk.upgrade() {
                            vscript(&w);
                        }
                    }
                },
                move |e| {
                    if let Some(w) = wk.upgrade() {
                        if !e.is_canceled() {
                            w.borrow_mut()
                                .errors
                                .push(format!("put {pi} rejected: {e}"));
                        }
                        vscript(&w);
                    }
                },
            );
        }
        VAct::Take => {
            let (mv, ti) = {
                let mut ww = w.borrow_mut();
                let ti = ww.takes.len();
                ww.takes.push(TakeRec {
                    promise: None,
                    expected: None,
                    canceled: false,
                    got: None,
                });
                match model_take_now(&mut ww) {
                    Some(v) => ww.takes[ti].expected = Some(v),
                    None => ww.takers.push_back(ti),
                }
                (ww.mv.clone(), ti)
            };
            let p = Rc::new(mv.take());
            w.borrow_mut().takes[ti].promise = Some(p.clone());
            p.on_any(
                {
                    let wk = wk.clone();
                    move |v| {
                        if let Some(w) = wk.upgrade() {
                            {
                                let mut ww = w.borrow_mut();
                                let exp = ww.takes[ti].expected;
                                if exp != Some(v.id) {
                                    let e = format!(
                                        "take {ti} got value {}, the model expected {exp:?}",
                                        v.id
                                    );
                                    ww.errors.push(e);
                                }
                                ww.takes[ti].got = Some(v.id);
                            }
                            vscript(&w);
                        }
                    }
                },
                move |e| {
                    if let Some(w) = wk.upgrade() {
                        if !e.is_canceled() {
                            w.borrow_mut()
                                .errors
                                .push(format!("take {ti} rejected: {e}"));
                        }
                        vscript(&w);
                    }
                },
            );
        }
        VAct::TakeAvail => {
            let (mv, expected, drops) = {
                let mut ww = w.borrow_mut();
                let e = model_take_now(&mut ww);
                if let Some(id) = e {
                    ww.taken_avail.push(id);
                    ww.drops.may_drop.borrow_mut().push(id);
                }
                (ww.mv.clone(), e, ww.drops.clone())
            };
            let got = mv.take_available();
            let gid = got.as_ref().map(|v| v.id);
            if gid != expected {
                w.borrow_mut().errors.push(format!(
                    "take_available gave {gid:?}, the model expected {expected:?}"
                ));
            }
            if let Some(v) = got {
                drops.may_drop.borrow_mut().push(v.id);
                drop(v);
            }
        }
        VAct::CancelTake(_) | VAct::CancelLastTake => {
            let ti = {
                let ww = w.borrow();
                let n = ww.takes.len();
                if n == 0 {
                    return;
                }
                if let VAct::CancelTake(k) = a {
                    k % n
                } else {
                    n - 1
                }
            };
            let p = {
                let mut ww = w.borrow_mut();
                // Canceled from a drop inside its own `take` call: no promise to cancel yet.
                let Some(p) = ww.takes[ti].promise.clone() else {
                    return;
                };
                let model_pending = ww.takes[ti].expected.is_none() && !ww.takes[ti].canceled;
                let actual_pending = p.is_pending();
                if model_pending != actual_pending {
                    let e = format!(
                        "take {ti}: the model says pending={model_pending}, the promise says {actual_pending}"
                    );
                    ww.errors.push(e);
                }
                if model_pending {
                    ww.takes[ti].canceled = true;
                }
                p
            };
            p.cancel();
        }
        VAct::CancelPut(_) | VAct::CancelLastPut => {
            let pi = {
                let ww = w.borrow();
                let n = ww.puts.len();
                if n == 0 {
                    return;
                }
                if let VAct::CancelPut(k) = a {
                    k % n
                } else {
                    n - 1
                }
            };
            let p = {
                let mut ww = w.borrow_mut();
                // Canceled from a drop inside its own `put` call: no promise to cancel yet.
                let Some(p) = ww.puts[pi].promise.clone() else {
                    return;
                };
                let model_pending = !ww.puts[pi].done && !ww.puts[pi].canceled;
                let actual_pending = p.is_pending();
                if model_pending != actual_pending {
                    let e = format!(
                        "put {pi}: the model says pending={model_pending}, the promise says {actual_pending}"
                    );
                    ww.errors.push(e);
                }
                if model_pending {
                    ww.puts[pi].canceled = true;
                    let id = ww.puts[pi].id;
                    ww.drops.may_drop.borrow_mut().push(id);
                }
                p
            };
            p.cancel();
        }
        VAct::Burst(n, keep, puts) => {
            for i in 0..n {
                vact(w, if puts { &VAct::Put(false) } else { &VAct::Take });
                if i % keep != 0 {
                    vact(
                        w,
                        if puts {
                            &VAct::CancelLastPut
                        } else {
                            &VAct::CancelLastTake
                        },
                    );
                }
            }
        }
        VAct::IsEmpty => {
            let mut ww = w.borrow_mut();
            let (actual, model) = (ww.mv.is_empty(), ww.value.is_none());
            if actual != model {
                ww.errors
                    .push(format!("is_empty = {actual}, the model says {model}"));
            }
        }
    }
}

fn vcheck(w: &VW) -> Result<(), String> {
    async_errors()?;
    let ww = w.borrow();
    if let Some(e) = ww.errors.first() {
        return Err(e.clone());
    }
    if let Some(e) = ww.drops.errors.borrow().first() {
        return Err(e.clone());
    }
    if ww.mv.is_empty() != ww.value.is_none() {
        return Err(format!(
            "is_empty = {}, the model holds {:?}",
            ww.mv.is_empty(),
            ww.value
        ));
    }
    for (i, t) in ww.takes.iter().enumerate() {
        let p = t.promise.as_ref().unwrap();
        let ok = match (t.expected, t.canceled) {
            (Some(id), _) => p.is_fulfilled() && t.got == Some(id),
            (None, true) => p.rejection().is_some_and(|e| e.is_canceled()),
            (None, false) => p.is_pending(),
        };
        if !ok {
            return Err(format!(
                "take {i}: expected {:?} (canceled {}), state pending={} got={:?}",
                t.expected,
                t.canceled,
                p.is_pending(),
                t.got
            ));
        }
    }
    for (i, pr) in ww.puts.iter().enumerate() {
        let p = pr.promise.as_ref().unwrap();
        let ok = if pr.done {
            p.is_fulfilled()
        } else if pr.canceled {
            p.rejection().is_some_and(|e| e.is_canceled())
        } else {
            p.is_pending()
        };
        if !ok {
            return Err(format!(
                "put {i} (value {}): done {} canceled {}, but pending={}",
                pr.id,
                pr.done,
                pr.canceled,
                p.is_pending()
            ));
        }
    }
    // Liveness, said directly.
    let live_taker = ww
        .takes
        .iter()
        .any(|t| t.promise.as_ref().unwrap().is_pending());
    let live_putter = ww
        .puts
        .iter()
        .any(|p| p.promise.as_ref().unwrap().is_pending());
    if !ww.mv.is_empty() && live_taker {
        return Err("the mailbox is full but a take still waits".into());
    }
    if ww.mv.is_empty() && live_putter {
        return Err("the mailbox is empty but a put still waits".into());
    }
    Ok(())
}

fn gen_vact(r: &mut Rng) -> VAct {
    let k = r.below(16) as usize;
    match r.below(100) {
        0..=27 => VAct::Put(r.below(4) == 0),
        28..=52 => VAct::Take,
        53..=62 => VAct::TakeAvail,
        63..=72 => VAct::CancelTake(k),
        73..=82 => VAct::CancelPut(k),
        83..=87 => VAct::CancelLastTake,
        88..=91 => VAct::CancelLastPut,
        92..=93 => VAct::Burst(
            8 + r.below(40) as usize,
            1 + r.below(6) as usize,
            r.below(2) == 0,
        ),
        _ => VAct::IsEmpty,
    }
}

fn mvar_gen(r: &mut Rng) -> (bool, Vec<VOp>) {
    let n = 1 + r.below(60) as usize;
    let full = r.below(2) == 0;
    let ops = (0..n)
        .map(|_| {
            if r.below(100) < 35 {
                VOp::Script(gen_vact(r))
            } else {
                VOp::Act(gen_vact(r))
            }
        })
        .collect();
    (full, ops)
}

fn mvar_case(full: &bool, ops: &[VOp], trace: bool) -> Result<usize, String> {
    let full = *full;
    let n = ops.len();
    let drops = Rc::new(Drops::default());
    drops.active.set(true);
    let mv = if full {
        Mvar::create(Val {
            id: 0,
            drops: drops.clone(),
            drop_act: false,
        })
    } else {
        Mvar::create_empty()
    };
    let w: VW = Rc::new(RefCell::new(VWorld {
        mv,
        drops: drops.clone(),
        value: full.then_some(0),
        takers: VecDeque::new(),
        putters: VecDeque::new(),
        takes: vec![],
        puts: vec![],
        taken_avail: vec![],
        next_id: 0,
        scripts: VecDeque::new(),
        depth: 0,
        errors: vec![],
        log: vec![],
    }));
    *drops.world.borrow_mut() = Rc::downgrade(&w);
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            match op {
                VOp::Act(a) => vact(&w, a),
                VOp::Script(a) => w.borrow_mut().scripts.push_back(a.clone()),
            }
            if trace {
                eprintln!("{i}: {op:?} model={:?}", w.borrow().value);
            }
            vcheck(&w).map_err(|e| format!("after op {i}: {e}"))?;
        }
        w.borrow_mut().scripts.clear();
        // Drain: take every value out, then serve the takers still waiting.
        for _ in 0..200 {
            if w.borrow().value.is_none() {
                break;
            }
            vact(&w, &VAct::TakeAvail);
            vcheck(&w).map_err(|e| format!("while draining: {e}"))?;
        }
        for _ in 0..200 {
            let waiting = w
                .borrow()
                .takes
                .iter()
                .any(|t| t.promise.as_ref().unwrap().is_pending());
            if !waiting {
                break;
            }
            vact(&w, &VAct::Put(false));
            vcheck(&w).map_err(|e| format!("while serving the takers: {e}"))?;
        }
        let ww = w.borrow();
        if ww
            .puts
            .iter()
            .any(|p| p.promise.as_ref().unwrap().is_pending())
            || ww
                .takes
                .iter()
                .any(|t| t.promise.as_ref().unwrap().is_pending())
        {
            return Err("something still pending at the end".into());
        }
        // No value taken twice.
        let mut got: Vec<u64> = ww.takes.iter().filter_map(|t| t.got).collect();
        got.extend(&ww.taken_avail);
        got.sort_unstable();
        if got.windows(2).any(|p| p[0] == p[1]) {
            return Err(format!("a value was taken twice: {got:?}"));
        }
        Ok(())
    })();
    let result =
        result.map_err(|e| format!("{e}\nfull={full} ops = {ops:?}\nlog = {:?}", w.borrow().log));
    // Tear down: the callbacks hold the world weakly, so dropping it frees the case. Every value
    // must then have been dropped exactly once.
    drops.active.set(false);
    let n_ids = w.borrow().next_id + 1;
    drop(w);
    result?;
    let mut d = drops.dropped.borrow().clone();
    d.sort_unstable();
    let want: Vec<u64> = (if full { 0 } else { 1 }..n_ids).collect();
    if d != want {
        return Err(format!(
            "values dropped {d:?}, expected each of {want:?} once\nfull={full} ops = {ops:?}"
        ));
    }
    Ok(n)
}

#[test]
fn mvar_against_a_model() {
    run_cases("SYNC_FUZZ_MVAR", 10000, mvar_gen, mvar_case);
}
