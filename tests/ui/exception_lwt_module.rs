use lwt::{lwt, ret, Promise};

fn fetch() -> Promise<u8> {
    ret(1)
}

fn main() {
    // OCaml's `exception Lwt_unix.Timeout`, with Rust's `::`: the error type is
    // `lwt::unix::Timeout`, not a variant of an enum `Lwt_unix`.
    let _p: Promise<u8> = lwt! {
        match fetch() {
            v => ret(v),
            exception Lwt_unix::Timeout => ret(0),
        }
    };
    let _q: Promise<u8> = lwt! {
        try { fetch() } catch { Lwt::Canceled => ret(1), Lwt_io::Channel_closed => ret(2) }
    };
    // An exception `lwt` has no type of that name for.
    let _r: Promise<u8> = lwt! {
        try { fetch() } catch { Lwt_unix::Retry => ret(3) }
    };
}
