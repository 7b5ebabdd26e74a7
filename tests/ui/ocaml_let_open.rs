// OCaml's `let open M in`: syn said "expected `=`" at the module's name. It is told to be
// `use M::*;`, and `let open Lwt.Infix in` that `lwt`'s operators need no import; Lwt's own
// modules are told their `lwt` counterparts (rev107).
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

fn open_lwt() -> Promise<u32> {
    lwt! {
        let open Lwt in
        let x = util::one();
        lwt::ret(x)
    }
}

fn open_lwt_module() -> Promise<u32> {
    lwt! {
        let open Lwt_mvar in
        let x = util::one();
        lwt::ret(x)
    }
}

fn open_unknown_lwt_module() -> Promise<u32> {
    lwt! {
        let open Lwt_bytes in
        let x = util::one();
        lwt::ret(x)
    }
}

/// `open!`, which syn read as a macro call ("expected delimiter").
fn open_bang() -> Promise<u32> {
    lwt! {
        let open! util in
        let x = one();
        lwt::ret(x)
    }
}

/// Not after `and`: no `let open` was written there (rev107).
fn after_and() -> Promise<u32> {
    lwt! {
        let x = util::one() and open util in
        lwt::ret(x)
    }
}

fn main() {
    let _ = (open_module(), open_infix(), open_lwt(), open_lwt_module(), open_unknown_lwt_module(), open_bang(), after_and());
}
