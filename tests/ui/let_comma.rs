use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let a = ret(1_u32), b = ret(2_u32);
        ret(a + b)
    };
}
