//! Pools of reusable resources (Lwt's `Lwt_pool`): connections, buffers, workers...
//!
//! Elements are created lazily, up to the pool's bound; a caller that finds them all in use
//! waits, in FIFO order. Elements are handed out as `Rc<T>` (OCaml shares values; Rust needs the
//! count to know when the caller is done with it).
//!
//! * `validate` is asked before an idle element is reused (a stale connection is disposed and
//!   replaced);
//! * `check` is asked after a use that failed (keep the element, or dispose of it);
//! * `dispose` closes an element that leaves the pool.
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
    /// Elements in existence or being created.
    count: Cell<usize>,
    /// Incremented by `clear`: elements of older generations are disposed when released.
    generation: Cell<u64>,
    idle: RefCell<VecDeque<(Rc<T>, u64)>>,
    waiters: Waiters<T>,
}

/// Lwt's `Lwt_pool.t`. Clones share the pool.
pub struct Pool<T: 'static>(Rc<Inner<T>>);

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
            check: Box::new(|_, _| Promise::ret(false)),
            dispose: Box::new(|_| Promise::ret(())),
            count: Cell::new(0),
            generation: Cell::new(0),
            idle: RefCell::default(),
            waiters: RefCell::default(),
        }))
    }

    fn inner_mut(mut self, f: impl FnOnce(&mut Inner<T>)) -> Pool<T> {
        let inner = Rc::get_mut(&mut self.0).expect("configure a pool before cloning it");
        f(inner);
        self
    }

    /// Sets `validate` (default: always valid). Call before cloning the pool.
    pub fn with_validate(self, f: impl Fn(&T) -> Promise<bool> + 'static) -> Pool<T> {
        self.inner_mut(|i| i.validate = Box::new(f))
    }

    /// Sets `check`, asked after a failed use whether to keep the element (default: dispose of
    /// it). Call before cloning the pool.
    pub fn with_check(self, f: impl Fn(&T, &Exn) -> Promise<bool> + 'static) -> Pool<T> {
        self.inner_mut(|i| i.check = Box::new(f))
    }

    /// Sets `dispose` (default: just drop). Call before cloning the pool.
    pub fn with_dispose(self, f: impl Fn(Rc<T>) -> Promise<()> + 'static) -> Pool<T> {
        self.inner_mut(|i| i.dispose = Box::new(f))
    }

    /// How many callers wait for an element (Lwt's `wait_queue_length`).
    pub fn wait_queue_length(&self) -> usize {
        self.0.waiters.borrow().waiting()
    }

    /// How many elements exist (idle, in use or being created).
    pub fn size(&self) -> usize {
        self.0.count.get()
    }

    fn create_one(&self) -> Promise<(Rc<T>, u64)> {
        self.0.count.set(self.0.count.get() + 1);
        let generation = self.0.generation.get();
        let pool = self.clone();
        crate::bind::catch(&self.0.create, Promise::fail).then(move |created| match created {
            Ok(v) => Promise::ret((Rc::new(v), generation)),
            Err(e) => {
                pool.0.count.set(pool.0.count.get() - 1);
                Promise::fail(e)
            }
        })
    }

    fn acquire(&self) -> Promise<(Rc<T>, u64)> {
        let idle = self.0.idle.borrow_mut().pop_front();
        if let Some((elem, generation)) = idle {
            let pool = self.clone();
            let validated = crate::bind::catch(|| (self.0.validate)(&elem), Promise::fail);
            return validated.then(move |valid| match valid {
                Ok(true) => Promise::ret((elem, generation)),
                _ => pool.discard(elem).bind(move |()| pool.create_one()),
            });
        }
        if self.0.count.get() < self.0.max {
            return self.create_one();
        }
        let (p, r) = task();
        let swept = self.0.waiters.borrow_mut().push(r);
        drop(swept);
        p
    }

    /// Disposes of an element that leaves the pool.
    fn discard(&self, elem: Rc<T>) -> Promise<()> {
        self.0.count.set(self.0.count.get() - 1);
        crate::bind::catch(|| (self.0.dispose)(elem), Promise::fail)
    }

    /// Gives an element back: to the first waiter, or to the idle list.
    fn release(&self, elem: Rc<T>, generation: u64) {
        if generation < self.0.generation.get() {
            crate::detached::ignore_result(self.discard(elem));
            self.replace_for_waiter();
            return;
        }
        loop {
            let waiter = self.0.waiters.borrow_mut().pop_front();
            match waiter {
                Some(r) if r.is_pending() => return r.wakeup_later((elem, generation)),
                Some(_canceled) => continue,
                None => return self.0.idle.borrow_mut().push_back((elem, generation)),
            }
        }
    }

    /// After an element left the pool, a waiter may get a fresh one.
    fn replace_for_waiter(&self) {
        loop {
            let waiter = self.0.waiters.borrow_mut().pop_front();
            match waiter {
                Some(r) if r.is_pending() => {
                    let created = self.create_one();
                    drop(created.then(move |o| {
                        r.wakeup_result(o);
                        Promise::ret(())
                    }));
                    return;
                }
                Some(_canceled) => continue,
                None => return,
            }
        }
    }

    /// Lwt's `use`: runs `f` with an element, then gives it back. If `f` fails, `check` decides
    /// whether the element stays in the pool.
    pub fn use_<R: 'static>(&self, f: impl FnOnce(Rc<T>) -> Promise<R> + 'static) -> Promise<R> {
        let pool = self.clone();
        self.acquire().bind(move |(elem, generation)| {
            let used = elem.clone();
            crate::bind::catch(move || f(used), Promise::fail).then(move |outcome| match outcome {
                Ok(v) => {
                    pool.release(elem, generation);
                    Promise::ret(v)
                }
                Err(e) => {
                    let checked = crate::bind::catch(|| (pool.0.check)(&elem, &e), Promise::fail);
                    checked.then(move |keep| {
                        if let Ok(true) = keep {
                            pool.release(elem, generation);
                        } else {
                            crate::detached::ignore_result(pool.discard(elem));
                            pool.replace_for_waiter();
                        }
                        Promise::fail(e)
                    })
                }
            })
        })
    }

    /// Lwt's `clear`: disposes of every idle element now; elements in use are disposed of when
    /// they come back.
    pub fn clear(&self) -> Promise<()> {
        self.0.generation.set(self.0.generation.get() + 1);
        let idle = std::mem::take(&mut *self.0.idle.borrow_mut());
        crate::combinators::join(idle.into_iter().map(|(elem, _)| self.discard(elem)))
    }
}
