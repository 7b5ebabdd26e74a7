use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<i32> = lwt! {
        match ret(1) with {
            0 => ret(0),
            n => ret(n),
        }
    };
}
