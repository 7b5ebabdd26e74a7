//! Waiting on several promises: `join`, `all`, `both`, `choose`, `pick`, `nchoose`, `npick`,
//! `nchoose_split`, and fail-fast forms of the first three.
//!
//! | Lwt | here | resolves when | on rejection |
//! |---|---|---|---|
//! | `join` | [`join`] | every input resolved | the first rejection *in input order* |
//! | `all` | [`all`] | every input resolved | the same |
//! | `both` | [`both`] | both resolved | the same |
//! | (Lwt issue #445) | [`join_fail_fast`], [`all_fail_fast`], [`both_fail_fast`] | every input fulfilled | at the first rejection, canceling the rest |
//! | `choose` | [`choose`] | one input resolved | that one's outcome |
//! | `pick` | [`pick`] | one input resolved; the others are canceled | |
//! | `nchoose` | [`nchoose`] | one input resolved: every fulfilled value at that moment | the first rejection in input order |
//! | `npick` | [`npick`] | as `nchoose`, canceling the pending inputs | |
//! | `nchoose_split` | [`nchoose_split`] | as `nchoose`, also returning the pending inputs | |
//!
//! Differences from Lwt, on purpose:
//!
//! * `join`'s rejection is the first *in input order*, not the first observed in time, so the
//!   outcome does not depend on timing: the same failing inputs give the same rejection however
//!   their timers and I/O interleave.
//! * Among inputs that are already *settled* when `choose` is called (resolved, with every
//!   callback registered on them before already run), a rejected one is preferred (as in Lwt),
//!   then the first in input order (Lwt draws one at random). An input that is resolved but whose
//!   callbacks are still queued counts as pending: it is seen when its callbacks run, in order.
//!   So a `pick` given such an input cancels its losers only then, and a loser served meanwhile
//!   (an `Mvar::take` handed a value by a `put` made right after the `pick`) keeps what it got,
//!   which the result then drops; Lwt, which looks at the inputs' states at the call, cancels
//!   that loser first and the value stays in the mailbox. Once an `nchoose`, `npick` or
//!   `nchoose_split` has seen an input, though, it does take such an input, as Lwt does: the
//!   result waits for this combinator's callback on it, later in the same turn of the loop, so
//!   that the callbacks registered on it before see its value first. (Called with a settled
//!   input, they take the settled inputs only, at once.)
//! * `pick` (and `npick`) called with an input already settled takes its outcome from the inputs
//!   settled at the call, then cancels the others. Lwt 5.6.1 cancels the pending inputs first and
//!   then takes the first resolved one, which can be an input those cancels just rejected: its
//!   `pick [t; t; return 1]`, with `t` a task, is canceled; here it is fulfilled with 1.
//! * Callbacks run in registration order (Lwt: newest first), so a callback registered on an
//!   input *before* the combinator was called runs before the combinator's own. If it resolves
//!   another input (`a.on_success(|_| rb.wakeup(2))`, then `pick([a, b])` and `a` fulfilled),
//!   that input's callbacks reach the combinator first: `choose` and `pick` take `b`'s outcome
//!   (and `pick` does not cancel `b`, which is resolved), `nchoose` and `npick` take both. Lwt's
//!   combinator, registered last on `a`, sees `a` first: `1`, and `b` canceled. A program that
//!   needs the first in time registers its own callbacks after the combinator call.
//! * `nchoose_split` gives the pending inputs in input order. Lwt 5.6.1 gives them reversed when
//!   an input was already fulfilled at the call (and in input order otherwise).
//! * An empty input to `choose`, `pick`, `nchoose`, `npick` or `nchoose_split` gives a promise
//!   rejected with [`InvalidArgument`](crate::InvalidArgument) (Lwt raises it synchronously);
//!   never a promise pending forever. `join([])` and `all([])` are fulfilled at once.
//! * A panic of the input's iterator (in `into_iter` or `next`) rejects the result with it
//!   ([`Panicked`](crate::Panicked)) instead of reaching the caller, as in [`list`](crate::list);
//!   the promises it gave before are dropped, neither canceled nor waited for. (Lwt's list is
//!   built before the call, so an exception building it reaches the caller.)
//!
//! Canceling a combinator's result cancels every input. `pick`, `npick` and the fail-fast forms
//! cancel the losers before they resolve their result, and run the callbacks that cancellation
//! reaches (the losers', and those of promises derived from them) to completion first, so the
//! losers' rejection callbacks run before the continuation of the result. A long-lived
//! promise given to a million `choose`s does not accumulate their callbacks: a finished combinator
//! marks its callbacks dead, and dead callbacks are purged (see `callbacks.rs`).
//!
//! ```
//! use lwt_core::{combinators::{all, pick}, task, wait, State};
//!
//! let (a, ra) = wait::<u32>();
//! let (b, rb) = wait::<u32>();
//! let both = all(vec![a, b]);
//! rb.wakeup(2);
//! ra.wakeup(1);
//! assert_eq!(both.state(), State::Fulfilled(vec![1, 2]));
//!
//! let (slow, _rs) = task::<&str>();
//! let (fast, rf) = task::<&str>();
//! let slow2 = slow.clone();
//! let winner = pick(vec![slow, fast]);
//! rf.wakeup("fast");
//! assert_eq!(winner.state(), State::Fulfilled("fast"));
//! assert!(slow2.rejection().unwrap().is_canceled());
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::callbacks::{Callback, Outcome, Waiter};
use crate::exn::Exn;
use crate::node::{Cancelable, HowToCancel, Mode, Node, Phase, Visited};
use crate::promise::Promise;
use crate::schedule::{catching, Caught};

fn empty_input<T: 'static>(name: &str) -> Promise<T> {
    Promise::fail_invalid_arg(format!(
        "{name}: an empty input would give a promise that is pending forever"
    ))
}

/// Canceling a combinator's result cancels the inputs it still holds (Lwt's behaviour for `join`,
/// `choose`, `pick`...). The result's cancel link is the combinator's own state, which names its
/// inputs when a cancel walks through it, so no vector of links is built per call.
fn push_input_links<T: 'static>(inputs: &[Promise<T>], next: &mut Vec<Rc<dyn Cancelable>>) {
    // Reversed: the walk is a stack, and visits them in input order.
    next.extend(
        inputs
            .iter()
            .rev()
            .filter_map(|p| p.node().map(|n| n as Rc<dyn Cancelable>)),
    );
}

/// Implements `Cancelable` for a combinator state with an `inputs` field.
macro_rules! cancel_through_inputs {
    ($state:ident) => {
        impl<T: 'static> Cancelable for $state<T> {
            fn cancel_step(
                self: Rc<Self>,
                next: &mut Vec<Rc<dyn Cancelable>>,
                _visited: &mut Visited,
            ) {
                push_input_links(&self.inputs.borrow(), next);
            }
        }
    };
}

cancel_through_inputs!(All);
cancel_through_inputs!(Choose);
cancel_through_inputs!(NChoose);

/// The pending result of a combinator, whose cancel link is set once its state exists.
fn pending_result<U: 'static>() -> Rc<Node<U>> {
    Node::pending(HowToCancel::NotCancelable)
}

/// A combinator's result, held by its state until the combinator resolves it, and no longer: a
/// finished combinator's dead waiter may stay on a long-lived input (between live callbacks,
/// until the list is next purged), and through the state it would keep the result node, and the
/// value that node keeps for its consumers, alive (Lwt clears its removable callback cell).
struct Target<U: 'static>(Cell<Option<Rc<Node<U>>>>);

impl<U: 'static> Target<U> {
    fn new(node: &Rc<Node<U>>) -> Target<U> {
        Target(Cell::new(Some(node.clone())))
    }

    /// Resolves the result and lets go of it. Once only: a later call finds nothing.
    fn resolve(&self, outcome: Outcome<U>) {
        if let Some(node) = self.0.take() {
            let _ = node.resolve(outcome, Mode::Later);
        }
    }

    fn set_cancel(&self, how: HowToCancel) {
        let node = self.0.take();
        if let Some(node) = &node {
            node.set_cancel(how);
        }
        self.0.set(node);
    }
}

/// Registers `waiter` on the inputs (with `only_pending`, not on the settled ones). Gives back
/// the dead callbacks that making room took out of the inputs' lists: the caller drops them
/// once its state holds the inputs, since dropping one can run user code that resolves an
/// input, and so wakes the combinator (see `Node::add_callback_keeping_dead`).
#[must_use = "drop the dead callbacks once the combinator's state is complete"]
fn register<T: 'static>(
    inputs: &[Promise<T>],
    waiter: Rc<dyn Waiter>,
    only_pending: bool,
) -> Vec<Callback<T>> {
    let mut dead = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        // One root lookup per input, borrowed: a promise created resolved has no node, and
        // counts as settled.
        let Some(node) = input.root_node() else {
            continue;
        };
        if only_pending && node.phase() == Phase::Idle {
            continue;
        }
        node.add_callback_keeping_dead(Callback::Waiter(waiter.clone(), index), &mut dead);
    }
    dead
}

/// Cancels the inputs that are still pending, one after the other in input order, each with the
/// callbacks its cancellation reaches run all the way down before the next input is looked at
/// (Lwt's `List.iter cancel`). The order matters: a loser's `catch` handler, run by its
/// cancellation, can make a later loser wait on a fresh task, which that loser's own cancel then
/// reaches; canceling every loser in one batch would walk the later loser before the handler ran,
/// and leave it pending.
///
/// A finished combinator calls it with its inputs still in its state: the
/// callbacks it runs may cancel the combinator's result, which is still pending, and that cancel
/// must reach the inputs as it does before the combinator finished (in Lwt the result names all
/// its inputs until it is resolved). A loser's `catch` handler can have made it wait on a fresh
/// promise meanwhile, and only a walk through the inputs finds that one. The state is only borrowed
/// shared meanwhile: a finished combinator's `wake` is never called again, so nothing borrows it
/// mutably.
///
/// A panicking async exception hook can unwind out of a cancel: the panic is caught, the other
/// inputs are canceled all the same, and the first panic is given back, for the caller to resume
/// once it has resolved its result ([`resume`]). Unwinding straight out left the result pending
/// for ever (the combinator is done, and nothing calls it again).
#[must_use = "resume the panic once the result is resolved"]
fn cancel_pending<T: 'static>(inputs: &[Promise<T>]) -> Option<Caught> {
    // Each input is looked at when its turn comes: an earlier cancel may have resolved it (the
    // same promise given twice, or one derived from an earlier loser). `ignores_cancel` finds
    // the root and skips a resolved one itself (a pending-phase check first was one more root
    // lookup and borrow per input). `cancel` settles (runs what it reaches before returning)
    // by itself.
    let mut caught: Option<Caught> = None;
    for node in inputs.iter().filter_map(Promise::handle_node) {
        // Looked at outside `catching`, into which the compiler cannot inline.
        if node.ignores_cancel() {
            continue;
        }
        if let Err(c) = catching(|| node.cancel()) {
            Caught::add(&mut caught, c);
        }
    }
    caught
}

/// Drops `v`, skipping the call that drops its elements when it never allocated (so holds
/// none): an empty vector's drop is still an out-of-line call, made several times by every
/// `pick` for the vector it puts back and for the dead callbacks a registration (nearly
/// always) did not purge.
#[inline(always)]
fn drop_unallocated<E>(v: Vec<E>) {
    if v.capacity() == 0 && std::mem::size_of::<E>() != 0 {
        // No allocation and (elements not zero-sized) no element: nothing to free or drop.
        std::mem::forget(v);
    } else {
        drop(v);
    }
}

/// Lets a panic [`cancel_pending`] caught go on.
// Inlined up to its test: as a call, every finished pick paid its frame for the usual `None`.
#[inline]
fn resume(caught: Option<Caught>) {
    if let Some(c) = caught {
        c.resume();
    }
}

/// Tells the still-pending inputs that this combinator's callbacks on them are dead.
fn release_pending<T: 'static>(inputs: &[Promise<T>]) {
    // `note_dead_waiter` finds the root and leaves a resolved one alone itself.
    for node in inputs.iter().filter_map(Promise::handle_node) {
        node.note_dead_waiter();
    }
}

/// Outcomes of every input, in input order; the first rejection in input order wins.
fn collect_all<T: 'static>(inputs: &mut [Promise<T>]) -> Outcome<Vec<T>> {
    let outcomes: Vec<Outcome<T>> = inputs.iter_mut().map(Promise::take_outcome).collect();
    outcomes.into_iter().collect()
}

// ---- join / all / both ----------------------------------------------------------------------------

struct All<T: 'static> {
    inputs: RefCell<Vec<Promise<T>>>,
    remaining: Cell<usize>,
    target: Target<Vec<T>>,
    fail_fast: bool,
    done: Cell<bool>,
}

impl<T: 'static> All<T> {
    fn finish(&self, outcome: Outcome<Vec<T>>) {
        self.done.set(true);
        self.target.resolve(outcome);
    }
}

impl<T: 'static> Waiter for All<T> {
    fn wake(self: Rc<Self>, index: usize) {
        self.remaining.set(self.remaining.get() - 1);
        if self.fail_fast {
            let rejection = self.inputs.borrow()[index].rejection();
            if let Some(e) = rejection {
                self.done.set(true);
                // See `cancel_pending`.
                let panic = cancel_pending(&self.inputs.borrow());
                let inputs = std::mem::take(&mut *self.inputs.borrow_mut());
                release_pending(&inputs);
                self.finish(Err(e));
                return resume(panic);
            }
        }
        if self.remaining.get() == 0 {
            let mut inputs = std::mem::take(&mut *self.inputs.borrow_mut());
            self.finish(collect_all(&mut inputs));
        }
    }

    fn is_done(&self) -> bool {
        self.done.get()
    }
}

/// The inputs, collected; or the panic of their iterator (user code: a custom iterator, a `map`
/// over one), which rejects the combinator's result instead of reaching the caller, as in the
/// functions of [`list`](crate::list). The inputs the iterator gave before it panicked are
/// dropped, neither canceled nor waited for: the call is as if it had not been made.
fn inputs_of<T: 'static>(
    promises: impl IntoIterator<Item = Promise<T>>,
) -> Result<Vec<Promise<T>>, Exn> {
    // `collect` inside: a `Vec` given whole is reused in place, with no copy.
    crate::stream::drive::call(|| promises.into_iter().collect())
}

fn all_impl<T: 'static>(
    promises: impl IntoIterator<Item = Promise<T>>,
    fail_fast: bool,
) -> Promise<Vec<T>> {
    let mut inputs = match inputs_of(promises) {
        Ok(inputs) => inputs,
        Err(panicked) => return Promise::fail(panicked),
    };
    if fail_fast {
        let settled_rejection = inputs
            .iter()
            .filter(|p| p.is_settled())
            .find_map(Promise::rejection);
        if let Some(e) = settled_rejection {
            resume(cancel_pending(&inputs));
            return Promise::fail(e);
        }
    }
    let remaining = inputs.iter().filter(|p| !p.is_settled()).count();
    if remaining == 0 {
        return Promise::from_outcome(collect_all(&mut inputs));
    }
    let target = pending_result();
    let state = Rc::new(All {
        inputs: RefCell::new(Vec::new()),
        remaining: Cell::new(remaining),
        target: Target::new(&target),
        fail_fast,
        done: Cell::new(false),
    });
    let dead = register(&inputs, state.clone(), true);
    drop_unallocated(std::mem::replace(&mut *state.inputs.borrow_mut(), inputs));
    target.set_cancel(HowToCancel::Propagate(state));
    drop_unallocated(dead);
    Promise::from_node(target)
}

/// Lwt's `all`: the values of every input, in input order, once all are resolved. If any is
/// rejected, the result is rejected with the first rejection in input order (after all resolved;
/// Lwt's is the first in time: see the [module docs](self)).
///
/// ```
/// use lwt_core::{combinators::all, Promise, State};
/// assert_eq!(all(vec![Promise::ret(1), Promise::ret(2)]).state(), State::Fulfilled(vec![1, 2]));
/// assert_eq!(all(Vec::<Promise<u8>>::new()).state(), State::Fulfilled(vec![]));
/// ```
pub fn all<T: 'static>(promises: impl IntoIterator<Item = Promise<T>>) -> Promise<Vec<T>> {
    all_impl(promises, false)
}

/// Like [`all`], but rejected as soon as any input is rejected, and the other inputs are canceled.
///
/// ```
/// use lwt_core::{combinators::all_fail_fast, task, Promise};
/// let (slow, _r) = task::<u8>();
/// let slow2 = slow.clone();
/// let p = all_fail_fast(vec![slow, Promise::fail_with("broken")]);
/// assert_eq!(p.rejection().unwrap().to_string(), "broken");
/// assert!(slow2.rejection().unwrap().is_canceled());
/// ```
pub fn all_fail_fast<T: 'static>(
    promises: impl IntoIterator<Item = Promise<T>>,
) -> Promise<Vec<T>> {
    all_impl(promises, true)
}

/// Lwt's `join`: fulfilled when every input is resolved; rejected with the first rejection in
/// input order if any is (Lwt's is the first in time: see the [module docs](self)). `join([])`
/// is fulfilled at once.
///
/// ```
/// use lwt_core::{combinators::join, wait, State};
/// let (a, ra) = wait::<()>();
/// let (b, rb) = wait::<()>();
/// let both = join(vec![a, b]);
/// ra.wakeup(());
/// assert_eq!(both.state(), State::Pending);
/// rb.wakeup(());
/// assert_eq!(both.state(), State::Fulfilled(()));
/// ```
pub fn join(promises: impl IntoIterator<Item = Promise<()>>) -> Promise<()> {
    all(promises).map(drop)
}

/// Like [`join`], but rejected at the first rejection, canceling the other inputs.
///
/// ```
/// use lwt_core::{combinators::join_fail_fast, task, wait, Exn};
/// let (slow, _rs) = task::<()>();
/// let (failing, rf) = wait::<()>();
/// let p = join_fail_fast(vec![slow.clone(), failing]);
/// rf.wakeup_exn(Exn::failure("x"));
/// assert_eq!(p.rejection().unwrap().to_string(), "x");
/// assert!(slow.rejection().unwrap().is_canceled());
/// ```
pub fn join_fail_fast(promises: impl IntoIterator<Item = Promise<()>>) -> Promise<()> {
    all_fail_fast(promises).map(drop)
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

fn pair<A: 'static, B: 'static>(values: Vec<Either<A, B>>) -> (A, B) {
    let mut values = values.into_iter();
    match (values.next(), values.next()) {
        (Some(Either::Left(a)), Some(Either::Right(b))) => (a, b),
        _ => unreachable!("both() builds exactly [Left, Right]"),
    }
}

/// Lwt's `both`: both values, once both are resolved (rejection: the first in input order;
/// Lwt's is the first in time: see the [module docs](self)).
///
/// ```
/// use lwt_core::{combinators::both, Promise, State};
/// assert_eq!(both(Promise::ret(1), Promise::ret("a")).state(), State::Fulfilled((1, "a")));
/// ```
pub fn both<A: 'static, B: 'static>(a: Promise<A>, b: Promise<B>) -> Promise<(A, B)> {
    all(vec![a.map(Either::Left), b.map(Either::Right)]).map(pair)
}

/// Like [`both`], but rejected at the first rejection, canceling the other input.
///
/// ```
/// use lwt_core::{combinators::both_fail_fast, task, wait, Exn};
/// let (slow, _rs) = task::<u8>();
/// let (failing, rf) = wait::<&str>();
/// let p = both_fail_fast(slow.clone(), failing);
/// rf.wakeup_exn(Exn::failure("x"));
/// assert_eq!(p.rejection().unwrap().to_string(), "x");
/// assert!(slow.rejection().unwrap().is_canceled());
/// ```
pub fn both_fail_fast<A: 'static, B: 'static>(a: Promise<A>, b: Promise<B>) -> Promise<(A, B)> {
    all_fail_fast(vec![a.map(Either::Left), b.map(Either::Right)]).map(pair)
}

// ---- choose / pick ----------------------------------------------------------------------------------

struct Choose<T: 'static> {
    inputs: RefCell<Vec<Promise<T>>>,
    target: Target<T>,
    cancel_losers: bool,
    done: Cell<bool>,
}

impl<T: 'static> Waiter for Choose<T> {
    fn wake(self: Rc<Self>, index: usize) {
        self.done.set(true);
        // Usually taken under the borrow, as it runs no user code then; the inputs are taken out
        // only while a cloned handle's value is cloned (`T::clone`, user code that must not find
        // the state borrowed). Taking them out and putting them back every time cost about 20
        // instructions a race.
        let quiet = self.inputs.borrow()[index].take_outcome_unless_cloned();
        let outcome = match quiet {
            Some(outcome) => outcome,
            None => {
                let mut inputs = std::mem::take(&mut *self.inputs.borrow_mut());
                let outcome = inputs[index].take_outcome();
                drop_unallocated(std::mem::replace(&mut *self.inputs.borrow_mut(), inputs));
                outcome
            }
        };
        let panic = if self.cancel_losers {
            // See `cancel_pending`.
            cancel_pending(&self.inputs.borrow())
        } else {
            None
        };
        let inputs = std::mem::take(&mut *self.inputs.borrow_mut());
        release_pending(&inputs);
        drop(inputs);
        self.target.resolve(outcome);
        resume(panic);
    }

    fn is_done(&self) -> bool {
        self.done.get()
    }
}

/// Among settled inputs: the first rejected one, else the first fulfilled one.
fn preferred_settled<T: 'static>(inputs: &[Promise<T>]) -> Option<usize> {
    // One pass, one look at each input's phase: with every input pending (the usual case) this
    // check is all `choose` and `pick` pay before registering, and a phase is a root lookup and
    // two borrows.
    let mut first_fulfilled = None;
    for (index, input) in inputs.iter().enumerate() {
        if input.is_settled() {
            if input.is_rejected() {
                return Some(index);
            }
            first_fulfilled.get_or_insert(index);
        }
    }
    first_fulfilled
}

fn choose_impl<T: 'static>(
    name: &str,
    promises: impl IntoIterator<Item = Promise<T>>,
    cancel_losers: bool,
) -> Promise<T> {
    let mut inputs = match inputs_of(promises) {
        Ok(inputs) => inputs,
        Err(panicked) => return Promise::fail(panicked),
    };
    if inputs.is_empty() {
        return empty_input(name);
    }
    if let Some(index) = preferred_settled(&inputs) {
        let outcome = inputs[index].take_outcome();
        if cancel_losers {
            resume(cancel_pending(&inputs));
        }
        return Promise::from_outcome(outcome);
    }
    // Built in place (see `Node::pending_in_place`): `pending_result`'s node, built on the
    // stack and copied into the allocation after the call to malloc, was read back by 16-byte
    // loads its 8-byte stores could not forward to (a third of this function's samples in a
    // pick-long-lived profile).
    let target = Node::<T>::pending_in_place(|| HowToCancel::NotCancelable);
    // Made after the allocation (`new_cyclic` calls its closure once the memory is there), so
    // that its fields are stored straight into it: `Rc::new` built the state on the stack and
    // copied it in after malloc, and that copy's 16-byte loads waited for the 8-byte stores
    // that built it (the largest pile-up left in this function, pick-long-lived profile).
    let state = Rc::new_cyclic(|_| Choose {
        inputs: RefCell::new(Vec::new()),
        target: Target::new(&target),
        cancel_losers,
        done: Cell::new(false),
    });
    let dead = register(&inputs, state.clone(), false);
    drop_unallocated(std::mem::replace(&mut *state.inputs.borrow_mut(), inputs));
    target.set_cancel(HowToCancel::Propagate(state));
    drop_unallocated(dead);
    Promise::from_node(target)
}

/// Lwt's `choose`: the outcome of the first input to resolve (strictly, the first whose
/// callback reaches the combinator: see the module docs on an input resolved by a callback of
/// another). The others are left alone.
///
/// ```
/// use lwt_core::{combinators::choose, wait, State};
/// let (a, _ra) = wait::<u8>();
/// let (b, rb) = wait::<u8>();
/// let first = choose(vec![a, b]);
/// rb.wakeup(2);
/// assert_eq!(first.state(), State::Fulfilled(2));
/// assert!(choose(Vec::<lwt_core::Promise<u8>>::new()).is_rejected());
/// ```
pub fn choose<T: 'static>(promises: impl IntoIterator<Item = Promise<T>>) -> Promise<T> {
    choose_impl("choose", promises, false)
}

/// Lwt's `pick`: like [`choose`], and the other inputs are canceled (before the result resolves).
///
/// ```
/// use lwt_core::{combinators::pick, task, Promise, State};
/// let (t, _r) = task::<u8>();
/// let t2 = t.clone();
/// assert_eq!(pick(vec![t, Promise::ret(1)]).state(), State::Fulfilled(1));
/// assert!(t2.rejection().unwrap().is_canceled());
/// ```
#[doc(alias = "select")]
pub fn pick<T: 'static>(promises: impl IntoIterator<Item = Promise<T>>) -> Promise<T> {
    choose_impl("pick", promises, true)
}

// ---- nchoose / npick / nchoose_split ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rest {
    Leave,
    Cancel,
    Return,
}

type Split<T> = (Vec<T>, Vec<Promise<T>>);

/// An `nchoose` waiting for its inputs.
///
/// When its callback on an input first runs, every input resolved at that moment belongs to the
/// result, as in Lwt, and no other. One of those may still have callbacks queued (it was
/// resolved by a callback that ran just before): its outcome cannot be taken yet, since
/// callbacks registered on it before this combinator's have not seen it. So the combinator waits
/// for its own callback on each such input, which comes in the same turn of the loop, and only
/// then takes the outcomes. Meanwhile the result is as good as resolved (Lwt's is): canceling it
/// no longer reaches the inputs.
struct NChoose<T: 'static> {
    inputs: RefCell<Vec<Promise<T>>>,
    target: Target<Split<T>>,
    rest: Rest,
    done: Cell<bool>,
    /// The inputs the result takes: empty until the first callback runs, then fixed.
    taking: RefCell<Vec<bool>>,
    /// How many of those, resolved with callbacks queued, have not had this combinator's yet.
    awaited: Cell<usize>,
}

/// What [`harvest`] took from the resolved inputs of an `nchoose`.
struct Harvest<T> {
    values: Vec<T>,
    rejection: Option<Exn>,
    /// Which inputs were taken (the others are still pending).
    taken: Vec<bool>,
}

/// Takes the outcome of every input `take` names, leaving the spent handles in place.
fn harvest<T: 'static>(
    inputs: &mut [Promise<T>],
    take: impl Fn(usize, &Promise<T>) -> bool,
) -> Harvest<T> {
    let mut values = Vec::new();
    let mut rejection: Option<Exn> = None;
    let taken = inputs
        .iter_mut()
        .enumerate()
        .map(|(i, input)| {
            let take = take(i, input);
            if take {
                match input.take_outcome() {
                    Ok(v) => values.push(v),
                    Err(e) => {
                        rejection.get_or_insert(e);
                    }
                }
            }
            take
        })
        .collect();
    Harvest {
        values,
        rejection,
        taken,
    }
}

/// The outcome of an `nchoose` from its harvest; the inputs left pending are released or given
/// back as `rest` says (with `Rest::Cancel` the caller has canceled them already).
fn split<T: 'static>(
    inputs: Vec<Promise<T>>,
    harvest: Harvest<T>,
    rest: Rest,
) -> Outcome<Split<T>> {
    let Harvest {
        values,
        rejection,
        taken,
    } = harvest;
    let pending: Vec<Promise<T>> = inputs
        .into_iter()
        .zip(taken)
        .filter_map(|(input, taken)| (!taken).then_some(input))
        .collect();
    if rest != Rest::Cancel {
        release_pending(&pending);
    }
    match rejection {
        Some(e) => Err(e),
        None if rest == Rest::Return => Ok((values, pending)),
        None => Ok((values, Vec::new())),
    }
}

impl<T: 'static> Waiter for NChoose<T> {
    fn wake(self: Rc<Self>, index: usize) {
        // Set when an earlier callback decided the losers and (for `npick`) canceled them: they
        // are canceled once, as Lwt's `List.iter cancel`. A second cancel would reach what a
        // loser's `catch` handler started after the first one (its recovery work).
        let losers_decided = !self.taking.borrow().is_empty();
        if !losers_decided {
            let (taking, awaited): (Vec<bool>, usize) = {
                let inputs = self.inputs.borrow();
                let taking = (0..inputs.len())
                    .map(|i| i == index || inputs[i].is_resolved())
                    .collect();
                let busy = |(i, p): &(usize, &Promise<T>)| *i != index && p.is_busy();
                (taking, inputs.iter().enumerate().filter(busy).count())
            };
            *self.taking.borrow_mut() = taking;
            if awaited > 0 {
                // This combinator's callback on each of those comes later in this turn.
                self.awaited.set(awaited);
                self.target.set_cancel(HowToCancel::NotCancelable);
                if self.rest == Rest::Cancel {
                    // The losers are decided: cancel them now, as Lwt's `npick` does in its
                    // first callback, before one is served meanwhile (a later callback of the
                    // input being waited for puts into the `Mvar` a loser takes from) and its
                    // value is dropped with it. The inputs taken are resolved: only losers are
                    // canceled, and a loser's callback finds `taking` set and returns.
                    resume(cancel_pending(&self.inputs.borrow()));
                }
                return;
            }
        } else {
            if !self.taking.borrow()[index] {
                // Resolved after the first callback: not part of the result.
                return;
            }
            self.awaited.set(self.awaited.get() - 1);
            if self.awaited.get() > 0 {
                return;
            }
        }
        self.done.set(true);
        let taking = std::mem::take(&mut *self.taking.borrow_mut());
        // Taken out while the outcomes are taken (see `Choose::wake`).
        let mut inputs = std::mem::take(&mut *self.inputs.borrow_mut());
        let harvest = harvest(&mut inputs, |i, _| taking[i]);
        *self.inputs.borrow_mut() = inputs;
        let panic = if self.rest == Rest::Cancel && !losers_decided {
            // See `cancel_pending`.
            cancel_pending(&self.inputs.borrow())
        } else {
            None
        };
        let inputs = std::mem::take(&mut *self.inputs.borrow_mut());
        let outcome = split(inputs, harvest, self.rest);
        self.target.resolve(outcome);
        resume(panic);
    }

    fn is_done(&self) -> bool {
        self.done.get()
    }
}

fn nchoose_impl<T: 'static>(
    name: &str,
    promises: impl IntoIterator<Item = Promise<T>>,
    rest: Rest,
) -> Promise<Split<T>> {
    let mut inputs = match inputs_of(promises) {
        Ok(inputs) => inputs,
        Err(panicked) => return Promise::fail(panicked),
    };
    if inputs.is_empty() {
        return empty_input(name);
    }
    if inputs.iter().any(Promise::is_settled) {
        // An input resolved with callbacks still queued counts as pending here, as in `choose`
        // (see the module docs): waiting for it could wait for a job that a `run` called from
        // the callback that queued it does not run.
        let harvest = harvest(&mut inputs, |_, input| input.is_settled());
        if rest == Rest::Cancel {
            resume(cancel_pending(&inputs));
        }
        return Promise::from_outcome(split(inputs, harvest, rest));
    }
    let target = pending_result();
    let state = Rc::new(NChoose {
        inputs: RefCell::new(Vec::new()),
        target: Target::new(&target),
        rest,
        done: Cell::new(false),
        taking: RefCell::new(Vec::new()),
        awaited: Cell::new(0),
    });
    let dead = register(&inputs, state.clone(), false);
    drop_unallocated(std::mem::replace(&mut *state.inputs.borrow_mut(), inputs));
    target.set_cancel(HowToCancel::Propagate(state));
    drop_unallocated(dead);
    Promise::from_node(target)
}

/// Lwt's `nchoose`: waits until at least one input is resolved, then gives every fulfilled value
/// among the resolved inputs, in input order (rejected if any of them is rejected: the first in
/// input order).
///
/// ```
/// use lwt_core::{combinators::nchoose, wait, Promise, State};
/// let (pending, _r) = wait::<u8>();
/// let p = nchoose(vec![Promise::ret(1), pending, Promise::ret(3)]);
/// assert_eq!(p.state(), State::Fulfilled(vec![1, 3]));
/// ```
pub fn nchoose<T: 'static>(promises: impl IntoIterator<Item = Promise<T>>) -> Promise<Vec<T>> {
    nchoose_impl("nchoose", promises, Rest::Leave).map(|(values, _)| values)
}

/// Lwt's `npick`: like [`nchoose`], and the inputs still pending are canceled.
///
/// ```
/// use lwt_core::{combinators::npick, task, Promise, State};
/// let (t, _r) = task::<u8>();
/// let t2 = t.clone();
/// assert_eq!(npick(vec![t, Promise::ret(2)]).state(), State::Fulfilled(vec![2]));
/// assert!(t2.rejection().unwrap().is_canceled());
/// ```
pub fn npick<T: 'static>(promises: impl IntoIterator<Item = Promise<T>>) -> Promise<Vec<T>> {
    nchoose_impl("npick", promises, Rest::Cancel).map(|(values, _)| values)
}

/// Lwt's `nchoose_split`: like [`nchoose`], also giving back the inputs still pending.
///
/// ```
/// use lwt_core::{combinators::nchoose_split, wait, Promise, State};
/// let (pending, _r) = wait::<u8>();
/// let p = nchoose_split(vec![pending, Promise::ret(1)]);
/// let summary = p.map(|(done, rest)| (done, rest.len()));
/// assert_eq!(summary.state(), State::Fulfilled((vec![1], 1)));
/// ```
pub fn nchoose_split<T: 'static>(
    promises: impl IntoIterator<Item = Promise<T>>,
) -> Promise<(Vec<T>, Vec<Promise<T>>)> {
    nchoose_impl("nchoose_split", promises, Rest::Return)
}
