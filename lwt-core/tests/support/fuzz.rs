//! What the randomized tests share: a seeded generator, settings read from the environment, and
//! the loop that runs the cases, shrinks a failing one and reports it.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

/// A xorshift generator: the cases are reproducible from the seed alone.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// The generator of case `case` of a run from `seed`.
    pub(crate) fn for_case(seed: u64, case: u64) -> Rng {
        let mut r = Rng(seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(case * 2 + 1)
            | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }
}

/// A number from the environment, or `default`.
pub(crate) fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How deep scripted actions may nest (an action's callbacks running the next action...).
const MAX_SCRIPT_DEPTH: usize = 6;

/// Runs the next action a case scripted to happen inside a callback, with `act`, unless scripted
/// actions already nest [`MAX_SCRIPT_DEPTH`] deep. `parts` finds the world's queue of scripted
/// actions and its nesting depth.
pub(crate) fn run_script<W, A>(
    w: &Rc<RefCell<W>>,
    parts: fn(&mut W) -> (&mut VecDeque<A>, &mut usize),
    act: impl FnOnce(&Rc<RefCell<W>>, &A),
) {
    let a = {
        let mut ww = w.borrow_mut();
        let (queue, depth) = parts(&mut ww);
        if *depth >= MAX_SCRIPT_DEPTH {
            return;
        }
        queue.pop_front()
    };
    if let Some(a) = a {
        *parts(&mut w.borrow_mut()).1 += 1;
        act(w, &a);
        *parts(&mut w.borrow_mut()).1 -= 1;
    }
}

thread_local! {
    /// Panics in the test's own observers (reported by lwt's async exception hook).
    pub(crate) static ASYNC_ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Set while this thread runs cases: its panics (the bodies that panic on purpose, or one
    /// that escapes a case) are recorded in `LAST_PANIC` instead of printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// One panic hook for the process (a binary's tests run on parallel threads, and swapping hooks
/// per test would race): quiet on a thread that runs cases, the default hook elsewhere.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                LAST_PANIC.with(|l| *l.borrow_mut() = info.to_string());
            } else {
                default_hook(info);
            }
        }));
    });
}

/// The first panic the async exception hook reported in this case, if any.
pub(crate) fn first_async_error() -> Option<String> {
    ASYNC_ERRORS.with(|a| a.borrow().first().cloned())
}

/// Runs the cases of a randomized test named by `prefix`: `<prefix>_CASES` of them (default
/// `cases`) from seed `<prefix>_SEED` (default 1); `<prefix>_CASE=<n>` runs case `n` alone, with
/// `trace` on. `gen` makes a case from its generator (a setting and a list of operations), `run`
/// runs it and says how many steps it made, or what went wrong; a panic that escapes a case (from
/// the crate, say) fails it too. A failing case is shrunk (an operation at a time is removed while
/// it still fails) and reported with a panic. Panics on this thread are kept off the output
/// meanwhile (the cases make some on purpose), and those the async exception hook reports are
/// collected for `run` to read (`first_async_error`).
pub(crate) fn run_cases<S: Debug, O: Clone + Debug>(
    prefix: &str,
    cases: u64,
    gen: impl Fn(&mut Rng) -> (S, Vec<O>),
    run: impl Fn(&S, &[O], bool) -> Result<usize, String>,
) {
    let cases = env(&format!("{prefix}_CASES"), cases);
    let seed = env(&format!("{prefix}_SEED"), 1);
    let only = std::env::var(format!("{prefix}_CASE"))
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    install_panic_hook();
    QUIET.with(|q| q.set(true));
    lwt_core::hook::set_async_exception_hook(|e| {
        ASYNC_ERRORS.with(|a| a.borrow_mut().push(e.to_string()))
    });
    let run = |setting: &S, ops: &[O], trace: bool| {
        ASYNC_ERRORS.with(|a| a.borrow_mut().clear());
        std::panic::catch_unwind(AssertUnwindSafe(|| run(setting, ops, trace))).unwrap_or_else(
            |_| {
                let at = LAST_PANIC.with(|l| l.borrow().clone());
                Err(format!("a panic escaped the case: {at}"))
            },
        )
    };
    let mut failure = None;
    let mut steps = 0;
    // A case is made from its own generator, so `<prefix>_CASE` replays it without the cases
    // before it, and whatever `<prefix>_CASES` says: a failure at case 1809 is replayed with the
    // default count of 1200 too (it used to run nothing, and pass).
    let (first, end) = match only {
        Some(o) => (o, o + 1),
        None => (0, cases),
    };
    for case in first..end {
        let (setting, ops) = gen(&mut Rng::for_case(seed, case));
        match run(&setting, &ops, only.is_some()) {
            Ok(n) => steps += n,
            Err(e) => {
                let mut ops = ops;
                let mut i = 0;
                while i < ops.len() {
                    let mut fewer = ops.clone();
                    fewer.remove(i);
                    if run(&setting, &fewer, false).is_err() {
                        ops = fewer;
                    } else {
                        i += 1;
                    }
                }
                let small = run(&setting, &ops, false).err().unwrap_or_default();
                failure = Some(format!(
                    "{prefix}: case {case} (seed {seed}): {}\n\nshrunk to {setting:?}, {ops:?}:\n{small}",
                    e.lines().next().unwrap_or("")
                ));
                break;
            }
        }
    }
    QUIET.with(|q| q.set(false));
    if let Some(f) = failure {
        panic!("{f}");
    }
    eprintln!("{prefix}: {} cases, {steps} steps clean", end - first);
}
