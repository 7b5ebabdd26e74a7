//! # lwt: OCaml's Lwt for Rust
//!
//! Promises and resolvers, `bind`/`map`/`catch`/`finalize`, cancellation, and the [`lwt!`] macro
//! (lwt_ppx's `let%lwt` and friends), on a cooperative single-threaded runtime.
//!
//! This crate is a facade: it re-exports [`lwt_core`] (the runtime) and the `lwt!` macro of
//! `lwt_macros`, so that `lwt = "..."` in `Cargo.toml` is all a program needs.
//!
//! ```
//! use lwt::{wait, Promise, State};
//!
//! let (p, r) = wait::<u32>();
//! let q = p >> (|x| Promise::ret(x + 1));
//! r.wakeup(41);
//! assert_eq!(q.state(), State::Fulfilled(42));
//! ```

#![forbid(unsafe_code)]

pub use lwt_core::*;

/// What the expansion of [`lwt!`] needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use lwt_macros::lwt_impl;
}

/// lwt_ppx for Rust: `let` binds a promise (`let%lwt`), and `match`, `try`, `if`, `for`,
/// `while`, `assert!` and `finally` work on promises.
#[macro_export]
macro_rules! lwt {
    ($($body:tt)*) => {
        $crate::__private::lwt_impl! { ($crate) $($body)* }
    };
}
