use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        match ret(1_u8) {
            exception e => ret(0),
        }
    };
}
