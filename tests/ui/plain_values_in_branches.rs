use lwt::{lwt, ret, Promise};

lwt::exception! {
    NotFound;
}

fn main() {
    let c = true;
    // A plain `if` whose value a `let` binds: the notes name `do let`.
    let _p: Promise<u8> = lwt! {
        let x = if c { 1 } else { ret(2) };
        ret(x)
    };
    // `Err(e)` meant as a rejection: the notes name `lwt::fail`.
    let _q: Promise<u8> = lwt! {
        match ret(None::<u8>) {
            Some(v) => ret(v),
            None => Err(NotFound),
        }
    };
}
