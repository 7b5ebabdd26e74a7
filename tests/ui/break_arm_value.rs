use lwt::{lwt, ret, Promise};

fn main() {
    // An arm of a statement that can `break` has no value: `ret(5)` is not a `Promise<()>`.
    let _p: Promise<()> = lwt! {
        loop {
            match ret(0) {
                0 => break,
                _ => ret(5),
            }
            do ();
        }
    };
}
