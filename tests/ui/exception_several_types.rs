// `exception A | B` in a `match` (rev96 #17): the rewrite the message suggests keeps
// `exception` on each arm, which `A => ..` alone would turn into a value arm.
use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        match ret(1_u8) {
            n => ret(n),
            exception std::fmt::Error | std::io::Error => ret(0),
        }
    };
}
