//! Valid programs that a first version of session 41's checks rejected (its review found them):
//! typed closures in arm bodies, an outer variable read in the branch that assigns it, a
//! `static mut` in an `unsafe fn`, a raw identifier, a `Box` of a program's own error trait, and
//! a value named `Lwt`.
#![allow(static_mut_refs)]

use std::error::Error;
use std::fmt;

use lwt::{lwt, ret, Promise};

fn bind_typed(p: Promise<Option<u32>>, q: Promise<u32>) -> Promise<u32> {
    lwt! {
        match p {
            Some(x) => q >> move |v| -> Promise<u32> { ret(v + x) },
            None => ret(0),
        }
    }
}

fn map_typed(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        match p {
            Some(x) => ret(x) | |v: u32| -> u32 { v + 1 },
            None => ret(0),
        }
    }
}

fn op(attempts: u32) -> Promise<u32> {
    if attempts < 3 {
        lwt::fail_with("again")
    } else {
        ret(attempts)
    }
}

/// A recursive retry: the parameter is assigned and read in the same arm.
fn retry(mut attempts: u32) -> Promise<u32> {
    lwt! {
        try { op(attempts) } catch {
            _ => {
                do attempts += 1;
                retry(attempts)
            }
        }
    }
}

fn branch(mut n: u32, p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if x > 0 {
            do n += x;
            ret(n)
        } else {
            ret(0)
        }
    }
}

static mut CALLS: u32 = 0;

/// # Safety
/// Call from one thread.
#[allow(unsafe_op_in_unsafe_fn)]
unsafe fn count(steps: u32) -> Promise<()> {
    lwt! {
        for _ in 0..steps {
            do CALLS += 1;
        }
        ret(())
    }
}

fn raw(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        for x in 0..2_u32 {
            do let mut r#count = x;
            do count += 1;
            do assert!(count > x);
        }
        p
    }
}

trait MyErr: fmt::Debug + fmt::Display {}

#[derive(Debug)]
struct Mine;

impl fmt::Display for Mine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mine")
    }
}

impl MyErr for Mine {}

impl Error for Box<dyn MyErr> {}

fn own_trait_object() -> Promise<u32> {
    lwt! {
        try { lwt::fail(Box::new(Mine) as Box<dyn MyErr>) } catch {
            e: Box<dyn MyErr> => do e.to_string().len() as u32,
        }
    }
}

struct Lwt;

impl Lwt {
    fn fail(&self) -> Promise<u32> {
        ret(7)
    }
}

fn lwt_value() -> Promise<u32> {
    lwt! {
        let x = Lwt.fail();
        ret(x)
    }
}

fn main() {
    let run = |p: Promise<u32>| lwt::main::run(p).unwrap();
    assert_eq!(run(bind_typed(ret(Some(1)), ret(2))), 3);
    assert_eq!(run(map_typed(ret(Some(2)))), 3);
    assert_eq!(run(retry(0)), 3);
    assert_eq!(run(branch(1, ret(2))), 3);
    lwt::main::run(unsafe { count(3) }).unwrap();
    assert_eq!(unsafe { CALLS }, 3);
    assert_eq!(run(raw(ret(5))), 5);
    assert_eq!(run(own_trait_object()), 4);
    assert_eq!(run(lwt_value()), 7);
}
