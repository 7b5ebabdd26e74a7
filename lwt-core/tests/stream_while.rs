//! `get_while`, `get_while_s`, `junk_while`, `junk_while_s` (the element that stops a run stays
//! in the stream, whatever the predicate does to the stream meanwhile), `parse` and `hexdump`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::stream::{self, Stream};
use lwt_core::{task, wait, Exn, Panicked, Promise, Resolver, State};

#[path = "support/manual_stream.rs"]
mod manual_stream;
use manual_stream::{manual, next_resolver};

/// A slot a predicate can reach the stream (or anything) through.
type Slot<T> = Rc<RefCell<Option<T>>>;

fn slot<T>(x: T) -> Slot<T> {
    Rc::new(RefCell::new(Some(x)))
}

// ---- basics -------------------------------------------------------------------------------------

#[test]
fn get_while_leaves_the_first_rejected_element() {
    let s = stream::of_list(vec![1, 2, 7, 3]);
    assert_eq!(
        s.get_while(|x| *x < 5).state(),
        State::Fulfilled(vec![1, 2])
    );
    assert_eq!(s.get().state(), State::Fulfilled(Some(7)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
}

#[test]
fn get_while_stops_at_the_end() {
    let s = stream::of_list(vec![1, 2]);
    assert_eq!(s.get_while(|_| true).state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(s.get().state(), State::Fulfilled(None));
    let empty = stream::of_list(Vec::<i32>::new());
    assert_eq!(empty.get_while(|_| true).state(), State::Fulfilled(vec![]));
}

#[test]
fn get_while_rejecting_the_first_element_takes_nothing() {
    let s = stream::of_list(vec![5, 1]);
    assert_eq!(s.get_while(|x| *x < 5).state(), State::Fulfilled(vec![]));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![5, 1]));
}

#[test]
fn get_while_waits_for_elements_and_the_end() {
    let (s, push) = stream::create();
    let run = s.get_while(|x| *x < 5);
    assert!(run.is_pending());
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert!(run.is_pending());
    push.push(9).unwrap();
    assert_eq!(run.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(s.get().state(), State::Fulfilled(Some(9)));

    let run = s.get_while(|x| *x < 5);
    push.push(3).unwrap();
    push.close();
    assert_eq!(run.state(), State::Fulfilled(vec![3]));
}

#[test]
fn junk_while_drops_what_it_passes_and_leaves_the_rest() {
    let (s, push) = stream::create();
    push.push(0).unwrap();
    let run = s.junk_while(|x| *x == 0);
    assert!(run.is_pending());
    push.push(0).unwrap();
    push.push(4).unwrap();
    assert_eq!(run.state(), State::Fulfilled(()));
    push.push(0).unwrap();
    push.close();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![4, 0]));
}

#[test]
fn junk_while_drops_each_element_at_once() {
    let drops = Rc::new(Cell::new(0));
    struct D(u32, Rc<Cell<u32>>);
    impl Drop for D {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }
    let (s, push) = stream::create();
    for i in 0..3 {
        push.push(D(i, drops.clone())).unwrap();
    }
    let d = drops.clone();
    let seen = Rc::new(Cell::new(0));
    let n = seen.clone();
    // When the predicate sees element i, the i elements before it are already dropped.
    let run = s.junk_while(move |x| {
        assert_eq!(d.get(), x.0);
        n.set(n.get() + 1);
        true
    });
    assert!(run.is_pending());
    assert_eq!(seen.get(), 3);
    assert_eq!(drops.get(), 3);
}

#[test]
fn get_while_s_and_junk_while_s_with_ready_promises() {
    let s = stream::of_list(vec![1, 2, 3, 4]);
    let got = s.get_while_s(|x| Promise::ret(*x < 3));
    assert_eq!(got.state(), State::Fulfilled(vec![1, 2]));
    assert!(s.junk_while_s(|x| Promise::ret(*x == 3)).is_fulfilled());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![4]));
}

// ---- the predicate uses the stream --------------------------------------------------------------

#[test]
fn a_get_inside_the_predicate_gets_the_rejected_element() {
    let s = Rc::new(stream::of_list(vec![1, 2, 3]));
    let inner: Slot<Promise<Option<i32>>> = Rc::new(RefCell::new(None));
    let (s2, i2) = (s.clone(), inner.clone());
    let run = s.get_while(move |_| {
        let p = s2.get();
        assert!(p.is_pending(), "a read of the handle waits for the run");
        *i2.borrow_mut() = Some(p);
        false
    });
    assert_eq!(run.state(), State::Fulfilled(vec![]));
    let p = inner.borrow_mut().take().unwrap();
    assert_eq!(p.state(), State::Fulfilled(Some(1)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

#[test]
fn a_get_inside_the_predicate_gets_the_element_after_the_run() {
    // Kept: the get, made while 1 was tested, waits for the whole run ([1, 1]).
    let s = Rc::new(stream::of_list(vec![1, 1, 3, 4]));
    let inner: Slot<Promise<Option<i32>>> = Rc::new(RefCell::new(None));
    let (s2, i2) = (s.clone(), inner.clone());
    let run = s.get_while(move |x| {
        if i2.borrow().is_none() {
            *i2.borrow_mut() = Some(s2.get());
        }
        *x == 1
    });
    assert_eq!(run.state(), State::Fulfilled(vec![1, 1]));
    let p = inner.borrow_mut().take().unwrap();
    assert_eq!(p.state(), State::Fulfilled(Some(3)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![4]));
}

#[test]
fn a_clone_made_inside_the_predicate_sees_the_tested_element() {
    for keep in [false, true] {
        let s = Rc::new(stream::of_list(vec![1, 2, 3]));
        let clones: Slot<Vec<Stream<i32>>> = slot(Vec::new());
        let firsts: Slot<Vec<Promise<Option<i32>>>> = slot(Vec::new());
        let (s2, c2, f2) = (s.clone(), clones.clone(), firsts.clone());
        let run = s.get_while(move |x| {
            if *x == 1 {
                let c = (*s2).clone();
                let first = c.get();
                // The element is out of the queue for the test: the clone waits for it.
                assert!(first.is_pending());
                f2.borrow_mut().as_mut().unwrap().push(first);
                // A clone of that clone too.
                c2.borrow_mut().as_mut().unwrap().push(c.clone());
                c2.borrow_mut().as_mut().unwrap().push(c);
                keep
            } else {
                false
            }
        });
        let expected = if keep { vec![1] } else { vec![] };
        assert_eq!(run.state(), State::Fulfilled(expected), "keep {keep}");
        let first = firsts.borrow_mut().take().unwrap().pop().unwrap();
        assert_eq!(first.state(), State::Fulfilled(Some(1)), "keep {keep}");
        let mut clones = clones.borrow_mut().take().unwrap();
        let c = clones.pop().unwrap();
        let cc = clones.pop().unwrap();
        assert_eq!(c.to_list().state(), State::Fulfilled(vec![2, 3]));
        assert_eq!(cc.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
        let rest = if keep { vec![2, 3] } else { vec![1, 2, 3] };
        assert_eq!(s.to_list().state(), State::Fulfilled(rest), "keep {keep}");
    }
}

#[test]
fn a_clone_made_inside_the_predicate_can_read_an_element_still_buffered() {
    // Another clone is at the element: it stays in the queue, a new clone reads it at once.
    let s = Rc::new(stream::of_list(vec![1, 2]));
    let other = (*s).clone();
    let reads: Slot<Vec<Promise<Option<i32>>>> = slot(Vec::new());
    let (s2, r2) = (s.clone(), reads.clone());
    let run = s.get_while(move |x| {
        if *x == 1 {
            let c = (*s2).clone();
            let got = c.get();
            assert_eq!(got.state(), State::Fulfilled(Some(1)));
            r2.borrow_mut().as_mut().unwrap().push(c.get());
        }
        false
    });
    assert_eq!(run.state(), State::Fulfilled(vec![]));
    let second = reads.borrow_mut().take().unwrap().pop().unwrap();
    assert_eq!(second.state(), State::Fulfilled(Some(2)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(other.to_list().state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn a_clone_dropped_inside_the_predicate_leaves_nothing_behind() {
    let s = Rc::new(stream::of_list(vec![1, 2, 3]));
    let s2 = s.clone();
    let run = s.get_while(move |x| {
        let c = (*s2).clone();
        let p = c.get();
        drop(c);
        drop(p);
        *x < 2
    });
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    assert_eq!(s.buffered(), 2);
    let late = (*s).clone();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
    assert_eq!(late.to_list().state(), State::Fulfilled(vec![2, 3]));
}

#[test]
fn a_push_inside_the_predicate_comes_after_the_tested_element() {
    let (s, push) = stream::create();
    push.push(1).unwrap();
    let push = Rc::new(push);
    let p2 = push.clone();
    let run = s.get_while(move |x| {
        if *x < 3 {
            p2.push(x + 1).unwrap();
        }
        *x < 2
    });
    // 1 is kept (pushing 2), 2 is rejected (pushing 3) and stays, before 3.
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    push.close();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

#[test]
fn closing_inside_the_predicate() {
    for keep in [false, true] {
        let (s, push) = stream::create();
        push.push(1).unwrap();
        let push = Rc::new(push);
        let p2 = push.clone();
        let run = s.get_while(move |_| {
            p2.close();
            keep
        });
        let (got, rest) = if keep {
            (vec![1], vec![])
        } else {
            (vec![], vec![1])
        };
        assert_eq!(run.state(), State::Fulfilled(got));
        assert!(s.is_closed());
        assert_eq!(s.to_list().state(), State::Fulfilled(rest));
    }
}

#[test]
fn dropping_the_stream_inside_the_predicate() {
    let (s, push) = stream::create();
    let holder = slot(s);
    let h2 = holder.clone();
    // The run waits, so the predicate runs later, when nothing but the slot holds the stream.
    let run = holder.borrow().as_ref().unwrap().get_while(move |x| {
        drop(h2.borrow_mut().take()); // the only handle
        *x < 3
    });
    assert!(run.is_pending());
    push.push(1).unwrap();
    assert!(holder.borrow().is_none());
    assert!(run.is_pending()); // the run reads on
    push.push(2).unwrap();
    assert!(run.is_pending());
    push.push(3).unwrap();
    assert_eq!(run.state(), State::Fulfilled(vec![1, 2]));
    // The run was the last reader: nothing can read the stream any more.
    assert_eq!(push.push(4), Err(stream::Closed));
}

#[test]
fn dropping_the_stream_and_producer_while_the_run_waits() {
    let (s, push) = stream::create();
    push.push(1).unwrap();
    let run = s.get_while(|_| true);
    drop(s);
    assert!(run.is_pending());
    drop(push); // closes the stream
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
}

#[test]
fn a_panicking_predicate_rejects_and_puts_everything_back() {
    let s = stream::of_list(vec![1, 2, 3]);
    let run = s.get_while(|x| {
        assert!(*x < 2, "predicate broke");
        true
    });
    let e = run.rejection().unwrap();
    assert_eq!(
        e.downcast_ref::<Panicked>().unwrap().message(),
        "predicate broke"
    );
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
}

#[test]
fn a_panicking_junk_predicate_puts_the_tested_element_back() {
    let s = stream::of_list(vec![1, 2, 3]);
    let run = s.junk_while(|x| {
        assert!(*x < 2, "predicate broke");
        true
    });
    assert!(run.rejection().unwrap().is::<Panicked>());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

// ---- cancellation -------------------------------------------------------------------------------

#[test]
fn canceling_a_waiting_run_puts_its_elements_back_and_withdraws_it() {
    let (s, push) = stream::create();
    push.push(1).unwrap();
    push.push(2).unwrap();
    let run = s.get_while(|x| *x < 5);
    assert!(run.is_pending());
    run.cancel();
    assert!(run.rejection().unwrap().is_canceled());
    assert_eq!(s.waiting_reads(), 0);
    // The run's request is gone: a later element goes to the next read.
    push.push(3).unwrap();
    assert_eq!(s.nget(3).state(), State::Fulfilled(vec![1, 2, 3]));
    let next = s.get();
    push.push(4).unwrap();
    assert_eq!(next.state(), State::Fulfilled(Some(4)));
}

#[test]
fn canceling_a_run_queued_behind_a_read() {
    let (s, push) = stream::create();
    let first = s.get();
    let run = s.get_while(|_| true);
    let after = s.get();
    run.cancel();
    assert!(run.rejection().unwrap().is_canceled());
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert_eq!(first.state(), State::Fulfilled(Some(1)));
    assert_eq!(after.state(), State::Fulfilled(Some(2)));
    assert_eq!(s.waiting_reads(), 0);
}

#[test]
fn canceling_a_waiting_junk_run_keeps_what_it_dropped() {
    let (s, push) = stream::create();
    push.push(0).unwrap();
    let run = s.junk_while(|x| *x == 0);
    run.cancel();
    assert!(run.rejection().unwrap().is_canceled());
    push.push(0).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(0)));
    assert_eq!(s.waiting_reads(), 0);
}

#[test]
fn canceling_while_the_predicate_promise_is_pending() {
    let s = stream::of_list(vec![1, 2, 3]);
    let resolvers: Slot<Vec<Resolver<bool>>> = slot(Vec::new());
    let r2 = resolvers.clone();
    let run = s.get_while_s(move |_| {
        let (p, r) = task();
        r2.borrow_mut().as_mut().unwrap().push(r);
        p
    });
    let first = resolvers.borrow_mut().as_mut().unwrap().remove(0);
    first.wakeup(true); // 1 kept
    assert!(run.is_pending()); // testing 2
    let next = s.get();
    assert!(next.is_pending());
    run.cancel();
    assert!(run.rejection().unwrap().is_canceled());
    assert_eq!(next.state(), State::Fulfilled(Some(1)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

// ---- `_s` -----------------------------------------------------------------------------------------

#[test]
fn reads_wait_while_the_predicate_promise_is_pending() {
    for verdict in [false, true] {
        let s = stream::of_list(vec![1, 2, 3]);
        let resolvers: Slot<Vec<Resolver<bool>>> = slot(Vec::new());
        let r2 = resolvers.clone();
        let run = s.get_while_s(move |x| {
            if *x == 1 {
                let (p, r) = wait();
                r2.borrow_mut().as_mut().unwrap().push(r);
                p
            } else {
                Promise::ret(false)
            }
        });
        let a = s.get();
        let b = s.peek();
        let avail = s.get_available();
        assert!(avail.is_empty(), "the run owns the handle");
        assert!(a.is_pending() && b.is_pending());
        assert_eq!(s.buffered(), 3, "the tested element is still counted");
        let r = resolvers.borrow_mut().as_mut().unwrap().pop().unwrap();
        r.wakeup(verdict);
        if verdict {
            assert_eq!(run.state(), State::Fulfilled(vec![1]));
            assert_eq!(a.state(), State::Fulfilled(Some(2)));
            assert_eq!(b.state(), State::Fulfilled(Some(3)));
        } else {
            assert_eq!(run.state(), State::Fulfilled(vec![]));
            assert_eq!(a.state(), State::Fulfilled(Some(1)));
            assert_eq!(b.state(), State::Fulfilled(Some(2)));
        }
    }
}

#[test]
fn a_rejected_predicate_promise_rejects_and_puts_the_elements_back() {
    let s = stream::of_list(vec![1, 2, 3]);
    let run = s.get_while_s(|x| {
        if *x < 2 {
            Promise::ret(true)
        } else {
            let (p, r) = wait::<bool>();
            r.wakeup_exn(Exn::failure("no verdict"));
            p
        }
    });
    assert_eq!(run.rejection().unwrap().to_string(), "no verdict");
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));

    // Later, with a pending promise: the reads queued meanwhile are served in order.
    let s = stream::of_list(vec![1, 2]);
    let (verdict, r) = wait::<bool>();
    let verdict = slot(verdict);
    let run = s.junk_while_s(move |_| verdict.borrow_mut().take().unwrap());
    let next = s.get();
    r.wakeup_exn(Exn::failure("late"));
    assert_eq!(run.rejection().unwrap().to_string(), "late");
    assert_eq!(next.state(), State::Fulfilled(Some(1)));
}

#[test]
fn two_runs_on_one_handle_are_served_in_order() {
    let s = stream::of_list(vec![1, 2, 3, 4, 5]);
    let (verdict, r) = wait::<bool>();
    let verdict = slot(verdict);
    let first = s.get_while_s(move |x| match verdict.borrow_mut().take() {
        Some(p) => p,
        None => Promise::ret(*x < 3),
    });
    let second = s.get_while(|x| *x < 5);
    let third = s.get();
    assert!(first.is_pending() && second.is_pending() && third.is_pending());
    r.wakeup(true);
    assert_eq!(first.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(second.state(), State::Fulfilled(vec![3, 4]));
    assert_eq!(third.state(), State::Fulfilled(Some(5)));
}

#[test]
fn runs_on_two_clones_testing_the_same_element() {
    for (va, vb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = stream::of_list(vec![1, 2]);
        let b = a.clone();
        let (pa, ra) = wait::<bool>();
        let (pb, rb) = wait::<bool>();
        let (pa, pb) = (slot(pa), slot(pb));
        let run_a = a.get_while_s(move |_| pa.borrow_mut().take().unwrap_or(Promise::ret(false)));
        let run_b = b.get_while_s(move |_| pb.borrow_mut().take().unwrap_or(Promise::ret(false)));
        assert_eq!(a.buffered(), 2);
        ra.wakeup(va);
        rb.wakeup(vb);
        let expect = |v: bool| if v { vec![1] } else { vec![] };
        assert_eq!(run_a.state(), State::Fulfilled(expect(va)));
        assert_eq!(run_b.state(), State::Fulfilled(expect(vb)));
        let rest = |v: bool| if v { vec![2] } else { vec![1, 2] };
        assert_eq!(a.to_list().state(), State::Fulfilled(rest(va)), "{va} {vb}");
        assert_eq!(b.to_list().state(), State::Fulfilled(rest(vb)), "{va} {vb}");
    }
}

// ---- bounded streams ----------------------------------------------------------------------------

#[test]
fn bounded_the_tested_element_counts_in_the_bound() {
    let (s, push) = stream::create_bounded(1);
    assert!(push.push(1).is_fulfilled());
    let second = push.push(2);
    assert!(second.is_pending());
    let push = Rc::new(push);
    let (p2, s2) = (push.clone(), second.clone());
    let run = s.get_while(move |x| {
        if *x == 1 {
            // 1 is out of the queue for the test, but still in the stream: no room yet.
            assert_eq!(p2.count(), 1);
            assert!(s2.is_pending());
        }
        *x == 1
    });
    // 1 was kept: 2 came in, and stopped the run.
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    assert!(second.is_fulfilled());
    assert_eq!(push.count(), 1);
    assert!(push.push(3).is_pending());
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
}

#[test]
fn bounded_an_element_put_back_keeps_its_place_in_the_bound() {
    let (s, push) = stream::create_bounded(1);
    assert!(push.push(1).is_fulfilled());
    let second = push.push(2);
    let run = s.get_while(|_| false);
    assert_eq!(run.state(), State::Fulfilled(vec![]));
    assert!(second.is_pending());
    assert_eq!(push.count(), 1);
    assert!(push.blocked());
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    assert!(second.is_fulfilled());
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
}

#[test]
fn bounded_zero_hands_over_to_a_run_and_takes_a_rejected_element_back() {
    let (s, push) = stream::create_bounded(0);
    let run = s.get_while(|x| *x < 5);
    let p1 = push.push(1);
    assert!(p1.is_fulfilled());
    let p9 = push.push(9);
    assert!(p9.is_fulfilled());
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    // 9 went back: one over the bound of 0, and the next push waits.
    assert_eq!(push.count(), 1);
    let p3 = push.push(3);
    assert!(p3.is_pending());
    assert_eq!(s.get().state(), State::Fulfilled(Some(9)));
    assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
    assert!(p3.is_fulfilled());
}

#[test]
fn bounded_canceling_a_run_puts_its_elements_back() {
    let (s, push) = stream::create_bounded(2);
    assert!(push.push(1).is_fulfilled());
    assert!(push.push(2).is_fulfilled());
    let run = s.get_while(|_| true);
    let p3 = push.push(3);
    let p4 = push.push(4);
    assert!(p3.is_fulfilled() && p4.is_fulfilled()); // the run made room
    run.cancel();
    assert!(run.rejection().unwrap().is_canceled());
    assert_eq!(push.count(), 4);
    assert!(push.push(5).is_pending());
    assert_eq!(s.nget(4).state(), State::Fulfilled(vec![1, 2, 3, 4]));
}

// ---- generators and derived streams -------------------------------------------------------------

#[test]
fn a_generator_is_called_only_for_the_elements_needed() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let s = stream::from_direct(move || {
        c.set(c.get() + 1);
        Some(c.get())
    });
    assert_eq!(
        s.get_while(|x| *x < 4).state(),
        State::Fulfilled(vec![1, 2, 3])
    );
    assert_eq!(calls.get(), 4);
    assert_eq!(s.get().state(), State::Fulfilled(Some(4)));
    assert_eq!(calls.get(), 4);
}

#[test]
fn a_pending_generator_and_a_get_inside_the_predicate() {
    let (s, rs, calls) = manual::<i32>();
    let s = Rc::new(s);
    let inner: Slot<Promise<Option<i32>>> = Rc::new(RefCell::new(None));
    let (s2, i2) = (s.clone(), inner.clone());
    let run = s.get_while(move |x| {
        if *x == 1 {
            *i2.borrow_mut() = Some(s2.get());
        }
        *x < 2
    });
    assert_eq!(calls.get(), 1);
    next_resolver(&rs).wakeup(Some(1));
    // 1 was kept; the inner get waits behind the run, which asked for the next element.
    assert_eq!(calls.get(), 2);
    assert!(run.is_pending());
    next_resolver(&rs).wakeup(Some(2));
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    let p = inner.borrow_mut().take().unwrap();
    assert_eq!(p.state(), State::Fulfilled(Some(2)));
    assert_eq!(calls.get(), 2);
}

#[test]
fn a_generator_failure_rejects_the_run_and_puts_its_elements_back() {
    let (s, rs, _) = manual::<i32>();
    let run = s.get_while(|_| true);
    next_resolver(&rs).wakeup(Some(1));
    next_resolver(&rs).wakeup_exn(Exn::failure("generator failed"));
    assert_eq!(run.rejection().unwrap().to_string(), "generator failed");
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
    let next = s.get();
    next_resolver(&rs).wakeup(Some(2));
    assert_eq!(next.state(), State::Fulfilled(Some(2)));
}

#[test]
fn a_stored_generator_failure_goes_to_the_run() {
    let (s, rs, _) = manual::<i32>();
    let first = s.get();
    first.cancel();
    next_resolver(&rs).wakeup_exn(Exn::failure("stored"));
    let run = s.get_while(|_| true);
    assert_eq!(run.rejection().unwrap().to_string(), "stored");
    let next = s.get();
    next_resolver(&rs).wakeup(Some(5));
    assert_eq!(next.state(), State::Fulfilled(Some(5)));
}

#[test]
fn over_map_and_filter() {
    let s = stream::of_list(vec![1, 2, 3, 4, 5, 6]);
    let m = s.map(|x| x * 10).filter(|x| *x != 20);
    assert_eq!(
        m.get_while(|x| *x < 40).state(),
        State::Fulfilled(vec![10, 30])
    );
    assert_eq!(m.to_list().state(), State::Fulfilled(vec![40, 50, 60]));
}

#[test]
fn on_the_source_of_a_waiting_map() {
    let (s, push) = stream::create();
    let src = s.clone();
    let m = s.map(|x| x + 100);
    let waiting = m.get();
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert_eq!(waiting.state(), State::Fulfilled(Some(101)));
    assert_eq!(src.get_while(|x| *x < 2).state(), State::Fulfilled(vec![1]));
    assert_eq!(m.get().state(), State::Fulfilled(Some(102)));
    assert_eq!(src.get().state(), State::Fulfilled(Some(2)));
}

#[test]
fn a_map_waiting_inside_the_predicate() {
    // A derived stream made from a clone inside the predicate waits for the tested element.
    let (s, push) = stream::create();
    push.push(1).unwrap();
    push.push(2).unwrap();
    let s = Rc::new(s);
    let mapped: Slot<Promise<Option<i32>>> = Rc::new(RefCell::new(None));
    let (s2, m2) = (s.clone(), mapped.clone());
    let run = s.get_while(move |x| {
        if *x == 1 {
            let m = (*s2).clone().map(|x| x * 10);
            *m2.borrow_mut() = Some(m.get());
        }
        false
    });
    assert_eq!(run.state(), State::Fulfilled(vec![]));
    let got = mapped.borrow_mut().take().unwrap();
    assert_eq!(got.state(), State::Fulfilled(Some(10)));
    assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
}

// ---- parse --------------------------------------------------------------------------------------

/// A parser that reads `n` elements and fails.
fn fail_after<T: Clone + 'static>(n: usize) -> impl FnOnce(&Stream<T>) -> Promise<Vec<T>> {
    move |s| s.nget(n).bind(|_| Promise::fail_with("the parser gave up"))
}

#[test]
fn parse_rewinds_on_failure_and_keeps_on_success() {
    let s = stream::of_list(vec![1, 2, 3]);
    let failed = s.parse(fail_after(2));
    assert_eq!(
        failed.rejection().unwrap().to_string(),
        "the parser gave up"
    );
    assert_eq!(s.buffered(), 3);
    let ok = s.parse(|s| s.nget(2));
    assert_eq!(ok.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
    assert_eq!(s.buffered(), 0, "the mark is gone");
}

#[test]
fn parse_a_panicking_parser_rewinds() {
    let s = stream::of_list(vec![1, 2]);
    let p = s.parse(|s: &Stream<i32>| -> Promise<()> {
        drop(s.get());
        panic!("parser broke")
    });
    assert!(p.rejection().unwrap().is::<Panicked>());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn parse_waiting_for_elements_then_failing() {
    let (s, push) = stream::create();
    let s = Rc::new(s);
    let s2 = s.clone();
    let p = s.parse(move |_| {
        s2.get().bind(move |a| {
            s2.get().bind(move |b| {
                if a == Some(1) && b == Some(1) {
                    Promise::ret(())
                } else {
                    Promise::fail_with("not 1 1")
                }
            })
        })
    });
    push.push(1).unwrap();
    assert!(p.is_pending());
    push.push(2).unwrap();
    assert_eq!(p.rejection().unwrap().to_string(), "not 1 1");
    push.close();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn parse_reads_left_pending_read_from_the_start_again() {
    let (s, push) = stream::create();
    push.push(1).unwrap();
    let left: Slot<Promise<Option<i32>>> = Rc::new(RefCell::new(None));
    let l2 = left.clone();
    let p = s.parse(move |s| {
        assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
        *l2.borrow_mut() = Some(s.get()); // nothing more yet
        Promise::<()>::fail_with("gave up")
    });
    assert!(p.is_rejected());
    let left = left.borrow_mut().take().unwrap();
    assert_eq!(left.state(), State::Fulfilled(Some(1)));
    push.push(2).unwrap();
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
}

#[test]
fn parse_on_a_bounded_stream_is_an_invalid_argument() {
    let (s, _push) = stream::create_bounded::<i32>(2);
    let called = Rc::new(Cell::new(false));
    let c = called.clone();
    let p = s.parse(move |s| {
        c.set(true);
        s.get()
    });
    assert!(p.rejection().unwrap().is::<lwt_core::InvalidArgument>());
    assert!(!called.get());
}

#[test]
fn parse_canceled_rewinds() {
    let s = stream::of_list(vec![1, 2]);
    let (t, _r) = task::<()>();
    let p = s.parse(move |s| {
        drop(s.get());
        t
    });
    assert!(p.is_pending());
    p.cancel();
    assert!(p.rejection().unwrap().is_canceled());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
}

#[test]
fn parse_nested() {
    let s = Rc::new(stream::of_list(vec![1, 2, 3]));
    let s2 = s.clone();
    let outer = s.parse(move |s| {
        let first = s.get();
        let inner = s2.parse(fail_after(2));
        assert!(inner.is_rejected());
        first.bind(move |a| s2.get().map(move |b| (a, b)))
    });
    assert_eq!(outer.state(), State::Fulfilled((Some(1), Some(2))));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![3]));
}

#[test]
fn parse_failing_while_a_run_it_started_owns_the_handle() {
    for keep_first in [false, true] {
        let s = stream::of_list(vec![1, 2, 3]);
        let (verdict, r) = wait::<bool>();
        let verdict = slot(verdict);
        let run: Slot<Promise<Vec<i32>>> = Rc::new(RefCell::new(None));
        let run2 = run.clone();
        let p = s.parse(move |s| {
            let got =
                s.get_while_s(move |_| verdict.borrow_mut().take().unwrap_or(Promise::ret(false)));
            *run2.borrow_mut() = Some(got);
            Promise::<()>::fail_with("gave up")
        });
        // The rewind waits for the run.
        assert!(p.is_pending());
        r.wakeup(keep_first);
        let run = run.borrow_mut().take().unwrap();
        let expected = if keep_first { vec![1] } else { vec![] };
        assert_eq!(run.state(), State::Fulfilled(expected));
        assert_eq!(p.rejection().unwrap().to_string(), "gave up");
        assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
    }
}

// ---- found in review --------------------------------------------------------------------------

/// A clone made during a test, whose handle is dropped while its read waits, and whose read is
/// then canceled, can never read again: it must not pin the buffer (nor block a bounded push).
#[test]
fn an_abandoned_clone_made_during_a_test_does_not_pin_the_stream() {
    for keep in [false, true] {
        let (s, push) = stream::create_bounded::<i32>(1);
        let s = Rc::new(s);
        let (verdict, r) = wait::<bool>();
        let verdict = slot(verdict);
        let s2 = s.clone();
        let read: Slot<Promise<Option<i32>>> = Rc::default();
        let read2 = read.clone();
        let run = s.get_while_s(move |_| match verdict.borrow_mut().take() {
            Some(verdict) => {
                // Made while 1 is under test; its handle is dropped at the end of this call.
                let c = (*s2).clone();
                *read2.borrow_mut() = Some(c.get());
                verdict
            }
            None => Promise::ret(false),
        });
        assert!(push.push(1).is_fulfilled());
        read.borrow_mut().take().unwrap().cancel();
        r.wakeup(keep);
        if keep {
            // 1 is kept and the run waits for the next element: the bound has room for it.
            assert!(push.push(2).is_fulfilled());
            assert_eq!(run.state(), State::Fulfilled(vec![1]));
        } else {
            assert_eq!(run.state(), State::Fulfilled(vec![]));
            assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
            assert!(push.push(2).is_fulfilled());
        }
        assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
        // The only live reader has read everything: nothing is buffered, the bound has room.
        assert_eq!(s.buffered(), 0, "keep = {keep}");
        assert!(push.push(3).is_fulfilled(), "keep = {keep}");
        assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
    }
}

/// A parser's start is where its first read starts: behind a read already pending on the handle.
#[test]
fn parse_starts_behind_the_reads_already_pending() {
    let (s, push) = stream::create::<i32>();
    let before = s.get();
    let parsed = s.parse(|s| s.get().bind(|_| Promise::<()>::fail_with("no")));
    push.push(1).unwrap();
    push.push(2).unwrap();
    assert_eq!(before.state(), State::Fulfilled(Some(1)));
    assert!(parsed.is_rejected());
    // 2 was read by the parser, and given back; 1 was not, and stays read.
    assert_eq!(s.get().state(), State::Fulfilled(Some(2)));
    push.close();
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![]));
}

/// A parse started inside a predicate, on the handle the run owns, starts after the run: its
/// failure gives back nothing the run took.
#[test]
fn parse_inside_a_predicate_starts_after_the_run() {
    let s = Rc::new(stream::of_list(vec![1, 2, 3]));
    let s2 = s.clone();
    let run = s.get_while(move |x| {
        if *x == 1 {
            assert!(s2.parse(|_| Promise::<()>::fail_with("no")).is_rejected());
        }
        *x < 2
    });
    assert_eq!(run.state(), State::Fulfilled(vec![1]));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
}

/// A parser that succeeds while its mark is still filed (none of its reads served yet) leaves no
/// mark behind: its reads are then served as plain reads, in order.
#[test]
fn parse_that_succeeds_before_its_reads_are_served_leaves_nothing_filed() {
    let (s, push) = stream::create::<i32>();
    let before = s.get();
    let later: Slot<Promise<Option<i32>>> = Rc::default();
    let later2 = later.clone();
    let parsed = s.parse(move |s| {
        *later2.borrow_mut() = Some(s.get());
        Promise::ret("done")
    });
    assert_eq!(parsed.state(), State::Fulfilled("done"));
    push.push(1).unwrap();
    push.push(2).unwrap();
    push.push(3).unwrap();
    assert_eq!(before.state(), State::Fulfilled(Some(1)));
    let later = later.borrow_mut().take().unwrap();
    assert_eq!(later.state(), State::Fulfilled(Some(2)));
    assert_eq!(s.get().state(), State::Fulfilled(Some(3)));
    assert_eq!(s.buffered(), 0);
}

/// An outer parser reads 1, a `get_while_s` run takes 2 under test, an inner parser (on another
/// handle of the same stream) fails, then the outer one fails, and only then does the run's
/// predicate say no: the stream must be whole again. `run_in_inner`: the inner parser starts the
/// run (both starts were taken with the handle idle, so both rewinds wait behind the run and must
/// apply in the order they failed); otherwise the outer parser starts the run before the inner
/// parse (whose start then waits behind the run, and is withdrawn when it fails).
fn nested_parses_fail_while_a_run_owns_the_handle(run_in_inner: bool) {
    let s = Rc::new(stream::of_list(vec![1, 2, 3, 4]));
    let s2 = s.clone();
    let (verdict, r) = wait::<bool>();
    let verdict = slot(verdict);
    let keep: Rc<RefCell<Vec<Box<dyn std::any::Any>>>> = Rc::default();
    let outer = s.parse(move |s| {
        assert_eq!(s.get().state(), State::Fulfilled(Some(1)));
        let kept = keep.clone();
        let start_run = move |s: &Stream<i32>| {
            let run =
                s.get_while_s(move |_| verdict.borrow_mut().take().unwrap_or(Promise::ret(false)));
            kept.borrow_mut().push(Box::new(run));
        };
        let inner = if run_in_inner {
            s2.parse(move |s| {
                start_run(s);
                Promise::<()>::fail_with("inner")
            })
        } else {
            start_run(s);
            s2.parse(|_| Promise::<()>::fail_with("inner"))
        };
        keep.borrow_mut().push(Box::new(inner));
        Promise::<()>::fail_with("outer")
    });
    r.wakeup(false);
    assert!(outer.is_rejected());
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3, 4]));
}

#[test]
fn nested_parse_rewinds_filed_during_a_run_apply_in_failure_order() {
    nested_parses_fail_while_a_run_owns_the_handle(true);
}

#[test]
fn a_parse_started_behind_a_run_and_failed_leaves_no_rewind() {
    nested_parses_fail_while_a_run_owns_the_handle(false);
}

// ---- hexdump ----------------------------------------------------------------------------------

/// The lines real Lwt 5.6's `Lwt_stream.hexdump` prints for the same bytes (copied from its
/// output), including a line of exactly 16 bytes, one of 1, an empty input, and bytes outside the
/// printable range.
#[test]
fn hexdump_matches_lwt_line_for_line() {
    let dump = |bytes: &[u8]| {
        let s = stream::of_list(bytes.to_vec()).hexdump();
        match s.to_list().state() {
            State::Fulfilled(lines) => lines,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(dump(b""), Vec::<String>::new());
    assert_eq!(
        dump(b"0123456789abcdef0"),
        vec![
            "00000000|  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|",
            "00000010|  30                                                |0|",
        ]
    );
    assert_eq!(
        dump(b"\x00\x01\x7f\xff ~\n"),
        vec!["00000000|  00 01 7f ff 20 7e 0a                              |.... ~.|"]
    );
}

/// A line waits for its 16 bytes (or the end), and lines follow the bytes as they arrive.
#[test]
fn hexdump_makes_a_line_once_its_bytes_are_there() {
    let (s, push) = stream::create::<u8>();
    let lines = s.hexdump();
    let first = lines.get();
    for b in 0..15 {
        push.push(b).unwrap();
    }
    assert!(first.is_pending());
    push.push(15).unwrap();
    assert!(
        matches!(first.state(), State::Fulfilled(Some(l)) if l.starts_with("00000000|  00 01"))
    );
    let second = lines.get();
    push.push(b'A').unwrap();
    assert!(second.is_pending());
    push.close();
    assert!(
        matches!(second.state(), State::Fulfilled(Some(l)) if l.starts_with("00000010|  41 ") && l.ends_with("|A|"))
    );
    assert_eq!(lines.get().state(), State::Fulfilled(None));
}
