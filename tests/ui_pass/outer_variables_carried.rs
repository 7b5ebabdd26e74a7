//! A variable of the enclosing function assigned in the block's own chain of continuations
//! (not in a form's body) goes along with it, as the block's own `let mut` does: nothing is
//! lost, and `lwt!` accepts it. So do a field assigned through a reference and a `static mut`.

use std::cell::Cell;

use lwt::{lwt, ret, Promise};

static mut CALLS: u32 = 0;

fn add(mut n: u32, p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do n += x;
        do n *= 2;
        ret(n)
    }
}

struct Counter {
    hits: Cell<u32>,
}

fn count(c: &'static Counter, steps: u32) -> Promise<u32> {
    lwt! {
        for _ in 0..steps {
            do c.hits.set(c.hits.get() + 1);
            do unsafe { CALLS += 1 };
        }
        ret(c.hits.get())
    }
}

fn main() {
    assert_eq!(lwt::main::run(add(1, ret(2))).unwrap(), 6);
    let c: &'static Counter = Box::leak(Box::new(Counter { hits: Cell::new(0) }));
    assert_eq!(lwt::main::run(count(c, 3)).unwrap(), 3);
    assert_eq!(unsafe { CALLS }, 3);
}
