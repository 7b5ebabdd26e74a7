//! Valid programs that first versions of session 41's checks rejected (its reviews found them):
//! typed closures in arm bodies, outer variables assigned in a branch or a loop, a `static mut`
//! in an `unsafe fn`, a raw identifier, variables a `macro_rules!` declares, a `Box` of a
//! program's own error trait (also one named `Error`), and a value named `Lwt`.
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

/// A running total in an outer variable, read in the body only (a body that does not wait
/// keeps one copy for the whole loop).
fn running(mut total: u32, items: Vec<u32>, out: std::rc::Rc<std::cell::RefCell<Vec<u32>>>) -> Promise<()> {
    lwt! {
        for x in items {
            do total += x;
            do out.borrow_mut().push(total);
        }
    }
}

macro_rules! decl {
    ($n:ident) => {
        let mut $n = 0_u32;
    };
}

fn macro_declared(acc: std::rc::Rc<std::cell::Cell<u32>>) -> Promise<u32> {
    let a2 = acc.clone();
    lwt! {
        for i in 0..3_u32 {
            do decl!(n);
            do n += i;
            do acc.set(acc.get() + n);
        }
        do a2.get()
    }
}

mod app {
    pub trait Error: std::fmt::Debug + std::fmt::Display {}
}

impl app::Error for Mine {}

impl Error for Box<dyn app::Error> {}

fn own_error_trait() -> Promise<u32> {
    lwt! {
        try { lwt::fail(Box::new(Mine) as Box<dyn app::Error>) } catch {
            e: Box<dyn app::Error> => do e.to_string().len() as u32,
        }
    }
}

impl Lwt {
    fn return_value(&self, v: u32) -> Promise<u32> {
        ret(v)
    }

    fn return_some<T>(&self, v: u32) -> Promise<u32> {
        ret(v)
    }
}

fn lwt_methods() -> Promise<u32> {
    lwt! {
        let a = Lwt.return_value(5);
        let b = Lwt.return_some::<u8>(2);
        ret(a + b)
    }
}

/// A type of the program's own may take a closure in `>>=`: plain Rust in `do` code.
struct Acc(u32);

impl<F: Fn(u32) -> u32> std::ops::ShrAssign<F> for Acc {
    fn shr_assign(&mut self, f: F) {
        self.0 = f(self.0);
    }
}

fn shift_assign() -> Promise<u32> {
    lwt! {
        do let mut acc = Acc(1);
        do acc >>= |x: u32| x + 1;
        do acc.0
    }
}

/// The same as a `do` arm (session 42: the arm's expression was checked as `lwt!` code).
fn shift_assign_arm(p: Promise<bool>, acc: std::rc::Rc<std::cell::RefCell<Acc>>) -> Promise<u32> {
    let seen = acc.clone();
    lwt! {
        match p {
            true => do *acc.borrow_mut() >>= |x: u32| x * 10,
            false => lwt::return_unit(),
        }
        do seen.borrow().0
    }
}

/// A bare `Error` may be the program's own trait.
mod own {
    use super::app::Error;
    use lwt::{lwt, Promise};

    pub fn catch_own() -> Promise<u32> {
        lwt! {
            try { lwt::fail(Box::new(super::Mine) as Box<dyn Error>) } catch {
                e: Box<dyn Error> => do e.to_string().len() as u32,
            }
        }
    }
}

/// `>>=` inside Rust code nested in an expression the block waits on is Rust's.
fn nested_shift() -> Promise<u32> {
    lwt! {
        let n = ret({
            let mut acc = Acc(1);
            acc >>= |x: u32| x * 10;
            acc.0
        });
        ret(n)
    }
}

/// `Lwt.fail` without an argument: a field of a value named `Lwt`.
mod field {
    use lwt::{lwt, ret, Promise};

    struct Fields {
        fail: Promise<u32>,
    }

    pub fn lwt_field() -> Promise<u32> {
        lwt! {
            do #[allow(non_snake_case)] let Lwt = Fields { fail: ret(3) };
            let n = Lwt.fail;
            ret(n)
        }
    }
}

/// A block-like arm body ends its arm, as in Rust: the next arm may start with `|`.
fn block_like_arm(p: Promise<u32>, c: bool) -> Promise<u32> {
    lwt! {
        match p {
            0 => if c { ret(1) } else { ret(2) }
            | 1 | 2 => ret(3),
            _ => ret(4),
        }
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
    let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    lwt::main::run(running(10, vec![1, 2, 3], out.clone())).unwrap();
    assert_eq!(*out.borrow(), [11, 13, 16]);
    assert_eq!(run(macro_declared(std::rc::Rc::new(std::cell::Cell::new(0)))), 3);
    assert_eq!(run(own_error_trait()), 4);
    assert_eq!(run(lwt_methods()), 7);
    assert_eq!(run(shift_assign()), 2);
    let acc = std::rc::Rc::new(std::cell::RefCell::new(Acc(3)));
    assert_eq!(run(shift_assign_arm(ret(true), acc.clone())), 30);
    assert_eq!(run(shift_assign_arm(ret(false), acc)), 30);
    assert_eq!(run(own::catch_own()), 4);
    assert_eq!(run(nested_shift()), 10);
    assert_eq!(run(field::lwt_field()), 3);
    assert_eq!(run(block_like_arm(ret(0), true)), 1);
    assert_eq!(run(block_like_arm(ret(2), true)), 3);
}
