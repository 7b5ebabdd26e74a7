use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let x = 5_u32;
        ret(x + 1)
    };
}
