// OCaml's `>>=` (rev96 #11), which Rust reads as a shift assignment: reported at the operator,
// after a `let` or before a closure anywhere, instead of rustc's two errors and its help to call
// the closure. Also, whatever follows it, as a whole statement, block value or arm body, where
// Rust's `>>=` (of type `()`) cannot be what the position waits on; rustc said only "binary
// assignment operation `>>=` cannot be applied to type `Promise<u8>`". (`do n >>= 1;` on an
// integer is Rust's, and fine, also as a `do` arm.)
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

/// A shift by a literal without `do` keeps the message that says to write `do`.
fn shift_without_do() -> Promise<u8> {
    lwt! {
        do let mut n = 8_u8;
        n >>= 1;
        ret(n)
    }
}

fn log(v: u8) -> Promise<()> {
    let _ = v;
    lwt::return_unit()
}

fn statement(p: Promise<u8>) -> Promise<()> {
    lwt! {
        p >>= log;
        lwt::return_unit()
    }
}

fn value(p: Promise<u8>) -> Promise<()> {
    lwt! {
        p >>= log
    }
}

fn arm(p: Promise<Option<u8>>, q: Promise<u8>, n: std::rc::Rc<std::cell::RefCell<u8>>) -> Promise<()> {
    lwt! {
        match p {
            Some(_) => q >>= log,
            None => do *n.borrow_mut() >>= 1,
        }
    }
}

fn main() {
    let _ = (closure(), function(), shift(), shift_without_do());
    let _ = (statement(ret(1)), value(ret(1)), arm(ret(None), ret(1), Default::default()));
}
