use std::cell::Cell;
use std::rc::Rc;

use lwt::{lwt, ret, Promise};

fn size(_name: &str) -> Promise<u64> {
    ret(1)
}

// `for` over any iterator; a body that binds runs each iteration on a clone of its closure.
fn total(names: Vec<String>) -> Promise<u64> {
    lwt! {
        do let sum = Rc::new(Cell::new(0));
        do let result = sum.clone();
        for name in names {
            let n = size(&name);
            do sum.set(sum.get() + n);
        }
        do result.get()
    }
}

fn record(_n: u64) -> Promise<()> {
    ret(())
}

// A last statement after a wait, in the bind's closure, where `for`'s own check of the body
// does not see: checked as a statement (`__lwt::statement`).
fn record_all(names: Vec<String>) -> Promise<()> {
    lwt! {
        for name in names {
            let n = size(&name);
            record(n);
        }
    }
}

fn main() {
    let _ = total(vec![]);
    let _ = record_all(vec![]);
}
