//! Pools of reusable resources (Lwt's `Lwt_pool`): connections, buffers, workers...
//!
//! Elements are created lazily, up to the pool's bound; a caller that finds them all in use
//! waits, in FIFO order. Elements are handed out as `Rc<T>` (OCaml shares values; a borrow
//! could not live across the use's promise). A use ends when its function's promise resolves, as
//! in Lwt, and the element goes to the next user then, whether or not the caller still holds a
//! clone of the `Rc`: keep none past the use.
//!
//! * `validate` is asked before an element is reused, whether it was idle or handed over by
//!   another user (a stale connection is disposed and replaced; a failing `validate` rejects the
//!   use);
//! * `check` is asked after a use that failed: keep the element (the default, as in Lwt), or
//!   dispose of it;
//! * `dispose` closes an element that leaves the pool. The element counts against the bound
//!   until its `dispose` has resolved, so no more than `max` elements ever exist at once, and a
//!   use that disposes of its element resolves after the `dispose` (with its rejection, if it
//!   fails).
//!
//! A slot freed by a disposed element, or by a creation that failed, goes straight to the first
//! waiting use, which gets a new element made in it (Lwt's `Lwt_pool` leaves such a use waiting
//! when a creation fails or `clear` disposes of the idle elements); with nobody waiting, the pool
//! shrinks. A slot is never free in between, so a use that comes along meanwhile cannot push the
//! pool past its bound.
//!
//! Also unlike Lwt (checked against Lwt 5.6.1 by `tests/ocaml_diff_pool.rs`):
//!
//! * a `dispose` that fails frees its slot too (Lwt's slot stays taken for ever);
//! * [`clear`](Pool::clear) disposes of the idle elements all at once, longest idle first (in
//!   the order they were given back; Lwt's one after another, most recently released first,
//!   and none after a `dispose` that failed);
//! * an element whose `create` or `validate` was running when `clear` came counts as cleared:
//!   it is disposed of after its use (Lwt keeps it);
//! * `check` returns a promise, and the pool waits for its answer. Lwt's gets a continuation
//!   and reads it as soon as `check` returns: an answer given later is ignored, and the element
//!   disposed of at once;
//! * a `check` that fails (a rejected promise, or a panic) disposes of its element, and the
//!   use is rejected with its own error. In Lwt the exception escapes `use` (or rejects it, when
//!   the use failed later) with the element neither given back nor disposed of: its slot stays
//!   taken for ever (`tests/ocaml/pool_check_raises.ml`).
//!
//! ```
//! use std::{cell::Cell, rc::Rc};
//! use lwt_core::{join, main, pool::Pool, unix, Promise};
//!
//! let created = Rc::new(Cell::new(0));
//! let c = created.clone();
//! let pool = Pool::new(2, move || { c.set(c.get() + 1); Promise::ret(c.get()) });
//! let uses: Vec<_> = (0..5)
//!     .map(|_| pool.use_(|conn| unix::sleep_secs(0.001).map(move |()| *conn)))
//!     .collect();
//! let ids = main::run(lwt_core::all(uses)).unwrap();
//! assert_eq!(created.get(), 2); // never more than the bound
//! assert!(ids.iter().all(|id| *id == 1 || *id == 2));
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::exn::Exn;
use crate::promise::Promise;
use crate::resolver::{task, Resolver};
use crate::wait_queue::WaitQueue;

type Create<T> = Box<dyn Fn() -> Promise<T>>;
type Validate<T> = Box<dyn Fn(&T) -> Promise<bool>>;
type Check<T> = Box<dyn Fn(&T, &Exn) -> Promise<bool>>;
type Dispose<T> = Box<dyn Fn(Rc<T>) -> Promise<()>>;
/// Callers waiting for an element (with its generation).
type Waiters<T> = RefCell<WaitQueue<Resolver<(Rc<T>, u64)>>>;

struct Inner<T: 'static> {
    max: usize,
    create: Create<T>,
    validate: Validate<T>,
    check: Check<T>,
    dispose: Dispose<T>,
    /// Elements in existence or being created (slots taken).
    count: Cell<usize>,
    /// Slots freed while [`free_slot`](Pool::free_slot) was passing one on (a creation that
    /// failed at once), passed on by the same call in turn: a trampoline, so that a run of
    /// failing creations for a long queue of waiters does not nest.
    freed: Cell<usize>,
    /// Is `free_slot` passing slots on?
    freeing: Cell<bool>,
    /// Incremented by `clear`: elements of older generations are disposed when released.
    generation: Cell<u64>,
    idle: RefCell<VecDeque<(Rc<T>, u64)>>,
    waiters: Waiters<T>,
}

/// Lwt's `Lwt_pool.t`. Clones share the pool.
pub struct Pool<T: 'static>(Rc<Inner<T>>);

impl<T: 'static> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.0.max)
            .field("count", &self.0.count.get())
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool(self.0.clone())
    }
}

impl<T: 'static> Pool<T> {
    /// Lwt's `create max create`: a pool of at most `max` elements (at least 1), made by `create`.
    pub fn new(max: usize, create: impl Fn() -> Promise<T> + 'static) -> Pool<T> {
        Pool(Rc::new(Inner {
            max: max.max(1),
            create: Box::new(create),
            validate: Box::new(|_| Promise::ret(true)),
            check: Box::new(|_, _| Promise::ret(true)),
            dispose: Box::new(|_| Promise::ret(())),
            count: Cell::new(0),
            freed: Cell::new(0),
            freeing: Cell::new(false),
            generation: Cell::new(0),
            idle: RefCell::default(),
            waiters: RefCell::default(),
        }))
    }

    /// The configuration setters' access. A clone, or a use still running (which holds the
    /// pool until it gives its element back), shares the pool: changing `validate` under it
    /// would change a pool others already rely on, so that is refused, naming both causes.
    #[track_caller]
    fn inner_mut(mut self, setter: &str, f: impl FnOnce(&mut Inner<T>)) -> Pool<T> {
        match Rc::get_mut(&mut self.0) {
            Some(inner) => f(inner),
            None => panic!(
                "Pool::{setter}: configure a pool before cloning or using it \
                 (another handle to it, or a use still running, shares it)"
            ),
        }
        self
    }

    /// Sets `validate` (default: always valid).
    ///
    /// # Panics
    ///
    /// If the pool is shared: call the setters before cloning or using it.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use lwt_core::{main, pool::Pool, Promise};
    ///
    /// // Connections numbered by creation; number 1 goes stale once used.
    /// let made = Rc::new(Cell::new(0));
    /// let m = made.clone();
    /// let pool = Pool::new(1, move || { m.set(m.get() + 1); Promise::ret(m.get()) })
    ///     .with_validate(|conn| Promise::ret(*conn != 1));
    /// assert_eq!(main::run(pool.use_(|c| Promise::ret(*c))).unwrap(), 1); // new: not validated
    /// assert_eq!(main::run(pool.use_(|c| Promise::ret(*c))).unwrap(), 2); // 1 was replaced
    /// assert_eq!(pool.size(), 1);
    /// ```
    #[track_caller]
    pub fn with_validate(self, f: impl Fn(&T) -> Promise<bool> + 'static) -> Pool<T> {
        self.inner_mut("with_validate", |i| i.validate = Box::new(f))
    }

    /// Sets `check`, asked after a failed use whether to keep the element (default: keep it, as
    /// Lwt does). The use waits for the answer; a rejection or a panic means no.
    ///
    /// # Panics
    ///
    /// If the pool is shared: call the setters before cloning or using it.
    ///
    /// ```
    /// use lwt_core::{main, pool::Pool, Exn, Promise};
    ///
    /// // Keep an element after a failed use unless the failure says it is broken.
    /// let pool = Pool::new(1, || Promise::ret(()))
    ///     .with_check(|_, e: &Exn| Promise::ret(!e.to_string().contains("broken")));
    /// let _ = main::run(pool.use_(|_| Promise::<()>::fail_with("timeout")));
    /// assert_eq!(pool.size(), 1); // kept
    /// let _ = main::run(pool.use_(|_| Promise::<()>::fail_with("broken pipe")));
    /// assert_eq!(pool.size(), 0); // disposed of
    /// ```
    #[track_caller]
    pub fn with_check(self, f: impl Fn(&T, &Exn) -> Promise<bool> + 'static) -> Pool<T> {
        self.inner_mut("with_check", |i| i.check = Box::new(f))
    }

    /// Sets `dispose` (default: just drop).
    ///
    /// # Panics
    ///
    /// If the pool is shared: call the setters before cloning or using it.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use lwt_core::{main, pool::Pool, Promise};
    ///
    /// let closed = Rc::new(RefCell::new(Vec::new()));
    /// let c = closed.clone();
    /// let pool = Pool::new(2, || Promise::ret("conn"))
    ///     .with_dispose(move |conn| { c.borrow_mut().push(*conn); Promise::ret(()) });
    /// main::run(pool.use_(|_| Promise::ret(()))).unwrap();
    /// main::run(pool.clear()).unwrap();
    /// assert_eq!(*closed.borrow(), ["conn"]);
    /// ```
    #[track_caller]
    pub fn with_dispose(self, f: impl Fn(Rc<T>) -> Promise<()> + 'static) -> Pool<T> {
        self.inner_mut("with_dispose", |i| i.dispose = Box::new(f))
    }

    /// How many callers wait for an element (Lwt's `wait_queue_length`).
    ///
    /// ```
    /// use lwt_core::{pool::Pool, wait, Promise};
    ///
    /// let pool = Pool::new(1, || Promise::ret(()));
    /// let (busy, done) = wait::<()>();
    /// let first = pool.use_(move |_| busy); // holds the only element
    /// let second = pool.use_(|_| Promise::ret(()));
    /// assert_eq!(pool.wait_queue_length(), 1);
    /// done.wakeup(());
    /// assert!(first.is_fulfilled() && second.is_fulfilled());
    /// assert_eq!(pool.wait_queue_length(), 0);
    /// ```
    pub fn wait_queue_length(&self) -> usize {
        self.0.waiters.borrow().waiting()
    }

    /// How many elements exist (idle, in use or being created).
    ///
    /// ```
    /// use lwt_core::{pool::Pool, Promise};
    /// let pool = Pool::new(4, || Promise::ret(()));
    /// assert_eq!(pool.size(), 0); // made on first use
    /// let _ = pool.use_(|_| Promise::ret(()));
    /// assert_eq!(pool.size(), 1);
    /// ```
    pub fn size(&self) -> usize {
        self.0.count.get()
    }

    /// Takes a slot and makes an element in it.
    fn create_one(&self) -> Promise<(Rc<T>, u64)> {
        self.0.count.set(self.0.count.get() + 1);
        self.create_in_slot()
    }

    /// Makes an element in a slot already taken (counted). If the creation fails, the slot is
    /// freed: a waiter gets a try of its own in it.
    fn create_in_slot(&self) -> Promise<(Rc<T>, u64)> {
        let generation = self.0.generation.get();
        let pool = self.clone();
        crate::bind::catch(&self.0.create, Promise::fail).then(move |created| match created {
            Ok(v) => Promise::ret((Rc::new(v), generation)),
            Err(e) => {
                pool.free_slot();
                Promise::fail(e)
            }
        })
    }

    fn acquire(&self) -> Promise<(Rc<T>, u64)> {
        let idle = self.0.idle.borrow_mut().pop_front();
        if let Some((elem, generation)) = idle {
            return self.validate_and_return(elem, generation);
        }
        if self.0.count.get() < self.0.max {
            return self.create_one();
        }
        let (p, r) = task();
        let swept = self.0.waiters.borrow_mut().push(r);
        drop(swept);
        // An element handed over by another user is validated like an idle one.
        let pool = self.clone();
        p.bind(move |(elem, generation)| pool.validate_and_return(elem, generation))
    }

    /// Asks `validate` whether `elem` may be used. Invalid: it is disposed of and a new one is
    /// made for this caller in its slot. `validate` failed (or was canceled with the use): the
    /// element is disposed of, a waiter gets its slot, and the use is rejected with that error.
    fn validate_and_return(&self, elem: Rc<T>, generation: u64) -> Promise<(Rc<T>, u64)> {
        let pool = self.clone();
        let validated = crate::bind::catch(|| (self.0.validate)(&elem), Promise::fail);
        validated.then(move |valid| match valid {
            Ok(true) => Promise::ret((elem, generation)),
            Ok(false) => pool.dispose(elem).then(move |disposed| match disposed {
                Ok(()) => pool.create_in_slot(),
                // The element is gone but this caller gets nothing: a waiter gets the slot.
                Err(e) => {
                    pool.free_slot();
                    Promise::fail(e)
                }
            }),
            Err(e) => pool
                .discard_and_replace(elem)
                .bind(move |()| Promise::fail(e)),
        })
    }

    /// Calls `dispose` on an element that leaves the pool. Its slot stays taken: the caller
    /// decides, once `dispose` has resolved, whether a new element is made in it or it is freed.
    /// Either way the slot never counts as free in between, when a use that comes along could
    /// take it and the pool would then exceed its bound.
    fn dispose(&self, elem: Rc<T>) -> Promise<()> {
        crate::bind::catch(|| (self.0.dispose)(elem), Promise::fail)
    }

    /// Disposes of an element, then frees its slot (a waiter, if any, gets a new element in it).
    fn discard_and_replace(&self, elem: Rc<T>) -> Promise<()> {
        let pool = self.clone();
        self.dispose(elem).then(move |disposed| {
            pool.free_slot();
            Promise::from_outcome(disposed)
        })
    }

    /// Gives an element back after a use: disposed of if the pool was cleared meanwhile, else
    /// handed to the first waiter or put in the idle list.
    fn give_back(&self, elem: Rc<T>, generation: u64) -> Promise<()> {
        if generation < self.0.generation.get() {
            return self.discard_and_replace(elem);
        }
        self.release(elem, generation);
        Promise::ret(())
    }

    /// Hands an element to the first waiter, or puts it in the idle list.
    fn release(&self, elem: Rc<T>, generation: u64) {
        loop {
            let waiter = self.0.waiters.borrow_mut().pop_front();
            match waiter {
                Some(r) if r.is_pending() => return r.wakeup_later((elem, generation)),
                Some(_canceled) => continue,
                None => return self.0.idle.borrow_mut().push_back((elem, generation)),
            }
        }
    }

    /// A slot is free (its element was disposed of, or its creation failed): the first waiter
    /// gets a new element made in it, or, with no waiter, it stops counting.
    fn free_slot(&self) {
        self.0.freed.set(self.0.freed.get() + 1);
        if self.0.freeing.replace(true) {
            return; // inside the loop below: it passes this slot on too
        }
        // Reset even if a waiter's callback unwinds (only the async exception hook can).
        struct Freeing<'a>(&'a Cell<bool>);
        impl Drop for Freeing<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _freeing = Freeing(&self.0.freeing);
        while self.0.freed.get() > 0 {
            self.0.freed.set(self.0.freed.get() - 1);
            self.pass_slot();
        }
    }

    /// Passes one free slot on (see [`free_slot`](Self::free_slot)).
    fn pass_slot(&self) {
        loop {
            let waiter = self.0.waiters.borrow_mut().pop_front();
            match waiter {
                Some(r) if r.is_pending() => {
                    let created = self.create_in_slot();
                    let pool = self.clone();
                    drop(created.then(move |o| {
                        match o {
                            // The waiter gave up while the element was made: it goes to the
                            // next waiter or the idle list, not lost (it still counts), unless
                            // the pool was cleared meanwhile: then it is disposed of, as an
                            // element given back after a `clear` is.
                            Ok((elem, generation)) if !r.is_pending() => {
                                drop(pool.give_back(elem, generation))
                            }
                            o => r.wakeup_result(o),
                        }
                        Promise::ret(())
                    }));
                    return;
                }
                Some(_canceled) => continue,
                None => {
                    self.0.count.set(self.0.count.get() - 1);
                    return;
                }
            }
        }
    }

    /// Lwt's `use`: runs `f` with an element, then gives it back. If `f` fails, `check` decides
    /// whether the element stays in the pool. When the element is disposed of (`check` said no,
    /// or the pool was cleared meanwhile), the use resolves once `dispose` has, and a failing
    /// `dispose` rejects it with its error, as in Lwt.
    ///
    /// Canceling the use while it waits for an element rejects it with `Canceled` without
    /// calling `f`; so does canceling it while `validate` runs, if the promise `validate`
    /// returned is cancelable (a [`task`]): a [`wait`](crate::wait) promise ignores the
    /// cancel, and `f` runs once it is fulfilled, as in Lwt.
    pub fn use_<R: 'static>(&self, f: impl FnOnce(Rc<T>) -> Promise<R> + 'static) -> Promise<R> {
        let pool = self.clone();
        self.acquire().bind(move |(elem, generation)| {
            let used = elem.clone();
            crate::bind::catch(move || f(used), Promise::fail).then(move |outcome| match outcome {
                Ok(v) => pool.give_back(elem, generation).map(move |()| v),
                Err(e) => {
                    let checked = crate::bind::catch(|| (pool.0.check)(&elem, &e), Promise::fail);
                    checked.then(move |keep| {
                        let back = match keep {
                            Ok(true) => pool.give_back(elem, generation),
                            _ => pool.discard_and_replace(elem),
                        };
                        back.bind(move |()| Promise::fail(e))
                    })
                }
            })
        })
    }

    /// Lwt's `clear`: disposes of every idle element now; elements in use are disposed of when
    /// they come back.
    ///
    /// ```
    /// use lwt_core::{main, pool::Pool, wait, Promise};
    ///
    /// let pool = Pool::new(2, || Promise::ret(()));
    /// let (busy, done) = wait::<()>();
    /// let in_use = pool.use_(move |_| busy); // one element in use
    /// main::run(pool.use_(|_| Promise::ret(()))).unwrap(); // a second, idle after its use
    /// assert_eq!(pool.size(), 2);
    /// main::run(pool.clear()).unwrap();
    /// assert_eq!(pool.size(), 1); // the idle one is gone
    /// done.wakeup(());
    /// assert!(in_use.is_fulfilled());
    /// assert_eq!(pool.size(), 0); // the other, once back
    /// ```
    pub fn clear(&self) -> Promise<()> {
        self.0.generation.set(self.0.generation.get() + 1);
        let idle = std::mem::take(&mut *self.0.idle.borrow_mut());
        // Each freed slot goes to a waiter, if one came along meanwhile.
        crate::combinators::join(
            idle.into_iter()
                .map(|(elem, _)| self.discard_and_replace(elem)),
        )
    }
}
