//! Timers: [`sleep`], [`sleep_secs`], [`timeout`], [`with_timeout`] (Lwt_unix's).
//!
//! Timers live in the loop's heap and fire in deadline order (ties: creation order). A sleep is
//! cancelable; canceling it removes its timer. Only [`main::run`](crate::main::run) makes time
//! pass: a sleep created outside `run` fires during the next `run` once its deadline is reached.

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::combinators::pick;
use crate::engine;
use crate::promise::Promise;

/// Lwt_unix's `sleep`: a promise fulfilled after `duration`. Cancelable. A duration too long
/// for the clock (`Duration::MAX`, say) sleeps for [`FOREVER`], a century, instead of panicking.
///
/// Never early, and late by the loop's wait: the loop waits with the system's poll (`epoll` on
/// Linux), whose timeout counts whole milliseconds, rounded up, so a sleep shorter than a
/// millisecond takes about one when nothing else wakes the loop.
///
/// ```
/// use std::time::{Duration, Instant};
/// use lwt_core::{main, unix};
///
/// let start = Instant::now();
/// main::run(unix::sleep(Duration::from_millis(20))).unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(20));
///
/// let never = unix::sleep(Duration::MAX);
/// assert!(never.is_pending());
/// never.cancel();
/// ```
pub fn sleep(duration: Duration) -> Promise<()> {
    let now = Instant::now();
    // The monotonic clock counts seconds in an i64 from boot: a century ahead always fits.
    let deadline = now
        .checked_add(duration.min(FOREVER))
        .expect("the clock reaches a century ahead");
    engine::with(|e| e.sleep_until(deadline))
}

/// The longest [`sleep`]: 100 years. Longer durations are cut to it.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A promise fulfilled once `deadline` has passed. Cancelable. Timers with the same deadline
/// fire in creation order.
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// lwt_core::main::run(lwt_core::unix::sleep_until(deadline)).unwrap();
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) -> Promise<()> {
    engine::with(|e| e.sleep_until(deadline))
}

/// Lwt_unix's `auto_yield`: a function that yields ([`main::yield_`](crate::main::yield_))
/// once `interval` has passed since it last did (or since it was made), and otherwise gives a
/// resolved promise. A loop over data that is ready at once (a buffered channel, a list) calls
/// it at each step: the other promises get to run every `interval`, and the steps in between
/// cost no turn of the loop. Clones share the time of the last yield, so the function works in
/// a loop body of `lwt!`, which is cloned for each iteration.
///
/// ```
/// use std::time::Duration;
/// use lwt_core::{main, unix};
///
/// let maybe_yield = unix::auto_yield(Duration::from_secs(3600));
/// assert!(maybe_yield().is_fulfilled()); // not an hour yet: no yield
/// let every_time = unix::auto_yield(Duration::ZERO);
/// let yielded = every_time();
/// assert!(yielded.is_pending()); // resolved at the next turn of the loop
/// main::run(yielded).unwrap();
/// ```
pub fn auto_yield(interval: Duration) -> impl Fn() -> Promise<()> + Clone + 'static {
    every(interval, crate::main::yield_)
}

/// Lwt_unix's `auto_pause`: [`auto_yield`] with [`main::pause`](crate::main::pause) (the same
/// here: `yield_` is a `pause`).
///
/// ```
/// use std::time::Duration;
/// let maybe_pause = lwt_core::unix::auto_pause(Duration::from_millis(50));
/// assert!(maybe_pause().is_fulfilled());
/// ```
pub fn auto_pause(interval: Duration) -> impl Fn() -> Promise<()> + Clone + 'static {
    every(interval, crate::main::pause)
}

/// A function that calls `pause` once `interval` has passed since it last did, as Lwt's
/// `auto_yield` does: the next limit counts from the call that paused, not from the last limit,
/// so a loop that was away for long pauses once, not once per interval missed.
fn every(
    interval: Duration,
    pause: fn() -> Promise<()>,
) -> impl Fn() -> Promise<()> + Clone + 'static {
    let after = move |now: Instant| now.checked_add(interval.min(FOREVER)).unwrap_or(now);
    let limit = Rc::new(Cell::new(after(Instant::now())));
    move || {
        let now = Instant::now();
        if now >= limit.get() {
            limit.set(after(now));
            pause()
        } else {
            Promise::ret(())
        }
    }
}

/// [`sleep`] for a number of seconds, like Lwt's `Lwt_unix.sleep 0.5`. A negative number is a
/// deadline that long ago, as Lwt's: it fires at the loop's next timer turn, before the timers
/// due now, the more negative the earlier (`sleep_secs(-1.0)` before a `sleep_secs(0.0)` made
/// before it). Infinity (or anything past [`FOREVER`]) sleeps [`FOREVER`], as
/// `Lwt_unix.sleep infinity` never wakes up, and so does NaN, as `Lwt_unix.sleep nan`.
///
/// ```
/// use lwt_core::{main, unix};
/// main::run(unix::sleep_secs(0.01)).unwrap();
/// let never = unix::sleep_secs(f64::INFINITY);
/// main::run(unix::sleep_secs(0.01)).unwrap();
/// assert!(never.is_pending());
/// ```
pub fn sleep_secs(seconds: f64) -> Promise<()> {
    if seconds < 0.0 {
        // Clamped to zero, a negative sleep lost Lwt's order among the timers already due.
        let ago = Duration::from_secs_f64((-seconds).min(FOREVER.as_secs_f64()));
        return sleep_until(before_now(ago));
    }
    sleep(secs_to_duration(seconds))
}

/// The instant `ago` before now, or as far back as the clock goes (the monotonic clock starts
/// near boot, so a century ago does not exist).
fn before_now(mut ago: Duration) -> Instant {
    let now = Instant::now();
    loop {
        if let Some(then) = now.checked_sub(ago) {
            return then;
        }
        ago /= 2; // ends: `now - 0` is `now`
    }
}

/// A number of seconds as a duration: 0 for negative numbers (which [`sleep_secs`] takes as
/// past deadlines before it gets here), at most [`FOREVER`], which NaN is too (libev never
/// fires a timer at NaN).
fn secs_to_duration(seconds: f64) -> Duration {
    if seconds <= 0.0 {
        Duration::ZERO
    } else if seconds.is_nan() || seconds >= FOREVER.as_secs_f64() {
        FOREVER
    } else {
        Duration::from_secs_f64(seconds)
    }
}

/// The rejection of [`timeout`] (Lwt_unix's `Timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timeout")
    }
}

impl Error for Timeout {}

/// Lwt_unix's `timeout`: a promise rejected with [`Timeout`] after `duration`. Cancelable.
///
/// To bound another promise's time, as tokio's `time::timeout(d, future)` does, use
/// [`with_timeout`], which also cancels the slow promise: it is [`pick`] of this
/// and that promise.
///
/// ```
/// use std::time::Duration;
/// use lwt_core::{main, unix};
/// let e = main::run(unix::timeout::<()>(Duration::from_millis(1))).unwrap_err();
/// assert!(e.is::<unix::Timeout>());
/// ```
pub fn timeout<T: 'static>(duration: Duration) -> Promise<T> {
    sleep(duration).bind(|()| Promise::fail(Timeout))
}

/// Lwt_unix's `with_timeout`: `f()`'s outcome, unless `duration` passes first: then `f()`'s
/// promise is canceled and the result is rejected with [`Timeout`].
///
/// ```
/// use std::time::Duration;
/// use lwt_core::{main, unix};
/// let slow = unix::with_timeout(Duration::from_millis(5), || unix::sleep(Duration::from_secs(60)));
/// assert!(main::run(slow).unwrap_err().is::<unix::Timeout>());
/// let fast = unix::with_timeout(Duration::from_secs(60), || lwt_core::Promise::ret(1));
/// assert_eq!(main::run(fast).unwrap(), 1);
/// ```
pub fn with_timeout<T: 'static>(duration: Duration, f: impl FnOnce() -> Promise<T>) -> Promise<T> {
    // `f` first, as in Lwt (`pick [timeout d; apply f ()]`, a list OCaml evaluates right to
    // left): made first, the timer was left behind, waiting and counted, when `f` panicked. And
    // as `apply`, a panic in `f` is a rejection, not an unwinding out of `with_timeout`.
    let operation = crate::bind::guarded(|()| f(), ());
    pick([timeout(duration), operation])
}

/// How many timers are waiting on this thread's loop (for tests and diagnostics).
///
/// ```
/// let s = lwt_core::unix::sleep_secs(10.0);
/// assert_eq!(lwt_core::unix::timer_count(), 1);
/// s.cancel();
/// assert_eq!(lwt_core::unix::timer_count(), 0);
/// ```
pub fn timer_count() -> usize {
    engine::with(|e| e.timer_count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_become_durations_like_lwt_unix_sleep() {
        // Found in review (session 21): NaN slept zero seconds; Lwt's never fires.
        assert_eq!(secs_to_duration(f64::NAN), FOREVER);
        assert_eq!(secs_to_duration(-1.0), Duration::ZERO);
        assert_eq!(secs_to_duration(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(secs_to_duration(0.25), Duration::from_millis(250));
        // Found in review: infinity slept zero seconds, so "no timeout" timed out at once.
        assert_eq!(secs_to_duration(f64::INFINITY), FOREVER);
        assert_eq!(secs_to_duration(1e300), FOREVER);
    }

    /// Found in review (session 30): negative sleeps were clamped to zero and fired in creation
    /// order with the zero ones. Lwt 5.6.1 prints `sleepneg,sleep0,pause` for this program
    /// (`Lwt_unix.sleep 0.`, `Lwt.pause ()`, `Lwt_unix.sleep (-1.)`, made in that order).
    #[test]
    fn a_negative_sleep_fires_before_the_timers_due_now() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let program = crate::main::pause().bind(move |()| {
            let note = |what: &'static str| {
                let s = s.clone();
                move |()| s.borrow_mut().push(what)
            };
            let a = sleep_secs(0.0).map(note("sleep0"));
            let b = crate::main::pause().map(note("pause"));
            let c = sleep_secs(-1.0).map(note("sleepneg"));
            let d = sleep_secs(f64::NEG_INFINITY).map(note("sleep-inf"));
            crate::join(vec![a, b, c, d])
        });
        crate::main::run(program).unwrap();
        assert_eq!(*seen.borrow(), ["sleep-inf", "sleepneg", "sleep0", "pause"]);
    }
}
