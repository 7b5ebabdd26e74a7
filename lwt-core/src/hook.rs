//! The async exception hook: where failures that no promise can carry go.
//!
//! A panic inside a `bind`-family callback rejects the promise that depended on the callback. An
//! `on_success` / `on_failure` / `on_any` / `on_termination` callback has no such promise, and
//! neither does a promise given to [`dont_wait`](crate::dont_wait) without a handler: their
//! failures go to this hook, as in Lwt (`Lwt.async_exception_hook`).
//!
//! The default hook prints the error to standard error (its message, its causes and the
//! locations it passed through) and exits the process with status 2 through
//! [`main::exit`](crate::main::exit), like Lwt's `exit 2`: the exit hooks of the thread run,
//! so its output channels are flushed first. A failure nobody handles should not pass
//! silently. Servers usually install their own. Two exits skip the flush: one from inside the
//! exit hooks, which ends the process at once (as Lwt's), and one on another thread than the
//! loop that wrote, since hooks are per thread.
//!
//! A hook may itself panic (a test that wants any such failure to fail it, say). That panic goes
//! on to the caller of the `wakeup`, `cancel` or `run` that led to the callback, but only once
//! every other callback that resolution reached has run: no callback is skipped, and the
//! promises stay usable.
//!
//! ```
//! use std::{cell::RefCell, rc::Rc};
//! use lwt_core::{hook, wait};
//!
//! let seen = Rc::new(RefCell::new(Vec::new()));
//! let s = seen.clone();
//! let previous = hook::set_async_exception_hook(move |e| s.borrow_mut().push(e.to_string()));
//!
//! let (p, r) = wait::<u8>();
//! p.on_success(|_| panic!("observer failed"));
//! r.wakeup(1);
//! assert_eq!(*seen.borrow(), ["panicked: observer failed"]);
//! hook::restore_async_exception_hook(previous);
//! ```

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::exn::Exn;

/// A hook, as stored.
pub type Hook = Rc<dyn Fn(&Exn)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Installs `hook` for this thread and returns the previous one (`None` = the default), so that
/// it can be put back with [`restore_async_exception_hook`].
pub fn set_async_exception_hook(hook: impl Fn(&Exn) + 'static) -> Option<Hook> {
    HOOK.with(|h| h.replace(Some(Rc::new(hook))))
}

/// Puts back a hook returned by [`set_async_exception_hook`] (`None`: the default).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{async_, hook, Promise};
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let (outer, inner) = (seen.clone(), seen.clone());
/// let default = hook::set_async_exception_hook(move |e| outer.borrow_mut().push(format!("outer: {e}")));
/// let outer_hook = hook::set_async_exception_hook(move |e| inner.borrow_mut().push(format!("inner: {e}")));
/// async_(|| Promise::fail_with("one"));
/// hook::restore_async_exception_hook(outer_hook); // the outer hook is back
/// async_(|| Promise::fail_with("two"));
/// assert_eq!(*seen.borrow(), ["inner: one", "outer: two"]);
/// hook::restore_async_exception_hook(default);
/// ```
pub fn restore_async_exception_hook(previous: Option<Hook>) {
    // The replaced hook is dropped after the borrow: its captures may set or read the hook when
    // they drop.
    let replaced = HOOK.with(|h| std::mem::replace(&mut *h.borrow_mut(), previous));
    drop(replaced);
}

/// Passes `error` to the current hook. With no hook set, that is the default one, as Lwt's:
/// it prints the error to stderr and ends the process with exit code 2, after running the
/// thread's exit hooks, which flush its output channels (see the [module docs](self)).
///
/// ```
/// let _previous = lwt_core::hook::set_async_exception_hook(|e| assert_eq!(e.to_string(), "x"));
/// lwt_core::hook::report(&lwt_core::Exn::failure("x"));
/// ```
pub fn report(error: &Exn) {
    report_from(error, Source::Detached);
}

/// Where a failure given to the default hook came from: it names the place in its message, so
/// that a program that exits on it tells its user what to handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A detached callback or promise (`on_success`, `async_`, `dont_wait`...).
    Detached,
    /// A server with no `ServerConfig::on_error`: what failed (its connection handler, an
    /// accept, a close).
    Server(&'static str),
    /// A function registered with `unix::on_signal` for this signal number.
    SignalHandler(i32),
}

/// [`report`], naming `source` if the default hook ends the process.
pub(crate) fn report_from(error: &Exn, source: Source) {
    let hook = HOOK.with(|h| h.borrow().clone());
    match hook {
        Some(hook) => hook(error),
        None => default_hook(error, source),
    }
}

/// [`report`] for a failure Lwt ignores, which must not end the process: an exit hook's (Lwt's
/// `exit` runs the others all the same). An installed hook gets it; the default one, which
/// would exit with status 2 before the other exit hooks run, is not called: the failure is
/// printed to standard error, and the caller goes on.
pub(crate) fn report_not_fatal(error: &Exn, what: &str) {
    let hook = HOOK.with(|h| h.borrow().clone());
    match hook {
        Some(hook) => hook(error),
        None => eprintln!("lwt: {what} failed: {}", describe(error)),
    }
}

fn default_hook(error: &Exn, source: Source) -> ! {
    eprintln!("{}", default_message(error, source));
    // As Lwt's `exit 2`, which runs OCaml's `at_exit`, and so Lwt's exit hooks: the output
    // channels are flushed there, and what the program wrote before the failure is not lost.
    // (From inside the exit hooks, `exit` ends the process at once.)
    crate::main::exit(2)
}

/// What the default hook prints before it exits: the error's message, the messages of its
/// sources that it does not already include, and the locations it passed through.
fn default_message(error: &Exn, source: Source) -> String {
    let described = describe(error);
    match source {
        Source::Detached => format!("lwt: unhandled error in a detached callback: {described}"),
        Source::Server(what) => format!(
            "lwt: unhandled error in a server ({what}): {described}\n\
             lwt: give the server `ServerConfig::on_error` (or set an async exception hook) \
             to handle its errors and keep serving"
        ),
        Source::SignalHandler(signum) => {
            let signal = match signal_hook::low_level::signal_name(signum) {
                Some(name) => format!("signal {signum}, {name}"),
                None => format!("signal {signum}"),
            };
            format!("lwt: unhandled error in a signal handler ({signal}): {described}")
        }
    }
}

/// `error`'s message, then `caused by:` its sources (those whose message it does not already
/// contain: an error that names a path wraps the system's and repeats its text), then its trail.
fn describe(error: &Exn) -> String {
    use std::fmt::Write;
    let mut text = error.to_string();
    let mut source = error.as_error().source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            let _ = write!(text, "\n    caused by: {message}");
        }
        source = cause.source();
    }
    for location in error.locations() {
        let _ = write!(text, "\n    passed through {location}");
    }
    if error.trail_dropped() > 0 {
        let _ = write!(
            text,
            "\n    ... and {} more locations",
            error.trail_dropped()
        );
    }
    text
}

/// Runs an observer callback, sending a panic to the hook instead of unwinding into the loop.
pub(crate) fn guard(f: impl FnOnce()) {
    guard_from(Source::Detached, f);
}

/// [`guard`], naming `source` if the default hook ends the process.
pub(crate) fn guard_from(source: Source, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        report_from(&Exn::from_panic(payload), source);
    }
}
