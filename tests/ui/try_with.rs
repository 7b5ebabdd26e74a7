use lwt::{lwt, Promise};

fn main() {
    // OCaml's `try .. with`: one message, and the arms are still read (no cascade).
    let _p: Promise<u8> = lwt! {
        try { lwt::ret(1) } with { _ => lwt::ret(0) }
    };
}
