//! Library callbacks that re-enter the library: a pool's create, validate, check and dispose
//! that use or clear their own pool, a list function's `f` that cancels the result, `iter_n`'s
//! bound, a panic in `result::catch`, and the Future bridge on a busy or canceled task. Each
//! agreed with Lwt 5.6.1 (or the crate's documented differences) when session 23's review
//! checked it; these tests keep it so.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::pool::Pool;
use lwt_core::{list, result as lr, seq, task, wait, Promise, State};

/// A pool of numbered elements (1, 2, ... in order of creation) whose callbacks can reach the
/// pool itself, and keep the promises of the uses they start.
struct Reentrant {
    pool: Rc<RefCell<Option<Pool<u32>>>>,
    started: Rc<RefCell<Vec<Promise<u32>>>>,
}

impl Reentrant {
    fn new() -> Self {
        Reentrant {
            pool: Rc::default(),
            started: Rc::default(),
        }
    }

    /// A pool of at most `max` elements; `on_create(pool, n)` runs as element `n` is made.
    fn pool(&self, max: usize, on_create: impl Fn(&Self, u32) + 'static) -> Pool<u32> {
        let made = Cell::new(0);
        let me = self.handle();
        Pool::new(max, move || {
            made.set(made.get() + 1);
            on_create(&me, made.get());
            Promise::ret(made.get())
        })
    }

    /// Makes `pool` the one the callbacks reach.
    fn install(&self, pool: &Pool<u32>) {
        *self.pool.borrow_mut() = Some(pool.clone());
    }

    /// Another handle on the same cells, for a callback to capture.
    fn handle(&self) -> Self {
        Reentrant {
            pool: self.pool.clone(),
            started: self.started.clone(),
        }
    }

    /// The pool, from inside one of its callbacks.
    fn reach(&self) -> Pool<u32> {
        self.pool.borrow().clone().expect("installed")
    }

    /// Starts a use of the pool that answers its element plus 100.
    fn start_use(&self) {
        let started = self.reach().use_(|x| Promise::ret(*x + 100));
        self.started.borrow_mut().push(started);
    }

    /// The promise of the last use a callback started.
    fn last_started(&self) -> Promise<u32> {
        self.started
            .borrow_mut()
            .pop()
            .expect("a callback started a use")
    }

    /// Installs `p`, fails a use of it (so that `check` runs, and the element is disposed of
    /// when it says no), and checks that the use a callback started got element 2, in a pool of
    /// one element.
    fn fail_a_use_of(&self, p: &Pool<u32>) {
        self.install(p);
        assert!(p.use_(|_| Promise::<u32>::fail_with("no")).is_rejected());
        assert_eq!(self.last_started().state(), State::Fulfilled(102));
        assert_eq!(p.size(), 1);
        self.uninstall();
    }

    /// Ends the cycle pool → callback → cell → pool.
    fn uninstall(&self) {
        *self.pool.borrow_mut() = None;
    }
}

#[test]
fn pool_dispose_reenters_clear() {
    let r = Reentrant::new();
    let me = r.handle();
    let p = r
        .pool(2, |_, _| ())
        .with_dispose(move |_| me.reach().clear());
    r.install(&p);
    let a = p.use_(|x| Promise::ret(*x));
    let b = p.use_(|x| Promise::ret(*x));
    assert!(a.is_fulfilled() && b.is_fulfilled());
    let c = p.clear();
    assert!(c.is_fulfilled(), "{:?}", c.state());
    assert_eq!(p.size(), 0);
    r.uninstall();
}

#[test]
fn pool_create_reenters_use() {
    let r = Reentrant::new();
    let p = r.pool(1, |me, n| {
        if n == 1 {
            me.start_use();
        }
    });
    r.install(&p);
    assert_eq!(p.use_(|x| Promise::ret(*x)).state(), State::Fulfilled(1));
    assert_eq!(r.last_started().state(), State::Fulfilled(101));
    r.uninstall();
}

#[test]
fn pool_validate_reenters_clear_and_use() {
    let r = Reentrant::new();
    let me = r.handle();
    let disposed = Rc::new(RefCell::new(Vec::new()));
    let d2 = disposed.clone();
    let p = r
        .pool(1, |_, _| ())
        .with_validate(move |x| {
            if *x == 1 {
                drop(me.reach().clear());
                me.start_use();
            }
            Promise::ret(true)
        })
        .with_dispose(move |x| {
            d2.borrow_mut().push(*x);
            Promise::ret(())
        });
    r.install(&p);
    assert_eq!(p.use_(|x| Promise::ret(*x)).state(), State::Fulfilled(1));
    let second = p.use_(|x| Promise::ret(*x));
    assert_eq!(second.state(), State::Fulfilled(1));
    // Element 1 was being validated when `clear` came: disposed of after its use, and its slot
    // goes to the use `validate` started, which gets a new element.
    assert_eq!(r.last_started().state(), State::Fulfilled(102));
    assert_eq!(*disposed.borrow(), [1]);
    assert_eq!(p.size(), 1);
    r.uninstall();
}

#[test]
fn pool_dispose_uses_its_pool_of_one() {
    let r = Reentrant::new();
    let me = r.handle();
    let p = r
        .pool(1, |_, _| ())
        .with_check(|_, _| Promise::ret(false))
        .with_dispose(move |x| {
            if *x == 1 {
                me.start_use();
            }
            Promise::ret(())
        });
    r.fail_a_use_of(&p);
}

#[test]
fn pool_check_reenters_clear_and_use() {
    let r = Reentrant::new();
    let me = r.handle();
    let p = r.pool(1, |_, _| ()).with_check(move |_, _| {
        drop(me.reach().clear());
        me.start_use();
        Promise::ret(true)
    });
    r.fail_a_use_of(&p);
}

#[test]
fn list_map_s_result_canceled_from_f() {
    let res: Rc<RefCell<Option<Promise<Vec<u32>>>>> = Rc::default();
    let r2 = res.clone();
    let (t, tr) = task::<u32>();
    let mut first = Some(t);
    let calls = Rc::new(Cell::new(0));
    let c2 = calls.clone();
    let p = list::map_s(
        move |x: u32| {
            c2.set(c2.get() + 1);
            if let Some(t) = first.take() {
                return t;
            }
            if x == 2 {
                if let Some(r) = r2.borrow().as_ref() {
                    r.cancel();
                }
            }
            Promise::ret(x)
        },
        vec![1, 2, 3],
    );
    *res.borrow_mut() = Some(p.clone());
    tr.wakeup(1);
    // Lwt 5.6.1 prints "state 1,2,3 calls 3": the cancel reaches only the resolved step.
    assert_eq!(p.state(), State::Fulfilled(vec![1, 2, 3]));
    assert_eq!(calls.get(), 3);
}

#[test]
fn seq_iter_n_bounds() {
    let running = Rc::new(Cell::new(0));
    let maxr = Rc::new(Cell::new(0));
    let rs: Rc<RefCell<Vec<lwt_core::Resolver<()>>>> = Rc::default();
    let (r1, m1, rs1) = (running.clone(), maxr.clone(), rs.clone());
    let p = seq::of_iter(0..10).iter_n(3, move |_| {
        r1.set(r1.get() + 1);
        m1.set(m1.get().max(r1.get()));
        let (p, r) = wait();
        rs1.borrow_mut().push(r);
        let r1 = r1.clone();
        p.map(move |()| r1.set(r1.get() - 1))
    });
    loop {
        let r = rs.borrow_mut().pop();
        match r {
            Some(r) => r.wakeup(()),
            None => break,
        }
    }
    assert!(p.is_fulfilled());
    assert_eq!(maxr.get(), 3);
}

#[test]
fn result_catch_panic() {
    let p = lr::catch(|| -> Promise<u8> { panic!("x") });
    match p.state() {
        State::Fulfilled(Err(e)) => assert!(e.is::<lwt_core::Panicked>()),
        s => panic!("{s:?}"),
    }
}

#[test]
fn future_await_busy_and_pause() {
    use lwt_core::future::spawn_local;
    use lwt_core::main;
    let (p, r) = wait::<u32>();
    let (q, qr) = wait::<u32>();
    // q is resolved with wakeup_later from a callback of p: Busy while the task polls.
    p.on_success(move |v| qr.wakeup_later(*v + 1));
    let t = spawn_local(async move {
        main::pause().await.unwrap();
        q.await.unwrap()
    });
    let kick = main::pause().map(move |()| r.wakeup(1));
    let both = lwt_core::both(t, kick);
    assert_eq!(main::run(both).unwrap().0, 2);
}

#[test]
fn future_cancel_then_run_stuck() {
    use lwt_core::future::spawn_local;
    use lwt_core::main;
    let (p, _r) = wait::<u32>();
    let t = spawn_local(async move { p.await.unwrap() });
    t.cancel();
    let (q, _qr) = wait::<u32>();
    // nothing can make progress: an error, not a hang
    assert!(main::run(q).is_err());
}

/// Starts a serial loop from its two steps.
type StartLoop = Box<dyn Fn(Promise<()>, Promise<()>) -> Promise<()>>;

/// Starts, inside a callback of `s` (resolved, its callbacks running), a serial loop whose first
/// step is `s` itself and whose second is the pending task `t`, and cancels the loop at once.
fn cancel_a_loop_started_on_a_busy_step(
    start: impl Fn(Promise<()>, Promise<()>) -> Promise<()> + 'static,
) -> (Promise<()>, Promise<()>) {
    let (s, rs) = wait::<()>();
    let (t, _rt) = task::<()>();
    let out: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
    let (o, s2, t2) = (out.clone(), s.clone(), t.clone());
    s.on_success(move |_| {
        let lp = start(s2.clone(), t2.clone());
        lp.cancel();
        *o.borrow_mut() = Some(lp);
    });
    rs.wakeup(());
    let lp = out.borrow_mut().take().expect("the loop was started");
    (t, lp)
}

/// Found by review (session 24): a serial loop (`control`'s, `list`'s `_s` functions) whose
/// step was a promise resolved but with callbacks still queued pointed its result's cancel link
/// at that step, which can no longer be canceled: a cancel made then was lost, and the loop went
/// on to wait on its next step for ever. `bind` records such a cancel and passes it on; so does
/// Lwt, whose `bind` calls the function at once (`t: canceled`, `loop: canceled`).
#[test]
fn a_loop_canceled_while_its_step_is_busy_cancels_its_next_step() {
    let loops: [(&str, StartLoop); 2] = [
        (
            "control::for_each",
            Box::new(|s, t| {
                lwt_core::control::for_each(
                    0..2,
                    move |i| if i == 0 { s.clone() } else { t.clone() },
                )
            }),
        ),
        (
            "list::iter_s",
            Box::new(|s, t| {
                list::iter_s(
                    move |i: u32| if i == 0 { s.clone() } else { t.clone() },
                    vec![0, 1],
                )
            }),
        ),
    ];
    for (name, start) in loops {
        let (t, lp) = cancel_a_loop_started_on_a_busy_step(start);
        assert!(
            t.rejection().is_some_and(|e| e.is_canceled()),
            "{name}: the next step was not canceled"
        );
        assert!(
            lp.rejection().is_some_and(|e| e.is_canceled()),
            "{name}: the loop is {:?}",
            lp.state()
        );
    }
}
