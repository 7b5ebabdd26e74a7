use lwt::{lwt, ret, Promise};

fn count() -> Promise<u8> {
    ret(1)
}

fn main() {
    // A pattern of the wrong type in `if let` and `while let`: the promise is labelled with the
    // type of its value (as for `match`), not the whole call.
    let _p: Promise<u8> = lwt! {
        if let Some(x) = count() { ret(x) } else { ret(0) }
    };
    let _q: Promise<()> = lwt! {
        while let Some(x) = count() {
            do println!("{x}");
        }
    };
}
