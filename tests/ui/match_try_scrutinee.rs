use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        match try { ret(1_u8) } finally { lwt::return_unit() } {
            n => ret(n),
            exception _ => ret(0),
        }
    };
}
