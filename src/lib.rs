//! # lwt: OCaml's Lwt for Rust
//!
//! Promises and resolvers, `bind`/`map`/`catch`/`finalize`, cancellation, and the `lwt!` macro
//! (lwt_ppx's `let%lwt` and friends), on a cooperative single-threaded runtime.
//!
//! This crate is a facade: it re-exports [`lwt_core`] (the runtime) and [`lwt_macros`] (the
//! macro), so that `lwt = "..."` in `Cargo.toml` is all a program needs.
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
pub use lwt_macros::lwt;
