//! A stream whose readers are all gone is closed to its producers: nothing can read it any more
//! (a reader is only ever made from another), so a push fails with `Closed` instead of reporting
//! success for an element that is then dropped, and a push waiting on a full bounded stream is
//! rejected, not let in to be dropped. Lwt keeps such a stream open: its elements pile up, and a
//! bounded push waits forever.

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::stream::{self, Closed};
use lwt_core::{main, Promise, State};

fn rejected_closed<T: 'static>(p: &Promise<T>) -> bool {
    p.rejection().is_some_and(|e| e.is::<Closed>())
}

#[test]
fn unbounded_push_fails_once_the_last_reader_is_dropped() {
    let (s, push) = stream::create::<u32>();
    assert_eq!(push.push(1), Ok(()));
    let other = s.clone();
    drop(s);
    assert_eq!(push.push(2), Ok(()), "a clone still reads");
    assert!(!push.is_closed());
    assert_eq!(other.get().state(), State::Fulfilled(Some(1)));
    drop(other);
    assert_eq!(push.push(3), Err(Closed));
    assert!(push.is_closed());
}

#[test]
fn waiting_bounded_push_is_rejected_when_the_last_reader_goes() {
    let (s, push) = stream::create_bounded::<u32>(1);
    assert!(push.push(0).is_fulfilled());
    let waiting = push.push(1);
    assert!(waiting.is_pending());
    drop(s);
    assert!(rejected_closed(&waiting), "{:?}", waiting.is_fulfilled());
    assert!(push.is_closed());
    assert!(!push.blocked());
    assert!(rejected_closed(&push.push(2)));
}

#[test]
fn a_pending_read_keeps_the_stream_readable() {
    let (s, push) = stream::create::<u32>();
    let read = s.get();
    drop(s);
    assert!(!push.is_closed(), "the pending read still takes an element");
    assert_eq!(push.push(7), Ok(()));
    assert_eq!(read.state(), State::Fulfilled(Some(7)));
    assert_eq!(push.push(8), Err(Closed));
}

#[test]
fn bounded_rendezvous_with_a_pending_read_then_no_reader() {
    let (s, push) = stream::create_bounded::<u32>(0);
    let read = s.get();
    drop(s);
    let p = push.push(1);
    assert!(p.is_fulfilled());
    assert_eq!(read.state(), State::Fulfilled(Some(1)));
    let q = push.push(2);
    assert!(rejected_closed(&q), "{:?}", q.is_fulfilled());
}

#[test]
fn a_derived_stream_is_a_reader_of_its_source() {
    let (s, push) = stream::create::<u32>();
    let doubled = s.map(|x| x * 2);
    drop(s);
    assert_eq!(push.push(1), Ok(()));
    assert_eq!(doubled.get().state(), State::Fulfilled(Some(2)));
    drop(doubled);
    assert_eq!(push.push(2), Err(Closed));
}

#[test]
fn a_producer_loop_stops_when_its_consumer_fails() {
    // The consumer stops at the third element with an error and drops the stream; the
    // producer, pushing into a bounded stream, learns it at its next push and stops too.
    let (s, push) = stream::create_bounded::<u32>(1);
    fn produce(push: stream::BoundedPush<u32>, i: u32) -> Promise<u32> {
        if i == 1000 {
            return Promise::ret(i);
        }
        let again = push.clone();
        push.push(i).try_bind(
            move |()| produce(again, i + 1),
            move |e| {
                if e.is::<Closed>() {
                    Promise::ret(i)
                } else {
                    Promise::fail(e)
                }
            },
        )
    }
    let producer = produce(push, 0);
    let consumer = s.iter_s(|x| {
        if x == 2 {
            Promise::fail(lwt_core::Exn::failure("consumer gave up"))
        } else {
            lwt_core::main::pause()
        }
    });
    drop(s); // the consumer holds its own handle while it runs
    assert!(main::run(consumer).is_err());
    let stopped_at = main::run(producer).unwrap();
    assert!(stopped_at < 10, "the producer ran on to {stopped_at}");
}

#[test]
fn closing_and_the_closed_promise_are_unchanged() {
    let (s, push) = stream::create::<u32>();
    let closed = s.closed();
    drop(s);
    assert!(
        closed.is_pending(),
        "only a close, or the producers' drop, closes the stream"
    );
    push.close();
    assert_eq!(closed.state(), State::Fulfilled(()));
}

#[test]
fn an_element_whose_drop_drops_the_last_producer_does_not_let_the_waiting_push_in() {
    // The last reader's buffered element is dropped first; its `drop` drops the last producer,
    // whose drop would let a waiting push in before the end. Nobody can read it: refused.
    type Slot = Rc<RefCell<Option<stream::BoundedPush<D>>>>;
    struct D(u32, Slot);
    impl Drop for D {
        fn drop(&mut self) {
            if self.0 == 0 {
                let p = self.1.borrow_mut().take();
                drop(p);
            }
        }
    }
    let slot: Slot = Rc::default();
    let (s, push) = stream::create_bounded::<D>(1);
    assert!(push.push(D(0, slot.clone())).is_fulfilled());
    let waiting = push.push(D(1, slot.clone()));
    assert!(waiting.is_pending());
    *slot.borrow_mut() = Some(push);
    drop(s);
    assert!(rejected_closed(&waiting), "{:?}", waiting.is_fulfilled());
}

#[test]
fn a_derived_stream_gone_with_a_request_filed_takes_one_more_element() {
    // The documented exception: `get_available` on an empty `map` files the link's request on
    // the source; given up, that request still takes the next element (as Lwt's `map`, a `from`
    // whose pending `get` does), and only then is the source left with no reader.
    let (s, push) = stream::create::<u32>();
    let m = s.map(|x| x);
    assert!(m.get_available().is_empty());
    drop(m);
    drop(s);
    assert!(!push.is_closed());
    assert_eq!(push.push(1), Ok(()));
    assert!(push.is_closed());
    assert_eq!(push.push(2), Err(Closed));
}
