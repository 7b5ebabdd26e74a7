//! A `spawn_local` future whose `drop` panics once it has returned `Ready`. Found in review
//! (session 27): the future was dropped outside the catch that guards its poll, so the panic
//! unwound out of `main::run` (or `spawn_local`), the promise stayed pending for ever, and the
//! task stayed counted live, so a later `run` of a promise nothing can resolve blocked for ever
//! instead of failing. Each test runs on a thread of its own: the loop is per thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use lwt_core::{future::spawn_local, main, wait, Panicked};

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop of a finished future");
        }
    }
}

/// Ready with 7 at its first poll if `ready`, else pending once (waking itself) first.
struct Fut(PanicOnDrop, bool);

impl Future for Fut {
    type Output = u8;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
        let this = self.get_mut();
        if !this.1 {
            this.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(7)
    }
}

/// Runs `spawn_local(Fut(.., ready))` on a thread: what `run` gave (or "escaped"), and whether a
/// later `run` of a promise nothing can resolve returned.
fn outcome(ready: bool) -> (String, bool) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let run = std::panic::catch_unwind(|| {
            let p = spawn_local(Fut(PanicOnDrop, ready));
            match main::run(p) {
                Ok(v) => format!("fulfilled {v}"),
                Err(e) => match e.downcast_ref::<Panicked>() {
                    Some(p) => format!("panicked: {}", p.message()),
                    None => format!("rejected {e}"),
                },
            }
        });
        let first = run.unwrap_or_else(|_| "escaped".to_owned());
        tx.send(first).unwrap();
        let (stuck, _r) = wait::<()>();
        let _ = main::run(stuck);
        tx.send("returned".to_owned()).unwrap();
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let second = rx.recv_timeout(Duration::from_secs(10)).is_ok();
    (first, second)
}

#[test]
fn a_panicking_drop_after_a_later_poll_rejects_the_promise_and_ends_the_task() {
    assert_eq!(
        outcome(false),
        ("panicked: drop of a finished future".to_owned(), true)
    );
}

#[test]
fn a_panicking_drop_after_the_first_poll_rejects_the_promise_and_ends_the_task() {
    assert_eq!(
        outcome(true),
        ("panicked: drop of a finished future".to_owned(), true)
    );
}
