//! Smoke tests of the engine.
use lwt_core::*;
use std::{cell::RefCell, rc::Rc};

#[test]
fn chain_10m() {
    let (p0, r) = wait::<u64>();
    let mut p = p0;
    for _ in 0..10_000_000 {
        p = p.bind(|x| Promise::ret(x + 1));
    }
    r.wakeup(0);
    assert_eq!(p.state(), State::Fulfilled(10_000_000));
}

#[test]
fn proxy_and_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (s, rs) = wait::<()>();
    let (p2, r2) = wait::<u32>();
    let l = log.clone();
    p2.on_success(move |_| l.borrow_mut().push("p2-cb"));
    let p3 = s.bind(move |()| p2);
    let l = log.clone();
    p3.on_success(move |_| l.borrow_mut().push("p3-cb"));
    rs.wakeup(());
    assert!(p3.is_pending());
    r2.wakeup(5);
    assert_eq!(p3.state(), State::Fulfilled(5));
    assert_eq!(*log.borrow(), ["p2-cb", "p3-cb"]);
}
