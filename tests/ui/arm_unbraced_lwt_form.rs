// An arm whose body is a `match`, `if` or loop written without braces, as in a Rust `match`:
// it is a plain Rust expression, so `do` or an `exception` arm inside does not parse (rev142's
// tokio-user trial), and an `lwt!` `try` unbraced is Rust's own `try` block, which takes no
// `catch` (rev143). The message says to brace the arm, where syn says only "expected an
// expression".
use lwt::{lwt, ret, Promise};

fn nested_match(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => match ret(n) {
                0 => {
                    do println!("zero");
                    ret(1)
                }
                n => ret(n),
            },
        }
    }
}

fn nested_exception_arm(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => match ret(n) {
                n => ret(n),
                exception _ => ret(2),
            },
        }
    }
}

fn nested_if(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => if n > 1 { do println!("big"); ret(n) } else { ret(0) },
        }
    }
}

fn nested_try(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => try { ret(n) } catch { _ => ret(0) },
        }
    }
}

fn nested_try_finally(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => try { ret(n) } finally { ret(()) },
        }
    }
}

fn main() {
    let _ = (nested_match(ret(None)), nested_exception_arm(ret(None)), nested_if(ret(None)));
    let _ = (nested_try(ret(None)), nested_try_finally(ret(None)));
}
