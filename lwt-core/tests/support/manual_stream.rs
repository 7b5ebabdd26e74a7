//! A `from` stream whose generator's promises the test resolves by hand, in the order they were
//! asked for.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lwt_core::stream::{self, Stream};
use lwt_core::{wait, Resolver};

/// The resolvers of the generator's pending promises, oldest first.
pub(crate) type Pending<T> = Rc<RefCell<Vec<Resolver<Option<T>>>>>;

/// The stream, the resolvers of its generator's promises, and how many times it was called.
pub(crate) fn manual<T: 'static>() -> (Stream<T>, Pending<T>, Rc<Cell<u32>>) {
    let resolvers: Pending<T> = Rc::default();
    let calls = Rc::new(Cell::new(0));
    let (r, c) = (resolvers.clone(), calls.clone());
    let s = stream::from(move || {
        c.set(c.get() + 1);
        let (p, resolver) = wait();
        r.borrow_mut().push(resolver);
        p
    });
    (s, resolvers, calls)
}

/// The resolver of the oldest pending generator call.
pub(crate) fn next_resolver<T: 'static>(rs: &Pending<T>) -> Resolver<Option<T>> {
    rs.borrow_mut().remove(0)
}
