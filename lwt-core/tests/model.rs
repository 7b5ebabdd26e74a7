//! Model tests of the engine (regression tests first; the property-based model follows).

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{wait, Promise};

/// Runs `f` on its own thread (the loop is thread-local) and fails if it does not finish soon.
fn finishes_in_time(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok()
}

/// A bind whose callback returns a promise that waits on the bind's own result: the two are
/// merged into one pending promise whose cancel link points at itself. Canceling it must end.
#[test]
fn cancel_of_a_promise_that_waits_on_itself_terminates() {
    assert!(finishes_in_time(|| {
        let (p1, r1) = wait::<i64>();
        let slot: Rc<RefCell<Option<Promise<i64>>>> = Rc::default();
        let s = slot.clone();
        let p2 = p1.bind(move |_| s.borrow_mut().take().unwrap());
        *slot.borrow_mut() = Some(p2.clone().map(|v| v + 1));
        r1.wakeup(1);
        assert!(p2.is_pending());
        p2.cancel();
        assert!(p2.is_pending());
    }));
}
