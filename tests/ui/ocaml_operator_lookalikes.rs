// Statements that fail to parse for another reason, beside tokens that look like OCaml's
// operators but are Rust's: syn's message stays, at the real mistake.
use lwt::{lwt, ret, Promise};

fn not(b: bool) -> bool {
    !b
}

fn empty_generics_then_a_missing_comma(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do let v: Vec<> = f(x x);
        ret(v)
    }
}

fn a_call_of_not_then_a_missing_comma(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do let b = not(x == 1) && f(x x);
        ret(u32::from(b))
    }
}

fn a_range_then_a_missing_operator(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do let r = ..(x) x;
        ret(r.end)
    }
}

fn a_macro_holding_words_then_a_missing_comma(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do let s = stringify!(not x mod y fun a -> b, a <> b, M.(e));
        ret(f(s x))
    }
}

fn fun(x: u32) -> u32 {
    x
}

fn a_function_named_fun_then_a_missing_comma(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do let y = fun(x) + (|y: u32| -> u32 { y })(x) + f(x x);
        ret(y)
    }
}

fn an_item_with_a_mistake(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do pub(crate) mod m { pub fn f() -> u32 { 1 2 } }
        ret(x)
    }
}

/// A form that ends with a block takes no `;`: the habit of the next statement is not blamed
/// for the form's mistake (rev113).
fn a_failed_if_before_a_habit(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if f(x x) > 1 { ret(1) } else { ret(2) }
        do let z = x <> 2;
        ret(z)
    }
}

fn main() {}
