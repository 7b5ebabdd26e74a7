use lwt::{lwt, ret, Promise};

// `if` on a `Promise<bool>` (if%lwt), or on a plain `bool`; `else if` chains.
fn sign(positive: Promise<bool>, n: i32) -> Promise<&'static str> {
    lwt! {
        if positive {
            ret("+")
        } else if n == 0 {
            ret("0")
        } else {
            ret("-")
        }
    }
}

fn main() {
    let _ = sign(ret(true), 1);
}
