//! Loops that wait on one promise after another, with a single result promise per run.
//!
//! The runtime's serial loops (`control`'s `for`, `while`, `while let` and `loop`, `list`'s
//! `*_s` functions) run their steps synchronously while each step's promise is already resolved.
//! When a step is pending, the obvious way on is a `bind` on it whose callback resumes the loop:
//! that costs a result promise per pending step, merged into the previous one. Here the loop makes
//! one result promise (a [`relay`]) at its first pending step, and at each pending step only
//! registers a bare continuation ([`Promise::upon`]) and re-points the relay's cancel link at the
//! step's promise, so that canceling the loop cancels what it waits on, as through a chain of
//! binds. A pending step then costs one allocation (the continuation) instead of two.
//!
//! A loop is written as two functions and a type:
//!
//! * an `advance` function that runs steps until the loop ends ([`Halt::Done`]) or a step is
//!   pending ([`Halt::Wait`]), carrying what the loop needs to go on;
//! * that carried type implements [`Parked`]: it [`wait_for`]s its pending promise with a
//!   continuation that calls `advance` again.
//!
//! Invariants: the relay is resolved exactly once, by the continuation that sees the loop end (its
//! resolver moves from continuation to continuation, so no other code can resolve it), and as a
//! bind's result is (`resolve_like_bind`): a loop that ends inside a nested `wakeup` resolves
//! there, as Lwt's loops, made of binds, do; while the loop waits, the relay's cancel link names
//! the promise it waits on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::bind::CancelRequest;
use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::node::{cancel_from, Phase};
use crate::promise::Promise;
use crate::resolver::{relay, Resolver};

/// Where the synchronous part of a loop stopped: at its end, with the loop's outcome, or at a
/// pending promise (`W` holds it and whatever resumes the loop after it).
pub(crate) enum Halt<R, W> {
    Done(Outcome<R>),
    Wait(W),
}

/// What a loop's continuations keep beside the loop itself, once for the whole run (the caller's
/// location for `control`'s loops, nothing for `list`'s), and what it adds to the rejection that
/// ends the loop.
pub(crate) trait Context: Copy + 'static {
    /// The rejection that ends the loop, from `e`: the rejection of the promise it waited on, or
    /// the panic (a [`Panicked`](crate::Panicked)) of resuming it.
    fn rejected(self, e: Exn) -> Exn {
        e
    }
}

impl Context for () {}

/// A loop stopped at a pending promise.
pub(crate) trait Parked<R: 'static>: Sized + 'static {
    /// See [`Context`].
    type Context: Context;

    /// Registers the continuation that resumes the loop once the promise is fulfilled (with
    /// [`wait_for`]), on behalf of the loop's result, which `resolver` resolves.
    fn park(self, resolver: Resolver<R>, context: Self::Context);
}

/// The loop's result: resolved already if the loop ran to its end synchronously, else the relay
/// that the parked loop resolves when it ends.
pub(crate) fn result_of<R, W>(halt: Halt<R, W>, context: W::Context) -> Promise<R>
where
    R: 'static,
    W: Parked<R>,
{
    match halt {
        Halt::Done(outcome) => Promise::from_outcome(outcome),
        Halt::Wait(parked) => {
            let (result, resolver) = relay();
            parked.park(resolver, context);
            result
        }
    }
}

/// Waits for `promise` on behalf of the loop whose result `resolver` resolves: points the result's
/// cancel link at `promise`, then `resume`s the loop with its value and either resolves the result
/// or parks the loop again. A rejection of `promise` ends the loop (see [`Context::rejected`]).
pub(crate) fn wait_for<X, R, W>(
    promise: Promise<X>,
    resolver: Resolver<R>,
    context: W::Context,
    resume: impl FnOnce(X, W::Context) -> Halt<R, W> + 'static,
) where
    X: 'static,
    R: 'static,
    W: Parked<R>,
{
    // A promise resolved whose callbacks are still queued (the loop was started inside one of
    // them) can no longer be canceled, and the continuation waits for its turn: as `bind` does
    // (`then_busy`), the loop's result records a cancel that comes meanwhile and passes it on
    // once it waits on its next step. Rare, so in a continuation of its own: the usual one
    // stays small enough to be stored inline (see `once_fn`).
    if let Some(node) = promise.node() {
        if node.phase() == Phase::Busy {
            let request = Rc::new(CancelRequest::default());
            resolver.propagate_to(request.clone());
            let result = resolver.cancel_handle();
            promise.upon(move |outcome| {
                if step(outcome, resolver, context, resume) && request.requested() {
                    cancel_from(result);
                }
            });
            return;
        }
        resolver.propagate_to(node);
    }
    promise.upon(move |outcome| {
        step(outcome, resolver, context, resume);
    });
}

/// Resumes the loop with the outcome of the promise it waited on, and resolves its result or
/// parks it again (then true).
fn step<X, R, W>(
    outcome: Outcome<X>,
    resolver: Resolver<R>,
    context: W::Context,
    resume: impl FnOnce(X, W::Context) -> Halt<R, W>,
) -> bool
where
    R: 'static,
    W: Parked<R>,
{
    // The loop's own steps catch their panics; this catches the rest (a `Drop` of the loop's
    // state that panics when a rejection ends it), which would otherwise unwind past the
    // resolver and leave the result `Abandoned`.
    let resumed = catch_unwind(AssertUnwindSafe(move || match outcome {
        Ok(value) => resume(value, context),
        Err(e) => {
            drop(resume); // the loop's state, inside the catch
            Halt::Done(Err(context.rejected(e)))
        }
    }));
    let halt = resumed
        .unwrap_or_else(|payload| Halt::Done(Err(context.rejected(Exn::from_panic(payload)))));
    match halt {
        Halt::Done(outcome) => {
            resolver.resolve_like_bind(outcome);
            false
        }
        Halt::Wait(parked) => {
            parked.park(resolver, context);
            true
        }
    }
}
