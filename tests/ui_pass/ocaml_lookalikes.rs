//! Valid Rust that looks like the OCaml habits `lwt!` reports since session 42: a variable
//! named `open` or `when`, a `use` inside the block (what `let open M in` is told to become), and
//! a guard whose turbofish holds a `->`.
use lwt::{lwt, ret, Promise};

mod util {
    pub fn one() -> lwt::Promise<u32> {
        lwt::ret(1)
    }
}

fn holds<F>(x: u32) -> bool {
    x > std::mem::size_of::<F>() as u32
}

fn names(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        use util::*;
        let open = one();
        let when: u32 = ret(open + 1);
        match p {
            Some(x) if holds::<fn(u32) -> u32>(x) => ret(x + when),
            when => ret(when.unwrap_or(0) + open),
        }
    }
}

fn main() {
    assert_eq!(names(ret(Some(100))).state(), lwt::State::Fulfilled(102));
    assert_eq!(names(ret(Some(3))).state(), lwt::State::Fulfilled(4));
    assert_eq!(names(ret(None)).state(), lwt::State::Fulfilled(1));
}
