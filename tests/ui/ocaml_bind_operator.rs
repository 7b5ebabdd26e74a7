// OCaml's `>>=` (rev96 #11), which Rust reads as a shift assignment: reported at the operator,
// after a `let` or before a closure anywhere, instead of rustc's two errors and its help to call
// the closure. (`do n >>= 1;` on an integer is Rust's, and fine.)
use lwt::{lwt, ret, Promise};

fn incr(v: u8) -> Promise<u8> {
    ret(v + 1)
}

fn closure() -> Promise<u8> {
    lwt! {
        let x = ret(1_u8) >>= |v| ret(v + 1);
        ret(x)
    }
}

fn function() -> Promise<u8> {
    lwt! {
        let x = ret(1_u8) >>= incr;
        ret(x)
    }
}

fn shift() -> Promise<u8> {
    lwt! {
        do let mut n = 8_u8;
        do n >>= 1;
        ret(n)
    }
}

fn main() {
    let _ = (closure(), function(), shift());
}
