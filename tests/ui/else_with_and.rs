use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        let Some(a) = ret(Some(1_u8)) and b = ret(2_u8) else {
            ret(0)
        };
        ret(a + b)
    };
}
