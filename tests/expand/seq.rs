use lwt::{lwt, ret, return_unit, Promise};

fn write(_line: &str) -> Promise<()> {
    return_unit()
}

// `promise;` waits for a `Promise<()>` (lwt_ppx's `e1;%lwt e2`); the last one is returned as is.
fn two_lines() -> Promise<()> {
    lwt! {
        write("one");
        write("two");
    }
}

fn main() {
    let _ = two_lines();
    let _ = ret(());
}
