//! Found in review (session 21): a block of `lwt!` that ends with a diverging macro
//! (`unreachable!();`, `panic!(..)`) is accepted wherever Rust accepts it: as the branch of an
//! `if` without `else` and as a loop body, not only where its type is known. And a diverging
//! `do` statement makes no `unreachable_code` warning about the code `lwt!` generates, nor
//! does one that ends a block without its `;` (found in review, session 25).
#![deny(warnings)]

use lwt::{lwt, ret, Promise};

fn branch(n: u32) -> Promise<u32> {
    lwt! {
        let x = ret(n);
        if x > 10 {
            unreachable!("x = {}", x);
        }
        if x > 20 {
            panic!("x = {}", x)
        }
        do x
    }
}

fn loop_body(n: u32) -> Promise<()> {
    lwt! {
        for i in 0..n {
            if i == 3 {
                panic!("three");
            }
        }
        while n > 100 {
            unreachable!();
        }
    }
}

fn diverging_do(fail: bool) -> Promise<u32> {
    lwt! {
        let x = ret(1);
        if fail {
            do panic!("failed at {}", x);
        }
        do x
    }
}

fn diverging_do_last(fail: bool) -> Promise<u32> {
    lwt! {
        let x = ret(1);
        if fail {
            do panic!("failed at {}", x)
        }
        do x
    }
}

fn diverging_do_tail() -> Promise<u32> {
    lwt! {
        let x = ret(1);
        do let _y = x;
        do panic!("no")
    }
}

fn main() {
    // The panics below are expected: they become rejections.
    std::panic::set_hook(Box::new(|_| {}));
    assert!(branch(1).is_fulfilled());
    assert!(branch(11).is_rejected());
    assert!(loop_body(2).is_fulfilled());
    assert!(loop_body(5).is_rejected());
    assert!(diverging_do(false).is_fulfilled());
    assert!(diverging_do(true).is_rejected());
    assert!(diverging_do_last(false).is_fulfilled());
    assert!(diverging_do_last(true).is_rejected());
    assert!(diverging_do_tail().is_rejected());
}
