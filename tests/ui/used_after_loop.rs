use std::cell::Cell;
use std::rc::Rc;

use lwt::{lwt, ret, Promise};

fn main() {
    let count = Rc::new(Cell::new(0));
    // The loop's closure takes `count`: the block cannot use it after the loop.
    let _p: Promise<u32> = lwt! {
        for i in 0..3 {
            do count.set(count.get() + i);
        }
        ret(count.get())
    };
}
