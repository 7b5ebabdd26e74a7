// OCaml's application, `f x`, in an `lwt!` block: a name followed by a name (or a literal, or
// after one, a parenthesized argument) is never Rust. Each is named, with its Rust spelling.
// The last functions are Rust mistakes that only look like one, and must keep their message.
use lwt::{lwt, ret, Promise};

mod list {
    pub fn length(xs: &[u8]) -> usize {
        xs.len()
    }
}

fn double(x: u8) -> Promise<u8> {
    ret(x * 2)
}

fn add(x: u8, y: u8) -> Promise<u8> {
    ret(x + y)
}

fn let_application(y: u8) -> Promise<u8> {
    lwt! {
        let x = double y;
        ret(x)
    }
}

fn module_application(xs: Vec<u8>) -> Promise<usize> {
    lwt! {
        let n = List.length xs;
        ret(n)
    }
}

fn two_arguments(x: u8, y: u8) -> Promise<u8> {
    lwt! {
        let z = add x y;
        ret(z)
    }
}

fn do_application(y: u8) -> Promise<()> {
    lwt! {
        do double y;
        lwt::return_unit()
    }
}

fn parenthesized_after_a_literal(y: u8) -> Promise<u8> {
    lwt! {
        let z = add 1 (y + 1);
        ret(z)
    }
}

fn arm_value(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            Some(v) => double v,
            None => ret(0),
        }
    }
}

fn value_of_the_block(y: u8) -> Promise<u8> {
    lwt! {
        let x = ret(y);
        add x y
    }
}

// A parenthesized argument spaced as OCaml spaces one, after a name or first with another
// after it.
fn spaced_parenthesized(x: u8, y: u8) -> Promise<u8> {
    lwt! {
        let z = add x (y + 1);
        let w = add (z) y;
        ret(w)
    }
}

// A name then a call: `x(y + 1)` is Rust's call, and `add x` then `x(y + 1)` may as well be a
// missing `;` (keeps syn's message).
fn name_then_call(x: u8, y: u8) -> Promise<u8> {
    lwt! {
        let z = add x(y + 1);
        ret(z)
    }
}

// Rust words after a name are not arguments.
fn cast_then_name(x: u8, y: u8) -> Promise<u8> {
    lwt! {
        let z = x as u16 y;
        ret(z as u8)
    }
}

fn main() {
    let _ = list::length(&[]);
    let _ = (let_application(1), module_application(vec![]), two_arguments(1, 2), do_application(1));
    let _ = (parenthesized_after_a_literal(1), arm_value(ret(None)), value_of_the_block(1));
    let _ = (spaced_parenthesized(1, 2), name_then_call(1, 2), cast_then_name(1, 2));
}
