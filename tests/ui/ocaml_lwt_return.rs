// OCaml's `Lwt.return` and `Lwt.fail` (rev96 #12), as a block's value, a `let`'s promise and an
// arm's body: syn would say "expected identifier or integer" at `return`.
use lwt::{lwt, ret, Promise};

fn value() -> Promise<u8> {
    lwt! {
        let x = ret(1_u8);
        Lwt.return(x + 1)
    }
}

fn init() -> Promise<u8> {
    lwt! {
        let x = Lwt.return 1;
        ret(x)
    }
}

fn arm() -> Promise<u8> {
    lwt! {
        match ret(None::<u8>) {
            Some(x) => ret(x),
            None => Lwt.fail Exit,
        }
    }
}

fn unit() -> Promise<()> {
    lwt! {
        Lwt.return_unit
    }
}

// A value named `Lwt` whose method is not one of Lwt's functions: Rust's, and fine.
struct Lwt;

impl Lwt {
    fn tick(&self) -> Promise<()> {
        lwt::return_unit()
    }
}

fn method() -> Promise<()> {
    lwt! {
        Lwt.tick();
        Lwt.tick()
    }
}

fn main() {
    let _ = (value(), init(), arm(), unit(), method());
}
