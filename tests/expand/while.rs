use std::cell::Cell;
use std::rc::Rc;

use lwt::{lwt, ret, return_unit, Promise};

fn more(_n: u32) -> Promise<bool> {
    ret(false)
}

fn step() -> Promise<()> {
    return_unit()
}

// `while` with a plain `bool` (as while%lwt) and with a `Promise<bool>`.
fn run() -> Promise<()> {
    lwt! {
        do let n = Rc::new(Cell::new(0));
        do let m = n.clone();
        while n.get() < 3 {
            do n.set(n.get() + 1);
        }
        while more(m.get()) {
            step();
        }
    }
}

fn main() {
    let _ = run();
}
