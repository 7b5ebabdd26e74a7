//! The loop's reuse of a woken pause's node (`Engine::keep_spare_node`, `Node::renew`), for
//! pauses whose node is not a plain root: merged into a bind's result (a proxy, whose drop in
//! `renew` frees that result's root), canceled through that result before it is woken, or
//! with callbacks whose captured values run code as they are dropped (they run during the
//! wakeup, before the slot is taken). Each next pause is a fresh pending task with no callback,
//! every captured value is dropped once, and nothing is left paused. With debug assertions (the
//! test profile) this also checks rev123's claim that nothing fills the spare slot while
//! `renew` runs: `keep_spare_node` asserts it before it forgets what it replaced.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::{main, wait, Promise};

/// Counts its drops; on drop, runs `on_drop` (user code in the middle of the loop's wakeup).
struct Tracked {
    drops: Rc<Cell<u32>>,
    on_drop: Option<Box<dyn FnOnce()>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

fn fresh_pause() {
    let next = main::pause();
    assert!(next.is_pending());
    assert_eq!(next.callback_count(), 0);
    assert_eq!(main::run(next.map(|()| 3)).unwrap(), 3);
}

/// A bind whose callback returns a pause, run while its result is pending: the result absorbs
/// the pause's node, which becomes a proxy of the result's root.
fn bind_returning_a_pause() -> Promise<()> {
    let (s, rs) = wait::<()>();
    let b = s.bind(|()| main::pause());
    rs.wakeup(());
    b
}

/// A `Tracked` that only counts its drop.
fn counted(drops: &Rc<Cell<u32>>) -> Tracked {
    Tracked {
        drops: drops.clone(),
        on_drop: None,
    }
}

#[test]
fn a_pause_merged_into_a_binds_result_is_freed_with_that_result_and_not_reused() {
    let drops = Rc::new(Cell::new(0));
    for round in 0..4 {
        let b = bind_returning_a_pause();
        assert!(b.is_pending());
        let t = counted(&drops);
        // The only consumer of `b`: once it has run, the pause's node (a proxy) holds the last
        // reference to `b`'s root, which `renew` frees.
        let mapped = b.map(move |()| {
            let _keep = &t;
            round
        });
        assert_eq!(main::run(mapped).unwrap(), round);
        assert_eq!(drops.get(), round + 1);
        fresh_pause();
    }
    assert_eq!(main::paused_count(), 0);
}

#[test]
fn a_merged_pause_canceled_through_the_result_before_its_wakeup() {
    let drops = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let b = bind_returning_a_pause();
        let t = counted(&drops);
        let seen = b.catch(move |e| {
            let _keep = &t;
            assert!(e.is_canceled());
            Promise::ret(())
        });
        // Through the catch, to `b`, whose cancel link is now the merged pause's.
        seen.cancel();
        assert!(seen.is_fulfilled());
        // The canceled pause is still listed: its wakeup (a no-op) gives its node back.
        main::run(main::pause()).unwrap();
        fresh_pause();
    }
    assert_eq!(drops.get(), 3);
    assert_eq!(main::paused_count(), 0);
}

#[test]
fn values_dropped_during_the_wakeup_may_pause_and_cancel_pauses() {
    let drops = Rc::new(Cell::new(0));
    let made: Rc<RefCell<Vec<Promise<()>>>> = Rc::default();
    for _ in 0..3 {
        let other = main::pause();
        let m = made.clone();
        let t = Tracked {
            drops: drops.clone(),
            on_drop: Some(Box::new(move || {
                // A new pause (may take the spare node), and a cancel of another.
                m.borrow_mut().push(main::pause());
                other.cancel();
            })),
        };
        let p = main::pause().map(move |()| drop(t));
        main::run(p).unwrap();
        let fresh: Vec<_> = made.borrow_mut().drain(..).collect();
        for f in &fresh {
            assert!(f.is_pending());
            assert_eq!(f.callback_count(), 0);
        }
        for f in fresh {
            main::run(f).unwrap();
        }
        fresh_pause();
    }
    assert_eq!(drops.get(), 3);
    assert_eq!(main::paused_count(), 0);
}
