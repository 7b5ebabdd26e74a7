//! Lwt's library modules: list, sync (Mutex, Condition, Mvar), pool, switch, result (issue 6).

#[path = "support/log.rs"]
mod log_support;

use log_support::{log, push};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::pool::Pool;
use lwt_core::switch::{self, Switch};
use lwt_core::sync::{Condition, Mutex, Mvar};
use lwt_core::{
    list, main, result as lr, task, unix, wait, Exn, Panicked, Promise, Resolver, State,
};

/// Sets its flag when dropped.
struct Dropped(Rc<Cell<bool>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// ---- list ----

#[test]
fn serial_forms_run_one_after_the_other() {
    let l = log();
    let a = l.clone();
    let p = list::iter_s(
        move |ms: u64| {
            let a = a.clone();
            push(&a, format!("start {ms}"));
            unix::sleep(std::time::Duration::from_millis(ms))
                .map(move |()| push(&a, format!("end {ms}")))
        },
        vec![3, 1],
    );
    main::run(p).unwrap();
    assert_eq!(*l.borrow(), ["start 3", "end 3", "start 1", "end 1"]);
}

#[test]
fn parallel_forms_start_every_element_in_order_and_keep_result_order() {
    let l = log();
    let a = l.clone();
    let p = list::map_p(
        move |ms: u64| {
            let a = a.clone();
            push(&a, format!("start {ms}"));
            unix::sleep(std::time::Duration::from_millis(ms)).map(move |()| {
                push(&a, format!("end {ms}"));
                ms * 10
            })
        },
        vec![3, 1],
    );
    assert_eq!(main::run(p).unwrap(), vec![30, 10]);
    assert_eq!(*l.borrow(), ["start 3", "start 1", "end 1", "end 3"]);
}

#[test]
fn serial_forms_stop_at_the_first_rejection_and_find_stops_early() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let p = list::iter_s(
        move |x: u8| {
            c.set(c.get() + 1);
            if x == 2 {
                Promise::fail_with("two")
            } else {
                Promise::ret(())
            }
        },
        vec![1, 2, 3],
    );
    assert_eq!(p.rejection().unwrap().to_string(), "two");
    assert_eq!(calls.get(), 2);

    let tested = Rc::new(Cell::new(0));
    let t = tested.clone();
    let found = list::find_s(
        move |x: &u32| {
            t.set(t.get() + 1);
            Promise::ret(*x == 3)
        },
        1..1_000_000,
    );
    assert_eq!(found.state(), State::Fulfilled(Some(3)));
    assert_eq!(tested.get(), 3);
    assert_eq!(
        list::find_s(|_: &u8| Promise::ret(false), vec![1]).state(),
        State::Fulfilled(None)
    );
}

/// Each call of the step waits on a fresh `task()`, kept by the test to wake or inspect.
type Steps = Rc<RefCell<Vec<(Promise<u32>, lwt_core::Resolver<u32>)>>>;

fn pending_step(steps: &Steps, x: u32) -> Promise<u32> {
    let (p, r) = task::<u32>();
    steps.borrow_mut().push((p.clone(), r));
    p.map(move |y| x + y)
}

#[test]
fn serial_forms_over_pending_steps_fold_reject_and_stop() {
    // fold_left_s over pending steps: each step resumes the fold, the last one resolves it.
    let steps: Steps = Rc::default();
    let s = steps.clone();
    let p = list::fold_left_s(move |acc, x| pending_step(&s, acc + x), 0, vec![1, 2, 3]);
    for k in 0..3 {
        assert!(p.is_pending());
        let (_, r) = steps.borrow_mut().pop().expect("a step waits");
        r.wakeup(10 * k);
    }
    assert_eq!(p.state(), State::Fulfilled(1 + 2 + 10 + 3 + 20));

    // A pending step that is rejected ends the fold with its rejection; no later step runs.
    let steps: Steps = Rc::default();
    let s = steps.clone();
    let p = list::map_s(move |x: u32| pending_step(&s, x), vec![1, 2, 3]);
    let (_, r) = steps.borrow_mut().pop().unwrap();
    r.wakeup(0);
    let (_, r) = steps.borrow_mut().pop().unwrap();
    r.wakeup_exn(Exn::failure("second"));
    assert_eq!(p.rejection().unwrap().to_string(), "second");
    assert!(steps.borrow().is_empty());

    // find_s stops at a match found after a pending step.
    let (gate, open) = wait::<bool>();
    let gate = RefCell::new(Some(gate));
    let p = list::find_s(
        move |x: &u32| match gate.borrow_mut().take() {
            Some(g) => g,
            None => Promise::ret(*x == 3),
        },
        1..1_000_000,
    );
    assert!(p.is_pending());
    open.wakeup(false);
    assert_eq!(p.state(), State::Fulfilled(Some(3)));
}

#[test]
fn canceling_a_serial_form_cancels_the_step_it_waits_on() {
    // The fold's result is one promise for the whole run; its cancel follows it from step to step.
    let steps: Steps = Rc::default();
    let s = steps.clone();
    let p = list::iter_s(
        move |x: u32| pending_step(&s, x).map(drop),
        vec![1, 2, 3, 4],
    );
    for _ in 0..2 {
        let (_, r) = steps.borrow_mut().pop().unwrap();
        r.wakeup(0);
    }
    let third = steps.borrow()[0].0.clone();
    p.cancel();
    assert!(third.rejection().unwrap().is_canceled());
    assert!(p.rejection().unwrap().is_canceled());
    assert_eq!(steps.borrow().len(), 1, "no step started after the cancel");
}

#[test]
fn a_panic_in_a_serial_form_rejects_it_even_after_a_pending_step() {
    let steps: Steps = Rc::default();
    let s = steps.clone();
    let p = list::iter_s(
        move |x: u32| {
            assert!(x < 2, "step {x} panics");
            pending_step(&s, x).map(drop)
        },
        0..5,
    );
    let (_, r) = steps.borrow_mut().pop().unwrap();
    r.wakeup(0);
    let (_, r) = steps.borrow_mut().pop().unwrap();
    r.wakeup(0);
    let e = p.rejection().expect("rejected");
    assert!(e.to_string().contains("step 2 panics"), "{e}");

    // The iterator's own panic too.
    let p = list::iter_s(
        |_: u32| Promise::ret(()),
        (0..3).map(|x| if x == 2 { panic!("iterator") } else { x }),
    );
    assert!(p.rejection().unwrap().to_string().contains("iterator"));
}

/// The input of the tests below: its iterator yields 0 and 1, then panics ("iterator at 2");
/// or, with `into_iter_panics`, making the iterator panics ("into_iter").
struct Faulty {
    into_iter_panics: bool,
}

impl IntoIterator for Faulty {
    type Item = u32;
    type IntoIter = Box<dyn Iterator<Item = u32>>;

    fn into_iter(self) -> Self::IntoIter {
        assert!(!self.into_iter_panics, "into_iter");
        Box::new((0..5).inspect(|x| assert!(*x < 2, "iterator at {x}")))
    }
}

fn panic_message<T: Clone + 'static>(p: &Promise<T>) -> String {
    let e = p.rejection().expect("rejected");
    e.downcast_ref::<Panicked>()
        .unwrap_or_else(|| panic!("not a panic: {e:?}"))
        .message()
        .to_owned()
}

/// Each parallel form over `Faulty`, with `pending_step` as `f`, its result made a `()`.
type ParForm = fn(Steps, Faulty) -> Promise<()>;

const PARALLEL_FORMS: [(&str, ParForm); 10] = [
    ("iter_p", |s, it| {
        list::iter_p(move |x| pending_step(&s, x).map(drop), it)
    }),
    ("iteri_p", |s, it| {
        list::iteri_p(move |_, x| pending_step(&s, x).map(drop), it)
    }),
    ("map_p", |s, it| {
        list::map_p(move |x| pending_step(&s, x), it).map(drop)
    }),
    ("mapi_p", |s, it| {
        list::mapi_p(move |_, x| pending_step(&s, x), it).map(drop)
    }),
    ("rev_map_p", |s, it| {
        list::rev_map_p(move |x| pending_step(&s, x), it).map(drop)
    }),
    ("filter_p", |s, it| {
        list::filter_p(move |x| pending_step(&s, *x).map(|y| y > 0), it).map(drop)
    }),
    ("filter_map_p", |s, it| {
        list::filter_map_p(move |x| pending_step(&s, x).map(Some), it).map(drop)
    }),
    ("partition_p", |s, it| {
        list::partition_p(move |x| pending_step(&s, *x).map(|y| y > 0), it).map(drop)
    }),
    ("for_all_p", |s, it| {
        list::for_all_p(move |x| pending_step(&s, *x).map(|y| y > 0), it).map(drop)
    }),
    ("exists_p", |s, it| {
        list::exists_p(move |x| pending_step(&s, *x).map(|y| y > 0), it).map(drop)
    }),
];

#[test]
fn a_panic_in_the_iterator_of_a_parallel_form_rejects_it_after_the_started_steps() {
    for (name, form) in PARALLEL_FORMS {
        // `f` ran on the elements before the panic; their steps keep running (not canceled, as
        // when `f` itself panics), the result waits for them, then is rejected with the panic.
        let steps: Steps = Rc::default();
        let p = form(
            steps.clone(),
            Faulty {
                into_iter_panics: false,
            },
        );
        assert_eq!(steps.borrow().len(), 2, "{name}: f called on 0 and 1");
        assert!(p.is_pending(), "{name}");
        for (step, r) in std::mem::take(&mut *steps.borrow_mut()) {
            assert!(step.is_pending(), "{name}: a started step was canceled");
            r.wakeup(1);
        }
        assert_eq!(panic_message(&p), "iterator at 2", "{name}");

        // A panic in `into_iter`: no element, no call of `f`.
        let steps: Steps = Rc::default();
        let p = form(
            steps.clone(),
            Faulty {
                into_iter_panics: true,
            },
        );
        assert!(steps.borrow().is_empty(), "{name}");
        assert_eq!(panic_message(&p), "into_iter", "{name}");
    }
    // The panic counts as the rejection of the element it failed to produce: an earlier
    // element's rejection comes first in input order.
    let steps: Steps = Rc::default();
    let p = PARALLEL_FORMS[0].1(
        steps.clone(),
        Faulty {
            into_iter_panics: false,
        },
    );
    let mut started = std::mem::take(&mut *steps.borrow_mut());
    started.pop().unwrap().1.wakeup(1);
    started
        .pop()
        .unwrap()
        .1
        .wakeup_exn(Exn::failure("element 0"));
    assert_eq!(p.rejection().unwrap().to_string(), "element 0");
}

#[test]
fn a_panic_making_the_iterator_of_a_serial_form_rejects_it() {
    let faulty = || Faulty {
        into_iter_panics: true,
    };
    let ok = |_: u32| Promise::ret(());
    assert_eq!(panic_message(&list::iter_s(ok, faulty())), "into_iter");
    assert_eq!(
        panic_message(&list::iteri_s(|_, _| Promise::ret(()), faulty())),
        "into_iter"
    );
    assert_eq!(
        panic_message(&list::mapi_s(|_, x| Promise::ret(x), faulty())),
        "into_iter"
    );
    assert_eq!(
        panic_message(&list::find_s(|_| Promise::ret(false), faulty())),
        "into_iter"
    );
    assert_eq!(
        panic_message(&list::fold_left_s(|a, x| Promise::ret(a + x), 0, faulty())),
        "into_iter"
    );
    // `fold_right_s` reads the whole input before its first step: a panic on the way is its
    // rejection, before any call of `f`.
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let p = list::fold_right_s(
        move |x, a: u32| {
            c.set(c.get() + 1);
            Promise::ret(a + x)
        },
        Faulty {
            into_iter_panics: false,
        },
        0,
    );
    assert_eq!(panic_message(&p), "iterator at 2");
    assert_eq!(calls.get(), 0);
    assert_eq!(
        panic_message(&list::fold_right_s(
            |x, a: u32| Promise::ret(a + x),
            faulty(),
            0
        )),
        "into_iter"
    );
}

#[test]
fn every_list_function() {
    let v = || vec![1u32, 2, 3, 4];
    let even = |x: &u32| Promise::ret(x.is_multiple_of(2));
    assert_eq!(
        list::map_s(|x| Promise::ret(x + 1), v()).state(),
        State::Fulfilled(vec![2, 3, 4, 5])
    );
    assert_eq!(
        list::mapi_p(|i, x| Promise::ret(i as u32 * x), v()).state(),
        State::Fulfilled(vec![0, 2, 6, 12])
    );
    assert_eq!(
        list::rev_map_p(Promise::ret, v()).state(),
        State::Fulfilled(vec![4, 3, 2, 1])
    );
    assert_eq!(
        list::filter_s(even, v()).state(),
        State::Fulfilled(vec![2, 4])
    );
    assert_eq!(
        list::filter_p(even, v()).state(),
        State::Fulfilled(vec![2, 4])
    );
    assert_eq!(
        list::filter_map_p(|x| Promise::ret((x > 2).then_some(x)), v()).state(),
        State::Fulfilled(vec![3, 4])
    );
    assert_eq!(
        list::partition_p(even, v()).state(),
        State::Fulfilled((vec![2, 4], vec![1, 3]))
    );
    assert_eq!(
        list::for_all_p(|x: &u32| Promise::ret(*x > 0), v()).state(),
        State::Fulfilled(true)
    );
    assert_eq!(
        list::exists_s(|x: &u32| Promise::ret(*x > 3), v()).state(),
        State::Fulfilled(true)
    );
    assert_eq!(list::for_all_s(even, v()).state(), State::Fulfilled(false));
    assert_eq!(
        list::fold_right_s(
            |x, acc: Vec<u32>| Promise::ret([acc, vec![x]].concat()),
            v(),
            vec![]
        )
        .state(),
        State::Fulfilled(vec![4, 3, 2, 1])
    );
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    assert!(list::iteri_p(
        move |i, x| {
            s.borrow_mut().push((i, x));
            Promise::ret(())
        },
        v()
    )
    .is_fulfilled());
    assert_eq!(*seen.borrow(), [(0, 1), (1, 2), (2, 3), (3, 4)]);
    // A panic in f is a rejection.
    let p = list::map_s(
        |x: u32| -> Promise<u32> {
            if x == 3 {
                panic!("three")
            } else {
                Promise::ret(x)
            }
        },
        v(),
    );
    assert!(p.rejection().unwrap().to_string().contains("three"));
}

#[test]
fn serial_forms_handle_pending_steps() {
    let (ps, rs): (Vec<_>, Vec<_>) = (0..3).map(|_| wait::<u32>()).unzip();
    let ps = RefCell::new(ps.into_iter());
    let sum = list::fold_left_s(
        move |acc, ()| ps.borrow_mut().next().unwrap().map(move |x| acc + x),
        0,
        vec![(); 3],
    );
    for (i, r) in rs.into_iter().enumerate() {
        assert!(sum.is_pending());
        r.wakeup(i as u32 + 1);
    }
    assert_eq!(sum.state(), State::Fulfilled(6));
}

// ---- Mutex ----

#[test]
fn a_canceled_lock_waiter_never_swallows_the_lock() {
    let m = Mutex::new();
    assert!(m.lock().is_fulfilled());
    let canceled = m.lock();
    let next = m.lock();
    canceled.cancel();
    m.unlock();
    assert!(canceled.rejection().unwrap().is_canceled());
    assert!(next.is_fulfilled());
    assert!(m.is_locked());
    m.unlock();
    assert!(!m.is_locked());
}

#[test]
fn with_lock_releases_on_rejection_and_on_panic() {
    let m = Mutex::new();
    let failed = m.with_lock(|| Promise::<()>::fail_with("inside"));
    assert!(failed.is_rejected());
    assert!(!m.is_locked());
    let panicked = m.with_lock(|| -> Promise<()> { panic!("inside") });
    assert!(panicked.is_rejected());
    assert!(!m.is_locked());
}

#[test]
fn a_million_tasks_contend_for_one_mutex_in_fifo_order() {
    let m = Mutex::new();
    let order = Rc::new(RefCell::new(Vec::with_capacity(1_000_000)));
    let (gate, open) = wait::<()>();
    let gate_holder = m.with_lock(move || gate);
    let tasks: Vec<_> = (0..1_000_000u32)
        .map(|i| {
            let o = order.clone();
            m.with_lock(move || {
                o.borrow_mut().push(i);
                Promise::ret(())
            })
        })
        .collect();
    open.wakeup(());
    main::run(lwt_core::join(tasks)).unwrap();
    main::run(gate_holder).unwrap();
    let order = order.borrow();
    assert_eq!(order.len(), 1_000_000);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "not FIFO");
    assert!(!m.is_locked());
}

#[test]
fn with_lock_canceled_after_the_lock_was_handed_to_it_releases_the_lock() {
    // The unlock hands the lock over with `wakeup_later` (inside a callback), and the cancel
    // comes before the body runs: whichever wins, the lock must not leak.
    let m = Mutex::new();
    assert!(m.lock().is_fulfilled());
    let w = m.with_lock(|| Promise::ret(()));
    let (go, go_r) = wait::<()>();
    let (m2, w2) = (m.clone(), w.clone());
    let done = go.map(move |()| {
        m2.unlock();
        w2.cancel();
    });
    go_r.wakeup(());
    assert!(done.is_fulfilled());
    let _ = main::run(main::pause());
    assert!(
        !m.is_locked(),
        "the lock leaked; with_lock is {:?}",
        w.state()
    );
}

#[test]
fn with_lock_whose_body_panics_releases_the_lock() {
    let m = Mutex::new();
    let w = m.with_lock(|| -> Promise<()> { panic!("body") });
    assert!(w.rejection().unwrap().is::<Panicked>());
    assert!(!m.is_locked());
}

#[test]
fn with_lock_sections_queued_by_a_caller_that_drops_its_handle_all_run() {
    // Found in review (session 29): a `with_lock` holding its mutex weakly (to free a waiting
    // call whose mutex every handle had dropped) rejected the queued sections once the caller
    // dropped its handle, and only the first one ran. Each call holds the mutex again.
    let ran = Rc::new(RefCell::new(Vec::new()));
    let jobs: Vec<Promise<()>> = {
        let m = Mutex::new();
        (0..3)
            .map(|i| {
                let ran = ran.clone();
                m.with_lock(move || lwt_core::main::pause().map(move |()| ran.borrow_mut().push(i)))
            })
            .collect()
    };
    main::run(lwt_core::join(jobs)).unwrap();
    assert_eq!(*ran.borrow(), [0, 1, 2]);
}

#[test]
fn a_with_lock_waiting_on_a_lock_never_released_is_freed_by_its_cancel() {
    let m = Mutex::new();
    let _held = m.lock();
    let gone = Rc::new(Cell::new(false));
    let capture = Dropped(gone.clone());
    let w = m.with_lock(move || {
        let _kept = &capture;
        Promise::ret(())
    });
    drop(m);
    assert!(!gone.get(), "the waiting call keeps the mutex and its body");
    w.cancel();
    assert!(gone.get(), "canceled, the body and its capture are dropped");
}

#[test]
fn with_lock_still_releases_the_lock_it_took() {
    let m = Mutex::new();
    let first = m.with_lock(|| Promise::ret(1));
    assert_eq!(first.state(), State::Fulfilled(1));
    assert!(!m.is_locked());
    let (gate, open) = wait::<()>();
    let second = m.with_lock(move || gate.map(|()| 2));
    let third = m.with_lock(|| Promise::ret(3));
    assert!(m.is_locked() && third.is_pending());
    open.wakeup(());
    main::run(third.clone()).unwrap();
    assert_eq!(
        (second.state(), third.state()),
        (State::Fulfilled(2), State::Fulfilled(3))
    );
    assert!(!m.is_locked());
}

// ---- Condition ----

#[test]
fn condition_signals_in_fifo_order_and_skips_canceled_waiters() {
    let c = Condition::<u32>::new();
    let a = c.wait(None);
    let b = c.wait(None);
    let d = c.wait(None);
    b.cancel();
    c.signal(1);
    c.signal(2);
    assert_eq!(a.state(), State::Fulfilled(1));
    assert_eq!(d.state(), State::Fulfilled(2));
    c.signal(3); // nobody waits: lost, as in Lwt
    let late = c.wait(None);
    assert!(late.is_pending());
    c.broadcast_exn(Exn::failure("closing"));
    assert_eq!(late.rejection().unwrap().to_string(), "closing");
}

#[test]
fn condition_wait_canceled_after_a_signal_does_not_keep_the_mutex() {
    let (m, c) = (Mutex::new(), Condition::<u8>::new());
    assert!(m.lock().is_fulfilled());
    let w = c.wait(Some(&m));
    assert!(!m.is_locked());
    let (go, go_r) = wait::<()>();
    let (c2, w2) = (c.clone(), w.clone());
    let done = go.map(move |()| {
        c2.signal(1);
        w2.cancel();
    });
    go_r.wakeup(());
    assert!(done.is_fulfilled());
    let _ = main::run(main::pause());
    // Either the wait got 1 with the mutex held again, or it was canceled and the mutex is free.
    match w.state() {
        State::Fulfilled(1) => assert!(m.is_locked()),
        other => assert!(
            !m.is_locked(),
            "the wait is {other:?} but the mutex is held"
        ),
    }
}

// ---- Mvar ----

#[test]
fn mvar_hands_values_over_in_fifo_order_without_losing_any() {
    let m = Mvar::<u32>::create_empty();
    let t1 = m.take();
    let t2 = m.take();
    let t3 = m.take();
    t2.cancel(); // must not swallow a value
    assert!(m.put(1).is_fulfilled());
    assert!(m.put(2).is_fulfilled());
    assert_eq!(t1.state(), State::Fulfilled(1));
    assert_eq!(t3.state(), State::Fulfilled(2));
    // Full: puts wait; a canceled put does not put its value.
    assert!(m.put(3).is_fulfilled());
    let p4 = m.put(4);
    let p5 = m.put(5);
    p4.cancel();
    assert_eq!(m.take_available(), Some(3));
    assert!(p5.is_fulfilled());
    assert_eq!(m.take_available(), Some(5));
    assert!(m.is_empty());
}

#[test]
fn a_million_tasks_through_one_mvar_in_fifo_order() {
    let m = Mvar::<u32>::create_empty();
    let puts: Vec<_> = (0..1_000_000u32).map(|i| m.put(i)).collect();
    let received = Rc::new(RefCell::new(Vec::with_capacity(1_000_000)));
    let r = received.clone();
    let mv = m.clone();
    let reader = list::iter_s(
        move |()| {
            let r = r.clone();
            mv.take().map(move |v| r.borrow_mut().push(v))
        },
        vec![(); 1_000_000],
    );
    main::run(reader).unwrap();
    main::run(lwt_core::join(puts)).unwrap();
    let received = received.borrow();
    assert_eq!(received.len(), 1_000_000);
    assert!(received.iter().enumerate().all(|(i, v)| i as u32 == *v));
}

#[test]
fn mvar_take_canceled_after_a_put_handed_it_the_value_keeps_the_value() {
    let mv = Mvar::<u8>::create_empty();
    let t = mv.take();
    let (go, go_r) = wait::<()>();
    let (mv2, t2) = (mv.clone(), t.clone());
    let done = go.map(move |()| {
        drop(mv2.put(7));
        t2.cancel();
    });
    go_r.wakeup(());
    assert!(done.is_fulfilled());
    // The 7 is either the take's or still in the mailbox: never lost.
    match t.state() {
        State::Fulfilled(v) => assert_eq!(v, 7),
        _ => assert_eq!(mv.take_available(), Some(7)),
    }
}

/// Runs its closure when dropped.
struct OnDrop(Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f()
        }
    }
}

#[test]
fn mvar_put_to_a_dropped_taker_whose_value_drop_uses_the_mailbox() {
    let mv = Mvar::<OnDrop>::create_empty();
    drop(mv.take()); // dropped, not canceled: still served in its turn
    let mv2 = mv.clone();
    let p = mv.put(OnDrop(Some(Box::new(move || {
        drop(mv2.put(OnDrop(None)));
    }))));
    assert!(p.is_fulfilled());
    assert!(!mv.is_empty());
}

#[test]
fn run_on_a_wait_nobody_can_serve_is_an_error_not_a_hang() {
    let m = Mutex::new();
    let _held = m.lock();
    assert!(main::run(m.lock()).is_err());
    let mv = Mvar::<u8>::create_empty();
    assert!(main::run(mv.take()).is_err());
    let c = Condition::<u8>::new();
    assert!(main::run(c.wait(None)).is_err());
    let sleep = unix::sleep(std::time::Duration::from_secs(3600));
    sleep.cancel();
    assert!(main::run(mv.take()).is_err());
    let w = unix::with_timeout(std::time::Duration::from_millis(1), || mv.take());
    assert!(main::run(w).unwrap_err().is::<unix::Timeout>());
    assert!(main::run(mv.take()).is_err());
}

#[test]
fn a_canceled_put_drops_its_value_at_the_cancel() {
    // Found in the differential review (session 29): a canceled `put` on a full mailbox kept
    // its value until a later `take` skipped it (or a sweep), so a value holding a resource
    // stayed alive; Lwt removes the waiter at the cancel.
    let first = Rc::new(Cell::new(false));
    let second = Rc::new(Cell::new(false));
    let m = Mvar::create(Dropped(first.clone()));
    let put = m.put(Dropped(second.clone()));
    assert!(put.is_pending(), "full");
    put.cancel();
    assert!(second.get(), "dropped at the cancel, before any take");
    assert!(!first.get());
    let taken = m.take_available();
    assert!(
        taken.is_some() && m.is_empty(),
        "the canceled value was not put"
    );
    // A put served normally still hands its value over.
    let third = Rc::new(Cell::new(false));
    let waiting = m.put(Dropped(third.clone()));
    assert!(waiting.is_fulfilled(), "empty: put at once");
    let fourth = Rc::new(Cell::new(false));
    let blocked = m.put(Dropped(fourth.clone()));
    drop(m.take_available());
    assert!(third.get() && blocked.is_fulfilled() && !fourth.get());
    assert!(!m.is_empty(), "the waiting put refilled the slot");
}

// ---- Pool ----

#[test]
fn pool_creates_lazily_up_to_its_bound_and_serves_waiters_in_order() {
    let created = Rc::new(Cell::new(0));
    let c = created.clone();
    let pool = Pool::new(1, move || {
        c.set(c.get() + 1);
        Promise::ret(c.get())
    });
    assert_eq!(created.get(), 0);
    let (hold, release) = wait::<()>();
    let first = pool.use_(move |_| hold);
    let l = log();
    let (a, b) = (l.clone(), l.clone());
    let second = pool.use_(move |x| {
        push(&a, format!("second got {x}"));
        Promise::ret(())
    });
    let third = pool.use_(move |x| {
        push(&b, format!("third got {x}"));
        Promise::ret(())
    });
    assert_eq!(pool.wait_queue_length(), 2);
    release.wakeup(());
    main::run(lwt_core::join(vec![first, second, third])).unwrap();
    assert_eq!(*l.borrow(), ["second got 1", "third got 1"]);
    assert_eq!(created.get(), 1);
}

/// Found in review (rev60, session 36): configuring a pool while a use of it still ran
/// panicked with "configure a pool before cloning it", about a clone the program never made.
#[test]
fn configuring_a_pool_in_use_panics_naming_the_setter_and_the_use() {
    let pool = Pool::new(1, || Promise::ret(0));
    let (busy, done) = wait::<()>();
    let running = pool.use_(move |_| busy);
    // The program's only handle: the running use is what shares the pool.
    let message = panic_message_of(move || drop(pool.with_validate(|_| Promise::ret(true))));
    assert!(message.starts_with("Pool::with_validate: "), "{message}");
    assert!(message.contains("a use still running"), "{message}");
    done.wakeup(());
    assert!(running.is_fulfilled());
    // A clone is named too; once it is gone, and a use is over, the pool is one handle's again.
    let pool = Pool::new(1, || Promise::ret(0));
    let clone = pool.clone();
    let message = panic_message_of(move || drop(clone.with_dispose(|_| Promise::ret(()))));
    assert!(message.starts_with("Pool::with_dispose: "), "{message}");
    assert_eq!(main::run(pool.use_(|n| Promise::ret(*n))).unwrap(), 0);
    let pool = pool.with_check(|_, _| Promise::ret(false));
    assert_eq!(main::run(pool.use_(|n| Promise::ret(*n))).unwrap(), 0);
}

fn panic_message_of(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn pool_validate_check_dispose_and_clear() {
    let disposed = log();
    let d = disposed.clone();
    let next = Rc::new(Cell::new(0));
    let n = next.clone();
    let pool = Pool::new(2, move || {
        n.set(n.get() + 1);
        Promise::ret(n.get())
    })
    .with_validate(|x| Promise::ret(*x != 1)) // element 1 goes stale once idle
    .with_check(|x, _e| Promise::ret(*x == 2)) // after a failure, keep only element 2
    .with_dispose(move |x| {
        push(&d, format!("disposed {x}"));
        Promise::ret(())
    });
    assert_eq!(main::run(pool.use_(|x| Promise::ret(*x))).unwrap(), 1);
    // 1 is idle but invalid: disposed and replaced by 2.
    assert_eq!(main::run(pool.use_(|x| Promise::ret(*x))).unwrap(), 2);
    // A failed use of 2: check keeps it.
    assert!(main::run(pool.use_(|_| Promise::<()>::fail_with("oops"))).is_err());
    assert_eq!(main::run(pool.use_(|x| Promise::ret(*x))).unwrap(), 2);
    main::run(pool.clear()).unwrap();
    assert_eq!(*disposed.borrow(), ["disposed 1", "disposed 2"]);
    assert_eq!(pool.size(), 0);
}

/// A pool of numbered elements (1, 2, ...) that counts what it creates.
fn numbered_pool(max: usize) -> (Pool<u32>, Rc<Cell<u32>>) {
    let created = Rc::new(Cell::new(0));
    let c = created.clone();
    let pool = Pool::new(max, move || {
        c.set(c.get() + 1);
        Promise::ret(c.get())
    });
    (pool, created)
}

#[test]
fn pool_use_canceled_while_validate_runs_does_not_call_f() {
    // Found in review: a `Canceled` from `validate` was taken for "invalid", so the canceled use
    // made a new element and went on to run `f`. Lwt: canceled, `f` not run, nothing created.
    let validating = Rc::new(Cell::new(false));
    let v = validating.clone();
    let held = Rc::new(RefCell::new(Vec::new()));
    let h = held.clone();
    let disposed = log();
    let d = disposed.clone();
    let (pool, created) = numbered_pool(1);
    let pool = pool
        .with_validate(move |_| {
            if v.get() {
                let (p, r) = task::<bool>(); // pending until canceled
                h.borrow_mut().push(r);
                p
            } else {
                Promise::ret(true)
            }
        })
        .with_dispose(move |x| {
            push(&d, format!("disposed {x}"));
            Promise::ret(())
        });
    main::run(pool.use_(|_| Promise::ret(()))).unwrap();
    validating.set(true);
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let used = pool.use_(move |_| {
        r.set(true);
        Promise::ret(())
    });
    assert!(used.is_pending());
    used.cancel();
    assert!(used.rejection().unwrap().is_canceled());
    assert!(!ran.get(), "f ran for a canceled use");
    assert_eq!(created.get(), 1, "no element made for a canceled use");
    // The element whose validation was cut short left the pool (Lwt disposes of it too).
    assert_eq!(*disposed.borrow(), ["disposed 1"]);
    assert_eq!(pool.size(), 0);
}

#[test]
fn pool_validates_an_element_handed_over_to_a_waiter() {
    // Found in review: an element given straight to a waiting use skipped `validate`.
    let validated = Rc::new(Cell::new(0));
    let v = validated.clone();
    let (pool, created) = numbered_pool(1);
    let pool = pool.with_validate(move |x| {
        v.set(v.get() + 1);
        Promise::ret(*x != 1)
    });
    let (hold, go) = wait::<()>();
    let first = pool.use_(move |x| hold.map(move |()| *x));
    let second = pool.use_(|x| Promise::ret(*x));
    go.wakeup(());
    assert_eq!(main::run(first).unwrap(), 1);
    assert_eq!(
        main::run(second).unwrap(),
        2,
        "the stale element 1 was replaced"
    );
    assert_eq!((validated.get(), created.get()), (1, 2));
}

#[test]
fn pool_validate_failure_rejects_the_use_and_replaces_the_element_for_a_waiter() {
    // Found in review: a rejected `validate` was swallowed (taken for "invalid").
    let failing = Rc::new(Cell::new(false));
    let f = failing.clone();
    let (pool, created) = numbered_pool(1);
    let pool = pool.with_validate(move |_| {
        if f.get() {
            Promise::fail_with("validate broke")
        } else {
            Promise::ret(true)
        }
    });
    main::run(pool.use_(|_| Promise::ret(()))).unwrap();
    failing.set(true);
    let e = main::run(pool.use_(|_| Promise::ret("used"))).unwrap_err();
    assert_eq!(e.to_string(), "validate broke");
    assert_eq!(
        pool.size(),
        0,
        "the element that failed validation left the pool"
    );
    failing.set(false);
    assert_eq!(main::run(pool.use_(|x| Promise::ret(*x))).unwrap(), 2);
    assert_eq!(created.get(), 2);
}

#[test]
fn a_failed_dispose_after_validate_said_no_does_not_strand_the_next_waiter() {
    // Found in review: the caller whose element failed validation got the dispose failure, and
    // nobody made an element for the next waiter, which waited forever.
    let checks = Rc::new(Cell::new(0));
    let c = checks.clone();
    let (pool, created) = numbered_pool(1);
    let pool = pool
        .with_validate(move |_| {
            c.set(c.get() + 1);
            Promise::ret(c.get() > 1)
        })
        .with_dispose(|_| Promise::fail_with("dispose failed"));
    let (hold, release) = wait::<()>();
    let a = pool.use_(move |_| hold);
    let b = pool.use_(|n| Promise::ret(*n));
    let c = pool.use_(|n| Promise::ret(*n));
    release.wakeup(());
    assert!(a.is_fulfilled());
    assert_eq!(b.rejection().unwrap().to_string(), "dispose failed");
    assert_eq!(main::run(c).unwrap(), 2, "the waiter got a new element");
    assert_eq!(created.get(), 2);
}

#[test]
fn an_element_made_for_a_waiter_that_gave_up_is_kept() {
    // The waiter is canceled while the element made for it is being created: the element goes
    // to the idle list (it counts against the bound) instead of being dropped while still
    // counted, which left the pool unable to make or lend any element.
    let creations: Rc<RefCell<Vec<Resolver<u32>>>> = Rc::default();
    let cr = creations.clone();
    let pool = Pool::new(1, move || {
        let (p, r) = wait::<u32>();
        cr.borrow_mut().push(r);
        p
    })
    .with_check(|_, _| Promise::ret(false));
    let next_creation = || creations.borrow_mut().remove(0);
    let (hold, release) = wait::<()>();
    let failing = pool.use_(move |_| hold.bind(|()| Promise::<()>::fail_with("use failed")));
    next_creation().wakeup(1);
    let waiter = pool.use_(|n| Promise::ret(*n));
    assert_eq!(pool.wait_queue_length(), 1);
    // The failed use disposes of element 1, and a replacement is made for the waiter...
    release.wakeup(());
    assert!(failing.is_rejected());
    // ...who gives up before it is ready.
    waiter.cancel();
    next_creation().wakeup(2);
    assert_eq!(pool.size(), 1);
    let again = pool.use_(|n| Promise::ret(*n));
    assert_eq!(
        again.state(),
        State::Fulfilled(2),
        "the element went to the idle list"
    );
}

#[test]
fn pool_keeps_an_element_after_a_failed_use_by_default() {
    // Lwt's default `check` keeps the element; this pool used to dispose of it.
    let (pool, created) = numbered_pool(1);
    assert!(main::run(pool.use_(|_| Promise::<()>::fail_with("use failed"))).is_err());
    assert_eq!(main::run(pool.use_(|x| Promise::ret(*x))).unwrap(), 1);
    assert_eq!(created.get(), 1);
}

#[test]
fn pool_counts_an_element_until_its_dispose_resolves() {
    // A disposed element holds its place in the bound until `dispose` is done, and the use that
    // disposed of it resolves only then.
    let (dispose_done, finish_dispose) = wait::<()>();
    let dispose_done = RefCell::new(Some(dispose_done));
    let (pool, created) = numbered_pool(1);
    let pool = pool
        .with_check(|_, _| Promise::ret(false))
        .with_dispose(move |_| {
            let first = dispose_done.borrow_mut().take();
            first.unwrap_or_else(|| Promise::ret(()))
        });
    let failed = pool.use_(|_| Promise::<()>::fail_with("use failed"));
    assert!(failed.is_pending(), "resolves after dispose");
    assert_eq!(pool.size(), 1);
    let next = pool.use_(|x| Promise::ret(*x));
    assert!(
        next.is_pending(),
        "no second element while the first is being disposed of"
    );
    assert_eq!(pool.wait_queue_length(), 1);
    finish_dispose.wakeup(());
    assert_eq!(failed.rejection().unwrap().to_string(), "use failed");
    assert_eq!(main::run(next).unwrap(), 2, "the waiter got a new element");
    assert_eq!(created.get(), 2);
}

// ---- Switch ----

#[test]
fn switch_hooks_run_once_on_turn_off() {
    let l = log();
    let sw = Switch::new();
    let a = l.clone();
    sw.add_hook(move || {
        push(&a, "hook");
        Promise::ret(())
    })
    .unwrap();
    assert!(sw.is_on() && sw.check().is_ok());
    main::run(sw.turn_off()).unwrap();
    main::run(sw.turn_off()).unwrap();
    assert_eq!(*l.borrow(), ["hook"]);
    assert!(sw.check().is_err());
    assert!(sw.add_hook(|| Promise::ret(())).is_err());
    assert_eq!(switch::check(Some(&sw)), Err(switch::Off));
}

/// Found in review (rev60, session 36): Lwt's `add_hook` and `add_hook_or_exec` take an optional
/// switch, and the module's docs said functions would, but only `check` had that form here.
#[test]
fn the_optional_switch_forms_do_what_lwt_s_do() {
    let l = log();
    let hook = |name: &'static str| {
        let l = l.clone();
        move || {
            push(&l, name);
            Promise::ret(())
        }
    };
    // No switch: the hook is dropped unrun, and the promise is fulfilled.
    assert_eq!(switch::add_hook(None, hook("none")), Ok(()));
    assert!(switch::add_hook_or_exec(None, hook("none, exec")).is_fulfilled());
    let sw = Switch::new();
    assert_eq!(switch::add_hook(Some(&sw), hook("on")), Ok(()));
    assert!(switch::add_hook_or_exec(Some(&sw), hook("on, exec")).is_fulfilled());
    assert!(l.borrow().is_empty(), "nothing ran yet");
    main::run(sw.turn_off()).unwrap();
    assert_eq!(*l.borrow(), ["on, exec", "on"]);
    // Off: add_hook refuses, add_hook_or_exec runs the hook now.
    assert_eq!(switch::add_hook(Some(&sw), hook("off")), Err(switch::Off));
    let ran = switch::add_hook_or_exec(Some(&sw), || Promise::fail_with("close failed"));
    assert_eq!(ran.rejection().unwrap().to_string(), "close failed");
    assert_eq!(*l.borrow(), ["on, exec", "on"]);
}

#[test]
fn switch_hooks_run_last_registered_first_like_lwt() {
    // Found in review: hooks ran in registration order; Lwt prepends them, so the last one
    // registered runs first, and its failure is the one reported.
    let l = log();
    let sw = Switch::new();
    for name in ["a", "b", "c"] {
        let l = l.clone();
        sw.add_hook(move || {
            push(&l, name);
            Promise::ret(())
        })
        .unwrap();
    }
    main::run(sw.turn_off()).unwrap();
    assert_eq!(*l.borrow(), ["c", "b", "a"]);
    let sw = Switch::new();
    sw.add_hook(|| Promise::fail_with("first")).unwrap();
    sw.add_hook(|| Promise::fail_with("second")).unwrap();
    assert_eq!(main::run(sw.turn_off()).unwrap_err().to_string(), "second");
}

#[test]
fn with_switch_turns_off_on_rejection_too() {
    let l = log();
    let a = l.clone();
    let p: Promise<()> = switch::with_switch(move |sw| {
        sw.add_hook(move || {
            push(&a, "closed");
            Promise::ret(())
        })
        .unwrap();
        Promise::fail_with("body failed")
    });
    assert_eq!(main::run(p).unwrap_err().to_string(), "body failed");
    assert_eq!(*l.borrow(), ["closed"]);
}

#[test]
fn a_refused_hook_may_use_the_switch_as_it_drops() {
    let sw = Switch::new();
    main::run(sw.turn_off()).unwrap();
    let sw2 = sw.clone();
    let guard = OnDrop(Some(Box::new(move || {
        let _ = sw2.add_hook(|| Promise::ret(()));
    })));
    let refused = sw.add_hook(move || {
        drop(guard);
        Promise::ret(())
    });
    assert!(refused.is_err());
}

#[test]
fn a_hook_dropped_as_it_runs_sees_the_switch_off() {
    let sw = Switch::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, sw2) = (seen.clone(), sw.clone());
    let guard = OnDrop(Some(Box::new(move || s.borrow_mut().push(sw2.is_on()))));
    sw.add_hook(move || {
        drop(guard);
        Promise::ret(())
    })
    .unwrap();
    main::run(sw.turn_off()).unwrap();
    assert_eq!(*seen.borrow(), [false]);
}

// ---- result ----

#[test]
fn lwt_result_both_gives_the_first_err_to_arrive() {
    // Found in review: the first `Err` in argument order was given; Lwt gives the first in time.
    let (a, ra) = wait::<Result<u8, &str>>();
    let (b, rb) = wait::<Result<u8, &str>>();
    let p = lr::both(a, b);
    rb.wakeup(Err("b"));
    assert!(p.is_pending(), "waits for both");
    ra.wakeup(Err("a"));
    assert_eq!(p.state(), State::Fulfilled(Err("b")));
    let (a, ra) = wait::<Result<u8, &str>>();
    let p = lr::both(a, lr::lift(Ok(2)));
    ra.wakeup(Ok(1));
    assert_eq!(p.state(), State::Fulfilled(Ok((1, 2))));
    let (a, ra) = wait::<Result<u8, &str>>();
    let p = lr::both(a, lr::lift::<u8, &str>(Err("b")));
    ra.wakeup_exn(Exn::failure("rejected"));
    assert_eq!(p.rejection().unwrap().to_string(), "rejected");
}

#[test]
fn lwt_result_functions() {
    let ok = || lr::lift::<u32, String>(Ok(2));
    let err = || lr::lift::<u32, String>(Err("e".into()));
    assert_eq!(lr::map(|x| x * 2, ok()).state(), State::Fulfilled(Ok(4)));
    assert_eq!(
        lr::map_error(|e: String| e.len(), err()).state(),
        State::Fulfilled(Err(1))
    );
    assert_eq!(
        lr::bind(err(), |x| lr::ok_value(x + 1)).state(),
        State::Fulfilled(Err("e".into()))
    );
    assert_eq!(
        lr::bind_error(err(), |_| lr::ok_value::<u32, ()>(0)).state(),
        State::Fulfilled(Ok(0))
    );
    assert_eq!(
        lr::bind_lwt(ok(), |x| Promise::ret(x + 1)).state(),
        State::Fulfilled(Ok(3))
    );
    assert_eq!(
        lr::bind_result(ok(), |x| Ok(x + 2)).state(),
        State::Fulfilled(Ok(4))
    );
    assert_eq!(
        lr::both(ok(), err()).state(),
        State::Fulfilled(Err("e".into()))
    );
    assert_eq!(
        lr::ok::<u8, ()>(Promise::ret(1)).state(),
        State::Fulfilled(Ok(1))
    );
    assert_eq!(
        lr::error::<(), u8>(Promise::ret(1)).state(),
        State::Fulfilled(Err(1))
    );
    let (t, _r) = task::<u8>();
    let caught = lr::catch(move || t);
    caught.cancel();
    let got = get_fulfilled(caught).unwrap_err();
    assert!(got.is_canceled());
    let rejected = lr::get_exn(lr::lift::<u8, std::fmt::Error>(Err(std::fmt::Error)));
    assert!(rejected.rejection().unwrap().is::<std::fmt::Error>());
    let l = log();
    let (a, b) = (l.clone(), l.clone());
    assert!(lr::iter(
        move |x| {
            push(&a, format!("ok {x}"));
            Promise::ret(())
        },
        ok()
    )
    .is_fulfilled());
    assert!(lr::iter_error(
        move |e| {
            push(&b, format!("err {e}"));
            Promise::ret(())
        },
        err()
    )
    .is_fulfilled());
    assert_eq!(*l.borrow(), ["ok 2", "err e"]);
}

#[test]
fn lwt_result_bind_lwt_error_and_methods() {
    use lwt_core::result::ResultPromise;
    // `bind_lwt_error`: the error's promise gives the new error; `Ok` passes untouched, and a
    // rejection of that promise rejects the result.
    let (p, r) = wait::<usize>();
    let mapped = lr::bind_lwt_error(lr::lift::<u8, &str>(Err("four")), move |_| p);
    assert!(mapped.is_pending());
    r.wakeup(4);
    assert_eq!(mapped.state(), State::Fulfilled(Err(4)));
    let passed = lr::bind_lwt_error(lr::lift::<u8, &str>(Ok(1)), |_| -> Promise<usize> {
        panic!("not called on Ok")
    });
    assert_eq!(passed.state(), State::Fulfilled(Ok(1)));
    let rejected = lr::bind_lwt_error(lr::lift::<u8, &str>(Err("x")), |_| {
        Promise::<usize>::fail_with("while mapping")
    });
    assert_eq!(rejected.rejection().unwrap().to_string(), "while mapping");

    // The methods chain as the functions do, `Err` skipping the `Ok` steps.
    let (p, r) = wait::<Result<u32, String>>();
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let chained = p
        .bind_ok(move |x| {
            s.set(s.get() + 1);
            lr::lift(if x > 0 {
                Ok(x * 10)
            } else {
                Err("zero".to_string())
            })
        })
        .map_ok(|x| x + 1)
        .bind_error(|e| lr::lift::<u32, usize>(Err(e.len())))
        .map_error(|n| n * 100);
    r.wakeup(Ok(0));
    assert_eq!(chained.state(), State::Fulfilled(Err(400)));
    assert_eq!(steps.get(), 1);
    let recovered = lr::lift::<u32, &str>(Err("e"))
        .bind_error(|_| lr::ok_value::<u32, ()>(7))
        .map_ok(|x| x * 2);
    assert_eq!(recovered.state(), State::Fulfilled(Ok(14)));
}

fn get_fulfilled<T: Clone + std::fmt::Debug + 'static>(p: Promise<T>) -> T {
    match p.state() {
        State::Fulfilled(v) => v,
        other => panic!("not fulfilled: {other:?}"),
    }
}

/// Panics when dropped: the state a loop captured, dropped when a rejection ends the loop.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb dropped");
    }
}

#[test]
fn a_panicking_drop_of_a_loop_s_state_rejects_the_loop_instead_of_abandoning_it() {
    let (t, r) = task::<()>();
    let t = RefCell::new(Some(t));
    let bomb = Bomb;
    let p = list::iter_s(
        move |_x: u32| {
            let _ = &bomb;
            t.borrow_mut().take().unwrap_or_else(|| Promise::ret(()))
        },
        0..3,
    );
    r.wakeup_exn(Exn::failure("step failed"));
    let e = p.rejection().expect("rejected");
    assert!(e.is::<lwt_core::Panicked>(), "{e}");
    assert!(e.to_string().contains("bomb dropped"), "{e}");

    let (t, r) = task::<()>();
    let t = RefCell::new(Some(t));
    let bomb = Bomb;
    let p = lwt_core::control::forever(move || {
        let _ = &bomb;
        t.borrow_mut().take().unwrap_or_else(|| Promise::ret(()))
    });
    r.wakeup_exn(Exn::failure("body failed"));
    let e = p.rejection().expect("rejected");
    assert!(e.is::<lwt_core::Panicked>(), "{e}");
    assert!(!e.is::<lwt_core::Abandoned>());
}

#[test]
fn lwt_result_both_of_two_errs_already_there_keeps_the_second_like_lwt() {
    // Found in review (session 23): Lwt 5.6.1's `Lwt_result.both (return (Error "a")) (return
    // (Error "b"))` is `Error "b"` (its pair of `map_error`s is evaluated right to left); here
    // it was `Err("a")`.
    let p = lr::both(
        lr::lift::<u8, &str>(Err("a")),
        lr::lift::<u8, &str>(Err("b")),
    );
    assert_eq!(p.state(), State::Fulfilled(Err("b")));
}
