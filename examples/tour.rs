//! A tour of the promise engine: wait/wakeup, bind and map, catch, cancellation, proxies.
//!
//! Run with `cargo run --example tour`.

use lwt::{task, wait, Exn, Failure, Promise, State};

fn main() {
    // A pending promise and its resolver (Lwt.wait).
    let (line, resolver) = wait::<String>();

    // Chain work on it before it resolves: >> is Lwt's >>=, | is >|=.
    let parsed = line.clone() | (|s: String| s.trim().parse::<i64>());
    let doubled = parsed >> Promise::of_result | (|n| n * 2);
    let safe = doubled.catch(|e| {
        println!("recovering from: {e}");
        Promise::ret(0)
    });
    println!("before wakeup: {:?}", safe);

    resolver.wakeup(" 21 ".to_string());
    println!("after wakeup:  {:?} = {:?}", safe, safe.state());
    assert_eq!(safe.state(), State::Fulfilled(42));

    // A rejection flows past bind and map to the first handler.
    let (p, r) = wait::<i64>();
    let handled = p.map(|n| format!("got {}", n + 1)).catch(|e: Exn| {
        // The handler sees the rejection's error, and its type: here a `Failure`.
        let reason = e.downcast_ref::<Failure>().map_or("?", Failure::message);
        Promise::ret(format!("recovered from {reason:?}"))
    });
    r.wakeup_exn(Exn::failure("oops"));
    println!("handled rejection: {:?}", handled.state());

    // Cancellation walks back through the chain to the task and rejects it.
    // The resolver is kept (`_r`, not `_`): dropped, it would reject the task with `Abandoned`
    // at once, and there would be nothing left to cancel.
    let (t, _r) = task::<()>();
    t.on_cancel(|| println!("the task was canceled"));
    let downstream = t.bind(|()| Promise::ret("never"));
    downstream.cancel();
    println!("downstream: {:?}", downstream);

    // A promise returned from a bind callback becomes the bind's result (Lwt's proxies).
    let (outer_src, outer_r) = wait::<()>();
    let (inner, inner_r) = wait::<&str>();
    let outer = outer_src.bind(move |()| inner);
    outer_r.wakeup(());
    println!("outer while inner pends: {:?}", outer.state());
    inner_r.wakeup("resolved through the proxy");
    println!("outer now: {:?}", outer.state());
}
