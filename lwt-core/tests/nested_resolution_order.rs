//! The result of a runtime loop or stream consumer that ends inside a continuation run by a
//! nested `wakeup` resolves there, as a chain of binds does (and as Lwt 5.6.1's `for%lwt`,
//! `Lwt_list.iter_s` and `Lwt_stream.iter_s`, built from binds, do): its callbacks run before
//! that `wakeup` returns. Found in review (session 27): they resolved with `wakeup_later`,
//! which holds them until the outermost callback returns.

use lwt_core::{control, list, return_unit, seq, stream, Promise};

#[path = "support/nested_order.rs"]
mod nested_order;
use nested_order::order;

const AS_BIND: [&str; 2] = ["done", "after wakeup"];

/// Hands `p` out once, to the one step the loop makes.
fn once(p: Promise<()>) -> impl FnMut() -> Promise<()> {
    let mut p = Some(p);
    move || p.take().expect("one step")
}

#[test]
fn a_bind_chain() {
    assert_eq!(order(|p| p.bind(|()| return_unit())), AS_BIND);
}

#[test]
fn control_for_each() {
    assert_eq!(
        order(|p| {
            let mut step = once(p);
            control::for_each(0..1, move |_| step())
        }),
        AS_BIND
    );
}

#[test]
fn list_iter_s() {
    assert_eq!(
        order(|p| {
            let mut step = once(p);
            list::iter_s(move |_: u8| step(), vec![1])
        }),
        AS_BIND
    );
}

#[test]
fn stream_iter_s() {
    assert_eq!(
        order(|p| {
            let mut step = once(p);
            stream::of_list(vec![1]).iter_s(move |_| step())
        }),
        AS_BIND
    );
}

#[test]
fn stream_iter_p() {
    assert_eq!(
        order(|p| {
            let mut step = once(p);
            stream::of_list(vec![1]).iter_p(move |_| step())
        }),
        AS_BIND
    );
}

#[test]
fn stream_get_while_s() {
    assert_eq!(
        order(|p| {
            let mut step = Some(p);
            stream::of_list(vec![1])
                .get_while_s(move |_| match step.take() {
                    Some(p) => p.map(|()| true),
                    None => Promise::ret(false),
                })
                .map(|_| ())
        }),
        AS_BIND
    );
}

#[test]
fn seq_iter_s() {
    assert_eq!(
        order(|p| {
            let mut step = once(p);
            seq::of_list(vec![1]).iter_s(move |_| step())
        }),
        AS_BIND
    );
}
