// What separates match arms (rev96 #2): a `;` gets one error and is read as the `,` it stands
// for, so the next arm is read; OCaml's `|` before the next case (which Rust reads as the `|`
// operator, `ret(x) | None`) is reported at the `|`, also when OCaml's `->` follows, which Rust
// cannot read as an expression.
use lwt::{lwt, ret, Promise};

fn semicolon() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) => ret(x);
            None => ret(0);
        }
    }
}

fn vert() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) => ret(x) | None => ret(0)
        }
    }
}

fn vert_arrow() -> Promise<u8> {
    lwt! {
        match ret(Some(1_u8)) {
            Some(x) -> ret(x) | None -> ret(0)
        }
    }
}

fn main() {
    let _ = (semicolon(), vert(), vert_arrow());
}
