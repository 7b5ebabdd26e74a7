// A crate that forbids warnings: after a lost assignment, the fallback expansion must not carry
// a lint attribute of its own, which rustc would report as overruled by the `forbid`, at the
// `lwt!` (a lint that says it will become a hard error).
#![forbid(warnings)]

use lwt::{lwt, ret, Promise};

fn counted() -> Promise<()> {
    lwt! {
        do let mut i = 0;
        while i < 3 {
            let x = ret(1);
            do i += x;
        }
    }
}

fn main() {
    let _ = counted();
}
