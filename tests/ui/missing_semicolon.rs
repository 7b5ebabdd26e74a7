use lwt::{lwt, ret, return_unit, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        return_unit()
        ret(1)
    };
}
