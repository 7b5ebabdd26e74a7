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

struct Oracle;

impl Oracle {
    fn fail(&self, n: u32) -> ! {
        panic!("the oracle failed at {n}")
    }
}

/// Converts into a promise, so that `w.into()` takes its type from the one expected.
struct Wrap(u32);

impl From<Wrap> for Promise<u32> {
    fn from(w: Wrap) -> Promise<u32> {
        ret(w.0)
    }
}

// Found in review (session 29): a method that never returns, `.into()` and a value in
// parentheses still compile, warning-free, as a block's value and as an arm.
fn method_calls(p: Promise<Option<u32>>, o: Oracle) -> Promise<u32> {
    lwt! {
        match p {
            Some(n) if n > 3 => o.fail(n),
            Some(n) => Wrap(n).into(),
            None => (ret(0)),
        }
    }
}

fn into_tail(w: Wrap) -> Promise<u32> {
    lwt! {
        let () = ret(());
        w.into()
    }
}

fn parenthesized(q: Promise<u32>) -> Promise<u32> {
    lwt! {
        let () = ret(());
        (q)
    }
}

// Found in review (session 118): a let-else whose `else` block is a call that never returns
// (a block that runs one first, too), or whose rest is one, is warning-free, as it was when
// the expansion was a `match` (no "unreachable expression" at the `let`).
fn let_else_diverges(p: Promise<Option<u32>>, q: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        let Some(x) = p else { fail(1) };
        let Some(y): Option<u32> = q else {
            do println!("none");
            std::process::exit(2)
        };
        ret(x + y)
    }
}

fn let_else_rest_diverges(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        let Some(x) = p else { ret(0) };
        fail(x)
    }
}

enum Shape {
    Square(u32),
    Wide(u32),
    Empty,
}

// An or-pattern in a let-else needs its parentheses; the `match` arm of the expansion does
// not, and must not draw `unused_parens` (rev118).
fn let_else_or_pattern(p: Promise<Shape>) -> Promise<u32> {
    lwt! {
        let (Shape::Square(n) | Shape::Wide(n)) = p else { ret(0) };
        ret(n)
    }
}

fn main() {
    assert_eq!(let_else_or_pattern(ret(Shape::Wide(5))).state(), lwt::State::Fulfilled(5));
    assert_eq!(let_else_or_pattern(ret(Shape::Empty)).state(), lwt::State::Fulfilled(0));
    assert_eq!(let_else_or_pattern(ret(Shape::Square(2))).state(), lwt::State::Fulfilled(2));
    assert_eq!(tail(ret(3)).state(), lwt::State::Fulfilled("3".to_string()));
    assert_eq!(arm(ret(Some(4))).state(), lwt::State::Fulfilled(4));
    assert_eq!(method_calls(ret(Some(2)), Oracle).state(), lwt::State::Fulfilled(2));
    assert_eq!(into_tail(Wrap(5)).state(), lwt::State::Fulfilled(5));
    assert_eq!(parenthesized(ret(6)).state(), lwt::State::Fulfilled(6));
    assert_eq!(let_else_diverges(ret(Some(3)), ret(Some(4))).state(), lwt::State::Fulfilled(7));
    assert_eq!(let_else_rest_diverges(ret(None)).state(), lwt::State::Fulfilled(0));
}
