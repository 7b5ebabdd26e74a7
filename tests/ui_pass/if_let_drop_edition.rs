//! Found in review (session 45, rev121): with its `if` at the user's (f95044f), an `if let` on
//! a value with a `Drop` got rustc's `if_let_rescope` in an edition 2021 crate ("`if let`
//! assigns a shorter lifetime since Edition 2024", one of the `rust_2024_compatibility` lints
//! that `cargo fix --edition` turns on), whose matched value was a temporary (`{ __value }`).
//! The expansion's `if let` keeps the macro's edition in every crate, so no drop moves: the
//! value is now matched where it is, the closure's parameter, which no edition rescopes.
#![deny(warnings, rust_2024_compatibility)]

use std::cell::RefCell;
use std::rc::Rc;

use lwt::{lwt, ret, Promise, State};

struct Noisy(&'static str, Rc<RefCell<Vec<&'static str>>>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.borrow_mut().push(self.0);
    }
}

fn first(p: Promise<Result<u32, Noisy>>, log: Rc<RefCell<Vec<&'static str>>>) -> Promise<u32> {
    lwt! {
        if let Ok(x) = p {
            ret(x)
        } else {
            do log.borrow_mut().push("else");
            ret(0)
        }
    }
}

fn appended(p: Promise<Option<String>>) -> Promise<usize> {
    lwt! {
        if let Some(ref mut s) = p {
            do s.push('!');
            ret(s.len())
        } else {
            ret(0)
        }
    }
}

fn main() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let p = first(ret(Err(Noisy("dropped", log.clone()))), log.clone());
    assert_eq!(p.state(), State::Fulfilled(0));
    // The value that did not match is dropped after the `else` block, in either edition.
    assert_eq!(*log.borrow(), ["else", "dropped"]);
    assert_eq!(appended(ret(Some("hi".into()))).state(), State::Fulfilled(3));
}
