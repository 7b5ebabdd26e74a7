//! Promises of `Result`s with typed errors (Lwt's `Lwt_result`).
//!
//! A `Promise<Result<T, E>>` separates two kinds of failure: expected errors, typed `E` and
//! carried as values (`Err`), and exceptional ones, carried by rejection ([`Exn`]). These
//! functions chain the `Ok` path and pass `Err` along, as `Lwt_result`'s do; the trait
//! [`ResultPromise`] gives the main ones as methods (Lwt_result's `Infix` and `Syntax`).
//! `map_err` and `bind_lwt_err`, deprecated in Lwt, are [`map_error`] and [`bind_lwt_error`].
//!
//! ```
//! use lwt_core::{result as lr, Promise, State};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! enum LoginError { NoSuchUser }
//!
//! fn find_user(name: &str) -> Promise<Result<u32, LoginError>> {
//!     lr::lift(if name == "root" { Ok(0) } else { Err(LoginError::NoSuchUser) })
//! }
//!
//! let ok = lr::map(|id| id + 1, lr::bind(find_user("root"), |id| lr::ok_value(id)));
//! assert_eq!(ok.state(), State::Fulfilled(Ok(1)));
//! let err = lr::bind(find_user("eve"), |id| lr::ok_value(id));
//! assert_eq!(err.state(), State::Fulfilled(Err(LoginError::NoSuchUser)));
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use crate::exn::Exn;
use crate::promise::Promise;

/// Lwt_result's `return`: `Ok(value)`.
///
/// ```
/// assert_eq!(lwt_core::result::ok_value::<u8, ()>(1).state(), lwt_core::State::Fulfilled(Ok(1)));
/// ```
pub fn ok_value<T: 'static, E: 'static>(value: T) -> Promise<Result<T, E>> {
    Promise::ret(Ok(value))
}

/// Lwt_result's `fail`: `Err(error)` (a value, not a rejection).
///
/// ```
/// assert_eq!(lwt_core::result::error_value::<u8, &str>("no").state(), lwt_core::State::Fulfilled(Err("no")));
/// ```
pub fn error_value<T: 'static, E: 'static>(error: E) -> Promise<Result<T, E>> {
    Promise::ret(Err(error))
}

/// Lwt_result's `ok`: wraps a promise's value in `Ok`.
///
/// ```
/// let p = lwt_core::result::ok::<u8, ()>(lwt_core::Promise::ret(1));
/// assert_eq!(p.state(), lwt_core::State::Fulfilled(Ok(1)));
/// ```
pub fn ok<T: 'static, E: 'static>(promise: Promise<T>) -> Promise<Result<T, E>> {
    promise.map(Ok)
}

/// Lwt_result's `error`: wraps a promise's value in `Err`.
///
/// ```
/// let p = lwt_core::result::error::<(), u8>(lwt_core::Promise::ret(1));
/// assert_eq!(p.state(), lwt_core::State::Fulfilled(Err(1)));
/// ```
pub fn error<T: 'static, E: 'static>(promise: Promise<E>) -> Promise<Result<T, E>> {
    promise.map(Err)
}

/// Lwt_result's `lift`: a resolved promise of `result`.
///
/// ```
/// assert!(lwt_core::result::lift::<u8, ()>(Ok(1)).is_fulfilled());
/// ```
pub fn lift<T: 'static, E: 'static>(result: Result<T, E>) -> Promise<Result<T, E>> {
    Promise::ret(result)
}

/// Lwt_result's `map`: `f` on the `Ok` value.
///
/// ```
/// use lwt_core::{result as lr, State};
/// assert_eq!(lr::map(|x: u8| x + 1, lr::lift::<u8, ()>(Ok(1))).state(), State::Fulfilled(Ok(2)));
/// ```
pub fn map<T: 'static, U: 'static, E: 'static>(
    f: impl FnOnce(T) -> U + 'static,
    promise: Promise<Result<T, E>>,
) -> Promise<Result<U, E>> {
    promise.map(|r| r.map(f))
}

/// Lwt_result's `map_error`: `f` on the `Err` value.
///
/// ```
/// use lwt_core::{result as lr, State};
/// let p = lr::map_error(|e: &str| e.len(), lr::lift::<u8, &str>(Err("bad")));
/// assert_eq!(p.state(), State::Fulfilled(Err(3)));
/// ```
pub fn map_error<T: 'static, E: 'static, F: 'static>(
    f: impl FnOnce(E) -> F + 'static,
    promise: Promise<Result<T, E>>,
) -> Promise<Result<T, F>> {
    promise.map(|r| r.map_err(f))
}

/// Lwt_result's `bind`: continues with `f` on `Ok`, passes `Err` on.
///
/// ```
/// use lwt_core::{result as lr, State};
/// let p = lr::bind(lr::lift::<u8, ()>(Ok(1)), |x| lr::ok_value(x * 10));
/// assert_eq!(p.state(), State::Fulfilled(Ok(10)));
/// ```
pub fn bind<T: 'static, U: 'static, E: 'static>(
    promise: Promise<Result<T, E>>,
    f: impl FnOnce(T) -> Promise<Result<U, E>> + 'static,
) -> Promise<Result<U, E>> {
    promise.bind(|r| match r {
        Ok(v) => f(v),
        Err(e) => Promise::ret(Err(e)),
    })
}

/// Lwt_result's `bind_error`: continues with `f` on `Err`, passes `Ok` on.
///
/// ```
/// use lwt_core::{result as lr, State};
/// let p = lr::bind_error(lr::lift::<u8, &str>(Err("x")), |_| lr::ok_value::<u8, ()>(0));
/// assert_eq!(p.state(), State::Fulfilled(Ok(0)));
/// ```
pub fn bind_error<T: 'static, E: 'static, F: 'static>(
    promise: Promise<Result<T, E>>,
    f: impl FnOnce(E) -> Promise<Result<T, F>> + 'static,
) -> Promise<Result<T, F>> {
    promise.bind(|r| match r {
        Ok(v) => Promise::ret(Ok(v)),
        Err(e) => f(e),
    })
}

/// Lwt_result's `bind_lwt_error`: on `Err`, waits for the plain promise `f` makes of the
/// error, whose value is the new `Err`; passes `Ok` on.
///
/// ```
/// use lwt_core::{result as lr, Promise, State};
/// let p = lr::bind_lwt_error(lr::lift::<u8, &str>(Err("bad")), |e| Promise::ret(e.len()));
/// assert_eq!(p.state(), State::Fulfilled(Err(3)));
/// ```
pub fn bind_lwt_error<T: 'static, E: 'static, F: 'static>(
    promise: Promise<Result<T, E>>,
    f: impl FnOnce(E) -> Promise<F> + 'static,
) -> Promise<Result<T, F>> {
    bind_error(promise, |e| f(e).map(Err))
}

/// Lwt_result's `bind_lwt`: continues with a plain promise on `Ok`.
///
/// ```
/// use lwt_core::{result as lr, Promise, State};
/// let p = lr::bind_lwt(lr::lift::<u8, ()>(Ok(2)), |x| Promise::ret(x + 1));
/// assert_eq!(p.state(), State::Fulfilled(Ok(3)));
/// ```
pub fn bind_lwt<T: 'static, U: 'static, E: 'static>(
    promise: Promise<Result<T, E>>,
    f: impl FnOnce(T) -> Promise<U> + 'static,
) -> Promise<Result<U, E>> {
    bind(promise, |v| f(v).map(Ok))
}

/// Lwt_result's `bind_result`: continues with a plain `Result` on `Ok`.
///
/// ```
/// use lwt_core::{result as lr, State};
/// let p = lr::bind_result(lr::lift::<&str, String>(Ok("7")), |s| s.parse::<u8>().map_err(|e| e.to_string()));
/// assert_eq!(p.state(), State::Fulfilled(Ok(7)));
/// ```
pub fn bind_result<T: 'static, U: 'static, E: 'static>(
    promise: Promise<Result<T, E>>,
    f: impl FnOnce(T) -> Result<U, E> + 'static,
) -> Promise<Result<U, E>> {
    promise.map(|r| r.and_then(f))
}

/// Lwt_result's `both`: both `Ok` values, or else the first `Err` to arrive, once both are
/// resolved; when both are `Err` already at the call, `b`'s, as in Lwt (whose `both` looks at
/// its second argument first). Two `Err`s that arrive from one resolution (a callback that
/// resolves both inputs, say) arrive in the order their callbacks run, which is registration
/// order here and newest first in Lwt (the README's differences from Lwt), so the `Err` kept
/// can differ. (A rejection of either promise rejects the result, as with
/// [`combinators::both`](crate::combinators::both).)
///
/// ```
/// use lwt_core::{result as lr, wait, State};
/// let (a, ra) = wait::<Result<u8, &str>>();
/// let (b, rb) = wait::<Result<char, &str>>();
/// let p = lr::both(a, b);
/// rb.wakeup(Err("b failed first"));
/// ra.wakeup(Err("a failed later"));
/// assert_eq!(p.state(), State::Fulfilled(Err("b failed first")));
/// ```
pub fn both<A: 'static, B: 'static, E: 'static>(
    a: Promise<Result<A, E>>,
    b: Promise<Result<B, E>>,
) -> Promise<Result<(A, B), E>> {
    let first_err: Rc<RefCell<Option<E>>> = Rc::default();
    let (ea, eb) = (first_err.clone(), first_err.clone());
    // `b` first: Lwt evaluates the pair `(map_error set_once a, map_error set_once b)` right to
    // left, so of two `Err`s already there at the call, `b`'s is the one kept.
    let b = b.map(move |r| keep_first_err(r, &eb));
    let a = a.map(move |r| keep_first_err(r, &ea));
    crate::combinators::both(a, b).map(move |pair| match pair {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => match first_err.borrow_mut().take() {
            Some(e) => Err(e),
            None => unreachable!("a missing value was an Err, kept in first_err"),
        },
    })
}

/// `Ok(v)` gives `Some(v)`; the first `Err` seen goes into `slot`.
fn keep_first_err<T, E>(r: Result<T, E>, slot: &RefCell<Option<E>>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let mut slot = slot.borrow_mut();
            if slot.is_none() {
                *slot = Some(e);
            }
            None
        }
    }
}

/// Lwt_result's `catch`: turns a rejection into an `Err(Exn)`. It takes a function making the
/// promise, as Lwt 6's does (Lwt 5.6's takes the promise itself: write `catch(|| p)`), so that
/// a panic while making it is caught too.
///
/// ```
/// use lwt_core::{result as lr, Promise, State};
/// let p = lr::catch(|| Promise::<u8>::fail_with("boom"));
/// let message = p.map(|r| r.unwrap_err().to_string());
/// assert_eq!(message.state(), State::Fulfilled("boom".to_string()));
/// ```
pub fn catch<T: 'static>(f: impl FnOnce() -> Promise<T>) -> Promise<Result<T, Exn>> {
    crate::bind::catch(f, Promise::fail).then(Promise::ret)
}

/// Lwt_result's `get_exn`: `Ok` values pass, `Err(e)` becomes a rejection with `e`.
///
/// ```
/// use lwt_core::result as lr;
/// let p = lr::get_exn(lr::lift::<u8, std::fmt::Error>(Err(std::fmt::Error)));
/// assert!(p.rejection().unwrap().is::<std::fmt::Error>());
/// ```
pub fn get_exn<T: 'static, E: Into<Exn> + 'static>(promise: Promise<Result<T, E>>) -> Promise<T> {
    promise.bind(|r| Promise::of_result(r))
}

/// Lwt_result's `iter`: `f` on the `Ok` value, for its effect.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{result as lr, Promise};
/// let seen = Rc::new(Cell::new(0));
/// let s = seen.clone();
/// let done = lr::iter(move |x: u8| { s.set(x); Promise::ret(()) }, lr::lift::<u8, ()>(Ok(7)));
/// assert!(done.is_fulfilled());
/// assert_eq!(seen.get(), 7);
/// ```
pub fn iter<T: 'static, E: 'static>(
    f: impl FnOnce(T) -> Promise<()> + 'static,
    promise: Promise<Result<T, E>>,
) -> Promise<()> {
    promise.bind(|r| match r {
        Ok(v) => f(v),
        Err(_) => Promise::ret(()),
    })
}

/// Lwt_result's `iter_error`: `f` on the `Err` value, for its effect.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{result as lr, Promise};
/// let seen = Rc::new(Cell::new(""));
/// let s = seen.clone();
/// let done = lr::iter_error(move |e: &'static str| { s.set(e); Promise::ret(()) }, lr::lift::<u8, _>(Err("bad")));
/// assert!(done.is_fulfilled());
/// assert_eq!(seen.get(), "bad");
/// ```
pub fn iter_error<T: 'static, E: 'static>(
    f: impl FnOnce(E) -> Promise<()> + 'static,
    promise: Promise<Result<T, E>>,
) -> Promise<()> {
    promise.bind(|r| match r {
        Ok(_) => Promise::ret(()),
        Err(e) => f(e),
    })
}

/// Lwt_result's `Infix` (`>>=`, `>|=`) and `Syntax` (`let*`, `let+`, `and*`) as methods on a
/// `Promise<Result<T, E>>`, for chains that read left to right. The operators `>>` and `|` on
/// such a promise are `Lwt`'s, not `Lwt_result`'s: they see the whole `Result`.
///
/// ```
/// use lwt_core::{result::ResultPromise, result as lr, State};
///
/// let parsed = lr::lift::<&str, String>(Ok("20"))
///     .bind_ok(|s| lr::lift(s.parse::<u32>().map_err(|e| e.to_string()))) // let* / >>=
///     .map_ok(|n| n + 1)                                                   // let+ / >|=
///     .map_error(|e| format!("bad number: {e}"));
/// assert_eq!(parsed.state(), State::Fulfilled(Ok(21)));
///
/// let failed = lr::lift::<&str, String>(Ok("x")).bind_ok(|s| lr::lift(s.parse::<u32>().map_err(|e| e.to_string())));
/// assert_eq!(failed.state(), State::Fulfilled(Err("invalid digit found in string".to_string())));
/// ```
pub trait ResultPromise<T: 'static, E: 'static>: Sized {
    /// [`bind`]: continues with `f` on `Ok`, passes `Err` on (`>>=`, `let*`).
    fn bind_ok<U: 'static>(
        self,
        f: impl FnOnce(T) -> Promise<Result<U, E>> + 'static,
    ) -> Promise<Result<U, E>>;

    /// [`map`]: `f` on the `Ok` value (`>|=`, `let+`).
    fn map_ok<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Promise<Result<U, E>>;

    /// [`bind_error`]: continues with `f` on `Err`, passes `Ok` on.
    fn bind_error<F: 'static>(
        self,
        f: impl FnOnce(E) -> Promise<Result<T, F>> + 'static,
    ) -> Promise<Result<T, F>>;

    /// [`map_error`]: `f` on the `Err` value.
    fn map_error<F: 'static>(self, f: impl FnOnce(E) -> F + 'static) -> Promise<Result<T, F>>;

    /// [`both`]: both `Ok` values, or the first `Err` (`and*`, `and+`).
    ///
    /// ```
    /// use lwt_core::{result::ResultPromise, result as lr, State};
    /// let sum = lr::lift::<u8, &str>(Ok(1))
    ///     .both_ok(lr::lift(Ok(2)))
    ///     .map_ok(|(a, b)| a + b);
    /// assert_eq!(sum.state(), State::Fulfilled(Ok(3)));
    /// let failed = lr::lift::<u8, &str>(Ok(1)).both_ok(lr::lift::<u8, _>(Err("no")));
    /// assert_eq!(failed.state(), State::Fulfilled(Err("no")));
    /// ```
    fn both_ok<B: 'static>(self, other: Promise<Result<B, E>>) -> Promise<Result<(T, B), E>>;
}

impl<T: 'static, E: 'static> ResultPromise<T, E> for Promise<Result<T, E>> {
    fn both_ok<B: 'static>(self, other: Promise<Result<B, E>>) -> Promise<Result<(T, B), E>> {
        both(self, other)
    }

    fn bind_ok<U: 'static>(
        self,
        f: impl FnOnce(T) -> Promise<Result<U, E>> + 'static,
    ) -> Promise<Result<U, E>> {
        bind(self, f)
    }

    fn map_ok<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Promise<Result<U, E>> {
        map(f, self)
    }

    fn bind_error<F: 'static>(
        self,
        f: impl FnOnce(E) -> Promise<Result<T, F>> + 'static,
    ) -> Promise<Result<T, F>> {
        bind_error(self, f)
    }

    fn map_error<F: 'static>(self, f: impl FnOnce(E) -> F + 'static) -> Promise<Result<T, F>> {
        map_error(f, self)
    }
}
