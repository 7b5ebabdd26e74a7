use lwt::{lwt, ret, Promise};

fn p() -> Promise<i32> {
    ret(1)
}

// A block value of the wrong type is reported at the value, however far it is from the
// block's first statement.
fn sum() -> Promise<i64> {
    lwt! {
        let a = p();
        do println!("got {a}");
        let b = p();
        ret(a + b)
    }
}

// `do` makes a plain value a promise: `do ret(a)` is a `Promise<Promise<i32>>`.
fn double_wrapped() -> Promise<i32> {
    lwt! { let a = p(); do ret(a) }
}

// A `do` of `()` as the block's value.
fn printed() -> Promise<i32> {
    lwt! { let a = p(); do println!("{a}") }
}

fn main() {
    let _ = (sum(), double_wrapped(), printed());
}
