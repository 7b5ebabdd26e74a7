use lwt::{lwt, Promise};

// A branch that ends with a diverging macro: its value is returned by a closure of the promise
// type the context expects, as a diverging Rust block may have any type.
fn check(ready: Promise<bool>) -> Promise<()> {
    lwt! {
        let ok = ready;
        if !ok {
            unreachable!("checked before");
        }
    }
}

fn main() {
    let _ = check(lwt::ret(true));
}
