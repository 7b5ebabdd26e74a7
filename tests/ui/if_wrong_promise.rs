use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<&str> = lwt! {
        if ret(1_u8) { ret("yes") } else { ret("no") }
    };
}
