//! Signals (Lwt_unix's `on_signal`): call a function on the loop's thread each time the process
//! receives a signal.
//!
//! A signal handler proper may do almost nothing (no allocation, no lock), so the handler that
//! [signal-hook](https://docs.rs/signal-hook) installs for us only writes a byte to a pipe, one
//! per signal received; the loop reads the pipe like any other descriptor and calls the
//! functions registered for the signal, in registration order, on the thread that registered
//! them, whenever that thread's loop runs, once per signal caught (up to the pipe's capacity:
//! see the differences below): never inside [`on_signal`]
//! itself, nor before the loop turns. That is Lwt's design too (a notification written by its
//! C handler and read by the engine). As there, a signal that arrives while the same one is
//! still pending in the kernel is merged with it by the kernel. Signals caught while the thread
//! had no handler of the signal (all of them disabled) are nobody's, even if a handler comes
//! later; a handler added beside others shares their pipe, so it is also called for the
//! signals already caught and not yet delivered (as in Lwt, whose list of handlers a delivery
//! reads when it runs).
//!
//! ```
//! use lwt_core::{main, unix::signal, wait};
//!
//! // A server's graceful stop: `stop` is fulfilled by the first SIGUSR1 (SIGINT or SIGTERM in a
//! // real program).
//! let (stop, r) = wait::<()>();
//! let mut r = Some(r);
//! let handler = signal::on_signal(signal::SIGUSR1, move |_| {
//!     if let Some(r) = r.take() {
//!         r.wakeup(());
//!     }
//! })
//! .unwrap();
//! signal::raise(signal::SIGUSR1).unwrap();
//! main::run(stop).unwrap();
//! signal::disable_signal_handler(handler);
//! ```
//!
//! # Differences from Lwt
//!
//! * Registration can fail, so [`on_signal`] returns a `Result`: `InvalidInput` for a signal
//!   that cannot be handled (`SIGKILL`, `SIGSTOP`) or that a handler must not intercept because
//!   the program's own faults raise it (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`) or that is not
//!   a signal number (outside 1 to 64), and the system's error, naming the call and the signal,
//!   for one the system refuses (the two real-time signals glibc keeps), and an error of kind
//!   `Other` in a thread-local's destructor run after this thread's handler table is gone, at
//!   the thread's end (where `disable_signal_handler` does nothing and `signal_count` is 0: the
//!   table's drop released its handlers). Lwt raises `Invalid_argument`.
//! * A function that panics does not stop the others: the panic goes to the
//!   [async exception hook](crate::hook), as a panic in any observer does. With no hook set,
//!   the default one ends the process with status 2, saying "unhandled error in a signal
//!   handler (signal 15, SIGTERM)".
//! * Each thread has its own handlers (every thread here has its own loop): [`signal_count`]
//!   counts the calling thread's.
//! * Signals of different kinds are not delivered in the order they were caught: each signal
//!   has its own pipe, so the signals of one kind caught between two reads are delivered
//!   together, in the order caught, then those of another kind (`SIGUSR1`, `SIGUSR2`,
//!   `SIGUSR1` caught before a turn of the loop make the calls `SIGUSR1`, `SIGUSR1`, `SIGUSR2`,
//!   or `SIGUSR2`, `SIGUSR1`, `SIGUSR1`: which kind comes first is not defined). Lwt calls the
//!   handlers in the order the signals were caught. Handlers of two signals that
//!   drive one state (pause and resume, say) must not rely on the order of signals caught close
//!   together.
//! * A function registered during a delivery (by one of the functions it calls) is called from
//!   the next signal on; Lwt calls it in that same delivery too.
//! * Each signal caught is a byte in its pipe, which holds 64 KiB on Linux: of a burst of more
//!   than 65,536 signals of one kind between two reads of the pipe (the loop not turning
//!   meanwhile), those beyond are lost (rev90: 100,000 raised, 65,536 calls). Lwt counts them
//!   without bound. A count per signal would need a signal handler of our own, which only
//!   `unsafe` code can install.
//! * Each function given to [`on_signal_full`] gets its own handler. Lwt 5.6.1 gives every
//!   function of a signal the handler of the signal's first registration, so that disabling
//!   "its own" handler from a later function disables the first one instead.
//! * When the process's last handler of a signal is disabled, the signal's default action comes
//!   back, as with Lwt's `SIG_DFL`: whatever else handled the signal before (another library's
//!   signal-hook action, or `nohup`'s ignored `SIGHUP`), the next one runs the default action.
//!   signal-hook emulates it: a signal its table does not name (the real-time signals, and
//!   `SIGSTKFLT` and `SIGPWR`) then ends the process with exit status 128 + its number rather
//!   than by the signal. `SIGPIPE` is the exception: Rust programs ignore it from the start, and
//!   it stays ignored (a write to a closed connection is a `BrokenPipe` error). A program that
//!   gave `SIGPIPE` its default action back (`libc::signal(SIGPIPE, SIG_DFL)`, or
//!   `-Zon-broken-pipe=kill`, so that `prog | head` ends quietly) finds it ignored too once a
//!   handler of it has been registered, even after that handler is disabled.
//! * Until the loop's next turn, a new handler's reading of its pipe waits in a
//!   [`pause`](crate::main::pause) (so that nothing is called inside `on_signal`), which
//!   [`paused_count`](crate::main::paused_count) counts.
//! * `reinstall_signal_handler` is not provided: the handler is signal-hook's, which other
//!   libraries in the process share rather than replace while a handler is registered here.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::exn::drop_payload;
use crate::hook;
use crate::promise::Promise;
use crate::schedule;
use crate::unix::Fd;

pub use signal_hook::consts::signal::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// A registered handler (Lwt's `signal_handler_id`), to [disable](disable_signal_handler) it.
/// Copyable: disabling it again, from any copy, does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalHandler {
    signum: i32,
    id: u64,
}

impl SignalHandler {
    /// The signal this handler is registered for.
    pub fn signal(&self) -> i32 {
        self.signum
    }

    /// [`disable_signal_handler`] as a method.
    pub fn disable(self) {
        disable_signal_handler(self)
    }
}

/// A registered function. Behind an `Rc<RefCell<..>>` so that a call can run while the table is
/// not borrowed (the function may register or disable handlers).
type Action = Rc<RefCell<dyn FnMut(SignalHandler, i32)>>;

/// The calling thread's handlers of one signal.
struct Watched {
    signum: i32,
    actions: Vec<(u64, Action)>,
    /// signal-hook's registration that writes to the pipe.
    hook: signal_hook::SigId,
    /// The loop reading the pipe; canceled when the last handler goes.
    reading: Promise<()>,
    /// The pipe's reading end, owned here until the first turn takes a clone for its read: a
    /// thread that ends before that turn closes it with this table.
    reader: Fd,
}

// Dropped when its last handler is disabled, or with the thread's table when the thread ends:
// either way signal-hook stops writing to the pipe (and closes its writing end), and the
// handlers still registered no longer count against the default action. (At the thread's end the
// reading end is in the read the engine forgets; the engine closes it.)
impl Drop for Watched {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.hook);
        for _ in &self.actions {
            release_default(self.signum);
        }
    }
}

thread_local! {
    static SIGNALS: RefCell<HashMap<i32, Watched>> = RefCell::default();
}

/// Handler ids, process-wide: a `SignalHandler` may be sent to another thread, where disabling
/// it must find nothing rather than a handler of that thread with the same number.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Per signal, process-wide: how many handlers all threads have, and the flag that lets the
/// default action run (true while there is none). The flag's action is registered once per
/// signal and never removed: signal-hook cannot give a signal its default disposition back, so
/// it emulates it.
static DEFAULTS: Mutex<Vec<(i32, Arc<AtomicBool>, usize)>> = Mutex::new(Vec::new());

/// Lwt_unix's `on_signal`: calls `f(signum)` on this thread, when its loop runs, each time the
/// process receives the signal `signum` (one of the constants of this module, or any number
/// `libc` names). See the [module docs](self) for the errors.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{main, unix::{self, signal}};
///
/// let seen = Rc::new(Cell::new(0));
/// let s = seen.clone();
/// let handler = signal::on_signal(signal::SIGUSR2, move |num| {
///     assert_eq!(num, signal::SIGUSR2);
///     s.set(s.get() + 1);
/// })
/// .unwrap();
/// signal::raise(signal::SIGUSR2).unwrap();
/// while seen.get() == 0 {
///     main::run(unix::sleep_secs(0.001)).unwrap();
/// }
/// handler.disable();
/// assert!(signal::on_signal(9, |_| ()).is_err()); // SIGKILL cannot be handled
/// ```
pub fn on_signal(signum: i32, mut f: impl FnMut(i32) + 'static) -> io::Result<SignalHandler> {
    on_signal_full(signum, move |_, num| f(num))
}

/// Lwt_unix's `on_signal_full`: [`on_signal`], with the handler given to `f` too, so that `f`
/// can disable it.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{main, unix::{self, signal}};
///
/// let calls = Rc::new(Cell::new(0));
/// let c = calls.clone();
/// signal::on_signal_full(signal::SIGWINCH, move |handler, _| {
///     c.set(c.get() + 1);
///     handler.disable(); // the first signal only
/// })
/// .unwrap();
/// signal::raise(signal::SIGWINCH).unwrap();
/// while signal::signal_count() > 0 {
///     main::run(unix::sleep_secs(0.001)).unwrap();
/// }
/// assert_eq!(calls.get(), 1);
/// ```
pub fn on_signal_full(
    signum: i32,
    f: impl FnMut(SignalHandler, i32) + 'static,
) -> io::Result<SignalHandler> {
    if signal_hook::consts::FORBIDDEN.contains(&signum)
        || signum == signal_hook::consts::signal::SIGBUS
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unix::on_signal: signal {signum} cannot be handled"),
        ));
    }
    if !(1..=MAX_SIGNAL).contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unix::on_signal: {signum} is not a signal number"),
        ));
    }
    // In a thread-local's destructor at the thread's end, after this thread's table is gone,
    // there is nothing left to file the handler in (nor a loop to call it).
    let Ok(watched) = SIGNALS.try_with(|s| s.borrow().contains_key(&signum)) else {
        return Err(io::Error::other(format!(
            "unix::on_signal({signum}): the thread is ending (its handler table is gone)"
        )));
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let handler = SignalHandler { signum, id };
    let action: Action = Rc::new(RefCell::new(f));
    if watched {
        acquire_default(signum).map_err(|e| about(signum, e))?;
        SIGNALS.with(|s| {
            let mut s = s.borrow_mut();
            let watched = s.get_mut(&signum).expect("looked up above");
            watched.actions.push((id, action));
        });
        return Ok(handler);
    }
    let (hook, reader) = watch_counted(signum).map_err(|e| about(signum, e))?;
    install(signum, hook, reader, id, action);
    Ok(handler)
}

/// [`watch`] and [`acquire_default`] for a thread's first handler of `signum`, under one lock of
/// [`DEFAULTS`].
///
/// The pipe first, so that a signal is never lost for want of both: from the pipe's registration
/// on, a signal caught is a call; only if no thread had a handler of the signal until then can it
/// also get its default action before the count is taken, as it would have a moment earlier.
/// The lock keeps another thread's last handler from being released between the two steps
/// (found in review, session 46): that turned the default action back on while this thread's pipe was
/// already catching the signal, so that a signal of a process that had a handler at every moment
/// could still end it.
fn watch_counted(signum: i32) -> io::Result<(signal_hook::SigId, Fd)> {
    let mut defaults = DEFAULTS.lock().unwrap_or_else(|e| e.into_inner());
    let (hook, reader) = watch(signum)?;
    #[cfg(test)]
    tests::between_watch_and_count();
    if let Err(e) = count_handler(&mut defaults, signum) {
        signal_hook::low_level::unregister(hook);
        return Err(e);
    }
    Ok((hook, reader))
}

/// Files the first handler of `signum` on this thread; the pipe is read from the next turn of
/// the loop on. A byte the signal handler wrote since the pipe was registered is a call of this
/// handler (read before the handler was in the table, it would have been a call of nobody: the
/// signal lost, neither handled nor given its default action). The first read waits for a turn
/// because a read of a pipe that holds bytes resolves at once, and its delivery would call the
/// function inside `on_signal`, before the caller even has the handler; Lwt calls the functions
/// only from the loop.
fn install(signum: i32, hook: signal_hook::SigId, reader: Fd, id: u64, action: Action) {
    let reading = crate::main::pause().bind(move |()| {
        let reader = SIGNALS.with(|s| {
            s.borrow()
                .get(&signum)
                .filter(|w| w.hook == hook)
                .map(|w| w.reader.clone())
        });
        match reader {
            Some(reader) => read_signals(signum, hook, reader),
            None => Promise::ret(()),
        }
    });
    SIGNALS.with(|s| {
        s.borrow_mut().insert(
            signum,
            Watched {
                signum,
                actions: vec![(id, action)],
                hook,
                reading,
                reader,
            },
        );
    });
}

/// The highest signal number on Linux (`SIGRTMAX`).
const MAX_SIGNAL: i32 = 64;

/// `e`, saying which call and signal it is about (the system's `EINVAL` names neither: glibc
/// keeps two real-time signals for itself, say).
fn about(signum: i32, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("unix::on_signal({signum}): {e}"))
}

/// Lwt_unix's `disable_signal_handler`: stops calling the handler's function. The signal's
/// default action comes back once no thread has a handler for it (see the
/// [module docs](self)). Disabling a handler again does nothing; a function running now
/// finishes.
pub fn disable_signal_handler(handler: SignalHandler) {
    // `None`: disabled already (or another thread's). `Some(emptied)`: removed, and with it the
    // table of the signal if that was its last handler.
    //
    // Called from another thread-local's destructor once this thread's table is gone (the
    // thread is ending), it finds nothing to do: the table's drop released every handler.
    let removed = SIGNALS.try_with(|s| {
        let mut s = s.borrow_mut();
        let watched = s.get_mut(&handler.signum)?;
        let at = watched
            .actions
            .iter()
            .position(|(id, _)| *id == handler.id)?;
        watched.actions.remove(at);
        Some(if watched.actions.is_empty() {
            s.remove(&handler.signum)
        } else {
            None
        })
    });
    let Some(emptied) = removed.ok().flatten() else {
        return;
    };
    release_default(handler.signum);
    if let Some(watched) = emptied {
        // Its drop unregisters the pipe's writer; the reading loop ends with its cancel.
        watched.reading.cancel();
    }
}

/// Lwt_unix's `signal_count`: how many handlers this thread has registered and not disabled
/// (none once the thread's handler table is gone, in the destructors run at the thread's end).
///
/// ```
/// assert_eq!(lwt_core::unix::signal::signal_count(), 0);
/// ```
pub fn signal_count() -> usize {
    SIGNALS
        .try_with(|s| s.borrow().values().map(|w| w.actions.len()).sum())
        .unwrap_or(0)
}

/// Sends `signum` to the calling thread (C's `raise`), for tests and for a program that signals
/// itself.
pub fn raise(signum: i32) -> io::Result<()> {
    signal_hook::low_level::raise(signum)
}

/// A pipe whose writing end signal-hook writes a byte to on each `signum`, and its reading end,
/// for the loop to read ([`read_signals`]).
fn watch(signum: i32) -> io::Result<(signal_hook::SigId, Fd)> {
    let (reader, writer) = std::io::pipe()?;
    let reader = Fd::from_owned(OwnedFd::from(reader))?;
    let hook = signal_hook::low_level::pipe::register(signum, writer)?;
    Ok((hook, reader))
}

/// Reads the bytes the signal handler wrote to the pipe of `hook`, one per signal caught, and
/// calls this thread's functions for `signum` once per byte, as long as that pipe is the one
/// filed for `signum`.
///
/// A panic of the async exception hook (called for a function's panic) goes on to the caller of
/// the loop as any hook's panic does, once this batch has been delivered and the next read made:
/// unwinding out of this `bind`'s function instead rejected the reading, and with it every later
/// signal, silently (see [`schedule::resume_later`]).
fn read_signals(signum: i32, hook: signal_hook::SigId, reader: Fd) -> Promise<()> {
    reader.read(64).bind(move |bytes| {
        let mut hook_panic = None;
        let next = 'batch: {
            for _ in &bytes {
                // Once the last handler goes, its pipe's bytes are signals caught for nobody: a
                // handler registered since (by a function of this very batch, say) has a pipe of
                // its own, and `deliver` would otherwise give it signals caught before it existed.
                if !is_filed(signum, hook) {
                    break 'batch Promise::ret(());
                }
                deliver(signum, &mut hook_panic);
            }
            if bytes.is_empty() || !is_filed(signum, hook) {
                // (Empty: the writing end is closed, the handlers were disabled.)
                break 'batch Promise::ret(());
            }
            read_signals(signum, hook, reader)
        };
        if let Some(payload) = hook_panic {
            // Queued, never raised here: the next read is already made.
            schedule::resume_later(payload);
        }
        next
    })
}

/// Is the pipe of `hook` the one this thread reads for `signum`?
fn is_filed(signum: i32, hook: signal_hook::SigId) -> bool {
    SIGNALS.with(|s| s.borrow().get(&signum).is_some_and(|w| w.hook == hook))
}

/// Calls the functions registered for `signum` now, in registration order; each guarded, so that
/// a panic goes to the hook and the others still run. The table is not borrowed during a call.
/// Should the hook itself panic, the others still run too: the first such panic is kept in
/// `hook_panic` for the caller to let go on, later ones are dropped.
fn deliver(signum: i32, hook_panic: &mut Option<Box<dyn Any + Send>>) {
    let actions: Vec<(u64, Action)> = SIGNALS.with(|s| {
        s.borrow()
            .get(&signum)
            .map(|w| w.actions.clone())
            .unwrap_or_default()
    });
    for (id, action) in actions {
        // Disabled by a function called before it in this delivery: skipped.
        let live = SIGNALS.with(|s| {
            s.borrow()
                .get(&signum)
                .is_some_and(|w| w.actions.iter().any(|(i, _)| *i == id))
        });
        if live {
            let handler = SignalHandler { signum, id };
            // Never borrowed already: a loop turned from inside a call (the exit hooks') cannot
            // deliver this signal again meanwhile, since the pipe's next read is made only once
            // this delivery has returned (`read_signals`).
            let called = catch_unwind(AssertUnwindSafe(|| {
                hook::guard_from(hook::Source::SignalHandler(signum), || {
                    (action.borrow_mut())(handler, signum)
                })
            }));
            if let Err(payload) = called {
                match hook_panic {
                    None => *hook_panic = Some(payload),
                    Some(_) => drop_payload(payload),
                }
            }
        }
    }
}

/// Counts one more handler of `signum` in the process, and turns the default action off.
fn acquire_default(signum: i32) -> io::Result<()> {
    count_handler(
        &mut DEFAULTS.lock().unwrap_or_else(|e| e.into_inner()),
        signum,
    )
}

/// [`acquire_default`] with [`DEFAULTS`] locked.
fn count_handler(defaults: &mut Vec<(i32, Arc<AtomicBool>, usize)>, signum: i32) -> io::Result<()> {
    if let Some(entry) = defaults.iter_mut().find(|(s, _, _)| *s == signum) {
        entry.2 += 1;
        entry.1.store(false, Ordering::SeqCst);
        return Ok(());
    }
    let run_default = Arc::new(AtomicBool::new(false));
    if signal_hook::low_level::signal_name(signum).is_some() {
        if signum != SIGPIPE {
            signal_hook::flag::register_conditional_default(signum, run_default.clone())?;
        }
    } else {
        // A real-time signal, `SIGSTKFLT` or `SIGPWR`, whose default action (termination)
        // signal-hook's table does not know: the shell's status for a process ended by it.
        signal_hook::flag::register_conditional_shutdown(
            signum,
            128 + signum,
            run_default.clone(),
        )?;
    }
    defaults.push((signum, run_default, 1));
    Ok(())
}

/// Counts one handler of `signum` less; with none left, the default action is back.
fn release_default(signum: i32) {
    let mut defaults = DEFAULTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = defaults.iter_mut().find(|(s, _, _)| *s == signum) {
        entry.2 -= 1;
        if entry.2 == 0 {
            entry.1.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::mpsc;
    use std::time::Duration;

    thread_local! {
        /// Run by [`watch_counted`] between its two steps, on this thread: a test's way into
        /// the window between them.
        static BETWEEN: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn between_watch_and_count() {
        if let Some(f) = BETWEEN.with(|b| b.borrow_mut().take()) {
            f();
        }
    }

    /// Files a handler of `signum` that counts its calls, with one signal caught after the
    /// pipe was registered and before the handler is filed: its byte waits in the pipe.
    fn install_with_a_signal_waiting(signum: i32) -> (Rc<Cell<u32>>, SignalHandler) {
        let (hook, reader) = watch(signum).unwrap();
        acquire_default(signum).unwrap();
        raise(signum).unwrap();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        install(
            signum,
            hook,
            reader,
            id,
            Rc::new(RefCell::new(move |_, _| c.set(c.get() + 1))),
        );
        (calls, SignalHandler { signum, id })
    }

    /// Turns the loop until `calls` is non-zero (at most a second).
    fn turn_until_called(calls: &Cell<u32>) {
        for _ in 0..1000 {
            if calls.get() > 0 {
                break;
            }
            crate::main::run(crate::unix::sleep_secs(0.001)).unwrap();
        }
    }

    /// Found in review (session 31): the pipe was read from its registration on, before the
    /// first handler was in the table, so a signal caught in between was read, found no
    /// handler, and was lost (31 times in 20,000 registrations under a flood of signals).
    #[test]
    fn a_signal_caught_before_the_first_handler_is_filed_is_a_call_of_it() {
        let (calls, handler) = install_with_a_signal_waiting(43);
        turn_until_called(&calls);
        disable_signal_handler(handler);
        assert_eq!(calls.get(), 1);
    }

    /// Found in review (rev45, session 34): the pipe's first read was made inside the
    /// registration, and a signal caught between the pipe's registration and that read was
    /// delivered at once: the function ran inside `on_signal`, before its caller had the
    /// handler (a `RefCell` the caller held while registering was then borrowed twice).
    /// Reproduced here without the race: the byte is in the pipe before the handler is filed.
    #[test]
    fn a_function_is_never_called_inside_its_registration() {
        for disable_before_the_loop_turns in [false, true] {
            let (calls, handler) = install_with_a_signal_waiting(42);
            assert_eq!(calls.get(), 0, "called before its registration returned");
            if disable_before_the_loop_turns {
                disable_signal_handler(handler);
                crate::main::run(crate::unix::sleep_secs(0.01)).unwrap();
                assert_eq!(calls.get(), 0, "called after it was disabled");
            } else {
                turn_until_called(&calls);
                disable_signal_handler(handler);
                assert_eq!(calls.get(), 1);
            }
        }
    }

    /// Found in review (session 46): between a thread's first handler's pipe and its count,
    /// another thread's last handler of the signal could be released, which turned the default
    /// action back on while the new pipe was already catching the signal: a process with a
    /// handler at every moment could be ended by the signal. The release now waits for the
    /// count.
    #[test]
    fn a_last_handler_released_elsewhere_during_a_first_registration_leaves_the_default_off() {
        const SIGNUM: i32 = 45; // this test's own: the counts are process-wide
        let (disable, disable_rx) = mpsc::channel::<()>();
        let (released, released_rx) = mpsc::channel::<()>();
        let (registered, registered_rx) = mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            let handler = on_signal(SIGNUM, |_| ()).unwrap();
            registered.send(()).unwrap();
            disable_rx.recv().unwrap();
            disable_signal_handler(handler);
            // Received only if the release did not wait for the other registration's count.
            let _ = released.send(());
        });
        registered_rx.recv().unwrap();
        let run_default = DEFAULTS
            .lock()
            .unwrap()
            .iter()
            .find(|(s, _, _)| *s == SIGNUM)
            .map(|(_, flag, _)| flag.clone())
            .unwrap();
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        BETWEEN.with(|b| {
            *b.borrow_mut() = Some(Box::new(move || {
                disable.send(()).unwrap();
                // Without the lock, the release completes at once.
                let _ = released_rx.recv_timeout(Duration::from_millis(200));
                s.set(Some(run_default.load(Ordering::SeqCst)));
            }))
        });
        let mine = on_signal(SIGNUM, |_| ()).unwrap();
        other.join().unwrap();
        assert_eq!(
            seen.get(),
            Some(false),
            "the default action was on while this thread's pipe caught the signal"
        );
        assert_eq!(signal_count(), 1);
        disable_signal_handler(mine);
    }
}
