//! Control flow over promises: the runtime side of the `lwt!` macro, usable by hand too.
//!
//! The `lwt!` macro (lwt_ppx's `let%lwt`, `match%lwt`, `for%lwt`...) expands into calls to the
//! functions of this module. Most of them are thin wrappers over [`Promise::bind`] and friends
//! that add two things:
//!
//! * **a location on the rejection path.** Every function marked "records its caller" is
//!   `#[track_caller]`: when the promise it waits on is rejected, the rejection passes on with the
//!   caller's file and line added to its trail ([`Exn::with_location`]), which `Exn`'s `Debug`
//!   output prints. A fulfilment costs nothing extra (one pointer is captured).
//! * **stack-safe loops.** [`for_each`], [`while_loop`], [`while_let`] and [`forever`] run
//!   iterations whose bodies are already resolved in a plain `loop`, and only register a
//!   continuation when a body (or a condition) is pending. A loop that waits keeps one result
//!   promise for its whole run, so a pending iteration costs its continuation and no promise, and
//!   a million resolved iterations use no more stack than one. A body is a `Promise<()>`, or a
//!   `Promise<`[`Flow`]`>` made an [`Iteration`] by [`flow_body`], which can end the loop
//!   (`break`) or the iteration (`continue`) early:
//!
//! ```
//! use std::{cell::Cell, rc::Rc};
//! use lwt_core::{control, Promise, State};
//!
//! let sum = Rc::new(Cell::new(0_u64));
//! let s = sum.clone();
//! let done = control::for_each(1..=1_000_000_u64, move |i| {
//!     s.set(s.get() + i);
//!     Promise::ret(())
//! });
//! assert_eq!(done.state(), State::Fulfilled(()));
//! assert_eq!(sum.get(), 500_000_500_000);
//! ```
//!
//! The marker traits ([`Bindable`], [`UnitPromise`], [`Condition`], [`LoopBody`]...) exist for the compiler's
//! error messages: each one is implemented for exactly the types a position of `lwt!` accepts, and
//! says in words what was expected when something else is given.

use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};

use crate::exn::Exn;
use crate::node::Phase;
use crate::park::{result_of, wait_for, Context, Halt, Parked};
use crate::promise::{Promise, Repr};
use crate::resolver::Resolver;

#[doc(hidden)]
pub use core::result::Result::{Err, Ok};

// ------------------------------------------------------------------------------------------------
// Marker traits: what each position of `lwt!` accepts.

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for crate::Promise<T> {}
    impl Sealed for bool {}
    impl Sealed for super::Iteration {}
}

/// A promise that `let` can bind: only [`Promise<T>`], whose value is `T`.
#[diagnostic::on_unimplemented(
    message = "`let` in `lwt!` binds a promise, but this is a `{Self}`",
    label = "expected a `Promise<_>`, found `{Self}`",
    note = "for a plain (non-promise) `let`, write `do let pattern = value;`",
    note = "to bind a plain value as a resolved promise, wrap it: `lwt::ret(value)`; a `Result` \
            is bound with `lwt::of_result(r)` (an `Err` rejects the block), a future with \
            `lwt::future::spawn_local(f)`"
)]
pub trait Bindable: sealed::Sealed {
    /// The value the promise is fulfilled with.
    type Value: 'static;
    /// The promise itself.
    fn into_promise(self) -> Promise<Self::Value>;
}

impl<T: 'static> Bindable for Promise<T> {
    type Value = T;
    fn into_promise(self) -> Promise<T> {
        self
    }
}

/// A promise that `match` can wait on: only [`Promise<T>`].
#[diagnostic::on_unimplemented(
    message = "`match` in `lwt!` waits on a promise, but this is a `{Self}`",
    label = "expected a `Promise<_>`, found `{Self}`",
    note = "to match a plain value, write an ordinary `match` whose arms are promises, in \
            parentheses: `(match value {{ .. }})`, or in a plain `let`: \
            `do let p = match value {{ .. }};`",
    note = "an owned value can also be waited on as a resolved promise: \
            `match lwt::ret(value) {{ .. }}` (not one that borrows: the arms run later)"
)]
pub trait Scrutinee: sealed::Sealed {
    /// The value the promise is fulfilled with.
    type Value: 'static;
    /// The promise itself.
    fn into_promise(self) -> Promise<Self::Value>;
}

impl<T: 'static> Scrutinee for Promise<T> {
    type Value = T;
    fn into_promise(self) -> Promise<T> {
        self
    }
}

/// The scrutinee of a `match` in `lwt!`, checked (see [`Scrutinee`]): the promise as it is. A
/// function rather than the trait's method, so that a plain value there is reported once:
/// through the method, the type it returns names the missing implementation a second time.
///
/// ```
/// let p = lwt_core::control::scrutinee_promise(lwt_core::Promise::ret(3));
/// assert_eq!(p.state(), lwt_core::State::Fulfilled(3));
/// ```
#[inline]
pub fn scrutinee_promise<T: 'static, P: Scrutinee<Value = T>>(promise: P) -> Promise<T> {
    promise.into_promise()
}

/// The scrutinee of `if let pattern = promise` in `lwt!`: only [`Promise<T>`], whose value is
/// matched.
#[diagnostic::on_unimplemented(
    message = "`if let` in `lwt!` waits on a promise and matches its value, but this is a \
               `{Self}`",
    label = "expected a `Promise<_>`, found `{Self}`",
    note = "to match a plain value, wait on a resolved promise: \
            `if let Some(x) = lwt::ret(value) {{ .. }}`",
    note = "an `if let` whose branches are plain code is a plain statement: \
            `do if let Some(x) = value {{ .. }}`"
)]
pub trait IfLetScrutinee: sealed::Sealed {
    /// The value the promise is fulfilled with.
    type Value: 'static;
    /// The promise itself.
    fn into_promise(self) -> Promise<Self::Value>;
}

impl<T: 'static> IfLetScrutinee for Promise<T> {
    type Value = T;
    fn into_promise(self) -> Promise<T> {
        self
    }
}

/// The scrutinee of `while let pattern = promise` in `lwt!`: only [`Promise<T>`], evaluated and
/// waited on before each iteration.
#[diagnostic::on_unimplemented(
    message = "`while let` in `lwt!` waits on a promise before each iteration, but this is a \
               `{Self}`",
    label = "expected a `Promise<_>`, found `{Self}`",
    note = "to loop on plain values, wait on resolved promises: \
            `while let Some(x) = lwt::ret(next()) {{ .. }}`, or iterate: `for x in values {{ .. }}`",
    note = "a loop whose body is plain code is a plain statement: \
            `do while let Some(x) = stack.pop() {{ .. }}`"
)]
pub trait WhileLetScrutinee: sealed::Sealed {
    /// The value the promise is fulfilled with.
    type Value: 'static;
    /// The promise itself.
    fn into_promise(self) -> Promise<Self::Value>;
}

impl<T: 'static> WhileLetScrutinee for Promise<T> {
    type Value = T;
    fn into_promise(self) -> Promise<T> {
        self
    }
}

/// The value of a block of `lwt!` (its last expression) or of an arm of its `match`: a
/// [`Promise<T>`]. Checked only where the expression cannot have the type `!` (a literal, a
/// name, an operator, a constructor such as `Some(x)`, `format!`...), since a call (of a
/// function or a method) that never returns must keep coercing to the promise the context
/// expects, and `x.into()` must keep inferring its type from it.
#[diagnostic::on_unimplemented(
    message = "the value of a block, a branch or a `match` arm in `lwt!` is a promise, but this \
               is a `{Self}`",
    label = "expected a `Promise<_>`, found `{Self}`",
    note = "to make a plain value the promise's value, wrap it: `lwt::ret(value)`; as the last \
            expression of a block or an arm's body, `do value` does the same (`None => do (),`)",
    note = "to reject the promise, write `lwt::fail(error)` (`lwt::fail_with(\"message\")` for a \
            `Failure`); a `Result` becomes a promise with `lwt::of_result(r)`",
    note = "an `if` or `match` whose branches are plain values is a plain statement: \
            `do let x = if c {{ 1 }} else {{ 2 }};`"
)]
pub trait BlockValue: sealed::Sealed {
    /// The value the promise is fulfilled with.
    type Value: 'static;
    /// The promise itself.
    fn into_promise(self) -> Promise<Self::Value>;
}

impl<T: 'static> BlockValue for Promise<T> {
    type Value = T;
    fn into_promise(self) -> Promise<T> {
        self
    }
}

/// A statement `expr;` of `lwt!` sequences a `Promise<()>` (lwt_ppx's `e1;%lwt e2`).
#[diagnostic::on_unimplemented(
    message = "a statement `expr;` in `lwt!` waits on a `Promise<()>`, but this is a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "to wait for a promise and ignore its value, write `let _ = expr;`",
    note = "for a plain (non-promise) statement, write `do expr;`"
)]
pub trait UnitPromise: sealed::Sealed {
    /// The promise itself.
    fn into_unit(self) -> Promise<()>;
}

impl UnitPromise for Promise<()> {
    fn into_unit(self) -> Promise<()> {
        self
    }
}

/// The last statement `expr;` of a block of `lwt!`, whose `Promise<()>` is the block's value: a
/// [`UnitPromise`] with its own message, since the usual mistake there is a `;` after what was
/// meant to be the block's value.
#[diagnostic::on_unimplemented(
    message = "the last statement `expr;` of an `lwt!` block waits on a `Promise<()>`, but this \
               is a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "if this promise is the block's value, remove the `;` after it",
    note = "to wait for a promise and ignore its value, write `let _ = expr;`",
    note = "for a plain (non-promise) statement, write `do expr;`"
)]
pub trait LastStatement: sealed::Sealed {
    /// The promise itself.
    fn into_unit(self) -> Promise<()>;
}

impl LastStatement for Promise<()> {
    fn into_unit(self) -> Promise<()> {
        self
    }
}

/// The branch of an `if` without `else` in `lwt!`: a `Promise<()>` (the missing `else` is one).
#[diagnostic::on_unimplemented(
    message = "an `if` without `else` in `lwt!` must produce a `Promise<()>`, but this branch \
               produces a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "the missing `else` produces `()`: add an `else` branch with a value of the same type, \
            or end this branch with a statement (`expr;`)",
    note = "a statement `expr;` waits on a `Promise<()>`: for a plain (non-promise) statement, \
            write `do expr;`"
)]
pub trait ThenBranch: sealed::Sealed {
    /// The promise itself.
    fn into_unit(self) -> Promise<()>;
}

impl ThenBranch for Promise<()> {
    fn into_unit(self) -> Promise<()> {
        self
    }
}

/// The body of `for`, `while` and `loop` in `lwt!`: a `Promise<()>` per iteration, or an
/// [`Iteration`] (a body with `break` or `continue`, through [`flow_body`]).
///
/// Only these two, so that a body of any promise type (`lwt::fail_with(..)`, a `Promise<T>` for
/// every `T`) is taken as a `Promise<()>`: a second promise type here would make it ambiguous.
#[diagnostic::on_unimplemented(
    message = "the body of a loop in `lwt!` must produce a `Promise<()>`, but it produces a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "a loop has no value: end its body with a statement (`expr;`) instead of a value",
    note = "a statement `expr;` waits on a `Promise<()>`: for a plain (non-promise) statement, \
            write `do expr;`"
)]
pub trait LoopBody: sealed::Sealed {
    /// The promise, as one iteration of a loop.
    fn into_iteration(self) -> Iteration;
}

impl LoopBody for Promise<()> {
    #[inline]
    fn into_iteration(self) -> Iteration {
        Iteration(IterationKind::Unit(self))
    }
}

impl LoopBody for Iteration {
    #[inline]
    fn into_iteration(self) -> Iteration {
        self
    }
}

/// How one run of a loop body ends, when the body has `break` or `continue` (the value of such a
/// body in `lwt!`, and of each statement in it that contains one).
///
/// A hand-written body can return it too:
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::control::{self, Flow};
/// use lwt_core::Promise;
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// let p = control::for_each(1.., move |i: u32| {
///     control::flow_body(if i % 2 == 0 {
///         Promise::ret(Flow::Continue)
///     } else if i > 7 {
///         Promise::ret(Flow::Break)
///     } else {
///         s.borrow_mut().push(i);
///         Promise::ret(Flow::Next)
///     })
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(*seen.borrow(), [1, 3, 5, 7]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The statement finished normally: go on with the rest of the body (at the end of the body,
    /// with the next iteration).
    Next,
    /// `continue`: skip the rest of the body and go on with the next iteration.
    Continue,
    /// `break`: skip the rest of the body and end the loop, fulfilled.
    Break,
}

/// One iteration's body, as the loop drivers take it: a `Promise<()>` or a `Promise<Flow>`
/// (see [`LoopBody`]).
#[derive(Debug)]
pub struct Iteration(IterationKind);

#[derive(Debug)]
enum IterationKind {
    Unit(Promise<()>),
    Flow(Promise<Flow>),
}

/// The body of `for` and `loop` in `lwt!`, checked where it is written: a body of the wrong type
/// is reported at its value, rather than at the loop's keyword through the driver's bounds.
///
/// ```
/// use lwt_core::{control, Promise};
/// let _iteration = control::loop_body(Promise::ret(()));
/// ```
#[inline(always)]
pub fn loop_body(body: impl LoopBody) -> Iteration {
    body.into_iteration()
}

/// A loop body with `break` or `continue` in it, as the loop drivers take it.
///
/// ```
/// use lwt_core::control::{self, Flow};
/// use lwt_core::Promise;
/// let p = control::forever(|| control::flow_body(Promise::ret(Flow::Break)));
/// assert!(p.is_fulfilled());
/// ```
#[inline]
pub fn flow_body(body: Promise<Flow>) -> Iteration {
    Iteration(IterationKind::Flow(body))
}

/// What ends a block on the way from a loop body to its `break` or `continue` in `lwt!` (the
/// last statement, a branch's or an arm's value): a `Promise<()>`.
#[diagnostic::on_unimplemented(
    message = "in a loop body with `break` or `continue`, each block that can reach them ends \
               with a `Promise<()>` (a statement), but this is a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "a branch or arm of a statement has no value: end it with a statement (`expr;`), or \
            wait for the value and drop it (`let _ = expr;`)",
    note = "a statement `expr;` waits on a `Promise<()>`: for a plain (non-promise) statement, \
            write `do expr;`"
)]
pub trait FlowStatement: sealed::Sealed {
    /// The promise itself.
    fn into_unit(self) -> Promise<()>;
}

impl FlowStatement for Promise<()> {
    #[inline]
    fn into_unit(self) -> Promise<()> {
        self
    }
}

/// A statement that ends a block on the way from a loop body to its `break` or `continue`, or
/// such a block's value: a `Promise<()>`, which finishes normally ([`Flow::Next`]).
///
/// ```
/// use lwt_core::{control, control::Flow, return_unit, State};
/// assert_eq!(control::flow_last(return_unit()).state(), State::Fulfilled(Flow::Next));
/// ```
#[inline]
pub fn flow_last(statement: impl FlowStatement) -> Promise<Flow> {
    statement.into_unit().map(|()| Flow::Next)
}

/// `statement; rest` in a loop body with `break` or `continue`, for a statement that contains
/// one: runs `rest` when the statement finishes normally ([`Flow::Next`]), and passes a
/// `break` or `continue` on without running it. Records its caller on the rejection path.
///
/// ```
/// use lwt_core::control::{self, Flow};
/// use lwt_core::{Promise, State};
///
/// let p = control::flow_seq(Promise::ret(Flow::Next), || Promise::ret(Flow::Break));
/// assert_eq!(p.state(), State::Fulfilled(Flow::Break));
/// let q = control::flow_seq(Promise::ret(Flow::Continue), || unreachable!());
/// assert_eq!(q.state(), State::Fulfilled(Flow::Continue));
/// ```
#[inline]
#[track_caller]
pub fn flow_seq(
    statement: Promise<Flow>,
    rest: impl FnOnce() -> Promise<Flow> + 'static,
) -> Promise<Flow> {
    let location = Location::caller();
    statement.then(move |outcome| match outcome {
        Ok(Flow::Next) => rest(),
        Ok(jump) => Promise::ret(jump),
        Err(e) => reject(e, location),
    })
}

/// The cleanup of `try { .. } finally { .. }` in `lwt!`: a `Promise<()>`.
#[diagnostic::on_unimplemented(
    message = "a `finally` block in `lwt!` must produce a `Promise<()>`, but it produces a `{Self}`",
    label = "expected a `Promise<()>`, found `{Self}`",
    note = "the block's value is the `try` body's: end the cleanup with a statement (`expr;`)",
    note = "a statement waits on a promise: for a plain (non-promise) statement, write `do expr;`"
)]
pub trait Cleanup: sealed::Sealed {
    /// The promise itself.
    fn into_unit(self) -> Promise<()>;
}

impl Cleanup for Promise<()> {
    fn into_unit(self) -> Promise<()> {
        self
    }
}

/// The condition of `if` and `while` in `lwt!`: a plain `bool`, or a `Promise<bool>` to wait on.
#[diagnostic::on_unimplemented(
    message = "the condition of `if`/`while` in `lwt!` must be a `bool` or a `Promise<bool>`, \
               not a `{Self}`",
    label = "expected `bool` or `Promise<bool>`, found `{Self}`"
)]
pub trait Condition: sealed::Sealed {
    /// The condition, now or later.
    fn into_condition(self) -> Cond;
}

impl Condition for bool {
    fn into_condition(self) -> Cond {
        Cond::Now(self)
    }
}

impl Condition for Promise<bool> {
    fn into_condition(self) -> Cond {
        Cond::Later(self)
    }
}

/// A condition as [`Condition`] hands it over.
#[derive(Debug)]
pub enum Cond {
    /// A plain `bool`.
    Now(bool),
    /// A promise of one.
    Later(Promise<bool>),
}

// ------------------------------------------------------------------------------------------------
// Binds.

/// Passes a rejection on, with `location` added to its trail (unless the trail already ends
/// there: a loop used as a statement is both the loop and the statement, on one line).
fn reject<T: 'static>(e: Exn, location: &'static Location<'static>) -> Promise<T> {
    Promise::fail(located(e, location))
}

/// `e` with `location` at the end of its trail (once).
fn located(e: Exn, location: &'static Location<'static>) -> Exn {
    if e.last_location() == Some(location) {
        e
    } else {
        e.with_location(location)
    }
}

/// `let pattern = promise; rest`: [`Promise::bind`] that records its caller on the rejection path.
///
/// ```
/// use lwt_core::{control, Promise, State};
///
/// let p = control::bind(Promise::ret(20), |x| Promise::ret(x + 1));
/// assert_eq!(p.state(), State::Fulfilled(21));
///
/// let line = line!() + 1;
/// let q = control::bind(Promise::<i32>::fail_with("lost"), |x| Promise::ret(x + 1));
/// let trail: Vec<u32> = q.rejection().unwrap().locations().map(|l| l.line()).collect();
/// assert_eq!(trail, [line]);
/// ```
#[inline]
#[track_caller]
pub fn bind<P: Bindable, U: 'static>(
    promise: P,
    rest: impl FnOnce(P::Value) -> Promise<U> + 'static,
) -> Promise<U> {
    let location = Location::caller();
    promise.into_promise().then(move |outcome| match outcome {
        Ok(value) => rest(value),
        Err(e) => reject(e, location),
    })
}

/// `promise; rest` (lwt_ppx's `e1;%lwt e2`): waits for a `Promise<()>`, then runs `rest`. Records
/// its caller on the rejection path.
///
/// ```
/// use lwt_core::{control, return_unit, Promise, State};
/// let p = control::seq(return_unit(), || Promise::ret("next"));
/// assert_eq!(p.state(), State::Fulfilled("next"));
/// ```
#[inline]
#[track_caller]
pub fn seq<P: UnitPromise, U: 'static>(
    promise: P,
    rest: impl FnOnce() -> Promise<U> + 'static,
) -> Promise<U> {
    let location = Location::caller();
    promise.into_unit().then(move |outcome| match outcome {
        Ok(()) => rest(),
        Err(e) => reject(e, location),
    })
}

/// `if condition { .. } else { .. }`: calls `rest` with the condition, at once for a `bool`, when
/// it is fulfilled for a `Promise<bool>`. Records its caller on the rejection path.
///
/// ```
/// use lwt_core::{control, Promise, State};
/// let pick = |b: bool| if b { Promise::ret("yes") } else { Promise::ret("no") };
/// assert_eq!(control::branch(true, pick).state(), State::Fulfilled("yes"));
/// assert_eq!(control::branch(Promise::ret(false), pick).state(), State::Fulfilled("no"));
/// ```
#[inline]
#[track_caller]
pub fn branch<C: Condition, U: 'static>(
    condition: C,
    rest: impl FnOnce(bool) -> Promise<U> + 'static,
) -> Promise<U> {
    match condition.into_condition() {
        Cond::Now(b) => rest(b),
        Cond::Later(p) => {
            let location = Location::caller();
            p.then(move |outcome| match outcome {
                Ok(b) => rest(b),
                Err(e) => reject(e, location),
            })
        }
    }
}

/// `match` with rejection arms (lwt_ppx's `match%lwt` with `exception` cases, Lwt's `try_bind`):
/// calls `rest` with the outcome of the promise, fulfilled or rejected, in one closure (so that
/// the arms can share the variables they capture).
///
/// ```
/// use lwt_core::{control, Promise, State};
/// let p = control::outcome(Promise::<u8>::fail_with("x"), |o| Promise::ret(o.is_err()));
/// assert_eq!(p.state(), State::Fulfilled(true));
/// ```
#[inline]
pub fn outcome<P: Scrutinee, U: 'static>(
    promise: P,
    rest: impl FnOnce(Result<P::Value, Exn>) -> Promise<U> + 'static,
) -> Promise<U> {
    promise.into_promise().then(rest)
}

/// Calls `f` at once and gives its value: `lwt!` evaluates the expression a form waits on (a
/// `let`'s value, a statement's promise, an `if`'s condition) in such a closure, so that its
/// temporaries are dropped before the form's continuation can run, as at the end of a Rust
/// statement (a `RefCell` borrow in `let v = ret(*c.borrow());` is over before the rest, which
/// may run at once, borrows `c` again).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{control, Promise, State};
/// let c = Rc::new(RefCell::new(1));
/// let c2 = c.clone();
/// let p = control::bind(control::evaluate(|| Promise::ret(*c.borrow())), move |v| {
///     *c2.borrow_mut() = v + 1; // runs at once: the borrow above is over
///     Promise::ret(())
/// });
/// assert_eq!((p.state(), *c.borrow()), (State::Fulfilled(()), 2));
/// ```
#[inline(always)]
pub fn evaluate<P>(f: impl FnOnce() -> P) -> P {
    f()
}

/// `match promise { arms }` without rejection arms: [`bind`] on the promise [`scrutinee`] made
/// (so that, as with lwt_ppx, a panic while evaluating it is a rejection). Records its caller on
/// the rejection path.
///
/// ```
/// use lwt_core::{control, Promise, State};
/// let p = control::bind_match(Promise::ret(Some(2)), |v| Promise::ret(v.unwrap_or(0)));
/// assert_eq!(p.state(), State::Fulfilled(2));
/// ```
#[inline]
#[track_caller]
pub fn bind_match<P: Scrutinee, U: 'static>(
    promise: P,
    rest: impl FnOnce(P::Value) -> Promise<U> + 'static,
) -> Promise<U> {
    let location = Location::caller();
    promise.into_promise().then(move |outcome| match outcome {
        Ok(value) => rest(value),
        Err(e) => reject(e, location),
    })
}

/// `if let pattern = promise { .. } else { .. }`: [`bind`], with its own error message for a
/// scrutinee that is not a promise. Records its caller on the rejection path.
///
/// ```
/// use lwt_core::{control, Promise, State};
/// let p = control::bind_if_let(Promise::ret(Some(2)), |v| {
///     if let Some(n) = v { Promise::ret(n) } else { Promise::ret(0) }
/// });
/// assert_eq!(p.state(), State::Fulfilled(2));
/// ```
#[inline]
#[track_caller]
pub fn bind_if_let<P: IfLetScrutinee, U: 'static>(
    promise: P,
    rest: impl FnOnce(P::Value) -> Promise<U> + 'static,
) -> Promise<U> {
    let location = Location::caller();
    promise.into_promise().then(move |outcome| match outcome {
        Ok(value) => rest(value),
        Err(e) => reject(e, location),
    })
}

/// A rejection that no arm of a `match`/`catch` handled: passes it on, recording the caller.
///
/// ```
/// use lwt_core::{control, Exn};
/// let p = control::reraise::<()>(Exn::failure("x"));
/// assert_eq!(p.rejection().unwrap().locations().count(), 1);
/// ```
#[inline]
#[track_caller]
pub fn reraise<T: 'static>(e: Exn) -> Promise<T> {
    reject(e, Location::caller())
}

/// Runs `f`, turning a panic into a rejected promise, as the thunk of Lwt's `catch (fun () -> e)`:
/// `lwt!` evaluates under it the body of `try` (with `catch`, `finally` or both), a `for` loop's
/// iterable and driver, and an `assert!` (a `match` scrutinee goes through [`scrutinee`]).
///
/// ```
/// use lwt_core::{control, Panicked, Promise};
/// let p = control::guard(|| -> Promise<u8> { panic!("early") });
/// assert_eq!(p.rejection().unwrap().downcast_ref::<Panicked>().unwrap().message(), "early");
/// ```
#[inline]
pub fn guard<T: 'static>(f: impl FnOnce() -> Promise<T>) -> Promise<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(p) => p,
        Err(payload) => Promise::fail(Exn::from_panic(payload)),
    }
}

/// `try { .. } catch { handlers }`: when `promise` is rejected, the result becomes the promise
/// `handler` returns. (The handler's last arm passes unmatched rejections on with [`reraise`].)
///
/// ```
/// use lwt_core::{control, Promise, State};
/// let p = control::catch(Promise::<u8>::fail_with("x"), |_| Promise::ret(0));
/// assert_eq!(p.state(), State::Fulfilled(0));
/// ```
#[inline]
pub fn catch<T: 'static>(
    promise: Promise<T>,
    handler: impl FnOnce(Exn) -> Promise<T> + 'static,
) -> Promise<T> {
    promise.catch(handler)
}

/// `try { .. } finally { cleanup }` (lwt_ppx's `[%finally]`): when `promise` resolves either way,
/// runs `cleanup` (a panic in it rejects the result), waits for it, then passes the original
/// outcome on, or the cleanup's rejection if the cleanup fails. Records its caller when the
/// result is rejected.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{control, Promise};
///
/// let cleaned = Rc::new(Cell::new(0));
/// let c = cleaned.clone();
/// let p = control::finalize(Promise::<u8>::fail_with("x"), move || {
///     c.set(c.get() + 1);
///     Promise::ret(())
/// });
/// assert!(p.is_rejected());
/// assert_eq!(cleaned.get(), 1);
/// ```
#[inline]
#[track_caller]
pub fn finalize<T: 'static>(
    promise: Promise<T>,
    cleanup: impl FnOnce() -> Promise<()> + 'static,
) -> Promise<T> {
    let location = Location::caller();
    promise.then(move |outcome| {
        guard(cleanup).then(move |done| match (done, outcome) {
            (Ok(()), Ok(value)) => Promise::ret(value),
            (Ok(()), Err(e)) | (Err(e), _) => reject(e, location),
        })
    })
}

/// The promise of a `finally` block, checked (see [`Cleanup`]) inside the cleanup's closure, so
/// that a block of the wrong type is reported at its statement or value, not at `finally`.
///
/// ```
/// assert!(lwt_core::control::cleanup(lwt_core::return_unit()).is_fulfilled());
/// ```
// An `impl Trait` parameter rather than a named one, here and in the other checks of a user's
// value (`unit`, `statement`, `loop_body`..): a value whose type the context would fix
// (`w.into()`) is then "type annotations needed" at that value, with rustc's help to write
// `<W as Into<T>>::into(w)`. With a named parameter rustc blamed this call's path, which the
// macro spans at the user's keyword, and offered a turbofish on it (`finally::<P>`, `if::<P>`).
#[inline]
pub fn cleanup(promise: impl Cleanup) -> Promise<()> {
    promise.into_unit()
}

/// The value of a block of `lwt!` that ends with a diverging macro (`panic!(..);`): `never` is
/// called at once and never returns, and the promise type is the one the context expects, as a
/// diverging Rust block may have any type.
///
/// ```should_panic
/// let p: lwt_core::Promise<u8> = lwt_core::control::diverged(|| panic!("never returns"));
/// ```
#[inline]
pub fn diverged<T>(never: impl FnOnce() -> Promise<T>) -> Promise<T> {
    never()
}

/// A `Promise<()>` that an `if` without `else` may produce, checked (see [`ThenBranch`]).
///
/// ```
/// assert!(lwt_core::control::unit(lwt_core::return_unit()).is_fulfilled());
/// ```
#[inline]
pub fn unit(promise: impl ThenBranch) -> Promise<()> {
    promise.into_unit()
}

/// The value of a block or of a `match` arm, checked (see [`BlockValue`]): the promise as it is.
///
/// ```
/// let p: lwt_core::Promise<u8> = lwt_core::control::value(lwt_core::Promise::ret(7));
/// assert_eq!(p.state(), lwt_core::State::Fulfilled(7));
/// ```
#[inline]
pub fn value<T: 'static, P: BlockValue<Value = T>>(promise: P) -> Promise<T> {
    promise.into_promise()
}

/// The last statement `expr;` of a block, whose `Promise<()>` is the block's value as it is (no
/// extra bind), checked (see [`LastStatement`]).
///
/// ```
/// assert!(lwt_core::control::last(lwt_core::return_unit()).is_fulfilled());
/// ```
#[inline]
pub fn last(promise: impl LastStatement) -> Promise<()> {
    promise.into_unit()
}

/// The last statement `expr;` of a block whose form checks its `Promise<()>` (a loop body, a
/// branch of an `if` without `else`, a cleanup), after a statement that waits: there the form's
/// check sees only the bind around it, so the statement is checked as any other (see
/// [`UnitPromise`]), and a plain call gets the statement's `do expr;` note rather than rustc's
/// "mismatched types" at the bind's closure.
///
/// ```
/// assert!(lwt_core::control::statement(lwt_core::return_unit()).is_fulfilled());
/// ```
#[inline]
pub fn statement(promise: impl UnitPromise) -> Promise<()> {
    promise.into_unit()
}

/// Evaluates the promise of every `match` in `lwt!` (with rejection arms or without), turning a
/// panic into a rejection (lwt_ppx's `Lwt.try_bind (fun () -> e)`), checked (see
/// [`Scrutinee`]).
///
/// ```
/// use lwt_core::{control, Promise};
/// let p = control::scrutinee(|| -> Promise<u8> { panic!("early") });
/// assert!(p.is_rejected());
/// ```
#[inline]
pub fn scrutinee<P: Scrutinee>(f: impl FnOnce() -> P) -> Promise<P::Value> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(p) => p.into_promise(),
        Err(payload) => Promise::fail(Exn::from_panic(payload)),
    }
}

/// `Promise::ret(())`: the missing `else` of an `if`, the value of a block that ends with a
/// statement.
///
/// ```
/// assert!(lwt_core::control::done().is_fulfilled());
/// ```
#[inline]
pub fn done() -> Promise<()> {
    Promise::ret(())
}

/// What an `lwt!` invocation with errors expands to, after its `compile_error!`s: a value of any
/// type, so that the code around it reports no further errors. Never runs (the crate does not
/// compile).
#[doc(hidden)]
pub fn invalid<T>() -> T {
    unreachable!("an `lwt!` block with errors")
}

/// `Promise::ret(value)`: the value of a block that ends with `do value`.
///
/// ```
/// assert_eq!(lwt_core::control::ret(1).state(), lwt_core::State::Fulfilled(1));
/// ```
#[inline]
pub fn ret<T: 'static>(value: T) -> Promise<T> {
    Promise::ret(value)
}

// ------------------------------------------------------------------------------------------------
// Loops.

/// What happened to the promise of one step, without waiting.
enum Now<T: 'static> {
    Ready(T),
    Failed(Exn),
    Wait(Promise<T>),
}

/// Takes the outcome of `p` if it is already resolved and quiet (by value: no `Clone` needed), as
/// the bind family's primitive does before calling a continuation synchronously.
fn now<T: 'static>(p: Promise<T>) -> Now<T> {
    match p.0 {
        Repr::Ready(Ok(value)) => Now::Ready(value),
        Repr::Ready(Err(e)) => Now::Failed(e),
        Repr::Node(node) => {
            let root = node.root();
            if root.phase() == Phase::Idle {
                match root.take_or_clone() {
                    Ok(value) => Now::Ready(value),
                    Err(e) => Now::Failed(e),
                }
            } else {
                // Pending, or resolved with earlier callbacks yet to run: wait behind them.
                Now::Wait(Promise::from_node(node))
            }
        }
    }
}

fn now_bool(c: Cond) -> Now<bool> {
    match c {
        Cond::Now(b) => Now::Ready(b),
        Cond::Later(p) => now(p),
    }
}

/// The caller of a loop, added to the trail of the rejection that ends it.
type Here = &'static Location<'static>;

impl Context for Here {
    fn rejected(self, e: Exn) -> Exn {
        located(e, self)
    }
}

/// Runs the synchronous part of a loop, turning a panic into the loop's rejection (one
/// `catch_unwind` per run, not per iteration).
fn guarded<W>(location: Here, run: impl FnOnce() -> Halt<(), W>) -> Halt<(), W> {
    catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|payload| Halt::Done(Err(located(Exn::from_panic(payload), location))))
}

/// What one iteration's body came to, looked at without waiting.
enum Ran {
    /// It finished (or ran `continue`): the loop goes on.
    Next,
    /// It ran `break`: the loop is done.
    Break,
    Failed(Exn),
    Wait(Iteration),
}

// Inlined into each loop driver, which is generic and so compiled in the user's crate: an
// out-of-line call here per iteration doubled the cost of a resolved 64-iteration `for` loop
// (`benches/macro.rs`, 111 → 238 ns).
#[inline]
fn ran(body: Iteration) -> Ran {
    match body.0 {
        IterationKind::Unit(p) => match now(p) {
            Now::Ready(()) => Ran::Next,
            Now::Failed(e) => Ran::Failed(e),
            Now::Wait(p) => Ran::Wait(Iteration(IterationKind::Unit(p))),
        },
        IterationKind::Flow(p) => match now(p) {
            Now::Ready(Flow::Break) => Ran::Break,
            Now::Ready(Flow::Next | Flow::Continue) => Ran::Next,
            Now::Failed(e) => Ran::Failed(e),
            Now::Wait(p) => Ran::Wait(Iteration(IterationKind::Flow(p))),
        },
    }
}

/// Waits for a pending body, then `resume`s the loop, unless the body ran `break`, which
/// fulfils it.
fn wait_for_body<W>(
    body: Iteration,
    resolver: Resolver<()>,
    location: Here,
    resume: impl FnOnce(Here) -> Halt<(), W> + 'static,
) where
    W: Parked<(), Context = Here>,
{
    match body.0 {
        IterationKind::Unit(p) => wait_for(p, resolver, location, move |(), at| resume(at)),
        IterationKind::Flow(p) => wait_for(p, resolver, location, move |flow, at| {
            if flow == Flow::Break {
                Halt::Done(Ok(()))
            } else {
                resume(at)
            }
        }),
    }
}

/// Runs `next` until it returns `None` (done), a body breaks or a body is rejected,
/// synchronously while the bodies are resolved; a pending body parks the loop until it is
/// resolved (see [`crate::park`]).
fn drive<F>(next: F, location: &'static Location<'static>) -> Promise<()>
where
    F: FnMut() -> Option<Iteration> + 'static,
{
    result_of(advance(next, location), location)
}

/// A `drive` loop waiting on a pending body; `F` gives the iterations after it.
struct BodyWait<F>(Iteration, F);

impl<F> Parked<()> for BodyWait<F>
where
    F: FnMut() -> Option<Iteration> + 'static,
{
    type Context = Here;

    fn park(self, resolver: Resolver<()>, location: Here) {
        let BodyWait(body, next) = self;
        wait_for_body(body, resolver, location, move |at| advance(next, at));
    }
}

/// Runs iterations while their bodies are resolved.
fn advance<F>(mut next: F, location: Here) -> Halt<(), BodyWait<F>>
where
    F: FnMut() -> Option<Iteration> + 'static,
{
    guarded(location, move || loop {
        let Some(body) = next() else {
            return Halt::Done(Ok(()));
        };
        match ran(body) {
            Ran::Next => {}
            Ran::Break => return Halt::Done(Ok(())),
            Ran::Failed(e) => return Halt::Done(Err(located(e, location))),
            Ran::Wait(body) => return Halt::Wait(BodyWait(body, next)),
        }
    })
}

/// `for pattern in iterable { body }` (lwt_ppx's `for%lwt`): runs `body` on each item in turn,
/// starting the next iteration when the previous body's promise is fulfilled. The iterable is
/// evaluated once, before the first iteration. A rejected body, or a panic in the body or the
/// iterator (its `into_iter` or its `next`), ends the loop with that rejection, with the caller
/// added to its trail.
///
/// Stack-safe: resolved bodies run in a plain loop (see the [module docs](self)).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{control, Promise};
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// let p = control::for_each((1..=3).rev(), move |i| {
///     s.borrow_mut().push(i);
///     Promise::ret(())
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(*seen.borrow(), [3, 2, 1]);
/// ```
#[track_caller]
pub fn for_each<I, P, F>(iterable: I, mut body: F) -> Promise<()>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    P: LoopBody,
    F: FnMut(I::Item) -> P + 'static,
{
    let location = Location::caller();
    let mut iter = match iterate(iterable, location) {
        Ok(iter) => iter,
        Err(rejected) => return rejected,
    };
    drive(
        move || iter.next().map(|item| body(item).into_iteration()),
        location,
    )
}

/// The iterable of a `for` loop in `lwt!`, as it is, checked at the user's iterable (where Rust's
/// `for` calls `IntoIterator::into_iter`): a value that is not iterable is reported there, once,
/// not at `for` through the driver's bounds. The opaque type is what makes it once: the driver's
/// bounds then hold through its declared `IntoIterator`, where with the value's own type they
/// blamed `for` a second time (and, for an iterable whose type the context would fix,
/// `w.into()`, they blamed the driver's generic parameter rather than `into`). The conversion
/// itself is left to the driver, which records the loop's location on a panic in it.
///
/// Its iterator is an opaque type of its own, declared `'static`: with only a bound
/// `IntoIter: 'static` on the outer opaque type, rustc proved the iterator `'static` from the
/// types the opaque type captures, that is from the iterable's, and refused an iterable that is
/// not `'static` but whose iterator is (a generic `I` with `I::IntoIter: 'static`, a `&bag` whose
/// iterator owns its items), which Rust's `for` and the driver accept. Naming the iterator as a
/// type parameter instead reported a value that is not iterable twice, at the iterable and at
/// `for`.
///
/// ```
/// let p = lwt_core::control::for_each(lwt_core::control::iterable([1, 2]), |_| {
///     lwt_core::return_unit()
/// });
/// assert!(p.is_fulfilled());
/// ```
#[inline(always)]
pub fn iterable<T>(
    iterable: impl IntoIterator<Item = T, IntoIter: 'static>,
) -> impl IntoIterator<Item = T, IntoIter = impl Iterator<Item = T> + 'static> {
    iterable
}

/// `iterable.into_iter()`, with a panic there made the loop's rejection (as one in `next` is):
/// `lwt!` evaluates the iterable under a guard, but a direct call has none.
fn iterate<I: IntoIterator>(
    iterable: I,
    location: &'static Location<'static>,
) -> Result<I::IntoIter, Promise<()>> {
    catch_unwind(AssertUnwindSafe(move || iterable.into_iter()))
        .map_err(|panic| Promise::fail(located(Exn::from_panic(panic), location)))
}

/// [`for_each`] for a body that binds: each iteration calls its own clone of `body`, which it
/// consumes, so the continuations inside the body can take ownership of what the body captured
/// (`lwt!` uses it when a loop body contains a `let` or sequences promises). Cloning a closure
/// clones what it captured: an `Rc` handle is shared, a `Copy` value copied. State that must
/// persist from one iteration to the next therefore lives behind an `Rc`.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{control, Promise};
///
/// let total = Rc::new(Cell::new(0));
/// let t = total.clone();
/// let p = control::for_each_cloned(1..=3, move |i| {
///     // `t` moves into the continuation: fine, it is this iteration's clone.
///     Promise::ret(i * 10).map(move |x| t.set(t.get() + x))
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(total.get(), 60);
/// ```
#[track_caller]
pub fn for_each_cloned<I, P, F>(iterable: I, body: F) -> Promise<()>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    P: LoopBody,
    F: FnOnce(I::Item) -> P + Clone + 'static,
{
    let location = Location::caller();
    let mut iter = match iterate(iterable, location) {
        Ok(iter) => iter,
        Err(rejected) => return rejected,
    };
    drive(
        move || iter.next().map(|item| body.clone()(item).into_iteration()),
        location,
    )
}

/// `loop { body }`: runs `body` again and again, until its promise is rejected (the result is
/// then rejected the same way, with the caller added to its trail). Stack-safe.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{control, Promise};
///
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// let p = control::forever(move || {
///     m.set(m.get() + 1);
///     if m.get() == 5 { Promise::fail_with("stop") } else { Promise::ret(()) }
/// });
/// assert!(p.is_rejected());
/// assert_eq!(n.get(), 5);
/// ```
#[track_caller]
pub fn forever<P, F>(mut body: F) -> Promise<()>
where
    P: LoopBody,
    F: FnMut() -> P + 'static,
{
    let location = Location::caller();
    drive(move || Some(body().into_iteration()), location)
}

/// [`forever`] for a body that binds: each iteration runs a clone of `body` (see
/// [`for_each_cloned`]).
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{control, Promise};
///
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// let p = control::forever_cloned(move || {
///     Promise::ret(()).bind(move |()| {
///         m.set(m.get() + 1);
///         if m.get() == 3 { Promise::fail_with("stop") } else { Promise::ret(()) }
///     })
/// });
/// assert!(p.is_rejected());
/// assert_eq!(n.get(), 3);
/// ```
#[track_caller]
pub fn forever_cloned<P, F>(body: F) -> Promise<()>
where
    P: LoopBody,
    F: FnOnce() -> P + Clone + 'static,
{
    let location = Location::caller();
    drive(move || Some(body.clone()().into_iteration()), location)
}

/// Which part of a `while` loop [`while_loop`] asks its closure for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Evaluate the condition.
    Cond,
    /// Run the body once.
    Body,
}

/// What the closure of [`while_loop`] returns: the condition ([`Next::cond`]) or the body
/// ([`Next::body`]).
#[derive(Debug)]
pub struct Next(NextKind);

#[derive(Debug)]
enum NextKind {
    Cond(Cond),
    Body(Iteration),
}

impl Next {
    /// The condition, a `bool` or a `Promise<bool>`.
    pub fn cond<C: Condition>(condition: C) -> Next {
        Next(NextKind::Cond(condition.into_condition()))
    }

    /// The body's promise.
    pub fn body(body: impl LoopBody) -> Next {
        Next(NextKind::Body(body.into_iteration()))
    }
}

/// `while condition { body }` (lwt_ppx's `while%lwt`): asks `step` for the condition
/// ([`Step::Cond`]), and while it is true, for the body ([`Step::Body`]), waiting for each promise
/// in turn. One closure provides both, so that the condition and the body can use the same
/// captured variables. A rejection (or a panic) ends the loop, with the caller added to its
/// trail. Stack-safe.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::control::{while_loop, Next, Step};
/// use lwt_core::Promise;
///
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// let p = while_loop(move |step| match step {
///     Step::Cond => Next::cond(m.get() < 1_000_000),
///     Step::Body => Next::body({
///         m.set(m.get() + 1);
///         Promise::ret(())
///     }),
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(n.get(), 1_000_000);
/// ```
#[track_caller]
pub fn while_loop<F>(step: F) -> Promise<()>
where
    F: FnMut(Step) -> Next + 'static,
{
    run_while(step, Step::Cond, Location::caller())
}

/// [`while_loop`] for a loop that binds: each step runs a clone of `step` (see
/// [`for_each_cloned`]).
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::control::{while_loop_cloned, Next, Step};
/// use lwt_core::Promise;
///
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// let p = while_loop_cloned(move |step| match step {
///     Step::Cond => Next::cond(m.get() < 3),
///     Step::Body => Next::body(Promise::ret(1).map(move |k| m.set(m.get() + k))),
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(n.get(), 3);
/// ```
#[track_caller]
pub fn while_loop_cloned<F>(step: F) -> Promise<()>
where
    F: FnOnce(Step) -> Next + Clone + 'static,
{
    run_while(move |at| step.clone()(at), Step::Cond, Location::caller())
}

fn run_while<F>(step: F, at: Step, location: &'static Location<'static>) -> Promise<()>
where
    F: FnMut(Step) -> Next + 'static,
{
    result_of(advance_while(step, at, location), location)
}

/// A `while` loop waiting on its condition or on its body.
enum WhileWait<F> {
    Cond(Promise<bool>, F),
    Body(Iteration, F),
}

impl<F> Parked<()> for WhileWait<F>
where
    F: FnMut(Step) -> Next + 'static,
{
    type Context = Here;

    fn park(self, resolver: Resolver<()>, location: Here) {
        match self {
            WhileWait::Cond(cond, step) => wait_for(cond, resolver, location, move |go_on, at| {
                if go_on {
                    advance_while(step, Step::Body, at)
                } else {
                    Halt::Done(Ok(()))
                }
            }),
            WhileWait::Body(body, step) => wait_for_body(body, resolver, location, move |at| {
                advance_while(step, Step::Cond, at)
            }),
        }
    }
}

/// Runs the steps of a `while` loop, from `at`, while their promises are resolved.
fn advance_while<F>(
    mut step: F,
    mut at: Step,
    location: &'static Location<'static>,
) -> Halt<(), WhileWait<F>>
where
    F: FnMut(Step) -> Next + 'static,
{
    guarded(location, move || loop {
        let Next(next) = step(at);
        match (at, next) {
            (Step::Cond, NextKind::Cond(c)) => match now_bool(c) {
                Now::Ready(true) => at = Step::Body,
                Now::Ready(false) => return Halt::Done(Ok(())),
                Now::Failed(e) => return Halt::Done(Err(located(e, location))),
                Now::Wait(cond) => return Halt::Wait(WhileWait::Cond(cond, step)),
            },
            (Step::Body, NextKind::Body(body)) => match ran(body) {
                Ran::Next => at = Step::Cond,
                Ran::Break => return Halt::Done(Ok(())),
                Ran::Failed(e) => return Halt::Done(Err(located(e, location))),
                Ran::Wait(body) => return Halt::Wait(WhileWait::Body(body, step)),
            },
            (asked, _) => {
                let e = Exn::invalid_argument(format!(
                    "while_loop: asked for {asked:?}, the closure answered with the other step"
                ));
                return Halt::Done(Err(located(e, location)));
            }
        }
    })
}

/// What [`while_let`] asks its closure for.
#[derive(Debug)]
pub enum LetStep<T> {
    /// Evaluate the promise whose value is matched against the pattern.
    Next,
    /// Match this value: run the body if the pattern matches, or stop.
    Body(T),
}

/// What the closure of [`while_let`] returns: [`LetNext::value`], [`LetNext::body`] or
/// [`LetNext::stop`].
#[derive(Debug)]
pub struct LetNext<T: 'static>(LetKind<T>);

#[derive(Debug)]
enum LetKind<T: 'static> {
    Value(Promise<T>),
    Body(Iteration),
    Stop,
}

impl<T: 'static> LetNext<T> {
    /// The promise of the next value.
    pub fn value<P: WhileLetScrutinee<Value = T>>(promise: P) -> LetNext<T> {
        LetNext(LetKind::Value(promise.into_promise()))
    }

    /// The value matched: the body's promise.
    pub fn body(body: impl LoopBody) -> LetNext<T> {
        LetNext(LetKind::Body(body.into_iteration()))
    }

    /// The value did not match: the loop ends.
    pub fn stop() -> LetNext<T> {
        LetNext(LetKind::Stop)
    }
}

/// `while let pattern = promise { body }`: asks `step` for a promise ([`LetStep::Next`]), waits
/// for its value, and gives it back ([`LetStep::Body`]) to be matched: the closure answers with
/// the body's promise if the pattern matches, or [`LetNext::stop`]. The value is moved into the
/// body, so the body owns its bindings. A rejection (or a panic) ends the loop, with the caller
/// added to its trail. Stack-safe.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::control::{while_let, LetNext, LetStep};
/// use lwt_core::Promise;
///
/// let queue = Rc::new(RefCell::new(vec![3, 2, 1]));
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let (q, s) = (queue.clone(), seen.clone());
/// let p = while_let(move |step| match step {
///     LetStep::Next => LetNext::value(Promise::ret(q.borrow_mut().pop())),
///     LetStep::Body(Some(x)) => LetNext::body({
///         s.borrow_mut().push(x);
///         Promise::ret(())
///     }),
///     LetStep::Body(_) => LetNext::stop(),
/// });
/// assert!(p.is_fulfilled());
/// assert_eq!(*seen.borrow(), [1, 2, 3]);
/// ```
#[track_caller]
pub fn while_let<T, F>(step: F) -> Promise<()>
where
    T: 'static,
    F: FnMut(LetStep<T>) -> LetNext<T> + 'static,
{
    run_while_let(step, LetStep::Next, Location::caller())
}

/// [`while_let`] for a loop that binds: each step runs a clone of `step` (see
/// [`for_each_cloned`]).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::control::{while_let_cloned, LetNext, LetStep};
/// use lwt_core::Promise;
///
/// let queue = Rc::new(RefCell::new(vec![1, 2]));
/// let q = queue.clone();
/// let p = while_let_cloned(move |step| match step {
///     LetStep::Next => LetNext::value(Promise::ret(q.borrow_mut().pop())),
///     LetStep::Body(Some(x)) => LetNext::body(Promise::ret(x).map(move |x| q.borrow_mut().retain(|y| *y != x))),
///     LetStep::Body(None) => LetNext::stop(),
/// });
/// assert!(p.is_fulfilled());
/// assert!(queue.borrow().is_empty());
/// ```
#[track_caller]
pub fn while_let_cloned<T, F>(step: F) -> Promise<()>
where
    T: 'static,
    F: FnOnce(LetStep<T>) -> LetNext<T> + Clone + 'static,
{
    run_while_let(
        move |at| step.clone()(at),
        LetStep::Next,
        Location::caller(),
    )
}

fn run_while_let<T, F>(step: F, at: LetStep<T>, location: &'static Location<'static>) -> Promise<()>
where
    T: 'static,
    F: FnMut(LetStep<T>) -> LetNext<T> + 'static,
{
    result_of(advance_while_let(step, at, location), location)
}

/// A `while let` loop waiting on the next value or on its body.
enum LetWait<T: 'static, F> {
    Value(Promise<T>, F),
    Body(Iteration, F),
}

impl<T, F> Parked<()> for LetWait<T, F>
where
    T: 'static,
    F: FnMut(LetStep<T>) -> LetNext<T> + 'static,
{
    type Context = Here;

    fn park(self, resolver: Resolver<()>, location: Here) {
        match self {
            LetWait::Value(value, step) => wait_for(value, resolver, location, move |value, at| {
                advance_while_let(step, LetStep::Body(value), at)
            }),
            LetWait::Body(body, step) => wait_for_body(body, resolver, location, move |at| {
                advance_while_let(step, LetStep::Next, at)
            }),
        }
    }
}

/// Runs the steps of a `while let` loop, from `at`, while their promises are resolved.
fn advance_while_let<T, F>(
    mut step: F,
    mut at: LetStep<T>,
    location: &'static Location<'static>,
) -> Halt<(), LetWait<T, F>>
where
    T: 'static,
    F: FnMut(LetStep<T>) -> LetNext<T> + 'static,
{
    guarded(location, move || loop {
        let asked_next = matches!(at, LetStep::Next);
        let LetNext(next) = step(at);
        match (asked_next, next) {
            (true, LetKind::Value(p)) => match now(p) {
                Now::Ready(value) => at = LetStep::Body(value),
                Now::Failed(e) => return Halt::Done(Err(located(e, location))),
                Now::Wait(value) => return Halt::Wait(LetWait::Value(value, step)),
            },
            (false, LetKind::Body(body)) => match ran(body) {
                Ran::Next => at = LetStep::Next,
                Ran::Break => return Halt::Done(Ok(())),
                Ran::Failed(e) => return Halt::Done(Err(located(e, location))),
                Ran::Wait(body) => return Halt::Wait(LetWait::Body(body, step)),
            },
            (false, LetKind::Stop) => return Halt::Done(Ok(())),
            (asked_next, _) => {
                let e = Exn::invalid_argument(format!(
                    "while_let: asked for {}, the closure answered with something else",
                    if asked_next {
                        "the next value"
                    } else {
                        "the body"
                    }
                ));
                return Halt::Done(Err(located(e, location)));
            }
        }
    })
}

// ------------------------------------------------------------------------------------------------
// `let a = p and b = q`, fail-fast.

/// Both values, failing fast: fulfilled with `(a, b)` when both are fulfilled; rejected as soon as
/// either is rejected, with that rejection, and the other one is canceled. Canceling the result
/// cancels both. This is [`both_fail_fast`](crate::combinators::both_fail_fast), with the error
/// message of `let` for a non-promise; `#[fail_fast] let x = p and y = q;` in `lwt!` nests it:
/// `both(p, both(q, r))`.
///
/// ```
/// use lwt_core::{control, wait, Exn, State};
///
/// let (a, _ra) = wait::<u8>();
/// let (b, rb) = wait::<u8>();
/// let both = control::both(a, b);
/// rb.wakeup_exn(Exn::failure("b failed"));
/// // `a` is still pending, but the result is already rejected:
/// assert_eq!(both.rejection().unwrap().to_string(), "b failed");
/// ```
pub fn both<P: Bindable, Q: Bindable>(a: P, b: Q) -> Promise<(P::Value, Q::Value)> {
    crate::combinators::both_fail_fast(a.into_promise(), b.into_promise())
}

// ------------------------------------------------------------------------------------------------
// Assertions.

/// The rejection of a failed `assert!` in `lwt!` (lwt_ppx's `assert%lwt`, OCaml's
/// `Assert_failure`): the message and where the assertion is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionFailed {
    message: String,
    location: &'static Location<'static>,
}

impl AssertionFailed {
    /// The assertion's message (`assertion failed: <condition>` unless the `assert!` gave one).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the assertion is.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for AssertionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, at {}", self.message, self.location)
    }
}

impl Error for AssertionFailed {}

/// `assert!(condition)` in `lwt!`: a fulfilled `Promise<()>` if `condition` holds, otherwise a
/// promise rejected with [`AssertionFailed`] (never a panic). `message` is called only on failure.
///
/// ```
/// use lwt_core::control::{assert, AssertionFailed};
///
/// assert!(assert(1 + 1 == 2, || unreachable!()).is_fulfilled());
/// let p = assert(1 + 1 == 3, || "arithmetic".to_string());
/// let e = p.rejection().unwrap();
/// assert_eq!(e.downcast_ref::<AssertionFailed>().unwrap().message(), "arithmetic");
/// ```
#[track_caller]
pub fn assert(condition: bool, message: impl FnOnce() -> String) -> Promise<()> {
    if condition {
        done()
    } else {
        let location = Location::caller();
        Promise::fail(AssertionFailed {
            message: message(),
            location,
        })
    }
}

/// `assert_eq!(left, right)` in `lwt!`: like [`assert()`], with the message of `std`'s
/// `assert_eq!` (both values, by `Debug`), followed by what `message` returns, if anything. As
/// with `std`'s `assert_eq!`, `message` is called only on failure, so its format arguments are
/// evaluated only then.
///
/// ```
/// use lwt_core::control::{assert_eq, AssertionFailed};
///
/// assert!(assert_eq(&1, &1, || unreachable!()).is_fulfilled());
/// let e = assert_eq(&1, &2, || None).rejection().unwrap();
/// let failed = e.downcast_ref::<AssertionFailed>().unwrap();
/// assert_eq!(failed.message(), "assertion `left == right` failed\n  left: 1\n right: 2");
/// ```
#[track_caller]
pub fn assert_eq<L, R>(left: &L, right: &R, message: impl FnOnce() -> Option<String>) -> Promise<()>
where
    L: PartialEq<R> + fmt::Debug + ?Sized,
    R: fmt::Debug + ?Sized,
{
    compare(*left == *right, "==", left, right, message)
}

/// `assert_ne!(left, right)` in `lwt!`: like [`assert_eq()`], for values that must differ.
///
/// ```
/// assert!(lwt_core::control::assert_ne(&1, &2, || None).is_fulfilled());
/// ```
#[track_caller]
pub fn assert_ne<L, R>(left: &L, right: &R, message: impl FnOnce() -> Option<String>) -> Promise<()>
where
    L: PartialEq<R> + fmt::Debug + ?Sized,
    R: fmt::Debug + ?Sized,
{
    compare(*left != *right, "!=", left, right, message)
}

#[track_caller]
fn compare<L, R>(
    holds: bool,
    op: &str,
    left: &L,
    right: &R,
    message: impl FnOnce() -> Option<String>,
) -> Promise<()>
where
    L: fmt::Debug + ?Sized,
    R: fmt::Debug + ?Sized,
{
    assert(holds, || {
        let mut s = format!("assertion `left {op} right` failed");
        if let Some(message) = message() {
            s.push_str(&format!(": {message}"));
        }
        s.push_str(&format!("\n  left: {left:?}\n right: {right:?}"));
        s
    })
}

// ------------------------------------------------------------------------------------------------
// Rejection arms.

/// What the expansion of `lwt!` reaches through this crate rather than by a path the user's
/// crate may not have. Not part of the API (a hidden module, so that no re-export of this
/// crate's modules shows it).
#[doc(hidden)]
pub mod __private {
    /// `format!`, for the assertions of `lwt!` in a crate without `std` in scope
    /// (`#![no_std]` with `alloc`).
    pub use std::format;
}

/// A type a typed rejection arm of `lwt!` can catch (`e: MyError => ..` in a `catch`,
/// `exception e: MyError => ..` in a `match`): any `std::error::Error + 'static`, which is what a
/// rejection ([`Exn`]) can hold. The expansion tests and takes the rejection through
/// [`catches`], [`caught_ref`] and [`caught`], whose bound is this trait, so that an arm's type
/// that is not an error is reported once, at that type, with what to write instead.
#[diagnostic::on_unimplemented(
    message = "a rejection arm in `lwt!` catches an error type, but `{Self}` does not implement \
               `std::error::Error`",
    label = "not an error type",
    note = "a rejection holds a `std::error::Error`: catch the type its producer rejects with \
            (`lwt::Failure` for `fail_with` and `Exn::failure`, `lwt::Panicked` for a panic)",
    note = "to catch every rejection, bind a name without a type: `e => ..` (an `lwt::Exn`)"
)]
pub trait Catchable: Error + 'static {}

impl<E: Error + 'static> Catchable for E {}

/// The test of a typed rejection arm: does `exn` hold an `E`? ([`Exn::is`].)
///
/// ```
/// use lwt_core::control::{caught, caught_ref, catches};
/// use lwt_core::{Exn, Failure, Panicked};
///
/// let exn = Exn::failure("boom");
/// assert!(catches::<Failure>(&exn) && !catches::<Panicked>(&exn));
/// assert_eq!(caught_ref::<Failure>(&exn).map(Failure::message), Some("boom"));
/// assert_eq!(caught::<Failure>(exn).message(), "boom");
/// ```
pub fn catches<E: Catchable>(exn: &Exn) -> bool {
    exn.is::<E>()
}

/// The `E` inside `exn`, for a typed arm's guard ([`Exn::downcast_ref`]).
pub fn caught_ref<E: Catchable>(exn: &Exn) -> Option<&E> {
    exn.downcast_ref::<E>()
}

/// A typed arm's binding: `exn`, which holds an `E`.
///
/// # Panics
///
/// If `exn` does not hold an `E` ([`Caught::new`]): the macro calls it only in an arm whose
/// guard checked that it does.
pub fn caught<E: Catchable>(exn: Exn) -> Caught<E> {
    Caught::new(exn)
}

/// A rejection caught by a typed arm of `lwt!` (`exception e: MyError => ..` in a `match`,
/// `e: MyError => ..` in a `catch`): derefs to the `E` inside, and keeps the whole [`Exn`] (with
/// its trail of locations) for passing it on.
///
/// It owns its rejection, so the arm's body can keep it across binds:
///
/// ```
/// use lwt_core::control::Caught;
/// use lwt_core::{Exn, Promise};
///
/// let exn = Exn::new(std::fmt::Error);
/// let caught = Caught::<std::fmt::Error>::new(exn.clone());
/// let as_error: &std::fmt::Error = &caught; // Deref
/// assert_eq!(as_error.to_string(), "an error occurred when formatting an argument");
/// let again: Promise<()> = Promise::fail(caught); // passes the same Exn on
/// assert!(again.rejection().unwrap().ptr_eq(&exn));
/// ```
pub struct Caught<E> {
    exn: Exn,
    /// Finds the `E` in `exn`. Chosen by [`Caught::new`], where `E: Error` is known, so that
    /// `Deref` needs no bound: when an arm names a type that is not an error (`e: String`),
    /// the one error is at that type, and `e.len()` in the arm's body still type-checks
    /// instead of adding "no method `len` on `Caught<String>`" to it.
    get: for<'a> fn(&'a Exn) -> &'a E,
}

impl<E: Error + 'static> Caught<E> {
    /// Wraps a rejection known to hold an `E`.
    ///
    /// # Panics
    ///
    /// If `exn` does not hold an `E` (the expansions of `lwt!` check `exn.is::<E>()` first).
    pub fn new(exn: Exn) -> Caught<E> {
        assert!(
            exn.is::<E>(),
            "Caught::<{}>::new on a rejection of another type",
            std::any::type_name::<E>()
        );
        Caught {
            exn,
            get: |exn| match exn.downcast_ref::<E>() {
                Some(e) => e,
                None => unreachable!("Caught::new checked the type"),
            },
        }
    }

    /// The whole rejection.
    pub fn exn(&self) -> &Exn {
        &self.exn
    }

    /// The whole rejection, by value.
    pub fn into_exn(self) -> Exn {
        self.exn
    }
}

impl<E> Deref for Caught<E> {
    type Target = E;

    fn deref(&self) -> &E {
        (self.get)(&self.exn)
    }
}

impl<E> Clone for Caught<E> {
    fn clone(&self) -> Caught<E> {
        Caught {
            exn: self.exn.clone(),
            get: self.get,
        }
    }
}

impl<E: Error + 'static> fmt::Debug for Caught<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.exn, f)
    }
}

impl<E: Error + 'static> fmt::Display for Caught<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.exn, f)
    }
}

impl<E: Error + 'static> From<Caught<E>> for Exn {
    fn from(caught: Caught<E>) -> Exn {
        caught.exn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{wait, Failure, Panicked, State};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    const MILLION: u64 = 1_000_000;

    /// Found in review (session 27): a panic in `into_iter` unwound out of a direct call of
    /// `for_each` (the doc says a panic in the iterator rejects the loop).
    #[test]
    fn a_panic_in_into_iter_rejects_the_loop() {
        struct Bad;
        impl IntoIterator for Bad {
            type Item = u8;
            type IntoIter = std::vec::IntoIter<u8>;
            fn into_iter(self) -> Self::IntoIter {
                panic!("no items today")
            }
        }
        for p in [
            for_each(Bad, |_| done()),
            for_each_cloned(Bad, |_: u8| done()),
        ] {
            let e = p.rejection().expect("rejected");
            assert_eq!(
                e.downcast_ref::<Panicked>().unwrap().message(),
                "no items today"
            );
            assert_eq!(e.locations().count(), 1);
        }
    }

    /// Found in review (session 27): once the trail held its 32 locations, a new one was
    /// compared with the 32nd rather than with the last one passed, and every pass equal to the
    /// 32nd went uncounted ("and 4 more" for 8).
    #[test]
    fn a_full_trail_counts_every_location_past_it() {
        let a = Location::caller();
        let b = Location::caller();
        let mut e = Exn::failure("x");
        for _ in 0..20 {
            e = located(e, a);
            e = located(e, b);
            e = located(e, b); // the same twice in a row: once
        }
        assert_eq!(e.locations().count(), 32);
        let shown = format!("{e:?}");
        assert!(shown.ends_with("... and 8 more locations"), "{shown}");
    }

    #[test]
    fn for_each_a_million_resolved_bodies() {
        let n = Rc::new(Cell::new(0_u64));
        let m = n.clone();
        let p = for_each(0..MILLION, move |_| {
            m.set(m.get() + 1);
            done()
        });
        assert_eq!(p.state(), State::Fulfilled(()));
        assert_eq!(n.get(), MILLION);
    }

    #[test]
    fn while_a_million_resolved_bodies_with_promise_condition() {
        let n = Rc::new(Cell::new(0_u64));
        let m = n.clone();
        let p = while_loop(move |step| match step {
            Step::Cond => Next::cond(Promise::ret(m.get() < MILLION)),
            Step::Body => Next::body({
                m.set(m.get() + 1);
                done()
            }),
        });
        assert_eq!(p.state(), State::Fulfilled(()));
        assert_eq!(n.get(), MILLION);
    }

    #[test]
    fn while_let_a_million_values() {
        let n = Rc::new(Cell::new(0_u64));
        let m = n.clone();
        let p = while_let(move |step| match step {
            LetStep::Next => LetNext::value(Promise::ret((m.get() < MILLION).then_some(1_u64))),
            LetStep::Body(Some(k)) => LetNext::body({
                m.set(m.get() + k);
                done()
            }),
            LetStep::Body(None) => LetNext::stop(),
        });
        assert_eq!(p.state(), State::Fulfilled(()));
        assert_eq!(n.get(), MILLION);
    }

    #[test]
    fn while_let_with_pending_values_of_a_non_clone_type() {
        struct Token(u8);
        let pending = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (p2, s2) = (pending.clone(), seen.clone());
        let p = while_let(move |step| match step {
            LetStep::Next => {
                let (p, r) = wait::<Option<Token>>();
                p2.borrow_mut().push(r);
                LetNext::value(p)
            }
            LetStep::Body(Some(Token(t))) => LetNext::body({
                s2.borrow_mut().push(t);
                done()
            }),
            LetStep::Body(None) => LetNext::stop(),
        });
        for t in [7, 8] {
            let r = pending.borrow_mut().pop().unwrap();
            r.wakeup(Some(Token(t)));
        }
        assert!(p.is_pending());
        let r = pending.borrow_mut().pop().unwrap();
        r.wakeup(None);
        assert!(p.is_fulfilled());
        assert_eq!(*seen.borrow(), [7, 8]);
    }

    #[test]
    fn forever_a_million_then_reject() {
        let n = Rc::new(Cell::new(0_u64));
        let m = n.clone();
        let p = forever(move || {
            m.set(m.get() + 1);
            if m.get() == MILLION {
                Promise::fail_with("enough")
            } else {
                done()
            }
        });
        assert_eq!(
            p.rejection().unwrap().downcast_ref::<Failure>().unwrap().0,
            "enough"
        );
        assert_eq!(n.get(), MILLION);
    }

    #[test]
    fn cloned_drivers_a_million_iterations() {
        let n = Rc::new(Cell::new(0_u64));
        let m = n.clone();
        let p = for_each_cloned(0..MILLION, move |_| {
            done().bind(move |()| {
                m.set(m.get() + 1);
                done()
            })
        });
        assert!(p.is_fulfilled());
        let m = n.clone();
        let p = while_loop_cloned(move |step| match step {
            Step::Cond => Next::cond(m.get() < 2 * MILLION),
            Step::Body => Next::body(done().map(move |()| m.set(m.get() + 1))),
        });
        assert!(p.is_fulfilled());
        assert_eq!(n.get(), 2 * MILLION);
    }

    #[test]
    fn for_each_with_pending_bodies_resumes() {
        let resolvers = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (r, s) = (resolvers.clone(), seen.clone());
        let p = for_each(0..3, move |i| {
            s.borrow_mut().push(i);
            let (p, resolver) = wait::<()>();
            r.borrow_mut().push(resolver);
            p
        });
        for expected in 1..=3 {
            assert!(p.is_pending());
            assert_eq!(seen.borrow().len(), expected);
            let next = resolvers.borrow_mut().pop().unwrap();
            next.wakeup(());
        }
        assert!(p.is_fulfilled());
        assert_eq!(*seen.borrow(), [0, 1, 2]);
    }

    #[test]
    fn for_each_with_pending_bodies_is_stack_safe() {
        // Every other body pending, resolved from the outside: 200,000 resumptions.
        let pending = Rc::new(RefCell::new(None));
        let p2 = pending.clone();
        let p = for_each(0..400_000_u32, move |i| {
            if i % 2 == 0 {
                let (p, r) = wait::<()>();
                *p2.borrow_mut() = Some(r);
                p
            } else {
                done()
            }
        });
        loop {
            let next = pending.borrow_mut().take();
            match next {
                Some(r) => r.wakeup(()),
                None => break,
            }
        }
        assert!(p.is_fulfilled());
    }

    #[test]
    fn loops_catch_panics_and_record_location() {
        let p = for_each(0..3, |i| {
            if i == 1 {
                panic!("body {i}")
            }
            done()
        });
        let e = p.rejection().unwrap();
        assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), "body 1");
        assert_eq!(e.locations().next().unwrap().file(), file!());
    }

    #[test]
    fn while_with_pending_condition() {
        let (c, r) = wait::<bool>();
        let cond = Rc::new(RefCell::new(Some(c)));
        let runs = Rc::new(Cell::new(0));
        let (cond2, runs2) = (cond.clone(), runs.clone());
        let p = while_loop(move |step| match step {
            Step::Cond => match cond2.borrow_mut().take() {
                Some(c) => Next::cond(c),
                None => Next::cond(false),
            },
            Step::Body => Next::body({
                runs2.set(runs2.get() + 1);
                done()
            }),
        });
        assert!(p.is_pending());
        r.wakeup(true);
        assert!(p.is_fulfilled());
        assert_eq!(runs.get(), 1);
    }

    #[test]
    fn while_loop_rejects_a_wrong_answer() {
        let p = while_loop(|_| Next::body(done()));
        assert!(p.rejection().unwrap().is::<crate::InvalidArgument>());
    }

    #[test]
    fn both_waits_for_both_and_fails_fast() {
        let (a, ra) = wait::<u8>();
        let (b, rb) = wait::<&str>();
        let p = both(a, b);
        rb.wakeup("b");
        assert!(p.is_pending());
        ra.wakeup(1);
        assert_eq!(p.state(), State::Fulfilled((1, "b")));

        let (a, _ra) = wait::<u8>();
        let p = both(a, Promise::<u8>::fail_with("now"));
        assert_eq!(p.rejection().unwrap().to_string(), "now");

        let p = both(
            Promise::<u8>::fail_with("left"),
            Promise::<u8>::fail_with("right"),
        );
        assert_eq!(p.rejection().unwrap().to_string(), "left");
    }

    #[test]
    fn both_cancel_propagates() {
        let (a, _ra) = crate::task::<u8>();
        let (b, _rb) = crate::task::<u8>();
        let a_seen = Rc::new(Cell::new(false));
        let s = a_seen.clone();
        a.on_cancel(move || s.set(true));
        let p = both(a, b);
        p.cancel();
        assert!(p.rejection().unwrap().is_canceled());
        assert!(a_seen.get());
    }

    #[test]
    fn finalize_reports_cleanup_failure() {
        let p = finalize(Promise::ret(1), || -> Promise<()> { panic!("cleanup") });
        assert!(p.rejection().unwrap().is::<Panicked>());
        let p = finalize(Promise::ret(1), || Promise::<()>::fail_with("c"));
        assert_eq!(p.rejection().unwrap().to_string(), "c");
    }

    #[test]
    fn assertions() {
        assert!(assert_ne(&1, &1, || Some(format!("x={}", 1))).is_rejected());
        let e = assert_eq(&1, &2, || Some(format!("ctx {}", 7)))
            .rejection()
            .unwrap();
        let failed = e.downcast_ref::<AssertionFailed>().unwrap();
        assert!(failed
            .message()
            .starts_with("assertion `left == right` failed: ctx 7"));
        assert_eq!(failed.location().file(), file!());
        assert!(failed.to_string().contains(file!()));
    }

    #[test]
    #[should_panic(expected = "Caught::<core::fmt::Error>::new on a rejection of another type")]
    fn caught_checks_its_type() {
        let _ = Caught::<std::fmt::Error>::new(Exn::failure("x"));
    }
}
