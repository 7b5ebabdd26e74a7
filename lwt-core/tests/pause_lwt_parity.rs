//! `Lwt.pause` against Lwt 5.6.1: see the test's comment.

use lwt_core::{join, main, wait, Promise};
use std::cell::RefCell;
use std::rc::Rc;

/// A pause's continuation (the lone-consumer wake of `Node::wake_pause`) that makes a
/// `wakeup_later` and a `wakeup`, pauses again, and a later pause's continuation that cancels a
/// pause bound earlier (cloned, so on the general path) and already fulfilled: the order Lwt
/// 5.6.1 prints for the same program (rev140's review).
#[test]
fn pause_continuations_and_wakeups_in_lwts_order() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let l = log.clone();
    let (w, rw) = wait::<()>();
    let _a = w.bind(move |()| {
        l.borrow_mut().push("w's callback".into());
        Promise::ret(())
    });
    let (w2, rw2) = wait::<()>();
    let l = log.clone();
    let _b = w2.bind(move |()| {
        l.borrow_mut().push("w2's callback (wakeup)".into());
        Promise::ret(())
    });
    let l = log.clone();
    let first = main::pause().bind(move |()| {
        l.borrow_mut().push("first".into());
        rw.wakeup_later(());
        rw2.wakeup(());
        let l2 = l.clone();
        let _again = main::pause().bind(move |()| {
            l2.borrow_mut().push("re-paused from first".into());
            Promise::ret(())
        });
        l.borrow_mut().push("first returns".into());
        Promise::ret(())
    });
    let l = log.clone();
    let second = main::pause().bind(move |()| {
        l.borrow_mut().push("second".into());
        Promise::ret(())
    });
    let l = log.clone();
    second.on_cancel(move || l.borrow_mut().push("second canceled".into()));
    let s2 = second.clone();
    let l = log.clone();
    let third = main::pause().bind(move |()| {
        l.borrow_mut().push("third".into());
        s2.cancel();
        Promise::ret(())
    });
    let l = log.clone();
    let fourth = main::pause().bind(move |()| {
        l.borrow_mut().push("fourth".into());
        Promise::ret(())
    });
    main::run(join([first, third, fourth, main::pause(), main::pause()])).unwrap();
    log.borrow_mut()
        .push(format!("second {:?}", second.is_fulfilled()));
    assert_eq!(
        *log.borrow(),
        [
            "first",
            "w2's callback (wakeup)",
            "first returns",
            "w's callback",
            "second",
            "third",
            "fourth",
            "second true"
        ]
    );
}
