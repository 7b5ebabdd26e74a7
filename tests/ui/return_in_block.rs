use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        let x = ret(1_u8);
        do if x > 0 { return ret(x); }
        ret(0)
    };
}
