use lwt::{lwt, ret, Promise};

// `and` starts every expression before waiting for any, then binds them in order (lwt_ppx).
fn sum(a: Promise<u32>, b: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = a and y: u32 = b;
        ret(x + y)
    }
}

fn main() {
    let _ = sum(ret(1), ret(2));
}
