//! The order of a result's callbacks against a nested `wakeup`: shared by the tests of the
//! runtime's loops (`nested_resolution_order.rs`) and of `lwt!`'s (`tests/macro_loops.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{wait, Promise};

/// `make(p)` waits on `p` once; a callback of another promise wakes `p` (a nested `wakeup`),
/// then logs "after wakeup". The result of `make` logs "done" when fulfilled. A result that
/// resolves as a bind's does gives `["done", "after wakeup"]`.
pub(crate) fn order(make: impl FnOnce(Promise<()>) -> Promise<()>) -> Vec<&'static str> {
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let (p, r) = wait::<()>();
    let (trigger, rt) = wait::<()>();
    let done = make(p);
    let l1 = log.clone();
    let _d = done.map(move |()| l1.borrow_mut().push("done"));
    let l2 = log.clone();
    let _t = trigger.map(move |()| {
        r.wakeup(());
        l2.borrow_mut().push("after wakeup");
    });
    rt.wakeup(());
    let v = log.borrow().clone();
    v
}
