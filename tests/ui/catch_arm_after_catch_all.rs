// A typed rejection arm after a catch-all arm can never run: rustc's `unreachable_patterns`
// says so at its type, as for a Rust `match` (OCaml warns "this match case is unused").
#![deny(unreachable_patterns)]

use lwt::{lwt, ret, Failure, Promise};

fn catch_block(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        try {
            p
        } catch {
            _e => ret(0),
            e: Failure => ret(e.message().len() as u8),
        }
    }
}

fn match_exception(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        match p {
            n => ret(n),
            exception _ => ret(0),
            exception _: Failure => ret(1),
        }
    }
}

fn main() {
    let _ = (catch_block(ret(1)), match_exception(ret(2)));
}
