#![deny(unused_must_use)]

use lwt::{lwt, ret, Promise};

fn p() -> Promise<i32> {
    ret(1)
}

fn main() {
    // The warning points at the whole `lwt!`, so its `let _ =` goes in front of it.
    lwt! { let a = p(); do println!("{a}"); };
}
