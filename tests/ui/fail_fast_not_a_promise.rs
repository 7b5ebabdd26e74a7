use lwt::{lwt, ret, Promise};

fn main() {
    // Reported once, at the value (it was reported twice, on the whole binding).
    let _p: Promise<u8> = lwt! {
        #[fail_fast]
        let a = ret(1_u8) and b = 2_u8 and c = ret(3_u8);
        ret(a + b + c)
    };
}
