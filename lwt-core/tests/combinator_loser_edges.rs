//! How `pick`, `npick` and `nchoose_split` treat their losers in edge cases, checked in review
//! (rev134) of session 47's changes: inputs whose handle is a proxy (a task returned by a bind's
//! callback, merged into the bind's result, and kept by a clone), since a finished combinator now
//! cancels and releases its losers through the handle's node, which finds the root itself; a
//! loser given twice; and `npick`'s once-only cancel of its losers when its first callback waits
//! for an input with callbacks queued, with a loser's cancel resolving another loser.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::combinators::{nchoose_split, npick, pick};
use lwt_core::{task, wait, Promise, Resolver, State};

thread_local! {
    /// The binds' results, which the proxies point at: kept alive for the test's length.
    static ROOTS: RefCell<Vec<Promise<u32>>> = const { RefCell::new(Vec::new()) };
}

/// A handle whose node is a proxy: a task returned by a bind's callback is merged into (made a
/// proxy of) the bind's result, whose cancel becomes the task's. With the task's resolver.
fn proxy() -> (Promise<u32>, Resolver<u32>) {
    let (a, ra) = wait::<()>();
    let (inner, ri) = task::<u32>();
    let kept = inner.clone();
    let root = a.bind(move |()| inner);
    ROOTS.with(|k| k.borrow_mut().push(root));
    ra.wakeup(());
    (kept, ri)
}

#[test]
fn pick_cancels_a_proxy_loser_through_its_root() {
    let (p, ri) = proxy();
    let canceled = Rc::new(Cell::new(false));
    let c = canceled.clone();
    p.on_cancel(move || c.set(true));
    let q = p.clone();
    let (w, rw) = wait::<u32>();
    let r = pick(vec![w, p]);
    rw.wakeup(1);
    assert_eq!(r.state(), State::Fulfilled(1));
    assert!(canceled.get());
    assert!(q.rejection().is_some_and(|e| e.is_canceled()));
    assert!(!ri.is_pending());
}

/// A loser whose root the cancel of an earlier loser fulfilled: left as it is.
#[test]
fn pick_skips_a_proxy_loser_whose_root_an_earlier_cancel_resolved() {
    let (p, ri) = proxy();
    let q = p.clone();
    let (x, _rx) = task::<u32>();
    // The cancel of `x`, the loser before `p`, fulfils `p`'s root.
    let ri = RefCell::new(Some(ri));
    x.on_cancel(move || ri.borrow_mut().take().unwrap().wakeup(9));
    let (w, rw) = wait::<u32>();
    let r = pick(vec![w, x, p]);
    rw.wakeup(1);
    assert_eq!(r.state(), State::Fulfilled(1));
    assert_eq!(q.state(), State::Fulfilled(9));
}

#[test]
fn nchoose_split_releases_its_dead_waiter_on_a_proxy_root() {
    let (p, _ri) = proxy();
    let q = p.clone();
    let before = q.callback_count();
    let (w, rw) = wait::<u32>();
    let r = nchoose_split(vec![w, p]);
    assert_eq!(q.callback_count(), before + 1);
    rw.wakeup(1);
    let State::Fulfilled((values, rest)) = r.state() else {
        panic!("not fulfilled")
    };
    assert_eq!(values, [1]);
    assert_eq!(rest.len(), 1);
    assert_eq!(
        q.callback_count(),
        before,
        "the dead waiter stayed on the root"
    );
}

#[test]
fn npick_cancels_a_loser_given_twice_once() {
    let (x, _rx) = task::<u32>();
    let cancels = Rc::new(Cell::new(0));
    let c = cancels.clone();
    x.on_cancel(move || c.set(c.get() + 1));
    let (w, rw) = wait::<u32>();
    let r = npick(vec![w, x.clone(), x]);
    rw.wakeup(1);
    assert_eq!(r.state(), State::Fulfilled(vec![1]));
    assert_eq!(cancels.get(), 1);
}

/// `b` is resolved (with its callbacks queued) by a callback of `a` registered before `npick`:
/// the first callback takes `a` and `b` and waits for `b`'s, and cancels the losers meanwhile,
/// once; `c`'s cancel fulfils `d`, a loser too, which stays out of the result. (Lwt, whose
/// callbacks run newest first, gives `[1]`: see `combinators`' module docs.)
#[test]
fn npick_waiting_for_a_busy_input_cancels_a_loser_once_and_leaves_out_one_its_cancel_resolves() {
    let (a, ra) = wait::<u32>();
    let (b, rb) = wait::<u32>();
    let (c, _rc) = task::<u32>();
    let (d, rd) = task::<u32>();
    let rb = RefCell::new(Some(rb));
    a.on_success(move |_| rb.borrow_mut().take().unwrap().wakeup_later(2));
    let rd = RefCell::new(Some(rd));
    let c_cancels = Rc::new(Cell::new(0));
    let cc = c_cancels.clone();
    c.on_cancel(move || {
        cc.set(cc.get() + 1);
        if let Some(rd) = rd.borrow_mut().take() {
            rd.wakeup(4);
        }
    });
    let d_kept = d.clone();
    let r = npick(vec![a, b, c, d]);
    ra.wakeup(1);
    assert_eq!(r.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(c_cancels.get(), 1);
    assert_eq!(d_kept.state(), State::Fulfilled(4));
}

/// Checked in review (rev135) of the winner's outcome taken under the inputs' borrow: a winner
/// held through a proxy (and so cloned: the clone's cloner went to the root with the merge)
/// hands the pick a copy, and its other handle keeps the value.
#[test]
fn pick_copies_a_proxy_winners_value_for_its_other_handle() {
    let (p, ri) = proxy();
    let q = p.clone();
    let (w, _rw) = wait::<u32>();
    let r = pick(vec![w, p]);
    ri.wakeup(4);
    assert_eq!(r.state(), State::Fulfilled(4));
    assert_eq!(q.state(), State::Fulfilled(4));
}

/// As above, with the same promise given to `pick` twice (so cloned): the first handle wins and
/// the result is its value, once.
#[test]
fn pick_given_the_winner_twice_resolves_with_its_value() {
    let (p, rp) = wait::<u32>();
    let r = pick(vec![p.clone(), p]);
    rp.wakeup(3);
    assert_eq!(r.state(), State::Fulfilled(3));
}

/// A rejected winner never cloned: its error (copied, the node keeps it) rejects the result, and
/// the loser is canceled.
#[test]
fn pick_with_a_rejected_winner_never_cloned_rejects_and_cancels() {
    let (w, rw) = wait::<u32>();
    let (t, _rt) = task::<u32>();
    let loser = t.clone();
    let r = pick(vec![w, t]);
    rw.wakeup_exn(lwt_core::Exn::failure("lost"));
    assert_eq!(r.rejection().map(|e| e.to_string()), Some("lost".into()));
    assert!(loser.rejection().is_some_and(|e| e.is_canceled()));
}

/// Counts its drops (its clones share the count).
#[derive(Clone)]
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A winner never cloned whose earlier observer cancels the pick's result: the cancel reaches
/// the loser, the pick's late resolution of its result is refused, and the winner's value,
/// taken out under the inputs' borrow, is dropped once (neither leaked nor dropped twice).
#[test]
fn pick_whose_result_the_winners_observer_cancels_drops_the_value_once() {
    let drops = Rc::new(Cell::new(0));
    let (w, rw) = wait::<Counted>();
    let (t, _rt) = task::<Counted>();
    let loser = t.clone();
    let slot: Rc<RefCell<Option<Promise<Counted>>>> = Rc::default();
    let s = slot.clone();
    w.on_success(move |_| s.borrow_mut().take().unwrap().cancel());
    let r = pick(vec![w, t]);
    *slot.borrow_mut() = Some(r.clone());
    rw.wakeup(Counted(drops.clone()));
    assert!(r.rejection().is_some_and(|e| e.is_canceled()));
    assert!(loser.rejection().is_some_and(|e| e.is_canceled()));
    assert_eq!(drops.get(), 1);
}
