//! Behaviour of `seq` (Lwt_seq): laziness, constructors, transformers, consumers, errors, and
//! stack safety on a million ready nodes, and on dropping a million nested `cons` or `append`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::seq::{self, Node, Seq};
use lwt_core::{main, wait, Exn, Panicked, Promise, Resolver, State};

fn counter() -> (Rc<Cell<u32>>, Rc<Cell<u32>>) {
    let c = Rc::new(Cell::new(0));
    (c.clone(), c)
}

#[test]
fn nothing_runs_before_a_node_is_forced() {
    let (forced, f) = counter();
    let (mapped, m) = counter();
    let s = seq::unfold(0, move |n| {
        f.set(f.get() + 1);
        Some((n, n + 1))
    })
    .map(move |x| {
        m.set(m.get() + 1);
        x * 2
    });
    assert_eq!((forced.get(), mapped.get()), (0, 0));
    let first = s.force().map(|node| match node {
        Node::Cons(x, _) => x,
        Node::Nil => -1,
    });
    assert_eq!(first.state(), State::Fulfilled(0));
    assert_eq!((forced.get(), mapped.get()), (1, 1));
}

#[test]
fn constructors() {
    assert_eq!(
        seq::empty::<u8>().to_list().state(),
        State::Fulfilled(vec![])
    );
    assert_eq!(seq::ret(1).to_list().state(), State::Fulfilled(vec![1]));
    assert_eq!(
        seq::cons(1, seq::cons(2, seq::empty())).to_list().state(),
        State::Fulfilled(vec![1, 2])
    );
    let (p, r) = wait();
    let s = seq::cons_lwt(p, seq::ret_lwt(Promise::ret(2))).to_list();
    assert!(s.is_pending());
    r.wakeup(1);
    assert_eq!(s.state(), State::Fulfilled(vec![1, 2]));
    assert_eq!(
        seq::of_list(vec!['a', 'b']).to_list().state(),
        State::Fulfilled(vec!['a', 'b'])
    );
    assert_eq!(
        seq::of_iter((1..4).rev()).to_list().state(),
        State::Fulfilled(vec![3, 2, 1])
    );
    let (a, ra) = wait();
    let all = seq::of_promises(vec![a, Promise::ret(2)]).to_list();
    ra.wakeup(1);
    assert_eq!(all.state(), State::Fulfilled(vec![1, 2]));
    let s = Seq::new(|| Promise::ret(Node::Cons(5, seq::empty())));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![5]));
}

#[test]
fn unfold_and_unfold_lwt() {
    let s = seq::unfold(3, |n| (n > 0).then_some((n, n - 1)));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![3, 2, 1]));
    let pages = seq::unfold_lwt(0, |page| {
        main::pause().map(move |()| (page < 3).then_some((page * 10, page + 1)))
    });
    assert_eq!(main::run(pages.to_list()).unwrap(), vec![0, 10, 20]);
}

#[test]
fn transformers() {
    let s = seq::of_list((1..=10).collect::<Vec<i32>>())
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .filter_s(|x| Promise::ret(*x != 6))
        .filter_map(|x| (x < 10).then_some(x * 10))
        .filter_map_s(|x| Promise::ret(Some(x + 1)))
        .map_s(|x| Promise::ret(x.to_string()));
    assert_eq!(
        s.to_list().state(),
        State::Fulfilled(vec!["21".to_string(), "41".into(), "81".into()])
    );
    let s = seq::of_list(vec![1, 2]).append(seq::of_list(vec![3]));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 3]));
    let s = seq::of_list(vec![0, 2, 0, 1]).flat_map(|n| seq::of_iter(0..n));
    assert_eq!(s.to_list().state(), State::Fulfilled(vec![0, 1, 0]));
}

#[test]
fn transformers_with_pending_promises() {
    let waits: Rc<RefCell<Vec<Resolver<bool>>>> = Rc::default();
    let w = waits.clone();
    let s = seq::of_list(vec![1, 2, 3]).filter_s(move |_| {
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    let all = s.map_s(|x| main::pause().map(move |()| x * 100)).to_list();
    assert_eq!(waits.borrow().len(), 1, "one predicate at a time");
    for keep in [true, false, true] {
        let r = waits.borrow_mut().remove(0);
        r.wakeup(keep);
        main::run(main::pause()).unwrap();
    }
    assert_eq!(main::run(all).unwrap(), vec![100, 300]);
}

#[test]
fn consumers() {
    let s = || seq::of_list(vec![1, 2, 3, 4]);
    assert_eq!(s().fold_left(0, |a, x| a + x).state(), State::Fulfilled(10));
    assert_eq!(
        s().fold_left_s(0, |a, x| Promise::ret(a * 10 + x)).state(),
        State::Fulfilled(1234)
    );
    let seen = Rc::new(RefCell::new(Vec::new()));
    let l = seen.clone();
    assert!(s().iter(move |x| l.borrow_mut().push(x)).is_fulfilled());
    let l = seen.clone();
    assert!(s()
        .iter_s(move |x| {
            l.borrow_mut().push(-x);
            Promise::ret(())
        })
        .is_fulfilled());
    assert_eq!(*seen.borrow(), [1, 2, 3, 4, -1, -2, -3, -4]);
}

#[test]
fn iter_s_waits_iter_p_does_not() {
    let waits: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let w = waits.clone();
    let s = seq::of_list(vec![1, 2, 3]).iter_s(move |_| {
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    assert_eq!(waits.borrow().len(), 1);
    while !waits.borrow().is_empty() {
        let r = waits.borrow_mut().remove(0);
        r.wakeup(());
    }
    assert!(s.is_fulfilled());

    let w = waits.clone();
    let p = seq::of_list(vec![1, 2, 3]).iter_p(move |_| {
        let (p, r) = wait();
        w.borrow_mut().push(r);
        p
    });
    assert_eq!(waits.borrow().len(), 3);
    while let Some(r) = waits.borrow_mut().pop() {
        r.wakeup(());
    }
    assert!(p.is_fulfilled());
}

#[test]
fn iter_n_bounds_the_concurrency() {
    let running = Rc::new(Cell::new(0));
    let max = Rc::new(Cell::new(0));
    let (r, m) = (running.clone(), max.clone());
    let done = seq::of_iter(0..100).iter_n(4, move |i| {
        r.set(r.get() + 1);
        m.set(m.get().max(r.get()));
        let r = r.clone();
        let p = if i % 3 == 0 {
            main::pause().bind(|()| main::pause())
        } else {
            main::pause()
        };
        p.map(move |()| r.set(r.get() - 1))
    });
    main::run(done).unwrap();
    assert_eq!(max.get(), 4);
    assert!(seq::of_list(vec![1])
        .iter_n(0, |_| Promise::ret(()))
        .rejection()
        .unwrap()
        .is::<lwt_core::InvalidArgument>());
}

#[test]
fn errors_and_panics() {
    let s = seq::cons(1, seq::fail::<i32>(Exn::failure("broken")));
    assert_eq!(s.to_list().rejection().unwrap().to_string(), "broken");
    let s = Seq::<i32>::new(|| panic!("while forcing"));
    assert_eq!(
        s.force()
            .rejection()
            .unwrap()
            .downcast_ref::<Panicked>()
            .unwrap()
            .message(),
        "while forcing"
    );
    let s = seq::of_list(vec![1, 2]).map(|x| {
        if x == 2 {
            panic!("in map")
        }
        x
    });
    assert!(s.to_list().rejection().unwrap().is::<Panicked>());
    let s = seq::of_list(vec![1]).filter(|_| panic!("in filter"));
    assert!(s.to_list().rejection().unwrap().is::<Panicked>());
    let s = seq::of_list(vec![1]).flat_map(|_| -> Seq<i32> { panic!("in flat_map") });
    assert!(s.to_list().rejection().unwrap().is::<Panicked>());
    let p = seq::of_list(vec![1, 2, 3]).iter_p(|x| {
        if x >= 2 {
            Promise::fail_with(format!("failed {x}"))
        } else {
            Promise::ret(())
        }
    });
    assert_eq!(p.rejection().unwrap().to_string(), "failed 2");
    let p = seq::of_list(vec![1]).fold_left_s(0, |_, _| Promise::fail_with("fold"));
    assert!(p.is_rejected());
}

#[test]
fn a_failing_iter_p_callback_leaves_the_pending_node_of_the_sequence_alone() {
    // Found in review: a callback's failure canceled the sequence's pending node, which is the
    // user's own promise (a network read, say). It is now left to run; its element is ignored.
    let (node, resolve_node) = lwt_core::task::<i32>();
    let node_handle = node.clone();
    let (first, fail_first) = wait::<()>();
    let mut first = Some(first);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let p = seq::cons(1, seq::ret_lwt(node)).iter_p(move |x| {
        s2.borrow_mut().push(x);
        first.take().unwrap_or_else(lwt_core::return_unit)
    });
    assert!(p.is_pending());
    fail_first.wakeup_exn(Exn::failure("boom"));
    assert!(
        node_handle.is_pending(),
        "the user's promise is not canceled"
    );
    assert_eq!(p.rejection().unwrap().to_string(), "boom");
    resolve_node.wakeup(2);
    assert_eq!(*seen.borrow(), [1], "no callback after the failure");
}

#[test]
fn canceling_iter_p_cancels_the_running_callbacks_and_the_pending_node() {
    // Canceling the result reaches what it waits on: the callbacks and the node being forced.
    let (node, _keep) = lwt_core::task::<i32>();
    let node_handle = node.clone();
    let (cb, _keep_cb) = lwt_core::task::<()>();
    let cb_handle = cb.clone();
    let mut cb = Some(cb);
    let p = seq::cons(1, seq::ret_lwt(node)).iter_p(move |_| cb.take().unwrap());
    p.cancel();
    assert!(p.rejection().unwrap().is_canceled());
    assert!(cb_handle.rejection().unwrap().is_canceled());
    assert!(node_handle.rejection().unwrap().is_canceled());
}

/// What `f` sees and keeps in the tests below: the elements it was called on, its task promises
/// (and their resolvers, kept so as not to abandon them), and the states of those promises
/// right after the cancel it makes.
#[derive(Default)]
struct Calls {
    elements: Vec<u32>,
    steps: Vec<(Promise<()>, Resolver<()>)>,
    at_cancel: Vec<bool>,
}

#[test]
fn iter_p_and_iter_n_canceled_inside_f_stop_at_once() {
    // `f` cancels the result, while running in a callback (the wakeup of the first node). The
    // cancel rejects the result at once; before the fix, `iter_p` only heard of it when the
    // resolution loop reached the result's callbacks, after the callback: meanwhile it went on
    // forcing nodes and calling `f` (on every element here, although the result was already
    // canceled), and the callback promises it had started were still running when `cancel`
    // returned.
    for limit in [None, Some(3)] {
        let (first, resolve_first) = wait::<Node<u32>>();
        let result: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
        let calls: Rc<RefCell<Calls>> = Rc::default();
        let (res, c) = (result.clone(), calls.clone());
        let f = move |x: u32| {
            let (p, r) = lwt_core::task::<()>();
            c.borrow_mut().elements.push(x);
            c.borrow_mut().steps.push((p.clone(), r));
            if x == 1 {
                let result = res.borrow().clone().unwrap();
                result.cancel();
                let mut c = c.borrow_mut();
                c.at_cancel = c.steps.iter().map(|(p, _)| p.is_rejected()).collect();
                c.at_cancel.push(result.is_rejected());
            }
            p
        };
        let s = Seq::new(move || first);
        let done = match limit {
            None => s.iter_p(f),
            Some(n) => s.iter_n(n, f),
        };
        *result.borrow_mut() = Some(done.clone());
        resolve_first.wakeup(Node::Cons(0, seq::of_list(vec![1, 2, 3, 4])));
        let calls = calls.borrow();
        assert_eq!(
            calls.elements,
            [0, 1],
            "{limit:?}: f called after the cancel"
        );
        assert_eq!(
            calls.at_cancel,
            [true, false, true],
            "{limit:?}: step 0 and the result canceled when `cancel` returned (step 1 was not \
             returned yet)"
        );
        assert!(done.rejection().unwrap().is_canceled());
        // The step returned by the call that canceled is canceled as it comes back, as the ones
        // running were.
        assert!(calls.steps[1].0.rejection().unwrap().is_canceled());
    }
}

#[test]
fn iter_n_canceled_in_a_callback_that_then_completes_a_step_starts_nothing() {
    // The cancel and, in the same callback, the end of the running step that makes room for the
    // next element: before the fix the step's end read the next element and called `f` on it,
    // the result being canceled already.
    let calls: Rc<RefCell<Calls>> = Rc::default();
    let c = calls.clone();
    let done = seq::of_list(vec![0_u32, 1, 2]).iter_n(1, move |x| {
        let (p, r) = wait::<()>();
        c.borrow_mut().elements.push(x);
        c.borrow_mut().steps.push((p.clone(), r));
        p
    });
    let (tick, ring) = wait::<()>();
    let (d, c) = (done.clone(), calls.clone());
    tick.on_success(move |()| {
        d.cancel();
        let (_, r) = c.borrow_mut().steps.pop().unwrap();
        r.wakeup(());
    });
    ring.wakeup(());
    assert_eq!(calls.borrow().elements, [0], "f called after the cancel");
    assert!(done.rejection().unwrap().is_canceled());
}

#[test]
fn a_million_ready_nodes_use_no_stack() {
    // On the test harness's thread (2 MiB of stack).
    let n = 1_000_000_u64;
    let total = Rc::new(Cell::new(0_u64));
    let t = total.clone();
    let done = seq::of_iter(0..n)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 1)
        .map_s(Promise::ret)
        .iter_s(move |x| {
            t.set(t.get() + x);
            Promise::ret(())
        });
    assert!(done.is_fulfilled());
    assert_eq!(total.get(), (1..=n).filter(|x| x % 2 == 1).sum::<u64>());
    let none = seq::of_iter(0..n).filter(|_| false).to_list();
    assert_eq!(none.state(), State::Fulfilled(vec![]));
    let empties = seq::of_iter(0..n)
        .flat_map(|_| seq::empty::<u8>())
        .to_list();
    assert_eq!(empties.state(), State::Fulfilled(vec![]));
    let long = seq::of_iter(0..n).to_list();
    assert_eq!(long.map(|v| v.len() as u64).state(), State::Fulfilled(n));
    let count = Rc::new(Cell::new(0_u64));
    let c = count.clone();
    let p = seq::of_iter(0..n).iter_p(move |_| {
        c.set(c.get() + 1);
        Promise::ret(())
    });
    assert!(p.is_fulfilled());
    assert_eq!(count.get(), n);
}

#[test]
fn a_stream_of_a_seq_and_back_through_the_loop() {
    let s = seq::unfold_lwt(0_u32, |n| {
        main::pause().map(move |()| (n < 1000).then_some((n, n + 1)))
    });
    let st = lwt_core::stream::of_seq(s).filter(|x| x % 10 == 0);
    assert_eq!(main::run(st.fold(0, |a, x| a + x)).unwrap(), 49_500);
}

#[test]
fn debug_output() {
    let node: Node<u8> = Node::Cons(1, seq::empty());
    assert_eq!(format!("{node:?}"), "Cons(1, Seq(<suspended>))");
    assert_eq!(format!("{:?}", Node::<u8>::Nil), "Nil");
}

#[test]
fn forcing_twice_is_impossible() {
    // A `Seq` is consumed by `force`: this test only documents it (see the compile_fail docs).
    let (forced, f) = counter();
    let s = seq::unfold((), move |()| {
        f.set(f.get() + 1);
        None::<((), ())>
    });
    drop(s.force());
    assert_eq!(forced.get(), 1);
}

#[test]
fn iter_p_callback_that_completes_an_earlier_callback_does_not_run_f_twice_at_once() {
    // Found by list_fuzz: `f` on an element whose node had been pending resolved an earlier
    // callback's promise (with `wakeup`, so its observer ran inside `f`); that observer read the
    // next element and called `f` again while `f` was still borrowed. The `BorrowMutError` panic
    // went to the async exception hook, `f` was never called on the rest of the sequence, and
    // the result was rejected `Abandoned`.
    let reported = Rc::new(RefCell::new(Vec::new()));
    let rep = reported.clone();
    let previous =
        lwt_core::hook::set_async_exception_hook(move |e| rep.borrow_mut().push(e.to_string()));
    let (node1, r1) = wait::<Node<u32>>();
    let s = seq::cons(0u32, Seq::new(move || node1));
    let held: Rc<RefCell<Option<Resolver<()>>>> = Rc::default();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (h, c) = (held.clone(), calls.clone());
    let done = s.iter_p(move |x| {
        c.borrow_mut().push(x);
        if x == 0 {
            let (p, r) = wait();
            *h.borrow_mut() = Some(r);
            p
        } else {
            if let Some(r) = h.borrow_mut().take() {
                r.wakeup(()); // call 0's promise, resolved from inside call 1
            }
            Promise::ret(())
        }
    });
    r1.wakeup(Node::Cons(1, seq::of_list(vec![2, 3])));
    lwt_core::hook::restore_async_exception_hook(previous);
    assert_eq!(
        *reported.borrow(),
        Vec::<String>::new(),
        "panics reached the hook"
    );
    assert_eq!(*calls.borrow(), [0, 1, 2, 3]);
    assert_eq!(done.state(), State::Fulfilled(()));
}

#[test]
fn iter_n_ignores_the_element_of_a_node_whose_forcing_fails_a_running_callback() {
    // Found by list_fuzz: the module docs say a node being forced when a callback fails is left
    // alone and its element ignored. When the forcing itself failed the callback (user code in
    // the node's closure), the read came back ready and `f` was still called on its element,
    // after the failure.
    let held: Rc<RefCell<Option<Resolver<()>>>> = Rc::default();
    let h = held.clone();
    let forced = Rc::new(Cell::new(false));
    let fo = forced.clone();
    let rest = Seq::new(move || {
        fo.set(true);
        if let Some(r) = h.borrow_mut().take() {
            r.wakeup_exn(Exn::failure("call 0 fails")); // while node 1 is forced
        }
        Promise::ret(Node::Cons(1, seq::empty()))
    });
    let calls = Rc::new(RefCell::new(Vec::new()));
    let c = calls.clone();
    let done = seq::cons(0u32, rest).iter_n(2, move |x| {
        c.borrow_mut().push(x);
        let (p, r) = wait();
        *held.borrow_mut() = Some(r);
        p
    });
    assert!(forced.get());
    assert_eq!(*calls.borrow(), [0], "f called after a callback failed");
    assert_eq!(done.rejection().unwrap().to_string(), "call 0 fails");
}

/// The rule the module docs state, checked in review against Lwt 5.6.1 (session 31), which
/// rejects at once with the node's error and leaves the running callback unobserved: here a
/// rejected node is reported once the callbacks already running are done, as the first
/// rejection in sequence order, so a callback on an earlier element that fails wins.
#[test]
fn a_rejected_node_is_reported_once_the_running_callbacks_are_done() {
    fn message(p: &Promise<()>) -> String {
        match p.state() {
            State::Fulfilled(()) => "fulfilled".into(),
            State::Rejected(e) => format!("rejected {e}"),
            State::Pending => "pending".into(),
        }
    }
    for limit in [None, Some(2)] {
        for callback_fails in [false, true] {
            let (cb, rcb) = wait::<()>();
            let (node, rnode) = wait::<Node<i32>>();
            let mut cb = Some(cb);
            let f = move |_: i32| cb.take().expect("one element");
            let s = seq::cons(0, Seq::new(move || node));
            let p = match limit {
                None => s.iter_p(f),
                Some(n) => s.iter_n(n, f),
            };
            rnode.wakeup_exn(Exn::failure("node"));
            assert_eq!(message(&p), "pending", "{limit:?}: the callback runs");
            if callback_fails {
                rcb.wakeup_exn(Exn::failure("callback 0"));
                assert_eq!(message(&p), "rejected callback 0", "{limit:?}");
            } else {
                rcb.wakeup(());
                assert_eq!(message(&p), "rejected node", "{limit:?}");
            }
        }
    }
}

/// Runs `f` on a thread with a small stack (256 KiB), where recursing once per node of a
/// million-node chain overflows at once (and aborts the test binary).
fn on_a_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

const DEEP: u32 = 1_000_000;

/// `cons(0, cons(1, ... cons(n - 1, empty())))`.
fn nested_cons(n: u32) -> Seq<u32> {
    let mut s = seq::empty();
    for i in (0..n).rev() {
        s = seq::cons(i, s);
    }
    s
}

#[test]
fn dropping_a_million_unforced_cons_uses_no_stack() {
    on_a_small_stack(|| drop(nested_cons(DEEP)));
    on_a_small_stack(|| {
        let mut s = seq::empty();
        for i in 0..DEEP {
            s = seq::cons_lwt(Promise::ret(i), s);
        }
        drop(s);
        let mut s = seq::empty();
        for i in 0..DEEP {
            s = seq::ret_lwt(Promise::ret(i)).append(seq::cons(i, s));
        }
        drop(s);
    });
}

#[test]
fn dropping_the_rest_of_a_forced_cons_chain_uses_no_stack() {
    on_a_small_stack(|| {
        // The rest is dropped in the callback.
        let first = nested_cons(DEEP).force().map(|node| match node {
            Node::Cons(x, _rest) => x,
            Node::Nil => u32::MAX,
        });
        assert_eq!(first.state(), State::Fulfilled(0));
        // The rest is held by the resolved promise of the node, then dropped with it.
        let node = nested_cons(DEEP).force();
        assert!(node.is_fulfilled());
        drop(node);
        // Forced part of the way.
        let (n, rest) = (0..10).fold((0, nested_cons(DEEP)), |(n, s), _| {
            match settle_now(s.force()) {
                Node::Cons(x, rest) => (n + x, rest),
                Node::Nil => unreachable!(),
            }
        });
        assert_eq!(n, 45);
        drop(rest);
    });
}

fn settle_now<T: 'static>(p: Promise<Node<T>>) -> Node<T> {
    let cell = Rc::new(RefCell::new(None));
    let c = cell.clone();
    drop(p.map(move |node| *c.borrow_mut() = Some(node)));
    let node = cell.borrow_mut().take();
    node.expect("a ready node")
}

#[test]
fn a_million_nested_appends_drop_and_force_with_no_stack() {
    on_a_small_stack(|| {
        // Nested on the right, dropped unforced, then forced.
        let right = || {
            let mut s = seq::empty();
            for i in (0..DEEP).rev() {
                s = seq::ret(i).append(s);
            }
            s
        };
        drop(right());
        let all = right().to_list();
        assert_eq!(
            all.map(|v| v.len()).state(),
            State::Fulfilled(DEEP as usize)
        );
        // Nested on the left, dropped unforced, then forced.
        let left = || {
            let mut s = seq::empty();
            for i in 0..DEEP {
                s = s.append(seq::ret(i));
            }
            s
        };
        drop(left());
        let all = left().to_list();
        assert_eq!(
            all.map(
                |v| v.iter().enumerate().all(|(i, x)| i as u32 == *x) && v.len() == DEEP as usize
            )
            .state(),
            State::Fulfilled(true)
        );
        // Empty sequences that are closures, appended: forced in a loop.
        let mut s = seq::ret(1);
        for _ in 0..DEEP {
            s = seq::of_list(vec![]).append(s);
        }
        assert_eq!(s.to_list().state(), State::Fulfilled(vec![1]));
    });
}

/// Logs its name when dropped.
struct Dropped(&'static str, Rc<RefCell<Vec<&'static str>>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.1.borrow_mut().push(self.0);
    }
}

/// Found by a differential review of the iterative drop (session 33): an `append`'s second part
/// that is a closure was dropped before the first part's elements. Parts go as the drop glue of
/// the closures they replaced took them: an element before its rest, a first part before the
/// second, nested either way.
#[test]
fn a_dropped_sequence_drops_its_parts_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let d = |name| Dropped(name, log.clone());
    let closure = |token: Dropped| {
        Seq::new(move || {
            let _token = &token;
            Promise::ret(Node::Nil)
        })
    };
    let a = seq::cons(d("a1"), seq::cons(d("a2"), closure(d("a-rest"))));
    let b = seq::cons(d("b1"), seq::empty());
    let c = closure(d("c"));
    drop(a.append(b).append(c)); // left-nested
    assert_eq!(*log.borrow(), ["a1", "a2", "a-rest", "b1", "c"]);
    log.borrow_mut().clear();
    let a = closure(d("a"));
    let b = seq::cons(d("b1"), closure(d("b-rest")));
    let c = seq::cons(d("c1"), seq::empty());
    drop(a.append(b.append(c))); // right-nested
    assert_eq!(*log.borrow(), ["a", "b1", "b-rest", "c1"]);
}

/// rev81: a panic in an iterator's `into_iter` escaped `seq::of_promises`, `seq::of_iter` and
/// `stream::of_iter`, where a panic in its `next` fails a read. It fails the first read now.
#[test]
fn a_panicking_into_iter_fails_the_first_read() {
    struct Bad;
    impl IntoIterator for Bad {
        type Item = Promise<u8>;
        type IntoIter = std::vec::IntoIter<Promise<u8>>;
        fn into_iter(self) -> Self::IntoIter {
            panic!("into_iter panicked")
        }
    }
    struct BadValues;
    impl IntoIterator for BadValues {
        type Item = u8;
        type IntoIter = std::vec::IntoIter<u8>;
        fn into_iter(self) -> Self::IntoIter {
            panic!("into_iter panicked")
        }
    }
    let panicked = |e: Exn| {
        assert!(e.is::<Panicked>(), "{e}");
        assert!(e.to_string().contains("into_iter panicked"), "{e}");
    };
    panicked(seq::of_promises(Bad).to_list().rejection().unwrap());
    panicked(seq::of_iter(BadValues).to_list().rejection().unwrap());
    let s = lwt_core::stream::of_iter(BadValues);
    panicked(s.get().rejection().unwrap());
    assert_eq!(s.get().state(), State::Fulfilled(None));
}
