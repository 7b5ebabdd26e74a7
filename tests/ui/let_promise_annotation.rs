use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let x: Promise<u32> = ret(1);
        ret(x)
    };
}
