//! The delivery of a value to a bind-like continuation (`Node::deliver_here`'s `Consume`, which
//! computes the value with `take_or_clone` once the continuation is in `OnceFn::call_with`'s
//! frame, rev123): whatever `T::clone` does there (panic on one consumer of several, cancel or
//! resolve other promises, drop the last handle of the promise being delivered, register more
//! consumers, cancel the very consumer being delivered), every consumer ends fulfilled or
//! rejected, every continuation and every value is dropped exactly once, and none is called
//! after being dropped. Continuations of both layouts are covered: at most four words (stored
//! inline) and larger (boxed). These also run under Valgrind's memcheck and Miri.
//!
//! `take_or_clone` catches a panic of `T::clone` (the consumer gets a `Panicked` rejection), so
//! computing the argument does not unwind here: `call_with`'s drop guard is the defensive path,
//! pinned by `once_fn`'s unit test `an_argument_that_panics_drops_the_closure_once_uncalled`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::{task, wait, Panicked, Promise, State};

/// What `Value::clone` runs, given the number of the call.
type OnClone = Rc<dyn Fn(u32)>;

thread_local! {
    /// Values alive (made minus dropped).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// Calls of `Value::clone` so far.
    static CLONES: Cell<u32> = const { Cell::new(0) };
    /// Run by `Value::clone` with the number of the call (1-based), outside any other clone.
    static ON_CLONE: RefCell<Option<OnClone>> = const { RefCell::new(None) };
}

/// A value whose clone runs `ON_CLONE` (user code inside the delivery), and which counts
/// itself alive.
struct Value(u64);

impl Value {
    fn new(v: u64) -> Value {
        LIVE.with(|l| l.set(l.get() + 1));
        Value(v)
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        let n = CLONES.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let f = ON_CLONE.with(|f| f.borrow().clone());
        if let Some(f) = f {
            f(n);
        }
        Value::new(self.0)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get() - 1));
    }
}

/// Counts its drops; asserts it is never used after one.
struct Tracked(Rc<Cell<u32>>);

impl Tracked {
    fn touch(&self) {
        assert_eq!(
            self.0.get(),
            0,
            "a continuation ran after its captures were dropped"
        );
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn reset(on_clone: Option<OnClone>) {
    CLONES.with(|c| c.set(0));
    ON_CLONE.with(|f| *f.borrow_mut() = on_clone);
}

fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// A consumer of `p` mapping `Value` to its number, with a continuation stored inline or boxed;
/// gives the drop counter of what it captured and a flag set when it is called.
fn consumer(p: Promise<Value>, boxed: bool) -> (Promise<u64>, Rc<Cell<u32>>, Rc<Cell<bool>>) {
    let drops = Rc::new(Cell::new(0));
    let called = Rc::new(Cell::new(false));
    let (t, c) = (Tracked(drops.clone()), called.clone());
    let q = if boxed {
        let pad = [1u64; 6];
        p.map(move |v| {
            t.touch();
            c.set(true);
            v.0 + pad.iter().sum::<u64>() - 6
        })
    } else {
        p.map(move |v| {
            t.touch();
            c.set(true);
            v.0
        })
    };
    (q, drops, called)
}

fn panicked(q: &Promise<u64>) -> String {
    let e = q.rejection().expect("rejected");
    e.downcast_ref::<Panicked>()
        .expect("a Panicked rejection")
        .message()
        .to_string()
}

#[test]
fn a_clone_that_panics_on_the_second_of_three_consumers_rejects_that_one_only() {
    for boxed in [false, true] {
        reset(Some(Rc::new(|n| {
            if n == 2 {
                panic!("clone {n}")
            }
        })));
        {
            let (p, r) = wait::<Value>();
            let (q1, d1, c1) = consumer(p.clone(), boxed);
            let (q2, d2, c2) = consumer(p.clone(), !boxed);
            let (q3, d3, c3) = consumer(p, boxed);
            r.wakeup(Value::new(7));
            assert_eq!(q1.state(), State::Fulfilled(7));
            assert_eq!(panicked(&q2), "clone 2");
            assert_eq!(q3.state(), State::Fulfilled(7));
            assert_eq!((c1.get(), c2.get(), c3.get()), (true, false, true));
            assert_eq!((d1.get(), d2.get(), d3.get()), (1, 1, 1), "boxed: {boxed}");
        }
        assert_eq!(live(), 0, "every value dropped once (boxed: {boxed})");
    }
    reset(None);
}

#[test]
fn a_bind_continuation_given_a_panicked_clone_is_dropped_uncalled_and_its_result_rejected() {
    for boxed in [false, true] {
        reset(Some(Rc::new(|_| panic!("no clone"))));
        {
            let (p, r) = task::<Value>();
            let drops = Rc::new(Cell::new(0));
            let t = Tracked(drops.clone());
            let pad = [0u64; 8];
            let q: Promise<u64> = if boxed {
                p.clone().bind(move |v| {
                    let _ = (&t, pad);
                    unreachable!("called with {}", v.0)
                })
            } else {
                p.clone().bind(move |v| {
                    let _ = &t;
                    unreachable!("called with {}", v.0)
                })
            };
            r.wakeup(Value::new(1));
            assert_eq!(panicked(&q), "no clone");
            assert_eq!(drops.get(), 1);
            // The promise itself keeps its value; `state` clones it, and that panics too.
            reset(None);
            assert!(matches!(p.state(), State::Fulfilled(Value(1))));
        }
        assert_eq!(live(), 0);
    }
}

#[test]
fn a_clone_that_re_enters_the_runtime_leaves_no_consumer_pending() {
    for boxed in [false, true] {
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        // Another task with a consumer of its own, canceled from inside the first clone.
        let (other, _other_r) = task::<u64>();
        let other_drops = Rc::new(Cell::new(0));
        let ot = Tracked(other_drops.clone());
        let l = log.clone();
        let other_q = other.clone().map(move |x| {
            ot.touch();
            l.borrow_mut().push(format!("other {x}"));
            x
        });
        // A wait resolved from inside the second clone: its consumer runs nested.
        let (third, third_r) = wait::<u64>();
        let l = log.clone();
        let third_q = third.map(move |x| {
            l.borrow_mut().push(format!("third {x}"));
            x
        });
        let third_r = Rc::new(RefCell::new(Some(third_r)));

        let (p, r) = wait::<Value>();
        // The last handles on `p`, taken and dropped by the third clone.
        let slot = Rc::new(RefCell::new(Some(p.clone())));
        let (q1, d1, c1) = consumer(p.clone(), boxed);
        let (q2, d2, c2) = consumer(p.clone(), !boxed);
        let q2 = Rc::new(q2);
        let (q3, d3, c3) = consumer(p.clone(), boxed);
        let late = Rc::new(RefCell::new(None));

        let (l, s, q2c, tr, lt) = (
            log.clone(),
            slot.clone(),
            q2.clone(),
            third_r.clone(),
            late.clone(),
        );
        let other_c = other.clone();
        reset(Some(Rc::new(move |n| {
            l.borrow_mut().push(format!("clone {n}"));
            match n {
                1 => {
                    other_c.cancel();
                    // Another consumer of `p`, registered mid-delivery: it runs after the others.
                    let held = s.borrow().clone().expect("still held");
                    *lt.borrow_mut() = Some(consumer(held, !boxed));
                }
                2 => {
                    // The consumer being delivered is canceled: its source is resolved, so the
                    // cancel has nothing to reject, and the continuation still runs.
                    q2c.cancel();
                    tr.borrow_mut().take().expect("once").wakeup(3);
                }
                3 => drop(s.borrow_mut().take()),
                _ => {}
            }
        })));
        drop(p);
        r.wakeup(Value::new(5));
        reset(None);

        assert_eq!(q1.state(), State::Fulfilled(5));
        assert_eq!(q2.state(), State::Fulfilled(5));
        assert_eq!(q3.state(), State::Fulfilled(5));
        assert!(other_q.rejection().unwrap().is_canceled());
        assert_eq!(third_q.state(), State::Fulfilled(3));
        let (late_q, late_d, late_c) = late.borrow_mut().take().expect("registered");
        assert_eq!(late_q.state(), State::Fulfilled(5));
        assert!(c1.get() && c2.get() && c3.get() && late_c.get());
        assert_eq!(
            (
                d1.get(),
                d2.get(),
                d3.get(),
                late_d.get(),
                other_drops.get()
            ),
            (1, 1, 1, 1, 1),
            "boxed: {boxed}"
        );
        assert_eq!(
            *log.borrow(),
            ["clone 1", "clone 2", "third 3", "clone 3", "clone 4"],
            "boxed: {boxed}"
        );
        drop((q1, q2, q3, late_q, slot));
        assert_eq!(live(), 0, "boxed: {boxed}");
    }
}
