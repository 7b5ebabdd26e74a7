//! Lwt's infix operators, through `std::ops`.
//!
//! | Lwt | Rust | meaning |
//! |---|---|---|
//! | `p >>= f` | `p >> f` | [`bind`](crate::Promise::bind) |
//! | `p >\|= f` | `p \| f` | [`map`](crate::Promise::map) |
//! | `f =<< p` | (use `p >> f`) | |
//! | `f =\|< p` | (use `p \| f`) | |
//!
//! Rust's precedence differs from OCaml's: `>>` binds tighter than `|`, and both are
//! left-associative, so `p >> f | g` is `(p >> f) | g`, as in OCaml. Closures extend as far right
//! as they can, so write `p >> (|x| ...) | g` when a `|` should apply to the whole chain.
//!
//! ```
//! use lwt_core::{ret, Promise, State};
//!
//! let p = ret(20) >> (|x| ret(x + 1)) | (|x| x * 2);
//! assert_eq!(p.state(), State::Fulfilled(42));
//! ```

use std::ops::{BitOr, Shr};

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
