// An arm's unbraced `match`/`if`/loop with a plain Rust syntax error in it (rev143's review): the
// error is syn's alone. The advice to brace the arm is for `lwt!`'s own syntax inside (see
// `arm_unbraced_lwt_form.rs`); braced, these arms would not parse either, so it would mislead.
use lwt::{lwt, ret, Promise};

fn unbraced_if(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => if n > 1 { ret(1 + ) } else { ret(0) },
        }
    }
}

fn unbraced_match(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => match n { 0 => ret(1) 1 => ret(2), _ => ret(3) },
        }
    }
}

fn unbraced_loop(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            None => ret(0),
            Some(n) => loop { let x = ; break ret(n) },
        }
    }
}

fn main() {
    let _ = (unbraced_if(ret(None)), unbraced_match(ret(None)), unbraced_loop(ret(None)));
}
