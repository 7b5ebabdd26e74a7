//! A bind's result merged with the pending promise its callback returned
//! (`Node::absorb`), and the resolution of the merged root (`Node::resolve_root`): callback
//! order (fulfilled, and canceled with `on_cancel` first), the cancel link moved from the
//! returned promise to the result, and no `BorrowMutError` when user code runs around a merge.

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::sync::Mvar;
use lwt_core::{task, wait, Promise};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn taken(l: &Log) -> Vec<String> {
    std::mem::take(&mut *l.borrow_mut())
}

/// Registers `n` callbacks named `{name}{i}` on `p`: odd ones `on_cancel`, even ones `on_any`.
/// Gives the names in registration order, each with whether it is an `on_cancel`.
fn register(p: &Promise<()>, name: &str, n: usize, l: &Log) -> Vec<(String, bool)> {
    (0..n)
        .map(|i| {
            let id = format!("{name}{i}");
            let cancel = i % 2 == 1;
            if cancel {
                let (l, id) = (l.clone(), id.clone());
                p.on_cancel(move || l.borrow_mut().push(id));
            } else {
                let (l1, l2, id1, id2) = (l.clone(), l.clone(), id.clone(), id.clone());
                p.on_any(
                    move |_| l1.borrow_mut().push(id1),
                    move |_| l2.borrow_mut().push(id2),
                );
            }
            (id, cancel)
        })
        .collect()
}

/// What runs, in order: every callback when fulfilled except the `on_cancel`s; on a cancel, the
/// `on_cancel`s first, in their order, then the rest in theirs.
fn expected(list: &[(String, bool)], canceled: bool) -> Vec<String> {
    let names = |keep: bool| {
        list.iter()
            .filter(move |(_, c)| *c == keep)
            .map(|(n, _)| n.clone())
    };
    if canceled {
        names(true).chain(names(false)).collect()
    } else {
        names(false).collect()
    }
}

/// Every shape of both lists (empty, one, a queue, a queue longer or shorter than the other:
/// both branches of the "shorter list moves" choice), callbacks added before the merge on both,
/// and after it through the result and through the returned promise's handle (now a proxy).
#[test]
fn merged_callbacks_run_in_order_fulfilled_and_canceled() {
    for inner_n in 0..=4 {
        for outer_n in 0..=4 {
            for canceled in [false, true] {
                let l = log();
                let (s, rs) = wait::<()>();
                let (t, rt) = task::<()>();
                let t_handle = t.clone();
                let r = s.bind(move |()| t);
                let mut list = register(&t_handle, "i", inner_n, &l);
                list.extend(register(&r, "o", outer_n, &l));
                rs.wakeup(());
                assert!(r.is_pending());
                // After the merge: registration order, through either handle.
                list.extend(register(&r, "r", 2, &l));
                list.extend(register(&t_handle, "t", 2, &l));
                assert_eq!(r.callback_count(), inner_n + outer_n + 4);
                if canceled {
                    // The result's cancel link is now the returned task's.
                    r.cancel();
                    assert!(r.rejection().unwrap().is_canceled());
                    assert!(t_handle.rejection().unwrap().is_canceled());
                    drop(rt);
                } else {
                    rt.wakeup(());
                    assert!(r.is_fulfilled() && t_handle.is_fulfilled());
                }
                assert_eq!(
                    taken(&l),
                    expected(&list, canceled),
                    "inner {inner_n}, outer {outer_n}, canceled {canceled}"
                );
            }
        }
    }
}

/// A cancel that starts at the returned promise's handle (a proxy once merged) reaches the
/// merged root and orders its callbacks the same way.
#[test]
fn canceling_the_returned_promise_after_the_merge_cancels_the_result() {
    let l = log();
    let (s, rs) = wait::<()>();
    let (t, _rt) = task::<()>();
    let t_handle = t.clone();
    let r = s.bind(move |()| t);
    let mut list = register(&r, "o", 3, &l);
    list.splice(0..0, register(&t_handle, "i", 3, &l));
    rs.wakeup(());
    t_handle.cancel();
    assert!(r.rejection().unwrap().is_canceled());
    assert_eq!(taken(&l), expected(&list, true));
}

/// Merges nested two deep (the result of a bind returns another bind's result, which returns a
/// task): the cancel link moves twice, and the on_cancel-first order covers all three lists.
#[test]
fn two_merges_deep_keep_order_and_cancel_link() {
    let l = log();
    let (s1, rs1) = wait::<()>();
    let (s2, rs2) = wait::<()>();
    let (t, _rt) = task::<()>();
    let t_handle = t.clone();
    let mid = s2.bind(move |()| t);
    let mid_handle = mid.clone();
    let r = s1.bind(move |()| mid);
    let mut list = register(&t_handle, "t", 3, &l);
    list.extend(register(&mid_handle, "m", 3, &l));
    rs2.wakeup(()); // `mid` absorbs `t`
    let mut all = list;
    // `r` (outer) absorbs `mid`'s root: mid's list (t's then m's) first, then r's own.
    let r_list = register(&r, "r", 3, &l);
    rs1.wakeup(());
    all.extend(r_list);
    r.cancel();
    assert!(r.rejection().unwrap().is_canceled());
    assert_eq!(taken(&l), expected(&all, true));
}

/// The returned promise is a stream-like task that tells a listener of its cancel
/// (`CancelThisAndTell`: an `Mvar::put` waiting for room). Once merged, a cancel of the bind's
/// result cancels the put, and the put's value is dropped at the cancel, before the result's
/// `on_cancel` callbacks run... after the listener (prepended first).
#[test]
fn a_merged_put_is_canceled_through_the_result_and_its_value_dropped() {
    struct Flag(Log);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.borrow_mut().push("value dropped".into());
        }
    }
    let l = log();
    let m = Mvar::create(Flag(l.clone()));
    let (s, rs) = wait::<()>();
    let (m2, l2) = (m.clone(), l.clone());
    let r = s.bind(move |()| m2.put(Flag(l2)));
    let l3 = l.clone();
    r.on_cancel(move || l3.borrow_mut().push("on_cancel".into()));
    rs.wakeup(());
    assert!(r.is_pending());
    r.cancel();
    assert!(r.rejection().unwrap().is_canceled());
    assert_eq!(taken(&l), ["value dropped", "on_cancel"]);
    // The mailbox still holds its first value, and takes no canceled put's.
    assert!(m.take_available().is_some());
    assert!(m.is_empty());
    assert_eq!(taken(&l), ["value dropped"]);
}

/// A bind whose callback returns the bind's own result (same root: stays pending), and one
/// whose callback returns a promise derived from the result (two distinct roots, where the
/// returned one's cancel link names the result): no merge of a node with itself, no double
/// borrow, and a cancel walk that terminates.
#[test]
fn merges_with_itself_or_a_promise_derived_from_itself_do_not_panic() {
    // Returned its own result.
    let (s, rs) = wait::<u32>();
    let slot: Rc<RefCell<Option<Promise<u32>>>> = Rc::default();
    let slot2 = slot.clone();
    let r = s.bind(move |_| slot2.borrow_mut().take().unwrap());
    *slot.borrow_mut() = Some(r.clone());
    rs.wakeup(1);
    assert!(r.is_pending());
    r.cancel();
    assert!(r.is_pending());

    // Returned a promise derived from its own result.
    let (s, rs) = wait::<u32>();
    let slot: Rc<RefCell<Option<Promise<u32>>>> = Rc::default();
    let slot2 = slot.clone();
    let r = s.bind(move |_| slot2.borrow_mut().take().unwrap().map(|x| x + 1));
    *slot.borrow_mut() = Some(r.clone());
    let l = log();
    let l2 = l.clone();
    r.on_cancel(move || l2.borrow_mut().push("on_cancel".into()));
    rs.wakeup(1);
    assert!(r.is_pending());
    r.cancel(); // walks a cycle of cancel links: visited once, nothing rejected
    assert!(r.is_pending());
    assert!(taken(&l).is_empty());

    // Two results returning each other: the second merge finds one root.
    let (s1, rs1) = wait::<()>();
    let (s2, rs2) = wait::<()>();
    let c1: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
    let c2: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
    let (c1b, c2b) = (c1.clone(), c2.clone());
    let r1 = s1.bind(move |()| c2b.borrow_mut().take().unwrap());
    let r2 = s2.bind(move |()| c1b.borrow_mut().take().unwrap());
    *c1.borrow_mut() = Some(r1.clone());
    *c2.borrow_mut() = Some(r2.clone());
    rs1.wakeup(());
    rs2.wakeup(());
    assert!(r1.is_pending() && r2.is_pending());
}

/// User code around a merge: the bind's callback registers callbacks on the promise it is
/// about to return and on the bind's own result, and drops values whose `drop` looks at both
/// (a callback's captured value, freed when the merged root's callbacks have run). No
/// `BorrowMutError`, and what the drops see is consistent.
#[test]
fn user_code_around_a_merge_sees_consistent_states() {
    struct Looks {
        at: Vec<Promise<u32>>,
        l: Log,
    }
    impl Drop for Looks {
        fn drop(&mut self) {
            let states: Vec<String> = self
                .at
                .iter()
                .map(|p| format!("{}:{}", p.is_pending(), p.callback_count()))
                .collect();
            self.l
                .borrow_mut()
                .push(format!("drop {}", states.join(" ")));
        }
    }
    let l = log();
    let (s, rs) = wait::<u32>();
    let (t, rt) = task::<u32>();
    let t_handle = t.clone();
    let result: Rc<RefCell<Option<Promise<u32>>>> = Rc::default();
    let (result2, l2, t2) = (result.clone(), l.clone(), t_handle.clone());
    let r = s.bind(move |x| {
        let r = result2.borrow().clone().unwrap();
        let looks = Looks {
            at: vec![r.clone(), t2.clone()],
            l: l2.clone(),
        };
        // Captured by a callback on the returned promise: dropped when it has run.
        let l3 = l2.clone();
        t.on_success(move |v| {
            let _keep = &looks;
            l3.borrow_mut().push(format!("inner saw {v}"));
        });
        // One dropped right here, before the merge.
        drop(Looks {
            at: vec![r, t2],
            l: l2,
        });
        t.map(move |y| x + y)
    });
    *result.borrow_mut() = Some(r.clone());
    rs.wakeup(10);
    assert_eq!(taken(&l), ["drop true:0 true:1"]);
    rt.wakeup(5);
    assert_eq!(r.rejection().map(|e| e.to_string()), None);
    assert!(r.is_fulfilled());
    let got = taken(&l);
    assert_eq!(got[0], "inner saw 5");
    // Dropped with the callback that held it, right after it ran: the returned `map` (merged
    // into `r`) has not run yet, so `r` is still pending and `t` has one callback left.
    assert_eq!(got, ["inner saw 5", "drop true:0 false:1"]);
    result.borrow_mut().take();
}
