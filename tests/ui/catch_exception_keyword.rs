use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        try {
            ret(1)
        } catch {
            exception e => ret(0),
        }
    };
}
