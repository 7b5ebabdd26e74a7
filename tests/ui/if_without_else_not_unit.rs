// A branch of an `if` without `else` that has a value is reported at the branch. In a chain
// without a final `else` (rev96), each branch with a value is: rustc said only "mismatched
// types, expected `Promise<{integer}>`, found `Promise<()>`" at the `else if`, and again at
// the `if` when the block was a `Promise<()>`.
use lwt::{lwt, ret, Promise};

fn chain(n: u32) -> Promise<()> {
    lwt! {
        if n > 1 {
            ret(1)
        } else if n > 0 {
            lwt::return_unit()
        }
    }
}

fn main() {
    let _p: Promise<()> = lwt! {
        let ready = ret(true);
        if ready {
            ret(42)
        }
    };
    let _ = chain(1);
    // A plain call ending the branch as a statement: the note says `do expr;` (rev136's F2).
    let count = std::cell::Cell::new(0);
    let _q: Promise<()> = lwt! {
        let ready = ret(true);
        if ready {
            count.set(1);
        }
    };
}
