// A pattern that always matches: a let-else gets rustc's `unreachable_patterns` lint at its
// `else`, a `while let` at its `while` (Rust's own forms get `irrefutable_let_patterns`), and an
// `if let` Rust's own `irrefutable_let_patterns`; denied here so that the case fails to compile
// and its messages are kept.
#![deny(unreachable_patterns, irrefutable_let_patterns)]
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

fn useless_if_let(p: Promise<(u32, u32)>) -> Promise<u32> {
    lwt! {
        if let (a, b) = p { ret(a + b) } else { ret(0) }
    }
}

fn refutable_if_let_is_fine(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        if let Some(x) = p { ret(x) } else { ret(0) }
    }
}

fn main() {
    let _ = useless_if_let(ret((1, 2)));
    let _ = refutable_if_let_is_fine(ret(None));
    let _ = never_ends(ret((1, 2)));
    let _ = refutable_loop_is_fine(ret(None));
    let _ = sum(ret((1, 2)));
    let _ = refutable_is_fine(ret(None));
}
