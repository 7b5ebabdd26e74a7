// OCaml's match cases (rev96 #1): `->` is reported at the `->`, and the arm is read as if it had
// `=>`; OCaml's layout (`| P -> e`, no `,`) gets one error at its first `|`; `Some x` is told to
// take parentheses. An arm that fails to parse does not add "`match` needs at least one arm for
// the promise's value": it may have been one.
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

fn main() {
    let _ = (arrow(), layout(), application());
}
