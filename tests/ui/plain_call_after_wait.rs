// A plain call (without `do`) as the last statement of a loop body, a branch of an `if` without
// `else` or a `finally` block, after a statement that waits: it is in the bind's closure, where
// the form's check does not see, and rustc said only "mismatched types, expected `Promise<_>`,
// found `()`". It is checked as a statement, whose note says `do expr;`.
use lwt::{lwt, ret, Promise};
use std::cell::Cell;

fn main() {
    let total = Cell::new(0_u32);
    let _p: Promise<()> = lwt! {
        for i in 0..3_u32 {
            let x = ret(i);
            total.set(x);
        }
    };
    // Two plain calls: each gets the statement's message (the second got "mismatched types").
    let _q: Promise<()> = lwt! {
        let ready = ret(true);
        if ready {
            total.set(1);
            total.set(9);
        }
    };
    // In a cleanup after a wait: at the statement, not at `finally`.
    let _r: Promise<()> = lwt! {
        try {
            lwt::return_unit()
        } finally {
            let _ = ret(1_u8);
            total.set(3);
        }
    };
    // In a loop body with `break`: the flow statement's message, with the `do expr;` note.
    let _s: Promise<()> = lwt! {
        for i in 0..3_u32 {
            let x = ret(i);
            if x > 1 {
                break;
            }
            total.set(x);
        }
    };
}
