//! `lwt!` keeps working when the user renames the crate, re-exports it, or shadows the names an
//! expansion could depend on (`lwt`, `Promise`, `Ok`, `Err`, `Result`, `Some`, `Option`, `core`,
//! `std`, the runtime's function names, methods through a blanket trait).
#![allow(
    dead_code,
    unused_macros,
    unreachable_pub,
    non_snake_case,
    non_camel_case_types
)]

extern crate lwt as renamed;

/// A crate of the user's that re-exports lwt under another name.
mod my {
    pub use ::lwt as rt;
}

// Shadow everything an unhygienic expansion would name.
mod lwt {}
mod core {}
mod std {}
struct Promise;
struct Result;
struct Option;
fn Ok() {}
fn Err() {}
fn Some() {}
fn bind() {}
fn seq() {}
fn branch() {}
fn ret() {}
fn done() {}
macro_rules! panic {
    ($($t:tt)*) => {
        compile_error!("the expansion used the user's panic!")
    };
}

/// Methods that an expansion calling `p.bind(..)` or `e.is::<E>()` would pick up.
trait Hijack: Sized {
    fn bind<A, B>(self, _: A) -> B {
        unreachable!("hijacked bind")
    }
    fn catch<A, B>(self, _: A) -> B {
        unreachable!("hijacked catch")
    }
    fn is<E>(&self) -> bool {
        unreachable!("hijacked is")
    }
    fn downcast_ref<E>(&self) -> ::core::option::Option<&E> {
        unreachable!("hijacked downcast_ref")
    }
}
impl<T> Hijack for T {}

#[derive(Debug)]
struct Boom;

impl ::std::fmt::Display for Boom {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str("boom")
    }
}

impl ::std::error::Error for Boom {}

type P<T> = renamed::Promise<T>;

fn every_form(n: u8) -> P<u8> {
    renamed::lwt! {
        let a = renamed::ret(n) and b = renamed::ret(1);
        #[fail_fast]
        let c = renamed::ret(a) and d = renamed::ret(b);
        let ::core::option::Option::Some(e) = renamed::ret(::core::option::Option::Some(c + d)) else {
            renamed::fail_with("none")
        };
        do let total = ::std::rc::Rc::new(::std::cell::Cell::new(e));
        do let t = total.clone();
        renamed::return_unit();
        if e > 100 { renamed::return_unit() } else { renamed::return_unit() }
        for i in 0..2_u8 {
            let x = renamed::ret(i);
            do t.set(t.get() + x);
        }
        do let t2 = total.clone();
        while t2.get() < 50 {
            do t2.set(t2.get() + 10);
        }
        assert!(total.get() >= 50);
        assert_eq!(1, 1);
        let f = match renamed::Promise::<u8>::fail(Boom) {
            v => renamed::ret(v),
            exception e: Boom => renamed::ret(e.to_string().len() as u8),
        };
        let g = try { renamed::Promise::<u8>::fail(Boom) } catch { Boom => renamed::ret(1) } finally { do let _ = 0; };
        renamed::ret(total.get() + f + g)
    }
}

#[test]
fn every_form_works_with_everything_shadowed() {
    // (a, b) = (5, 1), e = 6; the `for` adds 0 + 1: 7; the `while` adds 10 until >= 50: 57;
    // f = "boom".len() = 4; g = 1.
    assert_eq!(every_form(5).state(), renamed::State::Fulfilled(62));
}

#[test]
fn through_a_reexport_under_another_name() {
    let p: my::rt::Promise<&str> = my::rt::lwt! {
        let x = my::rt::ret("re-exported");
        my::rt::ret(x)
    };
    assert_eq!(p.state(), my::rt::State::Fulfilled("re-exported"));
}

#[test]
fn locations_still_point_here() {
    let p: P<u8> = renamed::lwt! {
        let x = renamed::Promise::<u8>::fail(Boom);
        renamed::ret(x)
    };
    let e = p.rejection().unwrap();
    assert!(e
        .locations()
        .all(|l| l.file().ends_with("macro_hygiene.rs")));
    assert_eq!(e.locations().count(), 1);
}
