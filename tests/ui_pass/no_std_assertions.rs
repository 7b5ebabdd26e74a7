//! Found in review (session 21): the assertions of `lwt!` named `::std::format!`, which a
//! `#![no_std]` crate cannot see; they reach `format!` through `lwt` now.
#![no_std]
extern crate alloc;
// Links std for the program's runtime, without naming it: `::std` stays out of scope.
extern crate std as _;

use lwt::{lwt, ret, Promise};

fn check(n: u32) -> Promise<u32> {
    lwt! {
        let x = ret(n);
        assert!(x > 0);
        assert_eq!(x, 1, "x = {}", x);
        assert_ne!(x, 2);
        do x
    }
}

fn main() {
    assert!(check(1).is_fulfilled());
    assert!(check(2).is_rejected());
    assert!(check(0).is_rejected());
}
