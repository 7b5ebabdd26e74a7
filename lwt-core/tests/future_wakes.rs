//! Found in review (session 30), in how `spawn_local` tasks are woken and how a promise keeps
//! the wakers of the tasks awaiting it:
//!
//! * every wake queued a poll of its own, where futures' `LocalPool` and tokio make one poll of
//!   any number of wakes before it: a task that woke itself twice per poll doubled its queued
//!   polls at every turn (8.4M polls and 460 MB after 22 turns), and a burst of wakes from
//!   another thread queued a poll per wake;
//! * a promise compared each new waker with every waker it held, so N tasks awaiting one
//!   promise cost O(N²) (80,000 tasks: 2 s, against 19 ms for as many `map`s). Only the last
//!   few are compared now; a duplicate further back leaves when the list would grow.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use lwt_core::future::spawn_local;
use lwt_core::{join, main, wait, Promise};

#[test]
fn any_number_of_wakes_before_a_poll_make_one_poll() {
    let polls = Rc::new(Cell::new(0));
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let done = Rc::new(Cell::new(false));
    let (p, w, d) = (polls.clone(), waker.clone(), done.clone());
    let task = spawn_local(std::future::poll_fn(move |cx| {
        p.set(p.get() + 1);
        *w.borrow_mut() = Some(cx.waker().clone());
        if d.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    assert_eq!(polls.get(), 1);
    let (w1, w2) = (waker.clone(), waker.clone());
    let program = main::pause()
        .map(move |()| {
            let w = w1.borrow().clone().unwrap();
            for _ in 0..1000 {
                w.wake_by_ref();
            }
        })
        .bind(|()| main::pause())
        .map(move |()| {
            done.set(true);
            w2.borrow().clone().unwrap().wake();
        })
        .bind(move |()| task);
    main::run(program).unwrap();
    // The first poll, one for the thousand wakes, one for the last. Without the fix: 1002.
    assert_eq!(polls.get(), 3);
}

/// Polls `promise`, and while it is pending wakes its own task `left` more times, so that the
/// task polls the promise again (as a `select` in a loop does).
struct Repoll {
    promise: Promise<u32>,
    left: u32,
}

impl Future for Repoll {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let this = &mut *self;
        match Pin::new(&mut this.promise).poll(cx) {
            Poll::Ready(v) => Poll::Ready(v.unwrap()),
            Poll::Pending => {
                if this.left > 0 {
                    this.left -= 1;
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

#[test]
fn tasks_polling_a_promise_again_and_again_keep_one_waker_each() {
    let (p, r) = wait::<u32>();
    // 20 tasks, more than the entries compared at each registration, each polling the promise
    // 50 times, their polls interleaved (each wake queues the task behind the others).
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            spawn_local(Repoll {
                promise: p.clone(),
                left: 50,
            })
        })
        .collect();
    main::run(main::pause().bind(|()| main::pause())).unwrap();
    let settle = (0..60).fold(Promise::ret(()), |acc, _| acc.bind(|()| main::pause()));
    main::run(settle).unwrap();
    // 1000 registrations in all; at most about twice the 20 live wakers stay.
    let kept = p.callback_count();
    assert!(kept <= 64, "{kept} wakers kept for 20 tasks");
    r.wakeup(7);
    let sums = main::run(join(
        tasks
            .into_iter()
            .map(|t| t.map(|v| assert_eq!(v, 7)))
            .collect::<Vec<_>>(),
    ));
    assert!(sums.is_ok());
}

/// Known limit until session 31: a task whose waker another thread held kept `run` waiting, and
/// when that thread dropped the waker without waking it (it panicked, say), nothing woke the
/// loop to count the holders again: `run` waited for ever. The loop now counts them again every
/// second while such tasks are all it waits for.
#[test]
fn run_notices_a_foreign_waker_dropped_without_a_wake() {
    // Gives its waker to a thread that drops it, unwoken, after 100 ms.
    struct HandsOffItsWaker(bool);
    impl Future for HandsOffItsWaker {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if !self.0 {
                self.0 = true;
                let waker = cx.waker().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    drop(waker);
                });
            }
            Poll::Pending
        }
    }
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let task = spawn_local(HandsOffItsWaker(false));
        let started = std::time::Instant::now();
        let e = main::run(task).unwrap_err().to_string();
        let _ = done.send((e, started.elapsed()));
    });
    let (e, took) = outcome
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("run still waiting 10 s after the only waker was dropped");
    assert!(e.contains("nothing can resolve it"), "{e}");
    assert!(took >= std::time::Duration::from_millis(100), "{took:?}");
}

/// Found in review (session 31): the recount above first returned from the loop's iteration
/// every second, so the enter and leave hooks ran once a second while the loop only waited for
/// such a task. The recounts now stay inside one iteration.
#[test]
fn waiting_for_a_foreign_wake_runs_no_iteration_per_recount() {
    struct WokenLater(bool);
    impl Future for WokenLater {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            let waker = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(2500));
                waker.wake();
            });
            Poll::Pending
        }
    }
    let leaves = Rc::new(Cell::new(0u32));
    let l = leaves.clone();
    let hook = main::add_leave_hook(move || l.set(l.get() + 1));
    main::run(spawn_local(WokenLater(false))).unwrap();
    main::remove_hook(hook);
    // One iteration polls the task, waits and runs its wake (recounting each second: 3
    // iterations here before the fix).
    assert!(leaves.get() <= 2, "{} iterations", leaves.get());
}
