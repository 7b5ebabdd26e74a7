use lwt::{lwt, ret, return_unit, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        #[fail_fast]
        let a = ret(1_u8);
        #[fail_fast]
        return_unit();
        #[inline]
        let b = ret(2_u8) and c = ret(3_u8);
        ret(a + b + c)
    };
}
