//! Randomized programs over `switch::Switch` and `switch::with_switch`, checked against a model
//! after every top-level step.
//!
//! Hooks return at once, fail, panic, or return a `wait()`/`task()` promise that a later step
//! resolves (`wakeup`, `wakeup_later`, `wakeup_exn`); switches are turned off (again and again,
//! also from inside hooks, while hooks of the first `turn_off` are still pending); hooks are
//! added (`add_hook`, `add_hook_or_exec`) before, during and after a `turn_off`, also from inside
//! hooks and `with_switch` bodies; `turn_off` promises are canceled.
//!
//! Checked: `is_on`/`check` follow the model; `add_hook` on a switch that is off is refused and
//! the hook never runs, `add_hook_or_exec` runs it at once and returns its promise; the first
//! `turn_off` runs every hook added while on exactly once, last added first, before it returns;
//! its promise resolves exactly when the last of those hooks does, rejected with the failure of
//! the last added failing hook if any (Lwt's order); a later `turn_off` is fulfilled at once; a
//! `with_switch` result is its body's outcome, replaced by a hook failure, and resolves once the
//! body and the hooks have.
//!
//! A `with_switch`'s switch turns off when `with_switch`'s callback on the body runs, which,
//! resolution being breadth-first here (Lwt's is nested), can come after other callbacks queued
//! before it; the model first turned it off in its own callback on the body, registered earlier,
//! and three seeds of 70 (43, 49, 50: rev94, session 40) met a hook of another switch that saw
//! it on. The model now turns it off once it is seen off (`SwRec::pending_off`).
//!
//! `SWITCH_FUZZ_CASES` (default 20000) and `SWITCH_FUZZ_SEED` (default 1) set the run; a failure
//! is shrunk and names its case, which `SWITCH_FUZZ_CASE=<n>` replays with a trace.

#[path = "support/fuzz.rs"]
mod fuzz;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use lwt_core::switch::{with_switch, Off, Switch};
use lwt_core::{task, wait, Exn, Promise, Resolver};

use fuzz::{first_async_error, run_cases, run_script, Rng};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
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
    AddHook(usize, Reply),
    AddHookOrExec(usize, Reply),
    TurnOff(usize),
    CancelOff(usize),
    ResolveHook(usize, How),
    ResolveBody(usize, How),
    IsOn(usize),
    WithSwitch(Reply),
}

#[derive(Clone, Debug)]
enum Op {
    Act(Act),
    Script(Act),
}

/// What a hook or body came to: fulfilled, rejected with a message containing the tag, or
/// canceled.
#[derive(Clone, Debug, PartialEq)]
enum Out {
    Ok,
    Err(String),
    Canceled,
}

fn out_of(e: &Exn) -> Out {
    if e.is_canceled() {
        Out::Canceled
    } else {
        Out::Err(e.to_string())
    }
}

/// Did a promise come to what the model says: both still pending, or both settled alike?
fn settled_as(want: &Option<Out>, got: &Option<Out>) -> bool {
    match (want, got) {
        (None, None) => true,
        (Some(a), Some(b)) => matches(a, b),
        _ => false,
    }
}

fn matches(expected: &Out, actual: &Out) -> bool {
    match (expected, actual) {
        (Out::Ok, Out::Ok) | (Out::Canceled, Out::Canceled) => true,
        (Out::Err(tag), Out::Err(msg)) => msg.contains(tag.as_str()),
        _ => false,
    }
}

struct HookRec {
    sw: usize,
    reply: Reply,
    runs: usize,
    run_seq: usize,
    /// `None` while pending (or not run).
    out: Option<Out>,
    res: Option<Resolver<()>>,
}

struct SwRec {
    sw: Switch,
    on: bool,
    /// The body of its `with_switch` has resolved: the switch turns off once `with_switch`'s
    /// callback on the body runs, which, resolution being breadth-first here (Lwt: nested),
    /// may come after callbacks queued before it (another body's, resolved by `wakeup_later`
    /// in the same callback) and what they do. The model turns it off when the switch is seen
    /// off (`sync_off`); every check still holds from then on (seeds 43, 49, 50: rev94).
    pending_off: bool,
    hooks: Vec<usize>,
    /// The hooks the first turn-off ran, in the order it must run them, and its promise (none
    /// for the turn-off of a `with_switch`).
    first_off: Option<(Vec<usize>, Option<Promise<()>>)>,
}

struct WithRec {
    sw: usize,
    promise: Option<Promise<()>>,
    body: Option<Out>,
    body_res: Option<Resolver<()>>,
}

struct World {
    sws: Vec<SwRec>,
    hooks: Vec<HookRec>,
    later_offs: Vec<Promise<()>>,
    execs: Vec<(usize, Promise<()>)>,
    withs: Vec<WithRec>,
    seq: usize,
    scripts: VecDeque<Act>,
    depth: usize,
    errors: Vec<String>,
    log: Vec<String>,
}

type W = Rc<RefCell<World>>;

fn err(w: &W, e: String) {
    let mut ww = w.borrow_mut();
    ww.log.push(format!("ERROR {e}"));
    ww.errors.push(e);
}

fn script(w: &W) {
    run_script(w, |ww| (&mut ww.scripts, &mut ww.depth), act);
}

fn tag(i: usize) -> String {
    format!("<hook {i}>")
}

/// The body of hook `i`.
fn hook_fn(wk: &Weak<RefCell<World>>, i: usize) -> Promise<()> {
    let w = wk.upgrade().expect("world");
    let reply = {
        let mut ww = w.borrow_mut();
        ww.seq += 1;
        let seq = ww.seq;
        let h = &mut ww.hooks[i];
        h.runs += 1;
        h.run_seq = seq;
        let (runs, reply) = (h.runs, h.reply);
        ww.log.push(format!("hook {i} runs ({reply:?})"));
        if runs > 1 {
            ww.errors.push(format!("hook {i} ran {runs} times"));
        }
        reply
    };
    script(&w);
    let p = match reply {
        Reply::Ret => Promise::ret(()),
        Reply::Fail => Promise::fail(Exn::failure(format!("{} fails", tag(i)))),
        Reply::Panic => {
            w.borrow_mut().hooks[i].out = Some(Out::Err(tag(i)));
            drop(w);
            panic!("{} panics", tag(i))
        }
        Reply::Wait | Reply::Task => {
            let (p, r) = if reply == Reply::Wait { wait() } else { task() };
            w.borrow_mut().hooks[i].res = Some(r);
            p
        }
    };
    let (wk1, wk2) = (wk.clone(), wk.clone());
    p.on_any(
        move |_| {
            if let Some(w) = wk1.upgrade() {
                w.borrow_mut().hooks[i].out = Some(Out::Ok);
            }
        },
        move |e| {
            if let Some(w) = wk2.upgrade() {
                w.borrow_mut().hooks[i].out = Some(match out_of(e) {
                    Out::Err(_) => Out::Err(tag(i)),
                    o => o,
                });
            }
        },
    );
    p
}

fn new_hook(w: &W, sw: usize, reply: Reply) -> usize {
    let mut ww = w.borrow_mut();
    let i = ww.hooks.len();
    ww.hooks.push(HookRec {
        sw,
        reply,
        runs: 0,
        run_seq: 0,
        out: None,
        res: None,
    });
    i
}

/// The model turns switch `s` off (if it is on): the hooks to run, last added first.
/// A switch whose `with_switch` body has resolved and that the switch's `with_switch` has turned
/// off by now is off in the model too, its hooks those it had then (see `SwRec::pending_off`).
fn sync_off(w: &W, s: usize) {
    let now_off = {
        let ww = w.borrow();
        let rec = &ww.sws[s];
        rec.pending_off && rec.on && !rec.sw.is_on()
    };
    if now_off {
        model_off(w, s, None);
    }
}

fn model_off(w: &W, s: usize, promise: Option<Promise<()>>) -> Option<Vec<usize>> {
    let mut ww = w.borrow_mut();
    let rec = &mut ww.sws[s];
    if !rec.on {
        return None;
    }
    rec.on = false;
    let order: Vec<usize> = rec.hooks.iter().rev().copied().collect();
    rec.first_off = Some((order.clone(), promise));
    Some(order)
}

/// After a first turn-off returned: every hook ran once, in order.
fn check_ran(w: &W, s: usize, order: &[usize]) {
    let ww = w.borrow();
    let mut last = 0;
    let mut errors = vec![];
    for &h in order {
        let hr = &ww.hooks[h];
        if hr.runs != 1 {
            errors.push(format!(
                "switch {s}: hook {h} ran {} times in turn_off",
                hr.runs
            ));
        } else if hr.run_seq < last {
            errors.push(format!("switch {s}: hooks ran out of order {order:?}"));
        } else {
            last = hr.run_seq;
        }
    }
    drop(ww);
    for e in errors {
        err(w, e);
    }
}

fn sw_index(w: &W, k: usize) -> usize {
    k % w.borrow().sws.len()
}

fn act(w: &W, a: &Act) {
    let depth = w.borrow().depth;
    w.borrow_mut()
        .log
        .push(format!("{}{a:?}", "  ".repeat(depth)));
    let wk = Rc::downgrade(w);
    match *a {
        Act::AddHook(k, reply) => {
            let s = sw_index(w, k);
            sync_off(w, s);
            let (sw, on) = {
                let ww = w.borrow();
                (ww.sws[s].sw.clone(), ww.sws[s].on)
            };
            let i = new_hook(w, s, reply);
            let wk2 = wk.clone();
            let r = sw.add_hook(move || hook_fn(&wk2, i));
            match (r, on) {
                (Ok(()), true) => w.borrow_mut().sws[s].hooks.push(i),
                (Err(Off), false) => {}
                (r, on) => err(w, format!("add_hook on switch {s} (on: {on}) gave {r:?}")),
            }
        }
        Act::AddHookOrExec(k, reply) => {
            let s = sw_index(w, k);
            sync_off(w, s);
            let (sw, on) = {
                let ww = w.borrow();
                (ww.sws[s].sw.clone(), ww.sws[s].on)
            };
            let i = new_hook(w, s, reply);
            if on {
                w.borrow_mut().sws[s].hooks.push(i);
            }
            let wk2 = wk.clone();
            let p = sw.add_hook_or_exec(move || hook_fn(&wk2, i));
            let runs = w.borrow().hooks[i].runs;
            if on {
                if runs != 0 || !p.is_fulfilled() {
                    err(w, format!("add_hook_or_exec on switch {s} (on) ran the hook or did not return at once"));
                }
            } else {
                if runs != 1 {
                    err(
                        w,
                        format!("add_hook_or_exec on switch {s} (off) did not run the hook now"),
                    );
                }
                w.borrow_mut().execs.push((i, p));
            }
        }
        Act::TurnOff(k) => {
            let s = sw_index(w, k);
            sync_off(w, s);
            let sw = w.borrow().sws[s].sw.clone();
            let order = model_off(w, s, None);
            let p = sw.turn_off();
            match order {
                Some(order) => {
                    if let Some((_, slot)) = &mut w.borrow_mut().sws[s].first_off {
                        *slot = Some(p);
                    }
                    check_ran(w, s, &order);
                }
                None => {
                    if !p.is_fulfilled() {
                        err(
                            w,
                            format!("a second turn_off of switch {s} is not fulfilled at once"),
                        );
                    }
                    w.borrow_mut().later_offs.push(p);
                }
            }
        }
        Act::CancelOff(k) => {
            let p = {
                let ww = w.borrow();
                let offs: Vec<Promise<()>> = ww
                    .sws
                    .iter()
                    .filter_map(|s| s.first_off.as_ref().and_then(|(_, p)| p.clone()))
                    .collect();
                if offs.is_empty() {
                    return;
                }
                offs[k % offs.len()].clone()
            };
            p.cancel();
        }
        Act::ResolveHook(k, how) => {
            let r = {
                let mut ww = w.borrow_mut();
                let open: Vec<usize> = (0..ww.hooks.len())
                    .filter(|&i| ww.hooks[i].res.is_some())
                    .collect();
                if open.is_empty() {
                    return;
                }
                let i = open[k % open.len()];
                ww.hooks[i].res.take().map(|r| (r, i))
            };
            if let Some((r, i)) = r {
                match how {
                    How::Now => r.wakeup(()),
                    How::Later => r.wakeup_later(()),
                    How::Exn => r.wakeup_exn(Exn::failure(format!("{} rejected", tag(i)))),
                }
            }
        }
        Act::ResolveBody(k, how) => {
            let r = {
                let mut ww = w.borrow_mut();
                let open: Vec<usize> = (0..ww.withs.len())
                    .filter(|&i| ww.withs[i].body_res.is_some())
                    .collect();
                if open.is_empty() {
                    return;
                }
                let i = open[k % open.len()];
                ww.withs[i].body_res.take()
            };
            if let Some(r) = r {
                match how {
                    How::Now => r.wakeup(()),
                    How::Later => r.wakeup_later(()),
                    How::Exn => r.wakeup_exn(Exn::failure("<body> rejected")),
                }
            }
        }
        Act::IsOn(k) => {
            let s = sw_index(w, k);
            sync_off(w, s);
            let ww = w.borrow();
            let (on, model) = (ww.sws[s].sw.is_on(), ww.sws[s].on);
            let checked = ww.sws[s].sw.check().is_ok();
            drop(ww);
            if on != model || checked != model {
                err(
                    w,
                    format!("switch {s}: is_on {on}, check ok {checked}, the model says {model}"),
                );
            }
        }
        Act::WithSwitch(reply) => {
            let wi = {
                let mut ww = w.borrow_mut();
                let wi = ww.withs.len();
                ww.withs.push(WithRec {
                    sw: usize::MAX,
                    promise: None,
                    body: None,
                    body_res: None,
                });
                wi
            };
            let wk2 = wk.clone();
            let p = with_switch(move |sw| {
                let w = wk2.upgrade().expect("world");
                let s = {
                    let mut ww = w.borrow_mut();
                    let s = ww.sws.len();
                    ww.sws.push(SwRec {
                        sw,
                        on: true,
                        pending_off: false,
                        hooks: vec![],
                        first_off: None,
                    });
                    ww.withs[wi].sw = s;
                    s
                };
                script(&w);
                // `with_switch` turns the switch off once the body's promise resolves and its
                // callback on it has run (see `SwRec::pending_off`).
                let done = move |w: &W, out: Out| {
                    let mut ww = w.borrow_mut();
                    ww.withs[wi].body = Some(out);
                    ww.sws[s].pending_off = true;
                };
                match reply {
                    Reply::Ret => {
                        done(&w, Out::Ok);
                        Promise::ret(())
                    }
                    Reply::Fail => {
                        done(&w, Out::Err("<body>".into()));
                        Promise::fail(Exn::failure("<body> fails"))
                    }
                    Reply::Panic => {
                        done(&w, Out::Err("<body>".into()));
                        drop(w);
                        panic!("<body> panics")
                    }
                    Reply::Wait | Reply::Task => {
                        let (p, r) = if reply == Reply::Wait { wait() } else { task() };
                        w.borrow_mut().withs[wi].body_res = Some(r);
                        let (wk1, wk2) = (wk2.clone(), wk2.clone());
                        p.on_any(
                            move |_| {
                                if let Some(w) = wk1.upgrade() {
                                    done(&w, Out::Ok);
                                }
                            },
                            move |e| {
                                if let Some(w) = wk2.upgrade() {
                                    let o = match out_of(e) {
                                        Out::Err(_) => Out::Err("<body>".into()),
                                        o => o,
                                    };
                                    done(&w, o);
                                }
                            },
                        );
                        p
                    }
                }
            });
            w.borrow_mut().withs[wi].promise = Some(p);
        }
    }
}

fn promise_out(p: &Promise<()>) -> Option<Out> {
    if p.is_pending() {
        None
    } else if p.is_fulfilled() {
        Some(Out::Ok)
    } else {
        Some(out_of(&p.rejection().unwrap()))
    }
}

/// What a first turn-off must come to, given its hooks (last added first): `None` while one is
/// pending, else fulfilled or the failure of the first failing one in that order.
fn combine(ww: &World, order: &[usize]) -> Option<Out> {
    let mut result = Out::Ok;
    for &h in order {
        match &ww.hooks[h].out {
            None => return None,
            Some(Out::Ok) => {}
            Some(o) => {
                if result == Out::Ok {
                    result = o.clone();
                }
            }
        }
    }
    Some(result)
}

/// Checks made at top level, when no callback is left to run.
fn check(w: &W) -> Result<(), String> {
    if let Some(e) = first_async_error() {
        return Err(format!("a callback of the test panicked: {e}"));
    }
    // No callback is left: each `with_switch` whose body resolved has turned its switch off.
    let switches = w.borrow().sws.len();
    for s in 0..switches {
        sync_off(w, s);
    }
    let ww = w.borrow();
    if let Some(e) = ww.errors.first() {
        return Err(e.clone());
    }
    for (s, rec) in ww.sws.iter().enumerate() {
        if rec.sw.is_on() != rec.on {
            return Err(format!(
                "switch {s}: is_on {}, the model says {}",
                rec.sw.is_on(),
                rec.on
            ));
        }
        for &h in &rec.hooks {
            let runs = ww.hooks[h].runs;
            if runs != usize::from(!rec.on) {
                return Err(format!(
                    "switch {s} (on: {}): hook {h} ran {runs} times",
                    rec.on
                ));
            }
        }
        if let Some((order, Some(p))) = &rec.first_off {
            let want = combine(&ww, order);
            let got = promise_out(p);
            let ok = settled_as(&want, &got);
            if !ok {
                return Err(format!(
                    "switch {s}: turn_off came to {got:?}, its hooks {order:?} say {want:?}"
                ));
            }
        }
    }
    for (i, h) in ww.hooks.iter().enumerate() {
        if !ww.sws[h.sw].hooks.contains(&i) && h.runs > 0 && !ww.execs.iter().any(|(e, _)| *e == i)
        {
            return Err(format!("hook {i}, refused by add_hook, ran"));
        }
    }
    for (i, p) in &ww.execs {
        let want = ww.hooks[*i].out.clone();
        let got = promise_out(p);
        let ok = settled_as(&want, &got);
        if !ok {
            return Err(format!(
                "add_hook_or_exec of hook {i} came to {got:?}, the hook to {want:?}"
            ));
        }
    }
    for (i, wr) in ww.withs.iter().enumerate() {
        let Some(p) = &wr.promise else { continue };
        let got = promise_out(p);
        let want = match (
            &wr.body,
            ww.sws.get(wr.sw).and_then(|s| s.first_off.as_ref()),
        ) {
            (None, _) => None,
            (Some(body), Some((order, None))) => {
                // The with_switch's own turn-off.
                combine(&ww, order).map(|hooks| {
                    if hooks == Out::Ok {
                        body.clone()
                    } else {
                        hooks
                    }
                })
            }
            // Turned off by hand first: its own turn_off is a no-op.
            (Some(body), _) => Some(body.clone()),
        };
        let ok = settled_as(&want, &got);
        if !ok {
            return Err(format!(
                "with_switch {i} came to {got:?}, expected {want:?}"
            ));
        }
    }
    Ok(())
}

fn gen_act(r: &mut Rng) -> Act {
    let k = r.below(8) as usize;
    let reply = match r.below(10) {
        0..=3 => Reply::Ret,
        4 => Reply::Fail,
        5 => Reply::Panic,
        6..=7 => Reply::Wait,
        _ => Reply::Task,
    };
    let how = match r.below(5) {
        0 | 1 => How::Now,
        2 | 3 => How::Later,
        _ => How::Exn,
    };
    match r.below(100) {
        0..=29 => Act::AddHook(k, reply),
        30..=37 => Act::AddHookOrExec(k, reply),
        38..=49 => Act::TurnOff(k),
        50..=54 => Act::CancelOff(k),
        55..=74 => Act::ResolveHook(k, how),
        75..=82 => Act::ResolveBody(k, how),
        83..=87 => Act::IsOn(k),
        _ => Act::WithSwitch(reply),
    }
}

fn gen(r: &mut Rng) -> Vec<Op> {
    let n = 1 + r.below(50) as usize;
    (0..n)
        .map(|_| {
            if r.below(100) < 30 {
                Op::Script(gen_act(r))
            } else {
                Op::Act(gen_act(r))
            }
        })
        .collect()
}

fn run(ops: &[Op], trace: bool) -> Result<usize, String> {
    let w: W = Rc::new(RefCell::new(World {
        sws: vec![SwRec {
            sw: Switch::new(),
            on: true,
            pending_off: false,
            hooks: vec![],
            first_off: None,
        }],
        hooks: vec![],
        later_offs: vec![],
        execs: vec![],
        withs: vec![],
        seq: 0,
        scripts: VecDeque::new(),
        depth: 0,
        errors: vec![],
        log: vec![],
    }));
    let result = (|| {
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Act(a) => act(&w, a),
                Op::Script(a) => w.borrow_mut().scripts.push_back(a.clone()),
            }
            if trace {
                eprintln!("{i}: {op:?}");
            }
            check(&w).map_err(|e| format!("after op {i}: {e}"))?;
        }
        // Turn every switch off and resolve everything.
        w.borrow_mut().scripts.clear();
        for _ in 0..100 {
            let n = w.borrow().sws.len();
            for s in 0..n {
                if w.borrow().sws[s].on && w.borrow().withs.iter().all(|x| x.sw != s) {
                    act(&w, &Act::TurnOff(s));
                }
            }
            let (hs, bs) = {
                let mut ww = w.borrow_mut();
                let hs: Vec<Resolver<()>> =
                    ww.hooks.iter_mut().filter_map(|h| h.res.take()).collect();
                let bs: Vec<Resolver<()>> = ww
                    .withs
                    .iter_mut()
                    .filter_map(|x| x.body_res.take())
                    .collect();
                (hs, bs)
            };
            if hs.is_empty() && bs.is_empty() {
                break;
            }
            for r in hs.into_iter().chain(bs) {
                r.wakeup(());
                check(&w).map_err(|e| format!("while draining: {e}"))?;
            }
        }
        check(&w).map_err(|e| format!("at the end: {e}"))?;
        let ww = w.borrow();
        for (s, rec) in ww.sws.iter().enumerate() {
            if let Some((_, Some(p))) = &rec.first_off {
                if p.is_pending() {
                    return Err(format!("switch {s}: turn_off still pending at the end"));
                }
            }
        }
        if ww
            .withs
            .iter()
            .any(|x| x.promise.as_ref().is_some_and(|p| p.is_pending()))
        {
            return Err("a with_switch still pending at the end".into());
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
fn switch_against_a_model() {
    run_cases(
        "SWITCH_FUZZ",
        20000,
        |r| ((), gen(r)),
        |(), ops, trace| run(ops, trace),
    );
}
