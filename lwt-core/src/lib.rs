//! The runtime of `lwt`: OCaml's Lwt promises for Rust.
//!
//! A [`Promise<T>`] is a value that is fulfilled, rejected with an [`Exn`], or pending. Pending
//! promises come with a [`Resolver`] ([`wait`], [`task`]); callbacks chain them ([`Promise::bind`],
//! [`Promise::map`], [`Promise::catch`], [`Promise::finalize`]...). Everything runs on one thread,
//! cooperatively: nothing preempts a callback, and other callbacks run in the middle of one only
//! when it calls something that runs them (a `wakeup` or a `cancel`, see [`resolver`]).
//!
//! ```
//! use lwt_core::{wait, Promise, State};
//!
//! let (line, resolver) = wait::<String>();
//! let shouted = line
//!     .map(|s| s.to_uppercase())
//!     .bind(|s| if s.is_empty() { Promise::fail_with("empty line") } else { Promise::ret(s + "!") });
//! assert_eq!(shouted.state(), State::Pending);
//! resolver.wakeup("hello".to_string());
//! assert_eq!(shouted.state(), State::Fulfilled("HELLO!".to_string()));
//! ```
//!
//! Modules, one idea each:
//!
//! * [`promise`] — the handle, resolved constructors, state;
//! * [`resolver`] — `wait`, `task`, `wakeup` and when callbacks run;
//! * [`bind`](mod@bind) — the bind family and the observers;
//! * [`cancel`](mod@cancel) — cancellation, `protected`, `no_cancel`, `wrap_in_cancelable`;
//! * [`combinators`] — `join`, `all`, `both`, `choose`, `pick`, `nchoose`...;
//! * [`detached`] — `dont_wait`, `async_`, `ignore_result`;
//! * [`exn`] — the rejection type;
//! * [`main`] — the run loop: `run`, `pause`, hooks;
//! * [`unix`] — timers, file descriptors, pipes, sockets, signals;
//! * [`io`] — buffered channels: `read_line`, `printl`, pipes, files, connections, servers;
//! * [`preemptive`] — blocking work on a thread pool;
//! * [`list`] — Lwt_list: serial and parallel functions over lists;
//! * [`stream`] — Lwt_stream: streams read with promises, producers, transformers, consumers;
//! * [`seq`] — Lwt_seq: lazy sequences whose nodes are promises;
//! * [`sync`] — Mutex, Condition, Mvar; [`pool`] — resource pools; [`switch`] — switches;
//! * [`result`] — Lwt_result: promises of typed results;
//! * [`key`] — implicit callback arguments;
//! * [`hook`] — where unhandled failures go;
//! * [`ops`] — `>>`, `|`, `&` and `^` for Lwt's `>>=`, `>|=`, `<&>` and `<?>`;
//! * [`future`] — `Promise` as a `std::future::Future`, and `spawn_local` for the other way;
//! * [`control`] — the runtime side of the `lwt!` macro: located binds, stack-safe loops.
//!
//! `docs/ARCHITECTURE.md` in the repository explains how a resolution flows through them.
//!
//! # What a step costs
//!
//! A bind or map on a resolved promise allocates nothing: the callback runs at once. A bind on a
//! pending promise allocates one node, its result's; its closure is stored in the source's
//! callback slot when it captures at most three words (three integers or `Rc`s; two for a bind
//! made inside [`key::with_value`]), and boxed, one allocation more, when it captures more.
//! [`wait`] and [`task`] allocate their node, and a [`main::pause`] reuses the node of the pause
//! woken before it. `lwt-core/tests/guarantees.rs` in the repository pins these counts; `bench/RESULTS.md` in the repository
//! measures them against futures, tokio and OCaml's Lwt, with Cargo's default release settings
//! (`bench/HISTORY.md`, "What LTO adds on top", says what LTO changes).
//!
//! # Threads
//!
//! Promises, resolvers, streams, channels and file descriptors are neither `Send` nor `Sync`:
//! they share their state through `Rc` and `RefCell`, as Lwt's share theirs with no lock, and
//! each thread has its own loop, timers and hooks. What crosses threads does so by name:
//! [`preemptive::detach`] runs a closure on a worker and gives its result back to the loop;
//! [`preemptive::MainHandle`] asks a loop, from any thread, to run a promise; an [`Exn`] goes
//! to another thread as an [`ExnSnapshot`].
//!
//! ```compile_fail
//! let p = lwt_core::Promise::ret(1);
//! std::thread::spawn(move || p.state()); // `Promise` is not `Send`
//! ```
//!
//! One private module, `once_fn`, uses `unsafe`: it stores a pending promise's continuation
//! inline instead of in a `Box` (a measured 10 % of a pending bind). Every other module is safe
//! code, which `deny(unsafe_code)` enforces; that module's tests run under Miri.

#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

mod callbacks;
mod engine;
mod node;
mod once_fn;
mod park;
mod readiness;
mod schedule;
mod timers;
mod wait_queue;

pub mod bind;
pub mod cancel;
pub mod combinators;
pub mod control;
pub mod detached;
pub mod exn;
pub mod future;
pub mod hook;
pub mod io;
pub mod key;
pub mod list;
#[path = "lwt_main.rs"]
pub mod main;
pub mod ops;
pub mod pool;
pub mod preemptive;
pub mod promise;
pub mod resolver;
pub mod result;
pub mod seq;
pub mod stream;
pub mod switch;
pub mod sync;
pub mod unix;

pub use bind::{bind, catch, finalize, map, try_bind, wrap};
pub use cancel::{cancel, no_cancel, protected, wrap_in_cancelable};
pub use combinators::{
    all, all_fail_fast, both, both_fail_fast, choose, join, join_fail_fast, nchoose, nchoose_split,
    npick, pick,
};
pub use detached::{async_, dont_wait, ignore_result};
pub use exn::{Abandoned, Canceled, Exn, ExnSnapshot, Failure, InvalidArgument, Panicked};
pub use promise::{
    fail, fail_invalid_arg, fail_with, of_result, ret, return_error, return_false, return_nil,
    return_none, return_ok, return_some, return_true, return_unit, Promise, State,
};
pub use resolver::{task, wait, Resolver, SharedResolver};
