//! Found in review (session 21): `if let pat = promise && cond` (a let chain, edition 2024) was
//! read as `if let pat = (promise && cond)` and gave misleading type errors. `lwt!` now reads it
//! as Rust does: it waits for the promise, then tests the rest of the chain with `pat`'s names in
//! scope; `while let` too. (In edition 2021, rustc says that let chains need 2024:
//! `tests/ui/if_let_chain.rs`.)
#![deny(warnings)]

use lwt::{Promise, State, lwt, ret};

fn classify(v: Option<u8>, limit: u8) -> Promise<&'static str> {
    lwt! {
        if let Some(x) = ret(v) && x > limit && let Some(y) = x.checked_mul(2) && y > 100 {
            ret("big")
        } else if let Some(x) = ret(v) && x > limit {
            ret("over")
        } else {
            ret("other")
        }
    }
}

/// `while let` takes a let chain too: the loop goes on while the promise's value matches and
/// the rest of the chain holds.
fn sum_while_small(values: Vec<u8>) -> Promise<u32> {
    let values = std::rc::Rc::new(std::cell::RefCell::new(values.into_iter()));
    let total = std::rc::Rc::new(std::cell::Cell::new(0_u32));
    let t = total.clone();
    lwt! {
        while let Some(v) = ret(values.borrow_mut().next()) && v < 10 {
            do t.set(t.get() + u32::from(v));
        }
        do total.get()
    }
}

/// A name a later `let` of the chain binds is the body's own, and hides the block's: assigning
/// it in the body loses nothing (the check of lost assignments took `m` for the block's `m`).
fn chain_bindings(p: Promise<Option<u32>>, q: Option<u32>) -> Promise<u32> {
    let rounds = std::rc::Rc::new(std::cell::Cell::new(0_u32));
    let counted = rounds.clone();
    lwt! {
        do #[allow(unused_mut, unused_variables)] let mut m = 100_u32;
        while let Some(x) = ret(if counted.get() < 3 { Some(1_u32) } else { None })
            && let Some(mut m) = Some(x)
        {
            do m += 1;
            do counted.set(counted.get() + m - 1);
        }
        if let Some(x) = p && let Some(mut m) = q {
            do m += x;
            ret(m + rounds.get())
        } else {
            ret(0)
        }
    }
}

/// Found in review (session 45, rev121): a chain whose pattern binds by `ref mut` compiles, as in
/// Rust (E0596 before: the value it matched was not `mut`).
fn chain_ref_mut(p: Promise<Option<String>>) -> Promise<usize> {
    lwt! {
        if let Some(ref mut s) = p && !s.is_empty() {
            do s.push('!');
            ret(s.len())
        } else {
            ret(0)
        }
    }
}

fn main() {
    assert_eq!(chain_ref_mut(ret(Some("hi".into()))).state(), State::Fulfilled(3));
    assert_eq!(chain_ref_mut(ret(Some(String::new()))).state(), State::Fulfilled(0));
    assert_eq!(
        chain_bindings(ret(Some(1)), Some(2)).state(),
        State::Fulfilled(6)
    );
    assert_eq!(
        sum_while_small(vec![1, 2, 3, 50, 4]).state(),
        State::Fulfilled(6)
    );
    assert_eq!(sum_while_small(vec![]).state(), State::Fulfilled(0));
    assert_eq!(classify(Some(60), 10).state(), State::Fulfilled("big"));
    assert_eq!(classify(Some(20), 10).state(), State::Fulfilled("over"));
    assert_eq!(classify(Some(5), 10).state(), State::Fulfilled("other"));
    assert_eq!(classify(None, 10).state(), State::Fulfilled("other"));
    println!("edition 2024: lwt! let chains agree with Rust's");
}
