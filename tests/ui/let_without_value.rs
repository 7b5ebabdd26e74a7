use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let x;
        ret(1)
    };
}
