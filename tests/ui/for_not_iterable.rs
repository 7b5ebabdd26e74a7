use lwt::{lwt, ret, Promise};

fn fetch() -> Promise<Vec<u32>> {
    ret(vec![1, 2])
}

fn main() {
    // A promised list: bind it first. The error is at the iterable, once, as for Rust's `for`
    // (`__lwt::iterable(e)`, spanned at `e`; before rev147, at `for`).
    let _p: Promise<()> = lwt! {
        for x in fetch() {
            do println!("{x}");
        }
    };
    // An iterable evaluated apart (a method call on a call's value may hold temporaries). Of
    // another type: rustc does not report a predicate it reported once in the function again.
    let _r: Promise<()> = lwt! {
        for x in Some(ret(3_u8)).unwrap() {
            do println!("{x}");
        }
    };
    // A stream is read with `while let Some(x) = s.get()`.
    let s = lwt::stream::of_list(vec![1_u32, 2]);
    let _q: Promise<()> = lwt! {
        for x in s {
            do println!("{x}");
        }
    };
}
