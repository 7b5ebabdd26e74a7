//! A woken pause whose only callback is a bind's continuation hands it the value at once
//! (`Node::wake_pause`), without the general path's callback list; a pause cloned, observed
//! twice, or canceled takes the general path. Both must look the same to a program: the
//! continuations run in the order the pauses were made, each as the outermost callback (a
//! `wakeup_later` it makes runs its callbacks once it returns, before the next pause is woken).

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{join, main, wait, Promise};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn logged(log: &Log, what: &'static str) -> impl FnOnce(()) -> Promise<()> + 'static {
    let log = log.clone();
    move |()| {
        log.borrow_mut().push(what);
        Promise::ret(())
    }
}

#[test]
fn pauses_bound_once_and_pauses_observed_otherwise_wake_in_order() {
    let log: Log = Rc::default();
    let (w, rw) = wait::<()>();
    let after_w = w.bind(logged(&log, "w's callback"));
    let l1 = log.clone();
    // Bound once: the lone consumer's path.
    let first = main::pause().bind(move |()| {
        l1.borrow_mut().push("first");
        rw.wakeup_later(());
        l1.borrow_mut().push("first returns");
        Promise::ret(())
    });
    // Cloned: the general path.
    let cloned = main::pause();
    let kept = cloned.clone();
    let second = cloned.bind(logged(&log, "second"));
    // Two callbacks: the general path.
    let twice = main::pause();
    let l2 = log.clone();
    twice.on_success(move |()| l2.borrow_mut().push("third's observer"));
    let third = twice.bind(logged(&log, "third"));
    let fourth = main::pause().bind(logged(&log, "fourth"));
    main::run(join([first, second, third, fourth, after_w])).unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "first",
            "first returns",
            "w's callback",
            "second",
            "third's observer",
            "third",
            "fourth"
        ]
    );
    assert!(kept.is_fulfilled());
}

#[test]
fn a_pause_bound_once_and_canceled_through_its_result_is_rejected_not_continued() {
    let log: Log = Rc::default();
    let canceled = main::pause().bind(logged(&log, "canceled"));
    let next = main::pause().bind(logged(&log, "next"));
    canceled.cancel();
    assert!(canceled.is_rejected());
    main::run(next).unwrap();
    assert_eq!(*log.borrow(), ["next"]);
    // The loop goes on pausing with the nodes it kept.
    assert_eq!(main::run(main::pause().map(|()| 5)).unwrap(), 5);
}
