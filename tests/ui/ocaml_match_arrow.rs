// OCaml's match cases (rev96 #1): `->` is reported at the `->`, and the arm is read as if it had
// `=>`; OCaml's layout (`| P -> e`, no `,`) gets one error at its first `|`; `Some x` is told to
// take parentheses. An arm that fails to parse does not add "`match` needs at least one arm for
// the promise's value": it may have been one. After a guard, `->` is reported the same way (Rust
// reads `x > 1 -` as a subtraction and said "expected an expression" at `>`), and OCaml's `when`
// is told to be `if`.
use lwt::{lwt, ret, Promise};

fn arrow() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) -> ret(x),
            None -> ret(0),
        }
    }
}

fn layout() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            | Some x -> ret(x)
            | None -> ret(0)
        }
    }
}

fn application() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some x => ret(x),
        }
    }
}

fn guard() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) if x > 1 -> ret(x),
            _ => ret(0),
        }
    }
}

fn holds<F>(x: u8) -> bool {
    x as usize > std::mem::size_of::<F>()
}

/// A turbofish's `->` is not taken for OCaml's (rev107).
fn guard_with_turbofish() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) if holds::<fn(u8) -> u8>(x) -> ret(x),
            _ => ret(0),
        }
    }
}

fn when() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) when x > 1 => ret(x),
            Some(x) when x > 0 -> ret(x + 1),
            _ => ret(0),
        }
    }
}

fn main() {
    let _ = (arrow(), layout(), application(), guard(), guard_with_turbofish(), when());
}
