//! Minimal reproductions of the bugs the randomized tests (`sync_fuzz.rs`, `pool_fuzz.rs`) found
//! in `Mvar` and `Pool`, now fixed, and of those reviews found. Each test failed on the code
//! before its fix (`b23956c` for the randomized tests' finds).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::pool::Pool;
use lwt_core::sync::{Condition, Mvar};
use lwt_core::{wait, Exn, Promise, Resolver, State};

// ---- Pool: a failed creation strands the waiters ----------------------------------------------

/// The only element of a pool of 1 is being made; a second use waits. The creation fails: the
/// first use is rejected and the pool is empty (size 0 of 1), but the second use is never served.
#[test]
fn pool_a_failed_creation_does_not_strand_a_waiter() {
    let creations: Rc<RefCell<Vec<Resolver<u32>>>> = Rc::default();
    let c = creations.clone();
    let pool = Pool::new(1, move || {
        let (p, r) = wait();
        c.borrow_mut().push(r);
        p
    });
    let first = pool.use_(|e| Promise::ret(*e));
    let second = pool.use_(|e| Promise::ret(*e));
    assert_eq!(pool.wait_queue_length(), 1);
    let r = creations.borrow_mut().remove(0);
    r.wakeup_exn(Exn::failure("cannot connect"));
    assert!(first.is_rejected());
    // The freed slot goes to the waiting use: a new creation, for it.
    assert_eq!(pool.size(), 1);
    assert_eq!(creations.borrow().len(), 1, "a new try for the waiting use");
    let r = creations.borrow_mut().remove(0);
    r.wakeup(7);
    assert_eq!(second.state(), lwt_core::State::Fulfilled(7));
    assert_eq!(pool.size(), 1);
}

/// Every waiting use gets a try of its own when creations keep failing at once, however many
/// wait, without nesting a call per waiter (a freed slot is passed on by a loop).
#[test]
fn pool_creations_failing_at_once_reject_every_waiter_in_turn() {
    let up = Rc::new(Cell::new(true));
    let u = up.clone();
    let pool = Pool::new(1, move || {
        if u.get() {
            Promise::ret(0u32)
        } else {
            Promise::fail(Exn::failure("down"))
        }
    })
    .with_check(|_, _| Promise::ret(false)); // an element whose use failed is disposed of
    let (hold, release) = wait::<u32>();
    let first = pool.use_(move |_| hold); // holds the only element
    let waiting: Vec<_> = (0..100_000)
        .map(|_| pool.use_(|e| Promise::ret(*e)))
        .collect();
    up.set(false);
    release.wakeup_exn(Exn::failure("use failed")); // its slot is freed, creations fail
    assert!(first.is_rejected());
    assert!(waiting.iter().all(|p| p
        .rejection()
        .is_some_and(|e| e.to_string().contains("down"))));
    assert_eq!(pool.size(), 0);
    assert_eq!(pool.wait_queue_length(), 0);
}

/// The same with a cancel: the use that makes the element gives up (a timeout), which cancels
/// the creation; the use waiting behind it is never served.
#[test]
fn pool_a_canceled_creation_does_not_strand_a_waiter() {
    let creations: Rc<RefCell<Vec<Resolver<u32>>>> = Rc::default();
    let c = creations.clone();
    let pool = Pool::new(1, move || {
        let (p, r) = lwt_core::task();
        c.borrow_mut().push(r);
        p
    });
    let first = pool.use_(|e| Promise::ret(*e));
    let second = pool.use_(|e| Promise::ret(*e));
    first.cancel();
    assert!(first.rejection().is_some_and(|e| e.is_canceled()));
    // The freed slot goes to the waiting use: a new creation, for it.
    assert_eq!(pool.size(), 1);
    assert_eq!(creations.borrow().len(), 2, "a new try for the waiting use");
    let r = creations.borrow_mut().remove(1);
    r.wakeup(7);
    assert_eq!(second.state(), lwt_core::State::Fulfilled(7));
}

// ---- Pool: clear strands the waiters ----------------------------------------------------------

/// `clear` disposes of the idle element; while its `dispose` is pending the element still
/// counts, so a use that comes meanwhile waits. Once the dispose resolves the pool is empty,
/// and the use waits for ever.
#[test]
fn pool_a_use_that_waits_while_clear_disposes_is_served() {
    let disposes: Rc<RefCell<Vec<Resolver<()>>>> = Rc::default();
    let d = disposes.clone();
    let pool = Pool::new(1, || Promise::ret(())).with_dispose(move |_| {
        let (p, r) = wait();
        d.borrow_mut().push(r);
        p
    });
    assert!(pool.use_(|_| Promise::ret(())).is_fulfilled()); // one idle element
    let cleared = pool.clear();
    let using = pool.use_(|_| Promise::ret(()));
    assert!(using.is_pending()); // the element being disposed of still counts
    let r = disposes.borrow_mut().remove(0);
    r.wakeup(());
    assert!(cleared.is_fulfilled());
    // The freed slot went to the waiting use: a new element, made for it and now idle.
    assert!(using.is_fulfilled(), "served once the dispose is done");
    assert_eq!(pool.size(), 1);
}

// ---- Pool: more than max elements -------------------------------------------------------------

/// The disposes a test left pending, with a clone of each promise.
type Disposes = Rc<RefCell<Vec<(Promise<()>, Resolver<()>)>>>;

/// `validate` says no: the element is disposed of and a new one is made for the caller. The
/// count drops when the dispose resolves, and the new element is made one callback later; a use
/// that starts in between (here: woken by a `Condition::signal`, which uses `wakeup_later`, from
/// an observer on the dispose's promise) sees a free slot and makes an element too. A pool of 1
/// then holds 2 elements.
#[test]
fn pool_never_holds_more_than_max_elements() {
    let made = Rc::new(Cell::new(0u32));
    let m = made.clone();
    let disposes: Disposes = Rc::default();
    let d = disposes.clone();
    let pool = Pool::new(1, move || {
        m.set(m.get() + 1);
        Promise::ret(m.get())
    })
    .with_validate(|_| Promise::ret(false))
    .with_dispose(move |_| {
        let (p, r) = wait();
        d.borrow_mut().push((p.clone(), r));
        p
    });
    assert!(pool.use_(|e| Promise::ret(*e)).is_fulfilled()); // element 1, idle
    let b = pool.use_(|e| Promise::ret(*e)); // element 1 is invalid: disposed of, then replaced
    let (closing, closed) = disposes.borrow_mut().remove(0);

    // Elsewhere: a task that waits for the close to be announced, then uses the pool.
    let announced = Condition::<()>::new();
    let p2 = pool.clone();
    let c = announced
        .wait(None)
        .bind(move |()| p2.use_(|e| Promise::ret(*e)));
    let a2 = announced.clone();
    closing.on_success(move |_| a2.signal(()));

    closed.wakeup(());
    // `b` gets a new element in the disposed one's slot; `c` waits for it (there is no other
    // slot), and, as `validate` says no to every reuse, has it disposed of and replaced in turn.
    assert!(b.is_fulfilled());
    assert!(c.is_pending());
    assert_eq!(pool.size(), 1, "{} made, 1 disposed of", made.get());
    let (_, closed) = disposes.borrow_mut().remove(0);
    closed.wakeup(());
    assert!(c.is_fulfilled());
    assert_eq!(pool.size(), 1, "{} made, 2 disposed of", made.get());
}

/// The same through `validate` failing (`discard_and_replace`, then `replace_for_waiter` makes
/// an element for the next waiter): a use that starts in between makes one too.
#[test]
fn pool_never_holds_more_than_max_elements_after_a_failed_validate() {
    let disposes: Disposes = Rc::default();
    let d = disposes.clone();
    let validations = Rc::new(Cell::new(0));
    let v = validations.clone();
    let pool = Pool::new(1, || Promise::ret(()))
        .with_validate(move |_| {
            v.set(v.get() + 1);
            if v.get() == 1 {
                Promise::fail(Exn::failure("stale"))
            } else {
                Promise::ret(true)
            }
        })
        .with_dispose(move |_| {
            let (p, r) = wait();
            d.borrow_mut().push((p.clone(), r));
            p
        });
    let (hold, release) = wait::<()>();
    let first = pool.use_(move |_| hold); // holds the only element
    let second = pool.use_(|_| Promise::ret(())); // waits
    let third = pool.use_(|_| Promise::ret(())); // waits
    release.wakeup(()); // handed to `second`, whose validate fails: disposed of, then replaced
    assert!(first.is_fulfilled());
    let (closing, closed) = disposes.borrow_mut().remove(0);

    // Elsewhere: a task that waits for the close to be announced, then uses the pool (and keeps
    // its element for a while).
    let announced = Condition::<()>::new();
    let p2 = pool.clone();
    let (keep, _done) = wait::<()>();
    let fourth = announced.wait(None).bind(move |()| p2.use_(move |_| keep));
    let a2 = announced.clone();
    closing.on_success(move |_| a2.signal(()));

    closed.wakeup(());
    assert!(second.is_rejected());
    assert!(
        pool.size() <= 1,
        "a pool of max 1 holds {} elements (third {:?}, fourth {:?})",
        pool.size(),
        third.state(),
        fourth.state()
    );
}

// ---- Mvar: a canceled put's value dropped in the middle of a take -----------------------------

/// A value that runs `on_drop` when dropped.
struct Noisy {
    id: u32,
    on_drop: Option<Box<dyn FnOnce()>>,
    dropped: Rc<RefCell<Vec<u32>>>,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.dropped.borrow_mut().push(self.id);
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

fn noisy(id: u32, dropped: &Rc<RefCell<Vec<u32>>>, on_drop: Option<Box<dyn FnOnce()>>) -> Noisy {
    Noisy {
        id,
        on_drop,
        dropped: dropped.clone(),
    }
}

/// A canceled put's value is dropped, and its `drop` puts into the mailbox. It used to run
/// from `refill`, before the next putter's value was put in: it found the slot empty, put its
/// value there, and `refill` then overwrote the slot (the value was lost). Since session 29
/// the value is dropped at the cancel (as Lwt removes the waiter then), with no borrow held:
/// the late put is queued at that moment, ahead of a put made after the cancel, and nothing
/// is lost.
#[test]
fn mvar_a_put_from_the_drop_of_a_canceled_put_is_not_lost() {
    let dropped = Rc::new(RefCell::new(Vec::new()));
    let m = Mvar::create(noisy(1, &dropped, None));
    let (m2, d2) = (m.clone(), dropped.clone());
    let late_put: Rc<RefCell<Option<Promise<()>>>> = Rc::default();
    let lp = late_put.clone();
    let canceled = m.put(noisy(
        2,
        &dropped,
        Some(Box::new(move || {
            *lp.borrow_mut() = Some(m2.put(noisy(4, &d2, None)))
        })),
    ));
    canceled.cancel();
    let late = late_put
        .borrow_mut()
        .take()
        .expect("the drop ran at the cancel");
    assert!(late.is_pending(), "the mailbox is full: the late put waits");
    let third = m.put(noisy(3, &dropped, None));

    assert_eq!(m.take_available().map(|v| v.id), Some(1));
    assert!(late.is_fulfilled(), "the late put went through first");
    assert!(third.is_pending(), "3 waits its turn behind the late put");
    // What is in the mailbox now, and what was dropped without being taken.
    let mut taken = vec![];
    while let Some(v) = m.take_available() {
        taken.push(v.id);
    }
    assert_eq!(taken, [4, 3]);
    assert!(third.is_fulfilled());
    let lost: Vec<u32> = dropped
        .borrow()
        .iter()
        .copied()
        .filter(|id| *id != 2 && !taken.contains(id) && *id != 1)
        .collect();
    assert!(
        lost.is_empty(),
        "values {lost:?} were dropped although their put succeeded (taken afterwards: {taken:?})"
    );
}

/// The same drop, with a `take`: at the cancel the mailbox is full, so the take is served at
/// once, and a later put fills the emptied slot. No take waits beside a full slot.
#[test]
fn mvar_a_take_from_the_drop_of_a_canceled_put_is_served() {
    let dropped = Rc::new(RefCell::new(Vec::new()));
    let m = Mvar::create(noisy(1, &dropped, None));
    let m2 = m.clone();
    let late_take: Rc<RefCell<Option<Promise<Noisy>>>> = Rc::default();
    let lt = late_take.clone();
    let canceled = m.put(noisy(
        2,
        &dropped,
        Some(Box::new(move || *lt.borrow_mut() = Some(m2.take()))),
    ));
    canceled.cancel();
    let late = late_take
        .borrow_mut()
        .take()
        .expect("the drop ran at the cancel");
    assert!(late.is_fulfilled(), "served from the full mailbox");
    assert_eq!(lwt_core::main::run(late).map(|v| v.id).ok(), Some(1));
    let third = m.put(noisy(3, &dropped, None));
    assert!(third.is_fulfilled(), "the slot was empty");
    assert_eq!(m.take_available().map(|v| v.id), Some(3));
    assert!(m.is_empty());
}

// ---- Pool: an element made before a `clear` for a waiter that gave up (review, session 26) ---

/// A pool of 1 whose second creation waits (its resolvers go to the first list) and whose
/// `dispose` records the elements it is given (the second list); other creations give 1, 3...
#[allow(clippy::type_complexity)]
fn pool_whose_second_creation_waits() -> (
    Pool<u32>,
    Rc<RefCell<Vec<Resolver<u32>>>>,
    Rc<RefCell<Vec<u32>>>,
) {
    let pending: Rc<RefCell<Vec<Resolver<u32>>>> = Rc::default();
    let next = Rc::new(Cell::new(0u32));
    let pd = pending.clone();
    let disposed = Rc::new(RefCell::new(Vec::new()));
    let d = disposed.clone();
    let pool = Pool::new(1, move || {
        next.set(next.get() + 1);
        if next.get() == 2 {
            let (p, r) = wait();
            pd.borrow_mut().push(r);
            p
        } else {
            Promise::ret(next.get())
        }
    })
    .with_dispose(move |e: Rc<u32>| {
        d.borrow_mut().push(*e);
        Promise::ret(())
    });
    (pool, pending, disposed)
}

/// A slot freed while a use waits gets a creation for that use; the pool is cleared while the
/// element is made and the use is canceled. The element, made before the `clear`, goes to the
/// idle list and is handed to a use that starts after the `clear`.
#[test]
fn pool_element_made_before_clear_is_not_handed_to_a_use_started_after_it() {
    let (pool, pending, disposed) = pool_whose_second_creation_waits();
    let pool = pool.with_check(|_, _| Promise::ret(false));
    let (hold, release) = wait::<u32>();
    let a = pool.use_(move |_| hold); // element 1
    let b = pool.use_(|e| Promise::ret(*e)); // waits
    release.wakeup_exn(Exn::failure("use failed")); // element 1 disposed, creation 2 for b
    assert!(a.is_rejected());
    assert_eq!(pending.borrow().len(), 1);
    let cleared = pool.clear();
    assert!(cleared.is_fulfilled());
    b.cancel();
    pending.borrow_mut().pop().unwrap().wakeup(2); // element 2, made before the clear
    let c = pool.use_(|e| Promise::ret(*e)); // starts after the clear
    println!("c = {:?}, disposed = {:?}", c.state(), disposed.borrow());
    assert_ne!(
        c.state(),
        State::Fulfilled(2),
        "a use after clear got an element made before it"
    );
    assert_eq!(c.state(), State::Fulfilled(3));
    assert_eq!(*disposed.borrow(), [1, 2]);
    assert_eq!(pool.size(), 1);
}

/// The same through a failing `validate`, the one path where Lwt 5.6.1 also makes an element
/// for a waiting use (its `replace_disposed`): there the use started after the `clear` gets a
/// new element (3); here it gets element 2, made before the `clear`.
#[test]
fn pool_element_made_before_clear_for_a_canceled_waiter_via_validate() {
    let (pool, pending, disposed) = pool_whose_second_creation_waits();
    let validating: Rc<RefCell<Vec<Resolver<bool>>>> = Rc::default();
    let vd = validating.clone();
    let pool = pool.with_validate(move |_| {
        if vd.borrow().is_empty() {
            let (p, r) = wait();
            vd.borrow_mut().push(r);
            p
        } else {
            Promise::ret(true)
        }
    });
    let a0 = pool.use_(|e| Promise::ret(*e)); // element 1 made, then idle
    assert_eq!(a0.state(), State::Fulfilled(1));
    let a = pool.use_(|e| Promise::ret(*e)); // validates element 1 (pending)
                                             // b waits. Leave an entry behind, so that later validates say true at once.
    let b = pool.use_(|e| Promise::ret(*e));
    let r = std::mem::replace(&mut validating.borrow_mut()[0], wait().1);
    r.wakeup_exn(Exn::failure("stale"));
    assert!(a.is_rejected());
    assert_eq!(pending.borrow().len(), 1, "a creation for b");
    assert!(pool.clear().is_fulfilled());
    b.cancel();
    pending.borrow_mut().pop().unwrap().wakeup(2);
    let c = pool.use_(|e| Promise::ret(*e));
    println!("c = {:?}, disposed = {:?}", c.state(), disposed.borrow());
    assert_eq!(
        c.state(),
        State::Fulfilled(3),
        "Lwt 5.6.1 gives this use a new element"
    );
}
