// A let-else whose pattern always matches gets rustc's `unreachable_patterns` lint at its
// `else`, and a `while let` at its `while` (Rust's own forms get `irrefutable_let_patterns`);
// denied here so that the case fails to compile and its message is kept.
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

fn never_ends(p: Promise<(u32, u32)>) -> Promise<()> {
    lwt! {
        while let (a, b) = p.clone() {
            do println!("{a} {b}");
        }
    }
}

fn refutable_loop_is_fine(p: Promise<Option<u32>>) -> Promise<()> {
    lwt! {
        while let Some(x) = p.clone() {
            do println!("{x}");
        }
    }
}

fn main() {
    let _ = never_ends(ret((1, 2)));
    let _ = refutable_loop_is_fine(ret(None));
    let _ = sum(ret((1, 2)));
    let _ = refutable_is_fine(ret(None));
}
