use std::cell::Cell;
use std::rc::Rc;

use lwt::{lwt, Promise};

// A `finally` whose statement is plain Rust, written without `do` (the port of
// `p [%finally decr active; Lwt.return_unit]`): the note says how to write it.
fn count(n: Rc<Cell<u32>>, p: Promise<()>) -> Promise<()> {
    lwt! {
        try { p } finally { n.set(n.get() + 1); }
    }
}

fn main() {
    let _ = count(Rc::default(), lwt::ret(()));
}
