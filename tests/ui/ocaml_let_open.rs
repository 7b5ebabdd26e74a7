// OCaml's `let open M in`: syn said "expected `=`" at the module's name. It is told to be
// `use M::*;`, and `let open Lwt.Infix in` that `lwt`'s operators need no import.
use lwt::{lwt, Promise};

mod util {
    pub fn one() -> lwt::Promise<u32> {
        lwt::ret(1)
    }
}

fn open_module() -> Promise<u32> {
    lwt! {
        let open util in
        let x = one();
        lwt::ret(x)
    }
}

fn open_infix() -> Promise<u32> {
    lwt! {
        let open Lwt.Infix in
        let x = util::one();
        lwt::ret(x)
    }
}

fn main() {
    let _ = (open_module(), open_infix());
}
