use std::cell::Cell;
use std::rc::Rc;

use lwt::{lwt, ret, Promise};

fn main() {
    let count = Rc::new(Cell::new(0_u32));
    // As `used_after_loop.rs`, with the loop in the continuation of a `let`: rustc's message
    // leaves the variable's name out (see docs/lwt-macro.md, "Ownership"); "variable moved due
    // to use in closure" shows which it is.
    let _p: Promise<u32> = lwt! {
        let other = ret(5_u32);
        while count.get() < 3 {
            let () = ret(());
            do count.set(count.get() + 1);
        }
        let _ = ret(other);
        do count.get()
    };
}
