#![deny(unused_must_use)]

use lwt::{lwt, ret, return_unit, Promise};

fn log(_: u8) -> Promise<()> {
    return_unit()
}

fn main() {
    // `do` runs plain code: the promise is dropped, not waited for. The note says to drop `do`.
    let _p: Promise<()> = lwt! {
        let x = ret(1_u8);
        do log(x);
    };
}
