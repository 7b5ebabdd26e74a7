//! Lwt's infix operators, through `std::ops`.
//!
//! | Lwt | Rust | meaning |
//! |---|---|---|
//! | `p >>= f` | `p >> f` | [`bind`](crate::Promise::bind) |
//! | `p >\|= f` | `p \| f` | [`map`](crate::Promise::map) |
//! | `f =<< p` | (use `p >> f`) | |
//! | `f =\|< p` | (use `p \| f`) | |
//! | `p1 <&> p2` | `p1 & p2` | [`join`] of two unit promises (see `BitAnd` below); for values, [`both`](crate::both) or [`all`](crate::all) (`Promise<i32> & Promise<i32>` is "does not implement `BitAnd`") |
//! | `p1 <?> p2` | `p1 ^ p2` | [`choose`] between two promises |
//! | `Lwt.map not p` | `!p` | `p.map(\|v\| !v)`: so `if !ready() { .. }` reads in `lwt!` as in Rust |
//!
//! # Grouping: parenthesize when mixing `&` or `^` with `>>`
//!
//! In OCaml the four operators share one precedence level and group to the left: `a <&> b >>= f`
//! is `(a <&> b) >>= f`. Rust's operators keep their own levels, tightest first `>>`, then `&`,
//! then `^`, then `|`, each grouping to the left:
//!
//! | written | Rust reads | Lwt reads the OCaml spelling as |
//! |---|---|---|
//! | `p >> f \| g` | `(p >> f) \| g` | the same |
//! | `p \| f >> g` | `p \| (f >> g)`: a compile error about two closures | `(p >\|= f) >>= g` |
//! | `a & b >> f` | `a & (b >> f)`: `f` runs once `b` alone is fulfilled | `(a <&> b) >>= f` |
//! | `a ^ b >> f` | `a ^ (b >> f)`: when `a` wins, the result is `a`'s value, not `f`'s (`f` still runs once `b` is fulfilled) | `(a <?> b) >>= f` |
//! | `a ^ b & c` | `a ^ (b & c)` | `(a <?> b) <&> c` |
//! | `a ^ b \| f` | `(a ^ b) \| f` | the same |
//! | `p \| f & q` | `p \| (f & q)`: a compile error, no `&` for a closure and a promise | `(p >\|= f) <&> q` |
//! | `p \| f ^ q` | `p \| (f ^ q)`: a compile error, no `^` for a closure and a promise | `(p >\|= f) <?> q` |
//!
//! The surprising lines type-check whenever the types line up (unit promises, a `f` that
//! returns what it takes), so write the parentheses: `(a & b) >> f`, `(p | f) >> g`. Closures
//! extend as far right as they can, so write `p >> (|x| ...) | g` when a `|` should apply to
//! the whole chain.
//!
//! Operands are evaluated left to right: `a() & b()` starts `a` first, where ocamlopt evaluates
//! `a () <&> b ()` right to left and starts `b` first (so do its lists, for `join`). Which
//! rejection `&` reports is [`join`]'s: the first in input order, not the first in time.
//!
//! ```
//! use lwt_core::{ret, wait, Promise, State};
//!
//! let p = ret(20) >> (|x| ret(x + 1)) | (|x| x * 2);
//! assert_eq!(p.state(), State::Fulfilled(42));
//!
//! // `(a & b) >> f` waits for both; `a & b >> f` would call `f` as soon as `b` is fulfilled.
//! let (a, ra) = wait::<()>();
//! let (b, rb) = wait::<()>();
//! let both_then = (a & b) >> (|()| ret("both"));
//! rb.wakeup(());
//! assert!(both_then.is_pending());
//! ra.wakeup(());
//! assert_eq!(both_then.state(), State::Fulfilled("both"));
//! ```

use std::ops::{BitAnd, BitOr, BitXor, Not, Shr};

use crate::combinators::{choose, join};
use crate::promise::Promise;

impl<T: 'static, U: 'static, F> Shr<F> for Promise<T>
where
    F: FnOnce(T) -> Promise<U> + 'static,
{
    type Output = Promise<U>;

    /// `p >> f` is `p.bind(f)` (Lwt's `>>=`).
    fn shr(self, f: F) -> Promise<U> {
        self.bind(f)
    }
}

impl<T: 'static, U: 'static, F> BitOr<F> for Promise<T>
where
    F: FnOnce(T) -> U + 'static,
{
    type Output = Promise<U>;

    /// `p | f` is `p.map(f)` (Lwt's `>|=`).
    fn bitor(self, f: F) -> Promise<U> {
        self.map(f)
    }
}

impl BitAnd for Promise<()> {
    type Output = Promise<()>;

    /// `p1 & p2` is `join([p1, p2])` (Lwt's `<&>`). If both are rejected, the rejection is
    /// `p1`'s, whichever came first; Lwt's is the first in time. As Lwt's, it takes unit
    /// promises only: for values, [`both`](crate::both) gives a pair, [`all`](crate::all) a
    /// vector.
    ///
    /// ```
    /// use lwt_core::{wait, State};
    /// let (a, ra) = wait::<()>();
    /// let (b, rb) = wait::<()>();
    /// let both = a & b;
    /// rb.wakeup(());
    /// assert!(both.is_pending()); // waits for `a` too
    /// ra.wakeup(());
    /// assert_eq!(both.state(), State::Fulfilled(()));
    /// ```
    fn bitand(self, other: Promise<()>) -> Promise<()> {
        join([self, other])
    }
}

impl<T: 'static> BitXor for Promise<T> {
    type Output = Promise<T>;

    /// `p1 ^ p2` is `choose([p1, p2])` (Lwt's `<?>`).
    ///
    /// ```
    /// use lwt_core::{wait, State};
    /// let (a, _ra) = wait::<u8>();
    /// let (b, rb) = wait::<u8>();
    /// let first = a ^ b;
    /// rb.wakeup(2);
    /// assert_eq!(first.state(), State::Fulfilled(2));
    /// ```
    fn bitxor(self, other: Promise<T>) -> Promise<T> {
        choose([self, other])
    }
}

impl<T: Not + 'static> Not for Promise<T>
where
    T::Output: 'static,
{
    type Output = Promise<T::Output>;

    /// `!p` is `p.map(|v| !v)` (Lwt's `Lwt.map not p` for a `bool`): fulfilled with the negation
    /// once `p` is, rejected with `p`'s rejection. Without it, `if !ready() { .. }` in `lwt!`,
    /// on a `Promise<bool>`, was rustc's "cannot apply unary operator `!`".
    ///
    /// ```
    /// use lwt_core::{wait, Exn, Promise, State};
    /// let (ready, r) = wait::<bool>();
    /// let not_ready = !ready;
    /// assert!(not_ready.is_pending());
    /// r.wakeup(true);
    /// assert_eq!(not_ready.state(), State::Fulfilled(false));
    /// assert_eq!((!Promise::ret(0x0f_u8)).state(), State::Fulfilled(0xf0));
    /// assert!((!Promise::<bool>::fail(Exn::failure("no answer"))).is_rejected());
    /// ```
    fn not(self) -> Promise<T::Output> {
        self.map(|v| !v)
    }
}
