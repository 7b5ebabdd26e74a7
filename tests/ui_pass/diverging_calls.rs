//! The value of a block or an arm of `lwt!` is checked to be a promise only where it cannot be
//! `!`: a call of a function that never returns, or of a macro that panics, still ends a block
//! or an arm as it does in Rust, coercing to the promise the context expects.
#![deny(warnings)]

use lwt::{lwt, ret, Promise};

fn fail(n: u32) -> ! {
    panic!("failed at {n}")
}

macro_rules! bail {
    ($n:expr) => {
        panic!("bailed at {}", $n)
    };
}

fn tail(p: Promise<u32>) -> Promise<String> {
    lwt! {
        let n = p;
        if n > 10 {
            fail(n)
        } else if n > 5 {
            bail!(n)
        } else {
            ret(n.to_string())
        }
    }
}

fn arm(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        match p {
            Some(n) => ret(n),
            None => fail(0),
        }
    }
}

fn main() {
    assert_eq!(tail(ret(3)).state(), lwt::State::Fulfilled("3".to_string()));
    assert_eq!(arm(ret(Some(4))).state(), lwt::State::Fulfilled(4));
}
