//! A panic whose payload is not a string (`std::panic::panic_any(value)`, the closest Rust has
//! to Lwt's `raise` of an exception of one's own) keeps its value in the [`Panicked`]
//! rejection (found by review, rev45: the value was dropped and the rejection said only
//! "<non-string panic payload>").

use std::panic::{catch_unwind, panic_any, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use lwt_core::{main, preemptive, Exn, Panicked, Promise};

#[derive(Debug, PartialEq)]
struct Overdrawn(u32);

fn panicked(e: &Exn) -> &Panicked {
    e.downcast_ref::<Panicked>().expect("a Panicked rejection")
}

#[test]
fn a_typed_payload_is_kept_and_taken_once() {
    let p = Promise::ret(1).map(|_| -> u8 { panic_any(Overdrawn(3)) });
    let e = p.rejection().unwrap();
    assert_eq!(panicked(&e).message(), "<non-string panic payload>");
    let clone = panicked(&e).clone();
    let value = clone.take_payload().expect("the payload");
    assert_eq!(value.downcast_ref::<Overdrawn>(), Some(&Overdrawn(3)));
    // Clones share it: taken once.
    assert!(panicked(&e).take_payload().is_none());
    assert!(clone.take_payload().is_none());
}

#[test]
fn a_message_panic_has_no_payload() {
    let p = Promise::ret(1).map(|_| -> u8 { panic!("plain {}", 1) });
    let e = p.rejection().unwrap();
    assert_eq!(panicked(&e).message(), "plain 1");
    assert!(panicked(&e).take_payload().is_none());
}

#[test]
fn an_error_payload_gives_its_message() {
    let p = Promise::ret(1).map(|_| -> u8 { panic_any(std::io::Error::other("disk gone")) });
    let e = p.rejection().unwrap();
    assert_eq!(e.to_string(), "panicked: disk gone");
    let boxed: Box<dyn std::error::Error + Send + Sync> = "boxed".into();
    let p = Promise::ret(1).map(move |_| -> u8 { panic_any(boxed) });
    assert_eq!(p.rejection().unwrap().to_string(), "panicked: boxed");
}

#[test]
fn resuming_with_the_payload_goes_on_with_the_same_panic() {
    let p = Promise::ret(1).map(|_| -> u8 { panic_any(Overdrawn(7)) });
    let e = p.rejection().unwrap();
    let payload = panicked(&e).take_payload().unwrap();
    let again = catch_unwind(AssertUnwindSafe(|| resume_unwind(payload))).unwrap_err();
    assert_eq!(again.downcast_ref::<Overdrawn>(), Some(&Overdrawn(7)));
}

#[test]
fn a_detached_jobs_payload_comes_back_to_the_loop() {
    let e = main::run(preemptive::detach(|| -> u8 { panic_any(Overdrawn(9)) })).unwrap_err();
    let value = panicked(&e).take_payload().expect("the job's payload");
    assert_eq!(value.downcast_ref::<Overdrawn>(), Some(&Overdrawn(9)));
    let e = main::run(preemptive::detach(|| -> u8 { panic!("in a thread") })).unwrap_err();
    assert_eq!(panicked(&e).message(), "in a thread");
}

/// A payload whose own drop panics.
struct Explosive(Arc<AtomicU32>);

impl Drop for Explosive {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("payload drop");
    }
}

#[test]
fn a_payload_whose_drop_panics_is_dropped_without_unwinding() {
    let drops = Arc::new(AtomicU32::new(0));
    let payload = Explosive(drops.clone());
    let p = Promise::ret(1).map(move |_| -> u8 { panic_any(payload) });
    assert!(p.is_rejected());
    drop(p); // the last holder of the payload: its drop panics, and is caught
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn panicked_is_send_and_sync() {
    fn assert_send_sync<E: Send + Sync + std::error::Error + 'static>() {}
    assert_send_sync::<Panicked>();
}
