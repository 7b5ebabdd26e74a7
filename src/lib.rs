//! # lwt: OCaml's Lwt for Rust
//!
//! Promises and resolvers, `bind`/`map`/`catch`/`finalize`, cancellation, and the [`lwt!`] macro
//! (lwt_ppx's `let%lwt` and friends), on a cooperative single-threaded runtime.
//!
//! This crate is a facade: it re-exports [`lwt_core`] (the runtime) and the `lwt!` macro of
//! `lwt_macros`, so that `lwt = "..."` in `Cargo.toml` is all a program needs. Every item of
//! `lwt_core` is here at the same path: the examples in the docs of those items say
//! `lwt_core::combinators::pick`, and a program using this crate writes
//! `lwt::combinators::pick`.
//!
//! ```
//! use lwt::{wait, Promise, State};
//!
//! let (p, r) = wait::<u32>();
//! let q = p >> (|x| Promise::ret(x + 1));
//! r.wakeup(41);
//! assert_eq!(q.state(), State::Fulfilled(42));
//! ```
//!
//! The same with the macro:
//!
//! ```
//! use lwt::{lwt, ret, wait, Promise, State};
//!
//! let (p, r) = wait::<u32>();
//! let q: Promise<u32> = lwt! {
//!     let x = p;          // let%lwt x = p in
//!     ret(x + 1)
//! };
//! r.wakeup(41);
//! assert_eq!(q.state(), State::Fulfilled(42));
//! ```
//!
//! # Coming from tokio
//!
//! A [`Promise`] is not a lazy future: the work it stands for starts when it is made, so there
//! is no `spawn` for it (a promise you do not wait for still runs), and dropping it does not
//! cancel it ([`Promise::cancel`] does). `async` code works too: [`future::spawn_local`] turns
//! an `async` block into a promise, and a promise is a `Future` whose output is
//! `Result<T, Exn>`, so `.await?` works in an `async` block that returns `Result<_, Exn>`. Where
//! tokio's names went:
//!
//! | tokio | here |
//! |---|---|
//! | `#[tokio::main]`, `Runtime::block_on(f)` | [`main::run`]`(p)` (`main::run(future::spawn_local(f))` for a future) |
//! | `tokio::spawn`, `task::spawn_local` | nothing for a promise; [`future::spawn_local`] for a future (it need not be `Send`) |
//! | `JoinHandle::abort` | [`Promise::cancel`] |
//! | `task::spawn_blocking` | [`preemptive::detach`] |
//! | `tokio::time::sleep`, `timeout(d, f)` | [`unix::sleep`], [`unix::with_timeout`]`(d, \|\| p)` (rejected with [`unix::Timeout`]) |
//! | `join!` | [`both`], [`join`], [`all`] (a rejection once every input is resolved) |
//! | `try_join!` | [`both_fail_fast`], [`join_fail_fast`], [`all_fail_fast`] (rejected at the first rejection, the others canceled) |
//! | `select!` | [`pick`] (cancels the losers) or [`choose`] |
//! | `sync::oneshot` | [`wait`] (the [`Resolver`] is the sender) |
//! | `sync::mpsc::unbounded_channel`, `channel(n)` | [`stream::create`], [`stream::create_bounded`] |
//! | `Sender::try_send` | [`BoundedPush::push`](stream::BoundedPush::push), then [`cancel`](Promise::cancel) the push if it is pending |
//! | `sync::Mutex` | [`sync::Mutex`] (guards no data: `lock`/`unlock` or [`with_lock`](sync::Mutex::with_lock)) |
//! | `Notify` | [`sync::Condition`] (stores no permit: a `signal` with no waiter is lost, where `notify_one` makes the next `notified()` return) |
//! | `CancellationToken` | [`switch::Switch`]: `turn_off` runs its hooks and waits for them, where a token's tasks await `cancelled()`; [`add_hook_or_exec`](switch::Switch::add_hook_or_exec) on a switch off already runs the hook at once |
//! | `TcpListener::bind` + an accept loop | [`io::establish_server`] |
//! | `TcpStream::connect("127.0.0.1:80")` | [`io::open_connection`] of a `SocketAddr` or `("127.0.0.1", 80)` (a `"host:port"` string is not an [`io::Address`]) |
//! | `AsyncBufReadExt::read_line`, `AsyncWriteExt::write_all` | [`io::InputChannel::read_line`] (no newline kept; rejected with [`io::EndOfFile`] at the end, where tokio returns `Ok(0)`: [`read_line_opt`](io::InputChannel::read_line_opt) gives `None`), [`io::OutputChannel::write`] (buffered: flushed at the next turn of the loop) |
//!
//! Two differences bite on the first day. A failure that no promise carries (a server's handler,
//! a promise given to [`async_`], an `on_success` callback that panics) goes to
//! the [async exception hook](hook), whose default prints the error and exits the process, where
//! tokio only drops a failed task: handle failures in the task, give the server an
//! [`on_error`](io::ServerConfig::on_error), or set the hook. (A rejected promise that is only
//! dropped, as a `spawn_local` task's, is dropped silently, as in tokio.) And promises are not
//! `Send`: each thread runs its own loop.
//!
//! ```
//! use std::{cell::Cell, rc::Rc};
//! use lwt::{all, all_fail_fast, async_, hook, sync::Condition, task, Promise};
//!
//! let failures = Rc::new(Cell::new(0));
//! let f = failures.clone();
//! let default = hook::set_async_exception_hook(move |_| f.set(f.get() + 1));
//! drop(Promise::<()>::fail_with("dropped")); // dropped silently
//! async_(|| Promise::fail_with("detached")); // to the hook
//! assert_eq!(failures.get(), 1);
//! hook::restore_async_exception_hook(default);
//!
//! let (slow, _r) = task::<u8>();
//! assert!(all(vec![slow.clone(), Promise::fail_with("x")]).is_pending()); // join!
//! assert!(all_fail_fast(vec![slow.clone(), Promise::fail_with("x")]).is_rejected()); // try_join!
//! assert!(slow.rejection().unwrap().is_canceled());
//!
//! let c = Condition::<()>::new();
//! c.signal(()); // no waiter: lost, where `notify_one` would store a permit
//! assert!(c.wait(None).is_pending());
//! ```
//!
//! ```
//! use std::time::Duration;
//! use lwt::{future, main, stream, unix, wait, Exn, Promise};
//!
//! let (rx, tx) = stream::create_bounded::<u32>(1); // mpsc::channel(1)
//! let (done, done_tx) = wait::<&str>();             // oneshot::channel()
//! let consumer = future::spawn_local(async move {
//!     let mut sum = 0;
//!     while let Some(n) = rx.get().await? {        // rx.recv().await
//!         sum += n;
//!     }
//!     done_tx.wakeup("consumer done");
//!     Ok::<_, Exn>(sum)
//! })
//! .bind(Promise::of_result); // a `Promise<u32>` rejected on `Err`, not a `Promise<Result<..>>`
//! let producer = future::spawn_local(async move {
//!     for n in 1..=3 {
//!         tx.push(n).await?;                        // tx.send(n).await
//!         unix::sleep(Duration::from_millis(1)).await?;
//!     }
//!     drop(tx); // the last producer gone closes the stream
//!     Ok::<_, Exn>(())
//! });
//! let (_reader, tx0) = stream::create_bounded::<u32>(0);
//! let full = tx0.push(7); // no read waiting: it would wait
//! assert!(full.is_pending());
//! full.cancel(); // `try_send` failing with `Full`: the element is withdrawn
//! assert!(full.is_rejected());
//!
//! let timed_out = unix::with_timeout(Duration::from_millis(1), || unix::sleep(Duration::from_secs(5)));
//! let both = lwt::both(consumer, done);
//! assert_eq!(main::run(both).unwrap(), (6, "consumer done"));
//! assert!(main::run(producer).unwrap().is_ok());
//! assert!(main::run(timed_out).unwrap_err().is::<unix::Timeout>());
//! ```

#![forbid(unsafe_code)]

pub use lwt_core::*;

/// The README's examples, run as doctests so that the first code a newcomer reads keeps working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// What the expansion of [`lwt!`] needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use lwt_macros::lwt_impl;
}

/// lwt_ppx for Rust: `let` binds a promise (`let%lwt`), and `match`, `try`, `if`, `for`,
/// `while`, `loop`, `assert!` and `finally` work on promises. The block is a `Promise<_>`.
///
/// Inside `lwt! { .. }`, every statement is about promises unless it says otherwise with `do`:
///
/// | lwt_ppx | `lwt!` | the expression after the keyword is |
/// |---|---|---|
/// | `let%lwt p = e in` | `let p = e;` | a `Promise<T>`; `p` binds the `T` |
/// | `let%lwt p = e1 and q = e2 in` | `let p = e1 and q = e2;` | promises, all started first |
/// | (none: `Lwt.both` waits for both) | `#[fail_fast] let p = e1 and q = e2;`, failing fast | promises |
/// | `let p = e in` | `do let p = e;` | any plain Rust value |
/// | `e;` (plain) | `do e;`, `do { .. }` | any plain Rust statement |
/// | `e1;%lwt e2` | `e1; e2` | a `Promise<()>` |
/// | `match%lwt e with p -> .. \| exception E -> ..` | `match e { p => .., exception E => .. }` | a promise |
/// | `try%lwt e with E -> ..` | `try { .. } catch { E => .. }` | an `lwt!` block |
/// | `e [%finally f]` | `try { .. } finally { .. }` | `lwt!` blocks |
/// | `if%lwt c then a else b` | `if c { .. } else { .. }` | a `Promise<bool>` or a `bool` |
/// | `for%lwt i = a to b do .. done` | `for i in a..=b { .. }` | an iterator (`(a..=b).rev()`: `downto`) |
/// | `while%lwt c do .. done` | `while c { .. }` | a `bool` or a `Promise<bool>` |
/// | `assert%lwt c` | `assert!(c);` | a `bool` |
/// | (the value) `Lwt.return v` | `do v` or `lwt::ret(v)` as the last line | |
///
/// The block's last expression (no `;`) is its promise, returned as it is; a block that ends
/// with a statement is a `Promise<()>`. `{ .. }` blocks inside (branches, bodies, arms, `else`)
/// are `lwt!` blocks too. The full grammar, form by form, with each expansion, is in
/// `docs/lwt-macro.md`.
///
/// ```
/// use std::fmt;
/// use lwt::{lwt, ret, wait, Promise, State};
///
/// #[derive(Debug)]
/// struct NotFound(String);
/// impl fmt::Display for NotFound {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         write!(f, "not found: {}", self.0)
///     }
/// }
/// impl std::error::Error for NotFound {}
///
/// fn lookup(key: &str) -> Promise<Option<u32>> {
///     ret(if key == "a" { Some(1) } else { None })
/// }
///
/// fn sum(keys: Vec<&'static str>) -> Promise<u32> {
///     lwt! {
///         do let total = std::rc::Rc::new(std::cell::Cell::new(0));
///         do let result = total.clone();
///         for key in keys {
///             let found = match lookup(key) {
///                 Some(v) => ret(v),
///                 None => Promise::fail(NotFound(key.to_string())),
///             };
///             do total.set(total.get() + found);
///         }
///         do result.get()
///     }
/// }
///
/// fn sum_or_zero(keys: Vec<&'static str>) -> Promise<u32> {
///     lwt! {
///         try {
///             sum(keys)
///         } catch {
///             e: NotFound if e.0 == "z" => ret(26),
///             NotFound => ret(0),
///         }
///     }
/// }
///
/// assert_eq!(sum(vec!["a", "a"]).state(), State::Fulfilled(2));
/// assert_eq!(sum_or_zero(vec!["a", "b"]).state(), State::Fulfilled(0));
///
/// // Rejections record each `let` they pass through (shown by `Debug`).
/// let e = sum(vec!["b"]).rejection().unwrap();
/// assert!(e.is::<NotFound>());
/// assert!(format!("{e:?}").contains("passed through"));
/// ```
///
/// Waiting on pending promises, and `and` (every expression starts before any is awaited):
///
/// ```
/// use lwt::{lwt, ret, wait, Promise, State};
///
/// let (a, ra) = wait::<u32>();
/// let (b, rb) = wait::<u32>();
/// let both: Promise<u32> = lwt! {
///     let x = a and y = b;
///     if ret(x > y) {
///         ret(x - y)
///     } else {
///         ret(y - x)
///     }
/// };
/// rb.wakeup(10);
/// ra.wakeup(4);
/// assert_eq!(both.state(), State::Fulfilled(6));
/// ```
///
/// A refutable pattern takes an `else` block, whose promise replaces the rest of the block (as
/// Rust's let-else); a failed `assert!` rejects, it never panics:
///
/// ```
/// use lwt::{lwt, ret, Promise};
/// use lwt::control::AssertionFailed;
///
/// fn first_even(p: Promise<Vec<u32>>) -> Promise<u32> {
///     lwt! {
///         let v = p;
///         let Some(x) = ret(v.into_iter().find(|x| x % 2 == 0)) else {
///             lwt::fail_with("no even number")
///         };
///         assert!(x < 100, "{} is too big", x);
///         ret(x)
///     }
/// }
/// assert_eq!(first_even(ret(vec![1, 4])).state(), lwt::State::Fulfilled(4));
/// assert!(first_even(ret(vec![1, 3])).is_rejected());
/// let e = first_even(ret(vec![200])).rejection().unwrap();
/// assert_eq!(e.downcast_ref::<AssertionFailed>().unwrap().message(), "200 is too big");
/// ```
///
/// `break;` and `continue;` are statements of a loop body and of the blocks inside it (branches,
/// arms, `try`, `let .. else`), which lwt_ppx lacks; they apply to the innermost loop, also
/// after the iteration has waited:
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt::{lwt, ret, Promise, State};
///
/// let words = Rc::new(RefCell::new(vec!["stop", "", "b", "a"]));
/// let (w, kept) = (words.clone(), Rc::new(RefCell::new(Vec::new())));
/// let k = kept.clone();
/// let p: Promise<()> = lwt! {
///     loop {
///         let Some(word) = ret(w.borrow_mut().pop()) else { break; };
///         match ret(word) {
///             "" => continue,
///             "stop" => break,
///             word => do k.borrow_mut().push(word),
///         }
///     }
/// };
/// assert_eq!(p.state(), State::Fulfilled(()));
/// assert_eq!(*kept.borrow(), ["a", "b"]);
/// assert_eq!(*words.borrow(), Vec::<&str>::new());
/// ```
///
/// Each `let` continues in a `move` closure, so a value used both inside a branch, loop or
/// handler and after it must be cloned first (`do let handle = shared.clone();`); a loop body
/// that binds runs on a clone of what it captures, so state that outlives an iteration lives in
/// an `Rc<Cell<_>>` or `Rc<RefCell<_>>`. What cannot work inside a block (`return`, `?`,
/// `.await`, Rust's own `break` inside plain code, a non-promise after `let`...) is a compile
/// error that says so.
///
/// The expansion refers to the runtime through `$crate`, so it keeps working when the
/// dependency is renamed or re-exported, and when `Promise`, `Ok`, `Some` and friends are
/// shadowed.
#[macro_export]
macro_rules! lwt {
    ($($body:tt)*) => {
        $crate::__private::lwt_impl! { ($crate) $($body)* }
    };
}
