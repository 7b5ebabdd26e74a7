use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        ret(1_u8);
        ret(2)
    };
}
