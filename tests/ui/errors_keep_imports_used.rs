// A block that `lwt!` rejects (here a lost assignment) must not make the imports that only its
// code uses look unused: warnings that would send the reader to the `use` lines first.
use std::rc::Rc;

use lwt::{lwt, ret, Promise};

fn resolved() -> Promise<()> {
    lwt! {
        do let r = Rc::new(1);
        do let mut i = 0;
        while i < 3 {
            let x = ret(*r);
            do i += x;
        }
    }
}

// A misspelt name in the rejected block is reported as well, once.
fn misspelt() -> Promise<()> {
    lwt! {
        do let mut i = 0;
        while i < 3 {
            let x = rett(1);
            do i += x;
        }
    }
}

fn main() {
    let _ = (resolved(), misspelt());
}
