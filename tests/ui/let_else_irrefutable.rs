// A let-else whose pattern always matches gets rustc's `unreachable_patterns` lint at its
// `else` (Rust's own let-else gets `irrefutable_let_patterns`); denied here so that the case
// fails to compile and its message is kept.
#![deny(unreachable_patterns)]
use lwt::{lwt, ret, Promise};

fn sum(p: Promise<(u32, u32)>) -> Promise<u32> {
    lwt! {
        let (a, b) = p else { ret(0) };
        ret(a + b)
    }
}

fn refutable_is_fine(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        let Some(x) = p else { ret(0) };
        ret(x)
    }
}

fn main() {
    let _ = sum(ret((1, 2)));
    let _ = refutable_is_fine(ret(None));
}
