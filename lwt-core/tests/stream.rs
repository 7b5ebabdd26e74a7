//! Behaviour of `stream` (Lwt_stream): creation, reading, waiters and cancellation, bounded
//! streams, generators, transformers, consumers, and the `futures::Stream` bridge.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::stream::{self, Stream};
use lwt_core::{main, pick, task, wait, Exn, Failure, Panicked, Promise, Resolver, State};

#[path = "support/manual_stream.rs"]
mod manual_stream;
use manual_stream::{manual, next_resolver};

fn log() -> Rc<RefCell<Vec<i32>>> {
    Rc::default()
}

// ---- reading ------------------------------------------------------------------------------------

#[test]
fn get_waits_and_ends_with_none() {
    let (s, push) = stream::create::<i32>();
    let a = s.get();
    assert_eq!(a.state(), State::Pending);
    push.push(1).unwrap();
    assert_eq!(a.state(), State::Fulfilled(Some(1)));
    push.push(2).unwrap();
    push.close();
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
    assert_eq!(s.get().state(), State::Fulfilled(None));
    assert_eq!(s.get().state(), State::Fulfilled(None));
}

#[test]
fn next_on_an_empty_stream_rejects_with_a_matchable_empty() {
    let (s, push) = stream::create::<i32>();
    let n = s.next();
    push.close();
    let e = n.rejection().unwrap();
    assert!(e.is::<stream::Empty>());
    assert_eq!(e.to_string(), "the stream is empty");
    let caught = s
        .next()
        .catch(|e| Promise::ret(if e.is::<stream::Empty>() { -1 } else { 0 }));
    assert_eq!(caught.state(), State::Fulfilled(-1));
}

#[test]
fn peek_npeek_junk_njunk_nget() {
    let (s, push) = stream::create::<i32>();
    let peeked = s.peek();
    let npeeked = s.npeek(2);
    push.push(1).unwrap();
    assert_eq!(peeked.state(), State::Fulfilled(Some(1)));
    assert_eq!(npeeked.state(), State::Pending, "npeek waits for all n");
    push.push(2).unwrap();
    assert_eq!(npeeked.state(), State::Fulfilled(vec![1, 2]));
    for x in 3..=6 {
        push.push(x).unwrap();
    }
    assert!(s.junk().is_fulfilled());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![2, 3]));
    assert!(s.njunk(2).is_fulfilled());
    assert_eq!(s.get().state(), State::Fulfilled(Some(6)));
    let j = s.njunk(3);
    push.push(7).unwrap();
    assert_eq!(j.state(), State::Pending);
    push.close();
    assert!(
        j.is_fulfilled(),
        "njunk ends early at the end of the stream"
    );
    assert_eq!(s.peek().state(), State::Fulfilled(None));
    assert_eq!(s.npeek(3).state(), State::Fulfilled(vec![]));
    assert_eq!(s.nget(3).state(), State::Fulfilled(vec![]));
}

#[test]
fn nget_partial_then_close_gives_what_there_is() {
    // As Lwt: nget 3 on [1; 2] then close gives [1; 2].
    let (s, push) = stream::create::<i32>();
    let n = s.nget(3);
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert_eq!(n.state(), State::Pending);
    push.close();
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn canceled_nget_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let n = s.nget(3);
    push.push(1).unwrap();
    push.push(2).unwrap();
    let n2 = n.clone();
    n.cancel();
    assert!(n2.rejection().unwrap().is_canceled());
    assert_eq!(s.get_available(), vec![1, 2]);
}

#[test]
fn get_available_and_up_to() {
    let (s, push) = stream::create::<i32>();
    assert!(s.get_available().is_empty());
    for x in 1..=5 {
        push.push(x).unwrap();
    }
    assert_eq!(s.get_available_up_to(2), vec![1, 2]);
    assert_eq!(s.get_available(), vec![3, 4, 5]);
    let lazy = stream::of_iter(0..10);
    assert_eq!(lazy.get_available_up_to(3), vec![0, 1, 2]);
    assert_eq!(lazy.get_available().len(), 7);
    assert!(lazy.is_closed());
}

#[test]
fn get_available_leaves_elements_promised_to_waiting_reads() {
    let (s, push) = stream::create::<i32>();
    let n = s.nget(2);
    push.push(1).unwrap();
    assert!(s.get_available().is_empty());
    push.push(2).unwrap();
    assert_eq!(n.state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn is_empty_is_closed_closed_on_terminate() {
    let (s, push) = stream::create::<i32>();
    let empty = s.is_empty();
    let closed = s.closed();
    let terminated = Rc::new(Cell::new(0));
    let t = terminated.clone();
    s.on_terminate(move || t.set(t.get() + 1));
    assert!(empty.is_pending() && closed.is_pending() && !s.is_closed());
    push.push(1).unwrap();
    assert_eq!(empty.state(), State::Fulfilled(false));
    push.close();
    assert!(s.is_closed(), "closed even though 1 is unread");
    assert!(closed.is_fulfilled());
    assert_eq!(terminated.get(), 1);
    assert_eq!(s.is_empty().state(), State::Fulfilled(false));
    assert!(s.junk().is_fulfilled());
    assert_eq!(s.is_empty().state(), State::Fulfilled(true));
    // on an already-closed stream, on_terminate runs at once
    let t = terminated.clone();
    s.on_termination(move || t.set(t.get() + 10));
    assert_eq!(terminated.get(), 11);
}

#[test]
fn push_on_a_closed_stream_is_an_error() {
    let (s, push) = stream::create::<i32>();
    push.close();
    push.close(); // twice is fine
    assert_eq!(push.push(1), Err(stream::Closed));
    assert!(push.is_closed());
    assert_eq!(s.get().state(), State::Fulfilled(None));
}

#[test]
fn dropping_the_last_producer_closes() {
    let (s, push) = stream::create::<i32>();
    let other = push.clone();
    let all = s.to_list();
    push.push(1).unwrap();
    drop(push);
    assert!(all.is_pending());
    other.push(2).unwrap();
    drop(other);
    assert_eq!(all.state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn pushing_with_no_reader_left_is_refused() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let (s, push) = stream::create::<Counted>();
    push.push(Counted(dropped.clone())).unwrap();
    drop(s);
    assert_eq!(
        dropped.get(),
        1,
        "the buffered element went with the last reader"
    );
    assert_eq!(push.push(Counted(dropped.clone())), Err(stream::Closed));
    assert_eq!(dropped.get(), 2, "the refused element is dropped");
}

#[test]
fn callbacks_run_by_closing_may_use_the_stream() {
    for by_generator in [false, true] {
        let (s, push) = stream::create::<i32>();
        let s = if by_generator {
            drop(push);
            let mut n = 0;
            Rc::new(stream::from_direct(move || {
                n += 1;
                (n == 1).then_some(n)
            }))
        } else {
            push.push(1).unwrap();
            push.close();
            Rc::new(s)
        };
        let seen = Rc::new(RefCell::new(Vec::new()));
        let (s2, l) = (s.clone(), seen.clone());
        s.on_terminate(move || {
            l.borrow_mut().push(format!("{:?}", s2));
            l.borrow_mut().push(format!("{:?}", s2.get().state()));
        });
        let all = s.to_list();
        assert!(all.is_fulfilled());
        assert!(!seen.borrow().is_empty(), "by_generator: {by_generator}");
    }
}

#[test]
fn closing_again_from_a_callback_the_close_runs_is_harmless() {
    // Lwt 5.6.1's `push None` wakes the waiting readers before it resolves the stream's
    // `closed` promise: a reader's callback that closes the stream again resolves it first, and
    // the outer close then raises `Invalid_argument "Lwt.wakeup"` (found by ocaml_diff_sync, seed
    // 11, 60 operations). Here the second close does nothing, and the stream ends once.
    let (s, push) = stream::create::<i32>();
    let ended = Rc::new(Cell::new(0));
    let (push2, e) = (push.clone(), ended.clone());
    let read = s.get().map(move |x| {
        assert_eq!(x, None);
        push2.close(); // again, from inside the first close
        e.set(e.get() + 1);
    });
    let closed = s.closed();
    push.close();
    assert_eq!(read.state(), State::Fulfilled(()));
    assert_eq!(ended.get(), 1);
    assert!(closed.is_fulfilled() && s.is_closed());
    assert_eq!(push.push(1), Err(stream::Closed));
    assert_eq!(s.to_list().state(), State::Fulfilled(Vec::new()));
}

// ---- waiters --------------------------------------------------------------------------------------

#[test]
fn concurrent_reads_are_served_in_order() {
    let (s, push) = stream::create::<i32>();
    let a = s.get();
    let b = s.next();
    let c = s.nget(2);
    let d = s.get();
    for x in 1..=4 {
        push.push(x).unwrap();
    }
    assert_eq!(a.state(), State::Fulfilled(Some(1)));
    assert_eq!(b.state(), State::Fulfilled(2));
    assert_eq!(c.state(), State::Fulfilled(vec![3, 4]));
    assert_eq!(d.state(), State::Pending);
    push.close();
    assert_eq!(d.state(), State::Fulfilled(None));
}

#[test]
fn a_canceled_read_does_not_swallow_the_next_element() {
    let (s, push) = stream::create::<i32>();
    let lost = s.get();
    let later = s.get();
    lost.cancel();
    assert!(lost.rejection().unwrap().is_canceled());
    push.push(1).unwrap();
    assert_eq!(later.state(), State::Fulfilled(Some(1)));
    push.push(2).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
}

#[test]
fn a_read_lost_to_pick_leaves_its_element() {
    let (s, push) = stream::create::<i32>();
    let (timeout, fire) = task::<Option<i32>>();
    let raced = pick(vec![s.get(), timeout]);
    fire.wakeup(None);
    assert_eq!(raced.state(), State::Fulfilled(None));
    push.push(42).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(42)));
}

#[test]
fn a_canceled_read_unblocks_the_reads_behind_it() {
    let (s, push) = stream::create::<i32>();
    let big = s.nget(5);
    let small = s.get();
    push.push(1).unwrap();
    assert!(small.is_pending(), "served in order: nget first");
    big.cancel();
    assert_eq!(small.state(), State::Fulfilled(Some(1)));
}

#[test]
fn canceled_reads_do_not_accumulate() {
    let (s, push) = stream::create::<i32>();
    for _ in 0..100_000 {
        let (t, fire) = task::<Option<i32>>();
        let p = pick(vec![s.get(), t]);
        fire.wakeup(None);
        assert!(p.is_fulfilled());
    }
    assert!(s.waiting_reads() <= 1, "{} dead reads", s.waiting_reads());
    push.push(7).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(7)));
    // canceled in the middle of live reads: purged once they are half
    let live: Vec<_> = (0..10).map(|_| s.get()).collect();
    for _ in 0..1000 {
        s.get().cancel();
    }
    assert!(s.waiting_reads() <= 30, "{}", s.waiting_reads());
    for x in 0..10 {
        push.push(x).unwrap();
    }
    for (x, p) in live.iter().enumerate() {
        assert_eq!(p.state(), State::Fulfilled(Some(x as i32)));
    }
}

#[test]
fn a_read_outlives_its_handle() {
    fn first(s: Stream<i32>) -> Promise<Option<i32>> {
        s.get()
    }
    let (s, push) = stream::create::<i32>();
    let p = first(s);
    push.push(5).unwrap();
    assert_eq!(p.state(), State::Fulfilled(Some(5)));
}

#[test]
fn a_consumer_outlives_its_handle() {
    let (s, push) = stream::create::<i32>();
    let all = s.to_list();
    drop(s);
    push.push(1).unwrap();
    push.close();
    assert_eq!(all.state(), State::Fulfilled(vec![1]));
}

#[test]
fn canceling_a_consumer_cancels_its_pending_read() {
    let (s, push) = stream::create::<i32>();
    let seen = log();
    let l = seen.clone();
    let it = s.iter(move |x| l.borrow_mut().push(x));
    push.push(1).unwrap();
    it.cancel();
    assert!(it.rejection().unwrap().is_canceled());
    push.push(2).unwrap();
    assert_eq!(*seen.borrow(), [1]);
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)), "nothing lost");
}

#[test]
fn canceling_a_consumer_reaches_its_pending_callback() {
    let (s, push) = stream::create::<i32>();
    let steps = Rc::new(RefCell::new(Vec::new()));
    let st = steps.clone();
    let it = s.iter_s(move |_| {
        let (p, r) = lwt_core::task::<()>();
        st.borrow_mut().push((p.clone(), r));
        p
    });
    push.push(1).unwrap();
    push.push(2).unwrap(); // buffered: the consumer waits on its callback
    it.cancel();
    assert!(it.rejection().unwrap().is_canceled());
    assert_eq!(steps.borrow().len(), 1);
    assert!(steps.borrow()[0].0.rejection().unwrap().is_canceled());
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)), "nothing lost");
}

/// A consumer's cancel link points at its pending step while one runs, and back at the consumer
/// once it waits for an element again: a cancel then withdraws the wait.
#[test]
fn canceling_a_consumer_waiting_for_an_element_after_a_pending_step_withdraws_it() {
    let (s, push) = stream::create::<i32>();
    let steps = Rc::new(RefCell::new(Vec::new()));
    let st = steps.clone();
    let it = s.iter_s(move |_| {
        let (p, r) = lwt_core::wait::<()>();
        st.borrow_mut().push(r);
        p
    });
    push.push(1).unwrap(); // the step for 1 is pending
    let r = steps.borrow_mut().pop().expect("the step for 1 runs");
    r.wakeup(()); // the consumer now waits for an element
    it.cancel();
    assert!(it.rejection().unwrap().is_canceled());
    push.push(2).unwrap();
    assert!(steps.borrow().is_empty(), "no step for 2");
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)), "nothing lost");
}

#[test]
fn a_consumer_merged_into_a_bind_is_canceled_through_it_after_many_reads() {
    // The consumer's result becomes part of the bind's result; each later wait must still be
    // reachable from it.
    let (s, push) = stream::create::<i32>();
    let s = Rc::new(s);
    let seen = log();
    let l = seen.clone();
    let (start, go) = lwt_core::wait::<()>();
    let reader = s.clone();
    let outer = start.bind(move |()| reader.iter(move |x| l.borrow_mut().push(x)));
    go.wakeup(());
    for i in 1..=3 {
        push.push(i).unwrap();
    }
    outer.cancel();
    assert!(outer.rejection().unwrap().is_canceled());
    push.push(4).unwrap();
    assert_eq!(*seen.borrow(), [1, 2, 3]);
    assert_eq!(s.get().state(), State::Fulfilled(Some(4)), "nothing lost");
}

#[test]
fn canceled_consumers_leave_no_requests_behind() {
    // A consumer waits as a request in the cursor's queue; a canceled one must not stay there.
    let (s, push) = stream::create::<i32>();
    for _ in 0..10_000 {
        let sum = s.fold(0, |acc, x| acc + x);
        sum.cancel();
        assert!(sum.rejection().unwrap().is_canceled());
    }
    assert!(
        s.waiting_reads() <= 1,
        "{} requests left",
        s.waiting_reads()
    );
    let all = s.to_list();
    push.push(5).unwrap();
    push.close();
    assert_eq!(all.state(), State::Fulfilled(vec![5]), "nothing lost");
}

/// An `iter` consumer on a fresh stream, canceled and sent element 1 from inside one callback.
struct CanceledInCallback {
    stream: Stream<i32>,
    push: Rc<stream::Push<i32>>,
    consumer: Rc<Promise<()>>,
    seen: Rc<RefCell<Vec<i32>>>,
}

/// Builds a [`CanceledInCallback`], pushing before or after the cancel as `push_first` says.
fn cancel_and_push_in_one_callback(push_first: bool) -> CanceledInCallback {
    let (s, push) = stream::create::<i32>();
    let seen = log();
    let l = seen.clone();
    let it = Rc::new(s.iter(move |x| l.borrow_mut().push(x)));
    let push = Rc::new(push);
    let (go, start) = wait::<()>();
    let (it2, push2) = (it.clone(), push.clone());
    let done = go.map(move |()| {
        if push_first {
            push2.push(1).unwrap();
            it2.cancel();
        } else {
            it2.cancel();
            push2.push(1).unwrap();
        }
    });
    start.wakeup(());
    assert!(done.is_fulfilled());
    CanceledInCallback {
        stream: s,
        push,
        consumer: it,
        seen,
    }
}

#[test]
fn a_consumer_canceled_after_its_element_arrived_gives_it_back() {
    // Inside a callback the push only queues the consumer's turn; the cancel that follows finds
    // the element handed over already. The result is canceled all the same, `f` is not called
    // and the element goes back to the stream, as in Lwt 5.6.1 (its `iter` is `Canceled`, `f`
    // never called, and a `get` then gives 1). It used to stay pending and read on for ever.
    let CanceledInCallback {
        stream: s,
        push,
        consumer: it,
        seen,
    } = cancel_and_push_in_one_callback(true);
    assert!(it.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    push.push(2).unwrap();
    assert!(seen.borrow().is_empty());
    assert_eq!(
        s.nget(2).state(),
        State::Fulfilled(vec![1, 2]),
        "nothing lost"
    );
}

#[test]
fn an_element_pushed_right_after_a_consumer_is_canceled_is_not_lost() {
    // Inside a callback the cancel withdraws the consumer's request through a queued job; a push
    // that comes before the job runs finds the request still in the cursor's queue and must skip
    // it (it is dead), not hand it the element.
    let CanceledInCallback {
        stream: s,
        push: _push,
        consumer: it,
        seen,
    } = cancel_and_push_in_one_callback(false);
    assert!(it.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)), "nothing lost");
}

#[test]
fn a_dropped_reader_whose_last_read_is_canceled_releases_the_buffer() {
    // Found by the model test (tests/stream_model.rs).
    let (s, push) = stream::create::<i32>();
    let other = s.clone();
    let read = s.nget(2);
    drop(s);
    push.push(1).unwrap();
    read.cancel();
    assert_eq!(other.get_available(), vec![1]);
    assert_eq!(other.buffered(), 0);
}

// ---- clone ------------------------------------------------------------------------------------------

#[test]
fn clones_see_the_same_elements_from_the_current_point() {
    let (s, push) = stream::create::<i32>();
    push.push(1).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    push.push(2).unwrap();
    let c = s.clone();
    push.push(3).unwrap();
    push.close();
    assert_eq!(c.to_list().state(), State::Fulfilled(vec![2, 3]));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

#[test]
fn clones_wait_independently() {
    let (s, push) = stream::create::<String>();
    let c = s.clone();
    let a = s.get();
    let b = c.get();
    push.push("x".into()).unwrap();
    assert_eq!(a.state(), State::Fulfilled(Some("x".into())));
    assert_eq!(b.state(), State::Fulfilled(Some("x".into())));
    assert_eq!(s.buffered(), 0, "read by both: dropped");
}

#[test]
fn buffered_elements_go_when_the_slowest_clone_reads_or_is_dropped() {
    let s = stream::of_list((0..100).collect::<Vec<i32>>());
    let slow = s.clone();
    assert!(s.nget(60).is_fulfilled());
    assert_eq!(s.buffered(), 100);
    assert!(slow.njunk(50).is_fulfilled());
    assert_eq!(s.buffered(), 50);
    drop(slow);
    assert_eq!(s.buffered(), 40);
}

#[test]
fn clones_share_a_generator() {
    let (s, rs, calls) = manual::<i32>();
    let c = s.clone();
    let a = s.get();
    let b = c.get();
    assert_eq!(calls.get(), 1, "one generation for both readers");
    next_resolver(&rs).wakeup(Some(10));
    assert_eq!(a.state(), State::Fulfilled(Some(10)));
    assert_eq!(b.state(), State::Fulfilled(Some(10)));
    let a = s.get();
    assert_eq!(calls.get(), 2);
    next_resolver(&rs).wakeup(Some(11));
    assert_eq!(a.state(), State::Fulfilled(Some(11)));
    assert_eq!(
        c.get().state(),
        State::Fulfilled(Some(11)),
        "buffered for the clone"
    );
    assert_eq!(calls.get(), 2);
}

#[test]
fn moved_elements_need_no_clone() {
    struct NoClone(i32);
    let (s, push) = stream::create::<NoClone>();
    push.push(NoClone(3)).unwrap();
    push.close();
    let sum = s.fold(0, |acc, x| acc + x.0);
    assert_eq!(sum.state(), State::Fulfilled(3));
}

// ---- bounded --------------------------------------------------------------------------------------

#[test]
fn bounded_push_waits_when_full() {
    let (s, push) = stream::create_bounded::<i32>(2);
    assert!(push.push(1).is_fulfilled());
    assert!(push.push(2).is_fulfilled());
    let third = push.push(3);
    assert!(third.is_pending());
    assert!(push.blocked());
    assert_eq!(push.count(), 2);
    assert!(push.push(4).rejection().unwrap().is::<stream::Full>());
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    assert!(third.is_fulfilled());
    assert!(!push.blocked());
    assert_eq!(push.count(), 2);
    push.close();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

#[test]
fn bounded_close_rejects_the_waiting_push_with_closed() {
    let (s, push) = stream::create_bounded::<i32>(1);
    assert!(push.push(1).is_fulfilled());
    let waiting = push.push(2);
    push.close();
    assert!(waiting.rejection().unwrap().is::<stream::Closed>());
    assert!(push.push(3).rejection().unwrap().is::<stream::Closed>());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1]));
}

#[test]
fn bounded_canceled_push_withdraws_its_element() {
    let (s, push) = stream::create_bounded::<i32>(1);
    assert!(push.push(1).is_fulfilled());
    let waiting = push.push(2);
    waiting.cancel();
    assert!(!push.blocked());
    assert!(push.push(3).is_pending());
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
}

#[test]
fn bounded_canceled_push_drops_its_element_also_when_canceled_through_a_bind() {
    // The waiting push's promise tells the stream of its cancel through a weak link: the element
    // is dropped at once, however the cancel reaches the promise.
    let element = Rc::new(());
    let (s, push) = stream::create_bounded::<Rc<()>>(0);
    let (start, go) = lwt_core::wait::<()>();
    let (push2, e2) = (push.clone(), element.clone());
    let outer = start.bind(move |()| push2.push(e2));
    go.wakeup(());
    assert!(push.blocked());
    assert_eq!(
        Rc::strong_count(&element),
        2,
        "the stream holds the waiting element"
    );
    outer.cancel();
    assert!(outer.rejection().unwrap().is_canceled());
    assert_eq!(
        Rc::strong_count(&element),
        1,
        "the canceled push dropped its element"
    );
    assert!(!push.blocked());
    // The stream goes on: a new push waits, a reader takes it.
    let next = push.push(Rc::new(()));
    assert!(next.is_pending());
    assert!(matches!(s.get().state(), State::Fulfilled(Some(_))));
    assert!(next.is_fulfilled());
    drop(s);
}

#[test]
fn bounded_resize_lets_a_waiting_push_in() {
    let (s, push) = stream::create_bounded::<i32>(1);
    assert_eq!(push.size(), 1);
    assert!(push.push(1).is_fulfilled());
    let p = push.push(2);
    push.resize(2);
    assert_eq!(push.size(), 2);
    assert!(p.is_fulfilled());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn bounded_zero_is_a_rendezvous() {
    // Lwt deadlocks here (push and get both stay pending); here a reader takes the element.
    let (s, push) = stream::create_bounded::<i32>(0);
    let p = push.push(1);
    assert!(p.is_pending());
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    assert!(p.is_fulfilled());
    let g = s.get();
    assert!(
        push.push(2).is_fulfilled(),
        "a reader waits: the push goes through"
    );
    assert_eq!(g.state(), State::Fulfilled(Some(2)));
}

#[test]
fn get_available_takes_a_waiting_push_it_made_room_for() {
    // As Lwt 5.6.1 (checked with real Lwt): taking an element makes room, which lets the waiting
    // push in, and `get_available` takes it too; `get_available_up_to` as far as `n` allows.
    let full = || {
        let (s, push) = stream::create_bounded::<i32>(1);
        assert!(push.push(7).is_fulfilled());
        let waiting = push.push(40);
        assert!(waiting.is_pending());
        (s, push, waiting)
    };
    let (s, push, waiting) = full();
    assert_eq!(s.get_available(), vec![7, 40]);
    assert!(waiting.is_fulfilled());
    assert_eq!(push.count(), 0);
    let (s, push, waiting) = full();
    assert_eq!(s.get_available_up_to(2), vec![7, 40]);
    assert!(waiting.is_fulfilled());
    assert_eq!(push.count(), 0);
    let (s, push, waiting) = full();
    assert_eq!(s.get_available_up_to(1), vec![7]);
    assert!(waiting.is_fulfilled(), "room again: 40 is in");
    assert_eq!(push.count(), 1);
    // `last_new` and `junk_old` read what `get_available` reads.
    let (s, push, _waiting) = full();
    assert_eq!(s.last_new().state(), State::Fulfilled(40));
    assert_eq!(push.count(), 0);
    let (s, push, _waiting) = full();
    assert!(s.junk_old().is_fulfilled());
    assert_eq!(push.count(), 0);
    // A bound of 2: [1; 2; 3] on Lwt.
    let (s, push) = stream::create_bounded::<i32>(2);
    assert!(push.push(1).is_fulfilled());
    assert!(push.push(2).is_fulfilled());
    let waiting = push.push(3);
    assert_eq!(s.get_available(), vec![1, 2, 3]);
    assert!(waiting.is_fulfilled());
    // Over a bound that `resize` lowered, the push comes in once the count is under the new bound
    // (Lwt lets it in at the first read; the result is the same: [61; 98; 68]).
    let (s, push) = stream::create_bounded::<i32>(2);
    assert!(push.push(61).is_fulfilled());
    assert!(push.push(98).is_fulfilled());
    push.resize(1);
    let waiting = push.push(68);
    assert_eq!(s.get_available(), vec![61, 98, 68]);
    assert!(waiting.is_fulfilled());
    // Resized to 0: the emptied buffer takes the push as a rendezvous ([1; 2] on Lwt too).
    let (s, push) = stream::create_bounded::<i32>(1);
    assert!(push.push(1).is_fulfilled());
    push.resize(0);
    let waiting = push.push(2);
    assert_eq!(s.get_available(), vec![1, 2]);
    assert!(waiting.is_fulfilled());
    assert_eq!(push.count(), 0);
}

#[test]
fn get_available_on_a_bound_of_0_takes_the_waiting_push() {
    // A rendezvous, as `get` (which is fulfilled at once here): the reader takes the element.
    // (Lwt's push waits until a `resize`, and its `get_available` gives [].)
    let (s, push) = stream::create_bounded::<i32>(0);
    let waiting = push.push(5);
    assert!(waiting.is_pending());
    assert_eq!(s.get_available_up_to(0), Vec::<i32>::new());
    assert!(waiting.is_pending(), "up to 0: nothing taken");
    assert_eq!(s.get_available(), vec![5]);
    assert!(waiting.is_fulfilled());
    assert_eq!(push.count(), 0);
    assert!(s.get_available().is_empty());
}

#[test]
fn a_read_over_a_lowered_bound_leaves_the_push_waiting() {
    // `resize` below the count keeps the bound the user set: a waiting push comes in once the
    // count is under it. (Lwt lets it in at every read, leaving the count over the bound.)
    let (s, push) = stream::create_bounded::<i32>(2);
    assert!(push.push(61).is_fulfilled());
    assert!(push.push(98).is_fulfilled());
    push.resize(1);
    let waiting = push.push(68);
    assert_eq!(s.get().state(), State::Fulfilled(Some(61)));
    assert!(waiting.is_pending(), "count 1, bound 1");
    assert_eq!(push.count(), 1);
    assert_eq!(s.get().state(), State::Fulfilled(Some(98)));
    assert!(waiting.is_fulfilled(), "count 0: room");
    assert_eq!(s.get().state(), State::Fulfilled(Some(68)));
}

#[test]
fn bounded_producer_consumer_under_the_loop() {
    let (s, push) = stream::create_bounded::<u32>(3);
    let max_count = Rc::new(Cell::new(0));
    let m = max_count.clone();
    let push = Rc::new(push);
    let pusher = push.clone();
    let producer = lwt_core::control::for_each(0..1000_u32, move |i| {
        m.set(m.get().max(pusher.count()));
        pusher.push(i)
    })
    .map(move |()| push.close());
    let sum = s.fold_s(0_u32, |acc, x| main::pause().map(move |()| acc + x));
    let (total, ()) = main::run(lwt_core::both(sum, producer)).unwrap();
    assert_eq!(total, 999 * 1000 / 2);
    assert!(max_count.get() <= 3, "count went to {}", max_count.get());
}

#[test]
fn clones_of_a_bounded_stream_count_the_slowest_reader() {
    let (s, push) = stream::create_bounded::<i32>(2);
    let slow = s.clone();
    assert!(push.push(1).is_fulfilled());
    assert!(push.push(2).is_fulfilled());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![1, 2]));
    let p = push.push(3);
    assert!(p.is_pending(), "the slow clone has not read 1 and 2");
    assert!(slow.junk().is_fulfilled());
    assert!(p.is_fulfilled());
}

/// Dropping the last producer while a push waits closes the stream after the waiting element:
/// Lwt delivers it (its stream just stays open); here it was dropped and the push rejected.
/// Found in review (session 23).
#[test]
fn dropping_the_last_bounded_producer_keeps_the_waiting_element() {
    let (s, push) = stream::create_bounded(1);
    assert!(push.push(1).is_fulfilled());
    let waiting = push.push(2);
    assert!(waiting.is_pending());
    drop(push);
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(waiting.state(), State::Fulfilled(()));
}

// ---- generators ---------------------------------------------------------------------------------

#[test]
fn from_is_lazy_and_never_called_twice_at_once() {
    let (s, rs, calls) = manual::<i32>();
    assert_eq!(calls.get(), 0);
    let a = s.get();
    let b = s.get();
    assert_eq!(calls.get(), 1);
    next_resolver(&rs).wakeup(Some(1));
    assert_eq!(a.state(), State::Fulfilled(Some(1)));
    assert_eq!(calls.get(), 2, "b still waits: asked again");
    next_resolver(&rs).wakeup(Some(2));
    assert_eq!(b.state(), State::Fulfilled(Some(2)));
    assert_eq!(calls.get(), 2, "nobody waits: not asked");
    let c = s.get();
    next_resolver(&rs).wakeup(None);
    assert_eq!(c.state(), State::Fulfilled(None));
    assert!(s.is_closed());
    assert_eq!(s.get().state(), State::Fulfilled(None));
    assert_eq!(calls.get(), 3, "never called after None");
}

/// An element whose `drop` uses the stream it was in: it pushes a plain element (found in review:
/// elements were dropped while the stream's state was borrowed, so this panicked).
enum Item {
    Probe(Rc<RefCell<Option<stream::Push<Item>>>>),
    Plain,
}

impl Drop for Item {
    fn drop(&mut self) {
        if let Item::Probe(home) = self {
            if let Some(push) = &*home.borrow() {
                let _ = push.push(Item::Plain);
            }
        }
    }
}

#[test]
fn an_element_may_use_its_stream_when_it_is_dropped() {
    let home = Rc::new(RefCell::new(None));
    let probe = || Item::Probe(home.clone());
    // Junked in the stream.
    let (s, push) = stream::create::<Item>();
    *home.borrow_mut() = Some(push);
    home.borrow().as_ref().unwrap().push(probe()).unwrap();
    assert!(s.junk().is_fulfilled());
    let next = s.get().map(|x| matches!(x, Some(Item::Plain)));
    assert_eq!(next.state(), State::Fulfilled(true));
    // Left unread by the last reader, which goes.
    let (s, push) = stream::create::<Item>();
    *home.borrow_mut() = Some(push);
    let mapped = s.map(|x| x);
    home.borrow().as_ref().unwrap().push(probe()).unwrap();
    home.borrow().as_ref().unwrap().push(probe()).unwrap();
    drop(mapped);
    // No reader left: pushing drops the element at once.
    home.borrow().as_ref().unwrap().push(probe()).unwrap();
    home.borrow_mut().take();
}

/// Found in review (session 20): a read whose promise was dropped (not canceled) still takes
/// its element, as in Lwt, and the element was dropped with the read's node while the stream
/// was borrowed: an element whose `drop` pushed to its stream panicked ("already borrowed").
#[test]
fn an_element_taken_by_a_dropped_read_may_use_its_stream_when_it_is_dropped() {
    let home = Rc::new(RefCell::new(None));
    let reads: [fn(&Stream<Item>); 3] =
        [|s| drop(s.get()), |s| drop(s.nget(1)), |s| drop(s.next())];
    for read in reads {
        let (s, push) = stream::create::<Item>();
        *home.borrow_mut() = Some(push);
        read(&s);
        home.borrow()
            .as_ref()
            .unwrap()
            .push(Item::Probe(home.clone()))
            .unwrap();
        let next = s.get().map(|x| matches!(x, Some(Item::Plain)));
        assert_eq!(next.state(), State::Fulfilled(true));
    }
    home.borrow_mut().take();
}

/// The same for the clone a dropped `peek` was given.
#[test]
fn an_element_cloned_for_a_dropped_peek_may_use_its_stream_when_it_is_dropped() {
    #[derive(Clone)]
    struct Noisy(Rc<RefCell<Option<stream::Push<Noisy>>>>, bool);
    impl Drop for Noisy {
        fn drop(&mut self) {
            if self.1 {
                if let Some(push) = &*self.0.borrow() {
                    let _ = push.push(Noisy(self.0.clone(), false));
                }
            }
        }
    }
    let home = Rc::new(RefCell::new(None));
    let (s, push) = stream::create::<Noisy>();
    *home.borrow_mut() = Some(push);
    drop(s.peek());
    home.borrow()
        .as_ref()
        .unwrap()
        .push(Noisy(home.clone(), true))
        .unwrap();
    // The peeked element, then the one its clone's drop pushed.
    assert_eq!(
        s.nget(2)
            .map(|v| v.iter().map(|n| n.1).collect::<Vec<_>>())
            .state(),
        State::Fulfilled(vec![true, false])
    );
    home.borrow_mut().take();
}

/// Found in review (session 20): `combine` waited for both reads, so a failed read of the first
/// stream stayed pending until the second gave an element (which was then lost). Lwt's is
/// `t1 >>= fun n1 -> t2 >>= ...`: the failure is the pair's at once (Lwt 5.6.1 gives
/// `Fail Failure("a broke")`).
#[test]
fn combine_rejects_at_once_when_the_first_read_fails() {
    let a = stream::from(|| Promise::<Option<i32>>::fail_with("a broke"));
    let (b, _push_b) = stream::create::<i32>();
    let read = a.combine(b).get();
    assert_eq!(
        read.rejection().map(|e| e.to_string()),
        Some("a broke".to_string())
    );
    // And the pairs still come in order when both have elements.
    let (a, push_a) = stream::create::<i32>();
    let (b, push_b) = stream::create::<&str>();
    let pairs = a.combine(b);
    let first = pairs.get();
    push_b.push("x").unwrap();
    assert!(first.is_pending());
    push_a.push(1).unwrap();
    assert_eq!(first.state(), State::Fulfilled(Some((1, "x"))));
}

#[test]
fn nget_and_npeek_of_more_than_the_bound_let_the_waiting_pushes_in() {
    // Found in review: `nget(2)` on a stream bounded at 1 waited for a second element that the
    // bound kept out, and the push waited for room: both forever. Lwt's `nget` gives [1; 2].
    let (s, push) = stream::create_bounded::<u32>(1);
    assert!(push.push(1).is_fulfilled());
    let second = push.push(2);
    assert!(second.is_pending());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![1, 2]));
    assert!(second.is_fulfilled());
    // npeek: the elements stay, the push it needed is in.
    assert!(push.push(3).is_fulfilled());
    let fourth = push.push(4);
    assert_eq!(s.npeek(2).state(), State::Fulfilled(vec![3, 4]));
    assert!(fourth.is_fulfilled());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![3, 4]));
    // Asked before the pushes: each push comes in as the reader needs it.
    let (s, push) = stream::create_bounded::<u32>(1);
    let three = s.nget(3);
    for i in 0..3 {
        assert!(push.push(i).is_fulfilled(), "push {i} is let in");
    }
    assert_eq!(three.state(), State::Fulfilled(vec![0, 1, 2]));
    // Once served, the bound holds again.
    assert!(push.push(3).is_fulfilled());
    assert!(push.push(4).is_pending());
}

#[test]
fn an_nget_within_what_the_slowest_clone_holds_keeps_the_bound() {
    // Found in review of the change above: a fast clone's `nget(1)` on an empty cursor let
    // pushes in past a full bound that the slow clone had not read.
    let (s, push) = stream::create_bounded::<i32>(2);
    let slow = s.clone();
    assert!(push.push(1).is_fulfilled());
    assert!(push.push(2).is_fulfilled());
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![1, 2]));
    let waiting = s.nget(1);
    let third = push.push(3);
    assert!(third.is_pending(), "the slow clone has not read 1 and 2");
    assert!(waiting.is_pending());
    assert_eq!(slow.get().state(), State::Fulfilled(Some(1)));
    assert!(third.is_fulfilled(), "room again");
    assert_eq!(waiting.state(), State::Fulfilled(vec![3]));
}

/// An element whose `drop` looks at the stream it was pushed to.
struct Looks(Rc<RefCell<Option<stream::Stream<Looks>>>>);

impl Drop for Looks {
    fn drop(&mut self) {
        if let Some(s) = &*self.0.borrow() {
            let _ = s.is_closed();
        }
    }
}

#[test]
fn closing_a_bounded_stream_drops_the_waiting_push_outside_the_borrow() {
    // Found in review: the waiting push's element was dropped while the stream's state was
    // borrowed, so an element whose `drop` looks at the stream panicked (double borrow).
    let home = Rc::new(RefCell::new(None));
    let (s, push) = stream::create_bounded::<Looks>(1);
    *home.borrow_mut() = Some(s);
    assert!(push.push(Looks(home.clone())).is_fulfilled());
    let waiting = push.push(Looks(home.clone()));
    assert!(waiting.is_pending());
    push.close();
    assert!(
        waiting.is_rejected(),
        "the waiting push is rejected with Closed"
    );
    // The same through the last producer handle going away.
    let (s2, push2) = stream::create_bounded::<Looks>(1);
    let home2 = Rc::new(RefCell::new(Some(s2)));
    assert!(push2.push(Looks(home2.clone())).is_fulfilled());
    let waiting2 = push2.push(Looks(home2.clone()));
    drop(push2);
    // The waiting push comes in before the end (as Lwt's next read would take it).
    assert!(waiting2.is_fulfilled());
    // Dropping the streams drops the elements they hold, which look at the (then empty) cells.
    let streams = (home.borrow_mut().take(), home2.borrow_mut().take());
    drop(streams);
}

#[test]
fn a_generator_failure_is_not_handed_to_a_canceled_consumer() {
    // Found in review: the failure went to the canceled consumer's request (still queued until
    // its cancel is processed), whose job then panicked; it must skip it and be kept for the next
    // read instead.
    let pending: Rc<RefCell<Vec<Resolver<Option<i32>>>>> = Rc::default();
    let p2 = pending.clone();
    let s = stream::from(move || {
        let (p, r) = task::<Option<i32>>();
        p2.borrow_mut().push(r);
        p
    });
    let sum = Rc::new(s.fold(0, |a, x| a + x));
    let (go, start) = wait::<()>();
    let (sum2, pend) = (sum.clone(), pending.clone());
    let done = go.map(move |()| {
        let r = pend.borrow_mut().pop().expect("the generator was called");
        r.wakeup_later_exn(Exn::failure("boom"));
        sum2.cancel();
    });
    start.wakeup(());
    assert!(done.is_fulfilled());
    assert!(sum.rejection().unwrap().is_canceled());
    let e = s
        .get()
        .rejection()
        .expect("the failure is kept for the next read");
    assert_eq!(e.downcast_ref::<Failure>().unwrap().0, "boom");
}

#[test]
fn a_derived_stream_closed_while_it_answers_a_top_level_read_ends_that_read() {
    // Found in review: a rendezvous source serves the link at once, the filter drops the element
    // and closes the source, so the derived stream ends before the read that asked is filed.
    let (s, push) = stream::create_bounded::<i32>(0);
    let push = Rc::new(push);
    let waiting = push.push(-1);
    assert!(waiting.is_pending());
    let closer = push.clone();
    let d = s.filter(move |&x| {
        if x < 0 {
            closer.close();
        }
        x >= 0
    });
    assert_eq!(d.get().state(), State::Fulfilled(None));
    assert_eq!(d.to_list().state(), State::Fulfilled(vec![]));
}

#[test]
fn from_failure_rejects_the_waiting_reads_then_goes_on() {
    // As Lwt: to_list fails with the generator's failure; the next read asks again.
    let n = Rc::new(Cell::new(0));
    let m = n.clone();
    let s = stream::from(move || {
        m.set(m.get() + 1);
        match m.get() {
            2 => Promise::fail_with("boom"),
            k if k > 3 => Promise::ret(None),
            k => Promise::ret(Some(k)),
        }
    });
    let e = s.to_list().rejection().unwrap();
    assert_eq!(e.downcast_ref::<Failure>().unwrap().0, "boom");
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
}

#[test]
fn from_failure_with_nobody_waiting_goes_to_the_next_read() {
    let (s, rs, _) = manual::<i32>();
    let a = s.get();
    a.cancel();
    next_resolver(&rs).wakeup_exn(Exn::failure("late"));
    let e = s.get().rejection().unwrap();
    assert_eq!(e.to_string(), "late");
    let b = s.get();
    next_resolver(&rs).wakeup(Some(1));
    assert_eq!(b.state(), State::Fulfilled(Some(1)));
}

#[test]
fn a_panicking_generator_rejects_the_read() {
    let s = stream::from_direct::<i32>(|| panic!("generator broke"));
    let e = s.get().rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<Panicked>().unwrap().message(),
        "generator broke"
    );
}

#[test]
fn a_generator_element_nobody_waits_for_is_buffered() {
    let (s, rs, _) = manual::<i32>();
    let a = s.get();
    a.cancel();
    next_resolver(&rs).wakeup(Some(9));
    assert_eq!(s.buffered(), 1);
    assert_eq!(s.get().state(), State::Fulfilled(Some(9)));
}

#[test]
fn a_generator_may_read_its_own_stream() {
    // The generator is out while it runs: a read from inside it waits (in order) instead of
    // re-entering the generator.
    let cell: Rc<RefCell<Option<Rc<Stream<i32>>>>> = Rc::default();
    let inner = Rc::new(RefCell::new(None));
    let (c, i) = (cell.clone(), inner.clone());
    let n = Rc::new(Cell::new(0));
    let s = Rc::new(stream::from(move || {
        n.set(n.get() + 1);
        if n.get() == 1 {
            let s = c.borrow().clone().unwrap();
            *i.borrow_mut() = Some(s.get());
        }
        Promise::ret((n.get() <= 2).then_some(n.get()))
    }));
    *cell.borrow_mut() = Some(s.clone());
    let first = s.get();
    let reentrant = inner.borrow_mut().take().unwrap();
    // The inner read was queued first, so it gets the first element.
    assert_eq!(reentrant.state(), State::Fulfilled(Some(1)));
    assert_eq!(first.state(), State::Fulfilled(Some(2)));
    cell.borrow_mut().take(); // break the cycle stream -> generator -> stream
}

#[test]
fn of_list_of_iter_of_string_ret() {
    let s = stream::of_list(vec![1, 2]);
    assert!(s.is_closed());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    let pulled = Rc::new(Cell::new(0));
    let p = pulled.clone();
    let lazy = stream::of_iter((0..).inspect(move |_| p.set(p.get() + 1)));
    assert_eq!(pulled.get(), 0);
    assert_eq!(lazy.nget(3).state(), State::Fulfilled(vec![0, 1, 2]));
    assert_eq!(pulled.get(), 3);
    assert_eq!(
        stream::of_string("hé!").to_list().state(),
        State::Fulfilled(vec!['h', 'é', '!'])
    );
    assert_eq!(stream::ret(1).to_list().state(), State::Fulfilled(vec![1]));
    let failed = stream::ret_lwt::<i32>(Promise::fail_with("no"));
    assert!(failed.get().is_rejected());
    assert_eq!(failed.get().state(), State::Fulfilled(None));
}

#[test]
fn of_seq_forces_lazily() {
    let forced = Rc::new(Cell::new(0));
    let f = forced.clone();
    let sq = lwt_core::seq::unfold(0, move |n| {
        f.set(f.get() + 1);
        Some((n, n + 1))
    });
    let s = stream::of_seq(sq);
    assert_eq!(forced.get(), 0);
    assert_eq!(s.nget(2).state(), State::Fulfilled(vec![0, 1]));
    assert_eq!(forced.get(), 2);
}

// ---- transformers -------------------------------------------------------------------------------

#[test]
fn map_and_map_s_with_pending_promises() {
    let (s, push) = stream::create::<i32>();
    let waits: Rc<RefCell<Vec<Resolver<i32>>>> = Rc::default();
    let w = waits.clone();
    let mapped = s.map(|x| x + 1).map_s(move |x| {
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p.map(move |y| x * 100 + y)
    });
    let all = mapped.to_list();
    push.push(1).unwrap();
    push.push(2).unwrap();
    push.close();
    assert_eq!(waits.borrow().len(), 1, "map_s runs one callback at a time");
    let r = waits.borrow_mut().remove(0);
    r.wakeup(7);
    let r = waits.borrow_mut().remove(0);
    r.wakeup(8);
    assert_eq!(all.state(), State::Fulfilled(vec![207, 308]));
}

#[test]
fn filters() {
    let s = stream::of_list((1..=10).collect::<Vec<i32>>());
    let evens = s.filter(|x| x % 2 == 0);
    let big = evens.filter_s(|x| Promise::ret(*x > 4));
    let halves = big.filter_map(|x| (x != 8).then_some(x / 2));
    let strs = halves.filter_map_s(|x| main::pause().map(move |()| Some(x.to_string())));
    assert_eq!(
        main::run(strs.to_list()).unwrap(),
        vec!["3".to_string(), "5".to_string()]
    );
}

#[test]
fn map_list_and_flatten() {
    let s = stream::of_list(vec![0, 1, 2, 3]).map_list(|x| vec![x; x]);
    assert_eq!(
        s.to_list().state(),
        State::Fulfilled(vec![1, 2, 2, 3, 3, 3])
    );
    let s = stream::of_list(vec![vec![], vec!["a"], vec![], vec!["b", "c"]]).flatten();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec!["a", "b", "c"]));
    let s = stream::of_list(vec![2, 0, 1])
        .map_list_s(|x| main::pause().map(move |()| (0..x).collect::<Vec<_>>()));
    assert_eq!(main::run(s.to_list()).unwrap(), vec![0, 1, 0]);
}

#[test]
fn append_concat_combine() {
    let (a, push_a) = stream::create::<i32>();
    let both = a.append(stream::of_list(vec![3]));
    let all = both.to_list();
    push_a.push(1).unwrap();
    push_a.push(2).unwrap();
    assert!(all.is_pending());
    push_a.close();
    assert_eq!(all.state(), State::Fulfilled(vec![1, 2, 3]));

    let (top, push_top) = stream::create::<Stream<i32>>();
    let flat = stream::concat(top);
    let all = flat.to_list();
    push_top.push(stream::of_list(vec![1])).unwrap();
    push_top.push(stream::of_list(vec![])).unwrap();
    let (inner, push_inner) = stream::create();
    push_top.push(inner).unwrap();
    push_inner.push(2).unwrap();
    push_top.close();
    assert!(all.is_pending());
    push_inner.close();
    assert_eq!(all.state(), State::Fulfilled(vec![1, 2]));

    let (x, push_x) = stream::create::<i32>();
    let pairs = x.combine(stream::of_list(vec!['a', 'b']));
    let all = pairs.to_list();
    push_x.push(1).unwrap();
    push_x.push(2).unwrap();
    push_x.push(3).unwrap();
    assert_eq!(all.state(), State::Fulfilled(vec![(1, 'a'), (2, 'b')]));
}

#[test]
fn choose_takes_whichever_has_an_element_first() {
    let (a, push_a) = stream::create::<&str>();
    let (b, push_b) = stream::create::<&str>();
    let chosen = stream::choose(vec![a, b]);
    let first = chosen.get();
    push_b.push("b1").unwrap();
    assert_eq!(first.state(), State::Fulfilled(Some("b1")));
    push_a.push("a1").unwrap();
    push_a.push("a2").unwrap();
    push_b.push("b2").unwrap();
    // Both have elements: they take turns.
    assert_eq!(
        chosen.nget(3).state(),
        State::Fulfilled(vec!["a1", "b2", "a2"])
    );
    push_a.close();
    let last = chosen.get();
    assert!(last.is_pending(), "b is still open");
    push_b.close();
    assert_eq!(last.state(), State::Fulfilled(None));
}

#[test]
fn choose_does_not_pile_observers_on_a_quiet_stream() {
    let (quiet, _keep) = stream::create::<i32>();
    let (busy, push) = stream::create::<i32>();
    let quiet2 = quiet.clone();
    let chosen = stream::choose(vec![quiet, busy]);
    for i in 0..10_000 {
        let p = chosen.get();
        push.push(i).unwrap();
        assert_eq!(p.state(), State::Fulfilled(Some(i)));
    }
    // the quiet stream has one read pending (choose's), not ten thousand
    drop(chosen);
    assert_eq!(quiet2.waiting_reads(), 0);
}

#[test]
fn dropping_a_derived_stream_releases_its_source() {
    let (s, push) = stream::create::<i32>();
    let mapped = s.map(|x| x * 2);
    let p = mapped.get();
    drop(mapped);
    push.push(1).unwrap();
    assert_eq!(p.state(), State::Fulfilled(Some(2)));
    drop(p);
    push.push(2).unwrap();
    assert!(push.push(3).is_ok());
}

#[test]
fn wrap_exn_last_new_junk_old() {
    let (s, rs, _) = manual::<i32>();
    let wrapped = s.wrap_exn();
    let a = wrapped.get();
    next_resolver(&rs).wakeup_exn(Exn::failure("once"));
    match a.state() {
        State::Fulfilled(Some(Err(e))) => assert_eq!(e.to_string(), "once"),
        other => panic!("{other:?}"),
    }
    let b = wrapped.get();
    next_resolver(&rs).wakeup(Some(1));
    assert!(matches!(b.state(), State::Fulfilled(Some(Ok(1)))));

    let (s, push) = stream::create::<i32>();
    let waiting = s.last_new();
    push.push(1).unwrap();
    assert_eq!(waiting.state(), State::Fulfilled(1));
    for x in 2..=4 {
        push.push(x).unwrap();
    }
    assert_eq!(s.last_new().state(), State::Fulfilled(4));
    push.push(5).unwrap();
    assert!(s.junk_old().is_fulfilled());
    push.close();
    assert!(s.last_new().rejection().unwrap().is::<stream::Empty>());
}

/// `map` & co. borrow their source, as Lwt's `map f s` leaves `s` readable: the source's own
/// reads and the derived stream's take turns at its elements (checked against Lwt 5.6.1 by
/// `ocaml_diff_sync.rs`).
#[test]
fn map_over_a_stream_read_directly_shares_its_elements() {
    let (s, push) = stream::create::<i32>();
    let m = s.map(|x| x * 10);
    let f = s.filter_map_s(|x| Promise::ret((x % 2 == 1).then_some(x + 100)));
    for x in 1..=6 {
        push.push(x).unwrap();
    }
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    assert_eq!(m.get().state(), State::Fulfilled(Some(20)));
    assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
    // 4 is read and dropped by the filter, which goes on to 5.
    assert_eq!(f.get().state(), State::Fulfilled(Some(105)));
    assert_eq!(m.get().state(), State::Fulfilled(Some(60)));
    push.close();
    assert_eq!(s.get().state(), State::Fulfilled(None));
    assert_eq!(m.get().state(), State::Fulfilled(None));
}

/// A canceled read of a stream mapped over another one itself: the source read it started goes
/// on, and the element it gets waits in the mapped stream, not in the source (as in Lwt, whose
/// `from` generator call is protected from the reader's cancel).
#[test]
fn a_canceled_read_of_a_map_leaves_the_next_element_to_the_map() {
    let (s, push) = stream::create::<i32>();
    let m = s.map(|x| x + 1000);
    let read = m.get();
    read.cancel();
    push.push(5).unwrap();
    assert_eq!(s.get().state(), State::Pending);
    assert_eq!(m.get().state(), State::Fulfilled(Some(1005)));
}

// ---- consumers ----------------------------------------------------------------------------------

#[test]
fn folds_iters_finds() {
    let s = || stream::of_list((1..=5).collect::<Vec<i32>>());
    assert_eq!(s().fold(0, |a, x| a + x).state(), State::Fulfilled(15));
    assert_eq!(
        s().fold_s(1, |a, x| Promise::ret(a * x)).state(),
        State::Fulfilled(120)
    );
    let seen = log();
    let l = seen.clone();
    assert!(s().iter(move |x| l.borrow_mut().push(x)).is_fulfilled());
    assert_eq!(*seen.borrow(), [1, 2, 3, 4, 5]);
    let t = s();
    assert_eq!(t.find(|x| *x > 2).state(), State::Fulfilled(Some(3)));
    assert_eq!(
        t.find_s(|x| Promise::ret(*x == 5)).state(),
        State::Fulfilled(Some(5))
    );
    assert_eq!(t.find(|_| true).state(), State::Fulfilled(None));
    let t = s();
    assert_eq!(
        t.find_map(|x| (x == 2).then_some("two")).state(),
        State::Fulfilled(Some("two"))
    );
    assert_eq!(
        t.find_map_s(|x| Promise::ret((x == 4).then_some(x * 10)))
            .state(),
        State::Fulfilled(Some(40))
    );
    assert_eq!(t.to_list().state(), State::Fulfilled(vec![5]));
    assert_eq!(
        stream::of_string("abc").to_string().state(),
        State::Fulfilled("abc".to_string())
    );
}

#[test]
fn iter_s_waits_for_each_callback() {
    let (s, push) = stream::create::<i32>();
    let waits: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let seen = log();
    let (w, l) = (waits.clone(), seen.clone());
    let done = s.iter_s(move |x| {
        l.borrow_mut().push(x);
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    for x in 1..=3 {
        push.push(x).unwrap();
    }
    push.close();
    assert_eq!(*seen.borrow(), [1]);
    for expected in [vec![1, 2], vec![1, 2, 3], vec![1, 2, 3]] {
        let r = waits.borrow_mut().remove(0);
        r.wakeup(());
        assert_eq!(*seen.borrow(), expected);
    }
    assert!(done.is_fulfilled());
}

#[test]
fn iter_p_runs_callbacks_concurrently() {
    let waits: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let w = waits.clone();
    let done = stream::of_list(vec![1, 2, 3]).iter_p(move |_| {
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    assert_eq!(waits.borrow().len(), 3);
    while let Some(r) = waits.borrow_mut().pop() {
        assert!(done.is_pending());
        r.wakeup(());
    }
    assert!(done.is_fulfilled());
}

#[test]
fn iter_n_bounds_the_concurrency() {
    let running = Rc::new(Cell::new(0));
    let max = Rc::new(Cell::new(0));
    let (r, m) = (running.clone(), max.clone());
    let done = stream::of_iter(0..200).iter_n(3, move |i| {
        r.set(r.get() + 1);
        m.set(m.get().max(r.get()));
        let r = r.clone();
        let delay = if i % 7 == 0 {
            main::pause().bind(|()| main::pause())
        } else {
            main::pause()
        };
        delay.map(move |()| r.set(r.get() - 1))
    });
    main::run(done).unwrap();
    assert_eq!(max.get(), 3);
    assert_eq!(running.get(), 0);
    assert!(stream::of_list(vec![1])
        .iter_n(0, |_| Promise::ret(()))
        .rejection()
        .unwrap()
        .is::<lwt_core::InvalidArgument>());
}

#[test]
fn iter_p_and_iter_n_reject_with_the_first_failure_in_order_after_the_running_ones() {
    let waits: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let w = waits.clone();
    let started = Rc::new(Cell::new(0));
    let st = started.clone();
    let (s, push) = stream::create::<i32>();
    let done = s.iter_p(move |_| {
        st.set(st.get() + 1);
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    push.push(0).unwrap();
    push.push(1).unwrap();
    let r1 = waits.borrow_mut().pop().unwrap();
    let r0 = waits.borrow_mut().pop().unwrap();
    r1.wakeup_exn(Exn::failure("second"));
    push.push(2).unwrap();
    assert_eq!(started.get(), 2, "no new callback after a failure");
    assert!(done.is_pending(), "callback 0 is still running");
    r0.wakeup_exn(Exn::failure("first"));
    assert_eq!(done.rejection().unwrap().to_string(), "first");
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)), "unread stays");

    let n = stream::of_list(vec![1, 2, 3]).iter_n(2, |x| {
        if x == 1 {
            Promise::fail_with("one")
        } else {
            Promise::ret(())
        }
    });
    assert_eq!(n.rejection().unwrap().to_string(), "one");
}

/// The tasks started by a `tracked_tasks` callback, with their resolvers.
type Tasks = Rc<RefCell<Vec<(Promise<()>, Resolver<()>)>>>;

/// A callback for `iter_p`/`iter_n` that starts a cancelable task and keeps a handle on it.
fn tracked_tasks() -> (Tasks, impl FnMut(i32) -> Promise<()> + Clone) {
    let tasks: Tasks = Rc::default();
    let t = tasks.clone();
    let f = move |_: i32| {
        let (p, r) = task::<()>();
        let handle = p.clone();
        t.borrow_mut().push((handle, r));
        p
    };
    (tasks, f)
}

#[test]
fn canceling_iter_p_or_iter_n_cancels_the_running_callbacks_and_the_pending_read() {
    // Found in review: canceling the result only stopped the reads; Lwt's cancel reaches the
    // callbacks the result waits on.
    let (tasks, f) = tracked_tasks();
    let p = stream::of_list(vec![1, 2]).iter_n(2, f.clone());
    assert_eq!(tasks.borrow().len(), 2);
    p.cancel();
    assert!(p.rejection().unwrap().is_canceled());
    assert!(tasks
        .borrow()
        .iter()
        .all(|(t, _)| t.rejection().unwrap().is_canceled()));
    // iter_p waiting for an element: the read is withdrawn, the element stays in the stream.
    tasks.borrow_mut().clear();
    let (s, push) = stream::create::<i32>();
    let p = s.iter_p(f);
    push.push(1).unwrap();
    assert_eq!(tasks.borrow().len(), 1);
    p.cancel();
    assert!(p.rejection().unwrap().is_canceled());
    assert!(tasks.borrow()[0].0.rejection().unwrap().is_canceled());
    push.push(2).unwrap();
    assert_eq!(
        s.get().state(),
        State::Fulfilled(Some(2)),
        "the element stays"
    );
    assert_eq!(tasks.borrow().len(), 1, "no callback after the cancel");
}

#[test]
fn iter_p_canceled_inside_a_callback_reads_and_calls_nothing_more() {
    // A cancel made inside a callback used to reach `iter_p` only when the resolution loop got to
    // the result's callbacks: the callback that canceled went on pushing, and `iter_p` read each
    // element and called `f` on it, the result being canceled already.
    let (tasks, f) = tracked_tasks();
    let (s, push) = stream::create::<i32>();
    let done = s.iter_p(f);
    let (tick, ring) = wait::<()>();
    let d = done.clone();
    tick.on_success(move |()| {
        d.cancel();
        push.push(1).unwrap();
        push.push(2).unwrap();
    });
    ring.wakeup(());
    assert!(done.rejection().unwrap().is_canceled());
    assert!(tasks.borrow().is_empty(), "f called after the cancel");
    assert_eq!(
        s.get().state(),
        State::Fulfilled(Some(1)),
        "the elements stay in the stream"
    );
}

#[test]
fn a_callback_that_resolves_after_the_cancel_changes_nothing() {
    let (tasks, f) = tracked_tasks();
    let p = stream::of_list(vec![1, 2, 3]).iter_n(2, f);
    p.cancel();
    // Resolving a canceled task is a no-op; the result stays canceled.
    for (_, r) in tasks.borrow_mut().drain(..) {
        r.wakeup(());
    }
    assert!(p.rejection().unwrap().is_canceled());
}

#[test]
fn a_panicking_callback_rejects_the_consumer() {
    let p = stream::of_list(vec![1, 2]).iter(|x| {
        if x == 2 {
            panic!("bad element")
        }
    });
    assert_eq!(
        p.rejection()
            .unwrap()
            .downcast_ref::<Panicked>()
            .unwrap()
            .message(),
        "bad element"
    );
    let p = stream::of_list(vec![1]).iter_p(|_| panic!("par"));
    assert!(p.rejection().unwrap().is::<Panicked>());
    let m = stream::of_list(vec![1]).map(|_: i32| -> i32 { panic!("in map") });
    assert!(m.get().rejection().unwrap().is::<Panicked>());
}

#[test]
fn a_million_ready_elements_through_a_pipeline_use_no_stack() {
    // Runs on the test harness's thread (2 MiB of stack): recursion per element would overflow.
    let n = 1_000_000_u64;
    let total = Rc::new(Cell::new(0_u64));
    let t = total.clone();
    let done = stream::of_iter(0..n)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .filter_map_s(|x| Promise::ret(Some(x)))
        .map_s(Promise::ret)
        .iter_s(move |x| {
            t.set(t.get() + x);
            Promise::ret(())
        });
    assert!(done.is_fulfilled());
    assert_eq!(total.get(), (1..=n).filter(|x| x % 2 == 0).sum::<u64>());
    let skipped = stream::of_iter(0..n).filter(|_| false).get();
    assert_eq!(skipped.state(), State::Fulfilled(None));
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let p = stream::of_list((0..n).collect()).iter_p(move |_| {
        c.set(c.get() + 1);
        Promise::ret(())
    });
    assert!(p.is_fulfilled());
    assert_eq!(count.get(), n);
}

#[test]
fn a_pending_chain_under_the_loop() {
    // Each element arrives a loop iteration later; the pipeline runs through the run loop.
    let n = Rc::new(Cell::new(0_u32));
    let m = n.clone();
    let s = stream::from(move || {
        m.set(m.get() + 1);
        let k = m.get();
        main::pause().map(move |()| (k <= 10_000).then_some(k))
    });
    let sum = s
        .map(u64::from)
        .filter(|x| x % 3 == 0)
        .fold_s(0, |a, x| main::pause().map(move |()| a + x));
    assert_eq!(
        main::run(sum).unwrap(),
        (1..=10_000_u64).filter(|x| x % 3 == 0).sum()
    );
}

/// A consumer (`iter`) whose element was handed over (its job queued) when its result is
/// canceled: the cancel was ignored (no request filed), so the result stayed pending and the
/// consumer went on taking every later element of the stream (Lwt: the result is `Canceled`,
/// `f` not called, both elements left to `t`).
/// Found in review (session 23).
#[test]
fn a_consumer_canceled_after_its_element_arrived_stops() {
    let (s, push) = stream::create::<i32>();
    let t = s.clone(); // cursor 1: served after `s`'s read, whose callback cancels
    let seen = Rc::new(RefCell::new(vec![]));
    let sn = seen.clone();
    let all = t.iter(move |x| sn.borrow_mut().push(x));
    let g = s.get();
    let a2 = all.clone();
    g.on_success(move |_| a2.cancel());
    push.push(1).unwrap();
    assert!(all.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty(), "f called after the cancel");
    push.push(2).unwrap();
    assert!(seen.borrow().is_empty(), "f called after the cancel");
    // As in Lwt, the element the canceled consumer did not see is still there.
    assert_eq!(t.nget(2).state(), State::Fulfilled(vec![1, 2]));
}

/// The same for a `get_while` run: its first element was handed over when the result is canceled.
/// The run went on (the cancel ignored); it must end canceled, the element back in the stream.
/// Found in review (session 23).
#[test]
fn a_run_canceled_after_its_element_arrived_puts_it_back() {
    let (s, push) = stream::create::<i32>();
    let t = s.clone();
    let tested = Rc::new(Cell::new(0));
    let tc = tested.clone();
    let run = t.get_while(move |_| {
        tc.set(tc.get() + 1);
        true
    });
    let g = s.get();
    let r2 = run.clone();
    g.on_success(move |_| r2.cancel());
    push.push(1).unwrap();
    assert!(run.rejection().unwrap().is_canceled());
    assert_eq!(tested.get(), 0, "predicate called after the cancel");
    assert_eq!(t.get().state(), State::Fulfilled(Some(1)));
}

/// `iter_p` canceled after its pending read was served but before the read's continuation ran:
/// the element was dropped (neither `f`'s nor the stream's). It goes back to the stream.
/// Found in review (session 23).
#[test]
fn iter_p_canceled_after_its_read_was_served_gives_the_element_back() {
    let (s, push) = stream::create::<i32>();
    let t = s.clone();
    let seen = Rc::new(RefCell::new(vec![]));
    let sn = seen.clone();
    let all = t.iter_p(move |x| {
        sn.borrow_mut().push(x);
        Promise::ret(())
    });
    let g = s.get();
    let a2 = all.clone();
    g.on_success(move |_| a2.cancel());
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert!(all.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    assert_eq!(
        t.nget(2).state(),
        State::Fulfilled(vec![1, 2]),
        "nothing lost"
    );
}

// ---- futures::Stream ----------------------------------------------------------------------------

#[cfg(feature = "futures-stream")]
mod futures_stream {
    use futures::executor::{block_on, LocalPool};
    use futures::task::LocalSpawnExt;
    use futures::StreamExt;
    use lwt_core::{stream, Exn};

    #[test]
    fn collects_with_stream_ext() {
        // `StreamExt::map` takes the stream by value, so with `StreamExt` in scope `.map` is
        // its; lwt's own takes `&self` and is named in full.
        let s = stream::Stream::map(&stream::of_list(vec![1, 2, 3]), |x| x * 2);
        let items: Vec<Result<i32, Exn>> = block_on(StreamExt::collect(s));
        assert_eq!(
            items.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [2, 4, 6]
        );
    }

    #[test]
    fn wakes_the_task_when_an_element_is_pushed() {
        let (s, push) = stream::create::<i32>();
        let mut pool = LocalPool::new();
        let handle = pool
            .spawner()
            .spawn_local_with_handle(async move {
                let mut s = s;
                let mut got = Vec::new();
                while let Some(x) = StreamExt::next(&mut s).await {
                    got.push(x.unwrap());
                }
                got
            })
            .unwrap();
        pool.run_until_stalled();
        push.push(1).unwrap();
        pool.run_until_stalled();
        push.push(2).unwrap();
        push.close();
        assert_eq!(pool.run_until(handle), [1, 2]);
    }

    #[test]
    fn a_dropped_poll_withdraws_its_read() {
        let (s, push) = stream::create::<i32>();
        let other = s.clone();
        let mut pool = LocalPool::new();
        let mut s = Some(s);
        let handle = pool
            .spawner()
            .spawn_local_with_handle(async move {
                let mut s = s.take().unwrap();
                let _ = futures::future::select(
                    Box::pin(StreamExt::next(&mut s)),
                    futures::future::ready(()),
                )
                .await;
            })
            .unwrap();
        pool.run_until(handle);
        push.push(5).unwrap();
        assert_eq!(other.get().state(), lwt_core::State::Fulfilled(Some(5)));
    }

    #[test]
    fn a_stream_dropped_after_its_poll_took_an_element_puts_it_back() {
        // Found in review (session 28): the read `poll_next` had started took an element, the
        // stream was dropped before it was polled again, and the element was lost for the
        // other readers of its cursor (a `map` of it).
        use futures::task::noop_waker_ref;
        use std::pin::Pin;
        use std::task::Context;
        let (s, push) = stream::create::<u32>();
        let derived = stream::Stream::map(&s, |x| x); // reads `s`'s cursor
        let mut s = s;
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(futures::Stream::poll_next(Pin::new(&mut s), &mut cx).is_pending());
        push.push(100).unwrap(); // taken by the pending read
        push.push(101).unwrap();
        push.close();
        drop(s);
        assert_eq!(lwt_core::main::run(derived.to_list()).unwrap(), [100, 101]);
    }

    #[test]
    fn a_poll_that_got_an_element_lets_the_next_reader_in() {
        // The read `poll_next` makes holds the cursor once served, until it is polled again,
        // as a consumer's read does; the next poll releases it.
        let (s, push) = stream::create::<u32>();
        let derived = stream::Stream::map(&s, |x| x);
        let mut pool = LocalPool::new();
        let handle = pool
            .spawner()
            .spawn_local_with_handle(async move {
                let mut s = s;
                StreamExt::next(&mut s).await.unwrap().unwrap()
            })
            .unwrap();
        pool.run_until_stalled();
        push.push(1).unwrap();
        push.push(2).unwrap();
        assert_eq!(pool.run_until(handle), 1);
        assert_eq!(derived.get().state(), lwt_core::State::Fulfilled(Some(2)));
    }

    #[test]
    fn a_poll_abandoned_with_the_stream_kept_does_not_hold_its_reads() {
        // Found in review (session 28) of the fix above: the served read of an abandoned
        // `next` held the cursor until a next poll that never came, so `get` waited for ever.
        // The hold now ends when the read resolves; the abandoned read keeps its element for
        // the next poll, and `get` takes the one after it, in order.
        use futures::task::noop_waker_ref;
        use std::pin::Pin;
        use std::task::Context;
        let (s, push) = stream::create::<u32>();
        let mut s = s;
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(futures::Stream::poll_next(Pin::new(&mut s), &mut cx).is_pending());
        push.push(100).unwrap();
        push.push(101).unwrap();
        push.close();
        assert_eq!(lwt_core::main::run(s.get()).unwrap(), Some(101));
        let next = futures::Stream::poll_next(Pin::new(&mut s), &mut cx);
        assert!(matches!(next, std::task::Poll::Ready(Some(Ok(100)))));
        assert_eq!(lwt_core::main::run(s.get()).unwrap(), None);
    }

    #[test]
    fn errors_are_items() {
        let s = stream::from(|| lwt_core::Promise::<Option<i32>>::fail_with("x"));
        let mut s = s;
        let first = block_on(StreamExt::next(&mut s));
        assert!(matches!(first, Some(Err(_))));
    }
}

// ---- A consumer or `iter_p` canceled after its read was served, before its continuation ran:
// the element goes back to the stream at the cancel (review, session 26). Lwt 5.6.1 loses
// nothing in these programs either.

/// iter_p started while a read is pending on the same handle, canceled after its read was served
/// (before its continuation ran): the element should go back.
#[test]
fn iter_p_behind_a_pending_read_canceled_after_its_read_was_served_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let ahead = s.get();
    let seen = Rc::new(RefCell::new(vec![]));
    let sn = seen.clone();
    let all = s.iter_p(move |x| {
        sn.borrow_mut().push(x);
        Promise::ret(())
    });
    let a2 = all.clone();
    ahead.on_success(move |_| a2.cancel());
    let (go, fire) = wait::<()>();
    go.on_success(move |_| {
        push.push(1).unwrap();
        push.push(2).unwrap();
        push.push(3).unwrap();
    });
    fire.wakeup(());
    assert_eq!(ahead.state(), State::Fulfilled(Some(1)));
    assert!(all.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    assert_eq!(
        s.nget(2).state(),
        State::Fulfilled(vec![2, 3]),
        "nothing lost"
    );
}

/// A consumer canceled after its element arrived, and a read made right after the cancel (before
/// the consumer's job): the read should get the element the consumer gave back.
#[test]
fn a_consumer_canceled_after_its_element_arrived_then_a_read_at_once_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let t = Rc::new(s.clone());
    let all = t.to_list(); // on the clone's cursor (served after `s`'s)
    let g = s.get();
    let (a2, t2) = (all.clone(), t.clone());
    let after = Rc::new(RefCell::new(None));
    let af = after.clone();
    g.on_success(move |_| {
        a2.cancel(); // the consumer was served 1, its job has not run
        *af.borrow_mut() = Some(t2.get());
    });
    let push = Rc::new(push);
    let (go, fire) = wait::<()>();
    let p2 = push.clone();
    go.on_success(move |_| {
        p2.push(1).unwrap();
        p2.push(2).unwrap();
    });
    fire.wakeup(());
    assert!(all.rejection().unwrap().is_canceled());
    let after = after.borrow_mut().take().unwrap();
    let rest = t.get_available();
    println!("after={:?} rest={:?}", after.state(), rest);
    assert_eq!(
        after.state(),
        State::Fulfilled(Some(1)),
        "the element the consumer gave back"
    );
    assert_eq!(rest, vec![2]);
}

/// iter_p canceled after its read was served, and a read of the same handle made right after
/// the cancel (before iter_p's continuation): the element iter_p gave back must not be lost.
#[test]
fn iter_p_canceled_after_its_read_was_served_then_a_read_at_once_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let t = Rc::new(s.clone());
    let seen = Rc::new(RefCell::new(vec![]));
    let sn = seen.clone();
    let all = t.iter_p(move |x| {
        sn.borrow_mut().push(x);
        Promise::ret(())
    });
    let g = s.get(); // cursor 0: served before iter_p's read (cursor 1)
    let (a2, t2) = (all.clone(), t.clone());
    let after = Rc::new(RefCell::new(None));
    let af = after.clone();
    g.on_success(move |_| {
        a2.cancel();
        *af.borrow_mut() = Some(t2.get());
    });
    let push = Rc::new(push);
    let p2 = push.clone();
    let (go, fire) = wait::<()>();
    go.on_success(move |_| {
        p2.push(1).unwrap();
        p2.push(2).unwrap();
    });
    fire.wakeup(());
    assert!(all.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    let after = after.borrow_mut().take().unwrap();
    let rest = t.get_available();
    println!("after={:?} rest={:?}", after.state(), rest);
    assert_eq!(after.state(), State::Fulfilled(Some(1)));
    assert_eq!(rest, vec![2]);
}

// ---- The same when a read queued behind on the same cursor was served before the cancel: the
// cursor waits for the served read's continuation, as in Lwt (review of the fix above).

/// A consumer served 1, a `get` queued behind it on the same cursor served 2, then the consumer
/// canceled before its job ran. Lwt 5.6.1 (same program): all=Canceled, behind=Some 1, rest=[2].
#[test]
fn consumer_canceled_late_with_a_get_served_behind_it_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let all = s.to_list();
    let behind = s.get(); // queued behind the consumer's request, same cursor
    let a2 = all.clone();
    let (go, fire) = wait::<()>();
    go.on_success(move |_| {
        push.push(1).unwrap();
        push.push(2).unwrap();
        a2.cancel();
    });
    fire.wakeup(());
    assert!(all.rejection().unwrap().is_canceled());
    let got = (behind.state(), s.get_available());
    assert_eq!(got, (State::Fulfilled(Some(1)), vec![2]), "1 was lost");
}

/// The same for iter_p.
#[test]
fn iter_p_canceled_late_with_a_get_served_behind_it_loses_nothing() {
    let (s, push) = stream::create::<i32>();
    let seen = Rc::new(RefCell::new(vec![]));
    let sn = seen.clone();
    let all = s.iter_p(move |x| {
        sn.borrow_mut().push(x);
        Promise::ret(())
    });
    let behind = s.get();
    let a2 = all.clone();
    let (go, fire) = wait::<()>();
    go.on_success(move |_| {
        push.push(1).unwrap();
        push.push(2).unwrap();
        a2.cancel();
    });
    fire.wakeup(());
    assert!(all.rejection().unwrap().is_canceled());
    assert!(seen.borrow().is_empty());
    let got = (behind.state(), s.get_available());
    assert_eq!(got, (State::Fulfilled(Some(1)), vec![2]), "1 was lost");
}

/// Found in the differential review against Lwt 5.6.1 (session 29): closing a pushed stream ran
/// the `closed` callbacks first, so a cleanup registered on `closed` (or `on_terminate`) ran
/// before the waiting reader saw the end and before a push the close rejected was handled.
/// Lwt 5.6.1 prints `get cb`, `closed cb` and `push rejected`, `closed cb` for these.
#[test]
fn closing_answers_waiting_reads_and_pushes_before_closed() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let note = |what: &'static str| {
        let t = trace.clone();
        move || t.borrow_mut().push(what)
    };

    let (s, p) = stream::create::<i32>();
    let got = note("get cb");
    let _got = s.get().map(move |_| got());
    let closed = note("closed cb");
    let _closed = s.closed().map(move |()| closed());
    p.close();
    assert_eq!(*trace.borrow(), ["get cb", "closed cb"]);

    trace.borrow_mut().clear();
    let (s, b) = stream::create_bounded::<i32>(1);
    assert!(b.push(1).is_fulfilled(), "room for one");
    let waiting = b.push(2);
    assert!(waiting.is_pending(), "full");
    let rejected = note("push rejected");
    let _rejected = waiting.catch(move |_| {
        rejected();
        Promise::ret(())
    });
    let closed = note("closed cb");
    let _closed = s.closed().map(move |()| closed());
    b.close();
    assert_eq!(*trace.borrow(), ["push rejected", "closed cb"]);
}

/// Found in review (session 29): with `closed` fulfilled after the reads are served, a panic
/// while serving them (a user `Clone` for a waiting `npeek`) dropped its resolver, and the
/// closed stream's `closed` was rejected `Abandoned`.
#[test]
fn a_panic_while_close_serves_the_reads_still_fulfils_closed() {
    struct BadClone;
    impl Clone for BadClone {
        fn clone(&self) -> BadClone {
            panic!("no clones today")
        }
    }
    let (s, p) = stream::create::<BadClone>();
    p.push(BadClone).unwrap();
    let _peeking = s.npeek(3);
    let closing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.close()));
    assert!(closing.is_err(), "the clone panicked");
    assert!(s.is_closed());
    assert_eq!(s.closed().state(), State::Fulfilled(()));
}

// ---- a generator's drop at its end (review, session 32) -----------------------------------------

/// Wakes a promise when dropped: shows when a generator holding it is dropped.
struct WakeOnDrop(Option<Resolver<()>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.wakeup_later(());
        }
    }
}

/// In which order a `from` stream's generator is dropped at its end and that end reaches the
/// reader; `later`: the generator's end comes from a promise still pending when it returns.
fn generator_end_order(later: bool) -> Vec<&'static str> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (dropped, on_drop) = wait::<()>();
    let l = log.clone();
    let _seen = dropped.map(move |()| l.borrow_mut().push("generator dropped"));
    let guard = WakeOnDrop(Some(on_drop));
    let (end, end_resolver) = wait::<Option<i32>>();
    let mut end = Some(end);
    let s = stream::from(move || {
        let _ = &guard;
        match (later, end.take()) {
            (true, Some(end)) => end,
            _ => Promise::ret(None),
        }
    });
    let l = log.clone();
    let _read = s.get().map(move |x| {
        l.borrow_mut().push(if x.is_none() {
            "reader got the end"
        } else {
            "reader got an element"
        })
    });
    end_resolver.wakeup(None);
    let order = log.borrow().clone();
    order
}

/// Found in review (session 32): answering a pending generator's end and serving the readers in
/// one pass dropped the generator after the readers were served, where an answer given at once
/// (and the code before) drops it first.
#[test]
fn a_generator_is_dropped_at_its_end_before_the_readers_are_served() {
    assert_eq!(
        generator_end_order(false),
        ["generator dropped", "reader got the end"]
    );
    assert_eq!(
        generator_end_order(true),
        ["generator dropped", "reader got the end"]
    );
}

/// The same, seen through a generator that owns the last `Push` of another stream: its drop
/// closes that stream, whose reader hears it before the reader of the ended one.
#[test]
fn a_generator_holding_the_last_push_of_another_stream_closes_it_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (b, b_push) = stream::create::<i32>();
    let (end, end_resolver) = wait::<Option<i32>>();
    let mut end = Some(end);
    let a = stream::from(move || {
        let _ = &b_push;
        end.take().unwrap_or_else(|| Promise::ret(None))
    });
    let l = log.clone();
    let _ra = a
        .get()
        .map(move |x| l.borrow_mut().push(format!("a: {x:?}")));
    let l = log.clone();
    let _rb = b
        .get()
        .map(move |x| l.borrow_mut().push(format!("b: {x:?}")));
    end_resolver.wakeup(None);
    assert_eq!(*log.borrow(), ["b: None", "a: None"]);
}

/// Pins the `parse` docs (rev108): a read made while the parser runs, still pending when it
/// fails, is served after the rewind from the start again, as a read made before `parse` is.
/// (Lwt serves it from where it was made: it gets 2, and 2 comes out again later.)
#[test]
fn a_read_made_during_a_failed_parse_is_served_from_the_start() {
    let (s, push) = stream::create::<u8>();
    push.push(1).unwrap();
    let pending: Rc<RefCell<Option<Promise<Option<u8>>>>> = Rc::default();
    let kept = pending.clone();
    let parsed = s.parse(move |s| {
        let first = s.get();
        *kept.borrow_mut() = Some(s.get());
        first.bind(|_| Promise::<()>::fail_with("no parse"))
    });
    assert!(parsed.is_rejected());
    let read = pending.borrow_mut().take().unwrap();
    assert_eq!(read.state(), State::Fulfilled(Some(1)));
    push.push(2).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
}

/// Pins the `get_while` docs (rev108): a clone made inside the predicate starts at the element
/// under test, but when no other reader keeps it buffered its reads wait for the run to end.
/// (Lwt's clone reads 2, 3 and 9 at once.)
#[test]
fn a_clone_made_inside_get_while_waits_for_the_run() {
    let s = Rc::new(stream::of_list(vec![1_u8, 2, 3, 9]));
    let source = s.clone();
    type Slot<T> = Rc<RefCell<Option<T>>>;
    let clone: Slot<(Stream<u8>, Promise<Option<u8>>)> = Rc::default();
    // What the clone could read inside the predicate: its available elements, and whether its
    // `get` was still pending.
    let inside: Slot<(Vec<u8>, bool)> = Rc::default();
    let (keep, seen) = (clone.clone(), inside.clone());
    let run = s.get_while(move |x| {
        if *x == 2 {
            let c = Stream::clone(&*source);
            let available = c.get_available();
            let read = c.get();
            *seen.borrow_mut() = Some((available, read.is_pending()));
            *keep.borrow_mut() = Some((c, read));
        }
        *x < 5
    });
    assert_eq!(run.state(), State::Fulfilled(vec![1, 2, 3]));
    assert_eq!(inside.borrow_mut().take(), Some((vec![], true)));
    let (c, read) = clone.borrow_mut().take().unwrap();
    assert_eq!(read.state(), State::Fulfilled(Some(2)));
    assert_eq!(c.to_list().state(), State::Fulfilled(vec![3, 9]));
}
